/* quant_plan.c — quantize.h's plan: the model parsed with protobuf-c (Debian's onnx.proto, jn_onnx_proto), the
 * Conv / MatMul / Gemm nodes to quantize, the values that get a QuantizeLinear -> DequantizeLinear pair and their
 * calibration statistics. quant_write.c writes the QDQ model from it. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "quant_internal.h"

static bool is_op(const Onnx__NodeProto *n, const char *op)
{
    return n->op_type && strcmp(n->op_type, op) == 0 && (!n->domain || !n->domain[0] || !strcmp(n->domain, "ai.onnx"));
}

const Onnx__TensorProto *jn__quant_initializer(const Onnx__GraphProto *g, const char *name)
{
    if (!name || !name[0])
        return NULL;
    for (size_t i = 0; i < g->n_initializer; i++)
        if (g->initializer[i]->name && strcmp(g->initializer[i]->name, name) == 0)
            return g->initializer[i];
    return NULL;
}

bool jn__quant_is_graph_output(const Onnx__GraphProto *g, const char *name)
{
    if (!name)
        return false;
    for (size_t i = 0; i < g->n_output; i++)
        if (g->output[i]->name && strcmp(g->output[i]->name, name) == 0)
            return true;
    return false;
}

static bool is_graph_input(const Onnx__GraphProto *g, const char *name)
{
    if (jn__quant_initializer(g, name))
        return false;
    for (size_t i = 0; i < g->n_input; i++)
        if (g->input[i]->name && strcmp(g->input[i]->name, name) == 0)
            return true;
    return false;
}

/* The node producing `name`, or -1. */
static long producer(const Onnx__GraphProto *g, const char *name)
{
    for (size_t k = 0; k < g->n_node; k++)
        for (size_t o = 0; o < g->node[k]->n_output; o++)
            if (g->node[k]->output[o] && strcmp(g->node[k]->output[o], name) == 0)
                return (long)k;
    return -1;
}

/* The only node reading `name` (-1: none or several). */
static long sole_reader(const Onnx__GraphProto *g, const char *name)
{
    long reader = -1;
    for (size_t k = 0; k < g->n_node; k++)
        for (size_t i = 0; i < g->node[k]->n_input; i++)
            if (g->node[k]->input[i] && strcmp(g->node[k]->input[i], name) == 0) {
                if (reader >= 0)
                    return -1;
                reader = (long)k;
            }
    return reader;
}

const Onnx__AttributeProto *jn__quant_attr(const Onnx__NodeProto *n, const char *name)
{
    for (size_t i = 0; i < n->n_attribute; i++)
        if (n->attribute[i]->name && strcmp(n->attribute[i]->name, name) == 0)
            return n->attribute[i];
    return NULL;
}

static int64_t attr_int(const Onnx__NodeProto *n, const char *name, int64_t dflt)
{
    const Onnx__AttributeProto *a = jn__quant_attr(n, name);
    return a && a->has_i ? a->i : dflt;
}

static float attr_float(const Onnx__NodeProto *n, const char *name, float dflt)
{
    const Onnx__AttributeProto *a = jn__quant_attr(n, name);
    return a && a->has_f ? a->f : dflt;
}

static bool is_float_init(const Onnx__TensorProto *t)
{
    return t && t->has_data_type && t->data_type == ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT;
}

/* Index of the quantized value `name`, added when new; -1 on out of memory. */
static int qval_get(jn_quant_plan *p, const char *name)
{
    for (size_t i = 0; i < p->n_v; i++)
        if (strcmp(p->v[i].name, name) == 0)
            return (int)i;
    qval *grown = realloc(p->v, (p->n_v + 1) * sizeof *grown);
    if (!grown)
        return -1;
    p->v = grown;
    qval *v = &p->v[p->n_v];
    memset(v, 0, sizeof *v);
    v->name = name;
    v->from = -1;
    v->is_input = is_graph_input(p->m->graph, name);
    v->is_output = jn__quant_is_graph_output(p->m->graph, name);
    jn_qstat_init(&v->st);
    return (int)p->n_v++;
}

static bool preserves_scale(const Onnx__NodeProto *n)
{
    static const char *const ops[] = {"MaxPool", "Flatten", "Reshape", "Transpose", "Squeeze", "Unsqueeze",
                                      "Identity", NULL};
    for (int i = 0; ops[i]; i++)
        if (is_op(n, ops[i]))
            return true;
    return false;
}

/* A value made from a quantized one by scale-preserving operators takes that one's parameters. */
static void link_preserved(jn_quant_plan *p)
{
    const Onnx__GraphProto *g = p->m->graph;
    for (size_t i = 0; i < p->n_v; i++) {
        const char *name = p->v[i].name;
        for (int hop = 0; hop < 16; hop++) {
            long k = producer(g, name);
            if (k < 0 || !preserves_scale(g->node[k]) || g->node[k]->n_input < 1 || !g->node[k]->input[0])
                break;
            name = g->node[k]->input[0];
            int found = -1;
            for (size_t j = 0; j < p->n_v; j++)
                if (j != i && strcmp(p->v[j].name, name) == 0)
                    found = (int)j;
            if (found >= 0) {
                p->v[i].from = found;
                break;
            }
        }
    }
    /* Chains resolve to their root (producers come first, so no cycles; bounded anyway). */
    for (size_t i = 0; i < p->n_v; i++) {
        int r = p->v[i].from;
        for (int hop = 0; r >= 0 && p->v[r].from >= 0 && hop < 64; hop++)
            r = p->v[r].from;
        p->v[i].from = r;
    }
}

static int add_node(jn_quant_plan *p, size_t k, jn_err *err)
{
    const Onnx__GraphProto *g = p->m->graph;
    const Onnx__NodeProto *n = g->node[k];
    int kind = is_op(n, "Conv") ? QK_CONV : is_op(n, "MatMul") ? QK_MATMUL : is_op(n, "Gemm") ? QK_GEMM : -1;
    if (kind < 0 || n->n_input < 2 || n->n_output < 1 || !n->input[0] || !n->input[1] || !n->output[0])
        return 0;
    if (p->o.dynamic && kind == QK_CONV)
        return 0;
    const Onnx__TensorProto *w = jn__quant_initializer(g, n->input[1]);
    if (!is_float_init(w) || jn__quant_initializer(g, n->input[0]))
        return 0;
    if (w->has_data_location && w->data_location == ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL)
        return jn_err_set(err, JN_EINVAL, "weight '%s' of node '%s' is stored in an external file: not supported",
                          w->name, n->name ? n->name : n->op_type);
    if ((kind == QK_CONV && w->n_dims < 3) || (kind == QK_GEMM && w->n_dims != 2) || w->n_dims < 1)
        return 0;
    int64_t count = 1; /* an empty weight, or a shape past 2^40 elements, stays as it is */
    for (size_t d = 0; d < w->n_dims; d++) {
        if (w->dims[d] <= 0 || count > ((int64_t)1 << 40) / w->dims[d])
            return 0;
        count *= w->dims[d];
    }
    qnode q = {.node = k, .kind = kind, .act = -1, .out = -1, .w = w};
    if (kind == QK_CONV)
        q.axis = 0;
    else if (kind == QK_GEMM)
        q.axis = attr_int(n, "transB", 0) ? 0 : 1;
    else
        q.axis = w->n_dims == 2 ? 1 : -1; /* per-channel only for 2-D MatMul weights */
    if (n->n_input >= 3 && n->input[2] && n->input[2][0]) {
        const Onnx__TensorProto *b = jn__quant_initializer(g, n->input[2]);
        int64_t channels = q.axis >= 0 ? w->dims[q.axis] : -1;
        q.b = is_float_init(b) && b->n_dims == 1 && b->dims[0] == channels ? b : NULL;
        if (kind == QK_GEMM && (attr_float(n, "alpha", 1.0f) != 1.0f || attr_float(n, "beta", 1.0f) != 1.0f))
            q.b = NULL;
        q.has_bias = true;
    }
    if (!p->o.dynamic) {
        q.act = qval_get(p, n->input[0]);
        /* The output's pair goes after a Relu that alone reads it (Conv -> Relu -> Q: the clamp is inside). */
        const char *out = n->output[0];
        long r = jn__quant_is_graph_output(g, out) ? -1 : sole_reader(g, out);
        if (r >= 0 && is_op(g->node[r], "Relu") && g->node[r]->n_output >= 1 && g->node[r]->output[0])
            out = g->node[r]->output[0];
        q.out = qval_get(p, out);
        if (q.act < 0 || q.out < 0)
            return jn_err_set(err, JN_ENOMEM, "out of memory");
    }
    qnode *grown = realloc(p->q, (p->n_q + 1) * sizeof *grown);
    if (!grown)
        return jn_err_set(err, JN_ENOMEM, "out of memory");
    p->q = grown;
    p->q[p->n_q++] = q;
    return 0;
}

/* Outputs of quantized nodes that no quantized node reads (directly or through scale-preserving operators). */
static void mark_final(jn_quant_plan *p)
{
    for (size_t i = 0; i < p->n_q; i++) {
        int o = p->q[i].out;
        if (o < 0)
            continue;
        bool read = false;
        for (size_t j = 0; j < p->n_q; j++)
            read |= p->q[j].act >= 0 && (p->q[j].act == o || p->v[p->q[j].act].from == o);
        p->v[o].final = !read;
    }
}

int jn_quant_plan_create(const uint8_t *bytes, size_t size, const char *what, const jn_quant_options *o,
                         jn_quant_plan **out, jn_err *err)
{
    *out = NULL;
    jn_quant_plan *p = calloc(1, sizeof *p);
    if (!p)
        return jn_err_set(err, JN_ENOMEM, "out of memory");
    p->o = *o;
    p->bytes_in = size;
    p->m = onnx__model_proto__unpack(NULL, size, bytes);
    int rc = 0;
    if (!p->m)
        rc = jn_err_set(err, JN_EINVAL, "%s: not an ONNX model (the protobuf does not parse)", what);
    else if (!p->m->graph || p->m->graph->n_node == 0)
        rc = jn_err_set(err, JN_EINVAL, "%s: the model has no graph", what);
    int64_t opset = -1;
    for (size_t i = 0; !rc && i < p->m->n_opset_import; i++) {
        const Onnx__OperatorSetIdProto *s = p->m->opset_import[i];
        if ((!s->domain || !s->domain[0] || !strcmp(s->domain, "ai.onnx")) && s->has_version)
            opset = s->version;
    }
    if (!rc && opset < 10)
        rc = jn_err_set(err, JN_EINVAL, "%s: the model imports opset %lld of the default domain: QuantizeLinear and "
                        "DequantizeLinear need 10 or later", what, (long long)opset);
    if (!rc && o->per_channel && opset < 13)
        rc = jn_err_set(err, JN_EINVAL, "%s: --per-channel needs opset 13 (DequantizeLinear's axis); the model "
                        "imports %lld", what, (long long)opset);
    for (size_t k = 0; !rc && k < p->m->graph->n_node; k++)
        rc = add_node(p, k, err);
    if (!rc && p->n_q == 0)
        rc = jn_err_set(err, JN_EINVAL, "%s: nothing to quantize: no Conv%s, MatMul or Gemm reads an FP32 "
                        "initializer weight", what, o->dynamic ? " (not in --dynamic mode)" : "");
    if (rc) {
        jn_quant_plan_free(p);
        return rc;
    }
    link_preserved(p);
    mark_final(p);
    for (size_t i = 0; i < p->n_v; i++) {
        if (p->v[i].from >= 0 || p->v[i].is_input || p->v[i].is_output)
            continue;
        const char **grown = realloc(p->taps, (p->n_taps + 1) * sizeof *grown);
        if (!grown) {
            jn_quant_plan_free(p);
            return jn_err_set(err, JN_ENOMEM, "out of memory");
        }
        p->taps = grown;
        p->taps[p->n_taps++] = p->v[i].name;
    }
    *out = p;
    return 0;
}

void jn_quant_plan_free(jn_quant_plan *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < p->n_v; i++)
        jn_qstat_free(&p->v[i].st);
    free(p->v);
    free(p->q);
    free(p->taps);
    if (p->m)
        onnx__model_proto__free_unpacked(p->m, NULL);
    free(p);
}

int jn_quant_passes(const jn_quant_plan *p)
{
    return p->o.dynamic ? 0 : p->o.method == JN_QUANT_MINMAX ? 1 : 2;
}

/* The calibrated values are the roots: those whose parameters others take are not observed themselves. */
size_t jn_quant_n_calibrated(const jn_quant_plan *p)
{
    size_t n = 0;
    for (size_t i = 0; i < p->n_v; i++)
        n += p->v[i].from < 0;
    return n;
}

static qval *calibrated(const jn_quant_plan *p, size_t i)
{
    for (size_t k = 0; k < p->n_v; k++)
        if (p->v[k].from < 0 && i-- == 0)
            return &p->v[k];
    return NULL;
}

const char *jn_quant_calibrated_name(const jn_quant_plan *p, size_t i)
{
    const qval *v = calibrated(p, i);
    return v ? v->name : NULL;
}

size_t jn_quant_taps(const jn_quant_plan *p, const char *const **names)
{
    *names = p->taps;
    return p->n_taps;
}

int jn_quant_observe(jn_quant_plan *p, size_t i, int pass, const float *x, size_t n, jn_err *err)
{
    qval *v = calibrated(p, i);
    if (!v)
        return jn_err_set(err, JN_EINVAL, "calibrated value %zu does not exist", i);
    if (pass == 0) {
        jn_qstat_observe(&v->st, x, n);
        return 0;
    }
    return jn_qstat_observe_hist(&v->st, x, n) ? jn_err_set(err, JN_ENOMEM, "out of memory") : 0;
}

void jn_quant_range(const jn_quant_plan *p, size_t i, double *lo, double *hi)
{
    const qval *v = calibrated(p, i);
    *lo = *hi = 0;
    if (v)
        jn_qstat_range(&v->st, v->final ? JN_QUANT_MINMAX : p->o.method, p->o.percentile, lo, hi);
}
