#!/usr/bin/python3
"""Writes the seed corpus of fuzz_onnx_load: small valid models over the adapter's operators, models it rejects
(unknown operator, legacy opset, foreign domain, sequence input) and a truncated one.
Usage: /usr/bin/python3 tests/fuzz/make_onnx_seeds.py OUT_DIR
The runnable ones (conv conv_bn_relu linear_relu mlp reshape slice softmax11 where typed_init) also seed
fuzz_onnx_run."""
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
put("unknown_op", [helper.make_node("Elu", ["x"], ["y"])], [vi("x", [2])], [vi("y", [2])])
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
