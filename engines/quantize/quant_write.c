/* quant_write.c — jn_quant_write: the QDQ model (quantize.h) built beside the parsed one and packed with
 * protobuf-c. The parsed model is never modified: the new ModelProto and GraphProto are shallow copies whose node,
 * initializer and input arrays are new; new and rewired nodes, new initializers and strings live in an arena freed
 * after packing, while everything unchanged is still the parsed model's. */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "arena.h"
#include "quant_internal.h"

typedef jn_arena arena; /* every new node, initializer and string of the written model */

/* Growable pointer array (malloc'd, freed by the writer). */
typedef struct parr {
    void **p;
    size_t n, cap;
} parr;

static void p_push(arena *a, parr *r, void *x)
{
    if (!x || a->oom)
        return;
    if (r->n == r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 64;
        void **grown = realloc(r->p, cap * sizeof *grown);
        if (!grown) {
            a->oom = true;
            return;
        }
        r->p = grown;
        r->cap = cap;
    }
    r->p[r->n++] = x;
}

/* The names in use (open addressing; strings borrowed from the model or the arena). */
typedef struct nameset {
    const char **slot;
    size_t cap, n;
} nameset;

static uint64_t hash_str(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++)
        h = (h ^ (uint8_t)*s) * 1099511628211ull;
    return h;
}

static bool ns_has(const nameset *ns, const char *s)
{
    if (!ns->cap)
        return false;
    for (size_t i = hash_str(s) & (ns->cap - 1);; i = (i + 1) & (ns->cap - 1)) {
        if (!ns->slot[i])
            return false;
        if (strcmp(ns->slot[i], s) == 0)
            return true;
    }
}

static int ns_add(nameset *ns, const char *s)
{
    if (!s || ns_has(ns, s))
        return 0;
    if ((ns->n + 1) * 2 > ns->cap) {
        size_t cap = ns->cap ? ns->cap * 2 : 1024;
        const char **slot = calloc(cap, sizeof *slot);
        if (!slot)
            return -1;
        for (size_t k = 0; k < ns->cap; k++)
            if (ns->slot[k]) {
                size_t i = hash_str(ns->slot[k]) & (cap - 1);
                while (slot[i])
                    i = (i + 1) & (cap - 1);
                slot[i] = ns->slot[k];
            }
        free(ns->slot);
        ns->slot = slot;
        ns->cap = cap;
    }
    size_t i = hash_str(s) & (ns->cap - 1);
    while (ns->slot[i])
        i = (i + 1) & (ns->cap - 1);
    ns->slot[i] = s;
    ns->n++;
    return 0;
}

/* A cached weight: its DequantizeLinear's output and per-channel scales. */
typedef struct wcache {
    const Onnx__TensorProto *w;
    int axis;
    const char *dq;
    const float *scales;
    size_t n_scales;
} wcache;

typedef struct writer {
    jn_quant_plan *p;
    arena a;
    nameset names;
    parr nodes, inits;
    wcache *w;
    size_t n_w;
    /* per qval (roots only): scale / zero point and their initializers; per qval: its DequantizeLinear output */
    float *scale;
    int32_t *zp;
    const char **scale_name, **zp_name, **dq_name, **pre_name;
    int act_dtype, qmin, qmax;
    jn_quant_summary *sum;
    jn_err *err;
    int rc;
} writer;

static int fail(writer *w, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(writer *w, int code, const char *fmt, ...)
{
    if (w->rc)
        return w->rc;
    va_list ap;
    va_start(ap, fmt);
    char msg[JN_ERR_MSG_MAX];
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    w->rc = jn_err_set(w->err, code, "%s", msg);
    return w->rc;
}

/* A fresh name from base and suffix ("x_scale", else "x_scale_2", ...). */
static const char *fresh(writer *w, const char *base, const char *suffix)
{
    char *s = jn_arena_printf(&w->a, "%s_%s", base, suffix);
    for (int k = 2; s && ns_has(&w->names, s) && k < 1000000; k++)
        s = jn_arena_printf(&w->a, "%s_%s_%d", base, suffix, k);
    if (!s || ns_add(&w->names, s)) {
        w->a.oom = true;
        return NULL;
    }
    return s;
}

static Onnx__TensorProto *new_init(writer *w, const char *name, int dtype, size_t ndim, const int64_t *dims,
                                   const void *data, size_t len)
{
    Onnx__TensorProto *t = jn_arena_alloc(&w->a, sizeof *t);
    int64_t *d = jn_arena_alloc(&w->a, (ndim ? ndim : 1) * sizeof *d);
    uint8_t *raw = jn_arena_alloc(&w->a, len);
    if (!t || !d || !raw)
        return NULL;
    onnx__tensor_proto__init(t);
    if (ndim)
        memcpy(d, dims, ndim * sizeof *d);
    memcpy(raw, data, len);
    t->n_dims = ndim;
    t->dims = d;
    t->has_data_type = 1;
    t->data_type = dtype;
    t->name = (char *)name;
    t->has_raw_data = 1; /* little-endian, the host's layout on x86 / ARM */
    t->raw_data.len = len;
    t->raw_data.data = raw;
    p_push(&w->a, &w->inits, t);
    return t;
}

static Onnx__NodeProto *new_node(writer *w, const char *op, int n_in, const char *const *in, const char *out,
                                 int64_t axis)
{
    Onnx__NodeProto *n = jn_arena_alloc(&w->a, sizeof *n);
    char **ins = jn_arena_alloc(&w->a, (size_t)n_in * sizeof *ins);
    char **outs = jn_arena_alloc(&w->a, sizeof *outs);
    if (!n || !ins || !outs || !out)
        return NULL;
    onnx__node_proto__init(n);
    for (int i = 0; i < n_in; i++)
        ins[i] = (char *)in[i];
    outs[0] = (char *)out;
    n->n_input = (size_t)n_in;
    n->input = ins;
    n->n_output = 1;
    n->output = outs;
    n->op_type = (char *)op;
    n->name = (char *)fresh(w, out, op);
    if (axis >= 0) {
        Onnx__AttributeProto *a = jn_arena_alloc(&w->a, sizeof *a);
        Onnx__AttributeProto **attrs = jn_arena_alloc(&w->a, sizeof *attrs);
        if (!a || !attrs)
            return NULL;
        onnx__attribute_proto__init(a);
        a->name = "axis";
        a->has_type = 1;
        a->type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT;
        a->has_i = 1;
        a->i = axis;
        attrs[0] = a;
        n->n_attribute = 1;
        n->attribute = attrs;
    }
    p_push(&w->a, &w->nodes, n);
    return n;
}

static int64_t tensor_count(const Onnx__TensorProto *t)
{
    int64_t c = 1;
    for (size_t i = 0; i < t->n_dims; i++) {
        if (t->dims[i] < 0 || (t->dims[i] && c > INT64_MAX / t->dims[i]))
            return -1;
        c *= t->dims[i];
    }
    return c;
}

/* The FP32 values of an initializer (malloc'd), NULL with the writer failed. */
static float *read_floats(writer *w, const Onnx__TensorProto *t, int64_t *count)
{
    int64_t c = tensor_count(t);
    *count = c;
    if (c < 0) {
        fail(w, JN_EINVAL, "initializer '%s' has a negative or overflowing shape", t->name);
        return NULL;
    }
    bool raw = t->has_raw_data && (uint64_t)c <= SIZE_MAX / sizeof(float) && t->raw_data.len == (size_t)c * 4;
    if (!raw && (t->has_raw_data || t->n_float_data != (size_t)c)) { /* checked before allocating anything */
        fail(w, JN_EINVAL, "initializer '%s': its data does not hold the %lld values its shape says", t->name,
             (long long)c);
        return NULL;
    }
    float *x = malloc((size_t)(c ? c : 1) * sizeof *x);
    if (!x) {
        fail(w, JN_ENOMEM, "out of memory");
        return NULL;
    }
    if (c)
        memcpy(x, raw ? (const void *)t->raw_data.data : (const void *)t->float_data, (size_t)c * sizeof(float));
    return x;
}

/* The INT8 weight (symmetric, [-127, 127]) and its DequantizeLinear; the DQ output name (cached per weight). */
static const wcache *quantize_weight(writer *w, const qnode *q)
{
    int axis = w->p->o.per_channel ? q->axis : -1;
    int wmax = w->p->o.full_range ? 127 : 64;
    for (size_t i = 0; i < w->n_w; i++)
        if (w->w[i].w == q->w && w->w[i].axis == axis)
            return &w->w[i];
    int64_t count;
    float *x = read_floats(w, q->w, &count);
    if (!x)
        return NULL;
    int64_t channels = axis >= 0 ? q->w->dims[axis] : 1, inner = 1;
    for (size_t d = (size_t)(axis >= 0 ? axis + 1 : (int)q->w->n_dims); d < q->w->n_dims; d++)
        inner *= q->w->dims[d];
    float *scales = jn_arena_alloc(&w->a, (size_t)(channels ? channels : 1) * sizeof *scales);
    int8_t *qv = malloc((size_t)(count ? count : 1));
    int8_t *zeros = jn_arena_alloc(&w->a, (size_t)(channels ? channels : 1));
    if (!scales || !qv || !zeros) {
        free(x);
        free(qv);
        fail(w, JN_ENOMEM, "out of memory");
        return NULL;
    }
    double *absmax = calloc((size_t)(channels ? channels : 1), sizeof *absmax);
    if (!absmax) {
        free(x);
        free(qv);
        fail(w, JN_ENOMEM, "out of memory");
        return NULL;
    }
    for (int64_t i = 0; i < count; i++) {
        int64_t c = axis >= 0 ? (i / inner) % channels : 0;
        if (isfinite(x[i]) && fabs((double)x[i]) > absmax[c])
            absmax[c] = fabs((double)x[i]);
    }
    for (int64_t c = 0; c < channels; c++) {
        int32_t zp;
        jn_quant_params(-absmax[c], absmax[c], -wmax, wmax, true, &scales[c], &zp);
    }
    for (int64_t i = 0; i < count; i++) {
        int64_t c = axis >= 0 ? (i / inner) % channels : 0;
        double v = nearbyint((double)x[i] / (double)scales[c]);
        if (isnan(v)) /* a NaN weight (infinities saturate below): no INT8 holds it, zero does least harm */
            v = 0;
        qv[i] = (int8_t)(v > wmax ? wmax : v < -wmax ? -wmax : v);
    }
    free(absmax);
    free(x);
    const char *base = q->w->name;
    const char *qn = fresh(w, base, "quantized"), *sn = fresh(w, base, "scale"), *zn = fresh(w, base, "zero_point");
    const char *dq = fresh(w, base, "dequantized");
    int64_t cdim = channels;
    new_init(w, qn, ONNX__TENSOR_PROTO__DATA_TYPE__INT8, q->w->n_dims, q->w->dims, qv, (size_t)count);
    free(qv);
    new_init(w, sn, ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, axis >= 0 ? 1 : 0, &cdim, scales,
             (size_t)channels * sizeof(float));
    new_init(w, zn, ONNX__TENSOR_PROTO__DATA_TYPE__INT8, axis >= 0 ? 1 : 0, &cdim, zeros, (size_t)channels);
    const char *in[3] = {qn, sn, zn};
    new_node(w, "DequantizeLinear", 3, in, dq, axis >= 0 ? axis : -1);
    wcache *grown = realloc(w->w, (w->n_w + 1) * sizeof *grown);
    if (grown)
        w->w = grown;
    if (!grown || w->a.oom) {
        fail(w, JN_ENOMEM, "out of memory");
        return NULL;
    }
    w->w[w->n_w] = (wcache){q->w, axis, dq, scales, (size_t)channels};
    w->sum->weights++;
    return &w->w[w->n_w++];
}

static int root(const writer *w, int v)
{
    return w->p->v[v].from >= 0 ? w->p->v[v].from : v;
}

/* The INT32 bias (scale = activation scale x weight scale, zero point 0) and its DequantizeLinear; NULL when the
 * bias stays FP32. */
static const char *quantize_bias(writer *w, const qnode *q, const wcache *wc)
{
    if (!q->b || w->p->o.dynamic || q->act < 0)
        return NULL;
    int64_t count;
    float *x = read_floats(w, q->b, &count);
    if (!x)
        return NULL;
    float sx = w->scale[root(w, q->act)];
    float *bs = jn_arena_alloc(&w->a, (size_t)(wc->n_scales ? wc->n_scales : 1) * sizeof *bs);
    int32_t *qb = malloc((size_t)(count ? count : 1) * sizeof *qb);
    bool fits = bs && qb;
    for (size_t c = 0; fits && c < wc->n_scales; c++)
        bs[c] = sx * wc->scales[c];
    for (int64_t i = 0; fits && i < count; i++) {
        float s = bs[wc->n_scales > 1 ? (size_t)i : 0];
        double v = nearbyint((double)x[i] / (double)s);
        if (!(s > 0) || !isfinite(v) || v > INT32_MAX || v < -(double)INT32_MAX)
            fits = false;
        else
            qb[i] = (int32_t)v;
    }
    free(x);
    if (!fits) {
        free(qb);
        if (!bs || !qb)
            fail(w, JN_ENOMEM, "out of memory");
        return NULL;
    }
    const char *base = q->b->name;
    const char *qn = fresh(w, base, "quantized"), *sn = fresh(w, base, "scale"), *dq = fresh(w, base, "dequantized");
    int64_t cdim = (int64_t)wc->n_scales;
    bool per_channel = wc->axis >= 0;
    new_init(w, qn, ONNX__TENSOR_PROTO__DATA_TYPE__INT32, 1, q->b->dims, qb, (size_t)count * sizeof *qb);
    free(qb);
    new_init(w, sn, ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, per_channel ? 1 : 0, &cdim, bs,
             wc->n_scales * sizeof(float));
    const char *in[2] = {qn, sn};
    new_node(w, "DequantizeLinear", 2, in, dq, per_channel ? 0 : -1);
    return dq;
}

/* The Q -> DQ pair of qval v (its root's scale and zero point initializers made on first use). */
static void emit_pair(writer *w, int v)
{
    int r = root(w, v);
    const char *name = w->p->v[v].name;
    if (!w->scale_name[r]) {
        const char *rn = w->p->v[r].name;
        w->scale_name[r] = fresh(w, rn, "scale");
        w->zp_name[r] = fresh(w, rn, "zero_point");
        uint8_t z = (uint8_t)(int8_t)w->zp[r];
        if (w->act_dtype == ONNX__TENSOR_PROTO__DATA_TYPE__UINT8)
            z = (uint8_t)w->zp[r];
        new_init(w, w->scale_name[r], ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, 0, NULL, &w->scale[r], sizeof(float));
        new_init(w, w->zp_name[r], w->act_dtype, 0, NULL, &z, 1);
    }
    const char *qn = fresh(w, name, "quantized");
    /* A graph output keeps its name on the dequantized value (its producer writes w->pre_name[v] instead), so the
     * pair is not left dangling and the output is what the quantized graph computes, as ORT's quantizer does. */
    const char *src = w->pre_name[v] ? w->pre_name[v] : name;
    w->dq_name[v] = w->pre_name[v] ? name : fresh(w, name, "dequantized");
    const char *qin[3] = {src, w->scale_name[r], w->zp_name[r]};
    new_node(w, "QuantizeLinear", 3, qin, qn, -1);
    const char *din[3] = {qn, w->scale_name[r], w->zp_name[r]};
    new_node(w, "DequantizeLinear", 3, din, w->dq_name[v], -1);
    w->sum->activations++;
}

static const qnode *qnode_of(const jn_quant_plan *p, size_t k)
{
    for (size_t i = 0; i < p->n_q; i++)
        if (p->q[i].node == k)
            return &p->q[i];
    return NULL;
}

static int qval_of(const jn_quant_plan *p, const char *name)
{
    for (size_t i = 0; i < p->n_v; i++)
        if (strcmp(p->v[i].name, name) == 0)
            return (int)i;
    return -1;
}

/* A Conv without kernel_shape takes it from its weight's dims; once the weight comes out of a DequantizeLinear a
 * runtime may no longer see them at load (junction's adapter needs the spatial rank then), so the rewritten node
 * states it: the same convolution. */
static void add_kernel_shape(writer *w, Onnx__NodeProto *n, const Onnx__TensorProto *wt)
{
    Onnx__AttributeProto *a = jn_arena_alloc(&w->a, sizeof *a);
    Onnx__AttributeProto **attrs = jn_arena_alloc(&w->a, (n->n_attribute + 1) * sizeof *attrs);
    int64_t *ks = jn_arena_alloc(&w->a, (wt->n_dims > 2 ? wt->n_dims - 2 : 1) * sizeof *ks);
    if (!a || !attrs || !ks || wt->n_dims < 3)
        return;
    onnx__attribute_proto__init(a);
    a->name = "kernel_shape";
    a->has_type = 1;
    a->type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS;
    for (size_t d = 2; d < wt->n_dims; d++)
        ks[d - 2] = wt->dims[d];
    a->n_ints = wt->n_dims - 2;
    a->ints = ks;
    if (n->n_attribute)
        memcpy(attrs, n->attribute, n->n_attribute * sizeof *attrs);
    attrs[n->n_attribute] = a;
    n->attribute = attrs;
    n->n_attribute++;
}

/* The original node k, its inputs rewired (weights, biases, quantized values). */
static void emit_node(writer *w, size_t k)
{
    const Onnx__NodeProto *orig = w->p->m->graph->node[k];
    const qnode *q = qnode_of(w->p, k);
    const char *wdq = NULL, *bdq = NULL;
    if (q) {
        const wcache *wc = quantize_weight(w, q);
        if (!wc)
            return;
        wdq = wc->dq;
        if (q->has_bias) {
            bdq = quantize_bias(w, q, wc);
            if (w->rc)
                return;
            if (bdq)
                w->sum->int32_biases++;
            else
                w->sum->fp32_biases++;
        }
        w->sum->nodes++;
        if (q->out >= 0)
            w->sum->last_scale = w->scale[root(w, q->out)];
    }
    Onnx__NodeProto *n = jn_arena_alloc(&w->a, sizeof *n);
    char **ins = jn_arena_alloc(&w->a, (orig->n_input ? orig->n_input : 1) * sizeof *ins);
    if (!n || !ins)
        return;
    *n = *orig;
    if (q && q->kind == QK_CONV && !jn__quant_attr(orig, "kernel_shape"))
        add_kernel_shape(w, n, q->w);
    for (size_t i = 0; i < orig->n_input; i++) {
        const char *in = orig->input[i];
        int v = in && in[0] ? qval_of(w->p, in) : -1;
        if (q && i == 1)
            in = wdq;
        else if (q && i == 2 && bdq)
            in = bdq;
        else if (v >= 0 && w->dq_name[v])
            in = w->dq_name[v];
        ins[i] = (char *)in;
    }
    n->input = ins;
    for (size_t o = 0; o < orig->n_output; o++) {
        int v = orig->output[o] && orig->output[o][0] ? qval_of(w->p, orig->output[o]) : -1;
        if (v < 0 || !w->p->v[v].is_output)
            continue;
        if (n->output == orig->output) {
            char **outs = jn_arena_alloc(&w->a, orig->n_output * sizeof *outs);
            if (!outs)
                return;
            memcpy(outs, orig->output, orig->n_output * sizeof *outs);
            n->output = outs;
        }
        w->pre_name[v] = fresh(w, orig->output[o], "float");
        n->output[o] = (char *)w->pre_name[v];
    }
    p_push(&w->a, &w->nodes, n);
    for (size_t o = 0; o < orig->n_output; o++) {
        int v = orig->output[o] && orig->output[o][0] ? qval_of(w->p, orig->output[o]) : -1;
        if (v >= 0)
            emit_pair(w, v);
    }
}

static int write_atomically(const uint8_t *buf, size_t len, const char *path, jn_err *err)
{
    size_t plen = strlen(path);
    char *tmp = malloc(plen + 32);
    if (!tmp)
        return jn_err_set(err, JN_ENOMEM, "out of memory");
    snprintf(tmp, plen + 32, "%s.tmp.%ld", path, (long)getpid());
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    int e = fd < 0 ? errno : 0;
    for (size_t off = 0; !e && off < len;) {
        ssize_t n = write(fd, buf + off, len - off);
        if (n < 0 && errno != EINTR)
            e = errno;
        else if (n > 0)
            off += (size_t)n;
    }
    if (fd >= 0) {
        if (!e && fsync(fd) != 0)
            e = errno;
        if (close(fd) != 0 && !e)
            e = errno;
        if (!e && rename(tmp, path) != 0)
            e = errno;
        if (e)
            unlink(tmp);
    }
    free(tmp);
    return e ? jn_err_set(err, JN_EIO, "cannot write '%s': %s", path, strerror(e)) : 0;
}

static const char *method_name(jn_quant_method m)
{
    return m == JN_QUANT_PERCENTILE ? "percentile" : m == JN_QUANT_ENTROPY ? "entropy" : "minmax";
}

/* metadata_props: the model's own, "quantization" replaced by what was done. */
static Onnx__StringStringEntryProto **metadata(writer *w, const char *note, size_t *n_out)
{
    const Onnx__ModelProto *m = w->p->m;
    const jn_quant_options *o = &w->p->o;
    const char *weights = o->full_range ? "int8 symmetric [-127, 127]" : "int8 symmetric, reduced range [-64, 64]";
    const char *bias = o->dynamic ? "fp32" : "int32 (scale = input scale x weight scale)";
    json_t *j = json_pack("{s:s, s:s, s:b, s:s, s:s, s:s}", "mode",
                          o->dynamic ? "dynamic (weights only)" : "static QDQ", "method",
                          o->dynamic ? "none" : method_name(o->method), "per_channel", o->per_channel, "activations",
                          o->dynamic ? "fp32" : o->act_int8 ? "int8 asymmetric" : "uint8 asymmetric", "weights",
                          weights, "bias", bias);
    if (j && o->method == JN_QUANT_PERCENTILE && !o->dynamic)
        json_object_set_new(j, "percentile",
                            json_real(o->percentile > 0 ? o->percentile : JN_QUANT_DEFAULT_PERCENTILE));
    if (j && note)
        json_object_set_new(j, "calibration", json_string(note));
    char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    char *value = s ? jn_arena_printf(&w->a, "%s", s) : NULL;
    free(s);
    Onnx__StringStringEntryProto **arr = jn_arena_alloc(&w->a, (m->n_metadata_props + 1) * sizeof *arr);
    Onnx__StringStringEntryProto *e = jn_arena_alloc(&w->a, sizeof *e);
    if (!arr || !e || !value) {
        w->a.oom = true;
        return NULL;
    }
    size_t n = 0;
    for (size_t i = 0; i < m->n_metadata_props; i++)
        if (!m->metadata_props[i]->key || strcmp(m->metadata_props[i]->key, "quantization") != 0)
            arr[n++] = m->metadata_props[i];
    onnx__string_string_entry_proto__init(e);
    e->key = "quantization";
    e->value = value;
    arr[n++] = e;
    *n_out = n;
    return arr;
}

/* Initializers no node reads any more (quantized weights and biases) are dropped, with their graph inputs. */
static bool still_read(const writer *w, const char *name)
{
    if (!name || jn__quant_is_graph_output(w->p->m->graph, name)) /* a nameless one stays as it was */
        return true;
    for (size_t k = 0; k < w->nodes.n; k++) {
        const Onnx__NodeProto *n = w->nodes.p[k];
        for (size_t i = 0; i < n->n_input; i++)
            if (n->input[i] && strcmp(n->input[i], name) == 0)
                return true;
    }
    return false;
}

static int build(writer *w, const char *path, const char *note)
{
    jn_quant_plan *p = w->p;
    const Onnx__GraphProto *g = p->m->graph;
    /* names in use */
    for (size_t k = 0; k < g->n_node; k++) {
        for (size_t i = 0; i < g->node[k]->n_input; i++)
            if (ns_add(&w->names, g->node[k]->input[i]))
                w->a.oom = true;
        for (size_t i = 0; i < g->node[k]->n_output; i++)
            if (ns_add(&w->names, g->node[k]->output[i]) || ns_add(&w->names, g->node[k]->name))
                w->a.oom = true;
    }
    for (size_t i = 0; i < g->n_initializer; i++)
        if (ns_add(&w->names, g->initializer[i]->name))
            w->a.oom = true;
    for (size_t i = 0; i < g->n_input; i++)
        if (ns_add(&w->names, g->input[i]->name))
            w->a.oom = true;
    /* activation parameters */
    w->qmin = p->o.act_int8 ? -128 : 0;
    w->qmax = p->o.act_int8 ? 127 : 255;
    w->act_dtype = p->o.act_int8 ? ONNX__TENSOR_PROTO__DATA_TYPE__INT8 : ONNX__TENSOR_PROTO__DATA_TYPE__UINT8;
    for (size_t i = 0; i < p->n_v; i++) {
        if (p->v[i].from >= 0)
            continue;
        double lo, hi;
        jn_qstat_range(&p->v[i].st, p->v[i].final ? JN_QUANT_MINMAX : p->o.method, p->o.percentile, &lo, &hi);
        jn_quant_params(lo, hi, w->qmin, w->qmax, false, &w->scale[i], &w->zp[i]);
    }
    for (size_t i = 0; i < p->n_v; i++)
        if (p->v[i].is_input && !p->v[i].is_output)
            emit_pair(w, (int)i);
    for (size_t k = 0; k < g->n_node && !w->rc && !w->a.oom; k++)
        emit_node(w, k);
    if (w->rc)
        return w->rc;
    /* the initializers still read, then the new ones */
    parr inits = {0};
    for (size_t i = 0; i < g->n_initializer; i++)
        if (still_read(w, g->initializer[i]->name))
            p_push(&w->a, &inits, g->initializer[i]);
    for (size_t i = 0; i < w->inits.n; i++)
        p_push(&w->a, &inits, w->inits.p[i]);
    parr inputs = {0};
    for (size_t i = 0; i < g->n_input; i++) {
        const char *name = g->input[i]->name;
        if (!jn__quant_initializer(g, name) || still_read(w, name))
            p_push(&w->a, &inputs, g->input[i]);
    }
    Onnx__GraphProto g2 = *g;
    g2.n_node = w->nodes.n;
    g2.node = (Onnx__NodeProto **)w->nodes.p;
    g2.n_initializer = inits.n;
    g2.initializer = (Onnx__TensorProto **)inits.p;
    g2.n_input = inputs.n;
    g2.input = (Onnx__ValueInfoProto **)inputs.p;
    Onnx__ModelProto m2 = *p->m;
    m2.graph = &g2;
    m2.metadata_props = metadata(w, note, &m2.n_metadata_props);
    int rc = 0;
    uint8_t *buf = NULL;
    if (w->a.oom) {
        rc = jn_err_set(w->err, JN_ENOMEM, "out of memory");
    } else {
        size_t len = onnx__model_proto__get_packed_size(&m2);
        buf = malloc(len ? len : 1);
        if (!buf)
            rc = jn_err_set(w->err, JN_ENOMEM, "out of memory");
        else if (onnx__model_proto__pack(&m2, buf) != len)
            rc = jn_err_set(w->err, JN_EINVAL, "the quantized model does not serialize");
        else
            rc = write_atomically(buf, len, path, w->err);
        w->sum->bytes_out = len;
    }
    free(buf);
    free(inits.p);
    free(inputs.p);
    return rc;
}

int jn_quant_write(jn_quant_plan *p, const char *path, const char *note, jn_quant_summary *sum, jn_err *err)
{
    memset(sum, 0, sizeof *sum);
    sum->bytes_in = p->bytes_in;
    writer w = {.p = p, .sum = sum, .err = err};
    size_t nv = p->n_v ? p->n_v : 1;
    w.scale = calloc(nv, sizeof *w.scale);
    w.zp = calloc(nv, sizeof *w.zp);
    w.scale_name = calloc(nv, sizeof *w.scale_name);
    w.zp_name = calloc(nv, sizeof *w.zp_name);
    w.dq_name = calloc(nv, sizeof *w.dq_name);
    w.pre_name = calloc(nv, sizeof *w.pre_name);
    int rc = w.scale && w.zp && w.scale_name && w.zp_name && w.dq_name && w.pre_name ? build(&w, path, note)
                                                                        : jn_err_set(err, JN_ENOMEM, "out of memory");
    free(w.scale);
    free(w.zp);
    free(w.scale_name);
    free(w.zp_name);
    free(w.dq_name);
    free(w.pre_name);
    free(w.w);
    free(w.nodes.p);
    free(w.inits.p);
    free(w.names.slot);
    jn_arena_free(&w.a);
    return rc;
}
