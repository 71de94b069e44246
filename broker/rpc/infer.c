/* infer.c — one inference, from request bytes to an answer, whichever protocol and call shape carried it:
 * decode -> resolve + validate (jn_exec_prepare) -> run inline on the pump thread or on the worker pool -> done. */
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
    if (streams_to_caller(job)) {
        job->streamed = true;
        job->rc = jn_exec_run_stream(job->engine, &job->req, job->cancelled, job->server->pool, emit_partial, job,
                                     &job->err);
    } else {
        job->rc = jn_exec_run(job->engine, &job->req, job->cancelled, job->server->pool, &job->outputs, &job->err);
    }
    job->done(job);
}

void jn_infer_job_run(jn_infer_job *job, grpc_byte_buffer *bb)
{
    int64_t deadline = job->req.deadline_ns;
    job->rc = job->proto->decode(bb, &job->req, &job->state, &job->err);
    job->req.deadline_ns = deadline;
    if (job->rc && job->req.model && *job->req.model)
        jn_err_prefix(&job->err, "model '%s'", job->req.model);
    if (!job->rc)
        job->rc = jn_exec_prepare(job->server->reg, &job->req, &job->engine, &job->err);
    if (job->rc) {
        job->done(job);
        return;
    }
    /* Streaming answers may wait for the client (back-pressure): never on a pump thread. */
    if (jn_engine_is_inline(job->engine) && !streams_to_caller(job)) {
        run_engine(job);
        return;
    }
    if (jn_workpool_submit(job->server->pool, run_engine, job) != 0) {
        job->rc = jn_err_set(&job->err, JN_EUNAVAIL, "model '%s': the worker pool is not accepting work",
                             job->req.model);
        job->done(job);
    }
}

grpc_byte_buffer *jn_infer_job_encode(jn_infer_job *job, bool in_stream)
{
    if (!job->rc) {
        grpc_byte_buffer *bb =
            job->streamed
                ? job->proto->encode_partial(&job->req, job->engine, &job->outputs, job->state, true, &job->err)
                : job->proto->encode(&job->req, job->engine, &job->outputs, job->state, in_stream, &job->err);
        if (bb)
            return bb;
        job->rc = job->err.code ? job->err.code : JN_EINTERNAL;
    }
    return in_stream ? job->proto->encode_stream_error(&job->req, &job->err) : NULL;
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

void jn_unary_infer(jn_unary *u, grpc_byte_buffer *payload)
{
    jn_infer_job *job = jn_infer_job_create(u->server, u->method->arg, unary_infer_done, u, &u->cancelled,
                                            u->deadline_ns);
    if (!job) {
        jn_unary_fail(u, JN_ENOMEM, "out of memory");
        return;
    }
    jn_infer_job_run(job, payload);
}
