#!/usr/bin/python3
"""FP32 CNNs and their QDQ twins for bench/qkernels.sh, built with python3-onnx's helper.

cnn:         bench/onnx.sh's CNN: Conv 3x3 16 + Relu + MaxPool, Conv 3x3 32 + Relu + MaxPool, Flatten, Gemm 1568->10
fashion_cnn: fashion-cnn's shape (engines/vision/cnn.c): Conv 5x5 16, Conv 5x5 32 (each + Relu + MaxPool), Gemm
             1568->128 + Relu, Gemm 128->10
QDQ twins (NAME_qdq.onnx) in the layout ONNX Runtime's quantize_static writes: UINT8 activations (scales and zero
points from the FP32 model's ranges on 64 random images), INT8 per-channel weights, INT32 biases dequantized with
x_scale * w_scale, DequantizeLinear -> MaxPool / Flatten -> QuantizeLinear with unchanged parameters. Weights
full-range ([-127, 127], quantize_static's default) or with --weight-range reduced on 7 bits ([-64, 64]: ORT's
reduce_range, `junction quantize`'s default, the range junction's vpmaddubsw kernel takes).

usage: /usr/bin/python3 bench/make_qdq_models.py OUT_DIR [--weight-range full|reduced]
"""
import os
import sys

import numpy as np
from onnx import TensorProto, helper, numpy_helper

rng = np.random.default_rng(0)
out = sys.argv[1]
if len(sys.argv) not in (2, 4) or (len(sys.argv) == 4 and (sys.argv[2] != "--weight-range" or
                                                            sys.argv[3] not in ("full", "reduced"))):
    sys.exit("usage: make_qdq_models.py OUT_DIR [--weight-range full|reduced]")
WMAX = 64 if len(sys.argv) == 4 and sys.argv[3] == "reduced" else 127


def w(*shape, fan_in):
    return (rng.standard_normal(shape) * np.sqrt(2.0 / fan_in)).astype(np.float32)


# layers: ("conv", cout, k) / ("dense", n_out, relu)
ARCHS = {"cnn": [("conv", 16, 3), ("conv", 32, 3), ("dense", 10, False)],
         "fashion_cnn": [("conv", 16, 5), ("conv", 32, 5), ("dense", 128, True), ("dense", 10, False)]}


def params(arch):
    ps, c, hw = [], 1, 28
    for layer in arch:
        if layer[0] == "conv":
            ps.append((w(layer[1], c, layer[2], layer[2], fan_in=c * layer[2] ** 2), w(layer[1], fan_in=100)))
            c, hw = layer[1], hw // 2
        else:
            n_in = c * hw * hw if c else n_in
            ps.append((w(layer[1], n_in, fan_in=n_in), w(layer[1], fan_in=100)))
            n_in, c = layer[1], 0
    return ps


def forward(arch, ps, x):
    """numpy float forward, returning every quantized point's range (input, each layer's output)."""
    ranges = [(x.min(), x.max())]
    for layer, (wt, b) in zip(arch, ps):
        if layer[0] == "conv":
            k = layer[2]
            n, c, h, wd = x.shape
            xp = np.pad(x, ((0, 0), (0, 0), (k // 2, k // 2), (k // 2, k // 2)))
            cols = np.stack([xp[:, :, i:i + h, j:j + wd] for i in range(k) for j in range(k)], axis=2)
            y = np.einsum("ncKhw,mcK->nmhw", cols, wt.reshape(wt.shape[0], c, k * k)) + b[None, :, None, None]
            y = np.maximum(y, 0)
            ranges.append((0.0, y.max()))
            x = y.reshape(n, y.shape[1], h // 2, 2, wd // 2, 2).max(axis=(3, 5))
        else:
            x = x.reshape(x.shape[0], -1) @ wt.T + b
            if layer[2]:
                x = np.maximum(x, 0)
            ranges.append((min(0.0, x.min()), max(0.0, x.max())))
    return ranges


def uint8_params(lo, hi):
    scale = np.float32(max(hi - lo, 1e-6) / 255)
    zp = np.uint8(np.clip(np.rint(-lo / scale), 0, 255))
    return scale, zp


def build(name, arch, ps, qdq, ranges):
    nodes, inits, cnt = [], [], [0]

    def init(a):
        cnt[0] += 1
        inits.append(numpy_helper.from_array(np.asarray(a), "i%d" % cnt[0]))
        return "i%d" % cnt[0]

    def op(t, ins, **kw):
        cnt[0] += 1
        o = "%s_%d" % (t.lower(), cnt[0])
        nodes.append(helper.make_node(t, ins, [o], **kw))
        return o

    def qd(x, sz):
        s, z = init(np.float32(sz[0])), init(np.uint8(sz[1]))
        return op("DequantizeLinear", [op("QuantizeLinear", [x, s, z]), s, z])

    x, act = "x", uint8_params(*ranges[0])
    if qdq:
        x = qd(x, act)
    for i, (layer, (wt, b)) in enumerate(zip(arch, ps)):
        last = i == len(arch) - 1
        if qdq:
            ws = (np.abs(wt.reshape(wt.shape[0], -1)).max(axis=1) / WMAX).astype(np.float32)
            bshape = (-1,) + (1,) * (wt.ndim - 1)
            wq = np.clip(np.rint(wt / ws.reshape(bshape)), -WMAX, WMAX).astype(np.int8)
            wi = op("DequantizeLinear", [init(wq), init(ws), init(np.zeros(len(ws), np.int8))], axis=0)
            bs = (np.float32(act[0]) * ws).astype(np.float32)
            bi = op("DequantizeLinear", [init(np.rint(b / bs).astype(np.int32)), init(bs),
                                          init(np.zeros(len(bs), np.int32))], axis=0)
        else:
            wi, bi = init(wt), init(b)
        if layer[0] == "conv":
            y = op("Relu", [op("Conv", [x, wi, bi], kernel_shape=[layer[2]] * 2, pads=[layer[2] // 2] * 4)])
            if qdq:
                act = uint8_params(*ranges[i + 1])
                y = qd(y, act)
            y = op("MaxPool", [y], kernel_shape=[2, 2], strides=[2, 2])
            if qdq:
                y = qd(y, act)
            nxt = arch[i + 1][0] if not last else None
            if nxt == "dense":
                y = op("Flatten", [y], axis=1)
                if qdq:
                    y = qd(y, act)
            x = y
        else:
            y = op("Gemm", [x, wi, bi], transB=1)
            if layer[2]:
                y = op("Relu", [y])
            if qdq:
                act = uint8_params(*ranges[i + 1])
                y = qd(y, act)
            x = y
    nodes[-1].output[0] = "y"
    g = helper.make_graph(nodes, name, [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 1, 28, 28])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", arch[-1][1]])], inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
    with open(os.path.join(out, name + ("_qdq" if qdq else "") + ".onnx"), "wb") as f:
        f.write(m.SerializeToString())


for name, arch in ARCHS.items():
    ps = params(arch)
    ranges = forward(arch, ps, rng.uniform(-0.5, 0.5, (64, 1, 28, 28)).astype(np.float32))
    build(name, arch, ps, False, ranges)
    build(name, arch, ps, True, ranges)
