#!/usr/bin/python3
"""Distributed tracing (issue #22 part 1): W3C trace context in, spans out by OTLP/HTTP protobuf.

The collector is tests/e2e/otlp_receiver.js: Node decoding ExportTraceServiceRequest with the OpenTelemetry
project's generated code (npm @opentelemetry/otlp-transformer from scripts/install-deps.sh, in .cache/otel), so the
bytes are checked by an implementation that is not ours.

- One trace across two processes: a 3-step pipeline on `near` whose middle step is a native remote engine served by
  a second junction `far`, called through Broker.Infer with a traceparent in the metadata: every span of both
  processes has the caller's trace id; the request span's parent is the caller's span; the steps, queue span and
  the remote call (kind CLIENT) sit under the request; the far junction's request span (kind SERVER) has the remote
  call's span as parent; attributes (model, version, status, sizes, door) and the service names are right.
- The same with a unary (not multiplexed) remote call, whose traceparent goes as call metadata; through the REST
  door and simple JSON's :predict (traceparent / tracestate headers); KServe v2 ModelInfer and a junction.v1
  InferStream (the stream's metadata, one span per request); a traceparent whose sampled flag is 0 gives no spans;
  a malformed one is ignored (a new trace, the call succeeds); a junction at --trace-sample-ratio 0 passes its
  decision on, so the remote junction (ratio 1) records nothing of those calls.
- A dynamic batch's span links to the requests it served.
- A collector that is down, or slow: calls still succeed at their usual speed, and the lost spans are counted in
  junction_trace_spans_dropped_total.

usage: /usr/bin/python3 tests/e2e/test_tracing.py /path/to/junction
"""
import json
import os
import queue
import subprocess
import sys
import threading
import time
import urllib.request

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy as np  # noqa: E402

import harness  # noqa: E402
import remote_util as ru  # noqa: E402
from harness import infer_request, output_array  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
NODE_PATH = os.path.join(ROOT, ".cache", "otel", "node_modules")
TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
CALLER_SPAN = "00f067aa0ba902b7"
FAST = dict(health_interval_ms=150, health_timeout_ms=500, breaker_cooldown_ms=300)


class Receiver:
    """otlp_receiver.js: its spans, as decoded by the OpenTelemetry package."""

    def __init__(self, workdir, delay_ms=0):
        env = dict(os.environ, NODE_PATH=NODE_PATH)
        argv = ["node", os.path.join(HERE, "otlp_receiver.js")] + (["--delay-ms", str(delay_ms)] if delay_ms else [])
        self.err = open(os.path.join(workdir, "otlp-receiver-%d.log" % id(self)), "ab")
        self.proc = subprocess.Popen(harness.die_with_parent(argv), stdout=subprocess.PIPE, stderr=self.err,
                                     stdin=subprocess.DEVNULL, env=env)
        line = self.proc.stdout.readline().decode()
        if not line.startswith("listening "):
            raise RuntimeError("otlp_receiver.js did not start: %r (see %s)" % (line, self.err.name))
        self.port = int(line.split()[1])
        self.url = "http://127.0.0.1:%d" % self.port
        self.spans = []
        self.errors = []
        self.lock = threading.Lock()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for raw in self.proc.stdout:
            rec = json.loads(raw)
            with self.lock:
                (self.errors if "error" in rec else self.spans).append(rec)

    def of_trace(self, trace_id):
        with self.lock:
            return [s for s in self.spans if s["traceId"] == trace_id]

    def wait_for(self, trace_id, n, timeout=15):
        ru.wait_for(lambda: len(self.of_trace(trace_id)) >= n, timeout)
        time.sleep(0.3)  # anything beyond n would show up too
        return self.of_trace(trace_id)

    def stop(self):
        self.proc.terminate()
        self.proc.wait(10)
        self.err.close()


def http(srv, method, path, body=None, headers=None):
    data = json.dumps(body).encode() if body is not None else None
    h = {"Content-Type": "application/json"} if data is not None else {}
    h.update(headers or {})
    req = urllib.request.Request("http://%s%s" % (srv.http_address, path), data=data, method=method, headers=h)
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def metric(srv, name, labels=""):
    _, text = http(srv, "GET", "/metrics")
    for line in text.decode().splitlines():
        if line.startswith(name + labels + " "):
            return float(line.split()[-1])
    return None


def pipe(name, remote):
    return {
        "name": name,
        "inputs": [{"name": "x", "kind": "TENSOR", "datatype": "FP32", "shape": [-1, -1]}],
        "steps": [
            {"id": "a", "model": "identity", "inputs": {"input": "x"}},
            {"id": "b", "model": remote, "inputs": {"input": "a.output"}},
            {"id": "c", "model": "identity", "inputs": {"input": "b.output"}},
        ],
        "outputs": [{"name": "y", "from": "c.output"}],
    }


def by_name(spans):
    return {s["name"]: s for s in spans}


def main(t):
    if not os.path.isdir(os.path.join(NODE_PATH, "@opentelemetry", "otlp-transformer")):
        t.fail("the OTLP receiver's npm package is installed", "missing %s: run scripts/install-deps.sh" % NODE_PATH)
        return
    rx = Receiver(t.workdir)
    try:
        run(t, rx)
    finally:
        rx.stop()
        ru.kill_helpers(t)


def check_cross_process(t, rx, trace, caller, door, pipeline="traced3", remote_name="far-identity", tracestate=None):
    spans = rx.wait_for(trace, 8)
    near = [s for s in spans if s["service"] == "near"]
    far = [s for s in spans if s["service"] == "far"]
    n, f = by_name(near), by_name(far)
    t.check(not rx.errors, "the receiver decoded every export", str(rx.errors[:2]))
    t.eq(sorted(n), sorted(["infer " + pipeline, "queue", "remote " + remote_name, "step a", "step b", "step c"]),
         "near: request, queue, three steps, one remote call")
    t.eq(sorted(f), ["infer identity", "queue"], "far: its request and queue spans")
    t.check(all(s["traceId"] == trace for s in spans), "every span has the caller's trace id")
    t.check(all(s["scope"] == "junction" for s in spans), "instrumentation scope 'junction'")
    if len(n) != 6 or len(f) != 2:
        return
    req = n["infer " + pipeline]
    t.eq(req["parentSpanId"], caller, "the request span's parent is the caller's span")
    t.eq(req["kind"], 2, "the request span is SERVER")
    t.eq(req["attributes"].get("junction.door"), door, "door attribute")
    t.eq(req["attributes"].get("junction.model"), pipeline, "model attribute")
    t.eq(req["attributes"].get("rpc.grpc.status_code"), 0, "status attribute")
    t.eq(req["attributes"].get("junction.request.bytes"), 24, "input size in bytes (2x3 FP32)")
    t.eq(req["attributes"].get("junction.response.bytes"), 24, "output size in bytes")
    for name in ("queue", "step a", "step b", "step c"):
        t.eq(n[name]["parentSpanId"], req["spanId"], "%s is a child of the request span" % name)
    t.eq(n["step b"]["attributes"].get("junction.model"), remote_name, "step b ran " + remote_name)
    remote = n["remote " + remote_name]
    t.eq(remote["kind"], 3, "the remote call is CLIENT")
    t.eq(remote["parentSpanId"], n["step b"]["spanId"], "the remote call is a child of step b")
    t.eq(remote["attributes"].get("junction.door"), "native", "the remote call's protocol")
    fr = f["infer identity"]
    t.eq(fr["parentSpanId"], remote["spanId"], "far's request span continues from the remote call span")
    t.eq(fr["kind"], 2, "far's request span is SERVER")
    t.eq(fr["attributes"].get("junction.door"), "junction.v1.Engine", "far was called on its Engine service")
    if tracestate is not None:
        t.eq(req["traceState"], tracestate, "the caller's tracestate is kept on the request span")
        t.eq(fr["traceState"], tracestate, "and passed on to the remote junction with the traceparent")
    t.eq(f["queue"]["parentSpanId"], fr["spanId"], "far's queue span under its request")
    t.check(int(req["start"]) <= int(remote["start"]) <= int(fr["start"]) <= int(fr["end"]) <= int(remote["end"])
            <= int(req["end"]), "times nest: request > remote call > far's request")
    return req


def run(t, rx):
    far = t.start_server(args=["--otlp-endpoint", rx.url, "--otlp-service-name", "far"])
    near = t.start_server(args=["--http-port", "any", "--otlp-endpoint", rx.url + "/",
                                "--otlp-service-name", "near"])
    broker, admin = near.broker(), near.admin()
    x = np.arange(6, dtype=np.float32).reshape(2, 3)

    with t.case("a 3-step pipeline with a remote step on a second junction: one trace across both"):
        t.call("RegisterEngine far-identity (multiplexed: traceparent as a message parameter)", ru.register, admin,
               "far-identity", far.address, protocol="NATIVE", model="identity", **FAST)
        t.call("RegisterEngine far-unary (multiplex=false: traceparent as call metadata)", ru.register, admin,
               "far-unary", far.address, protocol="NATIVE", model="identity", multiplex="false", **FAST)
        for name, remote in (("traced3", "far-identity"), ("traced3u", "far-unary")):
            st, body = http(near, "PUT", "/v1/pipelines/" + name, pipe(name, remote))
            t.check(st in (200, 201), "PUT " + name, body.decode()[:200])
        tp = "00-%s-%s-01" % (TRACE, CALLER_SPAN)
        r = t.call("Infer traced3 with a traceparent", broker.Infer, infer_request("traced3", x, input_name="x"),
                   metadata=(("traceparent", tp), ("tracestate", "vendor=abc")), timeout=30)
        t.check(r is not None and np.array_equal(output_array(r, "y"), x), "the answer is right")
        check_cross_process(t, rx, TRACE, CALLER_SPAN, "junction.v1", tracestate="vendor=abc")

    with t.case("the same with a unary remote call (traceparent in the call's metadata)"):
        trace_u = "e" * 31 + "5"
        r = t.call("Infer traced3u", broker.Infer, infer_request("traced3u", x, input_name="x"), timeout=30,
                   metadata=(("traceparent", "00-%s-%s-01" % (trace_u, CALLER_SPAN)), ("tracestate", "u=1,w=2")))
        t.check(r is not None and np.array_equal(output_array(r, "y"), x), "the answer is right")
        check_cross_process(t, rx, trace_u, CALLER_SPAN, "junction.v1", "traced3u", "far-unary", tracestate="u=1,w=2")

    with t.case("the same through the REST door (traceparent header)"):
        trace2, caller2 = "a" * 31 + "1", "b" * 15 + "2"
        st, body = http(near, "POST", "/v2/models/traced3/infer",
                        {"inputs": [{"name": "x", "datatype": "FP32", "shape": [2, 3], "data": x.ravel().tolist()}]},
                        headers={"traceparent": "00-%s-%s-01" % (trace2, caller2)})
        t.eq(st, 200, "REST infer answers")
        check_cross_process(t, rx, trace2, caller2, "rest_v2")

    with t.case("the simple JSON door (:predict) reads the header too"):
        trace4, caller4 = "f" * 31 + "4", "d" * 15 + "4"
        st, body = http(near, "POST", "/v1/models/identity:predict", {"input": [[1.0, 2.0]]},
                        headers={"traceparent": "00-%s-%s-01" % (trace4, caller4), "tracestate": "k=v"})
        t.eq(st, 200, ":predict answers")
        spans = rx.wait_for(trace4, 2)
        req = [s for s in spans if s["name"] == "infer identity"]
        t.check(len(req) == 1 and req[0]["parentSpanId"] == caller4 and
                req[0]["attributes"].get("junction.door") == "simple_json" and req[0]["traceState"] == "k=v",
                "request span under the caller's, door simple_json, tracestate kept", str(spans))

    with t.case("KServe v2 ModelInfer and a junction.v1 stream read the metadata too"):
        trace5 = "1" * 31 + "5"
        r = t.call("v2 ModelInfer identity", near.v2().ModelInfer, harness.v2_request("identity", x), timeout=30,
                   metadata=(("traceparent", "00-%s-%s-01" % (trace5, CALLER_SPAN)),))
        t.check(r is not None, "the call succeeds")
        spans = rx.wait_for(trace5, 2)
        req = [s for s in spans if s["name"] == "infer identity"]
        t.check(len(req) == 1 and req[0]["parentSpanId"] == CALLER_SPAN and
                req[0]["attributes"].get("junction.door") == "inference.v2", "v2: request span, door inference.v2",
                str(spans))
        trace6 = "2" * 31 + "6"
        reqs = [infer_request("identity", x, id="s%d" % i) for i in range(3)]
        answers = t.call("InferStream, traceparent in the stream's metadata",
                         lambda timeout: list(broker.InferStream(iter(reqs), timeout=timeout,
                                                         metadata=(("traceparent",
                                                                    "00-%s-%s-01" % (trace6, CALLER_SPAN)),))))
        t.eq(len(answers or []), 3, "three answers")
        spans = rx.wait_for(trace6, 6)
        req = [s for s in spans if s["name"] == "infer identity"]
        t.check(len(req) == 3 and all(s["parentSpanId"] == CALLER_SPAN for s in req) and
                len({s["spanId"] for s in req}) == 3, "each request of the stream has its own span under the caller's",
                str(req))

    with t.case("not sampled by the caller: no spans, here or there"):
        trace3 = "c" * 32
        r = t.call("Infer with sampled=0", broker.Infer, infer_request("traced3", x, input_name="x"),
                   metadata=(("traceparent", "00-%s-%s-00" % (trace3, CALLER_SPAN)),), timeout=30)
        t.check(r is not None, "the call succeeds")
        time.sleep(2.5)  # more than the exporter's 1 s interval
        t.eq(len(rx.of_trace(trace3)), 0, "no span of that trace reached the collector")

    with t.case("a malformed traceparent is ignored: a new trace, the call succeeds"):
        before = {s["traceId"] for s in rx.spans}
        bad = "00-%s-%s-01" % ("0" * 32, CALLER_SPAN)  # all-zero trace id
        r = t.call("Infer with an all-zero trace id", broker.Infer, infer_request("identity", x), timeout=30,
                   metadata=(("traceparent", bad),))
        t.check(r is not None, "the call succeeds")
        ok = ru.wait_for(lambda: any(s["name"] == "infer identity" and s["service"] == "near" and
                                     s["traceId"] not in before for s in list(rx.spans)), 10)
        new = [s for s in list(rx.spans) if s["name"] == "infer identity" and s["service"] == "near" and
               s["traceId"] not in before]
        t.check(ok and new and new[-1]["parentSpanId"] == "" and new[-1]["traceId"] != "0" * 32,
                "a root span of a new trace", str(new[-1:]))
        st, _ = http(near, "POST", "/v2/models/identity/infer",
                     {"inputs": [{"name": "input", "datatype": "FP32", "shape": [1, 1], "data": [1]}]},
                     headers={"traceparent": "garbage"})
        t.eq(st, 200, "REST with traceparent 'garbage' answers 200")
        t.check(metric(near, "junction_trace_spans_exported_total") > 0, "exported spans are counted")

    with t.case("an OpenAI-compatible remote gets traceparent / tracestate as HTTP headers"):
        up = ru.Process([harness.PYTHON, os.path.join(HERE, "openai_upstream.py"), "--port", "0"], t.workdir).start()
        t.helpers = getattr(t, "helpers", []) + [up]
        t.call("RegisterEngine chat (protocol OPENAI)", ru.register, admin, "chat", "http://%s/v1" % up.address,
               protocol="OPENAI", model="test-chat", **FAST)
        trace7 = "3" * 31 + "7"
        msgs = json.dumps([{"role": "user", "content": "hello there"}])
        req = harness.pb.broker.InferRequest(model="chat", inputs=[harness.pb.contract.Value(
            name="messages", text=harness.pb.contract.Text(text=msgs))])
        r = t.call("Infer chat with a traceparent", broker.Infer, req, timeout=30,
                   metadata=(("traceparent", "00-%s-%s-01" % (trace7, CALLER_SPAN)), ("tracestate", "oai=1")))
        t.check(r is not None, "the call succeeds")
        spans = rx.wait_for(trace7, 3)
        remote = [s for s in spans if s["name"] == "remote chat"]
        with urllib.request.urlopen("http://%s/_control" % up.address, timeout=30) as resp:
            seen = json.loads(resp.read())["trace"]
        t.check(len(remote) == 1 and remote[0]["kind"] == 3 and remote[0]["attributes"].get("junction.door") ==
                "openai", "one CLIENT span for the OpenAI call", str(spans))
        if remote:
            t.eq(seen, [["00-%s-%s-01" % (trace7, remote[0]["spanId"]), "oai=1"]],
                 "the upstream saw traceparent (parent = the remote call's span) and the caller's tracestate")
        trace8 = "4" * 31 + "8"
        st, body = http(near, "POST", "/openai/v1/chat/completions",
                        {"model": "chat", "messages": [{"role": "user", "content": "hi there"}]},
                        headers={"traceparent": "00-%s-%s-01" % (trace8, CALLER_SPAN)})
        t.eq(st, 200, "the OpenAI-compatible front end answers")
        spans = rx.wait_for(trace8, 3)
        req8 = [s for s in spans if s["name"] == "infer chat"]
        t.check(len(req8) == 1 and req8[0]["parentSpanId"] == CALLER_SPAN and
                req8[0]["attributes"].get("junction.door") == "openai",
                "the OpenAI-compatible front end reads the header too (door openai)", str(spans))

    with t.case("a trace begun unsampled (ratio 0) is not sampled by the remote junction either"):
        near0 = t.start_server(args=["--otlp-endpoint", rx.url, "--otlp-service-name", "near0",
                                     "--trace-sample-ratio", "0"])
        for name, mux in (("far0", "true"), ("far0u", "false")):
            t.call("RegisterEngine " + name, ru.register, near0.admin(), name, far.address, protocol="NATIVE",
                   model="identity", multiplex=mux, **FAST)
        with rx.lock:
            before = len(rx.spans)
        for name in ("far0", "far0u"):
            r = t.call("Infer %s (no traceparent)" % name, near0.broker().Infer, infer_request(name, x), timeout=30)
            t.check(r is not None, "the call succeeds")
        time.sleep(2.5)  # more than the exporter's 1 s interval
        with rx.lock:
            new = rx.spans[before:]
        t.eq([s["name"] for s in new if s["service"] in ("far", "near0")], [],
             "no spans from near0 (ratio 0) nor from far (it follows near0's sampled flag 00)")
        t.stop_server(near0)

    t.stop_server(near)
    t.stop_server(far)

    with t.case("a dynamic batch's span links to the requests it served"):
        cfg = os.path.join(t.workdir, "burn-batch.json")
        with open(cfg, "w") as fh:
            json.dump({"dynamic_batching": {"max_batch_size": 8, "max_queue_delay_us": 200000}}, fh)
        srv = t.start_server(args=["--otlp-endpoint", rx.url, "--otlp-service-name", "batcher",
                                   "--model-config", "identity=" + cfg])
        b = srv.broker()
        traces = ["%032x" % (0xd00 + i) for i in range(4)]
        futs = [b.Infer.future(infer_request("identity", np.ones((1, 3), np.float32)), timeout=30,
                               metadata=(("traceparent", "00-%s-%s-01" % (tr, CALLER_SPAN)),)) for tr in traces]
        for f in futs:
            f.result()
        ru.wait_for(lambda: all(len(rx.of_trace(tr)) >= 3 for tr in traces), 10)
        batches = [s for tr in traces for s in rx.of_trace(tr) if s["name"] == "batch identity"]
        reqs = {s["spanId"]: s["traceId"] for tr in traces for s in rx.of_trace(tr) if s["name"] == "infer identity"}
        t.check(len(reqs) == 4, "four request spans", str(reqs))
        linked = {(l["traceId"], l["spanId"]) for s in batches for l in s["links"]}
        t.check(all((tr, sid) in linked for sid, tr in reqs.items()), "every request span is linked from a batch",
                "%s vs %s" % (linked, reqs))
        t.check(any(s["attributes"].get("junction.batch.requests", 0) > 1 for s in batches),
                "at least one batch served several requests", str([s["attributes"] for s in batches]))
        t.check(all(s["parentSpanId"] in reqs for s in batches), "each batch sits under one of its requests")
        t.stop_server(srv)

    def timed_calls(srv, n):
        b = srv.broker()
        x1 = np.ones((1, 4), np.float32)
        t0 = time.monotonic()
        ok = 0
        for i in range(n):
            r = b.Infer(infer_request("demo-chain", x1, input_name="x"), timeout=30)
            ok += r is not None
        return ok, (time.monotonic() - t0) / n

    with t.case("a collector that is down costs the caller nothing; the lost spans are counted"):
        base = t.start_server(args=["--http-port", "any"])
        _, base_s = timed_calls(base, 300)
        t.stop_server(base)
        port = ru.free_port()  # nothing listens there
        srv = t.start_server(args=["--http-port", "any", "--otlp-endpoint", "http://127.0.0.1:%d" % port])
        ok, per = timed_calls(srv, 300)
        t.eq(ok, 300, "every call succeeds")
        print("  down collector: %.3f ms per call vs %.3f ms without tracing" % (per * 1e3, base_s * 1e3))
        t.check(per < base_s * 3 + 0.005, "no wait on the collector (%.2f ms vs %.2f ms)" % (per * 1e3, base_s * 1e3))
        ru.wait_for(lambda: (metric(srv, "junction_trace_spans_dropped_total", '{reason="export_failed"}') or 0) > 0,
                    10)
        t.check((metric(srv, "junction_trace_spans_dropped_total", '{reason="export_failed"}') or 0) > 0,
                "junction_trace_spans_dropped_total{reason=\"export_failed\"} rises")
        t.check((metric(srv, "junction_trace_export_failures_total") or 0) > 0, "failed exports are counted")
        t.stop_server(srv)

    with t.case("a slow collector: calls do not wait; the full queue drops and counts"):
        slow = Receiver(t.workdir, delay_ms=4000)
        try:
            srv = t.start_server(args=["--http-port", "any", "--otlp-endpoint", slow.url, "--trace-queue", "32"])
            ok, per = timed_calls(srv, 300)
            t.eq(ok, 300, "every call succeeds")
            print("  slow collector: %.3f ms per call" % (per * 1e3))
            t.check(per < base_s * 3 + 0.005, "no wait on the collector (%.2f ms vs %.2f ms)" % (per * 1e3,
                                                                                               base_s * 1e3))
            t.check((metric(srv, "junction_trace_spans_dropped_total", '{reason="queue_full"}') or 0) > 0,
                    "junction_trace_spans_dropped_total{reason=\"queue_full\"} rises")
            t0 = time.monotonic()
            t.stop_server(srv)
            t.check(time.monotonic() - t0 < 15, "shutdown is not held up by the collector")
        finally:
            slow.stop()


if __name__ == "__main__":
    harness.run(main)
