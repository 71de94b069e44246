/* sequence.c — stateful models: the sequence engine, its table and streams' scopes (sequence.h). */
#include "sequence.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "executor.h"

/* A parked call. */
typedef struct waiter {
    void *handle;
    bool start, end;
    struct waiter *next;
} waiter;

struct jn_seq {
    char *key;    /* "i:<int>", "s:<string>", "t:<scope serial>"; NULL for a lone call */
    jn_seq *next; /* hash chain */
    jn_tensor *state[JN_MAX_SEQUENCE_STATES]; /* NULL = the initial value */
    int64_t last_used_ns;
    bool busy;    /* a call holds it */
    bool closing; /* ends when its last call leaves (its stream closed) */
    waiter *head, *tail;
};

struct jn_seq_table {
    jn_engine *engine; /* the sequence engine (borrowed: it owns the table) */
    jn_engine *inner;  /* borrowed */
    jn_sequence_config cfg;
    pthread_mutex_t mu; /* guards everything below and every jn_seq's fields but state */
    pthread_cond_t wake;
    jn_seq **buckets;
    size_t n_buckets; /* a power of two */
    size_t count;
    bool stopping;
    bool sweeper_started;
    pthread_t sweeper;
};

/* ---- the table ---- */

static uint64_t hash_key(const char *s)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (uint8_t)*s) * 1099511628211ull;
    return h;
}

static void seq_free(jn_seq *s)
{
    for (size_t i = 0; i < JN_MAX_SEQUENCE_STATES; i++)
        if (s->state[i])
            jn_tensor_free(s->state[i]);
    while (s->head) {
        waiter *w = s->head;
        s->head = w->next;
        free(w);
    }
    free(s->key);
    free(s);
}

static jn_seq **find_locked(jn_seq_table *t, const char *key)
{
    jn_seq **p = &t->buckets[hash_key(key) & (t->n_buckets - 1)];
    while (*p && strcmp((*p)->key, key) != 0)
        p = &(*p)->next;
    return p;
}

static void remove_locked(jn_seq_table *t, jn_seq *s)
{
    jn_seq **p = find_locked(t, s->key);
    if (*p == s) {
        *p = s->next;
        t->count--;
    }
    seq_free(s);
}

static bool expired(const jn_seq_table *t, const jn_seq *s, int64_t now)
{
    return t->cfg.idle_timeout_ms && !s->busy && now - s->last_used_ns > (int64_t)t->cfg.idle_timeout_ms * 1000000;
}

size_t jn_seq_table_sweep(jn_seq_table *t)
{
    size_t dropped = 0;
    int64_t now = jn_now_ns();
    pthread_mutex_lock(&t->mu);
    for (size_t b = 0; b < t->n_buckets; b++) {
        jn_seq **p = &t->buckets[b];
        while (*p) {
            jn_seq *s = *p;
            if (expired(t, s, now)) {
                *p = s->next;
                t->count--;
                seq_free(s);
                dropped++;
            } else {
                p = &s->next;
            }
        }
    }
    pthread_mutex_unlock(&t->mu);
    return dropped;
}

static void *sweeper_main(void *arg)
{
    jn_seq_table *t = arg;
    uint64_t period_ms = t->cfg.idle_timeout_ms / 4;
    if (period_ms < 10)
        period_ms = 10;
    if (period_ms > 1000)
        period_ms = 1000;
    pthread_mutex_lock(&t->mu);
    while (!t->stopping) {
        struct timespec until;
        clock_gettime(CLOCK_MONOTONIC, &until);
        until.tv_sec += (time_t)(period_ms / 1000);
        until.tv_nsec += (long)(period_ms % 1000) * 1000000L;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
        int rc = pthread_cond_timedwait(&t->wake, &t->mu, &until);
        if (t->stopping)
            break;
        if (rc == ETIMEDOUT) {
            pthread_mutex_unlock(&t->mu);
            jn_seq_table_sweep(t);
            pthread_mutex_lock(&t->mu);
        }
    }
    pthread_mutex_unlock(&t->mu);
    return NULL;
}

jn_seq_table *jn_seq_table_create(jn_engine *engine, jn_engine *inner, const jn_sequence_config *cfg, jn_err *err)
{
    jn_seq_table *t = calloc(1, sizeof *t);
    if (!t) {
        jn_err_set(err, JN_ENOMEM, "out of memory");
        return NULL;
    }
    t->engine = engine;
    t->inner = inner;
    t->cfg = *cfg;
    t->n_buckets = 64;
    while (t->n_buckets < cfg->max_sequences && t->n_buckets < (1u << 16))
        t->n_buckets <<= 1;
    t->buckets = calloc(t->n_buckets, sizeof *t->buckets);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    bool ok = t->buckets && pthread_mutex_init(&t->mu, NULL) == 0 && pthread_cond_init(&t->wake, &ca) == 0;
    pthread_condattr_destroy(&ca);
    if (!ok) {
        free(t->buckets);
        free(t);
        jn_err_set(err, JN_ENOMEM, "out of memory");
        return NULL;
    }
    if (cfg->idle_timeout_ms) {
        if (pthread_create(&t->sweeper, NULL, sweeper_main, t) != 0) {
            jn_seq_table_destroy(t);
            jn_err_set(err, JN_ERESOURCE, "model '%s': cannot start the sequence sweeper thread", engine->name);
            return NULL;
        }
        t->sweeper_started = true;
    }
    return t;
}

void jn_seq_table_destroy(jn_seq_table *t)
{
    if (!t)
        return;
    if (t->sweeper_started) {
        pthread_mutex_lock(&t->mu);
        t->stopping = true;
        pthread_cond_signal(&t->wake);
        pthread_mutex_unlock(&t->mu);
        pthread_join(t->sweeper, NULL);
    }
    for (size_t b = 0; b < t->n_buckets; b++)
        while (t->buckets[b]) {
            jn_seq *s = t->buckets[b];
            t->buckets[b] = s->next;
            seq_free(s);
        }
    free(t->buckets);
    pthread_cond_destroy(&t->wake);
    pthread_mutex_destroy(&t->mu);
    free(t);
}

size_t jn_seq_table_count(jn_seq_table *t)
{
    pthread_mutex_lock(&t->mu);
    size_t n = t->count;
    pthread_mutex_unlock(&t->mu);
    return n;
}

/* ---- joining and leaving ---- */

struct jn_seq_scope {
    pthread_mutex_t mu;
    uint64_t serial;
    jn_engine **engines; /* the sequence engines it opened a sequence in (a reference each) */
    size_t n, cap;
};

static int scope_note(jn_seq_scope *sc, jn_engine *e)
{
    int rc = 0;
    pthread_mutex_lock(&sc->mu);
    size_t i = 0;
    while (i < sc->n && sc->engines[i] != e)
        i++;
    if (i == sc->n) {
        if (sc->n == sc->cap) {
            size_t cap = sc->cap ? sc->cap * 2 : 4;
            jn_engine **p = realloc(sc->engines, cap * sizeof *p);
            if (!p)
                rc = JN_ENOMEM;
            else {
                sc->engines = p;
                sc->cap = cap;
            }
        }
        if (!rc)
            sc->engines[sc->n++] = jn_engine_ref(e);
    }
    pthread_mutex_unlock(&sc->mu);
    return rc;
}

/* The sequence key of a request: 0 with key set ("" = none), or JN_EINVAL. Reads sequence_start / sequence_end. */
static int read_params(const jn_seq_table *t, const jn_params *params, char *key, size_t n, bool *start, bool *end,
                       jn_err *err)
{
    const char *model = t->engine->name;
    key[0] = '\0';
    *start = *end = false;
    const jn_param *p = params ? jn_params_find(params, "sequence_id") : NULL;
    if (p) {
        if (p->type == JN_PARAM_INT)
            snprintf(key, n, "i:%" PRId64, p->v.i);
        else if (p->type == JN_PARAM_STRING && p->v.s[0] && strlen(p->v.s) < n - 3)
            snprintf(key, n, "s:%s", p->v.s);
        else
            return jn_err_set(err, JN_EINVAL,
                              "model '%s': parameter 'sequence_id' must be an integer or a non-empty string of at "
                              "most %zu bytes",
                              model, n - 4);
    }
    const char *flags[2] = {"sequence_start", "sequence_end"};
    bool *outs[2] = {start, end};
    for (int i = 0; i < 2; i++) {
        const jn_param *f = params ? jn_params_find(params, flags[i]) : NULL;
        if (!f)
            continue;
        if (f->type != JN_PARAM_BOOL)
            return jn_err_set(err, JN_EINVAL, "model '%s': parameter '%s' must be true or false", model, flags[i]);
        *outs[i] = f->v.b;
    }
    return 0;
}

int jn_seq_join(jn_seq_table *t, const jn_params *params, jn_seq_scope *scope, void *handle, jn_seq_slot *slot,
                bool *parked, jn_err *err)
{
    memset(slot, 0, sizeof *slot);
    *parked = false;
    char key[320];
    bool start, end;
    int rc = read_params(t, params, key, sizeof key, &start, &end, err);
    if (rc)
        return rc;
    bool implicit = false; /* the stream's own sequence */
    if (!key[0] && scope) {
        snprintf(key, sizeof key, "t:%" PRIu64, scope->serial);
        implicit = true;
    }
    slot->table = t;
    slot->start = start;
    slot->end = end;
    if (!key[0]) { /* a lone call: a sequence of one request */
        slot->seq = calloc(1, sizeof *slot->seq);
        if (!slot->seq)
            return jn_err_set(err, JN_ENOMEM, "out of memory");
        slot->seq->busy = true;
        return 0;
    }
    if (implicit && (rc = scope_note(scope, t->engine)))
        return jn_err_set(err, rc, "out of memory");
    pthread_mutex_lock(&t->mu);
    jn_seq **p = find_locked(t, key);
    if (*p && expired(t, *p, jn_now_ns())) { /* dropped, to the sweeper's period */
        jn_seq *old = *p;
        *p = old->next;
        t->count--;
        seq_free(old);
    }
    jn_seq *s = *p;
    if (!s) {
        if (!start && !implicit) {
            pthread_mutex_unlock(&t->mu);
            return jn_err_set(err, JN_EINVAL,
                              "model '%s': sequence %s is not active (it never started, ended, was idle longer than "
                              "idle_timeout_ms %" PRIu64 ", or is held by another replica): its first request "
                              "needs sequence_start=true",
                              t->engine->name, key + 2, t->cfg.idle_timeout_ms);
        }
        if (t->count >= t->cfg.max_sequences) {
            size_t alive = t->count;
            pthread_mutex_unlock(&t->mu);
            return jn_err_set(err, JN_ERESOURCE,
                              "model '%s': %zu sequences are active, the limit max_sequences is %" PRIu64
                              ": end one (sequence_end, or close its stream) or wait for idle_timeout_ms",
                              t->engine->name, alive, t->cfg.max_sequences);
        }
        s = calloc(1, sizeof *s);
        if (!s || !(s->key = strdup(key))) {
            free(s);
            pthread_mutex_unlock(&t->mu);
            return jn_err_set(err, JN_ENOMEM, "out of memory");
        }
        *p = s;
        t->count++;
    }
    s->last_used_ns = jn_now_ns();
    slot->seq = s;
    if (s->busy && !handle) { /* a direct call (a pipeline step) cannot wait to be handed the sequence */
        pthread_mutex_unlock(&t->mu);
        memset(slot, 0, sizeof *slot);
        return jn_err_set(err, JN_EUNAVAIL, "model '%s': the stream's sequence is busy with another call (a stream "
                                            "that calls a stateful model both directly and through a pipeline must "
                                            "wait for each answer)", t->engine->name);
    }
    if (s->busy) {
        waiter *w = calloc(1, sizeof *w);
        if (!w) {
            pthread_mutex_unlock(&t->mu);
            memset(slot, 0, sizeof *slot);
            return jn_err_set(err, JN_ENOMEM, "out of memory");
        }
        w->handle = handle;
        w->start = start;
        w->end = end;
        if (s->tail)
            s->tail->next = w;
        else
            s->head = w;
        s->tail = w;
        *parked = true;
    } else {
        s->busy = true;
    }
    pthread_mutex_unlock(&t->mu);
    return 0;
}

void *jn_seq_leave(jn_seq_slot *slot)
{
    jn_seq_table *t = slot->table;
    jn_seq *s = slot->seq;
    void *next = NULL;
    if (!s)
        return NULL;
    if (!s->key) { /* a lone call */
        seq_free(s);
        memset(slot, 0, sizeof *slot);
        return NULL;
    }
    pthread_mutex_lock(&t->mu);
    s->last_used_ns = jn_now_ns();
    if (s->head) { /* the next call holds it now; its start / end flags come with it */
        waiter *w = s->head;
        s->head = w->next;
        if (!s->head)
            s->tail = NULL;
        next = w->handle;
        free(w);
        if (slot->end) /* those queued behind an end start afresh */
            for (size_t i = 0; i < JN_MAX_SEQUENCE_STATES; i++)
                if (s->state[i]) {
                    jn_tensor_free(s->state[i]);
                    s->state[i] = NULL;
                }
    } else {
        s->busy = false;
        if (slot->end || s->closing)
            remove_locked(t, s);
    }
    pthread_mutex_unlock(&t->mu);
    memset(slot, 0, sizeof *slot);
    return next;
}

/* ---- running ---- */

/* The initial value of state input `i`. */
static jn_tensor *initial_state(const jn_seq_table *t, size_t i, jn_err *err)
{
    const jn_sequence_state_config *st = &t->cfg.state[i];
    const jn_port *port = jn_signature_find_input(&t->inner->sig, st->input);
    if (!port) {
        jn_err_set(err, JN_EINTERNAL, "model '%s': no state input '%s'", t->engine->name, st->input);
        return NULL;
    }
    jn_tensor *x = jn_tensor_create(st->input, port->dtype, port->ndim, port->shape, err);
    if (!x || !st->n_initial)
        return x;
    int64_t n = jn_tensor_element_count(x);
    for (int64_t k = 0; k < n; k++) {
        double v = st->initial[st->n_initial == 1 ? 0 : k];
        switch (x->dtype) {
        case JN_DTYPE_FP32: ((float *)x->data)[k] = (float)v; break;
        case JN_DTYPE_FP64: ((double *)x->data)[k] = v; break;
        case JN_DTYPE_INT32: ((int32_t *)x->data)[k] = (int32_t)v; break;
        case JN_DTYPE_INT64: ((int64_t *)x->data)[k] = (int64_t)v; break;
        default:
            jn_tensor_free(x);
            jn_err_set(err, JN_EINTERNAL, "model '%s': sequence.state[%zu].initial: no literal for a %s input",
                       t->engine->name, i, jn_dtype_name(port->dtype)); /* refused at load (model_config.c) */
            return NULL;
        }
    }
    return x;
}

static bool is_state_output(const jn_sequence_config *cfg, const char *name)
{
    for (size_t i = 0; i < cfg->n_state; i++)
        if (strcmp(cfg->state[i].output, name) == 0)
            return true;
    return false;
}

int jn_seq_run(jn_seq_slot *slot, const jn_infer_ctx *ctx, const jn_tensor_list *inputs, jn_tensor_list *outputs,
               jn_err *err)
{
    jn_seq_table *t = slot->table;
    jn_seq *s = slot->seq;
    const jn_sequence_config *cfg = &t->cfg;
    if (slot->start) { /* starts again from the initial value (once: a call may run several steps) */
        for (size_t i = 0; i < cfg->n_state; i++)
            if (s->state[i]) {
                jn_tensor_free(s->state[i]);
                s->state[i] = NULL;
            }
        slot->start = false;
    }
    int rc = 0;
    jn_tensor_list in;
    jn_tensor_list_init(&in);
    for (size_t i = 0; i < inputs->count && !rc; i++) {
        jn_tensor *x = jn_tensor_share(inputs->items[i], NULL, err);
        rc = !x ? (err->code ? err->code : JN_ENOMEM) : jn_tensor_list_push(&in, x);
    }
    for (size_t i = 0; i < cfg->n_state && !rc; i++) {
        jn_tensor *x = s->state[i] ? jn_tensor_share(s->state[i], cfg->state[i].input, err) : initial_state(t, i, err);
        rc = !x ? (err->code ? err->code : JN_ENOMEM) : jn_tensor_list_push(&in, x);
    }
    /* What the caller asked for (none: the public outputs), then the state outputs it did not ask for. */
    size_t asked = ctx->n_outputs ? ctx->n_outputs : t->engine->sig.n_outputs, n = 0;
    const char **names = malloc((asked + cfg->n_state) * sizeof *names);
    if (!names) {
        jn_tensor_list_clear(&in);
        return jn_err_set(err, JN_ENOMEM, "out of memory");
    }
    for (size_t i = 0; i < asked; i++)
        names[n++] = ctx->n_outputs ? ctx->outputs[i] : t->engine->sig.outputs[i].name;
    for (size_t i = 0; i < cfg->n_state; i++) {
        bool there = false;
        for (size_t k = 0; k < asked; k++)
            there = there || strcmp(names[k], cfg->state[i].output) == 0;
        if (!there)
            names[n++] = cfg->state[i].output;
    }
    jn_infer_ctx c2 = *ctx;
    c2.outputs = names;
    c2.n_outputs = n;
    jn_tensor_list produced;
    jn_tensor_list_init(&produced);
    if (!rc)
        rc = jn_exec_engine(t->inner, &c2, &in, &produced, err);
    jn_tensor_list_clear(&in);
    free(names);
    /* The new state, checked against the input it feeds (a model whose state changes shape is refused). */
    jn_tensor *fresh[JN_MAX_SEQUENCE_STATES] = {0};
    for (size_t i = 0; i < cfg->n_state && !rc; i++) {
        const jn_tensor *o = jn_tensor_list_find(&produced, cfg->state[i].output);
        const jn_port *port = jn_signature_find_input(&t->inner->sig, cfg->state[i].input);
        if (!o || !port) {
            rc = jn_err_set(err, JN_EINTERNAL, "model '%s': the model gave no state output '%s'", t->engine->name,
                            cfg->state[i].output);
            break;
        }
        bool same = o->ndim == port->ndim && o->dtype == port->dtype;
        for (int d = 0; same && d < o->ndim; d++)
            same = o->shape[d] == port->shape[d];
        if (!same) {
            char a[64], b[64];
            rc = jn_err_set(err, JN_EINTERNAL,
                            "model '%s': state output '%s' is %s, but state input '%s' takes %s", t->engine->name,
                            cfg->state[i].output, jn_format_type(a, sizeof a, o->dtype, o->ndim, o->shape),
                            cfg->state[i].input, jn_format_type(b, sizeof b, port->dtype, port->ndim, port->shape));
            break;
        }
        fresh[i] = jn_tensor_share(o, cfg->state[i].input, err);
        if (!fresh[i])
            rc = err->code ? err->code : JN_ENOMEM;
    }
    if (rc) { /* the state stays as it was */
        for (size_t i = 0; i < cfg->n_state; i++)
            if (fresh[i])
                jn_tensor_free(fresh[i]);
        jn_tensor_list_clear(&produced);
        return rc;
    }
    for (size_t i = 0; i < cfg->n_state; i++) {
        if (s->state[i])
            jn_tensor_free(s->state[i]);
        s->state[i] = fresh[i];
    }
    /* produced holds the names in order: the caller's first, then the state outputs it did not ask for. */
    for (size_t k = 0; k < produced.count; k++) {
        jn_tensor *x = produced.items[k];
        produced.items[k] = NULL;
        if (k < asked || !is_state_output(cfg, x->name))
            rc = rc ? (jn_tensor_free(x), rc) : jn_tensor_list_push(outputs, x);
        else
            jn_tensor_free(x);
    }
    produced.count = 0;
    jn_tensor_list_clear(&produced);
    return rc ? jn_err_set(err, rc, "out of memory") : 0;
}

/* ---- the sequence engine ---- */

typedef struct seq_engine {
    jn_engine_vtable vt; /* the static one, with the inner engine's platform and model type */
    jn_engine *inner;
    jn_seq_table *table;
} seq_engine;

static int seq_engine_infer(jn_engine *self, const jn_infer_ctx *ctx, const jn_tensor_list *inputs,
                            jn_tensor_list *outputs, jn_err *err)
{
    seq_engine *se = self->ctx;
    jn_seq_slot slot;
    bool parked;
    /* A pipeline step on a stream continues the stream's sequence (the pipeline's own sequence engine keeps the
     * stream's calls in order, so the sequence is free); elsewhere a lone call. */
    int rc = jn_seq_join(se->table, NULL, ctx->seq_scope, NULL, &slot, &parked, err);
    if (rc)
        return rc;
    rc = jn_seq_run(&slot, ctx, inputs, outputs, err);
    jn_seq_leave(&slot);
    return rc;
}

static const jn_port *seq_engine_find_output(const jn_engine *self, const char *name)
{
    const seq_engine *se = self->ctx;
    if (is_state_output(&se->table->cfg, name))
        return jn_signature_find_output(&se->inner->sig, name);
    return se->inner->vt->find_output ? se->inner->vt->find_output(se->inner, name) : NULL;
}

static void seq_engine_destroy(jn_engine *self)
{
    seq_engine *se = self->ctx;
    jn_seq_table_destroy(se->table);
    jn_engine_unref(se->inner);
    free(se);
}

static const jn_engine_vtable seq_vtable = {
    .abi_version = JN_ENGINE_ABI_VERSION,
    .infer = seq_engine_infer,
    .find_output = seq_engine_find_output,
    .destroy = seq_engine_destroy,
};

static int copy_port(jn_signature *sig, const jn_port *p, bool input, jn_err *err)
{
    int rc = input ? jn_signature_add_input(sig, p->name, p->kind, p->dtype, p->ndim, p->shape, err)
                   : jn_signature_add_output(sig, p->name, p->kind, p->dtype, p->ndim, p->shape, err);
    if (rc)
        return rc;
    jn_port *q = input ? &sig->inputs[sig->n_inputs - 1] : &sig->outputs[sig->n_outputs - 1];
    q->optional = p->optional;
    q->sample_rate = p->sample_rate; /* issue #17: an AUDIO_TENSOR port's rate and an input's default */
    if (p->default_value && !(q->default_value = jn_tensor_share(p->default_value, p->name, err)))
        return err ? err->code : JN_ENOMEM;
    if (p->description && !(q->description = strdup(p->description)))
        return jn_err_set(err, JN_ENOMEM, "out of memory");
    if (p->n_labels)
        return jn_port_set_labels(q, (const char *const *)p->labels, p->n_labels, err);
    return 0;
}

jn_engine *jn_sequence_engine_wrap(jn_engine *inner, const jn_sequence_config *cfg, jn_err *err)
{
    seq_engine *se = calloc(1, sizeof *se);
    if (!se) {
        jn_engine_unref(inner);
        jn_err_set(err, JN_ENOMEM, "out of memory");
        return NULL;
    }
    se->vt = seq_vtable;
    se->vt.platform = inner->vt->platform;
    se->vt.model_type = inner->vt->model_type;
    se->inner = inner;
    jn_engine *e = jn_engine_create(&se->vt, inner->name, inner->version, inner->description, se, err);
    if (!e) {
        jn_engine_unref(inner);
        free(se);
        return NULL;
    }
    /* Until the table exists the engine's destroy must not see a half-made context. */
    se->table = jn_seq_table_create(e, inner, cfg, err);
    int rc = se->table ? 0 : err->code;
    for (size_t i = 0; i < inner->sig.n_inputs && !rc; i++) {
        bool state = false;
        for (size_t k = 0; k < cfg->n_state; k++)
            state = state || strcmp(cfg->state[k].input, inner->sig.inputs[i].name) == 0;
        if (!state)
            rc = copy_port(&e->sig, &inner->sig.inputs[i], true, err);
    }
    for (size_t i = 0; i < inner->sig.n_outputs && !rc; i++)
        if (!is_state_output(cfg, inner->sig.outputs[i].name))
            rc = copy_port(&e->sig, &inner->sig.outputs[i], false, err);
    if (rc) {
        jn_engine_unref(e); /* destroy: the table (if any) and inner */
        return NULL;
    }
    /* Answers depend on the sequence's state: never cached, never batched across sequences. */
    e->flags = (inner->flags & JN_ENGINE_INLINE) | JN_ENGINE_VOLATILE;
    atomic_store(&e->ready, atomic_load(&inner->ready));
    return e;
}

jn_engine *jn_sequence_inner(const jn_engine *e)
{
    return e && e->vt->destroy == seq_engine_destroy ? ((seq_engine *)e->ctx)->inner : NULL;
}

const jn_signature *jn_sequence_inner_signature(const jn_engine *e)
{
    const jn_engine *inner = jn_sequence_inner(e);
    return inner ? &inner->sig : &e->sig;
}

jn_seq_table *jn_sequence_table(const jn_engine *e)
{
    return e && e->vt->destroy == seq_engine_destroy ? ((seq_engine *)e->ctx)->table : NULL;
}

/* ---- streams ---- */

jn_seq_scope *jn_seq_scope_create(void)
{
    static atomic_uint_least64_t serials = 1;
    jn_seq_scope *sc = calloc(1, sizeof *sc);
    if (!sc)
        return NULL;
    if (pthread_mutex_init(&sc->mu, NULL) != 0) {
        free(sc);
        return NULL;
    }
    sc->serial = atomic_fetch_add_explicit(&serials, 1, memory_order_relaxed);
    return sc;
}

void jn_seq_scope_close(jn_seq_scope *sc)
{
    if (!sc)
        return;
    char key[32];
    snprintf(key, sizeof key, "t:%" PRIu64, sc->serial);
    for (size_t i = 0; i < sc->n; i++) {
        jn_seq_table *t = jn_sequence_table(sc->engines[i]);
        pthread_mutex_lock(&t->mu);
        jn_seq **p = find_locked(t, key);
        if (*p) {
            if ((*p)->busy) {
                (*p)->closing = true;
            } else {
                jn_seq *s = *p;
                *p = s->next;
                t->count--;
                seq_free(s);
            }
        }
        pthread_mutex_unlock(&t->mu);
        jn_engine_unref(sc->engines[i]);
    }
    free(sc->engines);
    pthread_mutex_destroy(&sc->mu);
    free(sc);
}
