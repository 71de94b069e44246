#!/usr/bin/env python3
"""Front-door equivalence (the one dispatch path): the same request through every door of a real junction —
junction.v1 Broker/Infer and InferStream, v2 ModelInfer and ModelStreamInfer (python3-grpcio), v2 REST and simple
JSON (Python's http.client) — gives the same answer, the same status class and the same message text:

  fixtures x cases, as gRPC core's end2end tests lay them out:
  - a good request;
  - each validation error (wrong datatype, wrong rank, unknown input, missing input, unknown output);
  - an unknown model;
  - a deadline already passed (the `timeout` request parameter, microseconds: 1);
  - a full queue (--workers 1 --max-queue 1, the worker and the queue held by `burn` calls);
  - a remote engine that is down (a second junction, registered natively, then killed).
  A door that cannot say a request (simple JSON has no datatype, no output selection, and names inputs its own way)
  sits that case out; every case runs on at least five doors. ModelStreamInfer's in-stream error carries a message
  and no code (the v2 protocol has no field for one): its status class is not compared, its message is.

And a model replaced while 500 calls run through all six doors: every call is answered wholly by the old or the new
model (one registry lookup per call: the whole answer, and every instance of a simple JSON batch, from one version).

usage: /usr/bin/python3 tests/e2e/test_doors.py /path/to/junction
"""
import http.client
import json
import os
import sys
import tempfile
import threading
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import grpc  # noqa: E402
import numpy as np  # noqa: E402
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

import harness  # noqa: E402
from harness import pb  # noqa: E402

SC = grpc.StatusCode
TIMEOUT = 30.0
HTTP_OF = {SC.INVALID_ARGUMENT: 400, SC.NOT_FOUND: 404, SC.RESOURCE_EXHAUSTED: 429, SC.UNAVAILABLE: 503,
           SC.DEADLINE_EXCEEDED: 504}
DOORS = ("v1.Infer", "v1.InferStream", "v2.ModelInfer", "v2.ModelStreamInfer", "v2 REST", "simple JSON")
NP_OF = {"FP32": "<f4", "INT32": "<i4"}
V1_DTYPE = {"FP32": "FP32", "INT32": "INT32"}


class Req:
    """One request, said once; each door writes it its own way. inputs: [(name, datatype, array)]."""

    def __init__(self, model, inputs, params=None, outputs=(), simple=True):
        self.model, self.inputs, self.params, self.outputs = model, inputs, params or {}, list(outputs)
        self.simple = simple  # can simple JSON say it?


class Outcome:
    def __init__(self, ok, code=None, message="", arrays=None, version=None):
        self.ok, self.code, self.message, self.arrays, self.version = ok, code, message, arrays or {}, version

    def __repr__(self):
        if self.ok:
            return "ok %s" % {k: v.tolist() for k, v in self.arrays.items()}
        return "%s %r" % (self.code, self.message)


# ---- the doors ----

def v1_message(r, id="r"):
    req = pb.broker.InferRequest(model=r.model, id=id)
    for name, dt, a in r.inputs:
        a = np.ascontiguousarray(np.asarray(a, dtype=NP_OF[dt]))
        t = pb.tensor.Tensor(datatype=getattr(pb.tensor, V1_DTYPE[dt]), shape=list(a.shape), raw=a.tobytes())
        req.inputs.append(pb.contract.Value(name=name, tensor=t))
    for k, v in r.params.items():
        harness.set_param(req.parameters, k, v)
    req.outputs.extend(r.outputs)
    return req


def v2_message(r, id="r"):
    req = pb.v2.ModelInferRequest(model_name=r.model, id=id)
    for name, dt, a in r.inputs:
        a = np.ascontiguousarray(np.asarray(a, dtype=NP_OF[dt]))
        req.inputs.add(name=name, datatype=dt, shape=list(a.shape))
        req.raw_input_contents.append(a.tobytes())
    for k, v in r.params.items():
        harness.set_v2_param(req.parameters, k, v)
    for o in r.outputs:
        req.outputs.add(name=o)
    return req


def v1_arrays(resp):
    return {v.name: harness.tensor_array(v.tensor) for v in resp.outputs if v.WhichOneof("value") == "tensor"}


def v2_arrays(resp):
    return {o.name: harness.v2_output_array(resp, o.name)[0] for o in resp.outputs}


def rpc_failure(e):
    return Outcome(False, e.code(), e.details())


def unary(call, msg, read):
    """One unary call: the answer read into an Outcome, or the failure's status and message."""
    try:
        return read(call(msg, timeout=TIMEOUT))
    except grpc.RpcError as e:
        return rpc_failure(e)


def one_on_a_stream(call, msg, read):
    """A stream carrying exactly one request: its one answer read into an Outcome (in-stream errors included)."""
    try:
        resps = list(call(iter([msg]), timeout=TIMEOUT))
    except grpc.RpcError as e:
        return rpc_failure(e)
    if len(resps) != 1:
        return Outcome(False, None, "%d responses on the stream" % len(resps))
    return read(resps[0])


def v1_outcome(resp):
    if resp.HasField("error") and resp.error.code != 0:
        return Outcome(False, harness.CODE_NAMES.get(resp.error.code), resp.error.message)
    return Outcome(True, arrays=v1_arrays(resp), version=resp.version)


def v2_outcome(resp):
    return Outcome(True, arrays=v2_arrays(resp), version=resp.model_version)


def v2_stream_outcome(resp):
    if resp.error_message:
        return Outcome(False, "(no code on this door)", resp.error_message)
    return v2_outcome(resp.infer_response)


def door_v1_infer(srv, r):
    return unary(srv.broker().Infer, v1_message(r), v1_outcome)


def door_v1_stream(srv, r):
    return one_on_a_stream(srv.broker().InferStream, v1_message(r), v1_outcome)


def door_v2_infer(srv, r):
    return unary(srv.v2().ModelInfer, v2_message(r), v2_outcome)


def door_v2_stream(srv, r):
    return one_on_a_stream(srv.v2().ModelStreamInfer, v2_message(r), v2_stream_outcome)


def http_post(srv, path, body):
    conn = http.client.HTTPConnection("127.0.0.1", srv.http_port, timeout=TIMEOUT)
    try:
        conn.request("POST", path, body=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
        resp = conn.getresponse()
        return resp.status, json.loads(resp.read().decode("utf-8"))
    finally:
        conn.close()


def http_outcome(status, j):
    if status != 200:
        code = next((c for c, s in HTTP_OF.items() if s == status), status)
        return Outcome(False, code, j.get("error", ""))
    return None


def door_rest_v2(srv, r):
    body = {"id": "r", "inputs": [{"name": n, "datatype": dt, "shape": list(np.shape(a)),
                                   "data": np.asarray(a).reshape(-1).tolist()} for n, dt, a in r.inputs]}
    if r.params:
        body["parameters"] = r.params
    if r.outputs:
        body["outputs"] = [{"name": o} for o in r.outputs]
    status, j = http_post(srv, "/v2/models/%s/infer" % r.model, body)
    bad = http_outcome(status, j)
    if bad:
        return bad
    arrays = {o["name"]: np.asarray(o["data"], dtype=NP_OF[o["datatype"]]).reshape(o["shape"]) for o in j["outputs"]}
    return Outcome(True, arrays=arrays, version=j.get("model_version"))


def simple_body(r):
    body = {n: np.asarray(a).tolist() for n, _, a in r.inputs}
    if r.params:
        body["parameters"] = r.params
    return body


def door_simple(srv, r):
    status, j = http_post(srv, "/v1/models/%s:predict" % r.model, simple_body(r))
    bad = http_outcome(status, j)
    if bad:
        return bad
    return Outcome(True, arrays={k: np.asarray(v, dtype=np.float32) for k, v in j.items()})


DOOR_FNS = (door_v1_infer, door_v1_stream, door_v2_infer, door_v2_stream, door_rest_v2, door_simple)


def through_every_door(srv, r):
    return [(d, fn(srv, r)) for d, fn in zip(DOORS, DOOR_FNS) if d != "simple JSON" or r.simple]


def check_same(t, what, outcomes, want_code=None, want_substrings=(), want_arrays=None):
    """Every door: the same success and arrays, or the same message and status class."""
    desc = "; ".join("%s: %r" % (d, o) for d, o in outcomes)
    if want_arrays is not None:
        good = all(o.ok and set(o.arrays) == set(want_arrays) and
                   all(np.array_equal(o.arrays[k], want_arrays[k]) for k in want_arrays) for _, o in outcomes)
        t.check(good, "%s: the same answer on %d doors" % (what, len(outcomes)), desc)
        return
    t.check(all(not o.ok for _, o in outcomes), "%s: refused on every door" % what, desc)
    messages = {o.message for _, o in outcomes}
    t.check(len(messages) == 1, "%s: the same message text on %d doors" % (what, len(outcomes)), desc)
    msg = next(iter(messages))
    t.check(all(s in msg for s in want_substrings), "%s: the message names %s" % (what, ", ".join(want_substrings)),
            msg)
    classes_ok = True
    for d, o in outcomes:
        if d == "v2.ModelStreamInfer":
            continue
        want = HTTP_OF[want_code] if d in ("v2 REST", "simple JSON") else want_code
        got = HTTP_OF.get(o.code, o.code) if d in ("v2 REST", "simple JSON") else o.code
        classes_ok &= got == want
    t.check(classes_ok, "%s: status class %s (HTTP %d) on every door" % (what, want_code.name, HTTP_OF[want_code]),
            desc)


X = np.array([[1.5, -2.0, 3.25], [4.0, 5.5, -6.0]], dtype=np.float32)


def good(model="identity"):
    return Req(model, [("input", "FP32", X)])


def check_matrix(t, srv):
    with t.case("a good request"):
        check_same(t, "identity", through_every_door(srv, good()), want_arrays={"output": X})

    mistakes = [
        ("wrong datatype", Req("identity", [("input", "INT32", X.astype(np.int32))], simple=False),
         SC.INVALID_ARGUMENT, ("model 'identity'", "input 'input'", "INT32")),
        ("wrong rank", Req("identity", [("input", "FP32", X.reshape(1, 2, 3))]),
         SC.INVALID_ARGUMENT, ("model 'identity'", "input 'input'")),
        ("unknown input", Req("identity", [("input", "FP32", X), ("extra", "FP32", X)], simple=False),
         SC.INVALID_ARGUMENT, ("model 'identity'", "'extra'")),
        ("missing input", Req("identity", []), SC.INVALID_ARGUMENT, ("model 'identity'", "input 'input'")),
        ("unknown output", Req("identity", [("input", "FP32", X)], outputs=["nope"], simple=False),
         SC.INVALID_ARGUMENT, ("model 'identity'", "'nope'")),
        ("unknown model", good("nope"), SC.NOT_FOUND, ("model 'nope' is not registered",)),
        ("a deadline already passed", Req("identity", [("input", "FP32", X)], params={"timeout": 1}),
         SC.DEADLINE_EXCEEDED, ("model 'identity'", "deadline exceeded")),
    ]
    for what, r, code, subs in mistakes:
        with t.case(what):
            check_same(t, what, through_every_door(srv, r), code, subs)


def hold_the_queue(srv):
    """Fills the worker (1) and the queue (1) of both front ends with long sleeping burn calls."""
    held = []
    burn = Req("burn", [("input", "FP32", X)], params={"burn_ms": 6000, "burn_mode": "sleep"})
    for _ in range(2):
        held.append(srv.broker().Infer.future(v1_message(burn), timeout=TIMEOUT))
        th = threading.Thread(target=door_simple, args=(srv, burn), daemon=True)
        th.start()
        held.append(th)
        time.sleep(0.3)  # the first is running (worker taken) before the second queues
    time.sleep(0.3)
    return held


def check_full_queue(t, srv):
    with t.case("a full queue"):
        held = hold_the_queue(srv)
        outcomes = through_every_door(srv, Req("burn", [("input", "FP32", X)], params={"burn_ms": 1}))
        check_same(t, "a full queue", outcomes, SC.RESOURCE_EXHAUSTED,
                   ("model 'burn'", "the server is busy", "--max-queue 1"))
        for h in held:  # let the held calls end before the next case
            if isinstance(h, threading.Thread):
                h.join(TIMEOUT)
            else:
                try:
                    h.result()
                except grpc.RpcError:
                    pass


def check_remote_down(t, near):
    with t.case("a remote engine that is down"):
        far = t.start_server(probe=False)
        req = pb.admin.RegisterEngineRequest(name="far", endpoint=far.address, model="identity",
                                             protocol=pb.admin.NATIVE)
        # One attempt, a breaker that stays closed and no health checks during the case: every door meets the same
        # dead endpoint, not a breaker another door opened.
        for k, v in dict(max_attempts=1, breaker_failures=1000000, health_interval_ms=600000,
                         health_timeout_ms=2000).items():
            req.options[k] = str(v)
        t.call("RegisterEngine far", near.admin().RegisterEngine, req, timeout=TIMEOUT)
        check_same(t, "the remote while it is up", through_every_door(near, good("far")), want_arrays={"output": X})
        far.kill()
        # The first calls may still meet the dying connection ("Transport closed"); once the channel has seen the
        # process gone, every call meets the same dead endpoint. Wait for two identical answers in a row.
        last, deadline = None, time.time() + 20
        while time.time() < deadline:
            o = door_v1_infer(near, good("far"))
            if o.ok is False and o.message == last:
                break
            last = o.message if not o.ok else None
            time.sleep(0.1)
        outcomes = through_every_door(near, good("far"))
        check_same(t, "the remote once it is down", outcomes, SC.UNAVAILABLE, ("far",))


# ---- a model replaced under load ----

def scale_model(k):
    graph = helper.make_graph(
        [helper.make_node("Mul", ["input", "k"], ["output"], name="scale")], "scale",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["n", "m"])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["n", "m"])],
        [numpy_helper.from_array(np.array([k], dtype=np.float32), "k")])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]).SerializeToString()


def factor_of(out, x):
    """The one factor k with out == k * x everywhere, or None when the answer mixes factors."""
    ks = set(np.round(np.asarray(out, dtype=np.float64) / x, 6).reshape(-1).tolist())
    return ks.pop() if len(ks) == 1 else None


def check_replacement(t, srv):
    with t.case("a model replaced while 500 calls run through every door"):
        admin = srv.admin()
        t.call("LoadModel scale (k=2)", admin.LoadModel,
               pb.admin.LoadModelRequest(name="scale", onnx=scale_model(2.0), version="2"))
        x = np.arange(1, 13, dtype=np.float32).reshape(3, 4)
        r = Req("scale", [("input", "FP32", x)])
        results, lock = [], threading.Lock()
        stop = threading.Event()
        swaps = [0]

        def swapper():
            k = 2
            while not stop.is_set():
                k = 5 - k  # 2 <-> 3
                admin.LoadModel(pb.admin.LoadModelRequest(name="scale", onnx=scale_model(float(k)), version=str(k)),
                                timeout=TIMEOUT)
                swaps[0] += 1
                time.sleep(0.005)

        def caller(i, n):
            for _ in range(n):
                door = i % len(DOORS)
                if DOORS[door] == "simple JSON":  # a batch of three instances: all from one version
                    status, j = http_post(srv, "/v1/models/scale:predict",
                                          {"instances": [{"input": x.tolist()}] * 3})
                    if status != 200:
                        got = ("simple JSON", None, "HTTP %d %r" % (status, j))
                    else:
                        ks = {factor_of(p["output"], x) for p in j["predictions"]}
                        got = ("simple JSON", ks.pop() if len(ks) == 1 else None, None)
                else:
                    o = DOOR_FNS[door](srv, r)
                    if not o.ok:
                        got = (DOORS[door], None, repr(o))
                    else:
                        k = factor_of(o.arrays["output"], x)
                        # the version the door reports (where it reports one) is that of the model that answered
                        if o.version and k is not None and o.version != "%d" % k:
                            k = None
                        got = (DOORS[door], k, None)
                with lock:
                    results.append(got)

        sw = threading.Thread(target=swapper, daemon=True)
        sw.start()
        callers = [threading.Thread(target=caller, args=(i, 500 // 12 + (1 if i < 500 % 12 else 0)), daemon=True)
                   for i in range(12)]
        for c in callers:
            c.start()
        for c in callers:
            c.join(120)
        stop.set()
        sw.join(TIMEOUT)
        t.eq(len(results), 500, "500 calls answered")
        bad = [g for g in results if g[1] not in (2.0, 3.0)]
        t.check(not bad, "every call answered wholly by one version (k=2 or k=3), as it reported", str(bad[:5]))
        t.check(swaps[0] >= 2, "the model was replaced while they ran (%d replacements)" % swaps[0])
        per_door = {d: sum(1 for g in results if g[0] == d) for d in DOORS}
        t.check(all(n >= 80 for n in per_door.values()), "every door took part", str(per_door))


def main(t):
    models = tempfile.mkdtemp(prefix="doors-models-", dir=t.workdir)
    srv = t.start_server(["--http-port", "any", "--workers", "1", "--max-queue", "1", "--models", models])
    check_matrix(t, srv)
    check_full_queue(t, srv)
    check_remote_down(t, srv)
    srv2 = t.start_server(["--http-port", "any", "--models", models], probe=False)
    check_replacement(t, srv2)


if __name__ == "__main__":
    harness.run(main)
