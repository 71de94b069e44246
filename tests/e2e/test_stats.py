#!/usr/bin/python3
"""The v2 statistics extension end to end (Triton's docs/protocol/extension_statistics.md), with a client written
here from that document: gRPC inference.GRPCInferenceService/ModelStatistics through the stubs generated from
proto/inference/grpc_service.proto, and REST GET /v2/models[/{name}[/versions/{v}]]/stats with urllib.

- after a known number of successful and failed ModelInfer and REST infer calls on `identity` (requests of 1 and
  3 rows): success.count, fail.count, inference_count in rows, execution_count, queue / compute_* counts equal to
  the executions, durations > 0, batch_stats entries for the batch sizes sent, last_inference a plausible epoch-ms;
  the gRPC and REST answers carry the same figures;
- no name: every registered model listed (the same names as junction.v1 ListModels and GET /v1/models);
- unknown model and unknown version: NOT_FOUND / 404 naming them; a version without a name: INVALID_ARGUMENT;
- "statistics" in the v2 server metadata extensions (gRPC and REST);
- a pipeline replaced under the same name starts from zero;
- Prometheus: the batch-size histogram and the cache counters per model, and promtool accepts the live /metrics;
- with --client-token-file: ModelStatistics and GET .../stats refused without a token, served with it.

usage: /usr/bin/python3 tests/e2e/test_stats.py /path/to/junction
"""
import json
import os
import re
import subprocess
import sys
import time
import urllib.error
import urllib.request

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import grpc  # noqa: E402
import numpy as np  # noqa: E402

import harness  # noqa: E402
from harness import pb, v2_request  # noqa: E402

TIMEOUT = 30.0
NOT_FOUND = grpc.StatusCode.NOT_FOUND
DURATIONS = ("success", "fail", "queue", "compute_input", "compute_infer", "compute_output", "cache_hit",
             "cache_miss")
CLIENT_TOKEN = "cli-5d0e8b31c7a94f26"


# The statistics client -----------------------------------------------------------------------------------------------

def grpc_stats(t, v2, name="", version="", metadata=None):
    """ModelStatistics -> {name: $model_stat as the REST JSON has it} (None after a recorded failure)."""
    r = t.call("ModelStatistics(name=%r, version=%r)" % (name, version), v2.ModelStatistics,
               pb.v2.ModelStatisticsRequest(name=name, version=version), metadata=metadata)
    if r is None:
        return None
    out = {}
    for m in r.model_stats:
        out[m.name] = {
            "name": m.name,
            "version": m.version,
            "last_inference": m.last_inference,
            "inference_count": m.inference_count,
            "execution_count": m.execution_count,
            "inference_stats": {d: {"count": getattr(m.inference_stats, d).count,
                                    "ns": getattr(m.inference_stats, d).ns} for d in DURATIONS},
            "batch_stats": [{"batch_size": b.batch_size,
                             "compute_input": {"count": b.compute_input.count, "ns": b.compute_input.ns},
                             "compute_infer": {"count": b.compute_infer.count, "ns": b.compute_infer.ns},
                             "compute_output": {"count": b.compute_output.count, "ns": b.compute_output.ns}}
                            for b in m.batch_stats],
        }
    return out


def http(srv, method, path, body=None, token=None):
    """(status, parsed JSON or None, raw body)."""
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request("http://%s%s" % (srv.http_address, path), data=data, method=method)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", "Bearer " + token)
    try:
        with urllib.request.urlopen(req, timeout=TIMEOUT) as r:
            status, raw = r.status, r.read()
    except urllib.error.HTTPError as e:
        status, raw = e.code, e.read()
    try:
        doc = json.loads(raw) if raw else None
    except ValueError:
        doc = None
    return status, doc, raw


def rest_stats(t, srv, path, token=None):
    """GET path -> {name: $model_stat} (None after a recorded failure)."""
    status, doc, raw = http(srv, "GET", path, token=token)
    if not t.check(status == 200 and isinstance(doc, dict) and isinstance(doc.get("model_stats"), list),
                   "GET %s: 200 with a model_stats array" % path, "%s %r" % (status, raw[:300])):
        return None
    return {m.get("name"): m for m in doc["model_stats"]}


def check_shape(t, what, m):
    """The $model_stat schema: every field there, numbers non-negative integers."""
    keys = {"name", "version", "last_inference", "inference_count", "execution_count", "inference_stats",
            "batch_stats"}
    ok = isinstance(m, dict) and keys <= set(m)
    ok = ok and all(isinstance(m[k], int) and m[k] >= 0 for k in ("last_inference", "inference_count",
                                                                 "execution_count"))
    ok = ok and isinstance(m["inference_stats"], dict) and set(m["inference_stats"]) >= set(DURATIONS)
    ok = ok and all(isinstance(m["inference_stats"][d].get(f), int) for d in DURATIONS for f in ("count", "ns"))
    ok = ok and isinstance(m["batch_stats"], list) and all(
        isinstance(b.get("batch_size"), int) and all(isinstance(b.get(p), dict) and set(b[p]) == {"count", "ns"}
                                                      for p in ("compute_input", "compute_infer", "compute_output"))
        for b in m["batch_stats"])
    return t.check(ok, "%s: the $model_stat schema of the protocol document" % what, repr(m)[:600])


# Traffic ----------------------------------------------------------------------------------------------------------------

def rows(n):
    return np.arange(4 * n, dtype=np.float32).reshape(n, 4) + 0.5


def rest_infer_body(x, name="input"):
    return {"inputs": [{"name": name, "shape": list(x.shape), "datatype": "FP32", "data": x.reshape(-1).tolist()}]}


def send_traffic(t, srv, v2):
    """3 gRPC and 2 REST successes (rows 1, 1, 3 and 1, 3), then 2 gRPC and 1 REST failures (an unknown input)."""
    for n in (1, 1, 3):
        r = t.call("ModelInfer identity %d row(s)" % n, v2.ModelInfer, v2_request("identity", rows(n)))
        t.check(r is not None and list(r.outputs[0].shape) == [n, 4], "ModelInfer identity %d row(s): answered" % n)
    for n in (1, 3):
        status, doc, raw = http(srv, "POST", "/v2/models/identity/infer", rest_infer_body(rows(n)))
        t.check(status == 200 and doc and doc["outputs"][0]["shape"] == [n, 4],
                "REST infer identity %d row(s): 200" % n, "%s %r" % (status, raw[:300]))
    for i in range(2):
        t.expect_error("ModelInfer identity with an unknown input fails (%d)" % i, v2.ModelInfer,
                       grpc.StatusCode.INVALID_ARGUMENT, "nope", args=(v2_request("identity", rows(2),
                                                                                  input_name="nope"),),
                       alive=False)
    status, doc, raw = http(srv, "POST", "/v2/models/identity/infer", rest_infer_body(rows(2), name="nope"))
    t.check(status == 400, "REST infer identity with an unknown input: 400", "%s %r" % (status, raw[:300]))


# Checks -----------------------------------------------------------------------------------------------------------------

def check_counts(t, what, m, t0_ms, t1_ms):
    """The figures after send_traffic on a fresh server."""
    check_shape(t, what, m)
    s = m["inference_stats"]
    t.eq(s["success"]["count"], 5, "%s: success.count = the 5 successful calls" % what)
    t.eq(s["fail"]["count"], 3, "%s: fail.count = the 3 failed calls" % what)
    t.eq(m["inference_count"], 9, "%s: inference_count counts rows (1+1+3 gRPC, 1+3 REST)" % what)
    t.eq(m["execution_count"], 5, "%s: execution_count = one execution per successful call" % what)
    for d in ("compute_input", "compute_infer", "compute_output"):
        t.eq(s[d]["count"], 5, "%s: %s.count = the executions" % (what, d))
    # queue counts the requests that reached execution: the successes, and failures refused once a worker took them
    # (the unknown input is found then); never fewer than the successes, never more than all calls.
    t.check(5 <= s["queue"]["count"] <= 8, "%s: queue.count counts the executed requests (5 <= %d <= 8)"
            % (what, s["queue"]["count"]))
    t.check(s["success"]["ns"] > 0 and s["fail"]["ns"] > 0 and s["compute_infer"]["ns"] > 0,
            "%s: success, fail and compute_infer durations > 0 ns" % what, repr(s))
    t.check(s["success"]["ns"] >= s["compute_infer"]["ns"],
            "%s: the requests' total time covers their engine time" % what, repr(s))
    t.eq((s["cache_hit"]["count"], s["cache_miss"]["count"]), (0, 0),
         "%s: no response cache configured, no cache lookups" % what)
    by_size = {b["batch_size"]: b for b in m["batch_stats"]}
    t.eq(sorted(by_size), [1, 3], "%s: batch_stats has the batch sizes sent (1 and 3 rows)" % what)
    for size, n in ((1, 3), (3, 2)):
        b = by_size.get(size)
        if b is None:
            continue
        t.eq([b[p]["count"] for p in ("compute_input", "compute_infer", "compute_output")], [n, n, n],
             "%s: batch_size %d executed %d times" % (what, size, n))
        t.check(b["compute_infer"]["ns"] > 0, "%s: batch_size %d compute_infer ns > 0" % (what, size), repr(b))
    t.check(t0_ms <= m["last_inference"] <= t1_ms, "%s: last_inference is a plausible epoch-ms (%d in [%d, %d])"
            % (what, m["last_inference"], t0_ms, t1_ms))


def check_listing(t, srv, v2, broker):
    r = t.call("ListModels", broker.ListModels, pb.broker.ListModelsRequest())
    names = sorted(m.name for m in r.models) if r else []
    g = grpc_stats(t, v2)
    if g is not None:
        t.check(names and sorted(g) == names, "ModelStatistics with no name lists every registered model",
                "stats %r vs ListModels %r" % (sorted(g), names))
        versions = {m.name: list(m.versions) for m in r.models} if r else {}
        t.check(all([g[n]["version"]] == versions.get(n) for n in g), "every entry carries its model's version",
                repr({n: (g[n]["version"], versions.get(n)) for n in g}))
    h = rest_stats(t, srv, "/v2/models/stats")
    if h is not None:
        t.check(sorted(h) == names, "GET /v2/models/stats lists every registered model", repr(sorted(h)))
        for n in ("identity", "burn"):
            if n in h:
                check_shape(t, "GET /v2/models/stats entry %s" % n, h[n])
    status, doc, raw = http(srv, "POST", "/v2/models/stats", {})
    t.check(status == 405, "POST /v2/models/stats: 405", "%s %r" % (status, raw[:200]))


def check_errors(t, srv, v2, version):
    t.expect_error("ModelStatistics of an unknown model: NOT_FOUND naming it", v2.ModelStatistics, NOT_FOUND,
                   "no-such-model", args=(pb.v2.ModelStatisticsRequest(name="no-such-model"),), alive=False)
    t.expect_error("ModelStatistics of an unknown version: NOT_FOUND naming it", v2.ModelStatistics, NOT_FOUND,
                   "identity", "'999'", args=(pb.v2.ModelStatisticsRequest(name="identity", version="999"),),
                   alive=False)
    t.expect_error("ModelStatistics with a version and no name: INVALID_ARGUMENT", v2.ModelStatistics,
                   grpc.StatusCode.INVALID_ARGUMENT, "version", "name",
                   args=(pb.v2.ModelStatisticsRequest(version=version),), alive=False)
    for path, needle in (("/v2/models/no-such-model/stats", "no-such-model"),
                         ("/v2/models/identity/versions/999/stats", "'999'"),
                         ("/v2/models/no-such-model/versions/%s/stats" % version, "no-such-model")):
        status, doc, raw = http(srv, "GET", path)
        t.check(status == 404 and isinstance(doc, dict) and needle in str(doc.get("error")),
                "GET %s: 404 {\"error\"} naming %s" % (path, needle), "%s %r" % (status, raw[:300]))


def metric_lines(text, prefix):
    return [l for l in text.splitlines() if l.startswith(prefix)]


def check_prometheus(t, srv):
    status, _, raw = http(srv, "GET", "/metrics")
    text = raw.decode(errors="replace")
    t.check(status == 200, "GET /metrics: 200")
    for family, kind in (("junction_model_batch_size", "histogram"), ("junction_model_cache_hits_total", "counter"),
                         ("junction_model_cache_misses_total", "counter")):
        t.check("# TYPE %s %s\n" % (family, kind) in text and "# HELP %s " % family in text,
                "/metrics: %s has HELP and TYPE %s" % (family, kind))
    buckets = metric_lines(text, 'junction_model_batch_size_bucket{model="identity",')
    les = [re.search(r'le="([^"]+)"', l).group(1) for l in buckets]
    t.eq(les, ["1", "2", "4", "8", "16", "32", "64", "128", "256", "+Inf"],
         "/metrics: identity's batch-size buckets 1..256 and +Inf")
    counts = [float(l.rsplit(" ", 1)[1]) for l in buckets]
    total = metric_lines(text, 'junction_model_batch_size_count{model="identity"} ')
    t.check(counts == sorted(counts) and len(total) == 1 and float(total[0].rsplit(" ", 1)[1]) == counts[-1],
            "/metrics: identity's batch-size buckets cumulative, _count = +Inf", repr(buckets + total))
    for family in ("junction_model_cache_hits_total", "junction_model_cache_misses_total"):
        t.eq(len(metric_lines(text, '%s{model="identity"} ' % family)), 1, "/metrics: %s for identity" % family)
    # The queue time is the existing latency histogram's queue phase; it saw identity's executed requests.
    q = metric_lines(text, 'junction_request_duration_seconds_count{model="identity",phase="queue"} ')
    t.check(len(q) == 1 and float(q[0].rsplit(" ", 1)[1]) >= 5, "/metrics: identity's queue-time histogram "
            "observed the executed requests", repr(q))
    try:
        chk = subprocess.run(["promtool", "check", "metrics"], input=raw, capture_output=True, timeout=60)
        t.check(chk.returncode == 0, "promtool check metrics accepts the live /metrics output",
                (chk.stdout + chk.stderr).decode(errors="replace")[:2000])
    except FileNotFoundError:
        t.check(False, "promtool is installed (scripts/install-deps.sh)", "promtool not found on PATH")


PIPE = {
    "name": "stats-pipe",
    "inputs": [{"name": "x", "kind": "TENSOR", "datatype": "FP32", "shape": [-1, -1]}],
    "steps": [{"id": "a", "model": "identity", "inputs": {"input": "x"}}],
    "outputs": [{"name": "y", "from": "a.output"}],
}


def check_replaced(t, srv, v2):
    status, _, raw = http(srv, "PUT", "/v1/pipelines/stats-pipe", PIPE)
    t.check(status in (200, 201), "PUT /v1/pipelines/stats-pipe", "%s %r" % (status, raw[:300]))
    for i in range(2):
        t.call("ModelInfer stats-pipe (%d)" % i, v2.ModelInfer, v2_request("stats-pipe", rows(2), input_name="x"))
    g = grpc_stats(t, v2, "stats-pipe")
    if g is not None and "stats-pipe" in g:
        t.eq(g["stats-pipe"]["inference_stats"]["success"]["count"], 2, "stats-pipe counts its 2 calls")
    status, _, raw = http(srv, "PUT", "/v1/pipelines/stats-pipe", PIPE)
    t.check(status in (200, 201), "PUT /v1/pipelines/stats-pipe again (replaces it)", "%s %r" % (status, raw[:300]))
    g = grpc_stats(t, v2, "stats-pipe")
    if g is not None and "stats-pipe" in g:
        m = g["stats-pipe"]
        t.eq((m["inference_stats"]["success"]["count"], m["execution_count"], m["last_inference"], m["batch_stats"]),
             (0, 0, 0, []), "a replaced pipeline starts from zero (success, executions, last_inference, batches)")


def check_auth(t):
    path = os.path.join(t.workdir, "client.token")
    with open(path, "w") as f:
        f.write(CLIENT_TOKEN + "\n")
    srv = t.start_server(["--client-token-file", path, "--http-port", "any"], probe=False)
    v2 = srv.v2()
    t.expect_error("ModelStatistics without a token: UNAUTHENTICATED", v2.ModelStatistics,
                   grpc.StatusCode.UNAUTHENTICATED, "client token",
                   args=(pb.v2.ModelStatisticsRequest(name="identity"),), alive=False)
    g = grpc_stats(t, v2, "identity", metadata=[("authorization", "Bearer " + CLIENT_TOKEN)])
    t.check(g is not None and "identity" in g, "ModelStatistics with the client token: served")
    for p in ("/v2/models/stats", "/v2/models/identity/stats"):
        status, _, raw = http(srv, "GET", p)
        t.check(status == 401, "GET %s without a token: 401" % p, "%s %r" % (status, raw[:200]))
        status, doc, raw = http(srv, "GET", p, token=CLIENT_TOKEN)
        t.check(status == 200 and "model_stats" in (doc or {}), "GET %s with the client token: 200" % p,
                "%s %r" % (status, raw[:200]))
    t.stop_server(srv)


def main(t):
    srv = t.start_server(["--http-port", "any"], probe=False)  # no probe: its identity calls would count
    v2, broker = srv.v2(), srv.broker()

    with t.case("server metadata"):
        r = t.call("ServerMetadata", v2.ServerMetadata, pb.v2.ServerMetadataRequest())
        t.check(r is not None and "statistics" in r.extensions, "gRPC ServerMetadata lists 'statistics'",
                repr(r))
        status, doc, raw = http(srv, "GET", "/v2")
        t.check(status == 200 and "statistics" in (doc or {}).get("extensions", []),
                "GET /v2 lists 'statistics'", repr(raw[:300]))

    md = t.call("ModelMetadata identity", v2.ModelMetadata, pb.v2.ModelMetadataRequest(name="identity"))
    version = md.versions[0] if md and md.versions else "1"

    with t.case("fresh model: zeros"):
        g = grpc_stats(t, v2, "identity")
        if g is not None:
            m = g.get("identity", {})
            check_shape(t, "fresh identity", m)
            t.eq((m.get("last_inference"), m.get("inference_count"), m.get("execution_count"), m.get("batch_stats")),
                 (0, 0, 0, []), "a model never called: last_inference 0, no counts, no batch_stats")

    with t.case("figures after known traffic"):
        t0_ms = int(time.time() * 1000)
        send_traffic(t, srv, v2)
        t1_ms = int(time.time() * 1000) + 1
        g = grpc_stats(t, v2, "identity")
        gv = grpc_stats(t, v2, "identity", version)
        h = rest_stats(t, srv, "/v2/models/identity/stats")
        hv = rest_stats(t, srv, "/v2/models/identity/versions/%s/stats" % version)
        if g is not None:
            t.eq(sorted(g), ["identity"], "ModelStatistics(name=identity) answers identity alone")
            check_counts(t, "gRPC", g.get("identity", {}), t0_ms, t1_ms)
            t.eq(g["identity"].get("version"), version, "gRPC: the entry's version is the model's")
        if h is not None:
            t.eq(sorted(h), ["identity"], "GET /v2/models/identity/stats answers identity alone")
            check_counts(t, "REST", h.get("identity", {}), t0_ms, t1_ms)
            t.eq(h["identity"].get("version"), version, "REST: the entry's version is the model's")
        # No traffic in between: all four answers carry the same figures, nanoseconds included.
        t.check(g is not None and g == gv == h == hv, "gRPC and REST, with and without the version, agree",
                "%r\n%r" % (g, h))

    with t.case("listing"):
        check_listing(t, srv, v2, broker)
    with t.case("errors"):
        check_errors(t, srv, v2, version)
    with t.case("prometheus"):
        check_prometheus(t, srv)
    with t.case("replaced model"):
        check_replaced(t, srv, v2)
    t.stop_server(srv)

    with t.case("auth"):
        check_auth(t)


if __name__ == "__main__":
    harness.run(main)
