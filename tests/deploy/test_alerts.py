#!/usr/bin/python3
"""deploy/prometheus/: the alerting rules check and pass their unit tests, every alert is tested both ways, and the
Prometheus configuration that loads them checks.

- `promtool check rules deploy/prometheus/junction-alerts.yaml`;
- `promtool test rules` on every deploy/prometheus/tests/*.yaml;
- every alert has a `for:` clause, a severity label (warning or critical) and summary and description annotations
  (the description with its runbook); every alert has at least one test case where it fires and one where it must
  not (exp_alerts empty), and the tests name no alert that does not exist;
- deploy/prometheus/prometheus.yml: its rule_files exist, it has the `junction` job the alerts select, that job sets
  the `namespace` and `pod` labels prometheus-adapter needs, and `promtool check config` accepts it. Debian's promtool
  is built without Kubernetes service discovery, so the check runs on a copy whose kubernetes_sd_configs are replaced
  by a static target (every other field, the relabelling and the rule files are checked as written).

promtool comes from Debian's `prometheus` package (scripts/install-deps.sh); without it this test fails.

usage: /usr/bin/python3 tests/deploy/test_alerts.py
"""
import glob
import os
import shutil
import subprocess
import sys
import tempfile

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PROM = os.path.join(ROOT, "deploy", "prometheus")
RULES = os.path.join(PROM, "junction-alerts.yaml")

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


def promtool(*args, cwd=None):
    r = subprocess.run(["promtool"] + list(args), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=120,
                       cwd=cwd)
    return r.returncode, r.stdout.decode(errors="replace")


def alerts():
    with open(RULES) as f:
        doc = yaml.safe_load(f)
    out = {}
    for g in doc["groups"]:
        for r in g["rules"]:
            if "alert" in r:
                out[r["alert"]] = r
    return out


def rule_fields(rules):
    for name, r in sorted(rules.items()):
        sev = r.get("labels", {}).get("severity")
        ann = r.get("annotations", {})
        check(r.get("for"), "%s has a `for:` clause" % name)
        check(sev in ("warning", "critical"), "%s has severity warning or critical" % name, sev)
        check(ann.get("summary") and ann.get("description") and "Runbook" in ann["description"],
              "%s has a summary and a description with its runbook" % name)


def coverage(rules, test_files):
    fires, silent = set(), set()
    for path in test_files:
        with open(path) as f:
            doc = yaml.safe_load(f)
        for t in doc.get("tests", []):
            for a in t.get("alert_rule_test", []):
                name = a["alertname"]
                check(name in rules, "%s: alert %s exists" % (os.path.basename(path), name))
                (fires if a.get("exp_alerts") else silent).add(name)
    for name in sorted(rules):
        check(name in fires, "%s has a test case where it fires" % name)
        check(name in silent, "%s has a test case where it must not fire" % name)


def prometheus_config():
    path = os.path.join(PROM, "prometheus.yml")
    with open(path) as f:
        cfg = yaml.safe_load(f)
    for rf in cfg.get("rule_files", []):
        check(os.path.exists(os.path.join(PROM, rf)), "prometheus.yml: rule file %s exists" % rf)
    jobs = {j["job_name"]: j for j in cfg.get("scrape_configs", [])}
    check("junction" in jobs, "prometheus.yml has the job `junction` the alerts select", sorted(jobs))
    job = jobs.get("junction", {})
    targets = {r.get("target_label") for r in job.get("relabel_configs", [])}
    check({"namespace", "pod"} <= targets, "prometheus.yml: the junction job sets the namespace and pod labels",
          targets)
    # promtool check config, on a copy without Kubernetes service discovery (see the docstring)
    with tempfile.TemporaryDirectory() as tmp:
        for j in cfg.get("scrape_configs", []):
            if "kubernetes_sd_configs" in j:
                del j["kubernetes_sd_configs"]
                j["static_configs"] = [{"targets": ["127.0.0.1:8000"]}]
        for rf in cfg.get("rule_files", []):
            shutil.copy(os.path.join(PROM, rf), os.path.join(tmp, rf))
        with open(os.path.join(tmp, "prometheus.yml"), "w") as f:
            yaml.safe_dump(cfg, f)
        rc, out = promtool("check", "config", "prometheus.yml", cwd=tmp)
        check(rc == 0, "promtool check config accepts prometheus.yml (Kubernetes discovery swapped for a static "
              "target)", out[-600:])


def main():
    if not shutil.which("promtool"):
        check(False, "promtool is installed (Debian's `prometheus` package; scripts/install-deps.sh installs it)")
        print("%d passed, %d failed" % (passed, failed))
        sys.exit(1)
    rc, out = promtool("check", "rules", RULES)
    check(rc == 0, "promtool check rules deploy/prometheus/junction-alerts.yaml", out[-800:])
    tests = sorted(glob.glob(os.path.join(PROM, "tests", "*.yaml")))
    check(tests, "deploy/prometheus/tests/ has test files")
    for path in tests:
        rc, out = promtool("test", "rules", os.path.basename(path), cwd=os.path.dirname(path))
        check(rc == 0 and "SUCCESS" in out, "promtool test rules %s" % os.path.relpath(path, ROOT), out[-3000:])
    rules = alerts()
    check(len(rules) >= 6, "the rules define the alerts (%d)" % len(rules))
    rule_fields(rules)
    coverage(rules, tests)
    prometheus_config()
    print("%d passed, %d failed" % (passed, failed))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
