/* dispatch.c — the one request path (dispatch.h). */
#include "dispatch.h"

#include <stdlib.h>
#include <string.h>

#include "executor.h"

struct jn_dispatcher {
    jn_registry *reg;
    jn_workpool *pool;
    jn_dispatch_limits limits;
    atomic_long inflight;
};

jn_dispatcher *jn_dispatcher_create(jn_registry *reg, jn_workpool *pool, const jn_dispatch_limits *limits)
{
    jn_dispatcher *d = calloc(1, sizeof *d);
    if (!d)
        return NULL;
    d->reg = reg;
    d->pool = pool;
    if (limits)
        d->limits = *limits;
    atomic_init(&d->inflight, 0);
    return d;
}

void jn_dispatcher_destroy(jn_dispatcher *d)
{
    free(d);
}

void jn_dispatcher_set_limits(jn_dispatcher *d, const jn_dispatch_limits *limits)
{
    d->limits = *limits;
}

jn_registry *jn_dispatcher_registry(const jn_dispatcher *d)
{
    return d->reg;
}

jn_workpool *jn_dispatcher_pool(const jn_dispatcher *d)
{
    return d->pool;
}

long jn_dispatcher_inflight(jn_dispatcher *d)
{
    return atomic_load_explicit(&d->inflight, memory_order_relaxed);
}

void jn_call_init(jn_call *c, jn_dispatcher *d, const jn_call_ops *ops, void *owner)
{
    memset(c, 0, sizeof *c);
    c->d = d;
    c->ops = ops;
    c->owner = owner;
    jn_request_init(&c->req);
    jn_tensor_list_init(&c->outputs);
    c->t_created = jn_now_ns();
}

int jn_dispatch_admit(jn_call *c)
{
    long max = c->d->limits.max_inflight;
    if (max <= 0)
        return 0;
    long now = atomic_fetch_add_explicit(&c->d->inflight, 1, memory_order_relaxed) + 1;
    c->admitted = true;
    if (now > max)
        return c->rc = jn_err_set(&c->err, JN_ERESOURCE,
                                  "the server is busy: %ld requests in progress (--max-inflight %ld); retry later",
                                  now - 1, max);
    return 0;
}

int jn_dispatch_resolve(jn_call *c, const char *model, const char *version)
{
    if (!model || !*model) {
        jn_metrics_unknown_model(c->ops->door);
        return c->rc = jn_err_set(&c->err, JN_EINVAL, "request names no model");
    }
    c->model = jn_registry_resolve(c->d->reg, model, version, &c->err);
    if (!c->model) {
        jn_metrics_unknown_model(c->ops->door);
        if (!c->req.model && c->d->limits.request_log) /* the name asked for, for its line (not decoded yet) */
            jn_request_set_target(&c->req, model, version, NULL);
        return c->rc = c->err.code ? c->err.code : JN_ENOTFOUND;
    }
    c->engine = c->model->engine;
    c->stats = jn_model_stats_of(c->model);
    jn_metrics_request_begin(c->stats);
    return 0;
}

/* ---- running ---- */

/* The call leaves the thread that called jn_dispatch (once). */
static void leave(jn_call *c)
{
    if (c->ops->leaving && !c->left)
        c->ops->leaving(c);
    c->left = true;
}

static bool streams_to_caller(const jn_call *c)
{
    return c->ops->partial && (c->engine->flags & JN_ENGINE_STREAMS);
}

/* ---- the response cache ---- */

static bool cacheable(const jn_call *c)
{
    return c->d->limits.cache && c->model && c->model->sched.config.response_cache && !c->ops->run &&
           !streams_to_caller(c);
}

/* Looks the call up once (its request decoded): true when it was answered from the cache (and is done). */
static bool cache_answered(jn_call *c)
{
    if (c->cache_looked || !cacheable(c))
        return false;
    c->cache_looked = true;
    int64_t t0 = jn_now_ns();
    if (jn_cache_key_make(&c->cache_key, c->model->serial, c->engine->name, c->engine->version, &c->req))
        return false; /* not cacheable after all (out of memory): it runs */
    if (!jn_response_cache_get(c->d->limits.cache, &c->cache_key, &c->outputs)) {
        c->cache_ns = jn_now_ns() - t0;
        return false;
    }
    jn_cache_key_clear(&c->cache_key);
    c->t_started = jn_now_ns();
    c->recorded_execution = true; /* no execution */
    jn_infer_stats_cache(&c->model->infer, true, c->t_started - t0);
    jn_metrics_cache(c->stats, true);
    c->rc = 0;
    c->ops->done(c);
    return true;
}

/* A cache miss answered: its outputs are kept under its key. */
static void cache_keep(jn_call *c)
{
    if (!c->cache_key.bytes)
        return;
    int64_t t0 = jn_now_ns();
    if (c->rc == 0 && !c->streamed)
        jn_response_cache_put(c->d->limits.cache, &c->cache_key, &c->outputs);
    jn_cache_key_clear(&c->cache_key);
    jn_infer_stats_cache(&c->model->infer, false, c->cache_ns + (jn_now_ns() - t0));
    jn_metrics_cache(c->stats, false);
}

static void place(jn_call *c);

static void complete(jn_call *c, int rc)
{
    c->rc = rc;
    if (rc && !c->err.code)
        jn_err_set(&c->err, rc, "model '%s': %s", c->req.model ? c->req.model : "", jn_strerror(rc));
    if (c->t_started)
        c->t_computed = jn_now_ns();
    cache_keep(c);
    jn_call *next = jn_seq_leave(&c->seq); /* the next call of its sequence holds it now */
    c->ops->done(c);
    if (next) {
        next->run_here = false; /* not on its arriving thread any more */
        place(next);
    }
}

/* A stateful model's call joins its sequence (sequence.h), once its request is decoded: 0 and *parked false to run
 * now, *parked true when it waits behind its sequence's running call (jn_seq_leave of that one places it again), or
 * the refusal (c->err set). */
static int seq_join(jn_call *c, bool *parked)
{
    *parked = false;
    if (c->seq_joined)
        return 0;
    c->seq_joined = true;
    jn_seq_table *t = jn_sequence_table(c->engine);
    if (!t)
        return 0;
    /* Before joining: once parked, the call may be handed over, run and freed on another thread at once. */
    leave(c);
    return jn_seq_join(t, &c->req.params, c->seq_scope, c, &c->seq, parked, &c->err);
}

/* The engine, for one execution of the call's request (a stateful model's through its sequence). */
static int run_engine(jn_call *c, const jn_infer_ctx *ctx, const jn_tensor_list *inputs, jn_tensor_list *outputs,
                      jn_err *err)
{
    if (c->seq.seq)
        return jn_seq_run(&c->seq, ctx, inputs, outputs, err);
    return jn_exec_engine(c->engine, ctx, inputs, outputs, err);
}

/* The `timeout` request parameter (microseconds, as Triton's): the call's deadline is the earlier of it and the
 * transport's. */
static int apply_timeout(const jn_call *c, const jn_request *req, int64_t *deadline_ns, jn_err *err)
{
    const jn_param *p = jn_params_find(&req->params, "timeout");
    if (!p)
        return 0;
    if (p->type != JN_PARAM_INT || p->v.i < 0)
        return jn_err_set(err, JN_EINVAL,
                          "model '%s': parameter 'timeout' must be a non-negative integer (microseconds)",
                          c->engine->name);
    int64_t until = c->t_created + (p->v.i > INT64_MAX / 2000 ? INT64_MAX / 2 : p->v.i * 1000);
    if (!*deadline_ns || until < *deadline_ns)
        *deadline_ns = until;
    return 0;
}

static int emit_partial(void *arg, jn_tensor_list *partial, jn_err *err)
{
    jn_call *c = arg;
    return c->ops->partial(c, partial, err);
}

static void async_done(void *arg, int rc, jn_tensor_list *produced, jn_err *err)
{
    jn_call *c = arg;
    if (rc && err && err != &c->err)
        c->err = *err;
    complete(c, jn_exec_keep(c->engine, &c->ctx, rc, produced, &c->outputs, &c->err));
}

/* Runs the call on this thread: decode (deferred), deadline, validation, then the engine. `here` = the thread that
 * called jn_dispatch, which may start an asynchronous engine call and leave. */
static void execute(jn_call *c, bool here)
{
    c->t_started = jn_now_ns();
    int rc = c->ops->decode && !c->decoded ? c->ops->decode(c, &c->err) : 0;
    c->decoded = true;
    if (!rc && cache_answered(c))
        return;
    bool parked = false;
    if (!rc && (rc = seq_join(c, &parked)) == 0 && parked)
        return; /* placed again when the call before it in its sequence is done */
    if (!rc)
        rc = apply_timeout(c, &c->req, &c->req.deadline_ns, &c->err);
    if (!rc && !c->ops->run) /* a front end's own run validates each request it makes (jn_call_exec) */
        rc = jn_exec_validate(c->engine, &c->req, &c->err);
    c->ctx = jn_exec_request_ctx(&c->req, c->cancelled, c->d->pool);
    c->ctx.host = c->host;
    c->ctx.seq_scope = c->seq_scope;
    c->ctx.answer = &c->req.answer;
    c->ctx.trace = jn_call_trace_ctx(&c->trace);
    if (!rc)
        rc = jn_infer_ctx_check(&c->ctx, &c->err); /* the deadline passed (or the caller left) before it started */
    if (rc) {
        complete(c, rc);
        return;
    }
    if (c->ops->run) {
        rc = c->ops->run(c, &c->err);
    } else if (streams_to_caller(c)) {
        c->streamed = true;
        rc = jn_exec_engine_stream(c->engine, &c->ctx, &c->req.inputs, emit_partial, c, &c->err);
    } else if (here && jn_engine_async_slot(c->engine)) {
        leave(c);
        /* From here on the call may be done (and freed) on another thread before infer_async returns. */
        jn_err err;
        jn_err_clear(&err);
        rc = jn_engine_async_slot(c->engine)(c->engine, &c->ctx, &c->req.inputs, async_done, c, &err);
        if (rc) {
            c->err = err;
            jn_tensor_list none;
            jn_tensor_list_init(&none);
            async_done(c, rc, &none, NULL);
        }
        return;
    } else {
        rc = run_engine(c, &c->ctx, &c->req.inputs, &c->outputs, &c->err);
    }
    complete(c, rc);
}

/* ---- a model with its own queue (batcher.h) ---- */

static void batched_done(jn_batch_item *item, int rc, jn_tensor_list *produced, jn_err *err)
{
    jn_call *c = item->arg;
    c->t_started = item->t_started;
    c->recorded_execution = true; /* the batcher recorded the execution (or there was none) */
    if (rc) {
        if (err && err != &c->err)
            c->err = *err;
    } else {
        c->outputs = *produced; /* move */
        jn_tensor_list_init(produced);
    }
    complete(c, rc);
}

/* Checks the call and queues it in its model's own queue. `here`: on the arriving thread (ops->leaving not yet
 * called). */
static void enqueue(jn_call *c, bool here)
{
    int rc = c->ops->decode && !c->decoded ? c->ops->decode(c, &c->err) : 0;
    c->decoded = true;
    if (!rc && cache_answered(c))
        return;
    if (!rc)
        rc = jn_exec_validate(c->engine, &c->req, &c->err);
    if (!rc) {
        jn_infer_ctx ctx = jn_exec_request_ctx(&c->req, c->cancelled, NULL);
        rc = jn_infer_ctx_check(&ctx, &c->err);
    }
    if (rc) {
        complete(c, rc);
        return;
    }
    jn_batch_item *it = &c->item;
    memset(it, 0, sizeof *it);
    it->inputs = &c->req.inputs;
    it->outputs = (const char *const *)c->req.outputs;
    it->n_outputs = c->req.n_outputs;
    it->params = &c->req.params;
    it->model = c->req.model;
    it->request_id = c->req.id;
    it->deadline_ns = c->req.deadline_ns; /* `timeout` is the batcher's: its queue timeout */
    it->cancelled = c->cancelled;
    it->trace = jn_call_trace_ctx(&c->trace);
    it->done = batched_done;
    it->arg = c;
    if (here)
        leave(c);
    jn_err err; /* not c->err: once queued, the call may already be done and freed */
    jn_err_clear(&err);
    rc = jn_batcher_submit(c->model->batcher, it, &err);
    if (rc) {
        c->err = err;
        complete(c, rc);
    }
}

static void enqueue_job(void *arg)
{
    jn_call *c = arg;
    enqueue(c, false);
}

static void run_job(void *arg)
{
    jn_call *c = arg;
    if (c->queued) { /* its place in the model's queue is free again */
        atomic_fetch_sub_explicit(&c->model->queued, 1, memory_order_relaxed);
        c->queued = false;
    }
    execute(c, false);
}

/* Queues the call where its model's calls wait: its own pool (bounded by its sched), else the shared one (bounded
 * by the global and per-model queue limits). 0, or the refusal with err set (the call was not queued). */
static int submit(jn_call *c, jn_err *err)
{
    jn_model *m = c->model;
    const char *name = c->engine->name;
    if (m->sched.pool) {
        size_t waiting = m->sched.max_pending ? jn_workpool_pending(m->sched.pool) : 0;
        if (m->sched.max_pending && waiting >= m->sched.max_pending)
            return jn_err_set(err, JN_EUNAVAIL,
                              "model '%s': too many calls waiting for its endpoint (%zu queued; the limit is %zu)",
                              name, waiting, m->sched.max_pending);
        if (jn_workpool_submit(m->sched.pool, run_job, c) != 0)
            return jn_err_set(err, JN_EUNAVAIL, "model '%s': the worker pool is not accepting work", name);
        return 0;
    }
    const jn_dispatch_limits *lim = &c->d->limits;
    size_t waiting = lim->max_queue ? jn_workpool_pending(c->d->pool) : 0;
    if (lim->max_queue && waiting >= lim->max_queue)
        return jn_err_set(err, JN_ERESOURCE,
                          "model '%s': the server is busy: %zu calls already wait for a worker (--max-queue %zu); "
                          "retry later",
                          name, waiting, lim->max_queue);
    long mine = atomic_fetch_add_explicit(&m->queued, 1, memory_order_relaxed);
    if (lim->max_model_queue && (size_t)mine >= lim->max_model_queue) {
        atomic_fetch_sub_explicit(&m->queued, 1, memory_order_relaxed);
        return jn_err_set(err, JN_ERESOURCE,
                          "model '%s' is busy: %ld of its calls already wait for a worker (--max-model-queue %zu); "
                          "retry later",
                          name, mine, lim->max_model_queue);
    }
    c->queued = true; /* before the submit: the job may start (and read it) at once */
    if (jn_workpool_submit(c->d->pool, run_job, c) != 0) {
        c->queued = false;
        atomic_fetch_sub_explicit(&m->queued, 1, memory_order_relaxed);
        return jn_err_set(err, JN_EUNAVAIL, "model '%s': the worker pool is not accepting work", name);
    }
    return 0;
}

void jn_dispatch(jn_call *c)
{
    if (!c->rc && !c->model)
        jn_dispatch_resolve(c, c->req.model, c->req.version);
    if (c->rc) {
        c->ops->done(c);
        return;
    }
    /* A request already decoded is looked up here, before it is placed anywhere (a hit costs no worker). */
    if (!c->ops->decode && cache_answered(c))
        return;
    if (!c->ops->decode) { /* a stateful model's call joins its sequence in the order calls arrive */
        bool parked = false;
        int rc = seq_join(c, &parked);
        if (rc) {
            complete(c, rc);
            return;
        }
        if (parked)
            return; /* placed again when the call before it in its sequence is done (it may be already) */
    }
    place(c);
}

/* Where the call runs (jn_dispatch, or a parked call of a sequence whose turn came). */
static void place(jn_call *c)
{
    if (c->model->batcher && !c->ops->run && !streams_to_caller(c)) {
        if (c->run_here && !c->ops->decode) {
            enqueue(c, true);
            return;
        }
        leave(c);
        if (jn_workpool_submit(c->d->pool, enqueue_job, c) != 0) {
            jn_err_set(&c->err, JN_EUNAVAIL, "model '%s': the worker pool is not accepting work", c->engine->name);
            complete(c, JN_EUNAVAIL);
        }
        return;
    }
    bool inline_ok = jn_engine_is_inline(c->engine) || (jn_engine_async_slot(c->engine) && !c->ops->run);
    if (c->run_here && inline_ok && !streams_to_caller(c)) {
        execute(c, true);
        return;
    }
    leave(c);
    jn_err err; /* not c->err: once queued, the call may already be done and freed */
    jn_err_clear(&err);
    int rc = submit(c, &err);
    if (rc) {
        c->err = err;
        complete(c, rc);
    }
}

/* Rows of a request whose inputs all share their first dimension (the batch dimension); 1 otherwise. */
static uint64_t request_rows(const jn_tensor_list *inputs)
{
    int64_t rows = -1;
    for (size_t i = 0; i < inputs->count; i++) {
        const jn_tensor *t = inputs->items[i];
        if (t->ndim < 1 || (rows >= 0 && t->shape[0] != rows))
            return 1;
        rows = t->shape[0];
    }
    return rows > 0 ? (uint64_t)rows : 1;
}

/* A front end's own run (ops->run) makes its requests itself: with payloads on, the request log shows their tensors
 * (shared, not copied) as the call's. */
static void keep_for_log(jn_call *c, const jn_tensor_list *from, jn_tensor_list *to)
{
    if (!c->d->limits.request_log || !jn_request_log_payloads(c->d->limits.request_log))
        return;
    for (size_t i = 0; i < from->count; i++) {
        jn_tensor *t = jn_tensor_share(from->items[i], NULL, NULL);
        if (!t || jn_tensor_list_push(to, t))
            return;
    }
}

int jn_call_exec(jn_call *c, const jn_request *req, jn_tensor_list *outputs, jn_err *err)
{
    jn_infer_ctx ctx = jn_exec_request_ctx(req, c->cancelled, c->d->pool);
    ctx.trace = jn_call_trace_ctx(&c->trace);
    if (!ctx.deadline_ns || (c->req.deadline_ns && c->req.deadline_ns < ctx.deadline_ns))
        ctx.deadline_ns = c->req.deadline_ns;
    int rc = c->model->batcher ? 0 : apply_timeout(c, req, &ctx.deadline_ns, err); /* the batcher: queue timeout */
    if (!rc)
        rc = jn_exec_validate(c->engine, req, err);
    if (!rc)
        rc = jn_infer_ctx_check(&ctx, err);
    if (!rc && c->model->batcher) {
        rc = jn_batcher_run(c->model->batcher, &ctx, &req->inputs, outputs, err);
    } else if (!rc) {
        int64_t t0 = jn_now_ns();
        rc = run_engine(c, &ctx, &req->inputs, outputs, err);
        if (!rc) {
            jn_infer_stats_execution(&c->model->infer, request_rows(&req->inputs), 1, 0, jn_now_ns() - t0, 0);
            jn_metrics_batch(c->stats, request_rows(&req->inputs));
        }
    }
    keep_for_log(c, &req->inputs, &c->req.inputs);
    if (!rc)
        keep_for_log(c, outputs, &c->outputs);
    return rc;
}

static int64_t list_bytes(const jn_tensor_list *l)
{
    int64_t n = 0;
    for (size_t i = 0; i < l->count; i++)
        n += (int64_t)l->items[i]->byte_size;
    return n;
}

/* The queue span (arrival -> execution start) and the request span (arrival -> answered), when recording. */
static void trace_end(jn_call *c, int64_t now)
{
    jn_span *rs = &c->trace.span;
    if (rs->recording) {
        if (c->t_started) {
            jn_span q;
            jn_span_start_at(&q, &rs->ctx, c->t_created);
            jn_span_end(&q, "queue", NULL, JN_SPAN_INTERNAL, c->t_started, NULL);
        }
        jn_span_attrs a = JN_SPAN_ATTRS_NONE;
        a.model = c->req.model;
        a.version = c->engine ? c->engine->version : c->req.version;
        a.door = c->trace.door;
        a.tracestate = c->trace.tracestate;
        a.status = jn_err_grpc_status(c->rc);
        a.error = c->rc ? c->err.msg : NULL;
        a.in_bytes = list_bytes(&c->req.inputs);
        a.out_bytes = list_bytes(&c->outputs);
        jn_span_end(rs, "infer", c->req.model ? c->req.model : "", JN_SPAN_SERVER, now, &a);
        rs->recording = false;
    }
    jn_call_trace_clear(&c->trace);
}

/* The call's line in the request log (request_log.h), from what the call still holds. */
static void log_call(const jn_call *c, int64_t total_ns, const char *trace_id)
{
    const char *model = c->req.model && *c->req.model ? c->req.model : c->engine ? c->engine->name : "";
    jn_request_log_entry e = {
        .model = model,
        .version = c->engine ? c->engine->version : c->req.version,
        .door = c->door_name ? c->door_name : c->ops->door,
        .request_id = c->req.id,
        .rc = c->rc,
        .error = c->rc ? c->err.msg : NULL,
        .latency_ns = total_ns,
        .request_bytes = c->request_bytes,
        .response_bytes = c->response_bytes,
        .inputs = &c->req.inputs,
        .outputs = c->streamed ? NULL : &c->outputs, /* a streamed answer went out in partials, not kept */
        .trace_id = trace_id && *trace_id ? trace_id : NULL, /* no traceid field for a call without a trace */
    };
    jn_request_log_record(c->d->limits.request_log, &e);
}

void jn_call_finish(jn_call *c)
{
    /* A second call (the door's encoder finished it; its job's free calls again) must not touch the dispatcher: the
     * answer is out, so the server may be shutting down and freeing it (TSan saw the race in e2e_remote_openai). */
    if (c->finished) {
        jn_tensor_list_clear(&c->outputs);
        jn_request_clear(&c->req);
        return;
    }
    c->finished = true;
    int64_t total = jn_now_ns() - c->t_created; /* one clock read for the statistics and the metrics */
    int64_t queue = c->t_started ? c->t_started - c->t_created : -1;
    char trace_id[33] = ""; /* for the request log: read before trace_end clears the call's trace */
    if (c->d->limits.request_log)
        jn_trace_id_hex(c, trace_id);
    trace_end(c, c->t_created + total);
    if (c->model) {
        /* An execution the dispatcher ran itself (the batcher records its own, cache hits none). */
        if (c->rc == 0 && c->t_computed && !c->recorded_execution && !c->ops->run) {
            uint64_t rows = request_rows(&c->req.inputs);
            jn_infer_stats_execution(&c->model->infer, rows, 1, 0, c->t_computed - c->t_started, 0);
            jn_metrics_batch(c->stats, rows);
        }
        jn_infer_stats_request(&c->model->infer, c->rc == 0, total, queue);
    }
    if (c->stats) {
        int64_t compute = c->t_started && c->t_computed ? c->t_computed - c->t_started : -1;
        jn_metrics_request_end(c->stats, c->ops->door, c->rc == 0, queue, compute, total);
        c->stats = NULL;
    }
    if (c->d->limits.request_log && !c->logged && (c->model || c->rc)) { /* else it never ran */
        c->logged = true; /* jn_call_finish may be called again (a no-op then) */
        log_call(c, total, trace_id);
    }
    if (c->admitted) {
        atomic_fetch_sub_explicit(&c->d->inflight, 1, memory_order_relaxed);
        c->admitted = false;
    }
    jn_cache_key_clear(&c->cache_key);
    jn_tensor_list_clear(&c->outputs);
    jn_request_clear(&c->req);
    jn_model_unref(c->model);
    c->model = NULL;
    c->engine = NULL;
}
