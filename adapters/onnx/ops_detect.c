/* ops_detect.c — detection operators: TopK (opsets 1, 10, 11), NonMaxSuppression (10, 11), RoiAlign (10, 16),
 * GridSample (16; 20's N-D form and mode names are refused / accepted as below). Registered through ops_vision.c's
 * table.
 *
 * NonMaxSuppression's output length depends on the values of its inputs, so its boxes and scores are shape inputs:
 * the plan is keyed on them (a model that runs NMS on every request plans each distinct input anew; correct, not
 * fast). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ops_helpers.h"

/* ---------------------------------------------------------------------------------------------------------------
 * TopK: values and INT64 indices of the k largest (or smallest) along an axis, sorted, ties by lower index. */

static int topk_check(ox_model *m, ox_node *n, jn_err *err)
{
    jn_dtype dt = ox_in_dtype(m, n, 0);
    if (!ox_dtype_is_float(dt) && !ox_dtype_is_int(dt))
        return ox_reject(n, err, "dtype %s is not supported", jn_dtype_name(dt));
    if (n->opset < 10 && ox_attr_int(n, "k", -1) < 0)
        return ox_reject(n, err, "the k attribute is required at opset %d", n->opset);
    if (n->opset >= 10 && n->n_in < 2)
        return ox_reject(n, err, "the K input is required at opset %d", n->opset);
    if (oxh_need_int(m, n, 1, "K", err))
        return err->code;
    ox_set_out_dtype(m, n, 0, dt);
    ox_set_out_dtype(m, n, 1, JN_DTYPE_INT64);
    return 0;
}

static int topk_geom(const ox_node *n, ox_tensor *const *in, int *axis, int64_t *k, jn_err *err)
{
    *axis = ox_axis(ox_attr_int(n, "axis", -1), in[0]->ndim);
    if (*axis < 0)
        return OX_ERR(n, err, JN_EINVAL, "axis %lld is out of range", (long long)ox_attr_int(n, "axis", -1));
    if (n->opset < 10)
        *k = ox_attr_int(n, "k", 0);
    else if (oxh_scalar_i64(n, in[1], "K", k, err))
        return err->code;
    if (*k < 0 || *k > in[0]->shape[*axis])
        return OX_ERR(n, err, JN_EINVAL, "K %lld is outside [0, %lld]", (long long)*k, (long long)in[0]->shape[*axis]);
    return 0;
}

static int topk_shape(const ox_node *n, ox_tensor *const *in, ox_tensor *const *out, jn_err *err)
{
    int axis;
    int64_t k = 0, shape[JN_MAX_DIMS];
    if (topk_geom(n, in, &axis, &k, err))
        return err->code;
    memcpy(shape, in[0]->shape, sizeof shape);
    shape[axis] = k;
    if (ox_set_shape(out[0], in[0]->dtype, in[0]->ndim, shape, err))
        return err->code;
    if (n->n_out > 1 && out[1])
        return ox_set_shape(out[1], JN_DTYPE_INT64, in[0]->ndim, shape, err);
    return 0;
}

typedef struct kv {
    double v;
    int64_t i;
} kv;

static int kv_desc(const void *a, const void *b)
{
    const kv *x = a, *y = b;
    if (x->v != y->v) {
        if (x->v != x->v) /* NaN first, as the largest */
            return -1;
        if (y->v != y->v)
            return 1;
        return x->v > y->v ? -1 : 1;
    }
    return x->i < y->i ? -1 : x->i > y->i;
}

static int kv_asc(const void *a, const void *b)
{
    const kv *x = a, *y = b;
    if (x->v != y->v) {
        if (x->v != x->v)
            return 1;
        if (y->v != y->v)
            return -1;
        return x->v < y->v ? -1 : 1;
    }
    return x->i < y->i ? -1 : x->i > y->i;
}

static int topk_run(const ox_node *n, ox_tensor *const *in, ox_tensor *const *out, jn_err *err)
{
    int axis;
    int64_t k = 0;
    if (topk_geom(n, in, &axis, &k, err))
        return err->code;
    int64_t outer, inner, len = in[0]->shape[axis];
    ox_around_axis(in[0], axis, &outer, &inner);
    bool largest = ox_attr_int(n, "largest", 1) != 0;
    kv *buf = malloc((size_t)(len + 1) * sizeof *buf);
    if (!buf)
        return OX_ERR(n, err, JN_ENOMEM, "out of memory");
    jn_dtype dt = in[0]->dtype;
    bool is_int = ox_dtype_is_int(dt);
    for (int64_t o = 0; o < outer; o++)
        for (int64_t j = 0; j < inner; j++) {
            for (int64_t i = 0; i < len; i++) {
                int64_t at = (o * len + i) * inner + j;
                buf[i].v = ox_load_f64(in[0]->data, dt, at);
                buf[i].i = i;
            }
            qsort(buf, (size_t)len, sizeof *buf, largest ? kv_desc : kv_asc);
            for (int64_t i = 0; i < k; i++) {
                int64_t at = (o * k + i) * inner + j;
                size_t es = jn_dtype_size(dt);
                if (is_int)
                    memcpy((uint8_t *)out[0]->data + (size_t)at * es,
                           (const uint8_t *)in[0]->data + (size_t)((o * len + buf[i].i) * inner + j) * es, es);
                else
                    ox_store_f64(out[0]->data, dt, at, buf[i].v);
                if (n->n_out > 1 && out[1])
                    ((int64_t *)out[1]->data)[at] = buf[i].i;
            }
        }
    free(buf);
    return 0;
}

static const char *const topk_attrs[] = {"axis", "k", "largest", "sorted", NULL};
const ox_op ox_op_topk = {.op_type = "TopK", .min_in = 1, .max_in = 2, .min_out = 1, .max_out = 2,
                          .attrs = topk_attrs, .shape_inputs = 1u << 1, .check = topk_check, .shape = topk_shape,
                          .run = topk_run};

/* ---------------------------------------------------------------------------------------------------------------
 * NonMaxSuppression */

static int nms_check(ox_model *m, ox_node *n, jn_err *err)
{
    if (oxh_need_dtype(m, n, 0, JN_DTYPE_FP32, "boxes", err) || oxh_need_dtype(m, n, 1, JN_DTYPE_FP32, "scores", err) ||
        oxh_need_int(m, n, 2, "max_output_boxes_per_class", err) ||
        oxh_need_dtype(m, n, 3, JN_DTYPE_FP32, "iou_threshold", err) ||
        oxh_need_dtype(m, n, 4, JN_DTYPE_FP32, "score_threshold", err))
        return err->code;
    int64_t cpb = ox_attr_int(n, "center_point_box", 0);
    if (cpb != 0 && cpb != 1)
        return ox_reject(n, err, "center_point_box %lld is not 0 or 1", (long long)cpb);
    ox_set_out_dtype(m, n, 0, JN_DTYPE_INT64);
    return 0;
}

/* Box i as y1, x1, y2, x2 with y1 <= y2, x1 <= x2. */
static void nms_box(const float *b, bool center, double *c)
{
    if (center) {
        double xc = b[0], yc = b[1], w = b[2], h = b[3];
        c[0] = yc - h / 2, c[1] = xc - w / 2, c[2] = yc + h / 2, c[3] = xc + w / 2;
        return;
    }
    c[0] = fmin(b[0], b[2]), c[2] = fmax(b[0], b[2]);
    c[1] = fmin(b[1], b[3]), c[3] = fmax(b[1], b[3]);
}

static bool nms_suppress(const double *a, const double *b, double iou_threshold)
{
    double ix = fmin(a[3], b[3]) - fmax(a[1], b[1]), iy = fmin(a[2], b[2]) - fmax(a[0], b[0]);
    if (ix <= 0 || iy <= 0)
        return false;
    double inter = ix * iy, a1 = (a[2] - a[0]) * (a[3] - a[1]), a2 = (b[2] - b[0]) * (b[3] - b[1]);
    double uni = a1 + a2 - inter;
    if (a1 <= 0 || a2 <= 0 || uni <= 0)
        return false;
    return inter / uni > iou_threshold;
}

/* Runs the selection; writes up to `cap` triples into sel (NULL: count only). The number selected, or -1. */
static int64_t nms_select(const ox_node *n, ox_tensor *const *in, int64_t *sel, int64_t cap, jn_err *err)
{
    const ox_tensor *bx = in[0], *sc = in[1];
    if (bx->ndim != 3 || bx->shape[2] != 4 || sc->ndim != 3 || sc->shape[0] != bx->shape[0] ||
        sc->shape[2] != bx->shape[1]) {
        OX_ERR(n, err, JN_EINVAL, "boxes must be [B, N, 4] and scores [B, C, N]");
        return -1;
    }
    int64_t maxo = 0;
    double iou = 0, sthr = 0;
    bool have_sthr = oxh_given(in, n->n_in, 4);
    if (oxh_given(in, n->n_in, 2) && oxh_scalar_i64(n, in[2], "max_output_boxes_per_class", &maxo, err))
        return -1;
    if (oxh_given(in, n->n_in, 3) && oxh_scalar_f64(n, in[3], "iou_threshold", &iou, err))
        return -1;
    if (have_sthr && oxh_scalar_f64(n, in[4], "score_threshold", &sthr, err))
        return -1;
    int64_t B = bx->shape[0], N = bx->shape[1], C = sc->shape[1], count = 0;
    if (maxo <= 0 || N == 0)
        return 0;
    bool center = ox_attr_int(n, "center_point_box", 0) != 0;
    kv *cand = malloc((size_t)(N + 1) * sizeof *cand);
    int64_t *picked = malloc((size_t)(N + 1) * sizeof *picked);
    double *boxes = malloc((size_t)(N * 4 + 1) * sizeof *boxes);
    if (!cand || !picked || !boxes) {
        free(cand), free(picked), free(boxes);
        OX_ERR(n, err, JN_ENOMEM, "out of memory");
        return -1;
    }
    for (int64_t b = 0; b < B; b++) {
        for (int64_t i = 0; i < N; i++)
            nms_box((const float *)bx->data + (b * N + i) * 4, center, boxes + i * 4);
        for (int64_t c = 0; c < C; c++) {
            const float *s = (const float *)sc->data + (b * C + c) * N;
            int64_t nc = 0, np = 0;
            for (int64_t i = 0; i < N; i++)
                if (!have_sthr || s[i] > sthr)
                    cand[nc].v = s[i], cand[nc++].i = i;
            qsort(cand, (size_t)nc, sizeof *cand, kv_desc);
            for (int64_t k = 0; k < nc && np < maxo; k++) {
                bool keep = true;
                for (int64_t p = 0; p < np && keep; p++)
                    keep = !nms_suppress(boxes + cand[k].i * 4, boxes + picked[p] * 4, iou);
                if (!keep)
                    continue;
                picked[np++] = cand[k].i;
                if (sel && count < cap) {
                    sel[count * 3] = b, sel[count * 3 + 1] = c, sel[count * 3 + 2] = cand[k].i;
                }
                count++;
            }
        }
    }
    free(cand), free(picked), free(boxes);
    return count;
}

static int nms_shape(const ox_node *n, ox_tensor *const *in, ox_tensor *const *out, jn_err *err)
{
    int64_t c = nms_select(n, in, NULL, 0, err);
    if (c < 0)
        return err->code;
    int64_t shape[2] = {c, 3};
    return ox_set_shape(out[0], JN_DTYPE_INT64, 2, shape, err);
}

static int nms_run(const ox_node *n, ox_tensor *const *in, ox_tensor *const *out, jn_err *err)
{
    int64_t c = nms_select(n, in, out[0]->data, out[0]->shape[0], err);
    if (c < 0)
        return err->code;
    if (c != out[0]->shape[0])
        return OX_ERR(n, err, JN_EINTERNAL, "selected %lld boxes, the plan expected %lld", (long long)c,
                      (long long)out[0]->shape[0]);
    return 0;
}

static const char *const nms_attrs[] = {"center_point_box", NULL};
const ox_op ox_op_nms = {.op_type = "NonMaxSuppression", .min_in = 2, .max_in = 5, .min_out = 1, .max_out = 1,
                         .attrs = nms_attrs, .shape_inputs = 0x1f, .check = nms_check, .shape = nms_shape,
                         .run = nms_run};

/* ---------------------------------------------------------------------------------------------------------------
 * RoiAlign */

static int roi_check(ox_model *m, ox_node *n, jn_err *err)
{
    const char *mode = ox_attr_str(n, "mode", "avg");
    if (strcmp(mode, "avg") && strcmp(mode, "max"))
        return ox_reject(n, err, "mode '%s' is not avg or max", mode);
    const char *ct = ox_attr_str(n, "coordinate_transformation_mode", "half_pixel");
    if (strcmp(ct, "half_pixel") && strcmp(ct, "output_half_pixel"))
        return ox_reject(n, err, "coordinate_transformation_mode '%s' is not supported", ct);
    if (ox_attr_int(n, "output_height", 1) < 1 || ox_attr_int(n, "output_width", 1) < 1 ||
        ox_attr_int(n, "sampling_ratio", 0) < 0)
        return ox_reject(n, err, "output_height/output_width must be positive, sampling_ratio not negative");
    if (oxh_need_dtype(m, n, 0, JN_DTYPE_FP32, "X", err) || oxh_need_dtype(m, n, 1, JN_DTYPE_FP32, "rois", err) ||
        oxh_need_int(m, n, 2, "batch_indices", err))
        return err->code;
    ox_set_out_dtype(m, n, 0, JN_DTYPE_FP32);
    return 0;
}

static int roi_shape(const ox_node *n, ox_tensor *const *in, ox_tensor *const *out, jn_err *err)
{
    if (in[0]->ndim != 4 || in[1]->ndim != 2 || in[1]->shape[1] != 4 || ox_count(in[2]) != in[1]->shape[0])
        return OX_ERR(n, err, JN_EINVAL, "X must be [N, C, H, W], rois [R, 4], batch_indices [R]");
    int64_t shape[4] = {in[1]->shape[0], in[0]->shape[1], ox_attr_int(n, "output_height", 1),
                        ox_attr_int(n, "output_width", 1)};
    return ox_set_shape(out[0], JN_DTYPE_FP32, 4, shape, err);
}

static int roi_run(const ox_node *n, ox_tensor *const *in, ox_tensor *const *out, jn_err *err)
{
    int64_t C = in[0]->shape[1], H = in[0]->shape[2], W = in[0]->shape[3], R = in[1]->shape[0];
    int64_t OH = out[0]->shape[2], OW = out[0]->shape[3], sr = ox_attr_int(n, "sampling_ratio", 0);
    double scale = ox_attr_float(n, "spatial_scale", 1.0f);
    bool half = n->opset >= 16 && strcmp(ox_attr_str(n, "coordinate_transformation_mode", "half_pixel"),
                                         "half_pixel") == 0;
    bool is_max = strcmp(ox_attr_str(n, "mode", "avg"), "max") == 0;
    double off = half ? 0.5 : 0.0;
    const float *x = in[0]->data, *rois = in[1]->data;
    float *y = out[0]->data;
    for (int64_t r = 0; r < R; r++) {
        int64_t b = ox_load_i64(in[2]->data, in[2]->dtype, r);
        if (b < 0 || b >= in[0]->shape[0])
            return OX_ERR(n, err, JN_EINVAL, "batch index %lld is out of range", (long long)b);
        const float *rr = rois + r * 4;
        double x0 = rr[0] * scale - off, y0 = rr[1] * scale - off, x1 = rr[2] * scale - off,
               y1 = rr[3] * scale - off;
        double rw = x1 - x0, rh = y1 - y0;
        if (!half) {
            rw = fmax(rw, 1.0);
            rh = fmax(rh, 1.0);
        }
        if (!isfinite(x0) || !isfinite(y0) || !isfinite(rw) || !isfinite(rh) || fabs(x0) > 1e9 || fabs(y0) > 1e9 ||
            fabs(rw) > 1e9 || fabs(rh) > 1e9)
            return OX_ERR(n, err, JN_EINVAL, "roi %lld is not finite or too large", (long long)r);
        double bh = rh / (double)OH, bw = rw / (double)OW;
        int64_t gh = sr > 0 ? sr : (int64_t)ceil(rh / (double)OH), gw = sr > 0 ? sr : (int64_t)ceil(rw / (double)OW);
        if (gh > 1024 || gw > 1024 || gh * gw * OH * OW > (int64_t)1 << 24)
            return OX_ERR(n, err, JN_EINVAL, "roi %lld needs too many samples per bin", (long long)r);
        double cnt = (double)(gh * gw > 1 ? gh * gw : 1);
        for (int64_t c = 0; c < C; c++) {
            const float *plane = x + (b * C + c) * H * W;
            for (int64_t ph = 0; ph < OH; ph++)
                for (int64_t pw = 0; pw < OW; pw++) {
                    double acc = 0;
                    bool first = true;
                    for (int64_t iy = 0; iy < gh; iy++) {
                        double yy = y0 + (double)ph * bh + ((double)iy + 0.5) * bh / (double)gh;
                        for (int64_t ix = 0; ix < gw; ix++) {
                            double xx = x0 + (double)pw * bw + ((double)ix + 0.5) * bw / (double)gw;
                            double v = 0;
                            if (!(yy < -1.0 || yy > (double)H || xx < -1.0 || xx > (double)W)) {
                                double ys = yy <= 0 ? 0 : yy, xs = xx <= 0 ? 0 : xx;
                                int64_t yl = (int64_t)ys, xl = (int64_t)xs, yh, xh;
                                if (yl >= H - 1)
                                    yh = yl = H - 1, ys = (double)yl;
                                else
                                    yh = yl + 1;
                                if (xl >= W - 1)
                                    xh = xl = W - 1, xs = (double)xl;
                                else
                                    xh = xl + 1;
                                double ly = ys - (double)yl, lx = xs - (double)xl, hy = 1 - ly, hx = 1 - lx;
                                double w1 = hy * hx * plane[yl * W + xl], w2 = hy * lx * plane[yl * W + xh],
                                       w3 = ly * hx * plane[yh * W + xl], w4 = ly * lx * plane[yh * W + xh];
                                v = is_max ? fmax(fmax(w1, w2), fmax(w3, w4)) : w1 + w2 + w3 + w4;
                            }
                            if (is_max)
                                acc = first ? v : fmax(acc, v);
                            else
                                acc += v;
                            first = false;
                        }
                    }
                    y[((r * C + c) * OH + ph) * OW + pw] = (float)(is_max ? acc : acc / cnt);
                }
        }
    }
    return 0;
}

static const char *const roi_attrs[] = {"coordinate_transformation_mode", "mode", "output_height", "output_width",
                                        "sampling_ratio", "spatial_scale", NULL};
const ox_op ox_op_roialign = {.op_type = "RoiAlign", .min_in = 3, .max_in = 3, .min_out = 1, .max_out = 1,
                              .attrs = roi_attrs, .check = roi_check, .shape = roi_shape, .run = roi_run};

/* ---------------------------------------------------------------------------------------------------------------
 * GridSample (4-D: X [N, C, H, W], grid [N, Ho, Wo, 2] of (x, y) in [-1, 1]) */

enum { GS_LINEAR, GS_NEAREST, GS_CUBIC };
enum { GP_ZEROS, GP_BORDER, GP_REFLECTION };
static const char *const gs_modes[] = {"bilinear", "nearest", "bicubic", "linear", "cubic", NULL};
static const char *const gs_pads[] = {"zeros", "border", "reflection", NULL};

static int gs_check(ox_model *m, ox_node *n, jn_err *err)
{
    if (oxh_str_choice(n, "mode", "bilinear", gs_modes, err) < 0 ||
        oxh_str_choice(n, "padding_mode", "zeros", gs_pads, err) < 0)
        return err->code;
    if (oxh_need_dtype(m, n, 0, JN_DTYPE_FP32, "X", err) || oxh_need_dtype(m, n, 1, JN_DTYPE_FP32, "grid", err))
        return err->code;
    ox_set_out_dtype(m, n, 0, JN_DTYPE_FP32);
    return 0;
}

static int gs_shape(const ox_node *n, ox_tensor *const *in, ox_tensor *const *out, jn_err *err)
{
    if (in[0]->ndim != 4 || in[1]->ndim != 4 || in[1]->shape[3] != 2 || in[1]->shape[0] != in[0]->shape[0])
        return OX_ERR(n, err, JN_EINVAL, "X must be [N, C, H, W] and grid [N, Ho, Wo, 2] (N-D sampling is not "
                      "supported)");
    int64_t shape[4] = {in[0]->shape[0], in[0]->shape[1], in[1]->shape[1], in[1]->shape[2]};
    return ox_set_shape(out[0], JN_DTYPE_FP32, 4, shape, err);
}

static double gs_reflect(double x, double lo, double hi)
{
    double rng = hi - lo;
    if (rng <= 0)
        return lo;
    if (x < lo) {
        double dx = lo - x;
        int64_t k = (int64_t)(dx / rng);
        double r = dx - (double)k * rng;
        return k % 2 == 0 ? lo + r : hi - r;
    }
    if (x > hi) {
        double dx = x - hi;
        int64_t k = (int64_t)(dx / rng);
        double r = dx - (double)k * rng;
        return k % 2 == 0 ? hi - r : lo + r;
    }
    return x;
}

typedef struct gs_ctx {
    const float *plane;
    int64_t H, W;
    int pad;
    double lo[2], hi[2]; /* reflection borders per axis (0: y, 1: x) */
} gs_ctx;

static double gs_pixel(const gs_ctx *g, int64_t yi, int64_t xi)
{
    int64_t dims[2] = {g->H, g->W}, idx[2] = {yi, xi};
    for (int a = 0; a < 2; a++) {
        if (g->pad == GP_ZEROS) {
            if (idx[a] < 0 || idx[a] >= dims[a])
                return 0;
        } else if (g->pad == GP_BORDER) {
            idx[a] = idx[a] < 0 ? 0 : idx[a] >= dims[a] ? dims[a] - 1 : idx[a];
        } else {
            idx[a] = (int64_t)gs_reflect((double)idx[a], g->lo[a], g->hi[a]);
            idx[a] = idx[a] < 0 ? 0 : idx[a] >= dims[a] ? dims[a] - 1 : idx[a];
        }
    }
    return g->plane[idx[0] * g->W + idx[1]];
}

static void cubic_coeffs(double t, double *c)
{
    const double A = -0.75;
    double t1 = t + 1, u = 1 - t, v = 2 - t;
    c[0] = ((A * t1 - 5 * A) * t1 + 8 * A) * t1 - 4 * A;
    c[1] = ((A + 2) * t - (A + 3)) * t * t + 1;
    c[2] = ((A + 2) * u - (A + 3)) * u * u + 1;
    c[3] = ((A * v - 5 * A) * v + 8 * A) * v - 4 * A;
}

static int gs_run(const ox_node *n, ox_tensor *const *in, ox_tensor *const *out, jn_err *err)
{
    (void)err;
    int mode = oxh_str_index(n, "mode", "bilinear", gs_modes);
    mode = mode == 3 ? GS_LINEAR : mode == 4 ? GS_CUBIC : mode;
    int pad = oxh_str_index(n, "padding_mode", "zeros", gs_pads);
    bool ac = ox_attr_int(n, "align_corners", 0) != 0;
    int64_t N = in[0]->shape[0], C = in[0]->shape[1], H = in[0]->shape[2], W = in[0]->shape[3];
    int64_t HO = in[1]->shape[1], WO = in[1]->shape[2];
    const float *grid = in[1]->data;
    float *y = out[0]->data;
    gs_ctx g = {.H = H, .W = W, .pad = pad};
    g.lo[0] = ac ? 0 : -0.5, g.hi[0] = ac ? (double)H - 1 : (double)H - 0.5;
    g.lo[1] = ac ? 0 : -0.5, g.hi[1] = ac ? (double)W - 1 : (double)W - 0.5;
    for (int64_t b = 0; b < N; b++)
        for (int64_t c = 0; c < C; c++) {
            g.plane = (const float *)in[0]->data + (b * C + c) * H * W;
            for (int64_t i = 0; i < HO * WO; i++) {
                const float *gp = grid + (b * HO * WO + i) * 2;
                double p[2], dims[2] = {(double)H, (double)W}, nv[2] = {gp[1], gp[0]};
                for (int a = 0; a < 2; a++) {
                    p[a] = ac ? (nv[a] + 1) / 2 * (dims[a] - 1) : ((nv[a] + 1) * dims[a] - 1) / 2;
                    /* NaN samples as outside; huge values clamp far outside (safe integer conversion). */
                    p[a] = p[a] != p[a] ? -1e9 : p[a] < -1e9 ? -1e9 : p[a] > 1e9 ? 1e9 : p[a];
                    if (mode == GS_NEAREST)
                        p[a] = nearbyint(p[a]);
                    if (p[a] < g.lo[a] || p[a] > g.hi[a]) {
                        if (pad == GP_BORDER)
                            p[a] = fmin(fmax(p[a], 0), dims[a] - 1);
                        else if (pad == GP_REFLECTION)
                            p[a] = gs_reflect(p[a], g.lo[a], g.hi[a]);
                    }
                }
                double v;
                if (mode == GS_NEAREST) {
                    v = gs_pixel(&g, (int64_t)p[0], (int64_t)p[1]);
                } else if (mode == GS_LINEAR) {
                    double fy = floor(p[0]), fx = floor(p[1]), ty = p[0] - fy, tx = p[1] - fx;
                    int64_t y0 = (int64_t)fy, x0 = (int64_t)fx;
                    v = (1 - ty) * ((1 - tx) * gs_pixel(&g, y0, x0) + tx * gs_pixel(&g, y0, x0 + 1)) +
                        ty * ((1 - tx) * gs_pixel(&g, y0 + 1, x0) + tx * gs_pixel(&g, y0 + 1, x0 + 1));
                } else {
                    double fy = floor(p[0]), fx = floor(p[1]), cy[4], cx[4];
                    int64_t y0 = (int64_t)fy, x0 = (int64_t)fx;
                    cubic_coeffs(p[0] - fy, cy);
                    cubic_coeffs(p[1] - fx, cx);
                    v = 0;
                    for (int a = 0; a < 4; a++) {
                        double row = 0;
                        for (int k = 0; k < 4; k++)
                            row += cx[k] * gs_pixel(&g, y0 - 1 + a, x0 - 1 + k);
                        v += cy[a] * row;
                    }
                }
                y[(b * C + c) * HO * WO + i] = (float)v;
            }
        }
    return 0;
}

static const char *const gs_attrs[] = {"align_corners", "mode", "padding_mode", NULL};
const ox_op ox_op_gridsample = {.op_type = "GridSample", .min_in = 2, .max_in = 2, .min_out = 1, .max_out = 1,
                                .attrs = gs_attrs, .check = gs_check, .shape = gs_shape, .run = gs_run};
