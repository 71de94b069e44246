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

# ---- Control flow, sequences and recurrent layers (issue 15) -------------------------------------------------
# Valid ones run (they also seed fuzz_onnx_run: if_lstm loop_accumulate scan_sum seq_roundtrip lstm_bidir gru_lens
# and the bounded ones below); the malformed ones are refused at load; the unbounded ones must stop at the call's
# iteration budget or at max_tensor_bytes (tests/unit/onnx/test_onnx_control.c checks each outcome).
B, I64 = TensorProto.BOOL, TensorProto.INT64


def graph(name, nodes, inputs, outputs, inits=()):
    return helper.make_graph(nodes, name, inputs, outputs, list(inits))


def arr(name, a):
    return numpy_helper.from_array(np.asarray(a), name)


def lstm_inits(prefix, n_in, hid, dirs):
    return [arr(prefix + "w", np.full((dirs, 4 * hid, n_in), 0.1, np.float32)),
            arr(prefix + "r", np.full((dirs, 4 * hid, hid), 0.05, np.float32)),
            arr(prefix + "b", np.full((dirs, 8 * hid), 0.01, np.float32))]


def if_branch(name, direction):
    inits = lstm_inits(name, 3, 4, 1)
    return graph(name, [helper.make_node("LSTM", ["x"] + [t.name for t in inits], ["", name + "_h"], hidden_size=4,
                                         direction=direction)], [], [vi(name + "_h", None)], inits)


put("if_lstm", [helper.make_node("If", ["c"], ["y"], then_branch=if_branch("t", "forward"),
                                 else_branch=if_branch("e", "reverse"))],
    [vi("c", [], B), vi("x", [5, 2, 3])], [vi("y", [1, 2, 4])], opset=14)


def body_add(extra_nodes=(), scan=None):
    outs = [vi("c_out", [], B), vi("acc_out", None)] + ([vi(scan, None)] if scan else [])
    return graph("body", [helper.make_node("Identity", ["c_in"], ["c_out"]),
                          helper.make_node("Add", ["acc_in", "one"], ["acc_out"])] + list(extra_nodes),
                 [vi("i", [], I64), vi("c_in", [], B), vi("acc_in", None)], outs)


one = arr("one", np.ones(4, np.float32))
put("loop_accumulate", [helper.make_node("Loop", ["m", "", "x"], ["acc", "st"],
                                         body=body_add([helper.make_node("Identity", ["acc_out"], ["st"])], "st"))],
    [vi("x", [4])], [vi("acc", [4]), vi("st", [3, 4])], [arr("m", np.array(3, np.int64)), one], opset=13)
put("loop_huge_count", [helper.make_node("Loop", ["m", "", "x"], ["acc"], body=body_add())],
    [vi("x", [4])], [vi("acc", [4])], [arr("m", np.array(2**63 - 1, np.int64)), one], opset=13)
put("loop_unbounded", [helper.make_node("Loop", ["", "", "x"], ["acc"], body=body_add())],
    [vi("x", [4])], [vi("acc", [4])], [one], opset=13)
inner = helper.make_node("Loop", ["m", "", "acc_in"], ["acc_out"], body=body_add())
outer_body = graph("outer", [helper.make_node("Identity", ["c_in"], ["c_out"]), inner],
                   [vi("i", [], I64), vi("c_in", [], B), vi("acc_in", None)], [vi("c_out", [], B), vi("acc_out", None)])
put("loop_nested_huge", [helper.make_node("Loop", ["m", "", "x"], ["acc"], body=outer_body)],
    [vi("x", [4])], [vi("acc", [4])], [arr("m", np.array(10**12, np.int64)), one], opset=13)
put("loop_scan_growth", [helper.make_node("Loop", ["m", "", "x"], ["acc", "st"],
                                          body=body_add([helper.make_node("ConstantOfShape", ["big_shape"], ["big"]),
                                                         helper.make_node("Add", ["big", "i_f"], ["st"]),
                                                         helper.make_node("Cast", ["i"], ["i_f"], to=1)], "st"))],
    [vi("x", [4])], [vi("acc", [4]), vi("st", None)],
    [arr("m", np.array(10**6, np.int64)), one, arr("big_shape", np.array([65536], np.int64))], opset=13)


def nested_if(depth):
    if depth == 0:
        return graph("leaf", [helper.make_node("Identity", ["x"], ["o0"])], [], [vi("o0", [2])])
    return graph("lvl%d" % depth, [helper.make_node("If", ["c"], ["o%d" % depth], then_branch=nested_if(depth - 1),
                                                    else_branch=nested_if(depth - 1) if depth < 3 else
                                                    nested_if(0))],
                 [], [vi("o%d" % depth, [2])])


put("deep_nesting", [helper.make_node("If", ["c"], ["y"], then_branch=nested_if(40), else_branch=nested_if(0))],
    [vi("c", [], B), vi("x", [2])], [vi("y", [2])], opset=13)
leaf = nested_if(0)
put("if_missing_else", [helper.make_node("If", ["c"], ["y"], then_branch=leaf)],
    [vi("c", [], B), vi("x", [2])], [vi("y", [2])], opset=13)
put("if_unknown_name", [helper.make_node("If", ["c"], ["y"], then_branch=leaf, else_branch=graph(
    "e", [helper.make_node("Identity", ["nowhere"], ["o0"])], [], [vi("o0", [2])]))],
    [vi("c", [], B), vi("x", [2])], [vi("y", [2])], opset=13)
put("if_branch_types", [helper.make_node("If", ["c"], ["y"], then_branch=leaf, else_branch=graph(
    "e", [helper.make_node("Shape", ["x"], ["o0"])], [], [vi("o0", [1], I64)]))],
    [vi("c", [], B), vi("x", [2])], [vi("y", [2])], opset=13)
put("if_cond_float", [helper.make_node("If", ["x"], ["y"], then_branch=leaf, else_branch=leaf)],
    [vi("x", [2])], [vi("y", [2])], opset=13)
put("loop_body_inputs", [helper.make_node("Loop", ["m", "", "x"], ["acc"], body=graph(
    "b", [helper.make_node("Identity", ["c_in"], ["c_out"])], [vi("c_in", [], B)], [vi("c_out", [], B)]))],
    [vi("x", [4])], [vi("acc", [4])], [arr("m", np.array(2, np.int64))], opset=13)
put("loop_body_cycle", [helper.make_node("Loop", ["m", "", "x"], ["acc"], body=graph(
    "b", [helper.make_node("Identity", ["c_in"], ["c_out"]), helper.make_node("Add", ["acc_in", "p"], ["q"]),
          helper.make_node("Add", ["q", "one"], ["p"]), helper.make_node("Identity", ["q"], ["acc_out"])],
    [vi("i", [], I64), vi("c_in", [], B), vi("acc_in", None)], [vi("c_out", [], B), vi("acc_out", None)]))],
    [vi("x", [4])], [vi("acc", [4])], [arr("m", np.array(2, np.int64)), one], opset=13)
put("relu_with_graph", [helper.make_node("Relu", ["x"], ["y"], body=leaf)], [vi("x", [2])], [vi("y", [2])])
scan_body = graph("sb", [helper.make_node("Add", ["s_in", "e"], ["s_out"]),
                         helper.make_node("Identity", ["s_out"], ["o"])],
                  [vi("s_in", [2]), vi("e", [2])], [vi("s_out", [2]), vi("o", [2])])
put("scan_sum", [helper.make_node("Scan", ["s0", "xs"], ["s", "ys"], body=scan_body, num_scan_inputs=1)],
    [vi("s0", [2]), vi("xs", [3, 2])], [vi("s", [2]), vi("ys", [3, 2])], opset=11)
put("scan_bad_axis", [helper.make_node("Scan", ["s0", "xs"], ["s", "ys"], body=scan_body, num_scan_inputs=1,
                                       scan_input_axes=[5])],
    [vi("s0", [2]), vi("xs", [3, 2])], [vi("s", [2]), vi("ys", None)], opset=11)
put("seq_roundtrip", [helper.make_node("SplitToSequence", ["x"], ["s"], axis=0),
                      helper.make_node("SequenceInsert", ["s", "x1"], ["s2"]),
                      helper.make_node("SequenceLength", ["s2"], ["n"]),
                      helper.make_node("ConcatFromSequence", ["s2"], ["y"], axis=0),
                      helper.make_node("Slice", ["x", "st", "en"], ["x1"])],
    [vi("x", [3, 2])], [vi("y", [4, 2]), vi("n", [], I64)],
    [arr("st", np.array([0], np.int64)), arr("en", np.array([1], np.int64))], opset=13)
li = lstm_inits("", 3, 4, 2)
put("lstm_bidir", [helper.make_node("LSTM", ["x"] + [t.name for t in li], ["y", "h", "c"], hidden_size=4,
                                    direction="bidirectional", clip=2.0)],
    [vi("x", [5, 2, 3])], [vi("y", [5, 2, 2, 4]), vi("h", [2, 2, 4]), vi("c", [2, 2, 4])], li, opset=14)
put("gru_lens", [helper.make_node("GRU", ["x", "gw", "gr", "", "lens"], ["y", "h"], hidden_size=4,
                                  linear_before_reset=1)],
    [vi("x", [5, 2, 3]), vi("lens", [2], TensorProto.INT32)], [vi("y", [5, 1, 2, 4]), vi("h", [1, 2, 4])],
    [arr("gw", np.full((1, 12, 3), 0.1, np.float32)), arr("gr", np.full((1, 12, 4), 0.1, np.float32))], opset=14)
put("if_reads_own_output", [helper.make_node("If", ["c"], ["y"], then_branch=graph(
    "t", [helper.make_node("Identity", ["y"], ["o0"])], [], [vi("o0", [2])]), else_branch=leaf)],
    [vi("c", [], B), vi("x", [2])], [vi("y", [2])], opset=13)
# a sequence that grows by 64 KB per iteration until max_tensor_bytes (16 MB in the fuzz target) stops it
seq_body = graph("sb", [helper.make_node("Identity", ["c_in"], ["c_out"]),
                        helper.make_node("ConstantOfShape", ["big_shape"], ["big"]),
                        helper.make_node("SequenceInsert", ["s_in", "big"], ["s_out"])],
                 [vi("i", [], I64), vi("c_in", [], B), helper.make_tensor_sequence_value_info("s_in", F, None)],
                 [vi("c_out", [], B), helper.make_tensor_sequence_value_info("s_out", F, None)])
put("loop_sequence_growth", [helper.make_node("SequenceEmpty", [], ["s0"]),
                             helper.make_node("Loop", ["m", "", "s0"], ["s"], body=seq_body),
                             helper.make_node("SequenceLength", ["s"], ["y"])],
    [vi("x", [4])], [vi("y", [], I64)],
    [arr("m", np.array(10**6, np.int64)), arr("big_shape", np.array([16384], np.int64))], opset=13)
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
# Vision, detection, signal, quantized and ai.onnx.ml operators (ops_resize.c, ops_vision.c, ops_pool.c,
# ops_detect.c, ops_signal.c, ops_quant.c, ops_ml.c): small runnable models (seeds named vis_*, also seeding
# fuzz_onnx_run), some at the edges (huge scales and repeats, a tree whose branches form a cycle).
I64v, U8v, I8v, I32v = TensorProto.INT64, TensorProto.UINT8, TensorProto.INT8, TensorProto.INT32
N_ = helper.make_node


def arr(name, a):
    return numpy_helper.from_array(np.asarray(a), name)


def put_ml(name, nodes, inputs, outputs, inits=()):
    g = helper.make_graph(nodes, name, inputs, outputs, list(inits))
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("ai.onnx.ml", 3)])
    with open(os.path.join(out, name), "wb") as f:
        f.write(m.SerializeToString())


put("vis_resize", [N_("Resize", ["x", "", "sc"], ["a"], mode="cubic", exclude_outside=1),
                   N_("Resize", ["a", "", "", "sz"], ["b"], mode="nearest", nearest_mode="ceil",
                      coordinate_transformation_mode="align_corners"),
                   N_("Resize", ["b", "roi", "", "sz2"], ["y"], mode="linear",
                      coordinate_transformation_mode="tf_crop_and_resize", extrapolation_value=3.0)],
    [vi("x", [1, 2, 4, 4])], [vi("y", None)],
    [arr("sc", np.array([1, 1, 1.5, 0.75], np.float32)), arr("sz", np.array([1, 2, 5, 3], np.int64)),
     arr("roi", np.array([0, 0, 0.2, -0.1, 1, 1, 0.9, 1.3], np.float32)), arr("sz2", np.array([1, 2, 3, 4], np.int64))])
put("vis_resize_huge", [N_("Resize", ["x", "", "sc"], ["y"], mode="linear")], [vi("x", [1, 1, 2, 2])],
    [vi("y", None)], [arr("sc", np.array([1, 1, 1e9, 1e9], np.float32))])
put("vis_pad_tile", [N_("Pad", ["x", "p"], ["a"], mode="reflect"), N_("Tile", ["a", "r"], ["b"]),
                     N_("DepthToSpace", ["b"], ["c"], blocksize=2, mode="CRD"),
                     N_("SpaceToDepth", ["c"], ["d"], blocksize=2), N_("LRN", ["d"], ["e"], size=3),
                     N_("InstanceNormalization", ["e", "s", "bb"], ["f"]), N_("GlobalMaxPool", ["f"], ["y"])],
    [vi("x", [1, 4, 3, 3])], [vi("y", None)],
    [arr("p", np.array([0, 0, 2, -1, 0, 0, 1, 2], np.int64)), arr("r", np.array([1, 1, 2, 1], np.int64)),
     arr("s", np.ones(4, np.float32)), arr("bb", np.zeros(4, np.float32))])
put("vis_tile_huge", [N_("Tile", ["x", "r"], ["y"])], [vi("x", [2, 2])], [vi("y", None)],
    [arr("r", np.array([1 << 40, 1 << 40], np.int64))])
put("vis_pool", [N_("MaxPool", ["x"], ["p", "i"], kernel_shape=[2, 2], strides=[2, 2], storage_order=1),
                 N_("MaxUnpool", ["p", "i"], ["u"], kernel_shape=[2, 2], strides=[2, 2]),
                 N_("LpPool", ["u"], ["y"], kernel_shape=[3, 3], p=3, pads=[1, 1, 1, 1])],
    [vi("x", [1, 2, 4, 4])], [vi("y", None)], opset=11)
put("vis_detect", [N_("TopK", ["s", "k"], ["v", "ix"], axis=-1), N_("NonMaxSuppression", ["b", "s", "m", "iou"],
                                                                   ["sel"]),
                   N_("RoiAlign", ["x", "r", "bi"], ["ra"], output_height=2, output_width=2, sampling_ratio=0),
                   N_("GridSample", ["x", "g"], ["y"], mode="bicubic", padding_mode="reflection")],
    [vi("b", [1, 4, 4]), vi("s", [1, 1, 4]), vi("x", [1, 1, 4, 4])], [vi("y", None), vi("sel", None, I64v)],
    [arr("k", np.array([2], np.int64)), arr("m", np.array([3], np.int64)), arr("iou", np.array([0.5], np.float32)),
     arr("r", np.array([[0, 0, 3, 3], [1, 1, 2, 9]], np.float32)), arr("bi", np.array([0, 0], np.int64)),
     arr("g", np.full((1, 2, 2, 2), 0.3, np.float32))], opset=16)
put("vis_signal", [N_("HannWindow", ["n"], ["w"]), N_("STFT", ["x", "st", "w"], ["s"]),
                   N_("DFT", ["s"], ["d"], axis=2, inverse=1),
                   N_("MelWeightMatrix", ["mb", "dl", "sr", "lo", "hi"], ["y"])],
    [vi("x", [1, 16, 1])], [vi("d", None), vi("y", None)],
    [arr("n", np.array(8, np.int64)), arr("st", np.array(4, np.int64)), arr("mb", np.array(4, np.int64)),
     arr("dl", np.array(16, np.int64)), arr("sr", np.array(8000, np.int64)), arr("lo", np.array(100, np.float32)),
     arr("hi", np.array(3000, np.float32))], opset=17)
put("vis_quant", [N_("QuantizeLinear", ["x", "s", "z"], ["q"], axis=1),
                  N_("DequantizeLinear", ["q", "s", "z"], ["dq"], axis=1),
                  N_("DynamicQuantizeLinear", ["dq"], ["dy", "ds", "dz"]),
                  N_("MatMulInteger", ["dy", "wq", "dz"], ["mi"]),
                  N_("QLinearConv", ["q4", "one", "zz", "wc", "one", "zi", "one", "zz"], ["y"])],
    [vi("x", [2, 3])], [vi("mi", None, I32v), vi("y", None, U8v)],
    [arr("s", np.array([0.1, 0.2, 0.3], np.float32)), arr("z", np.array([1, 2, 3], np.uint8)),
     arr("wq", np.ones((3, 2), np.uint8)), arr("q4", np.ones((1, 1, 3, 3), np.uint8)),
     arr("one", np.array(1.0, np.float32)), arr("zz", np.array(0, np.uint8)), arr("zi", np.array(0, np.int8)),
     arr("wc", np.ones((1, 1, 2, 2), np.int8))])
ml = "ai.onnx.ml"
put_ml("vis_ml", [N_("Scaler", ["x"], ["s"], domain=ml, offset=[0.5], scale=[2.0]),
                  N_("LinearClassifier", ["s"], ["l", "p"], domain=ml, coefficients=[1.0, -1.0, 0.5, 0.5, 0, 1],
                     intercepts=[0.0, 0.1, 0.2], classlabels_ints=[1, 2, 3], post_transform="SOFTMAX"),
                  N_("Normalizer", ["p"], ["nrm"], domain=ml, norm="L1"),
                  N_("ArrayFeatureExtractor", ["nrm", "ix"], ["y"], domain=ml),
                  N_("TreeEnsembleRegressor", ["x"], ["t"], domain=ml, n_targets=1, nodes_treeids=[0, 0, 0],
                     nodes_nodeids=[0, 1, 2], nodes_featureids=[1, 0, 0], nodes_values=[0.5, 0, 0],
                     nodes_modes=["BRANCH_LT", "LEAF", "LEAF"], nodes_truenodeids=[1, 0, 0],
                     nodes_falsenodeids=[2, 0, 0], target_treeids=[0, 0], target_nodeids=[1, 2],
                     target_ids=[0, 0], target_weights=[1.5, -2.0])],
       [vi("x", ["N", 2])], [vi("y", None), vi("l", None, I64v), vi("t", None)],
       [arr("ix", np.array([2, 0], np.int64))])
put_ml("vis_ml_tree_cycle", [N_("TreeEnsembleRegressor", ["x"], ["y"], domain=ml, n_targets=1,
                                nodes_treeids=[0, 0], nodes_nodeids=[0, 1], nodes_featureids=[0, 0],
                                nodes_values=[0.5, 0.5], nodes_modes=["BRANCH_LEQ", "BRANCH_LEQ"],
                                nodes_truenodeids=[1, 0], nodes_falsenodeids=[1, 0], target_treeids=[0],
                                target_nodeids=[1], target_ids=[0], target_weights=[1.0])],
       [vi("x", [1, 1])], [vi("y", None)])
put_ml("vis_zipmap", [N_("ZipMap", ["x"], ["y"], domain=ml, classlabels_int64s=[0, 1])], [vi("x", [1, 2])],
       [vi("y", None)])
# jn_onnx_inspect (`junction model inspect`) goes on past refused nodes: several refusals, nodes downstream of them
# (unchecked), a refused Constant, a refused node's output read twice and listed as a graph output, an output
# defined twice after a refusal.
put("inspect_many_refused",
    [H("NoSuchA", ["x"], ["a"]), H("Relu", ["a"], ["b"]), H("Constant", [], ["k"], value_strings=["s"]),
     H("Add", ["b", "k"], ["c"]), H("Gadget", ["c", "a"], ["d"], domain="com.example"), H("Relu", ["x"], ["e"]),
     H("Sigmoid", ["e"], ["d2"]), H("Relu", ["x"], ["d2"])],
    [vi("x", [2, 3])], [vi("d", [2, 3]), vi("a", [2, 3]), vi("d2", [2, 3])], opset=17)
