#!/usr/bin/python3
"""deploy/ references only what exists: the Kubernetes manifests parse (python3-yaml) and agree with each other and with
the repository, and the Dockerfile builds from files that exist and ships the libraries the binary links.

- deploy/k8s/*.yaml parse; Deployment, Service and ConfigMap are there; selectors match the pod labels; volume mounts
  name declared volumes; the pipelines volume names the ConfigMap; probes are gRPC probes on a declared container port;
  Service targetPorts name declared container ports; every container has resource requests; runAsNonRoot;
- the ConfigMap's pipelines are exactly deploy/pipelines/*.json (same JSON) and each passes `junction pipeline check`;
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
    for cm in docs["ConfigMap"]:
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
    kubernetes(load_manifests(), binary, flags)
    dockerfile(binary, flags)
    print("%d passed, %d failed" % (passed, failed))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
