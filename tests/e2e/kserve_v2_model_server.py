#!/usr/bin/python3
"""A third-party KServe v2 (Open Inference Protocol) model server for the remote-engine tests, written from the
protocol document (../shared/docs/open-inference-protocol.md) with Debian's python3-grpcio and numpy: it knows
nothing of junction.

    /usr/bin/python3 tests/e2e/kserve_v2_model_server.py --port N [--stubs DIR]

Prints `kserve: serving on 127.0.0.1:PORT` once it listens. --stubs names a directory holding the generated
`inference` package (harness.py makes one); without it the stubs are generated from proto/inference/grpc_service.proto
into a temporary directory, the same two ways harness.py tries.

Models (version "1"):
  scale2  x FP32[-1,-1] -> y FP32[-1,-1] = 2x          answers in the form it was asked (raw or typed)
  add     a, b FP32[-1,-1] -> sum FP32[-1,-1] = a + b  always answers typed fp32_contents
  picky   x FP32[-1,-1] -> y                           always fails FAILED_PRECONDITION "picky says no"
Every model reads the request parameter `sleep_ms` (sleeps that long first).
"""
import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent import futures

sys.dont_write_bytecode = True

import grpc  # noqa: E402
import numpy as np  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
PROTO_ROOT = os.path.normpath(os.path.join(HERE, "..", "..", "proto"))
PYTHON = "/usr/bin/python3"


def generate(dest):
    attempts = [[PYTHON, "-m", "grpc_tools.protoc"],
                ["protoc", "--plugin=protoc-gen-grpc_python=/usr/bin/grpc_python_plugin"]]
    errors = []
    for i, cmd in enumerate(attempts):
        out = os.path.join(dest, "gen%d" % i)
        os.makedirs(out)
        p = subprocess.run(cmd + ["-I", PROTO_ROOT, "--python_out=" + out, "--grpc_python_out=" + out,
                                  "inference/grpc_service.proto"], capture_output=True, text=True)
        if p.returncode == 0:
            smoke = subprocess.run([PYTHON, "-c", "import sys; sys.path.insert(0, %r); "
                                    "from inference import grpc_service_pb2, grpc_service_pb2_grpc" % out],
                                   capture_output=True, text=True)
            if smoke.returncode == 0:
                return out
            errors.append(smoke.stderr)
        else:
            errors.append(p.stderr)
    raise RuntimeError("cannot generate the v2 stubs: %s" % errors)


DTYPES = {"FP32": "<f4", "FP64": "<f8", "INT32": "<i4", "INT64": "<i8"}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--stubs")
    args = ap.parse_args()
    tmp = None
    stubs = args.stubs
    if not stubs:
        tmp = tempfile.mkdtemp(prefix="kserve-stubs-")
        stubs = generate(tmp)
    sys.path.insert(0, stubs)
    from inference import grpc_service_pb2 as v2, grpc_service_pb2_grpc as v2_grpc

    ANY2 = [-1, -1]
    MODELS = {
        "scale2": ([("x", "FP32", ANY2)], [("y", "FP32", ANY2)]),
        "add": ([("a", "FP32", ANY2), ("b", "FP32", ANY2)], [("sum", "FP32", ANY2)]),
        "picky": ([("x", "FP32", ANY2)], [("y", "FP32", ANY2)]),
    }

    def input_array(req, i):
        inp = req.inputs[i]
        if inp.datatype not in DTYPES:
            raise ValueError("datatype %s not supported here" % inp.datatype)
        shape = tuple(inp.shape)
        if req.raw_input_contents:
            return np.frombuffer(req.raw_input_contents[i], dtype=DTYPES[inp.datatype]).reshape(shape)
        return np.asarray(inp.contents.fp32_contents, dtype=np.float32).reshape(shape)

    class Service(v2_grpc.GRPCInferenceServiceServicer):
        def ServerLive(self, request, context):
            return v2.ServerLiveResponse(live=True)

        def ServerReady(self, request, context):
            return v2.ServerReadyResponse(ready=True)

        def ModelReady(self, request, context):
            return v2.ModelReadyResponse(ready=request.name in MODELS)

        def ServerMetadata(self, request, context):
            return v2.ServerMetadataResponse(name="tiny-kserve", version="0.1")

        def ModelMetadata(self, request, context):
            if request.name not in MODELS:
                context.abort(grpc.StatusCode.NOT_FOUND, "unknown model '%s'" % request.name)
            ins, outs = MODELS[request.name]
            r = v2.ModelMetadataResponse(name=request.name, versions=["1"], platform="numpy")
            for n, dt, sh in ins:
                r.inputs.add(name=n, datatype=dt, shape=sh)
            for n, dt, sh in outs:
                r.outputs.add(name=n, datatype=dt, shape=sh)
            return r

        def ModelInfer(self, request, context):
            name = request.model_name
            if name not in MODELS:
                context.abort(grpc.StatusCode.NOT_FOUND, "unknown model '%s'" % name)
            p = request.parameters.get("sleep_ms")
            if p is not None:
                time.sleep((p.int64_param or p.double_param) / 1000.0)
            if name == "picky":
                context.abort(grpc.StatusCode.FAILED_PRECONDITION, "picky says no")
            by_name = {inp.name: i for i, inp in enumerate(request.inputs)}
            want = [n for n, _, _ in MODELS[name][0]]
            if sorted(by_name) != sorted(want):
                context.abort(grpc.StatusCode.INVALID_ARGUMENT,
                              "model '%s' takes inputs %s, got %s" % (name, want, sorted(by_name)))
            arrays = {n: input_array(request, i) for n, i in by_name.items()}
            if name == "scale2":
                outs, typed = {"y": (arrays["x"] * 2).astype(np.float32)}, not request.raw_input_contents
            else:
                outs, typed = {"sum": (arrays["a"] + arrays["b"]).astype(np.float32)}, True
            resp = v2.ModelInferResponse(model_name=name, model_version="1", id=request.id)
            wanted = [o.name for o in request.outputs] or list(outs)
            for oname in wanted:
                if oname not in outs:
                    context.abort(grpc.StatusCode.INVALID_ARGUMENT, "no output '%s'" % oname)
                a = outs[oname]
                o = resp.outputs.add(name=oname, datatype="FP32", shape=list(a.shape))
                if typed:
                    o.contents.fp32_contents.extend(a.reshape(-1).tolist())
                else:
                    resp.raw_output_contents.append(np.ascontiguousarray(a, dtype="<f4").tobytes())
            return resp

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=32),
                         options=[("grpc.so_reuseport", 0)])
    v2_grpc.add_GRPCInferenceServiceServicer_to_server(Service(), server)
    port = server.add_insecure_port("127.0.0.1:%d" % args.port)
    if port == 0:
        sys.stderr.write("kserve: cannot listen on port %d\n" % args.port)
        sys.exit(1)
    server.start()
    print("kserve: serving on 127.0.0.1:%d" % port, flush=True)
    try:
        server.wait_for_termination()
    finally:
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
