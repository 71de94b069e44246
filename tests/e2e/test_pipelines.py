#!/usr/bin/python3
"""Pipelines end to end (issue #3): execution of pipelines loaded with `junction serve --pipelines DIR`.

Servers start on port 0 with temp dirs of JSON files (DIR/*.json load in file-name order, so a pipeline may use one
from an earlier file). Loading is all or nothing, so features that could be contested get a server of their own and
fail alone, with the server's stderr in the failure.

- core (default workers): nested pipelines (p1 inside p2 inside p3), fan-out to several outputs, fan-in through a
  2-input pipeline used as a step (a diamond; crossed-over inputs tell the branches apart), one source on two ports
  and one port under two output names, empty and 4 MB tensors, independent branches running at once (4 x 500 ms of
  sleep well under 2 s), intermediate outputs (`step.port`, v1 and v2) and "only the steps needed run", step errors
  prefixed `pipeline 'p': step 'b' (model 'burn'): ` (nested, v2, in-stream), pipeline input validation, deadline
  and cancellation mid-pipeline, 64 concurrent requests, ListModels/GetModel/ModelMetadata of pipelines;
- --workers 1: nested pipelines and a diamond do not deadlock a one-thread pool; after a deadline the one worker is
  free at once (the chain's remaining steps are skipped);
- conversions: inserted lossless casts (UINT8/INT16 -> FP32), declared casts with scale/offset (INT32 -> FP32), a
  reshape between fixed shapes ([2,2] into a pipeline declared [1,4]), a reshape checked at run time ([-1] into
  [1,4]: [4] fits, [5] is INVALID_ARGUMENT), a rank-changing reshape (FP32[4] into identity's [-1,-1]) accepted
  (answer [1,4]) or rejected naming step and port (a note says which);
- streaming (tokenize): InferStream partial messages (`partial: true`, one token each, in order) then one with
  `partial: false` and no outputs; 200 streaming requests on one stream; ModelStreamInfer with
  `triton_final_response`; unary Infer/ModelInfer get BYTES[4] at once; a nested streaming pipeline; a streaming
  step beside a plain branch (outputs=[plain] must not run the streaming step); CLASSIFICATION -> TEXT;
- startup rejections, one bad file alone in a dir (plus a good-then-bad pair): exit 1, no ready line, stderr names
  the file, the pipeline, the step and the port.

usage: /usr/bin/python3 tests/e2e/test_pipelines.py /path/to/junction
"""
import json
import os
import queue
import subprocess
import sys
import tempfile
import threading
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import grpc  # noqa: E402
import numpy as np  # noqa: E402

import harness  # noqa: E402
from harness import pb, infer_request, fp32_tensor, tensor_value, output_array, v2_request, v2_output_array  # noqa

IA = grpc.StatusCode.INVALID_ARGUMENT
NF = grpc.StatusCode.NOT_FOUND
DE = grpc.StatusCode.DEADLINE_EXCEEDED
STREAM_TIMEOUT = 20.0
ANY2 = [-1, -1]
SENTENCE = "Hello brave new world"
WORDS = ["hello", "brave", "new", "world"]


# JSON builders ------------------------------------------------------------------------------------------------------

def port(name, kind="TENSOR", datatype="FP32", shape=ANY2, labels=None):
    p = {"name": name, "kind": kind, "datatype": datatype, "shape": list(shape)}
    if labels:
        p["labels"] = list(labels)
    return p


def step(id, model, **inputs):
    return {"id": id, "model": model, "inputs": inputs}


def pipeline(name, inputs, steps, outputs, description=None):
    p = {"name": name}
    if description is not None:
        p["description"] = description
    p["inputs"] = inputs
    p["steps"] = steps
    p["outputs"] = [{"name": n, "from": f} for n, f in outputs]
    return p


def write_dir(t, label, files):
    """A fresh temp dir holding files {file name: dict (dumped as JSON) or str (written as is)}."""
    d = tempfile.mkdtemp(prefix="pipelines-%s-" % label, dir=t.workdir)
    for fname, content in files.items():
        with open(os.path.join(d, fname), "w", encoding="utf-8") as f:
            f.write(content if isinstance(content, str) else json.dumps(content, indent=1))
    return d


# The core set (file order matters: p1 before p2 before p3, pair before diamond).
P1 = pipeline("p1", [port("x")], [step("a", "identity", input="x"), step("b", "burn", input="a.output")],
              [("y", "b.output")], description="identity then burn")
P2 = pipeline("p2", [port("x")], [step("s", "p1", x="x"), step("t", "identity", input="s.y")], [("z", "t.output")])
P3 = pipeline("p3", [port("x")], [step("u", "p2", x="x")], [("w", "u.z")])
FAN = pipeline("fan", [port("x")],
               [step("a", "identity", input="x"), step("b", "burn", input="x"), step("c", "identity", input="a.output"),
                step("d", "burn", input="b.output"), step("e", "identity", input="x")],
               [("ya", "c.output"), ("yb", "d.output"), ("ye", "e.output"), ("yb0", "b.output")])
PAIR = pipeline("pair", [port("x1"), port("x2")], [step("a", "identity", input="x1"), step("b", "burn", input="x2")],
                [("o1", "a.output"), ("o2", "b.output")])
# Fan-in: two branches (from two inputs, crossed over) into the 2-input pipeline `pair`; x also fans out to l and m.
DIAMOND = pipeline("diamond", [port("x"), port("w")],
                   [step("l", "identity", input="x"),
                    step("r", "burn", input="w"),
                    step("m", "burn", input="x"),
                    step("j", "pair", x1="r.output", x2="l.output"),
                    step("k", "identity", input="j.o2")],
                   [("left", "j.o1"), ("right", "k.output"), ("xm", "m.output")])
SLOW3 = pipeline("slow3", [port("x")],
                 [step("a", "burn", input="x"), step("b", "burn", input="a.output"),
                  step("c", "burn", input="b.output")],
                 [("y", "c.output")])
PAR4 = pipeline("par4", [port("x")], [step("b%d" % i, "burn", input="x") for i in range(1, 5)],
                [("o%d" % i, "b%d.output" % i) for i in range(1, 5)])
# One source bound to two ports of a step; one step output published under two names.
TWICE = pipeline("twice", [port("x")], [step("j", "pair", x1="x", x2="x")],
                 [("a", "j.o1"), ("b", "j.o1"), ("c", "j.o2")])
CORE_FILES = {"01-p1.json": P1, "02-p2.json": P2, "03-p3.json": P3, "04-fan.json": FAN, "05-pair.json": PAIR,
              "06-diamond.json": DIAMOND, "07-slow3.json": SLOW3, "08-par4.json": PAR4, "09-twice.json": TWICE}

TOK = pipeline("tok", [port("text", "TEXT", "BYTES", [-1])], [step("t", "tokenize", text="text")],
               [("tokens", "t.tokens")], description="tokenize")
TOK2 = pipeline("tok2", [port("text", "TEXT", "BYTES", [-1])], [step("inner", "tok", text="text")],
                [("words", "inner.tokens")])


# Value helpers ------------------------------------------------------------------------------------------------------

def typed_tensor(arr, dtype):
    a = np.ascontiguousarray(arr)
    return pb.tensor.Tensor(datatype=dtype, shape=list(a.shape), raw=a.tobytes())


def value_strings(v):
    """A TEXT value as a list of str: the `text` form (one item) or a BYTES tensor's strings; None otherwise."""
    kind = v.WhichOneof("value")
    if kind == "text":
        return [v.text.text]
    if kind == "tensor" and v.tensor.datatype == pb.tensor.BYTES:
        if v.tensor.strings:
            return [s.decode("utf-8", "replace") for s in v.tensor.strings]
        return _triton_strings(v.tensor.raw)
    return None


def _triton_strings(raw):
    out, i = [], 0
    while i + 4 <= len(raw):
        n = int.from_bytes(raw[i:i + 4], "little")
        out.append(raw[i + 4:i + 4 + n].decode("utf-8", "replace"))
        i += 4 + n
    return out


def output_value(resp, name):
    for v in resp.outputs:
        if v.name == name:
            return v
    return None


def partial_of(msg):
    """InferResponse.partial, or None when the generated stubs have no such field."""
    try:
        return msg.partial
    except AttributeError:
        return None


def v2_bytes_request(model, texts, id="", name="text"):
    req = pb.v2.ModelInferRequest(model_name=model, id=id)
    inp = req.inputs.add(name=name, datatype="BYTES", shape=[len(texts)])
    inp.contents.bytes_contents.extend([s.encode("utf-8") for s in texts])
    return req


def v2_strings(resp, name):
    for i, o in enumerate(resp.outputs):
        if o.name != name:
            continue
        if resp.raw_output_contents:
            return _triton_strings(resp.raw_output_contents[i]), list(o.shape), o.datatype
        return [s.decode("utf-8", "replace") for s in o.contents.bytes_contents], list(o.shape), o.datatype
    return None, None, None


def v2_final_flag(resp):
    p = resp.parameters
    if "triton_final_response" not in p:
        return None
    return p["triton_final_response"].bool_param


def data(i, shape=(2, 3)):
    return (np.arange(int(np.prod(shape)), dtype=np.float32).reshape(shape) * np.float32(0.5) + np.float32(i))


def diamond_request(x, w, id="", params=None):
    req = pb.broker.InferRequest(model="diamond", id=id, inputs=[tensor_value("x", fp32_tensor(x)),
                                                                 tensor_value("w", fp32_tensor(w))])
    for k, v in (params or {}).items():
        harness.set_param(req.parameters, k, v)
    return req


def check_fp32(t, what, resp, name, want):
    got = output_array(resp, name) if resp is not None else None
    t.check(got is not None and got.shape == want.shape and np.array_equal(got, want), what,
            "expected %s %r, got %r" % (name, want.tolist(), None if got is None else got.tolist()))


def sig_tuples(ports):
    return [(p.name, p.kind, p.datatype, list(p.shape)) for p in ports]


def T(name, shape=ANY2, kind=None, dtype=None):
    return (name, kind if kind is not None else pb.contract.TENSOR, dtype if dtype is not None else pb.tensor.FP32,
            list(shape))


# Groups -------------------------------------------------------------------------------------------------------------

def group_core(t):
    d = write_dir(t, "core", CORE_FILES)
    srv = t.start_server(["--pipelines", d])
    ch = srv.channel()
    stub = srv.broker(ch)
    v2 = srv.v2(ch)

    with t.case("nested pipelines"):
        x = data(1)
        r = t.call("p1 Infer", stub.Infer, infer_request("p1", x, id="n1", input_name="x"))
        if r:
            t.eq((r.model, r.id), ("p1", "n1"), "p1: response names the pipeline and echoes the id")
            t.eq([v.name for v in r.outputs], ["y"], "p1: one output 'y'")
            check_fp32(t, "p1: y equals x", r, "y", x)
            t.check(not r.HasField("error"), "p1: no error on a unary response")
        r = t.call("p2 Infer (p1 as a step)", stub.Infer, infer_request("p2", x, input_name="x"))
        if r:
            t.eq([v.name for v in r.outputs], ["z"], "p2: one output 'z'")
            check_fp32(t, "p2 (p1 nested): z equals x", r, "z", x)
        x3 = data(7, (1, 5))
        r = t.call("p3 Infer (p2 in p3)", stub.Infer, infer_request("p3", x3, input_name="x"))
        if r:
            check_fp32(t, "p3 (three levels): w equals x", r, "w", x3)
        r = t.call("p2 v2 ModelInfer", v2.ModelInfer, v2_request("p2", x, id="v", input_name="x"))
        if r:
            got, form = v2_output_array(r, "z")
            t.check(got is not None and np.array_equal(got, x) and form == "raw", "p2 v2 raw: z equals x",
                    "got %r (%s)" % (None if got is None else got.tolist(), form))
            t.eq((r.model_name, r.id), ("p2", "v"), "p2 v2: model_name and id")
        r = t.call("p2 v2 ModelInfer typed", v2.ModelInfer, v2_request("p2", x, raw=False, input_name="x"))
        if r:
            got, form = v2_output_array(r, "z")
            t.check(got is not None and np.array_equal(got, x) and form == "typed", "p2 v2 typed: z equals x",
                    "got %r (%s)" % (None if got is None else got.tolist(), form))

    with t.case("fan-out and fan-in"):
        x = data(3, (3, 4))
        r = t.call("fan Infer", stub.Infer, infer_request("fan", x, input_name="x", params={"burn_ms": 5}))
        if r:
            t.eq(sorted(v.name for v in r.outputs), ["ya", "yb", "yb0", "ye"], "fan: every declared output")
            for name in ("ya", "yb", "ye", "yb0"):
                check_fp32(t, "fan: %s equals x" % name, r, name, x)
        r = t.call("fan Infer outputs=[yb]", stub.Infer,
                   infer_request("fan", x, input_name="x", outputs=["yb"], params={"burn_ms": 0}))
        if r:
            t.eq([v.name for v in r.outputs], ["yb"], "fan outputs=[yb]: only yb")
            check_fp32(t, "fan outputs=[yb]: yb equals x", r, "yb", x)
        w = -x - 1
        r = t.call("diamond Infer", stub.Infer, diamond_request(x, w, params={"burn_ms": 2}))
        if r:
            t.eq(sorted(v.name for v in r.outputs), ["left", "right", "xm"], "diamond: outputs left, right, xm")
            check_fp32(t, "diamond: left (w -> burn r -> pair.x1 -> o1) equals w", r, "left", w)
            check_fp32(t, "diamond: right (x -> identity l -> pair.x2 -> o2 -> identity k) equals x", r, "right", x)
            check_fp32(t, "diamond: xm (x fanned out to burn m) equals x", r, "xm", x)
        big = np.random.default_rng(1).standard_normal((1000, 1000)).astype(np.float32)
        w = big[::-1].copy()
        r = t.call("diamond Infer with 4 MB tensors", stub.Infer, diamond_request(big, w, params={"burn_ms": 0}))
        if r:
            check_fp32(t, "diamond 4 MB: left equals w", r, "left", w)
            check_fp32(t, "diamond 4 MB: right equals x", r, "right", big)
            check_fp32(t, "diamond 4 MB: xm equals x", r, "xm", big)
        # Independent branches run at once: 4 x 500 ms of sleep take ~2 s in sequence, ~1 s on 2 workers.
        t0 = time.monotonic()
        r = t.call("par4 (4 x 500 ms sleep, fanned out)", stub.Infer,
                   infer_request("par4", x, input_name="x", params={"burn_mode": "sleep", "burn_ms": 500}))
        el = time.monotonic() - t0
        if r:
            t.eq(sorted(v.name for v in r.outputs), ["o1", "o2", "o3", "o4"], "par4: four outputs")
            t.check(el < 1.6, "par4: independent branches run in parallel (4 x 500 ms sleep in < 1.6 s)",
                    "took %.2f s" % el)
        # Both inputs of the 2-input pipeline directly.
        x1, x2 = data(1), data(100)
        req = pb.broker.InferRequest(model="pair", inputs=[tensor_value("x1", fp32_tensor(x1)),
                                                           tensor_value("x2", fp32_tensor(x2))])
        r = t.call("pair Infer", stub.Infer, req)
        if r:
            check_fp32(t, "pair: o1 equals x1", r, "o1", x1)
            check_fp32(t, "pair: o2 equals x2", r, "o2", x2)
        e = np.zeros((0, 4), dtype=np.float32)
        r = t.call("pair Infer with empty [0,4] tensors", stub.Infer, pb.broker.InferRequest(model="pair", inputs=[
            tensor_value("x1", fp32_tensor(e)), tensor_value("x2", fp32_tensor(e))]))
        if r:
            check_fp32(t, "pair with [0,4]: o1 is an empty [0,4]", r, "o1", e)
            check_fp32(t, "pair with [0,4]: o2 is an empty [0,4]", r, "o2", e)
        r = t.call("twice Infer", stub.Infer, infer_request("twice", x, input_name="x"))
        if r:
            t.eq([v.name for v in r.outputs], ["a", "b", "c"], "twice: outputs a, b, c")
            for name in ("a", "b", "c"):
                check_fp32(t, "twice: %s equals x (one source on two ports, one port under two names)" % name, r,
                           name, x)

    with t.case("64 concurrent requests on fan and diamond"):
        futs = []
        for i in range(64):
            model = "fan" if i % 2 == 0 else "diamond"
            x = data(i, (2, 8))
            req = (infer_request(model, x, id="c%d" % i, input_name="x", params={"burn_ms": 1}) if model == "fan"
                   else diamond_request(x, -x, id="c%d" % i, params={"burn_ms": 1}))
            futs.append((i, model, stub.Infer.future(req, timeout=harness.RPC_TIMEOUT)))
        bad = []
        for i, model, f in futs:
            x = data(i, (2, 8))
            try:
                r = f.result()
            except grpc.RpcError as e:
                bad.append((i, harness.describe_rpc_error(e)))
                continue
            want = {"ya": x, "yb": x, "ye": x, "yb0": x} if model == "fan" else {"left": -x, "right": x, "xm": x}
            for name, w in want.items():
                got = output_array(r, name)
                if got is None or not np.array_equal(got, w) or r.id != "c%d" % i:
                    bad.append((i, name))
        t.check(not bad, "64 concurrent pipeline requests: every output right", "wrong: %r" % bad[:5])

    with t.case("intermediate outputs"):
        x = data(5)
        r = t.call("p1 outputs=[a.output]", stub.Infer, infer_request("p1", x, input_name="x", outputs=["a.output"]))
        if r:
            t.eq([v.name for v in r.outputs], ["a.output"], "p1 outputs=[a.output]: exactly a.output")
            check_fp32(t, "p1 outputs=[a.output]: step a's output", r, "a.output", x)
        # Only the steps needed run: b (burn) would reject burn_mode=bogus, but a.output does not need b.
        r = t.call("p1 outputs=[a.output] with burn_mode=bogus (b not needed)", stub.Infer,
                   infer_request("p1", x, input_name="x", outputs=["a.output"], params={"burn_mode": "bogus"}))
        if r:
            check_fp32(t, "p1 outputs=[a.output], burn_mode=bogus: succeeds without running b", r, "a.output", x)
        r = t.call("fan outputs=[ya] with burn_mode=bogus (b, d not needed)", stub.Infer,
                   infer_request("fan", x, input_name="x", outputs=["ya"], params={"burn_mode": "bogus"}))
        if r:
            t.eq([v.name for v in r.outputs], ["ya"], "fan outputs=[ya], burn_mode=bogus: only ya")
            check_fp32(t, "fan outputs=[ya], burn_mode=bogus: succeeds without running the burn steps", r, "ya", x)
        r = t.call("p1 outputs=[a.output, y]", stub.Infer,
                   infer_request("p1", x, input_name="x", outputs=["a.output", "y"]))
        if r:
            t.eq(sorted(v.name for v in r.outputs), ["a.output", "y"], "p1 outputs=[a.output, y]: both")
            check_fp32(t, "p1 outputs=[a.output, y]: a.output", r, "a.output", x)
            check_fp32(t, "p1 outputs=[a.output, y]: y", r, "y", x)
        r = t.call("p2 outputs=[s.y] (a nested pipeline's output)", stub.Infer,
                   infer_request("p2", x, input_name="x", outputs=["s.y"]))
        if r:
            t.eq([v.name for v in r.outputs], ["s.y"], "p2 outputs=[s.y]: exactly s.y")
            check_fp32(t, "p2 outputs=[s.y]: step s's output", r, "s.y", x)
        r = t.call("fan outputs=[b.output]", stub.Infer, infer_request("fan", x, input_name="x", outputs=["b.output"]))
        if r:
            check_fp32(t, "fan outputs=[b.output]: step b's output", r, "b.output", x)
        r = t.call("p1 v2 outputs=[a.output]", v2.ModelInfer, v2_request("p1", x, input_name="x", outputs=["a.output"]))
        if r:
            t.eq([o.name for o in r.outputs], ["a.output"], "p1 v2 outputs=[{name: a.output}]: exactly a.output")
            got, _ = v2_output_array(r, "a.output")
            t.check(got is not None and np.array_equal(got, x), "p1 v2 outputs=[a.output]: step a's output")
        t.expect_error("p1 outputs=[zz.output] -> INVALID_ARGUMENT", stub.Infer, IA, "zz.output", "p1",
                       args=(infer_request("p1", x, input_name="x", outputs=["zz.output"]),))
        t.expect_error("p1 outputs=[a.nope] -> INVALID_ARGUMENT", stub.Infer, IA, "a.nope", "p1",
                       args=(infer_request("p1", x, input_name="x", outputs=["a.nope"]),))
        t.expect_error("p1 outputs=[nope] -> INVALID_ARGUMENT", stub.Infer, IA, "'nope'", "p1",
                       args=(infer_request("p1", x, input_name="x", outputs=["nope"]),))
        t.expect_error("p1 v2 outputs=[zz.output] -> INVALID_ARGUMENT", v2.ModelInfer, IA, "zz.output",
                       args=(v2_request("p1", x, input_name="x", outputs=["zz.output"]),))

    with t.case("step errors name pipeline, step and model"):
        x = data(2)
        prefix = "pipeline 'p1': step 'b' (model 'burn'): "
        t.expect_error("p1 burn_mode=bogus -> INVALID_ARGUMENT with the step prefix", stub.Infer, IA, prefix,
                       "burn_mode", args=(infer_request("p1", x, input_name="x", params={"burn_mode": "bogus"}),))
        t.expect_error("p1 burn_ms=abc -> INVALID_ARGUMENT with the step prefix", stub.Infer, IA, prefix, "burn_ms",
                       args=(infer_request("p1", x, input_name="x", params={"burn_ms": "abc"}),))
        t.expect_error("p2 burn_mode=bogus -> both pipelines named (nested prefix)", stub.Infer, IA,
                       "pipeline 'p2': step 's' (model 'p1'): ", prefix, "burn_mode",
                       args=(infer_request("p2", x, input_name="x", params={"burn_mode": "bogus"}),))
        t.expect_error("fan burn_mode=bogus -> names a burn step of fan", stub.Infer, IA, "pipeline 'fan': step '",
                       "(model 'burn'): ", "burn_mode",
                       args=(infer_request("fan", x, input_name="x", params={"burn_mode": "bogus"}),))
        t.expect_error("p1 v2 burn_mode=bogus -> INVALID_ARGUMENT with the step prefix", v2.ModelInfer, IA, prefix,
                       "burn_mode", args=(v2_request("p1", x, input_name="x", params={"burn_mode": "bogus"}),))
        # The same in a stream: the error is answered in-stream and the stream goes on.
        q = harness.RequestQueue()
        call = stub.InferStream(q, timeout=STREAM_TIMEOUT)
        try:
            q.put(infer_request("p1", x, id="bad", input_name="x", params={"burn_mode": "bogus"}))
            kind, m = harness.next_or_none(call, STREAM_TIMEOUT)
            if kind == "msg":
                t.eq(m.id, "bad", "InferStream p1 step error: id echoed")
                t.check(m.HasField("error"), "InferStream p1 step error: error set", harness._short(m))
                t.check_status(m.error.code, m.error.message, IA, "InferStream p1 step error", prefix, "burn_mode")
            else:
                t.fail("InferStream p1 step error answered", "%s %s" % (kind, m))
            q.put(infer_request("p1", x, id="good", input_name="x"))
            kind, m = harness.next_or_none(call, STREAM_TIMEOUT)
            t.check(kind == "msg" and m.id == "good" and not m.HasField("error"),
                    "InferStream goes on after a step error", "%s %s" % (kind, harness._short(m)))
            if kind == "msg":
                check_fp32(t, "InferStream p1 after the error: y equals x", m, "y", x)
        finally:
            q.close()
        try:
            rest = list(call)
            t.eq(len(rest), 0, "InferStream step errors: nothing more, ends OK")
        except grpc.RpcError as e:
            t.fail("InferStream step errors: ends OK", harness.describe_rpc_error(e))
        msgs = _read_stream(t, "ModelStreamInfer p1 step error", v2.ModelStreamInfer(iter([
            v2_request("p1", x, id="bad", input_name="x", params={"burn_mode": "bogus"}),
            v2_request("p1", x, id="good", input_name="x")]), timeout=STREAM_TIMEOUT))
        by_id = {m.infer_response.id: m for m in msgs}
        t.eq(sorted(by_id), ["bad", "good"], "ModelStreamInfer p1: both requests answered")
        if "bad" in by_id:
            em = by_id["bad"].error_message
            t.check(prefix in em and "burn_mode" in em, "ModelStreamInfer p1 step error: error_message has the prefix",
                    "got %r" % em)
        if "good" in by_id:
            got, _ = v2_output_array(by_id["good"].infer_response, "y")
            t.check(got is not None and np.array_equal(got, x), "ModelStreamInfer p1 after the error: y equals x")

    with t.case("pipeline inputs are validated against the declared signature"):
        x = data(2)
        t.expect_error("p1 without x -> INVALID_ARGUMENT", stub.Infer, IA, "'p1'", "'x'",
                       args=(infer_request("p1", values=[]),))
        t.expect_error("p1 with 'input' instead of 'x' -> INVALID_ARGUMENT", stub.Infer, IA, "'p1'",
                       args=(infer_request("p1", x),))
        i32 = typed_tensor(np.arange(4, dtype="<i4").reshape(2, 2), pb.tensor.INT32)
        t.expect_error("p1 x INT32 -> INVALID_ARGUMENT", stub.Infer, IA, "'p1'", "'x'", "INT32",
                       args=(infer_request("p1", values=[tensor_value("x", i32)]),))
        t.expect_error("pair with x2 missing -> INVALID_ARGUMENT", stub.Infer, IA, "'pair'", "'x2'",
                       args=(infer_request("pair", values=[tensor_value("x1", fp32_tensor(x))]),))

    with t.case("deadline and cancellation mid-pipeline"):
        x = data(4)
        slow = {"burn_mode": "sleep", "burn_ms": 300}
        t0 = time.monotonic()
        t.expect_error("slow3 (3 x 300 ms) with a 500 ms deadline -> DEADLINE_EXCEEDED", stub.Infer, DE,
                       args=(infer_request("slow3", x, input_name="x", params=slow),), timeout=0.5)
        t.check(time.monotonic() - t0 < 5.0, "slow3 deadline: the error and the health probe come back promptly")
        r = t.call("slow3 with no deadline after the expired one", stub.Infer,
                   infer_request("slow3", x, input_name="x", params={"burn_mode": "sleep", "burn_ms": 1}))
        if r:
            check_fp32(t, "slow3 after the deadline: y equals x", r, "y", x)
        f = stub.Infer.future(infer_request("slow3", x, input_name="x",
                                            params={"burn_mode": "sleep", "burn_ms": 20000}), timeout=60)
        time.sleep(0.3)
        f.cancel()
        try:
            f.result()
            t.fail("slow3 cancelled by the client", "the call succeeded")
        except grpc.FutureCancelledError:
            t.ok("slow3 cancelled by the client")
        except grpc.RpcError as e:
            t.check(e.code() == grpc.StatusCode.CANCELLED, "slow3 cancelled by the client",
                    harness.describe_rpc_error(e))
        t.still_serving("cancelling slow3 mid-pipeline")

    with t.case("ListModels / GetModel show pipelines"):
        r = t.call("ListModels", stub.ListModels, pb.broker.ListModelsRequest())
        models = {m.name: m for m in r.models} if r else {}
        for name in ("p1", "p2", "p3", "fan", "pair", "diamond", "slow3", "identity", "burn"):
            t.check(name in models, "ListModels lists %s" % name, str(sorted(models)))
        for name in ("p1", "p2", "p3", "fan", "pair", "diamond", "slow3"):
            if name in models:
                t.eq(models[name].type, "pipeline", "ListModels %s: type pipeline" % name)
                t.eq(models[name].ready, True, "ListModels %s: ready" % name)
        for name in ("identity", "burn"):
            if name in models:
                t.eq(models[name].type, "engine", "ListModels %s: type engine" % name)
        want = {
            "p1": ([T("x")], [T("y")]),
            "p3": ([T("x")], [T("w")]),
            "fan": ([T("x")], [T("ya"), T("yb"), T("ye"), T("yb0")]),
            "pair": ([T("x1"), T("x2")], [T("o1"), T("o2")]),
            "diamond": ([T("x"), T("w")], [T("left"), T("right"), T("xm")]),
        }
        for name, (ins, outs) in want.items():
            if name not in models:
                continue
            sig = models[name].signature
            t.eq(sig_tuples(sig.inputs), ins, "ListModels %s: inputs as declared" % name)
            t.eq(sig_tuples(sig.outputs), outs, "ListModels %s: outputs typed from the producing ports" % name)
        if "p1" in models:
            t.eq(models["p1"].description, "identity then burn", "ListModels p1: description from the JSON")
        g = t.call("GetModel p2", stub.GetModel, pb.broker.GetModelRequest(name="p2"))
        if g:
            t.eq((g.name, g.type), ("p2", "pipeline"), "GetModel p2: name and type")
            t.eq(sig_tuples(g.signature.inputs), [T("x")], "GetModel p2: inputs")
            t.eq(sig_tuples(g.signature.outputs), [T("z")], "GetModel p2: outputs")
        m = t.call("v2 ModelMetadata diamond", v2.ModelMetadata, pb.v2.ModelMetadataRequest(name="diamond"))
        if m:
            t.eq([(i.name, i.datatype, list(i.shape)) for i in m.inputs], [("x", "FP32", ANY2), ("w", "FP32", ANY2)],
                 "v2 ModelMetadata diamond: inputs")
            t.eq([(o.name, o.datatype, list(o.shape)) for o in m.outputs],
                 [("left", "FP32", ANY2), ("right", "FP32", ANY2), ("xm", "FP32", ANY2)],
                 "v2 ModelMetadata diamond: outputs")

    t.stop_server(srv)


def serve_dir(t, label, files, args=()):
    """Starts a server on a fresh dir holding `files`; raises (caught by the enclosing case) if it does not start."""
    return t.start_server(list(args) + ["--pipelines", write_dir(t, label, files)])


def group_conversions(t):
    # One server per feature: loading is all or nothing, so a conversion the compiler does not take fails only its
    # own case (with the server's stderr in the failure).
    with t.case("inserted lossless casts"):
        srv = serve_dir(t, "widen", {"01-widen.json": pipeline(
            "widen", [port("u8", datatype="UINT8"), port("i16", datatype="INT16")],
            [step("a", "identity", input="u8"), step("b", "identity", input="i16")],
            [("fu8", "a.output"), ("fi16", "b.output")])})
        stub = srv.broker()
        u8 = np.array([[0, 1, 255]], dtype=np.uint8)
        i16 = np.array([[-32768, 0, 7, 32767]], dtype="<i2")
        req = pb.broker.InferRequest(model="widen", inputs=[tensor_value("u8", typed_tensor(u8, pb.tensor.UINT8)),
                                                            tensor_value("i16", typed_tensor(i16, pb.tensor.INT16))])
        r = t.call("widen Infer", stub.Infer, req)
        if r:
            check_fp32(t, "UINT8 input bound to identity's FP32 input: values arrive as floats", r, "fu8",
                       u8.astype(np.float32))
            check_fp32(t, "INT16 input bound to identity's FP32 input: values arrive as floats", r, "fi16",
                       i16.astype(np.float32))
        f32 = fp32_tensor(np.zeros((1, 3)))
        t.expect_error("widen with u8 sent as FP32 -> INVALID_ARGUMENT (the declared type is UINT8)", stub.Infer, IA,
                       "'widen'", "'u8'", args=(pb.broker.InferRequest(model="widen", inputs=[
                           tensor_value("u8", f32), tensor_value("i16", typed_tensor(i16, pb.tensor.INT16))]),))
        r = t.call("GetModel widen", stub.GetModel, pb.broker.GetModelRequest(name="widen"))
        if r:
            t.eq(sig_tuples(r.signature.inputs), [T("u8", dtype=pb.tensor.UINT8), T("i16", dtype=pb.tensor.INT16)],
                 "GetModel widen: inputs as declared (UINT8, INT16)")
        t.stop_server(srv)

    with t.case("declared casts with scale and offset"):
        srv = serve_dir(t, "scaled", {"01-scaled.json": pipeline(
            "scaled", [port("x", datatype="INT32")],
            [step("half", "identity", input={"from": "x", "cast": "FP32", "scale": 0.5}),
             step("lin", "identity", input={"from": "x", "cast": "FP32", "scale": 2, "offset": 1})],
            [("half", "half.output"), ("lin", "lin.output")])})
        x = np.array([[2, -4, 7], [0, 1, -1]], dtype="<i4")
        r = t.call("scaled Infer", srv.broker().Infer,
                   pb.broker.InferRequest(model="scaled", inputs=[tensor_value("x", typed_tensor(x, pb.tensor.INT32))]))
        if r:
            check_fp32(t, "declared cast INT32 -> FP32 scale 0.5", r, "half", x.astype(np.float32) * np.float32(0.5))
            check_fp32(t, "declared cast INT32 -> FP32 scale 2 offset 1", r, "lin", x.astype(np.float32) * 2 + 1)
        t.stop_server(srv)

    with t.case("a diamond told apart by a declared scale on one branch"):
        srv = serve_dir(t, "sdiamond", {"01-pair.json": PAIR, "02-sdiamond.json": pipeline(
            "sdiamond", [port("x")],
            [step("l", "identity", input="x"), step("r", "burn", input={"from": "x", "cast": "FP32", "scale": 2}),
             step("j", "pair", x1="l.output", x2="r.output")],
            [("left", "j.o1"), ("right", "j.o2")])})
        x = data(3)
        r = t.call("sdiamond Infer", srv.broker().Infer, infer_request("sdiamond", x, input_name="x"))
        if r:
            check_fp32(t, "sdiamond: left (identity branch into pair.x1) equals x", r, "left", x)
            check_fp32(t, "sdiamond: right (FP32 scale 2 branch into pair.x2) equals 2x", r, "right", 2 * x)
        t.stop_server(srv)

    with t.case("reshape between fixed shapes"):
        fix14 = pipeline("fix14", [port("x", shape=[1, 4])], [step("a", "identity", input="x")], [("y", "a.output")])
        srv = serve_dir(t, "reshape", {"01-fix14.json": fix14, "02-reshape22.json": pipeline(
            "reshape22", [port("x", shape=[2, 2])], [step("s", "fix14", x="x")], [("y", "s.y")])})
        stub = srv.broker()
        x = np.array([[1, 2], [3, 4]], dtype=np.float32)
        r = t.call("reshape22 Infer", stub.Infer, infer_request("reshape22", x, input_name="x"))
        if r:
            check_fp32(t, "FP32[2,2] into a pipeline declared FP32[1,4]: reshaped to [1,4]", r, "y",
                       x.reshape(1, 4))
        t.expect_error("fix14 called with [2,2] -> INVALID_ARGUMENT (declared [1,4])", stub.Infer, IA, "'fix14'",
                       "'x'", args=(infer_request("fix14", x, input_name="x"),))
        y = np.arange(4, dtype=np.float32).reshape(1, 4)
        r = t.call("fix14 Infer [1,4]", stub.Infer, infer_request("fix14", y, input_name="x"))
        if r:
            check_fp32(t, "fix14 [1,4]: y equals x", r, "y", y)
        r = t.call("GetModel reshape22", stub.GetModel, pb.broker.GetModelRequest(name="reshape22"))
        if r:
            t.eq(sig_tuples(r.signature.inputs), [T("x", [2, 2])], "GetModel reshape22: input as declared [2,2]")
            t.eq(sig_tuples(r.signature.outputs), [T("y")],
                 "GetModel reshape22: output typed from the producing port (fix14.y <- identity: [-1,-1])")
        t.stop_server(srv)

    with t.case("reshape checked at run time"):
        fix14 = pipeline("fix14", [port("x", shape=[1, 4])], [step("a", "identity", input="x")], [("y", "a.output")])
        srv = serve_dir(t, "rtreshape", {"01-fix14.json": fix14, "02-rt.json": pipeline(
            "rt", [port("x", shape=[-1])], [step("s", "fix14", x="x")], [("y", "s.y")])})
        stub = srv.broker()
        x = np.arange(4, dtype=np.float32)
        r = t.call("rt Infer [4]", stub.Infer, infer_request("rt", x, input_name="x"))
        if r:
            check_fp32(t, "FP32[4] into a pipeline declared FP32[1,4] (input FP32[-1]): reshaped at run time", r, "y",
                       x.reshape(1, 4))
        t.expect_error("rt Infer [5] -> INVALID_ARGUMENT naming pipeline, step and shapes", stub.Infer, IA,
                       "pipeline 'rt'", "step 's'", "FP32[5]", "[1,4]",
                       args=(infer_request("rt", np.arange(5), input_name="x"),))
        t.stop_server(srv)

    with t.case("reshape with a rank change: FP32[4] into identity's [-1,-1]"):
        d = write_dir(t, "rank", {"01-rank1.json": pipeline("rank1", [port("x", shape=[4])],
                                                            [step("a", "identity", input="x")], [("y", "a.output")])})
        rc, out, err = run_serve(t, d)
        if rc is None:  # it serves
            srv = t.start_server(["--pipelines", d])
            print("note: the compiler accepts FP32[4] -> [-1,-1] (reshape inserted)", flush=True)
            x = np.array([1, 2, 3, 4], dtype=np.float32)
            r = t.call("rank1 Infer", srv.broker().Infer, infer_request("rank1", x, input_name="x"))
            if r:
                check_fp32(t, "rank1: FP32[4] arrives at identity as [1,4]", r, "y", x.reshape(1, 4))
            t.stop_server(srv)
        else:
            print("note: the compiler rejects FP32[4] -> [-1,-1]: exit %s: %s" % (rc, err.strip()), flush=True)
            t.eq(rc, 1, "rank1 rejected: exit status 1")
            missing = [s for s in ("01-rank1.json", "'a'", "input") if s not in err]
            t.check(not missing, "rank1 rejected: stderr names the file, step 'a' and port 'input'",
                    "missing %r in %r" % (missing, err.strip()))


def _read_stream(t, what, call, n_max=50):
    msgs = []
    try:
        for m in call:
            msgs.append(m)
            if len(msgs) >= n_max:
                break
    except grpc.RpcError as e:
        t.fail("%s: stream ends OK" % what, harness.describe_rpc_error(e))
    return msgs


def check_v1_stream(t, what, msgs, rid, model, output, words):
    """Partial messages (partial=true) each with one token in order, then one with partial=false and no outputs."""
    mine = [m for m in msgs if m.id == rid]
    if not mine:
        return t.fail("%s: answered" % what, "no message with id %r among %d" % (rid, len(msgs)))
    if partial_of(mine[0]) is None:
        return t.fail("%s: InferResponse has a 'partial' field" % what, "the generated stubs have none")
    t.eq(len(mine), len(words) + 1, "%s: %d partial messages + a final one" % (what, len(words)))
    errs = [m.error.message for m in mine if m.HasField("error")]
    t.check(not errs, "%s: no errors" % what, repr(errs))
    parts, final = mine[:-1], mine[-1]
    t.check(all(partial_of(m) is True for m in parts), "%s: every message but the last has partial=true" % what,
            repr([partial_of(m) for m in mine]))
    got = []
    for m in parts:
        vals = [value_strings(v) for v in m.outputs if v.name == output]
        got.append(vals[0] if len(vals) == 1 and vals[0] is not None else
                   ("?", [(v.name, v.WhichOneof("value")) for v in m.outputs]))
    t.eq(got, [[w] for w in words], "%s: one token per partial message, in order" % what)
    t.check(partial_of(final) is False and len(final.outputs) == 0,
            "%s: the last message has partial=false and no outputs" % what, harness._short(final))
    t.check(all(m.model == model for m in mine), "%s: every message names the model" % what,
            repr(sorted({m.model for m in mine})))


def text_req(model, text, id=""):
    return pb.broker.InferRequest(model=model, id=id, inputs=[pb.contract.Value(
        name="text", text=pb.contract.Text(text=text))])


def group_streaming(t):
    with t.case("streaming: the tok pipeline"):
        streaming_tok(t)
    streaming_more(t)


def streaming_tok(t):
    srv = serve_dir(t, "stream", {"01-tok.json": TOK})
    ch = srv.channel()
    stub = srv.broker(ch)
    v2 = srv.v2(ch)

    with t.case("unary Infer through a streaming step: all tokens at once"):
        r = t.call("tok Infer", stub.Infer, text_req("tok", SENTENCE, "u1"))
        if r:
            v = output_value(r, "tokens")
            t.check(v is not None and v.WhichOneof("value") == "tensor" and list(v.tensor.shape) == [4]
                    and v.tensor.datatype == pb.tensor.BYTES,
                    "tok Infer: tokens is a BYTES[4] tensor", harness._short(r))
            t.eq(value_strings(v) if v else None, WORDS, "tok Infer: the four lower-cased words")
            t.eq(r.id, "u1", "tok Infer: id echoed")
        r = t.call("tok Infer with CJK", stub.Infer, text_req("tok", "Hi 日本 World"))
        if r:
            v = output_value(r, "tokens")
            t.eq(value_strings(v) if v else None, ["hi", "日", "本", "world"],
                 "tok Infer: CJK characters are single tokens")
        r = t.call("tok v2 ModelInfer", v2.ModelInfer, v2_bytes_request("tok", [SENTENCE], id="v1"))
        if r:
            strs, shape, dt = v2_strings(r, "tokens")
            t.eq((strs, shape, dt), (WORDS, [4], "BYTES"), "tok v2 ModelInfer: BYTES[4] with the four words")

    with t.case("InferStream through a streaming step"):
        q = harness.RequestQueue()
        call = stub.InferStream(q, timeout=STREAM_TIMEOUT)
        q.put(text_req("tok", SENTENCE, "s1"))
        msgs = []
        try:
            for _ in range(len(WORDS) + 1):
                kind, m = harness.next_or_none(call, STREAM_TIMEOUT)
                if kind != "msg":
                    t.fail("InferStream tok: %d messages" % (len(WORDS) + 1), "after %d: %s %s" % (len(msgs), kind, m))
                    break
                msgs.append(m)
            check_v1_stream(t, "InferStream tok", msgs, "s1", "tok", "tokens", WORDS)
            # The stream goes on: a plain pipeline request on the same stream, then two streaming ones at once.
            q.put(pb.broker.InferRequest(model="identity", id="plain", inputs=[
                tensor_value("input", fp32_tensor(data(1)))]))
            kind, m = harness.next_or_none(call, STREAM_TIMEOUT)
            t.check(kind == "msg" and m.id == "plain" and output_array(m, "output") is not None,
                    "InferStream tok: a non-streaming model answers after it", "%s %s" % (kind, harness._short(m)))
            if kind == "msg":
                t.check(partial_of(m) in (False, None) and not m.HasField("error"),
                        "InferStream: a non-streaming answer is one message with partial=false")
            # Two streaming requests in flight at once on one stream: each id's messages in order.
            q.put(text_req("tok", "one two three", "s2"))
            q.put(text_req("tok", "Four five", "s3"))
        finally:
            q.close()
        rest = _read_stream(t, "InferStream tok", call)
        check_v1_stream(t, "InferStream tok (s2, concurrent)", rest, "s2", "tok", "tokens", ["one", "two", "three"])
        check_v1_stream(t, "InferStream tok (s3, concurrent)", rest, "s3", "tok", "tokens", ["four", "five"])
        t.eq(len(rest), 4 + 3, "InferStream tok: nothing beyond the expected messages")

    with t.case("InferStream: 200 streaming requests on one stream"):
        sentences = {"q%03d" % i: " ".join("w%dx%d" % (i, k) for k in range(1 + i % 7)) for i in range(200)}
        msgs = _read_stream(t, "InferStream tok x200", stub.InferStream(
            iter([text_req("tok", sent, rid) for rid, sent in sentences.items()]), timeout=STREAM_TIMEOUT),
            n_max=100000)
        by_id = {}
        for m in msgs:
            by_id.setdefault(m.id, []).append(m)
        bad = []
        for rid, sent in sentences.items():
            ms = by_id.get(rid, [])
            toks = [value_strings(v) for m in ms[:-1] for v in m.outputs]
            if (len(ms) != len(sent.split()) + 1 or toks != [[w] for w in sent.split()]
                    or partial_of(ms[-1]) is not False or ms[-1].outputs
                    or not all(partial_of(m) is True for m in ms[:-1])):
                bad.append(rid)
        t.eq(sorted(by_id), sorted(sentences), "InferStream tok x200: every id answered")
        t.check(not bad, "InferStream tok x200: per id, its tokens in order then one final message",
                "wrong for %d ids, e.g. %r" % (len(bad), bad[:5]))

    with t.case("ModelStreamInfer through a streaming step"):
        msgs = _read_stream(t, "ModelStreamInfer tok", v2.ModelStreamInfer(
            iter([v2_bytes_request("tok", [SENTENCE], id="m1")]), timeout=STREAM_TIMEOUT))
        errs = [m.error_message for m in msgs if m.error_message]
        t.check(not errs, "ModelStreamInfer tok: no errors", repr(errs))
        t.eq(len(msgs), len(WORDS) + 1, "ModelStreamInfer tok: %d partial responses + a final one" % len(WORDS))
        t.check(all(m.infer_response.id == "m1" and m.infer_response.model_name == "tok" for m in msgs),
                "ModelStreamInfer tok: every response carries the id and the model",
                repr([(m.infer_response.id, m.infer_response.model_name) for m in msgs]))
        flags = [v2_final_flag(m.infer_response) for m in msgs]
        t.eq(flags, [False] * (len(msgs) - 1) + [True],
             "ModelStreamInfer tok: triton_final_response false on partials, true on the last")
        toks = []
        for m in msgs[:-1]:
            strs, shape, dt = v2_strings(m.infer_response, "tokens")
            toks.append((strs, shape, dt))
        t.eq(toks, [([w], [1], "BYTES") for w in WORDS], "ModelStreamInfer tok: one BYTES[1] token per response")
        if msgs:
            t.eq(len(msgs[-1].infer_response.outputs), 0, "ModelStreamInfer tok: the last response has no outputs")

    with t.case("ListModels: a TEXT pipeline"):
        r = t.call("GetModel tok", stub.GetModel, pb.broker.GetModelRequest(name="tok"))
        if r:
            text1 = T("text", [-1], pb.contract.TEXT, pb.tensor.BYTES)
            t.eq(r.type, "pipeline", "GetModel tok: type pipeline")
            t.eq(sig_tuples(r.signature.inputs), [text1], "GetModel tok: input TEXT BYTES[-1]")
            t.eq(sig_tuples(r.signature.outputs), [T("tokens", [-1], pb.contract.TEXT, pb.tensor.BYTES)],
                 "GetModel tok: output typed from tokenize's port (TEXT BYTES[-1])")

    t.stop_server(srv)


def streaming_more(t):
    with t.case("a streaming pipeline nested in another"):
        srv = serve_dir(t, "stream2", {"01-tok.json": TOK, "02-tok2.json": TOK2})
        stub = srv.broker()
        r = t.call("tok2 Infer (tok nested)", stub.Infer, text_req("tok2", SENTENCE))
        if r:
            v = output_value(r, "words")
            t.eq(value_strings(v) if v else None, WORDS, "tok2 Infer: the four words through the nested pipeline")
        msgs = _read_stream(t, "InferStream tok2", stub.InferStream(iter([text_req("tok2", "Four five", "n1")]),
                                                                     timeout=STREAM_TIMEOUT))
        check_v1_stream(t, "InferStream tok2 (nested streaming pipeline)", msgs, "n1", "tok2", "words",
                        ["four", "five"])
        t.stop_server(srv)

    with t.case("a streaming step beside a plain branch"):
        srv = serve_dir(t, "mix", {"01-mix.json": pipeline(
            "mix", [port("text", "TEXT", "BYTES", [-1]), port("x")],
            [step("t", "tokenize", text="text"), step("a", "identity", input="x")],
            [("tokens", "t.tokens"), ("y", "a.output")])})
        stub = srv.broker()
        x = data(8)

        def mix_req(id, text, outputs=None):
            return pb.broker.InferRequest(model="mix", id=id, outputs=outputs or [], inputs=[
                pb.contract.Value(name="text", text=pb.contract.Text(text=text)), tensor_value("x", fp32_tensor(x))])

        r = t.call("mix Infer", stub.Infer, mix_req("u", "a b c"))
        if r:
            v = output_value(r, "tokens")
            t.eq(value_strings(v) if v else None, ["a", "b", "c"], "mix Infer: tokens")
            check_fp32(t, "mix Infer: y equals x", r, "y", x)
        msgs = _read_stream(t, "InferStream mix", stub.InferStream(iter([mix_req("m", "a b c")]),
                                                                   timeout=STREAM_TIMEOUT))
        check_v1_stream(t, "InferStream mix", msgs, "m", "mix", "tokens", ["a", "b", "c"])
        ys = [m for m in msgs if output_array(m, "y") is not None]
        t.check(ys and all(np.array_equal(output_array(m, "y"), x) for m in ys),
                "InferStream mix: the plain branch's y is delivered (and right)", "%d messages with y" % len(ys))
        # Only the steps needed for the requested outputs run: outputs=[y] does not need the streaming step, so y
        # comes once (as one answer, or one partial + the final message), not once per token.
        msgs = _read_stream(t, "InferStream mix outputs=[y]", stub.InferStream(
            iter([mix_req("my", "a b c d e", outputs=["y"])]), timeout=STREAM_TIMEOUT))
        ys = [m for m in msgs if output_array(m, "y") is not None]
        t.check(len(ys) == 1 and np.array_equal(output_array(ys[0], "y"), x),
                "InferStream mix outputs=[y]: y delivered exactly once (tokenize is not needed, so it does not run)",
                "got %d messages: %s" % (len(msgs), [(partial_of(m), [v.name for v in m.outputs]) for m in msgs]))
        t.stop_server(srv)

    with t.case("CLASSIFICATION -> TEXT inserted before tokenize"):
        srv = serve_dir(t, "cls", {"01-cls.json": pipeline(
            "cls", [port("scores", "CLASSIFICATION", "FP32", [-1, 3], labels=["Cat", "Dog", "Bird"])],
            [step("t", "tokenize", text="scores")], [("tokens", "t.tokens")])})
        s = np.array([[0.1, 0.7, 0.2], [0.9, 0.05, 0.05]], dtype=np.float32)
        r = t.call("cls Infer", srv.broker().Infer, infer_request("cls", s, input_name="scores"))
        if r:
            v = output_value(r, "tokens")
            t.eq(value_strings(v) if v else None, ["dog", "cat"], "cls: top-1 label per row, tokenized")
        t.stop_server(srv)


def group_one_worker(t):
    d = write_dir(t, "w1", CORE_FILES)
    srv = t.start_server(["--workers", "1", "--pipelines", d])
    stub = srv.broker()

    with t.case("--workers 1: nested pipelines and a diamond do not deadlock the pool"):
        x = data(9)
        r = t.call("--workers 1 p3", stub.Infer, infer_request("p3", x, input_name="x"))
        if r:
            check_fp32(t, "--workers 1 p3: w equals x", r, "w", x)
        r = t.call("--workers 1 diamond", stub.Infer, diamond_request(x, 2 * x))
        if r:
            check_fp32(t, "--workers 1 diamond: left", r, "left", 2 * x)
            check_fp32(t, "--workers 1 diamond: right", r, "right", x)
        futs = [stub.Infer.future(diamond_request(data(i), 2 * data(i)) if i % 2 else
                                  infer_request("p3", data(i), input_name="x"), timeout=30)
                for i in range(16)]
        ok = 0
        for i, f in enumerate(futs):
            try:
                r = f.result()
                name, want = ("left", 2 * data(i)) if i % 2 else ("w", data(i))
                ok += np.array_equal(output_array(r, name), want)
            except grpc.RpcError:
                pass
        t.eq(ok, 16, "--workers 1: 16 concurrent nested/diamond requests all answered right")

    with t.case("--workers 1: a deadline stops the chain"):
        # 3 x 1000 ms of sleep with a 1.5 s deadline. With one worker, a burn call sent right after the deadline
        # error waits for the pipeline's thread: it comes back quickly only if the pipeline stopped (if the chain
        # ran on, it would come back >= 1.5 s later).
        x = data(6)
        t.expect_error("--workers 1 slow3 (3 x 1000 ms) with a 1.5 s deadline -> DEADLINE_EXCEEDED", stub.Infer, DE,
                       args=(infer_request("slow3", x, input_name="x",
                                           params={"burn_mode": "sleep", "burn_ms": 1000}),),
                       timeout=1.5, alive=False)
        t0 = time.monotonic()
        r = t.call("--workers 1 burn right after", stub.Infer,
                   infer_request("burn", x, params={"burn_ms": 0}), timeout=10)
        el = time.monotonic() - t0
        if r:
            check_fp32(t, "--workers 1 burn after the deadline: output", r, "output", x)
        t.check(el < 1.0, "--workers 1: the worker is free right after the deadline (steps not started are skipped)",
                "the next burn call took %.2f s" % el)
        t.still_serving("deadline mid-pipeline on one worker")

    t.stop_server(srv)


# Startup rejections --------------------------------------------------------------------------------------------------

def run_serve(t, d, timeout=30.0):
    """Runs `junction serve --grpc-port 0 --host 127.0.0.1 --http-port 0 --pipelines d` (HTTP off, as the harness
    does, so parallel servers never collide on the default HTTP port). Returns (rc, stdout, stderr); rc is None if
    it printed the gRPC ready line (it is killed then)."""
    argv = [t.binary, "serve", "--grpc-port", "0", "--host", "127.0.0.1", "--http-port", "0", "--pipelines", d]
    with tempfile.TemporaryFile(dir=t.workdir) as errf:
        p = subprocess.Popen(harness.die_with_parent(argv), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                             stderr=errf)
        lines = queue.Queue()

        def reader():
            for raw in p.stdout:
                lines.put(raw.decode("utf-8", "replace").rstrip("\n"))
            lines.put(None)

        threading.Thread(target=reader, daemon=True).start()
        out, served = [], False
        end = time.monotonic() + timeout
        while True:
            try:
                line = lines.get(timeout=max(0.01, end - time.monotonic()))
            except queue.Empty:
                break
            if line is None:
                break
            out.append(line)
            if harness.READY_RE.match(line):
                served = True
                break
        if served or p.poll() is None:
            p.kill()
        rc = p.wait()
        errf.seek(0)
        err = errf.read().decode("utf-8", "replace")
    return (None if served else rc), "\n".join(out), err


REJECTIONS = [
    # (label, files, substrings stderr must contain besides the last file's name)
    ("unknown model", {"01-r.json": pipeline("rj", [port("x")], [step("s1", "nosuchmodel", input="x")],
                                             [("y", "s1.output")])}, ["s1", "nosuchmodel"]),
    ("unbound step input", {"01-r.json": pipeline("rj", [port("x")],
                                                  [step("s1", "identity", input="x"), step("s2", "identity")],
                                                  [("y", "s1.output"), ("z", "s2.output")])}, ["s2", "input"]),
    ("binding to a port the model lacks", {"01-r.json": pipeline(
        "rj", [port("x")], [step("s1", "identity", input="x", bogusport="x")], [("y", "s1.output")])},
     ["s1", "bogusport"]),
    ("source that is not a pipeline input", {"01-r.json": pipeline(
        "rj", [port("x")], [step("s1", "identity", input="x"), step("s2", "identity", input="nowhere")],
        [("y", "s1.output"), ("z", "s2.output")])}, ["s2", "input", "nowhere"]),
    ("source step that does not exist", {"01-r.json": pipeline(
        "rj", [port("x")], [step("s1", "identity", input="x"), step("s2", "identity", input="ghost.output")],
        [("y", "s1.output"), ("z", "s2.output")])}, ["s2", "input", "ghost"]),
    ("source port that the step lacks", {"01-r.json": pipeline(
        "rj", [port("x")], [step("s1", "identity", input="x"), step("s2", "identity", input="s1.nosuchport")],
        [("z", "s2.output")])}, ["s2", "input", "nosuchport"]),
    ("TEXT pipeline input into identity (no conversion)", {"01-r.json": pipeline(
        "rj", [port("x", "TEXT", "BYTES", [-1])], [step("s1", "identity", input="x")], [("y", "s1.output")])},
     ["s1", "input", "FP32"]),
    ("INT32 into FP32 without a declared cast (lossy)", {"01-r.json": pipeline(
        "rj", [port("x", datatype="INT32")], [step("s1", "identity", input="x")], [("y", "s1.output")])},
     ["s1", "input", "INT32", "FP32"]),
    ("IMAGE into tokenize's TEXT input", {"01-r.json": pipeline(
        "rj", [port("x", "IMAGE", "BYTES", [-1])], [step("s1", "tokenize", text="x")], [("y", "s1.tokens")])},
     ["s1", "text", "IMAGE"]),
    ("element counts differ ([2,3] into [1,4])", {
        "01-fix14.json": pipeline("fix14", [port("x", shape=[1, 4])], [step("a", "identity", input="x")],
                                  [("y", "a.output")]),
        "02-r.json": pipeline("rj", [port("x", shape=[2, 3])], [step("s1", "fix14", x="x")], [("y", "s1.y")])},
     ["s1", "'x'"]),
    ("duplicate step id", {"01-r.json": pipeline(
        "rj", [port("x")], [step("dup", "identity", input="x"), step("dup", "burn", input="x")],
        [("y", "dup.output")])}, ["dup"]),
    ("cycle", {"01-r.json": pipeline(
        "rj", [port("x")], [step("s0", "identity", input="x"), step("cyc1", "identity", input="cyc2.output"),
                            step("cyc2", "identity", input="cyc1.output")],
        [("y", "s0.output"), ("z", "cyc2.output")])}, ["cyc1", "cyc2"]),
    ("pipeline output bound to nothing", {"01-r.json": pipeline(
        "rj", [port("x")], [step("s1", "identity", input="x")], [("y", "s1.output"), ("dangling", "")])},
     ["dangling"]),
    ("pipeline output bound to a missing step output", {"01-r.json": pipeline(
        "rj", [port("x")], [step("s1", "identity", input="x")], [("y", "s1.nosuchport")])}, ["s1", "nosuchport"]),
    ("pipeline output bound to a missing step", {"01-r.json": pipeline(
        "rj", [port("x")], [step("s1", "identity", input="x")], [("y", "s1.output"), ("z", "ghost.output")])},
     ["ghost"]),
    ("unused pipeline input", {"01-r.json": pipeline(
        "rj", [port("x"), port("unused_in")], [step("s1", "identity", input="x")], [("y", "s1.output")])},
     ["unused_in"]),
    ("no outputs", {"01-r.json": pipeline("rj", [port("x")], [step("s1", "identity", input="x")], [])}, ["rj"]),
    ("more than one streaming step", {"01-r.json": pipeline(
        "rj", [port("x", "TEXT", "BYTES", [-1])],
        [step("tk1", "tokenize", text="x"), step("tk2", "tokenize", text="tk1.tokens")], [("y", "tk2.tokens")])},
     ["tk1", "tk2"]),
    ("step id containing '.'", {"01-r.json": pipeline(
        "rj", [port("x")], [step("s.1", "identity", input="x")], [("y", "s.1.output")])}, ["s.1"]),
    ("a good file, then a bad one (nothing half-applied)", {
        "01-good.json": pipeline("good", [port("x")], [step("a", "identity", input="x")], [("y", "a.output")]),
        "02-r.json": pipeline("rj", [port("x")], [step("s9", "nosuchmodel", input="x")], [("y", "s9.output")])},
     ["s9", "nosuchmodel"]),
    ("a pipeline named like an engine", {"01-r.json": pipeline(
        "identity", [port("x")], [step("s1", "burn", input="x")], [("y", "s1.output")])}, ["identity"]),
]


def group_rejections(t):
    with t.case("startup rejections"):
        for label, files, subs in REJECTIONS:
            d = write_dir(t, "rej", files)
            bad_file = sorted(files)[-1]
            rc, out, err = run_serve(t, d)
            what = "rejected at startup: %s" % label
            if rc is None:
                t.fail(what, "the server started serving with %s" % json.dumps(files[bad_file]))
                continue
            if rc != 1:
                t.fail("%s: exit status 1" % what, "exit status %s, stderr %r" % (rc, err.strip()[:300]))
                continue
            t.ok("%s: exit status 1" % what)
            t.check(not any(harness.READY_RE.match(line) for line in out.splitlines()),
                    "%s: no ready line" % what, repr(out))
            want = [bad_file] + subs
            missing = [s for s in want if s not in err]
            t.check(not missing, "%s: stderr names %r" % (what, want),
                    "missing %r in stderr %r" % (missing, err.strip()[:600]))
            pname = "'%s'" % files[bad_file]["name"]
            t.check(pname in err, "%s: stderr names the pipeline %s" % (what, pname),
                    "stderr %r" % err.strip()[:600])
            hits = [line for line in err.splitlines() if harness.SANITIZER_RE.search(line)]
            if hits:
                t.fail("%s: no sanitizer report" % what, "\n    ".join(hits[:5]))
        # Not JSON at all: still exit 1 naming the file (the CLI suite covers the syntax errors in detail).
        d = write_dir(t, "rej", {"01-broken.json": "{\"name\": \"broken\", "})
        rc, out, err = run_serve(t, d)
        t.check(rc == 1 and "01-broken.json" in err, "rejected at startup: invalid JSON -> exit 1 naming the file",
                "exit %r, stderr %r" % (rc, err.strip()[:300]))
        d = os.path.join(t.workdir, "no-such-dir")
        rc, out, err = run_serve(t, d)
        t.check(rc not in (None, 0) and "no-such-dir" in err, "--pipelines with a missing dir -> fails naming it",
                "exit %r, stderr %r" % (rc, err.strip()[:300]))
        # An empty dir is fine: the server starts with no pipelines.
        d = write_dir(t, "empty", {})
        rc, out, err = run_serve(t, d)
        t.check(rc is None, "--pipelines with an empty dir: serves", "exit %r, stderr %r" % (rc, err.strip()[:300]))


def main(t):
    for name, fn in (("core", group_core), ("one worker", group_one_worker), ("conversions", group_conversions),
                     ("streaming", group_streaming), ("startup rejections", group_rejections)):
        with t.case("group: %s" % name):
            fn(t)


if __name__ == "__main__":
    harness.run(main)
