#!/usr/bin/python3
"""grpc.health.v1.Health end to end: Check, Watch (current status at once, SERVICE_UNKNOWN kept open), and
NOT_SERVING to watchers on shutdown.

usage: /usr/bin/python3 tests/e2e/test_health.py /path/to/junction
"""
import os
import signal
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import grpc  # noqa: E402

import harness  # noqa: E402
from harness import pb  # noqa: E402

WATCH_TIMEOUT = 60.0
SERVICES = ["", "junction.v1.Broker", "inference.GRPCInferenceService"]


def status_name(s):
    return pb.health.HealthCheckResponse.ServingStatus.Name(s)


def main(t):
    srv = t.start_server()
    ch = srv.channel()
    health = srv.health(ch)
    HC = pb.health.HealthCheckResponse

    with t.case("Check"):
        for svc in SERVICES:
            r = t.call("Check(%r)" % svc, health.Check, pb.health.HealthCheckRequest(service=svc))
            t.check(r is not None and r.status == HC.SERVING, "Check(%r) -> SERVING" % svc,
                    status_name(r.status) if r is not None else "")
        for svc in ("nope.Service", "junction.v1.Nope", "junction.v1"):
            t.expect_error("Check(%r) -> NOT_FOUND" % svc, health.Check, grpc.StatusCode.NOT_FOUND,
                           args=(pb.health.HealthCheckRequest(service=svc),))

    watches = {}
    with t.case("Watch"):
        for svc in SERVICES + ["nope.Service"]:
            call = health.Watch(pb.health.HealthCheckRequest(service=svc), timeout=WATCH_TIMEOUT)
            watches[svc] = call
            kind, m = harness.next_or_none(call, harness.RPC_TIMEOUT)
            want = HC.SERVICE_UNKNOWN if svc == "nope.Service" else HC.SERVING
            t.check(kind == "msg" and m.status == want, "Watch(%r) first message %s" % (svc, status_name(want)),
                    "%s %s" % (kind, status_name(m.status) if kind == "msg" else m))
        # A few round trips on the same connection: if the server had ended a watch after its first message, its
        # status would have arrived by now.
        for _ in range(3):
            t.call("Check('') round trip", health.Check, pb.health.HealthCheckRequest(service=""))
        for svc, call in watches.items():
            active = call.is_active()  # (call.code() would block until the call ends: only ask once it has)
            t.check(active, "Watch(%r) stays open after its first message" % svc,
                    "" if active else "ended with %s %r" % (call.code(), call.details()))

    with t.case("Watch cancelled by the client"):
        call = watches.pop("nope.Service")
        call.cancel()
        t.eq(call.code(), grpc.StatusCode.CANCELLED, "Watch('nope.Service') cancelled by the client")
        t.still_serving("cancelling a Watch")
        r = t.call("Check after cancelled watch", health.Check, pb.health.HealthCheckRequest(service=""))
        t.check(r is not None and r.status == HC.SERVING, "Check('') still SERVING after a cancelled watch")

    with t.case("watchers get NOT_SERVING on shutdown"):
        unknown = health.Watch(pb.health.HealthCheckRequest(service="nope.Service"), timeout=WATCH_TIMEOUT)
        kind, m = harness.next_or_none(unknown, harness.RPC_TIMEOUT)
        t.check(kind == "msg" and m.status == HC.SERVICE_UNKNOWN, "second Watch('nope.Service') -> SERVICE_UNKNOWN")
        t.server = None  # no more probing: the server is going down
        srv.signal(signal.SIGTERM)
        for svc, call in watches.items():
            kind, m = harness.next_or_none(call, WATCH_TIMEOUT)
            t.check(kind == "msg" and m.status == HC.NOT_SERVING, "Watch(%r) receives NOT_SERVING on SIGTERM" % svc,
                    "%s %s" % (kind, status_name(m.status) if kind == "msg" else m))
        rc = srv.wait(WATCH_TIMEOUT)
        t.check(rc == 0, "server with open watches exits with status 0 on SIGTERM",
                "status %s\n%s" % (rc, srv.stderr_tail()))
        for svc, call in list(watches.items()) + [("nope.Service", unknown)]:
            kind, m = harness.next_or_none(call, WATCH_TIMEOUT)
            t.check(kind in ("end", "error"), "Watch(%r) ends once the server is gone" % svc, "%s %s" % (kind, m))
        t.stop_server(srv)


if __name__ == "__main__":
    harness.run(main)
