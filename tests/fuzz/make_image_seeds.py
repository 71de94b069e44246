#!/usr/bin/python3
"""Writes the seed corpora of the png and jpeg fuzz targets (fuzz_image.c) (tests/fuzz/corpus/png, corpus/jpeg): small PNGs of every
color type and bit depth (palette with tRNS, 1-bit, 16-bit, with alpha), interlaced-free and with ancillary chunks;
baseline, progressive, 4:2:0 and gray JPEGs; truncated and corrupt files; headers promising huge images.
Uses Debian's python3-pil and python3-numpy and the writers of tests/unit/codec/make_fixtures.py.

usage: /usr/bin/python3 tests/fuzz/make_image_seeds.py [CORPUS_DIR]
"""
import io
import os
import struct
import sys
import zlib

import numpy as np
from PIL import Image

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(here, "..", "unit", "codec"))
import make_fixtures as mf  # noqa: E402


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "corpus")
    dirs = {k: os.path.join(root, k) for k in ("png", "jpeg")}
    for d in dirs.values():
        os.makedirs(d, exist_ok=True)
    rng = np.random.default_rng(66)
    seeds = {}
    for name, data, _ in mf.fixtures(rng):
        seeds[name] = data
    for name, data in mf.damaged(seeds["rgb8"], seeds["baseline"]):
        seeds[name] = data
    # bigger, photo-like content: chroma subsampling and several MCUs / IDAT rows
    yy, xx = np.mgrid[0:24, 0:33]
    photo = np.dstack([(xx * 7) % 256, (yy * 11) % 256, ((xx + yy) * 5) % 256]).astype(np.uint8)
    img = Image.fromarray(photo, "RGB")
    for name, kw in (("photo_420", {"subsampling": 2}), ("photo_444_prog", {"subsampling": 0, "progressive": True}),
                     ("photo_q10_opt", {"quality": 10, "optimize": True})):
        seeds[name] = mf.pil_bytes(img, "JPEG", **kw)
    seeds["photo_cmyk"] = mf.pil_bytes(img.convert("CMYK"), "JPEG")
    seeds["photo_rgba_png"] = mf.pil_bytes(Image.fromarray(np.dstack([photo, photo[..., 0]]), "RGBA"), "PNG")
    p4 = (photo[..., 0] // 64).astype(np.uint8)
    seeds["gray2"] = mf.raw_png(p4[..., None], 0, 8)  # 8-bit with few levels compresses well
    # ancillary chunks libpng parses (gAMA, tEXt, tRNS for gray)
    g = photo[..., 1]
    png = mf.raw_png(g[..., None], 0, 8, trns=[0, 7])
    seeds["gray_trns_text"] = png[:33] + mf.chunk(b"gAMA", struct.pack(">I", 45455)) + mf.chunk(
        b"tEXt", b"Comment\0seed") + png[33:]
    seeds["bad_zlib"] = mf.raw_png(g[..., None], 0, 8)[:41] + b"\x00" * 30
    seeds["empty_idat"] = mf.raw_png(np.zeros((1, 1, 1), np.uint8), 0, 8).replace(
        zlib.compress(b"\0\0"), b"")
    for name, data in seeds.items():
        fmt = "jpeg" if data[:2] == b"\xff\xd8" else "png"
        if name == "gif":
            continue
        with open(os.path.join(dirs[fmt], name), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    main()
