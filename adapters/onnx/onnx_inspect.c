/* onnx_inspect.c — what loading a model would do, without serving it (`junction model inspect`): the signature,
 * the opset imports, an operator histogram and every refused node with its reason; and the list of operators the
 * adapter implements (`junction model operators`, the README's list).
 *
 * The refusals come from the loader itself (onnx_load.c), run with a collector: where a normal load stops at the
 * first refused node, an inspecting load records it, marks the node's outputs as refused values of unknown dtype
 * and goes on. A node reading such a value is checked for what does not depend on its inputs' dtypes (domain,
 * operator, arity, attributes): refused if that fails, else listed as unchecked.
 *
 * Ownership: jn_onnx_report owns its strings and arrays (jn_onnx_report_free). The collector lives on the stack of
 * jn_onnx_inspect for one load. Thread-safety: none needed (no shared state).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "onnx.h"
#include "onnx.pb-c.h"
#include "onnx_internal.h"

struct ox_inspect {
    jn_onnx_report *rep;
    bool pending_unchecked; /* set by ox_inspect_unchecked for the node_failed that follows */
    int rc;                 /* a failure of the collector itself (out of memory) */
};

static char *dup_or_null(const char *s, struct ox_inspect *in)
{
    char *d = strdup(s ? s : "");
    if (!d)
        in->rc = JN_ENOMEM;
    return d;
}

/* Appends a refusal to *list; op_type NULL = the whole model. */
static void add_refusal(struct ox_inspect *in, jn_onnx_refusal **list, size_t *n, const char *op_type,
                        const char *domain, const char *node, const char *reason)
{
    jn_onnx_refusal *grown = realloc(*list, (*n + 1) * sizeof *grown);
    if (!grown) {
        in->rc = JN_ENOMEM;
        return;
    }
    *list = grown;
    jn_onnx_refusal *r = &grown[(*n)++];
    memset(r, 0, sizeof *r);
    r->reason = dup_or_null(reason, in);
    if (op_type) {
        r->op_type = dup_or_null(op_type, in);
        r->domain = dup_or_null(domain && strcmp(domain, "ai.onnx") != 0 ? domain : "", in);
        r->node = dup_or_null(node, in);
    }
}

/* ---------------------------------------------------------------------------------------------------------------
 * The loader's hooks */

static int find_value(const ox_model *m, const char *name)
{
    for (size_t i = 0; i < m->n_values; i++)
        if (strcmp(m->values[i].name, name) == 0)
            return (int)i;
    return -1;
}

int ox_inspect_node_failed(ox_model *m, const ox_node *n, const char *name, size_t position, const char *domain,
                           const char *const *outputs, size_t n_outputs, int rc, jn_err *err)
{
    struct ox_inspect *in = m->inspect;
    if (!in || rc == JN_ENOMEM || !n->op_type || !n->name)
        return rc;
    /* ox_reject's messages start "operator OP (node 'NAME'): "; the report keeps the reason after it. */
    char prefix[600];
    snprintf(prefix, sizeof prefix, "operator %s (node '%s'): ", n->op_type, n->name);
    const char *reason = err->msg;
    if (strncmp(reason, prefix, strlen(prefix)) == 0)
        reason += strlen(prefix);
    /* An unnamed node is named by its place in the file (the loader's "#k" counts the nodes kept so far). */
    char fallback[32];
    snprintf(fallback, sizeof fallback, "#%zu", position);
    const char *shown = name && name[0] ? name : fallback;
    if (in->pending_unchecked)
        add_refusal(in, &in->rep->unchecked, &in->rep->n_unchecked, n->op_type, domain, shown, reason);
    else
        add_refusal(in, &in->rep->refused, &in->rep->n_refused, n->op_type, domain, shown, reason);
    in->pending_unchecked = false;
    /* Its outputs exist from now on, of unknown dtype, so that later nodes resolve their inputs. */
    for (size_t i = 0; i < n_outputs; i++) {
        if (!outputs[i] || !outputs[i][0])
            continue;
        int v = find_value(m, outputs[i]);
        if (v >= 0 && m->values[v].producer != (int)m->n_nodes)
            continue; /* another node's (this one defined it twice) */
        if (v < 0 && (v = ox_value_add(m, outputs[i], err)) < 0)
            return v;
        m->values[v].dtype = JN_DTYPE_INVALID;
        m->values[v].producer = -1;
        m->values[v].refused = true;
    }
    if (in->rc)
        return jn_err_set(err, in->rc, "out of memory");
    jn_err_clear(err);
    return 0;
}

bool ox_inspect_reads_refused(const ox_model *m, const ox_node *n)
{
    if (!m->inspect)
        return false;
    for (int i = 0; i < n->n_in; i++)
        if (n->in[i] >= 0 && m->values[n->in[i]].refused)
            return true;
    return false;
}

int ox_inspect_unchecked(ox_model *m, const ox_node *n, jn_err *err)
{
    const char *from = "";
    for (int i = 0; i < n->n_in && !from[0]; i++)
        if (n->in[i] >= 0 && m->values[n->in[i]].refused)
            from = m->values[n->in[i]].name;
    m->inspect->pending_unchecked = true;
    return ox_reject(n, err, "not checked further: input '%s' comes from a refused node, its dtype is unknown",
                     from);
}

int ox_inspect_found(const ox_model *m, jn_err *err)
{
    if (!m->inspect || (m->inspect->rep->n_refused == 0 && m->inspect->rep->n_unchecked == 0))
        return 0;
    return jn_err_set(err, JN_EUNIMPL, "%zu nodes refused", m->inspect->rep->n_refused);
}

/* ---------------------------------------------------------------------------------------------------------------
 * The report */

static void count_op(struct ox_inspect *in, const char *domain, const char *op_type)
{
    jn_onnx_report *rep = in->rep;
    const char *d = domain && strcmp(domain, "ai.onnx") != 0 ? domain : "";
    const char *o = op_type ? op_type : "";
    for (size_t i = 0; i < rep->n_ops; i++)
        if (strcmp(rep->ops[i].domain, d) == 0 && strcmp(rep->ops[i].op_type, o) == 0) {
            rep->ops[i].count++;
            return;
        }
    jn_onnx_op_count *grown = realloc(rep->ops, (rep->n_ops + 1) * sizeof *grown);
    if (!grown) {
        in->rc = JN_ENOMEM;
        return;
    }
    rep->ops = grown;
    jn_onnx_op_count *c = &grown[rep->n_ops++];
    c->domain = dup_or_null(d, in);
    c->op_type = dup_or_null(o, in);
    c->count = 1;
}

/* A declared graph input or output as a port: dtype and shape, -1 for symbolic dims; left out when its type is
 * not a tensor of a dtype junction names (the refusal says why). */
static void add_declared_port(jn_signature *sig, const Onnx__ValueInfoProto *vi, bool output)
{
    const Onnx__TypeProto *tp = vi->type;
    if (!vi->name || !vi->name[0] || !tp || tp->value_case != ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE ||
        !tp->tensor_type)
        return;
    const Onnx__TypeProto__Tensor *tt = tp->tensor_type;
    jn_dtype dt = ox_dtype_from_onnx(tt->has_elem_type ? tt->elem_type : 0);
    int ndim = 1;
    int64_t shape[JN_MAX_DIMS] = {-1};
    if (tt->shape && tt->shape->n_dim <= JN_MAX_DIMS) {
        ndim = (int)tt->shape->n_dim;
        for (size_t i = 0; i < tt->shape->n_dim; i++) {
            const Onnx__TensorShapeProto__Dimension *d = tt->shape->dim[i];
            shape[i] = d->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE && d->dim_value >= 0
                           ? d->dim_value
                           : -1;
        }
    } else if (!output) {
        return; /* an input of unknown rank is refused */
    }
    jn_err ignored;
    if (output)
        jn_signature_add_output(sig, vi->name, JN_KIND_TENSOR, dt, ndim, shape, &ignored);
    else
        jn_signature_add_input(sig, vi->name, JN_KIND_TENSOR, dt, ndim, shape, &ignored);
}

static bool is_initializer(const Onnx__GraphProto *g, const char *name)
{
    for (size_t i = 0; i < g->n_initializer; i++)
        if (g->initializer[i]->name && strcmp(g->initializer[i]->name, name) == 0)
            return true;
    return false;
}

/* What the protobuf itself says: IR version, producer, opsets, histogram, declared signature. */
static void describe(struct ox_inspect *in, const Onnx__ModelProto *p)
{
    jn_onnx_report *rep = in->rep;
    rep->ir_version = p->has_ir_version ? p->ir_version : 0;
    char producer[300];
    snprintf(producer, sizeof producer, "%s%s%s", p->producer_name ? p->producer_name : "",
             p->producer_version && p->producer_version[0] ? " " : "",
             p->producer_version ? p->producer_version : "");
    rep->producer = dup_or_null(producer, in);
    rep->opsets = calloc(p->n_opset_import + 1, sizeof *rep->opsets);
    if (!rep->opsets) {
        in->rc = JN_ENOMEM;
        return;
    }
    for (size_t i = 0; i < p->n_opset_import; i++) {
        const Onnx__OperatorSetIdProto *o = p->opset_import[i];
        rep->opsets[i].domain = dup_or_null(o->domain, in);
        rep->opsets[i].version = o->has_version ? o->version : 0;
        rep->n_opsets++;
    }
    const Onnx__GraphProto *g = p->graph;
    if (!g)
        return;
    rep->n_nodes = g->n_node;
    for (size_t i = 0; i < g->n_node && !in->rc; i++)
        count_op(in, g->node[i]->domain, g->node[i]->op_type);
    for (size_t i = 0; i < g->n_input; i++)
        if (g->input[i]->name && !is_initializer(g, g->input[i]->name))
            add_declared_port(&rep->sig, g->input[i], false);
    for (size_t i = 0; i < g->n_output; i++)
        add_declared_port(&rep->sig, g->output[i], true);
}

int jn_onnx_inspect(const uint8_t *data, size_t size, const char *what, jn_onnx_report *rep, jn_err *err)
{
    memset(rep, 0, sizeof *rep);
    jn_signature_init(&rep->sig);
    Onnx__ModelProto *p = onnx__model_proto__unpack(NULL, size, data);
    if (!p)
        return jn_err_set(err, JN_EINVAL, "%s: not an ONNX model (the protobuf does not parse)", what);
    if (!p->graph) { /* an empty file parses as an empty ModelProto */
        onnx__model_proto__free_unpacked(p, NULL);
        return jn_err_set(err, JN_EINVAL, "%s: not an ONNX model (it holds no graph)", what);
    }
    struct ox_inspect in = {.rep = rep};
    describe(&in, p);
    onnx__model_proto__free_unpacked(p, NULL);
    if (in.rc)
        return jn_err_set(err, in.rc, "%s: out of memory", what);
    jn_err lerr;
    jn_err_clear(&lerr);
    jn_onnx_model *m = ox_load_bytes(data, size, "", &in, &lerr);
    if (in.rc)
        return jn_err_set(err, in.rc, "%s: out of memory", what);
    if (m) {
        rep->loads = true;
        jn_signature_free(&rep->sig);
        jn_signature_init(&rep->sig);
        int rc = jn_onnx_signature(m, &rep->sig, err);
        jn_onnx_free(m);
        return rc;
    }
    if (lerr.code == JN_ENOMEM)
        return jn_err_set(err, JN_ENOMEM, "%s: out of memory", what);
    if (rep->n_refused == 0 && rep->n_unchecked == 0) { /* refused before or after the nodes: the whole model */
        const char *msg = strncmp(lerr.msg, ": ", 2) == 0 ? lerr.msg + 2 : lerr.msg; /* what was "" */
        add_refusal(&in, &rep->refused, &rep->n_refused, NULL, NULL, NULL, msg);
        if (in.rc)
            return jn_err_set(err, in.rc, "%s: out of memory", what);
    }
    return 0;
}

static void refusals_free(jn_onnx_refusal *r, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(r[i].op_type);
        free(r[i].domain);
        free(r[i].node);
        free(r[i].reason);
    }
    free(r);
}

void jn_onnx_report_free(jn_onnx_report *rep)
{
    if (!rep)
        return;
    free(rep->producer);
    jn_signature_free(&rep->sig);
    for (size_t i = 0; i < rep->n_opsets; i++)
        free(rep->opsets[i].domain);
    free(rep->opsets);
    for (size_t i = 0; i < rep->n_ops; i++) {
        free(rep->ops[i].domain);
        free(rep->ops[i].op_type);
    }
    free(rep->ops);
    refusals_free(rep->refused, rep->n_refused);
    refusals_free(rep->unchecked, rep->n_unchecked);
    memset(rep, 0, sizeof *rep);
}

/* ---------------------------------------------------------------------------------------------------------------
 * The operator list */

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* One domain's table, read through its nth-entry function: sorted, each name once. */
static size_t list_domain(const char *domain, const ox_op *(*nth)(size_t),
                          void (*fn)(void *ctx, const char *domain, const char *op_type), void *ctx)
{
    size_t n = 0;
    while (nth(n))
        n++;
    const char **names = calloc(n + 1, sizeof *names);
    if (!names)
        return 0;
    for (size_t i = 0; i < n; i++)
        names[i] = nth(i)->op_type;
    qsort(names, n, sizeof *names, cmp_str);
    size_t listed = 0;
    for (size_t i = 0; i < n; i++) {
        if (i > 0 && strcmp(names[i], names[i - 1]) == 0)
            continue;
        fn(ctx, domain, names[i]);
        listed++;
    }
    free(names);
    return listed;
}

size_t jn_onnx_operators(void (*fn)(void *ctx, const char *domain, const char *op_type), void *ctx)
{
    /* One line per domain's table. */
    static const struct {
        const char *domain;
        const ox_op *(*nth)(size_t);
    } domains[] = {
        {"", ox_op_nth},
        {"ai.onnx.ml", ox_op_nth_ml},
    };
    size_t listed = 0;
    for (size_t d = 0; d < sizeof domains / sizeof domains[0]; d++)
        listed += list_domain(domains[d].domain, domains[d].nth, fn, ctx);
    return listed;
}
