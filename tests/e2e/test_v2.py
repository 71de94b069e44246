#!/usr/bin/python3
"""inference.GRPCInferenceService (KServe v2 / Open Inference Protocol) end to end: every RPC, raw and typed
contents, parameters, errors.

usage: /usr/bin/python3 tests/e2e/test_v2.py /path/to/junction
"""
import os
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import grpc  # noqa: E402
import numpy as np  # noqa: E402

import harness  # noqa: E402
from harness import pb, v2_request, v2_output_array  # noqa: E402

IA = grpc.StatusCode.INVALID_ARGUMENT
NF = grpc.StatusCode.NOT_FOUND


def check_infer(t, what, resp, x, form, model="identity", id=None):
    if resp is None:
        return
    t.eq(resp.model_name, model, "%s: model_name" % what)
    if id is not None:
        t.eq(resp.id, id, "%s: id echoed" % what)
    t.eq([(o.name, o.datatype, list(o.shape)) for o in resp.outputs], [("output", "FP32", list(x.shape))],
         "%s: outputs name/datatype/shape" % what)
    if form == "raw":
        t.eq(len(resp.raw_output_contents), 1, "%s: raw request -> one raw_output_contents entry" % what)
        if resp.outputs:
            t.check(not resp.outputs[0].HasField("contents") or resp.outputs[0].contents.ByteSize() == 0,
                    "%s: raw response leaves contents empty" % what, str(resp.outputs[0].contents))
    else:
        t.eq(len(resp.raw_output_contents), 0, "%s: typed request -> no raw_output_contents" % what)
    out, got_form = v2_output_array(resp, "output")
    t.eq(got_form, form, "%s: response form" % what)
    t.check(out is not None and np.array_equal(out, x), "%s: output equals input" % what,
            "got %r" % (out if out is not None else got_form))


def main(t):
    srv = t.start_server(["--workers", "2"])
    ch = srv.channel()
    v2 = srv.v2(ch)
    rng = np.random.default_rng(11)

    with t.case("ServerLive / ServerReady / ServerMetadata"):
        r = t.call("ServerLive", v2.ServerLive, pb.v2.ServerLiveRequest())
        t.check(r is not None and r.live, "ServerLive: live true", str(r))
        r = t.call("ServerReady", v2.ServerReady, pb.v2.ServerReadyRequest())
        t.check(r is not None and r.ready, "ServerReady: ready true", str(r))
        r = t.call("ServerMetadata", v2.ServerMetadata, pb.v2.ServerMetadataRequest())
        if r is not None:
            t.eq(r.name, "junction", "ServerMetadata: name")
            t.check(r.version != "", "ServerMetadata: version set", repr(r.version))
            t.check(all(e for e in r.extensions), "ServerMetadata: extensions are non-empty strings",
                    repr(list(r.extensions)))

    with t.case("ModelReady"):
        for name in ("identity", "burn"):
            r = t.call("ModelReady %s" % name, v2.ModelReady, pb.v2.ModelReadyRequest(name=name))
            t.check(r is not None and r.ready, "ModelReady %s: true" % name, str(r))
        r = t.call("ModelReady identity version 1", v2.ModelReady, pb.v2.ModelReadyRequest(name="identity", version="1"))
        t.check(r is not None and r.ready, "ModelReady identity version 1: true", str(r))
        r = t.call("ModelReady unknown model answers", v2.ModelReady, pb.v2.ModelReadyRequest(name="nope"))
        t.check(r is not None and not r.ready, "ModelReady unknown model: false", str(r))

    with t.case("ModelMetadata"):
        for name in ("identity", "burn"):
            r = t.call("ModelMetadata %s" % name, v2.ModelMetadata, pb.v2.ModelMetadataRequest(name=name))
            if r is None:
                continue
            t.eq(r.name, name, "ModelMetadata %s: name" % name)
            t.eq(list(r.versions), ["1"], "ModelMetadata %s: versions" % name)
            t.eq(r.platform, "junction_util", "ModelMetadata %s: platform" % name)
            t.eq([(m.name, m.datatype, list(m.shape)) for m in r.inputs], [("input", "FP32", [-1, -1])],
                 "ModelMetadata %s: inputs" % name)
            t.eq([(m.name, m.datatype, list(m.shape)) for m in r.outputs], [("output", "FP32", [-1, -1])],
                 "ModelMetadata %s: outputs" % name)
        t.expect_error("ModelMetadata unknown model -> NOT_FOUND", v2.ModelMetadata, NF, "'nope'",
                       args=(pb.v2.ModelMetadataRequest(name="nope"),))

    with t.case("ModelInfer raw and typed"):
        x = rng.standard_normal((2, 3)).astype(np.float32)
        r = t.call("ModelInfer raw", v2.ModelInfer, v2_request("identity", x, id="raw-1"))
        check_infer(t, "ModelInfer raw", r, x, "raw", id="raw-1")
        r = t.call("ModelInfer typed", v2.ModelInfer, v2_request("identity", x, id="typed-1", raw=False))
        check_infer(t, "ModelInfer typed", r, x, "typed", id="typed-1")
        r = t.call("ModelInfer raw, outputs=[output]", v2.ModelInfer,
                   v2_request("identity", x, id="raw-2", outputs=["output"]))
        check_infer(t, "ModelInfer raw outputs=[output]", r, x, "raw", id="raw-2")
        req = v2_request("identity", x, id="ver")
        req.model_version = "1"
        r = t.call("ModelInfer version 1", v2.ModelInfer, req)
        check_infer(t, "ModelInfer version 1", r, x, "raw", id="ver")
        big = rng.standard_normal((1024, 1536)).astype(np.float32)  # 6 MiB, above gRPC's default 4 MiB
        r = t.call("ModelInfer raw 6 MiB", v2.ModelInfer, v2_request("identity", big, id="big"))
        check_infer(t, "ModelInfer raw 6 MiB", r, big, "raw", id="big")
        r = t.call("ModelInfer burn typed", v2.ModelInfer,
                   v2_request("burn", x, id="b", raw=False, params={"burn_ms": 2, "burn_mode": "sleep"}))
        check_infer(t, "ModelInfer burn typed", r, x, "typed", model="burn", id="b")

    with t.case("ModelInfer parameters reach the engine"):
        x = np.ones((1, 2), dtype=np.float32)
        # burn's default is 10 ms: only a burn_ms that reached the engine makes it miss a 1 s deadline.
        t.expect_error("ModelInfer burn burn_ms=60000 with a 1 s deadline -> DEADLINE_EXCEEDED", v2.ModelInfer,
                       grpc.StatusCode.DEADLINE_EXCEEDED,
                       args=(v2_request("burn", x, params={"burn_ms": 60000, "burn_mode": "sleep"}),), timeout=1.0)
        t.expect_error("ModelInfer burn_ms='abc'", v2.ModelInfer, IA, "burn_ms",
                       args=(v2_request("burn", x, params={"burn_ms": "abc"}),))
        t.expect_error("ModelInfer burn_ms=-1", v2.ModelInfer, IA, "burn_ms",
                       args=(v2_request("burn", x, params={"burn_ms": -1}),))
        t.expect_error("ModelInfer burn_mode='gpu'", v2.ModelInfer, IA, "burn_mode",
                       args=(v2_request("burn", x, params={"burn_mode": "gpu"}),))
        r = t.call("ModelInfer burn burn_ms=1.5 (double)", v2.ModelInfer,
                   v2_request("burn", x, id="d", params={"burn_ms": 1.5}))
        check_infer(t, "ModelInfer burn burn_ms=1.5", r, x, "raw", model="burn", id="d")

    with t.case("ModelInfer errors"):
        x = np.arange(6, dtype=np.float32).reshape(2, 3)
        t.expect_error("ModelInfer unknown model -> NOT_FOUND", v2.ModelInfer, NF, "model 'nope' is not registered",
                       args=(v2_request("nope", x),))
        req = v2_request("identity", x)
        req.inputs[0].datatype = "FP33"
        t.expect_error("ModelInfer unknown datatype string", v2.ModelInfer, IA, "'input'", args=(req,))
        req = v2_request("identity", x, raw=False)
        req.inputs[0].datatype = "float32"
        t.expect_error("ModelInfer lower-case datatype string (typed)", v2.ModelInfer, IA, "'input'", args=(req,))
        req = v2_request("identity", x)
        req.raw_input_contents.append(x.tobytes())
        t.expect_error("ModelInfer 2 raw_input_contents for 1 input", v2.ModelInfer, IA, args=(req,))
        req = v2_request("identity", x)
        req.inputs.add(name="foo", datatype="FP32", shape=[2, 3])
        t.expect_error("ModelInfer 1 raw_input_contents for 2 inputs", v2.ModelInfer, IA, args=(req,))
        req = pb.v2.ModelInferRequest(model_name="identity")
        req.inputs.add(name="input", datatype="FP32", shape=[2, 3]).contents.int_contents.extend(range(6))
        t.expect_error("ModelInfer FP32 with int_contents", v2.ModelInfer, IA, "'input'", args=(req,))
        req = pb.v2.ModelInferRequest(model_name="identity")
        req.inputs.add(name="input", datatype="INT32", shape=[2, 3]).contents.fp32_contents.extend([1.0] * 6)
        t.expect_error("ModelInfer INT32 with fp32_contents", v2.ModelInfer, IA, "'input'", args=(req,))
        req = pb.v2.ModelInferRequest(model_name="identity")
        req.inputs.add(name="input", datatype="FP16", shape=[2, 3]).contents.fp32_contents.extend([1.0] * 6)
        t.expect_error("ModelInfer FP16 via typed contents", v2.ModelInfer, IA, "'input'", "FP16", args=(req,))
        req = v2_request("identity", x, raw=False)
        req.raw_input_contents.append(x.tobytes())
        t.expect_error("ModelInfer raw and typed contents together", v2.ModelInfer, IA, args=(req,))
        req = pb.v2.ModelInferRequest(model_name="identity")
        req.inputs.add(name="input", datatype="FP32", shape=[2, 3]).contents.fp32_contents.extend([1.0] * 5)
        t.expect_error("ModelInfer typed: 5 values for FP32[2,3]", v2.ModelInfer, IA, "'input'", args=(req,))
        req = v2_request("identity", x)
        req.raw_input_contents[0] = x.tobytes()[:20]
        t.expect_error("ModelInfer raw: 20 bytes for FP32[2,3]", v2.ModelInfer, IA,
                       "model 'identity': input 'input': has 20 bytes of data, FP32[2,3] needs 24", args=(req,))
        req = pb.v2.ModelInferRequest(model_name="identity")
        req.inputs.add(name="input", datatype="INT32", shape=[2, 2])
        req.raw_input_contents.append(np.arange(4, dtype="<i4").tobytes())
        t.expect_error("ModelInfer raw INT32 into FP32", v2.ModelInfer, IA,
                       "model 'identity': input 'input' expects datatype FP32 (FP32[-1,-1]), got INT32 (INT32[2,2])",
                       args=(req,))
        req = pb.v2.ModelInferRequest(model_name="identity")
        req.inputs.add(name="input", datatype="FP32", shape=[1, 2, 3])
        req.raw_input_contents.append(b"\0" * 24)
        t.expect_error("ModelInfer rank 3", v2.ModelInfer, IA,
                       "model 'identity': input 'input' expects rank 2 (FP32[-1,-1]), got rank 3 (FP32[1,2,3])",
                       args=(req,))
        t.expect_error("ModelInfer missing input", v2.ModelInfer, IA,
                       "model 'identity': missing input 'input' (expects TENSOR FP32[-1,-1])",
                       args=(pb.v2.ModelInferRequest(model_name="identity"),))
        req = v2_request("identity", x, raw=False)
        req.inputs.add(name="foo", datatype="FP32", shape=[2, 3]).contents.fp32_contents.extend([0.0] * 6)
        t.expect_error("ModelInfer unknown input", v2.ModelInfer, IA,
                       "model 'identity': unknown input 'foo' (the model's inputs are 'input')", args=(req,))
        req = v2_request("identity", x, raw=False)
        req.inputs.add(name="input", datatype="FP32", shape=[2, 3]).contents.fp32_contents.extend([0.0] * 6)
        t.expect_error("ModelInfer input given twice", v2.ModelInfer, IA, "model 'identity'",
                       "input 'input' is given twice", args=(req,))
        t.expect_error("ModelInfer unknown requested output", v2.ModelInfer, IA, "model 'identity'", "'nope'",
                       args=(v2_request("identity", x, outputs=["nope"]),))

    with t.case("ModelStreamInfer"):
        x = rng.standard_normal((3, 2)).astype(np.float32)
        reqs = [v2_request("identity", x, id="s-raw"), v2_request("nope", x, id="s-bad"),
                v2_request("identity", x, id="s-typed", raw=False)]
        try:
            resps = list(v2.ModelStreamInfer(iter(reqs), timeout=harness.RPC_TIMEOUT))
            t.ok("ModelStreamInfer: stream ends OK")
        except grpc.RpcError as e:
            resps = []
            t.fail("ModelStreamInfer: stream ends OK", harness.describe_rpc_error(e))
        t.eq(len(resps), 3, "ModelStreamInfer: three answers")
        good = {r.infer_response.id: r for r in resps if not r.error_message}
        bad = [r for r in resps if r.error_message]
        t.eq(sorted(good), ["s-raw", "s-typed"], "ModelStreamInfer: the good requests succeed")
        t.check(len(bad) == 1 and "model 'nope' is not registered" in bad[0].error_message,
                "ModelStreamInfer: the bad one answered with error_message", repr([r.error_message for r in bad]))
        if "s-raw" in good:
            check_infer(t, "ModelStreamInfer raw", good["s-raw"].infer_response, x, "raw", id="s-raw")
        if "s-typed" in good:
            check_infer(t, "ModelStreamInfer typed", good["s-typed"].infer_response, x, "typed", id="s-typed")
        t.still_serving("ModelStreamInfer")

    t.stop_server(srv)


if __name__ == "__main__":
    harness.run(main)
