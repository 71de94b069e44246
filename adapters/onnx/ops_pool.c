/* ops_pool.c — window operators beside MaxPool/AveragePool (ops_nn.c): GlobalMaxPool, LpPool, MaxUnpool, Col2Im,
 * MaxPool's Indices output (ox_maxpool_indices_run), and the window geometry they and the integer convolutions
 * (ops_quant.c) share (ox_win_check, ox_win_forward). Listed in ops_vision.c's table. Scalar loops over 1-3 spatial
 * axes: these operators are rare in hot paths. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ops_helpers.h"

static const char *const no_attrs[] = {NULL};

/* ---------------------------------------------------------------------------------------------------------------
 * GlobalMaxPool */

static int gmp_check(ox_model *m, ox_node *n, jn_err *err)
{
    jn_dtype dt = ox_in_dtype(m, n, 0);
    if (dt != JN_DTYPE_FP32 && dt != JN_DTYPE_FP64)
        return ox_reject(n, err, "dtype %s is not supported (FP32, FP64 are)", jn_dtype_name(dt));
    ox_set_out_dtype(m, n, 0, dt);
    return 0;
}

static int gmp_shape(const ox_node *n, ox_tensor *const *in, ox_tensor *const *out, jn_err *err)
{
    if (in[0]->ndim < 2)
        return OX_ERR(n, err, JN_EINVAL, "the input must be at least 2-D [N, C, ...]");
    int64_t shape[JN_MAX_DIMS];
    for (int i = 0; i < in[0]->ndim; i++)
        shape[i] = i < 2 ? in[0]->shape[i] : 1;
    return ox_set_shape(out[0], in[0]->dtype, in[0]->ndim, shape, err);
}

static int gmp_run(const ox_node *n, ox_tensor *const *in, ox_tensor *const *out, jn_err *err)
{
    (void)n, (void)err;
    int64_t planes = in[0]->shape[0] * in[0]->shape[1], size = 1;
    for (int i = 2; i < in[0]->ndim; i++)
        size *= in[0]->shape[i];
    for (int64_t p = 0; p < planes; p++) {
        double m = size ? -INFINITY : NAN;
        bool nan = false;
        for (int64_t i = 0; i < size; i++) {
            double v = ox_load_f64(in[0]->data, in[0]->dtype, p * size + i);
            nan |= v != v;
            m = v > m ? v : m;
        }
        ox_store_f64(out[0]->data, out[0]->dtype, p, nan ? NAN : m);
    }
    return 0;
}

const ox_op ox_op_gmp = {.op_type = "GlobalMaxPool", .min_in = 1, .max_in = 1, .min_out = 1, .max_out = 1,
                             .attrs = no_attrs, .check = gmp_check, .shape = gmp_shape, .run = gmp_run};

/* ---------------------------------------------------------------------------------------------------------------
 * Window geometry for LpPool, MaxUnpool and Col2Im (spatial dims 1-3). */

int ox_win_check(ox_node *n, int sd, jn_err *err)
{
    static const char *const names[] = {"kernel_shape", "strides", "dilations", "pads"};
    for (int i = 0; i < 4; i++) {
        size_t c;
        const int64_t *v = ox_attr_ints(n, names[i], &c);
        if (!v)
            continue;
        if (c != (size_t)(i == 3 ? 2 * sd : sd))
            return ox_reject(n, err, "%s has %zu values for %d spatial axes", names[i], c, sd);
        for (size_t j = 0; j < c; j++)
            if (v[j] < (i == 3 ? 0 : 1))
                return ox_reject(n, err, "%s value %lld is out of range", names[i], (long long)v[j]);
    }
    const char *ap = ox_attr_str(n, "auto_pad", "NOTSET");
    if (strcmp(ap, "NOTSET") && strcmp(ap, "VALID") && strcmp(ap, "SAME_UPPER") && strcmp(ap, "SAME_LOWER"))
        return ox_reject(n, err, "auto_pad '%s' is not one of NOTSET, SAME_UPPER, SAME_LOWER, VALID", ap);
    return 0;
}

int ox_win_forward(const ox_node *n, int sd, const int64_t *in_sp, const int64_t *kernel, ox_win *g, jn_err *err)
{
    size_t c;
    const int64_t *ks = kernel ? kernel : ox_attr_ints(n, "kernel_shape", &c);
    const int64_t *st = ox_attr_ints(n, "strides", &c), *dl = ox_attr_ints(n, "dilations", &c),
                  *pd = ox_attr_ints(n, "pads", &c);
    const char *ap = ox_attr_str(n, "auto_pad", "NOTSET");
    bool ceil_mode = ox_attr_int(n, "ceil_mode", 0) != 0;
    g->sd = sd;
    for (int i = 0; i < sd; i++) {
        g->in[i] = in_sp[i];
        g->k[i] = ks[i];
        g->s[i] = st ? st[i] : 1;
        g->d[i] = dl ? dl[i] : 1;
        g->pb[i] = pd ? pd[i] : 0;
        g->pe[i] = pd ? pd[sd + i] : 0;
        int64_t ek = (g->k[i] - 1) * g->d[i] + 1;
        if (strcmp(ap, "SAME_UPPER") == 0 || strcmp(ap, "SAME_LOWER") == 0) {
            g->out[i] = (g->in[i] + g->s[i] - 1) / g->s[i];
            int64_t total = (g->out[i] - 1) * g->s[i] + ek - g->in[i];
            total = total < 0 ? 0 : total;
            g->pb[i] = strcmp(ap, "SAME_UPPER") == 0 ? total / 2 : total - total / 2;
            g->pe[i] = total - g->pb[i];
            continue;
        }
        if (strcmp(ap, "VALID") == 0)
            g->pb[i] = g->pe[i] = 0;
        int64_t span = g->in[i] + g->pb[i] + g->pe[i] - ek;
        if (span < 0)
            return OX_ERR(n, err, JN_EINVAL, "the window is larger than the padded input");
        g->out[i] = (ceil_mode ? (span + g->s[i] - 1) / g->s[i] : span / g->s[i]) + 1;
        if (ceil_mode && (g->out[i] - 1) * g->s[i] >= g->in[i] + g->pb[i])
            g->out[i]--;
    }
    return 0;
}

/* ---------------------------------------------------------------------------------------------------------------
 * LpPool */

static int lpp_check(ox_model *m, ox_node *n, jn_err *err)
{
    size_t sd;
    if (!ox_attr_ints(n, "kernel_shape", &sd) || sd < 1 || sd > 3)
        return ox_reject(n, err, "kernel_shape with 1 to 3 values is required");
    if (ox_attr_int(n, "p", 2) < 1)
        return ox_reject(n, err, "p must be a positive integer");
    if (ox_win_check(n, (int)sd, err))
        return err->code;
    return oxh_f32_check(m, n, err);
}

static int lpp_geom(const ox_node *n, ox_tensor *const *in, ox_win *g, jn_err *err)
{
    size_t sd;
    ox_attr_ints(n, "kernel_shape", &sd);
    if (in[0]->ndim != (int)sd + 2)
        return OX_ERR(n, err, JN_EINVAL, "the input must be %zu-D", sd + 2);
    return ox_win_forward(n, (int)sd, in[0]->shape + 2, NULL, g, err);
}

static int lpp_shape(const ox_node *n, ox_tensor *const *in, ox_tensor *const *out, jn_err *err)
{
    ox_win g;
    if (lpp_geom(n, in, &g, err))
        return err->code;
    int64_t shape[5] = {in[0]->shape[0], in[0]->shape[1]};
    for (int i = 0; i < g.sd; i++)
        shape[2 + i] = g.out[i];
    return ox_set_shape(out[0], JN_DTYPE_FP32, in[0]->ndim, shape, err);
}

static int lpp_run(const ox_node *n, ox_tensor *const *in, ox_tensor *const *out, jn_err *err)
{
    ox_win g;
    if (lpp_geom(n, in, &g, err))
        return err->code;
    double p = (double)ox_attr_int(n, "p", 2);
    int64_t I[3] = {1, 1, 1}, O[3] = {1, 1, 1}, K[3] = {1, 1, 1}, S[3] = {1, 1, 1}, D[3] = {1, 1, 1}, P[3] = {0};
    for (int i = 0; i < g.sd; i++) {
        int j = 3 - g.sd + i;
        I[j] = g.in[i], O[j] = g.out[i], K[j] = g.k[i], S[j] = g.s[i], D[j] = g.d[i], P[j] = g.pb[i];
    }
    int64_t planes = in[0]->shape[0] * in[0]->shape[1];
    const float *x = in[0]->data;
    float *y = out[0]->data;
    for (int64_t pl = 0; pl < planes; pl++)
        for (int64_t a = 0; a < O[0]; a++)
            for (int64_t b = 0; b < O[1]; b++)
                for (int64_t c = 0; c < O[2]; c++) {
                    double s = 0;
                    for (int64_t ka = 0; ka < K[0]; ka++)
                        for (int64_t kb = 0; kb < K[1]; kb++)
                            for (int64_t kc = 0; kc < K[2]; kc++) {
                                int64_t ia = a * S[0] - P[0] + ka * D[0], ib = b * S[1] - P[1] + kb * D[1],
                                        ic = c * S[2] - P[2] + kc * D[2];
                                if (ia < 0 || ia >= I[0] || ib < 0 || ib >= I[1] || ic < 0 || ic >= I[2])
                                    continue;
                                s += pow(fabs(x[((pl * I[0] + ia) * I[1] + ib) * I[2] + ic]), p);
                            }
                    y[((pl * O[0] + a) * O[1] + b) * O[2] + c] = (float)pow(s, 1.0 / p);
                }
    return 0;
}

static const char *const lpp_attrs[] = {"auto_pad", "ceil_mode", "dilations", "kernel_shape", "p", "pads", "strides",
                                        NULL};
const ox_op ox_op_lppool = {.op_type = "LpPool", .min_in = 1, .max_in = 1, .min_out = 1, .max_out = 1,
                                .attrs = lpp_attrs, .check = lpp_check, .shape = lpp_shape, .run = lpp_run};

/* ---------------------------------------------------------------------------------------------------------------
 * MaxUnpool: X [N, C, spatial...] and its indices (flat over the whole unpooled tensor, as MaxPool's Indices) */

static int unpool_check(ox_model *m, ox_node *n, jn_err *err)
{
    size_t sd;
    if (!ox_attr_ints(n, "kernel_shape", &sd) || sd < 1 || sd > 3)
        return ox_reject(n, err, "kernel_shape with 1 to 3 values is required");
    if (ox_win_check(n, (int)sd, err))
        return err->code;
    if (oxh_need_dtype(m, n, 1, JN_DTYPE_INT64, "I", err) || oxh_need_int(m, n, 2, "output_shape", err))
        return err->code;
    return oxh_any_dtype_check(m, n, err);
}

static int unpool_inferred(const ox_node *n, const ox_tensor *x, int64_t *shape, jn_err *err);

static int unpool_shape(const ox_node *n, ox_tensor *const *in, ox_tensor *const *out, jn_err *err)
{
    int64_t shape[JN_MAX_DIMS];
    if (in[1]->ndim != in[0]->ndim || memcmp(in[1]->shape, in[0]->shape, sizeof(int64_t) * (size_t)in[0]->ndim))
        return OX_ERR(n, err, JN_EINVAL, "I must have X's shape");
    if (unpool_inferred(n, in[0], shape, err))
        return err->code;
    if (oxh_given(in, n->n_in, 2)) {
        int no = 0;
        if (oxh_read_ints(n, in[2], "output_shape", shape, JN_MAX_DIMS, &no, err))
            return err->code;
        if (no != in[0]->ndim)
            return OX_ERR(n, err, JN_EINVAL, "output_shape has %d values for a rank-%d input", no, in[0]->ndim);
    }
    return ox_set_shape(out[0], in[0]->dtype, in[0]->ndim, shape, err);
}

/* The unpooled shape from the window attributes alone (the indices are flat over it). */
static int unpool_inferred(const ox_node *n, const ox_tensor *x, int64_t *shape, jn_err *err)
{
    size_t sd, c;
    const int64_t *ks = ox_attr_ints(n, "kernel_shape", &sd);
    const int64_t *st = ox_attr_ints(n, "strides", &c), *pd = ox_attr_ints(n, "pads", &c);
    if (x->ndim != (int)sd + 2)
        return OX_ERR(n, err, JN_EINVAL, "X must be %zu-D", sd + 2);
    shape[0] = x->shape[0], shape[1] = x->shape[1];
    for (size_t i = 0; i < sd; i++) {
        shape[2 + i] = (x->shape[2 + i] - 1) * (st ? st[i] : 1) - (pd ? pd[i] + pd[sd + i] : 0) + ks[i];
        if (shape[2 + i] < 0)
            return OX_ERR(n, err, JN_EINVAL, "the padding is larger than the output");
    }
    return 0;
}

/* Indices are flat over the inferred shape; with output_shape, that block sits at the output's origin. */
static int unpool_run(const ox_node *n, ox_tensor *const *in, ox_tensor *const *out, jn_err *err)
{
    int64_t inf[JN_MAX_DIMS];
    if (unpool_inferred(n, in[0], inf, err))
        return err->code;
    int r = in[0]->ndim;
    int64_t total = 1, cnt = ox_count(in[0]);
    for (int d = 0; d < r; d++)
        total *= inf[d];
    size_t es = jn_dtype_size(in[0]->dtype);
    memset(out[0]->data, 0, out[0]->nbytes);
    const int64_t *I = in[1]->data;
    for (int64_t i = 0; i < cnt; i++) {
        if (I[i] < 0 || I[i] >= total)
            return OX_ERR(n, err, JN_EINVAL, "index %lld is outside the %lld-element unpooled tensor",
                          (long long)I[i], (long long)total);
        int64_t rem = I[i], at = 0, mul = 1;
        bool inside = true;
        for (int d = r - 1; d >= 0; d--) {
            int64_t k = rem % inf[d];
            rem /= inf[d];
            inside &= k < out[0]->shape[d];
            at += k * mul;
            mul *= out[0]->shape[d];
        }
        if (inside)
            memcpy((uint8_t *)out[0]->data + (size_t)at * es, (const uint8_t *)in[0]->data + (size_t)i * es, es);
    }
    return 0;
}

static const char *const unpool_attrs[] = {"kernel_shape", "pads", "strides", NULL};
const ox_op ox_op_unpool = {.op_type = "MaxUnpool", .min_in = 2, .max_in = 3, .min_out = 1, .max_out = 1,
                                .attrs = unpool_attrs, .shape_inputs = 1u << 2, .check = unpool_check,
                                .shape = unpool_shape, .run = unpool_run};

/* ---------------------------------------------------------------------------------------------------------------
 * Col2Im: [N, C * prod(block), L] -> [N, C, image...], overlapping blocks summed */

static int col2im_check(ox_model *m, ox_node *n, jn_err *err)
{
    if (oxh_need_int(m, n, 1, "image_shape", err) || oxh_need_int(m, n, 2, "block_shape", err))
        return err->code;
    if (oxh_need_dtype(m, n, 0, JN_DTYPE_FP32, "the input", err))
        return err->code;
    ox_set_out_dtype(m, n, 0, JN_DTYPE_FP32);
    return 0;
}

static int col2im_geom(const ox_node *n, ox_tensor *const *in, ox_win *g, int64_t *C, jn_err *err)
{
    int64_t img[3], blk[3];
    int ni = 0, nb = 0;
    if (oxh_read_ints(n, in[1], "image_shape", img, 3, &ni, err) ||
        oxh_read_ints(n, in[2], "block_shape", blk, 3, &nb, err))
        return err->code;
    if (ni != nb || ni < 1)
        return OX_ERR(n, err, JN_EINVAL, "image_shape and block_shape must have the same 1 to 3 values");
    size_t c;
    const int64_t *v;
    static const char *const names[] = {"strides", "dilations", "pads"};
    for (int i = 0; i < 3; i++)
        if ((v = ox_attr_ints(n, names[i], &c)) && c != (size_t)(i == 2 ? 2 * ni : ni))
            return OX_ERR(n, err, JN_EINVAL, "%s has %zu values for %d spatial axes", names[i], c, ni);
    for (int i = 0; i < ni; i++)
        if (blk[i] < 1 || img[i] < 0)
            return OX_ERR(n, err, JN_EINVAL, "block_shape/image_shape value out of range");
    /* Col2Im's blocks are the windows of a forward pooling over the image. */
    if (ox_win_forward(n, ni, img, blk, g, err))
        return err->code;
    if (in[0]->ndim != 3)
        return OX_ERR(n, err, JN_EINVAL, "the input must be 3-D [N, C * prod(block_shape), L]");
    int64_t kp = 1, L = 1;
    for (int i = 0; i < ni; i++)
        kp *= blk[i], L *= g->out[i];
    if (in[0]->shape[1] % kp || in[0]->shape[2] != L)
        return OX_ERR(n, err, JN_EINVAL, "input [%lld, %lld, %lld] does not match %lld-element blocks and %lld "
                      "positions", (long long)in[0]->shape[0], (long long)in[0]->shape[1],
                      (long long)in[0]->shape[2], (long long)kp, (long long)L);
    *C = in[0]->shape[1] / kp;
    return 0;
}

static int col2im_shape(const ox_node *n, ox_tensor *const *in, ox_tensor *const *out, jn_err *err)
{
    ox_win g;
    int64_t C;
    if (col2im_geom(n, in, &g, &C, err))
        return err->code;
    int64_t shape[5] = {in[0]->shape[0], C};
    for (int i = 0; i < g.sd; i++)
        shape[2 + i] = g.in[i];
    return ox_set_shape(out[0], JN_DTYPE_FP32, 2 + g.sd, shape, err);
}

static int col2im_run(const ox_node *n, ox_tensor *const *in, ox_tensor *const *out, jn_err *err)
{
    ox_win g;
    int64_t C;
    if (col2im_geom(n, in, &g, &C, err))
        return err->code;
    int64_t I[3] = {1, 1, 1}, O[3] = {1, 1, 1}, K[3] = {1, 1, 1}, S[3] = {1, 1, 1}, D[3] = {1, 1, 1}, P[3] = {0};
    for (int i = 0; i < g.sd; i++) {
        int j = 3 - g.sd + i;
        I[j] = g.in[i], O[j] = g.out[i], K[j] = g.k[i], S[j] = g.s[i], D[j] = g.d[i], P[j] = g.pb[i];
    }
    int64_t N = in[0]->shape[0], kp = K[0] * K[1] * K[2], L = O[0] * O[1] * O[2], isz = I[0] * I[1] * I[2];
    const float *x = in[0]->data;
    float *y = out[0]->data;
    memset(y, 0, out[0]->nbytes);
    for (int64_t nn = 0; nn < N; nn++)
        for (int64_t c = 0; c < C; c++)
            for (int64_t k = 0; k < kp; k++) {
                int64_t ka = k / (K[1] * K[2]), kb = k / K[2] % K[1], kc = k % K[2];
                const float *row = x + ((nn * C + c) * kp + k) * L;
                float *img = y + (nn * C + c) * isz;
                for (int64_t l = 0; l < L; l++) {
                    int64_t a = l / (O[1] * O[2]), b = l / O[2] % O[1], cc = l % O[2];
                    int64_t ia = a * S[0] - P[0] + ka * D[0], ib = b * S[1] - P[1] + kb * D[1],
                            ic = cc * S[2] - P[2] + kc * D[2];
                    if (ia < 0 || ia >= I[0] || ib < 0 || ib >= I[1] || ic < 0 || ic >= I[2])
                        continue;
                    img[(ia * I[1] + ib) * I[2] + ic] += row[l];
                }
            }
    return 0;
}

static const char *const col2im_attrs[] = {"dilations", "pads", "strides", NULL};
const ox_op ox_op_col2im = {.op_type = "Col2Im", .min_in = 3, .max_in = 3, .min_out = 1, .max_out = 1,
                                .attrs = col2im_attrs, .shape_inputs = (1u << 1) | (1u << 2), .check = col2im_check,
                                .shape = col2im_shape, .run = col2im_run};

/* ---------------------------------------------------------------------------------------------------------------
 * MaxPool with its Indices output (ops_nn.c hands such nodes here): the flat index of each maximum in the input,
 * row-major within a plane (storage_order 0) or column-major (1), plus the plane's offset; the first of equal
 * maxima wins. */

int ox_maxpool_indices_run(const ox_node *n, ox_tensor *const *in, ox_tensor *const *out, jn_err *err)
{
    int sd = in[0]->ndim - 2;
    ox_win g;
    if (sd < 1 || sd > 3)
        return OX_ERR(n, err, JN_EINVAL, "the input must be 3-D to 5-D");
    if (ox_win_forward(n, sd, in[0]->shape + 2, NULL, &g, err))
        return err->code;
    int64_t I[3] = {1, 1, 1}, O[3] = {1, 1, 1}, K[3] = {1, 1, 1}, S[3] = {1, 1, 1}, D[3] = {1, 1, 1}, P[3] = {0};
    for (int i = 0; i < sd; i++) {
        int j = 3 - sd + i;
        I[j] = g.in[i], O[j] = g.out[i], K[j] = g.k[i], S[j] = g.s[i], D[j] = g.d[i], P[j] = g.pb[i];
    }
    bool col = ox_attr_int(n, "storage_order", 0) != 0;
    int64_t planes = in[0]->shape[0] * in[0]->shape[1], isz = I[0] * I[1] * I[2], osz = O[0] * O[1] * O[2];
    jn_dtype dt = in[0]->dtype;
    int64_t *ind = out[1]->data;
    for (int64_t p = 0; p < planes; p++)
        for (int64_t a = 0; a < O[0]; a++)
            for (int64_t b = 0; b < O[1]; b++)
                for (int64_t c = 0; c < O[2]; c++) {
                    double best = -INFINITY;
                    int64_t at = -1;
                    bool nan = false;
                    for (int64_t ka = 0; ka < K[0]; ka++)
                        for (int64_t kb = 0; kb < K[1]; kb++)
                            for (int64_t kc = 0; kc < K[2]; kc++) {
                                int64_t ia = a * S[0] - P[0] + ka * D[0], ib = b * S[1] - P[1] + kb * D[1],
                                        ic = c * S[2] - P[2] + kc * D[2];
                                if (ia < 0 || ia >= I[0] || ib < 0 || ib >= I[1] || ic < 0 || ic >= I[2])
                                    continue;
                                double v = ox_load_f64(in[0]->data, dt, p * isz + (ia * I[1] + ib) * I[2] + ic);
                                nan |= v != v;
                                if (v > best || at < 0) {
                                    best = v;
                                    at = col ? (ic * I[1] + ib) * I[0] + ia : (ia * I[1] + ib) * I[2] + ic;
                                }
                            }
                    int64_t o = p * osz + (a * O[1] + b) * O[2] + c;
                    ox_store_f64(out[0]->data, dt, o, nan ? NAN : best);
                    ind[o] = p * isz + (at < 0 ? 0 : at);
                }
    return 0;
}

