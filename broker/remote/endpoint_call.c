/* endpoint_call.c — blocking calls on an endpoint: one per thread at a time, on that thread's own pluck completion
 * queue; and the call helpers the other kinds share (deadlines, waiting, statuses, unary outcomes). */
#include <grpc/support/time.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "endpoint.h"
#include "endpoint_internal.h"
#include "engine.h"
#include "pb.h"
#include "unary_exchange.h"


/* After the deadline, how long a call may take to come back before it is cancelled (guards against a stuck
 * core: the call has a deadline, so it normally completes by itself). */
#define CALL_GRACE_MS 2000
/* How often a waiting call looks at the caller's cancellation flag. */
#define CANCEL_POLL_MS 50

/* ---- per-thread completion queues ---- */

static pthread_key_t cq_key;
static pthread_once_t cq_once = PTHREAD_ONCE_INIT;

static void cq_free(void *p)
{
    grpc_completion_queue_destroy(p);
}

static void cq_key_create(void)
{
    pthread_key_create(&cq_key, cq_free);
}

grpc_completion_queue *jn__endpoint_thread_cq(void)
{
    pthread_once(&cq_once, cq_key_create);
    grpc_completion_queue *cq = pthread_getspecific(cq_key);
    if (!cq) {
        cq = grpc_completion_queue_create_for_pluck(NULL);
        pthread_setspecific(cq_key, cq);
    }
    return cq;
}

void jn_remote_thread_release(void)
{
    pthread_once(&cq_once, cq_key_create);
    grpc_completion_queue *cq = pthread_getspecific(cq_key);
    if (cq) {
        pthread_setspecific(cq_key, NULL);
        grpc_completion_queue_destroy(cq);
    }
}

/* ---- calls ---- */

gpr_timespec jn__endpoint_gpr_deadline(int64_t deadline_ns)
{
    int64_t left = deadline_ns - jn_now_ns();
    if (left < 0)
        left = 0;
    return gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC), gpr_time_from_nanos(left, GPR_TIMESPAN));
}

/* Waits for `tag` on cq; cancels the call when the caller goes away or the core overruns the deadline. */
void jn__endpoint_wait_batch(grpc_completion_queue *cq, grpc_call *call, void *tag, int64_t deadline_ns,
                       const atomic_int *cancelled)
{
    int64_t give_up = deadline_ns + (int64_t)CALL_GRACE_MS * 1000000;
    bool cancel_sent = false;
    for (;;) {
        int64_t now = jn_now_ns();
        int64_t until = give_up;
        if (cancelled && !cancel_sent && now + (int64_t)CANCEL_POLL_MS * 1000000 < until)
            until = now + (int64_t)CANCEL_POLL_MS * 1000000;
        if (cancel_sent)
            until = now + (int64_t)60 * 1000000000; /* the cancel completes the batch promptly */
        grpc_event ev = grpc_completion_queue_pluck(cq, tag, jn__endpoint_gpr_deadline(until), NULL);
        if (ev.type == GRPC_OP_COMPLETE)
            return;
        if (!cancel_sent && ((cancelled && atomic_load(cancelled)) || jn_now_ns() >= give_up)) {
            grpc_call_cancel(call, NULL);
            cancel_sent = true;
        }
    }
}

void jn__endpoint_copy_status(jn_call_status *st, int code, grpc_slice details, const char *error_string)
{
    st->code = code;
    st->message[0] = '\0';
    if (GRPC_SLICE_LENGTH(details))
        snprintf(st->message, sizeof st->message, "%.*s", (int)GRPC_SLICE_LENGTH(details),
                 (const char *)GRPC_SLICE_START_PTR(details));
    else if (code && error_string)
        snprintf(st->message, sizeof st->message, "%s", error_string);
    else if (code)
        snprintf(st->message, sizeof st->message, "%s", jn_grpc_status_name(code));
}

/* A finished exchange's outcome: its status, and with OK the answer decoded. */
int jn__endpoint_exchange_outcome(const jn_unary_exchange *x, jn_remote_method m,
                                  const ProtobufCMessageDescriptor *resp_desc, ProtobufCMessage **resp,
                                  jn_call_status *st)
{
    jn__endpoint_copy_status(st, x->code, x->details, x->error_string);
    if (x->code == GRPC_STATUS_OK) {
        jn_err err;
        jn_err_clear(&err);
        *resp = jn_unary_exchange_answer(x, resp_desc, &err);
        if (!*resp) {
            st->code = GRPC_STATUS_INTERNAL;
            snprintf(st->message, sizeof st->message, "the answer to %s does not decode: %s",
                     jn__endpoint_method_paths[m], err.msg);
        }
    }
    return *resp ? 0 : (st->code ? st->code : GRPC_STATUS_INTERNAL);
}

int jn__endpoint_start_failed(jn_remote_method m, grpc_call_error ce, jn_call_status *st)
{
    st->code = GRPC_STATUS_INTERNAL;
    snprintf(st->message, sizeof st->message, "cannot start the call %s (grpc_call_error %d)",
             jn__endpoint_method_paths[m], (int)ce);
    return st->code;
}

int jn_endpoint_unary_packed(jn_endpoint *ep, jn_remote_method m, grpc_byte_buffer *request, const char *traceparent,
                             const char *tracestate, const ProtobufCMessageDescriptor *resp_desc, int64_t deadline_ns,
                             const atomic_int *cancelled, ProtobufCMessage **resp, jn_call_status *st)
{
    *resp = NULL;
    grpc_completion_queue *cq = jn__endpoint_thread_cq();
    grpc_call *call = grpc_channel_create_registered_call(ep->channel, NULL, GRPC_PROPAGATE_DEFAULTS, cq,
                                                          ep->methods[m], jn__endpoint_gpr_deadline(deadline_ns), NULL);
    jn_unary_exchange x;
    void *tag = &x;
    grpc_call_error ce = jn_unary_exchange_start_traced(&x, call, request, traceparent, tracestate, tag);
    int rc;
    if (ce != GRPC_CALL_OK) {
        rc = jn__endpoint_start_failed(m, ce, st);
    } else {
        jn__endpoint_wait_batch(cq, call, tag, deadline_ns, cancelled);
        rc = jn__endpoint_exchange_outcome(&x, m, resp_desc, resp, st);
    }
    jn_unary_exchange_finish(&x);
    grpc_call_unref(call);
    return rc;
}

int jn_endpoint_unary(jn_endpoint *ep, jn_remote_method m, const ProtobufCMessage *req,
                      const ProtobufCMessageDescriptor *resp_desc, int64_t deadline_ns, const atomic_int *cancelled,
                      ProtobufCMessage **resp, jn_call_status *st)
{
    return jn_endpoint_unary_packed(ep, m, jn_pb_pack(req), NULL, NULL, resp_desc, deadline_ns, cancelled, resp, st);
}

