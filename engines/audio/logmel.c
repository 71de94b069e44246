/* logmel.c — see logmel.h for the definition. */
#include "logmel.h"

#include <fftw3.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

void jn_logmel_config_default(jn_logmel_config *cfg)
{
    *cfg = (jn_logmel_config){.sample_rate = 16000, .n_fft = 400, .hop = 160, .n_mels = 80, .fmin = 0,
                              .fmax = 8000, .power = 2, .log_floor = 1e-10, .hann = true};
}

int jn_logmel_check(const jn_logmel_config *c, jn_err *err)
{
    if (c->sample_rate <= 0 || c->sample_rate > 384000)
        return jn_err_set(err, JN_EINVAL, "log-mel: sample_rate %d is outside 1..384000", c->sample_rate);
    if (c->n_fft < 16 || c->n_fft > 65536)
        return jn_err_set(err, JN_EINVAL, "log-mel: n_fft %d is outside 16..65536", c->n_fft);
    if (c->hop < 1 || c->hop > 65536)
        return jn_err_set(err, JN_EINVAL, "log-mel: hop %d is outside 1..65536", c->hop);
    if (c->n_mels < 1 || c->n_mels > 1024)
        return jn_err_set(err, JN_EINVAL, "log-mel: n_mels %d is outside 1..1024", c->n_mels);
    if (!(c->fmin >= 0) || !(c->fmax > c->fmin) || c->fmax > c->sample_rate / 2.0)
        return jn_err_set(err, JN_EINVAL, "log-mel: fmin %g / fmax %g must satisfy 0 <= fmin < fmax <= %g "
                                          "(half of sample_rate %d)", c->fmin, c->fmax, c->sample_rate / 2.0,
                          c->sample_rate);
    if (!(c->power > 0) || c->power > 4)
        return jn_err_set(err, JN_EINVAL, "log-mel: power %g is outside (0, 4]", c->power);
    if (!(c->log_floor > 0) || !isfinite(c->log_floor))
        return jn_err_set(err, JN_EINVAL, "log-mel: log_floor %g must be a positive number", c->log_floor);
    return 0;
}

int64_t jn_logmel_frames(const jn_logmel_config *cfg, int64_t samples)
{
    return samples < cfg->n_fft ? 0 : 1 + (samples - cfg->n_fft) / cfg->hop;
}

/* ---- FFTW plans, one per n_fft ---- */

#define MAX_PLANS 32

static struct {
    int n;
    fftwf_plan plan;
} plans[MAX_PLANS];
static int n_plans;
static pthread_mutex_t plan_lock = PTHREAD_MUTEX_INITIALIZER;

/* The r2c plan for size n, made on first use (FFTW_ESTIMATE: planning does not touch the arrays). The plan is
 * applied with fftwf_execute_dft_r2c on arrays from fftwf_malloc, which share the alignment it was made with. */
static fftwf_plan plan_for(int n)
{
    pthread_mutex_lock(&plan_lock);
    fftwf_plan p = NULL;
    for (int i = 0; i < n_plans; i++)
        if (plans[i].n == n)
            p = plans[i].plan;
    if (!p && n_plans < MAX_PLANS) {
        float *in = fftwf_malloc(sizeof(float) * (size_t)n);
        fftwf_complex *out = fftwf_malloc(sizeof(fftwf_complex) * (size_t)(n / 2 + 1));
        if (in && out)
            p = fftwf_plan_dft_r2c_1d(n, in, out, FFTW_ESTIMATE);
        fftwf_free(in);
        fftwf_free(out);
        if (p) {
            plans[n_plans].n = n;
            plans[n_plans].plan = p;
            n_plans++;
        }
    }
    pthread_mutex_unlock(&plan_lock);
    return p;
}

/* ---- the filterbank: each band's nonzero bins [lo, hi) and their weights ---- */

static double hz_to_mel(double f)
{
    return 2595.0 * log10(1.0 + f / 700.0);
}

static double mel_to_hz(double m)
{
    return 700.0 * (pow(10.0, m / 2595.0) - 1.0);
}

typedef struct band {
    int lo, hi;
    float *w; /* hi - lo weights */
} band;

static int make_bands(const jn_logmel_config *c, band *bands, float *weights)
{
    int bins = c->n_fft / 2 + 1, M = c->n_mels;
    double m0 = hz_to_mel(c->fmin), m1 = hz_to_mel(c->fmax);
    double *f = malloc(sizeof(double) * (size_t)(M + 2));
    if (!f)
        return JN_ENOMEM;
    for (int i = 0; i < M + 2; i++)
        f[i] = mel_to_hz(m0 + (m1 - m0) * i / (M + 1));
    float *next = weights;
    for (int m = 0; m < M; m++) {
        double a = f[m], b = f[m + 1], d = f[m + 2];
        band *bd = &bands[m];
        bd->lo = bins, bd->hi = 0, bd->w = next;
        for (int k = 0; k < bins; k++) {
            double fk = (double)k * c->sample_rate / c->n_fft;
            double up = (fk - a) / (b - a), down = (d - fk) / (d - b);
            double w = up < down ? up : down;
            if (w > 0) {
                if (k < bd->lo)
                    bd->lo = k;
                bd->hi = k + 1;
            }
        }
        if (bd->hi <= bd->lo)
            bd->lo = bd->hi = 0;
        for (int k = bd->lo; k < bd->hi; k++) {
            double fk = (double)k * c->sample_rate / c->n_fft;
            double up = (fk - a) / (b - a), down = (d - fk) / (d - b);
            double w = up < down ? up : down;
            *next++ = w > 0 ? (float)w : 0.0f;
        }
    }
    free(f);
    return 0;
}

int jn_logmel(const jn_logmel_config *c, const float *x, int64_t samples, float *out, jn_err *err)
{
    int rc = jn_logmel_check(c, err);
    if (rc)
        return rc;
    int64_t T = jn_logmel_frames(c, samples);
    if (T == 0)
        return jn_err_set(err, JN_EINVAL, "log-mel: %lld samples are fewer than n_fft %d (one frame)",
                          (long long)samples, c->n_fft);
    int N = c->n_fft, bins = N / 2 + 1, M = c->n_mels;
    fftwf_plan plan = plan_for(N);
    band *bands = malloc(sizeof(band) * (size_t)M);
    float *weights = malloc(sizeof(float) * (size_t)M * (size_t)bins);
    float *win = malloc(sizeof(float) * (size_t)N);
    float *pw = malloc(sizeof(float) * (size_t)bins);
    float *frame = fftwf_malloc(sizeof(float) * (size_t)N);
    fftwf_complex *spec = fftwf_malloc(sizeof(fftwf_complex) * (size_t)bins);
    if (!plan || !bands || !weights || !win || !pw || !frame || !spec || make_bands(c, bands, weights)) {
        rc = jn_err_set(err, plan ? JN_ENOMEM : JN_EINTERNAL, plan ? "log-mel: out of memory"
                                                                 : "log-mel: no FFT plan for n_fft %d", N);
        goto done;
    }
    for (int n = 0; n < N; n++)
        win[n] = c->hann ? (float)(0.5 - 0.5 * cos(6.283185307179586 * n / N)) : 1.0f;
    float floor_v = (float)c->log_floor;
    bool squared = c->power == 2.0, plain = c->power == 1.0;
    for (int64_t t = 0; t < T; t++) {
        const float *src = x + t * c->hop;
        for (int n = 0; n < N; n++)
            frame[n] = src[n] * win[n];
        fftwf_execute_dft_r2c(plan, frame, spec);
        for (int k = 0; k < bins; k++) {
            float re = spec[k][0], im = spec[k][1], p2 = re * re + im * im;
            pw[k] = squared ? p2 : plain ? sqrtf(p2) : powf(p2, (float)(c->power / 2.0));
        }
        for (int m = 0; m < M; m++) {
            const band *bd = &bands[m];
            float s = 0;
            for (int k = bd->lo; k < bd->hi; k++)
                s += bd->w[k - bd->lo] * pw[k];
            out[(size_t)m * (size_t)T + (size_t)t] = logf(s > floor_v ? s : floor_v);
        }
    }
done:
    free(bands);
    free(weights);
    free(win);
    free(pw);
    fftwf_free(frame);
    fftwf_free(spec);
    return rc;
}
