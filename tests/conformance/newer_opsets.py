#!/usr/bin/python3
"""What Debian's ONNX 1.12 test data cannot show: opsets 18-21, FP16/BF16 computed through the FP32 kernels,
foreign-domain imports, and the refusals that must name their reason.

Builds small models with python3-onnx's helper, computes every expected output independently with numpy (in
float64, rounded once to the output dtype), writes them in the ONNX backend-test layout and has onnx_conformance
run them: every case under cases/ must pass (--require-all), every model under refusals/ must be refused with the
reason given here. Also checks the refused list's contract (--write-refused, --refused) on the refusals.

usage: /usr/bin/python3 newer_opsets.py ONNX_CONFORMANCE_BINARY
"""
import math
import os
import shutil
import subprocess
import sys
import tempfile

import numpy as np
from onnx import TensorProto, helper, numpy_helper

RNG = np.random.default_rng(18)
F, F16, BF16, I64 = TensorProto.FLOAT, TensorProto.FLOAT16, TensorProto.BFLOAT16, TensorProto.INT64


def bf16_bits(a):
    """float32 -> bfloat16 bit patterns, rounded to nearest even."""
    u = np.asarray(a, np.float32).view(np.uint32).astype(np.uint64)
    return ((u + 0x7FFF + ((u >> 16) & 1)) >> 16).astype(np.uint16)


def bf16_value(bits):
    return (bits.astype(np.uint32) << 16).view(np.float32)


def tensor(name, a, t=None):
    """A TensorProto; t=BF16 takes uint16 bit patterns."""
    if t == BF16:
        return helper.make_tensor(name, BF16, a.shape, a.astype("<u2").tobytes(), raw=True)
    return numpy_helper.from_array(np.asarray(a), name)


def elem_type(a, t=None):
    return t if t is not None else helper.np_dtype_to_tensor_dtype(a.dtype) if hasattr(
        helper, "np_dtype_to_tensor_dtype") else {np.dtype(np.float32): F, np.dtype(np.float16): F16,
                                                   np.dtype(np.int64): I64, np.dtype(np.int32): TensorProto.INT32,
                                                   np.dtype(np.uint8): TensorProto.UINT8,
                                                   np.dtype(np.bool_): TensorProto.BOOL,
                                                   np.dtype(np.float64): TensorProto.DOUBLE}[a.dtype]


def write_case(root, folder, name, nodes, inputs, outputs, inits=(), opset=18, extra_opsets=(), types=None):
    """inputs / outputs: lists of (name, array); types: name -> TensorProto type for BF16 values."""
    types = types or {}
    d = os.path.join(root, folder, name)
    os.makedirs(os.path.join(d, "test_data_set_0"))
    vi = lambda n, a: helper.make_tensor_value_info(n, elem_type(a, types.get(n)), list(a.shape))
    g = helper.make_graph(nodes, name, [vi(n, a) for n, a in inputs], [vi(n, a) for n, a in outputs],
                          [tensor(n, a, types.get(n)) for n, a in inits])
    ops = [helper.make_opsetid("", opset)] + [helper.make_opsetid(dm, v) for dm, v in extra_opsets]
    m = helper.make_model(g, opset_imports=ops)
    m.ir_version = 8
    with open(os.path.join(d, "model.onnx"), "wb") as f:
        f.write(m.SerializeToString())
    for kind, vals in (("input", inputs), ("output", outputs)):
        for i, (n, a) in enumerate(vals):
            with open(os.path.join(d, "test_data_set_0", "%s_%d.pb" % (kind, i)), "wb") as f:
                f.write(tensor(n, a, types.get(n)).SerializeToString())


def node(op, ins, outs, **kw):
    return helper.make_node(op, ins, outs, name="the_" + op.lower(), **kw)


def reduce_ref(op, x, axes, keep):
    ax = tuple(axes) if axes is not None else None
    f = {"ReduceMax": lambda: np.max(x, ax, keepdims=keep), "ReduceMin": lambda: np.min(x, ax, keepdims=keep),
         "ReduceMean": lambda: np.mean(x, ax, keepdims=keep), "ReduceSum": lambda: np.sum(x, ax, keepdims=keep),
         "ReduceProd": lambda: np.prod(x, ax, keepdims=keep),
         "ReduceL1": lambda: np.sum(np.abs(x), ax, keepdims=keep),
         "ReduceL2": lambda: np.sqrt(np.sum(x * x, ax, keepdims=keep)),
         "ReduceLogSum": lambda: np.log(np.sum(x, ax, keepdims=keep)),
         "ReduceLogSumExp": lambda: np.log(np.sum(np.exp(x), ax, keepdims=keep)),
         "ReduceSumSquare": lambda: np.sum(x * x, ax, keepdims=keep)}[op]
    return np.asarray(f())


def build_cases(root):
    x = RNG.uniform(0.5, 2.0, (2, 3, 4))
    x32 = x.astype(np.float32)
    for op in ("ReduceMax", "ReduceMin", "ReduceMean", "ReduceSum", "ReduceProd", "ReduceL1", "ReduceL2",
               "ReduceLogSum", "ReduceLogSumExp", "ReduceSumSquare"):
        for keep in (0, 1):
            axes = np.array([1, -1], np.int64)
            write_case(root, "cases", "%s_18_axes_input_keep%d" % (op, keep),
                       [node(op, ["x", "axes"], ["y"], keepdims=keep)], [("x", x32)],
                       [("y", reduce_ref(op, x, [1, 2], bool(keep)).astype(np.float32))], [("axes", axes)])
        write_case(root, "cases", op + "_18_noop_empty_axes", [node(op, ["x"], ["y"], noop_with_empty_axes=1)],
                   [("x", x32)], [("y", x32)])
        write_case(root, "cases", op + "_18_all_axes", [node(op, ["x"], ["y"], keepdims=0)], [("x", x32)],
                   [("y", reduce_ref(op, x, None, False).astype(np.float32))])

    v = RNG.standard_normal((3, 5)) * 2
    erf = np.vectorize(math.erf)
    gelu = 0.5 * v * (1 + erf(v / math.sqrt(2)))
    gelu_tanh = 0.5 * v * (1 + np.tanh(math.sqrt(2 / math.pi) * (v + 0.044715 * v ** 3)))
    write_case(root, "cases", "gelu_20", [node("Gelu", ["x"], ["y"])], [("x", v.astype(np.float32))],
               [("y", gelu.astype(np.float32))], opset=20)
    write_case(root, "cases", "gelu_20_tanh", [node("Gelu", ["x"], ["y"], approximate="tanh")],
               [("x", v.astype(np.float32))], [("y", gelu_tanh.astype(np.float32))], opset=20)
    write_case(root, "cases", "mish_18", [node("Mish", ["x"], ["y"])], [("x", v.astype(np.float32))],
               [("y", (v * np.tanh(np.log1p(np.exp(v)))).astype(np.float32))])

    a = RNG.integers(-100, 100, (3, 4)).astype(np.int32)
    b = RNG.integers(-100, 100, (4,)).astype(np.int32)
    for op, f in (("BitwiseAnd", np.bitwise_and), ("BitwiseOr", np.bitwise_or), ("BitwiseXor", np.bitwise_xor)):
        write_case(root, "cases", op.lower() + "_18", [node(op, ["a", "b"], ["y"])], [("a", a), ("b", b)],
                   [("y", f(a, b))])
    u = RNG.integers(0, 255, (5,)).astype(np.uint8)
    write_case(root, "cases", "bitwisenot_18_uint8", [node("BitwiseNot", ["a"], ["y"])], [("a", u)],
               [("y", np.invert(u))])

    data = RNG.standard_normal((3, 3)).astype(np.float32)
    idx = np.array([[1, 0, 2], [0, 2, 1]], np.int64)
    upd = RNG.standard_normal((2, 3)).astype(np.float32)
    for red, f in (("max", np.maximum), ("min", np.minimum)):
        want = data.copy()
        for i in range(2):
            for j in range(3):
                want[idx[i, j], j] = f(want[idx[i, j], j], upd[i, j])
        write_case(root, "cases", "scatter_elements_18_" + red,
                   [node("ScatterElements", ["d", "i", "u"], ["y"], axis=0, reduction=red)],
                   [("d", data), ("i", idx), ("u", upd)], [("y", want)])

    # Dropout in training mode with a constant ratio of 0: the identity, every mask element true.
    write_case(root, "cases", "dropout_13_training_zero_ratio",
               [node("Dropout", ["x", "r", "t"], ["y", "mask"])], [("x", x32)],
               [("y", x32), ("mask", np.ones(x32.shape, np.bool_))],
               [("r", np.array(0.0, np.float32)), ("t", np.array(True))], opset=13)

    # A model importing ai.onnx.ml (and com.microsoft) without using them; opset 21.
    write_case(root, "cases", "opset21_ml_import_unused",
               [node("Relu", ["x"], ["r"]), helper.make_node("ReduceSum", ["r", "axes"], ["y"], keepdims=0)],
               [("x", x32 - 1)], [("y", np.sum(np.maximum(x - 1, 0), axis=0).astype(np.float32))],
               [("axes", np.array([0], np.int64))], opset=21,
               extra_opsets=(("ai.onnx.ml", 3), ("com.microsoft", 1)))

    # FP16 and BF16 through the FP32 kernels: MatMul, Add, HardSigmoid, Softmax, a Conv with HardSwish, Mod.
    xm = RNG.standard_normal((4, 6))
    wm = RNG.standard_normal((6, 3)) * 0.5
    bm = RNG.standard_normal((3,)) * 0.1
    nodes = [node("MatMul", ["x", "w"], ["m"]), helper.make_node("Add", ["m", "b"], ["a"]),
             helper.make_node("HardSigmoid", ["a"], ["h"]), helper.make_node("Softmax", ["h"], ["y"], axis=-1)]

    def mlp_ref(xv, wv, bv):
        h = np.clip(0.2 * (xv @ wv + bv) + 0.5, 0, 1)
        e = np.exp(h - h.max(-1, keepdims=True))
        return e / e.sum(-1, keepdims=True)

    x16, w16, b16 = xm.astype(np.float16), wm.astype(np.float16), bm.astype(np.float16)
    y16 = mlp_ref(x16.astype(np.float64), w16.astype(np.float64), b16.astype(np.float64)).astype(np.float16)
    write_case(root, "cases", "fp16_mlp", nodes, [("x", x16)], [("y", y16)], [("w", w16), ("b", b16)])
    xb, wb, bb = bf16_bits(xm), bf16_bits(wm), bf16_bits(bm)
    yb = bf16_bits(mlp_ref(bf16_value(xb).astype(np.float64), bf16_value(wb).astype(np.float64),
                           bf16_value(bb).astype(np.float64)))
    write_case(root, "cases", "bf16_mlp", nodes, [("x", xb)], [("y", yb)], [("w", wb), ("b", bb)],
               types={"x": BF16, "w": BF16, "b": BF16, "y": BF16})

    xc = RNG.standard_normal((1, 2, 5, 5)).astype(np.float16)
    wc = (RNG.standard_normal((3, 2, 3, 3)) * 0.3).astype(np.float16)
    xd, wd = xc.astype(np.float64), wc.astype(np.float64)
    conv = np.zeros((1, 3, 3, 3))
    for o in range(3):
        for i in range(3):
            for j in range(3):
                conv[0, o, i, j] = np.sum(xd[0, :, i:i + 3, j:j + 3] * wd[o])
    hsw = conv * np.clip(conv / 6 + 0.5, 0, 1)
    write_case(root, "cases", "fp16_conv_hardswish",
               [node("Conv", ["x", "w"], ["c"]), helper.make_node("HardSwish", ["c"], ["y"])],
               [("x", xc)], [("y", hsw.astype(np.float16))], [("w", wc)])
    # A MobileNetV3 block in FP16 against FP64 arithmetic that rounds to FP16 between nodes, as the graph stores
    # its values: within rtol 1e-3 (ops_vs_ort.py compares the same block with ONNX Runtime, whose FP16 kernels
    # accumulate in FP16 and stray further).
    r16 = lambda a: a.astype(np.float16).astype(np.float64)
    hs = lambda v: v * np.clip(v / 6 + 0.5, 0, 1)
    wts = {k: (RNG.standard_normal(shp) * 0.3).astype(np.float16) for k, shp in
           (("w1", (8, 4, 1, 1)), ("b1", (8,)), ("wd", (8, 1, 3, 3)), ("bd", (8,)), ("ws1", (2, 8, 1, 1)),
            ("bs1", (2,)), ("ws2", (8, 2, 1, 1)), ("bs2", (8,)), ("wp", (4, 8, 1, 1)), ("bp", (4,)))}
    W = {k: v.astype(np.float64) for k, v in wts.items()}
    xb16 = RNG.standard_normal((2, 4, 10, 10)).astype(np.float16)
    xb = xb16.astype(np.float64)
    h1 = r16(hs(r16(conv2d(xb, W["w1"], W["b1"]))))
    h2 = r16(hs(r16(conv2d(h1, W["wd"], W["bd"], group=8, pad=1))))
    gp = r16(h2.mean(axis=(2, 3), keepdims=True))
    rl = r16(np.maximum(r16(conv2d(gp, W["ws1"], W["bs1"])), 0))
    gate = r16(np.clip(r16(conv2d(rl, W["ws2"], W["bs2"])) / 6 + 0.5, 0, 1))
    yb = (r16(conv2d(r16(h2 * gate), W["wp"], W["bp"])) + xb).astype(np.float16)
    H = helper.make_node
    write_case(root, "cases", "fp16_mobilenetv3_block",
               [H("Conv", ["x", "w1", "b1"], ["c1"]), H("HardSwish", ["c1"], ["h1"]),
                H("Conv", ["h1", "wd", "bd"], ["c2"], group=8, pads=[1, 1, 1, 1]), H("HardSwish", ["c2"], ["h2"]),
                H("GlobalAveragePool", ["h2"], ["g"]), H("Conv", ["g", "ws1", "bs1"], ["s1"]),
                H("Relu", ["s1"], ["r"]), H("Conv", ["r", "ws2", "bs2"], ["s2"]),
                H("HardSigmoid", ["s2"], ["gate"], alpha=1.0 / 6, beta=0.5), H("Mul", ["h2", "gate"], ["se"]),
                H("Conv", ["se", "wp", "bp"], ["p"]), H("Add", ["p", "x"], ["y"])],
               [("x", xb16)], [("y", yb)], list(wts.items()))

    p = RNG.uniform(-10, 10, (6,)).astype(np.float16)
    q = RNG.uniform(1, 3, (6,)).astype(np.float16)
    write_case(root, "cases", "fp16_mod_fmod", [node("Mod", ["p", "q"], ["y"], fmod=1)], [("p", p), ("q", q)],
               [("y", np.fmod(p.astype(np.float64), q.astype(np.float64)).astype(np.float16))])


    xr = RNG.standard_normal((3, 4)).astype(np.float16)
    xr64 = xr.astype(np.float64)
    write_case(root, "cases", "fp16_reduce_argmax_cumsum_eyelike",
               [node("ReduceMean", ["x", "axes"], ["m"], keepdims=0), node("ArgMax", ["x"], ["a"], axis=1, keepdims=0),
                node("CumSum", ["x", "axis"], ["c"]), node("EyeLike", ["x"], ["e"], k=1)],
               [("x", xr)], [("m", xr64.mean(axis=1).astype(np.float16)), ("a", np.argmax(xr64, axis=1)),
                             ("c", np.cumsum(xr64, axis=1).astype(np.float16)), ("e", np.eye(3, 4, 1, np.float16))],
               [("axes", np.array([1], np.int64)), ("axis", np.array(1, np.int64))])

    # Opset 1's logic and comparison operators broadcast B onto A at `axis` only with broadcast=1.
    la = RNG.integers(0, 2, (2, 3, 4)).astype(np.bool_)
    lb = RNG.integers(0, 2, (3,)).astype(np.bool_)
    write_case(root, "cases", "and_1_legacy_broadcast_axis", [node("And", ["a", "b"], ["y"], broadcast=1, axis=1)],
               [("a", la), ("b", lb)], [("y", np.logical_and(la, lb[None, :, None]))], opset=1)
    ga = RNG.standard_normal((2, 3, 4)).astype(np.float32)
    gb = RNG.standard_normal((3, 4)).astype(np.float32)
    write_case(root, "cases", "greater_1_legacy_broadcast", [node("Greater", ["a", "b"], ["y"], broadcast=1)],
               [("a", ga), ("b", gb)], [("y", ga > gb)], opset=1)
    # Scatter, deprecated from opset 11 on, keeps its meaning there.
    sd = np.zeros((3, 3), np.float32)
    si = np.array([[1, 0, 2]], np.int64)
    su = np.array([[1.0, 2.0, 3.0]], np.float32)
    want = sd.copy()
    want[1, 0], want[0, 1], want[2, 2] = 1.0, 2.0, 3.0
    write_case(root, "cases", "scatter_11_deprecated", [node("Scatter", ["d", "i", "u"], ["y"], axis=0)],
               [("d", sd), ("i", si), ("u", su)], [("y", want)], opset=11)


def build_beyond_suite(root):
    """Parameters the 1.12 node tests leave out, against numpy."""
    d = RNG.standard_normal((2, 3, 4, 5)).astype(np.float32)
    idx = np.stack([RNG.integers(0, 4, (2, 3, 2)), RNG.integers(-5, 5, (2, 3, 2))], -1).astype(np.int64)
    want = np.zeros((2, 3, 2), np.float32)
    for b0 in range(2):
        for b1 in range(3):
            for t in range(2):
                want[b0, b1, t] = d[b0, b1, idx[b0, b1, t, 0], idx[b0, b1, t, 1]]
    write_case(root, "cases", "gathernd_batch_dims_2", [node("GatherND", ["d", "i"], ["y"], batch_dims=2)],
               [("d", d), ("i", idx)], [("y", want)], opset=13)
    a = RNG.standard_normal((2, 1, 3, 4)).astype(np.float32)
    b = RNG.standard_normal((5, 4, 2)).astype(np.float32)
    write_case(root, "cases", "einsum_ellipsis_broadcast",
               [node("Einsum", ["a", "b"], ["y"], equation="...ij,...jk->...ik")],
               [("a", a), ("b", b)], [("y", np.einsum("...ij,...jk->...ik", a.astype(np.float64),
                                                          b.astype(np.float64)).astype(np.float32))], opset=12)
    c = RNG.standard_normal((3, 4)).astype(np.float32)
    write_case(root, "cases", "einsum_implicit_trace", [node("Einsum", ["c", "c"], ["y"], equation="ij,kj")],
               [("c", c)], [("y", np.einsum("ij,kj", c, c))], opset=12)
    # Two-operand FP32 products that run through sgemm: attention, batched, outer, transposed output, two labels
    # contracted at once.
    for name, eq, sa, sb in (("attention", "bhqd,bhkd->bhqk", (2, 3, 5, 4), (2, 3, 6, 4)),
                             ("batched", "bik,bkj->bij", (3, 2, 5), (3, 5, 4)),
                             ("outer", "i,j->ij", (5,), (3,)),
                             ("transposed_out", "ij,jk->ki", (4, 6), (6, 3)),
                             ("two_contracted", "abc,bcd->da", (2, 3, 4), (3, 4, 5))):
        ea = RNG.standard_normal(sa).astype(np.float32)
        eb = RNG.standard_normal(sb).astype(np.float32)
        write_case(root, "cases", "einsum_gemm_" + name, [node("Einsum", ["a", "b"], ["y"], equation=eq)],
                   [("a", ea), ("b", eb)],
                   [("y", np.einsum(eq, ea.astype(np.float64), eb.astype(np.float64)).astype(np.float32))], opset=12)
    t = RNG.standard_normal((2, 4, 3)).astype(np.float32)
    write_case(root, "cases", "trilu_lower_3d_k_minus1", [node("Trilu", ["t", "k"], ["y"], upper=0)], [("t", t)],
               [("y", np.tril(t, -1))], [("k", np.array(-1, np.int64))], opset=14)
    cs = RNG.standard_normal((2, 3, 4)).astype(np.float32)
    rev = np.flip(np.cumsum(np.flip(cs, 1), 1), 1) - cs
    write_case(root, "cases", "cumsum_3d_reverse_exclusive",
               [node("CumSum", ["x", "ax"], ["y"], reverse=1, exclusive=1)], [("x", cs)], [("y", rev)],
               [("ax", np.array(1, np.int32))], opset=14)
    oi = np.array([[0.0, 2.0], [-1.0, 1.0]], np.float32)
    oh = np.zeros((3, 2, 2), np.int64) + 2
    for i in range(2):
        for j in range(2):
            oh[int(oi[i, j]) % 3, i, j] = 5
    write_case(root, "cases", "onehot_axis0_float_indices", [node("OneHot", ["i", "dep", "v"], ["y"], axis=0)],
               [("i", oi)], [("y", oh)], [("dep", np.array([3.0], np.float32)), ("v", np.array([2, 5], np.int64))],
               opset=11)
    cx = np.arange(12, dtype=np.int32).reshape(3, 4)
    cond = np.array([True, False, True, True, False])
    write_case(root, "cases", "compress_flat", [node("Compress", ["x", "c"], ["y"])], [("x", cx), ("c", cond)],
               [("y", np.compress(cond, cx))], opset=11)
    ux = np.array([[1, 2, 1, 2], [3, 0, 3, 0], [1, 2, 1, 2]], np.float32)
    uy, ui, uinv, ucnt = np.unique(ux, axis=1, return_index=True, return_inverse=True, return_counts=True)
    order = np.argsort(ui, kind="stable")  # sorted=0: in order of first appearance
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    write_case(root, "cases", "unique_axis1_not_sorted", [node("Unique", ["x"], ["y", "i", "inv", "cnt"], axis=1,
                                                               sorted=0)],
               [("x", ux)], [("y", uy[:, order]), ("i", ui[order].astype(np.int64)),
                             ("inv", rank[uinv.reshape(-1)].astype(np.int64)), ("cnt", ucnt[order].astype(np.int64))],
               opset=11)
    m = np.array([-7, -3, 3, 7, -8, 8], np.int32)
    n = np.array([2, -2, -2, 3, 3, -3], np.int32)
    write_case(root, "cases", "mod_int_fmod0_python_sign", [node("Mod", ["a", "b"], ["y"])], [("a", m), ("b", n)],
               [("y", np.mod(m, n))], opset=13)
    write_case(root, "cases", "mod_int_fmod1_c_sign", [node("Mod", ["a", "b"], ["y"], fmod=1)], [("a", m), ("b", n)],
               [("y", np.fmod(m, n))], opset=13)
    r = np.array([0.5, 1.5, 2.5, -0.5, -1.5, 2.4, -2.6], np.float32)
    write_case(root, "cases", "round_half_to_even", [node("Round", ["x"], ["y"])], [("x", r)], [("y", np.round(r))],
               opset=11)
    sx = RNG.standard_normal((2, 3, 4)).astype(np.float32)
    write_case(root, "cases", "sce_3d_weights_ignore_sum",
               [node("SoftmaxCrossEntropyLoss", ["x", "l", "w"], ["y", "lp"], reduction="sum", ignore_index=1)],
               [("x", sx[:1]), ("l", np.array([[0, 1, 2, 0]], np.int64))],
               [("y", np.array(sce_ref(sx[:1].astype(np.float64), np.array([[0, 1, 2, 0]]),
                                       np.array([0.5, 2.0, 1.5]), 1), np.float32)),
                ("lp", log_softmax(sx[:1].astype(np.float64)).astype(np.float32))],
               [("w", np.array([0.5, 2.0, 1.5], np.float32))], opset=13)


def conv2d(x, w, b, group=1, pad=0):
    """NCHW convolution, stride 1, in float64."""
    n, _, h, wd = x.shape
    m, cg, kh, kw = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    oh, ow = h + 2 * pad - kh + 1, wd + 2 * pad - kw + 1
    y = np.zeros((n, m, oh, ow))
    mg = m // group
    for o in range(m):
        g = o // mg
        for i in range(kh):
            for j in range(kw):
                y[:, o] += np.einsum("nchw,c->nhw", xp[:, g * cg:(g + 1) * cg, i:i + oh, j:j + ow], w[o, :, i, j])
        y[:, o] += b[o]
    return y


def log_softmax(x):
    e = x - x.max(1, keepdims=True)
    return e - np.log(np.exp(e).sum(1, keepdims=True))


def sce_ref(x, labels, w, ignore):
    lp = log_softmax(x)
    total = 0.0
    for b in range(labels.shape[0]):
        for d in range(labels.shape[1]):
            c = labels[b, d]
            if c != ignore:
                total += -lp[b, c, d] * w[c]
    return total


# name -> (nodes, opset, extra opsets, inits, the reason's expected text)
def build_refusals(root):
    x = np.ones((2, 2), np.float32)
    cases = {
        "foreign_domain_node": ([helper.make_node("FusedGelu", ["x"], ["y"], name="fg", domain="com.microsoft")], 18,
                                (("com.microsoft", 1),), [],
                                "operator FusedGelu (node 'fg'): domain 'com.microsoft' is not supported"),
        "dropout_random": ([node("Dropout", ["x", "r", "t"], ["y"])], 13, (),
                           [("r", np.array(0.5, np.float32)), ("t", np.array(True))],
                           "operator Dropout (node 'the_dropout'): training_mode is true and ratio is not a "
                           "constant 0: the output would be random"),
        "opset22": ([node("Relu", ["x"], ["y"])], 22, (), [], "opset 22 is newer than the newest this adapter "
                                                              "follows (21)"),
        "and_7_broadcast_attribute": ([node("And", ["x", "x"], ["y"], broadcast=1)], 7, (), [],
                                      "operator And (node 'the_and'): broadcast/axis attributes are not part of "
                                      "opset 7"),
        "gelu_before_20": ([node("Gelu", ["x"], ["y"])], 19, (), [],
                           "operator Gelu (node 'the_gelu'): the operator needs opset 20; the model imports 19"),
    }
    for name, (nodes, opset, extra, inits, _) in cases.items():
        write_case(root, "refusals", name, nodes, [("x", x)], [("y", x)], inits, opset=opset, extra_opsets=extra)
    return {name: c[4] for name, c in cases.items()}


def main(argv):
    conformance = argv[1]
    root = tempfile.mkdtemp(prefix="jn-newer-opsets-")
    try:
        build_cases(root)
        build_beyond_suite(root)
        want = build_refusals(root)
        rc = subprocess.run([conformance, "--data", root, "--require-all", "--verbose", "cases"]).returncode
        out = subprocess.run([conformance, "--data", root, "--verbose", "refusals"], capture_output=True,
                             text=True).stdout
        print(out, end="")
        for name, reason in want.items():
            line = [l for l in out.splitlines() if l.strip().startswith("refused     refusals/%s:" % name)]
            if not line or reason not in line[0]:
                print("FAIL: refusals/%s should be refused with '%s', got %s" % (name, reason, line or "a pass"))
                rc = 1
        return rc | check_refused_list(conformance, root)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def check_refused_list(conformance, root):
    """The refused list's contract: written by --write-refused, sorted, one tab-separated line per test; a run
    against it fails on a new refusal, a changed reason and a listed test that passes, printing each."""
    path = os.path.join(root, "refused.txt")
    run = lambda *args: subprocess.run([conformance, "--data", root] + list(args), capture_output=True, text=True)
    rc = 0
    if run("--write-refused", path, "refusals").returncode != 0:
        print("FAIL: --write-refused")
        return 1
    lines = open(path).read().splitlines()
    if lines != sorted(lines) or len(lines) != 5 or not all(l.startswith("refusals/") and "\t" in l for l in lines):
        print("FAIL: refused list format: %r" % lines)
        rc = 1
    if run("--refused", path, "refusals").returncode != 0:
        print("FAIL: the list just written does not match")
        rc = 1
    edits = {
        "a changed reason": (["%s\tsome other reason" % lines[0].split("\t")[0]] + lines[1:], "the reason changed"),
        "a missing refusal": (lines[1:], "newly refused"),
        "a listed test that passes": (lines + ["cases/gelu_20\tonce refused"], "listed as refused, but it passes"),
    }
    for what, (content, expect) in edits.items():
        with open(path, "w") as f:
            f.write("\n".join(content) + "\n")
        folders = ["refusals", "cases"] if "cases/" in content[-1] else ["refusals"]
        r = run("--refused", path, *folders)
        if r.returncode == 0 or expect not in r.stdout:
            print("FAIL: %s in the refused list should fail the run saying '%s':\n%s" % (what, expect, r.stdout))
            rc = 1
    return rc


if __name__ == "__main__":
    sys.exit(main(sys.argv))
