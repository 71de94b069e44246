#!/usr/bin/python3
"""image-preprocess through the real server: `junction serve`, v1 Broker.Infer with Value.image, the output tensor
compared with an independent reference (PIL's float bilinear resize, which antialiases, then crop and ImageNet
normalization, make_fixtures.pil_resize_ref) within a tolerance; damaged images come back INVALID_ARGUMENT with
the problem named.

usage: /usr/bin/python3 tests/unit/codec/test_preprocess_e2e.py /path/to/junction
"""
import io
import os
import sys

import numpy as np
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "e2e"))
sys.dont_write_bytecode = True
import grpc  # noqa: E402
import harness  # noqa: E402
from harness import pb  # noqa: E402
import make_fixtures as mf  # noqa: E402

INET = ([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])


def infer(t, srv, what, images):
    req = pb.broker.InferRequest(model="image-preprocess", inputs=[
        pb.contract.Value(name="image", image=pb.contract.Image(data=images[0]))] if len(images) == 1 else [
        pb.contract.Value(name="image", tensor=pb.tensor.Tensor(datatype=pb.tensor.BYTES, shape=[len(images)],
                                                                strings=images))])
    resp = t.call(what, srv.broker().Infer, req)
    if resp is None or not resp.outputs:
        return None
    v = resp.outputs[0]
    t.eq((v.name, v.tensor.datatype, list(v.tensor.shape)), ("tensor", pb.tensor.FP32, [len(images), 3, 256, 256]),
         "%s: output FP32 [%d,3,256,256]" % (what, len(images)))
    return np.frombuffer(v.tensor.raw, "<f4").reshape(len(images), 3, 256, 256)


def main(t):
    srv = t.start_server()
    rng = np.random.default_rng(7)
    # 300 x 200 RGB: shrink (antialiased) to 384 x 256, then the centre 256 x 256
    yy, xx = np.mgrid[0:200, 0:300]
    pix = np.dstack([(xx * 255 // 299), (yy * 255 // 199), rng.integers(0, 256, (200, 300))]).astype(np.uint8)
    png = mf.pil_bytes(Image.fromarray(pix, "RGB"), "PNG")
    ref = mf.pil_resize_ref(pix, 256, 256, *INET, True)
    with t.case("PNG 300x200 -> 3x256x256, against PIL float resize + crop + ImageNet"):
        out = infer(t, srv, "png", [png])
        if out is not None:
            d = float(np.abs(out[0] - ref).max())
            t.check(d < 1e-4, "png: max |diff| %.2g < 1e-4" % d)
    # No scaling: 256 x 256 as it is, and 256 x 300 (the shorter side already fits) only cropped to its centre
    # rows 22..277; the normalized pixels exactly.
    with t.case("PNG 256x256 and 256x300: no resampling, crop only"):
        big = rng.integers(0, 256, (300, 256, 3), dtype=np.uint8)
        mean, std = (np.array(v, dtype=np.float32).reshape(3, 1, 1) for v in INET)
        for name, arr in (("256x256", big[:256]), ("256x300", big)):
            out = infer(t, srv, name, [mf.pil_bytes(Image.fromarray(arr, "RGB"), "PNG")])
            if out is not None:
                top = (arr.shape[0] - 256) // 2
                want = (arr[top:top + 256].transpose(2, 0, 1).astype(np.float32) / 255.0 - mean) / std
                d = float(np.abs(out[0] - want).max())
                t.check(d < 1e-5, "%s: max |diff| %.2g < 1e-5" % (name, d))
    # upscaling a small gray image: replicated to RGB
    g = rng.integers(0, 256, (50, 40), dtype=np.uint8)
    gref = mf.pil_resize_ref(np.repeat(g[..., None], 3, axis=2), 256, 256, *INET, True)
    with t.case("gray PNG 40x50 upscaled, and a JPEG, in one batch"):
        jpg = mf.pil_bytes(Image.fromarray(pix, "RGB"), "JPEG", quality=95)
        jpix = np.asarray(Image.open(io.BytesIO(jpg)).convert("RGB"))
        jref = mf.pil_resize_ref(jpix, 256, 256, *INET, True)
        out = infer(t, srv, "batch", [mf.pil_bytes(Image.fromarray(g, "L"), "PNG"), jpg])
        if out is not None:
            d0 = float(np.abs(out[0] - gref).max())
            t.check(d0 < 1e-4, "gray: max |diff| %.2g < 1e-4" % d0)
            # JPEG decoders may differ by a level or two: 3/255/0.224
            d1 = float(np.abs(out[1] - jref).max())
            t.check(d1 < 0.06, "jpeg: max |diff| %.3g < 0.06 (a few levels)" % d1)
    with t.case("damaged images"):
        req = pb.broker.InferRequest(model="image-preprocess", inputs=[
            pb.contract.Value(name="image", image=pb.contract.Image(data=png[: len(png) // 2]))])
        t.expect_error("truncated PNG", srv.broker().Infer, grpc.StatusCode.INVALID_ARGUMENT, "image 'image'",
                       "PNG is truncated", args=(req,))
        req = pb.broker.InferRequest(model="image-preprocess", inputs=[
            pb.contract.Value(name="image", image=pb.contract.Image(data=b"GIF89a....."))])
        t.expect_error("GIF", srv.broker().Infer, grpc.StatusCode.INVALID_ARGUMENT,
                       "not a PNG or JPEG (starts with 47 49 46 38)", args=(req,))
    t.stop_server(srv)


if __name__ == "__main__":
    harness.run(main)
