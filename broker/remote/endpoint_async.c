/* endpoint_async.c — calls on an endpoint that nobody waits for (jn_endpoint_call_start / _end): the answer comes
 * out of a completion queue the caller already pumps; at most max_concurrency on the wire, the next max_queue wait
 * in order, the rest refused at once. */
#include <grpc/support/time.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "endpoint.h"
#include "endpoint_internal.h"
#include "unary_exchange.h"

/* ---- calls nobody waits for ---- */

/* Puts the call on the wire. A batch that cannot start (a programming error: the ops are fixed) still ends through
 * the tag, so the caller's accounting holds: the call is cancelled and start_error says why. */
void jn__endpoint_call_launch_unary(jn_endpoint_call *c)
{
    c->mux = false;
    /* Cancellation only: the deadline is ours (the caller's less a margin, see remote_engine.c). */
    c->call = grpc_channel_create_registered_call(c->ep->channel, c->parent,
                                                  c->parent ? GRPC_PROPAGATE_CANCELLATION : 0, c->cq,
                                                  c->ep->methods[c->method],
                                                  jn__endpoint_gpr_deadline(c->deadline_ns), NULL);
    grpc_byte_buffer *request = c->request;
    c->request = NULL;
    /* Once the batch started, c belongs to whoever gets the tag (maybe another thread, at once): not touched here
     * after a successful start. */
    grpc_call_error ce = jn_unary_exchange_start_traced(&c->x, c->call, request, c->traceparent, c->tracestate, c->tag);
    if (ce != GRPC_CALL_OK) {
        /* Nothing will come out of the queue for this call; a one-op batch on it reports the failure instead. */
        c->start_error = ce;
        grpc_call_cancel(c->call, NULL);
        grpc_op op;
        memset(&op, 0, sizeof op);
        op.op = GRPC_OP_RECV_STATUS_ON_CLIENT;
        op.data.recv_status_on_client.trailing_metadata = &c->x.trailing_md;
        op.data.recv_status_on_client.status = &c->x.code;
        op.data.recv_status_on_client.status_details = &c->x.details;
        op.data.recv_status_on_client.error_string = &c->x.error_string;
        grpc_call_start_batch(c->call, &op, 1, c->tag, NULL);
    }
}

/* On the wire now (multiplexed or unary), or in the wait queue. */
static void call_launch(jn_endpoint_call *c)
{
    if (c->mux)
        jn__endpoint_mux_launch(c);
    else
        jn__endpoint_call_launch_unary(c);
}

int jn_endpoint_call_start(jn_endpoint *ep, jn_remote_method m, grpc_byte_buffer *request, const char *traceparent,
                           const char *tracestate, int64_t deadline_ns, grpc_completion_queue *cq, grpc_call *parent, void *tag,
                           jn_endpoint_call **out, jn_call_status *st)
{
    jn_endpoint_call *c = request ? calloc(1, sizeof *c) : NULL;
    if (!c) {
        if (request)
            grpc_byte_buffer_destroy(request);
        return jn_call_status_set(st, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
    }
    c->ep = jn_endpoint_ref(ep);
    c->method = m;
    c->request = request;
    if (traceparent)
        snprintf(c->traceparent, sizeof c->traceparent, "%s", traceparent);
    c->tracestate = tracestate;
    c->deadline_ns = deadline_ns;
    c->cq = cq;
    c->parent = parent;
    c->tag = tag;
    return jn__endpoint_call_admit(c, out, st);
}

int jn__endpoint_call_admit(jn_endpoint_call *c, jn_endpoint_call **out, jn_call_status *st)
{
    jn_endpoint *ep = c->ep;
    pthread_mutex_lock(&ep->calls_mu);
    bool now = ep->calls_running < ep->opt.max_concurrency;
    bool wait = !now && ep->calls_waiting < ep->opt.max_queue;
    if (now) {
        ep->calls_running++;
    } else if (wait) {
        ep->calls_waiting++;
        if (ep->wait_tail)
            ep->wait_tail->next_waiting = c;
        else
            ep->wait_head = c;
        ep->wait_tail = c;
    }
    int running = ep->calls_running, waiting = ep->calls_waiting;
    if (now || wait)
        *out = c; /* before it can end: its tag may come out on another thread before this one returns */
    pthread_mutex_unlock(&ep->calls_mu);
    if (now) {
        call_launch(c);
    } else if (!wait) {
        grpc_byte_buffer_destroy(c->request);
        jn_endpoint_unref(ep);
        free(c);
        return jn_call_status_set(st, GRPC_STATUS_UNAVAILABLE,
                                  "too many calls waiting for endpoint %s (%d running, %d waiting: max_concurrency %d, "
                                  "max_queue %d)", ep->target, running, waiting, ep->opt.max_concurrency,
                                  ep->opt.max_queue);
    }
    return 0;
}

int jn_endpoint_call_end(jn_endpoint_call *c, const ProtobufCMessageDescriptor *resp_desc, ProtobufCMessage **resp,
                         jn_call_status *st)
{
    jn_endpoint *ep = c->ep;
    *resp = NULL;
    int rc;
    if (c->mux) { /* answered on a stream (endpoint_mux.c): the message is decoded already */
        *st = c->mux_st;
        *resp = c->answer;
        rc = st->code;
    } else {
        rc = c->start_error != GRPC_CALL_OK ? jn__endpoint_start_failed(c->method, c->start_error, st)
                                            : jn__endpoint_exchange_outcome(&c->x, c->method, resp_desc, resp, st);
        jn_unary_exchange_finish(&c->x);
        grpc_call_unref(c->call);
    }
    if (c->request)
        grpc_byte_buffer_destroy(c->request);
    free(c);
    /* Its place on the wire goes to the call that waited longest. */
    pthread_mutex_lock(&ep->calls_mu);
    jn_endpoint_call *next = ep->wait_head;
    if (next) {
        ep->wait_head = next->next_waiting;
        if (!ep->wait_head)
            ep->wait_tail = NULL;
        ep->calls_waiting--;
    } else {
        ep->calls_running--;
    }
    pthread_mutex_unlock(&ep->calls_mu);
    if (next)
        call_launch(next);
    jn_endpoint_unref(ep);
    return rc;
}

