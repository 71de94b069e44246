/* onnx_plan.c — runs a loaded graph. The first run of an input-shape set infers every value's shape node by node
 * (the ops' shape functions), computes, and then plans the intermediates into one arena with offsets reused once a
 * value is dead. That plan is cached, keyed by the input shapes (and the contents of inputs whose values decide
 * shapes, such as a Reshape target fed from outside); later runs with the same key skip shape inference and take
 * an arena from the plan's pool. Graph outputs get their own buffers, handed to the caller.
 *
 * Dynamic nodes (control flow, sequences, and whatever reads their outputs: their shapes depend on values) are
 * inferred on every run, planned or not, and their outputs live outside the arena (their own buffers, or boxes for
 * sequences and optionals), released once dead. The same runner serves subgraphs (ox_graph_run). */
#include <stdlib.h>
#include <string.h>

#include "engine.h"
#include "onnx_graph.h"
#include "onnx_internal.h"

#define OX_ALIGN 64

typedef struct ox_plan {
    struct ox_plan *next;
    uint8_t *key;
    size_t key_len;
    ox_tensor *meta; /* per value: dtype and shape (data NULL) */
    size_t *offset;  /* per value: offset in the arena; SIZE_MAX when not in it */
    size_t arena_size;
    void **pool; /* arenas not in use */
    size_t n_pool, cap_pool;
} ox_plan;

static void plan_free(ox_plan *p)
{
    for (size_t i = 0; i < p->n_pool; i++)
        free(p->pool[i]);
    free(p->pool);
    free(p->key);
    free(p->meta);
    free(p->offset);
    free(p);
}

void ox_plans_free(ox_model *m)
{
    ox_plan *p = m->plans;
    while (p) {
        ox_plan *next = p->next;
        plan_free(p);
        p = next;
    }
    m->plans = NULL;
    m->n_plans = 0;
}

/* Debug builds fill every fresh buffer with 0xff bytes (NaN as floats), so a kernel that relies on memory being
 * zeroed fails its tests instead of passing by luck. */
static void poison(void *p, size_t n)
{
#ifndef NDEBUG
    if (p)
        memset(p, 0xff, n);
#else
    (void)p;
    (void)n;
#endif
}

static size_t round_up(size_t n)
{
    if (n == 0)
        n = 1;
    return (n + OX_ALIGN - 1) / OX_ALIGN * OX_ALIGN;
}

/* Input shapes, then the bytes of inputs whose values decide shapes. */
static uint8_t *make_key(const ox_model *m, const ox_tensor *inputs, size_t *len)
{
    size_t n = 0;
    for (size_t i = 0; i < m->n_inputs; i++) {
        n += sizeof(int) + (size_t)inputs[i].ndim * sizeof(int64_t);
        if (m->values[m->inputs[i]].shape_data)
            n += inputs[i].nbytes;
    }
    uint8_t *key = malloc(n + 1), *p = key;
    if (!key)
        return NULL;
    for (size_t i = 0; i < m->n_inputs; i++) {
        memcpy(p, &inputs[i].ndim, sizeof(int));
        p += sizeof(int);
        memcpy(p, inputs[i].shape, (size_t)inputs[i].ndim * sizeof(int64_t));
        p += (size_t)inputs[i].ndim * sizeof(int64_t);
        if (m->values[m->inputs[i]].shape_data && inputs[i].nbytes) {
            memcpy(p, inputs[i].data, inputs[i].nbytes);
            p += inputs[i].nbytes;
        }
    }
    *len = n;
    return key;
}

/* Offsets for every intermediate: a value lives from its producer to its last reader; first fit among the live
 * blocks. */
static int plan_layout(const ox_model *m, ox_plan *p)
{
    size_t nv = m->n_values;
    int *order = malloc((nv + 1) * sizeof(int)); /* live values, sorted by offset */
    if (!order)
        return -1;
    size_t live = 0, arena = 0;
    for (size_t v = 0; v < nv; v++)
        p->offset[v] = SIZE_MAX;
    for (size_t k = 0; k < m->n_nodes; k++) {
        const ox_node *n = &m->nodes[k];
        for (int o = 0; o < n->n_out; o++) {
            int v = n->out[o];
            if (v < 0 || m->values[v].graph_output || n->dynamic)
                continue;
            size_t need = round_up(p->meta[v].nbytes), at = 0, pos = 0;
            for (; pos < live; pos++) {
                int w = order[pos];
                if (p->offset[w] >= at + need)
                    break;
                size_t end = p->offset[w] + round_up(p->meta[w].nbytes);
                if (end > at)
                    at = end;
            }
            memmove(order + pos + 1, order + pos, (live - pos) * sizeof(int));
            order[pos] = v;
            live++;
            p->offset[v] = at;
            if (at + need > arena)
                arena = at + need;
        }
        /* Values read for the last time here, or never read, leave the live set. */
        size_t keep = 0;
        for (size_t i = 0; i < live; i++) {
            const ox_value *val = &m->values[order[i]];
            int last = val->last_use > val->producer ? val->last_use : val->producer;
            if (last > (int)k)
                order[keep++] = order[i];
        }
        live = keep;
    }
    free(order);
    p->arena_size = arena;
    return 0;
}

static ox_plan *plan_find(ox_model *m, const uint8_t *key, size_t key_len)
{
    for (ox_plan *p = m->plans; p; p = p->next)
        if (p->key_len == key_len && memcmp(p->key, key, key_len) == 0)
            return p;
    return NULL;
}

static void *arena_take(ox_model *m, ox_plan *p)
{
    void *a = NULL;
    pthread_mutex_lock(&m->plan_lock);
    if (p->n_pool)
        a = p->pool[--p->n_pool];
    pthread_mutex_unlock(&m->plan_lock);
    if (!a) {
        a = aligned_alloc(OX_ALIGN, round_up(p->arena_size));
        poison(a, round_up(p->arena_size));
    }
    return a;
}

static void arena_give(ox_model *m, ox_plan *p, void *a)
{
    pthread_mutex_lock(&m->plan_lock);
    if (p->n_pool == p->cap_pool) {
        size_t cap = p->cap_pool ? p->cap_pool * 2 : 4;
        void **np = realloc(p->pool, cap * sizeof *np);
        if (np) {
            p->pool = np;
            p->cap_pool = cap;
        }
    }
    if (p->n_pool < p->cap_pool) {
        p->pool[p->n_pool++] = a;
        a = NULL;
    }
    pthread_mutex_unlock(&m->plan_lock);
    free(a);
}

/* Records the shapes of a finished first run as a plan and caches it (unless the cache is full). */
static void plan_store(ox_model *m, const ox_tensor *slots, uint8_t *key, size_t key_len)
{
    ox_plan *p = calloc(1, sizeof *p);
    if (!p) {
        free(key);
        return;
    }
    p->key = key;
    p->key_len = key_len;
    p->meta = malloc((m->n_values + 1) * sizeof *p->meta);
    p->offset = malloc((m->n_values + 1) * sizeof *p->offset);
    if (!p->meta || !p->offset) {
        plan_free(p);
        return;
    }
    for (size_t v = 0; v < m->n_values; v++) {
        p->meta[v] = slots[v];
        p->meta[v].data = NULL;
    }
    if (plan_layout(m, p)) {
        plan_free(p);
        return;
    }
    pthread_mutex_lock(&m->plan_lock);
    if (m->n_plans < m->max_plans && !plan_find(m, key, key_len)) {
        p->next = m->plans;
        m->plans = p;
        m->n_plans++;
        p = NULL;
    }
    pthread_mutex_unlock(&m->plan_lock);
    if (p)
        plan_free(p);
}

typedef struct run_state {
    ox_tensor *slots;       /* per value */
    jn_buffer **out_bufs;   /* per value: graph outputs' buffers, and buffers dynamic nodes took over */
    bool *owned;            /* per value: data malloc'd by this run (unplanned, or a dynamic node's) */
    ox_box **boxes;         /* per value: sequences and optionals (one reference each) */
    int64_t *budget;        /* loop iterations left in this call */
} run_state;

struct ox_exec {
    ox_model *m;
    run_state *st;
    const jn_infer_ctx *ctx;
};

static int alloc_output(const ox_model *m, run_state *st, int v, jn_err *err)
{
    ox_tensor *t = &st->slots[v];
    if (m->values[v].graph_output) {
        st->out_bufs[v] = jn_buffer_alloc(t->nbytes ? t->nbytes : 1);
        if (!st->out_bufs[v])
            return jn_err_set(err, JN_ENOMEM, "out of memory");
        t->data = st->out_bufs[v]->data;
        poison(t->data, t->nbytes);
        return 0;
    }
    t->data = aligned_alloc(OX_ALIGN, round_up(t->nbytes));
    if (!t->data)
        return jn_err_set(err, JN_ENOMEM, "out of memory");
    poison(t->data, round_up(t->nbytes));
    st->owned[v] = true;
    return 0;
}

/* Releases what node k read for the last time, and its outputs nobody reads (as the plan's layout does). */
static void release_dead(const ox_model *m, run_state *st, size_t k)
{
    const ox_node *n = &m->nodes[k];
    for (int pass = 0; pass < 2; pass++)
        for (int i = 0; i < (pass ? n->n_out : n->n_in); i++) {
            int v = pass ? n->out[i] : n->in[i];
            if (v < 0 || m->values[v].graph_output || (pass ? m->values[v].last_use >= 0
                                                             : m->values[v].last_use != (int)k))
                continue;
            if (st->owned[v]) {
                free(st->slots[v].data);
                st->slots[v].data = NULL;
                st->owned[v] = false;
            }
            if (st->out_bufs[v]) {
                jn_buffer_unref(st->out_bufs[v]);
                st->out_bufs[v] = NULL;
            }
            if (st->boxes[v]) {
                ox_box_unref(st->boxes[v]);
                st->boxes[v] = NULL;
            }
        }
}

static int run_node(ox_model *m, const ox_node *n, run_state *st, bool infer_shapes, const jn_infer_ctx *ctx,
                    jn_err *err)
{
    if (n->ext && n->ext->exec) {
        ox_exec x = {.m = m, .st = st, .ctx = ctx};
        int rc = n->ext->exec(&x, n, err);
        if (rc && err->code == 0)
            jn_err_set(err, rc, "node '%s' (%s) failed", n->name, n->op_type);
        return rc;
    }
    ox_tensor *in[OX_MAX_IO], *out[OX_MAX_IO];
    for (int i = 0; i < n->n_in; i++)
        in[i] = n->in[i] >= 0 ? &st->slots[n->in[i]] : NULL;
    for (int i = 0; i < n->n_out; i++)
        out[i] = n->out[i] >= 0 ? &st->slots[n->out[i]] : NULL;
    if (infer_shapes) {
        int rc = n->half_via_f32 ? ox_half_shape(n, in, out, err) : n->op->shape(n, in, out, err);
        if (rc)
            return rc;
        for (int i = 0; i < n->n_out; i++)
            if (out[i] && out[i]->nbytes > m->max_tensor_bytes)
                return jn_err_set(err, JN_ERESOURCE, "node '%s' (%s): output %d would take %zu bytes, more than the "
                                  "%zu allowed", n->name, n->op_type, i, out[i]->nbytes, m->max_tensor_bytes);
        for (int i = 0; i < n->n_out; i++)
            if (n->out[i] >= 0 && alloc_output(m, st, n->out[i], err))
                return err->code;
    }
    int rc = n->half_via_f32 ? ox_half_run(n, in, out, err) : n->op->run(n, in, out, err);
    if (rc && err->code == 0)
        jn_err_set(err, rc, "node '%s' (%s) failed", n->name, n->op_type);
    return rc;
}

static int graph_run(ox_model *m, const ox_val *inputs, ox_val *outputs, const jn_infer_ctx *ctx, int64_t *budget,
                     jn_err *err)
{
    size_t nv = m->n_values, key_len = 0;
    run_state st = {.budget = budget};
    st.slots = calloc(nv + 1, sizeof *st.slots);
    st.out_bufs = calloc(nv + 1, sizeof *st.out_bufs);
    st.owned = calloc(nv + 1, sizeof *st.owned);
    st.boxes = calloc(nv + 1, sizeof *st.boxes);
    ox_tensor *in_t = calloc(m->n_inputs + 1, sizeof *in_t);
    uint8_t *key = NULL;
    void *arena = NULL;
    ox_plan *plan = NULL;
    int rc = 0;
    for (size_t i = 0; in_t && i < m->n_inputs; i++)
        in_t[i] = inputs[i].t;
    if (in_t)
        key = make_key(m, in_t, &key_len);
    free(in_t);
    if (!st.slots || !st.out_bufs || !st.owned || !st.boxes || !key) {
        rc = jn_err_set(err, JN_ENOMEM, "out of memory");
        goto out;
    }
    for (size_t v = 0; v < nv; v++)
        if (m->values[v].konst)
            st.slots[v] = *m->values[v].konst;
    for (size_t i = 0; i < m->n_inputs; i++) {
        st.slots[m->inputs[i]] = inputs[i].t;
        if (m->values[m->inputs[i]].kind != OX_KIND_TENSOR) {
            if (!inputs[i].box) {
                rc = jn_err_set(err, JN_EINVAL, "input '%s' must be a sequence or optional",
                                m->values[m->inputs[i]].name);
                goto out;
            }
            st.boxes[m->inputs[i]] = ox_box_ref(inputs[i].box);
        }
    }

    pthread_mutex_lock(&m->plan_lock);
    plan = plan_find(m, key, key_len);
    pthread_mutex_unlock(&m->plan_lock);
    if (plan) {
        arena = arena_take(m, plan);
        if (!arena) {
            rc = jn_err_set(err, JN_ENOMEM, "out of memory");
            goto out;
        }
        for (size_t k = 0; k < m->n_nodes && !rc; k++) {
            const ox_node *n = &m->nodes[k];
            if (n->dynamic) {
                rc = ctx ? jn_infer_ctx_check(ctx, err) : 0;
                if (!rc)
                    rc = run_node(m, n, &st, true, ctx, err);
                release_dead(m, &st, k);
                continue;
            }
            for (int o = 0; o < n->n_out && !rc; o++) {
                int v = n->out[o];
                if (v < 0)
                    continue;
                st.slots[v] = plan->meta[v];
                if (m->values[v].graph_output)
                    rc = alloc_output(m, &st, v, err);
                else
                    st.slots[v].data = (char *)arena + plan->offset[v];
            }
            if (!rc && ctx)
                rc = jn_infer_ctx_check(ctx, err);
            if (!rc)
                rc = run_node(m, n, &st, false, ctx, err);
            if (m->has_dynamic)
                release_dead(m, &st, k);
        }
    } else {
        for (size_t k = 0; k < m->n_nodes && !rc; k++) {
            rc = ctx ? jn_infer_ctx_check(ctx, err) : 0;
            if (!rc)
                rc = run_node(m, &m->nodes[k], &st, true, ctx, err);
            release_dead(m, &st, k); /* as the plan will */
        }
        if (!rc) {
            plan_store(m, st.slots, key, key_len);
            key = NULL;
        }
    }
    if (rc)
        goto out;
    for (size_t i = 0; i < m->n_outputs; i++) {
        int v = m->outputs[i];
        const ox_tensor *t = &st.slots[v];
        memset(&outputs[i], 0, sizeof outputs[i]);
        if (m->values[v].kind != OX_KIND_TENSOR) {
            outputs[i].box = ox_box_ref(st.boxes[v]);
            continue;
        }
        jn_buffer *buf = st.out_bufs[v];
        if (buf)
            jn_buffer_ref(buf);
        else { /* a graph input or a constant as output: copied */
            buf = jn_buffer_alloc(t->nbytes ? t->nbytes : 1);
            if (!buf) {
                rc = jn_err_set(err, JN_ENOMEM, "out of memory");
                goto out;
            }
            if (t->nbytes)
                memcpy(buf->data, t->data, t->nbytes);
        }
        outputs[i].t = *t;
        outputs[i].t.data = buf->data;
        outputs[i].buf = buf;
    }
out:
    if (rc && outputs)
        for (size_t i = 0; i < m->n_outputs; i++)
            ox_val_release(&outputs[i]);
    if (arena)
        arena_give(m, plan, arena);
    if (st.owned)
        for (size_t v = 0; v < nv; v++)
            if (st.owned[v])
                free(st.slots[v].data);
    if (st.out_bufs)
        for (size_t v = 0; v < nv; v++)
            if (st.out_bufs[v])
                jn_buffer_unref(st.out_bufs[v]);
    if (st.boxes)
        for (size_t v = 0; v < nv; v++)
            ox_box_unref(st.boxes[v]);
    free(st.slots);
    free(st.out_bufs);
    free(st.owned);
    free(st.boxes);
    free(key);
    return rc;
}

int ox_graph_run(ox_model *m, const ox_val *inputs, ox_val *outputs, const jn_infer_ctx *ctx, jn_err *err)
{
    int64_t budget = m->max_loop_iterations;
    return graph_run(m, inputs, outputs, ctx, &budget, err);
}

void ox_val_release(ox_val *v)
{
    if (v->buf)
        jn_buffer_unref(v->buf);
    ox_box_unref(v->box);
    memset(v, 0, sizeof *v);
}

int ox_model_run(ox_model *m, const ox_tensor *inputs, jn_tensor **outputs, const jn_infer_ctx *ctx, jn_err *err)
{
    ox_val *in = calloc(m->n_inputs + 1, sizeof *in), *out = calloc(m->n_outputs + 1, sizeof *out);
    int rc = 0;
    if (!in || !out) {
        rc = jn_err_set(err, JN_ENOMEM, "out of memory");
        goto done;
    }
    for (size_t i = 0; i < m->n_inputs; i++)
        in[i].t = inputs[i];
    rc = ox_graph_run(m, in, out, ctx, err);
    for (size_t i = 0; i < m->n_outputs && !rc; i++) {
        const ox_tensor *t = &out[i].t;
        outputs[i] = jn_tensor_wrap(m->values[m->outputs[i]].name, t->dtype, t->ndim, t->shape, out[i].buf, t->data,
                                    t->nbytes, err);
        if (!outputs[i])
            rc = err->code;
    }
    if (rc)
        for (size_t i = 0; i < m->n_outputs; i++) {
            jn_tensor_free(outputs[i]);
            outputs[i] = NULL;
        }
    for (size_t i = 0; i < m->n_outputs; i++)
        ox_val_release(&out[i]);
done:
    free(in);
    free(out);
    return rc;
}

/* ---------------------------------------------------------------------------------------------------------------
 * The dynamic operators' side of a run */

bool ox_exec_has_in(const ox_node *n, int i)
{
    return i < n->n_in && n->in[i] >= 0;
}

ox_kind ox_exec_in_kind(ox_exec *x, const ox_node *n, int i)
{
    return ox_exec_has_in(n, i) ? x->m->values[n->in[i]].kind : (ox_kind)-1;
}

ox_val ox_exec_in(ox_exec *x, const ox_node *n, int i)
{
    ox_val v = {0};
    if (ox_exec_has_in(n, i)) {
        v.t = x->st->slots[n->in[i]];
        v.box = x->st->boxes[n->in[i]];
    }
    return v;
}

int ox_exec_new_out(ox_exec *x, const ox_node *n, int i, jn_dtype dtype, int ndim, const int64_t *shape,
                    ox_tensor **t, jn_err *err)
{
    *t = NULL;
    if (i >= n->n_out || n->out[i] < 0)
        return 0;
    int v = n->out[i];
    ox_tensor *s = &x->st->slots[v];
    if (ox_set_shape(s, dtype, ndim, shape, err)) {
        jn_err_prefix(err, "node '%s' (%s): output %d", n->name, n->op_type, i);
        return err->code;
    }
    if (s->nbytes > x->m->max_tensor_bytes)
        return jn_err_set(err, JN_ERESOURCE, "node '%s' (%s): output %d would take %zu bytes, more than the %zu "
                          "allowed", n->name, n->op_type, i, s->nbytes, x->m->max_tensor_bytes);
    if (alloc_output(x->m, x->st, v, err))
        return err->code;
    *t = s;
    return 0;
}

int ox_exec_set_out(ox_exec *x, const ox_node *n, int i, ox_val *val, jn_err *err)
{
    if (i >= n->n_out || n->out[i] < 0) {
        ox_val_release(val);
        return 0;
    }
    int v = n->out[i];
    if (val->box || x->m->values[v].kind != OX_KIND_TENSOR) {
        if (!val->box)
            return jn_err_set(err, JN_EINVAL, "node '%s' (%s): output %d must be a sequence or optional", n->name,
                              n->op_type, i);
        if (val->box->bytes > x->m->max_tensor_bytes) {
            ox_val_release(val);
            return jn_err_set(err, JN_ERESOURCE, "node '%s' (%s): output %d would hold more than the %zu bytes "
                              "allowed", n->name, n->op_type, i, x->m->max_tensor_bytes);
        }
        x->st->boxes[v] = val->box;
        val->box = NULL;
        ox_val_release(val);
        return 0;
    }
    if (!val->buf) {
        ox_tensor *t;
        if (ox_exec_new_out(x, n, i, val->t.dtype, val->t.ndim, val->t.shape, &t, err))
            return err->code;
        if (t->nbytes)
            memcpy(t->data, val->t.data, t->nbytes);
        return 0;
    }
    if (val->t.nbytes > x->m->max_tensor_bytes) {
        ox_val_release(val);
        return jn_err_set(err, JN_ERESOURCE, "node '%s' (%s): output %d would take more than the %zu bytes allowed",
                          n->name, n->op_type, i, x->m->max_tensor_bytes);
    }
    x->st->slots[v] = val->t;
    x->st->out_bufs[v] = val->buf;
    val->buf = NULL;
    return 0;
}

const jn_infer_ctx *ox_exec_ctx(ox_exec *x)
{
    return x->ctx;
}

int ox_exec_iteration(ox_exec *x, const ox_node *n, jn_err *err)
{
    if (x->ctx && jn_infer_ctx_check(x->ctx, err))
        return err->code;
    if (*x->st->budget <= 0)
        return jn_err_set(err, JN_ERESOURCE, "node '%s' (%s): the call ran its %lld loop iterations (the model's "
                          "limit)", n->name, n->op_type, (long long)x->m->max_loop_iterations);
    --*x->st->budget;
    return 0;
}

int ox_exec_run_sub(ox_exec *x, ox_model *g, const ox_val *inputs, ox_val *outputs, jn_err *err)
{
    return graph_run(g, inputs, outputs, x->ctx, x->st->budget, err);
}

size_t ox_exec_max_bytes(ox_exec *x)
{
    return x->m->max_tensor_bytes;
}
