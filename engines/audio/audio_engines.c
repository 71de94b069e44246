/* audio_engines.c — audio as a first-class kind (issue #17): the AUDIO -> AUDIO_TENSOR pipeline conversion
 * ("decode-audio"), the AUDIO value check run before any engine, and the built-in engines `audio-decode` and
 * `log-mel`.
 *
 * Ownership: the engines keep only their defaults (immutable); every call allocates its own buffers.
 * Thread-safety: all reentrant (libsndfile and libsoxr per call; FFTW plans shared, see logmel.h).
 */
#include "audio_engines.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../adapters/codec/audio.h"
#include "../builtin.h"
#include "logmel.h"

/* ---- the AUDIO check (jn_kind_set_check): the header, before anything runs ---- */

static int audio_check(const uint8_t *data, size_t len, const char *what, jn_err *err)
{
    jn_audio_info info;
    return jn_audio_probe(data, len, what, &info, err);
}

/* ---- decoding every element of a BYTES tensor into one FP32 tensor ---- */

/* Decodes the n clips of `in` at `rate` (0 = as encoded; then all must share one) with `channels` (0 = as
 * encoded, 1 = down-mix) into [n, C, S] (ndim 3), [n, S] (ndim 2, mono) or [S] (ndim 1, one mono clip). Clips of
 * one tensor must decode to the same length. *rate_out gets the rate. */
static int decode_clips(const jn_tensor *in, const char *port, const char *name, int ndim, int rate, int channels,
                        jn_tensor **out, int *rate_out, jn_err *err)
{
    int64_t n = jn_bytes_count(in->data, in->byte_size);
    if (n <= 0)
        return jn_err_set(err, JN_EINVAL, "audio '%s': %s", port, n < 0 ? "malformed BYTES payload" : "no clip given");
    if (ndim == 1 && n != 1)
        return jn_err_set(err, JN_EINVAL, "audio '%s': one clip expected for a [samples] tensor, got %lld", port,
                          (long long)n);
    size_t pos = 0;
    const uint8_t *elem;
    uint32_t len;
    jn_tensor *t = NULL;
    int64_t S = 0;
    int C = 0, R = 0;
    for (int64_t i = 0; jn_bytes_next(in->data, in->byte_size, &pos, &elem, &len); i++) {
        char what[160];
        if (n == 1)
            snprintf(what, sizeof what, "%s", port);
        else
            snprintf(what, sizeof what, "%s[%lld]", port, (long long)i);
        float *samples = NULL;
        int64_t frames;
        int ch, r;
        int rc = jn_audio_decode(elem, len, channels, rate, what, &samples, &frames, &ch, &r, err);
        if (rc) {
            jn_tensor_free(t);
            return rc;
        }
        if (!t) {
            S = frames, C = ch, R = r;
            int64_t shape[3] = {n, C, S};
            if (ndim == 3)
                t = jn_tensor_create(name, JN_DTYPE_FP32, 3, shape, err);
            else if (ndim == 2)
                t = jn_tensor_create(name, JN_DTYPE_FP32, 2, (int64_t[]){n, S}, err);
            else
                t = jn_tensor_create(name, JN_DTYPE_FP32, 1, &S, err);
            if (!t) {
                free(samples);
                return err ? err->code : JN_ENOMEM;
            }
        } else if (frames != S || ch != C || r != R) {
            free(samples);
            jn_tensor_free(t);
            return jn_err_set(err, JN_EINVAL, "audio '%s': decodes to %d x %lld samples at %d Hz, clip 0 to %d x %lld "
                                              "at %d Hz (clips of one tensor must match)",
                              what, ch, (long long)frames, r, C, (long long)S, R);
        }
        if (ndim < 3 && C != 1) {
            free(samples);
            jn_tensor_free(t);
            return jn_err_set(err, JN_EINVAL, "audio '%s': %d channels for a mono port", what, C);
        }
        memcpy((float *)t->data + (size_t)i * (size_t)C * (size_t)S, samples, sizeof(float) * (size_t)C * (size_t)S);
        free(samples);
    }
    *out = t;
    if (rate_out)
        *rate_out = R;
    return 0;
}

/* ---- the pipeline conversion AUDIO -> AUDIO_TENSOR / TENSOR FP32 ----
 * [samples], [N, samples] (mono: down-mixed) or [N, C, samples] (C fixed: 1 = down-mix, or the encoded count;
 * -1 = as encoded), resampled to the port's sample_rate (0 = as encoded). */

static bool decode_plan(const jn_port *from, const jn_port *to, const jn_binding *b, jn_convert_step *out)
{
    (void)b;
    if (from->kind != JN_KIND_AUDIO || from->dtype != JN_DTYPE_BYTES)
        return false;
    if ((to->kind != JN_KIND_AUDIO_TENSOR && to->kind != JN_KIND_TENSOR) || to->dtype != JN_DTYPE_FP32)
        return false;
    if (to->ndim < 1 || to->ndim > 3 || (to->ndim == 3 && to->shape[1] == 0))
        return false;
    out->result = *to;
    out->result.kind = to->kind;
    if (to->ndim >= 2 && to->shape[0] < 0)
        out->result.shape[0] = from->ndim == 1 ? from->shape[0] : -1;
    return true;
}

static int decode_apply(const jn_convert_step *step, jn_tensor *in, jn_tensor **out, jn_err *err)
{
    const jn_port *r = &step->result;
    int channels = r->ndim == 3 ? (r->shape[1] < 0 ? 0 : (int)r->shape[1]) : 1;
    int rc = decode_clips(in, in->name, in->name, r->ndim, r->sample_rate, channels, out, NULL, err);
    jn_tensor_free(in);
    return rc;
}

const jn_conversion jn_decode_audio_conversion = {"decode-audio", decode_plan, decode_apply};

int jn_audio_register(jn_err *err)
{
    if (jn_convert_register(&jn_decode_audio_conversion))
        return jn_err_set(err, JN_ERESOURCE, "the conversion table is full");
    jn_kind_set_check(JN_KIND_AUDIO, audio_check);
    return 0;
}

/* ---- parameters ---- */

/* An integer request parameter in [lo, hi], or `def` when absent. */
static int int_param(const jn_infer_ctx *ctx, const char *model, const char *key, int def, int lo, int hi, int *out,
                     jn_err *err)
{
    *out = def;
    if (!ctx->params || !jn_params_find(ctx->params, key))
        return 0;
    double v;
    if (!jn_params_get_double(ctx->params, key, &v) || v != floor(v) || v < lo || v > hi)
        return jn_err_set(err, JN_EINVAL, "model '%s': parameter '%s' must be an integer in %d..%d", model, key, lo,
                          hi);
    *out = (int)v;
    return 0;
}

static int double_param(const jn_infer_ctx *ctx, const char *model, const char *key, double def, double *out,
                        jn_err *err)
{
    *out = def;
    if (!ctx->params || !jn_params_find(ctx->params, key))
        return 0;
    if (!jn_params_get_double(ctx->params, key, out) || !isfinite(*out))
        return jn_err_set(err, JN_EINVAL, "model '%s': parameter '%s' must be a number", model, key);
    return 0;
}

/* ---- audio-decode: AUDIO -> AUDIO_TENSOR [N, C, S] ---- */

static int decode_infer(jn_engine *self, const jn_infer_ctx *ctx, const jn_tensor_list *inputs,
                        jn_tensor_list *outputs, jn_err *err)
{
    (void)self;
    int rate, channels;
    int rc = int_param(ctx, ctx->model, "sample_rate", 16000, 0, JN_AUDIO_MAX_RATE, &rate, err);
    if (!rc)
        rc = int_param(ctx, ctx->model, "channels", 1, 0, JN_AUDIO_MAX_CHANNELS, &channels, err);
    if (rc)
        return rc;
    const jn_tensor *in = jn_tensor_list_find(inputs, "audio");
    jn_tensor *t = NULL;
    int got_rate = 0;
    rc = decode_clips(in, "audio", "samples", 3, rate, channels, &t, &got_rate, err);
    if (rc) {
        jn_err_prefix(err, "model '%s'", ctx->model);
        return rc;
    }
    if (ctx->answer)
        jn_params_set_int(ctx->answer, "sample_rate", got_rate);
    return jn_tensor_list_push(outputs, t) ? jn_err_set(err, JN_ENOMEM, "out of memory") : 0;
}

static const jn_engine_vtable decode_vtable = {
    .abi_version = JN_ENGINE_ABI_VERSION,
    .platform = "junction_audio",
    .infer = decode_infer,
};

jn_engine *jn_audio_decode_create(const char *name, const jn_builtin_options *opt, jn_err *err)
{
    (void)opt;
    jn_engine *e = jn_engine_create(&decode_vtable, name, "1",
                                    "WAV/FLAC/Ogg/MP3 -> FP32 [N, channels, samples] in [-1, 1]; parameters "
                                    "sample_rate (default 16000, 0 = as encoded; libsoxr HQ), channels (default 1 = "
                                    "down-mix, 0 = as encoded)",
                                    NULL, err);
    if (!e)
        return NULL;
    const int64_t in_shape[1] = {-1}, out_shape[3] = {-1, -1, -1};
    if (jn_signature_add_input(&e->sig, "audio", JN_KIND_AUDIO, JN_DTYPE_BYTES, 1, in_shape, err) ||
        jn_signature_add_output(&e->sig, "samples", JN_KIND_AUDIO_TENSOR, JN_DTYPE_FP32, 3, out_shape, err)) {
        jn_engine_unref(e);
        return NULL;
    }
    return e;
}

/* ---- log-mel: AUDIO_TENSOR [N, S] at 16 kHz -> FP32 [N, n_mels, frames] ---- */

static int logmel_infer(jn_engine *self, const jn_infer_ctx *ctx, const jn_tensor_list *inputs,
                        jn_tensor_list *outputs, jn_err *err)
{
    const jn_logmel_config *def = self->ctx;
    jn_logmel_config c = *def;
    const char *m = ctx->model;
    int rc = int_param(ctx, m, "n_fft", def->n_fft, 16, 65536, &c.n_fft, err);
    if (!rc)
        rc = int_param(ctx, m, "hop", def->hop, 1, 65536, &c.hop, err);
    if (!rc)
        rc = int_param(ctx, m, "n_mels", def->n_mels, 1, 1024, &c.n_mels, err);
    if (!rc)
        rc = int_param(ctx, m, "sample_rate", def->sample_rate, 1, JN_AUDIO_MAX_RATE, &c.sample_rate, err);
    if (!rc)
        rc = double_param(ctx, m, "fmin", def->fmin, &c.fmin, err);
    if (!rc)
        rc = double_param(ctx, m, "fmax", c.sample_rate != def->sample_rate ? c.sample_rate / 2.0 : def->fmax,
                          &c.fmax, err);
    if (!rc)
        rc = double_param(ctx, m, "power", def->power, &c.power, err);
    if (!rc)
        rc = double_param(ctx, m, "log_floor", def->log_floor, &c.log_floor, err);
    const char *window = ctx->params ? jn_params_get_string(ctx->params, "window") : NULL;
    if (!rc && window) {
        if (strcmp(window, "hann") == 0)
            c.hann = true;
        else if (strcmp(window, "rect") == 0)
            c.hann = false;
        else
            rc = jn_err_set(err, JN_EINVAL, "model '%s': parameter 'window' is '%s' (hann or rect)", m, window);
    }
    if (!rc && (rc = jn_logmel_check(&c, err)))
        jn_err_prefix(err, "model '%s'", m);
    if (rc)
        return rc;
    const jn_tensor *in = jn_tensor_list_find(inputs, "samples");
    int64_t N = in->shape[0], S = in->shape[1], T = jn_logmel_frames(&c, S);
    if (T == 0)
        return jn_err_set(err, JN_EINVAL, "model '%s': input 'samples' has %lld samples per row, fewer than n_fft %d",
                          m, (long long)S, c.n_fft);
    int64_t shape[3] = {N, c.n_mels, T};
    jn_tensor *t = jn_tensor_create("mel", JN_DTYPE_FP32, 3, shape, err);
    if (!t)
        return err ? err->code : JN_ENOMEM;
    for (int64_t i = 0; i < N && !rc; i++) {
        rc = jn_infer_ctx_check(ctx, err);
        if (!rc)
            rc = jn_logmel(&c, (const float *)in->data + i * S, S, (float *)t->data + i * c.n_mels * T, err);
    }
    if (rc) {
        jn_tensor_free(t);
        return rc;
    }
    return jn_tensor_list_push(outputs, t) ? jn_err_set(err, JN_ENOMEM, "out of memory") : 0;
}

static void logmel_destroy(jn_engine *self)
{
    free(self->ctx);
}

static const jn_engine_vtable logmel_vtable = {
    .abi_version = JN_ENGINE_ABI_VERSION,
    .platform = "junction_audio",
    .infer = logmel_infer,
    .destroy = logmel_destroy,
};

jn_engine *jn_logmel_create(const char *name, const jn_builtin_options *opt, jn_err *err)
{
    (void)opt;
    jn_logmel_config *cfg = malloc(sizeof *cfg);
    if (!cfg) {
        jn_err_set(err, JN_ENOMEM, "out of memory");
        return NULL;
    }
    jn_logmel_config_default(cfg);
    jn_engine *e = jn_engine_create(&logmel_vtable, name, "1",
                                    "16 kHz mono samples -> ln mel power spectrogram [N, n_mels, frames]: periodic "
                                    "Hann, HTK mel scale; parameters n_fft (400), hop (160), n_mels (80), fmin (0), "
                                    "fmax (8000), power (2), log_floor (1e-10), window (hann|rect), sample_rate",
                                    cfg, err);
    if (!e) {
        free(cfg);
        return NULL;
    }
    const int64_t in_shape[2] = {-1, -1}, out_shape[3] = {-1, -1, -1};
    if (jn_signature_add_input(&e->sig, "samples", JN_KIND_AUDIO_TENSOR, JN_DTYPE_FP32, 2, in_shape, err) ||
        jn_signature_add_output(&e->sig, "mel", JN_KIND_TENSOR, JN_DTYPE_FP32, 3, out_shape, err)) {
        jn_engine_unref(e);
        return NULL;
    }
    e->sig.inputs[0].sample_rate = cfg->sample_rate;
    return e;
}
