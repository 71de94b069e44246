/* infer.c — the gRPC doors of the one request path (core/dispatch.h): decode the message, hand the call to the
 * dispatcher, encode its outcome. Unary and stream calls of both protocols and the Engine service share it; what
 * the dispatcher cannot know is here: the codec (jn_infer_proto), the completion queue and server call it offers
 * asynchronous engines (jn_host_hint), and how a partial or final answer goes out (the job's owner). */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

static void job_done(jn_call *c)
{
    jn_infer_job *job = JN_CONTAINER_OF(c, jn_infer_job, call);
    job->done(job);
}

static void job_leaving(jn_call *c)
{
    jn_infer_job *job = JN_CONTAINER_OF(c, jn_infer_job, call);
    if (job->on_leave)
        job->on_leave(job);
}

static int job_partial(jn_call *c, jn_tensor_list *partial, jn_err *err)
{
    jn_infer_job *job = JN_CONTAINER_OF(c, jn_infer_job, call);
    grpc_byte_buffer *bb = job->proto->encode_partial(&c->req, c->engine, partial, job->state, false, err);
    jn_tensor_list_clear(partial);
    if (!bb)
        return err && err->code ? err->code : JN_ENOMEM;
    c->response_bytes += grpc_byte_buffer_length(bb); /* before the stream takes it */
    if (job->on_partial(job, bb))
        return jn_err_set(err, JN_ECANCELLED, "model '%s': the stream ended", c->req.model);
    return 0;
}

/* Unary calls and stream calls differ only in whether partial answers may go out. */
static const jn_call_ops unary_ops = {
    .door = JN_METRICS_GRPC,
    .leaving = job_leaving,
    .done = job_done,
};
static const jn_call_ops stream_ops = {
    .door = JN_METRICS_GRPC,
    .leaving = job_leaving,
    .partial = job_partial,
    .done = job_done,
};

jn_infer_job *jn_infer_job_create(jn_server *s, const jn_infer_proto *proto, void (*done)(jn_infer_job *),
                                  int (*on_partial)(jn_infer_job *, grpc_byte_buffer *), void *owner,
                                  const atomic_int *cancelled, int64_t deadline_ns)
{
    jn_infer_job *job = malloc(sizeof *job);
    if (!job)
        return NULL;
    jn_call_init(&job->call, s->dispatch, on_partial ? &stream_ops : &unary_ops, owner);
    job->call.cancelled = cancelled;
    job->call.run_here = true; /* a pump runs inline engines and starts asynchronous ones */
    job->call.req.deadline_ns = deadline_ns;
    job->call.door_name = on_partial ? proto->stream_door : proto->door;
    job->server = s;
    job->proto = proto;
    job->state = NULL;
    job->done = done;
    job->on_leave = NULL;
    job->on_partial = on_partial;
    job->md = NULL;
    return job;
}

void jn_infer_job_free(jn_infer_job *job)
{
    if (!job)
        return;
    jn_call_finish(&job->call); /* a no-op after jn_infer_job_encode */
    if (job->state && job->proto->free_state)
        job->proto->free_state(job->state);
    free(job);
}

/* The value of metadata entry `key`, or NULL. */
static const char *md_find(const grpc_metadata_array *md, const char *key, size_t *len)
{
    for (size_t i = 0; md && i < md->count; i++) {
        if (grpc_slice_str_cmp(md->metadata[i].key, key) == 0) {
            *len = GRPC_SLICE_LENGTH(md->metadata[i].value);
            return (const char *)GRPC_SLICE_START_PTR(md->metadata[i].value);
        }
    }
    return NULL;
}

/* The caller's trace context: the request's own `traceparent` / `tracestate` parameters (a message on a
 * multiplexed stream, where metadata belongs to the whole stream: remote_engine.c puts them there), else the
 * call's metadata. The parameters are taken out of the request: they are not the model's. */
static void trace_begin(jn_infer_job *job)
{
    jn_call *c = &job->call;
    const char *tp = jn_params_get_string(&c->req.params, "traceparent");
    const char *ts = tp ? jn_params_get_string(&c->req.params, "tracestate") : NULL;
    size_t tp_len = tp ? strlen(tp) : 0, ts_len = ts ? strlen(ts) : 0;
    if (!tp) {
        tp = md_find(job->md, "traceparent", &tp_len);
        ts = tp ? md_find(job->md, "tracestate", &ts_len) : NULL;
    }
    jn_call_trace_begin(&c->trace, job->proto->name, tp, tp_len, ts, ts_len, c->t_created);
    if (c->req.params.count) {
        jn_params_remove(&c->req.params, "traceparent");
        jn_params_remove(&c->req.params, "tracestate");
    }
}

void jn_infer_job_run(jn_infer_job *job, grpc_byte_buffer *bb)
{
    jn_call *c = &job->call;
    c->request_bytes = bb ? grpc_byte_buffer_length(bb) : 0; /* NULL: a unary call that ended before its message */
    if (!jn_dispatch_admit(c)) { /* load shedding in all: refused before even decoding */
        int64_t deadline = c->req.deadline_ns;
        c->rc = job->proto->decode(bb, &c->req, &job->state, &c->err);
        c->req.deadline_ns = deadline;
        if (c->rc && c->req.model && *c->req.model)
            jn_err_prefix(&c->err, "model '%s'", c->req.model);
    }
    trace_begin(job);
    jn_dispatch(c);
}

grpc_byte_buffer *jn_infer_job_encode(jn_infer_job *job, bool in_stream)
{
    jn_call *c = &job->call;
    grpc_byte_buffer *bb = NULL;
    if (!c->rc) {
        bb = c->streamed ? job->proto->encode_partial(&c->req, c->engine, &c->outputs, job->state, true, &c->err)
                         : job->proto->encode(&c->req, c->engine, &c->outputs, job->state, in_stream, &c->err);
        if (!bb)
            c->rc = c->err.code ? c->err.code : JN_EINTERNAL;
    }
    if (!bb && in_stream)
        bb = job->proto->encode_stream_error(&c->req, &c->err);
    if (bb)
        c->response_bytes += grpc_byte_buffer_length(bb);
    jn_call_finish(c); /* rc and err stay for a unary failure's status */
    return bb;
}

/* ---- unary infer (Broker/Infer, v2 ModelInfer, Engine/Infer) ---- */

static void unary_infer_done(jn_infer_job *job)
{
    jn_unary *u = job->call.owner;
    grpc_byte_buffer *bb = jn_infer_job_encode(job, false);
    if (bb)
        jn_unary_reply(u, bb);
    else
        jn_unary_fail(u, job->call.rc, job->call.err.msg);
    jn_infer_job_free(job);
}

static void unary_infer_leaves(jn_infer_job *job)
{
    jn_unary_watch_cancel(job->call.owner);
}

void jn_unary_infer(jn_unary *u, grpc_byte_buffer *payload)
{
    jn_infer_job *job = jn_infer_job_create(u->server, u->method->arg, unary_infer_done, NULL, u, &u->cancelled,
                                            u->deadline_ns);
    if (!job) {
        jn_unary_fail(u, JN_ENOMEM, "out of memory");
        return;
    }
    /* An asynchronous engine (a remote model) sends its call from this pump and gets the answer on the same
     * completion queue; the client's cancellation is passed on to it once the call watches for it (on_leave). */
    job->call.host = (jn_host_hint){.queue = u->cq, .parent = u->call};
    job->on_leave = unary_infer_leaves;
    job->md = &u->md;
    jn_infer_job_run(job, payload);
}
