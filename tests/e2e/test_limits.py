#!/usr/bin/python3
"""Load shedding end to end: a flood beyond the worker queue is refused at once, not queued without end.

- `--workers 1 --max-model-queue 2 --max-queue 8`: 12 concurrent slow `burn` calls: the ones beyond the model's queue
  get RESOURCE_EXHAUSTED naming the model and the limit, within a moment (not after the others' burn time); the admitted
  ones all succeed, and the slowest admitted one waits at most (queue + 1) burns; inline `identity` calls succeed
  throughout; another model (a pipeline with a burn step) is still admitted while burn's queue is full;
- `--max-queue 1` over HTTP: concurrent POST infer on `burn` beyond it -> 429 with the same kind of message, the
  admitted ones 200;
- `--max-inflight 3`: of 8 concurrent slow calls, 3 run and 5 are refused at once naming the limit;
- `--max-streams-per-connection 2`: a third InferStream on the same connection is not served while two are open, and
  is served as soon as one of them closes.

usage: /usr/bin/python3 tests/e2e/test_limits.py /path/to/junction
"""
import concurrent.futures
import json
import os
import queue
import sys
import threading
import time
import urllib.error
import urllib.request

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import grpc  # noqa: E402
import numpy as np  # noqa: E402

import harness  # noqa: E402
from harness import infer_request, output_array  # noqa: E402

BURN_MS = 400
SLOW_PIPELINE = {
    "name": "slow-pipe",
    "inputs": [{"name": "x", "kind": "TENSOR", "datatype": "FP32", "shape": [-1, -1]}],
    "steps": [{"id": "b", "model": "burn", "inputs": {"input": "x"}}],
    "outputs": [{"name": "y", "from": "b.output"}],
}


def grpc_flood(t):
    pdir = os.path.join(t.workdir, "pipes")
    os.makedirs(pdir, exist_ok=True)
    with open(os.path.join(pdir, "slow.json"), "w") as f:
        json.dump(SLOW_PIPELINE, f)
    srv = t.start_server(["--workers", "1", "--max-model-queue", "2", "--max-queue", "8", "--pipelines", pdir])
    ch = srv.channel()
    grpc.channel_ready_future(ch).result(timeout=harness.RPC_TIMEOUT)
    stub = srv.broker(ch)
    x = np.ones((1, 3), dtype=np.float32)
    params = {"burn_ms": BURN_MS, "burn_mode": "sleep"}

    def one(i):
        t0 = time.monotonic()
        try:
            r = stub.Infer(infer_request("burn", x, id=str(i), params=params), timeout=60)
            return ("ok", time.monotonic() - t0, r)
        except grpc.RpcError as e:
            return (e.code().name, time.monotonic() - t0, e.details())

    with t.case("a flood of slow calls beyond the model's queue"):
        with concurrent.futures.ThreadPoolExecutor(13) as ex:
            futs = [ex.submit(one, i) for i in range(12)]
            time.sleep(0.1)
            # While burn's queue is full: inline identity answers, and another model is still admitted.
            r = t.call("identity during the flood", stub.Infer, infer_request("identity", x))
            t.check(r is not None and np.array_equal(output_array(r, "output"), x), "identity answers during the flood")
            other = ex.submit(lambda: stub.Infer(infer_request("slow-pipe", x, input_name="x", params=params),
                                                 timeout=60))
            res = [f.result(timeout=120) for f in futs]
            try:
                o = other.result(timeout=120)
                t.check(np.array_equal(output_array(o, "y"), x),
                        "another model (slow-pipe) is admitted while burn's queue is full, and answers")
            except grpc.RpcError as e:
                t.fail("another model (slow-pipe) is admitted while burn's queue is full",
                       harness.describe_rpc_error(e))
        ok = [r for r in res if r[0] == "ok"]
        refused = [r for r in res if r[0] == "RESOURCE_EXHAUSTED"]
        odd = [r for r in res if r[0] not in ("ok", "RESOURCE_EXHAUSTED")]
        print("     (%d admitted, %d refused; slowest admitted %.2f s, slowest refusal %.3f s)"
              % (len(ok), len(refused), max(r[1] for r in ok) if ok else -1,
                 max(r[1] for r in refused) if refused else -1), flush=True)
        t.check(not odd, "every call is answered or refused with RESOURCE_EXHAUSTED", odd[:3])
        t.check(len(refused) >= 6, "the calls beyond the queue are refused", "%d refused" % len(refused))
        t.check(all("model 'burn' is busy" in r[2] and "--max-model-queue 2" in r[2] for r in refused),
                "each refusal names the model and the limit", refused[:1])
        t.check(refused and max(r[1] for r in refused) < BURN_MS / 1000.0,
                "refusals come at once (before a single burn could end)", [round(r[1], 3) for r in refused])
        t.check(ok and all(np.array_equal(output_array(r[2], "output"), x) for r in ok), "every admitted call is right")
        bound = (2 + 1 + 1) * BURN_MS / 1000.0 + 1.0  # running + queue + the one admitted as another finished
        t.check(ok and max(r[1] for r in ok) <= bound, "admitted calls wait at most about (queue + 1) burns",
                "slowest %.2f s, bound %.2f s" % (max(r[1] for r in ok), bound))
    t.stop_server(srv)


def http_flood(t):
    srv = t.start_server(["--workers", "1", "--max-queue", "1", "--http-port", "any"], probe=False)
    body = json.dumps({"inputs": [{"name": "input", "datatype": "FP32", "shape": [1, 1], "data": [1]}],
                       "parameters": {"burn_ms": BURN_MS, "burn_mode": "sleep"}}).encode()

    def post(i):
        req = urllib.request.Request("http://%s/v2/models/burn/infer" % srv.http_address, data=body,
                                     headers={"Content-Type": "application/json"})
        t0 = time.monotonic()
        try:
            with urllib.request.urlopen(req, timeout=60) as r:
                return (r.status, time.monotonic() - t0, r.read().decode())
        except urllib.error.HTTPError as e:
            return (e.code, time.monotonic() - t0, e.read().decode())

    with t.case("HTTP: beyond --max-queue -> 429"):
        with concurrent.futures.ThreadPoolExecutor(8) as ex:
            res = list(ex.map(post, range(8)))
        codes = sorted(r[0] for r in res)
        print("     (HTTP answers: %r)" % codes, flush=True)
        t.check(set(codes) <= {200, 429} and 429 in codes and 200 in codes, "some 200, the rest 429", codes)
        t.check(all("--max-queue 1" in r[2] for r in res if r[0] == 429), "a 429 names the limit",
                [r[2] for r in res if r[0] == 429][:1])
    t.stop_server(srv)
    srv = t.start_server(["--workers", "1", "--max-model-queue", "1", "--http-port", "any"], probe=False)
    with t.case("HTTP: beyond --max-model-queue -> 429 naming the model"):
        with concurrent.futures.ThreadPoolExecutor(6) as ex:
            res = list(ex.map(post, range(6)))
        codes = sorted(r[0] for r in res)
        t.check(set(codes) <= {200, 429} and 429 in codes and 200 in codes, "some 200, the rest 429", codes)
        t.check(all("model 'burn' is busy" in r[2] and "--max-model-queue 1" in r[2] for r in res if r[0] == 429),
                "a 429 names the model and the per-model limit", [r[2] for r in res if r[0] == 429][:1])
    t.stop_server(srv)


def streams_per_connection(t):
    srv = t.start_server(["--max-streams-per-connection", "2"], probe=False)
    ch = srv.channel()
    grpc.channel_ready_future(ch).result(timeout=harness.RPC_TIMEOUT)
    stub = srv.broker(ch)
    x = np.ones((1, 2), dtype=np.float32)
    with t.case("streams per connection"):
        queues = [harness.RequestQueue() for _ in range(3)]
        calls = [stub.InferStream(iter(q), timeout=60) for q in queues[:2]]
        for k in range(2):
            queues[k].put(infer_request("identity", x, id="s%d" % k))
            m = next(calls[k])
            t.check(m.id == "s%d" % k, "stream %d of 2 is served" % (k + 1))
        third = stub.InferStream(iter(queues[2]), timeout=60)
        queues[2].put(infer_request("identity", x, id="s2"))
        got = queue.Queue()
        reader = threading.Thread(target=lambda: got.put(next(third, None)), daemon=True)
        reader.start()  # one reader for the third stream: a gRPC stream takes one read at a time
        try:
            early = got.get(timeout=1.5)
        except queue.Empty:
            early = None
        t.check(early is None, "a third stream on the same connection waits while two are open", harness._short(early))
        queues[0].close()
        for _ in calls[0]:
            pass
        try:
            m = early or got.get(timeout=10)
        except queue.Empty:
            m = None
        t.check(m is not None and m.id == "s2", "the third stream is served once one of the two closes",
                harness._short(m))
        for q in queues[1:]:
            q.close()
        for c in (calls[1], third):
            for _ in c:
                pass
    t.stop_server(srv)


def inflight(t):
    srv = t.start_server(["--workers", "1", "--max-inflight", "3"], probe=False)
    ch = srv.channel()
    grpc.channel_ready_future(ch).result(timeout=harness.RPC_TIMEOUT)
    stub = srv.broker(ch)
    x = np.ones((1, 2), dtype=np.float32)

    def one(i):
        try:
            stub.Infer(infer_request("burn", x, params={"burn_ms": BURN_MS, "burn_mode": "sleep"}), timeout=60)
            return ("ok", "")
        except grpc.RpcError as e:
            return (e.code().name, e.details())

    with t.case("--max-inflight"):
        with concurrent.futures.ThreadPoolExecutor(8) as ex:
            res = list(ex.map(one, range(8)))
        codes = sorted(r[0] for r in res)
        t.check(codes.count("ok") == 3 and codes.count("RESOURCE_EXHAUSTED") == 5,
                "3 requests in progress at once, the other 5 refused", codes)
        t.check(all("--max-inflight 3" in r[1] for r in res if r[0] != "ok"), "each refusal names the limit",
                [r[1] for r in res if r[0] != "ok"][:1])
        r = t.call("a request after the flood", stub.Infer, infer_request("identity", x))
        t.check(r is not None, "once they are answered, requests are admitted again")
    t.stop_server(srv)


def main(t):
    grpc_flood(t)
    inflight(t)
    http_flood(t)
    streams_per_connection(t)


if __name__ == "__main__":
    harness.run(main)
