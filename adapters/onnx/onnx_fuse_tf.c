/* onnx_fuse_tf.c — load-time fusions of transformer patterns (called by ox_fuse, onnx_fuse.c, before it compacts
 * the node list; single-threaded, at load, like every fusion).
 *
 * GELU written with Erf, as PyTorch's and Hugging Face's exports write it (opset < 20 has no Gelu):
 *
 *     u = x * s  (Mul by a scalar constant s ~ 1/sqrt(2), or Div by one ~ sqrt(2): s = 1 / c)
 *     e = Erf(u); a = e + 1
 *     y = (x * a) * 0.5        or        y = (x * 0.5) * a      (either operand order in each Mul / Add)
 *
 * becomes one node (op_type "Gelu") at the last Mul's place, reading x and writing y in one vectorized pass
 * (vmath.c ox_vgelu_erf, with the model's own s). Five passes over an [rows, 4 * hidden] tensor and four
 * intermediates go, and the scalar libm erff per element (7.5 % of a BERT-base encoder's time at batch 8). Only
 * when every intermediate has this pattern as its sole reader and is no graph output, the constants are FP32
 * scalars (any rank of ones) with 1 and 0.5 exact, s within 1e-6 of 1/sqrt(2), and x is FP32. Exactness:
 * ox_vgelu_erf's relative error is within 2e-6 + 6e-7 z^2 (z = |x s|) of the exact GELU (erfc's Chebyshev fit
 * bounds the relative error of 1 + erf, so the negative tail keeps its digits; the z^2 term is float's rounding
 * of x * s, which the unfused graph has too), far inside the 1e-3 relative tolerance of the conformance runs. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "onnx_internal.h"
#include "vmath.h"

typedef struct gelu_params {
    float s;  /* erf's argument is x * s */
    int rank; /* the constants' largest rank: broadcasting against them lifts x to at least this rank */
} gelu_params;

static bool is_op(const ox_node *n, const char *op_type)
{
    return n->op && strcmp(n->op_type, op_type) == 0 && n->opset >= 7; /* numpy broadcasting, no attribute */
}

/* Whether value v is an FP32 constant holding one value (every dimension 1); its value and rank. */
static bool scalar_const(const ox_model *m, int v, float *val, int *rank)
{
    const ox_tensor *t = v >= 0 ? m->values[v].konst : NULL;
    if (!t || t->dtype != JN_DTYPE_FP32 || ox_count(t) != 1)
        return false;
    *val = *(const float *)t->data;
    if (t->ndim > *rank)
        *rank = t->ndim;
    return true;
}

/* A binary node n of two inputs one of which is value `in`: the other one, else -1. */
static int other_input(const ox_node *n, int in)
{
    if (n->n_in != 2 || n->n_out != 1)
        return -1;
    return n->in[0] == in ? n->in[1] : n->in[1] == in ? n->in[0] : -1;
}

/* The node index of `op_type` that alone reads value v, or -1. */
static int reader_is(const ox_model *m, int v, const char *op_type)
{
    int r = ox_fuse_sole_reader(m, v);
    return r >= 0 && is_op(&m->nodes[r], op_type) ? r : -1;
}

static int gelu_check(ox_model *m, ox_node *n, jn_err *err)
{
    (void)err;
    ox_set_out_dtype(m, n, 0, JN_DTYPE_FP32);
    return 0;
}

static int gelu_shape(const ox_node *n, ox_tensor *const *in, ox_tensor *const *out, jn_err *err)
{
    const gelu_params *p = n->params;
    int64_t shape[JN_MAX_DIMS];
    int nd = in[0]->ndim > p->rank ? in[0]->ndim : p->rank, lift = nd - in[0]->ndim;
    for (int d = 0; d < nd; d++)
        shape[d] = d < lift ? 1 : in[0]->shape[d - lift];
    return ox_set_shape(out[0], JN_DTYPE_FP32, nd, shape, err);
}

static int gelu_run(const ox_node *n, ox_tensor *const *in, ox_tensor *const *out, jn_err *err)
{
    (void)err;
    const gelu_params *p = n->params;
    ox_vgelu_erf(in[0]->data, out[0]->data, ox_count(in[0]), p->s);
    return 0;
}

static const char *const no_attrs[] = {NULL};
static const ox_op op_gelu_erf = {.op_type = "Gelu",
                                  .min_in = 1,
                                  .max_in = 1,
                                  .min_out = 1,
                                  .max_out = 1,
                                  .attrs = no_attrs,
                                  .check = gelu_check,
                                  .shape = gelu_shape,
                                  .run = gelu_run};

/* The Erf node k: fuses its GELU when the whole pattern is there (see the top of the file). */
static void fuse_gelu_erf(ox_model *m, size_t k)
{
    ox_node *erf = &m->nodes[k];
    if (!erf->op || strcmp(erf->op_type, "Erf") != 0 || erf->n_in != 1 || erf->n_out != 1 || erf->in[0] < 0 ||
        erf->out[0] < 0 || m->values[erf->out[0]].dtype != JN_DTYPE_FP32 ||
        ox_fuse_sole_reader(m, erf->in[0]) != (int)k)
        return;
    int rank = 0, d = ox_fuse_producer(m, erf->in[0]);
    if (d < 0)
        return;
    const ox_node *scale = &m->nodes[d];
    float c, s, one, half;
    int x;
    if (is_op(scale, "Mul") && scale->n_in == 2 &&
        (scalar_const(m, scale->in[1], &c, &rank) || scalar_const(m, scale->in[0], &c, &rank))) {
        x = m->values[scale->in[1]].konst ? scale->in[0] : scale->in[1];
        s = c;
    } else if (is_op(scale, "Div") && scale->n_in == 2 && scalar_const(m, scale->in[1], &c, &rank) && c != 0.0f) {
        x = scale->in[0];
        s = 1.0f / c;
    } else
        return;
    if (x < 0 || m->values[x].konst || m->values[x].dtype != JN_DTYPE_FP32 ||
        fabsf(s - (float)M_SQRT1_2) > 1e-6f) /* another scale is not GELU */
        return;
    int add = reader_is(m, erf->out[0], "Add");
    if (add < 0 || !scalar_const(m, other_input(&m->nodes[add], erf->out[0]), &one, &rank) || one != 1.0f)
        return;
    int mul1 = reader_is(m, m->nodes[add].out[0], "Mul");
    if (mul1 < 0)
        return;
    int y = other_input(&m->nodes[mul1], m->nodes[add].out[0]), last, gone;
    if (y == x) { /* (x * a) * 0.5 */
        last = reader_is(m, m->nodes[mul1].out[0], "Mul");
        if (last < 0 || !scalar_const(m, other_input(&m->nodes[last], m->nodes[mul1].out[0]), &half, &rank))
            return;
        gone = mul1;
    } else { /* (x * 0.5) * a */
        int h = y >= 0 ? ox_fuse_producer(m, y) : -1;
        if (h < 0 || !is_op(&m->nodes[h], "Mul") || ox_fuse_sole_reader(m, y) != mul1 ||
            !scalar_const(m, other_input(&m->nodes[h], x), &half, &rank))
            return;
        last = mul1;
        gone = h;
    }
    ox_node *out = &m->nodes[last];
    if (half != 0.5f || m->values[out->out[0]].dtype != JN_DTYPE_FP32)
        return;
    gelu_params *p = malloc(sizeof *p);
    char *type = strdup("Gelu");
    if (!p || !type) { /* out of memory: the graph stays as it was */
        free(p);
        free(type);
        return;
    }
    p->s = s;
    p->rank = rank;
    free(out->params);
    out->params = p;
    free(out->op_type);
    out->op_type = type;
    out->op = &op_gelu_erf;
    out->ext = NULL;
    out->in[0] = x;
    out->n_in = 1;
    m->nodes[d].op = NULL;
    erf->op = NULL;
    m->nodes[add].op = NULL;
    m->nodes[gone].op = NULL;
}

void ox_fuse_transformer(ox_model *m)
{
    for (size_t k = 0; k < m->n_nodes; k++)
        fuse_gelu_erf(m, k);
}
