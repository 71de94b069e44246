#!/usr/bin/python3
"""The model families users bring, checked against ONNX Runtime.

Builds with python3-onnx's helper a BERT-style encoder (token-embedding Gather, multi-head attention from
MatMul/Reshape/Transpose/Softmax with an attention mask, LayerNormalization, GELU through Erf, a classification
head on the first token) and a ResNet-style CNN (a Conv + Relu stem, Conv + BatchNormalization + residual Add, a
strided block with a 1x1 projection, GlobalAveragePool, Gemm + Relu, Gemm), both with a dynamic batch dimension.
Between them they cover the adapter's fusions (MatMul + bias Add, Relu into Conv, Gemm and MatMul). Then the
recurrent and control-flow families: a bidirectional 2-layer LSTM, a GRU over variable sequence_lens (with an
initial state and linear_before_reset), the recurrent layers' attribute corners (peepholes, clip, input_forget,
custom activations with alpha/beta, Relu RNN), an FP16 LSTM (against ONNX Runtime's FP32 twin, rounded back), a
model whose If branches hold an LSTM each and whose Loop accumulates a value read from the enclosing graph (with a
scan output), a graph that goes through sequences inside (SplitToSequence with sizes and without, SequenceErase,
SequenceInsert, SequenceAt, SequenceLength, ConcatFromSequence with and without a new axis, SequenceConstruct,
Optional), and a Scan over two inputs along different axes and directions, with scan outputs stacked along other
axes, in reverse. Runs each on random inputs at two
batch sizes through ONNX Runtime (npm onnxruntime-node, via ort_run.js), writes the result in the ONNX backend-test
layout (model.onnx, test_data_set_N/input_i.pb, output_i.pb) and has onnx_conformance compare junction's adapter
with it (rtol 1e-4, atol 1e-5).

usage: /usr/bin/python3 model_families.py ONNX_CONFORMANCE_BINARY [ORT_MODULE_DIR]
ORT_MODULE_DIR defaults to $JUNCTION_ORT_DIR, then <checkout>/.cache/onnxruntime/node_modules/onnxruntime-node
(scripts/install-deps.sh --onnxruntime installs it there). Without it the test fails, naming the install command.
"""
import base64
import json
import os
import shutil
import subprocess
import sys
import tempfile

import numpy as np
from onnx import TensorProto, helper, numpy_helper

import families_vision

HERE = os.path.dirname(os.path.abspath(__file__))
RNG = np.random.default_rng(2024)


def w(*shape, scale=0.3):
    return (RNG.standard_normal(shape) * scale).astype(np.float32)


class Graph:
    """Collects nodes and initializers; names are generated."""

    def __init__(self):
        self.nodes, self.inits, self.n = [], [], 0

    def init(self, arr, name=None):
        self.n += 1
        name = name or "c%d" % self.n
        self.inits.append(numpy_helper.from_array(np.asarray(arr), name))
        return name

    def op(self, op_type, inputs, **attrs):
        self.n += 1
        out = "%s_%d" % (op_type.lower(), self.n)
        self.nodes.append(helper.make_node(op_type, inputs, [out], name="%s_%d" % (op_type, self.n), **attrs))
        return out


# ---- BERT-style encoder ------------------------------------------------------------------------------------------

VOCAB, SEQ, HIDDEN, HEADS, FFN, CLASSES = 40, 8, 16, 2, 32, 3


def layer_norm(g, x):
    return g.op("LayerNormalization", [x, g.init(1 + w(HIDDEN, scale=0.1)), g.init(w(HIDDEN, scale=0.1))],
                axis=-1, epsilon=1e-5)


def linear(g, x, n_in, n_out):
    return g.op("Add", [g.op("MatMul", [x, g.init(w(n_in, n_out))]), g.init(w(n_out, scale=0.1))])


def build_bert():
    g = Graph()
    dh = HIDDEN // HEADS
    emb = g.op("Gather", [g.init(w(VOCAB, HIDDEN, scale=1.0)), "input_ids"], axis=0)
    x = layer_norm(g, g.op("Add", [emb, g.init(w(SEQ, HIDDEN, scale=0.5))]))

    def heads(t, perm):  # [B,S,H] -> [B,heads,S,dh] (perm 0,2,1,3) or [B,heads,dh,S] (perm 0,2,3,1)
        r = g.op("Reshape", [t, g.init(np.array([0, 0, HEADS, dh], np.int64))])
        return g.op("Transpose", [r], perm=perm)

    q = heads(linear(g, x, HIDDEN, HIDDEN), [0, 2, 1, 3])
    k = heads(linear(g, x, HIDDEN, HIDDEN), [0, 2, 3, 1])
    v = heads(linear(g, x, HIDDEN, HIDDEN), [0, 2, 1, 3])
    scores = g.op("Div", [g.op("MatMul", [q, k]), g.init(np.array(np.sqrt(dh), np.float32))])
    # attention_mask [B,S] of 1/0 -> additive [B,1,1,S] of 0/-10000
    mask = g.op("Unsqueeze", ["attention_mask", g.init(np.array([1, 2], np.int64))])
    additive = g.op("Mul", [g.op("Sub", [g.init(np.array(1.0, np.float32)), mask]),
                            g.init(np.array(-10000.0, np.float32))])
    probs = g.op("Softmax", [g.op("Add", [scores, additive])], axis=-1)
    ctx = g.op("Transpose", [g.op("MatMul", [probs, v])], perm=[0, 2, 1, 3])
    ctx = g.op("Reshape", [ctx, g.init(np.array([0, 0, HIDDEN], np.int64))])
    x = layer_norm(g, g.op("Add", [x, linear(g, ctx, HIDDEN, HIDDEN)]))
    h = linear(g, x, HIDDEN, FFN)
    gelu = g.op("Mul", [g.op("Mul", [h, g.init(np.array(0.5, np.float32))]),
                        g.op("Add", [g.init(np.array(1.0, np.float32)),
                                     g.op("Erf", [g.op("Div", [h, g.init(np.array(np.sqrt(2.0), np.float32))])])])])
    x = layer_norm(g, g.op("Add", [x, linear(g, gelu, FFN, HIDDEN)]))
    cls = g.op("Gather", [x, g.init(np.array(0, np.int64))], axis=1)  # [B,H]
    pooled = g.op("Tanh", [g.op("Gemm", [cls, g.init(w(HIDDEN, HIDDEN)), g.init(w(HIDDEN, scale=0.1))])])
    g.nodes.append(helper.make_node("Gemm", [pooled, g.init(w(CLASSES, HIDDEN)), g.init(w(CLASSES, scale=0.1))],
                                    ["logits"], name="classifier", transB=1))
    g.nodes.append(helper.make_node("Softmax", ["logits"], ["probs"], name="probs", axis=-1))
    graph = helper.make_graph(
        g.nodes, "bert_tiny",
        [helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch", SEQ]),
         helper.make_tensor_value_info("attention_mask", TensorProto.FLOAT, ["batch", SEQ])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", CLASSES]),
         helper.make_tensor_value_info("probs", TensorProto.FLOAT, ["batch", CLASSES])],
        g.inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])

    def inputs(batch):
        ids = RNG.integers(0, VOCAB, size=(batch, SEQ)).astype(np.int64)
        mask = np.ones((batch, SEQ), np.float32)
        for b in range(batch):
            mask[b, RNG.integers(3, SEQ + 1):] = 0  # padded tails of different lengths
        return {"input_ids": ids, "attention_mask": mask}
    return model, inputs


# ---- ResNet-style CNN --------------------------------------------------------------------------------------------

def conv_bn(g, x, c_in, c_out, k, stride, relu):
    y = g.op("Conv", [x, g.init(w(c_out, c_in, k, k, scale=np.sqrt(2.0 / (c_in * k * k)))),
                      g.init(w(c_out, scale=0.1))],
             kernel_shape=[k, k], strides=[stride, stride], pads=[k // 2] * 4)
    y = g.op("BatchNormalization", [y, g.init(1 + w(c_out, scale=0.1)), g.init(w(c_out, scale=0.1)),
                                    g.init(w(c_out, scale=0.1)), g.init(np.abs(w(c_out)) + 0.5)], epsilon=1e-5)
    return g.op("Relu", [y]) if relu else y


def build_resnet():
    g = Graph()
    # stem: Conv + Relu without a norm (the adapter runs the Relu inside the Conv)
    x = g.op("Relu", [g.op("Conv", ["image", g.init(w(8, 3, 3, 3)), g.init(w(8, scale=0.1))], kernel_shape=[3, 3],
                           pads=[1, 1, 1, 1])])
    x = conv_bn(g, x, 8, 8, 3, 1, True)
    # identity block
    y = conv_bn(g, conv_bn(g, x, 8, 8, 3, 1, True), 8, 8, 3, 1, False)
    x = g.op("Relu", [g.op("Add", [x, y])])
    # strided block with a 1x1 projection on the skip path
    y = conv_bn(g, conv_bn(g, x, 8, 16, 3, 2, True), 16, 16, 3, 1, False)
    x = g.op("Relu", [g.op("Add", [conv_bn(g, x, 8, 16, 1, 2, False), y])])
    x = g.op("Flatten", [g.op("GlobalAveragePool", [x])], axis=1)
    x = g.op("Relu", [g.op("Gemm", [x, g.init(w(16, 16)), g.init(w(16, scale=0.1))], transB=1)])
    g.nodes.append(helper.make_node("Gemm", [x, g.init(w(10, 16)), g.init(w(10, scale=0.1))], ["logits"],
                                    name="fc", transB=1))
    graph = helper.make_graph(
        g.nodes, "resnet_tiny",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["N", 3, 16, 16])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", 10])],
        g.inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    return model, lambda batch: {"image": RNG.standard_normal((batch, 3, 16, 16)).astype(np.float32)}


# ---- recurrent layers ------------------------------------------------------------------------------------------

RNN_IN, RNN_H, RNN_SEQ = 6, 8, 7


def lstm_weights(g, n_in, hidden, dirs):
    return [g.init(w(dirs, 4 * hidden, n_in, scale=0.4)), g.init(w(dirs, 4 * hidden, hidden, scale=0.4)),
            g.init(w(dirs, 8 * hidden, scale=0.2))]


def build_lstm2():
    """Two stacked bidirectional LSTM layers over X [seq, batch, input] (dynamic seq and batch)."""
    g = Graph()
    wts = lstm_weights(g, RNN_IN, RNN_H, 2)
    y1 = "lstm1_y"
    g.nodes.append(helper.make_node("LSTM", ["x"] + wts, [y1], name="lstm1", hidden_size=RNN_H,
                                    direction="bidirectional"))
    # [S, 2, B, H] -> [S, B, 2, H] -> [S, B, 2H]
    t = g.op("Transpose", [y1], perm=[0, 2, 1, 3])
    x2 = g.op("Reshape", [t, g.init(np.array([0, 0, 2 * RNN_H], np.int64))])
    wts2 = lstm_weights(g, 2 * RNN_H, RNN_H, 2)
    g.nodes.append(helper.make_node("LSTM", [x2] + wts2, ["y", "y_h", "y_c"], name="lstm2", hidden_size=RNN_H,
                                    direction="bidirectional"))
    graph = helper.make_graph(
        g.nodes, "lstm_bidir_2layer",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["seq", "batch", RNN_IN])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["seq", 2, "batch", RNN_H]),
         helper.make_tensor_value_info("y_h", TensorProto.FLOAT, [2, "batch", RNN_H]),
         helper.make_tensor_value_info("y_c", TensorProto.FLOAT, [2, "batch", RNN_H])],
        g.inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 14)])
    return model, lambda batch: {"x": RNG.standard_normal((RNN_SEQ, batch, RNN_IN)).astype(np.float32)}


def build_gru_lens():
    """A bidirectional GRU (linear_before_reset, initial state) over sequences of different lengths."""
    g = Graph()
    hid = RNN_H
    g.nodes.append(helper.make_node(
        "GRU", ["x", g.init(w(2, 3 * hid, RNN_IN, scale=0.4)), g.init(w(2, 3 * hid, hid, scale=0.4)),
                g.init(w(2, 6 * hid, scale=0.2)), "lens", "h0"],
        ["y", "y_h"], name="gru", hidden_size=hid, direction="bidirectional", linear_before_reset=1))
    graph = helper.make_graph(
        g.nodes, "gru_seq_lens",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [RNN_SEQ, "batch", RNN_IN]),
         helper.make_tensor_value_info("lens", TensorProto.INT32, ["batch"]),
         helper.make_tensor_value_info("h0", TensorProto.FLOAT, [2, "batch", hid])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [RNN_SEQ, 2, "batch", hid]),
         helper.make_tensor_value_info("y_h", TensorProto.FLOAT, [2, "batch", hid])],
        g.inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 14)])

    def inputs(batch):
        lens = RNG.integers(1, RNN_SEQ + 1, size=batch).astype(np.int32)
        lens[0] = RNN_SEQ
        return {"x": RNG.standard_normal((RNN_SEQ, batch, RNN_IN)).astype(np.float32), "lens": lens,
                "h0": RNG.standard_normal((2, batch, hid)).astype(np.float32) * 0.5}
    return model, inputs


def build_if_loop():
    """If picks one of two LSTMs (forward or reverse, each branch with its own weights, reading the outer x); a
    Loop then runs n times, accumulating the chosen state scaled by an outer constant, and stacks every step."""
    g = Graph()
    branches = []
    for name, direction in (("then", "forward"), ("else", "reverse")):
        b = Graph()
        wts = lstm_weights(b, RNN_IN, RNN_H, 1)
        b.nodes.append(helper.make_node("LSTM", ["x"] + wts, ["", name + "_h"], name=name + "_lstm",
                                        hidden_size=RNN_H, direction=direction))
        branches.append(helper.make_graph(b.nodes, name + "_branch", [],
                                          [helper.make_tensor_value_info(name + "_h", TensorProto.FLOAT, None)],
                                          b.inits))
    g.nodes.append(helper.make_node("If", ["forward"], ["state"], name="pick", then_branch=branches[0],
                                    else_branch=branches[1]))
    scale = g.init(np.array(0.5, np.float32), "scale")
    body = helper.make_graph(
        [helper.make_node("Mul", ["state", scale], ["scaled"], name="body_mul"),
         helper.make_node("Add", ["acc_in", "scaled"], ["acc_out"], name="body_add"),
         helper.make_node("Identity", ["cond_in"], ["cond_out"], name="body_cond"),
         helper.make_node("Tanh", ["acc_out"], ["step"], name="body_tanh")],
        "accumulate",
        [helper.make_tensor_value_info("i", TensorProto.INT64, []),
         helper.make_tensor_value_info("cond_in", TensorProto.BOOL, []),
         helper.make_tensor_value_info("acc_in", TensorProto.FLOAT, None)],
        [helper.make_tensor_value_info("cond_out", TensorProto.BOOL, []),
         helper.make_tensor_value_info("acc_out", TensorProto.FLOAT, None),
         helper.make_tensor_value_info("step", TensorProto.FLOAT, None)])
    zero = g.op("Mul", ["state", g.init(np.array(0.0, np.float32))])
    g.nodes.append(helper.make_node("Loop", ["n", "", zero], ["acc", "steps"], name="loop", body=body))
    graph = helper.make_graph(
        g.nodes, "if_lstm_loop",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [RNN_SEQ, "batch", RNN_IN]),
         helper.make_tensor_value_info("forward", TensorProto.BOOL, []),
         helper.make_tensor_value_info("n", TensorProto.INT64, [])],
        [helper.make_tensor_value_info("acc", TensorProto.FLOAT, [1, "batch", RNN_H]),
         helper.make_tensor_value_info("steps", TensorProto.FLOAT, ["n", 1, "batch", RNN_H])],
        g.inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 16)])

    def inputs(batch):
        return {"x": RNG.standard_normal((RNN_SEQ, batch, RNN_IN)).astype(np.float32),
                "forward": np.array(batch == 1), "n": np.array(2 + batch, np.int64)}
    return model, inputs


def build_sequences():
    """Sequences as internal values: x [4, batch, 3] split and reassembled several ways."""
    g = Graph()
    parts = g.op("SplitToSequence", ["x", g.init(np.array([1, 3], np.int64))], axis=0)  # [1,B,3], [3,B,3]
    rows = g.op("SplitToSequence", ["x"], axis=0, keepdims=0)  # 4 x [B,3]
    last = g.op("SequenceAt", [rows, g.init(np.array(-1, np.int64))])
    first = g.op("SequenceAt", [rows, g.init(np.array(0, np.int32))])
    rows = g.op("SequenceErase", [rows, g.init(np.array(1, np.int64))])  # drop row 1
    rows = g.op("SequenceInsert", [rows, g.op("Add", [last, first]), g.init(np.array(0, np.int64))])
    rows = g.op("SequenceInsert", [rows, first])  # at the back
    stacked = g.op("ConcatFromSequence", [rows], axis=1, new_axis=1)  # [B, 5, 3]
    joined = g.op("ConcatFromSequence", [g.op("SequenceErase", [parts])], axis=-1)  # [1, B, 3]
    middle = g.op("ConcatFromSequence", [g.op("SequenceConstruct", ["x", "x"])], axis=1)  # [4, 2B, 3]
    count = g.op("SequenceLength", [rows])
    doubled = g.op("Unsqueeze", [g.op("Mul", [first, g.init(np.array(2.0, np.float32))]),
                                 g.init(np.array([0], np.int64))])  # [1, B, 3]
    both = g.op("SequenceConstruct", [joined, doubled])
    some = g.op("OptionalGetElement", [g.op("Optional", [both])])
    g.nodes += [helper.make_node("Identity", [stacked], ["stacked"], name="out_stacked"),
                helper.make_node("Cast", [count], ["count"], name="out_count", to=TensorProto.FLOAT),
                helper.make_node("ConcatFromSequence", [some], ["pair"], name="out_pair", axis=0, new_axis=1),
                helper.make_node("Identity", [middle], ["middle"], name="out_middle")]
    graph = helper.make_graph(
        g.nodes, "sequences",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [4, "batch", 3])],
        [helper.make_tensor_value_info("stacked", TensorProto.FLOAT, ["batch", 5, 3]),
         helper.make_tensor_value_info("count", TensorProto.FLOAT, []),
         helper.make_tensor_value_info("pair", TensorProto.FLOAT, None),
         helper.make_tensor_value_info("middle", TensorProto.FLOAT, [4, None, 3])],
        g.inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 16)])
    return model, lambda batch: {"x": RNG.standard_normal((4, batch, 3)).astype(np.float32)}


def build_scan():
    """Scan-16: x [batch, 5, 3] scanned along axis 1 backwards, w [5, 3] along axis 0 forwards; the running state
    and a per-step product stacked as scan outputs along axis 1 (reversed) and axis 0."""
    body = helper.make_graph(
        [helper.make_node("Mul", ["xt", "wt"], ["p"], name="b_mul"),
         helper.make_node("Add", ["s_in", "p"], ["s_out"], name="b_add"),
         helper.make_node("Tanh", ["s_out"], ["o_state"], name="b_tanh"),
         helper.make_node("Mul", ["p", "two"], ["o_prod"], name="b_mul2")],
        "scan_body",
        [helper.make_tensor_value_info("s_in", TensorProto.FLOAT, ["batch", 3]),
         helper.make_tensor_value_info("xt", TensorProto.FLOAT, ["batch", 3]),
         helper.make_tensor_value_info("wt", TensorProto.FLOAT, [3])],
        [helper.make_tensor_value_info("s_out", TensorProto.FLOAT, ["batch", 3]),
         helper.make_tensor_value_info("o_state", TensorProto.FLOAT, ["batch", 3]),
         helper.make_tensor_value_info("o_prod", TensorProto.FLOAT, ["batch", 3])])
    g = Graph()
    g.init(np.array(2.0, np.float32), "two")
    g.nodes.append(helper.make_node("Scan", ["s0", "x", g.init(w(5, 3, scale=1.0))], ["s", "states", "prods"],
                                    name="scan", body=body, num_scan_inputs=2, scan_input_axes=[1, 0],
                                    scan_input_directions=[1, 0], scan_output_axes=[1, 0],
                                    scan_output_directions=[1, 0]))
    graph = helper.make_graph(
        g.nodes, "scan_axes",
        [helper.make_tensor_value_info("s0", TensorProto.FLOAT, ["batch", 3]),
         helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 5, 3])],
        [helper.make_tensor_value_info("s", TensorProto.FLOAT, ["batch", 3]),
         helper.make_tensor_value_info("states", TensorProto.FLOAT, ["batch", 5, 3]),
         helper.make_tensor_value_info("prods", TensorProto.FLOAT, [5, "batch", 3])],
        g.inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 16)])
    return model, lambda batch: {"s0": RNG.standard_normal((batch, 3)).astype(np.float32),
                                 "x": RNG.standard_normal((batch, 5, 3)).astype(np.float32)}


def build_rnn_variants():
    """The attribute corners: an LSTM reversed, with peepholes, clip, input_forget and its own activations
    (alpha/beta consumed in order); a bidirectional GRU without linear_before_reset over sequence_lens with other
    activations; an RNN with Relu and an initial state. (ONNX Runtime refuses layout 1; the suite's *_batchwise
    node tests cover it.)"""
    g, hid = Graph(), 5
    lstm = lstm_weights(g, RNN_IN, hid, 1) + ["", "", "", g.init(w(1, 3 * hid, scale=0.3))]
    g.nodes.append(helper.make_node(
        "LSTM", ["xb"] + lstm, ["lstm_y", "lstm_h"], name="lstm", hidden_size=hid, direction="reverse",
        clip=3.0, input_forget=1, activations=["HardSigmoid", "LeakyRelu", "Tanh"], activation_alpha=[0.3, 0.05],
        activation_beta=[0.4]))
    g.nodes.append(helper.make_node(
        "GRU", ["x", g.init(w(2, 3 * hid, RNN_IN, scale=0.4)), g.init(w(2, 3 * hid, hid, scale=0.4)),
                g.init(w(2, 6 * hid, scale=0.2)), "lens"],
        ["gru_y", "gru_h"], name="gru", hidden_size=hid, direction="bidirectional",
        activations=["Sigmoid", "Softsign", "HardSigmoid", "Tanh"]))
    g.nodes.append(helper.make_node(
        "RNN", ["x", g.init(w(1, hid, RNN_IN, scale=0.4)), g.init(w(1, hid, hid, scale=0.4)),
                g.init(w(1, 2 * hid, scale=0.2)), "", "h0"],
        ["rnn_y", "rnn_h"], name="rnn", hidden_size=hid, activations=["Relu"]))
    f = TensorProto.FLOAT
    graph = helper.make_graph(
        g.nodes, "rnn_variants",
        [helper.make_tensor_value_info("x", f, [RNN_SEQ, "batch", RNN_IN]),
         helper.make_tensor_value_info("xb", f, [RNN_SEQ, "batch", RNN_IN]),
         helper.make_tensor_value_info("lens", TensorProto.INT32, ["batch"]),
         helper.make_tensor_value_info("h0", f, [1, "batch", hid])],
        [helper.make_tensor_value_info(n, f, None) for n in
         ("lstm_y", "lstm_h", "gru_y", "gru_h", "rnn_y", "rnn_h")],
        g.inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 14)])

    def inputs(batch):
        lens = RNG.integers(0, RNN_SEQ + 1, size=batch).astype(np.int32)
        lens[0] = RNN_SEQ
        return {"x": RNG.standard_normal((RNN_SEQ, batch, RNN_IN)).astype(np.float32),
                "xb": RNG.standard_normal((RNN_SEQ, batch, RNN_IN)).astype(np.float32), "lens": lens,
                "h0": RNG.standard_normal((1, batch, hid)).astype(np.float32)}
    return model, inputs


def build_lstm_fp16():
    """An FP16 bidirectional LSTM (junction runs it on FP32 copies, rounding the outputs back). ONNX Runtime's CPU
    LSTM has no FP16 kernel, so the reference is its FP32 LSTM on the same FP16-rounded weights and inputs, its
    outputs rounded to FP16: the same arithmetic, so they agree to FP16's last place."""
    def make(dt, np_dt, wts):
        g = helper.make_graph(
            [helper.make_node("LSTM", ["x"] + [n for n, _ in wts], ["y", "y_h"], name="lstm16", hidden_size=RNN_H,
                              direction="bidirectional")],
            "lstm_fp16", [helper.make_tensor_value_info("x", dt, [RNN_SEQ, "batch", RNN_IN])],
            [helper.make_tensor_value_info("y", dt, [RNN_SEQ, 2, "batch", RNN_H]),
             helper.make_tensor_value_info("y_h", dt, [2, "batch", RNN_H])],
            [numpy_helper.from_array(a.astype(np_dt), n) for n, a in wts])
        return helper.make_model(g, opset_imports=[helper.make_opsetid("", 14)])
    wts = [(n, a.astype(np.float16).astype(np.float32)) for n, a in
           (("w", w(2, 4 * RNN_H, RNN_IN, scale=0.4)), ("r", w(2, 4 * RNN_H, RNN_H, scale=0.4)),
            ("b", w(2, 8 * RNN_H, scale=0.2)))]
    return (make(TensorProto.FLOAT16, np.float16, wts),
            lambda batch: {"x": RNG.standard_normal((RNN_SEQ, batch, RNN_IN)).astype(np.float16)},
            None, make(TensorProto.FLOAT, np.float32, wts))  # no sklearn reference; the FP32 twin ORT runs


def vision_families():
    """families_vision.py's models: MobileNetV3 block, FPN/U-Net decoder, QDQ and integer-operator CNNs,
    scikit-learn models as ai.onnx.ml, a model importing ai.onnx.ml without using it, and an opset-21 graph of the
    vision, detection, signal and quantization operators' newer forms."""
    fv = families_vision
    return [("mobilenetv3_block", fv.build_mobilenetv3()), ("fpn_unet_decoder", fv.build_fpn_unet()),
            ("qdq_cnn", fv.build_qdq_cnn()), ("qlinear_cnn", fv.build_qlinear_cnn()),
            ("sklearn_ml", fv.build_sklearn()), ("ml_import_unused", fv.build_unused_ml_import()),
            ("vision_opset21", fv.build_vision_opset21()), ("vision_opset7", fv.build_vision_opset7()),
            ("vision_opset10", fv.build_vision_opset10()), ("vision_opset11", fv.build_vision_opset11())]


# ---- driver ------------------------------------------------------------------------------------------------------

def ort_dir_or_none(argv):
    for d in (argv[2] if len(argv) > 2 else None, os.environ.get("JUNCTION_ORT_DIR"),
              os.path.join(HERE, "..", "..", ".cache", "onnxruntime", "node_modules", "onnxruntime-node")):
        if d and os.path.isfile(os.path.join(d, "package.json")):
            return os.path.abspath(d)
    return None


ORT_TYPES = {"float32": np.float32, "int64": np.int64, "int32": np.int32, "uint8": np.uint8, "int8": np.int8,
             "int16": np.int16}


def run_ort(ort_dir, model_path, feeds, workdir, as_written=False):
    spec = {n: {"type": np.dtype(a.dtype).name, "dims": list(a.shape),
                "data": base64.b64encode(np.ascontiguousarray(a).tobytes()).decode()} for n, a in feeds.items()}
    in_path, out_path = os.path.join(workdir, "in.json"), os.path.join(workdir, "out.json")
    with open(in_path, "w") as f:
        json.dump(spec, f)
    env = dict(os.environ, JN_ORT_OPT="disabled") if as_written else None
    subprocess.run(["node", os.path.join(HERE, "ort_run.js"), ort_dir, model_path, in_path, out_path], check=True,
                   env=env)
    with open(out_path) as f:
        out = json.load(f)
    return {n: np.frombuffer(base64.b64decode(o["data"]), ORT_TYPES[o["type"]]).reshape(o["dims"])
            for n, o in out.items()}


def main(argv):
    conformance = argv[1]
    ort_dir = ort_dir_or_none(argv)
    if not ort_dir:
        print("FAIL model_families: onnxruntime-node not found: run scripts/install-deps.sh --onnxruntime (or set "
              "JUNCTION_ORT_DIR); the comparison with ONNX Runtime is this test's point, so it does not pass without it")
        return 1
    root = tempfile.mkdtemp(prefix="jn-families-")
    try:
        families = [("bert_encoder", build_bert()), ("resnet_cnn", build_resnet())] + vision_families() + [
            ("lstm_bidir_2layer", build_lstm2()), ("gru_seq_lens", build_gru_lens()),
            ("if_lstm_loop", build_if_loop()), ("sequences", build_sequences()), ("scan_axes", build_scan()),
            ("rnn_variants", build_rnn_variants()), ("lstm_fp16", build_lstm_fp16())]
        for name, built in families:
            model, make_inputs = built[0], built[1]
            # an FP16 model ONNX Runtime has no kernel for brings its FP32 twin (built[3]): run that, round back
            reference = built[3] if len(built) > 3 else None
            # QDQ graphs: float operators between the quantizers, equal within one output quantum (see
            # families_vision.build_qdq_cnn); every other family within the tolerances below, integers exactly.
            d = os.path.join(root, "families_qdq" if name.startswith("qdq") else "families", name)
            os.makedirs(d)
            model_path = os.path.join(d, "model.onnx")
            with open(model_path, "wb") as f:
                f.write(model.SerializeToString())
            ref_path = os.path.join(root, name + "_reference.onnx")
            if reference is not None:
                with open(ref_path, "wb") as f:
                    f.write(reference.SerializeToString())
            for k, batch in enumerate((1, 4)):
                feeds = make_inputs(batch)
                # A QDQ graph means float operators between QuantizeLinear/DequantizeLinear; ONNX Runtime's default
                # optimizations fuse them into its integer kernels, whose rounding differs from the graph's by up to
                # 15 quanta here: compare with the graph as written.
                if reference is None:
                    outs = run_ort(ort_dir, model_path, feeds, root, as_written=name.startswith("qdq"))
                else:
                    outs = run_ort(ort_dir, ref_path, {n: a.astype(np.float32) for n, a in feeds.items()}, root)
                    outs = {n: o.astype(np.float16) for n, o in outs.items()}
                if len(built) > 2 and built[2] is not None:  # a reference of its own (sklearn): ORT must agree first
                    problem = families_vision.check_sklearn(built[2], feeds, outs, name)
                    if problem:
                        print("FAIL model_families: " + problem)
                        return 1
                ds = os.path.join(d, "test_data_set_%d" % k)
                os.makedirs(ds)
                for i, (n, a) in enumerate(feeds.items()):
                    with open(os.path.join(ds, "input_%d.pb" % i), "wb") as f:
                        f.write(numpy_helper.from_array(a, n).SerializeToString())
                for i, o in enumerate(model.graph.output):
                    with open(os.path.join(ds, "output_%d.pb" % i), "wb") as f:
                        f.write(numpy_helper.from_array(outs[o.name], o.name).SerializeToString())
        rc = subprocess.run([conformance, "--data", root, "--rtol", "1e-4", "--atol", "1e-5",
                             "--require-all", "--verbose", "families"]).returncode
        quantum = "%g" % (families_vision.QDQ_QUANTUM * 1.001)
        rc_qdq = subprocess.run([conformance, "--data", root, "--rtol", "0", "--atol", quantum,
                                 "--require-all", "--verbose", "families_qdq"]).returncode
        return rc or rc_qdq
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
