/* preprocess.c — the image-preprocess engine (IMAGE -> IMAGE_TENSOR FP32 [N,3,256,256], ImageNet normalization)
 * and the resampling core it shares with other vision engines and the pipeline's "decode-image" conversion. */
#include "preprocess.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../builtin.h"
#include "codec.h"

void jn_preprocess_config_default(jn_preprocess_config *cfg)
{
    *cfg = (jn_preprocess_config){
        .width = 256,
        .height = 256,
        .channels = 3,
        .mean = {0.485f, 0.456f, 0.406f},
        .std = {0.229f, 0.224f, 0.225f},
        .crop = true,
        .max_pixels = JN_IMAGE_DEFAULT_MAX_PIXELS,
    };
}

/* ---- resampling ---- */

/* The weights of one axis for outputs [offset, offset + count) of a resize from in_size to full_size. */
typedef struct axis_coeffs {
    int *first; /* first source index per output */
    int *n;     /* taps per output */
    float *w;   /* taps * count, output-major */
    int taps;   /* stride of w */
} axis_coeffs;

static void axis_free(axis_coeffs *a)
{
    free(a->first);
    free(a->n);
    free(a->w);
}

static double triangle(double x)
{
    x = x < 0 ? -x : x;
    return x < 1.0 ? 1.0 - x : 0.0;
}

/* PIL's precompute_coeffs for the bilinear filter: support 1, widened by the shrink factor (antialiasing). */
static int axis_init(axis_coeffs *a, int in_size, int full_size, int offset, int count)
{
    double scale = (double)in_size / full_size;
    double fscale = scale > 1.0 ? scale : 1.0;
    double support = 1.0 * fscale;
    a->taps = (int)ceil(support) * 2 + 1;
    a->first = malloc((size_t)count * sizeof *a->first);
    a->n = malloc((size_t)count * sizeof *a->n);
    a->w = malloc((size_t)count * (size_t)a->taps * sizeof *a->w);
    if (!a->first || !a->n || !a->w)
        return JN_ENOMEM;
    for (int i = 0; i < count; i++) {
        double center = (offset + i + 0.5) * scale;
        int lo = (int)(center - support + 0.5), hi = (int)(center + support + 0.5);
        if (lo < 0)
            lo = 0;
        if (hi > in_size)
            hi = in_size;
        if (hi - lo > a->taps)
            hi = lo + a->taps;
        double ws[64], sum = 0;
        double *wv = hi - lo <= 64 ? ws : malloc((size_t)(hi - lo) * sizeof *wv);
        if (!wv)
            return JN_ENOMEM;
        for (int j = lo; j < hi; j++)
            sum += wv[j - lo] = triangle((j - center + 0.5) / fscale);
        float *dst = a->w + (size_t)i * a->taps;
        for (int j = lo; j < hi; j++)
            dst[j - lo] = (float)(sum > 0 ? wv[j - lo] / sum : 0);
        if (wv != ws)
            free(wv);
        a->first[i] = lo;
        a->n[i] = hi - lo;
    }
    return 0;
}

int jn_pixels_to_nchw(const uint8_t *pixels, int width, int height, const jn_preprocess_config *cfg, float *out,
                      jn_err *err)
{
    int W = cfg->width, H = cfg->height, C = cfg->channels;
    if (W <= 0 || H <= 0 || (C != 1 && C != 3) || width <= 0 || height <= 0)
        return jn_err_set(err, JN_EINVAL, "preprocess: bad sizes (image %dx%d to %dx%dx%d)", width, height, W, H, C);
    for (int c = 0; c < C; c++)
        if (!(cfg->std[c] != 0.0f))
            return jn_err_set(err, JN_EINVAL, "preprocess: std[%d] must not be 0", c);
    int rw = W, rh = H, x0 = 0, y0 = 0;
    if (cfg->crop) {
        double s = fmax((double)W / width, (double)H / height);
        rw = (int)lround(width * s);
        rh = (int)lround(height * s);
        rw = rw < W ? W : rw;
        rh = rh < H ? H : rh;
        x0 = (rw - W) / 2;
        y0 = (rh - H) / 2;
    }
    float ka[3], kb[3]; /* (v/255 - mean) / std = v * ka + kb per channel */
    for (int c = 0; c < C; c++) {
        ka[c] = 1.0f / (255.0f * cfg->std[c]);
        kb[c] = -cfg->mean[c] / cfg->std[c];
    }
    size_t plane = (size_t)W * H;
    if (rw == width && rh == height) {
        /* No scaling (at most a crop): the filter's weights are exactly 1 and 0, so resampling would return the
         * pixels unchanged. Normalize the kept window directly, as PIL's resize does nothing at the same size. */
        for (int y = 0; y < H; y++) {
            const uint8_t *src = pixels + ((size_t)(y + y0) * width + x0) * C;
            for (int c = 0; c < C; c++) {
                float *dst = out + c * plane + (size_t)y * W;
                for (int x = 0; x < W; x++)
                    dst[x] = (float)src[(size_t)x * C + c] * ka[c] + kb[c];
            }
        }
        return 0;
    }
    axis_coeffs ax = {0}, ay = {0};
    float *tmp = NULL;
    int rc = axis_init(&ax, width, rw, x0, W);
    if (!rc)
        rc = axis_init(&ay, height, rh, y0, H);
    /* Horizontal pass over the source rows the vertical pass will read. */
    int row_lo = 0, row_hi = 0;
    if (!rc) {
        row_lo = ay.first[0];
        row_hi = ay.first[H - 1] + ay.n[H - 1];
        for (int y = 0; y < H; y++) {
            if (ay.first[y] < row_lo)
                row_lo = ay.first[y];
            if (ay.first[y] + ay.n[y] > row_hi)
                row_hi = ay.first[y] + ay.n[y];
        }
        tmp = malloc((size_t)(row_hi - row_lo) * W * C * sizeof *tmp);
        if (!tmp)
            rc = JN_ENOMEM;
    }
    if (rc) {
        axis_free(&ax);
        axis_free(&ay);
        return jn_err_set(err, JN_ENOMEM, "preprocess: out of memory");
    }
    float *rowf = malloc((size_t)width * C * sizeof *rowf);
    if (!rowf) {
        free(tmp);
        axis_free(&ax);
        axis_free(&ay);
        return jn_err_set(err, JN_ENOMEM, "preprocess: out of memory");
    }
    for (int y = row_lo; y < row_hi; y++) {
        /* Each source sample is read by several taps: convert the row to float once. */
        const uint8_t *src8 = pixels + (size_t)y * width * C;
        for (size_t i = 0; i < (size_t)width * C; i++)
            rowf[i] = src8[i];
        float *dst = tmp + (size_t)(y - row_lo) * W * C;
        for (int x = 0; x < W; x++) {
            const float *w = ax.w + (size_t)x * ax.taps;
            const float *s = rowf + (size_t)ax.first[x] * C;
            int n = ax.n[x];
            if (C == 1) {
                float acc = 0;
                for (int k = 0; k < n; k++)
                    acc += w[k] * s[k];
                dst[x] = acc;
            } else {
                float r = 0, g = 0, b = 0;
                for (int k = 0; k < n; k++, s += 3) {
                    r += w[k] * s[0];
                    g += w[k] * s[1];
                    b += w[k] * s[2];
                }
                dst[3 * x] = r;
                dst[3 * x + 1] = g;
                dst[3 * x + 2] = b;
            }
        }
    }
    free(rowf);
    /* Vertical pass, then (v/255 - mean) / std into planes. */
    for (int y = 0; y < H; y++) {
        const float *w = ay.w + (size_t)y * ay.taps;
        int n = ay.n[y];
        const float *base = tmp + (size_t)(ay.first[y] - row_lo) * W * C;
        for (int c = 0; c < C; c++) {
            float *dst = out + c * plane + (size_t)y * W;
            for (int px = 0; px < W; px++) {
                size_t x = (size_t)px * C + c;
                float acc = 0;
                for (int k = 0; k < n; k++)
                    acc += w[k] * base[(size_t)k * W * C + x];
                acc = acc < 0.0f ? 0.0f : acc > 255.0f ? 255.0f : acc; /* weights sum to 1 only up to rounding */
                dst[px] = acc * ka[c] + kb[c];
            }
        }
    }
    free(tmp);
    axis_free(&ax);
    axis_free(&ay);
    return 0;
}

int jn_image_to_nchw_named(const uint8_t *encoded, size_t len, const jn_preprocess_config *cfg, const char *what,
                           float *out, jn_err *err)
{
    if (cfg->channels != 1 && cfg->channels != 3)
        return jn_err_set(err, JN_EINVAL, "preprocess: channels must be 1 or 3, got %d", cfg->channels);
    jn_tensor *img = NULL;
    uint64_t limit = cfg->max_pixels ? cfg->max_pixels : JN_IMAGE_DEFAULT_MAX_PIXELS;
    int rc = jn_image_decode(encoded, len, cfg->channels, limit, what ? what : "image", &img, err);
    if (rc)
        return rc;
    if (img->shape[0] == 0 || img->shape[1] == 0) {
        jn_tensor_free(img);
        return jn_err_set(err, JN_EINVAL, "image '%s': has no pixels", what ? what : "image");
    }
    rc = jn_pixels_to_nchw(img->data, (int)img->shape[1], (int)img->shape[0], cfg, out, err);
    jn_tensor_free(img);
    return rc;
}

int jn_image_to_nchw(const uint8_t *encoded, size_t len, const jn_preprocess_config *cfg, float *out, jn_err *err)
{
    return jn_image_to_nchw_named(encoded, len, cfg, NULL, out, err);
}

/* Decodes every element of a BYTES tensor into one [n, C, H, W] FP32 tensor named `name`. */
static int images_to_tensor(const jn_tensor *in, const jn_preprocess_config *cfg, const char *name, int ndim,
                            const char *port, const jn_infer_ctx *ctx, jn_tensor **out, jn_err *err)
{
    int64_t n = jn_bytes_count(in->data, in->byte_size);
    if (n < 0)
        return jn_err_set(err, JN_EINVAL, "image '%s': malformed BYTES payload", port);
    if (ndim == 3 && n != 1)
        return jn_err_set(err, JN_EINVAL, "image '%s': one image expected for a [C,H,W] tensor, got %lld", port,
                          (long long)n);
    int64_t shape[4] = {n, cfg->channels, cfg->height, cfg->width};
    jn_tensor *t = ndim == 3 ? jn_tensor_create(name, JN_DTYPE_FP32, 3, shape + 1, err)
                             : jn_tensor_create(name, JN_DTYPE_FP32, 4, shape, err);
    if (!t)
        return err->code;
    size_t per = (size_t)cfg->channels * cfg->height * cfg->width, pos = 0;
    const uint8_t *elem;
    uint32_t len;
    for (int64_t i = 0; jn_bytes_next(in->data, in->byte_size, &pos, &elem, &len); i++) {
        int rc = ctx ? jn_infer_ctx_check(ctx, err) : 0;
        char what[128];
        if (n == 1)
            snprintf(what, sizeof what, "%s", port);
        else
            snprintf(what, sizeof what, "%s[%lld]", port, (long long)i);
        if (!rc)
            rc = jn_image_to_nchw_named(elem, len, cfg, what, (float *)t->data + (size_t)i * per, err);
        if (rc) {
            jn_tensor_free(t);
            return rc;
        }
    }
    *out = t;
    return 0;
}

/* ---- the engine ---- */

static int preprocess_infer(jn_engine *self, const jn_infer_ctx *ctx, const jn_tensor_list *inputs,
                            jn_tensor_list *outputs, jn_err *err)
{
    const jn_preprocess_config *cfg = self->ctx;
    const jn_tensor *in = jn_tensor_list_find(inputs, "image");
    jn_tensor *t = NULL;
    int rc = images_to_tensor(in, cfg, "tensor", 4, "image", ctx, &t, err);
    if (rc)
        return rc;
    return jn_tensor_list_push(outputs, t) ? jn_err_set(err, JN_ENOMEM, "out of memory") : 0;
}

static void preprocess_destroy(jn_engine *self)
{
    free(self->ctx);
}

static const jn_engine_vtable preprocess_vtable = {
    .abi_version = JN_ENGINE_ABI_VERSION,
    .platform = "junction_vision",
    .infer = preprocess_infer,
    .destroy = preprocess_destroy,
};

jn_engine *jn_preprocess_create(const char *name, const jn_builtin_options *opt, jn_err *err)
{
    jn_preprocess_config *cfg = malloc(sizeof *cfg);
    if (!cfg) {
        jn_err_set(err, JN_ENOMEM, "out of memory");
        return NULL;
    }
    jn_preprocess_config_default(cfg);
    jn_engine *e = jn_engine_create(&preprocess_vtable, name, "1",
                                    "PNG/JPEG -> FP32 NCHW 3x256x256: bilinear antialiased resize of the shorter "
                                    "side, center crop, RGB, ImageNet mean/std",
                                    cfg, err);
    if (!e) {
        free(cfg);
        return NULL;
    }
    const int64_t in_shape[1] = {-1};
    const int64_t out_shape[4] = {-1, cfg->channels, cfg->height, cfg->width};
    if (jn_signature_add_input(&e->sig, "image", JN_KIND_IMAGE, JN_DTYPE_BYTES, 1, in_shape, err) ||
        jn_signature_add_output(&e->sig, "tensor", JN_KIND_IMAGE_TENSOR, JN_DTYPE_FP32, 4, out_shape, err)) {
        jn_engine_unref(e);
        return NULL;
    }
    if (jn_signature_batches(&e->sig)) /* rows are independent */
        e->flags |= JN_ENGINE_BATCHES;
    return e;
}

/* ---- the pipeline conversion IMAGE -> FP32 [N?, C, H, W] ----
 * A consumer that declares an image tensor gets each encoded image decoded, resized to its H x W (plain resize,
 * aspect ratio not kept, no crop) and scaled to [0, 1] (x/255, mean 0, std 1). Models wanting other normalization
 * or a center crop put an image-preprocess step (or their own) in front; see DECISIONS.md "Images". */

static bool decode_plan(const jn_port *from, const jn_port *to, const jn_binding *b, jn_convert_step *out)
{
    (void)b;
    if (from->kind != JN_KIND_IMAGE || from->dtype != JN_DTYPE_BYTES)
        return false;
    if ((to->kind != JN_KIND_IMAGE_TENSOR && to->kind != JN_KIND_TENSOR) || to->dtype != JN_DTYPE_FP32)
        return false;
    if (to->ndim != 3 && to->ndim != 4)
        return false;
    int c = to->ndim - 3;
    int64_t C = to->shape[c], H = to->shape[c + 1], W = to->shape[c + 2];
    if ((C != 1 && C != 3) || H <= 0 || W <= 0 || H > 16384 || W > 16384)
        return false;
    out->result = *to;
    if (to->ndim == 4 && to->shape[0] < 0)
        out->result.shape[0] = from->ndim == 1 ? from->shape[0] : -1;
    return true;
}

static int decode_apply(const jn_convert_step *step, jn_tensor *in, jn_tensor **out, jn_err *err)
{
    const jn_port *r = &step->result;
    int c = r->ndim - 3;
    jn_preprocess_config cfg = {
        .width = (int)r->shape[c + 2],
        .height = (int)r->shape[c + 1],
        .channels = (int)r->shape[c],
        .mean = {0, 0, 0},
        .std = {1, 1, 1},
        .crop = false,
    };
    int rc = images_to_tensor(in, &cfg, in->name, r->ndim, in->name, NULL, out, err);
    jn_tensor_free(in);
    return rc;
}

const jn_conversion jn_decode_image_conversion = {"decode-image", decode_plan, decode_apply};
