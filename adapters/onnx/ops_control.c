/* ops_control.c — control flow: If (opsets 1, 11, 13, 16), Loop (1, 11, 13, 16), Scan (8, 9, 11, 16) and
 * SequenceMap (17). Their
 * subgraphs are loaded at check time (onnx_subgraph.c) and run through ox_graph_run, each with its own plan cache
 * keyed by its input shapes. All three are dynamic operators: they size their outputs after running.
 *
 * Bounds: every iteration (Loop, Scan, SequenceMap, at any depth) counts against the call's budget (the model's
 * max_loop_iterations: JN_ERESOURCE past it) and checks the call's deadline and cancellation; scan outputs grow
 * only up to the model's max_tensor_bytes.
 *
 * Thread-safety: no state outside the call; the subgraphs are read-only models. */
#include <stdlib.h>
#include <string.h>

#include "onnx.h"
#include "onnx_graph.h"

typedef struct ctl_params {
    ox_model *g[2];  /* If: then, else; Loop and Scan: body */
    int *cap[2];     /* positions in the node's inputs of each subgraph's outer values */
    int n_formal;    /* the node's own inputs (before the outer values were appended) */
    int n_state;     /* Loop: carried values; Scan: states */
    int n_scan_in;   /* Scan */
    int scan8;       /* Scan-8 (a batch axis, sequence_lens first) */
    int64_t *in_axes, *in_dirs, *out_axes, *out_dirs;
} ctl_params;

static void ctl_free(void *pp)
{
    ctl_params *p = pp;
    for (int i = 0; i < 2; i++) {
        jn_onnx_free(p->g[i]);
        free(p->cap[i]);
    }
    free(p->in_axes);
    free(p->in_dirs);
    free(p->out_axes);
    free(p->out_dirs);
    free(p);
}

static ctl_params *ctl_new(ox_node *n, jn_err *err)
{
    ctl_params *p = calloc(1, sizeof *p);
    if (!p) {
        jn_err_set(err, JN_ENOMEM, "out of memory");
        return NULL;
    }
    n->params = p;
    p->n_formal = n->n_in;
    return p;
}

/* Declares output i of n as subgraph output j of g. */
static void out_from(ox_model *m, ox_node *n, int i, const ox_model *g, size_t j)
{
    if (i < n->n_out && n->out[i] >= 0) {
        m->values[n->out[i]].dtype = g->values[g->outputs[j]].dtype;
        m->values[n->out[i]].kind = g->values[g->outputs[j]].kind;
    }
}

/* The subgraph's inputs: `first` values, then its outer values from the node's inputs. */
static ox_val *sub_inputs(ox_exec *x, const ox_node *n, const ox_model *g, const int *cap, const ox_val *first,
                          size_t n_first, jn_err *err)
{
    ox_val *v = calloc(g->n_inputs + 1, sizeof *v);
    if (!v) {
        jn_err_set(err, JN_ENOMEM, "out of memory");
        return NULL;
    }
    for (size_t i = 0; i < n_first; i++)
        v[i] = first[i];
    for (size_t k = 0; k < g->n_inputs - g->n_formal; k++)
        v[g->n_formal + k] = ox_exec_in(x, n, cap[k]);
    return v;
}

static int run_sub(ox_exec *x, ox_model *g, ox_val *in, ox_val **out, jn_err *err)
{
    *out = calloc(g->n_outputs + 1, sizeof **out);
    if (!*out)
        return jn_err_set(err, JN_ENOMEM, "out of memory");
    return ox_exec_run_sub(x, g, in, *out, err);
}

static void release_all(ox_val *v, size_t n)
{
    for (size_t i = 0; v && i < n; i++)
        ox_val_release(&v[i]);
    free(v);
}

static bool is_true_scalar(const ox_tensor *t, bool *val)
{
    if (t->dtype != JN_DTYPE_BOOL || ox_count(t) != 1)
        return false;
    *val = ((const uint8_t *)t->data)[0] != 0;
    return true;
}

/* ---------------------------------------------------------------------------------------------------------------
 * If */

static const char *const if_attrs[] = {"then_branch", "else_branch", NULL};

static int if_check(ox_model *m, ox_node *n, jn_err *err)
{
    ctl_params *p = ctl_new(n, err);
    if (!p)
        return err->code;
    if (ox_in_dtype(m, n, 0) != JN_DTYPE_BOOL)
        return ox_reject(n, err, "cond has dtype %s (BOOL expected)", jn_dtype_name(ox_in_dtype(m, n, 0)));
    if (ox_subgraph_load(m, n, "then_branch", 0, NULL, NULL, &p->g[0], &p->cap[0], err) ||
        ox_subgraph_load(m, n, "else_branch", 0, NULL, NULL, &p->g[1], &p->cap[1], err))
        return err->code;
    for (int b = 0; b < 2; b++)
        if (p->g[b]->n_outputs != (size_t)n->n_out)
            return ox_reject(n, err, "%s has %zu outputs, the node %d", b ? "else_branch" : "then_branch",
                             p->g[b]->n_outputs, n->n_out);
    for (int i = 0; i < n->n_out; i++) {
        const ox_value *a = &p->g[0]->values[p->g[0]->outputs[i]], *b = &p->g[1]->values[p->g[1]->outputs[i]];
        if (a->dtype != b->dtype || a->kind != b->kind)
            return ox_reject(n, err, "output %d: the branches give different types (%s and %s)", i,
                             jn_dtype_name(a->dtype), jn_dtype_name(b->dtype));
        out_from(m, n, i, p->g[0], (size_t)i);
    }
    return 0;
}

static int if_exec(ox_exec *x, const ox_node *n, jn_err *err)
{
    const ctl_params *p = n->params;
    ox_val c = ox_exec_in(x, n, 0);
    bool cond;
    if (!is_true_scalar(&c.t, &cond))
        return jn_err_set(err, JN_EINVAL, "node '%s' (If): cond must hold one BOOL, has %lld elements", n->name,
                          (long long)ox_count(&c.t));
    int b = cond ? 0 : 1;
    ox_model *g = p->g[b];
    ox_val *in = sub_inputs(x, n, g, p->cap[b], NULL, 0, err), *out = NULL;
    int rc = in ? run_sub(x, g, in, &out, err) : err->code;
    free(in);
    for (int i = 0; i < n->n_out && !rc; i++)
        rc = ox_exec_set_out(x, n, i, &out[i], err);
    release_all(out, g->n_outputs);
    return rc;
}

/* ---------------------------------------------------------------------------------------------------------------
 * Stacked outputs (Loop's and Scan's scan outputs): one element per iteration, all of one shape. */

typedef struct stack {
    ox_tensor elem; /* the first element's dtype and shape */
    uint8_t *data;
    size_t len, cap; /* bytes */
    int64_t count;
} stack;

static int stack_push(stack *s, const ox_tensor *t, size_t max_bytes, const ox_node *n, jn_err *err)
{
    if (s->count == 0) {
        s->elem = *t;
        s->elem.data = NULL;
    } else if (t->dtype != s->elem.dtype || t->ndim != s->elem.ndim ||
               memcmp(t->shape, s->elem.shape, (size_t)t->ndim * sizeof(int64_t)) != 0) {
        return jn_err_set(err, JN_EINVAL, "node '%s' (%s): a scan output changes shape between iterations",
                          n->name, n->op_type);
    }
    if (s->len + t->nbytes > max_bytes)
        return jn_err_set(err, JN_ERESOURCE, "node '%s' (%s): a scan output would take more than the %zu bytes "
                          "allowed", n->name, n->op_type, max_bytes);
    if (s->len + t->nbytes > s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 256;
        while (cap < s->len + t->nbytes)
            cap *= 2;
        uint8_t *nd = realloc(s->data, cap);
        if (!nd)
            return jn_err_set(err, JN_ENOMEM, "out of memory");
        s->data = nd;
        s->cap = cap;
    }
    if (t->nbytes)
        memcpy(s->data + s->len, t->data, t->nbytes);
    s->len += t->nbytes;
    s->count++;
    return 0;
}

/* Writes the stack as output i: [count, elem...], with the count axis moved to `axis` and its order reversed when
 * `reverse`. An empty stack takes its element shape from the body's declared output `decl` (else [0]). */
static int stack_emit(ox_exec *x, const ox_node *n, int i, stack *s, int64_t axis, bool reverse,
                      const ox_model *body, size_t decl, jn_dtype dtype, jn_err *err)
{
    int64_t shape[JN_MAX_DIMS];
    int ndim;
    if (s->count == 0) {
        ndim = 1;
        int dn = body->out_ndim[decl];
        bool known = dn >= 0 && dn < JN_MAX_DIMS;
        for (int d = 0; known && d < dn; d++)
            known = body->out_shape[decl][d] >= 0;
        if (known) {
            ndim = dn + 1;
            for (int d = 0; d < dn; d++)
                shape[d + 1] = body->out_shape[decl][d];
        }
        shape[0] = 0;
        ox_tensor *t;
        return ox_exec_new_out(x, n, i, dtype, ndim, shape, &t, err);
    }
    if (s->elem.ndim + 1 > JN_MAX_DIMS)
        return jn_err_set(err, JN_EUNIMPL, "node '%s' (%s): a scan output's rank exceeds %d", n->name, n->op_type,
                          JN_MAX_DIMS);
    ndim = s->elem.ndim + 1;
    if (axis < 0)
        axis += ndim;
    if (axis < 0 || axis >= ndim)
        return jn_err_set(err, JN_EINVAL, "node '%s' (%s): scan output axis out of range", n->name, n->op_type);
    for (int d = 0, e = 0; d < ndim; d++)
        shape[d] = d == axis ? s->count : s->elem.shape[e++];
    ox_tensor *t;
    if (ox_exec_new_out(x, n, i, s->elem.dtype, ndim, shape, &t, err) || !t)
        return err->code;
    int64_t outer = 1, inner = 1, L = s->count;
    for (int d = 0; d < axis; d++)
        outer *= s->elem.shape[d];
    for (int d = axis; d < s->elem.ndim; d++)
        inner *= s->elem.shape[d];
    size_t es = jn_dtype_size(s->elem.dtype), elem_bytes = s->elem.nbytes;
    for (int64_t l = 0; l < L; l++) {
        int64_t src = reverse ? L - 1 - l : l;
        for (int64_t o = 0; o < outer; o++)
            memcpy((uint8_t *)t->data + ((o * L + l) * inner) * (int64_t)es,
                   s->data + (size_t)src * elem_bytes + (size_t)(o * inner) * es, (size_t)inner * es);
    }
    return 0;
}

/* ---------------------------------------------------------------------------------------------------------------
 * Loop */

static const char *const loop_attrs[] = {"body", NULL};

static int loop_check(ox_model *m, ox_node *n, jn_err *err)
{
    ctl_params *p = ctl_new(n, err);
    if (!p)
        return err->code;
    if (n->n_in < 2)
        return ox_reject(n, err, "expects M and cond (either may be left out as \"\") before the loop values");
    if (ox_has_in(n, 0) && ox_in_dtype(m, n, 0) != JN_DTYPE_INT64)
        return ox_reject(n, err, "M has dtype %s (INT64 expected)", jn_dtype_name(ox_in_dtype(m, n, 0)));
    if (ox_has_in(n, 1) && ox_in_dtype(m, n, 1) != JN_DTYPE_BOOL)
        return ox_reject(n, err, "cond has dtype %s (BOOL expected)", jn_dtype_name(ox_in_dtype(m, n, 1)));
    int N = n->n_in - 2;
    p->n_state = N;
    ox_kind kinds[OX_MAX_IO];
    jn_dtype dts[OX_MAX_IO];
    kinds[0] = kinds[1] = OX_KIND_TENSOR;
    dts[0] = JN_DTYPE_INT64;
    dts[1] = JN_DTYPE_BOOL;
    for (int i = 0; i < N; i++) {
        if (!ox_has_in(n, 2 + i))
            return ox_reject(n, err, "loop value %d is left out", i);
        kinds[2 + i] = m->values[n->in[2 + i]].kind;
        dts[2 + i] = m->values[n->in[2 + i]].dtype;
    }
    if (ox_subgraph_load(m, n, "body", (size_t)(2 + N), kinds, dts, &p->g[0], &p->cap[0], err))
        return err->code;
    ox_model *g = p->g[0];
    int K = n->n_out - N;
    if (K < 0 || g->n_outputs != (size_t)(1 + N + K))
        return ox_reject(n, err, "the body has %zu outputs; cond, %d loop values and %d scan outputs expected",
                         g->n_outputs, N, K < 0 ? 0 : K);
    const ox_value *c = &g->values[g->outputs[0]];
    if (c->dtype != JN_DTYPE_BOOL || c->kind != OX_KIND_TENSOR)
        return ox_reject(n, err, "the body's first output (cond) is not a BOOL tensor");
    for (int i = 0; i < N; i++) {
        const ox_value *o = &g->values[g->outputs[1 + i]];
        /* Loop-16: a value entering as an optional may leave as what the optional holds */
        bool unwrapped = (kinds[2 + i] == OX_KIND_OPT_SEQ && o->kind == OX_KIND_SEQ) ||
                         (kinds[2 + i] == OX_KIND_OPT_TENSOR && o->kind == OX_KIND_TENSOR);
        if ((o->kind != kinds[2 + i] && !unwrapped) || o->dtype != dts[2 + i])
            return ox_reject(n, err, "loop value %d enters as %s and leaves the body as %s", i,
                             jn_dtype_name(dts[2 + i]), jn_dtype_name(o->dtype));
        out_from(m, n, i, g, (size_t)(1 + i));
    }
    for (int k = 0; k < K; k++) {
        if (g->values[g->outputs[1 + N + k]].kind != OX_KIND_TENSOR)
            return ox_reject(n, err, "scan output %d is not a tensor", k);
        out_from(m, n, N + k, g, (size_t)(1 + N + k));
    }
    return 0;
}

static int loop_exec(ox_exec *x, const ox_node *n, jn_err *err)
{
    const ctl_params *p = n->params;
    ox_model *g = p->g[0];
    int N = p->n_state, K = n->n_out - N;
    int64_t M = INT64_MAX;
    bool cond = true;
    if (ox_exec_has_in(n, 0)) {
        ox_val mv = ox_exec_in(x, n, 0);
        if (ox_count(&mv.t) != 1)
            return jn_err_set(err, JN_EINVAL, "node '%s' (Loop): M must hold one value", n->name);
        M = ((const int64_t *)mv.t.data)[0];
    }
    if (ox_exec_has_in(n, 1)) {
        ox_val cv = ox_exec_in(x, n, 1);
        if (!is_true_scalar(&cv.t, &cond))
            return jn_err_set(err, JN_EINVAL, "node '%s' (Loop): cond must hold one BOOL", n->name);
    }
    int64_t iter = 0;
    uint8_t cond_b = 1;
    ox_val first[OX_MAX_IO] = {0}, *cur = first + 2;
    int64_t scalar_shape[1] = {0};
    ox_set_shape(&first[0].t, JN_DTYPE_INT64, 0, scalar_shape, NULL);
    first[0].t.data = &iter;
    ox_set_shape(&first[1].t, JN_DTYPE_BOOL, 0, scalar_shape, NULL);
    first[1].t.data = &cond_b;
    for (int i = 0; i < N; i++) {
        cur[i] = ox_exec_in(x, n, 2 + i); /* borrowed until the first iteration replaces it */
        if (cur[i].box)
            ox_box_ref(cur[i].box);
    }
    stack *st = calloc((size_t)K + 1, sizeof *st);
    int rc = st ? 0 : jn_err_set(err, JN_ENOMEM, "out of memory");
    for (iter = 0; !rc && iter < M && cond; iter++) {
        if ((rc = ox_exec_iteration(x, n, err)))
            break;
        cond_b = cond;
        for (int i = 0; i < N && !rc; i++) /* a tensor going back into an optional-tensor input: boxed */
            if (g->values[g->inputs[2 + i]].kind == OX_KIND_OPT_TENSOR && !cur[i].box) {
                ox_box *b = ox_box_new(cur[i].t.dtype, err);
                if (!b || ox_box_insert(b, 0, &cur[i].t, err)) {
                    ox_box_unref(b);
                    rc = err->code;
                    break;
                }
                ox_val_release(&cur[i]);
                cur[i].box = b;
            }
        if (rc)
            break;
        ox_val *in = sub_inputs(x, n, g, p->cap[0], first, (size_t)(2 + N), err), *out = NULL;
        rc = in ? run_sub(x, g, in, &out, err) : err->code;
        free(in);
        if (!rc && !is_true_scalar(&out[0].t, &cond))
            rc = jn_err_set(err, JN_EINVAL, "node '%s' (Loop): the body's cond must hold one BOOL", n->name);
        for (int i = 0; i < N && !rc; i++) {
            ox_val_release(&cur[i]);
            cur[i] = out[1 + i];
            memset(&out[1 + i], 0, sizeof out[1 + i]);
        }
        for (int k = 0; k < K && !rc; k++)
            rc = stack_push(&st[k], &out[1 + N + k].t, ox_exec_max_bytes(x), n, err);
        release_all(out, g->n_outputs);
    }
    for (int i = 0; i < N && !rc; i++)
        rc = ox_exec_set_out(x, n, i, &cur[i], err);
    for (int k = 0; k < K && !rc; k++)
        rc = stack_emit(x, n, N + k, &st[k], 0, false, g, (size_t)(1 + N + k),
                        g->values[g->outputs[1 + N + k]].dtype, err);
    for (int i = 0; i < N; i++)
        ox_val_release(&cur[i]);
    for (int k = 0; st && k < K; k++)
        free(st[k].data);
    free(st);
    return rc;
}

/* ---------------------------------------------------------------------------------------------------------------
 * Scan */

static const char *const scan_attrs[] = {"body", "num_scan_inputs", "scan_input_axes", "scan_input_directions",
                                         "scan_output_axes", "scan_output_directions", "directions", NULL};

/* A copy of an INTS attribute with `want` values (zeros when absent). */
static int ints_attr(ox_node *n, const char *name, int want, int64_t **out, jn_err *err)
{
    size_t c;
    const int64_t *v = ox_attr_ints(n, name, &c);
    if (v && c != (size_t)want)
        return ox_reject(n, err, "%s has %zu values, %d expected", name, c, want);
    *out = calloc((size_t)want + 1, sizeof **out);
    if (!*out)
        return jn_err_set(err, JN_ENOMEM, "out of memory");
    for (int i = 0; v && i < want; i++) {
        if (strstr(name, "direction") && v[i] != 0 && v[i] != 1)
            return ox_reject(n, err, "%s value %lld is not 0 or 1", name, (long long)v[i]);
        (*out)[i] = v[i];
    }
    return 0;
}

static int scan_check(ox_model *m, ox_node *n, jn_err *err)
{
    ctl_params *p = ctl_new(n, err);
    if (!p)
        return err->code;
    p->scan8 = n->opset < 9;
    int64_t ns = ox_attr_int(n, "num_scan_inputs", -1);
    int first = p->scan8 ? 1 : 0; /* Scan-8: sequence_lens comes first */
    if (ns < 1 || ns > n->n_in - first)
        return ox_reject(n, err, "num_scan_inputs %lld is out of range", (long long)ns);
    if (p->scan8 && ox_has_in(n, 0))
        return ox_reject(n, err, "sequence_lens is not supported (every sequence must have the full length)");
    if (p->scan8 && (ox_attr_find(n, "scan_input_axes") || ox_attr_find(n, "scan_input_directions")))
        return ox_reject(n, err, "opset %d's Scan has directions, not scan_input_axes/directions", n->opset);
    if (!p->scan8 && ox_attr_find(n, "directions"))
        return ox_reject(n, err, "directions is not part of opset %d", n->opset);
    p->n_scan_in = (int)ns;
    int N = n->n_in - first - (int)ns, K = n->n_out - N;
    p->n_state = N;
    if (K < 0)
        return ox_reject(n, err, "%d outputs for %d states", n->n_out, N);
    if (ints_attr(n, p->scan8 ? "directions" : "scan_input_directions", (int)ns, &p->in_dirs, err) ||
        ints_attr(n, "scan_input_axes", (int)ns, &p->in_axes, err) ||
        ints_attr(n, "scan_output_axes", K, &p->out_axes, err) ||
        ints_attr(n, "scan_output_directions", K, &p->out_dirs, err))
        return err->code;
    ox_kind kinds[OX_MAX_IO] = {0};
    jn_dtype dts[OX_MAX_IO];
    for (int i = 0; i < N + (int)ns; i++) {
        if (!ox_has_in(n, first + i))
            return ox_reject(n, err, "input %d is left out", first + i);
        if (m->values[n->in[first + i]].kind != OX_KIND_TENSOR)
            return ox_reject(n, err, "input %d is not a tensor", first + i);
        dts[i] = m->values[n->in[first + i]].dtype;
    }
    if (ox_subgraph_load(m, n, "body", (size_t)(N + ns), kinds, dts, &p->g[0], &p->cap[0], err))
        return err->code;
    ox_model *g = p->g[0];
    if (g->n_outputs != (size_t)(N + K))
        return ox_reject(n, err, "the body has %zu outputs, %d expected", g->n_outputs, N + K);
    for (int i = 0; i < N + K; i++) {
        if (g->values[g->outputs[i]].kind != OX_KIND_TENSOR)
            return ox_reject(n, err, "the body's output %d is not a tensor", i);
        if (i < N && g->values[g->outputs[i]].dtype != dts[i])
            return ox_reject(n, err, "state %d enters as %s and leaves the body as %s", i, jn_dtype_name(dts[i]),
                             jn_dtype_name(g->values[g->outputs[i]].dtype));
        out_from(m, n, i, g, (size_t)i);
    }
    return 0;
}

/* Slice `t` at index `at` along `axis` into `out` (whose data has room). */
static void slice_axis(const ox_tensor *t, int axis, int64_t at, ox_tensor *out)
{
    int64_t outer, inner, L = t->shape[axis];
    ox_around_axis(t, axis, &outer, &inner);
    size_t es = jn_dtype_size(t->dtype);
    int64_t shape[JN_MAX_DIMS];
    for (int d = 0, e = 0; d < t->ndim; d++)
        if (d != axis)
            shape[e++] = t->shape[d];
    void *data = out->data;
    ox_set_shape(out, t->dtype, t->ndim - 1, shape, NULL);
    out->data = data;
    for (int64_t o = 0; o < outer; o++)
        memcpy((uint8_t *)data + (size_t)(o * inner) * es,
               (const uint8_t *)t->data + (size_t)((o * L + at) * inner) * es, (size_t)inner * es);
}

/* One scan over views: states in/out (cur: borrowed at first, owned after an iteration), scan inputs, stacks. */
static int scan_core(ox_exec *x, const ox_node *n, const ctl_params *p, ox_val *cur, const ox_tensor *scan_in,
                     stack *st, jn_err *err)
{
    ox_model *g = p->g[0];
    int N = p->n_state, S = p->n_scan_in, K = n->n_out - N;
    int axes[OX_MAX_IO];
    int64_t L = -1;
    for (int j = 0; j < S; j++) {
        int a = ox_axis(p->scan8 ? 0 : p->in_axes[j], scan_in[j].ndim);
        if (a < 0)
            return jn_err_set(err, JN_EINVAL, "node '%s' (Scan): scan input %d has no axis %lld", n->name, j,
                              (long long)p->in_axes[j]);
        axes[j] = a;
        if (L >= 0 && scan_in[j].shape[a] != L)
            return jn_err_set(err, JN_EINVAL, "node '%s' (Scan): scan inputs differ in length (%lld and %lld)",
                              n->name, (long long)L, (long long)scan_in[j].shape[a]);
        L = scan_in[j].shape[a];
    }
    ox_val first[OX_MAX_IO] = {0};
    void *bufs[OX_MAX_IO] = {0};
    int rc = 0;
    for (int j = 0; j < S && !rc; j++) {
        bufs[j] = malloc(scan_in[j].nbytes / (size_t)(L ? L : 1) + 1);
        if (!bufs[j])
            rc = jn_err_set(err, JN_ENOMEM, "out of memory");
    }
    for (int64_t t = 0; t < L && !rc; t++) {
        if ((rc = ox_exec_iteration(x, n, err)))
            break;
        for (int i = 0; i < N; i++)
            first[i] = cur[i];
        for (int j = 0; j < S; j++) {
            first[N + j].t.data = bufs[j];
            slice_axis(&scan_in[j], axes[j], p->in_dirs[j] ? L - 1 - t : t, &first[N + j].t);
        }
        ox_val *in = sub_inputs(x, n, g, p->cap[0], first, (size_t)(N + S), err), *out = NULL;
        rc = in ? run_sub(x, g, in, &out, err) : err->code;
        free(in);
        for (int i = 0; i < N && !rc; i++) {
            ox_val_release(&cur[i]);
            cur[i] = out[i];
            memset(&out[i], 0, sizeof out[i]);
        }
        for (int k = 0; k < K && !rc; k++)
            rc = stack_push(&st[k], &out[N + k].t, ox_exec_max_bytes(x), n, err);
        release_all(out, g->n_outputs);
    }
    for (int j = 0; j < S; j++)
        free(bufs[j]);
    return rc;
}

static int scan_exec(ox_exec *x, const ox_node *n, jn_err *err)
{
    const ctl_params *p = n->params;
    ox_model *g = p->g[0];
    int N = p->n_state, S = p->n_scan_in, K = n->n_out - N, first = p->scan8 ? 1 : 0;
    ox_val cur[OX_MAX_IO] = {0};
    ox_tensor scan_in[OX_MAX_IO] = {0};
    stack *st = calloc((size_t)K + 1, sizeof *st);
    if (!st)
        return jn_err_set(err, JN_ENOMEM, "out of memory");
    int rc = 0;
    if (!p->scan8) {
        for (int i = 0; i < N; i++)
            cur[i] = ox_exec_in(x, n, first + i);
        for (int j = 0; j < S; j++)
            scan_in[j] = ox_exec_in(x, n, first + N + j).t;
        rc = scan_core(x, n, p, cur, scan_in, st, err);
        for (int i = 0; i < N && !rc; i++)
            rc = ox_exec_set_out(x, n, i, &cur[i], err);
        for (int k = 0; k < K && !rc; k++)
            rc = stack_emit(x, n, N + k, &st[k], p->out_axes[k], p->out_dirs[k] != 0, g, (size_t)(N + k),
                            g->values[g->outputs[N + k]].dtype, err);
    } else {
        /* Scan-8: every input carries a leading batch axis; the scan runs per batch entry and the results are
         * stacked back along it. */
        int64_t B = -1;
        for (int i = 0; i < N + S; i++) {
            ox_tensor t = ox_exec_in(x, n, first + i).t;
            if (t.ndim < (i < N ? 1 : 2) || (B >= 0 && t.shape[0] != B))
                rc = jn_err_set(err, JN_EINVAL, "node '%s' (Scan): inputs must share a leading batch axis", n->name);
            B = t.ndim ? t.shape[0] : 0;
        }
        stack *bst = calloc((size_t)(N + K) + 1, sizeof *bst); /* per output: the batch entries' results */
        if (!bst)
            rc = jn_err_set(err, JN_ENOMEM, "out of memory");
        for (int64_t b = 0; b < B && !rc; b++) {
            for (int i = 0; i < N + S; i++) {
                ox_tensor t = ox_exec_in(x, n, first + i).t, v = t;
                ox_set_shape(&v, t.dtype, t.ndim - 1, t.shape + 1, NULL);
                v.data = (uint8_t *)t.data + (size_t)b * v.nbytes;
                if (i < N)
                    cur[i] = (ox_val){.t = v};
                else
                    scan_in[i - N] = v;
            }
            memset(st, 0, (size_t)K * sizeof *st);
            rc = scan_core(x, n, p, cur, scan_in, st, err);
            for (int i = 0; i < N && !rc; i++)
                rc = stack_push(&bst[i], &cur[i].t, ox_exec_max_bytes(x), n, err);
            for (int k = 0; k < K && !rc; k++) {
                /* the stacked [L, ...] of this entry, direction applied (axis stays 0 in Scan-8) */
                ox_tensor t = st[k].elem;
                int64_t shape[JN_MAX_DIMS];
                shape[0] = st[k].count;
                for (int d = 0; d < t.ndim; d++)
                    shape[d + 1] = t.shape[d];
                ox_tensor whole;
                if (ox_set_shape(&whole, t.dtype, t.ndim + 1, shape, err)) {
                    rc = err->code;
                    break;
                }
                whole.data = st[k].data;
                rc = stack_push(&bst[N + k], &whole, ox_exec_max_bytes(x), n, err);
            }
            for (int i = 0; i < N; i++)
                ox_val_release(&cur[i]);
            for (int k = 0; k < K; k++)
                free(st[k].data);
        }
        for (int i = 0; i < N + K && !rc; i++)
            rc = stack_emit(x, n, i, &bst[i], 0, false, g, (size_t)i, g->values[g->outputs[i]].dtype, err);
        for (int i = 0; bst && i < N + K; i++)
            free(bst[i].data);
        free(bst);
        memset(st, 0, (size_t)K * sizeof *st);
    }
    for (int i = 0; i < N; i++)
        ox_val_release(&cur[i]);
    for (int k = 0; k < K; k++)
        free(st[k].data);
    free(st);
    return rc;
}

/* ---------------------------------------------------------------------------------------------------------------
 * SequenceMap (opset 17): the body once per position of the input sequence; additional sequence inputs give their
 * element at that position, tensors themselves; each body output collects into an output sequence. */

static const char *const seqmap_attrs[] = {"body", NULL};

static int seqmap_check(ox_model *m, ox_node *n, jn_err *err)
{
    ctl_params *p = ctl_new(n, err);
    if (!p)
        return err->code;
    ox_kind kinds[OX_MAX_IO];
    jn_dtype dts[OX_MAX_IO];
    for (int i = 0; i < n->n_in; i++) {
        ox_kind k = ox_has_in(n, i) ? m->values[n->in[i]].kind : OX_KIND_TENSOR;
        if (!ox_has_in(n, i) || (k != OX_KIND_TENSOR && k != OX_KIND_SEQ) || (i == 0 && k != OX_KIND_SEQ))
            return ox_reject(n, err, "input %d must be %s", i, i ? "a tensor or a sequence" : "a sequence");
        kinds[i] = OX_KIND_TENSOR;
        dts[i] = m->values[n->in[i]].dtype;
    }
    if (ox_subgraph_load(m, n, "body", (size_t)n->n_in, kinds, dts, &p->g[0], &p->cap[0], err))
        return err->code;
    ox_model *g = p->g[0];
    if (g->n_outputs != (size_t)n->n_out)
        return ox_reject(n, err, "the body has %zu outputs, the node %d", g->n_outputs, n->n_out);
    for (int i = 0; i < n->n_out; i++) {
        if (g->values[g->outputs[i]].kind != OX_KIND_TENSOR)
            return ox_reject(n, err, "the body's output %d is not a tensor", i);
        if (n->out[i] >= 0) {
            m->values[n->out[i]].kind = OX_KIND_SEQ;
            m->values[n->out[i]].dtype = g->values[g->outputs[i]].dtype;
        }
    }
    return 0;
}

static int seqmap_exec(ox_exec *x, const ox_node *n, jn_err *err)
{
    const ctl_params *p = n->params;
    ox_model *g = p->g[0];
    const ox_box *seq = ox_exec_in(x, n, 0).box;
    size_t L = seq->n;
    for (int i = 1; i < p->n_formal; i++)
        if (ox_exec_in_kind(x, n, i) == OX_KIND_SEQ && ox_exec_in(x, n, i).box->n != L)
            return jn_err_set(err, JN_EINVAL, "node '%s' (SequenceMap): input %d has %zu elements, input 0 %zu",
                              n->name, i, ox_exec_in(x, n, i).box->n, L);
    ox_box *outs[OX_MAX_IO] = {0};
    int rc = 0;
    for (int o = 0; o < n->n_out && !rc; o++)
        if (!(outs[o] = ox_box_new(g->values[g->outputs[o]].dtype, err)))
            rc = err->code;
    for (size_t t = 0; t < L && !rc; t++) {
        if ((rc = ox_exec_iteration(x, n, err)))
            break;
        ox_val first[OX_MAX_IO] = {0};
        for (int i = 0; i < p->n_formal; i++) {
            ox_val v = ox_exec_in(x, n, i);
            first[i].t = v.box ? v.box->items[t] : v.t;
        }
        ox_val *in = sub_inputs(x, n, g, p->cap[0], first, (size_t)p->n_formal, err), *out = NULL;
        rc = in ? run_sub(x, g, in, &out, err) : err->code;
        free(in);
        for (int o = 0; o < n->n_out && !rc; o++)
            rc = ox_box_insert(outs[o], outs[o]->n, &out[o].t, err);
        release_all(out, g->n_outputs);
    }
    for (int o = 0; o < n->n_out; o++) {
        ox_val v = {.box = outs[o]};
        if (!rc)
            rc = ox_exec_set_out(x, n, o, &v, err);
        else
            ox_box_unref(outs[o]);
    }
    return rc;
}

static const ox_op op_if = {.op_type = "If", .min_in = 1, .max_in = 1, .min_out = 1, .max_out = OX_MAX_IO,
                            .attrs = if_attrs, .check = if_check};
static const ox_op op_loop = {.op_type = "Loop", .min_in = 0, .max_in = OX_MAX_IO, .min_out = 1,
                              .max_out = OX_MAX_IO, .attrs = loop_attrs, .check = loop_check};
static const ox_op op_scan = {.op_type = "Scan", .min_in = 0, .max_in = OX_MAX_IO, .min_out = 1,
                              .max_out = OX_MAX_IO, .attrs = scan_attrs, .check = scan_check};

static const ox_op op_seqmap = {.op_type = "SequenceMap", .min_in = 1, .max_in = OX_MAX_IO, .min_out = 1,
                                .max_out = OX_MAX_IO, .attrs = seqmap_attrs, .check = seqmap_check};

const ox_op *const ox_ops_control[] = {&op_if, &op_loop, &op_scan, &op_seqmap, NULL};

#define CTL_EXT(var, o, fn)                                                                                      \
    static const ox_op_ext var = {.op = &o, .flags = OX_OP_DYNAMIC | OX_OP_ANY_KIND, .exec = fn,                 \
                                  .free_params = ctl_free};
CTL_EXT(ext_if, op_if, if_exec)
CTL_EXT(ext_loop, op_loop, loop_exec)
CTL_EXT(ext_scan, op_scan, scan_exec)
CTL_EXT(ext_seqmap, op_seqmap, seqmap_exec)
const ox_op_ext *const ox_exts_control[] = {&ext_if, &ext_loop, &ext_scan, &ext_seqmap, NULL};
