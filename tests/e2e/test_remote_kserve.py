#!/usr/bin/python3
"""Remote engines over KServe v2 (issue #5) end to end, against a third-party v2 server (kserve_v2_model_server.py,
python3-grpcio + numpy, written from the protocol document):

- registered at start (`serve --remotes FILE`) and at run time (Admin.RegisterEngine); listed by ListModels (platform
  kserve_v2, ready), v2 ModelMetadata (the remote's signature) and ListEngines;
- called through Broker.Infer, v2 ModelInfer (raw and typed), InferStream and v2 ModelStreamInfer (interleaved with
  local requests), v2 REST and inside a pipeline mixed with the local identity
  engine: results equal numpy's; an answer in typed contents (add) is read as well as a raw one (scale2);
- a remote error comes back with the remote's status code and its message prefixed by the engine name;
- bad registrations (unknown protocol, malformed endpoint, duplicate name, unknown option, unreachable endpoint,
  unknown remote model) are refused with the field named, and the server keeps serving; a bad --remotes file stops
  the start with exit status 1 naming the entry and field;
- UnregisterEngine while a load runs: every call answers right or fails cleanly (NOT_FOUND / UNAVAILABLE), and the
  engine is gone afterwards; built-in engines cannot be unregistered.

usage: /usr/bin/python3 tests/e2e/test_remote_kserve.py /path/to/junction
"""
import concurrent.futures
import json
import os
import sys
import threading
import urllib.request

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import grpc  # noqa: E402
import numpy as np  # noqa: E402

import harness  # noqa: E402
import remote_util as ru  # noqa: E402
from harness import pb, infer_request, output_array, tensor_value, fp32_tensor  # noqa: E402

SC = grpc.StatusCode


def v2_infer_fp32(stub, model, inputs, raw=True, timeout=30):
    req = pb.v2.ModelInferRequest(model_name=model)
    for name, a in inputs.items():
        a = np.ascontiguousarray(a, dtype="<f4")
        inp = req.inputs.add(name=name, datatype="FP32", shape=list(a.shape))
        if raw:
            req.raw_input_contents.append(a.tobytes())
        else:
            inp.contents.fp32_contents.extend(a.reshape(-1).tolist())
    return stub.ModelInfer(req, timeout=timeout)


def main(t):
    try:
        run(t)
    finally:
        ru.kill_helpers(t)


def run(t):
    ks = ru.start_kserve(t)
    remotes = os.path.join(t.workdir, "remotes.json")
    with open(remotes, "w") as f:
        json.dump([{"name": "scale2", "endpoint": ks.address, "protocol": "kserve_v2", "model": "scale2",
                    "version": ""},
                   # options as JSON objects and booleans (issue #24): dynamic_batching toward the remote
                   {"name": "scale2b", "endpoint": ks.address, "protocol": "kserve_v2", "model": "scale2",
                    "options": {"dynamic_batching": {"max_batch_size": 16, "max_queue_delay_us": 20000},
                                "multiplex": False, "max_queue": 256}}], f)
    srv = t.start_server(["--remotes", remotes, "--http-port", "any"])
    broker, v2, admin = srv.broker(), srv.v2(), srv.admin()
    rng = np.random.default_rng(5)

    with t.case("registered from --remotes: listed, described, ready"):
        m = ru.model_info(broker, "scale2")
        t.check(m is not None, "ListModels has scale2")
        if m:
            t.eq(m.platform, "kserve_v2", "its platform")
            t.eq(m.ready, True, "it is ready")
            t.eq(m.description, "remote kserve_v2 model 'scale2' at %s" % ks.address, "its description says where")
            t.eq([(p.name, p.datatype, list(p.shape)) for p in m.signature.inputs],
                 [("x", pb.tensor.FP32, [-1, -1])], "its inputs come from the remote's metadata")
            t.eq([p.name for p in m.signature.outputs], ["y"], "its outputs too")
        md = t.call("v2 ModelMetadata scale2", v2.ModelMetadata, pb.v2.ModelMetadataRequest(name="scale2"))
        if md:
            t.eq([(i.name, i.datatype, list(i.shape)) for i in md.inputs], [("x", "FP32", [-1, -1])],
                 "v2 ModelMetadata shows the remote signature")
            t.eq(md.platform, "kserve_v2", "v2 platform")
        r = t.call("v2 ModelReady scale2", v2.ModelReady, pb.v2.ModelReadyRequest(name="scale2"))
        t.check(r is not None and r.ready, "v2 ModelReady says ready")
        e = ru.engine_info(admin, "scale2")
        t.check(e is not None and e.endpoint == ks.address and e.protocol == pb.admin.KSERVE_V2 and
                e.breaker == "closed", "ListEngines shows it", str(e))

    with t.case("a broker started with --remotes and no --models runs one pump thread, and says so"):
        t.check("junction: one gRPC pump thread (a broker that forwards" in srv.stderr_text(),
                "the default for a forwarding broker is announced on stderr", srv.stderr_tail(5))
        s2 = t.start_server(["--remotes", remotes, "--threads", "2"])
        t.check("one gRPC pump thread" not in s2.stderr_text(), "--threads 2 overrides it (no such line)",
                s2.stderr_tail(5))
        t.stop_server(s2)

    with t.case("a --remotes entry with dynamic_batching as an object: rows of concurrent callers go out together"):
        xs = [rng.standard_normal((1, 5)).astype(np.float32) for _ in range(24)]
        with concurrent.futures.ThreadPoolExecutor(24) as pool:
            futs = [pool.submit(v2.ModelInfer, harness.v2_request("scale2b", x, raw=True, input_name="x"), timeout=30)
                    for x in xs]
            answers = [f.result() for f in futs]
        t.check(all(np.array_equal(harness.v2_output_array(r, "y")[0], x * 2) for r, x in zip(answers, xs)),
                "24 concurrent one-row calls each get their own row doubled")
        with urllib.request.urlopen("http://%s/v2/models/scale2b/stats" % srv.http_address, timeout=30) as resp:
            st = json.loads(resp.read())["model_stats"][0]
        t.check(st["inference_count"] == 24 and st["execution_count"] < 24,
                "the broker batched them toward the remote (inferences 24, executions < 24)", str(st)[:300])

    with t.case("Broker.Infer and v2 ModelInfer through the remote"):
        x = rng.standard_normal((3, 5)).astype(np.float32)
        r = t.call("Infer scale2", broker.Infer, infer_request("scale2", x, input_name="x", id="r1"))
        if r:
            t.check(np.array_equal(output_array(r, "y"), x * 2), "Infer scale2 = 2x (numpy)")
            t.eq(r.id, "r1", "the id comes back")
        for raw in (True, False):
            r = t.call("ModelInfer scale2 raw=%s" % raw, v2.ModelInfer,
                       harness.v2_request("scale2", x, raw=raw, input_name="x"))
            if r:
                y, form = harness.v2_output_array(r, "y")
                t.check(y is not None and np.array_equal(y, x * 2), "v2 ModelInfer scale2 (%s) = 2x" % form)
        big = rng.standard_normal((256, 1024)).astype(np.float32)
        r = t.call("Infer scale2 1 MiB", broker.Infer, infer_request("scale2", big, input_name="x"))
        t.check(r is not None and np.array_equal(output_array(r, "y"), big * 2), "a 1 MiB tensor goes through")

    with t.case("streams: remote and local requests interleaved on one InferStream and one v2 ModelStreamInfer"):
        xs = [rng.standard_normal((2, 3)).astype(np.float32) for _ in range(20)]
        reqs = [infer_request("scale2" if i % 2 == 0 else "identity", x, id="s%d" % i,
                              input_name="x" if i % 2 == 0 else "input") for i, x in enumerate(xs)]
        resps = t.call("InferStream x20 (scale2 and identity)",
                       lambda timeout: list(broker.InferStream(iter(reqs), timeout=timeout)))
        if resps is not None:
            by_id = {r.id: r for r in resps}
            t.eq(sorted(by_id), sorted("s%d" % i for i in range(20)), "every request answered once")
            t.check(all(np.array_equal(output_array(by_id["s%d" % i], "y" if i % 2 == 0 else "output"),
                                       x * 2 if i % 2 == 0 else x) for i, x in enumerate(xs) if "s%d" % i in by_id),
                    "scale2 answers 2x and identity x, each to its own request")
        v2reqs = []
        for i, x in enumerate(xs[:10]):
            q = harness.v2_request("scale2", x, raw=True, input_name="x")
            q.id = "v%d" % i
            v2reqs.append(q)
        msgs = t.call("ModelStreamInfer x10 scale2",
                      lambda timeout: list(v2.ModelStreamInfer(iter(v2reqs), timeout=timeout)))
        if msgs is not None:
            t.check(all(not m.error_message for m in msgs), "no in-stream error",
                    [m.error_message for m in msgs if m.error_message][:3])
            got = {m.infer_response.id: harness.v2_output_array(m.infer_response, "y")[0] for m in msgs}
            t.eq(sorted(got), sorted("v%d" % i for i in range(10)), "every v2 request answered once")
            t.check(all(got.get("v%d" % i) is not None and np.array_equal(got["v%d" % i], x * 2)
                        for i, x in enumerate(xs[:10])), "each v2 answer is 2x its own request")

    with t.case("v2 REST over HTTP reaches the remote too"):
        body = json.dumps({"inputs": [{"name": "x", "shape": [1, 3], "datatype": "FP32", "data": [1.5, -2, 3]}]})
        req = urllib.request.Request("http://%s/v2/models/scale2/infer" % srv.http_address, data=body.encode(),
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=30) as resp:
            out = json.loads(resp.read())
        t.eq(out["outputs"][0]["data"], [3.0, -4.0, 6.0], "POST /v2/models/scale2/infer = 2x")

    with t.case("Admin.RegisterEngine: a second model, typed answers"):
        r = t.call("RegisterEngine remote-add", ru.register, admin, "remote-add", ks.address, model="add")
        if r:
            t.eq(r.name, "remote-add", "the answer names it")
            t.eq(sorted(p.name for p in r.signature.inputs), ["a", "b"], "the answer has the signature")
            t.eq(r.platform, "kserve_v2", "and the platform")
        a, b = rng.standard_normal((2, 4)).astype(np.float32), rng.standard_normal((2, 4)).astype(np.float32)
        req = pb.broker.InferRequest(model="remote-add", inputs=[tensor_value("a", fp32_tensor(a)),
                                                                 tensor_value("b", fp32_tensor(b))])
        r = t.call("Infer remote-add", broker.Infer, req)
        t.check(r is not None and np.array_equal(output_array(r, "sum"), a + b),
                "remote-add = a + b (the remote answered in typed contents)")
        r = t.call("ModelInfer remote-add", v2_infer_fp32, v2, "remote-add", {"a": a, "b": b})
        if r:
            s, _ = harness.v2_output_array(r, "sum")
            t.check(s is not None and np.array_equal(s, a + b), "v2 ModelInfer remote-add = a + b")

    with t.case("/metrics: calls and breaker state per remote endpoint"):
        with urllib.request.urlopen("http://%s/metrics" % srv.http_address, timeout=30) as resp:
            text = resp.read().decode()
        calls = [l for l in text.splitlines()
                 if l.startswith('junction_remote_calls_total{endpoint="%s",outcome="success"}' % ks.address)]
        t.check(calls and int(calls[0].split()[-1]) >= 5, "junction_remote_calls_total counts the successful calls",
                calls)
        t.check('junction_remote_breaker_state{endpoint="%s",state="closed"} 1' % ks.address in text,
                "junction_remote_breaker_state says closed", [l for l in text.splitlines() if "breaker" in l][:4])
        t.check("# TYPE junction_remote_breaker_opened_total counter" in text, "breaker openings are a counter")
        import subprocess
        chk = subprocess.run(["promtool", "check", "metrics"], input=text.encode(), capture_output=True, timeout=60)
        t.check(chk.returncode == 0, "promtool check metrics accepts /metrics with remote endpoint series",
                (chk.stdout + chk.stderr).decode(errors="replace")[-400:])

    with t.case("a pipeline mixing local identity and the remote scale2"):
        spec = {"name": "mixed",
                "inputs": [{"name": "x", "kind": "TENSOR", "datatype": "FP32", "shape": [-1, -1]}],
                "steps": [{"id": "pre", "model": "identity", "inputs": {"input": "x"}},
                          {"id": "remote", "model": "scale2", "inputs": {"x": "pre.output"}},
                          {"id": "again", "model": "scale2", "inputs": {"x": "remote.y"}},
                          {"id": "post", "model": "identity", "inputs": {"input": "again.y"}}],
                "outputs": [{"name": "z", "from": "post.output"}]}
        t.call("PutPipeline mixed", admin.PutPipeline, pb.admin.PutPipelineRequest(spec_json=json.dumps(spec)))
        x = rng.standard_normal((4, 3)).astype(np.float32)
        r = t.call("Infer mixed", broker.Infer, infer_request("mixed", x, input_name="x", outputs=["z", "remote.y"]))
        if r:
            t.check(np.array_equal(output_array(r, "z"), x * 4), "identity -> scale2 -> scale2 -> identity = 4x")
            t.check(np.array_equal(output_array(r, "remote.y"), x * 2), "the remote step's output on request")
        r = t.call("ModelInfer mixed", v2.ModelInfer, harness.v2_request("mixed", x, input_name="x"))
        if r:
            z, _ = harness.v2_output_array(r, "z")
            t.check(z is not None and np.array_equal(z, x * 4), "the pipeline through v2 ModelInfer")

    with t.case("the remote's errors come back with its code and message, prefixed by the engine name"):
        t.call("RegisterEngine picky", ru.register, admin, "picky", ks.address)
        t.expect_error("Infer picky", broker.Infer, SC.FAILED_PRECONDITION, "picky: picky says no",
                       args=(infer_request("picky", np.ones((1, 1)), input_name="x"),))
        t.expect_error("ModelInfer picky", v2.ModelInfer, SC.FAILED_PRECONDITION, "picky: picky says no",
                       args=(harness.v2_request("picky", np.ones((1, 1)), input_name="x"),))
        t.expect_error("a wrong input is still refused here, before the remote is called", broker.Infer,
                       SC.INVALID_ARGUMENT, "scale2", "unknown input 'input'",
                       args=(infer_request("scale2", np.ones((1, 1))),))
        r = ru.engine_info(admin, "picky")
        t.check(r is not None and r.breaker == "closed", "remote errors do not open the breaker", str(r))

    with t.case("bad registrations are refused, naming the field"):
        reg = lambda **kw: ru.register(admin, **kw)  # noqa: E731
        t.expect_error("unknown protocol", reg, SC.INVALID_ARGUMENT, "protocol 7",
                       name="x1", endpoint=ks.address, protocol=7)
        t.expect_error("unset protocol", reg, SC.INVALID_ARGUMENT, "protocol 0",
                       name="x1", endpoint=ks.address, protocol=0)
        t.expect_error("endpoint without a port", reg, SC.INVALID_ARGUMENT, "endpoint 'nohost'", "HOST:PORT",
                       name="x1", endpoint="nohost")
        t.expect_error("endpoint with a bad port", reg, SC.INVALID_ARGUMENT, "port '99999'",
                       name="x1", endpoint="127.0.0.1:99999")
        t.expect_error("empty endpoint", reg, SC.INVALID_ARGUMENT, "endpoint is empty",
                       name="x1", endpoint="")
        t.expect_error("empty name", reg, SC.INVALID_ARGUMENT, "name is empty",
                       name="", endpoint=ks.address)
        t.expect_error("a built-in engine's name", reg, SC.ALREADY_EXISTS, "'identity' is taken",
                       name="identity", endpoint=ks.address, model="scale2")
        t.expect_error("a registered remote's name", reg, SC.ALREADY_EXISTS, "'scale2' is taken",
                       name="scale2", endpoint=ks.address)
        t.expect_error("an unknown option", reg, SC.INVALID_ARGUMENT, "option 'speed' is unknown",
                       name="x1", endpoint=ks.address, model="scale2", speed=3)
        t.expect_error("an option out of range", reg, SC.INVALID_ARGUMENT, "option 'max_attempts'",
                       name="x1", endpoint=ks.address, model="scale2", max_attempts=0)
        t.expect_error("an unknown remote model", reg, SC.NOT_FOUND, "engine 'x1'", "model 'nope'",
                       "unknown model 'nope'", name="x1", endpoint=ks.address, model="nope")
        dead = "127.0.0.1:%d" % ru.free_port()
        t.expect_error("an unreachable endpoint", reg, SC.UNAVAILABLE, "engine 'x1'", dead,
                       name="x1", endpoint=dead, model="scale2")
        t.check(ru.model_info(broker, "x1") is None, "nothing was registered by the refused calls")
        t.expect_error("unregister a built-in engine", admin.UnregisterEngine, SC.FAILED_PRECONDITION,
                       "'identity' is not a remote engine",
                       args=(pb.admin.UnregisterEngineRequest(name="identity"),))
        t.expect_error("unregister an unknown name", admin.UnregisterEngine, SC.NOT_FOUND, "'ghost'",
                       args=(pb.admin.UnregisterEngineRequest(name="ghost"),))

    with t.case("UnregisterEngine while a load runs"):
        t.call("RegisterEngine doomed", ru.register, admin, "doomed", ks.address, model="scale2")
        x = np.arange(6, dtype=np.float32).reshape(2, 3)
        results = {"ok": 0, "gone": 0, "bad": []}
        lock = threading.Lock()
        stop = threading.Event()
        ch = srv.channel()

        def load():
            stub = srv.broker(ch)
            while not stop.is_set():
                try:
                    r = stub.Infer(infer_request("doomed", x, input_name="x", params={"sleep_ms": 20}), timeout=30)
                    good = np.array_equal(output_array(r, "y"), x * 2)
                    with lock:
                        if good:
                            results["ok"] += 1
                        else:
                            results["bad"].append("wrong answer %s" % r)
                except grpc.RpcError as e:
                    with lock:
                        if e.code() in (SC.NOT_FOUND, SC.UNAVAILABLE):
                            results["gone"] += 1
                        else:
                            results["bad"].append(harness.describe_rpc_error(e))
                    if e.code() == SC.NOT_FOUND:
                        return

        threads = [threading.Thread(target=load) for _ in range(8)]
        for th in threads:
            th.start()
        ru.wait_for(lambda: results["ok"] >= 40, 30)
        t.call("UnregisterEngine doomed", admin.UnregisterEngine, pb.admin.UnregisterEngineRequest(name="doomed"))
        for th in threads:
            th.join(60)
        stop.set()
        t.check(results["ok"] >= 40, "calls succeeded before the unregistration", str(results["ok"]))
        t.check(not results["bad"], "every call answered right or failed cleanly", str(results["bad"][:3]))
        t.check(results["gone"] >= 8, "afterwards calls get NOT_FOUND", str(results["gone"]))
        t.check(ru.model_info(broker, "doomed") is None, "ListModels no longer has it")
        t.check(ru.engine_info(admin, "doomed") is None, "ListEngines no longer has it")
        r = t.call("Infer scale2 (same endpoint) after", broker.Infer, infer_request("scale2", x, input_name="x"))
        t.check(r is not None and np.array_equal(output_array(r, "y"), x * 2),
                "the other engine on the same endpoint still works")
        t.call("register the name again", ru.register, admin, "doomed", ks.address, model="scale2")
        r = t.call("Infer doomed again", broker.Infer, infer_request("doomed", x, input_name="x"))
        t.check(r is not None and np.array_equal(output_array(r, "y"), x * 2), "a re-registered engine works")
        t.still_serving("unregister under load")

    with t.case("register / unregister churn under load, on a shared and on a private endpoint"):
        x = np.arange(4, dtype=np.float32).reshape(2, 2)
        bad = []
        stop = threading.Event()

        def caller():
            stub = srv.broker(srv.channel())
            while not stop.is_set():
                for name in ("churn-shared", "churn-private"):
                    try:
                        r = stub.Infer(infer_request(name, x, input_name="x"), timeout=30)
                        if not np.array_equal(output_array(r, "y"), x * 2):
                            bad.append("wrong answer")
                    except grpc.RpcError as e:
                        if e.code() not in (SC.NOT_FOUND, SC.UNAVAILABLE):
                            bad.append(harness.describe_rpc_error(e))

        threads = [threading.Thread(target=caller) for _ in range(4)]
        for th in threads:
            th.start()
        # Another target string, so an endpoint (channel, pool) of its own that is freed after each unregistration.
        # Not "localhost:PORT": Debian's libcares leaks 10 bytes per process once a name is resolved (the existing
        # `junction infer --server localhost:PORT` shows it too), which the ASan run would report.
        private = "ipv4:127.0.0.1:%d" % ks.port
        cycles = 0
        for _ in range(15):
            ok = True
            for name, ep in (("churn-shared", ks.address), ("churn-private", private)):
                try:
                    ru.register(admin, name, ep, model="scale2")
                    admin.UnregisterEngine(pb.admin.UnregisterEngineRequest(name=name), timeout=30)
                except grpc.RpcError as e:
                    ok = False
                    bad.append("admin: " + harness.describe_rpc_error(e))
            cycles += ok
        stop.set()
        for th in threads:
            th.join(60)
        t.eq(cycles, 15, "15 register/unregister cycles on each endpoint")
        t.check(not bad, "calls during the churn answered right or failed cleanly", str(bad[:3]))
        t.still_serving("churn")

    t.stop_server(srv)

    with t.case("a registration survives a restart (state directory)"):
        state = os.path.join(t.workdir, "state-remote")
        s1 = t.start_server(["--state-dir", state], probe=False)
        r = t.call("RegisterEngine kept-add", ru.register, s1.admin(), "kept-add", ks.address, model="add")
        t.check(r is not None, "registered on the first server")
        t.stop_server(s1)
        s2 = t.start_server(["--state-dir", state], probe=False)
        a = np.ones((1, 2), dtype=np.float32)
        req = pb.broker.InferRequest(model="kept-add", inputs=[tensor_value("a", fp32_tensor(a)),
                                                               tensor_value("b", fp32_tensor(a))])
        r = t.call("Infer kept-add after the restart", s2.broker().Infer, req)
        t.check(r is not None and np.array_equal(output_array(r, "sum"), 2 * a), "kept-add answers after a restart")
        t.check("2 of 2 records restored" in s2.stderr_text() or "1 of 1 records restored" in s2.stderr_text(),
                "the server says the record was restored", s2.stderr_tail(5))
        t.call("UnregisterEngine kept-add", s2.admin().UnregisterEngine,
               pb.admin.UnregisterEngineRequest(name="kept-add"))
        t.stop_server(s2)
        s3 = t.start_server(["--state-dir", state], probe=False)
        t.check(ru.model_info(s3.broker(), "kept-add") is None, "after UnregisterEngine and a restart it is gone")
        t.stop_server(s3)

    with t.case("a bad --remotes file stops the start, naming the entry and the field"):
        cases = [
            ("not json", "{", "line 1"),
            ("not a list", '{"name": "a"}', "expected a JSON list"),
            ("missing endpoint", json.dumps([{"name": "a", "protocol": "kserve_v2"}]), "entry #0: field 'endpoint' is missing"),
            ("unknown protocol", json.dumps([{"name": "a", "endpoint": ks.address, "protocol": "soap"}]),
             "protocol 'soap' is unknown"),
            ("unknown field", json.dumps([{"name": "a", "endpoint": ks.address, "protocol": "kserve_v2",
                                           "colour": "red"}]), "unknown field 'colour'"),
            ("option of a wrong type", json.dumps([{"name": "a", "endpoint": ks.address, "protocol": "kserve_v2",
                                                    "options": {"max_queue": [1]}}]),
             "option 'max_queue' is not a string, an integer, a boolean or an object"),
            ("dynamic_batching object with a bad field", json.dumps([{"name": "a", "endpoint": ks.address,
                                                                      "protocol": "kserve_v2", "options": {
                                                                          "dynamic_batching": {"max_batch_size": -3}}}]),
             "max_batch_size"),
            ("second entry bad", json.dumps([{"name": "scale2", "endpoint": ks.address, "protocol": "kserve_v2"},
                                             {"name": "b", "endpoint": "x", "protocol": "kserve_v2"}]),
             "entry #1 ('b')"),
        ]
        for what, text, needle in cases:
            path = os.path.join(t.workdir, "bad.json")
            with open(path, "w") as f:
                f.write(text)
            s = harness.Server(t.binary, ["--remotes", path], t.workdir)
            try:
                s.start()
                t.fail("--remotes %s: the server refused to start" % what, "it started")
            except RuntimeError as e:
                msg = str(e)
                t.check("exited with status 1" in msg and needle in msg, "--remotes %s: exit 1, message has %r"
                        % (what, needle), msg[-600:])
            finally:
                s.kill()


if __name__ == "__main__":
    harness.run(main)
