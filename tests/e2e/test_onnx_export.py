"""ONNX export of trained models, checked by ONNX itself and by ONNX Runtime against junction's own answers.

1. `junction train --model fashion-cnn ... --onnx OUT.onnx` on a 2000-image subset of Debian's Fashion-MNIST
   (one epoch; only the train-* IDX files are linked into the data directory so the trainer skips its 10000-image
   test pass); the file passes onnx.checker.check_model(full_check=True) (python3-onnx) and declares IR 8, opset 13,
   input "input" FP32 [N,1,28,28], output "scores" FP32 [N,10], the labels in its metadata.
2. junction serves the trained checkpoint as `fashion-cnn` (JUNCTION_MODELS_DIR) and classifies N test images sent
   as PNGs over gRPC junction.v1 Infer (the product path: decode, resize, x/255, CNN, softmax). The same images,
   preprocessed here as x/255 into an NCHW FP32 file, go through the exported model in ONNX Runtime (npm
   onnxruntime-node, tests/e2e/ort_run.js under node). Every top-1 label must agree; the largest probability
   difference is printed and must be small.
3. `junction export` of the shipped spam-text head: check_model, and ORT's scores on a few feature vectors equal
   numpy's softmax(x W + b) from the safetensors weights.
4. Malformed requests: unknown model (exit 2), missing checkpoint, unwritable output (exit 1, naming the path).

onnxruntime-node missing is a FAILURE (run scripts/install-deps.sh --onnxruntime), never a skip.

    /usr/bin/python3 tests/e2e/test_onnx_export.py /path/to/junction
"""
import gzip
import io
import json
import os
import shutil
import struct
import subprocess
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402
import numpy as np  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
DATA = "/usr/share/datasets/fashion-mnist"
LABELS = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
N_IMAGES = 1000
MAX_PROB_DIFF = 1e-4


def ort_package_dir():
    return os.environ.get("JUNCTION_ORT_NODE") or os.path.join(ROOT, ".cache", "onnxruntime", "node_modules",
                                                                "onnxruntime-node")


def check_ort_available(t):
    node = shutil.which("node")
    pkg = ort_package_dir()
    if not node:
        return t.fail("node is installed", "no `node` on PATH: run scripts/install-deps.sh --onnxruntime")
    if not os.path.isfile(os.path.join(pkg, "package.json")):
        return t.fail("onnxruntime-node is installed",
                      "%s is missing: run scripts/install-deps.sh --onnxruntime" % pkg)
    with open(os.path.join(pkg, "package.json")) as f:
        version = json.load(f)["version"]
    return t.ok("onnxruntime-node %s found (%s)" % (version, pkg))


def run_ort(t, model, x, out_path):
    """Runs model on x (float32 [N, ...]) in ONNX Runtime; returns the first output as a float32 array or None."""
    in_path = out_path + ".in.f32"
    np.ascontiguousarray(x, dtype="<f4").tofile(in_path)
    shape = ",".join(str(d) for d in x.shape)
    p = subprocess.run(["node", os.path.join(HERE, "ort_run.js"), model, in_path, shape, out_path, "100"],
                       capture_output=True, text=True, timeout=300)
    if not t.check(p.returncode == 0, "onnxruntime-node runs %s on %d rows" % (os.path.basename(model), x.shape[0]),
                   "exit %d: %s" % (p.returncode, (p.stderr or p.stdout).strip()[-1500:])):
        return None
    info = json.loads(p.stdout.strip().splitlines()[-1])
    print("     ort: %s" % json.dumps(info), flush=True)
    return np.fromfile(out_path, dtype="<f4").reshape(x.shape[0], -1)


def load_test_images(n):
    with gzip.open(os.path.join(DATA, "t10k-images-idx3-ubyte.gz"), "rb") as f:
        f.read(16)
        pixels = np.frombuffer(f.read(n * 784), dtype=np.uint8).reshape(n, 28, 28)
    with gzip.open(os.path.join(DATA, "t10k-labels-idx1-ubyte.gz"), "rb") as f:
        f.read(8)
        labels = np.frombuffer(f.read(n), dtype=np.uint8)
    return pixels, labels


def train_with_onnx(t):
    """Trains on a 2000-image subset with --onnx; returns (checkpoint prefix, onnx path) or None."""
    data = os.path.join(t.workdir, "fashion-train-only")
    os.makedirs(data)
    for name in ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"):
        os.symlink(os.path.join(DATA, name), os.path.join(data, name))
    prefix = os.path.join(t.workdir, "cnn")
    onnx_path = os.path.join(t.workdir, "cnn.onnx")
    p = subprocess.run([t.binary, "train", "--model", "fashion-cnn", "--data", data, "--limit", "2000",
                        "--epochs", "1", "--seed", "3", "--quiet", "--out", prefix, "--onnx", onnx_path],
                       capture_output=True, text=True, timeout=600)
    if not t.check(p.returncode == 0, "train fashion-cnn --limit 2000 --epochs 1 --onnx OUT.onnx exits 0",
                   "exit %d: %s" % (p.returncode, p.stderr.strip()[-500:])):
        return None
    t.check(("saved %s" % onnx_path) in p.stdout, "train reports the ONNX file", p.stdout[-300:])
    t.check(os.path.isfile(prefix + ".safetensors") and os.path.isfile(onnx_path),
            "the checkpoint and the ONNX file are written")
    return prefix, onnx_path


def check_onnx_file(t, path, in_name, in_shape, labels, initializers):
    import onnx
    model = onnx.load(path)
    try:
        onnx.checker.check_model(model, full_check=True)
        t.ok("onnx.checker.check_model(full_check=True) accepts %s (onnx %s)" % (os.path.basename(path),
                                                                               onnx.__version__))
    except Exception as e:  # onnx.checker.ValidationError, onnx.shape_inference.InferenceError
        t.fail("onnx.checker.check_model accepts %s" % os.path.basename(path), str(e)[:1000])
    t.eq(model.ir_version, 8, "IR version 8")
    t.eq([(o.domain, o.version) for o in model.opset_import], [("", 13)], "default-domain opset 13 only")
    t.eq(model.producer_name, "junction", "producer_name is junction")

    def dims(v):
        return [d.dim_param or d.dim_value for d in v.type.tensor_type.shape.dim]

    t.eq([(i.name, dims(i)) for i in model.graph.input], [(in_name, in_shape)], "graph input")
    t.eq([(o.name, dims(o)) for o in model.graph.output], [("scores", ["N", len(labels)])], "graph output")
    t.eq(sorted(i.name for i in model.graph.initializer), sorted(initializers), "weights are initializers")
    meta = {p.key: p.value for p in model.metadata_props}
    t.eq(json.loads(meta.get("labels", "null")), labels, "metadata 'labels' in output column order")
    t.check(meta.get("preprocessing"), "metadata 'preprocessing' says what makes the input",
            repr(meta.get("preprocessing")))
    return model


def junction_scores(t, srv, pngs):
    """fashion-cnn scores [len(pngs), 10] from the running server (junction.v1 Infer, BYTES batches)."""
    stub = srv.broker()
    out = []
    for s in range(0, len(pngs), 250):
        chunk = pngs[s:s + 250]
        value = harness.pb.contract.Value(name="image", tensor=harness.pb.tensor.Tensor(
            datatype=harness.pb.tensor.BYTES, shape=[len(chunk)], strings=chunk))
        r = t.call("Infer fashion-cnn on images %d..%d" % (s, s + len(chunk) - 1), stub.Infer,
                   harness.pb.broker.InferRequest(model="fashion-cnn", inputs=[value]), timeout=120)
        if r is None:
            return None
        tensor = r.outputs[0].tensor
        if not t.check(list(tensor.shape) == [len(chunk), 10] and tensor.datatype == harness.pb.tensor.FP32,
                       "Infer answers FP32 [%d, 10] scores" % len(chunk), str(r.outputs[0])[:300]):
            return None
        out.append(np.frombuffer(tensor.raw, dtype="<f4").reshape(len(chunk), 10))
    return np.concatenate(out)


def check_cnn_against_ort(t, prefix, onnx_path):
    from PIL import Image
    models = os.path.join(t.workdir, "models")
    os.makedirs(models)
    shutil.copy(prefix + ".safetensors", os.path.join(models, "fashion-cnn.safetensors"))
    shutil.copy(prefix + ".json", os.path.join(models, "fashion-cnn.json"))
    text_models = os.path.join(ROOT, "engines", "text", "models")
    for name in os.listdir(text_models):
        os.symlink(os.path.join(text_models, name), os.path.join(models, name))
    os.environ["JUNCTION_MODELS_DIR"] = models

    pixels, truth = load_test_images(N_IMAGES)
    pngs = []
    for img in pixels:
        buf = io.BytesIO()
        Image.fromarray(img, mode="L").save(buf, format="PNG")
        pngs.append(buf.getvalue())
    srv = t.start_server()
    jn = junction_scores(t, srv, pngs)
    t.stop_server(srv)
    if jn is None:
        return
    # What fashion-cnn does before its CNN, here for ONNX Runtime: 28x28 gray stays 28x28, x/255, NCHW.
    x = (pixels.astype(np.float32) / np.float32(255.0)).reshape(N_IMAGES, 1, 28, 28)
    ort = run_ort(t, onnx_path, x, os.path.join(t.workdir, "cnn-ort.f32"))
    if ort is None:
        return
    t.eq(ort.shape, (N_IMAGES, 10), "ONNX Runtime answers [%d, 10]" % N_IMAGES)
    jn_top, ort_top = jn.argmax(axis=1), ort.argmax(axis=1)
    differ = np.nonzero(jn_top != ort_top)[0]
    diff = float(np.abs(jn - ort).max())
    print("     %d images: top-1 agreement %d/%d, max |p_junction - p_ort| = %.3g, junction accuracy %.4f, "
          "ORT accuracy %.4f" % (N_IMAGES, N_IMAGES - len(differ), N_IMAGES, diff, (jn_top == truth).mean(),
                                 (ort_top == truth).mean()), flush=True)
    t.check(len(differ) == 0, "ONNX Runtime's top-1 label equals junction's on all %d test images" % N_IMAGES,
            "%d differ, first: %s" % (len(differ), [(int(i), LABELS[jn_top[i]], LABELS[ort_top[i]],
                                                     jn[i].round(4).tolist(), ort[i].round(4).tolist())
                                                    for i in differ[:3]]))
    t.check(diff < MAX_PROB_DIFF, "max abs probability difference %.3g < %g" % (diff, MAX_PROB_DIFF))
    t.check((jn_top == truth).mean() > 0.5, "the trained model is better than chance (accuracy %.3f)"
            % (jn_top == truth).mean())


def read_safetensors(path):
    with open(path, "rb") as f:
        (hlen,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(hlen))
        body = f.read()
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        a, b = info["data_offsets"]
        out[name] = np.frombuffer(body[a:b], dtype="<f4").reshape(info["shape"])
    return out


def check_text_export(t):
    ckpt = os.path.join(ROOT, "engines", "text", "models", "spam-text.safetensors")
    out = os.path.join(t.workdir, "spam.onnx")
    p = subprocess.run([t.binary, "export", "--model", "spam-text", "--checkpoint", ckpt, "--out", out],
                       capture_output=True, text=True, timeout=120)
    if not t.check(p.returncode == 0, "junction export --model spam-text exits 0", p.stderr[-500:]):
        return
    w = read_safetensors(ckpt)
    d = w["W"].shape[0]
    check_onnx_file(t, out, "features", ["N", d], ["ham", "spam"], ["W", "b"])
    rng = np.random.default_rng(7)
    x = np.zeros((4, d), dtype=np.float32)
    x[1, 12345] = 1.0
    for row in (2, 3):
        idx = rng.choice(d, 40, replace=False)
        x[row, idx] = rng.random(40, dtype=np.float32)
        x[row] /= np.linalg.norm(x[row])
    got = run_ort(t, out, x, os.path.join(t.workdir, "spam-ort.f32"))
    if got is None:
        return
    logits = x.astype(np.float64) @ w["W"].astype(np.float64) + w["b"]
    want = np.exp(logits - logits.max(axis=1, keepdims=True))
    want /= want.sum(axis=1, keepdims=True)
    diff = float(np.abs(got - want).max())
    t.check(diff < 1e-5, "ORT on the spam-text head = numpy softmax(x W + b) (max diff %.3g)" % diff)


def check_errors(t):
    def export(*args):
        return subprocess.run([t.binary, "export"] + list(args), capture_output=True, text=True, timeout=60)

    ckpt = os.path.join(ROOT, "engines", "vision", "models", "fashion-cnn.safetensors")
    p = export("--model", "nope", "--checkpoint", ckpt, "--out", os.path.join(t.workdir, "x.onnx"))
    t.check(p.returncode == 2 and "unknown model 'nope'" in p.stderr, "export: unknown model -> exit 2 naming it",
            "%d %s" % (p.returncode, p.stderr[:300]))
    p = export("--model", "fashion-cnn", "--checkpoint", "/nonexistent/ckpt.safetensors", "--out",
               os.path.join(t.workdir, "x.onnx"))
    t.check(p.returncode == 1 and "/nonexistent/ckpt.safetensors" in p.stderr,
            "export: missing checkpoint -> exit 1 naming it", "%d %s" % (p.returncode, p.stderr[:300]))
    p = export("--model", "fashion-cnn", "--checkpoint", ckpt, "--out", "/nonexistent-dir/x.onnx")
    t.check(p.returncode == 1 and "/nonexistent-dir/x.onnx" in p.stderr,
            "export: unwritable output -> exit 1 naming it", "%d %s" % (p.returncode, p.stderr[:300]))
    t.check(not os.path.exists(os.path.join(t.workdir, "x.onnx")), "failed exports leave no file")
    p = export("--model", "spam-text", "--checkpoint", ckpt, "--out", os.path.join(t.workdir, "y.onnx"))
    t.check(p.returncode == 1 and ckpt in p.stderr, "export: a CNN checkpoint as spam-text -> exit 1 naming it",
            "%d %s" % (p.returncode, p.stderr[:300]))
    p = export("--model", "fashion-cnn", "--out", os.path.join(t.workdir, "x.onnx"))
    t.check(p.returncode == 2 and "--checkpoint is required" in p.stderr, "export: no --checkpoint -> exit 2",
            "%d %s" % (p.returncode, p.stderr[:300]))
    # train checks --onnx before it spends time training.
    p = subprocess.run([t.binary, "train", "--model", "fashion-cnn", "--data", DATA, "--out",
                        os.path.join(t.workdir, "z"), "--onnx", "/nonexistent-dir/z.onnx"],
                       capture_output=True, text=True, timeout=60)
    t.check(p.returncode == 1 and "/nonexistent-dir/z.onnx" in p.stderr and
            not os.path.exists(os.path.join(t.workdir, "z.safetensors")),
            "train --onnx in a missing directory -> exit 1 naming it, before training",
            "%d %s" % (p.returncode, p.stderr[:300]))


def main(t):
    with t.case("malformed export requests"):
        check_errors(t)
    if not check_ort_available(t):
        return
    with t.case("spam-text head: export, check_model, ORT = numpy"):
        check_text_export(t)
    trained = None
    with t.case("fashion-cnn: train --onnx, check_model"):
        trained = train_with_onnx(t)
        if trained:
            check_onnx_file(t, trained[1], "input", ["N", 1, 28, 28], LABELS,
                            ["conv1.weight", "conv1.bias", "conv2.weight", "conv2.bias", "fc1.weight", "fc1.bias",
                             "fc2.weight", "fc2.bias"])
    if trained:
        with t.case("fashion-cnn: ONNX Runtime top-1 = junction's on %d test images" % N_IMAGES):
            check_cnn_against_ort(t, *trained)


if __name__ == "__main__":
    harness.run(main)
