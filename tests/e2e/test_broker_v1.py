#!/usr/bin/python3
"""junction.v1.Broker end to end: Infer, typed values, ListModels/GetModel, validation errors (code + message),
unknown model, burn parameters/deadline/cancel, unknown methods, malformed bytes, oversized messages.

usage: /usr/bin/python3 tests/e2e/test_broker_v1.py /path/to/junction
"""
import os
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import grpc  # noqa: E402
import numpy as np  # noqa: E402

import harness  # noqa: E402
from harness import pb, infer_request, fp32_tensor, tensor_value, output_array  # noqa: E402

IA = grpc.StatusCode.INVALID_ARGUMENT
MIB = 1 << 20


def check_identity_info(t, info, model, label):
    name = "%s %s" % (label, model)
    t.eq(info.name, model, "%s: name" % name)
    t.eq(list(info.versions), ["1"], "%s: versions" % name)
    t.eq(info.type, "engine", "%s: type" % name)
    t.eq(info.platform, "junction_util", "%s: platform" % name)
    t.eq(info.ready, True, "%s: ready" % name)
    sig = info.signature
    t.eq([(p.name, p.kind, p.datatype, list(p.shape)) for p in sig.inputs],
         [("input", pb.contract.TENSOR, pb.tensor.FP32, [-1, -1])], "%s: signature inputs" % name)
    t.eq([(p.name, p.kind, p.datatype, list(p.shape)) for p in sig.outputs],
         [("output", pb.contract.TENSOR, pb.tensor.FP32, [-1, -1])], "%s: signature outputs" % name)


def check_identity_response(t, what, resp, x, model="identity", id=None):
    if resp is None:
        return
    t.eq(resp.model, model, "%s: response model" % what)
    if id is not None:
        t.eq(resp.id, id, "%s: response id echoed" % what)
    t.eq([v.name for v in resp.outputs], ["output"], "%s: one output named 'output'" % what)
    if not resp.outputs:
        return
    v = resp.outputs[0]
    t.eq(v.WhichOneof("value"), "tensor", "%s: TENSOR port comes back as `tensor`" % what)
    t.eq((v.tensor.datatype, list(v.tensor.shape)), (pb.tensor.FP32, list(x.shape)),
         "%s: output datatype and shape" % what)
    t.eq(len(v.tensor.strings), 0, "%s: output uses raw, not strings" % what)
    t.check(v.tensor.raw == np.ascontiguousarray(x, dtype="<f4").tobytes(), "%s: output bytes equal input" % what,
            "got %d bytes, sent %d" % (len(v.tensor.raw), x.size * 4))
    t.check(not resp.HasField("error"), "%s: no error set on a unary response" % what, str(resp.error))


def main(t):
    # --workers 1: a burn call that did not stop on deadline/cancel would block the next burn call.
    srv = t.start_server(["--workers", "1"])
    ch = srv.channel()
    stub = srv.broker(ch)
    rng = np.random.default_rng(7)

    with t.case("ListModels / GetModel"):
        r = t.call("ListModels", stub.ListModels, pb.broker.ListModelsRequest())
        if r is not None:
            names = [m.name for m in r.models]
            t.check("identity" in names and "burn" in names, "ListModels lists identity and burn", str(names))
            t.eq(len(names), len(set(names)), "ListModels: names unique")
            for m in r.models:
                if m.name in ("identity", "burn"):
                    check_identity_info(t, m, m.name, "ListModels")
        for name in ("identity", "burn"):
            m = t.call("GetModel %s" % name, stub.GetModel, pb.broker.GetModelRequest(name=name))
            if m is not None:
                check_identity_info(t, m, name, "GetModel")
        t.expect_error("GetModel unknown model -> NOT_FOUND", stub.GetModel, grpc.StatusCode.NOT_FOUND, "'nope'",
                       args=(pb.broker.GetModelRequest(name="nope"),))

    with t.case("Infer identity"):
        x = rng.standard_normal((2, 3)).astype(np.float32)
        r = t.call("Infer identity 2x3", stub.Infer, infer_request("identity", x, id="req-1"))
        check_identity_response(t, "Infer identity 2x3", r, x, id="req-1")
        r = t.call("Infer identity, outputs=['output']", stub.Infer,
                   infer_request("identity", x, id="req-2", outputs=["output"]))
        check_identity_response(t, "Infer identity outputs=['output']", r, x, id="req-2")
        req = infer_request("identity", x, id="req-3")
        req.version = "1"
        r = t.call("Infer identity version '1'", stub.Infer, req)
        check_identity_response(t, "Infer identity version '1'", r, x, id="req-3")
        x = np.zeros((0, 5), dtype=np.float32)
        r = t.call("Infer identity empty 0x5", stub.Infer, infer_request("identity", x, id="empty"))
        check_identity_response(t, "Infer identity 0x5", r, x, id="empty")
        # Above gRPC's default 4 MiB, under junction's default 64 MiB.
        x = rng.standard_normal((1024, 2048)).astype(np.float32)  # 8 MiB
        r = t.call("Infer identity 8 MiB", stub.Infer, infer_request("identity", x, id="big"))
        check_identity_response(t, "Infer identity 8 MiB", r, x, id="big")

    with t.case("typed values"):
        emb = pb.contract.Value(name="input", embedding=pb.contract.Embedding(values=[1.5, -2.0, 3.25]))
        r = t.call("Infer identity with an embedding", stub.Infer, infer_request("identity", values=[emb], id="e"))
        check_identity_response(t, "embedding -> FP32[1,3]", r, np.array([[1.5, -2.0, 3.25]], dtype=np.float32), id="e")
        txt = pb.contract.Value(name="input", text=pb.contract.Text(text="hello"))
        t.expect_error("text into an FP32 port (BYTES[1])", stub.Infer, IA, "model 'identity'",
                       "input 'input' expects datatype FP32 (FP32[-1,-1]), got BYTES (BYTES[1])",
                       args=(infer_request("identity", values=[txt]),))
        img = pb.contract.Value(name="input", image=pb.contract.Image(data=b"\x89PNG\r\n\x1a\n", format="png"))
        t.expect_error("image into an FP32 port (BYTES[1])", stub.Infer, IA, "model 'identity'",
                       "input 'input' expects datatype FP32 (FP32[-1,-1]), got BYTES (BYTES[1])",
                       args=(infer_request("identity", values=[img]),))
        cls = pb.contract.Value(name="input", classification=pb.contract.Classification(labels=["a"], scores=[1.0]))
        t.expect_error("classification as an input -> INVALID_ARGUMENT", stub.Infer, IA, "model 'identity'", "'input'",
                       args=(infer_request("identity", values=[cls]),))
        bt = pb.tensor.Tensor(datatype=pb.tensor.BYTES, shape=[1, 2], strings=[b"a", b"b"])
        t.expect_error("BYTES tensor into an FP32 port", stub.Infer, IA,
                       "model 'identity': input 'input' expects datatype FP32 (FP32[-1,-1]), got BYTES (BYTES[1,2])",
                       args=(infer_request("identity", values=[tensor_value("input", bt)]),))
        empty = pb.contract.Value(name="input")
        t.expect_error("a Value with nothing set", stub.Infer, IA, "model 'identity'", "'input'",
                       args=(infer_request("identity", values=[empty]),))

    with t.case("validation errors"):
        x23 = np.arange(6, dtype=np.float32).reshape(2, 3)
        t.expect_error("missing input", stub.Infer, IA,
                       "model 'identity': missing input 'input' (expects TENSOR FP32[-1,-1])",
                       args=(infer_request("identity", values=[]),))
        vals = [tensor_value("input", fp32_tensor(x23)), tensor_value("foo", fp32_tensor(x23))]
        t.expect_error("unknown input 'foo'", stub.Infer, IA,
                       "model 'identity': unknown input 'foo' (the model's inputs are 'input')",
                       args=(infer_request("identity", values=vals),))
        i32 = pb.tensor.Tensor(datatype=pb.tensor.INT32, shape=[2, 2], raw=np.arange(4, dtype="<i4").tobytes())
        t.expect_error("INT32 into FP32", stub.Infer, IA,
                       "model 'identity': input 'input' expects datatype FP32 (FP32[-1,-1]), got INT32 (INT32[2,2])",
                       args=(infer_request("identity", values=[tensor_value("input", i32)]),))
        r3 = fp32_tensor(np.zeros((1, 2, 3), dtype=np.float32))
        t.expect_error("rank 3 into rank 2", stub.Infer, IA,
                       "model 'identity': input 'input' expects rank 2 (FP32[-1,-1]), got rank 3 (FP32[1,2,3])",
                       args=(infer_request("identity", values=[tensor_value("input", r3)]),))
        r1 = fp32_tensor(np.zeros((4,), dtype=np.float32))
        t.expect_error("rank 1 into rank 2", stub.Infer, IA,
                       "model 'identity': input 'input' expects rank 2 (FP32[-1,-1]), got rank 1 (FP32[4])",
                       args=(infer_request("identity", values=[tensor_value("input", r1)]),))
        short = pb.tensor.Tensor(datatype=pb.tensor.FP32, shape=[2, 3], raw=b"\0" * 20)
        t.expect_error("20 bytes for FP32[2,3]", stub.Infer, IA,
                       "model 'identity': input 'input': has 20 bytes of data, FP32[2,3] needs 24",
                       args=(infer_request("identity", values=[tensor_value("input", short)]),))
        long_ = pb.tensor.Tensor(datatype=pb.tensor.FP32, shape=[2, 3], raw=b"\0" * 28)
        t.expect_error("28 bytes for FP32[2,3]", stub.Infer, IA,
                       "model 'identity': input 'input': has 28 bytes of data, FP32[2,3] needs 24",
                       args=(infer_request("identity", values=[tensor_value("input", long_)]),))
        twice = [tensor_value("input", fp32_tensor(x23)), tensor_value("input", fp32_tensor(x23))]
        t.expect_error("input given twice", stub.Infer, IA, "model 'identity'", "input 'input' is given twice",
                       args=(infer_request("identity", values=twice),))
        unspec = pb.tensor.Tensor(datatype=pb.tensor.DATA_TYPE_UNSPECIFIED, shape=[2, 3], raw=b"\0" * 24)
        t.expect_error("DATA_TYPE_UNSPECIFIED", stub.Infer, IA, "model 'identity'", "'input'",
                       args=(infer_request("identity", values=[tensor_value("input", unspec)]),))
        neg = pb.tensor.Tensor(datatype=pb.tensor.FP32, shape=[-1, 3], raw=b"\0" * 12)
        t.expect_error("negative dimension in a request tensor", stub.Infer, IA, "model 'identity'", "'input'",
                       args=(infer_request("identity", values=[tensor_value("input", neg)]),))
        t.expect_error("unknown requested output", stub.Infer, IA, "model 'identity'", "'nope'",
                       args=(infer_request("identity", x23, outputs=["nope"]),))
        t.expect_error("unknown model -> NOT_FOUND", stub.Infer, grpc.StatusCode.NOT_FOUND,
                       "model 'nope' is not registered", args=(infer_request("nope", x23),))
        # Validation happens before the engine runs: burn would otherwise sleep for 10 minutes.
        t.expect_error("burn: validation before the engine runs", stub.Infer, IA,
                       "model 'burn': missing input 'input' (expects TENSOR FP32[-1,-1])",
                       args=(infer_request("burn", values=[], params={"burn_ms": 600000, "burn_mode": "sleep"}),))

    with t.case("burn parameters"):
        x = rng.standard_normal((3, 4)).astype(np.float32)
        r = t.call("burn default", stub.Infer, infer_request("burn", x, id="b0"))
        check_identity_response(t, "burn default", r, x, model="burn", id="b0")
        r = t.call("burn cpu 5 ms", stub.Infer, infer_request("burn", x, id="b1",
                                                                 params={"burn_ms": 5, "burn_mode": "cpu"}))
        check_identity_response(t, "burn cpu 5 ms", r, x, model="burn", id="b1")
        r = t.call("burn sleep 5.5 ms", stub.Infer, infer_request("burn", x, id="b2",
                                                                     params={"burn_ms": 5.5, "burn_mode": "sleep"}))
        check_identity_response(t, "burn sleep 5.5 ms", r, x, model="burn", id="b2")
        r = t.call("burn 0 ms", stub.Infer, infer_request("burn", x, id="b3", params={"burn_ms": 0}))
        check_identity_response(t, "burn 0 ms", r, x, model="burn", id="b3")
        t.expect_error("burn_ms='abc'", stub.Infer, IA, "burn_ms",
                       args=(infer_request("burn", x, params={"burn_ms": "abc"}),))
        t.expect_error("burn_ms=-5", stub.Infer, IA, "burn_ms", args=(infer_request("burn", x, params={"burn_ms": -5}),))
        t.expect_error("burn_ms=-0.5", stub.Infer, IA, "burn_ms",
                       args=(infer_request("burn", x, params={"burn_ms": -0.5}),))
        t.expect_error("burn_mode='gpu'", stub.Infer, IA, "burn_mode",
                       args=(infer_request("burn", x, params={"burn_mode": "gpu"}),))

    with t.case("burn stops on deadline and cancel"):
        x = np.ones((1, 2), dtype=np.float32)
        # The server has one worker: if a burn call went on after its deadline / cancel, the next one would queue
        # behind 60 s of burning and miss its 30 s deadline.
        t.expect_error("burn cpu 60 s with a 1 s deadline -> DEADLINE_EXCEEDED", stub.Infer,
                       grpc.StatusCode.DEADLINE_EXCEEDED,
                       args=(infer_request("burn", x, params={"burn_ms": 60000, "burn_mode": "cpu"}),), timeout=1.0,
                       alive=False)
        r = t.call("burn after a deadline-exceeded burn (the worker was freed)", stub.Infer,
                   infer_request("burn", x, id="after-deadline", params={"burn_ms": 1}))
        check_identity_response(t, "burn after deadline", r, x, model="burn", id="after-deadline")
        fut = stub.Infer.future(infer_request("burn", x, params={"burn_ms": 60000, "burn_mode": "sleep"}),
                                timeout=120)
        time.sleep(0.3)  # let it reach the worker (setup only; nothing below depends on it)
        fut.cancel()
        try:
            fut.result()
            t.fail("cancelled burn call", "completed OK")
        except grpc.FutureCancelledError:
            t.ok("cancelled burn call ends as cancelled")
        except grpc.RpcError as e:
            t.check(e.code() == grpc.StatusCode.CANCELLED, "cancelled burn call ends as cancelled",
                    harness.describe_rpc_error(e))
        r = t.call("burn after a cancelled burn (the worker was freed)", stub.Infer,
                   infer_request("burn", x, id="after-cancel", params={"burn_ms": 1}))
        check_identity_response(t, "burn after cancel", r, x, model="burn", id="after-cancel")
        t.still_serving("burn deadline/cancel")

    with t.case("unknown methods"):
        for m in ("/junction.v1.Broker/Nope", "/foo.Bar/Baz", "/inference.GRPCInferenceService/Nope",
                  "/grpc.health.v1.Health/Nope"):
            t.expect_error("unary %s -> UNIMPLEMENTED" % m, harness.unary_raw(ch, m), grpc.StatusCode.UNIMPLEMENTED,
                           args=(b"",))
        ss = ch.stream_stream("/foo.Bar/Baz", request_serializer=None, response_deserializer=None)
        try:
            got = list(ss(iter([b"\x0a\x01x"]), timeout=harness.RPC_TIMEOUT))
            t.fail("stream /foo.Bar/Baz -> UNIMPLEMENTED", "stream ended OK with %d messages" % len(got))
        except grpc.RpcError as e:
            t.check_rpc_error(e, grpc.StatusCode.UNIMPLEMENTED, "stream /foo.Bar/Baz -> UNIMPLEMENTED")
        t.still_serving("unknown stream method")

    with t.case("malformed protobuf bytes"):
        garbage = [
            ("truncated length-delimited field", b"\x22\xff\xff\xff\xff\x0f"),
            ("overlong varint", b"\xff" * 11),
            ("field number 0", b"\x00\x01"),
        ]
        # Field 4 is a message in both of these (Value inputs / the parameters map): its inside must parse too.
        nested = [("truncated nested message", b"\x22\x05\x0a\x05inp")]
        for method in ("/junction.v1.Broker/Infer", "/junction.v1.Broker/GetModel",
                       "/inference.GRPCInferenceService/ModelInfer", "/inference.GRPCInferenceService/ModelMetadata",
                       "/grpc.health.v1.Health/Check"):
            call = harness.unary_raw(ch, method)
            cases = garbage + (nested if method.endswith("Infer") else [])
            for label, data in cases:
                t.expect_error("%s with %s -> INVALID_ARGUMENT" % (method, label), call, IA, args=(data,))

    with t.case("oversized message (default 64 MiB limit)"):
        big = np.zeros((65, MIB // 4), dtype=np.float32)  # 65 MiB of data
        t.expect_error("Infer with 65 MiB -> RESOURCE_EXHAUSTED", stub.Infer, grpc.StatusCode.RESOURCE_EXHAUSTED,
                       args=(infer_request("identity", big),), timeout=60)
        del big

    t.stop_server(srv)

    with t.case("oversized message (--max-message-mb 1)"):
        srv = t.start_server(["--max-message-mb", "1"])
        stub = srv.broker()
        x = rng.standard_normal((256, 256)).astype(np.float32)  # 256 KiB
        r = t.call("--max-message-mb 1: 256 KiB Infer", stub.Infer, infer_request("identity", x, id="ok"))
        check_identity_response(t, "--max-message-mb 1: 256 KiB", r, x, id="ok")
        big = np.zeros((512, 1024), dtype=np.float32)  # 2 MiB
        t.expect_error("--max-message-mb 1: 2 MiB Infer -> RESOURCE_EXHAUSTED", stub.Infer,
                       grpc.StatusCode.RESOURCE_EXHAUSTED, args=(infer_request("identity", big),))
        t.expect_error("--max-message-mb 1: 2 MiB ModelInfer -> RESOURCE_EXHAUSTED", srv.v2().ModelInfer,
                       grpc.StatusCode.RESOURCE_EXHAUSTED, args=(harness.v2_request("identity", big),))
        t.stop_server(srv)


if __name__ == "__main__":
    harness.run(main)
