"""`junction train --model fashion-cnn` and the `fashion-cnn` engine end to end.

Trains on a small Fashion-MNIST subset (Debian's dataset-fashion-mnist: /usr/share/datasets/fashion-mnist) for one
epoch, checks the checkpoint (safetensors header, model card) and that the test accuracy clearly beats chance;
checks usage errors (exit 2) and run-time failures (exit 1); then serves the SHIPPED weights and classifies PNGs
and a JPEG made from Fashion-MNIST test images (python3-pil) through the REST front end.

    /usr/bin/python3 tests/e2e/test_train_cnn.py /path/to/junction
"""
import base64
import gzip
import io
import json
import os
import struct
import subprocess
import sys
import urllib.request

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402

DATA = "/usr/share/datasets/fashion-mnist"
LABELS = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]


def load_test_images(n):
    with gzip.open(os.path.join(DATA, "t10k-images-idx3-ubyte.gz"), "rb") as f:
        magic, count, rows, cols = struct.unpack(">IIII", f.read(16))
        pixels = f.read(n * rows * cols)
    with gzip.open(os.path.join(DATA, "t10k-labels-idx1-ubyte.gz"), "rb") as f:
        f.read(8)
        labels = list(f.read(n))
    return [pixels[i * 784:(i + 1) * 784] for i in range(n)], labels


def run(t, args, timeout=600):
    p = subprocess.run([t.binary, "train"] + args, capture_output=True, text=True, timeout=timeout)
    return p.returncode, p.stdout, p.stderr


def check_training(t):
    out = os.path.join(t.workdir, "tmp")
    rc, so, se = run(t, ["--model", "fashion-cnn", "--data", DATA, "--limit", "2000", "--epochs", "1", "--out", out,
                         "--quiet", "--seed", "3"])
    t.eq(rc, 0, "train fashion-cnn --limit 2000 --epochs 1 exits 0 (%s)" % se.strip()[-300:])
    t.check(os.path.exists(out + ".safetensors") and os.path.exists(out + ".json"),
            "OUT.safetensors and OUT.json written")
    t.check("test_accuracy" in so, "stdout reports test_accuracy", so)
    with open(out + ".safetensors", "rb") as f:
        (hlen,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(hlen))
    t.check(set(k for k in header if k != "__metadata__") ==
            {"conv1.weight", "conv1.bias", "conv2.weight", "conv2.bias", "fc1.weight", "fc1.bias", "fc2.weight",
             "fc2.bias"}, "safetensors holds the 8 CNN tensors")
    t.eq(header["fc2.weight"]["dtype"], "F32", "weights are F32")
    t.eq(header["fc2.weight"]["shape"][0], 10, "fc2 has 10 outputs")
    with open(out + ".json") as f:
        card = json.load(f)
    t.eq(card["labels"], LABELS, "model card labels are Fashion-MNIST's class names")
    t.eq(card["training"]["epochs"], 1, "model card records the epochs")
    t.eq(card["training"]["examples"] + card["training"]["validation_examples"], 2000, "model card: 2000 examples")
    acc = card["metrics"].get("test_accuracy", 0)
    t.check(acc > 0.5, "test accuracy %.3f on the 10000 test images beats chance (0.1) clearly" % acc)
    t.check(card["metrics"].get("validation_accuracy", 0) > 0.4, "validation accuracy recorded and > 0.4")

    # --init continues from the checkpoint.
    rc, so, se = run(t, ["--model", "fashion-cnn", "--data", DATA, "--limit", "500", "--epochs", "1", "--out",
                         out + "2", "--init", out + ".safetensors", "--quiet", "--optimizer", "sgd",
                         "--lr", "0.005"])
    t.eq(rc, 0, "train --init CKPT --optimizer sgd exits 0 (%s)" % se.strip()[-300:])
    with open(out + "2.json") as f:
        card2 = json.load(f)
    t.check(card2["metrics"].get("test_accuracy", 0) > 0.5, "fine-tuned from --init keeps accuracy > 0.5")


def check_usage(t):
    rc, _, se = run(t, ["--model", "fashion-cnn", "--data", DATA])
    t.check(rc == 2 and "--out is required" in se, "missing --out: exit 2 with the reason", "%d %s" % (rc, se[:200]))
    rc, _, se = run(t, ["--model", "nope", "--data", DATA, "--out", "x"])
    t.check(rc == 2 and "unknown model 'nope'" in se, "unknown model: exit 2", "%d %s" % (rc, se[:200]))
    rc, _, se = run(t, ["--model", "fashion-cnn", "--data", DATA, "--out", "x", "--epochs", "zero"])
    t.check(rc == 2 and "--epochs" in se, "bad --epochs: exit 2", "%d %s" % (rc, se[:200]))
    rc, _, se = run(t, ["--model", "fashion-cnn", "--data", DATA, "--out", "x", "--optimizer", "rmsprop"])
    t.check(rc == 2 and "sgd or adam" in se, "bad --optimizer: exit 2", "%d %s" % (rc, se[:200]))
    rc, _, se = run(t, ["--model", "fashion-cnn", "--data", "/nonexistent", "--out", os.path.join(t.workdir, "x")])
    t.check(rc == 1 and "/nonexistent" in se, "missing data: exit 1 naming it", "%d %s" % (rc, se[:200]))
    rc, so, _ = run(t, ["--help"])
    t.check(rc == 0 and "fashion-cnn" in so, "--help lists fashion-cnn")


def predict(srv, body):
    req = urllib.request.Request("http://%s/v1/models/fashion-cnn:predict?all=1" % srv.http_address,
                                 data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"{}")


def check_serving(t):
    from PIL import Image
    images, labels = load_test_images(40)
    srv = t.start_server(["--http-port", "any"])
    # Clearly recognisable classes: trousers, sandals, sneakers, bags, ankle boots.
    picks = [i for i in range(40) if labels[i] in (1, 5, 7, 8, 9)][:8]
    right = 0
    for n, i in enumerate(picks):
        img = Image.frombytes("L", (28, 28), images[i])
        buf = io.BytesIO()
        if n % 2:  # any size: upscaled 4x; and one JPEG among them
            img = img.resize((112, 112), Image.BILINEAR)
        fmt = "JPEG" if n == 3 else "PNG"
        img.save(buf, format=fmt, quality=95)
        st, body = predict(srv, {"image": base64.b64encode(buf.getvalue()).decode()})
        ok = st == 200 and body.get("label") == LABELS[labels[i]]
        right += ok
        t.check(ok, "test image %d (%s, %s%s) -> %s" % (i, LABELS[labels[i]], fmt, " 112x112" if n % 2 else "",
                                                        body.get("label")), repr(body)[:300])
        if st == 200 and n == 0:
            scores = body.get("scores")
            t.check(isinstance(scores, list) and len(scores) == 10, "?all=1 answers 10 scores", repr(body)[:300])
    st, body = predict(srv, {"image": base64.b64encode(b"not an image").decode()})
    t.eq(st, 400, "a non-image is a 400")
    srv_text = json.dumps(body)
    t.check("fashion-cnn" in srv_text, "the error names the model", srv_text[:300])
    # The model's metadata: IMAGE in, CLASSIFICATION with the 10 labels out.
    with urllib.request.urlopen("http://%s/v2/models/fashion-cnn" % srv.http_address, timeout=30) as r:
        meta = json.loads(r.read())
    t.eq([i["name"] for i in meta["inputs"]], ["image"], "metadata: input 'image'")
    t.eq(meta["outputs"][0]["shape"], [-1, 10], "metadata: scores [-1, 10]")
    t.stop_server(srv)


def main(t):
    with t.case("training"):
        check_training(t)
    with t.case("usage"):
        check_usage(t)
    with t.case("serving"):
        check_serving(t)


if __name__ == "__main__":
    harness.run(main)
