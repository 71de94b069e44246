/* endpoint_internal.h — what the endpoint's files share (endpoint.c: the table; endpoint_call.c: blocking calls and
 * the helpers below; endpoint_async.c: calls nobody waits for; endpoint_stream.c: streams; endpoint_mux.c,
 * endpoint_mux_stream.c, endpoint_mux_threads.c and endpoint_mux_wire.c: calls as messages on multiplexed streams,
 * which share endpoint_mux_internal.h besides). Private to broker/remote.
 *
 * Thread-safety: all of it may be used from any thread; the completion queue of jn__endpoint_thread_cq belongs to
 * the calling thread.
 */
#ifndef JN_REMOTE_ENDPOINT_INTERNAL_H
#define JN_REMOTE_ENDPOINT_INTERNAL_H

#include <grpc/grpc.h>
#include <grpc/support/time.h>
#include <stdatomic.h>
#include <stdint.h>

#include "endpoint.h"
#include "unary_exchange.h"

/* A call nobody waits for (endpoint_async.c), unary or one message on a multiplexed stream (endpoint_mux.c). */
struct jn_mux_stream;
struct jn_endpoint_call {
    jn_endpoint *ep; /* a reference */
    jn_remote_method method;
    grpc_byte_buffer *request; /* until it goes out */
    int64_t deadline_ns;
    grpc_completion_queue *cq;
    grpc_call *parent;
    void *tag; /* a jn_host_tag for multiplexed calls */
    grpc_call *call;
    jn_unary_exchange x;
    grpc_call_error start_error; /* GRPC_CALL_OK, or why the batch did not start */
    char traceparent[56];        /* sent as metadata by a unary launch; "" = none (core/trace.h) */
    const char *tracestate;      /* likewise (borrowed from the caller's call; NULL = none) */
    struct jn_endpoint_call *next_waiting;
    /* ---- multiplexed (mux true; falls back to unary when no stream can be had) ---- */
    bool mux;
    jn_remote_method mux_stream;  /* JN_RM_ENGINE_INFER_STREAM or JN_RM_V2_MODEL_STREAM_INFER */
    const atomic_int *cancelled; /* the caller's (may be NULL): polled while the answer is awaited */
    char request_id[64];         /* the caller's request id, sent along with the message id */
    uint64_t mux_id;             /* the message id on its stream */
    struct jn_mux_stream *ms;    /* the stream it went out on, while in its table */
    int64_t sent_ns;
    struct jn_endpoint_call *mux_prev, *mux_next; /* the stream's table */
    ProtobufCMessage *answer;    /* the decoded answer (when mux_st.code is 0) */
    jn_call_status mux_st;
};

/* endpoint_async.c: counts c against max_concurrency / max_queue and launches it (or queues it); as
 * jn_endpoint_call_start. */
int jn__endpoint_call_admit(jn_endpoint_call *c, jn_endpoint_call **out, jn_call_status *st);
/* endpoint_async.c: c on the wire as a unary call (its tag comes out of c->cq). */
void jn__endpoint_call_launch_unary(jn_endpoint_call *c);
/* endpoint_mux.c: c as a message on the stream of (c->ep, c->cq), or unary when no stream can be had. */
void jn__endpoint_mux_launch(jn_endpoint_call *c);
/* endpoint_mux_wire.c: the packed request (taken) with fields 3 (`id`, a string) and, when timeout_us > 0, 8
 * (`timeout_us`) appended: a decoder takes the last value of a singular field. NULL on out of memory. */
grpc_byte_buffer *jn__mux_with_id(grpc_byte_buffer *request, const char *id, int64_t timeout_us);
/* endpoint_mux_wire.c: a junction.v1.InferRequest cancelling the message `id` of its stream. */
grpc_byte_buffer *jn__mux_cancel_message(const char *id);
/* endpoint_mux_wire.c: a request naming no model (answered at once with an error: a suspect stream's probe). */
grpc_byte_buffer *jn__mux_probe_message(jn_remote_method stream);
/* endpoint_mux.c: the endpoint is being freed: its streams are cancelled and forgotten. */
void jn__endpoint_mux_forget(jn_endpoint *ep);

/* The method paths, by jn_remote_method ("/junction.v1.Engine/Infer"). */
extern const char *const jn__endpoint_method_paths[JN_RM_COUNT];

/* The calling thread's pluck completion queue (made on first use). */
grpc_completion_queue *jn__endpoint_thread_cq(void);
/* A jn_now_ns() deadline as a gpr_timespec on the monotonic clock (a past deadline is now). */
gpr_timespec jn__endpoint_gpr_deadline(int64_t deadline_ns);
/* Waits for `tag` on cq; cancels the call when *cancelled is set or the core overruns the deadline. */
void jn__endpoint_wait_batch(grpc_completion_queue *cq, grpc_call *call, void *tag, int64_t deadline_ns,
                             const atomic_int *cancelled);
/* st from a received status: its details, else the core's error string, else the status's name. */
void jn__endpoint_copy_status(jn_call_status *st, int code, grpc_slice details, const char *error_string);
/* A finished exchange's outcome: its status, and with OK the answer decoded (0 with *resp, else the status). */
int jn__endpoint_exchange_outcome(const jn_unary_exchange *x, jn_remote_method m,
                                  const ProtobufCMessageDescriptor *resp_desc, ProtobufCMessage **resp,
                                  jn_call_status *st);
/* A call the core refused to start: INTERNAL naming the method. */
int jn__endpoint_start_failed(jn_remote_method m, grpc_call_error ce, jn_call_status *st);

#endif
