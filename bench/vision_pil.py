"""The Python side of bench/vision.sh: Pillow + numpy doing what junction's image preprocessing does, timed in-process.

    /usr/bin/python3 bench/vision_pil.py FILE LABEL SECONDS

For one encoded image (bytes in memory, as a server would hold them), over and over:
  imagenet: decode, RGB, scale so the image covers 256 x 256 (shorter side fits, BILINEAR — Pillow's antialiased
            bilinear, the filter junction reimplements), center crop, x/255, (x - mean) / std with ImageNet's
            mean/std, HWC -> CHW float32: image-preprocess's output.
  fashion:  decode, gray ("L", BT.601), BILINEAR resize to 28 x 28, x/255 as float32: fashion-cnn's input.
Prints one JSON line per measurement, like bench_vision. One untimed warm-up second first; the clock covers only
the loop.
"""
import io
import json
import sys
import time

import numpy as np
from PIL import Image

MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32).reshape(3, 1, 1)
STD = np.array([0.229, 0.224, 0.225], dtype=np.float32).reshape(3, 1, 1)


def imagenet(data, size=256):
    im = Image.open(io.BytesIO(data)).convert("RGB")
    w, h = im.size
    scale = size / min(w, h)
    rw, rh = max(size, round(w * scale)), max(size, round(h * scale))
    if (rw, rh) != (w, h):
        im = im.resize((rw, rh), Image.BILINEAR)
    left, top = (rw - size) // 2, (rh - size) // 2
    if (rw, rh) != (size, size):
        im = im.crop((left, top, left + size, top + size))
    x = np.asarray(im, dtype=np.float32).transpose(2, 0, 1) / np.float32(255.0)
    return (x - MEAN) / STD


def fashion(data):
    im = Image.open(io.BytesIO(data)).convert("L").resize((28, 28), Image.BILINEAR)
    return (np.asarray(im, dtype=np.float32) / np.float32(255.0)).reshape(1, 28, 28)


def rate(fn, data, seconds):
    """(images per wall second, images per CPU second of the process) over `seconds` after a warm-up second."""
    r = c = 0.0
    for budget in (1.0, seconds):
        n, t0, c0 = 0, time.perf_counter(), time.process_time()
        t = t0
        while t - t0 < budget:
            for _ in range(16):
                fn(data)
            n += 16
            t = time.perf_counter()
        r, c = n / (t - t0), n / (time.process_time() - c0)
    return r, c


def main():
    path, label, seconds = sys.argv[1], sys.argv[2], float(sys.argv[3])
    with open(path, "rb") as f:
        data = f.read()
    assert imagenet(data).shape == (3, 256, 256) and fashion(data).shape == (1, 28, 28)
    for name, fn, shape in (("imagenet", imagenet, "3x256x256"), ("fashion", fashion, "1x28x28")):
        wall, cpu = rate(fn, data, seconds)
        print(json.dumps({"side": "pillow", "what": "preprocess %s -> %s %s" % (label, shape, name),
                          "images_per_s": round(wall, 1), "images_per_cpu_s": round(cpu, 1)}), flush=True)


if __name__ == "__main__":
    main()
