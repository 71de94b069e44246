/* logmel.h — log-mel spectrograms: short-time power spectra (FFTW3) on a mel filterbank, then a floored log.
 *
 * The definition (tests/e2e/audio_ref.py implements the same in numpy):
 *   frames     t = 0 .. T-1, T = 1 + (S - n_fft) / hop (integer division; no centering, no padding; S >= n_fft)
 *   window     w[n] = 0.5 - 0.5 cos(2 pi n / n_fft), n = 0 .. n_fft-1 (periodic Hann) — or all ones ("rect")
 *   spectrum   X_t[k] = sum_n w[n] x[t hop + n] exp(-2 pi i k n / n_fft), k = 0 .. n_fft/2
 *   power      P_t[k] = |X_t[k]| ^ power (power 1 = magnitude, 2 = power)
 *   mel scale  HTK: mel(f) = 2595 log10(1 + f / 700)
 *   filters    n_mels + 2 points equally spaced in mel from mel(fmin) to mel(fmax), back to Hz: f_0 .. f_{M+1};
 *              filter m is the triangle rising from f_m to f_{m+1} and falling to f_{m+2}, peak 1, no area
 *              normalization, evaluated at the bin frequencies k sample_rate / n_fft (librosa's htk=True, norm=None)
 *   output     L[m, t] = ln(max(sum_k W[m, k] P_t[k], log_floor))
 *
 * Ownership: jn_logmel writes into the caller's buffer. Thread-safety: reentrant. FFTW plans are made once per
 * n_fft and kept for the life of the process; FFTW's planner is not thread-safe, so plan creation holds a mutex
 * (executing a plan on new arrays is safe from any thread).
 */
#ifndef JN_ENGINES_AUDIO_LOGMEL_H
#define JN_ENGINES_AUDIO_LOGMEL_H

#include <stdbool.h>
#include <stdint.h>

#include "../../broker/core/err.h"

typedef struct jn_logmel_config {
    int sample_rate; /* Hz */
    int n_fft;       /* 16 .. 65536 */
    int hop;         /* >= 1 */
    int n_mels;      /* 1 .. 1024 */
    double fmin, fmax; /* 0 <= fmin < fmax <= sample_rate / 2 */
    double power;      /* 1 or 2 (any > 0) */
    double log_floor;  /* > 0 */
    bool hann;         /* false: rectangular window */
} jn_logmel_config;

/* 16 kHz, n_fft 400, hop 160, 80 mels, 0 .. 8000 Hz, power 2, floor 1e-10, Hann (Whisper's framing). */
void jn_logmel_config_default(jn_logmel_config *cfg);

/* JN_EINVAL naming the parameter when the config is out of range. */
int jn_logmel_check(const jn_logmel_config *cfg, jn_err *err);

/* Frames for S samples (0 when S < n_fft). */
int64_t jn_logmel_frames(const jn_logmel_config *cfg, int64_t samples);

/* Computes the n_mels x T log-mel spectrogram (row-major: mel band, then frame) of `samples` mono samples. */
int jn_logmel(const jn_logmel_config *cfg, const float *x, int64_t samples, float *out, jn_err *err);

#endif
