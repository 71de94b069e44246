#!/usr/bin/python3
"""Streams end to end: junction.v1.Broker/InferStream and inference.GRPCInferenceService/ModelStreamInfer.

- 1000 identity requests with distinct ids: all answered, each id once, each output equal to its input;
- a slow request (burn sleep 300 ms) followed by fast ones: the fast answers arrive first, so a slow request does not
  stop the stream from reading;
- failed requests are answered in-stream and the stream goes on; half-close with work in flight still answers it;
- the same with v2 ModelStreamInfer.

usage: /usr/bin/python3 tests/e2e/test_streams.py /path/to/junction
"""
import os
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import grpc  # noqa: E402
import numpy as np  # noqa: E402

import harness  # noqa: E402
from harness import pb, infer_request, fp32_tensor, tensor_value, output_array, v2_request, v2_output_array  # noqa

IA = grpc.StatusCode.INVALID_ARGUMENT
NF = grpc.StatusCode.NOT_FOUND
STREAM_TIMEOUT = 90.0
SLOW = {"burn_ms": 300, "burn_mode": "sleep"}


def data_for(i):
    return (np.array([[0.0, 0.5, 0.25, -1.0]], dtype=np.float32) + np.float32(i))


def drain(t, what, call):
    """All responses of a stream; records a failure if it ends with an error."""
    out = []
    try:
        for r in call:
            out.append(r)
    except grpc.RpcError as e:
        t.fail("%s: stream ends OK" % what, "after %d responses: %s" % (len(out), harness.describe_rpc_error(e)))
        return out
    t.ok("%s: stream ends OK" % what)
    return out


def check_many(t, what, ids, resps, get_id, get_out, get_err, inputs):
    t.eq(len(resps), len(ids), "%s: every request answered" % what)
    seen = {}
    for r in resps:
        seen.setdefault(get_id(r), []).append(r)
    dup = [k for k, v in seen.items() if len(v) > 1]
    t.check(not dup, "%s: each id answered once" % what, "ids answered more than once: %r" % dup[:10])
    t.eq(sorted(seen), sorted(ids), "%s: the answered ids are the request ids" % what)
    errs = [(get_id(r), get_err(r)) for r in resps if get_err(r)]
    t.check(not errs, "%s: no errors" % what, "errors: %r" % errs[:5])
    bad = []
    for i, k in enumerate(ids):
        rs = seen.get(k)
        if not rs:
            continue
        out = get_out(rs[0])
        if out is None or not np.array_equal(out, inputs[i]):
            bad.append(k)
    t.check(not bad, "%s: each output equals its input" % what, "wrong outputs for %d ids, e.g. %r" % (len(bad), bad[:5]))


def slow_then_fast(t, what, stub_call, make_slow, make_fast, resp_id):
    """Sends a slow request then fast ones on one stream, keeping the request side open until everything is answered.
    The fast answers must all come before the slow one."""
    q = harness.RequestQueue()
    call = stub_call(q, timeout=STREAM_TIMEOUT)
    q.put(make_slow("slow"))
    fast_ids = []
    for i in range(4):
        fid = "fast-%d" % i
        fast_ids.append(fid)
        q.put(make_fast(fid, i))
    order = []
    try:
        while len(order) < 1 + len(fast_ids):
            kind, m = harness.next_or_none(call, STREAM_TIMEOUT)
            if kind != "msg":
                t.fail("%s: all answered" % what, "after %r: %s %s" % (order, kind, m))
                break
            order.append(resp_id(m))
    finally:
        q.close()
    rest = drain(t, what, call)
    t.eq(len(rest), 0, "%s: nothing after the expected answers" % what)
    t.eq(sorted(order), sorted(["slow"] + fast_ids), "%s: every request answered once" % what)
    if "slow" in order:
        t.check(order.index("slow") == len(order) - 1,
                "%s: fast answers arrive before the slow one (the stream keeps reading)" % what,
                "arrival order %r" % order)


def main(t):
    srv = t.start_server(["--workers", "4"])
    ch = srv.channel()
    stub = srv.broker(ch)
    v2 = srv.v2(ch)

    with t.case("InferStream: 1000 identity requests"):
        n = 1000
        ids = ["r%04d" % i for i in range(n)]
        inputs = [data_for(i) for i in range(n)]
        reqs = [infer_request("identity", inputs[i], id=ids[i]) for i in range(n)]
        resps = drain(t, "InferStream x1000", stub.InferStream(iter(reqs), timeout=STREAM_TIMEOUT))
        check_many(t, "InferStream x1000", ids, resps, lambda r: r.id, lambda r: output_array(r, "output"),
                   lambda r: r.error.message if r.HasField("error") else "", inputs)
        t.check(all(r.model == "identity" for r in resps), "InferStream x1000: responses name the model")

    with t.case("InferStream: empty stream"):
        resps = drain(t, "InferStream with no requests", stub.InferStream(iter([]), timeout=STREAM_TIMEOUT))
        t.eq(len(resps), 0, "InferStream with no requests: no responses")

    with t.case("InferStream: slow request does not block fast ones"):
        x = data_for(1)
        slow_then_fast(t, "InferStream slow+fast", stub.InferStream,
                       lambda i: infer_request("burn", x, id=i, params=SLOW),
                       lambda i, k: (infer_request("identity", x, id=i) if k % 2 == 0
                                     else infer_request("burn", x, id=i, params={"burn_ms": 0})),
                       lambda r: r.id)

    with t.case("InferStream: half-close with a slow request in flight"):
        x = data_for(9)
        resps = drain(t, "InferStream half-close",
                      stub.InferStream(iter([infer_request("burn", x, id="slow", params=SLOW)]), timeout=STREAM_TIMEOUT))
        t.eq([r.id for r in resps], ["slow"], "InferStream half-close: the in-flight request is still answered")
        if resps:
            out = output_array(resps[0], "output")
            t.check(out is not None and np.array_equal(out, x), "InferStream half-close: output equals input")

    with t.case("InferStream: in-stream errors"):
        x = data_for(3)
        i32 = pb.tensor.Tensor(datatype=pb.tensor.INT32, shape=[2, 2], raw=np.arange(4, dtype="<i4").tobytes())
        steps = [
            ("ok-1", infer_request("identity", x, id="ok-1"), None),
            ("missing", infer_request("identity", values=[], id="missing"),
             (IA, "model 'identity': missing input 'input' (expects TENSOR FP32[-1,-1])")),
            ("nomodel", infer_request("nope", x, id="nomodel"), (NF, "model 'nope' is not registered")),
            ("ok-2", infer_request("identity", x, id="ok-2"), None),
            ("dtype", infer_request("identity", values=[tensor_value("input", i32)], id="dtype"),
             (IA, "model 'identity': input 'input' expects datatype FP32 (FP32[-1,-1]), got INT32 (INT32[2,2])")),
            ("burnms", infer_request("burn", x, id="burnms", params={"burn_ms": "abc"}), (IA, "burn_ms")),
            ("badout", infer_request("identity", x, id="badout", outputs=["nope"]), (IA, "model 'identity'", "'nope'")),
            ("ok-3", infer_request("burn", x, id="ok-3", params={"burn_ms": 1}), None),
        ]
        q = harness.RequestQueue()
        call = stub.InferStream(q, timeout=STREAM_TIMEOUT)
        try:
            for sid, req, err in steps:  # one at a time: each answer proves the stream went on after the last error
                q.put(req)
                kind, m = harness.next_or_none(call, STREAM_TIMEOUT)
                if kind != "msg":
                    t.fail("InferStream errors: %s answered" % sid, "%s %s" % (kind, m))
                    break
                t.eq(m.id, sid, "InferStream errors: %s: response carries the request id" % sid)
                if err is None:
                    t.check(not m.HasField("error"), "InferStream errors: %s: succeeds" % sid, str(m.error))
                    out = output_array(m, "output")
                    t.check(out is not None and np.array_equal(out, x), "InferStream errors: %s: output" % sid)
                else:
                    t.check(m.HasField("error"), "InferStream errors: %s: error set" % sid, harness._short(m))
                    t.check_status(m.error.code, m.error.message, err[0], "InferStream errors: %s" % sid, *err[1:])
                    t.eq(len(m.outputs), 0, "InferStream errors: %s: no outputs" % sid)
        finally:
            q.close()
        drain(t, "InferStream errors", call)
        t.still_serving("InferStream in-stream errors")

    with t.case("InferStream: cancelled by the client mid-flight"):
        x = data_for(4)
        q = harness.RequestQueue()
        call = stub.InferStream(q, timeout=STREAM_TIMEOUT)
        q.put(infer_request("burn", x, id="long", params={"burn_ms": 60000, "burn_mode": "sleep"}))
        q.put(infer_request("identity", x, id="quick"))
        kind, m = harness.next_or_none(call, STREAM_TIMEOUT)
        t.check(kind == "msg" and m.id == "quick", "InferStream cancel: quick answered while long runs",
                "%s %s" % (kind, m))
        call.cancel()
        q.close()
        t.eq(call.code(), grpc.StatusCode.CANCELLED, "InferStream cancel: call cancelled")
        t.still_serving("cancelling an InferStream")

    # v2 ModelStreamInfer -------------------------------------------------------------------------------------------
    def v2_id(r):
        return r.infer_response.id

    def v2_out(r):
        return v2_output_array(r.infer_response, "output")[0]

    with t.case("ModelStreamInfer: 500 identity requests"):
        n = 500
        ids = ["v%04d" % i for i in range(n)]
        inputs = [data_for(i) for i in range(n)]
        reqs = [v2_request("identity", inputs[i], id=ids[i], raw=(i % 2 == 0)) for i in range(n)]
        resps = drain(t, "ModelStreamInfer x500", v2.ModelStreamInfer(iter(reqs), timeout=STREAM_TIMEOUT))
        check_many(t, "ModelStreamInfer x500", ids, resps, v2_id, v2_out, lambda r: r.error_message, inputs)
        forms = {}
        for r in resps:
            k = int(r.infer_response.id[1:]) if r.infer_response.id[1:].isdigit() else -1
            forms[k] = v2_output_array(r.infer_response, "output")[1]
        wrong = [k for k, f in forms.items() if k >= 0 and f != ("raw" if k % 2 == 0 else "typed")]
        t.check(not wrong, "ModelStreamInfer x500: raw requests answered raw, typed ones typed",
                "wrong form for ids %r" % wrong[:5])

    with t.case("ModelStreamInfer: slow request does not block fast ones"):
        x = data_for(2)
        slow_then_fast(t, "ModelStreamInfer slow+fast", v2.ModelStreamInfer,
                       lambda i: v2_request("burn", x, id=i, params=SLOW),
                       lambda i, k: (v2_request("identity", x, id=i) if k % 2 == 0
                                     else v2_request("burn", x, id=i, params={"burn_ms": 0})),
                       v2_id)

    with t.case("ModelStreamInfer: in-stream errors"):
        x = data_for(5)
        bad_dtype = v2_request("identity", x, id="dtype")
        bad_dtype.inputs[0].datatype = "FP33"
        bad_count = v2_request("identity", x, id="count")
        bad_count.raw_input_contents.append(b"\0" * 4)
        steps = [
            ("ok-1", v2_request("identity", x, id="ok-1"), None),
            ("nomodel", v2_request("nope", x, id="nomodel"), ("model 'nope' is not registered",)),
            ("dtype", bad_dtype, ("'input'",)),
            ("count", bad_count, ()),
            ("missing", v2_request("identity", id="missing"),
             ("model 'identity': missing input 'input' (expects TENSOR FP32[-1,-1])",)),
            ("burnmode", v2_request("burn", x, id="burnmode", params={"burn_mode": "gpu"}), ("burn_mode",)),
            ("ok-2", v2_request("identity", x, id="ok-2", raw=False), None),
        ]
        q = harness.RequestQueue()
        call = v2.ModelStreamInfer(q, timeout=STREAM_TIMEOUT)
        try:
            for sid, req, err in steps:
                q.put(req)
                kind, m = harness.next_or_none(call, STREAM_TIMEOUT)
                if kind != "msg":
                    t.fail("ModelStreamInfer errors: %s answered" % sid, "%s %s" % (kind, m))
                    break
                if err is None:
                    t.eq(m.error_message, "", "ModelStreamInfer errors: %s: succeeds" % sid)
                    t.eq(m.infer_response.id, sid, "ModelStreamInfer errors: %s: id echoed" % sid)
                    out = v2_out(m)
                    t.check(out is not None and np.array_equal(out, x), "ModelStreamInfer errors: %s: output" % sid)
                else:
                    missing = [s for s in err if s not in m.error_message]
                    t.check(m.error_message != "" and not missing,
                            "ModelStreamInfer errors: %s: error_message %s" % (sid, list(err)),
                            "got error_message %r" % m.error_message)
                    t.eq(len(m.infer_response.outputs), 0, "ModelStreamInfer errors: %s: no outputs" % sid)
        finally:
            q.close()
        drain(t, "ModelStreamInfer errors", call)
        t.still_serving("ModelStreamInfer in-stream errors")

    t.stop_server(srv)


if __name__ == "__main__":
    harness.run(main)
