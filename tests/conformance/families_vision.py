"""Model families for vision, detection, quantized and scikit-learn models (imported by model_families.py).

Each builder returns (model, make_inputs(batch)) like model_families.py's own, built with python3-onnx's helper:
- mobilenetv3_block: a MobileNetV3 inverted-residual block (1x1 expand + HardSwish, depthwise 3x3 + HardSwish,
  squeeze-excite with Relu and HardSigmoid, 1x1 project, residual Add), then a HardSwish head;
- fpn_unet_decoder: a strided encoder, an FPN top-down path (lateral 1x1 convs, Resize nearest x2 and Resize linear
  to the lateral's size, Add) and a U-Net step (ConvTranspose 2x2/2, Concat with the skip, Conv), Pad reflect in the
  head;
- qdq_cnn: QuantizeLinear/DequantizeLinear around Conv, Relu, Add, MaxPool and MatMul with per-channel INT8 weights,
  the output quantized to UINT8 and dequantized (compared within one quantum: the float operators between the
  quantizers sum in another order in ONNX Runtime, and a sum within rounding of a boundary may quantize either way);
- qlinear_cnn: the same idea as integer operators: QLinearConv (per-channel weight scales), ConvInteger,
  QLinearMatMul, MatMulInteger (UINT8 / INT32 outputs, compared exactly);
- sklearn_ml: scikit-learn models (StandardScaler, multinomial LogisticRegression, RandomForestRegressor,
  DecisionTreeClassifier, a binary GradientBoostingClassifier) trained on iris with python3-sklearn, written as ai.onnx.ml nodes from their fitted
  parameters; check_sklearn() compares ONNX Runtime's answers with sklearn's predictions before the adapter is
  compared with ONNX Runtime.
"""
import numpy as np
from onnx import TensorProto, helper

RNG = np.random.default_rng(15)


def w(*shape, scale=0.3):
    return (RNG.standard_normal(shape) * scale).astype(np.float32)


class G:
    """Nodes and initializers with generated names (as model_families.Graph, kept separate to stay importable)."""

    def __init__(self):
        self.nodes, self.inits, self.n = [], [], 0

    def init(self, arr):
        from onnx import numpy_helper
        self.n += 1
        name = "c%d" % self.n
        self.inits.append(numpy_helper.from_array(np.asarray(arr), name))
        return name

    def op(self, op_type, inputs, outputs=1, domain=None, **attrs):
        self.n += 1
        outs = ["%s_%d_%d" % (op_type.lower(), self.n, i) for i in range(outputs)]
        kw = {"domain": domain} if domain else {}
        self.nodes.append(helper.make_node(op_type, inputs, outs, name="%s_%d" % (op_type, self.n), **kw, **attrs))
        return outs[0] if outputs == 1 else outs


def conv(g, x, c_in, c_out, k, stride=1, group=1, bias=True):
    ins = [x, g.init(w(c_out, c_in // group, k, k, scale=np.sqrt(2.0 / (c_in // group * k * k))))]
    if bias:
        ins.append(g.init(w(c_out, scale=0.1)))
    return g.op("Conv", ins, kernel_shape=[k, k], strides=[stride, stride], pads=[k // 2] * 4, group=group)


# ---- MobileNetV3 block -------------------------------------------------------------------------------------------

def build_mobilenetv3(size=16, channels=16, expand=48):
    g = G()
    x = g.op("HardSwish", [conv(g, "image", 3, channels, 3, stride=2)])
    h = g.op("HardSwish", [conv(g, x, channels, expand, 1)])
    h = g.op("HardSwish", [conv(g, h, expand, expand, 3, group=expand)])
    s = g.op("GlobalAveragePool", [h])
    s = g.op("Relu", [conv(g, s, expand, expand // 4, 1)])
    s = g.op("HardSigmoid", [conv(g, s, expand // 4, expand, 1)], alpha=1.0 / 6, beta=0.5)
    h = g.op("Mul", [h, s])
    x = g.op("Add", [x, conv(g, h, expand, channels, 1)])
    x = g.op("HardSwish", [conv(g, x, channels, 64, 1)])
    x = g.op("Flatten", [g.op("GlobalAveragePool", [x])], axis=1)
    g.nodes.append(helper.make_node("Gemm", [x, g.init(w(10, 64)), g.init(w(10, scale=0.1))], ["logits"],
                                    name="fc", transB=1))
    graph = helper.make_graph(g.nodes, "mobilenetv3_block",
                              [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["N", 3, size, size])],
                              [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", 10])], g.inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    return model, lambda batch: {"image": RNG.standard_normal((batch, 3, size, size)).astype(np.float32)}


# ---- FPN / U-Net decoder -----------------------------------------------------------------------------------------

def build_fpn_unet(size=32):
    g = G()
    c1 = g.op("Relu", [conv(g, "image", 3, 8, 3, stride=2)])      # /2
    c2 = g.op("Relu", [conv(g, c1, 8, 16, 3, stride=2)])          # /4
    c3 = g.op("Relu", [conv(g, c2, 16, 32, 3, stride=2)])         # /8
    p3 = conv(g, c3, 32, 16, 1)
    up = g.op("Resize", [p3, "", g.init(np.array([1, 1, 2, 2], np.float32))], mode="nearest",
              coordinate_transformation_mode="asymmetric", nearest_mode="floor")
    p2 = g.op("Add", [conv(g, c2, 16, 16, 1), up])
    # linear Resize to the lateral's size, read from its shape (as exporters write F.interpolate(size=...))
    size1 = g.op("Slice", [g.op("Shape", [c1]), g.init(np.array([2], np.int64)), g.init(np.array([4], np.int64))])
    sizes = g.op("Concat", [g.init(np.array([0, 16], np.int64)), size1], axis=0)
    sizes = g.op("Add", [sizes, g.op("Mul", [g.op("Shape", [c1]), g.init(np.array([1, 0, 0, 0], np.int64))])])
    up1 = g.op("Resize", [p2, "", "", sizes], mode="linear", coordinate_transformation_mode="half_pixel")
    # U-Net step: transposed conv from p2 and concat with the skip
    t = g.op("ConvTranspose", [p2, g.init(w(16, 8, 2, 2, scale=0.3)), g.init(w(8, scale=0.1))],
             kernel_shape=[2, 2], strides=[2, 2])
    u = g.op("Relu", [conv(g, g.op("Concat", [t, c1, up1], axis=1), 32, 16, 3)])
    u = g.op("Pad", [u, g.init(np.array([0, 0, 1, 1, 0, 0, 1, 1], np.int64))], mode="reflect")
    u = g.op("Conv", [u, g.init(w(4, 16, 3, 3, scale=0.2)), g.init(w(4, scale=0.1))], kernel_shape=[3, 3])
    g.nodes.append(helper.make_node("Resize", [u, "", g.init(np.array([1, 1, 2, 2], np.float32))], ["mask"],
                                    name="head_up", mode="cubic", coordinate_transformation_mode="pytorch_half_pixel"))
    graph = helper.make_graph(g.nodes, "fpn_unet",
                              [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["N", 3, size, size])],
                              [helper.make_tensor_value_info("mask", TensorProto.FLOAT, None)], g.inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    return model, lambda batch: {"image": RNG.standard_normal((batch, 3, size, size)).astype(np.float32)}


# ---- QDQ CNN ----
QDQ_QUANTUM = 0.05  # the output's scale-------------------------------------------------------------------------------------------------

def qdq(g, x, scale, zp):
    s, z = g.init(np.array(scale, np.float32)), g.init(np.array(zp, np.uint8))
    return g.op("DequantizeLinear", [g.op("QuantizeLinear", [x, s, z]), s, z])


def qweight(g, c_out, c_in, k):
    wf = w(c_out, c_in, k, k, scale=0.4)
    sc = (np.abs(wf).reshape(c_out, -1).max(axis=1) / 127).astype(np.float32)
    wq = np.clip(np.rint(wf / sc[:, None, None, None]), -127, 127).astype(np.int8)
    return g.op("DequantizeLinear", [g.init(wq), g.init(sc), g.init(np.zeros(c_out, np.int8))], axis=0)


def build_qdq_cnn(size=12):
    g = G()
    x = qdq(g, "image", 0.02, 128)
    y = g.op("Conv", [x, qweight(g, 8, 3, 3), g.init(w(8, scale=0.1))], kernel_shape=[3, 3], pads=[1] * 4)
    y = qdq(g, g.op("Relu", [y]), 0.01, 0)
    z = g.op("Conv", [y, qweight(g, 8, 8, 3), g.init(w(8, scale=0.1))], kernel_shape=[3, 3], pads=[1] * 4)
    z = qdq(g, g.op("Relu", [qdq(g, g.op("Add", [qdq(g, z, 0.02, 128), y]), 0.02, 128)]), 0.01, 0)
    z = qdq(g, g.op("MaxPool", [z], kernel_shape=[2, 2], strides=[2, 2]), 0.01, 0)
    f = g.op("Flatten", [z], axis=1)
    n_in = 8 * (size // 2) ** 2
    wm = np.clip(np.rint(w(n_in, 10, scale=0.1) / 0.002), -127, 127).astype(np.int8)
    wd = g.op("DequantizeLinear", [g.init(wm), g.init(np.array(0.002, np.float32)), g.init(np.array(0, np.int8))])
    logits = g.op("MatMul", [f, wd])
    # The output is the dequantized UINT8 logits: the float sums between QuantizeLinear/DequantizeLinear may land
    # either side of a rounding boundary in another implementation, so the driver compares it within one quantum.
    s_out, z_out = g.init(np.array(QDQ_QUANTUM, np.float32)), g.init(np.array(128, np.uint8))
    g.nodes.append(helper.make_node("DequantizeLinear", [g.op("QuantizeLinear", [logits, s_out, z_out]), s_out,
                                                         z_out], ["logits"], name="out_dq"))
    graph = helper.make_graph(g.nodes, "qdq_cnn",
                              [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["N", 3, size, size])],
                              [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", 10])], g.inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    return model, lambda batch: {"image": RNG.uniform(-2, 2, (batch, 3, size, size)).astype(np.float32)}


# ---- integer-operator CNN ----------------------------------------------------------------------------------------

def build_qlinear_cnn(size=10):
    g = G()
    xs, xz = g.init(np.array(0.02, np.float32)), g.init(np.array(128, np.uint8))
    xq = g.op("QuantizeLinear", ["image", xs, xz])
    w1 = RNG.integers(-60, 60, (8, 3, 3, 3)).astype(np.int8)
    ws1 = (RNG.uniform(0.002, 0.01, 8)).astype(np.float32)
    ys, yz = g.init(np.array(0.05, np.float32)), g.init(np.array(100, np.uint8))
    b1 = RNG.integers(-500, 500, 8).astype(np.int32)
    y1 = g.op("QLinearConv", [xq, xs, xz, g.init(w1), g.init(ws1), g.init(np.zeros(8, np.int8)), ys, yz, g.init(b1)],
              kernel_shape=[3, 3], pads=[1, 1, 1, 1])
    w2 = RNG.integers(0, 255, (4, 8, 3, 3)).astype(np.uint8)
    g.nodes.append(helper.make_node("ConvInteger", [y1, g.init(w2), yz, g.init(np.array(120, np.uint8))],
                                    ["conv_int"], name="conv_int", kernel_shape=[3, 3], strides=[2, 2]))
    f = g.op("Flatten", [y1], axis=1)
    n_in = 8 * size * size
    wm = RNG.integers(0, 255, (n_in, 6)).astype(np.uint8)
    g.nodes.append(helper.make_node("QLinearMatMul", [f, ys, yz, g.init(wm), g.init(np.array(0.001, np.float32)),
                                                      g.init(np.array(128, np.uint8)),
                                                      g.init(np.array(0.5, np.float32)),
                                                      g.init(np.array(128, np.uint8))], ["qmm"], name="qmm"))
    g.nodes.append(helper.make_node("MatMulInteger", [f, g.init(wm), yz, g.init(np.array(128, np.uint8))],
                                    ["mm_int"], name="mm_int"))
    graph = helper.make_graph(g.nodes, "qlinear_cnn",
                              [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["N", 3, size, size])],
                              [helper.make_tensor_value_info("conv_int", TensorProto.INT32, None),
                               helper.make_tensor_value_info("qmm", TensorProto.UINT8, None),
                               helper.make_tensor_value_info("mm_int", TensorProto.INT32, None)], g.inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    return model, lambda batch: {"image": RNG.uniform(-2, 2, (batch, 3, size, size)).astype(np.float32)}


# ---- scikit-learn models as ai.onnx.ml -----------------------------------------------------------------------

def _tree_attrs(trees, prefix, value_of):
    """nodes_* attributes of sklearn trees, and the leaf weights as (tree, node, id, weight) rows."""
    a = {k: [] for k in ("nodes_treeids", "nodes_nodeids", "nodes_featureids", "nodes_values", "nodes_modes",
                         "nodes_truenodeids", "nodes_falsenodeids")}
    leaves = []
    for t, est in enumerate(trees):
        tr = est.tree_
        for i in range(tr.node_count):
            leaf = tr.children_left[i] == -1
            a["nodes_treeids"].append(t)
            a["nodes_nodeids"].append(i)
            a["nodes_featureids"].append(0 if leaf else int(tr.feature[i]))
            a["nodes_values"].append(0.0 if leaf else float(np.float32(tr.threshold[i])))
            a["nodes_modes"].append("LEAF" if leaf else "BRANCH_LEQ")
            a["nodes_truenodeids"].append(0 if leaf else int(tr.children_left[i]))
            a["nodes_falsenodeids"].append(0 if leaf else int(tr.children_right[i]))
            if leaf:
                for k, v in value_of(tr, i):
                    leaves.append((t, i, k, v))
    a[prefix + "_treeids"] = [r[0] for r in leaves]
    a[prefix + "_nodeids"] = [r[1] for r in leaves]
    a[prefix + "_ids"] = [r[2] for r in leaves]
    a[prefix + "_weights"] = [r[3] for r in leaves]
    return a


def build_sklearn():
    from sklearn.datasets import load_iris
    from sklearn.ensemble import GradientBoostingClassifier, RandomForestRegressor
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler
    from sklearn.tree import DecisionTreeClassifier

    X, y = load_iris(return_X_y=True)
    X = X.astype(np.float32)
    scaler = StandardScaler().fit(X)
    Xs = scaler.transform(X)
    logreg = LogisticRegression(max_iter=500).fit(Xs, y)
    forest = RandomForestRegressor(n_estimators=4, max_depth=4, random_state=0).fit(X, X[:, 3])
    tree = DecisionTreeClassifier(max_depth=3, random_state=0).fit(X, y)
    gboost = GradientBoostingClassifier(n_estimators=5, max_depth=2, random_state=0).fit(X, (y == 2).astype(int))

    g = G()
    ml = "ai.onnx.ml"
    xs = g.op("Scaler", ["x"], domain=ml, offset=scaler.mean_.astype(np.float32).tolist(),
              scale=(1 / scaler.scale_).astype(np.float32).tolist())
    g.nodes.append(helper.make_node("LinearClassifier", [xs], ["lr_label", "lr_probs"], name="logreg", domain=ml,
                                    coefficients=logreg.coef_.astype(np.float32).ravel().tolist(),
                                    intercepts=logreg.intercept_.astype(np.float32).tolist(),
                                    classlabels_ints=[0, 1, 2], post_transform="SOFTMAX", multi_class=1))
    n_trees = len(forest.estimators_)
    ra = _tree_attrs(forest.estimators_, "target",
                     lambda tr, i: [(0, float(tr.value[i][0][0]) / n_trees)])
    g.nodes.append(helper.make_node("TreeEnsembleRegressor", ["x"], ["rf_pred"], name="forest", domain=ml,
                                    n_targets=1, aggregate_function="SUM", **ra))

    def class_fracs(tr, i):
        v = tr.value[i][0]
        return [(k, float(v[k] / v.sum())) for k in range(len(v))]
    ca = _tree_attrs([tree], "class", class_fracs)
    g.nodes.append(helper.make_node("TreeEnsembleClassifier", ["x"], ["dt_label", "dt_probs"], name="tree",
                                    domain=ml, classlabels_int64s=[0, 1, 2], **ca))
    # binary gradient boosting (setosa or not): one score column, log-odds prior in base_values, LOGISTIC
    gb_trees = [e[0] for e in gboost.estimators_]
    ga = _tree_attrs(gb_trees, "class", lambda tr, i: [(0, float(tr.value[i][0][0]) * gboost.learning_rate)])
    p1 = float(np.mean(y == 2))
    prior = float(np.log(p1 / (1 - p1)))  # the log-odds of the class prior, sklearn's initial estimate
    g.nodes.append(helper.make_node("TreeEnsembleClassifier", ["x"], ["gb_label", "gb_probs"], name="gboost",
                                    domain=ml, classlabels_int64s=[0, 1], post_transform="LOGISTIC",
                                    base_values=[prior], **ga))
    sel = g.op("ArrayFeatureExtractor", ["x", g.init(np.array([3, 1], np.int64))], domain=ml)
    g.nodes.append(helper.make_node("Normalizer", [sel], ["norm"], name="norm", domain=ml, norm="L2"))
    outs = [helper.make_tensor_value_info("lr_label", TensorProto.INT64, ["N"]),
            helper.make_tensor_value_info("lr_probs", TensorProto.FLOAT, ["N", 3]),
            helper.make_tensor_value_info("rf_pred", TensorProto.FLOAT, ["N", 1]),
            helper.make_tensor_value_info("dt_label", TensorProto.INT64, ["N"]),
            helper.make_tensor_value_info("dt_probs", TensorProto.FLOAT, ["N", 3]),
            helper.make_tensor_value_info("norm", TensorProto.FLOAT, ["N", 2]),
            helper.make_tensor_value_info("gb_label", TensorProto.INT64, ["N"]),
            helper.make_tensor_value_info("gb_probs", TensorProto.FLOAT, ["N", 2])]
    graph = helper.make_graph(g.nodes, "sklearn_iris", [helper.make_tensor_value_info("x", TensorProto.FLOAT,
                                                                                       ["N", 4])], outs, g.inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid(ml, 3)])
    model.ir_version = 8

    def inputs(batch):
        return {"x": X[RNG.choice(len(X), batch, replace=False)] + RNG.normal(0, 0.05, (batch, 4)).astype(np.float32)}

    def expected(feeds):
        x = feeds["x"]
        nx = x[:, [3, 1]] / np.linalg.norm(x[:, [3, 1]], axis=1, keepdims=True)
        return {"lr_label": logreg.predict(scaler.transform(x)), "lr_probs": logreg.predict_proba(scaler.transform(x)),
                "rf_pred": forest.predict(x)[:, None], "dt_label": tree.predict(x), "dt_probs": tree.predict_proba(x),
                "norm": nx, "gb_label": gboost.predict(x), "gb_probs": gboost.predict_proba(x)}
    return model, inputs, expected


def build_unused_ml_import():
    """A model importing ai.onnx.ml (as exporters do) whose nodes are all default-domain."""
    g = G()
    g.nodes.append(helper.make_node("Softmax", [g.op("Gemm", ["x", g.init(w(3, 4)), g.init(w(3))], transB=1)],
                                    ["y"], name="softmax", axis=-1))
    graph = helper.make_graph(g.nodes, "ml_import_unused",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 3])], g.inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17),
                                                    helper.make_opsetid("ai.onnx.ml", 3)])
    return model, lambda batch: {"x": RNG.standard_normal((batch, 4)).astype(np.float32)}


def check_sklearn(expected, feeds, outs, name):
    """ONNX Runtime's answers must be sklearn's (labels exactly, scores within 1e-5); the adapter is then compared
    with ONNX Runtime by onnx_conformance. Returns an error message or None."""
    for k, want in expected(feeds).items():
        got = outs[k]
        if want.dtype.kind in "iu":
            if not np.array_equal(got.astype(np.int64), want.astype(np.int64)):
                return "%s: ONNX Runtime's %s %s differs from sklearn's %s" % (name, k, got, want)
        elif not np.allclose(got, want, rtol=1e-4, atol=1e-5):
            return "%s: ONNX Runtime's %s differs from sklearn's (max %g)" % (name, k, np.abs(got - want).max())
    return None


# ---- newer opsets: Resize 19, Pad 19, GridSample 20, DFT 20, Col2Im/CenterCropPad/LpPool 18, ... -----------------

def build_vision_opset21():
    """One opset-21 graph whose outputs exercise what the 1.12 test data cannot: Resize with antialias (linear and
    cubic), axes, keep_aspect_ratio_policy and half_pixel_symmetric; Pad wrap with axes; GridSample's opset-20 mode
    names; DFT with its axis as an input; Col2Im, CenterCropPad, LpPool with dilations and ceil_mode, GroupNorm's
    per-channel scale (21), MaxPool's Indices in column-major order and MaxUnpool with an output shape, RoiAlign."""
    g = G()
    outs = []

    def out(name, node_type, ins, **attrs):
        g.nodes.append(helper.make_node(node_type, ins, [name], name=name, **attrs))
        outs.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, None))

    f32 = lambda *v: g.init(np.array(v, np.float32))
    i64 = lambda *v: g.init(np.array(v, np.int64))
    out("rz_aa_linear", "Resize", ["x", "", f32(1, 1, 0.6, 0.4)], mode="linear", antialias=1)
    out("rz_aa_cubic", "Resize", ["x", "", f32(1, 1, 0.5, 0.7)], mode="cubic", antialias=1, cubic_coeff_a=-0.5)
    out("rz_axes_aspect", "Resize", ["x", "", "", i64(5, 12)], mode="linear", axes=[2, 3],
        keep_aspect_ratio_policy="not_larger")
    out("rz_axes_smaller", "Resize", ["x", "", "", i64(5, 12)], mode="nearest", axes=[3, 2],
        keep_aspect_ratio_policy="not_smaller")
    out("rz_symmetric", "Resize", ["x", "", f32(1, 1, 1.7, 0.65)], mode="linear",
        coordinate_transformation_mode="half_pixel_symmetric")
    out("rz_crop_axes", "Resize", ["x", f32(0.1, 0.2, 0.8, 1.1), "", i64(6, 5)], mode="cubic", axes=[2, 3],
        coordinate_transformation_mode="tf_crop_and_resize", extrapolation_value=-1.0)
    out("pad_wrap", "Pad", ["x", i64(2, -1, 1, 3), "", i64(2, 3)], mode="wrap")
    out("pad_edge", "Pad", ["x", i64(0, 1, 2, 0, 0, 2, 1, 1)], mode="edge")
    out("gs_linear", "GridSample", ["x", "grid"], mode="linear", padding_mode="border", align_corners=1)
    out("gs_cubic", "GridSample", ["x", "grid"], mode="cubic", padding_mode="reflection")
    out("gs_nearest", "GridSample", ["x", "grid"], mode="nearest", padding_mode="zeros")
    sig = g.op("Reshape", ["x", i64(0, 4, 64, 1)])
    scalar = lambda v: g.init(np.array(v, np.int64))
    out("dft_axis", "DFT", [sig, "", scalar(2)], onesided=1)
    out("dft_inverse", "DFT", [sig, scalar(10), scalar(1)], inverse=1)
    cols = g.op("Reshape", ["x", i64(0, 16, 16)])
    out("col2im", "Col2Im", [cols, i64(5, 5), i64(2, 2)], strides=[1, 1], pads=[0, 0, 0, 0])
    out("ccp", "CenterCropPad", ["x", i64(5, 11)], axes=[2, 3])
    out("lppool", "LpPool", ["x"], kernel_shape=[2, 3], p=3, dilations=[2, 1], ceil_mode=1, strides=[2, 2])
    out("groupnorm", "GroupNormalization", ["x", g.init(w(4) + 1), g.init(w(4))], num_groups=2, epsilon=1e-3)
    out("lpnorm", "LpNormalization", ["x"], axis=1, p=1)
    out("instnorm", "InstanceNormalization", ["x", g.init(w(4) + 1), g.init(w(4))])
    mp, ind = g.op("MaxPool", ["x"], outputs=2, kernel_shape=[2, 2], strides=[2, 2], storage_order=1)
    out("unpool", "MaxUnpool", [mp, g.op("MaxPool", ["x"], outputs=2, kernel_shape=[2, 2], strides=[2, 2])[1],
                                g.op("Shape", ["x"])], kernel_shape=[2, 2], strides=[2, 2])
    g.nodes.append(helper.make_node("Identity", [ind], ["mp_indices"], name="mp_indices"))
    outs.append(helper.make_tensor_value_info("mp_indices", TensorProto.INT64, None))
    rois = g.init(np.array([[0.5, 0.5, 6.2, 5.1], [1, 2, 3, 7]], np.float32))
    out("roialign", "RoiAlign", ["x", rois, i64(0, 0)], output_height=3, output_width=2, sampling_ratio=2,
        spatial_scale=0.9)
    out("lrn", "LRN", ["x"], size=3, alpha=1e-2, beta=0.6, bias=1.5)
    out("d2s", "DepthToSpace", ["x"], blocksize=2, mode="CRD")
    out("tile", "Tile", ["x", i64(1, 1, 2, 1)])
    # quantization at opset 21: blocked DequantizeLinear, per-axis INT16 QuantizeLinear
    wq = RNG.integers(-100, 100, (4, 6)).astype(np.int8)
    out("dq_blocked", "DequantizeLinear", [g.init(wq), g.init(RNG.uniform(0.01, 0.1, (4, 3)).astype(np.float32)),
                                           g.init(RNG.integers(-5, 5, (4, 3)).astype(np.int8))], axis=1, block_size=2)
    q16 = g.op("QuantizeLinear", ["x", g.init(np.array([0.001, 0.002, 0.003, 0.004], np.float32)),
                                  g.init(np.array([7, -3, 0, 100], np.int16))], axis=1)
    out("q16_back", "DequantizeLinear", [q16, g.init(np.array([0.001, 0.002, 0.003, 0.004], np.float32)),
                                         g.init(np.array([7, -3, 0, 100], np.int16))], axis=1)
    # FP16 through the quantizers (opset 19+ allows FP16 x and scales)
    h = g.op("Cast", ["x"], to=TensorProto.FLOAT16)
    hs = g.init(np.array(0.02, np.float16))
    qh = g.op("QuantizeLinear", [h, hs, g.init(np.array(3, np.int8))])
    out("q_fp16_back", "Cast", [g.op("DequantizeLinear", [qh, hs, g.init(np.array(3, np.int8))])],
        to=TensorProto.FLOAT)
    # detection and audio front ends
    flat = g.op("Reshape", ["x", i64(1, 1, 256)])
    g.nodes.append(helper.make_node("TopK", [flat, i64(5)], ["topk_small", "topk_idx"], name="topk", largest=0))
    outs += [helper.make_tensor_value_info("topk_small", TensorProto.FLOAT, None),
             helper.make_tensor_value_info("topk_idx", TensorProto.INT64, None)]
    boxes = g.op("Reshape", [g.op("Slice", ["x", i64(0), i64(2), i64(1)]), i64(1, 32, 4)])
    scores = g.op("Reshape", [g.op("Slice", ["x", i64(2), i64(4), i64(1)]), i64(1, 4, 32)])
    g.nodes.append(helper.make_node("NonMaxSuppression", [boxes, scores, i64(3), f32(0.3), f32(-0.5)], ["nms"],
                                    name="nms", center_point_box=1))
    outs.append(helper.make_tensor_value_info("nms", TensorProto.INT64, None))
    audio = g.op("Reshape", ["x", i64(2, 128, 1)])
    win = g.op("HannWindow", [g.init(np.array(32, np.int64))], periodic=1)
    out("stft", "STFT", [audio, g.init(np.array(16, np.int64)), win])
    out("blackman", "BlackmanWindow", [g.init(np.array(10, np.int64))], periodic=0)
    out("mel", "MelWeightMatrix", [g.init(np.array(8, np.int64)), g.init(np.array(64, np.int64)),
                                   g.init(np.array(16000, np.int64)), g.init(np.array(50.0, np.float32)),
                                   g.init(np.array(7000.0, np.float32))])
    graph = helper.make_graph(g.nodes, "vision_opset21",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4, 8, 8]),
                               helper.make_tensor_value_info("grid", TensorProto.FLOAT, [1, 5, 6, 2])],
                              outs, g.inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 21)])
    model.ir_version = 10

    def inputs(batch):
        del batch  # fixed shapes (RoiAlign's batch indices name image 0)
        return {"x": RNG.standard_normal((1, 4, 8, 8)).astype(np.float32),
                "grid": RNG.uniform(-1.3, 1.3, (1, 5, 6, 2)).astype(np.float32)}
    return model, inputs


# ---- older opsets: the attribute forms exporters still write -----------------------------------------------------

def _old_model(name, opset, build):
    g = G()
    outs = []

    def out(oname, node_type, ins, dtype=TensorProto.FLOAT, **attrs):
        g.nodes.append(helper.make_node(node_type, ins, [oname], name=oname, **attrs))
        outs.append(helper.make_tensor_value_info(oname, dtype, None))
    build(g, out)
    graph = helper.make_graph(g.nodes, name, [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4, 6, 6])],
                              outs, g.inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 5 if opset < 11 else 7
    return model, lambda batch: {"x": RNG.standard_normal((1, 4, 6, 6)).astype(np.float32)}


def build_vision_opset7():
    """Opset 7: Upsample with scales as an attribute, Pad-2 (pads and value attributes), TopK-1 (k attribute)."""
    def body(g, out):
        out("up_nearest", "Upsample", ["x"], mode="nearest", scales=[1.0, 1.0, 2.0, 3.0])
        out("up_linear", "Upsample", ["x"], mode="linear", scales=[1.0, 1.0, 1.5, 2.0])
        out("pad2_const", "Pad", ["x"], mode="constant", pads=[0, 0, 1, 2, 0, 1, 0, 1], value=1.5)
        out("pad2_reflect", "Pad", ["x"], mode="reflect", pads=[0, 0, 2, 1, 0, 0, 1, 3])
        out("pad2_edge", "Pad", ["x"], mode="edge", pads=[0, 1, 0, 2, 0, 0, 3, 0])
        g.nodes.append(helper.make_node("TopK", ["x"], ["topk1", "topk1_i"], name="topk1", k=3, axis=2))
        out("d2s", "DepthToSpace", ["x"], blocksize=2)
        out("s2d", "SpaceToDepth", ["x"], blocksize=3)
        out("gmp", "GlobalMaxPool", ["x"])
        out("lppool2", "LpPool", ["x"], kernel_shape=[3, 2], p=2, strides=[1, 2], pads=[1, 0, 1, 1])
        out("instnorm", "InstanceNormalization", ["x", g.init(w(4) + 1), g.init(w(4))], epsilon=1e-4)
    model, inputs = _old_model("vision_opset7", 7, body)
    model.graph.output.extend([helper.make_tensor_value_info("topk1", TensorProto.FLOAT, None),
                               helper.make_tensor_value_info("topk1_i", TensorProto.INT64, None)])
    return model, inputs


def build_vision_opset10():
    """Opset 10: Resize-10 (X, scales), TopK-10 (K input), RoiAlign-10, MaxPool Indices + MaxUnpool-9, the first
    quantization operators; opset 11's Resize with roi and tf_half_pixel_for_nn in build_vision_opset11."""
    def body(g, out):
        sc = g.init(np.array([1, 1, 1.5, 0.5], np.float32))
        out("rz10_nearest", "Resize", ["x", sc], mode="nearest")
        out("rz10_linear", "Resize", ["x", sc], mode="linear")
        g.nodes.append(helper.make_node("TopK", ["x", g.init(np.array([2], np.int64))], ["topk10", "topk10_i"],
                                        name="topk10", axis=3))
        rois = g.init(np.array([[0.5, 0.5, 4.2, 3.1], [1, 2, 3, 5.5]], np.float32))
        out("roi10", "RoiAlign", ["x", rois, g.init(np.array([0, 0], np.int64))], output_height=2, output_width=3,
            sampling_ratio=0, mode="avg", spatial_scale=1.0)
        mp = g.op("MaxPool", ["x"], outputs=2, kernel_shape=[3, 3], strides=[3, 3])
        out("unpool9", "MaxUnpool", [mp[0], mp[1]], kernel_shape=[3, 3], strides=[3, 3])
        q = g.op("QuantizeLinear", ["x", g.init(np.array(0.03, np.float32)), g.init(np.array(-3, np.int8))])
        out("dq10", "DequantizeLinear", [q, g.init(np.array(0.03, np.float32)), g.init(np.array(-3, np.int8))])
        out("tile", "Tile", ["x", g.init(np.array([1, 2, 1, 2], np.int64))])
    model, inputs = _old_model("vision_opset10", 10, body)
    model.graph.output.extend([helper.make_tensor_value_info("topk10", TensorProto.FLOAT, None),
                               helper.make_tensor_value_info("topk10_i", TensorProto.INT64, None)])
    return model, inputs


def build_vision_opset11():
    def body(g, out):
        roi = g.init(np.array([0, 0, 0.1, 0.2, 1, 1, 0.9, 0.7], np.float32))
        empty = g.init(np.array([], np.float32))
        out("rz11_crop", "Resize", ["x", roi, empty, g.init(np.array([1, 4, 5, 7], np.int64))], mode="linear",
            coordinate_transformation_mode="tf_crop_and_resize", extrapolation_value=2.0)
        out("rz11_tfnn", "Resize", ["x", empty, g.init(np.array([1, 1, 1.7, 0.8], np.float32))], mode="nearest",
            coordinate_transformation_mode="tf_half_pixel_for_nn")
        out("rz11_cubic", "Resize", ["x", empty, g.init(np.array([1, 1, 2, 2], np.float32))], mode="cubic",
            coordinate_transformation_mode="align_corners")
        out("pad11", "Pad", ["x", g.init(np.array([0, 0, 2, 1, 0, 0, 0, 3], np.int64)),
                             g.init(np.array(-2.5, np.float32))], mode="constant")
        out("pad11_reflect", "Pad", ["x", g.init(np.array([0, 0, 5, 0, 0, 0, 0, 5], np.int64))], mode="reflect")
    return _old_model("vision_opset11", 11, body)
