"""bench/audio.sh's Python side (issue #17): the same work with numpy + scipy, timed in-process with
time.perf_counter after a warm-up:
  decode   scipy.io.wavfile.read of the WAV bytes, int16 / 32768, mean of the channels, scipy.signal.resample_poly to
           16 kHz (its default Kaiser window)
  logmel   tests/e2e/audio_ref.log_mel (numpy rfft, HTK filterbank as a matrix) of the same 10 s at 16 kHz
usage: /usr/bin/python3 bench/audio_py.py FILE.wav SECONDS -> "<name> <median ms> <runs> <cpu ms per run>" lines
"""
import io
import os
import sys
import time
from fractions import Fraction

import numpy as np
from scipy.io import wavfile
from scipy.signal import resample_poly

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "e2e"))
import audio_ref  # noqa: E402


def decode(data):
    rate, x = wavfile.read(io.BytesIO(data))
    mono = (x.astype(np.float32) / 32768.0).mean(axis=1) if x.ndim == 2 else x.astype(np.float32) / 32768.0
    f = Fraction(16000, rate)
    return resample_poly(mono, f.numerator, f.denominator).astype(np.float32)


def measure(name, fn, seconds):
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < 0.3:
        fn()
    ms = []
    c0 = time.process_time()
    start = time.perf_counter()
    while time.perf_counter() - start < seconds or len(ms) < 5:
        t = time.perf_counter()
        fn()
        ms.append((time.perf_counter() - t) * 1e3)
    cpu = (time.process_time() - c0) * 1e3 / len(ms)
    ms.sort()
    print("%s %.4f %d %.4f" % (name, ms[len(ms) // 2], len(ms), cpu), flush=True)


def main():
    data = open(sys.argv[1], "rb").read()
    secs = float(sys.argv[2])
    pcm = decode(data)
    measure("decode", lambda: decode(data), secs)
    measure("logmel", lambda: audio_ref.log_mel(pcm), secs)


main()
