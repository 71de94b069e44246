/* dispatch.h — the one request path. Every door (gRPC Infer / InferStream, v2 ModelInfer / ModelStreamInfer, the
 * Engine service, v2 REST, simple JSON) hands its request to the dispatcher, which
 *   1. admits it (jn_dispatch_admit: --max-inflight, before the front end even decodes),
 *   2. resolves the target once (jn_dispatch_resolve: one registry lookup; the model's entry is held for the call,
 *      so a model replaced meanwhile answers this call wholly with the version it resolved to),
 *   3. chooses where it runs (jn_dispatch): a model served with dynamic batching or instances has its own queue
 *      and threads (batcher.h): the call is checked and queued there (from the arriving thread when the front end
 *      allows it, else from a worker, which it leaves at once); otherwise on the thread that brought it (an inline
 *      engine, or the start of an asynchronous engine call, when the front end allows it), else on a worker pool
 *      (the model's own bulkhead pool, or the shared pool within the global and per-model queue bounds); streamed
 *      answers never run on the arriving thread (they may wait for the client),
 *   4. runs it: a stateful model's call joins its sequence (sequence.h: sequence_id, else the call's stream scope)
 *      when it arrives, or after its deferred decode; one waits for the call of its sequence before it (parked,
 *      placed again when that one finishes); then the front end's deferred decode if any, the response cache (a model served with "response_cache":
 *      a repeated request is answered from it, at once), the `timeout` parameter, validation against the
 *      signature, then the engine through the executor (infer, infer_stream, or infer_async) or the model's queue;
 *      a successful answer to a cache miss is kept,
 *   5. and tells the front end it is done (ops->done); the front end encodes and answers, then jn_call_finish
 *      records the request's metrics (queue and compute time) and lets go of everything the call held.
 * A front end supplies only decode, encode and done; everything else about a request is here, once.
 *
 * Ownership: the front end owns the jn_call (usually embedded in its own job object) and keeps it alive until
 * jn_call_finish; the call owns its request, outputs and the model reference. The dispatcher is created by the
 * server (one for every door) and outlives every call.
 * Thread-safety: jn_dispatch* may be called from any thread for different calls; a call is touched by one thread
 * at a time (the one that has it: the arriving thread, then a worker or the asynchronous engine's completion).
 */
#ifndef JN_DISPATCH_H
#define JN_DISPATCH_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "batcher.h"
#include "engine.h"
#include "metrics.h"
#include "registry.h"
#include "trace.h"
#include "request.h"
#include "request_log.h"
#include "response_cache.h"
#include "sequence.h"
#include "workpool.h"

typedef struct jn_dispatch_limits {
    long max_inflight;      /* inference calls being handled in all (jn_dispatch_admit); 0 = no bound */
    size_t max_queue;       /* calls waiting for a shared worker in all; 0 = no bound */
    size_t max_model_queue; /* of those, for one model; 0 = no bound */
    /* The server's response cache (borrowed; NULL = none, --cache-mb 0): models served with "response_cache"
     * answer repeated requests from it (response_cache.h). */
    jn_response_cache *cache;
    /* The request log (borrowed; NULL = none, no --request-log): every call writes its line in jn_call_finish. */
    jn_request_log *request_log;
} jn_dispatch_limits;

typedef struct jn_dispatcher jn_dispatcher;

/* reg and pool are borrowed (they outlive the dispatcher); limits copied (NULL = none). NULL on out of memory. */
jn_dispatcher *jn_dispatcher_create(jn_registry *reg, jn_workpool *pool, const jn_dispatch_limits *limits);
void jn_dispatcher_destroy(jn_dispatcher *d);
/* Replaces the limits; before any call is dispatched (not synchronised with calls in progress). */
void jn_dispatcher_set_limits(jn_dispatcher *d, const jn_dispatch_limits *limits);
jn_registry *jn_dispatcher_registry(const jn_dispatcher *d);
jn_workpool *jn_dispatcher_pool(const jn_dispatcher *d);
/* Inference calls admitted and not yet finished. */
long jn_dispatcher_inflight(jn_dispatcher *d);

typedef struct jn_call jn_call;

/* What a front end plugs in. All but done are optional (NULL). */
typedef struct jn_call_ops {
    const char *door; /* metrics front-end label: JN_METRICS_GRPC or JN_METRICS_HTTP */
    /* Decodes the request into c->req on the thread that runs the call, once c->engine is known (a body whose
     * meaning depends on the signature, or too large to decode on an event loop). 0 or a JN_E* code with err set. */
    int (*decode)(jn_call *c, jn_err *err);
    /* Runs the call instead of one execution of c->req into c->outputs (a front end that answers several requests
     * on the model it resolved: simple JSON "instances"), through jn_call_exec. 0 or a JN_E* code. */
    int (*run)(jn_call *c, jn_err *err);
    /* The call is about to leave the thread that called jn_dispatch (to a pool, or out as an asynchronous call):
     * the gRPC unary door starts watching for the client's cancellation then. */
    void (*leaving)(jn_call *c);
    /* Streams to the caller: one partial answer of a streaming engine (the tensors are taken), in order; may block
     * (back-pressure); non-zero stops the engine. Without it, a streaming engine answers all at once. */
    int (*partial)(jn_call *c, jn_tensor_list *partial, jn_err *err);
    /* Required. The call has its outcome: c->rc and c->err, or c->outputs (or, when c->streamed, the partials went
     * out and only the end of the answer remains). Called exactly once, on any thread. */
    void (*done)(jn_call *c);
} jn_call_ops;

struct jn_call {
    /* ---- set by the front end: jn_call_init, then what it needs ---- */
    jn_dispatcher *d;
    const jn_call_ops *ops;
    void *owner;
    jn_request req;              /* decoded before jn_dispatch, or by ops->decode */
    const atomic_int *cancelled; /* the caller went away (may be NULL) */
    jn_host_hint host;           /* for asynchronous engines (engine.h); zero = none */
    /* The thread calling jn_dispatch may run the call to its end when the engine is inline, or start it when the
     * engine is asynchronous (a gRPC pump; an HTTP loop for a small body). False = always a worker. */
    bool run_here;
    /* The trace (trace.h): the front end calls jn_call_trace_begin with the caller's traceparent / tracestate
     * (before jn_dispatch); the request and queue spans are ended in jn_call_finish. Zero = not traced. */
    jn_call_trace trace;
    /* For the request log (request_log.h): the door's name ("grpc-v1", "rest-v2", ...; a static string, NULL =
     * ops->door) and the request's and answer's sizes on the wire as the door saw them (0 = not known). */
    const char *door_name;
    uint64_t request_bytes, response_bytes;
    /* The stream the call came on (a stream front end's; NULL for unary calls): a stateful model's call without
     * sequence_id belongs to that stream's sequence (sequence.h). Borrowed: the stream outlives its calls. */
    jn_seq_scope *seq_scope;
    /* ---- the outcome, for ops->done and the encoder ---- */
    jn_model *model;   /* the resolved entry (a reference) or NULL */
    jn_engine *engine; /* model->engine (borrowed) or NULL */
    jn_tensor_list outputs;
    int rc;
    jn_err err;
    bool streamed; /* the answer went out as partials */
    /* ---- the dispatcher's ---- */
    jn_infer_ctx ctx;
    struct jn_model_stats *stats;
    bool admitted; /* counts against max_inflight until jn_call_finish */
    bool queued;   /* waits in its model's share of the shared pool's queue */
    bool recorded_execution; /* its execution is in the model's statistics already (the batcher's) */
    jn_batch_item item;      /* its place in the model's own queue (batcher.h), when it has one */
    jn_seq_slot seq;         /* its hold on its sequence (a stateful model), between joining and completing */
    bool seq_joined;         /* it joined (or needs not join) its sequence */
    bool decoded;            /* ops->decode ran */
    bool left;               /* ops->leaving was called */
    jn_cache_key cache_key;  /* a cache miss: the key its answer is kept under */
    int64_t cache_ns;        /* time spent on the cache for it so far */
    bool cache_looked;       /* the cache was consulted */
    bool logged;             /* its request log line is made (jn_call_finish may run twice) */
    bool finished;           /* jn_call_finish ran: a second call only clears what is left */
    int64_t t_created, t_started, t_computed;
};

/* Binds a zeroed call to the dispatcher, its ops and the front end's object; starts its clock. */
void jn_call_init(jn_call *c, jn_dispatcher *d, const jn_call_ops *ops, void *owner);
/* Counts the call against --max-inflight: 0, or JN_ERESOURCE (c->rc and c->err set) when the server is full. */
int jn_dispatch_admit(jn_call *c);
/* Resolves the target once: 0 with c->model / c->engine set, or JN_EINVAL (no model named) / JN_ENOTFOUND
 * (c->rc and c->err set). Begins the request's metrics. */
int jn_dispatch_resolve(jn_call *c, const char *model, const char *version);
/* Runs the call (resolving c->req's model first when jn_dispatch_resolve was not called) and calls ops->done
 * exactly once, here or on another thread. A call whose c->rc is already set is done at once. */
void jn_dispatch(jn_call *c);
/* For ops->run: validates `req` against the call's engine and runs it there, synchronously, into outputs (the
 * executor's contract). The call's cancellation and the request's deadline apply. */
int jn_call_exec(jn_call *c, const jn_request *req, jn_tensor_list *outputs, jn_err *err);
/* After the front end answered: records the metrics (ok = c->rc == 0; the front end sets c->rc when encoding
 * failed) and the request log's line (sampled; formatted here, written by the log's own thread), leaves
 * max-inflight, drops the model, clears the request and outputs. The call may then be freed. */
void jn_call_finish(jn_call *c);

#endif
