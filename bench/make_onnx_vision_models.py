#!/usr/bin/python3
"""bench/onnx.sh's vision models, random weights, dynamic batch:
- mobilenetv3.onnx: MobileNetV3-Small at 3x224x224 (the paper's 11 bneck blocks: depthwise 3x3/5x5, squeeze-excite
  with HardSigmoid, HardSwish; batch norms folded into the convolutions, as exporters do), 1000 classes;
- dbnet.onnx: a DBNet-style text detector at 3x640x640 (a strided convolutional backbone to 1/32, an FPN with
  lateral 1x1 convolutions, Resize nearest x2 top-down and Add, every level resized to 1/4 and concatenated, a head
  of Conv 3x3 + Relu and two ConvTranspose 2x2/2 back to full resolution, Sigmoid).
usage: /usr/bin/python3 bench/make_onnx_vision_models.py OUT_DIR"""
import os
import sys

import numpy as np
from onnx import TensorProto, helper, numpy_helper

out = sys.argv[1]
os.makedirs(out, exist_ok=True)
rng = np.random.default_rng(1)


class G:
    def __init__(self):
        self.nodes, self.inits, self.n = [], [], 0

    def init(self, a):
        self.n += 1
        name = "w%d" % self.n
        self.inits.append(numpy_helper.from_array(np.asarray(a), name))
        return name

    def op(self, t, ins, **attrs):
        self.n += 1
        o = "t%d" % self.n
        self.nodes.append(helper.make_node(t, ins, [o], name="n%d" % self.n, **attrs))
        return o

    def conv(self, x, cin, cout, k, s=1, group=1, act=None):
        fan_in = cin // group * k * k
        wt = (rng.standard_normal((cout, cin // group, k, k)) * np.sqrt(2.0 / fan_in)).astype(np.float32)
        y = self.op("Conv", [x, self.init(wt), self.init((rng.standard_normal(cout) * 0.05).astype(np.float32))],
                    kernel_shape=[k, k], strides=[s, s], pads=[k // 2] * 4, group=group)
        if act == "RE":
            y = self.op("Relu", [y])
        elif act == "HS":
            y = self.op("HardSwish", [y])
        return y

    def save(self, name, inp, outp, shape_in, shape_out):
        g = helper.make_graph(self.nodes, name, [helper.make_tensor_value_info(inp, TensorProto.FLOAT, shape_in)],
                              [helper.make_tensor_value_info(outp, TensorProto.FLOAT, shape_out)], self.inits)
        m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
        with open(os.path.join(out, name + ".onnx"), "wb") as f:
            f.write(m.SerializeToString())


def mobilenetv3():
    g = G()
    x = g.conv("image", 3, 16, 3, 2, act="HS")
    cin = 16
    # (kernel, expansion, out, squeeze-excite, nonlinearity, stride): MobileNetV3-Small
    for k, exp, cout, se, nl, s in [(3, 16, 16, 1, "RE", 2), (3, 72, 24, 0, "RE", 2), (3, 88, 24, 0, "RE", 1),
                                    (5, 96, 40, 1, "HS", 2), (5, 240, 40, 1, "HS", 1), (5, 240, 40, 1, "HS", 1),
                                    (5, 120, 48, 1, "HS", 1), (5, 144, 48, 1, "HS", 1), (5, 288, 96, 1, "HS", 2),
                                    (5, 576, 96, 1, "HS", 1), (5, 576, 96, 1, "HS", 1)]:
        h = g.conv(x, cin, exp, 1, act=nl) if exp != cin else x
        h = g.conv(h, exp, exp, k, s, group=exp, act=nl)
        if se:
            sq = g.op("GlobalAveragePool", [h])
            sq = g.conv(sq, exp, max(8, exp // 4), 1, act="RE")
            sq = g.op("HardSigmoid", [g.conv(sq, max(8, exp // 4), exp, 1)], alpha=1.0 / 6, beta=0.5)
            h = g.op("Mul", [h, sq])
        h = g.conv(h, exp, cout, 1)
        x = g.op("Add", [x, h]) if s == 1 and cin == cout else h
        cin = cout
    x = g.conv(x, cin, 576, 1, act="HS")
    x = g.op("Flatten", [g.op("GlobalAveragePool", [x])], axis=1)
    x = g.op("HardSwish", [g.op("Gemm", [x, g.init((rng.standard_normal((1024, 576)) * 0.04).astype(np.float32)),
                                         g.init(np.zeros(1024, np.float32))], transB=1)])
    g.nodes.append(helper.make_node("Gemm", [x, g.init((rng.standard_normal((1000, 1024)) * 0.03).astype(np.float32)),
                                             g.init(np.zeros(1000, np.float32))], ["logits"], name="fc", transB=1))
    g.save("mobilenetv3", "image", "logits", ["N", 3, 224, 224], ["N", 1000])


def dbnet():
    g = G()
    x = g.conv("image", 3, 16, 3, 2, act="RE")       # 1/2
    c2 = g.conv(g.conv(x, 16, 24, 3, 2, act="RE"), 24, 24, 3, act="RE")     # 1/4
    c3 = g.conv(g.conv(c2, 24, 40, 3, 2, act="RE"), 40, 40, 3, act="RE")    # 1/8
    c4 = g.conv(g.conv(c3, 40, 96, 3, 2, act="RE"), 96, 96, 3, act="RE")    # 1/16
    c5 = g.conv(c4, 96, 160, 3, 2, act="RE")                                  # 1/32
    lat = [g.conv(c, ch, 64, 1) for c, ch in ((c2, 24), (c3, 40), (c4, 96), (c5, 160))]
    two = g.init(np.array([1, 1, 2, 2], np.float32))
    p5 = lat[3]
    p4 = g.op("Add", [lat[2], g.op("Resize", [p5, "", two], mode="nearest")])
    p3 = g.op("Add", [lat[1], g.op("Resize", [p4, "", two], mode="nearest")])
    p2 = g.op("Add", [lat[0], g.op("Resize", [p3, "", two], mode="nearest")])
    outs = []
    for p, f in ((p5, 8), (p4, 4), (p3, 2), (p2, 1)):
        q = g.conv(p, 64, 16, 3)
        if f > 1:
            q = g.op("Resize", [q, "", g.init(np.array([1, 1, f, f], np.float32))], mode="nearest")
        outs.append(q)
    fuse = g.op("Concat", outs, axis=1)
    h = g.conv(fuse, 64, 16, 3, act="RE")
    h = g.op("Relu", [g.op("ConvTranspose", [h, g.init((rng.standard_normal((16, 16, 2, 2)) * 0.2).astype(np.float32)),
                                             g.init(np.zeros(16, np.float32))], kernel_shape=[2, 2], strides=[2, 2])])
    h = g.op("ConvTranspose", [h, g.init((rng.standard_normal((16, 1, 2, 2)) * 0.2).astype(np.float32)),
                               g.init(np.zeros(1, np.float32))], kernel_shape=[2, 2], strides=[2, 2])
    g.nodes.append(helper.make_node("Sigmoid", [h], ["prob"], name="prob"))
    g.save("dbnet", "image", "prob", ["N", 3, 640, 640], ["N", 1, 640, 640])


mobilenetv3()
dbnet()
