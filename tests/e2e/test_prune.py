"""`junction prune` (channel and magnitude pruning + fine-tuning) and `junction eval --compare`, end to end.

On small Fashion-MNIST subsets (Debian's dataset-fashion-mnist: /usr/share/datasets/fashion-mnist), so that CI stays
fast: trains a short baseline, prunes 50 % of each convolution's channels and fine-tunes; checks the channel counts
in the checkpoint, the ONNX export (python3-onnx) and the model card, that fine-tuning recovers the accuracy (within
BOUND of the baseline, and above the pruned model before fine-tuning), that the serving engine loads the pruned
checkpoint (a server with it as fashion-cnn, and `eval --model CKPT.safetensors`), magnitude pruning of the CNN and of
spam-text (zeros kept through fine-tuning), `eval --compare` (a model against itself: zero difference and plain
eval's accuracy; baseline vs pruned: the columns are the plain evals' and B - A is their difference; ONNX file vs
checkpoint), and bad input (exit 2 naming the flag).

    /usr/bin/python3 tests/e2e/test_prune.py /path/to/junction
"""
import base64
import gzip
import io
import json
import os
import shutil
import struct
import subprocess
import sys
import urllib.request

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402

DATA = "/usr/share/datasets/fashion-mnist"
TEST_IMAGES = os.path.join(DATA, "t10k-images-idx3-ubyte.gz")
ROOT = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
BOUND = 0.03  # fine-tuned pruned accuracy >= baseline - BOUND (on the 10,000 test images)


def junction(t, args, timeout=600):
    p = subprocess.run([t.binary] + args, capture_output=True, text=True, timeout=timeout)
    return p.returncode, p.stdout, p.stderr


def st_header(path):
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        return json.loads(f.read(n)), n


def st_tensor(path, name):
    import numpy as np
    header, n = st_header(path)
    h = header[name]
    a, b = h["data_offsets"]
    with open(path, "rb") as f:
        f.seek(8 + n + a)
        return np.frombuffer(f.read(b - a), dtype="<f4").reshape(h["shape"])


def card(prefix):
    with open(prefix + ".json") as f:
        return json.load(f)


def eval_json(t, args):
    rc, so, se = junction(t, ["eval", "--data", TEST_IMAGES, "--json"] + args)
    if not t.check(rc == 0, "eval %s exits 0" % " ".join(args), se[-300:]):
        return None
    return json.loads(so)


def check_channels(t, w):
    base, pruned = os.path.join(w, "base"), os.path.join(w, "pruned")
    rc, so, se = junction(t, ["train", "--model", "fashion-cnn", "--data", DATA, "--limit", "4000", "--epochs", "2",
                              "--seed", "3", "--quiet", "--out", base])
    t.eq(rc, 0, "baseline: train fashion-cnn --limit 4000 --epochs 2 exits 0 (%s)" % se.strip()[-300:])
    base_acc = card(base)["metrics"]["test_accuracy"]
    rc, so, se = junction(t, ["prune", "--model", "fashion-cnn", "--checkpoint", base + ".safetensors", "--channels",
                              "0.5", "--fine-tune-epochs", "2", "--data", DATA, "--limit", "4000", "--seed", "4",
                              "--out", pruned, "--onnx", pruned + ".onnx", "--quiet"])
    t.eq(rc, 0, "prune --channels 0.5 --fine-tune-epochs 2 --onnx exits 0 (%s)" % se.strip()[-300:])
    t.check("saved %s.onnx" % pruned in so and "to conv1 8, conv2 16 channels" in so,
            "prune reports the new channel counts and the ONNX file", so[-400:])
    header, _ = st_header(pruned + ".safetensors")
    t.eq(header["conv1.weight"]["shape"], [8, 5, 5, 1], "checkpoint: conv1 has 8 of 16 filters")
    t.eq(header["conv2.weight"]["shape"], [16, 5, 5, 8], "checkpoint: conv2 has 16 of 32 filters, 8 inputs")
    t.eq(header["fc1.weight"]["shape"], [128, 7 * 7 * 16], "checkpoint: fc1 reads the 16 remaining 7x7 maps")
    import onnx
    model = onnx.load(pruned + ".onnx")
    onnx.checker.check_model(model, full_check=True)
    convs = [n for n in model.graph.node if n.op_type == "Conv"]
    inits = {i.name: list(i.dims) for i in model.graph.initializer}
    t.eq([inits[c.input[1]][:2] for c in convs], [[8, 1], [16, 8]], "ONNX export: Conv weights [8,1,..], [16,8,..]")
    c = card(pruned)
    p = c.get("pruning", {})
    t.eq(p.get("method"), "channels (L1)", "card: pruning method")
    t.eq(p.get("channels_ratio"), 0.5, "card: channels ratio 0.5")
    t.eq(p.get("channels_before"), {"conv1": 16, "conv2": 32}, "card: channels before")
    t.eq(p.get("channels_after"), {"conv1": 8, "conv2": 16}, "card: channels after")
    t.eq(p.get("fine_tune_epochs"), 2, "card: fine-tune epochs")
    t.eq(c["training"]["epochs"], 2, "card: training epochs are the fine-tuning's")
    t.check(p.get("parameters_after", 1e9) < 0.55 * p.get("parameters_before", 0),
            "card: parameters %s -> %s" % (p.get("parameters_before"), p.get("parameters_after")))
    ta = p.get("test_accuracy", {})
    t.eq(ta.get("before"), base_acc, "card: test accuracy before pruning is the baseline's (%.4f)" % base_acc)
    after = ta.get("after_fine_tuning", 0)
    t.eq(after, c["metrics"]["test_accuracy"], "card: after fine-tuning is the model's test accuracy")
    t.check(after > ta.get("pruned", 1), "fine-tuning recovers: %.4f pruned -> %.4f" % (ta.get("pruned", -1), after))
    t.check(after >= base_acc - BOUND, "fine-tuned pruned accuracy %.4f within %.2f of the baseline %.4f"
            % (after, BOUND, base_acc))
    # Another ratio, no fine-tuning: the counts follow the ratio (16 - round(4) = 12, 32 - 8 = 24).
    rc, so, se = junction(t, ["prune", "--model", "fashion-cnn", "--checkpoint", base + ".safetensors", "--channels",
                              "0.25", "--fine-tune-epochs", "0", "--data", DATA, "--limit", "200", "--out",
                              pruned + "25", "--quiet"])
    t.eq(rc, 0, "prune --channels 0.25 --fine-tune-epochs 0 exits 0 (%s)" % se.strip()[-300:])
    header, _ = st_header(pruned + "25.safetensors")
    t.eq([header["conv1.weight"]["shape"][0], header["conv2.weight"]["shape"][0]], [12, 24],
         "--channels 0.25: 12 and 24 filters")
    return base, pruned


def check_serving(t, w, pruned):
    import numpy as np
    from PIL import Image
    models = os.path.join(w, "models")
    os.makedirs(models, exist_ok=True)
    for f in os.listdir(os.path.join(ROOT, "engines", "text", "models")):
        shutil.copy(os.path.join(ROOT, "engines", "text", "models", f), models)
    shutil.copy(pruned + ".safetensors", os.path.join(models, "fashion-cnn.safetensors"))
    shutil.copy(pruned + ".json", os.path.join(models, "fashion-cnn.json"))
    with gzip.open(TEST_IMAGES, "rb") as f:
        f.read(16)
        pixels = f.read(20 * 784)
    with gzip.open(os.path.join(DATA, "t10k-labels-idx1-ubyte.gz"), "rb") as f:
        f.read(8)
        labels = list(f.read(20))
    os.environ["JUNCTION_MODELS_DIR"] = models
    try:
        srv = t.start_server(["--http-port", "any"])
    finally:
        del os.environ["JUNCTION_MODELS_DIR"]
    right = 0
    for i in range(20):
        buf = io.BytesIO()
        Image.frombytes("L", (28, 28), pixels[i * 784:(i + 1) * 784]).save(buf, format="PNG")
        req = urllib.request.Request("http://%s/v1/models/fashion-cnn:predict" % srv.http_address,
                                     data=json.dumps({"image": base64.b64encode(buf.getvalue()).decode()}).encode(),
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=30) as r:
            body = json.loads(r.read())
        right += body.get("label") == card(pruned)["labels"][labels[i]]
    t.check(right >= 14, "a server with the pruned checkpoint as fashion-cnn labels %d of 20 test images right" % right)
    t.stop_server(srv)
    del np


def check_magnitude(t, w, base):
    out = os.path.join(w, "sparse")
    rc, so, se = junction(t, ["prune", "--model", "fashion-cnn", "--checkpoint", base + ".safetensors", "--sparsity",
                              "0.6", "--fine-tune-epochs", "1", "--data", DATA, "--limit", "1000", "--out", out,
                              "--quiet"])
    t.eq(rc, 0, "prune --sparsity 0.6 --fine-tune-epochs 1 exits 0 (%s)" % se.strip()[-300:])
    for name in ("conv1.weight", "conv2.weight", "fc1.weight", "fc2.weight"):
        a = st_tensor(out + ".safetensors", name)
        zero = float((a == 0).sum()) / a.size
        t.check(abs(zero - 0.6) <= 1.0 / a.size + 1e-9,
                "%s: %.4f of the weights are zero after fine-tuning (0.6 asked)" % (name, zero))
    header, _ = st_header(out + ".safetensors")
    t.eq(header["conv1.weight"]["shape"], [16, 5, 5, 1], "magnitude pruning keeps the shapes")
    p = card(out).get("pruning", {})
    t.eq((p.get("method"), p.get("sparsity")), ("magnitude", 0.6), "card: magnitude, sparsity 0.6")


def check_text(t, w):
    import random
    rnd = random.Random(5)
    spam = "free money win prize cash offer click now claim winner bonus urgent".split()
    ham = "meeting lunch project schedule report team notes agenda tuesday review".split()
    for name, n in (("train", 400), ("test", 100)):
        with open(os.path.join(w, "text-%s.jsonl" % name), "w") as f:
            for i in range(n):
                words, label = (spam, "spam") if i % 2 else (ham, "ham")
                text = " ".join(rnd.choice(words) for _ in range(8))
                f.write(json.dumps({"text": text, "label": label}) + "\n")
    tr, te = os.path.join(w, "text-train.jsonl"), os.path.join(w, "text-test.jsonl")
    base, out = os.path.join(w, "text"), os.path.join(w, "text-pruned")
    rc, _, se = junction(t, ["train", "--model", "spam-text", "--data", tr, "--epochs", "2", "--out", base, "--quiet"])
    t.eq(rc, 0, "train spam-text exits 0 (%s)" % se.strip()[-300:])
    rc, so, se = junction(t, ["prune", "--model", "spam-text", "--checkpoint", base + ".safetensors", "--sparsity",
                              "0.9", "--data", tr, "--test-data", te, "--out", out, "--quiet"])
    t.eq(rc, 0, "prune spam-text --sparsity 0.9 exits 0 (%s)" % se.strip()[-300:])
    p = card(out).get("pruning", {})
    t.check(p.get("nonzero_weights_after", 1e12) <= 0.1 * p.get("weights", 0) + 1,
            "spam-text: %s of %s weights non-zero after pruning 90 %% and fine-tuning"
            % (p.get("nonzero_weights_after"), p.get("weights")))
    t.check(p.get("test_accuracy", {}).get("after_fine_tuning", 0) >= 0.9,
            "spam-text pruned: test accuracy %s on the separable set" % p.get("test_accuracy"))


def check_compare(t, w, base, pruned):
    ckpt_b, ckpt_p = base + ".safetensors", pruned + ".safetensors"
    one = eval_json(t, ["--model", ckpt_p, "--limit", "1000"])
    same = eval_json(t, ["--model", ckpt_p, "--compare", ckpt_p, "--limit", "1000"])
    if one and same:
        t.eq(same["difference"]["accuracy"], 0.0, "a model compared with itself: accuracy difference 0")
        t.eq(same["difference"]["macro_f1"], 0.0, "a model compared with itself: macro F1 difference 0")
        t.eq(same["difference"]["size_bytes"], 0, "a model compared with itself: size difference 0")
        t.eq(same["a"]["accuracy"], one["accuracy"], "compare's column equals plain eval's accuracy")
        t.eq(same["b"]["accuracy"], one["accuracy"], "both columns equal plain eval's accuracy")
    plain_b = eval_json(t, ["--model", ckpt_b, "--limit", "1000"])
    two = eval_json(t, ["--model", ckpt_b, "--compare", ckpt_p, "--limit", "1000"])
    if one and plain_b and two:
        t.eq((two["a"]["accuracy"], two["b"]["accuracy"]), (plain_b["accuracy"], one["accuracy"]),
             "baseline vs pruned: each column is its model's plain eval")
        t.check(abs(two["difference"]["accuracy"] - (one["accuracy"] - plain_b["accuracy"])) < 1e-12,
                "difference = B - A (%.4f)" % two["difference"]["accuracy"])
        t.eq((two["size_a"], two["size_b"]), (os.path.getsize(ckpt_b), os.path.getsize(ckpt_p)), "sizes on disk")
        t.check(abs(two["difference"]["size_ratio"] - os.path.getsize(ckpt_p) / os.path.getsize(ckpt_b)) < 1e-9,
                "size ratio %.3f" % two["difference"]["size_ratio"])
        t.check(two["a"]["latency_ms"]["p50"] > 0 and two["b"]["throughput"] > 0, "latency and throughput reported")
    onnx_cmp = eval_json(t, ["--model", pruned + ".onnx", "--compare", ckpt_p, "--limit", "1000"])
    if onnx_cmp and one:
        t.check(abs(onnx_cmp["a"]["accuracy"] - one["accuracy"]) <= 0.002,
                "the pruned ONNX export (ONNX adapter) scores %.4f, the checkpoint %.4f"
                % (onnx_cmp["a"]["accuracy"], one["accuracy"]))
        t.eq(onnx_cmp["a"]["labels"], one["labels"], "the ONNX file takes the other model's class names")
    rc, so, se = junction(t, ["eval", "--data", TEST_IMAGES, "--limit", "300", "--model", "fashion-cnn", "--compare",
                              ckpt_p])
    t.eq(rc, 0, "eval --compare (table) exits 0 (%s)" % se[-300:])
    lines = so.splitlines()
    t.check(lines and lines[0].split() == ["A", "B", "B", "-", "A"], "the table's header: A, B, B - A", so[:300])
    acc = [ln.split() for ln in lines if ln.startswith("accuracy")]
    t.check(len(acc) == 1 and len(acc[0]) == 4, "accuracy row: two columns and the difference", so[:600])
    if len(acc) == 1 and len(acc[0]) == 4:
        t.check(abs(float(acc[0][1]) + float(acc[0][3]) - float(acc[0][2])) < 2e-4, "accuracy row: A + (B - A) = B")
    t.check(any(ln.startswith("size bytes") for ln in lines) and any(ln.startswith("macro F1") for ln in lines) and
            any(ln.startswith("latency p50 ms") for ln in lines) and
            any(ln.startswith("throughput") for ln in lines), "rows: macro F1, latency p50, throughput, size")


def check_usage(t, w):
    ck = os.path.join(w, "base.safetensors")
    common = ["--data", DATA, "--out", os.path.join(w, "bad")]
    cases = [
        (["--model", "fashion-cnn", "--checkpoint", ck, "--sparsity", "0"], "--sparsity"),
        (["--model", "fashion-cnn", "--checkpoint", ck, "--sparsity", "1"], "--sparsity"),
        (["--model", "fashion-cnn", "--checkpoint", ck, "--sparsity", "-0.5"], "--sparsity"),
        (["--model", "fashion-cnn", "--checkpoint", ck, "--sparsity", "half"], "--sparsity"),
        (["--model", "fashion-cnn", "--checkpoint", ck, "--channels", "1.0"], "--channels"),
        (["--model", "fashion-cnn", "--checkpoint", ck, "--channels", "0"], "--channels"),
        (["--model", "identity", "--checkpoint", ck, "--sparsity", "0.5"], "--model: 'identity' cannot be pruned"),
        (["--model", "spam-text", "--checkpoint", ck, "--channels", "0.5"], "--channels: model 'spam-text' has no"),
        (["--model", "fashion-cnn", "--sparsity", "0.5"], "--checkpoint is required"),
        (["--model", "fashion-cnn", "--checkpoint", ck], "give --channels X"),
        (["--model", "fashion-cnn", "--checkpoint", ck, "--sparsity", "0.5", "--epochs", "2"], "--epochs"),
        (["--model", "fashion-cnn", "--checkpoint", ck, "--sparsity", "0.5", "--fine-tune-epochs", "-1"],
         "--fine-tune-epochs"),
    ]
    for args, want in cases:
        rc, _, se = junction(t, ["prune"] + args + common)
        t.check(rc == 2 and ("junction prune: " + want) in se, "prune %s: exit 2 naming it" % " ".join(args[-2:]),
                "%d %s" % (rc, se[:200]))
    rc, _, se = junction(t, ["train", "--model", "fashion-cnn", "--sparsity", "0.5"] + common)
    t.check(rc == 2 and "--sparsity is an option of junction prune" in se, "train --sparsity: exit 2", se[:200])
    rc, _, se = junction(t, ["prune", "--model", "fashion-cnn", "--checkpoint", "/nonexistent.safetensors",
                             "--sparsity", "0.5"] + common)
    t.check(rc == 1 and "/nonexistent.safetensors" in se, "a missing checkpoint: exit 1 naming it", se[:200])
    rc, _, se = junction(t, ["eval", "--model", "fashion-cnn", "--compare", ck, "--data", TEST_IMAGES, "--heatmap",
                             os.path.join(w, "h.png")])
    t.check(rc == 2 and "--heatmap" in se, "eval --compare --heatmap: exit 2", se[:200])
    rc, _, se = junction(t, ["eval", "--model", "fashion-cnn", "--compare", "/nonexistent.onnx", "--data",
                             TEST_IMAGES])
    t.check(rc == 1 and "/nonexistent.onnx" in se, "eval --compare a missing file: exit 1 naming it", se[:200])
    rc, so, _ = junction(t, ["prune", "--help"])
    t.check(rc == 0 and "--fine-tune-epochs" in so and "--channels" in so, "prune --help names its flags")


def main(t):
    w = t.workdir
    base = pruned = None
    with t.case("channels"):
        base, pruned = check_channels(t, w)
    if base:
        with t.case("serving"):
            check_serving(t, w, pruned)
        with t.case("magnitude"):
            check_magnitude(t, w, base)
        with t.case("compare"):
            check_compare(t, w, base, pruned)
    with t.case("text"):
        check_text(t, w)
    with t.case("usage"):
        check_usage(t, w)


if __name__ == "__main__":
    harness.run(main)
