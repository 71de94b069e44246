#!/usr/bin/python3
"""The alert rules, the Grafana dashboard and the autoscaling configuration name only metrics junction exports.

Starts the real junction binary with every metric family in use: cluster mode on Debian's etcd (started here on free
loopback ports), a pipeline with a remote step (a second junction, called over KServe v2), a batched model (burn,
dynamic batching with a bounded queue), the response cache (identity), --max-inflight. Sends traffic over HTTP
(identity twice, the pipeline, a request without inputs, 16 concurrent burn calls) and one v2 stream call over
gRPC (python3-grpcio, stubs generated from proto/ as the e2e tests do), scrapes GET /metrics with curl, and checks:

- every family /metrics declares has samples (so the comparison below is against everything junction can export),
  and the new series carry what was configured: junction_model_queue_limit of burn is its queue.max_size,
  junction_inflight_limit is --max-inflight, junction_model_queue_depth of burn rose above 0 while the concurrent
  calls waited, junction_cluster_etcd_up is 1 (and turns 0 within 10 s of etcd being stopped, with the last-contact
  timestamp no later than the stop);
- every metric name in an expression of deploy/prometheus/junction-alerts.yaml, of
  deploy/grafana/junction-dashboard.json (panels and template variables) and of
  deploy/k8s/prometheus-adapter-config.yaml, and the HPA's metric, is exported (a histogram as NAME_bucket, NAME_sum,
  NAME_count; a family name alone is not a series), except the few series that Prometheus (up) and
  kube-state-metrics (kube_deployment_*) make, which are listed here with the reason;
- the dashboard is importable as far as can be told without Grafana: unique panel ids, the 24-column grid,
  Prometheus queries with distinct refIds, every $variable defined;
- the HPA's metric is also one the adapter rules serve.
Metric names are taken from PromQL by a small tokenizer (strings, label matchers, ranges and by/on(...) clauses
removed; identifiers followed by '(' are functions; keywords dropped); its own self-check runs first.

usage: /usr/bin/python3 tests/deploy/test_metrics_used.py /path/to/junction
"""
import glob
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(ROOT, "tests", "e2e"))
import grpc  # noqa: E402
import harness  # noqa: E402  (the e2e tests' helpers: stubs from proto/, die_with_parent)
from harness import pb  # noqa: E402
DEPLOY = os.path.join(ROOT, "deploy")
# Series junction does not export, and who does.
EXTERNAL = {
    "up": "Prometheus itself, per scrape target",
    "kube_deployment_status_replicas_available": "kube-state-metrics",
    "kube_deployment_spec_replicas": "kube-state-metrics",
}
KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "bool", "and", "or", "unless", "offset",
            "inf", "nan", "Inf", "NaN"}

passed = failed = 0


def check(cond, what, detail=""):
    global passed, failed
    if cond:
        passed += 1
        print("ok   " + what, flush=True)
    else:
        failed += 1
        print("FAIL " + what + (": %s" % detail if detail else ""), flush=True)
    return cond


# ---- metric names in PromQL ----

def promql_metrics(expr):
    e = re.sub(r"<<[^>]*>>", " ", expr)                      # prometheus-adapter's template fields
    e = re.sub(r'"(?:[^"\\]|\\.)*"', '""', e)                # string literals
    e = re.sub(r"'(?:[^'\\]|\\.)*'", "''", e)
    e = re.sub(r"\{[^}]*\}", " ", e)                         # label matchers
    e = re.sub(r"\[[^\]]*\]", " ", e)                        # ranges and subqueries
    e = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", e)
    names = set()
    for m in re.finditer(r"[A-Za-z_:][A-Za-z0-9_:]*", e):
        tok, before, after = m.group(0), e[:m.start()], e[m.end():].lstrip()
        if tok in KEYWORDS or after.startswith("(") or before.endswith("$") or re.search(r"[0-9.]$", before):
            continue
        names.add(tok)
    return names


def grafana_query_metrics(q):
    """A template variable's query: label_values(EXPR, label), query_result(EXPR), metrics(re) or plain PromQL."""
    m = re.match(r"^\s*label_values\((.*),\s*[A-Za-z_][A-Za-z0-9_]*\s*\)\s*$", q, re.S)
    if m:
        return promql_metrics(m.group(1))
    m = re.match(r"^\s*query_result\((.*)\)\s*$", q, re.S)
    return promql_metrics(m.group(1) if m else q)


def tokenizer_self_check():
    cases = [
        ('histogram_quantile(0.99, sum by (model, le) (rate(a_bucket{job="j",x=~"$v"}[$__rate_interval]))) > 0.5',
         {"a_bucket"}),
        ('sum(rate(b_total{outcome="failure"}[5m])) / on (pod) group_left(x) (c > 0) and d unless e offset 5m',
         {"b_total", "c", "d", "e"}),
        ('absent(up{job="junction"} == 1)', {"up"}),
        ("time() - f_seconds", {"f_seconds"}),
        ("sum(<<.Series>>{<<.LabelMatchers>>}) by (<<.GroupBy>>)", set()),
    ]
    for expr, want in cases:
        got = promql_metrics(expr)
        check(got == want, "tokenizer: %s -> %s" % (expr[:60], sorted(want)), sorted(got))
    got = grafana_query_metrics('label_values(g_total{job="junction"}, model)')
    check(got == {"g_total"}, "tokenizer: label_values(g_total{...}, model) -> g_total", sorted(got))


# ---- what the deploy files use ----

def dashboard_structure(dash, all_panels):
    """What Grafana needs to import the JSON: unique panel ids, panels on the 24-column grid, one refId per target,
    a Prometheus data source on every query, and every $variable used is defined."""
    check(dash.get("uid") and dash.get("title") and isinstance(dash.get("schemaVersion"), int),
          "dashboard: uid, title and schemaVersion")
    ids = [p.get("id") for p in all_panels]
    check(len(ids) == len(set(ids)) and None not in ids, "dashboard: panel ids are unique", ids)
    bad = [p.get("title") for p in all_panels
           if not (0 <= p["gridPos"]["x"] and p["gridPos"]["x"] + p["gridPos"]["w"] <= 24 and p["gridPos"]["h"] > 0)]
    check(not bad, "dashboard: every panel fits the 24-column grid", bad)
    bad = [p.get("title") for p in all_panels if p.get("type") != "row" and (
        not p.get("targets") or len({t.get("refId") for t in p["targets"]}) != len(p["targets"]) or
        any(t.get("datasource", p.get("datasource", {})).get("type") != "prometheus" for t in p["targets"]))]
    check(not bad, "dashboard: every panel has Prometheus queries with distinct refIds", bad)
    defined = {v["name"] for v in dash.get("templating", {}).get("list", [])} | {"__rate_interval", "__range", "__all",
                                                                                  "__interval"}
    used = set(re.findall(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)", json.dumps(dash)))
    check(used <= defined, "dashboard: every $variable used is defined", sorted(used - defined))

def used_metrics():
    """{file: {metric: [where, ...]}} and the HPA's metric names."""
    out = {}
    with open(os.path.join(DEPLOY, "prometheus", "junction-alerts.yaml")) as f:
        rules = yaml.safe_load(f)
    alerts = out.setdefault("deploy/prometheus/junction-alerts.yaml", {})
    for g in rules["groups"]:
        for r in g["rules"]:
            for n in promql_metrics(r["expr"]):
                alerts.setdefault(n, []).append(r.get("alert") or r.get("record"))
    with open(os.path.join(DEPLOY, "grafana", "junction-dashboard.json")) as f:
        dash = json.load(f)
    board = out.setdefault("deploy/grafana/junction-dashboard.json", {})
    n_targets = 0

    def panels(ps):
        for p in ps:
            yield p
            yield from panels(p.get("panels", []))

    for p in panels(dash.get("panels", [])):
        for t in p.get("targets", []):
            n_targets += 1
            for n in promql_metrics(t.get("expr", "")):
                board.setdefault(n, []).append("panel '%s'" % p.get("title"))
    for v in dash.get("templating", {}).get("list", []):
        if v.get("type") == "query":
            q = v["query"]["query"] if isinstance(v.get("query"), dict) else v.get("query", "")
            for n in grafana_query_metrics(q):
                board.setdefault(n, []).append("variable $%s" % v["name"])
    check(n_targets >= 20, "the dashboard has its panels' queries (%d)" % n_targets)
    dashboard_structure(dash, list(panels(dash.get("panels", []))))
    adapter = out.setdefault("deploy/k8s/prometheus-adapter-config.yaml", {})
    served = set()
    with open(os.path.join(DEPLOY, "k8s", "prometheus-adapter-config.yaml")) as f:
        cm = yaml.safe_load(f)
    for r in yaml.safe_load(cm["data"]["config.yaml"])["rules"]:
        for field in ("seriesQuery", "metricsQuery"):
            for n in promql_metrics(r.get(field, "")):
                adapter.setdefault(n, []).append("rule %s" % field)
        series = promql_metrics(r["seriesQuery"])
        served |= {r.get("name", {}).get("as")} if r.get("name", {}).get("as") else series
    with open(os.path.join(DEPLOY, "k8s", "hpa.yaml")) as f:
        hpa = yaml.safe_load(f)
    hpa_metrics = [m["pods"]["metric"]["name"] for m in hpa["spec"]["metrics"] if m["type"] == "Pods"]
    out.setdefault("deploy/k8s/hpa.yaml", {}).update({n: ["spec.metrics"] for n in hpa_metrics})
    return out, hpa_metrics, served


# ---- a running junction ----

def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Etcd:
    def __init__(self, workdir):
        self.dir = os.path.join(workdir, "etcd")
        self.client, self.peer = free_port(), free_port()
        self.log = open(os.path.join(workdir, "etcd.log"), "ab")
        self.proc = subprocess.Popen(harness.die_with_parent(
            [shutil.which("etcd") or "/usr/bin/etcd", "--name", "t", "--data-dir", self.dir,
             "--listen-client-urls", "http://127.0.0.1:%d" % self.client,
             "--advertise-client-urls", "http://127.0.0.1:%d" % self.client,
             "--listen-peer-urls", "http://127.0.0.1:%d" % self.peer,
             "--initial-advertise-peer-urls", "http://127.0.0.1:%d" % self.peer,
             "--initial-cluster", "t=http://127.0.0.1:%d" % self.peer]),
            stdout=self.log, stderr=self.log, stdin=subprocess.DEVNULL)
        deadline = time.time() + 30
        while time.time() < deadline:
            try:
                with urllib.request.urlopen("http://127.0.0.1:%d/health" % self.client, timeout=1) as r:
                    if b"true" in r.read():
                        return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("etcd did not become healthy within 30 s")

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


class Junction:
    def __init__(self, binary, args, workdir, name):
        self.err = open(os.path.join(workdir, name + ".stderr"), "wb")
        argv = [binary, "serve", "--host", "127.0.0.1", "--grpc-port", "0"] + args
        self.proc = subprocess.Popen(harness.die_with_parent(argv),
                                     stdout=subprocess.PIPE, stderr=self.err, stdin=subprocess.DEVNULL)
        self.http = self.grpc = None
        deadline = time.time() + 60
        while self.grpc is None and time.time() < deadline:
            line = self.proc.stdout.readline().decode()
            if not line:
                raise RuntimeError("junction %s exited before it was ready (see %s.stderr)" % (name, name))
            m = re.match(r"junction: serving (HTTP|gRPC) on [0-9.]+:(\d+)", line)
            if m and m.group(1) == "HTTP":
                self.http = int(m.group(2))
            elif m:
                self.grpc = int(m.group(2))

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def infer(port, model, data, timeout=30):
    body = json.dumps({"inputs": [{"name": "x" if model == "ops-chain" else "input", "shape": [1, len(data)],
                                   "datatype": "FP32", "data": data}]}).encode()
    req = urllib.request.Request("http://127.0.0.1:%d/v2/models/%s/infer" % (port, model), data=body,
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return json.loads(r.read())


def scrape(port):
    r = subprocess.run(["curl", "-sf", "http://127.0.0.1:%d/metrics" % port], stdout=subprocess.PIPE, timeout=30)
    if r.returncode:
        raise RuntimeError("curl /metrics: exit status %d" % r.returncode)
    text = r.stdout.decode()
    families, samples = {}, {}
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, typ = line.split(" ", 3)
            families[name] = typ
        elif line and not line.startswith("#"):
            m = re.match(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)$", line)
            if m:
                samples.setdefault(m.group(1), []).append((m.group(2) or "", float(m.group(3))))
    return families, samples


def value(samples, name, **labels):
    for lab, v in samples.get(name, []):
        if all('%s="%s"' % (k, val) in lab for k, val in labels.items()):
            return v
    return None


def exported_names(families):
    names = set()
    for name, typ in families.items():
        names |= {name + s for s in ("_bucket", "_sum", "_count")} if typ in ("histogram",) else {name}
    return names


def run_server(binary, work):
    etcd = Etcd(work)
    far = Junction(binary, ["--http-port", "0", "--state-dir", "none"], work, "far")
    with open(os.path.join(work, "remotes.json"), "w") as f:
        json.dump([{"name": "far-identity", "endpoint": "127.0.0.1:%d" % far.grpc, "protocol": "kserve_v2",
                    "model": "identity", "version": ""}], f)
    os.mkdir(os.path.join(work, "pipelines"))
    with open(os.path.join(work, "pipelines", "ops-chain.json"), "w") as f:
        json.dump({"name": "ops-chain",
                   "inputs": [{"name": "x", "kind": "TENSOR", "datatype": "FP32", "shape": [-1, -1]}],
                   "steps": [{"id": "near", "model": "identity", "inputs": {"input": "x"}},
                             {"id": "far", "model": "far-identity", "inputs": {"input": "near.output"}}],
                   "outputs": [{"name": "y", "from": "far.output"}]}, f)
    with open(os.path.join(work, "burn.json"), "w") as f:
        json.dump({"dynamic_batching": {"max_batch_size": 4, "max_queue_delay_us": 1000, "queue": {"max_size": 64}}},
                  f)
    with open(os.path.join(work, "cache.json"), "w") as f:
        json.dump({"response_cache": True}, f)
    args = ["--http-port", "any", "--registry", "etcd://127.0.0.1:%d" % etcd.client,
            "--remotes", os.path.join(work, "remotes.json"), "--pipelines", os.path.join(work, "pipelines"),
            "--model-config", "burn=" + os.path.join(work, "burn.json"),
            "--model-config", "identity=" + os.path.join(work, "cache.json"),
            "--cache-mb", "8", "--burn-ms", "40", "--max-inflight", "100"]
    return etcd, far, Junction(binary, args, work, "junction")


def stream_call(grpc_port):
    """One v2 ModelStreamInfer stream with one request (the stream families get their series)."""
    req = pb.v2.ModelInferRequest(model_name="identity")
    t = req.inputs.add()
    t.name, t.datatype = "input", "FP32"
    t.shape.extend([1, 2])
    t.contents.fp32_contents.extend([5.0, 6.0])
    with grpc.insecure_channel("127.0.0.1:%d" % grpc_port) as ch:
        stub = pb.v2_grpc.GRPCInferenceServiceStub(ch)
        answers = list(stub.ModelStreamInfer(iter([req]), timeout=30))
    check(len(answers) == 1 and not answers[0].error_message and answers[0].infer_response.model_name == "identity",
          "a v2 ModelStreamInfer stream answers", answers)


def traffic(port):
    a = infer(port, "identity", [1.0, 2.0])
    b = infer(port, "identity", [1.0, 2.0])  # the same request: answered from the cache
    check(a["outputs"][0]["data"] == b["outputs"][0]["data"] == [1.0, 2.0], "identity answers (twice, one cached)")
    c = infer(port, "ops-chain", [3.0, 4.0])
    check(c["outputs"][0]["data"] == [3.0, 4.0], "the pipeline with the remote step answers", c)
    try:  # a request without inputs: a failure, counted under outcome="failure"
        urllib.request.urlopen(urllib.request.Request("http://127.0.0.1:%d/v2/models/identity/infer" % port,
                                                      data=b"{}", headers={"Content-Type": "application/json"}),
                               timeout=5)
        check(False, "a request without inputs is refused")
    except urllib.error.HTTPError as e:
        check(e.code == 400, "a request without inputs is refused (400)", e.code)
    # 16 concurrent burn calls (40 ms each, batches of at most 4 rows): most of them wait in burn's queue.
    results, depth_seen = [], [0.0]
    threads = [threading.Thread(target=lambda i=i: results.append(infer(port, "burn", [float(i)])))
               for i in range(16)]
    for th in threads:
        th.start()
    deadline = time.time() + 10
    while any(th.is_alive() for th in threads) and time.time() < deadline:
        _, s = scrape(port)
        depth_seen[0] = max(depth_seen[0], value(s, "junction_model_queue_depth", model="burn") or 0)
    for th in threads:
        th.join(30)
    check(len(results) == 16, "16 concurrent burn calls answered", len(results))
    return depth_seen[0]


def main():
    if len(sys.argv) != 2:
        sys.stderr.write(__doc__)
        sys.exit(2)
    binary = os.path.abspath(sys.argv[1])
    tokenizer_self_check()
    used, hpa_metrics, served = used_metrics()
    for path, names in sorted(used.items()):
        check(any(n.startswith("junction_") for n in names), "%s names junction metrics (%d names)"
              % (path, len(names)), sorted(names))
    check(shutil.which("curl") and shutil.which("etcd"), "curl and etcd (Debian's etcd-server) are installed")
    work = tempfile.mkdtemp(prefix="junction-metrics-used-")
    etcd = far = srv = None
    try:
        harness.generate_stubs(work)
        etcd, far, srv = run_server(binary, work)
        depth = traffic(srv.http)
        stream_call(srv.grpc)
        families, samples = scrape(srv.http)
        empty = sorted(f for f in families if not any(s == f or s.startswith(f + "_") for s in samples))
        check(len(families) >= 20 and not empty, "every family in /metrics has samples (%d families)"
              % len(families), empty)
        check(value(samples, "junction_model_queue_limit", model="burn") == 64,
              "junction_model_queue_limit of burn is its queue.max_size (64)",
              value(samples, "junction_model_queue_limit", model="burn"))
        check(value(samples, "junction_model_queue_limit", model="embed") == 1024,
              "junction_model_queue_limit of a model on the shared workers is --max-model-queue (1024)")
        check(depth > 0, "junction_model_queue_depth of burn rose above 0 under 16 concurrent calls (max %g)" % depth)
        check(value(samples, "junction_model_queue_depth", model="burn") == 0, "and is 0 once they are answered")
        check(value(samples, "junction_inflight_limit") == 100, "junction_inflight_limit is --max-inflight (100)")
        check((value(samples, "junction_model_batch_size_count", model="burn") or 0) >= 1,
              "burn's executions are in junction_model_batch_size")
        check(value(samples, "junction_model_cache_hits_total", model="identity") == 1,
              "one response-cache hit for identity")
        check(value(samples, "junction_pipeline_step_runs_total", pipeline="ops-chain", step="far",
                    outcome="success") == 1, "the remote step ran once")
        endpoint = "127.0.0.1:%d" % far.grpc
        check(value(samples, "junction_remote_breaker_state", endpoint=endpoint, state="closed") == 1,
              "the remote endpoint's breaker is closed")
        check((value(samples, "junction_remote_calls_total", endpoint=endpoint, outcome="success") or 0) >= 1,
              "the remote endpoint's calls are counted")
        check(value(samples, "junction_cluster_etcd_up") == 1, "junction_cluster_etcd_up is 1 with etcd running")
        last = value(samples, "junction_cluster_etcd_last_contact_timestamp_seconds") or 0
        check(abs(time.time() - last) < 120, "junction_cluster_etcd_last_contact_timestamp_seconds is recent", last)

        exported = exported_names(families)
        for path, names in sorted(used.items()):
            for n, where in sorted(names.items()):
                if n in EXTERNAL:
                    check(True, "%s: %s is made by %s" % (path, n, EXTERNAL[n]))
                    continue
                check(n in exported, "%s: %s (%s) is exported by junction" % (path, n, ", ".join(sorted(set(where)))))
        for m in hpa_metrics:
            check(m in exported and families.get(m) == "gauge", "the HPA's metric %s is a gauge in /metrics" % m)
            check(m in served, "the HPA's metric %s is served by the adapter rules" % m, sorted(served))

        stopped = time.time()
        etcd.stop()
        up = None
        deadline = time.time() + 10
        while time.time() < deadline:
            _, s = scrape(srv.http)
            up = value(s, "junction_cluster_etcd_up")
            if up == 0:
                break
            time.sleep(0.2)
        check(up == 0, "junction_cluster_etcd_up turns 0 within 10 s of etcd stopping (%.1f s)"
              % (time.time() - stopped), up)
        _, s = scrape(srv.http)
        last = value(s, "junction_cluster_etcd_last_contact_timestamp_seconds")
        check(last is not None and last <= stopped + 1, "and the last contact is no later than the stop",
              (last, stopped))
    finally:
        for p in (srv, far, etcd):
            if p:
                p.stop()
        if not failed:
            shutil.rmtree(work, ignore_errors=True)
        else:
            print("work directory kept: %s" % work)
    print("%d passed, %d failed" % (passed, failed))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
