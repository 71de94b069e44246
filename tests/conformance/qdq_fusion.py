#!/usr/bin/python3
"""QDQ models fused into integer operators (adapters/onnx/onnx_qfuse.c) against ONNX Runtime on the same file.

Builds with python3-onnx's helper QDQ CNNs in the layout ONNX Runtime's quantize_static writes (QuantizeLinear /
DequantizeLinear around every Conv, Gemm and MatMul; INT32 biases dequantized with scale x_scale * w_scale;
DequantizeLinear -> MaxPool / Flatten -> QuantizeLinear with the same parameters between them):

  image -> Q -> DQ -> Conv 3x3 (+bias) -> Relu -> Q -> DQ -> MaxPool -> Q -> DQ -> Conv 3x3 (+bias) -> Relu -> Q
        -> DQ -> MaxPool -> Q -> DQ -> Flatten -> Q -> DQ -> Gemm (transB, +bias) -> Relu -> Q -> DQ -> MatMul -> Q
        -> DQ -> logits

in these variants: UINT8 activations with per-tensor INT8 weights (the MatMul's weights UINT8 with zero point 128),
UINT8 activations with per-channel weights (Conv axis 0, Gemm axis 0, MatMul axis 1) and nonzero weight zero points,
INT8 activations with per-channel weights, UINT8 activations with full-range weights (-128..127, which a saturating
vpmaddubsw would get wrong), 7-bit weights per tensor and per channel, and `junction quantize`'s layout (7-bit,
per tensor, no Q -> DQ pair between the second MaxPool and the Flatten: DQ -> MaxPool -> Flatten -> Q). Random inputs at batch 1, 7 and 64. ONNX Runtime (npm onnxruntime-node, its
default optimizations: it fuses the same patterns into its own integer kernels) gives the reference outputs.

Checks: junction's logits equal ONNX Runtime's within one quantization step (onnx_conformance --atol), top-1 agrees
on at least 98 % of the rows (printed), and the same with the fusion off (JUNCTION_QDQ_FUSION=off: the float graph
as written) so both paths are held to the reference.

usage: /usr/bin/python3 qdq_fusion.py ONNX_CONFORMANCE_BINARY [ORT_MODULE_DIR]
"""
import os
import shutil
import subprocess
import sys
import tempfile

import numpy as np
from onnx import TensorProto, helper, numpy_helper

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import model_families  # noqa: E402  (run_ort, ort_dir_or_none)

RNG = np.random.default_rng(23)
OUT_SCALE = 0.05


class G:
    def __init__(self):
        self.nodes, self.inits, self.n = [], [], 0

    def init(self, arr):
        self.n += 1
        name = "c%d" % self.n
        self.inits.append(numpy_helper.from_array(np.asarray(arr), name))
        return name

    def op(self, op_type, inputs, **attrs):
        self.n += 1
        out = "%s_%d" % (op_type.lower(), self.n)
        self.nodes.append(helper.make_node(op_type, inputs, [out], name="%s_%d" % (op_type, self.n), **attrs))
        return out


def act_params(g, scale, signed, after_relu):
    """Scale and zero point initializers of an activation."""
    if signed:
        zp = np.array(-128 if after_relu else 0, np.int8)
    else:
        zp = np.array(0 if after_relu else 128, np.uint8)
    return g.init(np.array(scale, np.float32)), g.init(zp), scale


def quant(g, x, params):
    return g.op("QuantizeLinear", [x, params[0], params[1]])


def dequant(g, xq, params):
    return g.op("DequantizeLinear", [xq, params[0], params[1]])


def weights(shape, axis, per_channel, full_range, wtype=np.int8, nonzero_zp=False, reduce_range=False):
    """Quantized weights, their scales and zero points (per tensor or along axis); reduce_range: 7 bits."""
    wf = RNG.standard_normal(shape).astype(np.float32) * 0.3
    moved = np.moveaxis(wf, axis, 0).reshape(shape[axis], -1)
    top = 63 if reduce_range else 127
    if per_channel:
        sc = (np.abs(moved).max(axis=1) / top).astype(np.float32)
    else:
        sc = np.array(np.abs(wf).max() / top, np.float32)
    bshape = [1] * len(shape)
    bshape[axis] = shape[axis]
    s_b = sc.reshape(bshape) if per_channel else sc
    count = shape[axis] if per_channel else 1
    if wtype == np.uint8:
        zp = np.full(count, 128, np.uint8)
        q = np.clip(np.rint(wf / s_b) + 128, 0, 255).astype(np.uint8)
    else:
        zp = (RNG.integers(-3, 4, count) if nonzero_zp else np.zeros(count)).astype(np.int8)
        zb = zp.reshape(bshape) if per_channel else zp[0]
        q = np.clip(np.rint(wf / s_b) + zb, -128, 127).astype(np.int8)
    if full_range:  # every weight at an end of the INT8 range
        q = np.where(RNG.integers(0, 2, shape) == 1, 127, -128).astype(np.int8)
        zp = np.zeros(count, np.int8)
    if not per_channel:
        zp = zp.reshape(())
    return q, sc, zp


def wdq(g, q, sc, zp, axis, per_channel):
    attrs = {"axis": axis} if per_channel else {}
    return g.op("DequantizeLinear", [g.init(q), g.init(sc), g.init(zp)], **attrs)


def bias(g, n, x_scale, w_scale):
    b = RNG.integers(-2000, 2000, n).astype(np.int32)
    s = (np.float32(x_scale) * np.asarray(w_scale, np.float32)).astype(np.float32)
    return g.op("DequantizeLinear", [g.init(b), g.init(s), g.init(np.zeros(s.shape, np.int32))],
                **({"axis": 0} if s.ndim else {}))


def build(per_channel, signed, full_range=False, nonzero_zp=False, reduce_range=False, size=16, pool_pair=True):
    g = G()
    p_in = act_params(g, 1 / 255, signed, False)
    x = dequant(g, quant(g, "image", p_in), p_in)
    chans, s_prev = [1, 8, 16], p_in[2]
    for i in range(2):
        q, sc, zp = weights((chans[i + 1], chans[i], 3, 3), 0, per_channel, False, nonzero_zp=nonzero_zp,
                            reduce_range=reduce_range)
        y = g.op("Conv", [x, wdq(g, q, sc, zp, 0, per_channel), bias(g, chans[i + 1], s_prev, sc)],
                 kernel_shape=[3, 3], pads=[1, 1, 1, 1])
        p = act_params(g, 0.04 if i == 0 else 0.08, signed, True)
        y = dequant(g, quant(g, g.op("Relu", [y]), p), p)
        y = g.op("MaxPool", [y], kernel_shape=[2, 2], strides=[2, 2])
        if pool_pair or i == 0:
            y = dequant(g, quant(g, y, p), p)
        x, s_prev = y, p[2]
    x = dequant(g, quant(g, g.op("Flatten", [x], axis=1), p), p)
    n_in, hidden = 16 * (size // 4) ** 2, 32
    q, sc, zp = weights((hidden, n_in), 0, per_channel, False, nonzero_zp=nonzero_zp, reduce_range=reduce_range)
    h = g.op("Gemm", [x, wdq(g, q, sc, zp, 0, per_channel), bias(g, hidden, s_prev, sc)], transB=1)
    p_h = act_params(g, 0.1, signed, True)
    h = dequant(g, quant(g, g.op("Relu", [h]), p_h), p_h)
    q, sc, zp = weights((hidden, 10), 1, per_channel, full_range,
                        wtype=np.uint8 if not per_channel and not signed and not full_range else np.int8,
                        nonzero_zp=nonzero_zp, reduce_range=reduce_range)
    logits = g.op("MatMul", [h, wdq(g, q, sc, zp, 1, per_channel)])
    p_out = act_params(g, OUT_SCALE, signed, False)
    g.nodes.append(helper.make_node("DequantizeLinear", [quant(g, logits, p_out), p_out[0], p_out[1]], ["logits"],
                                    name="out_dq"))
    graph = helper.make_graph(g.nodes, "qdq_fusion",
                              [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["N", 1, size, size])],
                              [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", 10])], g.inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])


VARIANTS = [("u8_per_tensor", dict(per_channel=False, signed=False)),
            ("u8_per_channel", dict(per_channel=True, signed=False, nonzero_zp=True)),
            ("s8_per_channel", dict(per_channel=True, signed=True)),
            ("u8_full_range", dict(per_channel=True, signed=False, full_range=True)),
            ("u8_reduce_range", dict(per_channel=False, signed=False, reduce_range=True)),
            ("u8_reduce_range_pc", dict(per_channel=True, signed=False, reduce_range=True)),
            ("u8_jq_layout", dict(per_channel=False, signed=False, reduce_range=True, pool_pair=False))]
BATCHES = (1, 7, 64)


def main(argv):
    conformance = argv[1]
    ort_dir = model_families.ort_dir_or_none(argv)
    if not ort_dir:
        print("FAIL qdq_fusion: onnxruntime-node not found: run scripts/install-deps.sh --onnxruntime (or set "
              "JUNCTION_ORT_DIR); the comparison with ONNX Runtime is this test's point")
        return 1
    root = tempfile.mkdtemp(prefix="jn-qdq-fusion-")
    failed = 0
    try:
        refs = {}
        for name, kw in VARIANTS:
            model = build(**kw)
            folders = ["qdq_written"] + (["qdq_ort_optimized"] if kw.get("reduce_range") else [])
            for folder in folders:
                d = os.path.join(root, folder, name)
                os.makedirs(d)
                with open(os.path.join(d, "model.onnx"), "wb") as f:
                    f.write(model.SerializeToString())
            for k, batch in enumerate(BATCHES):
                feeds = {"image": RNG.uniform(0, 1, (batch, 1, 16, 16)).astype(np.float32)}
                for folder in folders:
                    d = os.path.join(root, folder, name)
                    out = model_families.run_ort(ort_dir, os.path.join(d, "model.onnx"), feeds, root,
                                                 as_written=folder == "qdq_written")["logits"]
                    refs[(folder, name, k)] = out
                    ds = os.path.join(d, "test_data_set_%d" % k)
                    os.makedirs(ds)
                    with open(os.path.join(ds, "input_0.pb"), "wb") as f:
                        f.write(numpy_helper.from_array(feeds["image"], "image").SerializeToString())
                    with open(os.path.join(ds, "output_0.pb"), "wb") as f:
                        f.write(numpy_helper.from_array(out, "logits").SerializeToString())
        for folder in ("qdq_written", "qdq_ort_optimized"):
            for fusion in ("on", "off"):
                dump = os.path.join(root, "dump_%s_%s" % (folder, fusion))
                os.makedirs(dump)
                env = dict(os.environ, JUNCTION_QDQ_FUSION=fusion)
                rc = subprocess.run([conformance, "--data", root, "--rtol", "0", "--atol",
                                     "%g" % (OUT_SCALE * 1.001), "--require-all", "--verbose", "--dump", dump,
                                     folder], env=env).returncode
                if rc:
                    print("FAIL qdq_fusion: %s, fusion %s: outputs differ from ONNX Runtime's by more than one step"
                          % (folder, fusion))
                    failed += 1
                for name, _ in VARIANTS:
                    agree = rows = steps = 0
                    for k, batch in enumerate(BATCHES):
                        path = os.path.join(dump, "%s.test_data_set_%d.0.bin" % (name, k))
                        if (folder, name, k) not in refs or not os.path.exists(path):
                            continue
                        got = np.fromfile(path, np.float32).reshape(batch, 10)
                        want = refs[(folder, name, k)]
                        agree += int((got.argmax(axis=1) == want.argmax(axis=1)).sum())
                        rows += batch
                        steps = max(steps, int(np.rint(np.abs(got - want).max() / OUT_SCALE)))
                    if not rows:
                        continue
                    pct = 100.0 * agree / rows
                    print("qdq_fusion: %-17s fusion %-3s %-18s top-1 agrees on %d of %d rows (%.1f %%), largest "
                          "difference %d step(s)" % (folder, fusion, name, agree, rows, pct, steps))
                    if pct < 98.0:
                        print("FAIL qdq_fusion: %s, fusion %s, %s: top-1 agreement %.1f %% < 98 %%"
                              % (folder, fusion, name, pct))
                        failed += 1
        return 1 if failed else 0
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
