/* ops_nn.c — the neural-network operators: Gemm and MatMul (the shared direct product of kernels/gemm_direct.c with
 * weights packed at load where it is faster, else cblas_sgemm; one row: sgemv), Conv (depthwise: ops_conv.c on
 * kernels/conv_dw.c; other 1-D/2-D ones at any stride: the direct kernel of kernels/conv_direct.c, weights packed at
 * load, optionally with a fused 2x2/2 MaxPool; 1x1 and the rest: im2col where needed + sgemm; the fused Relu or
 * HardSwish in every path),
 * ConvTranspose (1-D/2-D: sgemm + col2im), MaxPool and AveragePool (1-D to 3-D), GlobalAveragePool,
 * BatchNormalization (also training_mode) and LayerNormalization. FP32 (MaxPool also FP64 and 8-bit integers),
 * checked at load. */
#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "onnx_internal.h"

static int need_f32(ox_model *m, ox_node *n, int from, int to, jn_err *err)
{
    for (int i = from; i <= to && i < n->n_in; i++)
        if (ox_has_in(n, i) && ox_in_dtype(m, n, i) != JN_DTYPE_FP32)
            return ox_reject(n, err, "input %d has dtype %s (FP32 is supported)", i,
                             jn_dtype_name(ox_in_dtype(m, n, i)));
    ox_set_out_dtype(m, n, 0, JN_DTYPE_FP32);
    return 0;
}

static int need_nonneg_ints(ox_node *n, const char *name, size_t want, int64_t min, jn_err *err)
{
    size_t c;
    const int64_t *v = ox_attr_ints(n, name, &c);
    if (!v)
        return 0;
    if (want && c != want)
        return ox_reject(n, err, "%s has %zu values, %zu expected", name, c, want);
    for (size_t i = 0; i < c; i++)
        if (v[i] < min)
            return ox_reject(n, err, "%s value %lld is out of range", name, (long long)v[i]);
    return 0;
}

/* ---------------------------------------------------------------------------------------------------------------
 * Weights packed at load (node params) for the shared kernels (kernels/jn_kernels.h): Conv's weights in the direct
 * convolution's layout, MatMul's and Gemm's constant B in the direct product's panels, for the instruction-set level
 * jn_k_isa() gave at load. A run at another level (a test forcing one) packs into a scratch buffer instead. One
 * allocation, freed with free() like every node's params. */

typedef struct packed_w {
    int isa;
    const void *src;    /* the constant's data packed from: a load-time fusion that replaces it is noticed */
    int64_t rows, cols; /* Conv: M, K; MatMul/Gemm: K, N */
    size_t n;           /* floats in w */
    float w[];
} packed_w;

static packed_w *packed_new(int isa, const void *src, int64_t rows, int64_t cols, size_t n)
{
    packed_w *p = malloc(sizeof *p + n * sizeof(float));
    if (p) {
        p->isa = isa;
        p->src = src;
        p->rows = rows;
        p->cols = cols;
        p->n = n;
    }
    return p;
}

/* The packed weights of n if they were packed from src for `isa` and a rows x cols operand, else NULL. */
static const float *packed_for(const ox_node *n, const void *src, int isa, int64_t rows, int64_t cols)
{
    const packed_w *p = n->params;
    return p && p->src == src && p->isa == isa && p->rows == rows && p->cols == cols ? p->w : NULL;
}

/* Gemm and MatMul: packs a constant 2-D B ([K, N], or [N, K] with trans) at load. Only a shape the direct
 * product may take (jn_k_gemm_fits for some batch) is worth the memory. */
static int pack_gemm_b(ox_model *m, ox_node *n, bool trans, jn_err *err)
{
    const ox_tensor *b = ox_in_const(m, n, 1);
    if (!b || b->dtype != JN_DTYPE_FP32 || b->ndim != 2)
        return 0;
    int64_t K = b->shape[trans ? 1 : 0], N = b->shape[trans ? 0 : 1];
    if (!jn_k_gemm_fits(64, N, K))
        return 0;
    int isa = jn_k_isa();
    packed_w *p = packed_new(isa, b->data, K, N, jn_k_gemm_packed_floats(isa, N, K));
    if (!p)
        return jn_err_set(err, JN_ENOMEM, "node '%s' (%s): out of memory packing the weights", n->name, n->op_type);
    jn_k_gemm_pack(isa, b->data, K, N, trans, p->w);
    free(n->params);
    n->params = p;
    return 0;
}

/* y = x . B (+ bias row) (+ Relu) through the direct product, B [K, N] (or [N, K] with trans) packed at load or,
 * when it was not (or for another level), here. */
static int gemm_direct_run(const ox_node *n, int64_t M, int64_t N, int64_t K, const float *x, const float *b,
                           bool trans, const float *bias, bool relu, float *y, jn_err *err)
{
    int isa = jn_k_isa();
    const float *wp = packed_for(n, b, isa, K, N);
    size_t pn = wp ? 0 : jn_k_gemm_packed_floats(isa, N, K), sn = jn_k_gemm_scratch_floats(isa, M, K);
    float *buf = pn + sn ? malloc((pn + sn) * sizeof(float)) : NULL;
    if (pn + sn && !buf)
        return jn_err_set(err, JN_ENOMEM, "out of memory");
    if (!wp) {
        jn_k_gemm_pack(isa, b, K, N, trans, buf);
        wp = buf;
    }
    jn_k_gemm(isa, M, N, K, x, wp, bias, relu, y, buf ? buf + pn : NULL);
    free(buf);
    return 0;
}

/* ---------------------------------------------------------------------------------------------------------------
 * Gemm */

static int gemm_check(ox_model *m, ox_node *n, jn_err *err)
{
    if (n->opset >= 7 && ox_attr_find(n, "broadcast"))
        return ox_reject(n, err, "broadcast is not part of opset %d", n->opset);
    if (n->opset < 6)
        return ox_reject(n, err, "opset %d is not supported (6 or later)", n->opset);
    if (need_f32(m, n, 0, 2, err))
        return err->code;
    if (!ox_attr_int(n, "transA", 0) && ox_attr_float(n, "alpha", 1.0f) == 1.0f)
        return pack_gemm_b(m, n, ox_attr_int(n, "transB", 0) != 0, err);
    return 0;
}

static int gemm_dims(const ox_node *n, ox_tensor *const *in, int64_t *M, int64_t *N, int64_t *K, jn_err *err)
{
    if (n->flatten_a) { /* A is a fused Flatten's (axis 1) input, [shape[0], rest] (onnx_fuse.c); never transA */
        if (in[0]->ndim < 1 || in[1]->ndim != 2)
            return jn_err_set(err, JN_EINVAL, "node '%s' (Gemm): the flattened A needs rank 1 or more, B 2-D",
                              n->name);
        bool tb = ox_attr_int(n, "transB", 0);
        *M = in[0]->shape[0];
        *K = 1;
        for (int i = 1; i < in[0]->ndim; i++)
            *K *= in[0]->shape[i];
        *N = in[1]->shape[tb ? 0 : 1];
        if (in[1]->shape[tb ? 1 : 0] != *K)
            return jn_err_set(err, JN_EINVAL, "node '%s' (Gemm): inner dimensions differ (%lld vs %lld)", n->name,
                              (long long)*K, (long long)in[1]->shape[tb ? 1 : 0]);
        return 0;
    }
    if (in[0]->ndim != 2 || in[1]->ndim != 2)
        return jn_err_set(err, JN_EINVAL, "node '%s' (Gemm): A and B must be 2-D", n->name);
    bool ta = ox_attr_int(n, "transA", 0), tb = ox_attr_int(n, "transB", 0);
    *M = in[0]->shape[ta ? 1 : 0];
    *K = in[0]->shape[ta ? 0 : 1];
    *N = in[1]->shape[tb ? 0 : 1];
    if (in[1]->shape[tb ? 1 : 0] != *K)
        return jn_err_set(err, JN_EINVAL, "node '%s' (Gemm): inner dimensions differ (%lld vs %lld)", n->name,
                          (long long)*K, (long long)in[1]->shape[tb ? 1 : 0]);
    return 0;
}

static int gemm_shape(const ox_node *n, ox_tensor *const *in, ox_tensor *const *out, jn_err *err)
{
    int64_t M = 0, N = 0, K = 0;
    if (gemm_dims(n, in, &M, &N, &K, err))
        return err->code;
    if (n->n_in > 2 && in[2]) {
        const ox_tensor *c = in[2];
        if (n->opset < 7 && !ox_attr_int(n, "broadcast", 0) && (c->ndim != 2 || c->shape[0] != M || c->shape[1] != N))
            return jn_err_set(err, JN_EINVAL, "node '%s' (Gemm): C must be [%lld,%lld] without broadcast", n->name,
                              (long long)M, (long long)N);
        for (int i = 0; i < c->ndim; i++) {
            int64_t want = (c->ndim - i == 1) ? N : M;
            if (c->ndim - i > 2 || (c->shape[i] != want && c->shape[i] != 1))
                return jn_err_set(err, JN_EINVAL, "node '%s' (Gemm): C does not broadcast to [%lld,%lld]", n->name,
                                  (long long)M, (long long)N);
        }
    }
    int64_t shape[2] = {M, N};
    return ox_set_shape(out[0], JN_DTYPE_FP32, 2, shape, err);
}

static int gemm_run(const ox_node *n, ox_tensor *const *in, ox_tensor *const *out, jn_err *err)
{
    int64_t M = 0, N = 0, K = 0;
    if (gemm_dims(n, in, &M, &N, &K, err))
        return err->code;
    bool ta = ox_attr_int(n, "transA", 0), tb = ox_attr_int(n, "transB", 0);
    float alpha = ox_attr_float(n, "alpha", 1.0f), beta = ox_attr_float(n, "beta", 1.0f);
    float *y = out[0]->data;
    float b = 0.0f;
    /* A dense layer (y = x . B + bias row, B constant: packed at load) takes the direct product when it fits. */
    const ox_tensor *crow = n->n_in > 2 && in[2] && beta != 0.0f ? in[2] : NULL;
    bool is_row = !crow || (beta == 1.0f && ox_count(crow) == N && crow->shape[crow->ndim - 1] == N);
    if (ox_gemm_direct_enabled && !ta && alpha == 1.0f && is_row && K > 0 && jn_k_gemm_fits(M, N, K))
        return gemm_direct_run(n, M, N, K, in[0]->data, in[1]->data, tb, crow ? crow->data : NULL, n->relu_after,
                               y, err);
    /* A classifier head with a few outputs over a wide input (the text engines' exported linear model: 2^18
     * hashed features, mostly zero, 2 classes): row by row, skipping zero inputs, the kernel the text engine
     * runs (jn_k_sparse_dense). */
    if (ox_gemm_direct_enabled && !ta && !tb && alpha == 1.0f && is_row && N <= 8 && K >= 1024) {
        for (int64_t i = 0; i < M; i++) {
            jn_k_sparse_dense(N, K, NULL, (const float *)in[0]->data + i * K, in[1]->data, crow ? crow->data : NULL,
                              y + i * N);
            if (n->relu_after)
                for (int64_t j = 0; j < N; j++)
                    y[i * N + j] = y[i * N + j] > 0.0f ? y[i * N + j] : 0.0f;
        }
        return 0;
    }
    if (n->n_in > 2 && in[2] && beta != 0.0f) {
        int64_t strides[2];
        ox_broadcast_strides(in[2], 2, out[0]->shape, strides);
        const float *c = in[2]->data;
        for (int64_t i = 0; i < M; i++)
            for (int64_t j = 0; j < N; j++)
                y[i * N + j] = beta * c[i * strides[0] + j * strides[1]];
        b = 1.0f;
    }
    if (M == 0 || N == 0)
        return 0;
    if (K == 0) {
        if (b == 0.0f)
            memset(y, 0, out[0]->nbytes);
    } else if (M == 1) {
        /* One row (a classifier head at batch 1): sgemv reads B once, where sgemm first copies all of it into its
         * panels (MobileNetV3's 1024x1000 head: 550 -> 120 us, bench machine). A is K contiguous values either
         * way (transA of a [K, 1] matrix). */
        cblas_sgemv(CblasRowMajor, tb ? CblasNoTrans : CblasTrans, (int)in[1]->shape[0], (int)in[1]->shape[1],
                    alpha, in[1]->data, (int)in[1]->shape[1], in[0]->data, 1, b, y, 1);
    } else {
        cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, (int)M,
                    (int)N, (int)K, alpha, in[0]->data, (int)(ta ? M : K), in[1]->data, (int)in[1]->shape[1], b,
                    y, (int)N);
    }
    if (n->relu_after)
        for (int64_t i = 0; i < M * N; i++)
            y[i] = y[i] > 0.0f ? y[i] : 0.0f;
    return 0;
}

static const char *const gemm_attrs[] = {"alpha", "beta", "transA", "transB", "broadcast", NULL};
static const ox_op op_gemm = {"Gemm", 2, 3, 1, 1, gemm_attrs, 0, gemm_check, gemm_shape, gemm_run};

/* ---------------------------------------------------------------------------------------------------------------
 * MatMul: numpy matmul (1-D operands promoted, batch dimensions broadcast) */

static int matmul_check(ox_model *m, ox_node *n, jn_err *err)
{
    if (need_f32(m, n, 0, 1, err))
        return err->code;
    return pack_gemm_b(m, n, false, err);
}

typedef struct mm_dims {
    ox_tensor a, b; /* promoted to >= 2-D */
    int64_t M, N, K;
    int batch_nd;
    int64_t batch[JN_MAX_DIMS];
} mm_dims;

static int matmul_dims(const ox_node *n, ox_tensor *const *in, mm_dims *d, int *out_nd, int64_t *out_shape,
                       jn_err *err)
{
    if (in[0]->ndim == 0 || in[1]->ndim == 0)
        return jn_err_set(err, JN_EINVAL, "node '%s' (MatMul): scalar operands are not allowed", n->name);
    d->a = *in[0];
    d->b = *in[1];
    if (d->a.ndim == 1) {
        d->a.ndim = 2;
        d->a.shape[1] = in[0]->shape[0];
        d->a.shape[0] = 1;
    }
    if (d->b.ndim == 1) {
        d->b.ndim = 2;
        d->b.shape[0] = in[1]->shape[0];
        d->b.shape[1] = 1;
    }
    d->M = d->a.shape[d->a.ndim - 2];
    d->K = d->a.shape[d->a.ndim - 1];
    d->N = d->b.shape[d->b.ndim - 1];
    if (d->b.shape[d->b.ndim - 2] != d->K)
        return jn_err_set(err, JN_EINVAL, "node '%s' (MatMul): inner dimensions differ (%lld vs %lld)", n->name,
                          (long long)d->K, (long long)d->b.shape[d->b.ndim - 2]);
    ox_tensor ba = {.ndim = d->a.ndim - 2}, bb = {.ndim = d->b.ndim - 2};
    memcpy(ba.shape, d->a.shape, sizeof(int64_t) * (size_t)ba.ndim);
    memcpy(bb.shape, d->b.shape, sizeof(int64_t) * (size_t)bb.ndim);
    if (ox_broadcast_shape(n, &ba, &bb, &d->batch_nd, d->batch, err))
        return err->code;
    int nd = 0;
    for (int i = 0; i < d->batch_nd; i++)
        out_shape[nd++] = d->batch[i];
    if (in[0]->ndim > 1)
        out_shape[nd++] = d->M;
    if (in[1]->ndim > 1)
        out_shape[nd++] = d->N;
    *out_nd = nd;
    return 0;
}

static int matmul_shape(const ox_node *n, ox_tensor *const *in, ox_tensor *const *out, jn_err *err)
{
    mm_dims d;
    int nd = 0;
    int64_t shape[JN_MAX_DIMS + 2];
    if (matmul_dims(n, in, &d, &nd, shape, err))
        return err->code;
    return ox_set_shape(out[0], JN_DTYPE_FP32, nd, shape, err);
}

bool ox_gemm_direct_enabled = true;

static int matmul_run(const ox_node *n, ox_tensor *const *in, ox_tensor *const *out, jn_err *err)
{
    mm_dims d;
    int nd = 0;
    int64_t shape[JN_MAX_DIMS + 2];
    if (matmul_dims(n, in, &d, &nd, shape, err))
        return err->code;
    ox_tensor ba = {.ndim = d.a.ndim - 2}, bb = {.ndim = d.b.ndim - 2};
    memcpy(ba.shape, d.a.shape, sizeof(int64_t) * (size_t)ba.ndim);
    memcpy(bb.shape, d.b.shape, sizeof(int64_t) * (size_t)bb.ndim);
    int64_t sa[JN_MAX_DIMS], sb[JN_MAX_DIMS], counter[JN_MAX_DIMS] = {0}, batches = 1;
    ox_broadcast_strides(&ba, d.batch_nd, d.batch, sa);
    ox_broadcast_strides(&bb, d.batch_nd, d.batch, sb);
    for (int i = 0; i < d.batch_nd; i++)
        batches *= d.batch[i];
    const float *A = in[0]->data, *B = in[1]->data;
    /* A fused bias row (onnx_fuse.c: [N] against constant [K, N] weights) seeds the products. */
    const float *bias = n->n_in > 2 && in[2] ? in[2]->data : NULL;
    float *Y = out[0]->data;
    int64_t pa = 0, pb = 0, mk = d.M * d.K, kn = d.K * d.N, mn = d.M * d.N;
    float beta = bias ? 1.0f : 0.0f;
    /* Products the direct kernel is faster for skip OpenBLAS (kernels/gemm_direct.c: B packed at load; bias and
     * Relu in registers). */
    bool direct = ox_gemm_direct_enabled && d.K > 0 && d.M > 1 && jn_k_gemm_fits(d.M, d.N, d.K);
    for (int64_t bi = 0; bi < batches; bi++) {
        float *y = Y + bi * mn;
        if (bias && !direct)
            for (int64_t r = 0; r < d.M; r++)
                memcpy(y + r * d.N, bias, (size_t)d.N * sizeof(float));
        if (mn > 0) {
            if (d.K == 0) {
                if (!bias)
                    memset(y, 0, (size_t)mn * sizeof(float));
            } else if (d.M == 1 && d.N > 0) {
                if (!bias) /* y may hold an earlier value's bits (the arena), NaN included: 0 * NaN is NaN */
                    memset(y, 0, (size_t)d.N * sizeof(float));
                cblas_sgemv(CblasRowMajor, CblasTrans, (int)d.K, (int)d.N, 1.0f, B + pb * kn, (int)d.N,
                            A + pa * mk, 1, beta, y, 1);
            } else if (direct) {
                /* Weights packed at load are a constant 2-D B: the same matrix for every batch. */
                if (gemm_direct_run(n, d.M, d.N, d.K, A + pa * mk, B + pb * kn, false, bias, n->relu_after, y, err))
                    return err->code;
            } else {
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)d.M, (int)d.N, (int)d.K, 1.0f,
                            A + pa * mk, (int)d.K, B + pb * kn, (int)d.N, beta, y, (int)d.N);
            }
            if (n->relu_after && !direct)
                for (int64_t i = 0; i < mn; i++)
                    y[i] = y[i] > 0.0f ? y[i] : 0.0f;
        }
        for (int i = d.batch_nd - 1; i >= 0; i--) {
            pa += sa[i];
            pb += sb[i];
            if (++counter[i] < d.batch[i])
                break;
            pa -= sa[i] * d.batch[i];
            pb -= sb[i] * d.batch[i];
            counter[i] = 0;
        }
    }
    return 0;
}

static const char *const no_attrs[] = {NULL};
static const ox_op op_matmul = {"MatMul", 2, 2, 1, 1, no_attrs, 0, matmul_check, matmul_shape, matmul_run};

/* ---------------------------------------------------------------------------------------------------------------
 * Window geometry shared by Conv and the pools: spatial dims normalized to three (D, H, W), leading ones unit. */

typedef struct geom {
    int64_t in[3], k[3], s[3], d[3], pb[3], pe[3], out[3];
} geom;

enum { PAD_NOTSET, PAD_SAME_UPPER, PAD_SAME_LOWER, PAD_VALID, PAD_BAD };

static int auto_pad_mode(const ox_node *n)
{
    const char *s = ox_attr_str(n, "auto_pad", "NOTSET");
    return strcmp(s, "NOTSET") == 0       ? PAD_NOTSET
           : strcmp(s, "SAME_UPPER") == 0 ? PAD_SAME_UPPER
           : strcmp(s, "SAME_LOWER") == 0 ? PAD_SAME_LOWER
           : strcmp(s, "VALID") == 0      ? PAD_VALID
                                          : PAD_BAD;
}

/* Load-time checks of the window attributes for `sd` spatial dims. */
static int window_check(ox_node *n, int sd, bool has_dilations, jn_err *err)
{
    if (auto_pad_mode(n) == PAD_BAD)
        return ox_reject(n, err, "auto_pad '%s' is not one of NOTSET, SAME_UPPER, SAME_LOWER, VALID",
                         ox_attr_str(n, "auto_pad", ""));
    if (need_nonneg_ints(n, "kernel_shape", (size_t)sd, 1, err) || need_nonneg_ints(n, "strides", (size_t)sd, 1, err) ||
        need_nonneg_ints(n, "pads", 2 * (size_t)sd, 0, err))
        return err->code;
    if (has_dilations && need_nonneg_ints(n, "dilations", (size_t)sd, 1, err))
        return err->code;
    return 0;
}

/* The part of g both directions share: every axis reset (size 1, no padding), then the sd spatial axes (the last
 * sd of the three) given their input size, kernel, strides and dilations. */
static void geom_axes(const ox_node *n, int sd, const int64_t *in_sp, const int64_t *k, geom *g)
{
    size_t c;
    const int64_t *strides = ox_attr_ints(n, "strides", &c);
    const int64_t *dil = ox_attr_ints(n, "dilations", &c);
    for (int i = 0; i < 3; i++) {
        g->in[i] = g->k[i] = g->s[i] = g->d[i] = g->out[i] = 1;
        g->pb[i] = g->pe[i] = 0;
    }
    for (int i = 0; i < sd; i++) {
        int j = 3 - sd + i;
        g->in[j] = in_sp[i];
        g->k[j] = k[i];
        g->s[j] = strides ? strides[i] : 1;
        g->d[j] = dil ? dil[i] : 1;
    }
}

/* Fills g for an input of spatial size in_sp[0..sd) and kernel k[0..sd). */
static int geom_forward(const ox_node *n, int sd, const int64_t *in_sp, const int64_t *k, bool ceil_mode, geom *g,
                        jn_err *err)
{
    size_t c;
    const int64_t *pads = ox_attr_ints(n, "pads", &c);
    int mode = auto_pad_mode(n);
    geom_axes(n, sd, in_sp, k, g);
    for (int i = 0; i < sd; i++) {
        int j = 3 - sd + i;
        int64_t ek = (g->k[j] - 1) * g->d[j] + 1;
        if (mode == PAD_SAME_UPPER || mode == PAD_SAME_LOWER) {
            g->out[j] = (g->in[j] + g->s[j] - 1) / g->s[j];
            int64_t total = (g->out[j] - 1) * g->s[j] + ek - g->in[j];
            if (total < 0)
                total = 0;
            g->pb[j] = mode == PAD_SAME_UPPER ? total / 2 : total - total / 2;
            g->pe[j] = total - g->pb[j];
        } else {
            if (mode == PAD_NOTSET && pads) {
                g->pb[j] = pads[i];
                g->pe[j] = pads[i + sd];
            }
            int64_t span = g->in[j] + g->pb[j] + g->pe[j] - ek;
            if (span < 0)
                return jn_err_set(err, JN_EINVAL, "node '%s' (%s): the window is larger than the padded input",
                                  n->name, n->op_type);
            g->out[j] = (ceil_mode ? (span + g->s[j] - 1) / g->s[j] : span / g->s[j]) + 1;
            /* A last window that would start in the end padding is dropped (as the reference does). */
            if (ceil_mode && (g->out[j] - 1) * g->s[j] >= g->in[j] + g->pb[j])
                g->out[j]--;
        }
    }
    return 0;
}

/* The spatial rank of a conv/pool node: kernel_shape's length, else the weight's rank - 2. -1 when unknown. */
static int spatial_rank(ox_model *m, const ox_node *n, int weight_input)
{
    size_t c;
    if (ox_attr_ints(n, "kernel_shape", &c))
        return (int)c;
    int r = weight_input >= 0 ? ox_in_rank(m, n, weight_input) : -1;
    if (r < 0)
        r = ox_in_rank(m, n, 0);
    return r >= 2 ? r - 2 : -1;
}

/* ---------------------------------------------------------------------------------------------------------------
 * Conv */

static const char *const conv_attrs[] = {"auto_pad", "dilations", "group", "kernel_shape", "pads", "strides", NULL};

static int conv_check(ox_model *m, ox_node *n, jn_err *err)
{
    int sd = spatial_rank(m, n, 1);
    if (sd < 1 || sd > 3)
        return ox_reject(n, err, "%d-D convolution is not supported (1-D to 3-D are)", sd);
    if (ox_attr_int(n, "group", 1) < 1)
        return ox_reject(n, err, "group must be positive");
    if (window_check(n, sd, true, err))
        return err->code;
    if (need_f32(m, n, 0, 2, err))
        return err->code;
    /* Constant 1-D/2-D weights are packed now for the direct kernel, when its conditions that do not depend on the
     * input (conv_direct_fits: unit dilations, more than one tap, K at most 1152) hold. */
    const ox_tensor *w = ox_in_const(m, n, 1);
    int64_t group = ox_attr_int(n, "group", 1);
    size_t nd;
    const int64_t *dl = ox_attr_ints(n, "dilations", &nd);
    bool unit = true;
    for (size_t i = 0; dl && i < nd; i++)
        unit = unit && dl[i] == 1;
    if (unit && w && w->dtype == JN_DTYPE_FP32 && (w->ndim == 3 || w->ndim == 4) && w->shape[0] % group == 0 &&
        w->shape[w->ndim - 1] * (w->ndim == 4 ? w->shape[2] : 1) > 1) {
        int64_t Mg = w->shape[0] / group, K = ox_count(w) / (w->shape[0] ? w->shape[0] : 1);
        int isa = jn_k_isa();
        size_t wn = jn_k_conv_packed_floats(isa, Mg, K);
        if (K > 1 && K <= 1152) {
            packed_w *p = packed_new(isa, w->data, Mg, K, (size_t)group * wn);
            if (!p)
                return jn_err_set(err, JN_ENOMEM, "node '%s' (Conv): out of memory packing the weights", n->name);
            for (int64_t gi = 0; gi < group; gi++)
                jn_k_conv_pack(isa, (const float *)w->data + gi * Mg * K, Mg, K, p->w + (size_t)gi * wn);
            free(n->params);
            n->params = p;
        }
    }
    return 0;
}

static int conv_geom(const ox_node *n, ox_tensor *const *in, geom *g, int64_t *M, int64_t *Cg, jn_err *err)
{
    const ox_tensor *x = in[0], *w = in[1];
    int sd = x->ndim - 2;
    if (sd < 1 || sd > 3 || w->ndim != x->ndim)
        return jn_err_set(err, JN_EINVAL, "node '%s' (Conv): X and W must be 3-D to 5-D, of the same rank", n->name);
    int64_t group = ox_attr_int(n, "group", 1);
    *M = w->shape[0];
    *Cg = w->shape[1];
    if (x->shape[1] != *Cg * group || *M % group)
        return jn_err_set(err, JN_EINVAL, "node '%s' (Conv): channels do not match (X %lld, W %lldx%lld, group %lld)",
                          n->name, (long long)x->shape[1], (long long)*M, (long long)*Cg, (long long)group);
    size_t c;
    const int64_t *ks = ox_attr_ints(n, "kernel_shape", &c);
    for (int i = 0; ks && i < sd; i++)
        if (ks[i] != w->shape[2 + i])
            return jn_err_set(err, JN_EINVAL, "node '%s' (Conv): kernel_shape does not match W", n->name);
    if (n->n_in > 2 && in[2] && (in[2]->ndim != 1 || in[2]->shape[0] != *M))
        return jn_err_set(err, JN_EINVAL, "node '%s' (Conv): B must have %lld values", n->name, (long long)*M);
    return geom_forward(n, sd, x->shape + 2, w->shape + 2, false, g, err);
}

static int conv_shape(const ox_node *n, ox_tensor *const *in, ox_tensor *const *out, jn_err *err)
{
    geom g;
    int64_t M = 0, Cg = 0;
    if (conv_geom(n, in, &g, &M, &Cg, err))
        return err->code;
    int sd = in[0]->ndim - 2;
    int64_t shape[5] = {in[0]->shape[0], M, 0, 0, 0};
    for (int i = 0; i < sd; i++)
        shape[2 + i] = g.out[3 - sd + i];
    if (n->maxpool2_after) { /* the fused 2x2/2 MaxPool's output (onnx_fuse.c fuses it into 2-D convs only) */
        if (sd != 2 || g.out[1] < 2 || g.out[2] < 2)
            return jn_err_set(err, JN_EINVAL, "node '%s' (MaxPool): the window is larger than the padded input",
                              n->name);
        shape[2] = g.out[1] / 2;
        shape[3] = g.out[2] / 2;
    }
    return ox_set_shape(out[0], JN_DTYPE_FP32, in[0]->ndim, shape, err);
}

/* One image's channels [Cg, H, W] unrolled into rows (c, i, j) of P = OH*OW columns, row stride ld. */
static void im2col(const float *xg, const geom *g, int64_t Cg, float *dst, int64_t ld)
{
    int64_t H = g->in[1], W = g->in[2], kh = g->k[1], kw = g->k[2], OH = g->out[1], OW = g->out[2];
    for (int64_t c = 0; c < Cg; c++)
        for (int64_t i = 0; i < kh; i++)
            for (int64_t j = 0; j < kw; j++) {
                float *row = dst + ((c * kh + i) * kw + j) * ld;
                /* Output columns whose input column lies inside the image: [lo, hi). */
                int64_t off = j * g->d[2] - g->pb[2], lo = 0, hi = OW;
                while (lo < OW && lo * g->s[2] + off < 0)
                    lo++;
                while (hi > lo && (hi - 1) * g->s[2] + off >= W)
                    hi--;
                for (int64_t oy = 0; oy < OH; oy++) {
                    int64_t iy = oy * g->s[1] - g->pb[1] + i * g->d[1];
                    float *d = row + oy * OW;
                    if (iy < 0 || iy >= H) {
                        memset(d, 0, (size_t)OW * sizeof(float));
                        continue;
                    }
                    const float *srow = xg + (c * H + iy) * W + off;
                    for (int64_t ox = 0; ox < lo; ox++)
                        d[ox] = 0.0f;
                    if (g->s[2] == 1)
                        memcpy(d + lo, srow + lo, (size_t)(hi - lo) * sizeof(float));
                    else
                        for (int64_t ox = lo; ox < hi; ox++)
                            d[ox] = srow[ox * g->s[2]];
                    for (int64_t ox = hi; ox < OW; ox++)
                        d[ox] = 0.0f;
                }
            }
}

/* The general unrolling over (D, H, W) for 3-D convolutions: rows (c, i, j, l), columns (od, oh, ow). */
static void im2col3d(const float *xg, const geom *g, int64_t Cg, float *dst)
{
    int64_t P = g->out[0] * g->out[1] * g->out[2];
    for (int64_t c = 0; c < Cg; c++)
        for (int64_t i = 0; i < g->k[0]; i++)
            for (int64_t j = 0; j < g->k[1]; j++)
                for (int64_t l = 0; l < g->k[2]; l++) {
                    float *row = dst + (((c * g->k[0] + i) * g->k[1] + j) * g->k[2] + l) * P;
                    for (int64_t od = 0; od < g->out[0]; od++) {
                        int64_t id = od * g->s[0] - g->pb[0] + i * g->d[0];
                        for (int64_t oh = 0; oh < g->out[1]; oh++) {
                            int64_t ih = oh * g->s[1] - g->pb[1] + j * g->d[1];
                            float *r = row + (od * g->out[1] + oh) * g->out[2];
                            bool inside = id >= 0 && id < g->in[0] && ih >= 0 && ih < g->in[1];
                            const float *src = xg + ((c * g->in[0] + id) * g->in[1] + ih) * g->in[2];
                            for (int64_t ow = 0; ow < g->out[2]; ow++) {
                                int64_t iw = ow * g->s[2] - g->pb[2] + l * g->d[2];
                                r[ow] = inside && iw >= 0 && iw < g->in[2] ? src[iw] : 0.0f;
                            }
                        }
                    }
                }
}

/* A row of P outputs set to the bias (sgemm then adds the product). */
OX_HOT static void fill_rows(float *dst, int64_t P, float v)
{
    for (int64_t p = 0; p < P; p++)
        dst[p] = v;
}

/* HardSwish over n values as ops_act.c's operator computes it: y = x * clamp(x / 6 + 1/2, 0, 1) (y may be x).
 * The clamp's bounds go through an empty asm so the compiler does not know them: knowing the product is by 0 or
 * by 1 at the ends, GCC turned it into branches and the loop did not vectorize. */
OX_HOT static void hswish_f32(const float *x, float *y, int64_t n)
{
    float lo = 0.0f, hi = 1.0f;
#if defined(__GNUC__) && defined(__x86_64__)
    __asm__("" : "+x"(lo), "+x"(hi));
#endif
    for (int64_t i = 0; i < n; i++) {
        float v = (1.0f / 6.0f) * x[i] + 0.5f;
        v = v < lo ? lo : v > hi ? hi : v;
        y[i] = x[i] * v;
    }
}

/* The fused activation (Relu or HardSwish, onnx_fuse.c) over n outputs in place. */
OX_HOT static void conv_act_rows(const ox_node *node, float *y, int64_t n)
{
    if (node->relu_after)
        for (int64_t i = 0; i < n; i++)
            y[i] = y[i] > 0.0f ? y[i] : 0.0f;
    else if (node->hswish_after)
        hswish_f32(y, y, n);
}

bool ox_conv_direct_enabled = true;

OX_HOT static void pool2d_f32(const geom *g, bool is_max, bool include_pad, int64_t planes, const float *x,
                              float *y);

/* Whether the direct kernel (conv_direct.c) takes a convolution: 1-D or 2-D, any stride, no dilation, more than
 * one tap (a 1x1 kernel is already a single sgemm straight from the input), and K = C/group * kh * kw at most
 * 1152, so a tile's packed weights (8 x K floats, 36 KB) stay in L1.
 * Measured on the bench machine (one thread, median wall time of single-layer models, direct vs this generic
 * path with the pool as a second pass): the bench CNN's conv1 (1->16, 28x28, K 9) + Relu + MaxPool at batch 64
 * 213 vs 750 us, its conv2 (16->32, 14x14, K 144) + Relu + MaxPool 885 vs 1790 us; 64->64 3x3 on 56x56 (K 576) at
 * batch 8 16.4 vs 22.5 ms; 128->128 3x3 on 28x28 (K 1152, the limit) 15.2 vs 16.6 ms; 3->24 5x5 on 32x32, no
 * Relu, 205 vs 450 us. Larger K was not measured, so it stays on sgemm. */
static bool conv_direct_fits(const geom *g, bool three_d, int64_t K)
{
    return ox_conv_direct_enabled && !three_d && g->k[0] == 1 && g->d[1] == 1 && g->d[2] == 1 && K > 1 &&
           K <= 1152 && g->k[1] * g->k[2] > 1;
}

static int conv_run_direct(const ox_node *n, const geom *g, const float *x, const float *w, const float *bias,
                           int64_t N, int64_t group, int64_t Cg, int64_t Mg, float *y, jn_err *err)
{
    int64_t H = g->in[1], W = g->in[2], K = Cg * g->k[1] * g->k[2];
    jn_k_conv d = {.isa = jn_k_isa(),
                   .C = Cg,
                   .M = Mg,
                   .kh = g->k[1],
                   .kw = g->k[2],
                   .sh = g->s[1],
                   .sw = g->s[2],
                   .HP = H + g->pb[1] + g->pe[1],
                   .WP = W + g->pb[2] + g->pe[2],
                   .OH = g->out[1],
                   .OW = g->out[2],
                   .relu = n->relu_after,
                   .pool = n->maxpool2_after,
                   .hswish = n->hswish_after};
    size_t wn = jn_k_conv_packed_floats(d.isa, Mg, K), bn = jn_k_conv_bias_floats(d.isa, Mg),
           xn = jn_k_conv_padded_floats(&d);
    const float *packed = packed_for(n, w, d.isa, Mg, K);
    /* A large map's padded buffer (6.8 MB for 64 channels of 160x160) is not cleared whole (calloc): only its pads
     * are zeroed (jn_k_conv_zero_pads), the interior is copied in; DBNet 640x640 about 3 % faster. Small ones
     * keep calloc, which was faster there (the bench CNN at batch 1: 29 vs 31 us). */
    size_t total = (packed ? 0 : (size_t)group * wn) + (size_t)group * bn + xn;
    bool large = xn >= (1u << 18);
    float *buf = large ? malloc(total * sizeof(float)) : calloc(total, sizeof(float));
    if (!buf)
        return jn_err_set(err, JN_ENOMEM, "out of memory");
    float *bp = buf, *xp = bp + (size_t)group * bn, *wp = xp + xn;
    if (large)
        jn_k_conv_zero_pads(&d, H, W, g->pb[1], g->pb[2], xp);
    for (int64_t gi = 0; gi < group; gi++) {
        jn_k_conv_pack_bias(d.isa, bias ? bias + gi * Mg : NULL, Mg, bp + (size_t)gi * bn);
        if (!packed) /* weights that were not constant at load, or another level than at load */
            jn_k_conv_pack(d.isa, w + gi * Mg * K, Mg, K, wp + (size_t)gi * wn);
    }
    if (packed)
        wp = (float *)packed;
    int64_t osz = d.pool ? Mg * (d.OH / 2) * (d.OW / 2) : Mg * d.OH * d.OW;
    for (int64_t b = 0; b < N; b++)
        for (int64_t gi = 0; gi < group; gi++) {
            /* The pads and the tail stay zero: only the interior is ever written. */
            jn_k_conv_pad(&d, x + (b * group + gi) * Cg * H * W, H, W, g->pb[1], g->pb[2], xp);
            d.w = wp + (size_t)gi * wn;
            d.bias = bp + (size_t)gi * bn;
            jn_k_conv_run(&d, xp, y + (b * group + gi) * osz);
        }
    free(buf);
    return 0;
}

/* The generic path: one sgemm per image and group, straight into the output: batching images into one wider
 * sgemm was measured slower here (the unrolled columns and the scatter afterwards cost more memory traffic than
 * the bigger product saves). Depthwise convolutions take ops_conv.c (ox_conv_dw_fits), other 1-D/2-D ones with
 * more than one tap the direct kernel (conv_direct_fits). Strides > 1 there: measured in the commit that allowed
 * them (the MobileNetV3 stem and the DBNet backbone were im2col + sgemm). */
static int conv_run(const ox_node *n, ox_tensor *const *in, ox_tensor *const *out, jn_err *err)
{
    geom g;
    int64_t M = 0, Cg = 0;
    if (conv_geom(n, in, &g, &M, &Cg, err))
        return err->code;
    int64_t N = in[0]->shape[0], group = ox_attr_int(n, "group", 1), Mg = M / group;
    int64_t D = g.in[0], H = g.in[1], W = g.in[2], kh = g.k[1], kw = g.k[2], P = g.out[0] * g.out[1] * g.out[2];
    int64_t K = Cg * g.k[0] * kh * kw;
    bool three_d = in[0]->ndim == 5;
    const float *x = in[0]->data, *w = in[1]->data;
    const float *bias = n->n_in > 2 && in[2] ? in[2]->data : NULL;
    if (N * M * P == 0 || out[0]->nbytes == 0)
        return 0;
    if (!three_d && !n->maxpool2_after) {
        ox_conv2d c = {.N = N, .C = Cg * group, .M = M, .group = group, .H = H, .W = W, .kh = kh, .kw = kw,
                       .sh = g.s[1], .sw = g.s[2], .dh = g.d[1], .dw = g.d[2], .pt = g.pb[1], .pl = g.pb[2],
                       .pb = g.pe[1], .pr = g.pe[2], .OH = g.out[1], .OW = g.out[2], .relu = n->relu_after,
                       .hswish = n->hswish_after};
        if (ox_conv_dw_fits(&c))
            return ox_conv_dw_run(n, &c, x, w, bias, out[0]->data, err);
    }
    if (conv_direct_fits(&g, three_d, K))
        return conv_run_direct(n, &g, x, w, bias, N, group, Cg, Mg, out[0]->data, err);
    /* A fused MaxPool: the convolution goes to a scratch buffer, pooled from there into the output. */
    float *y = out[0]->data, *unpooled = NULL;
    if (n->maxpool2_after) {
        unpooled = malloc((size_t)(N * M * P) * sizeof(float));
        if (!unpooled)
            return jn_err_set(err, JN_ENOMEM, "out of memory");
        y = unpooled;
    }
    bool direct = g.k[0] == 1 && kh == 1 && kw == 1 && g.s[0] == 1 && g.s[1] == 1 && g.s[2] == 1 && g.pb[0] == 0 &&
                  g.pb[1] == 0 && g.pb[2] == 0 && g.pe[0] == 0 && g.pe[1] == 0 && g.pe[2] == 0;
    float *col = NULL;
    if (!direct && K * P > 0) {
        col = malloc((size_t)(K * P) * sizeof(float));
        if (!col) {
            free(unpooled);
            return jn_err_set(err, JN_ENOMEM, "out of memory");
        }
    }
    if (direct && P == 1 && group == 1 && K > 0) {
        /* One output pixel per image (squeeze-excite's 1x1 convolutions on pooled channels): x is [N, K] and y
         * [N, M], one product for the whole batch (sgemv at N = 1), bias seeding y. */
        for (int64_t b = 0; b < N; b++)
            for (int64_t mi = 0; mi < M; mi++)
                y[b * M + mi] = bias ? bias[mi] : 0.0f;
        if (N == 1)
            cblas_sgemv(CblasRowMajor, CblasNoTrans, (int)M, (int)K, 1.0f, w, (int)K, x, 1, 1.0f, y, 1);
        else
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)N, (int)M, (int)K, 1.0f, x, (int)K, w, (int)K,
                        1.0f, y, (int)M);
        conv_act_rows(n, y, N * M);
        return 0;
    }
    for (int64_t b = 0; b < N; b++)
        for (int64_t gi = 0; gi < group; gi++) {
            const float *xg = x + (b * group + gi) * Cg * D * H * W;
            float *yg = y + (b * group + gi) * Mg * P;
            if (col && three_d)
                im2col3d(xg, &g, Cg, col);
            else if (col)
                im2col(xg, &g, Cg, col, P);
            /* The bias seeds the output and sgemm adds to it (beta 1): no zeroing pass inside sgemm and no bias
             * pass after it. */
            if (bias)
                for (int64_t mi = 0; mi < Mg; mi++)
                    fill_rows(yg + mi * P, P, bias[gi * Mg + mi]);
            if (K == 0 && !bias)
                memset(yg, 0, (size_t)(Mg * P) * sizeof(float));
            else if (K > 0)
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)Mg, (int)P, (int)K, 1.0f,
                            w + gi * Mg * K, (int)K, col ? col : xg, (int)P, bias ? 1.0f : 0.0f, yg, (int)P);
            conv_act_rows(n, yg, Mg * P);
        }
    free(col);
    if (unpooled) {
        geom pg = {.in = {1, g.out[1], g.out[2]},
                   .k = {1, 2, 2},
                   .s = {1, 2, 2},
                   .d = {1, 1, 1},
                   .out = {1, g.out[1] / 2, g.out[2] / 2}};
        pool2d_f32(&pg, true, false, N * M, unpooled, out[0]->data);
        free(unpooled);
    }
    return 0;
}

static const ox_op op_conv = {"Conv", 2, 3, 1, 1, conv_attrs, 0, conv_check, conv_shape, conv_run};

/* ---------------------------------------------------------------------------------------------------------------
 * ConvTranspose */

static const char *const convt_attrs[] = {"auto_pad", "dilations", "group", "kernel_shape", "output_padding",
                                          "output_shape", "pads", "strides", NULL};

static int convt_check(ox_model *m, ox_node *n, jn_err *err)
{
    int sd = spatial_rank(m, n, 1);
    if (sd < 1 || sd > 3)
        return ox_reject(n, err, "%d-D transposed convolution is not supported (1-D to 3-D are)", sd);
    if (ox_attr_int(n, "group", 1) < 1)
        return ox_reject(n, err, "group must be positive");
    if (auto_pad_mode(n) == PAD_VALID)
        return ox_reject(n, err, "auto_pad VALID is not supported");
    if (window_check(n, sd, true, err) || need_nonneg_ints(n, "output_padding", (size_t)sd, 0, err))
        return err->code;
    size_t c;
    if (ox_attr_ints(n, "output_shape", &c) && c != (size_t)sd && c != (size_t)sd + 2)
        return ox_reject(n, err, "output_shape has %zu values", c);
    return need_f32(m, n, 0, 2, err);
}

static int convt_geom(const ox_node *n, ox_tensor *const *in, geom *g, int64_t *M, jn_err *err)
{
    const ox_tensor *x = in[0], *w = in[1];
    int sd = x->ndim - 2;
    if (sd < 1 || sd > 3 || w->ndim != x->ndim)
        return jn_err_set(err, JN_EINVAL, "node '%s' (ConvTranspose): X and W must be 3-D to 5-D, of the same rank",
                          n->name);
    int64_t group = ox_attr_int(n, "group", 1);
    if (w->shape[0] != x->shape[1] || x->shape[1] % group)
        return jn_err_set(err, JN_EINVAL, "node '%s' (ConvTranspose): channels do not match", n->name);
    *M = w->shape[1] * group;
    if (n->n_in > 2 && in[2] && (in[2]->ndim != 1 || in[2]->shape[0] != *M))
        return jn_err_set(err, JN_EINVAL, "node '%s' (ConvTranspose): B must have %lld values", n->name,
                          (long long)*M);
    size_t c, cos;
    const int64_t *pads = ox_attr_ints(n, "pads", &c);
    const int64_t *opad = ox_attr_ints(n, "output_padding", &c);
    const int64_t *oshape = ox_attr_ints(n, "output_shape", &cos);
    const int64_t *ks = ox_attr_ints(n, "kernel_shape", &c);
    int mode = auto_pad_mode(n);
    geom_axes(n, sd, x->shape + 2, w->shape + 2, g);
    for (int i = 0; i < sd; i++) {
        int j = 3 - sd + i;
        if (ks && ks[i] != g->k[j])
            return jn_err_set(err, JN_EINVAL, "node '%s' (ConvTranspose): kernel_shape does not match W", n->name);
        int64_t op = opad ? opad[i] : 0, ek = (g->k[j] - 1) * g->d[j] + 1;
        int64_t full = g->s[j] * (g->in[j] - 1) + op + ek;
        if (oshape || mode == PAD_SAME_UPPER || mode == PAD_SAME_LOWER) {
            int64_t want = oshape ? oshape[cos == (size_t)sd ? i : i + 2] : g->in[j] * g->s[j];
            /* A negative total (output_shape beyond what the kernel covers) pads with negative amounts: the
             * extra rows get only the bias. Halves round toward -inf, as the reference does. */
            int64_t total = full - want, half = total >= 0 ? total / 2 : -((-total + 1) / 2);
            if (want < 0)
                return jn_err_set(err, JN_EINVAL, "node '%s' (ConvTranspose): negative output_shape", n->name);
            if (mode == PAD_SAME_UPPER) {
                g->pb[j] = half;
                g->pe[j] = total - half;
            } else {
                g->pb[j] = total - half;
                g->pe[j] = half;
            }
            g->out[j] = want;
        } else {
            if (pads) {
                g->pb[j] = pads[i];
                g->pe[j] = pads[i + sd];
            }
            g->out[j] = full - g->pb[j] - g->pe[j];
            if (g->out[j] < 0)
                return jn_err_set(err, JN_EINVAL, "node '%s' (ConvTranspose): pads exceed the output", n->name);
        }
    }
    return 0;
}

static int convt_shape(const ox_node *n, ox_tensor *const *in, ox_tensor *const *out, jn_err *err)
{
    geom g;
    int64_t M = 0;
    if (convt_geom(n, in, &g, &M, err))
        return err->code;
    int sd = in[0]->ndim - 2;
    int64_t shape[5] = {in[0]->shape[0], M, 0, 0, 0};
    for (int i = 0; i < sd; i++)
        shape[2 + i] = g.out[3 - sd + i];
    return ox_set_shape(out[0], JN_DTYPE_FP32, in[0]->ndim, shape, err);
}

/* Over (D, H, W), a unit D for 1-D and 2-D: per image and group, col = W_g^T x_g (rows (m, i, j, l), one column
 * per input position), then each column entry added to the output position it lands on (col2im). */
static int convt_run(const ox_node *n, ox_tensor *const *in, ox_tensor *const *out, jn_err *err)
{
    geom g;
    int64_t M = 0;
    if (convt_geom(n, in, &g, &M, err))
        return err->code;
    int64_t N = in[0]->shape[0], C = in[0]->shape[1], group = ox_attr_int(n, "group", 1);
    int64_t Cg = C / group, Mg = M / group;
    int64_t ID = g.in[0], IH = g.in[1], IW = g.in[2], OD = g.out[0], OH = g.out[1], OW = g.out[2];
    int64_t IP = ID * IH * IW, OP = OD * OH * OW, KK = Mg * g.k[0] * g.k[1] * g.k[2];
    const float *x = in[0]->data, *w = in[1]->data;
    float *y = out[0]->data;
    memset(y, 0, out[0]->nbytes);
    float *col = NULL;
    if (KK * IP > 0) {
        col = malloc((size_t)(KK * IP) * sizeof(float));
        if (!col)
            return jn_err_set(err, JN_ENOMEM, "out of memory");
    }
    for (int64_t b = 0; b < N && col; b++)
        for (int64_t gi = 0; gi < group; gi++) {
            const float *xg = x + (b * C + gi * Cg) * IP;
            const float *wg = w + gi * Cg * KK;
            float *yg = y + (b * M + gi * Mg) * OP;
            if (Cg == 0)
                continue;
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)KK, (int)IP, (int)Cg, 1.0f, wg, (int)KK, xg,
                        (int)IP, 0.0f, col, (int)IP);
            for (int64_t mi = 0; mi < Mg; mi++)
                for (int64_t i = 0; i < g.k[0]; i++)
                    for (int64_t j = 0; j < g.k[1]; j++)
                        for (int64_t l = 0; l < g.k[2]; l++) {
                            const float *row = col + (((mi * g.k[0] + i) * g.k[1] + j) * g.k[2] + l) * IP;
                            float *vol = yg + mi * OP;
                            for (int64_t iz = 0; iz < ID; iz++) {
                                int64_t oz = iz * g.s[0] - g.pb[0] + i * g.d[0];
                                if (oz < 0 || oz >= OD)
                                    continue;
                                for (int64_t iy = 0; iy < IH; iy++) {
                                    int64_t oy = iy * g.s[1] - g.pb[1] + j * g.d[1];
                                    if (oy < 0 || oy >= OH)
                                        continue;
                                    float *orow = vol + (oz * OH + oy) * OW;
                                    const float *irow = row + (iz * IH + iy) * IW;
                                    for (int64_t ix = 0; ix < IW; ix++) {
                                        int64_t ox = ix * g.s[2] - g.pb[2] + l * g.d[2];
                                        if (ox >= 0 && ox < OW)
                                            orow[ox] += irow[ix];
                                    }
                                }
                            }
                        }
        }
    free(col);
    if (n->n_in > 2 && in[2]) {
        const float *bias = in[2]->data;
        for (int64_t b = 0; b < N; b++)
            for (int64_t mi = 0; mi < M; mi++)
                for (int64_t p = 0; p < OP; p++)
                    y[(b * M + mi) * OP + p] += bias[mi];
    }
    return 0;
}

static const ox_op op_convt = {"ConvTranspose", 2, 3, 1, 1, convt_attrs, 0, convt_check, convt_shape, convt_run};

/* ---------------------------------------------------------------------------------------------------------------
 * MaxPool, AveragePool (1-D to 3-D) */

static int pool_check(ox_model *m, ox_node *n, jn_err *err)
{
    bool is_max = strcmp(n->op_type, "MaxPool") == 0;
    size_t sd;
    if (!ox_attr_ints(n, "kernel_shape", &sd))
        return ox_reject(n, err, "kernel_shape is required");
    if (sd < 1 || sd > 3)
        return ox_reject(n, err, "%zu-D pooling is not supported (1-D to 3-D are)", sd);
    if (is_max && n->n_out > 1 && n->out[1] >= 0)
        ox_set_out_dtype(m, n, 1, JN_DTYPE_INT64); /* computed by ox_maxpool_indices_run (ops_pool.c) */
    if (window_check(n, (int)sd, is_max, err))
        return err->code;
    jn_dtype dt = ox_in_dtype(m, n, 0);
    if (dt != JN_DTYPE_FP32 && !(is_max && (dt == JN_DTYPE_FP64 || dt == JN_DTYPE_UINT8 || dt == JN_DTYPE_INT8)))
        return ox_reject(n, err, "dtype %s is not supported", jn_dtype_name(dt));
    ox_set_out_dtype(m, n, 0, dt);
    return 0;
}

static int pool_geom(const ox_node *n, ox_tensor *const *in, geom *g, jn_err *err)
{
    size_t sd;
    const int64_t *ks = ox_attr_ints(n, "kernel_shape", &sd);
    if (in[0]->ndim != (int)sd + 2)
        return jn_err_set(err, JN_EINVAL, "node '%s' (%s): the input must be %zu-D", n->name, n->op_type, sd + 2);
    return geom_forward(n, (int)sd, in[0]->shape + 2, ks, ox_attr_int(n, "ceil_mode", 0) != 0, g, err);
}

static int pool_shape(const ox_node *n, ox_tensor *const *in, ox_tensor *const *out, jn_err *err)
{
    geom g;
    if (pool_geom(n, in, &g, err))
        return err->code;
    int sd = in[0]->ndim - 2;
    int64_t shape[5] = {in[0]->shape[0], in[0]->shape[1]};
    for (int i = 0; i < sd; i++)
        shape[2 + i] = g.out[3 - sd + i];
    if (n->n_out > 1 && out[1] && ox_set_shape(out[1], JN_DTYPE_INT64, in[0]->ndim, shape, err))
        return err->code;
    return ox_set_shape(out[0], in[0]->dtype, in[0]->ndim, shape, err);
}

/* hm[i] = max(x[2i], x[2i+1]) (NaN not propagated: see any_nan). */
OX_HOT static void pair_max(const float *restrict x, float *restrict hm, int64_t n)
{
    for (int64_t i = 0; i < n; i++) {
        float a = x[2 * i], b = x[2 * i + 1];
        hm[i] = a > b ? a : b;
    }
}

OX_HOT static int any_nan(const float *x, int64_t n)
{
    int nan = 0;
    for (int64_t i = 0; i < n; i++)
        nan |= x[i] != x[i];
    return nan;
}

/* FP32 pooling over one (D=1) H x W plane per channel: the common case, without per-element dtype dispatch. */
OX_HOT static void pool2d_f32(const geom *g, bool is_max, bool include_pad, int64_t planes, const float *x,
                              float *y)
{
    int64_t H = g->in[1], W = g->in[2], OH = g->out[1], OW = g->out[2];
    if (is_max && g->k[1] == 2 && g->k[2] == 2 && g->s[1] == 2 && g->s[2] == 2 && g->d[1] == 1 && g->d[2] == 1 &&
        g->pb[1] == 0 && g->pb[2] == 0 && 2 * OH <= H && 2 * OW <= W) {
        /* 2x2/2 max pooling without padding, the CNN workhorse. When pairs never straddle rows (W = 2 OW), the
         * horizontal pairs of every plane form one long loop, then the vertical pairs another: both vectorize
         * whatever the image size. NaN anywhere sends the input through the row-wise path, which propagates it. */
        if (W == 2 * OW) {
            int64_t pairs = planes * H * OW;
            float *hm = malloc((size_t)(pairs > 0 ? pairs : 1) * sizeof(float));
            int nan = 0;
            if (hm) {
                pair_max(x, hm, pairs);
                nan = any_nan(x, 2 * pairs);
            }
            if (hm && !nan) {
                for (int64_t p = 0; p < planes; p++)
                    for (int64_t oh = 0; oh < OH; oh++) {
                        const float *ra = hm + (p * H + 2 * oh) * OW, *rb = ra + OW;
                        float *yr = y + (p * OH + oh) * OW;
                        for (int64_t ow = 0; ow < OW; ow++)
                            yr[ow] = ra[ow] > rb[ow] ? ra[ow] : rb[ow];
                    }
                free(hm);
                return;
            }
            free(hm);
        }
        float vmax[256];
        for (int64_t p = 0; p < planes; p++)
            for (int64_t oh = 0; oh < OH; oh++) {
                const float *r0 = x + (p * H + 2 * oh) * W, *r1 = r0 + W;
                float *yr = y + (p * OH + oh) * OW;
                int nan = 0;
                for (int64_t o0 = 0; o0 < OW; o0 += 128) {
                    int64_t cnt = OW - o0 < 128 ? OW - o0 : 128;
                    const float *a = r0 + 2 * o0, *b = r1 + 2 * o0;
                    for (int64_t j = 0; j < 2 * cnt; j++) {
                        vmax[j] = a[j] > b[j] ? a[j] : b[j];
                        nan |= (a[j] != a[j]) | (b[j] != b[j]);
                    }
                    for (int64_t k = 0; k < cnt; k++)
                        yr[o0 + k] = vmax[2 * k] > vmax[2 * k + 1] ? vmax[2 * k] : vmax[2 * k + 1];
                }
                if (nan)
                    for (int64_t ow = 0; ow < OW; ow++)
                        if (r0[2 * ow] != r0[2 * ow] || r0[2 * ow + 1] != r0[2 * ow + 1] ||
                            r1[2 * ow] != r1[2 * ow] || r1[2 * ow + 1] != r1[2 * ow + 1])
                            yr[ow] = NAN;
            }
        return;
    }
    for (int64_t p = 0; p < planes; p++) {
        const float *xp = x + p * H * W;
        float *yp = y + p * OH * OW;
        for (int64_t oh = 0; oh < OH; oh++) {
            int64_t h0 = oh * g->s[1] - g->pb[1], h1 = h0 + (g->k[1] - 1) * g->d[1] + 1;
            int64_t hpad = (h1 < H + g->pe[1] ? h1 : H + g->pe[1]) - h0;
            for (int64_t ow = 0; ow < OW; ow++) {
                int64_t w0 = ow * g->s[2] - g->pb[2], w1 = w0 + (g->k[2] - 1) * g->d[2] + 1;
                int64_t wpad = (w1 < W + g->pe[2] ? w1 : W + g->pe[2]) - w0;
                float acc = is_max ? -INFINITY : 0.0f;
                int64_t count = 0;
                /* First window positions inside the image, then strided to the clipped end. */
                int64_t ha = h0 < 0 ? h0 + (-h0 + g->d[1] - 1) / g->d[1] * g->d[1] : h0;
                int64_t wa = w0 < 0 ? w0 + (-w0 + g->d[2] - 1) / g->d[2] * g->d[2] : w0;
                int64_t hb = h1 < H ? h1 : H, wb = w1 < W ? w1 : W;
                bool nan = false; /* kept aside so the max stays branch-free (maxss) */
                for (int64_t a = ha; a < hb; a += g->d[1]) {
                    const float *row = xp + a * W;
                    if (is_max) {
                        for (int64_t b = wa; b < wb; b += g->d[2]) {
                            float v = row[b];
                            acc = v > acc ? v : acc;
                            nan |= v != v;
                        }
                    } else {
                        for (int64_t b = wa; b < wb; b += g->d[2])
                            acc += row[b];
                    }
                    count += wb > wa ? (wb - wa + g->d[2] - 1) / g->d[2] : 0;
                }
                if (!is_max)
                    acc = count ? acc / (float)(include_pad ? hpad * wpad : count) : 0.0f;
                yp[oh * OW + ow] = nan ? NAN : acc;
            }
        }
    }
}

static int pool_run(const ox_node *n, ox_tensor *const *in, ox_tensor *const *out, jn_err *err)
{
    geom g;
    if (pool_geom(n, in, &g, err))
        return err->code;
    bool is_max = strcmp(n->op_type, "MaxPool") == 0;
    bool include_pad = ox_attr_int(n, "count_include_pad", 0) != 0;
    if (is_max && n->n_out > 1 && out[1])
        return ox_maxpool_indices_run(n, in, out, err);
    if (in[0]->dtype == JN_DTYPE_FP32 && g.in[0] == 1 && g.k[0] == 1) {
        pool2d_f32(&g, is_max, include_pad, in[0]->shape[0] * in[0]->shape[1], in[0]->data, out[0]->data);
        return 0;
    }
    int64_t planes = in[0]->shape[0] * in[0]->shape[1];
    int64_t isz = g.in[0] * g.in[1] * g.in[2], osz = g.out[0] * g.out[1] * g.out[2];
    jn_dtype dt = in[0]->dtype;
    for (int64_t p = 0; p < planes; p++)
        for (int64_t od = 0; od < g.out[0]; od++)
            for (int64_t oh = 0; oh < g.out[1]; oh++)
                for (int64_t ow = 0; ow < g.out[2]; ow++) {
                    int64_t o[3] = {od, oh, ow}, start[3], end[3];
                    int64_t padded = 1;
                    for (int a = 0; a < 3; a++) {
                        start[a] = o[a] * g.s[a] - g.pb[a];
                        end[a] = start[a] + (g.k[a] - 1) * g.d[a] + 1;
                        int64_t pend = end[a] < g.in[a] + g.pe[a] ? end[a] : g.in[a] + g.pe[a];
                        padded *= pend - start[a];
                    }
                    double acc = is_max ? -INFINITY : 0.0;
                    int64_t count = 0;
                    for (int64_t a = start[0]; a < end[0]; a += g.d[0]) {
                        if (a < 0 || a >= g.in[0])
                            continue;
                        for (int64_t b = start[1]; b < end[1]; b += g.d[1]) {
                            if (b < 0 || b >= g.in[1])
                                continue;
                            for (int64_t c = start[2]; c < end[2]; c += g.d[2]) {
                                if (c < 0 || c >= g.in[2])
                                    continue;
                                double v = ox_load_f64(in[0]->data, dt, p * isz + (a * g.in[1] + b) * g.in[2] + c);
                                if (is_max)
                                    acc = v > acc ? v : acc;
                                else
                                    acc += v;
                                count++;
                            }
                        }
                    }
                    int64_t at = p * osz + (od * g.out[1] + oh) * g.out[2] + ow;
                    if (!is_max)
                        acc = count ? acc / (double)(include_pad ? padded : count) : 0.0;
                    ox_store_f64(out[0]->data, dt, at, acc);
                }
    return 0;
}

static const char *const maxpool_attrs[] = {"auto_pad", "ceil_mode", "dilations", "kernel_shape",
                                            "pads",     "storage_order", "strides", NULL};
static const char *const avgpool_attrs[] = {"auto_pad", "ceil_mode", "count_include_pad", "kernel_shape",
                                            "pads",     "strides",   NULL};
static const ox_op op_maxpool = {"MaxPool", 1, 1, 1, 2, maxpool_attrs, 0, pool_check, pool_shape, pool_run};
static const ox_op op_avgpool = {"AveragePool", 1, 1, 1, 1, avgpool_attrs, 0, pool_check, pool_shape, pool_run};

/* ---------------------------------------------------------------------------------------------------------------
 * GlobalAveragePool */

static int gap_check(ox_model *m, ox_node *n, jn_err *err)
{
    return need_f32(m, n, 0, 0, err);
}

static int gap_shape(const ox_node *n, ox_tensor *const *in, ox_tensor *const *out, jn_err *err)
{
    if (in[0]->ndim < 2)
        return jn_err_set(err, JN_EINVAL, "node '%s' (GlobalAveragePool): the input must be at least 2-D", n->name);
    int64_t shape[JN_MAX_DIMS];
    for (int i = 0; i < in[0]->ndim; i++)
        shape[i] = i < 2 ? in[0]->shape[i] : 1;
    return ox_set_shape(out[0], JN_DTYPE_FP32, in[0]->ndim, shape, err);
}

/* The sum of n floats in double, as four independent partial sums (one chain of dependent adds ran at a quarter
 * of the adder's rate: GlobalAveragePool was 5 % of MobileNetV3). */
OX_HOT static double plane_sum(const float *x, int64_t n)
{
    double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    int64_t i = 0;
    for (; i + 4 <= n; i += 4) {
        s0 += x[i];
        s1 += x[i + 1];
        s2 += x[i + 2];
        s3 += x[i + 3];
    }
    for (; i < n; i++)
        s0 += x[i];
    return (s0 + s1) + (s2 + s3);
}

static int gap_run(const ox_node *n, ox_tensor *const *in, ox_tensor *const *out, jn_err *err)
{
    int64_t planes = in[0]->shape[0] * in[0]->shape[1], size = 1;
    for (int i = 2; i < in[0]->ndim; i++)
        size *= in[0]->shape[i];
    const float *x = in[0]->data;
    float *y = out[0]->data;
    for (int64_t p = 0; p < planes; p++)
        y[p] = size ? (float)(plane_sum(x + p * size, size) / (double)size) : NAN;
    return 0;
}

static const ox_op op_gap = {"GlobalAveragePool", 1, 1, 1, 1, no_attrs, 0, gap_check, gap_shape, gap_run};

/* ---------------------------------------------------------------------------------------------------------------
 * BatchNormalization (inference: running statistics; training_mode: the batch's statistics) */

static int bn_check(ox_model *m, ox_node *n, jn_err *err)
{
    if (n->opset < 6)
        return ox_reject(n, err, "opset %d is not supported (6 or later)", n->opset);
    if (n->opset >= 7 && ox_attr_find(n, "is_test"))
        return ox_reject(n, err, "is_test is not part of opset %d", n->opset);
    if (n->opset < 7 && ox_attr_int(n, "is_test", 0) != 1)
        return ox_reject(n, err, "is_test=0 (training) is not supported");
    bool training = ox_attr_int(n, "training_mode", 0) != 0;
    if (training && n->opset < 14)
        return ox_reject(n, err, "training_mode is not part of opset %d", n->opset);
    if (!training && n->n_out > 1)
        return ox_reject(n, err, "training outputs (mean, var, saved statistics) %s",
                         n->opset < 14 ? "of opsets before 14 are not supported" : "need training_mode=1");
    for (int i = 1; i < n->n_out; i++)
        ox_set_out_dtype(m, n, i, JN_DTYPE_FP32);
    if (ox_attr_int(n, "spatial", 1) != 1)
        return ox_reject(n, err, "spatial=0 is not supported");
    return need_f32(m, n, 0, 4, err);
}

static int bn_shape(const ox_node *n, ox_tensor *const *in, ox_tensor *const *out, jn_err *err)
{
    if (in[0]->ndim < 2)
        return jn_err_set(err, JN_EINVAL, "node '%s' (BatchNormalization): the input must be at least 2-D", n->name);
    for (int i = 1; i < 5; i++)
        if (ox_count(in[i]) != in[0]->shape[1])
            return jn_err_set(err, JN_EINVAL, "node '%s' (BatchNormalization): input %d must hold %lld values",
                              n->name, i, (long long)in[0]->shape[1]);
    for (int i = 1; i < n->n_out; i++)
        if (out[i] && ox_set_shape(out[i], JN_DTYPE_FP32, 1, &in[0]->shape[1], err))
            return err->code;
    return ox_set_shape(out[0], JN_DTYPE_FP32, in[0]->ndim, in[0]->shape, err);
}

/* training_mode=1 (opset 14+): normalized with the batch's own mean and (population) variance per channel; the
 * outputs running_mean / running_var are input * momentum + batch statistic * (1 - momentum). Deterministic. */
static int bn_train_stats(const ox_node *n, ox_tensor *const *in, ox_tensor *const *out, float *mean, float *var)
{
    int64_t N = in[0]->shape[0], C = in[0]->shape[1], size = 1;
    for (int i = 2; i < in[0]->ndim; i++)
        size *= in[0]->shape[i];
    float momentum = ox_attr_float(n, "momentum", 0.9f);
    const float *x = in[0]->data, *rm = in[3]->data, *rv = in[4]->data;
    for (int64_t c = 0; c < C; c++) {
        double sum = 0, sq = 0, cnt = (double)(N * size);
        for (int64_t i = 0; i < N; i++)
            for (int64_t j = 0; j < size; j++)
                sum += x[(i * C + c) * size + j];
        double mu = cnt > 0 ? sum / cnt : 0;
        for (int64_t i = 0; i < N; i++)
            for (int64_t j = 0; j < size; j++) {
                double d = x[(i * C + c) * size + j] - mu;
                sq += d * d;
            }
        mean[c] = (float)mu;
        var[c] = (float)(cnt > 0 ? sq / cnt : 0);
        if (n->n_out > 1 && out[1])
            ((float *)out[1]->data)[c] = (float)(rm[c] * (double)momentum + mu * (1.0 - (double)momentum));
        if (n->n_out > 2 && out[2])
            ((float *)out[2]->data)[c] = (float)(rv[c] * (double)momentum + var[c] * (1.0 - (double)momentum));
    }
    return 0;
}

static int bn_run(const ox_node *n, ox_tensor *const *in, ox_tensor *const *out, jn_err *err)
{
    int64_t N = in[0]->shape[0], C = in[0]->shape[1], size = 1;
    for (int i = 2; i < in[0]->ndim; i++)
        size *= in[0]->shape[i];
    float eps = ox_attr_float(n, "epsilon", 1e-5f);
    const float *x = in[0]->data, *scale = in[1]->data, *bias = in[2]->data, *mean = in[3]->data,
                *var = in[4]->data;
    float *y = out[0]->data, *batch = NULL;
    if (ox_attr_int(n, "training_mode", 0) != 0) {
        batch = malloc((size_t)(2 * C + 1) * sizeof(float));
        if (!batch)
            return jn_err_set(err, JN_ENOMEM, "out of memory");
        bn_train_stats(n, in, out, batch, batch + C);
        mean = batch;
        var = batch + C;
    }
    for (int64_t c = 0; c < C; c++) {
        float k = scale[c] / sqrtf(var[c] + eps), b = bias[c] - mean[c] * k;
        for (int64_t i = 0; i < N; i++) {
            const float *xs = x + (i * C + c) * size;
            float *ys = y + (i * C + c) * size;
            for (int64_t j = 0; j < size; j++)
                ys[j] = xs[j] * k + b;
        }
    }
    free(batch);
    return 0;
}

static const char *const bn_attrs[] = {"epsilon", "momentum", "training_mode", "spatial", "is_test", NULL};
static const ox_op op_bn = {"BatchNormalization", 5, 5, 1, 3, bn_attrs, 0, bn_check, bn_shape, bn_run};

/* ---------------------------------------------------------------------------------------------------------------
 * LayerNormalization: normalizes over the dims from `axis`; optional Mean and InvStdDev outputs */

static int ln_check(ox_model *m, ox_node *n, jn_err *err)
{
    if (ox_attr_int(n, "stash_type", 1) != 1)
        return ox_reject(n, err, "stash_type %lld is not supported (1: FP32)",
                         (long long)ox_attr_int(n, "stash_type", 1));
    if (need_f32(m, n, 0, 2, err))
        return err->code;
    ox_set_out_dtype(m, n, 1, JN_DTYPE_FP32);
    ox_set_out_dtype(m, n, 2, JN_DTYPE_FP32);
    return 0;
}

static int ln_axis(const ox_node *n, const ox_tensor *x, int64_t *outer, int64_t *inner, jn_err *err)
{
    int axis = ox_axis(ox_attr_int(n, "axis", -1), x->ndim);
    if (axis < 0)
        return jn_err_set(err, JN_EINVAL, "node '%s' (LayerNormalization): axis out of range", n->name);
    *outer = 1;
    *inner = 1;
    for (int d = 0; d < x->ndim; d++)
        *(d < axis ? outer : inner) *= x->shape[d];
    return axis;
}

static int ln_shape(const ox_node *n, ox_tensor *const *in, ox_tensor *const *out, jn_err *err)
{
    int64_t outer = 1, inner = 1;
    int axis = ln_axis(n, in[0], &outer, &inner, err);
    if (axis < 0)
        return err->code;
    for (int i = 1; i < n->n_in; i++)
        if (in[i] && ox_count(in[i]) != inner && ox_count(in[i]) != 1)
            return jn_err_set(err, JN_EINVAL, "node '%s' (LayerNormalization): input %d must hold %lld values",
                              n->name, i, (long long)inner);
    if (ox_set_shape(out[0], JN_DTYPE_FP32, in[0]->ndim, in[0]->shape, err))
        return err->code;
    int64_t shape[JN_MAX_DIMS];
    for (int d = 0; d < in[0]->ndim; d++)
        shape[d] = d < axis ? in[0]->shape[d] : 1;
    for (int i = 1; i < 3; i++)
        if (n->n_out > i && out[i] && ox_set_shape(out[i], JN_DTYPE_FP32, in[0]->ndim, shape, err))
            return err->code;
    return 0;
}

static int ln_run(const ox_node *n, ox_tensor *const *in, ox_tensor *const *out, jn_err *err)
{
    int64_t outer = 1, inner = 1;
    if (ln_axis(n, in[0], &outer, &inner, err) < 0)
        return err->code;
    float eps = ox_attr_float(n, "epsilon", 1e-5f);
    const float *x = in[0]->data, *scale = in[1]->data, *bias = n->n_in > 2 && in[2] ? in[2]->data : NULL;
    bool scale1 = ox_count(in[1]) == 1, bias1 = bias && ox_count(in[2]) == 1;
    float *y = out[0]->data;
    for (int64_t o = 0; o < outer; o++) {
        const float *xs = x + o * inner;
        float *ys = y + o * inner;
        double mean = 0, var = 0;
        for (int64_t i = 0; i < inner; i++)
            mean += xs[i];
        mean /= (double)inner;
        for (int64_t i = 0; i < inner; i++)
            var += ((double)xs[i] - mean) * ((double)xs[i] - mean);
        var /= (double)inner;
        double inv = 1.0 / sqrt(var + eps);
        for (int64_t i = 0; i < inner; i++) {
            double v = ((double)xs[i] - mean) * inv * scale[scale1 ? 0 : i];
            ys[i] = (float)(bias ? v + bias[bias1 ? 0 : i] : v);
        }
        if (n->n_out > 1 && out[1])
            ((float *)out[1]->data)[o] = (float)mean;
        if (n->n_out > 2 && out[2])
            ((float *)out[2]->data)[o] = (float)inv;
    }
    return 0;
}

static const char *const ln_attrs[] = {"axis", "epsilon", "stash_type", NULL};
static const ox_op op_ln = {"LayerNormalization", 2, 3, 1, 3, ln_attrs, 0, ln_check, ln_shape, ln_run};

const ox_op *const ox_ops_nn[] = {&op_gemm,    &op_matmul, &op_conv, &op_convt, &op_maxpool,
                                  &op_avgpool, &op_gap,    &op_bn,   &op_ln,    NULL};
