/* ops_quant.c — quantized graphs, computed exactly: QuantizeLinear and DequantizeLinear (opsets 10, 13 per-axis,
 * 19 saturate, 21 block_size and output_dtype), DynamicQuantizeLinear, MatMulInteger, ConvInteger, QLinearMatMul,
 * QLinearConv.
 *
 * Rounding is ONNX's: the float quotient x / scale is computed in FP32 (as the reference and ONNX Runtime do),
 * rounded half to even, the zero point added and the result saturated to the target type. Integer products
 * accumulate in int32 from zero-point-corrected operands (padding of a convolution contributes nothing, i.e. the
 * zero point's value); the QLinear* requantization multiplies the int32 sum by the FP32 multiplier
 * (a_scale * b_scale / y_scale, rounded to FP32 as ONNX Runtime does) in double, rounds half to even and
 * saturates. The four products run on the integer kernel (kernels/gemm_u8s8.c through ops_qlinear.c: u8 x s8 ->
 * s32, AVX-512 VNNI / AVX2 / scalar, bit for bit the same sums); constant weights are packed at load.
 * QLinearMatMul takes b_scale per column too, and the node onnx_qfuse.c makes of a QDQ MatMul/Gemm a ninth
 * input, an INT32 bias per column (the Gemm's DequantizeLinear'd bias). Types: 8-bit (and 16-bit at opset 21)
 * integers; FP8/INT4 are refused. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ops_helpers.h"
#include "ops_qlinear.h"

static bool q_type(jn_dtype dt, int opset)
{
    return dt == JN_DTYPE_UINT8 || dt == JN_DTYPE_INT8 ||
           (opset >= 21 && (dt == JN_DTYPE_UINT16 || dt == JN_DTYPE_INT16));
}

static void q_range(jn_dtype dt, double *lo, double *hi)
{
    switch (dt) {
    case JN_DTYPE_INT8: *lo = -128, *hi = 127; break;
    case JN_DTYPE_UINT16: *lo = 0, *hi = 65535; break;
    case JN_DTYPE_INT16: *lo = -32768, *hi = 32767; break;
    case JN_DTYPE_INT32: *lo = -2147483648.0, *hi = 2147483647.0; break;
    default: *lo = 0, *hi = 255; break;
    }
}

static double saturate(double v, jn_dtype dt)
{
    double lo, hi;
    q_range(dt, &lo, &hi);
    return v < lo ? lo : v > hi ? hi : v;
}

/* ---------------------------------------------------------------------------------------------------------------
 * QuantizeLinear, DequantizeLinear: scale/zero point per tensor, per axis (1-D of the axis's length) or per block
 * (21: the input's shape with the axis divided by block_size, rounded up). */

static bool is_quantize(const ox_node *n)
{
    return strcmp(n->op_type, "QuantizeLinear") == 0;
}

static int ql_check(ox_model *m, ox_node *n, jn_err *err)
{
    bool q = is_quantize(n);
    jn_dtype x = ox_in_dtype(m, n, 0), s = ox_in_dtype(m, n, 1);
    if (s != JN_DTYPE_FP32)
        return ox_reject(n, err, "scale has dtype %s (FP32 is supported)", jn_dtype_name(s));
    if (n->opset < 13 && ox_attr_find(n, "axis"))
        return ox_reject(n, err, "axis is defined from opset 13");
    if (n->opset < 21 && ox_attr_find(n, "block_size"))
        return ox_reject(n, err, "block_size is defined from opset 21");
    if (ox_attr_int(n, "block_size", 0) < 0)
        return ox_reject(n, err, "block_size must not be negative");
    jn_dtype zp = ox_has_in(n, 2) ? ox_in_dtype(m, n, 2) : JN_DTYPE_INVALID;
    if (q) {
        if (x != JN_DTYPE_FP32 && !(x == JN_DTYPE_INT32 && n->opset < 19))
            return ox_reject(n, err, "x has dtype %s (FP32 is supported)", jn_dtype_name(x));
        int64_t od = ox_attr_int(n, "output_dtype", 0);
        jn_dtype out = zp != JN_DTYPE_INVALID ? zp : od ? ox_dtype_from_onnx(od) : JN_DTYPE_UINT8;
        if (od && zp != JN_DTYPE_INVALID && ox_dtype_from_onnx(od) != zp)
            return ox_reject(n, err, "output_dtype disagrees with the zero point's dtype");
        if (!q_type(out, n->opset))
            return ox_reject(n, err, "output dtype %s is not supported (8-bit integers%s are)", jn_dtype_name(out),
                             n->opset >= 21 ? ", 16-bit integers" : "");
        ox_set_out_dtype(m, n, 0, out);
    } else {
        if (!q_type(x, n->opset) && x != JN_DTYPE_INT32)
            return ox_reject(n, err, "x has dtype %s (8-bit integers or INT32 are supported)", jn_dtype_name(x));
        if (zp != JN_DTYPE_INVALID && zp != x)
            return ox_reject(n, err, "the zero point has dtype %s, x %s", jn_dtype_name(zp), jn_dtype_name(x));
        if (ox_attr_int(n, "output_dtype", 1) != 1)
            return ox_reject(n, err, "output_dtype %lld is not supported (FP32 is)",
                             (long long)ox_attr_int(n, "output_dtype", 1));
        ox_set_out_dtype(m, n, 0, JN_DTYPE_FP32);
    }
    return 0;
}

/* How element i of x finds its scale: per tensor, per axis or per block. */
typedef struct qmap {
    int kind; /* 0 tensor, 1 axis, 2 block */
    int64_t outer, D, inner, Ds, bs;
} qmap;

static int qmap_make(const ox_node *n, const ox_tensor *x, const ox_tensor *s, const ox_tensor *zp, qmap *q,
                     jn_err *err)
{
    memset(q, 0, sizeof *q);
    if (zp && (zp->ndim != s->ndim || memcmp(zp->shape, s->shape, sizeof(int64_t) * (size_t)s->ndim)))
        return OX_ERR(n, err, JN_EINVAL, "the zero point's shape differs from the scale's");
    int64_t bs = ox_attr_int(n, "block_size", 0);
    if (ox_count(s) == 1 && s->ndim <= 1 && bs == 0)
        return 0;
    int axis = ox_axis(ox_attr_int(n, "axis", 1), x->ndim);
    if (axis < 0)
        return OX_ERR(n, err, JN_EINVAL, "axis %lld is out of range", (long long)ox_attr_int(n, "axis", 1));
    ox_around_axis(x, axis, &q->outer, &q->inner);
    q->D = x->shape[axis];
    if (bs == 0) {
        if (s->ndim != 1 || s->shape[0] != q->D)
            return OX_ERR(n, err, JN_EINVAL, "a per-axis scale must be 1-D with %lld values", (long long)q->D);
        q->kind = 1;
        return 0;
    }
    if (s->ndim != x->ndim)
        return OX_ERR(n, err, JN_EINVAL, "a blocked scale must have x's rank");
    for (int d = 0; d < x->ndim; d++) {
        int64_t want = d == axis ? (x->shape[d] + bs - 1) / bs : x->shape[d];
        if (s->shape[d] != want)
            return OX_ERR(n, err, JN_EINVAL, "the blocked scale's dimension %d is %lld, %lld expected", d,
                          (long long)s->shape[d], (long long)want);
    }
    q->kind = 2;
    q->bs = bs;
    q->Ds = s->shape[axis];
    return 0;
}

static inline int64_t qmap_at(const qmap *q, int64_t i)
{
    if (q->kind == 0)
        return 0;
    int64_t d = i / q->inner % q->D;
    if (q->kind == 1)
        return d;
    int64_t o = i / (q->inner * q->D), k = i % q->inner;
    return (o * q->Ds + d / q->bs) * q->inner + k;
}

static int ql_shape(const ox_node *n, ox_tensor *const *in, ox_tensor *const *out, jn_err *err)
{
    qmap q;
    if (qmap_make(n, in[0], in[1], oxh_given(in, n->n_in, 2) ? in[2] : NULL, &q, err))
        return err->code;
    int64_t od = ox_attr_int(n, "output_dtype", 0);
    jn_dtype dt = !is_quantize(n)                ? JN_DTYPE_FP32
                  : oxh_given(in, n->n_in, 2) ? in[2]->dtype
                  : od                        ? ox_dtype_from_onnx(od)
                                              : JN_DTYPE_UINT8;
    return ox_set_shape(out[0], dt, in[0]->ndim, in[0]->shape, err);
}

static int ql_run(const ox_node *n, ox_tensor *const *in, ox_tensor *const *out, jn_err *err)
{
    qmap q;
    const ox_tensor *zp = oxh_given(in, n->n_in, 2) ? in[2] : NULL;
    if (qmap_make(n, in[0], in[1], zp, &q, err))
        return err->code;
    int64_t cnt = ox_count(in[0]);
    const float *s = in[1]->data;
    if (is_quantize(n)) {
        jn_dtype yt = out[0]->dtype;
        if (ox_count(in[1]) == 1 && in[0]->dtype == JN_DTYPE_FP32 && (yt == JN_DTYPE_UINT8 || yt == JN_DTYPE_INT8)) {
            /* per tensor, FP32 to 8 bits (a QDQ model's input): the integer kernels' vectorized loop, the same
             * arithmetic (FP32 quotient, half to even, NaN as 0) */
            int32_t z = zp ? (int32_t)ox_load_i64(zp->data, zp->dtype, 0) : 0;
            jn_k_quantize8(jn_k_isa(), cnt, in[0]->data, s[0], z, yt == JN_DTYPE_INT8, out[0]->data);
            return 0;
        }
        for (int64_t i = 0; i < cnt; i++) {
            int64_t j = qmap_at(&q, i);
            float xv = in[0]->dtype == JN_DTYPE_FP32 ? ((const float *)in[0]->data)[i]
                                                    : (float)ox_load_i64(in[0]->data, in[0]->dtype, i);
            float v = xv / s[j];
            double r = isnan(v) ? 0 : oxh_round_even(v) + (zp ? (double)ox_load_i64(zp->data, zp->dtype, j) : 0);
            ox_store_i64(out[0]->data, yt, i, (int64_t)saturate(r, yt));
        }
        return 0;
    }
    float *y = out[0]->data;
    if (ox_count(in[1]) == 1 && (in[0]->dtype == JN_DTYPE_UINT8 || in[0]->dtype == JN_DTYPE_INT8)) {
        float s0 = s[0];
        int32_t z = zp ? (int32_t)ox_load_i64(zp->data, zp->dtype, 0) : 0;
        if (in[0]->dtype == JN_DTYPE_UINT8)
            for (int64_t i = 0; i < cnt; i++)
                y[i] = (float)(((const uint8_t *)in[0]->data)[i] - z) * s0;
        else
            for (int64_t i = 0; i < cnt; i++)
                y[i] = (float)(((const int8_t *)in[0]->data)[i] - z) * s0;
        return 0;
    }
    for (int64_t i = 0; i < cnt; i++) {
        int64_t j = qmap_at(&q, i);
        int64_t v = ox_load_i64(in[0]->data, in[0]->dtype, i) - (zp ? ox_load_i64(zp->data, zp->dtype, j) : 0);
        y[i] = (float)v * s[j];
    }
    return 0;
}

static const char *const ql_attrs[] = {"axis", "block_size", "output_dtype", "saturate", NULL};
static const ox_op op_quantize = {.op_type = "QuantizeLinear", .min_in = 2, .max_in = 3, .min_out = 1,
                                  .max_out = 1, .attrs = ql_attrs, .check = ql_check, .shape = ql_shape,
                                  .run = ql_run};
static const ox_op op_dequantize = {.op_type = "DequantizeLinear", .min_in = 2, .max_in = 3, .min_out = 1,
                                    .max_out = 1, .attrs = ql_attrs, .check = ql_check, .shape = ql_shape,
                                    .run = ql_run};

/* ---------------------------------------------------------------------------------------------------------------
 * DynamicQuantizeLinear: x FP32 -> y UINT8, y_scale, y_zero_point (ranges include 0). */

static int dql_check(ox_model *m, ox_node *n, jn_err *err)
{
    if (oxh_need_dtype(m, n, 0, JN_DTYPE_FP32, "x", err))
        return err->code;
    ox_set_out_dtype(m, n, 0, JN_DTYPE_UINT8);
    ox_set_out_dtype(m, n, 1, JN_DTYPE_FP32);
    ox_set_out_dtype(m, n, 2, JN_DTYPE_UINT8);
    return 0;
}

static int dql_shape(const ox_node *n, ox_tensor *const *in, ox_tensor *const *out, jn_err *err)
{
    (void)n;
    if (ox_set_shape(out[0], JN_DTYPE_UINT8, in[0]->ndim, in[0]->shape, err) ||
        (out[1] && ox_set_shape(out[1], JN_DTYPE_FP32, 0, NULL, err)) ||
        (out[2] && ox_set_shape(out[2], JN_DTYPE_UINT8, 0, NULL, err)))
        return err->code;
    return 0;
}

static int dql_run(const ox_node *n, ox_tensor *const *in, ox_tensor *const *out, jn_err *err)
{
    (void)n, (void)err;
    int64_t cnt = ox_count(in[0]);
    const float *x = in[0]->data;
    float mx = 0, mn = 0;
    for (int64_t i = 0; i < cnt; i++) {
        mx = x[i] > mx ? x[i] : mx;
        mn = x[i] < mn ? x[i] : mn;
    }
    float scale = (mx == mn ? 1.0f : mx - mn) / 255.0f;
    float izp = 0.0f - mn / scale;
    izp = izp != izp ? 0 : izp < 0 ? 0 : izp > 255 ? 255 : izp; /* NaN: infinite inputs */
    double zp = oxh_round_even(izp);
    uint8_t *y = out[0]->data;
    for (int64_t i = 0; i < cnt; i++) {
        float v = x[i] / scale;
        y[i] = (uint8_t)(v != v ? zp : saturate(oxh_round_even(v) + zp, JN_DTYPE_UINT8));
    }
    if (out[1])
        *(float *)out[1]->data = scale;
    if (out[2])
        *(uint8_t *)out[2]->data = (uint8_t)zp;
    return 0;
}

static const char *const no_attrs[] = {NULL};
static const ox_op op_dql = {.op_type = "DynamicQuantizeLinear", .min_in = 1, .max_in = 1, .min_out = 3,
                             .max_out = 3, .attrs = no_attrs, .check = dql_check, .shape = dql_shape,
                             .run = dql_run};

/* ---------------------------------------------------------------------------------------------------------------
 * MatMulInteger, QLinearMatMul: numpy matmul broadcasting, int32 sums of zero-point-corrected 8-bit operands. */

typedef struct qmm {
    int64_t M, N, K, batch;
    int nd;
    int64_t shape[JN_MAX_DIMS];
} qmm;

static bool is_qlinear_mm(const ox_node *n)
{
    return strcmp(n->op_type, "QLinearMatMul") == 0;
}

/* Input positions: MatMulInteger (A, B, a_zp, b_zp); QLinearMatMul (a, a_s, a_zp, b, b_s, b_zp, y_s, y_zp). A is
 * input 0 and a's zero point input 2 in both. */
static int mm_b(const ox_node *n)
{
    return is_qlinear_mm(n) ? 3 : 1;
}
static int mm_bzp(const ox_node *n)
{
    return is_qlinear_mm(n) ? 5 : 3;
}

static int qmm_check(ox_model *m, ox_node *n, jn_err *err)
{
    bool ql = is_qlinear_mm(n);
    jn_dtype a = ox_in_dtype(m, n, 0), b = ox_in_dtype(m, n, mm_b(n));
    if (!q_type(a, 10) || !q_type(b, 10))
        return ox_reject(n, err, "A/B have dtypes %s/%s (8-bit integers are supported)", jn_dtype_name(a),
                         jn_dtype_name(b));
    if (ox_has_in(n, 2) && ox_in_dtype(m, n, 2) != a)
        return ox_reject(n, err, "a_zero_point's dtype differs from A's");
    if (ox_has_in(n, mm_bzp(n)) && ox_in_dtype(m, n, mm_bzp(n)) != b)
        return ox_reject(n, err, "b_zero_point's dtype differs from B's");
    if (ql) {
        for (int i = 1; i <= 6; i += 3)
            if (oxh_need_dtype(m, n, i, JN_DTYPE_FP32, "a scale", err))
                return err->code;
        if (oxh_need_dtype(m, n, 6, JN_DTYPE_FP32, "y_scale", err))
            return err->code;
        jn_dtype y = ox_has_in(n, 7) ? ox_in_dtype(m, n, 7) : a;
        if (!q_type(y, 10))
            return ox_reject(n, err, "y_zero_point has dtype %s", jn_dtype_name(y));
        ox_set_out_dtype(m, n, 0, y);
    } else {
        ox_set_out_dtype(m, n, 0, JN_DTYPE_INT32);
    }
    if (ql && n->n_in > 8 && ox_has_in(n, 8) && ox_in_dtype(m, n, 8) != JN_DTYPE_INT32)
        return ox_reject(n, err, "the fused bias has dtype %s (INT32 expected)", jn_dtype_name(ox_in_dtype(m, n, 8)));
    return ox_q_pack_matmul(m, n, mm_b(n), err);
}

static int qmm_dims(const ox_node *n, ox_tensor *const *in, qmm *d, jn_err *err)
{
    const ox_tensor *a = in[0], *b = in[mm_b(n)];
    if (a->ndim < 1 || b->ndim < 1)
        return OX_ERR(n, err, JN_EINVAL, "operands must be at least 1-D");
    ox_tensor a2 = *a, b2 = *b;
    if (a2.ndim == 1) {
        a2.ndim = 2, a2.shape[1] = a->shape[0], a2.shape[0] = 1;
    }
    if (b2.ndim == 1) {
        b2.ndim = 2, b2.shape[0] = b->shape[0], b2.shape[1] = 1;
    }
    d->M = a2.shape[a2.ndim - 2], d->K = a2.shape[a2.ndim - 1], d->N = b2.shape[b2.ndim - 1];
    if (b2.shape[b2.ndim - 2] != d->K)
        return OX_ERR(n, err, JN_EINVAL, "inner dimensions differ (%lld vs %lld)", (long long)d->K,
                      (long long)b2.shape[b2.ndim - 2]);
    ox_tensor ab = a2, bb = b2;
    ab.ndim -= 2, bb.ndim -= 2;
    int bnd;
    int64_t bshape[JN_MAX_DIMS];
    if (ox_broadcast_shape(n, &ab, &bb, &bnd, bshape, err))
        return err->code;
    d->batch = 1;
    for (int i = 0; i < bnd; i++)
        d->batch *= bshape[i];
    if (bnd + 2 > JN_MAX_DIMS)
        return OX_ERR(n, err, JN_EUNIMPL, "rank too large");
    d->nd = 0;
    for (int i = 0; i < bnd; i++)
        d->shape[d->nd++] = bshape[i];
    if (a->ndim > 1)
        d->shape[d->nd++] = d->M;
    if (b->ndim > 1)
        d->shape[d->nd++] = d->N;
    return 0;
}

static int qmm_shape(const ox_node *n, ox_tensor *const *in, ox_tensor *const *out, jn_err *err)
{
    qmm d;
    if (qmm_dims(n, in, &d, err))
        return err->code;
    jn_dtype dt = is_qlinear_mm(n) ? (oxh_given(in, n->n_in, 7) ? in[7]->dtype : in[0]->dtype) : JN_DTYPE_INT32;
    return ox_set_shape(out[0], dt, d.nd, d.shape, err);
}

static int qmm_run(const ox_node *n, ox_tensor *const *in, ox_tensor *const *out, jn_err *err)
{
    qmm d;
    if (qmm_dims(n, in, &d, err))
        return err->code;
    const ox_tensor *a = in[0], *b = in[mm_b(n)];
    const ox_tensor *azp = oxh_given(in, n->n_in, 2) ? in[2] : NULL;
    const ox_tensor *bzp = oxh_given(in, n->n_in, mm_bzp(n)) ? in[mm_bzp(n)] : NULL;
    int64_t M = d.M, N = d.N, K = d.K;
    /* Zero points: scalar, or per row of A ([M]) / per column of B ([N]). */
    if (azp && ox_count(azp) != 1 && ox_count(azp) != M)
        return OX_ERR(n, err, JN_EINVAL, "a_zero_point must be a scalar or have %lld values", (long long)M);
    if (bzp && ox_count(bzp) != 1 && ox_count(bzp) != N)
        return OX_ERR(n, err, JN_EINVAL, "b_zero_point must be a scalar or have %lld values", (long long)N);
    bool ql = is_qlinear_mm(n);
    float one = 1.0f, *mult = &one;
    int64_t n_mult = 1;
    const ox_tensor *bias = ql && oxh_given(in, n->n_in, 8) ? in[8] : NULL;
    if (bias && (bias->dtype != JN_DTYPE_INT32 || ox_count(bias) != N))
        return OX_ERR(n, err, JN_EINVAL, "the fused bias must be INT32 with %lld values", (long long)N);
    if (ql) {
        if (ox_count(in[1]) != 1 || ox_count(in[6]) != 1 || (ox_count(in[4]) != 1 && ox_count(in[4]) != N))
            return OX_ERR(n, err, JN_EINVAL,
                          "a_scale and y_scale must be scalars, b_scale a scalar or one per column (%lld)",
                          (long long)N);
        n_mult = ox_count(in[4]);
        mult = malloc((size_t)n_mult * sizeof *mult);
        if (!mult)
            return OX_ERR(n, err, JN_ENOMEM, "out of memory");
        float as = ((const float *)in[1]->data)[0], ys = ((const float *)in[6]->data)[0];
        for (int64_t j = 0; j < n_mult; j++) /* the multiplier in FP32, as ONNX Runtime computes it */
            mult[j] = (float)(as * ((const float *)in[4]->data)[j]) / ys;
    }
    const ox_tensor *yzp = ql && oxh_given(in, n->n_in, 7) ? in[7] : NULL;
    ox_q_out q = {.dtype = out[0]->dtype, .mult = mult, .n_mult = n_mult,
                  .yz = yzp ? (double)ox_load_i64(yzp->data, yzp->dtype, 0) : 0,
                  .bias = bias ? bias->data : NULL, .relu = n->relu_after};
    /* batch strides through broadcasting */
    int ra = a->ndim > 2 ? a->ndim - 2 : 0, rb = b->ndim > 2 ? b->ndim - 2 : 0;
    int bnd = d.nd - (a->ndim > 1) - (b->ndim > 1);
    int rc = 0;
    for (int64_t bi = 0; bi < d.batch && !rc; bi++) {
        int64_t rem = bi, ao = 0, bo = 0, sa = 1, sb = 1;
        for (int i = bnd - 1; i >= 0; i--) {
            int64_t k = rem % d.shape[i];
            rem /= d.shape[i];
            int ia = i - (bnd - ra), ib = i - (bnd - rb);
            if (ia >= 0) {
                ao += (a->shape[ia] == 1 ? 0 : k) * sa;
                sa *= a->shape[ia];
            }
            if (ib >= 0) {
                bo += (b->shape[ib] == 1 ? 0 : k) * sb;
                sb *= b->shape[ib];
            }
        }
        ao *= M * K, bo *= K * N;
        rc = ox_q_matmul(n, a, ao, b, bo, mm_b(n), M, N, K, (ox_q_zp){azp}, (ox_q_zp){bzp}, &q, out[0], bi * M * N,
                         err);
    }
    if (mult != &one)
        free(mult);
    return rc;
}

static const ox_op op_mmint = {.op_type = "MatMulInteger", .min_in = 2, .max_in = 4, .min_out = 1, .max_out = 1,
                               .attrs = no_attrs, .check = qmm_check, .shape = qmm_shape, .run = qmm_run};
/* Not in the table (a model cannot name it): the fused QDQ MatMul/Gemm, a QLinearMatMul with a ninth input. */
const ox_op ox_op_qlinear_matmul_bias = {.op_type = "QLinearMatMul", .min_in = 8, .max_in = 9, .min_out = 1,
                                         .max_out = 1, .attrs = no_attrs, .check = qmm_check, .shape = qmm_shape,
                                         .run = qmm_run};
static const ox_op op_qlmm = {.op_type = "QLinearMatMul", .min_in = 8, .max_in = 8, .min_out = 1, .max_out = 1,
                              .attrs = no_attrs, .check = qmm_check, .shape = qmm_shape, .run = qmm_run};

/* ---------------------------------------------------------------------------------------------------------------
 * ConvInteger, QLinearConv: one scalar int32 convolution (groups, 1-3 spatial axes, dilations, pads). */

static bool is_qlinear_conv(const ox_node *n)
{
    return strcmp(n->op_type, "QLinearConv") == 0;
}

/* Inputs: ConvInteger (x, w, x_zp, w_zp); QLinearConv (x, x_s, x_zp, w, w_s, w_zp, y_s, y_zp, B). */
static int cv_w(const ox_node *n)
{
    return is_qlinear_conv(n) ? 3 : 1;
}
static int cv_wzp(const ox_node *n)
{
    return is_qlinear_conv(n) ? 5 : 3;
}

static int qconv_check(ox_model *m, ox_node *n, jn_err *err)
{
    jn_dtype x = ox_in_dtype(m, n, 0), w = ox_in_dtype(m, n, cv_w(n));
    if (!q_type(x, 10) || !q_type(w, 10))
        return ox_reject(n, err, "x/w have dtypes %s/%s (8-bit integers are supported)", jn_dtype_name(x),
                         jn_dtype_name(w));
    int sd = ox_in_rank(m, n, cv_w(n));
    size_t c;
    if (ox_attr_ints(n, "kernel_shape", &c))
        sd = (int)c + 2;
    if (sd >= 0 && (sd < 3 || sd > 5))
        return ox_reject(n, err, "%d-D convolution is not supported (1-D to 3-D are)", sd - 2);
    if (sd >= 0 && ox_win_check(n, sd - 2, err))
        return err->code;
    if (ox_attr_int(n, "group", 1) < 1)
        return ox_reject(n, err, "group must be positive");
    if (is_qlinear_conv(n)) {
        if (ox_has_in(n, 8) && ox_in_dtype(m, n, 8) != JN_DTYPE_INT32)
            return ox_reject(n, err, "B has dtype %s (INT32 expected)", jn_dtype_name(ox_in_dtype(m, n, 8)));
        jn_dtype y = ox_has_in(n, 7) ? ox_in_dtype(m, n, 7) : x;
        if (!q_type(y, 10))
            return ox_reject(n, err, "y_zero_point has dtype %s", jn_dtype_name(y));
        ox_set_out_dtype(m, n, 0, y);
    } else {
        ox_set_out_dtype(m, n, 0, JN_DTYPE_INT32);
    }
    return ox_q_pack_conv(m, n, cv_w(n), ox_attr_int(n, "group", 1), err);
}

static int qconv_geom(const ox_node *n, ox_tensor *const *in, ox_win *g, jn_err *err)
{
    const ox_tensor *x = in[0], *w = in[cv_w(n)];
    int sd = x->ndim - 2;
    if (sd < 1 || sd > 3 || w->ndim != x->ndim)
        return OX_ERR(n, err, JN_EINVAL, "x and w must both be 3-D to 5-D");
    int64_t G = ox_attr_int(n, "group", 1);
    if (x->shape[1] != w->shape[1] * G || w->shape[0] % G)
        return OX_ERR(n, err, JN_EINVAL, "channels (%lld in x, %lld x %lld groups in w) do not match",
                      (long long)x->shape[1], (long long)w->shape[1], (long long)G);
    size_t c;
    const int64_t *ks = ox_attr_ints(n, "kernel_shape", &c);
    if (ks && ((int)c != sd || memcmp(ks, w->shape + 2, c * sizeof(int64_t))))
        return OX_ERR(n, err, JN_EINVAL, "kernel_shape disagrees with w's shape");
    return ox_win_forward(n, sd, x->shape + 2, w->shape + 2, g, err);
}

static int qconv_shape(const ox_node *n, ox_tensor *const *in, ox_tensor *const *out, jn_err *err)
{
    ox_win g;
    if (qconv_geom(n, in, &g, err))
        return err->code;
    int64_t shape[5] = {in[0]->shape[0], in[cv_w(n)]->shape[0]};
    for (int i = 0; i < g.sd; i++)
        shape[2 + i] = g.out[i];
    if (n->maxpool2_after) { /* a 2x2/2 MaxPool fused in (onnx_qfuse.c, 2-D only) */
        if (g.sd != 2 || g.out[0] < 2 || g.out[1] < 2)
            return OX_ERR(n, err, JN_EINVAL, "the fused MaxPool's window is larger than the convolution output");
        shape[2] = g.out[0] / 2, shape[3] = g.out[1] / 2;
    }
    jn_dtype dt = is_qlinear_conv(n) ? (oxh_given(in, n->n_in, 7) ? in[7]->dtype : in[0]->dtype) : JN_DTYPE_INT32;
    return ox_set_shape(out[0], dt, in[0]->ndim, shape, err);
}

static int qconv_run(const ox_node *n, ox_tensor *const *in, ox_tensor *const *out, jn_err *err)
{
    ox_win g;
    if (qconv_geom(n, in, &g, err))
        return err->code;
    bool ql = is_qlinear_conv(n);
    const ox_tensor *x = in[0], *w = in[cv_w(n)];
    const ox_tensor *xzp = oxh_given(in, n->n_in, 2) ? in[2] : NULL;
    const ox_tensor *wzp = oxh_given(in, n->n_in, cv_wzp(n)) ? in[cv_wzp(n)] : NULL;
    int64_t M = w->shape[0], G = ox_attr_int(n, "group", 1);
    if (xzp && ox_count(xzp) != 1)
        return OX_ERR(n, err, JN_EINVAL, "x_zero_point must be a scalar");
    if (wzp && ox_count(wzp) != 1 && ox_count(wzp) != M)
        return OX_ERR(n, err, JN_EINVAL, "w_zero_point must be a scalar or have %lld values", (long long)M);
    const ox_tensor *bias = ql && oxh_given(in, n->n_in, 8) ? in[8] : NULL;
    if (bias && ox_count(bias) != M)
        return OX_ERR(n, err, JN_EINVAL, "B must have %lld values", (long long)M);
    const ox_tensor *ws = ql ? in[4] : NULL;
    if (ql && (ox_count(in[1]) != 1 || ox_count(in[6]) != 1 || (ox_count(ws) != 1 && ox_count(ws) != M)))
        return OX_ERR(n, err, JN_EINVAL, "x_scale/y_scale must be scalars and w_scale a scalar or per channel");
    float one = 1.0f, *mult = &one;
    int64_t n_mult = 1;
    if (ql) {
        n_mult = ox_count(ws);
        mult = malloc((size_t)n_mult * sizeof *mult);
        if (!mult)
            return OX_ERR(n, err, JN_ENOMEM, "out of memory");
        float xs = ((const float *)in[1]->data)[0], ys = ((const float *)in[6]->data)[0];
        for (int64_t j = 0; j < n_mult; j++) /* the multiplier in FP32, as ONNX Runtime computes it */
            mult[j] = (float)(xs * ((const float *)ws->data)[j]) / ys;
    }
    ox_q_out q = {.dtype = out[0]->dtype, .mult = mult, .n_mult = n_mult,
                  .yz = ql && oxh_given(in, n->n_in, 7) ? (double)ox_load_i64(in[7]->data, in[7]->dtype, 0) : 0,
                  .bias = bias ? bias->data : NULL, .relu = n->relu_after};
    int rc = ox_q_conv(n, x, w, cv_w(n), G, &g, (ox_q_zp){xzp}, (ox_q_zp){wzp}, &q, out[0], err);
    if (mult != &one)
        free(mult);
    return rc;
}

static const char *const qconv_attrs[] = {"auto_pad", "dilations", "group", "kernel_shape", "pads", "strides", NULL};
static const ox_op op_convint = {.op_type = "ConvInteger", .min_in = 2, .max_in = 4, .min_out = 1, .max_out = 1,
                                 .attrs = qconv_attrs, .check = qconv_check, .shape = qconv_shape,
                                 .run = qconv_run};
static const ox_op op_qlconv = {.op_type = "QLinearConv", .min_in = 8, .max_in = 9, .min_out = 1, .max_out = 1,
                                .attrs = qconv_attrs, .check = qconv_check, .shape = qconv_shape,
                                .run = qconv_run};

const ox_op *const ox_ops_quant[] = {&op_quantize, &op_dequantize, &op_dql,     &op_mmint,
                                     &op_qlmm,     &op_convint,    &op_qlconv, NULL};
