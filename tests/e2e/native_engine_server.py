#!/usr/bin/python3
"""A third-party model service that implements junction.v1.Engine (engine.proto) in Python (python3-grpcio + numpy)
and registers itself with a junction broker by Admin.Heartbeat — the self-registration path of issue #5.

    /usr/bin/python3 tests/e2e/native_engine_server.py --stubs DIR --broker HOST:PORT --name NAME
                     [--port N] [--interval-ms 200] [--ttl-ms 1500]

--stubs is the directory harness.py generated (junction/v1 and jn_health/v1 packages). Prints
`native: serving on 127.0.0.1:PORT` once it listens, then heartbeats every interval (first one at once).
Model `double`: x FP32[-1,-1] -> y FP32[-1,-1] = 2x. grpc.health.v1 Check answers SERVING.
"""
import argparse
import sys
import threading
import time
from concurrent import futures

sys.dont_write_bytecode = True

import grpc  # noqa: E402
import numpy as np  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--stubs", required=True)
    ap.add_argument("--broker", required=True)
    ap.add_argument("--name", required=True)
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--interval-ms", type=int, default=200)
    ap.add_argument("--ttl-ms", type=int, default=1500)
    args = ap.parse_args()
    sys.path.insert(0, args.stubs)
    from junction.v1 import engine_pb2, engine_pb2_grpc, broker_pb2, contract_pb2, tensor_pb2
    from junction.v1 import admin_pb2, admin_pb2_grpc
    from jn_health.v1 import health_pb2, health_pb2_grpc

    def signature():
        s = contract_pb2.Signature()
        s.inputs.add(name="x", kind=contract_pb2.TENSOR, datatype=tensor_pb2.FP32, shape=[-1, -1])
        s.outputs.add(name="y", kind=contract_pb2.TENSOR, datatype=tensor_pb2.FP32, shape=[-1, -1])
        return s

    def run(req):
        if req.model != "double":
            return None, (grpc.StatusCode.NOT_FOUND, "no model '%s' here" % req.model)
        xs = [v for v in req.inputs if v.name == "x"]
        if len(xs) != 1 or xs[0].tensor.datatype != tensor_pb2.FP32:
            return None, (grpc.StatusCode.INVALID_ARGUMENT, "double takes one FP32 tensor 'x'")
        t = xs[0].tensor
        x = np.frombuffer(t.raw, dtype="<f4").reshape(tuple(t.shape))
        y = (x * 2).astype("<f4")
        out = contract_pb2.Value(name="y", tensor=tensor_pb2.Tensor(datatype=tensor_pb2.FP32, shape=list(y.shape),
                                                                   raw=y.tobytes()))
        return broker_pb2.InferResponse(model=req.model, version="1", id=req.id, outputs=[out]), None

    class Engine(engine_pb2_grpc.EngineServicer):
        def Describe(self, request, context):
            if request.model != "double":
                context.abort(grpc.StatusCode.NOT_FOUND, "no model '%s' here" % request.model)
            return engine_pb2.DescribeResponse(name="double", version="1", signature=signature(), streams=False,
                                               platform="python")

        def Infer(self, request, context):
            resp, err = run(request)
            if err:
                context.abort(*err)
            return resp

        def InferStream(self, request_iterator, context):
            for req in request_iterator:
                resp, err = run(req)
                if err:
                    resp = broker_pb2.InferResponse(model=req.model, id=req.id,
                                                    error=broker_pb2.Status(code=err[0].value[0], message=err[1]))
                yield resp

    class Health(health_pb2_grpc.HealthServicer):
        def Check(self, request, context):
            return health_pb2.HealthCheckResponse(status=health_pb2.HealthCheckResponse.SERVING)

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=16), options=[("grpc.so_reuseport", 0)])
    engine_pb2_grpc.add_EngineServicer_to_server(Engine(), server)
    health_pb2_grpc.add_HealthServicer_to_server(Health(), server)
    port = server.add_insecure_port("127.0.0.1:%d" % args.port)
    server.start()
    print("native: serving on 127.0.0.1:%d" % port, flush=True)

    admin = admin_pb2_grpc.AdminStub(grpc.insecure_channel(args.broker))
    beat = admin_pb2.HeartbeatRequest(name=args.name, endpoint="127.0.0.1:%d" % port, model="double",
                                      interval_ms=args.interval_ms, ttl_ms=args.ttl_ms, protocol=admin_pb2.NATIVE)

    def heartbeats():
        while True:
            try:
                r = admin.Heartbeat(beat, timeout=5)
                if r.registered:
                    print("native: registered as %s" % args.name, flush=True)
            except grpc.RpcError as e:
                sys.stderr.write("native: heartbeat failed: %s %s\n" % (e.code(), e.details()))
            time.sleep(args.interval_ms / 1000.0)

    threading.Thread(target=heartbeats, daemon=True).start()
    server.wait_for_termination()


if __name__ == "__main__":
    main()
