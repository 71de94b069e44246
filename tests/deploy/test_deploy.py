#!/usr/bin/python3
"""deploy/ references only what exists: the Kubernetes manifests parse (python3-yaml) and agree with each other and with
the repository, and the Dockerfile builds from files that exist and ships the libraries the binary links.

- deploy/k8s/*.yaml parse; Deployment, Service and ConfigMap are there; selectors match the pod labels; volume mounts
  name declared volumes; the pipelines volume names the ConfigMap; probes are gRPC probes on a declared container port;
  Service targetPorts name declared container ports; every container has resource requests; runAsNonRoot;
- the HorizontalPodAutoscaler (autoscaling/v2, Pods metric, AverageValue target) scales the Deployment, which then has
  no replicas field of its own; the PodDisruptionBudget (policy/v1) selects its pods and lets a drain proceed;
  prometheus-adapter's rules are well formed and serve the HPA's metric (field checks: Kubernetes' schemas are not
  available from Debian for kubeconform, and kubectl validates only against a live API server);
- the pipelines ConfigMap's pipelines are exactly deploy/pipelines/*.json (same JSON) and each passes
  `junction pipeline check`;
- every `--flag` in the container args and the Dockerfile's ENTRYPOINT/CMD is listed by `junction serve --help`;
- every Dockerfile COPY source (outside --from stages) exists in the repository; the build stage's packages are
  packages scripts/install-deps.sh installs; every library the built binary needs (ELF NEEDED, resolved with ldd) comes
  from a package the runtime stage installs (or from debian:12-slim's own base: libc6, libgcc-s1, libstdc++6); every
  runtime package exists in apt.

usage: /usr/bin/python3 tests/deploy/test_deploy.py /path/to/junction
"""
import glob
import json
import os
import re
import shlex
import subprocess
import sys

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEPLOY = os.path.join(ROOT, "deploy")
BASE_PACKAGES = {"libc6", "libgcc-s1", "libstdc++6"}  # in debian:12-slim already

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


def run(argv, **kw):
    return subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120, **kw)


def load_manifests():
    docs = {}
    for path in sorted(glob.glob(os.path.join(DEPLOY, "k8s", "*.yaml"))):
        try:
            with open(path) as f:
                for d in yaml.safe_load_all(f):
                    if d:
                        docs.setdefault(d["kind"], []).append(d)
            check(True, "%s parses" % os.path.relpath(path, ROOT))
        except yaml.YAMLError as e:
            check(False, "%s parses" % os.path.relpath(path, ROOT), str(e))
    return docs


def serve_flags(binary):
    r = run([binary, "serve", "--help"])
    return set(re.findall(r"(--[a-z][a-z0-9-]*)", r.stdout.decode()))


def check_flags(args, known, where):
    unknown = [a.split("=")[0] for a in args if a.startswith("--") and a.split("=")[0] not in known]
    check(not unknown, "%s: every flag is a `junction serve` option" % where, unknown)


def kubernetes(docs, binary, flags):
    for kind in ("Deployment", "Service", "ConfigMap"):
        check(kind in docs, "a %s is defined" % kind)
    if not all(k in docs for k in ("Deployment", "Service", "ConfigMap")):
        return
    dep = docs["Deployment"][0]
    registry_urls = []
    spec = dep["spec"]
    pod = spec["template"]
    labels = pod["metadata"]["labels"]
    sel = spec["selector"]["matchLabels"]
    check(all(labels.get(k) == v for k, v in sel.items()), "Deployment selector matches its pod labels")
    hpas = [h for h in docs.get("HorizontalPodAutoscaler", [])
            if h["spec"]["scaleTargetRef"].get("name") == dep["metadata"]["name"]]
    if hpas:  # the HPA owns the count: a replicas field would reset it on every apply
        check("replicas" not in spec and hpas[0]["spec"].get("minReplicas", 1) >= 2,
              "Deployment runs several replicas (the HPA's minReplicas; no replicas field of its own)",
              (spec.get("replicas"), hpas[0]["spec"].get("minReplicas")))
    else:
        check(spec.get("replicas", 1) >= 2, "Deployment runs several replicas", spec.get("replicas"))
    podspec = pod["spec"]
    check(podspec.get("securityContext", {}).get("runAsNonRoot") is True, "pods run as non-root")
    volumes = {v["name"]: v for v in podspec.get("volumes", [])}
    cms = {c["metadata"]["name"]: c for c in docs["ConfigMap"]}
    for v in volumes.values():
        if "configMap" in v:
            check(v["configMap"]["name"] in cms, "volume %s names a defined ConfigMap" % v["name"], v["configMap"])
    for c in podspec["containers"]:
        where = "container %s" % c["name"]
        ports = {p["name"]: p["containerPort"] for p in c.get("ports", [])}
        check_flags(c.get("args", []), flags, where + " args")
        a = c.get("args", [])
        registry_urls += [a[i + 1] for i, v in enumerate(a) if v == "--registry" and i + 1 < len(a)]
        for m in c.get("volumeMounts", []):
            check(m["name"] in volumes, "%s: mount %s names a declared volume" % (where, m["name"]))
        for probe in ("livenessProbe", "readinessProbe"):
            p = c.get(probe, {})
            check("grpc" in p and p["grpc"]["port"] in ports.values(),
                  "%s: %s is a gRPC probe on a declared port" % (where, probe), p)
        req = c.get("resources", {}).get("requests", {})
        check("cpu" in req and "memory" in req, "%s: cpu and memory requests" % where, req)
        args = c.get("args", [])
        if "--grpc-port" in args:
            check(int(args[args.index("--grpc-port") + 1]) == ports.get("grpc"), "%s: --grpc-port is the grpc port" % where)
    # --registry etcd://NAME:PORT names a Service of the manifests on one of its ports.
    for url in registry_urls:
        host, _, port = url[len("etcd://"):].split(",")[0].partition(":")
        svcs = {s["metadata"]["name"]: s for s in docs["Service"]}
        check(host in svcs and int(port) in [p["port"] for p in svcs[host]["spec"]["ports"]],
              "--registry %s names a Service and port of the manifests" % url)
        sts = [s for s in docs.get("StatefulSet", []) if s["metadata"]["name"] == host]
        check(sts and sts[0]["spec"]["serviceName"] == host, "a StatefulSet runs etcd behind Service %s" % host)
    all_ports = {p["name"]: p["containerPort"] for c in podspec["containers"] for p in c.get("ports", [])}
    for svc in [s for s in docs["Service"] if s["spec"].get("selector") == sel]:
        check(all(svc["spec"]["selector"].get(k) == v for k, v in labels.items() if k in svc["spec"]["selector"])
              and svc["spec"]["selector"], "Service %s selects the pods" % svc["metadata"]["name"])
        for p in svc["spec"]["ports"]:
            tp = p.get("targetPort", p["port"])
            check(tp in all_ports or tp in all_ports.values(),
                  "Service %s port %s targets a declared container port" % (svc["metadata"]["name"], p["name"]), tp)
    # The ConfigMap's pipelines are deploy/pipelines/*.json, and they check.
    files = {os.path.basename(p): p for p in glob.glob(os.path.join(DEPLOY, "pipelines", "*.json"))}
    mounted = {v["configMap"]["name"] for v in volumes.values() if "configMap" in v}
    for cm in [c for c in docs["ConfigMap"] if c["metadata"]["name"] in mounted]:
        data = cm.get("data", {})
        check(set(data) == set(files), "ConfigMap %s holds exactly deploy/pipelines/*.json" % cm["metadata"]["name"],
              "%r vs %r" % (sorted(data), sorted(files)))
        for name, text in data.items():
            if name in files:
                with open(files[name]) as f:
                    check(json.loads(text) == json.load(f), "ConfigMap %s equals deploy/pipelines/%s" % (name, name))
    for name, path in sorted(files.items()):
        r = run([binary, "pipeline", "check", path])
        check(r.returncode == 0, "deploy/pipelines/%s passes `junction pipeline check`" % name,
              r.stderr.decode(errors="replace")[-300:])


QUANTITY = re.compile(r"^[0-9]+(\.[0-9]+)?(m|k|M|G|Ki|Mi|Gi)?$")
HPA_SPEC_KEYS = {"scaleTargetRef", "minReplicas", "maxReplicas", "metrics", "behavior"}
ADAPTER_RULE_KEYS = {"seriesQuery", "seriesFilters", "resources", "name", "metricsQuery"}


def autoscaling(docs):
    """The HPA, the PodDisruptionBudget and prometheus-adapter's rules, checked field by field (no kubectl or
    kubeconform with Kubernetes' schemas is available from Debian: the fields the API server would insist on are
    checked here, by name and type)."""
    deps = {d["metadata"]["name"]: d for d in docs.get("Deployment", [])}
    hpas = docs.get("HorizontalPodAutoscaler", [])
    check(len(hpas) == 1, "one HorizontalPodAutoscaler is defined", len(hpas))
    pod_metrics = []
    min_replicas = None
    for h in hpas:
        name = "HPA %s" % h.get("metadata", {}).get("name")
        check(h.get("apiVersion") == "autoscaling/v2", "%s: apiVersion autoscaling/v2" % name, h.get("apiVersion"))
        spec = h.get("spec", {})
        check(set(spec) <= HPA_SPEC_KEYS, "%s: spec has only autoscaling/v2 fields" % name, set(spec) - HPA_SPEC_KEYS)
        ref = spec.get("scaleTargetRef", {})
        check(ref.get("apiVersion") == "apps/v1" and ref.get("kind") == "Deployment" and ref.get("name") in deps,
              "%s: scaleTargetRef names the Deployment of the manifests" % name, ref)
        lo, hi = spec.get("minReplicas"), spec.get("maxReplicas")
        min_replicas = lo
        check(isinstance(lo, int) and isinstance(hi, int) and 2 <= lo <= hi,
              "%s: 2 <= minReplicas <= maxReplicas" % name, (lo, hi))
        metrics = spec.get("metrics", [])
        check(metrics, "%s: has metrics" % name)
        for m in metrics:
            check(m.get("type") == "Pods" and set(m) == {"type", "pods"},
                  "%s: metric of type Pods (a per-pod custom metric)" % name, m)
            pods = m.get("pods", {})
            mname = pods.get("metric", {}).get("name")
            target = pods.get("target", {})
            check(isinstance(mname, str) and mname, "%s: pods.metric.name is set" % name, pods)
            check(target.get("type") == "AverageValue" and QUANTITY.match(str(target.get("averageValue", ""))),
                  "%s: pods.target is an AverageValue quantity" % name, target)
            pod_metrics.append(mname)
        for direction in ("scaleUp", "scaleDown"):
            rule = spec.get("behavior", {}).get(direction)
            if rule is None:
                continue
            win = rule.get("stabilizationWindowSeconds", 0)
            check(isinstance(win, int) and 0 <= win <= 3600,
                  "%s: %s stabilization window 0..3600 s" % (name, direction))
            for pol in rule.get("policies", []):
                check(pol.get("type") in ("Pods", "Percent") and isinstance(pol.get("value"), int) and pol["value"] > 0
                      and isinstance(pol.get("periodSeconds"), int) and 0 < pol["periodSeconds"] <= 1800,
                      "%s: %s policy %s is well formed" % (name, direction, pol))
    pdbs = docs.get("PodDisruptionBudget", [])
    check(len(pdbs) == 1, "one PodDisruptionBudget is defined", len(pdbs))
    for p in pdbs:
        name = "PodDisruptionBudget %s" % p.get("metadata", {}).get("name")
        spec = p.get("spec", {})
        check(p.get("apiVersion") == "policy/v1", "%s: apiVersion policy/v1" % name, p.get("apiVersion"))
        check(("minAvailable" in spec) != ("maxUnavailable" in spec), "%s: one of minAvailable / maxUnavailable" % name)
        sel = spec.get("selector", {}).get("matchLabels", {})
        selected = [d for d in deps.values()
                    if sel and all(d["spec"]["template"]["metadata"]["labels"].get(k) == v for k, v in sel.items())]
        check(selected, "%s: selects the Deployment's pods" % name, sel)
        if isinstance(spec.get("minAvailable"), int) and min_replicas:
            check(spec["minAvailable"] < min_replicas, "%s: minAvailable below the HPA's minReplicas (a drain can "
                  "proceed)" % name, (spec["minAvailable"], min_replicas))
        if "maxUnavailable" in spec:
            check(spec["maxUnavailable"] not in (0, "0%"), "%s: maxUnavailable lets a drain proceed" % name)
    adapters = [c for c in docs.get("ConfigMap", []) if "config.yaml" in c.get("data", {})]
    check(len(adapters) == 1, "prometheus-adapter's rules ConfigMap (data config.yaml) is defined", len(adapters))
    served = set()
    for c in adapters:
        name = "ConfigMap %s" % c["metadata"]["name"]
        try:
            cfg = yaml.safe_load(c["data"]["config.yaml"])
        except yaml.YAMLError as e:
            check(False, "%s: config.yaml parses" % name, str(e))
            continue
        rules = cfg.get("rules", []) if isinstance(cfg, dict) else []
        check(rules, "%s: has rules" % name)
        for r in rules:
            series = re.match(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)\{", r.get("seriesQuery", ""))
            where = "%s rule %s" % (name, series.group(1) if series else r.get("seriesQuery"))
            check(set(r) <= ADAPTER_RULE_KEYS, "%s: only the adapter's rule fields" % where, set(r) - ADAPTER_RULE_KEYS)
            check(series and 'namespace!=""' in r["seriesQuery"] and 'pod!=""' in r["seriesQuery"],
                  "%s: seriesQuery selects one metric with namespace and pod labels" % where)
            over = r.get("resources", {}).get("overrides", {})
            check(over.get("namespace") == {"resource": "namespace"} and over.get("pod") == {"resource": "pod"},
                  "%s: the namespace and pod labels map to their resources" % where, over)
            q = r.get("metricsQuery", "")
            check(all(t in q for t in ("<<.Series>>", "<<.LabelMatchers>>", "<<.GroupBy>>")),
                  "%s: metricsQuery uses <<.Series>>, <<.LabelMatchers>> and <<.GroupBy>>" % where, q)
            nm = r.get("name", {})
            if series and re.search(nm.get("matches", "^$"), series.group(1)):
                served.add(nm.get("as") or series.group(1))
            else:
                check(False, "%s: name.matches matches the series' name" % where, nm)
    for m in pod_metrics:
        check(m in served, "the HPA's metric %s is served by an adapter rule" % m, sorted(served))


def dockerfile_instructions():
    with open(os.path.join(DEPLOY, "Dockerfile")) as f:
        text = f.read().replace("\\\n", " ")
    out, stage = [], None
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        op, _, rest = line.partition(" ")
        op = op.upper()
        if op == "FROM":
            stage = rest.split(" AS ")[-1].strip() if " AS " in rest else rest.strip()
        out.append((stage, op, rest.strip()))
    return out


def apt_packages(run_text):
    words = shlex.split(run_text)
    pkgs = []
    for i, w in enumerate(words):
        if w == "install":
            for p in words[i + 1:]:
                if p in ("&&", ";"):
                    break
                if not p.startswith("-"):
                    pkgs.append(p)
    return pkgs


def install_deps_packages():
    with open(os.path.join(ROOT, "scripts", "install-deps.sh")) as f:
        text = f.read()
    m = re.search(r"packages=\((.*?)\n\)", text, re.S)
    return set(m.group(1).split()) if m else set()


def dockerfile(binary, flags):
    inst = dockerfile_instructions()
    stages = [rest for _, op, rest in inst if op == "FROM"]
    check(len(stages) >= 2 and all(s.startswith("debian:12") for s in stages),
          "the Dockerfile is multi-stage on Debian 12", stages)
    check(any(op == "USER" and not rest.startswith(("0", "root")) for _, op, rest in inst), "the image runs as non-root")
    for _, op, rest in inst:
        if op == "COPY" and "--from=" not in rest:
            srcs = shlex.split(rest)[:-1]
            for s in srcs:
                check(os.path.exists(os.path.join(ROOT, s)), "COPY source %s exists in the repository" % s)
    for _, op, rest in inst:
        if op in ("ENTRYPOINT", "CMD"):
            check_flags(json.loads(rest), flags, "Dockerfile " + op)
    build_pkgs, runtime_pkgs = [], []
    final = stages[-1] if stages else None
    for stage, op, rest in inst:
        if op == "RUN" and "apt-get" in rest:
            (runtime_pkgs if stage == final else build_pkgs).extend(apt_packages(rest))
    known = install_deps_packages()
    extra = [p for p in build_pkgs if p not in known]
    check(not extra, "the build stage installs only packages scripts/install-deps.sh installs", extra)
    for p in runtime_pkgs:
        r = run(["apt-cache", "show", p])
        check(r.returncode == 0 and r.stdout, "runtime package %s exists in apt" % p)
    # Every NEEDED library of the binary, resolved by ldd, belongs to a runtime package (or the base image).
    needed = re.findall(r"NEEDED.*\[(.*)\]", run(["readelf", "-d", binary]).stdout.decode())
    resolved = dict(re.findall(r"^\s*(\S+) => (\S+)", run(["ldd", binary]).stdout.decode(), re.M))
    owners = {}
    for lib in needed:
        path = resolved.get(lib)
        if not path:
            check(False, "ldd resolves %s" % lib)
            continue
        real = os.path.realpath(path)
        r = run(["dpkg", "-S", real]) if os.path.exists(real) else None
        if r is None or r.returncode != 0:
            r = run(["dpkg", "-S", path])
        pkg = r.stdout.decode().split(":")[0].strip() if r.returncode == 0 else None
        owners[lib] = pkg
    missing = {lib: pkg for lib, pkg in owners.items() if pkg not in set(runtime_pkgs) | BASE_PACKAGES}
    check(needed and not missing, "the runtime stage installs the package of every library junction links (%d)"
          % len(needed), missing)


def main():
    if len(sys.argv) != 2:
        sys.stderr.write(__doc__)
        sys.exit(2)
    binary = sys.argv[1]
    flags = serve_flags(binary)
    check(len(flags) > 10, "`junction serve --help` lists its options", sorted(flags))
    docs = load_manifests()
    kubernetes(docs, binary, flags)
    autoscaling(docs)
    dockerfile(binary, flags)
    print("%d passed, %d failed" % (passed, failed))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
