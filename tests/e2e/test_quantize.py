"""`junction quantize` (issue #23 item 1) end to end, with the real binary, ONNX itself and ONNX Runtime.

1. `junction quantize --model fashion-cnn` (the shipped checkpoint, exported as `junction export` does) calibrated
   on Debian's Fashion-MNIST (dataset-fashion-mnist; the directory -> its train images, first 1000): the QDQ file
   passes onnx.checker.check_model(full_check=True) (python3-onnx), holds INT8 weights, INT32 biases, UINT8
   activation pairs and the quantization metadata, and is <= 0.3x the FP32 export's size.
2. junction serves the FP32 export and the QDQ file (`serve --models DIR`) and classifies 2,000 test images (x/255,
   NCHW, over gRPC junction.v1 Infer); ONNX Runtime (npm onnxruntime-node, tests/e2e/ort_run.js) runs the same QDQ
   file on the same inputs. junction's top-1 must agree with ORT's on >= 99.5 % of them and every output be within
   one quantization step (the scale of the last QuantizeLinear, the logits'); the accuracy drop vs FP32 is printed
   and must be <= 1 point here (the benchmark's target, bench/quantize.sh, is 0.5).
3. Calibration as numbers in JSONL and as PNG files named in JSONL (decoded as `train` does) give the same ranges.
   Variants: --per-channel --method entropy --activations int8, --method percentile, both checked the same way on
   500 images; bench/make_onnx_models.py's MLP (MatMul, Add, Relu, Gemm as the graph output: the output's pair must
   end the graph, not dangle) per channel, junction vs ORT within one step; --dynamic (weights only) whose outputs must equal ORT's up to float rounding; a JSONL calibration
   file fed to a model given by path.
4. Bad input: a missing or corrupt model, calibration data of the wrong shape or for another input, an unknown
   method, an unwritable --out: exit 2 with a message naming the flag or field, and no file left behind.

onnxruntime-node missing is a FAILURE (run scripts/install-deps.sh --onnxruntime), never a skip.

    /usr/bin/python3 tests/e2e/test_quantize.py /path/to/junction
"""
import gzip
import json
import os
import shutil
import subprocess
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402
import numpy as np  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
DATA = "/usr/share/datasets/fashion-mnist"
CKPT = os.path.join(ROOT, "engines", "vision", "models", "fashion-cnn.safetensors")
N_IMAGES = 2000
N_VARIANT = 500


def ort_package_dir():
    return os.environ.get("JUNCTION_ORT_NODE") or os.path.join(ROOT, ".cache", "onnxruntime", "node_modules",
                                                                "onnxruntime-node")


def check_ort_available(t):
    pkg = ort_package_dir()
    if not shutil.which("node"):
        return t.fail("node is installed", "no `node` on PATH: run scripts/install-deps.sh --onnxruntime")
    if not os.path.isfile(os.path.join(pkg, "package.json")):
        return t.fail("onnxruntime-node is installed", "%s is missing: run scripts/install-deps.sh --onnxruntime"
                      % pkg)
    return t.ok("onnxruntime-node found (%s)" % pkg)


def run_ort(t, model, x, out_path, opt="all"):
    in_path = out_path + ".in.f32"
    np.ascontiguousarray(x, dtype="<f4").tofile(in_path)
    shape = ",".join(str(d) for d in x.shape)
    p = subprocess.run(["node", os.path.join(HERE, "ort_run.js"), model, in_path, shape, out_path, "250", opt],
                       capture_output=True, text=True, timeout=300)
    if not t.check(p.returncode == 0, "onnxruntime-node runs %s on %d rows" % (os.path.basename(model), x.shape[0]),
                   "exit %d: %s" % (p.returncode, (p.stderr or p.stdout).strip()[-1500:])):
        return None
    return np.fromfile(out_path, dtype="<f4").reshape(x.shape[0], -1)


def load_test_images(n):
    with gzip.open(os.path.join(DATA, "t10k-images-idx3-ubyte.gz"), "rb") as f:
        f.read(16)
        pixels = np.frombuffer(f.read(n * 784), dtype=np.uint8).reshape(n, 1, 28, 28)
    with gzip.open(os.path.join(DATA, "t10k-labels-idx1-ubyte.gz"), "rb") as f:
        f.read(8)
        labels = np.frombuffer(f.read(n), dtype=np.uint8)
    return pixels.astype(np.float32) / np.float32(255.0), labels


def quantize(t, args, what):
    p = subprocess.run([t.binary, "quantize", "--quiet"] + args, capture_output=True, text=True, timeout=300)
    t.check(p.returncode == 0, "quantize %s exits 0" % what, "exit %d: %s" % (p.returncode, p.stderr[-800:]))
    return p


def check_file(t, path, fp32_size, per_channel=False, act="uint8"):
    import onnx
    from onnx import TensorProto, numpy_helper
    model = onnx.load(path)
    try:
        onnx.checker.check_model(model, full_check=True)
        t.ok("onnx.checker.check_model(full_check=True) accepts %s" % os.path.basename(path))
    except Exception as e:  # ValidationError, InferenceError
        t.fail("onnx.checker accepts %s" % os.path.basename(path), str(e)[:800])
    ops = [n.op_type for n in model.graph.node]
    inits = {i.name: i for i in model.graph.initializer}
    t.check(ops.count("QuantizeLinear") >= 6,
            "QuantizeLinear pairs on the activations (%d)" % ops.count("QuantizeLinear"))
    wq = [inits[n] for n in ("conv1.weight_quantized", "conv2.weight_quantized", "fc1.weight_quantized",
                             "fc2.weight_quantized") if n in inits]
    t.check(len(wq) == 4 and all(i.data_type == TensorProto.INT8 for i in wq), "four INT8 weights")
    t.check(not any(n in inits for n in ("conv1.weight", "fc1.weight")), "the FP32 weights are gone")
    bq = [inits.get(n + ".bias_quantized") for n in ("conv1", "conv2", "fc1", "fc2")]
    t.check(all(b is not None and b.data_type == TensorProto.INT32 for b in bq), "four INT32 biases")
    scale = inits.get("conv1.weight_scale")
    t.check(scale is not None and list(scale.dims) == ([16] if per_channel else []),
            "conv1's weight scale is %s" % ("per channel [16]" if per_channel else "one scalar"),
            str(scale.dims if scale is not None else None))
    zp = inits.get("input_zero_point")
    want = TensorProto.INT8 if act == "int8" else TensorProto.UINT8
    t.check(zp is not None and zp.data_type == want, "activations are %s" % act)
    meta = {p.key: p.value for p in model.metadata_props}
    q = json.loads(meta.get("quantization", "{}"))
    t.check(q.get("per_channel") == per_channel and "labels" in meta, "metadata: quantization and labels kept",
            json.dumps(q))
    size = os.path.getsize(path)
    t.check(size <= 0.3 * fp32_size, "file size %d <= 0.3 x FP32's %d (%.3fx)" % (size, fp32_size,
                                                                                   size / fp32_size))
    ls = inits.get("logits_scale")
    return float(numpy_helper.to_array(ls)) if ls is not None else None


def junction_scores(t, srv, model, x, in_name="input", out_name="scores"):
    stub = srv.broker()
    out = []
    for s in range(0, len(x), 250):
        r = t.call("Infer %s rows %d.." % (model, s), stub.Infer,
                   harness.infer_request(model, x[s:s + 250], input_name=in_name), timeout=120)
        if r is None:
            return None
        out.append(harness.output_array(r, out_name).reshape(-1, 10))
    return np.concatenate(out)


def compare(t, what, jn, ort, step, truth=None, fp32=None):
    jt, ot = jn.argmax(1), ort.argmax(1)
    agree = float((jt == ot).mean())
    diff = float(np.abs(jn - ort).max())
    line = "%s: %d rows, top-1 agreement junction/ORT %.4f, max |p_junction - p_ort| %.3g (step %.4g)" % (
        what, len(jn), agree, diff, step)
    if truth is not None:
        acc_q, acc_f = float((jt == truth).mean()), float((fp32.argmax(1) == truth).mean())
        line += ", accuracy FP32 %.4f INT8 %.4f (drop %.2f points)" % (acc_f, acc_q, 100 * (acc_f - acc_q))
    print("     " + line, flush=True)
    t.check(agree >= 0.995, "%s: junction's top-1 = ORT's on >= 99.5%% (%.4f)" % (what, agree))
    # One step (float32 rounding of the dequantized values aside: a relative 1e-5).
    t.check(diff <= step * (1 + 1e-5), "%s: outputs within one quantization step (%.3g <= %.4g)" % (what, diff, step))
    if truth is not None:
        t.check(100 * (acc_f - acc_q) <= 1.0, "%s: accuracy drop %.2f <= 1 point" % (what, 100 * (acc_f - acc_q)))


def check_errors(t, fp32):
    d = os.path.join(t.workdir, "bad")
    os.makedirs(d)
    out = os.path.join(d, "q.onnx")
    corrupt = os.path.join(d, "corrupt.onnx")
    with open(corrupt, "wb") as f:
        f.write(b"\x08\x07\x12\xff\xff not a model")
    wrong_shape = os.path.join(d, "shape.jsonl")
    with open(wrong_shape, "w") as f:
        f.write(json.dumps({"input": [0.5] * 100}) + "\n")
    wrong_input = os.path.join(d, "name.jsonl")
    with open(wrong_input, "w") as f:
        f.write(json.dumps({"pixels": [0.5] * 784}) + "\n")
    cases = [
        (["--model", os.path.join(d, "missing.onnx"), "--calibration", DATA, "--out", out], ["--model", "missing"]),
        (["--model", corrupt, "--calibration", DATA, "--out", out], ["--model", "not an ONNX model"]),
        (["--model", fp32, "--calibration", wrong_shape, "--out", out], ["--calibration", "input", "100 values"]),
        (["--model", fp32, "--calibration", wrong_input, "--out", out], ["--calibration", "no input 'pixels'"]),
        (["--model", fp32, "--calibration", DATA, "--out", out, "--method", "magic"], ["--method", "magic"]),
        (["--model", fp32, "--calibration", DATA, "--out", "/nonexistent-dir/q.onnx"], ["--out", "nonexistent"]),
        (["--model", fp32, "--out", out], ["--calibration"]),
        (["--model", fp32, "--calibration", os.path.join(d, "nothing.jsonl"), "--out", out], ["--calibration",
                                                                                               "nothing.jsonl"]),
    ]
    for args, words in cases:
        p = subprocess.run([t.binary, "quantize", "--quiet"] + args, capture_output=True, text=True, timeout=120)
        t.check(p.returncode == 2 and all(w in p.stderr for w in words),
                "quantize %s -> exit 2 naming %s" % (" ".join(a if len(a) < 30 else "..." + a[-20:] for a in args),
                                                      words),
                "exit %d: %s" % (p.returncode, p.stderr[-400:]))
    t.eq(sorted(os.listdir(d)), sorted(["corrupt.onnx", "shape.jsonl", "name.jsonl"]), "nothing written")


def main(t):
    fp32 = os.path.join(t.workdir, "models", "fp32.onnx")
    os.makedirs(os.path.dirname(fp32))
    p = subprocess.run([t.binary, "export", "--model", "fashion-cnn", "--checkpoint", CKPT, "--out", fp32],
                       capture_output=True, text=True, timeout=120)
    t.check(p.returncode == 0, "export the shipped fashion-cnn", p.stderr[-300:])
    fp32_size = os.path.getsize(fp32)
    with t.case("bad input"):
        check_errors(t, fp32)
    if not check_ort_available(t):
        return
    models = os.path.dirname(fp32)
    variants = [("int8", ["--calibration", DATA], dict()),
                ("int8pc", ["--calibration", DATA, "--per-channel", "--method", "entropy", "--activations", "int8"],
                 dict(per_channel=True, act="int8")),
                ("int8pct", ["--calibration", DATA, "--method", "percentile"], dict())]
    steps = {}
    for name, args, kw in variants:
        with t.case("quantize fashion-cnn %s" % (" ".join(args[2:]) or "(minmax)")):
            out = os.path.join(models, name + ".onnx")
            p = quantize(t, ["--model", "fashion-cnn", "--out", out] + args, name)
            if p.returncode == 0:
                t.check("saved %s" % out in p.stdout, "reports the file", p.stdout)
                steps[name] = check_file(t, out, fp32_size, **kw)
    with t.case("--dynamic and a JSONL calibration file"):
        p = quantize(t, ["--model", fp32, "--dynamic", "--out", os.path.join(models, "dyn.onnx")], "--dynamic")
        import onnx
        if p.returncode == 0:
            m = onnx.load(os.path.join(models, "dyn.onnx"))
            onnx.checker.check_model(m, full_check=True)
            ops = [n.op_type for n in m.graph.node]
            t.check("QuantizeLinear" not in ops and ops.count("DequantizeLinear") == 2,
                    "--dynamic: only the two Gemm weights are dequantized", str(ops))
        x, _ = load_test_images(100)
        jsonl = os.path.join(t.workdir, "cal.jsonl")
        with open(jsonl, "w") as f:
            for row in x:
                f.write(json.dumps({"input": row.reshape(-1).round(6).tolist(), "label": 0}) + "\n")
        quantize(t, ["--model", fp32, "--calibration", jsonl, "--out", os.path.join(t.workdir, "j.onnx")], "JSONL")
        # The same 100 images as PNG files named in a JSONL: decoded, resized, x/255 as `train` reads them.
        from PIL import Image
        pngs = os.path.join(t.workdir, "pngs")
        os.makedirs(pngs)
        with open(os.path.join(pngs, "cal.jsonl"), "w") as f:
            for i, row in enumerate(x):
                Image.fromarray((row[0] * 255).round().astype(np.uint8), mode="L").save(
                    os.path.join(pngs, "%d.png" % i))
                f.write(json.dumps({"image": "%d.png" % i}) + "\n")
            f.write(json.dumps({"image": "missing.png"}) + "\n")
        bad = subprocess.run([t.binary, "quantize", "--quiet", "--model", fp32, "--calibration",
                              os.path.join(pngs, "cal.jsonl"), "--out", os.path.join(t.workdir, "p.onnx")],
                             capture_output=True, text=True, timeout=120)
        t.check(bad.returncode == 2 and "missing.png" in bad.stderr and "--calibration" in bad.stderr,
                "an image that cannot be read -> exit 2 naming it", "%d %s" % (bad.returncode, bad.stderr[-300:]))
        p = quantize(t, ["--model", fp32, "--calibration", os.path.join(pngs, "cal.jsonl"), "--calibration-limit",
                         "100", "--out", os.path.join(t.workdir, "p.onnx")], "a JSONL of PNG images")
        if p.returncode == 0:
            from onnx import numpy_helper

            def scales(path):
                return {i.name: float(numpy_helper.to_array(i)) for i in onnx.load(path).graph.initializer
                        if i.name in ("relu1_scale", "relu2_scale", "relu3_scale", "logits_scale")}
            a, b = scales(os.path.join(t.workdir, "j.onnx")), scales(os.path.join(t.workdir, "p.onnx"))
            t.check(len(a) == 4 and all(abs(a[k] - b[k]) <= 1e-3 * a[k] for k in a),
                    "calibrating on the PNGs gives the ranges the same pixels as numbers give", "%s %s" % (a, b))
    with t.case("a MatMul model whose last Gemm is the graph output (bench/make_onnx_models.py's MLP)"):
        subprocess.run(["/usr/bin/python3", os.path.join(ROOT, "bench", "make_onnx_models.py"), t.workdir],
                       check=True, capture_output=True)
        shutil.copy(os.path.join(t.workdir, "mlp.onnx"), os.path.join(models, "mlp.onnx"))
        p = quantize(t, ["--model", os.path.join(t.workdir, "mlp.onnx"), "--calibration", DATA, "--per-channel",
                         "--out", os.path.join(models, "mlpq.onnx")], "the MLP --per-channel")
        if p.returncode == 0:
            import onnx
            from onnx import numpy_helper
            m = onnx.load(os.path.join(models, "mlpq.onnx"))
            onnx.checker.check_model(m, full_check=True)
            last = m.graph.node[-1]
            t.check(last.op_type == "DequantizeLinear" and list(last.output) == ["y"] and
                    [o.name for o in m.graph.output] == ["y"],
                    "the graph output 'y' is the last DequantizeLinear's (no dangling pair)", str(last))
            inits = {i.name: i for i in m.graph.initializer}
            steps["mlpq"] = float(numpy_helper.to_array(inits["y_scale"]))

    x, truth = load_test_images(N_IMAGES)
    srv = t.start_server(["--models", models])
    scores = {}
    for name in ["fp32", "dyn"] + list(steps):
        n = N_IMAGES if name in ("fp32", "int8") else N_VARIANT
        if name == "mlpq":
            scores[name] = junction_scores(t, srv, name, x[:n].reshape(n, 784), "x", "y")
        else:
            scores[name] = junction_scores(t, srv, name, x[:n])
    t.stop_server(srv)
    for name in list(steps) + ["dyn"]:
        if scores.get(name) is None:
            continue
        with t.case("%s: junction vs ONNX Runtime" % name):
            n = len(scores[name])
            xin = x[:n].reshape(n, 784) if name == "mlpq" else x[:n]
            ort = run_ort(t, os.path.join(models, name + ".onnx"), xin, os.path.join(t.workdir, name + ".f32"))
            if ort is None:
                continue
            if name == "dyn":
                diff = float(np.abs(scores[name] - ort).max())
                t.check(diff < 1e-4, "--dynamic: junction = ORT up to float rounding (max diff %.3g)" % diff)
                continue
            step = steps[name]
            if name == "mlpq":  # random weights: no accuracy, only agreement
                compare(t, name, scores[name], ort, step)
                continue
            compare(t, name, scores[name], ort, step if step else 0.0, truth[:n], scores["fp32"][:n])
            if name == "int8":
                # ORT fuses the QDQ pattern into u8 x s8 integer kernels ('all') or runs the float operators
                # ('disabled'): with the reduced weight range the two agree (no 16-bit pair sum saturates).
                flt = run_ort(t, os.path.join(models, name + ".onnx"), x[:n], os.path.join(t.workdir, "flt.f32"),
                              "disabled")
                if flt is not None:
                    d = float(np.abs(flt - ort).max())
                    t.check(d <= step and (flt.argmax(1) == ort.argmax(1)).mean() >= 0.999,
                            "ORT's integer kernels = its float QDQ operators (max diff %.3g)" % d)


if __name__ == "__main__":
    harness.run(main)
