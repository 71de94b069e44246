/* onnx_fuse.c — load-time fusions: a BatchNormalization with constant statistics after a Conv with constant
 * weights is folded into new weights and bias (w * s, (b - mean) * s + beta with s = scale / sqrt(var + eps): the
 * same arithmetic up to float rounding); a Relu that alone reads a Conv, Gemm or MatMul output runs inside that
 * kernel (relu_after), and so does a HardSwish that alone reads a Conv output (hswish_after: MobileNetV3's); an
 * Add of a constant bias row after a MatMul with constant 2-D weights becomes the
 * MatMul's third input (the kernel starts its sgemm from the bias); a Flatten (axis 1) that only a Gemm's A
 * reads is dropped and the Gemm reads its input in place (flatten_a: the same bytes, row-major). The intermediate
 * value and its pass over memory disappear. Graph outputs are never fused away. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "onnx_internal.h"

/* The only node reading value v, or -1 (none, several, or v is a graph output). */
static int sole_reader(const ox_model *m, int v)
{
    if (m->values[v].graph_output)
        return -1;
    int reader = -1;
    for (size_t k = 0; k < m->n_nodes; k++) {
        const ox_node *n = &m->nodes[k];
        if (!n->op)
            continue;
        for (int i = 0; i < n->n_in; i++)
            if (n->in[i] == v) {
                if (reader >= 0 && reader != (int)k)
                    return -1;
                if (reader == (int)k) /* read twice by the same node (Add(x, x)) */
                    return -1;
                reader = (int)k;
            }
    }
    return reader;
}

int ox_fuse_sole_reader(const ox_model *m, int v)
{
    return sole_reader(m, v);
}

int ox_fuse_producer(const ox_model *m, int v)
{
    if (v < 0)
        return -1;
    for (size_t k = 0; k < m->n_nodes; k++) {
        const ox_node *n = &m->nodes[k];
        if (n->op)
            for (int o = 0; o < n->n_out; o++)
                if (n->out[o] == v)
                    return (int)k;
    }
    return -1;
}

static bool is_op(const ox_node *n, const char *op_type)
{
    return n->op && strcmp(n->op_type, op_type) == 0;
}

/* Makes `from` write what `absorbed` wrote and drops `absorbed` (its op cleared; compacted later). */
static void absorb(ox_model *m, ox_node *from, ox_node *absorbed)
{
    from->out[0] = absorbed->out[0];
    absorbed->op = NULL;
    (void)m;
}

static bool bias_fits_matmul(const ox_model *m, const ox_node *mm, const ox_node *add, int *bias_value)
{
    const ox_tensor *w = m->values[mm->in[1]].konst;
    if (!w || w->ndim != 2 || w->dtype != JN_DTYPE_FP32)
        return false;
    int other = add->in[0] == mm->out[0] ? add->in[1] : add->in[0];
    const ox_tensor *b = other >= 0 ? m->values[other].konst : NULL;
    if (!b || b->dtype != JN_DTYPE_FP32 || b->ndim != 1 || b->shape[0] != w->shape[1])
        return false;
    *bias_value = other;
    return true;
}

bool ox_fuse_ints_are(const ox_node *n, const char *name, int64_t v, bool absent_ok)
{
    size_t c;
    const int64_t *a = ox_attr_ints(n, name, &c);
    if (!a)
        return absent_ok;
    if (c != 2 && !(v == 0 && c == 4))
        return false;
    for (size_t i = 0; i < c; i++)
        if (a[i] != v)
            return false;
    return true;
}

/* A 2-D Conv (constant 4-D weights, Relu fused) followed by MaxPool with a 2x2 window, stride 2, no padding,
 * no dilation, floor rounding and no Indices output: the kernel pools the Relu'd tile in registers
 * (conv_direct.c), and the conv output never reaches memory. */
static bool maxpool2_fits(const ox_model *m, const ox_node *conv, const ox_node *pool)
{
    const ox_tensor *w = m->values[conv->in[1]].konst;
    const char *pad = ox_attr_str(pool, "auto_pad", "NOTSET");
    return is_op(pool, "MaxPool") && pool->in[0] == conv->out[0] && (pool->n_out == 1 || pool->out[1] < 0) &&
           w && w->ndim == 4 && ox_fuse_ints_are(pool, "kernel_shape", 2, false) &&
           ox_fuse_ints_are(pool, "strides", 2, false) &&
           ox_fuse_ints_are(pool, "pads", 0, true) && ox_fuse_ints_are(pool, "dilations", 1, true) &&
           ox_attr_int(pool, "ceil_mode", 0) == 0 && ox_attr_int(pool, "storage_order", 0) == 0 &&
           (strcmp(pad, "NOTSET") == 0 || strcmp(pad, "VALID") == 0);
}

/* A new constant value holding a copy of shape/dtype of `like` (data uninitialized); its index or -1. */
static int new_constant(ox_model *m, const char *name, const ox_tensor *like)
{
    jn_err err;
    ox_tensor *t = malloc(sizeof *t + like->nbytes + 1);
    if (!t)
        return -1;
    *t = *like;
    t->data = (char *)(t + 1);
    int v = ox_value_add(m, name, &err);
    if (v < 0) {
        free(t);
        return -1;
    }
    m->values[v].konst = t;
    m->values[v].dtype = t->dtype;
    return v;
}

/* Conv (constant W [M, ...], optional constant B) then BatchNormalization (constant scale, bias, mean, var of M
 * values): the Conv gets folded weights and bias and writes the BatchNormalization's output. */
static bool fold_batchnorm(ox_model *m, size_t k, int r)
{
    ox_node *n = &m->nodes[k], *bn = &m->nodes[r];
    if (!is_op(bn, "BatchNormalization") || bn->n_out != 1 || bn->in[0] != n->out[0] ||
        ox_attr_int(bn, "training_mode", 0) != 0) /* batch statistics: nothing constant to fold */
        return false;
    const ox_tensor *w = m->values[n->in[1]].konst;
    const ox_tensor *b = n->n_in > 2 && n->in[2] >= 0 ? m->values[n->in[2]].konst : NULL;
    if (!w || w->dtype != JN_DTYPE_FP32 || w->ndim < 3 || (n->n_in > 2 && n->in[2] >= 0 && !b))
        return false;
    int64_t M = w->shape[0], per = M ? ox_count(w) / M : 0;
    const ox_tensor *st[4];
    for (int i = 0; i < 4; i++) {
        st[i] = bn->in[i + 1] >= 0 ? m->values[bn->in[i + 1]].konst : NULL;
        if (!st[i] || st[i]->dtype != JN_DTYPE_FP32 || ox_count(st[i]) != M)
            return false;
    }
    if (b && (b->dtype != JN_DTYPE_FP32 || ox_count(b) != M))
        return false;
    char name[96];
    snprintf(name, sizeof name, "#folded_weights_%zu", k);
    int wv = new_constant(m, name, w);
    snprintf(name, sizeof name, "#folded_bias_%zu", k);
    ox_tensor bias_shape = {.dtype = JN_DTYPE_FP32, .ndim = 1, .shape = {M}, .nbytes = (size_t)M * sizeof(float)};
    int bv = wv >= 0 ? new_constant(m, name, &bias_shape) : -1;
    int *in = bv >= 0 ? realloc(n->in, 3 * sizeof(int)) : NULL;
    if (!in)
        return false; /* out of memory: the unused constants stay, harmless */
    n->in = in;
    /* m->values may have moved: look everything up again. */
    w = m->values[n->in[1]].konst;
    b = n->n_in > 2 && n->in[2] >= 0 ? m->values[n->in[2]].konst : NULL;
    for (int i = 0; i < 4; i++)
        st[i] = m->values[bn->in[i + 1]].konst;
    const float *scale = st[0]->data, *beta = st[1]->data, *mean = st[2]->data, *var = st[3]->data;
    float eps = ox_attr_float(bn, "epsilon", 1e-5f);
    float *nw = m->values[wv].konst->data, *nb = m->values[bv].konst->data;
    for (int64_t c = 0; c < M; c++) {
        float s = scale[c] / sqrtf(var[c] + eps);
        for (int64_t i = 0; i < per; i++)
            nw[c * per + i] = ((const float *)w->data)[c * per + i] * s;
        nb[c] = ((b ? ((const float *)b->data)[c] : 0.0f) - mean[c]) * s + beta[c];
    }
    n->in[1] = wv;
    n->in[2] = bv;
    n->n_in = 3;
    absorb(m, n, bn);
    /* The check packs constant weights for the kernel (ops_nn.c): pack the folded ones instead. On failure (out of
     * memory) the old packing no longer matches the weights and Conv packs on every run. */
    jn_err err;
    jn_err_clear(&err);
    n->op->check(m, n, &err);
    return true;
}

/* A Flatten with axis 1 over FP32 whose output only Gemm r reads, as A without transA: the Gemm reads the Flatten's
 * input in place. Measured on an AMD EPYC (Zen 3, AVX2), one thread: the copy was about 2 % of the bench CNN's time
 * at batch 64 (400 KB per run). */
static void fuse_flatten_gemm(ox_model *m, ox_node *f)
{
    if (!is_op(f, "Flatten") || f->n_in < 1 || f->in[0] < 0 || f->out[0] < 0 || ox_attr_int(f, "axis", 1) != 1 ||
        m->values[f->in[0]].dtype != JN_DTYPE_FP32 || m->values[f->out[0]].dtype != JN_DTYPE_FP32)
        return;
    int r = sole_reader(m, f->out[0]);
    if (r < 0 || !is_op(&m->nodes[r], "Gemm"))
        return;
    ox_node *g = &m->nodes[r];
    if (g->in[0] != f->out[0] || ox_attr_int(g, "transA", 0) != 0 || g->half_via_f32)
        return;
    g->in[0] = f->in[0];
    g->flatten_a = true;
    f->op = NULL;
}

void ox_fuse(ox_model *m)
{
    ox_fuse_qdq(m); /* onnx_qfuse.c */
    for (size_t k = 0; k < m->n_nodes; k++)
        fuse_flatten_gemm(m, &m->nodes[k]);
    for (size_t k = 0; k < m->n_nodes; k++) {
        ox_node *n = &m->nodes[k];
        bool matmul = is_op(n, "MatMul"), conv = is_op(n, "Conv"), gemm = is_op(n, "Gemm");
        if (!(matmul || conv || gemm) || n->out[0] < 0 || m->values[n->out[0]].dtype != JN_DTYPE_FP32)
            continue;
        int r = sole_reader(m, n->out[0]);
        if (conv && r >= 0 && fold_batchnorm(m, k, r)) {
            n = &m->nodes[k];
            r = sole_reader(m, n->out[0]);
        }
        if (matmul && r >= 0 && is_op(&m->nodes[r], "Add") && m->nodes[r].opset >= 7) {
            int bias;
            if (bias_fits_matmul(m, n, &m->nodes[r], &bias)) {
                int *in = realloc(n->in, 3 * sizeof(int));
                if (!in)
                    continue;
                n->in = in;
                n->in[2] = bias;
                n->n_in = 3;
                absorb(m, n, &m->nodes[r]);
                r = sole_reader(m, n->out[0]);
            }
        }
        if (conv && r >= 0 && is_op(&m->nodes[r], "HardSwish")) {
            n->hswish_after = true;
            absorb(m, n, &m->nodes[r]);
            continue;
        }
        if (r >= 0 && is_op(&m->nodes[r], "Relu")) {
            n->relu_after = true;
            absorb(m, n, &m->nodes[r]);
            r = sole_reader(m, n->out[0]);
            if (conv && r >= 0 && maxpool2_fits(m, n, &m->nodes[r])) {
                n->maxpool2_after = true;
                absorb(m, n, &m->nodes[r]);
            }
        }
    }
    ox_fuse_transformer(m); /* onnx_fuse_tf.c: GELU's Erf form */
    /* Compact, keeping the order, and re-point producers. */
    size_t kept = 0;
    for (size_t k = 0; k < m->n_nodes; k++) {
        if (!m->nodes[k].op) {
            ox_node *gone = &m->nodes[k];
            free(gone->op_type);
            free(gone->name);
            free(gone->in);
            free(gone->out);
            for (size_t a = 0; a < gone->n_attrs; a++) {
                free(gone->attrs[a].name);
                free(gone->attrs[a].s);
                free(gone->attrs[a].floats);
                free(gone->attrs[a].ints);
                free(gone->attrs[a].t);
            }
            free(gone->attrs);
            free(gone->params);
            continue;
        }
        m->nodes[kept++] = m->nodes[k];
    }
    m->n_nodes = kept;
    for (size_t v = 0; v < m->n_values; v++)
        if (!m->values[v].konst && m->values[v].graph_input < 0)
            m->values[v].producer = -1;
    for (size_t k = 0; k < m->n_nodes; k++)
        for (int o = 0; o < m->nodes[k].n_out; o++)
            if (m->nodes[k].out[o] >= 0)
                m->values[m->nodes[k].out[o]].producer = (int)k;
}
