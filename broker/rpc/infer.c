/* infer.c — one inference, from request bytes to an answer, whichever protocol and call shape carried it:
 * decode -> resolve + validate (jn_exec_prepare) -> run inline on the pump thread or on the worker pool -> done.
 *
 * Metrics: a request counts against its model from the moment it resolves (validation failures included) until
 * its answer is encoded; the stats pointer is looked up once and cached in the job, so the rest is atomic adds. */
#include <stdlib.h>

#include "internal.h"

jn_infer_job *jn_infer_job_create(jn_server *s, const jn_infer_proto *proto, void (*done)(jn_infer_job *),
                                  void *owner, const atomic_int *cancelled, int64_t deadline_ns)
{
    jn_infer_job *job = calloc(1, sizeof *job);
    if (!job)
        return NULL;
    job->server = s;
    job->proto = proto;
    job->done = done;
    job->owner = owner;
    job->cancelled = cancelled;
    job->t_created = jn_now_ns();
    jn_request_init(&job->req);
    job->req.deadline_ns = deadline_ns;
    jn_tensor_list_init(&job->outputs);
    return job;
}

void jn_infer_job_free(jn_infer_job *job)
{
    if (!job)
        return;
    if (job->state && job->proto->free_state)
        job->proto->free_state(job->state);
    if (job->counted)
        atomic_fetch_sub_explicit(&job->server->inflight, 1, memory_order_relaxed);
    jn_engine_unref(job->engine);
    jn_tensor_list_clear(&job->outputs);
    jn_request_clear(&job->req);
    free(job);
}

static int emit_partial(void *arg, jn_tensor_list *partial, jn_err *err)
{
    jn_infer_job *job = arg;
    grpc_byte_buffer *bb = job->proto->encode_partial(&job->req, job->engine, partial, job->state, false, err);
    jn_tensor_list_clear(partial);
    if (!bb)
        return err && err->code ? err->code : JN_ENOMEM;
    if (job->on_partial(job, bb))
        return jn_err_set(err, JN_ECANCELLED, "model '%s': the stream ended", job->req.model);
    return 0;
}

static bool streams_to_caller(const jn_infer_job *job)
{
    return job->on_partial && (job->engine->flags & JN_ENGINE_STREAMS);
}

static void run_engine(void *arg)
{
    jn_infer_job *job = arg;
    job->t_started = jn_now_ns();
    if (job->queued)
        jn_exec_started(job->engine);
    if (streams_to_caller(job)) {
        job->streamed = true;
        job->rc = jn_exec_run_stream(job->engine, &job->req, job->cancelled, job->server->pool, emit_partial, job,
                                     &job->err);
    } else {
        job->rc = jn_exec_run(job->engine, &job->req, job->cancelled, job->server->pool, &job->outputs, &job->err);
    }
    job->t_computed = jn_now_ns();
    job->done(job);
}

/* After jn_exec_prepare: a request whose model resolved counts against it (a failed validation too, as a
 * failure); one that named no registered model (or version) is counted apart, without its name. */
static void count_request(jn_infer_job *job)
{
    if (job->rc == JN_ENOTFOUND || !job->req.model || !*job->req.model) {
        jn_metrics_unknown_model(JN_METRICS_GRPC);
        return;
    }
    job->stats = job->engine ? jn_metrics_engine(job->engine) : jn_metrics_model(job->req.model);
    jn_metrics_request_begin(job->stats);
}

/* The answer is encoded (or failed to be): the request leaves in flight. At most once per job. */
static void record_request(jn_infer_job *job)
{
    if (!job->stats)
        return;
    int64_t now = jn_now_ns();
    int64_t queue = job->t_started ? job->t_started - job->t_created : -1;
    int64_t compute = job->t_started && job->t_computed ? job->t_computed - job->t_started : -1;
    jn_metrics_request_end(job->stats, JN_METRICS_GRPC, job->rc == 0, queue, compute, now - job->t_created);
    job->stats = NULL;
}

/* ---- remote engines: the call goes out from this thread and its answer comes back on the same completion queue,
 * so no thread waits for it (the hop's cost is the two exchanges, not thread hand-offs). Retries, which wait out a
 * backoff, run on the endpoint's pool. ---- */

static void remote_deliver(jn_infer_job *job, int rc, jn_tensor_list *produced)
{
    job->rc = jn_exec_keep(job->engine, &job->ctx, rc, produced, &job->outputs, &job->err);
    jn_remote_call_free(job->remote);
    job->remote = NULL;
    job->t_computed = jn_now_ns();
    job->done(job);
}

static void remote_retry(void *arg)
{
    jn_infer_job *job = arg;
    jn_exec_started(job->engine);
    jn_tensor *slots[JN_EXEC_OUTPUT_SLOTS];
    jn_tensor_list produced;
    jn_tensor_list_init_on(&produced, slots, JN_EXEC_OUTPUT_SLOTS);
    int rc = jn_remote_call_retry(job->remote, &produced, &job->err);
    remote_deliver(job, rc, &produced);
}

static void remote_answered(jn_tag *tag, bool ok)
{
    (void)ok; /* a unary exchange always ends with a status, which says everything */
    jn_infer_job *job = JN_CONTAINER_OF(tag, jn_infer_job, remote_tag);
    jn_tensor *slots[JN_EXEC_OUTPUT_SLOTS];
    jn_tensor_list produced;
    jn_tensor_list_init_on(&produced, slots, JN_EXEC_OUTPUT_SLOTS);
    bool retry;
    int rc = jn_remote_call_finish(job->remote, &produced, &retry, &job->err);
    if (retry) {
        jn_err err; /* not job->err: once submitted, the job may already be done and freed */
        jn_exec_limits limits = {(size_t)job->server->opt.max_queue, (size_t)job->server->opt.max_model_queue};
        rc = jn_exec_submit(job->engine, job->server->pool, &limits, remote_retry, job, &err);
        if (!rc)
            return;
        job->err = err;
    }
    remote_deliver(job, rc, &produced);
}

static void remote_send(jn_infer_job *job)
{
    job->ctx = jn_exec_request_ctx(&job->req, job->cancelled, job->server->pool);
    job->t_started = jn_now_ns();
    job->remote_tag.fn = remote_answered;
    int rc = jn_infer_ctx_check(&job->ctx, &job->err);
    if (!rc && !(job->remote = jn_remote_call_create(job->engine, &job->ctx, &job->req.inputs, &job->err)))
        rc = job->err.code ? job->err.code : JN_ENOMEM;
    /* The core passes the caller's cancellation on to the remote call only once the server call watches for it. */
    if (!rc && job->on_leave)
        job->on_leave(job);
    if (!rc)
        rc = jn_remote_call_send(job->remote, job->cq, job->parent, &job->remote_tag, &job->err);
    if (rc) {
        jn_tensor_list none;
        jn_tensor_list_init(&none);
        remote_deliver(job, rc, &none);
    }
}

void jn_infer_job_run(jn_infer_job *job, grpc_byte_buffer *bb)
{
    int max = job->server->opt.max_inflight;
    if (max > 0) { /* load shedding in all: refused before even decoding */
        long now = atomic_fetch_add_explicit(&job->server->inflight, 1, memory_order_relaxed) + 1;
        job->counted = true;
        if (now > max) {
            job->rc = jn_err_set(&job->err, JN_ERESOURCE,
                                 "the server is busy: %ld requests in progress (--max-inflight %d); retry later", now - 1,
                                 max);
            job->done(job);
            return;
        }
    }
    int64_t deadline = job->req.deadline_ns;
    job->rc = job->proto->decode(bb, &job->req, &job->state, &job->err);
    job->req.deadline_ns = deadline;
    if (job->rc && job->req.model && *job->req.model)
        jn_err_prefix(&job->err, "model '%s'", job->req.model);
    if (!job->rc) {
        job->rc = jn_exec_prepare(job->server->reg, &job->req, &job->engine, &job->err);
        count_request(job);
    }
    if (job->rc) {
        job->done(job);
        return;
    }
    /* Streaming answers may wait for the client (back-pressure): never on a pump thread. */
    if (jn_engine_is_inline(job->engine) && !streams_to_caller(job)) {
        run_engine(job);
        return;
    }
    if (job->cq && jn_engine_is_remote(job->engine) && !streams_to_caller(job)) {
        remote_send(job);
        return;
    }
    /* A remote engine runs on its endpoint's own pool (bounded), everything else on the shared one. */
    jn_err err; /* not job->err: once submitted, the job may already be done and freed */
    jn_exec_limits limits = {(size_t)job->server->opt.max_queue, (size_t)job->server->opt.max_model_queue};
    if (job->on_leave)
        job->on_leave(job);
    job->queued = true; /* counted against its model's queue until it starts */
    int rc = jn_exec_submit(job->engine, job->server->pool, &limits, run_engine, job, &err);
    if (rc) {
        job->rc = rc;
        job->err = err;
        job->done(job);
    }
}

grpc_byte_buffer *jn_infer_job_encode(jn_infer_job *job, bool in_stream)
{
    grpc_byte_buffer *bb = NULL;
    if (!job->rc) {
        bb = job->streamed
                 ? job->proto->encode_partial(&job->req, job->engine, &job->outputs, job->state, true, &job->err)
                 : job->proto->encode(&job->req, job->engine, &job->outputs, job->state, in_stream, &job->err);
        if (!bb)
            job->rc = job->err.code ? job->err.code : JN_EINTERNAL;
    }
    if (!bb && in_stream)
        bb = job->proto->encode_stream_error(&job->req, &job->err);
    record_request(job);
    return bb;
}

/* ---- unary infer (Broker/Infer, v2 ModelInfer) ---- */

static void unary_infer_done(jn_infer_job *job)
{
    jn_unary *u = job->owner;
    grpc_byte_buffer *bb = jn_infer_job_encode(job, false);
    if (bb)
        jn_unary_reply(u, bb);
    else
        jn_unary_fail(u, job->rc, job->err.msg);
    jn_infer_job_free(job);
}

static void unary_infer_leaves(jn_infer_job *job)
{
    jn_unary_watch_cancel(job->owner);
}

void jn_unary_infer(jn_unary *u, grpc_byte_buffer *payload)
{
    jn_infer_job *job = jn_infer_job_create(u->server, u->method->arg, unary_infer_done, u, &u->cancelled,
                                            u->deadline_ns);
    if (!job) {
        jn_unary_fail(u, JN_ENOMEM, "out of memory");
        return;
    }
    job->cq = u->cq;
    job->parent = u->call;
    job->on_leave = unary_infer_leaves;
    jn_infer_job_run(job, payload);
}
