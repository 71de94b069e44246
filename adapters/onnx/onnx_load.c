/* onnx_load.c — ModelProto -> ox_model: opset check, values (graph inputs, initializers, node outputs), attributes
 * copied out of the protobuf, Constant folding, topological order, per-node checks (operator, attributes, dtypes),
 * and the marks the planner needs (which values decide shapes, when each value is last read). Subgraphs go
 * through the same steps (ox_graph_load), driven by onnx_subgraph.c; the protobuf conversions are in onnx_proto.c. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "onnx.h"
#include "onnx_graph.h"
#include "onnx_proto.h"

/* The newest default-domain opset whose operator semantics this adapter follows (ONNX 1.16). */
#define OX_MAX_OPSET 21

static char *dup_str(const char *s)
{
    return strdup(s ? s : "");
}

/* ---------------------------------------------------------------------------------------------------------------
 * Values */

static int value_find(const ox_model *m, const char *name)
{
    for (size_t i = 0; i < m->n_values; i++)
        if (strcmp(m->values[i].name, name) == 0)
            return (int)i;
    return -1;
}

static void node_free(ox_node *n)
{
    free(n->op_type);
    free(n->name);
    free(n->in);
    free(n->out);
    for (size_t i = 0; i < n->n_attrs; i++) {
        free(n->attrs[i].name);
        free(n->attrs[i].s);
        free(n->attrs[i].floats);
        free(n->attrs[i].ints);
        free(n->attrs[i].t);
        for (size_t k = 0; n->attrs[i].strs && k < n->attrs[i].n; k++)
            free(n->attrs[i].strs[k]);
        free(n->attrs[i].strs);
    }
    free(n->attrs);
    if (n->params && n->ext && n->ext->free_params)
        n->ext->free_params(n->params);
    else
        free(n->params);
}

int ox_reject(const ox_node *n, jn_err *err, const char *fmt, ...)
{
    char reason[700];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(reason, sizeof reason, fmt, ap);
    va_end(ap);
    return jn_err_set(err, JN_EUNIMPL, "operator %s (node '%s'): %s", n->op_type, n->name, reason);
}

jn_dtype ox_in_dtype(const ox_model *m, const ox_node *n, int i)
{
    return i < n->n_in && n->in[i] >= 0 ? m->values[n->in[i]].dtype : JN_DTYPE_INVALID;
}

const ox_tensor *ox_in_const(const ox_model *m, const ox_node *n, int i)
{
    return i < n->n_in && n->in[i] >= 0 ? m->values[n->in[i]].konst : NULL;
}

int ox_in_rank(const ox_model *m, const ox_node *n, int i)
{
    if (!ox_has_in(n, i))
        return -1;
    const ox_value *v = &m->values[n->in[i]];
    if (v->konst)
        return v->konst->ndim;
    if (v->graph_input >= 0)
        return m->in_ndim[v->graph_input];
    return -1;
}

bool ox_has_in(const ox_node *n, int i)
{
    return i < n->n_in && n->in[i] >= 0;
}

void ox_set_out_dtype(ox_model *m, ox_node *n, int i, jn_dtype dtype)
{
    if (i < n->n_out && n->out[i] >= 0)
        m->values[n->out[i]].dtype = dtype;
}

/* Constant: its value becomes a constant of the model; the node is not kept. */
static int fold_constant(ox_model *m, ox_node *n, jn_err *err)
{
    if (n->n_attrs != 1)
        return ox_reject(n, err, "expects exactly one value attribute, has %zu", n->n_attrs);
    const ox_attr *a = &n->attrs[0];
    ox_tensor *t = NULL;
    if (strcmp(a->name, "value") == 0 && a->type == OX_ATTR_TENSOR) {
        t = ox_tensor_new(a->t->dtype, a->t->ndim, a->t->shape, err);
        if (t)
            memcpy(t->data, a->t->data, a->t->nbytes);
    } else if (strcmp(a->name, "value_float") == 0 && a->type == OX_ATTR_FLOAT) {
        t = ox_tensor_new(JN_DTYPE_FP32, 0, NULL, err);
        if (t)
            *(float *)t->data = a->f;
    } else if (strcmp(a->name, "value_int") == 0 && a->type == OX_ATTR_INT) {
        t = ox_tensor_new(JN_DTYPE_INT64, 0, NULL, err);
        if (t)
            *(int64_t *)t->data = a->i;
    } else if (strcmp(a->name, "value_floats") == 0 && a->type == OX_ATTR_FLOATS) {
        int64_t len = (int64_t)a->n;
        t = ox_tensor_new(JN_DTYPE_FP32, 1, &len, err);
        if (t && a->n)
            memcpy(t->data, a->floats, a->n * sizeof(float));
    } else if (strcmp(a->name, "value_ints") == 0 && a->type == OX_ATTR_INTS) {
        int64_t len = (int64_t)a->n;
        t = ox_tensor_new(JN_DTYPE_INT64, 1, &len, err);
        if (t && a->n)
            memcpy(t->data, a->ints, a->n * sizeof(int64_t));
    } else {
        return ox_reject(n, err, "attribute '%s' of this type is not supported", a->name);
    }
    if (!t)
        return err->code;
    ox_value *v = &m->values[n->out[0]];
    v->konst = t;
    v->dtype = t->dtype;
    v->producer = -1;
    return 0;
}

static int node_check_attrs(const ox_node *n, jn_err *err)
{
    for (size_t i = 0; i < n->n_attrs; i++) {
        bool known = false;
        for (const char *const *a = n->op->attrs; a && *a; a++)
            if (strcmp(*a, n->attrs[i].name) == 0)
                known = true;
        if (!known)
            return ox_reject(n, err, "attribute '%s' is not supported", n->attrs[i].name);
        if (n->attrs[i].type == OX_ATTR_OTHER)
            return ox_reject(n, err, "attribute '%s' has a type that is not supported", n->attrs[i].name);
    }
    return 0;
}

/* Copies one NodeProto (value indices resolved, outputs created). */
static int node_build(ox_model *m, const Onnx__NodeProto *p, size_t index, ox_node *n, jn_err *err)
{
    memset(n, 0, sizeof *n);
    n->op_type = dup_str(p->op_type);
    char fallback[32];
    snprintf(fallback, sizeof fallback, "#%zu", index);
    n->name = dup_str(p->name && p->name[0] ? p->name : fallback);
    n->opset = (int)m->opset;
    if (!n->op_type || !n->name)
        return jn_err_set(err, JN_ENOMEM, "out of memory");
    if (p->domain && p->domain[0] && strcmp(p->domain, "ai.onnx") != 0 && !ox_domain_is_ml(p->domain))
        return ox_reject(n, err, "domain '%s' is not supported (only the default ONNX domain and ai.onnx.ml)",
                         p->domain);
    if (!ox_domain_is_ml(p->domain) && n->opset < 1)
        return ox_reject(n, err, "the model imports no version of the default ONNX opset");
    n->op = ox_domain_is_ml(p->domain) ? ox_op_find_ml(n->op_type) : ox_op_find(n->op_type);
    if (!n->op)
        return ox_reject(n, err, "operator not supported");
    n->ext = ox_op_ext_find(n->op);
    if ((int)p->n_input < n->op->min_in || (int)p->n_input > n->op->max_in ||
        (int)p->n_output < n->op->min_out || (int)p->n_output > n->op->max_out)
        return ox_reject(n, err, "%zu inputs / %zu outputs: expects %d-%d inputs and %d-%d outputs", p->n_input,
                         p->n_output, n->op->min_in, n->op->max_in, n->op->min_out, n->op->max_out);
    n->n_in = (int)p->n_input;
    n->n_out = (int)p->n_output;
    n->in = malloc((p->n_input + 1) * sizeof(int));
    n->out = malloc((p->n_output + 1) * sizeof(int));
    n->attrs = calloc(p->n_attribute + 1, sizeof *n->attrs);
    if (!n->in || !n->out || !n->attrs)
        return jn_err_set(err, JN_ENOMEM, "out of memory");
    for (size_t i = 0; i < p->n_attribute; i++) {
        char what[300];
        snprintf(what, sizeof what, "operator %s (node '%s')", n->op_type, n->name);
        n->n_attrs = i + 1;
        if (ox_attr_copy(&n->attrs[i], p->attribute[i], what, err))
            return err->code;
    }
    for (size_t i = 0; i < p->n_input; i++) {
        const char *name = p->input[i];
        if (!name || !name[0]) {
            n->in[i] = -1;
            continue;
        }
        n->in[i] = value_find(m, name);
        if (n->in[i] < 0 && m->outer && ox_capture(m, name, &n->in[i], err))
            return err->code;
        if (n->in[i] < 0)
            return jn_err_set(err, JN_EINVAL, "node '%s' (%s): input '%s' is produced by nothing", n->name,
                              n->op_type, name);
    }
    for (size_t i = 0; i < p->n_output; i++) {
        const char *name = p->output[i];
        if (!name || !name[0]) {
            n->out[i] = -1;
            continue;
        }
        if (value_find(m, name) >= 0)
            return jn_err_set(err, JN_EINVAL, "node '%s' (%s): output '%s' is defined twice", n->name,
                              n->op_type, name);
        int v = ox_value_add(m, name, err);
        if (v < 0)
            return v;
        m->values[v].producer = (int)index;
        n->out[i] = v;
    }
    return 0;
}

/* ---------------------------------------------------------------------------------------------------------------
 * The model */

void jn_onnx_free(jn_onnx_model *m)
{
    if (!m)
        return;
    ox_plans_free(m);
    pthread_mutex_destroy(&m->plan_lock);
    for (size_t i = 0; i < m->n_values; i++) {
        free(m->values[i].name);
        if (!m->values[i].konst_shared)
            free(m->values[i].konst);
    }
    free(m->values);
    for (size_t i = 0; i < m->n_nodes; i++)
        node_free(&m->nodes[i]);
    free(m->nodes);
    free(m->inputs);
    free(m->outputs);
    free(m->in_ndim);
    free(m->out_ndim);
    free(m->in_shape);
    free(m->out_shape);
    free(m->outer_vals);
    free(m->subs);
    free(m);
}

static int check_opsets(ox_model *m, const Onnx__ModelProto *p, jn_err *err)
{
    m->opset = -1;
    for (size_t i = 0; i < p->n_opset_import; i++) {
        const Onnx__OperatorSetIdProto *o = p->opset_import[i];
        const char *d = o->domain ? o->domain : "";
        if (d[0] == '\0' || strcmp(d, "ai.onnx") == 0)
            m->opset = o->has_version ? o->version : 0;
        /* Other domains (ai.onnx.ml, com.microsoft, ai.onnx.preview.training) may be imported: exporters add
         * them whether or not a node uses them. A node of such a domain is refused by node_build. */
    }
    if (m->opset < 0 && p->n_opset_import == 0 && p->has_ir_version && p->ir_version < 3)
        m->opset = 1; /* IR < 3 had no opset_import: the first opset */
    if (m->opset < 1 && p->n_opset_import == 0)
        return jn_err_set(err, JN_EINVAL, "the model imports no version of the default ONNX opset");
    /* Only other domains imported: a default-domain node is refused by node_build, naming itself. */
    if (m->opset > OX_MAX_OPSET)
        return jn_err_set(err, JN_EUNIMPL, "opset %lld is newer than the newest this adapter follows (%d)",
                          (long long)m->opset, OX_MAX_OPSET);
    return 0;
}

/* `given` (may be NULL): the kinds and dtypes the enclosing node passes a subgraph's first n_given inputs, which
 * bodies often leave undeclared. */
static int load_values(ox_model *m, const Onnx__GraphProto *g, const ox_kind *kinds, const jn_dtype *dtypes,
                       size_t n_given, jn_err *err)
{
    for (size_t i = 0; i < g->n_initializer; i++) {
        const Onnx__TensorProto *tp = g->initializer[i];
        const char *name = tp->name ? tp->name : "";
        if (!name[0])
            return jn_err_set(err, JN_EINVAL, "initializer %zu has no name", i);
        if (value_find(m, name) >= 0)
            return jn_err_set(err, JN_EINVAL, "initializer '%s' is defined twice", name);
        char what[300];
        snprintf(what, sizeof what, "initializer '%s'", name);
        ox_tensor *t = ox_tensor_from_proto(tp, what, err);
        if (!t)
            return err->code;
        int v = ox_value_add(m, name, err);
        if (v < 0) {
            free(t);
            return v;
        }
        m->values[v].konst = t;
        m->values[v].dtype = t->dtype;
    }
    if (g->n_sparse_initializer)
        return jn_err_set(err, JN_EUNIMPL, "sparse initializers are not supported");
    m->inputs = calloc(g->n_input + 1, sizeof(int));
    m->in_ndim = calloc(g->n_input + 1, sizeof(int));
    m->in_shape = calloc(g->n_input + 1, sizeof *m->in_shape);
    if (!m->inputs || !m->in_ndim || !m->in_shape)
        return jn_err_set(err, JN_ENOMEM, "out of memory");
    for (size_t i = 0; i < g->n_input; i++) {
        const Onnx__ValueInfoProto *vi = g->input[i];
        const char *name = vi->name ? vi->name : "";
        if (!name[0])
            return jn_err_set(err, JN_EINVAL, "graph input %zu has no name", i);
        int existing = value_find(m, name);
        if (existing >= 0 && m->values[existing].konst)
            continue; /* an initializer listed among the inputs (IR < 4): a constant, not a runtime input */
        if (existing >= 0)
            return jn_err_set(err, JN_EINVAL, "graph input '%s' is listed twice", name);
        size_t k = m->n_inputs;
        jn_dtype dt = JN_DTYPE_INVALID;
        ox_kind kind = OX_KIND_TENSOR;
        m->in_ndim[k] = -1;
        if (k < n_given && !vi->type) { /* a subgraph input left untyped: the enclosing node's type */
            kind = kinds[k];
            dt = dtypes[k];
        } else if (ox_value_info_type(vi, m->outer ? "subgraph input" : "graph input", m->outer || m->seq_io,
                                      &kind, &dt, &m->in_ndim[k], m->in_shape[k], err)) {
            return err->code;
        }
        if (k < n_given && (kind != kinds[k] || (dt != dtypes[k] && dtypes[k] != JN_DTYPE_INVALID)))
            return jn_err_set(err, JN_EINVAL, "subgraph input '%s' is declared %s, but is passed %s", name,
                              jn_dtype_name(dt), jn_dtype_name(dtypes[k]));
        if (m->in_ndim[k] < 0 && !m->outer && kind == OX_KIND_TENSOR)
            return jn_err_set(err, JN_EUNIMPL, "graph input '%s': unknown rank is not supported", name);
        int v = ox_value_add(m, name, err);
        if (v < 0)
            return v;
        m->values[v].dtype = dt;
        m->values[v].kind = kind;
        m->values[v].graph_input = (int)k;
        m->inputs[k] = v;
        m->n_inputs++;
    }
    return 0;
}

/* Kahn's algorithm over the nodes as listed (ONNX requires them sorted, but does not every exporter). */
static int topo_order(ox_model *m, const Onnx__GraphProto *g, size_t **order_out, jn_err *err)
{
    size_t n = g->n_node;
    size_t *order = malloc((n + 1) * sizeof *order);
    bool *done = calloc(n + 1, 1);
    if (!order || !done) {
        free(order);
        free(done);
        return jn_err_set(err, JN_ENOMEM, "out of memory");
    }
    size_t placed = 0;
    bool progress = true;
    while (placed < n && progress) {
        progress = false;
        for (size_t i = 0; i < n; i++) {
            if (done[i])
                continue;
            const Onnx__NodeProto *p = g->node[i];
            /* Its inputs, then the outer values its subgraphs read. */
            const char **refs = NULL;
            size_t n_refs = ox_subgraph_refs(p, &refs);
            bool ok = true;
            for (size_t k = 0; k < p->n_input + n_refs && ok; k++) {
                const char *name = k < p->n_input ? p->input[k] : refs[k - p->n_input];
                if (!name || !name[0])
                    continue;
                bool made_by_node = false;
                for (size_t j = 0; j < n && !made_by_node; j++)
                    for (size_t o = 0; o < g->node[j]->n_output; o++)
                        if (j != i && g->node[j]->output[o] && strcmp(g->node[j]->output[o], name) == 0) {
                            made_by_node = true;
                            ok = done[j];
                            break;
                        }
            }
            free(refs);
            if (ok) {
                done[i] = true;
                order[placed++] = i;
                progress = true;
            }
        }
    }
    free(done);
    if (placed < n) {
        free(order);
        return jn_err_set(err, JN_EINVAL, "the graph has a cycle");
    }
    *order_out = order;
    return 0;
}

/* Node `n` (built from `p`, maybe partly) failed with rc: the load stops there (rc returned), or, when inspecting,
 * the refusal is recorded, its outputs marked unknown and the load goes on (0). The node is freed either way.
 * `position`: p's index in the file's node list. */
static int node_failed(ox_model *m, const Onnx__NodeProto *p, size_t position, ox_node *n, int rc, jn_err *err)
{
    rc = ox_inspect_node_failed(m, n, p->name, position, p->domain, (const char *const *)p->output, p->n_output,
                                rc, err);
    node_free(n);
    return rc;
}

static int load_nodes(ox_model *m, const Onnx__GraphProto *g, jn_err *err)
{
    size_t *order = NULL;
    if (topo_order(m, g, &order, err))
        return err->code;
    m->nodes = calloc(g->n_node + 1, sizeof *m->nodes);
    if (!m->nodes) {
        free(order);
        return jn_err_set(err, JN_ENOMEM, "out of memory");
    }
    int rc = 0;
    for (size_t k = 0; k < g->n_node && !rc; k++) {
        const Onnx__NodeProto *p = g->node[order[k]];
        ox_node *n = &m->nodes[m->n_nodes];
        rc = node_build(m, p, m->n_nodes, n, err);
        if (rc) {
            rc = node_failed(m, p, order[k], n, rc, err);
            continue;
        }
        /* Optional inputs may be left out (""); required ones and the first output may not. */
        for (int i = 0; i < n->op->min_in && i < n->n_in && !rc; i++)
            if (n->in[i] < 0)
                rc = ox_reject(n, err, "input %d is required but left out", i);
        unsigned flags = n->ext ? n->ext->flags : 0;
        if (!rc && n->n_out > 0 && n->out[0] < 0 && !(flags & OX_OP_OPT_OUT0))
            rc = ox_reject(n, err, "output 0 is required but left out");
        for (int i = 0; i < n->n_in && !rc && !(flags & OX_OP_ANY_KIND); i++) {
            if (n->in[i] < 0 || m->values[n->in[i]].kind == OX_KIND_TENSOR)
                continue;
            const ox_op *any = ox_op_any_kind(n->op);
            if (!any) {
                rc = ox_reject(n, err, "input '%s' is a sequence or optional; the operator takes tensors",
                               m->values[n->in[i]].name);
                break;
            }
            n->op = any;
            n->ext = ox_op_ext_find(any);
            flags = n->ext->flags;
        }
        bool unknown = ox_inspect_reads_refused(m, n); /* inspecting: an input's dtype is unknown */
        for (int i = 0; i < n->n_in && !rc && !unknown; i++)
            if (n->in[i] >= 0 && !ox_dtype_supported(m->values[n->in[i]].dtype))
                rc = ox_reject(n, err, "input '%s' has dtype %s, which is not supported",
                               m->values[n->in[i]].name, jn_dtype_name(m->values[n->in[i]].dtype));
        if (!rc)
            rc = node_check_attrs(n, err);
        if (!rc && unknown)
            rc = ox_inspect_unchecked(m, n, err);
        if (strcmp(n->op_type, "Constant") == 0) {
            if (!rc)
                rc = fold_constant(m, n, err);
            if (rc)
                rc = node_failed(m, p, order[k], n, rc, err);
            else
                node_free(n);
            continue;
        }
        if (!rc)
            rc = ox_half_check(m, n, err);
        for (int i = 0; i < n->n_out && !rc; i++)
            if (n->out[i] >= 0 && !ox_dtype_supported(m->values[n->out[i]].dtype))
                rc = ox_reject(n, err, "output '%s' would have dtype %s, which is not supported",
                               m->values[n->out[i]].name, jn_dtype_name(m->values[n->out[i]].dtype));
        if (rc) {
            rc = node_failed(m, p, order[k], n, rc, err);
            continue;
        }
        for (int i = 0; i < n->n_out; i++)
            if (n->out[i] >= 0)
                m->values[n->out[i]].producer = (int)m->n_nodes;
        m->n_nodes++;
    }
    free(order);
    return rc;
}

/* jn_onnx_load_bytes_tapped's extra outputs, after the declared ones (room for them was allocated). */
static int load_taps(ox_model *m, jn_err *err)
{
    for (size_t i = 0; i < m->n_taps; i++) {
        const char *name = m->taps[i] ? m->taps[i] : "";
        int v = value_find(m, name);
        if (v < 0)
            return jn_err_set(err, JN_EINVAL, "tapped value '%s': the graph has no value of that name", name);
        if (m->values[v].graph_output)
            return jn_err_set(err, JN_EINVAL, "tapped value '%s' is already a graph output (or tapped twice)",
                              name);
        if (m->values[v].kind != OX_KIND_TENSOR)
            return jn_err_set(err, JN_EINVAL, "tapped value '%s' is not a tensor", name);
        if (m->values[v].konst || m->values[v].graph_input >= 0)
            return jn_err_set(err, JN_EINVAL, "tapped value '%s' is a %s, not computed", name,
                              m->values[v].konst ? "constant" : "graph input");
        m->values[v].graph_output = true;
        m->out_ndim[m->n_outputs] = -1;
        m->outputs[m->n_outputs++] = v;
    }
    return 0;
}

static int load_outputs(ox_model *m, const Onnx__GraphProto *g, jn_err *err)
{
    m->outputs = calloc(g->n_output + m->n_taps + 1, sizeof(int));
    m->out_ndim = calloc(g->n_output + m->n_taps + 1, sizeof(int));
    m->out_shape = calloc(g->n_output + m->n_taps + 1, sizeof *m->out_shape);
    if (!m->outputs || !m->out_ndim || !m->out_shape)
        return jn_err_set(err, JN_ENOMEM, "out of memory");
    if (g->n_output == 0)
        return jn_err_set(err, JN_EINVAL, "the graph has no outputs");
    for (size_t i = 0; i < g->n_output; i++) {
        const Onnx__ValueInfoProto *vi = g->output[i];
        const char *name = vi->name ? vi->name : "";
        int v = value_find(m, name);
        if (v < 0 && m->outer && ox_capture(m, name, &v, err))
            return err->code;
        if (v < 0)
            return jn_err_set(err, JN_EINVAL, "graph output '%s' is produced by nothing", name);
        for (size_t j = 0; j < i; j++)
            if (m->outputs[j] == v)
                return jn_err_set(err, JN_EINVAL, "graph output '%s' is listed twice", name);
        jn_dtype dt = m->values[v].dtype;
        ox_kind kind = m->values[v].kind;
        m->out_ndim[i] = -1;
        if ((vi->type || !m->outer) &&
            ox_value_info_type(vi, m->outer ? "subgraph output" : "graph output", m->outer || m->seq_io, &kind, &dt,
                               &m->out_ndim[i], m->out_shape[i], err))
            return err->code;
        if (dt != m->values[v].dtype || kind != m->values[v].kind)
            return jn_err_set(err, JN_EINVAL, "graph output '%s' is declared %s but computes as %s%s", name,
                              jn_dtype_name(dt), jn_dtype_name(m->values[v].dtype),
                              kind != m->values[v].kind ? " (or its kind differs: tensor, sequence, optional)" : "");
        m->values[v].graph_output = true;
        m->outputs[i] = v;
        m->n_outputs++;
    }
    return load_taps(m, err);
}

/* Values whose contents decide shapes: the planner keys its cache on the graph inputs among them. */
static void mark_shape_data(ox_model *m)
{
    for (size_t k = m->n_nodes; k-- > 0;) {
        const ox_node *n = &m->nodes[k];
        bool out_is_shape_data = false;
        for (int i = 0; i < n->n_out; i++)
            if (n->out[i] >= 0 && m->values[n->out[i]].shape_data)
                out_is_shape_data = true;
        bool shape_only = strcmp(n->op_type, "Shape") == 0; /* reads its input's shape, not its values */
        for (int i = 0; i < n->n_in; i++) {
            if (n->in[i] < 0)
                continue;
            if ((n->op->shape_inputs >> i) & 1u)
                m->values[n->in[i]].shape_data = true;
            if (out_is_shape_data && !shape_only)
                m->values[n->in[i]].shape_data = true;
        }
    }
    for (size_t k = 0; k < m->n_nodes; k++)
        for (int i = 0; i < m->nodes[k].n_in; i++)
            if (m->nodes[k].in[i] >= 0)
                m->values[m->nodes[k].in[i]].last_use = (int)k;
}

int ox_graph_load(ox_model *m, const Onnx__GraphProto *g, const ox_kind *kinds, const jn_dtype *dtypes,
                  size_t n_given, jn_err *err)
{
    int rc = load_values(m, g, kinds, dtypes, n_given, err);
    if (!rc)
        rc = load_nodes(m, g, err);
    if (!rc)
        rc = ox_inspect_found(m, err); /* refused nodes were recorded: the outputs cannot be checked */
    if (!rc)
        rc = load_outputs(m, g, err);
    if (rc)
        return rc;
    ox_fuse(m);
    mark_shape_data(m);
    ox_mark_dynamic(m);
    return 0;
}

static jn_onnx_model *load_bytes(const uint8_t *data, size_t size, const char *what, struct ox_inspect *inspect,
                                 unsigned flags, const char *const *taps, size_t n_taps, jn_err *err);

jn_onnx_model *jn_onnx_load_bytes(const uint8_t *data, size_t size, const char *what, jn_err *err)
{
    return load_bytes(data, size, what, NULL, 0, NULL, 0, err);
}

jn_onnx_model *jn_onnx_load_bytes_flags(const uint8_t *data, size_t size, const char *what, unsigned flags,
                                        jn_err *err)
{
    return load_bytes(data, size, what, NULL, flags, NULL, 0, err);
}

jn_onnx_model *ox_load_bytes(const uint8_t *data, size_t size, const char *what, struct ox_inspect *inspect,
                             jn_err *err)
{
    return load_bytes(data, size, what, inspect, 0, NULL, 0, err);
}

jn_onnx_model *jn_onnx_load_bytes_tapped(const uint8_t *data, size_t size, const char *what,
                                         const char *const *taps, size_t n_taps, jn_err *err)
{
    return load_bytes(data, size, what, NULL, 0, taps, n_taps, err);
}

static jn_onnx_model *load_bytes(const uint8_t *data, size_t size, const char *what, struct ox_inspect *inspect,
                                 unsigned flags, const char *const *taps, size_t n_taps, jn_err *err)
{
    Onnx__ModelProto *p = onnx__model_proto__unpack(NULL, size, data);
    if (!p) {
        jn_err_set(err, JN_EINVAL, "%s: not an ONNX model (the protobuf does not parse)", what);
        return NULL;
    }
    ox_model *m = calloc(1, sizeof *m);
    if (!m) {
        onnx__model_proto__free_unpacked(p, NULL);
        jn_err_set(err, JN_ENOMEM, "out of memory");
        return NULL;
    }
    pthread_mutex_init(&m->plan_lock, NULL);
    m->max_tensor_bytes = JN_ONNX_MAX_TENSOR_BYTES;
    m->max_loop_iterations = JN_ONNX_MAX_LOOP_ITERATIONS;
    m->max_plans = JN_ONNX_MAX_PLANS;
    m->seq_io = (flags & JN_ONNX_LOAD_SEQUENCE_IO) != 0;
    m->inspect = inspect;
    m->taps = taps;
    m->n_taps = n_taps;
    int rc = check_opsets(m, p, err);
    if (!rc && !p->graph)
        rc = jn_err_set(err, JN_EINVAL, "the model has no graph");
    if (!rc && p->n_functions)
        rc = jn_err_set(err, JN_EUNIMPL, "model-local functions are not supported");
    if (!rc && p->n_training_info)
        rc = jn_err_set(err, JN_EUNIMPL, "training information is not supported");
    if (!rc)
        rc = ox_graph_load(m, p->graph, NULL, NULL, 0, err);
    m->taps = NULL; /* the caller's */
    onnx__model_proto__free_unpacked(p, NULL);
    if (rc) {
        jn_err_prefix(err, "%s", what);
        jn_onnx_free(m);
        return NULL;
    }
    return m;
}

void jn_onnx_set_max_tensor_bytes(jn_onnx_model *m, size_t bytes)
{
    m->max_tensor_bytes = bytes;
    for (size_t i = 0; i < m->n_subs; i++)
        jn_onnx_set_max_tensor_bytes(m->subs[i], bytes);
}

void jn_onnx_set_max_loop_iterations(jn_onnx_model *m, int64_t iterations)
{
    m->max_loop_iterations = iterations; /* the count is the call's: subgraphs draw on their caller's */
    for (size_t i = 0; i < m->n_subs; i++)
        jn_onnx_set_max_loop_iterations(m->subs[i], iterations);
}

void jn_onnx_set_max_plans(jn_onnx_model *m, size_t plans)
{
    m->max_plans = plans;
}

jn_onnx_model *jn_onnx_load_file(const char *path, jn_err *err)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        jn_err_set(err, JN_EIO, "%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    uint8_t *buf = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        if (len == cap) {
            cap = cap ? cap * 2 : 1 << 16;
            uint8_t *nb = realloc(buf, cap);
            if (!nb) {
                free(buf);
                fclose(f);
                jn_err_set(err, JN_ENOMEM, "%s: out of memory", path);
                return NULL;
            }
            buf = nb;
        }
        size_t got = fread(buf + len, 1, cap - len, f);
        len += got;
        if (got == 0)
            break;
    }
    bool bad = ferror(f);
    fclose(f);
    if (bad) {
        free(buf);
        jn_err_set(err, JN_EIO, "%s: read error", path);
        return NULL;
    }
    jn_onnx_model *m = jn_onnx_load_bytes(buf, len, path, err);
    free(buf);
    return m;
}
