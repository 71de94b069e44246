#!/usr/bin/python3
"""`junction eval` and junction.v1.Broker/Evaluate:

- metrics against Debian's python3-sklearn on the same (y_true, y_pred): a JSONL set for the built-in `tokenize`
  (TEXT output: the prediction is its text) crafted so every prediction is known (the text of an example is the
  label the model will "predict", in upper case; tokenize lower-cases it), with misses both ways and classes that
  hit zero division (a label never predicted, a prediction never true): accuracy, per-class precision / recall /
  F1 / support, macro / micro / weighted averages and the confusion matrix;
- the heat map PNG: exists, is a PNG, 24 px per class square;
- the same numbers through a pipeline (demo-tokens), through Broker.Evaluate called with the Python stubs, and
  through `junction eval --server` against the running broker (also in several --batch calls);
- failures: an example whose input does not fit is counted in "failed" and listed in `errors`; an unknown model is
  NOT_FOUND; a model with nothing to evaluate (identity) and usage errors exit 1 / 2;
- when the built-in `fashion-cnn` / `spam-text` exist: small real evaluations (fashion-cnn on Fashion-MNIST's test
  IDX files from /usr/share/datasets/fashion-mnist, in process and --server, and the same images as PNG files in a
  JSONL set with class names).

usage: /usr/bin/python3 tests/e2e/test_eval.py /path/to/junction
"""
import json
import os
import random
import struct
import subprocess
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import grpc  # noqa: E402

import harness  # noqa: E402
from harness import pb  # noqa: E402

CLI_TIMEOUT = 120.0
TOL = 1e-9


def run_cli(t, args):
    try:
        p = subprocess.run([t.binary] + args, stdin=subprocess.DEVNULL, capture_output=True, timeout=CLI_TIMEOUT)
    except subprocess.TimeoutExpired:
        t.fail("junction %s terminates" % " ".join(args), "killed after %.0f s" % CLI_TIMEOUT)
        return None, "", ""
    return p.returncode, p.stdout.decode("utf-8", "replace"), p.stderr.decode("utf-8", "replace")


def eval_json(t, what, args):
    rc, out, err = run_cli(t, ["eval", "--json"] + args)
    if not t.check(rc == 0, "%s: exit status 0" % what, "rc %r, stderr %s" % (rc, err[-800:])):
        return None
    try:
        return json.loads(out)
    except ValueError as e:
        t.fail("%s: one JSON object on stdout" % what, "%s: %r" % (e, out[:300]))
        return None


def crafted_set(seed=7, n=60):
    """(y_true, y_pred): 4 common classes with noise, "emu" only as truth (never predicted: precision 0/0),
    "owl" only as a prediction (never true: recall 0/0)."""
    rng = random.Random(seed)
    classes = ["cat", "dog", "bird", "fish"]
    y_true, y_pred = [], []
    for _ in range(n):
        t = rng.choice(classes)
        p = t if rng.random() < 0.7 else rng.choice(classes)
        y_true.append(t)
        y_pred.append(p)
    y_true += ["emu", "emu", "cat"]
    y_pred += ["cat", "dog", "owl"]
    return y_true, y_pred


def close(a, b):
    return abs(a - b) <= TOL


def check_against_sklearn(t, what, rep, y_true, y_pred):
    from sklearn.metrics import accuracy_score, confusion_matrix, precision_recall_fscore_support
    labels = sorted(set(y_true) | set(y_pred))
    t.eq(rep["labels"], labels, "%s: labels = sklearn's (sorted union of truth and predictions)" % what)
    t.eq(rep["examples"], len(y_true), "%s: examples" % what)
    t.check(close(rep["accuracy"], accuracy_score(y_true, y_pred)), "%s: accuracy = sklearn's" % what,
            "%r vs %r" % (rep["accuracy"], accuracy_score(y_true, y_pred)))
    p, r, f, s = precision_recall_fscore_support(y_true, y_pred, labels=labels, zero_division=0)
    bad = []
    for i, lab in enumerate(labels):
        c = rep["per_class"].get(lab, {})
        for key, want in (("precision", p[i]), ("recall", r[i]), ("f1", f[i])):
            if not close(c.get(key, -1), float(want)):
                bad.append("%s.%s %r vs %r" % (lab, key, c.get(key), want))
        if c.get("support") != int(s[i]):
            bad.append("%s.support %r vs %r" % (lab, c.get("support"), s[i]))
    t.check(not bad, "%s: per-class precision/recall/F1/support = sklearn's (zero_division=0)" % what,
            "; ".join(bad))
    for avg in ("macro", "micro", "weighted"):
        ap, ar, af, _ = precision_recall_fscore_support(y_true, y_pred, labels=labels, average=avg, zero_division=0)
        got = rep[avg]
        t.check(close(got["precision"], ap) and close(got["recall"], ar) and close(got["f1"], af),
                "%s: %s average = sklearn's" % (what, avg), "%r vs %r" % (got, (ap, ar, af)))
    cm = confusion_matrix(y_true, y_pred, labels=labels).tolist()
    t.eq(rep["confusion"], cm, "%s: confusion matrix = sklearn's (rows true, columns predicted)" % what)
    lat = rep.get("latency_ms", {})
    t.check(0 <= lat.get("p50", -1) <= lat.get("p99", -1), "%s: latency_ms p50 <= p99" % what, repr(lat))
    t.check(rep.get("throughput", 0) > 0, "%s: throughput > 0" % what, repr(rep.get("throughput")))


def same_metrics(t, what, a, b):
    keys = ("examples", "accuracy", "macro", "micro", "labels", "per_class", "confusion")
    diff = [k for k in keys if a.get(k) != b.get(k)]
    t.check(not diff, what, "differ in %s" % diff)


def png_size(path):
    with open(path, "rb") as f:
        head = f.read(33)
    if head[:8] != b"\x89PNG\r\n\x1a\n" or head[12:16] != b"IHDR":
        return None
    return struct.unpack(">II", head[16:24])


def write_jsonl(path, rows):
    with open(path, "w") as f:
        for r in rows:
            f.write(json.dumps(r) + "\n")


def main(t):
    try:
        import sklearn  # noqa: F401
    except ImportError:
        t.fail("python3-sklearn is installed (scripts/install-deps.sh)")
        return
    y_true, y_pred = crafted_set()
    data = os.path.join(t.workdir, "crafted.jsonl")
    write_jsonl(data, [{"text": p.upper() + "!", "label": tr} for tr, p in zip(y_true, y_pred)])

    local = None
    with t.case("in process: tokenize vs sklearn"):
        heat = os.path.join(t.workdir, "heat.png")
        local = eval_json(t, "eval tokenize", ["--model", "tokenize", "--data", data, "--heatmap", heat])
        if local:
            check_against_sklearn(t, "eval tokenize", local, y_true, y_pred)
            t.eq(png_size(heat), (24 * len(local["labels"]),) * 2, "heat map: a PNG of 24 px per class")
        rc, out, err = run_cli(t, ["eval", "--model", "tokenize", "--data", data])
        t.check(rc == 0 and "accuracy" in out and "confusion" in out and "macro" in out,
                "text report: summary, table and confusion", out[:400] + err[-400:])
        limited = eval_json(t, "eval --limit 10", ["--model", "tokenize", "--data", data, "--limit", "10"])
        if limited:
            check_against_sklearn(t, "eval --limit 10", limited, y_true[:10], y_pred[:10])

    with t.case("in process: a pipeline (demo-tokens)"):
        rep = eval_json(t, "eval demo-tokens", ["--model", "demo-tokens", "--data", data])
        if rep and local:
            same_metrics(t, "demo-tokens gives tokenize's metrics", rep, local)

    with t.case("errors and usage"):
        rc, out, err = run_cli(t, ["eval", "--model", "identity", "--data", data])
        t.check(rc == 1 and "nothing to evaluate" in err, "identity (no CLASSIFICATION/TEXT output): exit 1",
                "rc %r %s" % (rc, err[-300:]))
        rc, out, err = run_cli(t, ["eval", "--model", "no-such-model", "--data", data])
        t.check(rc == 1 and "no-such-model" in err, "unknown model: exit 1 naming it", "rc %r %s" % (rc, err[-300:]))
        for args in (["eval"], ["eval", "--model", "tokenize"], ["eval", "--data", data],
                     ["eval", "--model", "tokenize", "--data", data, "--bogus"],
                     ["eval", "--model", "tokenize", "--data", data, "--limit", "0"]):
            rc, out, err = run_cli(t, args)
            t.check(rc == 2 and "usage: junction eval" in err, "usage error %s: exit 2" % args[1:],
                    "rc %r %s" % (rc, err[-300:]))
        rc, out, err = run_cli(t, ["eval", "--help"])
        t.check(rc == 0 and "--heatmap" in out and "--server" in out, "eval --help", out[:300])
        rc, out, err = run_cli(t, ["eval", "--model", "tokenize", "--data", os.path.join(t.workdir, "nope.jsonl")])
        t.check(rc == 1 and "nope.jsonl" in err, "missing data file: exit 1 naming it", err[-300:])
        bad = os.path.join(t.workdir, "bad.jsonl")
        write_jsonl(bad, [{"text": "a", "label": "a"}, {"words": "b", "label": "b"}])
        rc, out, err = run_cli(t, ["eval", "--model", "tokenize", "--data", bad])
        t.check(rc == 1 and "bad.jsonl:2" in err and "words" in err, "unknown input key: exit 1 naming the line",
                err[-300:])

    srv = t.start_server()
    with t.case("Broker.Evaluate over gRPC"):
        stub = srv.broker()
        req = pb.broker.EvaluateRequest(model="tokenize")
        for tr, p in zip(y_true, y_pred):
            req.examples.add(label=tr, inputs=[pb.contract.Value(name="text", text=pb.contract.Text(
                text=p.upper() + "!"))])
        resp = t.call("Evaluate tokenize", stub.Evaluate, req)
        if resp is not None:
            t.eq(list(resp.predictions), y_pred, "Evaluate: predictions per example")
            t.eq(list(resp.errors), [""] * len(y_true), "Evaluate: no errors")
            t.eq(len(resp.latencies_ms), len(y_true), "Evaluate: one latency per example")
            rep = json.loads(resp.report_json)
            check_against_sklearn(t, "Evaluate report_json", rep, y_true, y_pred)
            L = len(resp.labels)
            t.eq(list(resp.labels), rep["labels"], "Evaluate: labels field")
            t.eq([list(resp.confusion[i * L:(i + 1) * L]) for i in range(L)], rep["confusion"],
                 "Evaluate: confusion field (row-major)")
            t.check(close(resp.accuracy, rep["accuracy"]) and close(resp.macro.f1, rep["macro"]["f1"])
                    and close(resp.micro.precision, rep["micro"]["precision"]),
                    "Evaluate: accuracy / macro / micro fields")
            t.check(all(close(c.f1, rep["per_class"][c.label]["f1"]) and c.support == rep["per_class"][c.label]
                        ["support"] for c in resp.per_class), "Evaluate: per_class fields")
            t.check(resp.latency_ms.p50 <= resp.latency_ms.p99, "Evaluate: latency p50 <= p99")
            if local:
                same_metrics(t, "Evaluate gives the CLI's numbers", rep, local)

        req = pb.broker.EvaluateRequest(model="tokenize")
        req.examples.add(label="a", inputs=[pb.contract.Value(name="text", text=pb.contract.Text(text="A"))])
        req.examples.add(label="b", inputs=[pb.contract.Value(name="nope", text=pb.contract.Text(text="B"))])
        resp = t.call("Evaluate with a failing example", stub.Evaluate, req)
        if resp is not None:
            t.check(resp.examples == 1 and resp.failed == 1 and resp.errors[0] == "" and "nope" in resp.errors[1],
                    "Evaluate: a failing example is counted and explained", repr(list(resp.errors)))
        t.expect_error("Evaluate unknown model", stub.Evaluate, grpc.StatusCode.NOT_FOUND, "no-such-model",
                       args=(pb.broker.EvaluateRequest(model="no-such-model", examples=[pb.broker.Example(
                           label="x", inputs=[pb.contract.Value(name="text", text=pb.contract.Text(text="x"))])]),))
        t.expect_error("Evaluate identity", stub.Evaluate, grpc.StatusCode.INVALID_ARGUMENT, "nothing to evaluate",
                       args=(pb.broker.EvaluateRequest(model="identity"),))

    with t.case("junction eval --server"):
        for batch in ("256", "7"):
            rep = eval_json(t, "eval --server --batch %s" % batch, ["--model", "tokenize", "--data", data, "--server",
                                                                    srv.address, "--batch", batch])
            if rep:
                check_against_sklearn(t, "eval --server --batch %s" % batch, rep, y_true, y_pred)
                if local:
                    same_metrics(t, "--server --batch %s gives the in-process numbers" % batch, rep, local)
        rc, out, err = run_cli(t, ["eval", "--model", "no-such-model", "--data", data, "--server", srv.address])
        t.check(rc == 1 and "NOT_FOUND" in err, "--server unknown model: exit 1 with the status", err[-300:])

    with t.case("built-in classifiers, when present"):
        models = {m.name: m for m in t.call("ListModels", srv.broker().ListModels,
                                            pb.broker.ListModelsRequest()).models}
        real_eval(t, models, srv)


FASHION_DIR = "/usr/share/datasets/fashion-mnist"


def png_gray(w, h, pixels):
    """A minimal 8-bit grayscale PNG (zlib + struct only)."""
    import zlib

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xffffffff)
    raw = b"".join(b"\x00" + bytes(pixels[y * w:(y + 1) * w]) for y in range(h))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def real_eval(t, models, srv):
    """Small real evaluations of the built-in classifiers, when they are built in."""
    if "spam-text" in models:
        labels = list(next((p.labels for p in models["spam-text"].signature.outputs if p.labels), []))
        path = os.path.join(t.workdir, "spam.jsonl")
        rows = [{"text": "WINNER!! You have won a FREE prize, call now to claim your cash award", "label": 1},
                {"text": "Are we still meeting for lunch tomorrow?", "label": 0}]
        write_jsonl(path, rows)
        rep = eval_json(t, "eval spam-text", ["--model", "spam-text", "--data", path])
        if rep:
            t.check(rep["examples"] == 2 and set(rep["labels"]) <= set(labels),
                    "spam-text: evaluated with its own class names (numeric labels index them)", repr(rep["labels"]))
    else:
        t.ok("spam-text not built in: skipped")
    images = os.path.join(FASHION_DIR, "t10k-images-idx3-ubyte.gz")
    if "fashion-cnn" not in models or not os.path.exists(images):
        t.ok("fashion-cnn or Fashion-MNIST not available: skipped")
        return
    classes = list(next((p.labels for p in models["fashion-cnn"].signature.outputs if p.labels), []))
    idx = eval_json(t, "eval fashion-cnn on IDX", ["--model", "fashion-cnn", "--data", images, "--limit", "300"])
    if idx:
        t.check(idx["examples"] == 300 and idx["accuracy"] > 0.5 and set(idx["labels"]) <= set(classes),
                "fashion-cnn: 300 Fashion-MNIST test images, accuracy well above chance, class names",
                "examples %r accuracy %r" % (idx["examples"], idx["accuracy"]))
    remote = eval_json(t, "eval fashion-cnn on IDX --server", ["--model", "fashion-cnn", "--data", images, "--limit",
                                                               "300", "--server", srv.address, "--batch", "100"])
    if idx and remote:
        same_metrics(t, "fashion-cnn: --server gives the in-process numbers", remote, idx)
    # The same first 40 images as PNG files in a JSONL set with class names: the same predictions as from IDX.
    import gzip
    with gzip.open(images) as f:
        img = f.read()
    with gzip.open(os.path.join(FASHION_DIR, "t10k-labels-idx1-ubyte.gz")) as f:
        lab = f.read()
    n = 40
    d = os.path.join(t.workdir, "fashion")
    os.makedirs(os.path.join(d, "img"), exist_ok=True)
    rows = []
    for i in range(n):
        name = "img/%03d.png" % i
        with open(os.path.join(d, name), "wb") as f:
            f.write(png_gray(28, 28, img[16 + i * 784:16 + (i + 1) * 784]))
        rows.append({"image": name, "label": classes[lab[8 + i]]})
    write_jsonl(os.path.join(d, "test.jsonl"), rows)
    js = eval_json(t, "eval fashion-cnn on JSONL images", ["--model", "fashion-cnn", "--data",
                                                           os.path.join(d, "test.jsonl")])
    first = eval_json(t, "eval fashion-cnn on IDX --limit 40", ["--model", "fashion-cnn", "--data", images, "--limit",
                                                                str(n)])
    if js and first:
        same_metrics(t, "fashion-cnn: JSONL {\"image\": path, \"label\": name} = IDX on the same images", js, first)


if __name__ == "__main__":
    harness.run(main)
