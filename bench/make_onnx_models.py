#!/usr/bin/python3
"""The ONNX benchmark's models: an MLP 784-256-10 (MatMul, Add, Relu, Gemm), a small CNN on 1x28x28 (two
Conv+Relu+MaxPool, one dense layer) and a 2-layer bidirectional LSTM (input and hidden 128, 100 steps), dynamic
batch, random weights.
usage: /usr/bin/python3 bench/make_onnx_models.py OUT_DIR   (writes mlp.onnx, cnn.onnx and lstm.onnx)"""
import os
import sys

import numpy as np
from onnx import TensorProto, helper, numpy_helper

out = sys.argv[1]
os.makedirs(out, exist_ok=True)
rng = np.random.default_rng(0)


def w(*shape):
    return (rng.standard_normal(shape) * 0.05).astype(np.float32)


def save(name, nodes, inp, outp, inits):
    g = helper.make_graph(nodes, name, [inp], [outp], [numpy_helper.from_array(a, n) for n, a in inits.items()])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
    with open(os.path.join(out, name + ".onnx"), "wb") as f:
        f.write(m.SerializeToString())


save("mlp", [helper.make_node("MatMul", ["x", "w1"], ["h0"]), helper.make_node("Add", ["h0", "b1"], ["h1"]),
             helper.make_node("Relu", ["h1"], ["h2"]), helper.make_node("Gemm", ["h2", "w2", "b2"], ["y"])],
     helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 784]),
     helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 10]),
     {"w1": w(784, 256), "b1": w(256), "w2": w(256, 10), "b2": w(10)})

save("cnn", [helper.make_node("Conv", ["x", "k1", "c1"], ["a1"], kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["a1"], ["r1"]),
             helper.make_node("MaxPool", ["r1"], ["p1"], kernel_shape=[2, 2], strides=[2, 2]),
             helper.make_node("Conv", ["p1", "k2", "c2"], ["a2"], kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["a2"], ["r2"]),
             helper.make_node("MaxPool", ["r2"], ["p2"], kernel_shape=[2, 2], strides=[2, 2]),
             helper.make_node("Flatten", ["p2"], ["f"], axis=1),
             helper.make_node("Gemm", ["f", "wd", "bd"], ["y"], transB=1)],
     helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 1, 28, 28]),
     helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 10]),
     {"k1": w(16, 1, 3, 3), "c1": w(16), "k2": w(32, 16, 3, 3), "c2": w(32), "wd": w(10, 32 * 7 * 7), "bd": w(10)})

# lstm: X [100, N, 128] -> bidirectional LSTM (hidden 128) -> [100, N, 256] -> bidirectional LSTM -> Y [100, 2, N, 128]
H = 128
nodes = [helper.make_node("LSTM", ["x", "w1", "r1", "b1"], ["y1"], hidden_size=H, direction="bidirectional"),
         helper.make_node("Transpose", ["y1"], ["t1"], perm=[0, 2, 1, 3]),
         helper.make_node("Reshape", ["t1", "s1"], ["x2"]),
         helper.make_node("LSTM", ["x2", "w2", "r2", "b2"], ["y"], hidden_size=H, direction="bidirectional")]
g = helper.make_graph(nodes, "lstm", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [100, "N", 128])],
                      [helper.make_tensor_value_info("y", TensorProto.FLOAT, [100, 2, "N", H])],
                      [numpy_helper.from_array(a, n) for n, a in
                       {"w1": w(2, 4 * H, 128), "r1": w(2, 4 * H, H), "b1": w(2, 8 * H), "s1": np.array([0, 0, 2 * H]),
                        "w2": w(2, 4 * H, 2 * H), "r2": w(2, 4 * H, H), "b2": w(2, 8 * H)}.items()])
with open(os.path.join(out, "lstm.onnx"), "wb") as f:
    f.write(helper.make_model(g, opset_imports=[helper.make_opsetid("", 14)]).SerializeToString())
