"""numpy/scipy references for the audio tests and bench/audio.sh (Debian's /usr/bin/python3 with python3-numpy and
python3-scipy). They implement the definitions in engines/audio/logmel.h and adapters/codec/audio.h independently
of the C code.
"""
import io
import math
from fractions import Fraction

import numpy as np
from scipy.io import wavfile
from scipy.signal import resample_poly


def read_wav(data):
    """16-bit PCM WAV bytes -> (rate, float64 [channels, samples] scaled by 1/32768: libsndfile's float scaling)."""
    rate, x = wavfile.read(io.BytesIO(data))
    if x.dtype != np.int16:
        raise ValueError("reference reads 16-bit PCM only, got %s" % x.dtype)
    x = x.astype(np.float64) / 32768.0
    x = x[:, None] if x.ndim == 1 else x
    return rate, x.T


def resample(x, rate_in, rate_out):
    """Polyphase resampling with a long Kaiser window (beta 10, ~100 dB stopband): a reference whose own error is
    far below the 60 dB the test asks of libsoxr's HQ filter."""
    f = Fraction(rate_out, rate_in)
    return resample_poly(x, f.numerator, f.denominator, axis=-1, window=("kaiser", 10.0))


def decode_resample_mono(data, rate_out):
    """Decode (16-bit WAV), down-mix (mean of the channels), resample: the reference for AUDIO -> AUDIO_TENSOR."""
    rate, x = read_wav(data)
    mono = x.mean(axis=0)
    return resample(mono, rate, rate_out) if rate != rate_out else mono


def snr_db(ref, got, trim=0):
    n = min(len(ref), len(got))
    r, g = ref[trim:n - trim], got[trim:n - trim]
    noise = np.sum((r - g) ** 2)
    return float("inf") if noise == 0 else 10 * math.log10(np.sum(r ** 2) / noise)


def hz_to_mel(f):
    return 2595.0 * np.log10(1.0 + np.asarray(f, dtype=np.float64) / 700.0)


def mel_to_hz(m):
    return 700.0 * (10.0 ** (np.asarray(m, dtype=np.float64) / 2595.0) - 1.0)


def mel_filterbank(sr, n_fft, n_mels, fmin, fmax):
    """HTK mel scale, triangles of peak 1 at the bin frequencies, no area normalization."""
    f = mel_to_hz(np.linspace(hz_to_mel(fmin), hz_to_mel(fmax), n_mels + 2))
    fk = np.arange(n_fft // 2 + 1) * sr / n_fft
    w = np.zeros((n_mels, len(fk)))
    for m in range(n_mels):
        up = (fk - f[m]) / (f[m + 1] - f[m])
        down = (f[m + 2] - fk) / (f[m + 2] - f[m + 1])
        w[m] = np.maximum(0.0, np.minimum(up, down))
    return w


def log_mel(x, sr=16000, n_fft=400, hop=160, n_mels=80, fmin=0.0, fmax=8000.0, power=2.0, log_floor=1e-10,
            window="hann"):
    """[n_mels, frames]: frames without centering or padding, periodic Hann, |rfft|^power, HTK mel, ln(max(., floor))."""
    x = np.asarray(x, dtype=np.float64)
    T = 1 + (len(x) - n_fft) // hop
    idx = np.arange(n_fft)[None, :] + hop * np.arange(T)[:, None]
    win = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n_fft) / n_fft) if window == "hann" else np.ones(n_fft)
    spec = np.abs(np.fft.rfft(x[idx] * win, n=n_fft, axis=1)) ** power
    mel = mel_filterbank(sr, n_fft, n_mels, fmin, fmax) @ spec.T
    return np.log(np.maximum(mel, log_floor))
