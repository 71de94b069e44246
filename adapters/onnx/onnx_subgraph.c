/* onnx_subgraph.c — subgraphs (the GRAPH attributes of If, Loop and Scan) as ox_models of their own: loaded and
 * checked through the same steps as the main graph (ox_graph_load), to a bounded depth; the outer values they read
 * become extra runtime inputs of the subgraph and extra inputs of the node that holds it, so the enclosing graph's
 * order, liveness and planning see them (outer constants are shared, not copied). Also the dynamic marks. */
#include <stdlib.h>
#include <string.h>

#include "onnx.h"
#include "onnx_graph.h"

static int find_value(const ox_model *m, const char *name)
{
    for (size_t i = 0; i < m->n_values; i++)
        if (strcmp(m->values[i].name, name) == 0)
            return (int)i;
    return -1;
}

static int grow(void *pp, size_t n, size_t size)
{
    void *np = realloc(*(void **)pp, (n + 1) * size);
    if (!np)
        return -1;
    *(void **)pp = np;
    return 0;
}

int ox_capture(ox_model *m, const char *name, int *v, jn_err *err)
{
    *v = -1;
    ox_model *o = m->outer;
    if (!o)
        return 0;
    int ov = find_value(o, name);
    if (ov < 0 && o->outer && ox_capture(o, name, &ov, err))
        return err->code;
    if (ov < 0)
        return 0;
    int nv = ox_value_add(m, name, err);
    if (nv < 0)
        return nv;
    ox_value *val = &m->values[nv];
    const ox_value *outer = &o->values[ov];
    if (outer->producer >= 0 && (size_t)outer->producer == o->n_nodes && !outer->refused) /* the node being loaded */
        return jn_err_set(err, JN_EUNIMPL, "subgraph reads '%s', an output of the node itself", name);
    val->dtype = outer->dtype;
    val->kind = outer->kind;
    if (outer->konst) {
        val->konst = outer->konst;
        val->konst_shared = true;
        *v = nv;
        return 0;
    }
    if (!m->outer_vals)
        m->n_formal = m->n_inputs;
    size_t k = m->n_inputs, c = k - m->n_formal;
    if (grow(&m->inputs, k + 1, sizeof *m->inputs) || grow(&m->in_ndim, k + 1, sizeof *m->in_ndim) ||
        grow(&m->in_shape, k + 1, sizeof *m->in_shape) || grow(&m->outer_vals, c + 1, sizeof *m->outer_vals))
        return jn_err_set(err, JN_ENOMEM, "out of memory");
    m->inputs[k] = nv;
    m->in_ndim[k] = -1;
    m->outer_vals[c] = ov;
    val->graph_input = (int)k;
    m->n_inputs++;
    *v = nv;
    return 0;
}

static int add_name(const char ***names, size_t *n, size_t *cap, const char *name)
{
    if (!name || !name[0])
        return 0;
    if (*n == *cap) {
        *cap = *cap ? *cap * 2 : 16;
        const char **nn = realloc(*names, *cap * sizeof *nn);
        if (!nn)
            return -1;
        *names = nn;
    }
    (*names)[(*n)++] = name;
    return 0;
}

static int graph_refs(const Onnx__GraphProto *g, const char ***names, size_t *n, size_t *cap, int depth)
{
    if (depth > OX_MAX_GRAPH_DEPTH) /* the loader refuses it later, with a message */
        return 0;
    for (size_t i = 0; i < g->n_node; i++) {
        const Onnx__NodeProto *p = g->node[i];
        for (size_t k = 0; k < p->n_input; k++)
            if (add_name(names, n, cap, p->input[k]))
                return -1;
        for (size_t a = 0; a < p->n_attribute; a++) {
            if (p->attribute[a]->g && graph_refs(p->attribute[a]->g, names, n, cap, depth + 1))
                return -1;
            for (size_t k = 0; k < p->attribute[a]->n_graphs; k++)
                if (graph_refs(p->attribute[a]->graphs[k], names, n, cap, depth + 1))
                    return -1;
        }
    }
    for (size_t i = 0; i < g->n_output; i++)
        if (add_name(names, n, cap, g->output[i]->name))
            return -1;
    return 0;
}

size_t ox_subgraph_refs(const Onnx__NodeProto *p, const char ***names)
{
    size_t n = 0, cap = 0;
    *names = NULL;
    for (size_t a = 0; a < p->n_attribute; a++) {
        int rc = p->attribute[a]->g ? graph_refs(p->attribute[a]->g, names, &n, &cap, 1) : 0;
        for (size_t k = 0; k < p->attribute[a]->n_graphs && !rc; k++)
            rc = graph_refs(p->attribute[a]->graphs[k], names, &n, &cap, 1);
        if (rc) /* out of memory: the order may then be wrong, and the load fails naming the value */
            break;
    }
    return n;
}

void ox_mark_dynamic(ox_model *m)
{
    m->has_dynamic = false;
    for (size_t k = 0; k < m->n_nodes; k++) {
        ox_node *n = &m->nodes[k];
        n->dynamic = n->ext && (n->ext->flags & OX_OP_DYNAMIC);
        for (int i = 0; i < n->n_in && !n->dynamic; i++) {
            if (n->in[i] < 0)
                continue;
            const ox_value *v = &m->values[n->in[i]];
            n->dynamic = v->kind != OX_KIND_TENSOR || (v->producer >= 0 && m->nodes[v->producer].dynamic);
        }
        m->has_dynamic |= n->dynamic;
    }
}

int ox_subgraph_load(ox_model *m, ox_node *n, const char *attr, size_t n_given, const ox_kind *kinds,
                     const jn_dtype *dtypes, ox_model **sg, int **cap_in, jn_err *err)
{
    *sg = NULL;
    *cap_in = NULL;
    const ox_attr *a = ox_attr_find(n, attr);
    if (!a || a->type != OX_ATTR_GRAPH || !a->graph)
        return ox_reject(n, err, "attribute '%s' (a graph) is required", attr);
    if (m->depth + 1 > OX_MAX_GRAPH_DEPTH)
        return ox_reject(n, err, "subgraphs nest deeper than %d levels", OX_MAX_GRAPH_DEPTH);
    const Onnx__GraphProto *gp = a->graph;
    if (gp->n_input != n_given)
        return ox_reject(n, err, "subgraph '%s' has %zu inputs, %zu expected", attr, gp->n_input, n_given);
    ox_model *c = calloc(1, sizeof *c);
    if (!c)
        return jn_err_set(err, JN_ENOMEM, "out of memory");
    pthread_mutex_init(&c->plan_lock, NULL);
    c->outer = m;
    c->depth = m->depth + 1;
    c->opset = m->opset;
    c->max_tensor_bytes = m->max_tensor_bytes;
    c->max_loop_iterations = m->max_loop_iterations;
    c->max_plans = m->max_plans;
    if (ox_graph_load(c, a->graph, kinds, dtypes, n_given, err)) {
        jn_err_prefix(err, "operator %s (node '%s'): subgraph '%s'", n->op_type, n->name, attr);
        jn_onnx_free(c);
        return err->code;
    }
    if (!c->outer_vals)
        c->n_formal = c->n_inputs;
    if (c->n_formal != n_given) {
        jn_onnx_free(c);
        return ox_reject(n, err, "subgraph '%s' has %zu inputs, %zu expected", attr, c->n_formal, n_given);
    }
    size_t n_cap = c->n_inputs - c->n_formal;
    int *pos = calloc(n_cap + 1, sizeof *pos);
    if (!pos || grow(&m->subs, m->n_subs + 1, sizeof *m->subs)) {
        free(pos);
        jn_onnx_free(c);
        return jn_err_set(err, JN_ENOMEM, "out of memory");
    }
    m->subs[m->n_subs++] = c; /* from here on freed with the node's params, through the caller */
    *sg = c;
    *cap_in = pos;
    for (size_t k = 0; k < n_cap; k++) {
        int ov = c->outer_vals[k], at = -1;
        for (int o = 0; o < n->n_out; o++)
            if (n->out[o] == ov)
                return ox_reject(n, err, "subgraph '%s' reads '%s', an output of the node itself", attr,
                                 m->values[ov].name);
        for (int j = 0; j < n->n_in && at < 0; j++)
            if (n->in[j] == ov)
                at = j;
        if (at < 0) {
            if (n->n_in >= OX_MAX_IO)
                return ox_reject(n, err, "its subgraphs read more than %d values", OX_MAX_IO);
            if (grow(&n->in, (size_t)n->n_in + 1, sizeof *n->in))
                return jn_err_set(err, JN_ENOMEM, "out of memory");
            at = n->n_in++;
            n->in[at] = ov;
        }
        pos[k] = at;
    }
    return 0;
}

const ox_op_ext *ox_op_ext_find(const ox_op *op)
{
    const ox_op_ext *const *tables[] = {ox_exts_rnn, ox_exts_control, ox_exts_seq};
    for (size_t t = 0; t < sizeof tables / sizeof tables[0]; t++)
        for (const ox_op_ext *const *e = tables[t]; *e; e++)
            if ((*e)->op == op)
                return *e;
    return NULL;
}
