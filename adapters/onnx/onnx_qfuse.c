/* onnx_qfuse.c — load-time fusion of QDQ patterns (what ONNX Runtime's quantize_static and `junction quantize`
 * write) into integer operators that run on the integer kernel (ops_qlinear.c, kernels/gemm_u8s8.c):
 *
 *   DequantizeLinear(x_q, sx, zx) ─┐
 *   DequantizeLinear(W_q, sw, zw) ─┼─ Conv | MatMul | Gemm ─ [Relu] ─ QuantizeLinear(sy, zy) ─> y_q
 *   DequantizeLinear(B_q, sx*sw, 0)┘   (bias optional; INT32, the scale sx * sw as quantize_static writes it)
 *
 * becomes QLinearConv, or for MatMul/Gemm a QLinearMatMul with the bias as a ninth input (ox_op_qlinear_matmul_bias),
 * computing int32 sums of (x_q - zx)(W_q - zw) + B_q and requantizing them as round_half_even(acc * m + zy),
 * saturated, with m = FP32(FP32(sx * sw) / sy) (ONNX Runtime's multiplier) in double, and a fused Relu applied on
 * the real value (acc * m + zy at least zy). With respect to the float QDQ graph this is exact up to float rounding:
 * the graph computes FP32 products of dequantized values, sums them in FP32 and divides by sy; the integer sum is
 * exact and only the multiplier is rounded (to FP32), so an output may differ by one step where the real value lies
 * within that rounding of a .5 boundary (conformance and e2e tests compare within one quantization step).
 *
 *   DequantizeLinear(x_q, s, z) ─ MaxPool | Flatten | Reshape [─ ...] ─ QuantizeLinear(s, z)   (the same s and z)
 *
 * (one such operator or a chain of them: `junction quantize` writes DQ ─ MaxPool ─ Flatten ─ Q) runs the chain on
 * x_q directly (they move or take the max of values, and Q(DQ(v)) == v for 8-bit v with the same parameters,
 * s > 0: exact); a 2x2/2 MaxPool after a fused 2-D convolution runs inside it, on the requantized tile
 * (maxpool2_after: the 8-bit values are pooled; requantization is monotone, so the same).
 *
 * Weights: constant INT8/UINT8, per tensor, or per output channel (Conv: axis 0; MatMul and Gemm without transB:
 * axis 1; Gemm with transB: axis 0, the weights then stored transposed as a new constant). Zero points may be any
 * value. Anything else (a float bias, per-channel activations, Clip, a DequantizeLinear output that is a graph
 * output) stays as it is and runs through the scalar QuantizeLinear/DequantizeLinear and the FP32 operator.
 * DequantizeLinear nodes whose only reader was fused away are dropped; ox_fuse compacts the node list.
 * ox_qdq_fuse_enabled (and JUNCTION_QDQ_FUSION=off in the environment) turn this off: tests and benchmarks compare
 * both. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ops_qlinear.h"

bool ox_qdq_fuse_enabled = true;

static bool is_op(const ox_node *n, const char *op_type)
{
    return n->op && strcmp(n->op_type, op_type) == 0;
}

/* The number of inputs of live nodes reading value v; graph outputs count as a reader. */
static int readers(const ox_model *m, int v)
{
    int r = m->values[v].graph_output ? 1 : 0;
    for (size_t k = 0; k < m->n_nodes; k++) {
        const ox_node *n = &m->nodes[k];
        if (n->op)
            for (int i = 0; i < n->n_in; i++)
                r += n->in[i] == v;
    }
    return r;
}

static const ox_tensor *konst(const ox_model *m, int v)
{
    return v >= 0 ? m->values[v].konst : NULL;
}

static bool is_q8(jn_dtype dt)
{
    return dt == JN_DTYPE_UINT8 || dt == JN_DTYPE_INT8;
}

/* A (De)QuantizeLinear node's parameters: scale (constant FP32, positive and finite), zero point (constant of the
 * quantized type, or -1 when absent), per tensor or per axis. */
typedef struct qparams {
    int node;
    int q;          /* the quantized value (DQ's input, Q's output) */
    int scale, zp;  /* values */
    int64_t count;  /* scale values */
    int axis;       /* normalized; meaningful when count > 1 */
} qparams;

static bool qparams_of(const ox_model *m, int k, bool dq, qparams *p)
{
    if (k < 0)
        return false; /* a graph input or a constant */
    const ox_node *n = &m->nodes[k];
    if (!is_op(n, dq ? "DequantizeLinear" : "QuantizeLinear") || n->n_out != 1 || n->n_in < 2 ||
        ox_attr_find(n, "block_size") || ox_attr_find(n, "output_dtype"))
        return false;
    int q = dq ? n->in[0] : n->out[0];
    if (q < 0 || !is_q8(m->values[q].dtype))
        return false;
    const ox_tensor *s = konst(m, n->in[1]);
    if (!s || s->dtype != JN_DTYPE_FP32 || s->ndim > 1)
        return false;
    for (int64_t i = 0; i < ox_count(s); i++) {
        float v = ((const float *)s->data)[i];
        if (!(v > 0) || !isfinite(v))
            return false;
    }
    int zp = n->n_in > 2 ? n->in[2] : -1;
    const ox_tensor *z = zp >= 0 ? konst(m, zp) : NULL;
    if (zp >= 0 && (!z || z->dtype != m->values[q].dtype || ox_count(z) != ox_count(s)))
        return false;
    *p = (qparams){.node = k, .q = q, .scale = n->in[1], .zp = zp, .count = ox_count(s), .axis = -1};
    if (p->count > 1) {
        const ox_tensor *qt = konst(m, q);
        int rank = qt ? qt->ndim : -1;
        if (rank < 0)
            return false; /* per-axis only on constants (weights) */
        p->axis = ox_axis(ox_attr_int(n, "axis", 1), rank);
    }
    return true;
}

static float scale_at(const ox_model *m, const qparams *p, int64_t i)
{
    return ((const float *)konst(m, p->scale)->data)[p->count == 1 ? 0 : i];
}

static int64_t zp_at(const ox_model *m, const qparams *p, int64_t i)
{
    const ox_tensor *z = konst(m, p->zp);
    return z ? ox_load_i64(z->data, z->dtype, p->count == 1 ? 0 : i) : 0;
}

/* Per tensor, or per axis `axis` with `count` values. */
static bool per_ok(const qparams *p, int axis, int64_t count)
{
    return p->count == 1 || (p->axis == axis && p->count == count);
}

/* A new constant value shaped like `like` with `dtype` (data uninitialized); its index or -1. */
static int new_constant(ox_model *m, const char *name, jn_dtype dtype, int ndim, const int64_t *shape)
{
    jn_err err;
    ox_tensor like = {.dtype = dtype, .ndim = ndim};
    size_t count = 1;
    for (int i = 0; i < ndim; i++)
        like.shape[i] = shape[i], count *= (size_t)shape[i];
    like.nbytes = count * jn_dtype_size(dtype);
    ox_tensor *t = malloc(sizeof *t + like.nbytes + 1);
    if (!t)
        return -1;
    *t = like;
    t->data = (char *)(t + 1);
    int v = ox_value_add(m, name, &err);
    if (v < 0) {
        free(t);
        return -1;
    }
    m->values[v].konst = t;
    m->values[v].dtype = dtype;
    return v;
}

static void drop_if_unread(ox_model *m, int k)
{
    if (k >= 0 && m->nodes[k].op && readers(m, m->nodes[k].out[0]) == 0)
        m->nodes[k].op = NULL;
}

/* Conv / MatMul / Gemm node k between DequantizeLinear inputs and a QuantizeLinear output. */
static void fuse_product(ox_model *m, size_t k)
{
    ox_node *n = &m->nodes[k];
    bool conv = is_op(n, "Conv"), matmul = is_op(n, "MatMul"), gemm = is_op(n, "Gemm");
    if (!(conv || matmul || gemm) || n->n_out != 1 || n->out[0] < 0 || n->n_in < 2 || n->half_via_f32)
        return;
    if (gemm && (ox_attr_int(n, "transA", 0) != 0 || ox_attr_float(n, "alpha", 1.0f) != 1.0f ||
                 ox_attr_float(n, "beta", 1.0f) != 1.0f))
        return;
    bool transb = gemm && ox_attr_int(n, "transB", 0) != 0;
    qparams px, pw, pb = {.node = -1}, py;
    if (!qparams_of(m, ox_fuse_producer(m, n->in[0]), true, &px) || px.count != 1 ||
        !qparams_of(m, ox_fuse_producer(m, n->in[1]), true, &pw))
        return;
    const ox_tensor *w = konst(m, pw.q);
    if (!w || (conv && w->ndim < 3) || (!conv && w->ndim != 2))
        return;
    /* output channels: Conv M = w[0]; MatMul N = w[1]; Gemm N = w[transB ? 0 : 1] */
    int n_axis = conv || transb ? 0 : 1;
    int64_t N = w->shape[n_axis];
    if (!per_ok(&pw, n_axis, N))
        return;
    /* bias: absent, or DequantizeLinear(INT32 constant [N], sx * sw, 0) */
    int bias_in = (conv || gemm) && n->n_in > 2 ? n->in[2] : -1;
    const ox_tensor *b = NULL;
    if (bias_in >= 0) {
        int bk = ox_fuse_producer(m, bias_in);
        const ox_node *bn = bk >= 0 ? &m->nodes[bk] : NULL;
        if (!bn || !is_op(bn, "DequantizeLinear") || bn->n_in < 2)
            return;
        b = konst(m, bn->in[0]);
        const ox_tensor *bs = konst(m, bn->in[1]);
        const ox_tensor *bz = bn->n_in > 2 && bn->in[2] >= 0 ? konst(m, bn->in[2]) : NULL;
        if (!b || b->dtype != JN_DTYPE_INT32 || b->ndim != 1 || b->shape[0] != N || !bs ||
            bs->dtype != JN_DTYPE_FP32 || (ox_count(bs) != 1 && ox_count(bs) != N) ||
            (bn->n_in > 2 && bn->in[2] >= 0 && !bz))
            return;
        for (int64_t j = 0; j < N; j++) {
            double want = (double)(scale_at(m, &px, 0) * scale_at(m, &pw, j));
            double got = ((const float *)bs->data)[ox_count(bs) == 1 ? 0 : j];
            if (fabs(got - want) > 1e-6 * want || (bz && ox_load_i64(bz->data, bz->dtype, j % ox_count(bz)) != 0))
                return;
        }
        pb.node = bk;
    }
    /* output: [Relu] then QuantizeLinear, per tensor, with a zero point */
    int r = ox_fuse_sole_reader(m, n->out[0]), relu = -1;
    if (r >= 0 && is_op(&m->nodes[r], "Relu")) {
        relu = r;
        r = ox_fuse_sole_reader(m, m->nodes[r].out[0]);
    }
    if (r < 0 || !qparams_of(m, r, false, &py) || py.count != 1 || py.zp < 0 ||
        m->nodes[r].in[0] != (relu >= 0 ? m->nodes[relu].out[0] : n->out[0]))
        return;
    /* Gemm with transB: the integer op wants [K, N] */
    int wv = pw.q;
    if (transb) {
        char name[96];
        snprintf(name, sizeof name, "#qdq_weights_t_%zu", k);
        int64_t shape[2] = {w->shape[1], w->shape[0]};
        wv = new_constant(m, name, w->dtype, 2, shape);
        if (wv < 0)
            return;
        n = &m->nodes[k]; /* m->values may have moved, not m->nodes */
        w = konst(m, pw.q);
        const uint8_t *src = w->data;
        uint8_t *dst = m->values[wv].konst->data;
        int64_t K = w->shape[1];
        for (int64_t i = 0; i < N; i++)
            for (int64_t j = 0; j < K; j++)
                dst[j * N + i] = src[i * K + j];
    }
    int *in = malloc(9 * sizeof *in);
    char *op_type = strdup(conv ? "QLinearConv" : "QLinearMatMul");
    if (!in || !op_type) {
        free(in), free(op_type);
        return;
    }
    int bq = pb.node >= 0 ? m->nodes[pb.node].in[0] : -1;
    int fused[9] = {px.q, px.scale, px.zp, wv, pw.scale, pw.zp, py.scale, py.zp, bq};
    memcpy(in, fused, sizeof fused);
    int dx = px.node, dw = pw.node, db = pb.node;
    free(n->in);
    n->in = in;
    n->n_in = bq >= 0 ? 9 : 8;
    free(n->op_type);
    n->op_type = op_type;
    n->op = conv ? ox_op_find("QLinearConv") : &ox_op_qlinear_matmul_bias;
    if (!conv) { /* Gemm's attributes mean nothing to the integer op */
        for (size_t a = 0; a < n->n_attrs; a++) {
            free(n->attrs[a].name);
            free(n->attrs[a].s);
            free(n->attrs[a].floats);
            free(n->attrs[a].ints);
            free(n->attrs[a].t);
        }
        n->n_attrs = 0;
    }
    free(n->params);
    n->params = NULL;
    n->relu_after = relu >= 0;
    n->out[0] = m->nodes[r].out[0];
    m->nodes[r].op = NULL;
    if (relu >= 0)
        m->nodes[relu].op = NULL;
    drop_if_unread(m, dx);
    drop_if_unread(m, dw);
    drop_if_unread(m, db);
    jn_err err;
    jn_err_clear(&err);
    n->op->check(m, n, &err); /* output dtype, packed weights (on failure, packed at every run) */
}

/* A 2-D QLinearConv and a MaxPool with a 2x2 window, stride 2, no padding or dilation, floor rounding, no Indices. */
static bool pool2_fits(const ox_model *m, const ox_node *conv, const ox_node *pool)
{
    const ox_tensor *w = konst(m, conv->in[3]);
    const char *pad = ox_attr_str(pool, "auto_pad", "NOTSET");
    return w && w->ndim == 4 && !conv->maxpool2_after && (pool->n_out == 1 || pool->out[1] < 0) &&
           ox_fuse_ints_are(pool, "kernel_shape", 2, false) && ox_fuse_ints_are(pool, "strides", 2, false) &&
           ox_fuse_ints_are(pool, "pads", 0, true) && ox_fuse_ints_are(pool, "dilations", 1, true) &&
           ox_attr_int(pool, "ceil_mode", 0) == 0 && ox_attr_int(pool, "storage_order", 0) == 0 &&
           (strcmp(pad, "NOTSET") == 0 || strcmp(pad, "VALID") == 0);
}

static bool moves_values(const ox_node *n)
{
    return (is_op(n, "MaxPool") || is_op(n, "Flatten") || is_op(n, "Reshape")) && n->n_out == 1 && n->out[0] >= 0 &&
           !n->half_via_f32;
}

enum { CHAIN_MAX = 8 };

/* DequantizeLinear -> a chain of MaxPool | Flatten | Reshape (each the sole reader of the one before, on its first
 * input) -> QuantizeLinear with the same parameters: on the integers. `junction quantize` writes
 * DQ -> MaxPool -> Flatten -> Q (no pair between the two), quantize_static a pair around each; both fuse. A 2x2/2
 * MaxPool first in the chain, right after a fused 2-D convolution, goes into the convolution (maxpool2_after). */
static void fuse_passthrough(ox_model *m, size_t k)
{
    ox_node *n = &m->nodes[k];
    if (!moves_values(n))
        return;
    qparams px, py;
    if (!qparams_of(m, ox_fuse_producer(m, n->in[0]), true, &px) || px.count != 1)
        return;
    int chain[CHAIN_MAX], len = 0, r = (int)k;
    for (;;) {
        if (len == CHAIN_MAX || !moves_values(&m->nodes[r]))
            return;
        chain[len++] = r;
        int next = ox_fuse_sole_reader(m, m->nodes[r].out[0]);
        if (next < 0 || m->nodes[next].in[0] != m->nodes[r].out[0])
            return;
        if (is_op(&m->nodes[next], "QuantizeLinear")) {
            r = next;
            break;
        }
        r = next;
    }
    if (!qparams_of(m, r, false, &py) || py.count != 1 || m->values[px.q].dtype != m->values[py.q].dtype ||
        scale_at(m, &px, 0) != scale_at(m, &py, 0) || zp_at(m, &px, 0) != zp_at(m, &py, 0))
        return;
    jn_dtype qt = m->values[py.q].dtype;
    int dx = px.node, conv = ox_fuse_producer(m, px.q), first = 0;
    m->nodes[chain[len - 1]].out[0] = py.q;
    m->nodes[r].op = NULL;
    for (int i = 0; i + 1 < len; i++) /* the values between the chain's nodes now hold the 8-bit values */
        m->values[m->nodes[chain[i]].out[0]].dtype = qt;
    if (is_op(n, "MaxPool") && conv >= 0 && is_op(&m->nodes[conv], "QLinearConv") &&
        pool2_fits(m, &m->nodes[conv], n) && readers(m, px.q) == 1) {
        /* the convolution pools its requantized output itself: max commutes with the monotone requantization */
        ox_node *c = &m->nodes[conv];
        c->maxpool2_after = true;
        c->out[0] = n->out[0];
        n->op = NULL;
        m->nodes[dx].op = NULL;
        first = 1;
    } else {
        n->in[0] = px.q;
        drop_if_unread(m, dx);
    }
    jn_err err;
    for (int i = first; i < len; i++) {
        jn_err_clear(&err);
        m->nodes[chain[i]].op->check(m, &m->nodes[chain[i]], &err);
    }
}

void ox_fuse_qdq(ox_model *m)
{
    const char *e = getenv("JUNCTION_QDQ_FUSION"); /* at load only: cheap enough to read every time */
    if (!ox_qdq_fuse_enabled || (e && (strcmp(e, "off") == 0 || strcmp(e, "0") == 0)))
        return;
    for (size_t k = 0; k < m->n_nodes; k++)
        if (m->nodes[k].op)
            fuse_product(m, k);
    for (size_t k = 0; k < m->n_nodes; k++)
        if (m->nodes[k].op)
            fuse_passthrough(m, k);
}
