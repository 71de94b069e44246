/* endpoint_mux.c — brokered calls to a remote as messages on long-lived streams (issue #24), instead of one gRPC
 * call each: junction.v1.Engine/InferStream for native remotes, v2 ModelStreamInfer for KServe v2 remotes that serve
 * it (found at registration: jn_endpoint_probe_stream).
 *
 * A stream belongs to one (endpoint, completion queue) pair: the queue of a gRPC pump of this server (asynchronous
 * calls: their answers complete on that pump) or the multiplexer's own queue, drained by its thread (blocking calls:
 * the caller waits on a condition variable). Each message carries an id ("<hex>:<request id>", appended to the
 * packed request: the last `id` field wins when the remote decodes it) and its timeout (`timeout_us`); the remote
 * answers out of order, each answer carrying its id, and the answer is matched to its call in the stream's table.
 * v2 has no timeout_us and no cancel message: there the deadline only ends the call on this side.
 *
 * Per message: the deadline and the caller's cancellation are watched by the multiplexer's thread every few ms;
 * either ends the call (DEADLINE_EXCEEDED / CANCELLED) and sends the remote a cancel message for it. A message that
 * expires with nothing heard on its stream since it was sent makes the stream suspect: a probe goes out (a request
 * naming no model, which a junction answers at once with an error carrying the probe's id); if nothing at all comes
 * back within PROBE_TIMEOUT_NS the stream is half-open (the remote stopped, a dead peer): it is cancelled.
 * Flow control is the endpoint's (jn__endpoint_call_admit: max_concurrency on the wire, max_queue waiting).
 * A stream that ends fails exactly the messages in its table, with UNAVAILABLE (retried by the remote engine's
 * rules); the next call opens a new one, unless streams of that endpoint keep breaking: then, for a backoff that
 * doubles (backoff_ms .. backoff_max_ms) until a stream answers again, calls go out unary.
 *
 * The multiplexer is three files sharing endpoint_mux_internal.h (the stream struct, the one lock, the stream list):
 * this one places a call on a stream (jn__endpoint_mux_launch: the least busy stream of its (endpoint, queue), a new
 * one while all are busy, unary while none can be had; jn__endpoint_mux_forget) and holds the public calls
 * (jn_endpoint_mux_start / jn_endpoint_mux_unary, jn_remote_mux_close_queue); endpoint_mux_stream.c holds the stream
 * objects (open, read, write with deferred and hinted writes, status, the per-stream id table); endpoint_mux_threads.c
 * the multiplexer's own queue and thread and the watcher thread (deadlines, cancellations, half-open probes) and
 * their shutdown. The bytes on the wire are endpoint_mux_wire.c's.
 *
 * Ownership: a call is owned by the stream's table from launch until whoever removes it (the reader, the
 * multiplexer's thread or the stream's end, all under jn__mux_mu) delivers it through its tag, exactly once. A
 * stream is freed when its last batch has completed after it broke. A blocking caller's waiter lives on its stack
 * until its call is delivered.
 * Thread-safety: one lock (jn__mux_mu) guards every stream and table and this file's list of closed queues and
 * message ids; answers are decoded and calls delivered outside it. Any thread may call the public calls.
 */
#include <grpc/support/time.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "endpoint.h"
#include "remotes.h"
#include "endpoint_internal.h"
#include "endpoint_mux_internal.h"
#include "engine.h"

#define MAX_CLOSED_QUEUES 64

static uint64_t g_next_id; /* the last message id given out (under jn__mux_mu) */
/* The pumps' queues being shut down (jn_remote_mux_close_queue): no stream opens on them any more. */
static void *g_closed[MAX_CLOSED_QUEUES];
static int g_n_closed;

static bool queue_closed_locked(void *cq)
{
    for (int i = 0; i < g_n_closed; i++)
        if (g_closed[i] == cq)
            return true;
    return false;
}

/* ---- placement of a call on a stream ---- */

void jn__endpoint_mux_launch(jn_endpoint_call *c)
{
    jn_endpoint *ep = c->ep;
    pthread_mutex_lock(&jn__mux_mu);
    /* The least busy of the (ep, queue) streams; another one while all are writing and there may be more. */
    jn_mux_stream *s = NULL;
    int n = 0, best = 0;
    for (jn_mux_stream *p = jn__mux_streams; p; p = p->next)
        if (p->ep == ep && p->cq == c->cq && p->method == c->mux_stream && !p->broken) {
            int load = (p->writing ? 1 : 0) + (p->head ? 1 : 0);
            n++;
            if (!s || load < best) {
                s = p;
                best = load;
            }
        }
    if ((!s || (best > 0 && n < ep->opt.streams)) && !queue_closed_locked(c->cq) &&
        jn_now_ns() >= ep->mux_retry_at_ns) {
        jn_mux_stream *fresh = jn__mux_stream_open_locked(ep, c->mux_stream, c->cq);
        if (fresh)
            s = fresh;
    }
    if (!s) { /* no stream to be had now: a call of its own */
        pthread_mutex_unlock(&jn__mux_mu);
        jn__endpoint_call_launch_unary(c);
        return;
    }
    c->mux_id = ++g_next_id;
    char id[96];
    jn__mux_format_id(c, id, sizeof id);
    int64_t now = jn_now_ns();
    int64_t left_us = (c->deadline_ns - now) / 1000;
    bool native = c->mux_stream == JN_RM_ENGINE_INFER_STREAM;
    grpc_byte_buffer *bb = jn__mux_with_id(c->request, id, native ? (left_us > 0 ? left_us : 1) : 0);
    c->request = NULL;
    c->sent_ns = now;
    jn__mux_table_add_locked(s, c);
    jn__mux_send_locked(s, bb); /* NULL (no memory): the deadline ends the call */
    pthread_mutex_unlock(&jn__mux_mu);
}

void jn__endpoint_mux_forget(jn_endpoint *ep)
{
    pthread_mutex_lock(&jn__mux_mu);
    for (jn_mux_stream *s = jn__mux_streams; s; s = s->next)
        if (s->ep == ep) {
            s->ep = NULL; /* nothing is in its table: every call holds a reference to the endpoint */
            s->broken = true;
            grpc_call_cancel(s->call, NULL);
        }
    pthread_mutex_unlock(&jn__mux_mu);
}

/* ---- the public calls ---- */

int jn_endpoint_mux_start(jn_endpoint *ep, jn_remote_method stream, grpc_byte_buffer *request,
                          const char *request_id, int64_t deadline_ns, grpc_completion_queue *cq, grpc_call *parent,
                          const atomic_int *cancelled, void *tag, jn_endpoint_call **out, jn_call_status *st)
{
    if (!jn__mux_queue()) { /* the watcher of deadlines is needed even for a pump's streams */
        if (request)
            grpc_byte_buffer_destroy(request);
        return jn_call_status_set(st, GRPC_STATUS_RESOURCE_EXHAUSTED, "cannot start the multiplexer's thread");
    }
    jn_endpoint_call *c = request ? calloc(1, sizeof *c) : NULL;
    if (!c) {
        if (request)
            grpc_byte_buffer_destroy(request);
        return jn_call_status_set(st, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
    }
    c->ep = jn_endpoint_ref(ep);
    c->mux_stream = stream;
    c->method = stream == JN_RM_V2_MODEL_STREAM_INFER ? JN_RM_V2_MODEL_INFER : JN_RM_ENGINE_INFER; /* if unary */
    c->request = request;
    c->deadline_ns = deadline_ns;
    c->cq = cq;
    c->parent = parent;
    c->tag = tag;
    c->mux = true;
    c->cancelled = cancelled;
    snprintf(c->request_id, sizeof c->request_id, "%s", request_id ? request_id : "");
    return jn__endpoint_call_admit(c, out, st);
}

/* A blocking caller waiting for its message. */
typedef struct waiter {
    jn_host_tag tag;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool done;
} waiter;

static void waiter_done(jn_host_tag *tag, bool ok)
{
    (void)ok;
    waiter *w = (waiter *)tag;
    pthread_mutex_lock(&w->mu);
    w->done = true;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

int jn_endpoint_mux_unary(jn_endpoint *ep, jn_remote_method stream, grpc_byte_buffer *request, const char *request_id,
                          const ProtobufCMessageDescriptor *resp_desc, int64_t deadline_ns,
                          const atomic_int *cancelled, ProtobufCMessage **resp, jn_call_status *st)
{
    *resp = NULL;
    grpc_completion_queue *cq = jn__mux_queue();
    if (!cq) {
        if (request)
            grpc_byte_buffer_destroy(request);
        return jn_call_status_set(st, GRPC_STATUS_RESOURCE_EXHAUSTED, "cannot start the multiplexer's thread");
    }
    jn__mux_queue_used(cq);
    waiter w = {.tag.fn = waiter_done, .done = false};
    pthread_mutex_init(&w.mu, NULL);
    pthread_cond_init(&w.cv, NULL);
    jn_endpoint_call *c;
    int rc = jn_endpoint_mux_start(ep, stream, request, request_id, deadline_ns, cq, NULL, cancelled, &w.tag, &c, st);
    if (!rc) {
        pthread_mutex_lock(&w.mu);
        while (!w.done)
            pthread_cond_wait(&w.cv, &w.mu);
        pthread_mutex_unlock(&w.mu);
        rc = jn_endpoint_call_end(c, resp_desc, resp, st);
    }
    pthread_mutex_destroy(&w.mu);
    pthread_cond_destroy(&w.cv);
    return rc;
}

void jn_remote_mux_close_queue(void *cq)
{
    pthread_mutex_lock(&jn__mux_mu);
    if (!queue_closed_locked(cq)) {
        if (g_n_closed == MAX_CLOSED_QUEUES) {
            memmove(g_closed, g_closed + 1, (MAX_CLOSED_QUEUES - 1) * sizeof g_closed[0]);
            g_n_closed--;
        }
        g_closed[g_n_closed++] = cq;
    }
    for (jn_mux_stream *s = jn__mux_streams; s; s = s->next)
        if (s->cq == cq && !s->broken)
            grpc_call_cancel_with_status(s->call, GRPC_STATUS_UNAVAILABLE, "the server is shutting down", NULL);
    pthread_mutex_unlock(&jn__mux_mu);
}
