/* pipeline/run.c — running a compiled pipeline: the engine's infer and infer_stream.
 *
 * Only the steps the requested outputs need run; inputs are handed over by reference; ready steps run on the
 * calling thread, extra ready steps are offered to the worker pool (a pool job that finds nothing left to do just
 * returns, so nobody ever waits on a step that has not started). */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "batcher.h"
#include "executor.h"
#include "internal.h"
#include "trace.h"
#include "workpool.h"

/* ---- run ---- */

/* S_SKIP: not needed for the requested outputs; S_OFF: needed, but its condition was false or a step it needs was
 * skipped (never started); S_OFF counts as finished for the steps waiting on it, which then skip too. */
enum { S_SKIP, S_WAIT, S_READY, S_RUNNING, S_DONE, S_OFF };
enum { STEP_INPUT_SLOTS = 8 };

/* One call of a pipeline. Made in one allocation sized for the pipeline (run_create), so a call costs one
 * malloc however many steps it has. Two ways to run it:
 *   - in order on the calling thread (run_in_order), when every step is inline or there is no pool: no lock, no
 *     shared state, nothing to wait for;
 *   - concurrently (run_concurrent): the caller and pool jobs take ready steps under `mu`; `refs` keeps the run
 *     alive for pool jobs that start after the caller has left. */
typedef struct run {
    atomic_int refs;
    bool concurrent; /* mu and cv are initialised */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    const pipe *p;
    jn_engine *self; /* the pipeline (a mirror call holds a reference on it while it runs) */
    const jn_infer_ctx *ctx;
    const jn_tensor_list *inputs;
    jn_tensor_list *outs; /* per step, over slots in this allocation */
    int *missing;         /* per step: producers not yet done */
    unsigned char *state; /* per step: S_* */
    bool *wanted;         /* per step: needed for the requested outputs */
    bool *after;          /* per step: downstream of the streaming step (streaming calls) */
    const char **picked;  /* per step: the candidate a routed step used (its answer's "route.<step>") */
    int n_to_run, n_done, running, offered;
    int rc;
    jn_err *first_err; /* the caller's: receives the first failure (concurrent runs; may be NULL) */
} run;

static size_t align8(size_t n)
{
    return (n + 7) & ~(size_t)7;
}

static run *run_create(const pipe *p, const jn_infer_ctx *ctx, const jn_tensor_list *inputs)
{
    size_t n = p->n_steps, slots = 0;
    for (size_t i = 0; i < n; i++)
        slots += p->steps[i].engine->sig.n_outputs;
    size_t at_outs = align8(sizeof(run)), at_slots = at_outs + n * sizeof(jn_tensor_list),
           at_missing = at_slots + slots * sizeof(jn_tensor *), at_state = at_missing + n * sizeof(int),
           at_wanted = at_state + n, at_after = at_wanted + n, at_picked = align8(at_after + n),
           size = at_picked + n * sizeof(const char *);
    char *block = malloc(size);
    if (!block)
        return NULL;
    run *r = (run *)block;
    memset(r, 0, sizeof *r);
    atomic_init(&r->refs, 1);
    r->p = p;
    r->ctx = ctx;
    r->inputs = inputs;
    r->outs = (jn_tensor_list *)(block + at_outs);
    r->missing = (int *)(block + at_missing);
    r->state = (unsigned char *)(block + at_state);
    r->wanted = (bool *)(block + at_wanted);
    r->after = (bool *)(block + at_after);
    r->picked = (const char **)(block + at_picked);
    memset(r->picked, 0, n * sizeof *r->picked);
    jn_tensor **slot = (jn_tensor **)(block + at_slots);
    for (size_t i = 0; i < n; i++) {
        size_t k = p->steps[i].engine->sig.n_outputs;
        jn_tensor_list_init_on(&r->outs[i], slot, k);
        slot += k;
    }
    memset(r->wanted, 0, n);
    memset(r->after, 0, n);
    return r;
}

static void run_unref(run *r)
{
    if (atomic_fetch_sub(&r->refs, 1) != 1)
        return;
    for (size_t i = 0; i < r->p->n_steps; i++)
        jn_tensor_list_clear(&r->outs[i]);
    if (r->concurrent) {
        pthread_mutex_destroy(&r->mu);
        pthread_cond_destroy(&r->cv);
    }
    free(r);
}

static const jn_tensor *source_tensor(const run *r, const step_input *in)
{
    if (in->src_step < 0)
        return jn_tensor_list_find(r->inputs, in->src_port);
    return jn_tensor_list_find(&r->outs[in->src_step], in->src_port);
}

/* One run of step s, from `started` (exec_step, or the streaming step in pipeline_infer_stream). Returns when it
 * ended, which is also when the next step of an in-order run starts: one clock read per step. */
static int64_t record_step(const pipe *p, int s, int rc, int64_t started)
{
    int64_t ended = jn_now_ns();
    jn_step_stats *stats = atomic_load_explicit(&p->steps[s].stats, memory_order_acquire);
    if (!stats) { /* racing first runs find the same object */
        stats = jn_metrics_step(p->spec.name, p->steps[s].id);
        atomic_store_explicit(&p->steps[s].stats, stats, memory_order_release);
    }
    jn_metrics_step_record(stats, rc == 0, ended - started);
    return ended;
}

static int64_t list_bytes(const jn_tensor_list *l)
{
    int64_t n = 0;
    for (size_t i = 0; i < l->count; i++)
        n += (int64_t)l->items[i]->byte_size;
    return n;
}

/* Ends a step's span (trace.h): "step <id>" with the engine that ran it, its outcome and sizes. */
static void span_step_end(jn_span *span, const pipe *p, int s, const jn_engine *e, int rc, const jn_err *err,
                          const jn_tensor_list *ins, const jn_tensor_list *outs, int64_t end_ns)
{
    jn_span_attrs a = JN_SPAN_ATTRS_NONE;
    a.model = e->name;
    a.version = e->version;
    a.status = jn_err_grpc_status(rc);
    a.error = rc && err ? err->msg : NULL;
    a.in_bytes = list_bytes(ins);
    a.out_bytes = outs ? list_bytes(outs) : -1;
    jn_span_end(span, "step", p->steps[s].id, JN_SPAN_INTERNAL, end_ns, &a);
}

/* Step st's inputs, shared from their sources (no copy) under the engine's port names and converted where the
 * compiler inserted a conversion, then checked where their sources do not already guarantee the port's type. */
static int build_step_inputs(const run *r, const pstep *st, jn_tensor_list *ins, jn_err *err)
{
    int rc = 0;
    for (size_t k = 0; k < st->n_ins && !rc; k++) {
        const step_input *in = &st->ins[k];
        const jn_tensor *src = source_tensor(r, in);
        jn_tensor *t = src ? jn_tensor_share(src, in->port->name, err) : NULL;
        if (!src)
            rc = jn_err_set(err, JN_EINTERNAL, "source '%s' missing", in->src_port);
        else if (!t)
            rc = err->code;
        else if (in->n_chain)
            rc = jn_convert_apply(in->chain, in->n_chain, t, &t, err);
        if (!rc && jn_tensor_list_push(ins, t))
            rc = jn_err_set(err, JN_ENOMEM, "out of memory");
    }
    if (!rc && st->check_inputs)
        rc = jn_signature_validate_inputs(&st->engine->sig, st->engine->name, ins, err);
    return rc;
}

/* The step's parameters over the call's, into *merged (which the caller clears), for a step that has its own. */
static int step_params(const pstep *st, jn_infer_ctx *ctx, jn_params *merged, jn_err *err)
{
    if (!st->params.count)
        return 0;
    const jn_params *lists[2] = {ctx->params, &st->params};
    int rc = 0;
    for (int l = 0; l < 2; l++) {
        for (size_t i = 0; lists[l] && i < lists[l]->count && !rc; i++) {
            const jn_param *q = &lists[l]->items[i];
            rc = q->type == JN_PARAM_BOOL     ? jn_params_set_bool(merged, q->key, q->v.b)
                 : q->type == JN_PARAM_INT    ? jn_params_set_int(merged, q->key, q->v.i)
                 : q->type == JN_PARAM_DOUBLE ? jn_params_set_double(merged, q->key, q->v.d)
                                              : jn_params_set_string(merged, q->key, q->v.s);
        }
    }
    if (rc) {
        jn_params_clear(merged);
        return jn_err_set(err, JN_ENOMEM, "out of memory");
    }
    ctx->params = merged;
    return 0;
}

static jn_infer_ctx step_ctx(const jn_infer_ctx *call, const pstep *st)
{
    jn_infer_ctx ctx = *call;
    ctx.model = st->engine->name;
    ctx.outputs = NULL;
    ctx.n_outputs = 0;
    ctx.answer = NULL; /* a step's own answer parameters (a nested pipeline's routes) are not the caller's */
    return ctx;
}

/* ---- mirrors: a copy of a routed step's call, off the caller's path ---- */

typedef struct mirror_job {
    jn_engine *pipeline; /* held: keeps the route (and its candidates) alive */
    route *route;
    jn_tensor_list ins;
} mirror_job;

static const jn_params no_params;

static void mirror_run(void *arg)
{
    mirror_job *j = arg;
    route_cand *m = j->route->mirror;
    const pipe *p = j->pipeline->ctx;
    jn_infer_ctx ctx = {.model = m->name, .request_id = "", .params = &no_params};
    jn_tensor_list outs;
    jn_tensor_list_init(&outs);
    jn_err err;
    jn_err_clear(&err);
    int64_t started = jn_now_ns();
    int rc = m->model->batcher ? jn_batcher_run(m->model->batcher, &ctx, &j->ins, &outs, &err)
                               : jn_exec_engine(m->engine, &ctx, &j->ins, &outs, &err);
    jn_metrics_step_record(jn__route_stats(m, p->spec.name), rc == 0, jn_now_ns() - started);
    jn_tensor_list_clear(&outs); /* the shadow's answer is discarded */
    jn_tensor_list_clear(&j->ins);
    atomic_fetch_sub(&j->route->mirror_inflight, 1);
    jn_engine_unref(j->pipeline);
    free(j);
}

/* Hands a copy of the step's inputs to the mirror on the pool; never waits. Dropped (counted as a failed mirror run)
 * without a pool, past JN_ROUTE_MIRROR_MAX_INFLIGHT, or out of memory. */
static void mirror_submit(const run *r, route *rt, const jn_tensor_list *ins)
{
    const pipe *p = r->p;
    mirror_job *j = NULL;
    if (!r->ctx->pool || !r->self ||
        atomic_fetch_add(&rt->mirror_inflight, 1) >= JN_ROUTE_MIRROR_MAX_INFLIGHT) {
        if (r->ctx->pool && r->self)
            atomic_fetch_sub(&rt->mirror_inflight, 1);
        goto dropped;
    }
    if (!(j = calloc(1, sizeof *j)))
        goto undo;
    jn_tensor_list_init(&j->ins);
    for (size_t k = 0; k < ins->count; k++) {
        jn_tensor *t = jn_tensor_share(ins->items[k], ins->items[k]->name, NULL);
        if (!t || jn_tensor_list_push(&j->ins, t)) {
            jn_tensor_free(t);
            goto undo;
        }
    }
    j->route = rt;
    j->pipeline = jn_engine_ref(r->self);
    if (jn_workpool_submit(r->ctx->pool, mirror_run, j) == 0)
        return;
    jn_engine_unref(j->pipeline);
undo:
    if (j) {
        jn_tensor_list_clear(&j->ins);
        free(j);
    }
    atomic_fetch_sub(&rt->mirror_inflight, 1);
dropped:
    jn_metrics_step_record(jn__route_stats(rt->mirror, p->spec.name), false, 0);
}

/* Runs step s into r->outs[s] (empty before). Runs without r->mu. A step refused before it starts (deadline,
 * cancellation) is not a run; anything after that is one, counted with its duration. *clock_ns is when the step
 * starts (0: read the clock) and becomes when it ended. */
static int exec_step(run *r, int s, int64_t *clock_ns, jn_err *err)
{
    const pipe *p = r->p;
    const pstep *st = &p->steps[s];
    jn_infer_ctx ctx = step_ctx(r->ctx, st);
    int rc = jn_infer_ctx_check(&ctx, err);
    if (rc) {
        jn_err_set(err, rc, "pipeline '%s': %s before %s", p->spec.name,
                   rc == JN_EDEADLINE ? "deadline exceeded" : "call cancelled", st->label);
        return rc;
    }
    jn_params merged;
    jn_params_init(&merged);
    if ((rc = step_params(st, &ctx, &merged, err)))
        return rc;
    int64_t started = *clock_ns ? *clock_ns : jn_now_ns();
    jn_span span;
    jn_span_start_at(&span, r->ctx->trace, started);
    ctx.trace = jn_span_ctx(&span, r->ctx->trace);
    jn_tensor *slots[STEP_INPUT_SLOTS];
    jn_tensor_list ins;
    jn_tensor_list_init_on(&ins, slots, STEP_INPUT_SLOTS);
    rc = build_step_inputs(r, st, &ins, err);
    route_cand *cand = NULL;
    if (!rc && st->route) { /* this call's candidate; a copy to the mirror first (it never waits) */
        cand = &st->route->cands[jn__route_pick(st->route, r->ctx->params)];
        ctx.model = cand->name;
        r->picked[s] = cand->name;
        if (st->route->mirror)
            mirror_submit(r, st->route, &ins);
        rc = cand->model->batcher ? jn_batcher_run(cand->model->batcher, &ctx, &ins, &r->outs[s], err)
                                  : jn_exec_engine(cand->engine, &ctx, &ins, &r->outs[s], err);
    } else if (!rc) {
        rc = st->queue ? jn_batcher_run(st->queue, &ctx, &ins, &r->outs[s], err) /* all or nothing, any way */
             : !st->own_engine && st->model && st->model->batcher
                 ? jn_batcher_run(st->model->batcher, &ctx, &ins, &r->outs[s], err)
                 : jn_exec_engine(st->engine, &ctx, &ins, &r->outs[s], err);
    }
    int64_t ended = record_step(p, s, rc, started);
    if (span.recording)
        span_step_end(&span, p, s, cand ? cand->engine : st->engine, rc, err, &ins, &r->outs[s], ended);
    jn_tensor_list_clear(&ins);
    jn_params_clear(&merged);
    *clock_ns = ended;
    if (cand)
        jn_metrics_step_record(jn__route_stats(cand, p->spec.name), rc == 0, *clock_ns - started);
    if (rc)
        jn_err_prefix(err, "pipeline '%s': %s", p->spec.name, st->label);
    return rc;
}

static const jn_tensor *cond_lookup(const void *arg, int step, const char *port)
{
    const run *r = arg;
    return step < 0 ? jn_tensor_list_find(r->inputs, port) : jn_tensor_list_find(&r->outs[step], port);
}

/* Should step s (whose producers have all finished) be skipped? 1 yes, 0 no, or a negative JN_E* (a condition that
 * cannot be evaluated: more than one item, say). Reads only finished steps' state and outputs. */
static int skip_step(const run *r, int s, jn_err *err)
{
    const pstep *st = &r->p->steps[s];
    for (size_t d = 0; d < st->n_deps; d++)
        if (r->state[st->deps[d]] == S_OFF)
            return 1;
    if (!st->when)
        return 0;
    int v = jn__cond_eval(st->when, cond_lookup, r, err);
    if (v < 0) {
        jn_err_prefix(err, "pipeline '%s': %s: when", r->p->spec.name, st->label);
        return v;
    }
    return !v;
}

/* Marks the steps needed for the r->wanted producer steps (closing r->wanted over their producers) as waiting or
 * ready, and every other step (and every step in `exclude`) as skipped. */
static void plan_needed(run *r, const bool *exclude)
{
    const pipe *p = r->p;
    for (size_t i = p->n_steps; i-- > 0;) { /* reverse topological: consumers before producers */
        int s = p->order[i];
        if (!r->wanted[s])
            continue;
        for (size_t d = 0; d < p->steps[s].n_deps; d++)
            r->wanted[p->steps[s].deps[d]] = true;
    }
    r->n_to_run = 0;
    r->n_done = 0;
    for (size_t s = 0; s < p->n_steps; s++) {
        if (!r->wanted[s] || (exclude && exclude[s])) {
            r->state[s] = S_SKIP;
            continue;
        }
        r->n_to_run++;
        r->missing[s] = 0;
        for (size_t d = 0; d < p->steps[s].n_deps; d++)
            r->missing[s] += !(exclude && exclude[p->steps[s].deps[d]]);
        r->state[s] = r->missing[s] ? S_WAIT : S_READY;
    }
}

/* The planned steps one after the other in topological order, on this thread. */
static int run_in_order(run *r, jn_err *err)
{
    int64_t clock_ns = 0;
    for (size_t i = 0; i < r->p->n_steps; i++) {
        int s = r->p->order[i];
        if (r->state[s] == S_SKIP || r->state[s] == S_DONE)
            continue;
        if (r->p->steps[s].may_skip) {
            int skip = skip_step(r, s, err);
            if (skip < 0)
                return skip;
            if (skip) {
                r->state[s] = S_OFF;
                continue;
            }
        }
        int rc = exec_step(r, s, &clock_ns, err);
        if (rc)
            return rc;
        r->state[s] = S_DONE;
    }
    return 0;
}

/* -- concurrent runs: everything below holds r->mu unless it says otherwise -- */

static int take_ready(run *r)
{
    for (size_t i = 0; i < r->p->n_steps; i++) {
        int s = r->p->order[i];
        if (r->state[s] == S_READY) {
            r->state[s] = S_RUNNING;
            r->running++;
            return s;
        }
    }
    return -1;
}

static int count_ready(const run *r)
{
    int n = 0;
    for (size_t i = 0; i < r->p->n_steps; i++)
        n += r->state[i] == S_READY;
    return n;
}

static void pool_job(void *arg);

/* Offers ready steps nobody has taken to the pool. */
static void offer_ready(run *r)
{
    if (r->rc)
        return;
    int want = count_ready(r) - r->offered;
    for (int i = 0; i < want; i++) {
        atomic_fetch_add(&r->refs, 1);
        if (jn_workpool_submit(r->ctx->pool, pool_job, r) != 0) {
            atomic_fetch_sub(&r->refs, 1);
            break;
        }
        r->offered++;
    }
}

static void finish_step(run *r, int s, int rc, bool skipped, const jn_err *err)
{
    r->running--;
    r->state[s] = skipped ? S_OFF : S_DONE;
    r->n_done++;
    if (rc) {
        if (!r->rc) {
            r->rc = rc;
            if (r->first_err) /* the caller waits for every running step before it reads this */
                *r->first_err = *err;
        }
    } else {
        const pstep *st = &r->p->steps[s];
        for (size_t u = 0; u < st->n_users; u++) {
            int c = st->users[u];
            if (r->state[c] == S_WAIT && --r->missing[c] == 0)
                r->state[c] = S_READY;
        }
    }
    pthread_cond_broadcast(&r->cv);
}

/* Runs ready steps until none is left; returns holding r->mu. */
static void work(run *r)
{
    for (;;) {
        if (r->rc)
            return;
        int s = take_ready(r);
        if (s < 0)
            return;
        offer_ready(r);
        pthread_mutex_unlock(&r->mu);
        jn_err err;
        jn_err_clear(&err);
        int64_t clock_ns = 0;
        /* Its producers are finished (their state and outputs were written under mu, which this thread took since). */
        int skip = r->p->steps[s].may_skip ? skip_step(r, s, &err) : 0;
        int rc = skip < 0 ? skip : skip ? 0 : exec_step(r, s, &clock_ns, &err);
        pthread_mutex_lock(&r->mu);
        finish_step(r, s, rc, skip == 1, &err);
    }
}

static void pool_job(void *arg)
{
    run *r = arg;
    pthread_mutex_lock(&r->mu);
    r->offered--;
    work(r);
    pthread_mutex_unlock(&r->mu);
    run_unref(r);
}

/* The planned steps to completion on this thread plus whatever pool jobs join in. Takes r->mu itself. */
static int run_concurrent(run *r, jn_err *err)
{
    pthread_mutex_lock(&r->mu);
    r->first_err = err;
    for (;;) {
        work(r);
        if (r->rc || r->n_done == r->n_to_run)
            break;
        pthread_cond_wait(&r->cv, &r->mu); /* a step another thread runs */
    }
    while (r->running > 0) /* a failure: let the steps already running end */
        pthread_cond_wait(&r->cv, &r->mu);
    r->first_err = NULL;
    int rc = r->rc;
    pthread_mutex_unlock(&r->mu);
    return rc;
}

static int run_planned(run *r, jn_err *err)
{
    if (r->p->all_inline || !r->ctx->pool)
        return run_in_order(r, err);
    if (!r->concurrent) {
        pthread_mutex_init(&r->mu, NULL);
        pthread_cond_init(&r->cv, NULL);
        r->concurrent = true;
    }
    return run_concurrent(r, err);
}

/* The pipeline output called `name`, or NULL. */
static const pout *out_named(const pipe *p, const char *name)
{
    for (size_t i = 0; i < p->n_outs; i++)
        if (strcmp(p->outs[i].name, name) == 0)
            return &p->outs[i];
    return NULL;
}

/* Which step produces "step.port" (a step's output asked for by name); -1 if none. */
static int step_output(const pipe *p, const char *name, const char **port)
{
    const char *dot = strrchr(name, '.');
    if (!dot)
        return -1;
    int s = jn__pipe_find_step(p, name, (size_t)(dot - name));
    if (s >= 0)
        *port = dot + 1;
    return s;
}

static size_t wanted_count(const jn_engine *self, const jn_infer_ctx *ctx)
{
    return ctx->n_outputs ? ctx->n_outputs : self->sig.n_outputs;
}

static const char *wanted_name(const jn_engine *self, const jn_infer_ctx *ctx, size_t i)
{
    return ctx->n_outputs ? ctx->outputs[i] : self->sig.outputs[i].name;
}

/* Marks the producers of the requested outputs (every source of each) in r->wanted. */
static void want_requested(run *r, const jn_engine *self)
{
    for (size_t i = 0; i < wanted_count(self, r->ctx); i++) {
        const char *name = wanted_name(self, r->ctx, i), *port;
        const pout *o = out_named(r->p, name);
        if (o) {
            for (size_t k = 0; k < o->n_src; k++)
                r->wanted[o->src_steps[k]] = true;
            continue;
        }
        int s = step_output(r->p, name, &port);
        if (s >= 0)
            r->wanted[s] = true;
    }
}

static int collect_outputs(const run *r, const jn_engine *self, jn_tensor_list *outputs, jn_err *err)
{
    for (size_t i = 0; i < wanted_count(self, r->ctx); i++) {
        const char *name = wanted_name(self, r->ctx, i), *port = NULL;
        const pout *o = out_named(r->p, name);
        const jn_tensor *t = NULL;
        if (o) { /* the first source produced */
            for (size_t k = 0; k < o->n_src && !t; k++)
                t = jn_tensor_list_find(&r->outs[o->src_steps[k]], o->src_ports[k]);
            if (!t && o->optional)
                continue; /* every source was skipped: the answer goes without it */
        } else {
            int s = step_output(r->p, name, &port);
            t = s >= 0 ? jn_tensor_list_find(&r->outs[s], port) : NULL;
            if (!t && s >= 0 && r->state[s] == S_OFF)
                return jn_err_set(err, JN_EINVAL, "pipeline '%s': output '%s' was not produced: step '%s' was skipped",
                                  r->p->spec.name, name, r->p->steps[s].id);
        }
        if (!t)
            return jn_err_set(err, JN_EINTERNAL, "pipeline '%s': output '%s' was not produced", r->p->spec.name,
                              name);
        jn_tensor *shared = jn_tensor_share(t, name, err);
        if (!shared || jn_tensor_list_push(outputs, shared))
            return jn_err_set(err, JN_ENOMEM, "out of memory");
    }
    return 0;
}

static int pipeline_infer(jn_engine *self, const jn_infer_ctx *ctx, const jn_tensor_list *inputs,
                          jn_tensor_list *outputs, jn_err *err)
{
    run *r = run_create(self->ctx, ctx, inputs);
    if (!r)
        return jn_err_set(err, JN_ENOMEM, "out of memory");
    r->self = self;
    want_requested(r, self);
    plan_needed(r, NULL);
    int rc = run_planned(r, err);
    if (!rc)
        rc = collect_outputs(r, self, outputs, err);
    if (!rc && ctx->answer) /* the caller's thread, every step finished */
        for (size_t s = 0; s < r->p->n_steps && !rc; s++)
            if (r->picked[s]) {
                char key[300];
                snprintf(key, sizeof key, "route.%s", r->p->steps[s].id);
                if (jn_params_set_string(ctx->answer, key, r->picked[s]))
                    rc = jn_err_set(err, JN_ENOMEM, "out of memory");
            }
    run_unref(r);
    return rc;
}

/* ---- streaming: steps before the streaming step run once; it and the steps after it run per partial ---- */

typedef struct stream_run {
    run *r;
    const jn_engine *self;
    jn_emit_fn emit;
    void *emit_arg;
} stream_run;

static int on_partial(void *arg, jn_tensor_list *partial, jn_err *err)
{
    stream_run *sr = arg;
    run *r = sr->r;
    const pipe *p = r->p;
    int s = p->stream_step;
    jn_tensor_list_clear(&r->outs[s]);
    r->outs[s] = *partial;
    jn_tensor_list_init(partial);
    int rc = 0;
    int64_t clock_ns = 0;
    for (size_t i = 0; i < p->n_steps && !rc; i++) { /* downstream steps, in order, on this thread */
        int d = p->order[i];
        if (!r->after[d] || !r->wanted[d] || d == s)
            continue;
        jn_tensor_list_clear(&r->outs[d]);
        rc = exec_step(r, d, &clock_ns, err);
    }
    jn_tensor_list out;
    jn_tensor_list_init(&out);
    if (!rc)
        rc = collect_outputs(r, sr->self, &out, err);
    if (!rc)
        rc = sr->emit(sr->emit_arg, &out, err);
    jn_tensor_list_clear(&out);
    return rc;
}

/* Runs the streaming step s: its inputs are ready; every partial it emits goes through on_partial. */
static int stream_step(run *r, const jn_engine *self, jn_emit_fn emit, void *emit_arg, jn_err *err)
{
    const pipe *p = r->p;
    int s = p->stream_step;
    const pstep *st = &p->steps[s];
    jn_infer_ctx sctx = step_ctx(r->ctx, st);
    int64_t started = jn_now_ns(); /* the streaming step's run: it lasts until its last partial is handed on */
    jn_span span;
    jn_span_start_at(&span, r->ctx->trace, started);
    sctx.trace = jn_span_ctx(&span, r->ctx->trace);
    jn_tensor *slots[STEP_INPUT_SLOTS];
    jn_tensor_list ins;
    jn_tensor_list_init_on(&ins, slots, STEP_INPUT_SLOTS);
    jn_params merged;
    jn_params_init(&merged);
    int rc = step_params(st, &sctx, &merged, err);
    if (!rc)
        rc = build_step_inputs(r, st, &ins, err);
    stream_run sr = {r, self, emit, emit_arg};
    if (!rc)
        rc = jn_exec_engine_stream(st->engine, &sctx, &ins, on_partial, &sr, err);
    if (span.recording)
        span_step_end(&span, p, s, st->engine, rc, err, &ins, NULL, 0);
    jn_tensor_list_clear(&ins);
    jn_params_clear(&merged);
    record_step(p, s, rc, started);
    if (rc && err && !strstr(err->msg, "pipeline '"))
        jn_err_prefix(err, "pipeline '%s': %s", p->spec.name, st->label);
    return rc;
}

static int pipeline_infer_stream(jn_engine *self, const jn_infer_ctx *ctx, const jn_tensor_list *inputs,
                                 jn_emit_fn emit, void *emit_arg, jn_err *err)
{
    const pipe *p = self->ctx;
    int s = p->stream_step;
    run *r = run_create(p, ctx, inputs);
    if (!r)
        return jn_err_set(err, JN_ENOMEM, "out of memory");
    r->self = self;
    r->after[s] = true;
    for (size_t i = 0; i < p->n_steps; i++) { /* topological order: producers first */
        int c = p->order[i];
        for (size_t d = 0; d < p->steps[c].n_deps; d++)
            if (r->after[p->steps[c].deps[d]])
                r->after[c] = true;
    }
    want_requested(r, self);
    plan_needed(r, NULL); /* closes `wanted` over producers */
    int rc;
    if (!r->wanted[s]) { /* the streaming step is not needed: one whole answer */
        jn_tensor_list out;
        jn_tensor_list_init(&out);
        rc = run_planned(r, err);
        if (!rc)
            rc = collect_outputs(r, self, &out, err);
        if (!rc)
            rc = emit(emit_arg, &out, err);
        jn_tensor_list_clear(&out);
    } else {
        plan_needed(r, r->after); /* the steps before the streaming one, once */
        rc = run_planned(r, err);
        if (!rc)
            rc = stream_step(r, self, emit, emit_arg, err);
    }
    run_unref(r);
    return rc;
}

static const jn_port *pipeline_find_output(const jn_engine *self, const char *name)
{
    const pipe *p = self->ctx;
    const char *dot = strrchr(name, '.');
    if (!dot)
        return NULL;
    int s = jn__pipe_find_step(p, name, (size_t)(dot - name));
    return s >= 0 ? jn_engine_find_output(p->steps[s].engine, dot + 1) : NULL;
}

static void pipeline_destroy(jn_engine *self)
{
    jn__pipe_free(self->ctx);
}

const jn_engine_vtable jn__pipeline_vtable = {
    .abi_version = JN_ENGINE_ABI_VERSION,
    .platform = "junction_pipeline",
    .model_type = "pipeline",
    .infer = pipeline_infer,
    .infer_stream = pipeline_infer_stream,
    .find_output = pipeline_find_output,
    .destroy = pipeline_destroy,
};
