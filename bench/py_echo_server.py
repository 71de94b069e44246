#!/usr/bin/python3
"""The Python grpcio counterpart of bench_echo_server: what many teams run today.

A grpc.server with a ThreadPoolExecutor and one generic handler that answers any unary method by echoing the
request bytes (no (de)serialization). Prints "py_echo: listening on 127.0.0.1:PORT" once serving; SIGINT/SIGTERM
stop it.

Usage: /usr/bin/python3 py_echo_server.py [--port N] [--workers N]
"""
import argparse
import signal
import sys
import threading
from concurrent import futures

import grpc


def _echo(request, context):
    return request


class EchoAnyMethod(grpc.GenericRpcHandler):
    """Routes every method to the echo behaviour; request/response stay raw bytes."""

    def __init__(self):
        self._handler = grpc.unary_unary_rpc_method_handler(_echo)

    def service(self, handler_call_details):
        return self._handler


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port", type=int, default=0, help="0 = pick a free port")
    ap.add_argument("--workers", type=int, default=10, help="ThreadPoolExecutor max_workers")
    args = ap.parse_args()

    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=args.workers),
        handlers=[EchoAnyMethod()],
        options=[("grpc.so_reuseport", 0), ("grpc.max_receive_message_length", -1)],
    )
    port = server.add_insecure_port(f"127.0.0.1:{args.port}")
    if port == 0:
        print(f"py_echo: cannot bind 127.0.0.1:{args.port}", file=sys.stderr)
        return 1
    server.start()

    stop = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGTERM, lambda *_: stop.set())

    print(f"py_echo: listening on 127.0.0.1:{port}", flush=True)
    while not stop.wait(1.0):
        pass
    server.stop(grace=1.0).wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
