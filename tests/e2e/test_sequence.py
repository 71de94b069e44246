"""Stateful models (issue #17, sequences): the broker carries a model's state from one request to the next.

Models are built here with python3-onnx's helper: an accumulator (state + x -> stateN; y = 2 * stateN + x) and a
small LSTM whose h and c are carried. References come from ONNX Runtime (onnxruntime-node, tests/e2e/ort_sequence.js),
where the test carries the state itself. Checked:
- metadata: the state ports are not part of the public signature;
- a stream of 200 chunks on Broker.InferStream and on v2 ModelStreamInfer (all sent at once: the broker keeps them
  in order) equals ORT exactly (accumulator) or within 1e-5 absolute (LSTM: the same FP32 math, summed in another
  order);
- two interleaved streams never share state; unary calls with sequence_id (int and string ids, interleaved), v2 REST
  and simple JSON the same; the state output asked for by name is returned;
- sequence_start / sequence_end, an unknown id (INVALID_ARGUMENT naming sequence_start), max_sequences
  (RESOURCE_EXHAUSTED naming the limit), idle_timeout_ms (the sequence is dropped), a closed stream frees its
  sequence, sending the state input is refused;
- bad configs: config.json and --model-config refused naming the file and the field.

Run: /usr/bin/python3 tests/e2e/test_sequence.py /path/to/junction
"""
import concurrent.futures as cf
import json
import os
import queue
import subprocess
import sys
import threading
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import grpc  # noqa: E402
import numpy as np  # noqa: E402
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

import harness  # noqa: E402
import test_doors as doors  # noqa: E402
from harness import pb  # noqa: E402

SC = grpc.StatusCode
TIMEOUT = 60.0
HERE = os.path.dirname(os.path.abspath(__file__))
CHUNKS = 200
H = 5  # LSTM hidden size


# ---- models ----

def save(model, path):
    model.ir_version = 8
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(model.SerializeToString())
    return path


def accumulator(path):
    """stateN = state + x; y = 2 * stateN + x (FP32 [1, 4])."""
    f = lambda n: helper.make_tensor_value_info(n, TensorProto.FLOAT, [1, 4])  # noqa: E731
    g = helper.make_graph(
        [helper.make_node("Add", ["state", "x"], ["stateN"]),
         helper.make_node("Mul", ["stateN", "two"], ["t"]),
         helper.make_node("Add", ["t", "x"], ["y"])],
        "acc", [f("x"), f("state")], [f("y"), f("stateN")],
        [numpy_helper.from_array(np.asarray([2.0], np.float32), "two")])
    return save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)]), path)


def lstm(path):
    """One LSTM step: x [1, 1, 3]; h, c [1, 1, H] carried (h_n, c_n); y = Y [1, 1, 1, H]."""
    rng = np.random.default_rng(17)
    W = rng.standard_normal((1, 4 * H, 3)).astype(np.float32) * 0.5
    R = rng.standard_normal((1, 4 * H, H)).astype(np.float32) * 0.5
    B = rng.standard_normal((1, 8 * H)).astype(np.float32) * 0.1
    vi = lambda n, s: helper.make_tensor_value_info(n, TensorProto.FLOAT, s)  # noqa: E731
    g = helper.make_graph(
        [helper.make_node("LSTM", ["x", "W", "R", "B", "", "h", "c"], ["y", "h_n", "c_n"], hidden_size=H)],
        "lstm", [vi("x", [1, 1, 3]), vi("h", [1, 1, H]), vi("c", [1, 1, H])],
        [vi("y", [1, 1, 1, H]), vi("h_n", [1, 1, H]), vi("c_n", [1, 1, H])],
        [numpy_helper.from_array(W, "W"), numpy_helper.from_array(R, "R"), numpy_helper.from_array(B, "B")])
    return save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 14)]), path)


def write_json(path, obj):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        json.dump(obj, f)
    return path


ACC_SEQ = {"state": [{"input": "state", "output": "stateN", "initial": "zeros"}]}
LSTM_SEQ = {"state": [{"input": "h", "output": "h_n"}, {"input": "c", "output": "c_n", "initial": "zeros"}]}


def ort_reference(t, model_path, steps, state, initial, outputs):
    """What ORT answers for `steps` (dicts name -> array) when the caller carries the state."""
    spec = {"model": model_path, "state": state, "outputs": outputs,
            "initial": {k: {"dims": list(v.shape), "data": v.reshape(-1).tolist()} for k, v in initial.items()},
            "steps": [{k: {"dims": list(v.shape), "data": v.reshape(-1).tolist()} for k, v in s.items()}
                      for s in steps]}
    sp = os.path.join(t.workdir, "spec_%d.json" % id(steps))
    op = sp + ".out"
    write_json(sp, spec)
    p = subprocess.run(["node", os.path.join(HERE, "ort_sequence.js"), sp, op], capture_output=True, timeout=120)
    if p.returncode != 0:
        raise RuntimeError("ort_sequence.js failed (%d): %s" % (p.returncode, p.stderr.decode()[-800:]))
    with open(op) as f:
        got = json.load(f)["outputs"]
    return [{k: np.asarray(v, np.float32) for k, v in o.items()} for o in got]


def chunks(seed, n, shape):
    rng = np.random.default_rng(seed)
    return [(rng.standard_normal(shape) * 3).astype(np.float32) for _ in range(n)]


# ---- calls ----

def v1_req(model, x, name="x", id="", params=None, outputs=()):
    return doors.v1_message(doors.Req(model, [(name, "FP32", x)], params=params, outputs=outputs), id=id)


def v2_req(model, x, name="x", id="", params=None, outputs=()):
    return doors.v2_message(doors.Req(model, [(name, "FP32", x)], params=params, outputs=outputs), id=id)


def stream_v1(srv, model, xs, name="x", outputs=()):
    """All of xs on one InferStream at once; the answers keyed by request id -> {output: array} or an error."""
    resps = srv.broker().InferStream(iter([v1_req(model, x, name, id=str(i), outputs=outputs)
                                           for i, x in enumerate(xs)]), timeout=TIMEOUT)
    out = {}
    for r in resps:
        if r.HasField("error") and r.error.code != 0:
            out[int(r.id)] = "error %d %s" % (r.error.code, r.error.message)
        else:
            out[int(r.id)] = doors.v1_arrays(r)
    return [out.get(i, "no answer") for i in range(len(xs))]


def stream_v2(srv, model, xs, name="x", outputs=()):
    resps = srv.v2().ModelStreamInfer(iter([v2_req(model, x, name, id=str(i), outputs=outputs)
                                            for i, x in enumerate(xs)]), timeout=TIMEOUT)
    out = {}
    for r in resps:
        if r.error_message:
            out[int(r.infer_response.id or -1)] = "error " + r.error_message
        else:
            out[int(r.infer_response.id)] = doors.v2_arrays(r.infer_response)
    return [out.get(i, "no answer") for i in range(len(xs))]


def compare(got, want, names, atol=0.0):
    """First mismatch as text, or ''."""
    if len(got) != len(want):
        return "%d answers, %d expected" % (len(got), len(want))
    for i, (g, w) in enumerate(zip(got, want)):
        if not isinstance(g, dict):
            return "answer %d: %s" % (i, g)
        for n in names:
            a = g.get(n)
            b = w[n]
            if a is None:
                return "answer %d: no output %s (has %s)" % (i, n, sorted(g))
            a = np.asarray(a, np.float32).reshape(-1)
            ok = np.array_equal(a, b) if atol == 0 else (a.shape == b.shape and np.allclose(a, b, atol=atol, rtol=0))
            if not ok:
                return "answer %d output %s: got %s want %s" % (i, n, a.tolist(), b.tolist())
    return ""


# ---- checks ----

def check_metadata(t, srv):
    md = t.call("v2 metadata of acc", srv.v2().ModelMetadata, pb.v2.ModelMetadataRequest(name="acc"))
    if md:
        t.eq([i.name for i in md.inputs], ["x"], "the state input is not in the public signature (v2 metadata)")
        t.eq([o.name for o in md.outputs], ["y"], "nor the state output")
    md = t.call("v2 metadata of lstm", srv.v2().ModelMetadata, pb.v2.ModelMetadataRequest(name="lstm"))
    if md:
        t.eq([i.name for i in md.inputs], ["x"], "lstm: h and c are hidden")


def check_streams(t, srv, models):
    xs = chunks(1, CHUNKS, (1, 4))
    zero = {"state": np.zeros((1, 4), np.float32)}
    ref = ort_reference(t, models["acc"], [{"x": x} for x in xs], [["state", "stateN"]], zero, ["y", "stateN"])
    got = stream_v1(srv, "acc", xs)
    t.check(not compare(got, ref, ["y"]), "Broker.InferStream: %d chunks sent at once equal ORT carrying the state, "
            "bit for bit" % CHUNKS, compare(got, ref, ["y"]))
    t.check(all(isinstance(g, dict) and sorted(g) == ["y"] for g in got), "the state output is not sent unasked")
    got = stream_v2(srv, "acc", xs, outputs=["y", "stateN"])
    t.check(not compare(got, ref, ["y", "stateN"]), "v2 ModelStreamInfer: the same, with the state output asked for "
            "by name", compare(got, ref, ["y", "stateN"]))

    # the LSTM: h and c carried
    lx = chunks(2, CHUNKS, (1, 1, 3))
    z = {"h": np.zeros((1, 1, H), np.float32), "c": np.zeros((1, 1, H), np.float32)}
    lref = ort_reference(t, models["lstm"], [{"x": x} for x in lx], [["h", "h_n"], ["c", "c_n"]], z, ["y", "h_n"])
    got = stream_v1(srv, "lstm", lx, outputs=["y", "h_n"])
    t.check(not compare(got, lref, ["y", "h_n"], atol=1e-5),
            "LSTM over %d chunks on InferStream equals ORT within 1e-5 (absolute)" % CHUNKS,
            compare(got, lref, ["y", "h_n"], atol=1e-5))
    last = got[-1]["y"] if isinstance(got[-1], dict) else None
    first_state_free = ort_reference(t, models["lstm"], [{"x": lx[-1]}], [["h", "h_n"], ["c", "c_n"]], z, ["y"])
    t.check(last is not None and not np.allclose(last.reshape(-1), first_state_free[0]["y"], atol=1e-3),
            "the LSTM's answer depends on the carried state (the last chunk differs from it alone)")

    # two interleaved streams, in lockstep: each its own state
    xa, xb = chunks(3, 50, (1, 4)), chunks(4, 50, (1, 4))
    ra = ort_reference(t, models["acc"], [{"x": x} for x in xa], [["state", "stateN"]], zero, ["y"])
    rb = ort_reference(t, models["acc"], [{"x": x} for x in xb], [["state", "stateN"]], zero, ["y"])
    qa, qb = queue.Queue(), queue.Queue()
    turn = [threading.Semaphore(1), threading.Semaphore(0)]

    def feed(xs, q, mine, other):
        for i, x in enumerate(xs):
            mine.acquire()
            yield v1_req("acc", x, id=str(i))
            q.get(timeout=TIMEOUT)  # its answer arrived: the other stream's turn
            other.release()

    def run(xs, q, mine, other):
        out = []
        for r in srv.broker().InferStream(feed(xs, q, mine, other), timeout=TIMEOUT):
            out.append(doors.v1_arrays(r) if not r.error.code else "error " + r.error.message)
            q.put(1)
        return out

    with cf.ThreadPoolExecutor(2) as ex:
        fa = ex.submit(run, xa, qa, turn[0], turn[1])
        fb = ex.submit(run, xb, qb, turn[1], turn[0])
        ga, gb = fa.result(timeout=TIMEOUT), fb.result(timeout=TIMEOUT)
    t.check(not compare(ga, ra, ["y"]) and not compare(gb, rb, ["y"]),
            "two streams interleaved request by request never share state", compare(ga, ra, ["y"]) +
            compare(gb, rb, ["y"]))


def unary_v1(srv, model, x, params, outputs=()):
    try:
        r = srv.broker().Infer(v1_req(model, x, params=params, outputs=outputs), timeout=TIMEOUT)
        return doors.v1_arrays(r)
    except grpc.RpcError as e:
        return "%s %s" % (e.code().name, e.details())


def unary_v2(srv, model, x, params):
    try:
        r = srv.v2().ModelInfer(v2_req(model, x, params=params), timeout=TIMEOUT)
        return doors.v2_arrays(r)
    except grpc.RpcError as e:
        return "%s %s" % (e.code().name, e.details())


def check_unary(t, srv, models):
    zero = {"state": np.zeros((1, 4), np.float32)}
    n = 40
    xa, xb = chunks(5, n, (1, 4)), chunks(6, n, (1, 4))
    ra = ort_reference(t, models["acc"], [{"x": x} for x in xa], [["state", "stateN"]], zero, ["y"])
    rb = ort_reference(t, models["acc"], [{"x": x} for x in xb], [["state", "stateN"]], zero, ["y"])
    ga, gb = [], []
    for i in range(n):  # id 7 (int) on v1 Infer, id "speaker-b" (string) on v2 ModelInfer, interleaved
        pa = {"sequence_id": 7}
        pb_ = {"sequence_id": "speaker-b"}
        if i == 0:
            pa["sequence_start"] = pb_["sequence_start"] = True
        if i == n - 1:
            pa["sequence_end"] = pb_["sequence_end"] = True
        ga.append(unary_v1(srv, "acc", xa[i], pa))
        gb.append(unary_v2(srv, "acc", xb[i], pb_))
    t.check(not compare(ga, ra, ["y"]), "unary v1 Infer with sequence_id 7: %d calls equal ORT" % n,
            compare(ga, ra, ["y"]))
    t.check(not compare(gb, rb, ["y"]), "unary v2 ModelInfer with sequence_id \"speaker-b\", interleaved: equal ORT",
            compare(gb, rb, ["y"]))
    got = unary_v1(srv, "acc", xa[0], {"sequence_id": 7})
    t.check(isinstance(got, str) and got.startswith("INVALID_ARGUMENT") and "sequence_start" in got
            and "sequence 7" in got, "after sequence_end, id 7 without sequence_start is refused", got)
    got = unary_v1(srv, "acc", xa[0], {"sequence_id": 12345})
    t.check(isinstance(got, str) and got.startswith("INVALID_ARGUMENT") and "is not active" in got,
            "an id never started: INVALID_ARGUMENT", got)
    got = unary_v1(srv, "acc", xa[0], {"sequence_id": 1.5})
    t.check(isinstance(got, str) and got.startswith("INVALID_ARGUMENT") and "sequence_id" in got,
            "a sequence_id that is neither an integer nor a string is refused naming it", got)
    # a lone call (no id): the initial state, every time
    one = ort_reference(t, models["acc"], [{"x": xa[0]}], [["state", "stateN"]], zero, ["y"])
    got = [unary_v1(srv, "acc", xa[0], {}) for _ in range(2)]
    t.check(not compare(got, one * 2, ["y"]), "a call without sequence_id runs from the initial state each time",
            compare(got, one * 2, ["y"]))
    # sequence_start again restarts a live sequence
    seq = [unary_v1(srv, "acc", xa[i], {"sequence_id": 9, "sequence_start": i in (0, 3)}) for i in range(6)]
    rr = ort_reference(t, models["acc"], [{"x": x} for x in xa[:3]], [["state", "stateN"]], zero, ["y"])
    t.check(not compare(seq[:3], rr, ["y"]) and not compare(seq[3:], ort_reference(
        t, models["acc"], [{"x": x} for x in xa[3:6]], [["state", "stateN"]], zero, ["y"]), ["y"]),
        "sequence_start on a live id starts it again from the initial state")
    # the state asked for by name on a unary call
    got = unary_v1(srv, "acc", xa[0], {"sequence_id": 9}, outputs=["stateN"])
    t.check(isinstance(got, dict) and sorted(got) == ["stateN"], "the state output asked for alone is returned",
            repr(got))
    unary_v1(srv, "acc", xa[0], {"sequence_id": 9, "sequence_end": True})
    # the state input is not the caller's
    try:
        srv.broker().Infer(doors.v1_message(doors.Req("acc", [("x", "FP32", xa[0]), ("state", "FP32", xa[0])])),
                           timeout=TIMEOUT)
        t.fail("sending the state input is refused", "it succeeded")
    except grpc.RpcError as e:
        t.check_rpc_error(e, SC.INVALID_ARGUMENT, "sending the state input is refused (not an input)", "state")

    # HTTP doors: v2 REST and simple JSON take the same parameters
    xs = chunks(8, 5, (1, 4))
    ref = ort_reference(t, models["acc"], [{"x": x} for x in xs], [["state", "stateN"]], zero, ["y"])
    got = []
    for i, x in enumerate(xs):
        params = {"sequence_id": "http-%d" % 1, "sequence_start": i == 0, "sequence_end": i == len(xs) - 1}
        fn = doors.door_rest_v2 if i % 2 == 0 else doors.door_simple
        o = fn(srv, doors.Req("acc", [("x", "FP32", x)], params=params))
        got.append(o.arrays if o.ok else "%s %s" % (o.code, o.message))
    t.check(not compare(got, ref, ["y"]), "v2 REST and simple JSON alternating on one sequence_id: equal ORT",
            compare(got, ref, ["y"]))
    # simple JSON "instances": consecutive steps of the call's sequence
    status, j = doors.http_post(srv, "/v1/models/acc:predict", {
        "instances": [{"x": x.tolist()} for x in xs[:3]],
        "parameters": {"sequence_id": "inst", "sequence_start": True, "sequence_end": True}})
    got = [{"y": np.asarray(p["y"], np.float32)} for p in j.get("predictions", [])] if status == 200 else [repr(j)]
    t.check(not compare(got, ref[:3], ["y"]), "simple JSON instances are consecutive steps of the sequence",
            compare(got, ref[:3], ["y"]))
    # a stream's request with sequence_id joins that sequence; a unary call goes on from where the stream left it
    resps = list(srv.broker().InferStream(iter([
        v1_req("acc", x, id=str(i), params={"sequence_id": 555, "sequence_start": i == 0})
        for i, x in enumerate(xs[:3])]), timeout=TIMEOUT))
    got = unary_v1(srv, "acc", xs[3], {"sequence_id": 555, "sequence_end": True})
    t.check(len(resps) == 3 and not compare([got], ref[3:4], ["y"]),
            "a stream's requests with sequence_id belong to that sequence (a unary call continues it)",
            compare([got], ref[3:4], ["y"]))


def check_limits(t, srv):
    x = np.ones((1, 4), np.float32)
    a = unary_v1(srv, "acc_small", x, {"sequence_id": 1, "sequence_start": True})
    b = unary_v1(srv, "acc_small", x, {"sequence_id": 2, "sequence_start": True})
    c = unary_v1(srv, "acc_small", x, {"sequence_id": 3, "sequence_start": True})
    t.check(isinstance(a, dict) and isinstance(b, dict), "two sequences within max_sequences 2", "%r %r" % (a, b))
    t.check(isinstance(c, str) and c.startswith("RESOURCE_EXHAUSTED") and "max_sequences is 2" in c,
            "a third: RESOURCE_EXHAUSTED naming max_sequences", c)
    s = stream_v1(srv, "acc_small", [x])
    t.check(isinstance(s[0], str) and "max_sequences" in s[0], "a stream beyond the limit gets the same error", s[0])
    unary_v1(srv, "acc_small", x, {"sequence_id": 1, "sequence_end": True})
    c = unary_v1(srv, "acc_small", x, {"sequence_id": 3, "sequence_start": True})
    t.check(isinstance(c, dict), "after sequence_end of one, a new one starts", repr(c))
    import urllib.request
    with urllib.request.urlopen("http://%s/metrics" % srv.http_address, timeout=TIMEOUT) as r:
        text = r.read().decode()
    t.check('junction_model_sequences{model="acc_small",version="1"} 2' in text and
            'junction_model_sequences_limit{model="acc_small",version="1"} 2' in text and
            'junction_model_sequences{model="plain"' not in text,
            "/metrics: junction_model_sequences and _limit of a stateful model (none for a stateless one)",
            "\n".join(ln for ln in text.splitlines() if "sequences" in ln))
    # idle_timeout_ms 1500: both dropped after 3.5 s of silence
    time.sleep(3.5)
    got = unary_v1(srv, "acc_small", x, {"sequence_id": 3})
    t.check(isinstance(got, str) and got.startswith("INVALID_ARGUMENT") and "idle_timeout_ms 1500" in got,
            "idle longer than idle_timeout_ms: the sequence was dropped", got)
    # the sweeper freed both places: two streams at once, then closed streams free theirs
    ok = all(isinstance(stream_v1(srv, "acc_small", [x, x])[1], dict) for _ in range(5))
    t.check(ok, "five streams one after another on max_sequences 2: a closed stream ends its sequence")
    # ... and its state: a new stream starts from zero
    s = stream_v1(srv, "acc_small", [x], outputs=["stateN"])
    t.check(isinstance(s[0], dict) and np.array_equal(s[0]["stateN"], x), "a new stream starts from the initial "
            "state", repr(s[0]))


def run_cli(t, args):
    p = subprocess.run([t.binary] + args, stdin=subprocess.DEVNULL, capture_output=True, timeout=60)
    return p.returncode, p.stdout.decode(errors="replace"), p.stderr.decode(errors="replace")


def check_bad_configs(t, workdir, models):
    bad = os.path.join(workdir, "bad_models")
    cases = [
        ({"sequence": {"state": [{"input": "nope", "output": "stateN"}]}}, "sequence.state[0].input",
         "no input 'nope'"),
        ({"sequence": {"state": [{"input": "state", "output": "y2"}]}}, "sequence.state[0].output", "no output 'y2'"),
        ({"sequence": {"state": [{"input": "state", "output": "stateN", "initial": [1, 2, 3]}]}},
         "sequence.state[0].initial", "has 3 numbers"),
        ({"sequence": {"state": [{"input": "state", "output": "stateN", "initial": "ones"}]}},
         "sequence.state[0].initial", "\"zeros\""),
        ({"sequence": {"state": []}}, "sequence.state", "1 to 8"),
        ({"sequence": {"state": [{"input": "state", "output": "stateN"}], "max_sequences": 0}},
         "sequence.max_sequences", "from 1"),
        ({"sequence": {"state": [{"input": "state", "output": "stateN"}], "idle": 3}}, "sequence.idle", "not a field"),
        ({"sequence": {"state": [{"input": "state", "output": "stateN"}]}, "instances": 2}, "sequence",
         "without dynamic_batching"),
    ]
    for i, (cfg, field, why) in enumerate(cases):
        name = "bad%d" % i
        accumulator(os.path.join(bad, name, "model.onnx"))
        write_json(os.path.join(bad, name, "config.json"), cfg)
    # a state input fed by an output of another dtype
    accumulator(os.path.join(bad, "bad_dtype", "model.onnx"))
    write_json(os.path.join(bad, "bad_dtype", "config.json"),
               {"sequence": {"state": [{"input": "state", "output": "y"}, {"input": "x", "output": "stateN"}]}})
    srv = t.start_server(["--models", bad])
    err = srv.stderr_text()
    for i, (cfg, field, why) in enumerate(cases):
        line = next((ln for ln in err.splitlines() if "model 'bad%d' skipped" % i in ln), "")
        t.check(field in line and why in line and ("bad%d/config.json" % i) in line,
                "config.json %s: the model is skipped naming the file, %s (%s)" % (json.dumps(cfg), field, why), line)
    t.stop_server(srv)
    # --model-config on a model that has no such port, and a literal initial value that does not fit
    cfg = write_json(os.path.join(workdir, "seq_bad.json"), {"sequence": {"state": [{"input": "nope", "output": "y"}]}})
    code, _, err = run_cli(t, ["serve", "--grpc-port", "0", "--http-port", "0", "--state-dir", "none",
                               "--models", os.path.dirname(os.path.dirname(models["acc"])),
                               "--model-config", "plain=" + cfg])
    t.check(code != 0 and "sequence.state[0].input" in err and "plain" in err,
            "--model-config with a sequence naming no input of the model stops the start", err[-400:])
    cfg = write_json(os.path.join(workdir, "seq_bad2.json"), {"sequence": {"stat": []}})
    code, _, err = run_cli(t, ["serve", "--grpc-port", "0", "--http-port", "0", "--state-dir", "none",
                               "--model-config", "identity=" + cfg])
    t.check(code == 2 and "sequence.stat" in err and cfg in err, "--model-config file: a wrong field is named with "
            "the file", err[-400:])


def main(t):
    workdir = t.workdir
    mdir = os.path.join(workdir, "models")
    models = {
        "acc": accumulator(os.path.join(mdir, "acc", "model.onnx")),
        "lstm": lstm(os.path.join(mdir, "lstm", "model.onnx")),
    }
    accumulator(os.path.join(mdir, "plain", "model.onnx"))
    accumulator(os.path.join(mdir, "acc_small", "model.onnx"))
    write_json(os.path.join(mdir, "acc", "config.json"), {"sequence": ACC_SEQ})
    write_json(os.path.join(mdir, "lstm", "config.json"), {"sequence": LSTM_SEQ})
    write_json(os.path.join(mdir, "acc_small", "config.json"),
               {"sequence": dict(ACC_SEQ, max_sequences=2, idle_timeout_ms=1500)})
    pipes = os.path.join(workdir, "pipes")
    write_json(os.path.join(pipes, "acc_pipe.json"), {
        "name": "acc_pipe", "inputs": [{"name": "x", "kind": "TENSOR", "datatype": "FP32", "shape": [1, 4]}],
        "steps": [{"id": "a", "model": "acc", "inputs": {"x": "x"}}],
        "outputs": [{"name": "y", "from": "a.y"}]})
    srv = t.start_server(["--models", mdir, "--pipelines", pipes, "--http-port", "any"])
    with t.case("metadata"):
        check_metadata(t, srv)
    with t.case("pipeline"):
        x = chunks(9, 1, (1, 4))[0]
        one = ort_reference(t, models["acc"], [{"x": x}], [["state", "stateN"]],
                            {"state": np.zeros((1, 4), np.float32)}, ["y"])
        got = [unary_v1(srv, "acc_pipe", x, {}) for _ in range(2)]
        t.check(not compare(got, one * 2, ["y"]), "a pipeline typed on the public signature (x only) runs the "
                "stateful model from its initial state", compare(got, one * 2, ["y"]))
    with t.case("streams"):
        check_streams(t, srv, models)
    with t.case("unary"):
        check_unary(t, srv, models)
    with t.case("limits"):
        check_limits(t, srv)
    with t.case("reload"):
        x = np.ones((1, 4), np.float32)
        got = unary_v1(srv, "acc", x, {"sequence_id": 77, "sequence_start": True})
        t.call("RepositoryModelLoad acc (the repository's config.json again)", srv.v2().RepositoryModelLoad,
               pb.v2.RepositoryModelLoadRequest(model_name="acc"))
        md = t.call("metadata after the load", srv.v2().ModelMetadata, pb.v2.ModelMetadataRequest(name="acc"))
        t.check(md is not None and [i.name for i in md.inputs] == ["x"], "a reloaded stateful model keeps its "
                "public signature")
        got = unary_v1(srv, "acc", x, {"sequence_id": 77})
        t.check(isinstance(got, str) and got.startswith("INVALID_ARGUMENT"), "a reloaded model starts with no "
                "sequences (the old entry's went with it)", repr(got))
        s2 = stream_v1(srv, "acc", [x, x], outputs=["stateN"])
        t.check(isinstance(s2[1], dict) and np.array_equal(s2[1]["stateN"], 2 * x), "streams carry state on the "
                "reloaded model", repr(s2))
    t.check_sanitizer_reports(srv)
    t.stop_server(srv)
    with t.case("--model-config"):
        cfg = write_json(os.path.join(workdir, "plain_seq.json"), {"sequence": ACC_SEQ})
        srv = t.start_server(["--models", mdir, "--model-config", "plain=" + cfg])
        md = t.call("metadata of plain", srv.v2().ModelMetadata, pb.v2.ModelMetadataRequest(name="plain"))
        t.check(md is not None and [i.name for i in md.inputs] == ["x"], "--model-config makes a repository model "
                "stateful: its state input is hidden")
        x = np.ones((1, 4), np.float32)
        s3 = stream_v1(srv, "plain", [x, x, x], outputs=["stateN"])
        t.check(isinstance(s3[2], dict) and np.array_equal(s3[2]["stateN"], 3 * x), "and a stream carries its state",
                repr(s3))
        t.stop_server(srv)
    with t.case("bad configs"):
        check_bad_configs(t, workdir, models)


if __name__ == "__main__":
    harness.run(main)
