#!/usr/bin/python3
"""Native remotes multiplexed on long-lived junction.v1.Engine/InferStream streams (issue #24), between junctions:

- the remote side: on one InferStream, requests are answered as they finish (out of order), each with its id; a
  message with `cancel` and a running request's id ends that request only (CANCELLED, long before its burn_ms); a
  request's own `timeout_us` ends it with DEADLINE_EXCEEDED;
- 1,000 interleaved calls through a broker with one pump and `streams` 1 (so one stream) come back to their own callers (output =
  input, id = id), and the remote saw exactly one new InferStream for them;
- KServe v2 remotes that serve ModelStreamInfer (a junction) get their calls as messages on it, matched by the
  request id; a remote error arrives as UNKNOWN with the remote's message (v2 stream answers carry no code);
- a remote with dynamic_batching in its options: the batcher's blocking calls go on a stream of the multiplexer's
  own thread (64 callers, fewer remote calls, one new stream);
- a caller whose call ends (its deadline, or it cancels) cancels only its message on the remote: the remote's burn
  stops early (its failure counter moves long before burn_ms), the calls beside it succeed;
- a remote killed (-9) with messages in flight fails exactly those calls (UNAVAILABLE naming the engine), the calls
  already answered stay answered; restarted on its port, calls succeed again;
- a half-open stream (the remote SIGSTOPped) is found by the messages' deadlines (DEADLINE_EXCEEDED); after SIGCONT
  the endpoint recovers on a new stream.

usage: /usr/bin/python3 tests/e2e/test_remote_mux.py /path/to/junction
"""
import json
import os
import signal
import sys
import threading
import time
import urllib.request

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import grpc  # noqa: E402
import numpy as np  # noqa: E402

import harness  # noqa: E402
import remote_util as ru  # noqa: E402
from harness import pb, infer_request, output_array  # noqa: E402

SC = grpc.StatusCode
FAST = dict(health_interval_ms=150, health_timeout_ms=500, breaker_cooldown_ms=300, backoff_ms=20,
            max_queue=1024)
ENGINE = "junction.v1.Engine"


def metrics(srv):
    with urllib.request.urlopen("http://%s/metrics" % srv.http_address, timeout=30) as r:
        return r.read().decode()


def series_sum(text, name, **labels):
    """Sum of the samples of `name` whose labels include `labels`."""
    total = 0.0
    for line in text.splitlines():
        if not line.startswith(name + "{"):
            continue
        if all('%s="%s"' % kv in line for kv in labels.items()):
            total += float(line.rsplit(" ", 1)[1])
    return total


def burn_count(srv, outcome):
    return series_sum(metrics(srv), "junction_requests_total", model="burn", outcome=outcome)


def streams_opened(srv):
    return series_sum(metrics(srv), "junction_streams_total", protocol=ENGINE)


def proc_state(srv):
    with open("/proc/%d/stat" % srv.proc.pid) as f:
        return f.read().rsplit(")", 1)[1].split()[0]


def stream_request(model, x, id, **params):
    r = infer_request(model, x, id=id, params=params or None)
    return r


def main(t):
    try:
        run(t)
    finally:
        ru.kill_helpers(t)


def remote_side(t, far):
    eng = pb.engine_grpc.EngineStub(far.channel())
    with t.case("the remote answers one stream's requests as they finish, each with its id"):
        q = harness.RequestQueue()
        n = 120
        for i in range(n):  # later requests burn less: they finish first
            q.put(stream_request("burn", np.full((1, 2), i, np.float32), "r%d" % i, burn_ms=float((n - i) % 12 * 3),
                                 burn_mode="sleep"))
        q.close()
        got = t.call("InferStream of %d burn requests" % n, lambda timeout: list(eng.InferStream(q, timeout=timeout)))
        if got is not None:
            ids = [r.id for r in got]
            t.eq(sorted(ids), sorted("r%d" % i for i in range(n)), "one answer per request id")
            t.check(all(not r.HasField("error") and
                        np.array_equal(output_array(r, "output"), np.full((1, 2), int(r.id[1:]), np.float32))
                        for r in got), "each answer carries its own request's output")
            t.check(ids != ["r%d" % i for i in range(n)], "answered out of order (as they finished)", str(ids[:20]))

    with t.case("a cancel message ends only the request it names"):
        q = harness.RequestQueue()
        q.put(stream_request("burn", np.ones((1, 1), np.float32), "long", burn_ms=20000.0, burn_mode="sleep"))
        for i in range(4):
            q.put(stream_request("burn", np.ones((1, 1), np.float32), "short%d" % i, burn_ms=300.0,
                                 burn_mode="sleep"))
        answers = eng.InferStream(q, timeout=60)
        time.sleep(0.1)
        q.put(pb.broker.InferRequest(id="long", cancel=True))
        got = {}
        try:
            for r in answers:
                got[r.id] = r
                if len(got) == 5:
                    break
        except grpc.RpcError as e:
            t.fail("the stream stays up", harness.describe_rpc_error(e))
        q.close()
        t.eq(sorted(got), sorted(["long"] + ["short%d" % i for i in range(4)]), "five answers, no more")
        if "long" in got:
            t.check(got["long"].error.code == SC.CANCELLED.value[0] and "cancel" in got["long"].error.message,
                    "the named request ends CANCELLED (20 s of burn_ms cut short)", str(got["long"].error))
        t.check(all(not got[k].HasField("error") for k in got if k != "long"), "the others finish right")

    with t.case("a request's timeout_us ends it with DEADLINE_EXCEEDED"):
        q = harness.RequestQueue()
        r = stream_request("burn", np.ones((1, 1), np.float32), "t1", burn_ms=20000.0, burn_mode="sleep")
        r.timeout_us = 200000
        q.put(r)
        q.put(stream_request("identity", np.ones((1, 1), np.float32), "t2"))
        q.close()
        got = t.call("InferStream with timeout_us", lambda timeout: {a.id: a for a in eng.InferStream(q, timeout=timeout)})
        if got:
            t.check("t1" in got and got["t1"].error.code == SC.DEADLINE_EXCEEDED.value[0],
                    "t1 DEADLINE_EXCEEDED", str(got.get("t1")))
            t.check("t2" in got and not got["t2"].HasField("error"), "t2 answered")


def interleaved(t, far, near1):
    broker, admin = near1.broker(), near1.admin()
    with t.case("1,000 interleaved calls on one stream come back to their callers"):
        t.call("RegisterEngine mux-identity", ru.register, admin, "mux-identity", far.address, protocol="NATIVE",
               model="identity", streams=1, **FAST)
        before = streams_opened(far)
        n = 1000
        futs = []
        for i in range(n):
            x = np.array([[i, -i, i + 0.5]], np.float32)
            futs.append((i, x, broker.Infer.future(infer_request("mux-identity", x, id="c%d" % i), timeout=60)))
        ok = wrong = 0
        errors = []
        for i, x, f in futs:
            try:
                r = f.result()
                if r.id == "c%d" % i and np.array_equal(output_array(r, "output"), x):
                    ok += 1
                else:
                    wrong += 1
            except grpc.RpcError as e:
                errors.append(harness.describe_rpc_error(e))
        t.eq((ok, wrong, len(errors)), (n, 0, 0), "every caller got its own answer (ok, wrong, failed)")
        if errors:
            t.fail("no errors", errors[0])
        t.eq(streams_opened(far) - before, 1.0, "the remote saw one new InferStream for them all")


def kserve(t, far, near1):
    broker, admin = near1.broker(), near1.admin()
    with t.case("KServe v2 remotes that serve ModelStreamInfer get their calls as messages on it"):
        t.call("RegisterEngine v2-identity", ru.register, admin, "v2-identity", far.address, protocol="KSERVE_V2",
               model="identity", **FAST)
        before = series_sum(metrics(far), "junction_streams_total", protocol="inference.v2")
        n = 300
        futs = [(i, np.array([[i, 2 * i]], np.float32)) for i in range(n)]
        futs = [(i, x, broker.Infer.future(infer_request("v2-identity", x, id="k%d" % i), timeout=60))
                for i, x in futs]
        ok = 0
        for i, x, f in futs:
            try:
                r = f.result()
                ok += int(r.id == "k%d" % i and np.array_equal(output_array(r, "output"), x))
            except grpc.RpcError as e:
                t.fail("v2-identity call", harness.describe_rpc_error(e))
                break
        t.eq(ok, n, "every caller got its own answer")
        opened = series_sum(metrics(far), "junction_streams_total", protocol="inference.v2") - before
        t.check(1 <= opened <= 4, "on ModelStreamInfer streams of the remote (1..2 per pump)", "opened %g" % opened)
        t.call("RegisterEngine v2-burn", ru.register, admin, "v2-burn", far.address, protocol="KSERVE_V2",
               model="burn", **FAST)
        t.expect_error("a remote error through the stream keeps its message", broker.Infer, SC.UNKNOWN,
                       "v2-burn", "parameter 'burn_mode'",
                       args=(infer_request("v2-burn", np.ones((1, 1), np.float32), params={"burn_mode": "bogus"}),))


def batched(t, far, near):
    broker, admin = near.broker(), near.admin()
    with t.case("a batched remote (dynamic_batching): its instance threads' blocking calls go on a stream too"):
        before = streams_opened(far)
        ok0 = series_sum(metrics(far), "junction_requests_total", model="identity", outcome="success")
        t.call("RegisterEngine b-identity", ru.register, admin, "b-identity", far.address, protocol="NATIVE",
               model="identity", dynamic_batching=json.dumps({"max_batch_size": 16, "max_queue_delay_us": 20000}),
               **FAST)
        xs = [np.full((1, 4), i, np.float32) for i in range(64)]
        futs = [broker.Infer.future(infer_request("b-identity", x), timeout=60) for x in xs]
        good = 0
        for x, f in zip(xs, futs):
            try:
                good += int(np.array_equal(output_array(f.result(), "output"), x))
            except grpc.RpcError as e:
                t.fail("b-identity call", harness.describe_rpc_error(e))
                break
        t.eq(good, 64, "64 callers, each its own rows back")
        calls = series_sum(metrics(far), "junction_requests_total", model="identity", outcome="success") - ok0
        t.check(1 <= calls < 64, "in fewer remote calls than callers", "remote calls %g" % calls)
        # One stream carries them; a second is allowed because under a loaded sanitizer run a message can wait past
        # the half-open threshold, the stream is judged half-open and re-opened (seen once in CI under ASan).
        opened = streams_opened(far) - before
        t.check(1 <= opened <= 2, "on a stream of the multiplexer's own (re-opened at most once)", "opened %g" % opened)


def cancellation(t, far, near):
    broker, admin = near.broker(), near.admin()
    with t.case("a call that ends cancels only its message on the remote"):
        t.call("RegisterEngine mux-burn", ru.register, admin, "mux-burn", far.address, protocol="NATIVE",
               model="burn", **FAST)
        fail0, ok0 = burn_count(far, "failure"), burn_count(far, "success")
        x = np.ones((1, 1), np.float32)
        long_req = infer_request("mux-burn", x, params={"burn_mode": "sleep", "burn_ms": 20000.0})
        short = [broker.Infer.future(infer_request("mux-burn", x, params={"burn_mode": "sleep", "burn_ms": 800.0}),
                                     timeout=60) for _ in range(4)]
        by_deadline = broker.Infer.future(long_req, timeout=0.5)
        by_cancel = broker.Infer.future(long_req, timeout=60)
        time.sleep(0.4)
        by_cancel.cancel()
        try:
            by_deadline.result()
            t.fail("the call with a 0.5 s deadline fails", "it succeeded")
        except grpc.RpcError as e:
            t.check(e.code() == SC.DEADLINE_EXCEEDED, "the call with a 0.5 s deadline: DEADLINE_EXCEEDED",
                    harness.describe_rpc_error(e))
        t.check(by_cancel.cancelled(), "the caller's cancelled call is cancelled")
        oks = 0
        for f in short:
            try:
                f.result()
                oks += 1
            except grpc.RpcError as e:
                t.fail("a short call beside them succeeds", harness.describe_rpc_error(e))
        t.eq(oks, 4, "the four calls beside them succeed")
        # The remote's two 20 s burns end long before 20 s, as failures (cancelled / deadline), the four as successes.
        t.check(ru.wait_for(lambda: burn_count(far, "failure") - fail0 >= 2, 10),
                "on the remote both long burns stopped early (failure count +2 within 10 s of a 20 s burn)",
                "failures +%g" % (burn_count(far, "failure") - fail0))
        t.eq(burn_count(far, "success") - ok0, 4.0, "on the remote the four short burns succeeded")
        t.call("UnregisterEngine mux-burn", admin.UnregisterEngine, pb.admin.UnregisterEngineRequest(name="mux-burn"))


def killed(t, near):
    broker, admin = near.broker(), near.admin()
    port = ru.free_port()
    far = t.start_server(["--grpc-port", str(port), "--http-port", "any", "--workers", "8"], probe=False)
    with t.case("a remote killed with messages in flight fails exactly those"):
        for name, model in (("k-identity", "identity"), ("k-burn", "burn")):
            # timeout_ms: the deadline of calls that come without one (the half-open case below)
            t.call("RegisterEngine %s" % name, ru.register, admin, name, far.address, protocol="NATIVE", model=model,
                   timeout_ms=1000, **FAST)
        x = np.ones((2, 2), np.float32)
        answered = [broker.Infer.future(infer_request("k-identity", x * i), timeout=30) for i in range(50)]
        results = []
        for f in answered:
            try:
                results.append(f.result())
            except grpc.RpcError as e:
                t.fail("calls before the kill succeed", harness.describe_rpc_error(e))
        t.eq(len(results), 50, "50 calls answered before the kill")
        inflight = [broker.Infer.future(infer_request("k-burn", x, params={"burn_mode": "sleep",
                                                                            "burn_ms": 30000.0}), timeout=60)
                    for _ in range(6)]
        t.check(ru.wait_for(lambda: series_sum(metrics(far), "junction_requests_in_flight", model="burn") >= 6, 10),
                "six burn calls running on the remote")
        far.proc.send_signal(signal.SIGKILL)
        far.proc.wait(timeout=30)
        codes = []
        for f in inflight:
            try:
                f.result()
                codes.append("OK")
            except grpc.RpcError as e:
                codes.append(e.code().name)
                if e.code() == SC.UNAVAILABLE:
                    t.check("k-burn" in e.details(), "the error names the engine", e.details())
        t.eq(codes, ["UNAVAILABLE"] * 6, "the six in flight fail UNAVAILABLE")
        t.check(all(np.array_equal(output_array(r, "output"), x * i) for i, r in enumerate(results)),
                "the answered ones stay answered (right outputs)")
        t.call("identity on the broker itself", broker.Infer, infer_request("identity", x))
    with t.case("restarted on its port, the remote answers again"):
        far.kill()
        far2 = t.start_server(["--grpc-port", str(port), "--http-port", "any"], probe=False)

        def answers():
            try:
                return np.array_equal(output_array(broker.Infer(infer_request("k-identity", x), timeout=5), "output"),
                                      x)
            except grpc.RpcError:
                return False
        t.check(ru.wait_for(answers, 20, step=0.1), "k-identity answers again")
        t.check(streams_opened(far2) >= 1, "on a new stream")
    return far2, port


def half_open(t, near, far):
    broker = near.broker()
    x = np.ones((1, 3), np.float32)
    with t.case("a half-open stream (remote SIGSTOPped) is found by deadline; the endpoint recovers after SIGCONT"):
        t.call("k-identity before", broker.Infer, infer_request("k-identity", x))
        opened = streams_opened(far)
        far.proc.send_signal(signal.SIGSTOP)
        t.check(ru.wait_for(lambda: proc_state(far) == "T", 10), "the remote is stopped")
        try:
            codes = []
            for _ in range(3):
                try:  # no deadline of the caller's (its own would cancel the call first): the engine's timeout_ms
                    broker.Infer(infer_request("k-identity", x), timeout=None)
                    codes.append("OK")
                except grpc.RpcError as e:
                    codes.append(e.code().name)
            t.check(codes[0] == "DEADLINE_EXCEEDED" and "OK" not in codes,
                    "calls to the stopped remote fail DEADLINE_EXCEEDED (then fast)", str(codes))
            # stopped long enough for the stream's probe (sent when the first message expired) to go unanswered:
            # the stream is then given up (resumed earlier, the same stream simply carries on)
            time.sleep(2.0)
        finally:
            far.proc.send_signal(signal.SIGCONT)

        def answers():
            try:
                r = broker.Infer(infer_request("k-identity", x), timeout=5)
                return np.array_equal(output_array(r, "output"), x)
            except grpc.RpcError:
                return False
        t.check(ru.wait_for(answers, 20, step=0.1), "after SIGCONT k-identity answers again")
        # (calls go unary while a new stream waits out its backoff: keep calling until one is open)
        t.check(ru.wait_for(lambda: answers() and streams_opened(far) > opened, 10, step=0.1),
                "on a new stream (the half-open one was given up)",
                "streams opened %g -> %g" % (opened, streams_opened(far)))


def run(t):
    far = t.start_server(["--http-port", "any", "--workers", "8"], probe=False)
    near1 = t.start_server(["--threads", "1"], probe=False)
    near = t.start_server()
    remote_side(t, far)
    interleaved(t, far, near1)
    kserve(t, far, near1)
    batched(t, far, near)
    cancellation(t, far, near)
    far2, _ = killed(t, near)
    half_open(t, near, far2)
    t.still_serving("multiplexed remotes")
    t.stop_server(near1)


if __name__ == "__main__":
    harness.run(main)
