#!/usr/bin/python3
"""ONNX models served end to end: `junction serve --models DIR` with models built here by python3-onnx's helper
(an MLP as DIR/mlp/model.onnx, a small CNN as DIR/cnn.onnx, plus a corrupt file and a model with an unsupported
operator, which are reported and skipped), called over junction.v1 and KServe v2 gRPC; outputs are compared with
numpy computations of the same graphs. Admin.LoadModel / UnloadModel at run time: from bytes and from the
repository, replacement, refusals (corrupt, unsupported, built-in names), and unloading.

usage: /usr/bin/python3 tests/e2e/test_onnx.py /path/to/junction
"""
import os
import sys
import tempfile

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import grpc  # noqa: E402
import numpy as np  # noqa: E402
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

import harness  # noqa: E402
from harness import pb  # noqa: E402

RNG = np.random.default_rng(7)


def f32(*shape):
    return RNG.standard_normal(shape).astype(np.float32)


def save(model, path):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(model.SerializeToString())


def build_mlp():
    w1, b1, w2, b2 = f32(4, 8), f32(8), f32(8, 3), f32(3)
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w1"], ["h0"], name="fc1"),
         helper.make_node("Add", ["h0", "b1"], ["h1"], name="bias1"),
         helper.make_node("Relu", ["h1"], ["h2"], name="relu"),
         helper.make_node("Gemm", ["h2", "w2", "b2"], ["logits"], name="fc2"),
         helper.make_node("Softmax", ["logits"], ["probs"], name="softmax", axis=-1)],
        "mlp",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 4])],
        [helper.make_tensor_value_info("probs", TensorProto.FLOAT, ["batch", 3])],
        [numpy_helper.from_array(w1, "w1"), numpy_helper.from_array(b1, "b1"),
         numpy_helper.from_array(w2, "w2"), numpy_helper.from_array(b2, "b2")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])

    def ref(x):
        z = np.maximum(x @ w1 + b1, 0) @ w2 + b2
        e = np.exp(z - z.max(axis=-1, keepdims=True))
        return e / e.sum(axis=-1, keepdims=True)
    return model, ref


def conv2d(x, w, b, pad):
    n, c, h, wd = x.shape
    m, _, kh, kw = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    oh, ow = h + 2 * pad - kh + 1, wd + 2 * pad - kw + 1
    y = np.zeros((n, m, oh, ow), np.float64)
    for i in range(kh):
        for j in range(kw):
            y += np.einsum("nchw,mc->nmhw", xp[:, :, i:i + oh, j:j + ow], w[:, :, i, j])
    return y + b.reshape(1, m, 1, 1)


def build_cnn():
    w, b = f32(4, 1, 3, 3), f32(4)
    scale, bias, mean, var = f32(4), f32(4), f32(4), np.abs(f32(4)) + 0.5
    wf, bf = f32(4, 5), f32(5)
    graph = helper.make_graph(
        [helper.make_node("Conv", ["image", "w", "b"], ["c"], name="conv", pads=[1, 1, 1, 1], kernel_shape=[3, 3]),
         helper.make_node("BatchNormalization", ["c", "scale", "bias", "mean", "var"], ["bn"], name="bn",
                          epsilon=1e-5),
         helper.make_node("Relu", ["bn"], ["r"], name="relu"),
         helper.make_node("MaxPool", ["r"], ["p"], name="pool", kernel_shape=[2, 2], strides=[2, 2]),
         helper.make_node("GlobalAveragePool", ["p"], ["g"], name="gap"),
         helper.make_node("Flatten", ["g"], ["f"], name="flatten"),
         helper.make_node("Gemm", ["f", "wf", "bf"], ["scores"], name="dense")],
        "cnn",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["N", 1, 8, 8])],
        [helper.make_tensor_value_info("scores", TensorProto.FLOAT, ["N", 5])],
        [numpy_helper.from_array(a, n) for a, n in ((w, "w"), (b, "b"), (scale, "scale"), (bias, "bias"),
                                                     (mean, "mean"), (var, "var"), (wf, "wf"), (bf, "bf"))])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])

    def ref(x):
        c = conv2d(x.astype(np.float64), w, b, 1)
        bn = (c - mean.reshape(1, 4, 1, 1)) / np.sqrt(var.reshape(1, 4, 1, 1) + 1e-5) * scale.reshape(1, 4, 1, 1) \
            + bias.reshape(1, 4, 1, 1)
        r = np.maximum(bn, 0)
        n = r.shape[0]
        p = r.reshape(n, 4, 4, 2, 4, 2).max(axis=(3, 5))
        return p.mean(axis=(2, 3)) @ wf + bf
    return model, ref


def build_unsupported():
    """Det: an operator the adapter does not implement (Elu was the example until issue 15 added it)."""
    graph = helper.make_graph(
        [helper.make_node("Det", ["x"], ["y"], name="the_det")], "det",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 2])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [])])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])


def close(got, want):
    return got is not None and got.shape == want.shape and np.allclose(got, want, rtol=1e-4, atol=1e-5)


def main(t):
    d = tempfile.mkdtemp(prefix="onnx-models-", dir=t.workdir)
    mlp, mlp_ref = build_mlp()
    cnn, cnn_ref = build_cnn()
    save(mlp, os.path.join(d, "mlp", "model.onnx"))
    with open(os.path.join(d, "mlp", "config.json"), "w") as f:
        f.write('{"version": "3", "description": "a tiny MLP", "outputs": {"probs": {"labels": ["ant", "bee", "cat"]}}}')
    # A config naming an output the model does not have: reported, skipped.
    save(mlp, os.path.join(d, "badcfg", "model.onnx"))
    with open(os.path.join(d, "badcfg", "config.json"), "w") as f:
        f.write('{"outputs": {"nope": {"labels": ["x"]}}}')
    save(cnn, os.path.join(d, "cnn.onnx"))
    save(build_unsupported(), os.path.join(d, "det.onnx"))
    with open(os.path.join(d, "broken.onnx"), "wb") as f:
        f.write(b"\x08\x07\x12\xff\xff not a model")

    srv = t.start_server(["--models", d])
    ch = srv.channel()
    broker, v2 = srv.broker(ch), srv.v2(ch)

    with t.case("bad models are reported and skipped"):
        err = srv.stderr_text()
        t.check("model 'det' skipped" in err and "Det" in err and "the_det" in err,
                "the unsupported operator is named with its node", harness._short(err, 600))
        t.check("model 'broken' skipped" in err, "the corrupt file is reported", harness._short(err, 600))
        t.check("model 'badcfg' skipped" in err and "no output 'nope'" in err, "a bad config is reported",
                harness._short(err, 600))
        t.check("2 ONNX model(s)" in err, "two models registered", harness._short(err, 600))

    with t.case("metadata from the graph"):
        r = t.call("ModelMetadata mlp", v2.ModelMetadata, pb.v2.ModelMetadataRequest(name="mlp"))
        if r is not None:
            t.eq(r.platform, "onnx", "platform")
            t.eq(list(r.versions), ["3"], "version from config.json")
            t.eq([(i.name, i.datatype, list(i.shape)) for i in r.inputs], [("x", "FP32", [-1, 4])], "inputs")
            t.eq([(o.name, o.datatype, list(o.shape)) for o in r.outputs], [("probs", "FP32", [-1, 3])], "outputs")

    with t.case("MLP over junction.v1, two batch sizes"):
        for n in (3, 4, 3):
            x = f32(n, 4)
            r = t.call("Infer mlp batch %d" % n, broker.Infer, harness.infer_request("mlp", x, input_name="x"))
            got = harness.output_array(r, "probs") if r is not None else None
            t.check(close(got, mlp_ref(x)), "mlp batch %d matches numpy" % n, "got %r" % (got,))
        # Batch 1 of a labelled output comes back as a classification, best first.
        x = f32(1, 4)
        r = t.call("Infer mlp batch 1", broker.Infer, harness.infer_request("mlp", x, input_name="x"))
        want = mlp_ref(x)[0]
        order = list(np.argsort(-want))
        c = r.outputs[0].classification if r is not None and r.outputs else None
        t.check(c is not None and list(c.labels) == [["ant", "bee", "cat"][i] for i in order] and
                np.allclose(list(c.scores), want[order], rtol=1e-4, atol=1e-5),
                "labelled output as a classification", str(r))

    with t.case("CNN over KServe v2"):
        for n in (2, 5):
            x = f32(n, 1, 8, 8)
            r = t.call("ModelInfer cnn batch %d" % n, v2.ModelInfer, harness.v2_request("cnn", x, input_name="image"))
            got = harness.v2_output_array(r, "scores")[0] if r is not None else None
            t.check(close(got, cnn_ref(x)), "cnn batch %d matches numpy" % n, "got %r" % (got,))

    with t.case("bad requests"):
        t.expect_error("wrong inner dimension", broker.Infer, grpc.StatusCode.INVALID_ARGUMENT, "x",
                       args=(harness.infer_request("mlp", f32(2, 5), input_name="x"),))
        t.expect_error("unknown model", broker.Infer, grpc.StatusCode.NOT_FOUND, "det",
                       args=(harness.infer_request("det", f32(2), input_name="x"),))

    admin = srv.admin(ch)
    with t.case("Admin.LoadModel and UnloadModel"):
        mlp2, mlp2_ref = build_mlp()  # other weights
        r = t.call("LoadModel mlp2 from bytes", admin.LoadModel,
                   pb.admin.LoadModelRequest(name="mlp2", onnx=mlp2.SerializeToString()))
        t.check(r is not None and r.name == "mlp2" and not r.replaced, "mlp2 is new", str(r))
        x = f32(2, 4)
        r = t.call("Infer mlp2", broker.Infer, harness.infer_request("mlp2", x, input_name="x"))
        t.check(close(harness.output_array(r, "probs") if r else None, mlp2_ref(x)), "mlp2 computes its weights")
        # Replacing mlp with mlp2's graph: later calls see the new weights.
        r = t.call("LoadModel mlp (replace)", admin.LoadModel,
                   pb.admin.LoadModelRequest(name="mlp", onnx=mlp2.SerializeToString(), version="2"))
        t.check(r is not None and r.replaced, "mlp replaced", str(r))
        r = t.call("Infer mlp after the replacement", broker.Infer, harness.infer_request("mlp", x, input_name="x"))
        t.check(close(harness.output_array(r, "probs") if r else None, mlp2_ref(x)), "mlp now has the new weights")
        # Reloading from the repository (no bytes) brings the file's weights back.
        r = t.call("LoadModel mlp from the repository", admin.LoadModel, pb.admin.LoadModelRequest(name="mlp"))
        t.check(r is not None and r.replaced, "mlp reloaded", str(r))
        r = t.call("Infer mlp after the reload", broker.Infer, harness.infer_request("mlp", x, input_name="x"))
        t.check(close(harness.output_array(r, "probs") if r else None, mlp_ref(x)), "mlp has the file's weights again")
        t.expect_error("corrupt bytes", admin.LoadModel, grpc.StatusCode.INVALID_ARGUMENT, "model 'junk'",
                       "not an ONNX model", args=(pb.admin.LoadModelRequest(name="junk", onnx=b"\x08\x07\x12\xff"),))
        t.expect_error("unsupported operator", admin.LoadModel, grpc.StatusCode.UNIMPLEMENTED, "Det", "the_det",
                       args=(pb.admin.LoadModelRequest(name="det2", onnx=build_unsupported().SerializeToString()),))
        t.expect_error("a built-in name", admin.LoadModel, grpc.StatusCode.ALREADY_EXISTS, "identity",
                       args=(pb.admin.LoadModelRequest(name="identity", onnx=mlp2.SerializeToString()),))
        t.expect_error("a bad name", admin.LoadModel, grpc.StatusCode.INVALID_ARGUMENT, "not a model name",
                       args=(pb.admin.LoadModelRequest(name="../etc", onnx=mlp2.SerializeToString()),))
        t.expect_error("not in the repository", admin.LoadModel, grpc.StatusCode.NOT_FOUND, "nothere",
                       args=(pb.admin.LoadModelRequest(name="nothere"),))
        t.call("UnloadModel mlp2", admin.UnloadModel, pb.admin.UnloadModelRequest(name="mlp2"))
        t.expect_error("mlp2 is gone", broker.Infer, grpc.StatusCode.NOT_FOUND, "mlp2",
                       args=(harness.infer_request("mlp2", x, input_name="x"),))
        t.expect_error("unloading a built-in", admin.UnloadModel, grpc.StatusCode.FAILED_PRECONDITION, "identity",
                       args=(pb.admin.UnloadModelRequest(name="identity"),))
        t.expect_error("unloading twice", admin.UnloadModel, grpc.StatusCode.NOT_FOUND, "mlp2",
                       args=(pb.admin.UnloadModelRequest(name="mlp2"),))

    t.stop_server(srv)

    with t.case("loaded models survive a restart (state directory)"):
        state = os.path.join(t.workdir, "state-models")
        s1 = t.start_server(["--models", d, "--state-dir", state], probe=False)
        a1 = s1.admin()
        t.call("LoadModel kept (uploaded bytes)", a1.LoadModel,
               pb.admin.LoadModelRequest(name="kept", onnx=mlp2.SerializeToString(), version="7"))
        t.call("LoadModel cnn again from the repository", a1.LoadModel, pb.admin.LoadModelRequest(name="cnn"))
        big = b"\x08\x07" + b"\0" * (1 << 20)
        t.expect_error("an upload over 1 MiB is refused when it cannot be kept", a1.LoadModel,
                       grpc.StatusCode.FAILED_PRECONDITION, "model repository", args=(
                           pb.admin.LoadModelRequest(name="toobig", onnx=mlp2.SerializeToString() + big),),
                       alive=False)
        t.stop_server(s1)
        s2 = t.start_server(["--state-dir", state], probe=False)  # no --models: kept must come from the state
        ms = {m.name: m for m in s2.broker().ListModels(pb.broker.ListModelsRequest(), timeout=30).models}
        t.check("kept" in ms and list(ms["kept"].versions) == ["7"], "kept (version 7) is back after the restart",
                sorted(ms))
        r = t.call("Infer kept after the restart", s2.broker().Infer, harness.infer_request("kept", x, input_name="x"))
        t.check(r is not None, "kept answers after the restart")
        t.check("'cnn' not restored" in s2.stderr_text(),
                "cnn, kept as 're-read from the repository', is reported when the repository is gone",
                s2.stderr_tail(5))
        t.call("UnloadModel kept", s2.admin().UnloadModel, pb.admin.UnloadModelRequest(name="kept"))
        t.stop_server(s2)
        s3 = t.start_server(["--models", d, "--state-dir", state], probe=False)
        ms = [m.name for m in s3.broker().ListModels(pb.broker.ListModelsRequest(), timeout=30).models]
        t.check("kept" not in ms and "cnn" in ms, "after UnloadModel and a restart kept is gone; cnn is back", ms)
        t.stop_server(s3)


if __name__ == "__main__":
    harness.run(main)
