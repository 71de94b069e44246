#!/usr/bin/python3
"""Remote engines under faults (issue #5), with a third-party KServe v2 server (kserve_v2_model_server.py) as the
remote and the local `identity` engine as the bystander whose calls must all succeed throughout:

- the remote is killed (-9) in the middle of a load: calls to it fail UNAVAILABLE naming the engine, the breaker
  opens, the model turns not ready, and calls then fail fast; restarted on the same port it is ready again, the
  breaker closes and calls succeed;
- the remote is SIGSTOPped: calls with a deadline fail DEADLINE_EXCEEDED (prefixed by the engine name), the breaker
  opens and later calls fail fast with UNAVAILABLE; after SIGCONT it recovers;
- bulkhead: an endpoint limited to 2 threads and 2 queued calls answers the calls beyond that at once with
  UNAVAILABLE (naming the model), while the admitted ones finish right;
- a caller that cancels its call cancels the call to the remote too: the endpoint's place is free at once;
- SIGTERM with remote calls in flight: the short ones finish right, one outliving --grace-ms ends with an error, and
  the broker exits 0 within the grace period.

usage: /usr/bin/python3 tests/e2e/test_remote_faults.py /path/to/junction
"""
import json
import os
import signal
import sys
import threading
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import grpc  # noqa: E402
import numpy as np  # noqa: E402

import harness  # noqa: E402
import remote_util as ru  # noqa: E402
from harness import pb, infer_request, output_array  # noqa: E402

SC = grpc.StatusCode
FAST = dict(breaker_failures=3, breaker_cooldown_ms=400, health_interval_ms=150, health_timeout_ms=300,
            max_attempts=3, backoff_ms=20, timeout_ms=3000)


class Load:
    """Threads calling a model in a loop, counting answers by status code."""

    def __init__(self, srv, model, input_name, n, timeout, params=None):
        self.srv, self.model, self.input_name, self.timeout, self.params = srv, model, input_name, timeout, params
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.ok = 0
        self.wrong = 0
        self.errors = {}  # code -> list of messages (first few)
        self.threads = [threading.Thread(target=self.run) for _ in range(n)]
        self.x = np.arange(6, dtype=np.float32).reshape(2, 3)

    def expected(self):
        return self.x * 2 if self.model != "identity" else self.x

    def run(self):
        stub = self.srv.broker(self.srv.channel())
        want = self.expected()
        out = "y" if self.model != "identity" else "output"
        while not self.stop.is_set():
            try:
                r = stub.Infer(infer_request(self.model, self.x, input_name=self.input_name, params=self.params),
                               timeout=self.timeout)
                with self.lock:
                    if np.array_equal(output_array(r, out), want):
                        self.ok += 1
                    else:
                        self.wrong += 1
            except grpc.RpcError as e:
                with self.lock:
                    msgs = self.errors.setdefault(e.code(), [])
                    if len(msgs) < 5:
                        msgs.append(e.details())
                    else:
                        msgs.append(None)
                time.sleep(0.01)

    def start(self):
        for th in self.threads:
            th.start()
        return self

    def finish(self):
        self.stop.set()
        for th in self.threads:
            th.join(30)

    def count(self, code):
        with self.lock:
            return len(self.errors.get(code, []))

    def snapshot(self):
        with self.lock:
            return self.ok, {c.name: len(m) for c, m in self.errors.items()}


def breaker(admin, name):
    e = ru.engine_info(admin, name)
    return e.breaker if e else None


def main(t):
    try:
        run(t)
    finally:
        ru.kill_helpers(t)


def run(t):
    port = ru.free_port()
    ks = ru.start_kserve(t, port)
    srv = t.start_server(["--workers", "2"])
    broker, admin = srv.broker(), srv.admin()
    t.call("RegisterEngine scale2", ru.register, admin, "scale2", ks.address, **FAST)
    x = np.arange(6, dtype=np.float32).reshape(2, 3)

    with t.case("remote killed in the middle of a load"):
        bystander = Load(srv, "identity", "input", 2, 10).start()
        load = Load(srv, "scale2", "x", 4, 3).start()
        t.check(ru.wait_for(lambda: load.ok >= 30, 30), "the remote answers under load", str(load.snapshot()))
        ks.kill()
        t.check(ru.wait_for(lambda: load.count(SC.UNAVAILABLE) >= 20, 30),
                "calls to the killed remote fail UNAVAILABLE", str(load.snapshot()))
        t.check(ru.wait_for(lambda: breaker(admin, "scale2") == "open", 10), "the breaker opens",
                str(ru.engine_info(admin, "scale2")))
        t.check(ru.wait_for(lambda: not ru.model_info(broker, "scale2").ready, 10),
                "ListModels shows scale2 not ready")
        load.finish()
        ok_before, errs = load.snapshot()
        t.eq(set(errs), {"UNAVAILABLE"}, "UNAVAILABLE is the only failure the callers saw")
        msgs = [m for m in load.errors.get(SC.UNAVAILABLE, []) if m]
        t.check(msgs and all("scale2" in m for m in msgs), "each names the engine", str(msgs))
        t0 = time.time()
        t.expect_error("a call while the remote is down", broker.Infer, SC.UNAVAILABLE, "scale2",
                       args=(infer_request("scale2", x, input_name="x"),))
        t.check(time.time() - t0 < 2.0, "fails fast (no waiting on a dead endpoint)", "%.2f s" % (time.time() - t0))
        e = ru.engine_info(admin, "scale2")
        t.check(e is not None and e.breaker_opened >= 1 and e.health_error != "",
                "ListEngines tells the breaker opened and why the health check fails", str(e))

        ks2 = ru.start_kserve(t, port)  # the same port: the same endpoint comes back
        t.check(ru.wait_for(lambda: ru.model_info(broker, "scale2").ready, 20, 0.1),
                "after the restart scale2 is ready again")
        t.check(ru.wait_for(lambda: breaker(admin, "scale2") == "closed", 20, 0.1), "and the breaker closes",
                str(ru.engine_info(admin, "scale2")))
        r = t.call("Infer scale2 after the restart", broker.Infer, infer_request("scale2", x, input_name="x"))
        t.check(r is not None and np.array_equal(output_array(r, "y"), x * 2), "it answers right")
        bystander.finish()
        ok, errs = bystander.snapshot()
        t.check(ok > 50 and not errs and bystander.wrong == 0, "every identity call succeeded throughout",
                "ok %d, errors %s" % (ok, errs))

    with t.case("remote stopped (SIGSTOP) then continued (SIGCONT)"):
        bystander = Load(srv, "identity", "input", 2, 10).start()
        ks2.signal(signal.SIGSTOP)
        try:
            stub = broker
            codes = []
            first = None
            for i in range(6):
                try:
                    stub.Infer(infer_request("scale2", x, input_name="x"), timeout=0.5)
                    codes.append("OK")
                except grpc.RpcError as e:
                    codes.append(e.code().name)
                    if e.code() == SC.DEADLINE_EXCEEDED and (first is None or not first.startswith("scale2: ")):
                        first = e.details()
            t.eq(codes[0], "DEADLINE_EXCEEDED", "a call to the stopped remote runs into its deadline")
            t.check(first is not None and first.startswith("scale2: "),
                    "junction answers before the caller's own deadline, naming the engine", str(first))
            t.check("OK" not in codes and codes[-1] == "UNAVAILABLE",
                    "then the breaker (or the failed health check) fails calls fast with UNAVAILABLE", str(codes))
            t.check(ru.wait_for(lambda: breaker(admin, "scale2") == "open", 10), "the breaker is open",
                    str(ru.engine_info(admin, "scale2")))
            t0 = time.time()
            t.expect_error("a call while it is stopped", broker.Infer, SC.UNAVAILABLE, "scale2",
                           args=(infer_request("scale2", x, input_name="x"),), timeout=5)
            t.check(time.time() - t0 < 1.0, "fails fast", "%.2f s" % (time.time() - t0))
            # Registrations to the hung remote block on its metadata: they must not hold the shared worker pool
            # (2 workers here), on which the non-inline local engine `burn` runs.
            regs = []

            def register_stuck(i):
                try:
                    ru.register(srv.admin(), "stuck-%d" % i, ks2.address, model="scale2", timeout=3)
                    regs.append("OK")
                except grpc.RpcError as e:
                    regs.append(e.code().name)

            stuck = [threading.Thread(target=register_stuck, args=(i,)) for i in range(4)]
            for th in stuck:
                th.start()
            time.sleep(0.3)
            burns = 0
            for _ in range(5):
                r = t.call("burn while registrations hang", broker.Infer,
                           infer_request("burn", x, params={"burn_ms": 0}), timeout=2)
                burns += r is not None and np.array_equal(output_array(r, "output"), x)
            t.eq(burns, 5, "the local pooled engine answers while 4 registrations wait on the hung remote")
            for th in stuck:
                th.join(30)
            t.check(len(regs) == 4 and "OK" not in regs, "the registrations to the hung remote fail", str(regs))
            t.check(all(ru.model_info(broker, "stuck-%d" % i) is None for i in range(4)), "and register nothing")
        finally:
            ks2.signal(signal.SIGCONT)
        t.check(ru.wait_for(lambda: ru.model_info(broker, "scale2").ready, 20, 0.1), "after SIGCONT it is ready")
        t.check(ru.wait_for(lambda: breaker(admin, "scale2") == "closed", 20, 0.1), "and the breaker closes again")
        r = t.call("Infer scale2 after SIGCONT", broker.Infer, infer_request("scale2", x, input_name="x"))
        t.check(r is not None and np.array_equal(output_array(r, "y"), x * 2), "it answers right")
        bystander.finish()
        ok, errs = bystander.snapshot()
        t.check(ok > 20 and not errs and bystander.wrong == 0, "every identity call succeeded while it was stopped",
                "ok %d, errors %s" % (ok, errs))

    with t.case("bulkhead: an endpoint's own threads and queue are bounded"):
        ks3 = ru.start_kserve(t)
        t.call("RegisterEngine slowpoke", ru.register, admin, "slowpoke", ks3.address, model="scale2",
               max_concurrency=2, max_queue=2, timeout_ms=20000)
        results = []
        lock = threading.Lock()

        def one():
            try:
                r = srv.broker().Infer(infer_request("slowpoke", x, input_name="x", params={"sleep_ms": 1500}),
                                       timeout=20)
                res = ("OK", np.array_equal(output_array(r, "y"), x * 2))
            except grpc.RpcError as e:
                res = (e.code().name, e.details())
            with lock:
                results.append(res)

        threads = [threading.Thread(target=one) for _ in range(10)]
        t0 = time.time()
        for th in threads:
            th.start()
            time.sleep(0.02)
        # While the endpoint's two threads sleep in the remote, identity answers at once.
        r = t.call("identity while the endpoint is saturated", broker.Infer, infer_request("identity", x))
        t.check(r is not None and np.array_equal(output_array(r, "output"), x), "identity is unaffected")
        for th in threads:
            th.join(60)
        oks = [r for r in results if r[0] == "OK"]
        refused = [r for r in results if r[0] == "UNAVAILABLE"]
        t.check(len(oks) >= 2 and all(r[1] for r in oks), "the admitted calls answer right", str(results))
        t.check(len(refused) >= 4 and all("slowpoke" in r[1] and "too many calls waiting" in r[1] for r in refused),
                "the calls beyond 2 running + 2 queued fail fast with UNAVAILABLE naming the model", str(results))
        t.eq(len(oks) + len(refused), 10, "every call got one of the two answers")
        t.check(time.time() - t0 < 15, "nothing waited for more than its share")

    with t.case("a caller that goes away cancels its remote call, and its place on the endpoint is freed at once"):
        # One call on the wire and one waiting at most; no deadline from the caller, so only the cancellation passed
        # on to the remote call can free the place before the remote's 4 s sleep is over.
        ks4 = ru.start_kserve(t)  # an endpoint of its own: its limits come from the first engine that opens it
        t.call("RegisterEngine onecall", ru.register, admin, "onecall", ks4.address, model="scale2",
               max_concurrency=1, max_queue=1, timeout_ms=20000)
        stub = srv.broker()
        slow = stub.Infer.future(infer_request("onecall", x, input_name="x", params={"sleep_ms": 4000}))
        time.sleep(0.3)
        slow.cancel()
        t.check(slow.cancelled(), "the slow call is cancelled on the client side")
        t0 = time.time()
        r = t.call("the next call on the same endpoint", stub.Infer, infer_request("onecall", x, input_name="x"),
                   timeout=2)
        took = time.time() - t0
        t.check(r is not None and np.array_equal(output_array(r, "y"), x * 2), "answers right")
        t.check(took < 1.5, "without waiting for the cancelled call's sleep", "took %.2f s" % took)

    t.still_serving("remote faults")

    with t.case("SIGTERM with remote calls in flight: short ones finish, one outliving --grace-ms is cut off"):
        ks5 = ru.start_kserve(t)
        remotes = os.path.join(t.workdir, "remotes-shutdown.json")
        with open(remotes, "w") as f:
            json.dump([{"name": "scale2", "endpoint": ks5.address, "protocol": "kserve_v2", "model": "scale2"}], f)
        b2 = t.start_server(["--remotes", remotes, "--grace-ms", "2000"], probe=False)
        ch = b2.channel()
        grpc.channel_ready_future(ch).result(timeout=harness.RPC_TIMEOUT)
        st = b2.broker(ch)
        short = [st.Infer.future(infer_request("scale2", x + i, input_name="x", params={"sleep_ms": 800}),
                                 timeout=60) for i in range(4)]
        long = st.Infer.future(infer_request("scale2", x, input_name="x", params={"sleep_ms": 60000}), timeout=120)
        time.sleep(0.3)  # let the calls reach the remote (setup only)
        t0 = time.monotonic()
        b2.signal(signal.SIGTERM)
        rc = b2.wait(60)
        took = time.monotonic() - t0
        t.check(rc == 0, "the broker exits with status 0", "status %s\n%s" % (rc, b2.stderr_tail()))
        t.check(took < 2.0 + 10.0, "within the grace period (+ teardown)", "took %.1f s" % took)
        for i, f in enumerate(short):
            try:
                r = f.result(timeout=30)
                t.check(np.array_equal(output_array(r, "y"), (x + i) * 2), "short call %d finished right" % i)
            except grpc.RpcError as e:
                t.fail("short call %d finished right" % i, "%s %s" % (e.code().name, e.details()))
        t.check_cut_off(long, "the call outliving the grace period", timeout=30)
        b2.kill()
        t.check_sanitizer_reports(b2)


if __name__ == "__main__":
    harness.run(main)
