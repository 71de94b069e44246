#!/usr/bin/python3
"""Writes the codec unit test's fixtures (tests/unit/codec/fixtures/): tiny PNGs of every color type and bit depth,
JPEGs, damaged files, and for each decodable one the pixels it must decode to, computed here independently.

usage: /usr/bin/python3 tests/unit/codec/make_fixtures.py [OUT_DIR]   (Debian's python3-pil and python3-numpy)

<name>.png|jpg       the encoded image (7 x 5 pixels unless noted)
<name>.rgb           expected pixels, RGB HWC uint8, alpha composited over white, 16-bit samples rounded to 8
pre_<case>.png       preprocess inputs; pre_<case>.f32 the expected FP32 CHW output, computed with PIL's own float
                     ('F' mode) bilinear resize, which antialiases the same way and rounds nothing in between.
"""
import io
import os
import struct
import sys
import zlib

import numpy as np
from PIL import Image

W, H = 7, 5


def chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def raw_png(arr, color_type, depth, palette=None, trns=None):
    """A minimal PNG writer (PIL cannot write 16-bit RGB/RGBA): arr is HxWxC of uint8/uint16, no interlace."""
    h, w = arr.shape[:2]
    dt = ">u2" if depth == 16 else "u1"
    rows = b"".join(b"\0" + arr[y].astype(dt).tobytes() for y in range(h))
    out = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, depth, color_type, 0, 0, 0))
    if palette is not None:
        out += chunk(b"PLTE", bytes(palette))
    if trns is not None:
        out += chunk(b"tRNS", bytes(trns))
    return out + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


def over_white(rgb, a):
    rgb = rgb.astype(np.int64)
    a = a.astype(np.int64)[..., None]
    return ((rgb * a + 255 * (255 - a) + 127) // 255).astype(np.uint8)


def to8(v16):
    return np.floor(v16.astype(np.float64) * 255 / 65535 + 0.5).astype(np.uint8)


def pil_bytes(img, fmt, **kw):
    b = io.BytesIO()
    img.save(b, fmt, **kw)
    return b.getvalue()


def gray3(g):
    return np.repeat(g[..., None], 3, axis=2)


def fixtures(rng):
    """Yields (name, encoded bytes, expected RGB pixels or None)."""
    rgb = rng.integers(0, 256, (H, W, 3), dtype=np.uint8)
    gray = rng.integers(0, 256, (H, W), dtype=np.uint8)
    alpha = rng.integers(0, 256, (H, W), dtype=np.uint8)
    alpha[0, 0], alpha[0, 1] = 0, 255
    g16 = rng.integers(0, 65536, (H, W), dtype=np.uint16)
    rgb16 = rng.integers(0, 65536, (H, W, 3), dtype=np.uint16)
    a16 = rng.integers(0, 65536, (H, W), dtype=np.uint16)

    yield "gray8", pil_bytes(Image.fromarray(gray, "L"), "PNG"), gray3(gray)
    yield "graya8", pil_bytes(Image.fromarray(np.dstack([gray, alpha]), "LA"), "PNG"), gray3(
        over_white(gray[..., None], alpha)[..., 0])
    yield "rgb8", pil_bytes(Image.fromarray(rgb, "RGB"), "PNG"), rgb
    yield "rgba8", pil_bytes(Image.fromarray(np.dstack([rgb, alpha]), "RGBA"), "PNG"), over_white(rgb, alpha)
    bits = rng.integers(0, 2, (H, W), dtype=np.uint8)
    yield "gray1", pil_bytes(Image.fromarray(bits * 255, "L").convert("1"), "PNG"), gray3(bits * 255)
    yield "gray16", raw_png(g16[..., None], 0, 16), gray3(to8(g16))
    yield "rgb16", raw_png(rgb16, 2, 16), to8(rgb16)
    yield "rgba16", raw_png(np.dstack([rgb16, a16]), 6, 16), over_white(to8(rgb16), to8(a16))
    # palette with transparency (tRNS): 4 colors, one half transparent
    pal = np.array([[255, 0, 0], [0, 255, 0], [0, 0, 255], [10, 20, 30]], dtype=np.uint8)
    idx = rng.integers(0, 4, (H, W), dtype=np.uint8)
    trns = [255, 255, 128, 0]
    exp = over_white(pal[idx], np.array(trns, dtype=np.uint8)[idx])
    yield "palette", raw_png(idx[..., None], 3, 8, palette=pal.flatten().tolist(), trns=trns), exp
    pimg = Image.fromarray(idx, "P")
    pimg.putpalette(pal.flatten().tolist())
    yield "palette_pil", pil_bytes(pimg, "PNG"), pal[idx]
    # JPEG: expected = what PIL (libjpeg-turbo, accurate DCT) decodes; the test allows a small tolerance
    smooth = np.clip(np.add.outer(np.arange(H) * 30, np.arange(W) * 20)[..., None] + np.array([0, 40, 80]), 0,
                     255).astype(np.uint8)
    for name, kw in (("baseline", {}), ("progressive", {"progressive": True})):
        data = pil_bytes(Image.fromarray(smooth, "RGB"), "JPEG", quality=95, **kw)
        yield name, data, np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))
    data = pil_bytes(Image.fromarray(smooth[..., 1], "L"), "JPEG", quality=95)
    yield "grayjpeg", data, gray3(np.asarray(Image.open(io.BytesIO(data))))


def damaged(good_png, good_jpg):
    yield "truncated_png", good_png[: len(good_png) - 30]
    yield "truncated_jpg", good_jpg[: len(good_jpg) // 2]
    bad = bytearray(good_png)
    bad[40] ^= 0xFF  # inside IDAT: CRC mismatch
    yield "corrupt_png", bytes(bad)
    # headers promising 70000 x 70000 (PNG) and 60000 x 60000 (JPEG, libjpeg's own cap is 65500)
    yield "huge_png", b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 70000, 70000, 8, 2, 0, 0, 0))
    j = bytearray(good_jpg)
    sof = j.find(b"\xff\xc0")
    j[sof + 5:sof + 9] = struct.pack(">HH", 60000, 60000)
    yield "huge_jpg", bytes(j)
    yield "gif", b"GIF89a\x01\x00\x01\x00\x00\x00\x00;"


def pil_resize_ref(pix, w, h, mean, std, crop):
    """pix HxWxC uint8 -> CxHxW float32, via PIL float images."""
    ih, iw, c = pix.shape
    rw, rh, x0, y0 = w, h, 0, 0
    if crop:
        s = max(w / iw, h / ih)
        rw, rh = max(w, int(np.floor(iw * s + 0.5))), max(h, int(np.floor(ih * s + 0.5)))
        x0, y0 = (rw - w) // 2, (rh - h) // 2
    out = np.empty((c, h, w), np.float32)
    for k in range(c):
        f = Image.fromarray(pix[..., k].astype(np.float32), "F").resize((rw, rh), Image.BILINEAR)
        a = np.asarray(f, dtype=np.float64)[y0:y0 + h, x0:x0 + w]
        out[k] = (a / 255 - mean[k]) / std[k]
    return out


def preprocess_cases(rng):
    """(name, encoded PNG, expected CHW float32); the C test knows each case's config by name."""
    img = np.clip(np.add.outer(np.arange(23) * 9, np.arange(37) * 5)[..., None] + rng.integers(0, 60, (23, 37, 3)),
                  0, 255).astype(np.uint8)
    inet = ([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])
    yield "pre_crop", pil_bytes(Image.fromarray(img, "RGB"), "PNG"), pil_resize_ref(img, 16, 16, *inet, True)
    g = rng.integers(0, 256, (40, 40, 1), dtype=np.uint8)
    yield "pre_gray28", pil_bytes(Image.fromarray(g[..., 0], "L"), "PNG"), pil_resize_ref(g, 28, 28, [0], [1], False)
    small = rng.integers(0, 256, (7, 5, 3), dtype=np.uint8)
    yield "pre_up", pil_bytes(Image.fromarray(small, "RGB"), "PNG"), pil_resize_ref(small, 12, 9, [0] * 3, [1] * 3,
                                                                                    False)


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures")
    os.makedirs(out, exist_ok=True)
    rng = np.random.default_rng(6)
    files = {}
    for name, data, exp in fixtures(rng):
        ext = "jpg" if data[:2] == b"\xff\xd8" else "png"
        files[name] = data
        open(os.path.join(out, f"{name}.{ext}"), "wb").write(data)
        assert exp.shape == (H, W, 3) and exp.dtype == np.uint8, name
        open(os.path.join(out, f"{name}.rgb"), "wb").write(exp.tobytes())
    for name, data in damaged(files["rgb8"], files["baseline"]):
        open(os.path.join(out, f"{name}.bin"), "wb").write(data)
    for name, data, exp in preprocess_cases(rng):
        open(os.path.join(out, f"{name}.png"), "wb").write(data)
        open(os.path.join(out, f"{name}.f32"), "wb").write(exp.astype("<f4").tobytes())


if __name__ == "__main__":
    main()
