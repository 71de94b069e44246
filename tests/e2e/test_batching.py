#!/usr/bin/env python3
"""Dynamic batching, instances and the response cache (issue #16) on a real junction, through real clients.

- Batching: 64 concurrent callers, each with its own rows, through every door (junction.v1 Infer / InferStream, v2
  ModelInfer / ModelStreamInfer, v2 REST, simple JSON: the door functions of test_doors.py) and through a pipeline
  step: every caller gets exactly its rows, bit-exact against its batch-1 answer (identity and an elementwise ONNX
  model; an ONNX MLP is compared within 1e-5, because its kernels sum in another order at other batch sizes); the
  statistics extension shows executions of more than one row; requests of different shapes beyond dim 0 are never
  merged (each gets its own shape back).
- The model's queue (burn, instances 1, max_batch_size 1, so one call runs at a time): a caller whose queue timeout
  (`timeout` parameter) passes gets DEADLINE_EXCEEDED and the others are answered; priorities are served in order;
  a full queue refuses at once with RESOURCE_EXHAUSTED (429 on REST); timeout_action "delay" keeps waiting; a
  cancelled queued call is removed (its place is free again and it never runs).
- Instances: with `instances: 1` on a slow model, another model's calls are answered while the slow ones wait.
- Cache: a hit equals the miss bit for bit and counts as a hit; with every hash forced alike
  (JUNCTION_TEST_CACHE_COLLIDE=1) each of many distinct requests gets its own answer; a model replaced by LoadModel
  never answers from the old cache; 100k distinct requests keep the cache within --cache-mb.
- Bad configs: a precise error naming the field, at start (--model-config, config.json).

usage: /usr/bin/python3 tests/e2e/test_batching.py /path/to/junction
"""
import concurrent.futures as cf
import json
import os
import sys
import threading
import time
import urllib.request

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import grpc  # noqa: E402
import numpy as np  # noqa: E402
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

import harness  # noqa: E402
import test_doors as doors  # noqa: E402
from harness import pb  # noqa: E402

SC = grpc.StatusCode
TIMEOUT = 30.0
CALLERS = 64


# ---- models and configs ----

def onnx_model(path, nodes, inits, n_in=4, n_out=4):
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", n_in])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", n_out])],
                          [numpy_helper.from_array(np.asarray(a, np.float32), n) for n, a in inits.items()])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
    m.ir_version = 8
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(m.SerializeToString())
    return m


def affine(path, scale):
    return onnx_model(path, [helper.make_node("Mul", ["x", "s"], ["t"]), helper.make_node("Add", ["t", "b"], ["y"])],
                      {"s": [scale], "b": [1.0]})


def mlp(path):
    rng = np.random.default_rng(7)
    return onnx_model(path, [helper.make_node("MatMul", ["x", "w"], ["t"]), helper.make_node("Add", ["t", "b"], ["u"]),
                             helper.make_node("Relu", ["u"], ["y"])],
                      {"w": rng.standard_normal((4, 3)), "b": rng.standard_normal(3)}, n_out=3)


def write_json(path, obj):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        json.dump(obj, f)
    return path


def stats(srv, model):
    with urllib.request.urlopen("http://%s/v2/models/%s/stats" % (srv.http_address, model), timeout=TIMEOUT) as r:
        return json.loads(r.read())["model_stats"][0]


def metrics(srv):
    with urllib.request.urlopen("http://%s/metrics" % srv.http_address, timeout=TIMEOUT) as r:
        return r.read().decode()


def metric_value(text, name):
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return None


def rows_for(i, n=1, width=4):
    """Caller i's own rows: values nobody else sends."""
    return (np.arange(n * width, dtype=np.float32).reshape(n, width) + 1000.0 * i + 0.25).astype(np.float32)


# ---- batching through every door ----

def concurrent_doors(t, srv, model, want, exact=True, rows=1):
    """CALLERS callers per door at once, each with its own rows: every answer is its own."""
    results = []
    lock = threading.Lock()

    def one(door, fn, i):
        x = rows_for(i + 100 * doors.DOORS.index(door), rows)
        out = fn(srv, doors.Req(model, [("input" if model == "identity" else "x", "FP32", x)]))
        with lock:
            results.append((door, i, x, out))

    with cf.ThreadPoolExecutor(max_workers=CALLERS) as ex:
        futs = [ex.submit(one, d, fn, i) for d, fn in zip(doors.DOORS, doors.DOOR_FNS) for i in range(CALLERS // 2)]
        for f in futs:
            f.result()
    bad = []
    for door, i, x, out in results:
        name = "output" if model == "identity" else "y"
        if not out.ok or name not in out.arrays:
            bad.append("%s #%d: %r" % (door, i, out))
            continue
        got, exp = out.arrays[name], want(x)
        same = np.array_equal(got, exp) if exact else (got.shape == exp.shape and np.allclose(got, exp, atol=1e-5))
        if not same:
            bad.append("%s #%d: got %s want %s" % (door, i, got.tolist(), exp.tolist()))
    t.check(not bad, "%s: %d concurrent callers on 6 doors each got their own rows (%s)"
            % (model, len(results), "bit-exact" if exact else "within 1e-5"), "; ".join(bad[:5]))


def check_batching(t, workdir):
    models = os.path.join(workdir, "models")
    affine(os.path.join(models, "affine", "model.onnx"), 2.0)
    batching = {"dynamic_batching": {"max_batch_size": 64, "max_queue_delay_us": 20000}}
    write_json(os.path.join(models, "affine", "config.json"), dict(batching, version="3"))
    m = mlp(os.path.join(models, "mlp", "model.onnx"))
    write_json(os.path.join(models, "mlp", "config.json"), batching)
    ident = write_json(os.path.join(workdir, "identity.json"), batching)
    pipes = os.path.join(workdir, "pipelines")
    write_json(os.path.join(pipes, "p.json"), {
        "name": "affine_then_identity", "inputs": [{"name": "x", "kind": "TENSOR", "datatype": "FP32",
                                                    "shape": [-1, 4]}],
        "steps": [{"id": "a", "model": "affine", "inputs": {"x": "x"}},
                  {"id": "i", "model": "identity", "inputs": {"input": "a.y"}}],
        "outputs": [{"name": "y", "from": "i.output"}]})
    affine(os.path.join(models, "plain", "model.onnx"), 5.0)  # no config: batched only inside the pipeline below
    write_json(os.path.join(pipes, "q.json"), {
        "name": "private_queue", "inputs": [{"name": "x", "kind": "TENSOR", "datatype": "FP32", "shape": [-1, 4]}],
        "steps": [{"id": "p", "model": "plain", "inputs": {"x": "x"}}],
        "outputs": [{"name": "y", "from": "p.y"}],
        "models": {"p": {"dynamic_batching": {"max_batch_size": 64, "max_queue_delay_us": 20000}}}})
    srv = t.start_server(["--models", models, "--pipelines", pipes, "--model-config", "identity=" + ident,
                          "--http-port", "any"])

    with t.case("batch-1 references"):
        x = rows_for(5)
        ref = doors.door_v2_infer(srv, doors.Req("affine", [("x", "FP32", x)]))
        t.check(ref.ok and np.array_equal(ref.arrays["y"], x * np.float32(2) + np.float32(1)),
                "affine alone: x*2+1", repr(ref))
        t.eq(ref.version, "3", "config.json's version is kept beside dynamic_batching")

    with t.case("64 concurrent callers per door"):
        concurrent_doors(t, srv, "identity", lambda x: x)
        concurrent_doors(t, srv, "affine", lambda x: x * np.float32(2) + np.float32(1))
        w = numpy_helper.to_array(m.graph.initializer[0])
        b = numpy_helper.to_array(m.graph.initializer[1])
        concurrent_doors(t, srv, "mlp", lambda x: np.maximum(x @ w + b, 0).astype(np.float32), exact=False)
        concurrent_doors(t, srv, "affine", lambda x: x * np.float32(2) + np.float32(1), rows=3)
        st = stats(srv, "affine")
        sizes = {int(s["batch_size"]) for s in st["batch_stats"]}
        served = int(st["inference_stats"]["success"]["count"])
        t.check(max(sizes) > 3, "affine's statistics show executions of more than one request's rows",
                "batch sizes %s" % sorted(sizes))
        t.check(int(st["execution_count"]) < served,
                "fewer executions (%s) than requests answered (%d)" % (st["execution_count"], served))
        t.eq(int(st["inference_count"]), sum(int(s["batch_size"]) * int(s["compute_infer"]["count"])
                                             for s in st["batch_stats"]),
             "inference_count = the rows of every execution")
        hist = metrics(srv)
        t.check('junction_model_batch_size_bucket{model="affine",le="1"}' in hist and
                (metric_value(hist, 'junction_model_batch_size_count{model="affine"}') or 0) ==
                int(st["execution_count"]), "Prometheus: the batch-size histogram counts affine's executions")

    with t.case("a pipeline step through the model's queue"):
        before = int(stats(srv, "affine")["execution_count"])
        res = []

        def one(i):
            x = rows_for(3000 + i)
            res.append((x, doors.door_v2_infer(srv, doors.Req("affine_then_identity", [("x", "FP32", x)]))))

        with cf.ThreadPoolExecutor(max_workers=CALLERS) as ex:
            list(ex.map(one, range(CALLERS)))
        bad = [repr(o) for x, o in res if not (o.ok and np.array_equal(o.arrays["y"], x * np.float32(2) +
                                                                       np.float32(1)))]
        t.check(not bad, "64 pipeline callers each got their own rows through the batched step", "; ".join(bad[:3]))
        after = int(stats(srv, "affine")["execution_count"])
        t.check(after - before < CALLERS, "the step's 64 calls ran in %d executions" % (after - before))

    with t.case("a pipeline's own queue for one step (its \"models\" section)"):
        res = []

        def one(i):
            x = rows_for(5000 + i)
            res.append((x, doors.door_v2_infer(srv, doors.Req("private_queue", [("x", "FP32", x)]))))

        with cf.ThreadPoolExecutor(max_workers=CALLERS) as ex:
            list(ex.map(one, range(CALLERS)))
        bad = [repr(o) for x, o in res if not (o.ok and np.array_equal(o.arrays["y"], x * np.float32(5) +
                                                                       np.float32(1)))]
        t.check(not bad, "64 callers each got their own rows through the step's private queue", "; ".join(bad[:3]))
        execs = metric_value(metrics(srv), 'junction_model_batch_size_count{model="plain"}')
        t.check(execs is not None and 0 < execs < CALLERS, "'plain' ran the 64 step calls in %s executions" % execs)
        direct = doors.door_v2_infer(srv, doors.Req("plain", [("x", "FP32", rows_for(1))]))
        t.check(direct.ok, "the model itself is still served directly", repr(direct))

    with t.case("mixed shapes are never merged"):
        res = []

        def one(i):
            w = 2 if i % 2 else 3
            x = (np.arange(w, dtype=np.float32) + 10 * i).reshape(1, w)
            res.append((x, doors.door_v2_infer(srv, doors.Req("identity", [("input", "FP32", x)]))))

        with cf.ThreadPoolExecutor(max_workers=CALLERS) as ex:
            list(ex.map(one, range(CALLERS)))
        bad = [repr(o) for x, o in res if not (o.ok and np.array_equal(o.arrays["output"], x))]
        t.check(not bad, "widths 2 and 3 side by side: each caller got its own shape and rows", "; ".join(bad[:3]))

    with t.case("bad parameters"):
        o = doors.door_v2_infer(srv, doors.Req("affine", [("x", "FP32", rows_for(1))], params={"priority": 9}))
        t.check(not o.ok and o.code == SC.INVALID_ARGUMENT and "priority" in o.message,
                "priority 9 with one level: INVALID_ARGUMENT naming 'priority'", repr(o))
    t.stop_server(srv)


# ---- the model's queue: deadlines, priorities, bounds, cancellation ----

def burn_call(srv, ms, params=None, timeout=TIMEOUT):
    req = doors.v2_message(doors.Req("burn", [("input", "FP32", np.zeros((1, 1), np.float32))],
                                     params=dict({"burn_ms": ms, "burn_mode": "sleep"}, **(params or {}))))
    return srv.v2().ModelInfer.future(req, timeout=timeout)


def outcome(fut):
    try:
        fut.result()
        return "ok", ""
    except grpc.RpcError as e:
        return e.code(), e.details()


def wait_queued(srv, n, what):
    """Polls the statistics until n requests of burn have been answered or started: the test orders its calls
    by what the server saw, not by sleeping."""
    for _ in range(400):
        q = metrics(srv)
        v = metric_value(q, 'junction_requests_in_flight{model="burn"}')
        if v is not None and v >= n:
            return True
        time.sleep(0.01)
    return False


def check_queue(t, workdir):
    cfg = write_json(os.path.join(workdir, "burn_queue.json"), {
        "dynamic_batching": {"max_batch_size": 1, "priority_levels": 2, "default_priority_level": 2,
                             "queue": {"max_size": 3}}, "instances": 1})
    srv = t.start_server(["--model-config", "burn=" + cfg, "--http-port", "any"])
    with t.case("a queue timeout passes while queued"):
        long = burn_call(srv, 600)
        t.check(wait_queued(srv, 1, "long"), "the long call is in flight")
        short = burn_call(srv, 1, {"timeout": 50000})  # 50 ms in the queue at most
        other = burn_call(srv, 1)
        code, msg = outcome(short)
        t.check(code == SC.DEADLINE_EXCEEDED and "queue" in msg and "burn" in msg,
                "the call whose `timeout` passed in the queue: DEADLINE_EXCEEDED naming the model and the queue",
                "%s %r" % (code, msg))
        t.eq(outcome(long)[0], "ok", "the running call is answered")
        t.eq(outcome(other)[0], "ok", "the call queued behind it is answered")

    with t.case("priorities"):
        order = []
        lock = threading.Lock()
        long = burn_call(srv, 400)
        t.check(wait_queued(srv, 1, "long"), "the long call is in flight")
        futs = []
        for name, prio in (("low-a", 2), ("low-b", 2), ("high", 1)):
            f = burn_call(srv, 20, {"priority": prio})
            f.add_done_callback(lambda _f, n=name: (lock.acquire(), order.append(n), lock.release()))
            futs.append(f)
            wait_queued(srv, 2 + len(futs) - 1, name)
        for f in futs:
            outcome(f)
        outcome(long)
        t.eq(order, ["high", "low-a", "low-b"], "the level-1 request ran first, then level 2 in arrival order")

    with t.case("a full queue refuses at once"):
        long = burn_call(srv, 600)
        t.check(wait_queued(srv, 1, "long"), "the long call is in flight")
        queued = [burn_call(srv, 1) for _ in range(3)]
        t.check(wait_queued(srv, 4, "queued"), "three calls wait (max_size 3)")
        code, msg = outcome(burn_call(srv, 1))
        t.check(code == SC.RESOURCE_EXHAUSTED and "queue is full" in msg and "max_size" in msg,
                "the fourth: RESOURCE_EXHAUSTED naming queue.max_size", "%s %r" % (code, msg))
        body = {"inputs": [{"name": "input", "datatype": "FP32", "shape": [1, 1], "data": [0]}]}
        status, j = doors.http_post(srv, "/v2/models/burn/infer", body)
        t.check(status == 429 and "queue is full" in j.get("error", ""), "REST: 429 with the same message",
                "%s %r" % (status, j))
        t.check(all(outcome(f)[0] == "ok" for f in queued + [long]), "the queued calls are answered")

    with t.case("a cancelled queued call is removed"):
        before = int(stats(srv, "burn")["execution_count"])
        long = burn_call(srv, 500)
        t.check(wait_queued(srv, 1, "long"), "the long call is in flight")
        cancelled = [burn_call(srv, 1) for _ in range(3)]
        t.check(wait_queued(srv, 4, "queued"), "the queue is full")
        for f in cancelled:
            f.cancel()
        admitted = None
        for _ in range(100):  # the watcher removes them within its 10 ms polling
            f = burn_call(srv, 1)
            code, _ = outcome(f)
            if code == "ok":
                admitted = f
                break
            time.sleep(0.01)
        t.check(admitted is not None, "after the cancellations a new call finds room in the queue")
        outcome(long)
        after = int(stats(srv, "burn")["execution_count"])
        t.eq(after - before, 2, "only the long call and the new one ran: the cancelled calls never did")
    t.stop_server(srv)

    cfg = write_json(os.path.join(workdir, "burn_delay.json"), {
        "dynamic_batching": {"max_batch_size": 1, "queue": {"timeout_us": 50000, "timeout_action": "delay"}},
        "instances": 1})
    srv = t.start_server(["--model-config", "burn=" + cfg, "--http-port", "any"])
    with t.case("timeout_action delay"):
        long = burn_call(srv, 400)
        t.check(wait_queued(srv, 1, "long"), "the long call is in flight")
        waiting = burn_call(srv, 1)
        t.eq(outcome(waiting)[0], "ok", "a call queued past queue.timeout_us (delay) is still answered")
        outcome(long)
    t.stop_server(srv)


# ---- instances ----

def check_instances(t, workdir):
    models = os.path.join(workdir, "models_inst")
    affine(os.path.join(models, "affine", "model.onnx"), 2.0)
    cfg = write_json(os.path.join(workdir, "burn_inst.json"), {"instances": 1})
    srv = t.start_server(["--models", models, "--model-config", "burn=" + cfg, "--workers", "2", "--http-port", "any"])
    with t.case("instances: 1 on a slow model"):
        done = []
        lock = threading.Lock()
        slow = []
        for i in range(6):
            f = burn_call(srv, 300)
            f.add_done_callback(lambda _f, n=i: (lock.acquire(), done.append("burn"), lock.release()))
            slow.append(f)
        t.check(wait_queued(srv, 6, "slow"), "six slow calls in flight")
        x = rows_for(1)
        got = doors.door_v2_infer(srv, doors.Req("affine", [("x", "FP32", x)]))
        with lock:
            done.append("affine")
            burned = done.count("burn")
        t.check(got.ok and np.array_equal(got.arrays["y"], x * np.float32(2) + np.float32(1)),
                "the other model answers", repr(got))
        t.check(burned <= 1, "it answered while the slow model's calls still waited on its one instance "
                "(%d of 6 done before)" % burned)
        t.check(all(outcome(f)[0] == "ok" for f in slow), "every slow call is answered")
    t.stop_server(srv)


# ---- the response cache ----

def check_cache(t, workdir):
    models = os.path.join(workdir, "models_cache")
    affine(os.path.join(models, "scaled", "model.onnx"), 2.0)
    write_json(os.path.join(models, "scaled", "config.json"), {"response_cache": True})
    srv = t.start_server(["--models", models, "--cache-mb", "1", "--http-port", "any"])
    with t.case("hits equal misses"):
        x = rows_for(9)
        first = doors.door_v2_infer(srv, doors.Req("scaled", [("x", "FP32", x)]))
        second = doors.door_v1_infer(srv, doors.Req("scaled", [("x", "FP32", x)]))
        third = doors.door_rest_v2(srv, doors.Req("scaled", [("x", "FP32", x)]))
        t.check(first.ok and second.ok and third.ok and
                np.array_equal(first.arrays["y"], second.arrays["y"]) and
                np.array_equal(first.arrays["y"], third.arrays["y"]) and
                np.array_equal(first.arrays["y"], x * np.float32(2) + np.float32(1)),
                "the cached answer equals the computed one bit for bit, on every door", "%r %r" % (first, second))
        st = stats(srv, "scaled")["inference_stats"]
        t.eq((int(st["cache_hit"]["count"]), int(st["cache_miss"]["count"])), (2, 1),
             "statistics: 2 hits, 1 miss")
        t.eq(int(stats(srv, "scaled")["execution_count"]), 1, "the model ran once")
        text = metrics(srv)
        t.eq(metric_value(text, 'junction_model_cache_hits_total{model="scaled"}'), 2.0, "Prometheus: 2 hits")

    with t.case("a model replaced by LoadModel never answers from the old cache"):
        x = rows_for(11)
        doors.door_v2_infer(srv, doors.Req("scaled", [("x", "FP32", x)]))
        tripled = affine(os.path.join(workdir, "tripled.onnx"), 3.0)
        resp = srv.admin().LoadModel(pb.admin.LoadModelRequest(name="scaled", onnx=tripled.SerializeToString()),
                                     timeout=TIMEOUT)
        t.check(resp is not None, "LoadModel replaced 'scaled'")
        got = doors.door_v2_infer(srv, doors.Req("scaled", [("x", "FP32", x)]))
        t.check(got.ok and np.array_equal(got.arrays["y"], x * np.float32(3) + np.float32(1)),
                "the same request is answered by the new model (x*3+1)", repr(got))

    with t.case("100k distinct requests stay within --cache-mb"):
        # the replaced model has no config.json of its own now: load the repository's again (cache on)
        srv.admin().LoadModel(pb.admin.LoadModelRequest(name="scaled"), timeout=TIMEOUT)
        n = 100000
        reqs = (doors.v2_message(doors.Req("scaled", [("x", "FP32", rows_for(i))])) for i in range(n))
        answered = sum(1 for r in srv.v2().ModelStreamInfer(reqs, timeout=300) if not r.error_message)
        t.eq(answered, n, "100k requests answered on one stream")
        text = metrics(srv)
        held = metric_value(text, "junction_response_cache_bytes")
        t.check(held is not None and 0 < held <= 1 << 20, "the cache holds %s bytes <= 1 MiB" % held)
        t.check((metric_value(text, "junction_response_cache_evictions_total") or 0) > 0,
                "older entries were evicted")
        import subprocess
        chk = subprocess.run(["promtool", "check", "metrics"], input=text.encode(), capture_output=True, timeout=60)
        t.check(chk.returncode == 0, "promtool check metrics accepts /metrics with the cache's series",
                (chk.stdout + chk.stderr).decode(errors="replace")[-400:])
    t.stop_server(srv)

    os.environ["JUNCTION_TEST_CACHE_COLLIDE"] = "1"
    try:
        srv = t.start_server(["--models", models, "--cache-mb", "4", "--http-port", "any"])
    finally:
        del os.environ["JUNCTION_TEST_CACHE_COLLIDE"]
    with t.case("every hash alike (test hook): still each request's own answer"):
        bad = []
        for rnd in range(2):
            for i in range(200):
                x = rows_for(20000 + i)
                o = doors.door_v2_infer(srv, doors.Req("scaled", [("x", "FP32", x)]))
                if not (o.ok and np.array_equal(o.arrays["y"], x * np.float32(2) + np.float32(1))):
                    bad.append("round %d #%d: %r" % (rnd, i, o))
        t.check(not bad, "200 distinct requests twice, one bucket: every answer its own", "; ".join(bad[:3]))
        st = stats(srv, "scaled")["inference_stats"]
        t.eq(int(st["cache_hit"]["count"]), 200, "the second round came from the cache")
    t.stop_server(srv)


# ---- a remote engine batched and cached by its RegisterEngine options ----

def check_remote(t, workdir):
    far = t.start_server(probe=False)
    near = t.start_server(["--cache-mb", "1", "--http-port", "any"])
    with t.case("a remote engine with dynamic_batching and response_cache in its options"):
        req = pb.admin.RegisterEngineRequest(name="far", endpoint=far.address, model="identity",
                                             protocol=pb.admin.NATIVE)
        req.options["dynamic_batching"] = json.dumps({"max_batch_size": 16, "max_queue_delay_us": 20000})
        req.options["response_cache"] = "true"
        req.options["deterministic"] = "true"
        t.call("RegisterEngine far (batched, cached)", near.admin().RegisterEngine, req, timeout=TIMEOUT)
        res = []

        def one(i):
            x = rows_for(7000 + i)
            res.append((x, doors.door_v2_infer(near, doors.Req("far", [("input", "FP32", x)]))))

        with cf.ThreadPoolExecutor(max_workers=CALLERS) as ex:
            list(ex.map(one, range(CALLERS)))
        bad = [repr(o) for x, o in res if not (o.ok and np.array_equal(o.arrays["output"], x))]
        t.check(not bad, "64 callers of the remote each got their own rows", "; ".join(bad[:3]))
        st = stats(near, "far")
        t.check(0 < int(st["execution_count"]) < CALLERS,
                "the 64 calls went out in %s remote calls" % st["execution_count"])
        again = doors.door_v2_infer(near, doors.Req("far", [("input", "FP32", rows_for(7003))]))
        t.check(again.ok and np.array_equal(again.arrays["output"], rows_for(7003)), "a repeat is answered", repr(again))
        t.eq(int(stats(near, "far")["inference_stats"]["cache_hit"]["count"]), 1, "from the cache")
        bad_req = pb.admin.RegisterEngineRequest(name="far2", endpoint=far.address, model="identity",
                                                 protocol=pb.admin.NATIVE)
        bad_req.options["response_cache"] = "true"
        try:
            near.admin().RegisterEngine(bad_req, timeout=TIMEOUT)
            t.fail("a remote not declared deterministic cannot be cached")
        except grpc.RpcError as e:
            t.check(e.code() == SC.INVALID_ARGUMENT and "response_cache" in e.details() and "far2" in e.details(),
                    "a cached remote not declared deterministic: INVALID_ARGUMENT naming it", e.details())
        bad_req.options["response_cache"] = "yes"
        try:
            near.admin().RegisterEngine(bad_req, timeout=TIMEOUT)
            t.fail("response_cache 'yes' is refused")
        except grpc.RpcError as e:
            t.check(e.code() == SC.INVALID_ARGUMENT and "response_cache" in e.details(),
                    "option response_cache 'yes': INVALID_ARGUMENT naming the option", e.details())
    t.stop_server(near)
    t.stop_server(far)


# ---- bad configs ----

def check_bad_configs(t, workdir):
    cases = [
        ({"dynamic_batching": {"max_batch_size": 0}}, "dynamic_batching.max_batch_size"),
        ({"dynamic_batching": {"max_batch_size": 4, "preferred_batch_sizes": [8]}}, "preferred_batch_sizes"),
        ({"dynamic_batching": {"max_batch_size": 4, "queue": {"timeout_action": "wait"}}}, "timeout_action"),
        ({"dynamic_batching": {"max_batch_size": 4, "max_delay": 1}}, "dynamic_batching.max_delay"),
        ({"instances": "two"}, "instances"),
        ({"response_cache": True, "extra": 1}, "'extra'"),
    ]
    for i, (cfg, field) in enumerate(cases):
        path = write_json(os.path.join(workdir, "bad%d.json" % i), cfg)
        code, out, err = run_cli(t, ["serve", "--grpc-port", "0", "--http-port", "0", "--state-dir", "none",
                                     "--model-config", "identity=" + path])
        t.check(code == 2 and field in err and path in err, "--model-config %s: refused naming %s" % (cfg, field),
                "status %s: %r" % (code, err))
    path = write_json(os.path.join(workdir, "cache_burn.json"), {"response_cache": True})
    code, out, err = run_cli(t, ["serve", "--grpc-port", "0", "--http-port", "0", "--state-dir", "none",
                                 "--model-config", "burn=" + path, "--cache-mb", "1"])
    t.check(code == 1 and "burn" in err and "response_cache" in err, "a cache on 'burn' (volatile) is refused",
            "status %s: %r" % (code, err))
    path = write_json(os.path.join(workdir, "nobody.json"), {"instances": 2})
    code, out, err = run_cli(t, ["serve", "--grpc-port", "0", "--http-port", "0", "--state-dir", "none",
                                 "--model-config", "nobody=" + path])
    t.check(code == 1 and "nobody" in err, "--model-config for a model nobody serves stops the start", repr(err))
    pipes = os.path.join(workdir, "pipes_bad")
    write_json(os.path.join(pipes, "bad.json"), {
        "name": "bad_queue", "inputs": [{"name": "x", "kind": "TENSOR", "datatype": "FP32", "shape": [-1, -1]}],
        "steps": [{"id": "i", "model": "identity", "inputs": {"input": "x"}}],
        "outputs": [{"name": "y", "from": "i.output"}],
        "models": {"nothing": {"instances": 2}}})
    code, out, err = run_cli(t, ["serve", "--grpc-port", "0", "--http-port", "0", "--state-dir", "none",
                                 "--pipelines", pipes])
    t.check(code == 1 and "models.nothing" in err and "names no step" in err,
            "a pipeline whose models section names no step stops the start, naming the entry", repr(err))
    models = os.path.join(workdir, "models_bad")
    affine(os.path.join(models, "bad", "model.onnx"), 2.0)
    write_json(os.path.join(models, "bad", "config.json"), {"dynamic_batching": {"max_batch_size": -1}})
    affine(os.path.join(models, "good", "model.onnx"), 2.0)
    srv = t.start_server(["--models", models])
    err = srv.stderr_text()
    t.check("model 'bad' skipped" in err and "dynamic_batching.max_batch_size" in err,
            "a config.json with a bad field: the model is skipped naming the field", err[-400:])
    got = doors.door_v2_infer(srv, doors.Req("good", [("x", "FP32", rows_for(1))]))
    t.check(got.ok, "the other models are served", repr(got))
    t.stop_server(srv)


def run_cli(t, args):
    import subprocess
    try:
        p = subprocess.run([t.binary] + args, stdin=subprocess.DEVNULL, capture_output=True, timeout=30)
    except subprocess.TimeoutExpired:
        return None, "", "timed out"
    return p.returncode, p.stdout.decode(errors="replace"), p.stderr.decode(errors="replace")


def main(t):
    workdir = t.workdir
    check_bad_configs(t, workdir)
    check_batching(t, workdir)
    check_queue(t, workdir)
    check_instances(t, workdir)
    check_cache(t, workdir)
    check_remote(t, workdir)


if __name__ == "__main__":
    harness.run(main)
