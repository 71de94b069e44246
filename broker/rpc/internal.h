/* internal.h — state shared by the files of the rpc module (server.c, unary.c, stream.c, infer.c, health.c and the
 * service files). Not a public header.
 *
 * Every completion-queue tag is a jn_tag embedded in the object that owns the batch; the pump calls tag->fn with
 * the event's success bit. Objects count their outstanding batches (and jobs) and free themselves at zero.
 */
#ifndef JN_RPC_INTERNAL_H
#define JN_RPC_INTERNAL_H

#include <grpc/grpc.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

#include "control.h"
#include "dispatch.h"
#include "executor.h"
#include "metrics.h"
#include "registry.h"
#include "stream_peek.h"
#include "server.h"
#include "tsan.h"
#include "workpool.h"

#define JN_CONTAINER_OF(ptr, type, member) ((type *)((char *)(ptr) - offsetof(type, member)))

/* A completion-queue tag: the pump calls tag->fn(tag, ok). The same type engines use for their own events on a
 * pump's queue (jn_host_tag, engine.h), so one pump serves both. */
typedef jn_host_tag jn_tag;

/* grpc_call_start_batch, with the tag released for ThreadSanitizer (tsan.h) after the arguments were read: once the
 * batch starts, the tag may come out on another thread, which may free what holds the call. */
static inline grpc_call_error jn_start_batch(grpc_call *call, const grpc_op *ops, size_t n, jn_tag *tag)
{
    JN_TSAN_RELEASE(tag);
    return grpc_call_start_batch(call, ops, n, tag, NULL);
}

typedef struct jn_unary jn_unary;
typedef struct jn_stream jn_stream;
typedef struct jn_watch jn_watch;

/* A call that just arrived: the handler takes ownership of every field. */
typedef struct jn_incoming {
    grpc_call *call;
    grpc_metadata_array md;
    gpr_timespec deadline;
    grpc_byte_buffer *payload; /* unary and server-streaming methods only; may be NULL */
    grpc_completion_queue *cq;
} jn_incoming;

typedef enum jn_method_kind { JN_METHOD_UNARY, JN_METHOD_BIDI, JN_METHOD_SERVER_STREAM } jn_method_kind;

typedef struct jn_method {
    const char *path;
    jn_method_kind kind;
    /* Unary: must end with exactly one jn_unary_reply / jn_unary_fail, on any thread. */
    void (*unary)(jn_unary *u, grpc_byte_buffer *payload);
    /* Streaming: takes ownership of the incoming call. */
    void (*start)(struct jn_server *s, const struct jn_method *m, jn_incoming *in);
    const void *arg; /* method-specific (the infer protocol for infer methods) */
    /* Unary: the handler calls jn_unary_watch_cancel itself when its work leaves the pump (inference, mostly
     * answered on the pump); false = watched from the start. */
    bool defers_cancel_watch;
} jn_method;

/* The method table (server.c). */
extern const jn_method jn_methods[];
extern const size_t jn_method_count;

struct jn_server {
    jn_server_options opt;
    jn_registry *reg;
    jn_control *control;       /* opt.control, or own_control */
    jn_control own_control;    /* the registry alone (nothing persisted) */
    jn_workpool *pool;
    jn_dispatcher *dispatch; /* the one request path, over reg and pool with the options' limits */
    grpc_server *srv;
    int port;
    int n_cqs;
    grpc_completion_queue **cqs;
    pthread_t *pumps;
    void **method_handles; /* per jn_methods entry */
    jn_access *method_access; /* per jn_methods entry (jn_auth_grpc_access of its path) */

    atomic_int shutting_down;
    atomic_long live; /* call objects alive (pre-posted requests included) */
    pthread_mutex_t mu;
    pthread_cond_t cv; /* signalled when live drops to 0 or the shutdown tag fires */
    bool shutdown_notified;
    jn_tag shutdown_tag;

    /* Open streams and health watchers, for shutdown. Guarded by mu. */
    jn_stream *streams;
    jn_watch *watchers;
};

/* Book-keeping of call objects so shutdown can wait for all of them. */
void jn__server_call_begin(struct jn_server *s);
void jn__server_call_end(struct jn_server *s);
bool jn__server_closing(const struct jn_server *s);

/* Deadline of a call in jn_now_ns() time; 0 when it has none. */
int64_t jn__deadline_ns(gpr_timespec deadline);

/* ---- unary.c ---- */
struct jn_unary {
    jn_tag close_tag;
    jn_tag send_tag;
    struct jn_server *server;
    const jn_method *method;
    grpc_call *call;
    grpc_metadata_array md;
    int64_t deadline_ns;
    int recv_cancelled;
    bool close_posted;    /* the RECV_CLOSE_ON_SERVER op is started (alone, or with the answer) */
    atomic_int cancelled; /* engines poll it (set once jn_unary_watch_cancel was called) */
    atomic_int refs;      /* the handler's reference + one per outstanding batch */
    grpc_completion_queue *cq; /* the call's (a pump's) */
    grpc_byte_buffer *response;
    grpc_slice details;
};

void jn__unary_start(struct jn_server *s, const jn_method *m, jn_incoming *in);
/* Starts watching for the client's cancellation (u->cancelled), once; before the work leaves the handler's thread,
 * and before the reply. Infer methods call it when a job goes to a pool; every other method is watched from the
 * start. */
void jn_unary_watch_cancel(jn_unary *u);
/* Sends OK with `response` (taken; may be NULL for an empty message). */
void jn_unary_reply(jn_unary *u, grpc_byte_buffer *response);
/* Sends the error mapped from a JN_E* code. */
void jn_unary_fail(jn_unary *u, int jn_code, const char *message);
void jn_unary_fail_status(jn_unary *u, grpc_status_code code, const char *message);

/* ---- infer.c: one inference from decoded bytes to an encoded answer, shared by unary and stream calls of both
 * protocols. ---- */

typedef struct jn_infer_proto {
    const char *name;
    /* The door's name in the request log for unary and for stream calls ("grpc-v1", "grpc-v1-stream"). */
    const char *door, *stream_door;
    /* Decodes a request message into req; *state receives what the encoder needs to know of the request. */
    int (*decode)(grpc_byte_buffer *bb, jn_request *req, void **state, jn_err *err);
    /* Encodes a successful answer (as the stream's message type when in_stream). NULL with err set on failure. */
    grpc_byte_buffer *(*encode)(const jn_request *req, const jn_engine *engine, const jn_tensor_list *outputs,
                                const void *state, bool in_stream, jn_err *err);
    /* Encodes one partial answer of a streaming engine for a stream call; `final` = the empty message that ends
     * the request's answer. */
    grpc_byte_buffer *(*encode_partial)(const jn_request *req, const jn_engine *engine, const jn_tensor_list *outputs,
                                        const void *state, bool final, jn_err *err);
    /* Encodes a failed request as an in-stream message (the stream goes on). */
    grpc_byte_buffer *(*encode_stream_error)(const jn_request *req, const jn_err *err);
    void (*free_state)(void *state);
    /* Optional: a stream message's control fields (id, cancel, timeout_us) without decoding it (jn_stream_peek_v1);
     * set for junction.v1.Engine only. */
    int (*stream_peek)(grpc_byte_buffer *bb, jn_stream_peek *out);
} jn_infer_proto;

extern const jn_infer_proto jn_infer_v1; /* codec_v1.c: junction.v1.InferRequest/InferResponse */
extern const jn_infer_proto jn_infer_v2; /* codec_v2.c: inference.ModelInferRequest/Response */
extern const jn_infer_proto jn_infer_engine; /* codec_v1.c: junction.v1.Engine (outputs always as tensors) */

/* codec_v1.c: one junction.v1.Value (input #index) into a tensor that may point into the held message (Evaluate's
 * examples reuse the Infer decoding). */
struct Junction__V1__Value;
struct jn_pb_holder;
int jn__v1_decode_value(size_t index, struct Junction__V1__Value *v, struct jn_pb_holder *holder, jn_tensor **out,
                        jn_err *err);

typedef struct jn_infer_job jn_infer_job;
struct jn_infer_job {
    jn_call call; /* the dispatcher's call: request, resolved model, outcome (core/dispatch.h) */
    struct jn_server *server;
    const jn_infer_proto *proto;
    void *state; /* what the codec's encoder needs to know of the request */
    /* Called exactly once when the call has its outcome, on a pump or worker thread. */
    void (*done)(jn_infer_job *job);
    /* Called (when set) on the pump before the call leaves it (for a pool, or as an asynchronous engine call): the
     * unary call starts watching for cancellation then. */
    void (*on_leave)(jn_infer_job *job);
    /* Stream calls only (NULL otherwise): takes one encoded partial answer of a streaming engine, in order; may
     * block while the stream's queue is full (back-pressure). Non-zero: the stream is gone, stop. */
    int (*on_partial)(jn_infer_job *job, grpc_byte_buffer *bb);
    /* The call's (unary) or stream's metadata, read for `traceparent` / `tracestate` (borrowed; may be NULL). */
    const grpc_metadata_array *md;
};

/* A job bound to its owner (call.owner), with the deadline of the call that carried it. NULL on out of memory. */
jn_infer_job *jn_infer_job_create(struct jn_server *s, const jn_infer_proto *proto, void (*done)(jn_infer_job *),
                                  int (*on_partial)(jn_infer_job *, grpc_byte_buffer *), void *owner,
                                  const atomic_int *cancelled, int64_t deadline_ns);
/* Admits and decodes bb (not consumed), then hands the call to the dispatcher; job->done is called in every case. */
void jn_infer_job_run(jn_infer_job *job, grpc_byte_buffer *bb);
/* The encoded answer for a finished job: the result, or for streams the in-stream error message. NULL for a
 * unary failure (job->call.rc and job->call.err then say why). Records the call's metrics. */
grpc_byte_buffer *jn_infer_job_encode(jn_infer_job *job, bool in_stream);
void jn_infer_job_free(jn_infer_job *job);

/* The unary handler for an infer method (method->arg is the jn_infer_proto). */
void jn_unary_infer(jn_unary *u, grpc_byte_buffer *payload);

/* ---- stream.c: bidi infer streams (InferStream, ModelStreamInfer). ---- */
void jn_stream_start(struct jn_server *s, const jn_method *m, jn_incoming *in);
/* Answer coalescing on a pump (issue #24, the remote side of a multiplexed hop): after jn__stream_defer_writes(cq)
 * on the pump thread that drains cq, the answers that thread finishes for streams of cq wait until it calls
 * jn__stream_flush (its queue has nothing ready), so a burst leaves in one write per stream. Per thread. */
void jn__stream_defer_writes(grpc_completion_queue *cq);
bool jn__stream_deferred(void);
void jn__stream_flush(void);
/* Shutdown: every open stream is closed once its in-flight requests are answered; later requests are refused. */
void jn__streams_close_all(struct jn_server *s);

/* ---- health.c ---- */
void jn_health_check(jn_unary *u, grpc_byte_buffer *payload);
void jn_health_watch_start(struct jn_server *s, const jn_method *m, jn_incoming *in);
/* Shutdown: watchers get NOT_SERVING and then their call ends. */
void jn__health_shutdown(struct jn_server *s);

/* ---- services ---- */
void jn_broker_list_models(jn_unary *u, grpc_byte_buffer *payload);
void jn_broker_get_model(jn_unary *u, grpc_byte_buffer *payload);
/* evaluate_service.c: Broker/Evaluate, run on the worker pool. */
void jn_broker_evaluate(jn_unary *u, grpc_byte_buffer *payload);
void jn_v2_server_live(jn_unary *u, grpc_byte_buffer *payload);
void jn_v2_server_ready(jn_unary *u, grpc_byte_buffer *payload);
void jn_v2_model_ready(jn_unary *u, grpc_byte_buffer *payload);
void jn_v2_server_metadata(jn_unary *u, grpc_byte_buffer *payload);
void jn_v2_model_metadata(jn_unary *u, grpc_byte_buffer *payload);
void jn_v2_model_statistics(jn_unary *u, grpc_byte_buffer *payload);
/* repository_service.c: the v2 model repository extension (admin calls). */
void jn_v2_repository_index(jn_unary *u, grpc_byte_buffer *payload);
void jn_v2_repository_load(jn_unary *u, grpc_byte_buffer *payload);
void jn_v2_repository_unload(jn_unary *u, grpc_byte_buffer *payload);
/* admin_service.c: junction.v1.Admin (no auth yet). */
void jn_admin_put_pipeline(jn_unary *u, grpc_byte_buffer *payload);
void jn_admin_delete_pipeline(jn_unary *u, grpc_byte_buffer *payload);
void jn_admin_load_model(jn_unary *u, grpc_byte_buffer *payload);
void jn_admin_unload_model(jn_unary *u, grpc_byte_buffer *payload);
void jn_admin_list_pipelines(jn_unary *u, grpc_byte_buffer *payload);
/* admin_remote.c: remote engines (RegisterEngine, UnregisterEngine, ListEngines, Heartbeat); the blocking ones run
 * on the remote manager's registration pool. */
void jn_admin_register_engine(jn_unary *u, grpc_byte_buffer *payload);
void jn_admin_unregister_engine(jn_unary *u, grpc_byte_buffer *payload);
void jn_admin_list_engines(jn_unary *u, grpc_byte_buffer *payload);
void jn_admin_heartbeat(jn_unary *u, grpc_byte_buffer *payload);
/* engine_service.c: junction.v1.Engine Describe (Infer and InferStream go through infer.c / stream.c). */
void jn_engine_describe(jn_unary *u, grpc_byte_buffer *payload);

#endif
