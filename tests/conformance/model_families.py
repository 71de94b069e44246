#!/usr/bin/python3
"""The model families users bring, checked against ONNX Runtime.

Builds with python3-onnx's helper a BERT-style encoder (token-embedding Gather, multi-head attention from
MatMul/Reshape/Transpose/Softmax with an attention mask, LayerNormalization, GELU through Erf, a classification
head on the first token) and a ResNet-style CNN (a Conv + Relu stem, Conv + BatchNormalization + residual Add, a
strided block with a 1x1 projection, GlobalAveragePool, Gemm + Relu, Gemm), both with a dynamic batch dimension.
Between them they cover the adapter's fusions (MatMul + bias Add, Relu into Conv, Gemm and MatMul). Runs each on random inputs at two
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
        families = [("bert_encoder", build_bert()), ("resnet_cnn", build_resnet())] + vision_families()
        for name, built in families:
            model, make_inputs = built[0], built[1]
            # QDQ graphs: float operators between the quantizers, equal within one output quantum (see
            # families_vision.build_qdq_cnn); every other family within the tolerances below, integers exactly.
            d = os.path.join(root, "families_qdq" if name.startswith("qdq") else "families", name)
            os.makedirs(d)
            model_path = os.path.join(d, "model.onnx")
            with open(model_path, "wb") as f:
                f.write(model.SerializeToString())
            for k, batch in enumerate((1, 4)):
                feeds = make_inputs(batch)
                # A QDQ graph means float operators between QuantizeLinear/DequantizeLinear; ONNX Runtime's default
                # optimizations fuse them into its integer kernels, whose rounding differs from the graph's by up to
                # 15 quanta here: compare with the graph as written.
                outs = run_ort(ort_dir, model_path, feeds, root, as_written=name.startswith("qdq"))
                if len(built) > 2:  # the model has a reference of its own (sklearn): ONNX Runtime must agree first
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
