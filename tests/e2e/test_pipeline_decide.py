"""Pipelines that decide (issue #20) end to end: `junction serve --pipelines DIR` with conditional steps.

- spam-route (the README's example): spam-text scores a text; `review` (embed) runs only for confident spam or a
  text that starts with "URGENT" (a CLASSIFICATION test and a POSIX regex under "any"); its output is optional, so
  a ham text gets an answer without it. Through v2 gRPC (python3-grpcio) with BYTES inputs; two texts in one call
  are refused with a message naming the condition.
- gate: `slow` (burn, 200 ms) runs when the number g > 0.5, `fast` (identity) otherwise; the output takes the first
  produced. A false condition costs no time (the fast calls stay far below the burn), and /metrics counts exactly
  the slow runs there were (a skipped step is never started).
- routes (`--burn-ms 200`): canary splits 90/10 over identity and id-b (a one-step pipeline with identity's
  signature): 2,000 calls land within the binomial 99.9 % bound, counted per candidate in /metrics; a sticky
  user_id always lands on one candidate; weights changed by admin PutPipeline (spec_json) 10 times while 3 threads
  call: no broken answer, and the last weights (0/100) hold; a 200 ms burn mirror never shows in the caller's
  latency, and /metrics counts its runs; PutPipeline's proto spec carries when_json / route_json / more_from /
  optional and ListPipelines gives them back.
- `junction pipeline check` names registration errors: an unknown label, an output that may be missing.

usage: /usr/bin/python3 tests/e2e/test_pipeline_decide.py /path/to/junction
"""
import json
import math
import os
import subprocess
import sys
import threading
import time
import urllib.request

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import grpc  # noqa: E402
import numpy as np  # noqa: E402

import harness  # noqa: E402
from harness import pb, v2_request, v2_output_array  # noqa: E402

SPAM = {"from": "c.scores", "label": ["spam"], "score_above": 0.9}
SPAM_ROUTE = {
    "name": "spam-route",
    "inputs": [{"name": "text", "kind": "TEXT", "datatype": "BYTES", "shape": [-1]}],
    "steps": [
        {"id": "c", "model": "spam-text", "inputs": {"text": "text"}},
        {"id": "review", "model": "embed", "inputs": {"text": "text"},
         "when": {"any": [SPAM, {"from": "text", "matches": "^URGENT"}]}},
    ],
    "outputs": [{"name": "scores", "from": "c.scores"},
                {"name": "review_embedding", "from": "review.embedding", "optional": True}],
}
GATE = {
    "name": "gate",
    "inputs": [{"name": "x", "kind": "TENSOR", "datatype": "FP32", "shape": [-1, -1]},
               {"name": "g", "kind": "TENSOR", "datatype": "FP32", "shape": [1, 1]}],
    "steps": [
        {"id": "slow", "model": "burn", "inputs": {"input": "x"}, "when": {"from": "g", "above": 0.5}},
        {"id": "fast", "model": "identity", "inputs": {"input": "x"}, "when": {"not": {"from": "g", "above": 0.5}}},
    ],
    "outputs": [{"name": "y", "from": ["slow.output", "fast.output"]}],
}
SPAM_TEXT = "FREE cash prize!!! Click here now to claim your WINNINGS, limited offer, act now"
HAM_TEXT = "Hi Bob, are we still meeting for lunch on Tuesday? Cheers, Alice"
TIMEOUT = 30


def write(d, name, obj):
    path = os.path.join(d, name)
    with open(path, "w") as f:
        json.dump(obj, f)
    return path


def text_request(model, texts):
    req = pb.v2.ModelInferRequest(model_name=model)
    inp = req.inputs.add(name="text", datatype="BYTES", shape=[len(texts)])
    inp.contents.bytes_contents.extend([s.encode() for s in texts])
    return req


def gate_request(g, burn_ms):
    req = v2_request("gate", np.ones((1, 4), np.float32), params={"burn_ms": burn_ms}, input_name="x")
    inp = req.inputs.add(name="g", datatype="FP32", shape=[1, 1])
    req.raw_input_contents.append(np.array([[g]], np.float32).tobytes())
    return req


def metric(text, name, labels):
    want = ",".join('%s="%s"' % kv for kv in labels)
    for line in text.splitlines():
        if line.startswith("%s{%s}" % (name, want)):
            return float(line.split()[-1])
    return 0.0


def group_serve(t):
    d = os.path.join(t.workdir, "pipelines")
    os.makedirs(d, exist_ok=True)
    write(d, "01-spam-route.json", SPAM_ROUTE)
    write(d, "02-gate.json", GATE)
    srv = t.start_server(["--pipelines", d, "--http-port", "any"])
    v2 = srv.v2(srv.channel())

    with t.case("spam-route: confident spam runs review, ham skips it (optional output left out)"):
        r = t.call("spam text", v2.ModelInfer, text_request("spam-route", [SPAM_TEXT]))
        if r:
            names = [o.name for o in r.outputs]
            t.eq(sorted(names), ["review_embedding", "scores"], "spam: scores and review_embedding")
            s, _ = v2_output_array(r, "scores")
            t.check(s is not None and s[0][1] > 0.9, "spam: spam score above 0.9", repr(s))
        r = t.call("ham text", v2.ModelInfer, text_request("spam-route", [HAM_TEXT]))
        if r:
            t.eq([o.name for o in r.outputs], ["scores"], "ham: scores only (review skipped)")
            s, _ = v2_output_array(r, "scores")
            t.check(s is not None and s[0][0] > 0.5, "ham: ham is the top label", repr(s))
        r = t.call("URGENT ham text", v2.ModelInfer, text_request("spam-route", ["URGENT " + HAM_TEXT]))
        if r:
            t.eq(sorted(o.name for o in r.outputs), ["review_embedding", "scores"],
                 "a text matching ^URGENT is reviewed (the regex under any)")
    with t.case("spam-route: two texts in one call is an error naming the condition"):
        try:
            v2.ModelInfer(text_request("spam-route", [HAM_TEXT, SPAM_TEXT]), timeout=TIMEOUT)
            t.check(False, "two texts: refused", "answered")
        except grpc.RpcError as e:
            t.check_rpc_error(e, grpc.StatusCode.INVALID_ARGUMENT, "two texts",
                              "pipeline 'spam-route': step 'review' (model 'embed'): when: condition",
                              "reads one row of scores, got 4 values in 2 rows")

    with t.case("gate: the first source produced; a false condition costs no time and starts nothing"):
        slow_calls, fast_times, slow_times = 0, [], []
        for i in range(10):
            g = 1.0 if i % 5 == 0 else 0.0
            start = time.monotonic()
            r = t.call("gate g=%g" % g, v2.ModelInfer, gate_request(g, 200))
            took = time.monotonic() - start
            if not r:
                continue
            y, _ = v2_output_array(r, "y")
            t.check(y is not None and y.shape == (1, 4) and float(y.sum()) == 4.0, "gate g=%g: y is x" % g, repr(y))
            (slow_times if g else fast_times).append(took)
            slow_calls += g > 0
        t.check(fast_times and max(fast_times) < 0.1, "gate: every call with a false slow condition under 100 ms",
                repr(fast_times))
        t.check(slow_times and min(slow_times) >= 0.2, "gate: calls through the burn take its 200 ms",
                repr(slow_times))
        with urllib.request.urlopen("http://%s/metrics" % srv.http_address, timeout=TIMEOUT) as resp:
            text = resp.read().decode()
        runs = metric(text, "junction_pipeline_step_runs_total",
                      [("pipeline", "gate"), ("step", "slow"), ("outcome", "success")])
        fast = metric(text, "junction_pipeline_step_runs_total",
                      [("pipeline", "gate"), ("step", "fast"), ("outcome", "success")])
        t.eq((runs, fast), (float(slow_calls), 10.0 - slow_calls),
             "/metrics: the slow step ran once per true condition, the fast one per false")
    t.stop_server(srv)


ID_B = {"name": "id-b", "inputs": [{"name": "input", "kind": "TENSOR", "datatype": "FP32", "shape": [-1, -1]}],
        "steps": [{"id": "s", "model": "identity", "inputs": {"input": "input"}}],
        "outputs": [{"name": "output", "from": "s.output"}]}


def routed(name, route):
    return {"name": name, "inputs": [{"name": "x", "kind": "TENSOR", "datatype": "FP32", "shape": [-1, -1]}],
            "steps": [{"id": "m", "route": route, "inputs": {"input": "x"}}],
            "outputs": [{"name": "y", "from": "m.output"}]}


def canary(w1, w2):
    return routed("canary", {"split": [{"model": "identity", "weight": w1}, {"model": "id-b", "weight": w2}],
                             "sticky": "user_id"})


def x_request(model, i, user=None):
    params = {"user_id": user} if user else None
    return v2_request(model, np.full((1, 4), float(i), np.float32), params=params, input_name="x")


def y_ok(r, i):
    y, _ = v2_output_array(r, "y")
    return y is not None and y.shape == (1, 4) and bool((y == float(i)).all())


def candidate_runs(srv, pipeline, step):
    with urllib.request.urlopen("http://%s/metrics" % srv.http_address, timeout=TIMEOUT) as resp:
        text = resp.read().decode()
    return {o: metric(text, "junction_pipeline_step_runs_total", [("pipeline", pipeline), ("step", step),
                                                                   ("outcome", o)]) for o in ("success", "failure")}


def group_route(t):
    d = os.path.join(t.workdir, "routes")
    os.makedirs(d, exist_ok=True)
    write(d, "01-id-b.json", ID_B)
    write(d, "02-canary.json", canary(90, 10))
    write(d, "03-shadow.json", routed("shadow", {"split": [{"model": "identity", "weight": 1}], "mirror": "burn"}))
    srv = t.start_server(["--pipelines", d, "--http-port", "any", "--burn-ms", "200", "--workers", "4"])
    ch = srv.channel()
    v2 = srv.v2(ch)
    admin = srv.admin(ch)

    with t.case("split 90/10 over 2,000 calls within the binomial 99.9 % bound, counted per candidate"):
        wrong = 0
        for i in range(2000):
            r = t.call("canary call", v2.ModelInfer, x_request("canary", i % 7)) if i == 0 else \
                v2.ModelInfer(x_request("canary", i % 7), timeout=TIMEOUT)
            wrong += not (r and y_ok(r, i % 7))
        t.eq(wrong, 0, "canary: every answer is its input")
        a = candidate_runs(srv, "canary", "m/identity")["success"]
        b = candidate_runs(srv, "canary", "m/id-b")["success"]
        bound = 3.2905 * math.sqrt(2000 * 0.1 * 0.9)
        t.check(a + b == 2000 and abs(b - 200) <= bound,
                "canary: id-b got %d of 2000 (bound 200 +- %.0f), identity %d" % (b, bound, a), "")
    with t.case("sticky: one user_id, one candidate"):
        before = {c: candidate_runs(srv, "canary", "m/" + c)["success"] for c in ("identity", "id-b")}
        for user in ("alice", "bob", "carol", "dave"):
            for i in range(15):
                v2.ModelInfer(x_request("canary", i, user), timeout=TIMEOUT)
            now = {c: candidate_runs(srv, "canary", "m/" + c)["success"] for c in ("identity", "id-b")}
            moved = sorted(now[c] - before[c] for c in now)
            t.eq(moved, [0, 15], "sticky %s: all 15 calls on one candidate" % user)
            before = now
    with t.case("the answer names the candidate: route.m in v2 gRPC, v1 gRPC and v2 REST"):
        seen = set()
        stub = srv.broker(ch)
        for user in ("alice", "bob", "carol", "dave", "erin", "frank"):
            r2 = v2.ModelInfer(x_request("canary", 1, user), timeout=TIMEOUT)
            p2 = r2.parameters["route.m"].string_param if "route.m" in r2.parameters else None
            r1 = stub.Infer(harness.infer_request("canary", np.ones((1, 4), np.float32), params={"user_id": user},
                                                  input_name="x"), timeout=TIMEOUT)
            p1 = r1.parameters["route.m"].string_value if "route.m" in r1.parameters else None
            body = json.dumps({"inputs": [{"name": "x", "shape": [1, 2], "datatype": "FP32", "data": [1, 2]}],
                               "parameters": {"user_id": user}}).encode()
            rq = urllib.request.Request("http://%s/v2/models/canary/infer" % srv.http_address, data=body,
                                        headers={"Content-Type": "application/json"})
            with urllib.request.urlopen(rq, timeout=TIMEOUT) as resp:
                pr = json.loads(resp.read()).get("parameters", {}).get("route.m")
            t.check(p2 in ("identity", "id-b") and p1 == p2 == pr,
                    "sticky %s: route.m is %r on every door (v1 %r, REST %r)" % (user, p2, p1, pr), "")
            seen.add(p2)
        before = {c: candidate_runs(srv, "canary", "m/" + c)["success"] for c in ("identity", "id-b")}
        r2 = v2.ModelInfer(x_request("canary", 1, "alice"), timeout=TIMEOUT)
        after = {c: candidate_runs(srv, "canary", "m/" + c)["success"] for c in ("identity", "id-b")}
        used = [c for c in after if after[c] - before[c] == 1]
        t.eq(used, [r2.parameters["route.m"].string_param], "route.m is the candidate /metrics counted")

    with t.case("weights changed by PutPipeline while callers run: no broken answer"):
        stop, bad, calls = threading.Event(), [], [0]

        def caller():
            while not stop.is_set():
                try:
                    r = v2.ModelInfer(x_request("canary", 3), timeout=TIMEOUT)
                    if not y_ok(r, 3):
                        bad.append("wrong answer")
                except grpc.RpcError as e:
                    bad.append(e.details())
                calls[0] += 1

        threads = [threading.Thread(target=caller) for _ in range(3)]
        for th in threads:
            th.start()
        puts_ok = 0
        for k in range(10):
            w = (50, 50) if k % 2 == 0 else (100, 0)
            if k == 9:
                w = (0, 100)
            r = t.call("PutPipeline canary %s" % (w,), admin.PutPipeline,
                       pb.admin.PutPipelineRequest(spec_json=json.dumps(canary(*w))))
            puts_ok += r is not None
            time.sleep(0.05)
        stop.set()
        for th in threads:
            th.join()
        t.eq((puts_ok, bad[:3]), (10, []), "10 puts under %d calls, no broken answer" % calls[0])
        before = candidate_runs(srv, "canary", "m/id-b")["success"]
        for i in range(20):
            v2.ModelInfer(x_request("canary", i), timeout=TIMEOUT)
        t.eq(candidate_runs(srv, "canary", "m/id-b")["success"] - before, 20.0, "after 0/100: every call on id-b")
    with t.case("a 200 ms burn mirror never reaches the caller; its runs are counted"):
        times = []
        for i in range(40):
            start = time.monotonic()
            r = v2.ModelInfer(x_request("shadow", i), timeout=TIMEOUT)
            times.append(time.monotonic() - start)
            t.check(y_ok(r, i), "shadow call %d: the primary's answer" % i) if not y_ok(r, i) else None
        times.sort()
        p99 = times[int(0.99 * (len(times) - 1))]
        t.check(p99 < 0.1, "shadow: p99 %.1f ms (the mirror burns 200 ms)" % (p99 * 1000), repr(times[-5:]))
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            m = candidate_runs(srv, "shadow", "m/mirror/burn")
            if m["success"] + m["failure"] >= 40:
                break
            time.sleep(0.2)
        t.check(m["success"] + m["failure"] == 40 and m["success"] >= 1,
                "/metrics: 40 mirror runs counted (%d ok, %d dropped or failed)" % (m["success"], m["failure"]), "")
    with t.case("PutPipeline's proto spec carries conditions, routes and output sources"):
        spec = pb.pipeline.PipelineSpec(name="proto-decide")
        spec.inputs.add(name="x", kind=1,  # TENSOR
                        datatype=pb.tensor.FP32, shape=[1, 1])
        a = spec.steps.add(id="a", route_json=json.dumps({"split": [{"model": "identity", "weight": 3},
                                                                    {"model": "id-b", "weight": 1}]}))
        a.inputs["input"].CopyFrom(pb.pipeline.Binding(**{"from": "x"}))
        b = spec.steps.add(id="b", model="identity", when_json=json.dumps({"from": "x", "above": 0.5}))
        b.inputs["input"].CopyFrom(pb.pipeline.Binding(**{"from": "x"}))
        o = spec.outputs.add(name="y", optional=True, more_from=["a.output"])
        setattr(o, "from", "b.output")
        r = t.call("PutPipeline proto-decide", admin.PutPipeline, pb.admin.PutPipelineRequest(spec=spec))
        if r is not None:
            lst = t.call("ListPipelines", admin.ListPipelines, pb.admin.ListPipelinesRequest())
            got = [p for p in (lst.pipelines if lst else []) if p.name == "proto-decide"]
            if t.check(len(got) == 1, "ListPipelines has proto-decide"):
                g = got[0]
                t.eq((json.loads(g.steps[0].route_json)["split"][1]["model"], g.steps[0].model,
                      json.loads(g.steps[1].when_json), list(g.outputs[0].more_from), g.outputs[0].optional),
                     ("id-b", "identity", {"from": "x", "above": 0.5}, ["a.output"], True),
                     "ListPipelines gives the route, the condition and the sources back")
        bad_spec = pb.pipeline.PipelineSpec()
        bad_spec.CopyFrom(spec)
        bad_spec.steps[1].when_json = '{"from": "x", "matches": "("}'
        try:
            admin.PutPipeline(pb.admin.PutPipelineRequest(spec=bad_spec), timeout=TIMEOUT)
            t.check(False, "a bad when_json: refused", "accepted")
        except grpc.RpcError as e:
            t.check_rpc_error(e, grpc.StatusCode.INVALID_ARGUMENT, "a bad when_json",
                              "spec.steps[1].when_json.matches: '(' is not a POSIX extended regex")
    t.stop_server(srv)


def check_fails(t, what, path, substrings):
    p = subprocess.run([t.binary, "pipeline", "check", path], capture_output=True, text=True, timeout=60)
    t.eq(p.returncode, 1, "%s: exit status 1" % what)
    missing = [s for s in substrings if s not in p.stderr]
    t.check(not missing, "%s: the message names %r" % (what, substrings), "stderr %r" % p.stderr[:600])


def group_check(t):
    d = os.path.join(t.workdir, "check")
    os.makedirs(d, exist_ok=True)
    with t.case("pipeline check: registration errors named"):
        bad_label = json.loads(json.dumps(SPAM_ROUTE))
        bad_label["steps"][1]["when"] = {"from": "c.scores", "label": ["spamm"]}
        check_fails(t, "unknown label", write(d, "label.json", bad_label),
                    ["pipeline 'spam-route': step 'review': when: condition",
                     "'c.scores' has no label 'spamm' (its labels are 'ham', 'spam')"])
        missing = json.loads(json.dumps(SPAM_ROUTE))
        del missing["outputs"][1]["optional"]
        check_fails(t, "output may be missing", write(d, "missing.json", missing),
                    ["output 'review_embedding' may be missing: when",
                     "none of its sources ('review.embedding') runs",
                     "declare it \"optional\": true"])
        one_branch = json.loads(json.dumps(GATE))
        one_branch["outputs"][0]["from"] = "slow.output"
        check_fails(t, "one branch only", write(d, "gate.json", one_branch),
                    ["output 'y' may be missing: when {\"above\":0.5,\"from\":\"g\"} is false"])
    with t.case("pipeline check: a good decision plan shows its conditions"):
        p = subprocess.run([t.binary, "pipeline", "check", write(d, "good.json", GATE)], capture_output=True,
                           text=True, timeout=60)
        t.eq(p.returncode, 0, "gate: check passes")
        t.check("when {\"from\":\"g\",\"above\":0.5}" in p.stdout and "y <- slow.output | fast.output" in p.stdout,
                "gate: the plan shows the condition and the sources in order", p.stdout[:800])


def main(t):
    for name, fn in (("serve", group_serve), ("route", group_route), ("check", group_check)):
        with t.case("group: %s" % name):
            fn(t)


if __name__ == "__main__":
    harness.run(main)
