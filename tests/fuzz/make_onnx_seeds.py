#!/usr/bin/python3
"""Writes the seed corpus of fuzz_onnx_load: small valid models over the adapter's operators, models it rejects
(unknown operator, legacy opset, foreign domain, sequence input) and a truncated one.
Usage: /usr/bin/python3 tests/fuzz/make_onnx_seeds.py OUT_DIR
The runnable ones (conv conv_bn_relu linear_relu mlp reshape slice softmax11 where typed_init, and every seed named
op_*) also seed fuzz_onnx_run."""
import os
import sys

import numpy as np
from onnx import TensorProto, helper, numpy_helper

out = sys.argv[1]
os.makedirs(out, exist_ok=True)
F = TensorProto.FLOAT


def put(name, nodes, inputs, outputs, inits=(), opset=13, domain=""):
    g = helper.make_graph(nodes, name, inputs, outputs, list(inits))
    m = helper.make_model(g, opset_imports=[helper.make_opsetid(domain, opset)])
    with open(os.path.join(out, name), "wb") as f:
        f.write(m.SerializeToString())
    return m


def vi(name, shape, t=F):
    return helper.make_tensor_value_info(name, t, shape)


w = numpy_helper.from_array(np.ones((4, 3), np.float32), "w")
put("mlp", [helper.make_node("MatMul", ["x", "w"], ["h"]), helper.make_node("Relu", ["h"], ["y"])],
    [vi("x", ["N", 4])], [vi("y", ["N", 3])], [w])
k = numpy_helper.from_array(np.ones((2, 1, 3, 3), np.float32), "k")
put("conv", [helper.make_node("Conv", ["x", "k"], ["c"], pads=[1, 1, 1, 1], strides=[2, 2]),
             helper.make_node("MaxPool", ["c"], ["p"], kernel_shape=[2, 2]),
             helper.make_node("GlobalAveragePool", ["p"], ["y"])],
    [vi("x", [1, 1, 8, 8])], [vi("y", [1, 2, 1, 1])], [k])
put("reshape", [helper.make_node("Shape", ["x"], ["s"]), helper.make_node("Reshape", ["x", "s"], ["y"]),
                helper.make_node("Constant", [], ["c"], value_ints=[1, -1])],
    [vi("x", [2, 3])], [vi("y", [2, 3])])
put("slice", [helper.make_node("Slice", ["x", "st", "en"], ["y"])], [vi("x", [5])], [vi("y", [2])],
    [numpy_helper.from_array(np.array([1], np.int64), "st"), numpy_helper.from_array(np.array([3], np.int64), "en")])
put("softmax11", [helper.make_node("Softmax", ["x"], ["y"], axis=1)], [vi("x", [2, 3, 4])], [vi("y", [2, 3, 4])],
    opset=11)
put("where", [helper.make_node("Less", ["a", "b"], ["c"]), helper.make_node("Where", ["c", "a", "b"], ["y"])],
    [vi("a", [3]), vi("b", [3])], [vi("y", [3])])
put("unknown_op", [helper.make_node("NoSuchOperator", ["x"], ["y"])], [vi("x", [2])], [vi("y", [2])])
put("legacy_opset", [helper.make_node("Add", ["x", "x"], ["y"], broadcast=1)], [vi("x", [2])], [vi("y", [2])],
    opset=6)
put("foreign_domain", [helper.make_node("Relu", ["x"], ["y"])], [vi("x", [2])], [vi("y", [2])],
    domain="com.example", opset=1)
bn = {n: numpy_helper.from_array(np.full(2, v, np.float32), n) for n, v in
      (("s", 1.5), ("b", 0.1), ("mu", 0.2), ("var", 0.9), ("cb", 0.3))}
put("conv_bn_relu", [helper.make_node("Conv", ["x", "k", "cb"], ["c"], pads=[1, 1, 1, 1]),
                     helper.make_node("BatchNormalization", ["c", "s", "b", "mu", "var"], ["n"]),
                     helper.make_node("Relu", ["n"], ["y"])],
    [vi("x", [1, 1, 4, 4])], [vi("y", [1, 2, 4, 4])], [k] + list(bn.values()))
put("linear_relu", [helper.make_node("MatMul", ["x", "w"], ["h"]), helper.make_node("Add", ["h", "b3"], ["a"]),
                    helper.make_node("Relu", ["a"], ["y"])],
    [vi("x", ["N", 4])], [vi("y", ["N", 3])], [w, numpy_helper.from_array(np.ones(3, np.float32), "b3")])
seq = put("typed_init", [helper.make_node("Gather", ["t", "i"], ["y"])], [vi("i", [2], TensorProto.INT64)],
          [vi("y", [2])], [helper.make_tensor("t", F, [3], [1.0, 2.0, 3.0])])
with open(os.path.join(out, "truncated"), "wb") as f:
    f.write(seq.SerializeToString()[:40])

# The operator families of issue 15 (ops_act.c, ops_logic.c, ops_reduce.c, ops_index.c, ops_tensor2.c, ops_loss.c,
# onnx_half.c): small runnable models, several with shapes that depend on values (NonZero, Unique, Compress, Range,
# OneHot).
I64, I32, U8, B, F16 = TensorProto.INT64, TensorProto.INT32, TensorProto.UINT8, TensorProto.BOOL, TensorProto.FLOAT16
H = helper.make_node


def const(name, arr):
    return numpy_helper.from_array(np.asarray(arr), name)


acts = ["HardSigmoid", "HardSwish", "Mish", "Gelu", "Elu", "Selu", "Celu", "Softplus", "Softsign", "ThresholdedRelu",
        "Shrink", "Floor", "Ceil", "Round", "Sign", "Reciprocal", "Sin", "Cos", "Tan", "Atan", "Sinh", "Cosh",
        "Asinh", "Hardmax"]
chain = [H(op, ["a%d" % i], ["a%d" % (i + 1)]) for i, op in enumerate(acts)]
put("op_activations", [H("Identity", ["x"], ["a0"])] + chain + [H("Identity", ["a%d" % len(acts)], ["y"])],
    [vi("x", [2, 3])], [vi("y", [2, 3])], opset=20)
put("op_logic", [H("Max", ["x", "z", "x"], ["m"]), H("Min", ["m", "z"], ["n"]), H("Mean", ["m", "n"], ["e"]),
                 H("Sum", ["e", "x", "z"], ["s"]), H("GreaterOrEqual", ["s", "z"], ["g"]),
                 H("LessOrEqual", ["s", "x"], ["l"]), H("And", ["g", "l"], ["a"]), H("Or", ["g", "a"], ["o"]),
                 H("Xor", ["o", "l"], ["xo"]), H("Not", ["xo"], ["nt"]), H("IsNaN", ["s"], ["nan"]),
                 H("Or", ["nt", "nan"], ["c"]), H("PRelu", ["s", "z"], ["pr"]), H("Where", ["c", "pr", "x"], ["y"])],
    [vi("x", ["N", 3]), vi("z", [3])], [vi("y", ["N", 3])], opset=18)
put("op_integers", [H("Mod", ["i", "j"], ["m"], fmod=0), H("BitwiseAnd", ["m", "i"], ["b"]),
                    H("BitwiseNot", ["b"], ["n"]), H("Cast", ["n"], ["u"], to=U8),
                    H("BitShift", ["u", "sh"], ["y"], direction="LEFT")],
    [vi("i", [4], I32)], [vi("y", [4], U8)], [const("sh", np.array([1, 2, 3, 9], np.uint8)),
                                              const("j", np.array([3, -2, 5, 7], np.int32))],
    opset=18)
put("op_reduce18", [H("ReduceL2", ["x", "ax"], ["a"], keepdims=1), H("ReduceLogSumExp", ["a"], ["b"],
                                                                       noop_with_empty_axes=1),
                    H("ReduceProd", ["b", "ax"], ["c"]), H("ArgMin", ["c"], ["y"], axis=0, select_last_index=1)],
    [vi("x", [2, 3, 4])], [vi("y", [1, 1, 1], I64)], [const("ax", np.array([1, -1], np.int64))], opset=18)
put("op_index", [H("NonZero", ["x"], ["nz"]), H("Unique", ["x"], ["u", "ui", "inv", "cnt"]),
                 H("ReduceMax", ["x", "ax0"], ["rm"], keepdims=0), H("GreaterOrEqual", ["rm", "half"], ["keep"]),
                 H("Compress", ["x", "keep"], ["cp"], axis=1),
                 H("GatherElements", ["x", "ix"], ["ge"], axis=1),
                 H("ScatterElements", ["x", "ix", "ge"], ["se"], axis=1, reduction="add"),
                 H("ScatterND", ["se", "nd", "upd"], ["y"]), H("OneHot", ["ix", "depth", "vals"], ["oh"])],
    [vi("x", [2, 3])], [vi("y", [2, 3]), vi("nz", [2, "K"], I64), vi("cp", [2, "C"]), vi("oh", [2, 2, 3])],
    [const("half", np.array([0.5], np.float32)), const("ax0", np.array([0], np.int64)),
     const("ix", np.array([[0, 2], [-1, 1]], np.int64)),
     const("nd", np.array([[1, 0]], np.int64)), const("upd", np.array([7.0], np.float32)),
     const("depth", np.array(3, np.int64)), const("vals", np.array([0.0, 1.0], np.float32))], opset=18)
put("op_tensor", [H("Range", ["r0", "r1", "r2"], ["r"]), H("Size", ["x"], ["sz"]), H("Trilu", ["x", "k"], ["t"]),
                  H("CumSum", ["t", "axis"], ["cs"], exclusive=1, reverse=1), H("EyeLike", ["t"], ["e"], k=1),
                  H("Einsum", ["cs", "e"], ["es"], equation="ij,ij->i"),
                  H("ReverseSequence", ["x", "lens"], ["y"], batch_axis=0, time_axis=1)],
    [vi("x", [2, 2])], [vi("y", [2, 2]), vi("r", ["R"], I64), vi("es", [2]), vi("sz", [], I64)],
    [const("r0", np.array(1, np.int64)), const("r1", np.array(9, np.int64)), const("r2", np.array(3, np.int64)),
     const("k", np.array(0, np.int64)), const("axis", np.array(1, np.int64)),
     const("lens", np.array([1, 2], np.int64))], opset=18)
put("op_losses", [H("SoftmaxCrossEntropyLoss", ["x", "lab", "w"], ["l", "lp"], ignore_index=1),
                  H("NegativeLogLikelihoodLoss", ["lp", "lab"], ["y"], reduction="sum")],
    [vi("x", [2, 3]), vi("lab", [2], I64)], [vi("y", []), vi("l", [])],
    [const("w", np.array([1.0, 2.0, 0.5], np.float32))], opset=13)
put("op_fp16", [H("MatMul", ["x", "w16"], ["m"]), H("HardSwish", ["m"], ["h"]),
                H("Softmax", ["h"], ["y"])],
    [vi("x", [2, 4], F16)], [vi("y", [2, 3], F16)], [const("w16", np.ones((4, 3), np.float16))], opset=18)
g = helper.make_graph([H("Relu", ["x"], ["y"])], "op_ml_import_unused", [vi("x", [2])], [vi("y", [2])])
m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 21), helper.make_opsetid("ai.onnx.ml", 3)])
with open(os.path.join(out, "op_ml_import_unused"), "wb") as f:
    f.write(m.SerializeToString())
put("op_einsum_bad", [H("Einsum", ["x", "x"], ["y"], equation="ij,jk->zz")], [vi("x", [2, 2])], [vi("y", [2])],
    opset=18)
put("op_range_huge", [H("Range", ["a", "b", "c"], ["y"])], [vi("b", [], F)], [vi("y", ["R"])],
    [const("a", np.array(0.0, np.float32)), const("c", np.array(1e-30, np.float32))], opset=18)
