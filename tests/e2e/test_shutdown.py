#!/usr/bin/python3
"""Graceful shutdown end to end.

1. 8 burn calls (sleep 1500 ms) in flight on separate threads, then SIGTERM: a Watch gets NOT_SERVING, new calls
   fail (UNAVAILABLE: refused), all 8 in-flight calls complete OK with the right outputs, and the process exits with
   status 0 (an ASan leak report at exit makes the status non-zero and fails this test) within the grace period.
2. SIGINT on an idle server: exit status 0.
3. A call that outlives --grace-ms: the server still exits with status 0 and the call ends with an error.
4. SIGTERM while 64 InferStreams are busy (each sending burn requests one after another): every request whose answer
   the stream delivered is right (or, read after the stream began closing, refused in-stream with UNAVAILABLE),
   every stream ends with OK or a clear UNAVAILABLE (no hang, no other status), a new stream is refused, and the
   server exits 0 within the grace period.

usage: /usr/bin/python3 tests/e2e/test_shutdown.py /path/to/junction
"""
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
from harness import pb, infer_request, output_array  # noqa: E402

N_CALLS = 8
BURN = {"burn_ms": 1500, "burn_mode": "sleep"}
GRACE_MS = 10000
# Margin on top of the grace period for process teardown (an ASan build runs its leak check at exit).
EXIT_MARGIN_S = 10.0


def main(t):
    HC = pb.health.HealthCheckResponse

    with t.case("SIGTERM with 8 calls in flight"):
        srv = t.start_server(["--workers", str(N_CALLS), "--grace-ms", str(GRACE_MS)], probe=False)
        ch = srv.channel()
        grpc.channel_ready_future(ch).result(timeout=harness.RPC_TIMEOUT)
        stub = srv.broker(ch)
        health = srv.health(ch)
        watch = health.Watch(pb.health.HealthCheckRequest(service=""), timeout=120)
        kind, m = harness.next_or_none(watch, harness.RPC_TIMEOUT)
        t.check(kind == "msg" and m.status == HC.SERVING, "Watch('') starts SERVING", "%s %s" % (kind, m))

        inputs = [np.full((2, 3), i, dtype=np.float32) + np.arange(6, dtype=np.float32).reshape(2, 3)
                  for i in range(N_CALLS)]
        results = [None] * N_CALLS

        def run(i):
            try:
                results[i] = ("ok", stub.Infer(infer_request("burn", inputs[i], id="c%d" % i, params=BURN),
                                               timeout=120))
            except grpc.RpcError as e:
                results[i] = ("error", e)
            except Exception as e:  # pragma: no cover
                results[i] = ("exception", e)

        threads = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(N_CALLS)]
        for th in threads:
            th.start()
        time.sleep(0.4)  # let the 8 calls reach the server (setup only; the burn lasts 1.5 s)
        t0 = time.monotonic()
        srv.signal(signal.SIGTERM)

        kind, m = harness.next_or_none(watch, 60)
        t.check(kind == "msg" and m.status == HC.NOT_SERVING, "Watch('') receives NOT_SERVING after SIGTERM",
                "%s %s" % (kind, m))
        # NOT_SERVING may be published just before the listener closes; give the server a moment (setup only).
        time.sleep(0.2)
        t.check(srv.running(), "server still running while the calls are in flight",
                "exited with %s" % srv.proc.poll())
        fresh = srv.channel()
        x = np.ones((1, 1), dtype=np.float32)
        for what, st in (("a new channel", srv.broker(fresh)), ("the existing channel", stub)):
            try:
                r = st.Infer(infer_request("identity", x, id="late"), timeout=20)
                t.fail("new call on %s after SIGTERM fails" % what, "succeeded: %s" % harness._short(r))
            except grpc.RpcError as e:
                t.check_rpc_error(e, grpc.StatusCode.UNAVAILABLE, "new call on %s after SIGTERM -> UNAVAILABLE"
                                  % what)

        for th in threads:
            th.join(timeout=60)
        for i, res in enumerate(results):
            what = "in-flight call %d" % i
            if res is None:
                t.fail(what + " completes", "still running")
            elif res[0] != "ok":
                t.fail(what + " completes OK", harness.describe_rpc_error(res[1]) if res[0] == "error" else res[1])
            else:
                r = res[1]
                out = output_array(r, "output")
                t.check(r.id == "c%d" % i and out is not None and np.array_equal(out, inputs[i]),
                        what + " completes OK with its own output", harness._short(r))

        rc = srv.wait(GRACE_MS / 1000.0 + EXIT_MARGIN_S + 60)
        elapsed = time.monotonic() - t0
        t.check(rc == 0, "exit status 0 after SIGTERM", "status %s\n%s" % (rc, srv.stderr_tail()))
        t.check(rc is not None and elapsed <= GRACE_MS / 1000.0 + EXIT_MARGIN_S,
                "exits within the grace period (%d ms)" % GRACE_MS, "took %.1f s" % elapsed)
        kind, m = harness.next_or_none(watch, 30)
        t.check(kind in ("end", "error"), "Watch ends once the server is gone", "%s %s" % (kind, m))
        t.eq(len(srv.stdout_lines), 1, "exactly one stdout line")
        srv.kill()
        t.check_sanitizer_reports(srv)

    with t.case("SIGINT on an idle server"):
        srv = t.start_server(["--grace-ms", "2000"], probe=False)
        st = srv.broker()
        r = t.call("identity before SIGINT", st.Infer, infer_request("identity", np.ones((1, 2), np.float32)))
        t.check(r is not None, "server answers before SIGINT")
        t.stop_server(srv, signal.SIGINT)

    with t.case("a call outliving --grace-ms"):
        srv = t.start_server(["--grace-ms", "500", "--workers", "2"], probe=False)
        ch = srv.channel()
        grpc.channel_ready_future(ch).result(timeout=harness.RPC_TIMEOUT)
        st = srv.broker(ch)
        fut = st.Infer.future(infer_request("burn", np.ones((1, 2), np.float32),
                                            params={"burn_ms": 60000, "burn_mode": "sleep"}), timeout=120)
        time.sleep(0.4)  # let it reach the server (setup only)
        srv.signal(signal.SIGTERM)
        rc = srv.wait(60)
        t.check(rc == 0, "server exits with status 0 once the grace period is over",
                "status %s (a 60 s call was in flight)\n%s" % (rc, srv.stderr_tail()))
        t.check_cut_off(fut, "the call cut off by the grace period")
        srv.kill()
        t.check_sanitizer_reports(srv)

    with t.case("SIGTERM while 64 streams are busy"):
        busy_streams(t)


def busy_streams(t):
    n_streams, per_stream = 64, 40
    srv = t.start_server(["--workers", "4", "--grace-ms", str(GRACE_MS)], probe=False)
    channels = [srv.channel() for _ in range(4)]
    for ch in channels:
        grpc.channel_ready_future(ch).result(timeout=harness.RPC_TIMEOUT)
    outcome = [None] * n_streams
    sent = [0] * n_streams
    refused = [0] * n_streams
    started = threading.Barrier(n_streams + 1)

    def one_stream(k):
        stub = srv.broker(channels[k % len(channels)])
        x = np.full((1, 3), k, dtype=np.float32)
        q = harness.RequestQueue()
        answers, bad = 0, []
        try:
            it = stub.InferStream(iter(q), timeout=120)
            started.wait(30)
            for i in range(per_stream):
                q.put(infer_request("burn", x, id="%d-%d" % (k, i), params={"burn_ms": 20, "burn_mode": "sleep"}))
                sent[k] += 1
                m = next(it)
                if m.HasField("error") and m.error.code == grpc.StatusCode.UNAVAILABLE.value[0] and \
                        "shutting down" in m.error.message and m.id == "%d-%d" % (k, i):
                    refused[k] += 1  # read after the stream began closing: refused in-stream, as documented
                    continue
                out = output_array(m, "output")
                if m.id != "%d-%d" % (k, i) or out is None or not np.array_equal(out, x):
                    bad.append(harness._short(m))
                answers += 1
            q.close()
            for _ in it:
                pass
            outcome[k] = ("ok", answers, bad)
        except StopIteration:
            outcome[k] = ("ended", answers, bad)
        except grpc.RpcError as e:
            outcome[k] = (e.code().name, answers, bad, e.details())
        except threading.BrokenBarrierError:
            outcome[k] = ("barrier", answers, bad)
        finally:
            q.close()

    threads = [threading.Thread(target=one_stream, args=(k,), daemon=True) for k in range(n_streams)]
    for th in threads:
        th.start()
    started.wait(60)
    time.sleep(0.3)  # every stream busy: requests in flight on all of them (setup only)
    t0 = time.monotonic()
    srv.signal(signal.SIGTERM)
    time.sleep(0.2)
    try:
        list(srv.broker(srv.channel()).InferStream(iter([infer_request("identity", np.ones((1, 1), np.float32))]),
                                                   timeout=10))
        t.fail("a new stream after SIGTERM is refused", "it was served")
    except grpc.RpcError as e:
        t.check(e.code() == grpc.StatusCode.UNAVAILABLE, "a new stream after SIGTERM is refused (UNAVAILABLE)",
                e.code().name)
    for th in threads:
        th.join(timeout=GRACE_MS / 1000.0 + 60)
    hung = [k for k, o in enumerate(outcome) if o is None]
    t.check(not hung, "no stream hangs: all 64 end", "still open: %r" % hung[:10])
    statuses = {}
    for o in outcome:
        if o is not None:
            statuses[o[0]] = statuses.get(o[0], 0) + 1
    t.check(set(statuses) <= {"ok", "ended", "UNAVAILABLE"}, "every stream ends OK or with UNAVAILABLE", statuses)
    wrong = [b for o in outcome if o for b in o[2]]
    t.check(not wrong, "every answer delivered is the right one for its request", wrong[:3])
    answered = sum(o[1] for o in outcome if o)
    print("     (%d answers before the streams closed, %d requests refused in-stream; stream endings: %r)"
          % (answered, sum(refused), statuses), flush=True)
    t.check(answered >= n_streams, "the requests in flight at SIGTERM were answered", answered)
    rc = srv.wait(GRACE_MS / 1000.0 + EXIT_MARGIN_S + 60)
    elapsed = time.monotonic() - t0
    t.check(rc == 0, "exit status 0 after SIGTERM under load", "status %s\n%s" % (rc, srv.stderr_tail()))
    t.check(rc is not None and elapsed <= GRACE_MS / 1000.0 + EXIT_MARGIN_S,
            "exits within the grace period under load", "took %.1f s" % elapsed)
    srv.kill()
    t.check_sanitizer_reports(srv)


if __name__ == "__main__":
    harness.run(main)
