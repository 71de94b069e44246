/* engine.h — the engine plug-in interface. Built-in engines, ONNX-loaded models and remote models all implement
 * this const vtable; the broker knows nothing else about them (core/dispatch.c runs every call through it).
 *
 * Ownership:
 * - jn_engine is refcounted. jn_engine_create returns one reference (usually handed to the registry); whoever runs
 *   the engine holds its own reference for the duration of the call, so an engine unregistered mid-request stays
 *   alive until the request finishes. The last jn_engine_unref calls vtable->destroy (which frees `ctx`) and then
 *   frees the base struct, its name, version, description and signature.
 * - infer() borrows `inputs` (never frees or modifies them) and pushes outputs it creates into `outputs`, which the
 *   caller owns. Outputs may share input buffers (jn_tensor_share): that is the zero-copy hand-off.
 *
 * Thread-safety: infer() may be called concurrently from several threads; an engine protects its own mutable state.
 */
#ifndef JN_ENGINE_H
#define JN_ENGINE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "err.h"
#include "params.h"
#include "signature.h"
#include "tensor.h"

/* The vtable's layout version. Slots are only ever appended; each says since which version it exists, and a
 * vtable declaring an older version is read only up to the slots that version had (jn_engine_create accepts
 * 1 .. JN_ENGINE_ABI_VERSION).
 *   1: infer, infer_stream, find_output, warmup, destroy
 *   2: infer_async; jn_infer_ctx.host
 *   3: for_step */
#define JN_ENGINE_ABI_VERSION 3u

/* Engine flags. */
enum {
    /* Cheap enough to run on the gRPC pump thread (microseconds, never blocks). Without it the call goes to the
     * worker pool so a pump never stalls. */
    JN_ENGINE_INLINE = 1u << 0,
    /* Can answer one request with a stream of partial outputs (vtable->infer_stream is set). */
    JN_ENGINE_STREAMS = 1u << 1,
    /* The first dimension of every input and output is the batch: rows are independent, so requests may be
     * concatenated along it and the answer split back (the dynamic batcher, model_config.h). */
    JN_ENGINE_BATCHES = 1u << 2,
    /* Its answers are not a function of the request alone (random, time, state, a remote not declared
     * deterministic): never answered from the response cache. */
    JN_ENGINE_VOLATILE = 1u << 3,
    /* Holds per-stream state in what it calls (a pipeline with a step on a stateful model, sequence.h): the
     * registry serves it through a sequence engine without state ports, so one stream's calls run one at a time in
     * arrival order, and its steps continue the stream's sequences (jn_infer_ctx.seq_scope). */
    JN_ENGINE_STATEFUL = 1u << 4,
};

struct jn_workpool;

/* Since ABI 2: a completion-queue event of the host. The gRPC front end pumps its completion queues by calling
 * tag->fn(tag, ok) for every event that comes out, so an engine that puts its own work on such a queue (a remote
 * call, see jn_host_hint) embeds one of these as the tag. */
typedef struct jn_host_tag {
    void (*fn)(struct jn_host_tag *tag, bool ok);
} jn_host_tag;

/* Since ABI 2: what the host that carried the call can offer an asynchronous engine, opaque to core. The gRPC
 * front end sets `queue` to the grpc_completion_queue its pump thread drains (every tag on it a jn_host_tag) and
 * `parent` to the server call (a grpc_call *, for cancellation propagation); both NULL elsewhere (HTTP, pipeline
 * steps). Borrowed: valid until the call's answer is delivered. */
typedef struct jn_host_hint {
    void *queue;
    void *parent;
} jn_host_hint;

/* What an engine may know of the call it serves. Borrowed for the duration of infer(). */
typedef struct jn_infer_ctx {
    const char *model;      /* name the caller used */
    const char *request_id; /* may be "" */
    const jn_params *params;
    int64_t deadline_ns;         /* CLOCK_MONOTONIC; 0 = none */
    const atomic_int *cancelled; /* non-zero once the caller went away; may be NULL */
    /* The outputs the caller wants (none = the signature's). Engines may skip work nobody asked for; pipelines
     * read it to produce intermediate outputs ("step.port"). */
    const char *const *outputs;
    size_t n_outputs;
    /* Where an engine may run independent work in parallel (pipelines' branches); NULL = run it in line. */
    struct jn_workpool *pool;
    /* Since ABI 2: the host's completion queue and call, for infer_async (all NULL when there is none). */
    jn_host_hint host;
    /* Where the engine may put parameters of its answer (a pipeline's "route.<step>": the candidate a routed step
     * used), or NULL when nobody reads them. Written by the thread that returns the answer, before it returns. */
    jn_params *answer;
    /* The stream the call came on (sequence.h), or NULL: a stateful model called from a pipeline step continues
     * that stream's sequence. Copied into pipeline steps' contexts. */
    struct jn_seq_scope *seq_scope;
    /* The trace context of the span this work runs under (trace.h): the parent of the engine's own spans, and what
     * a remote engine passes on as `traceparent`. NULL when the call is not traced. Appended after ABI 2; an engine
     * that ignores it loses nothing but spans. */
    const struct jn_trace_ctx *trace;
} jn_infer_ctx;

/* Receives one partial answer of a streaming engine. Takes ownership of the tensors in `partial` (the list is
 * left empty). Returns 0 to go on, or a JN_E* code (the caller went away) to make the engine stop. */
typedef int (*jn_emit_fn)(void *arg, jn_tensor_list *partial, jn_err *err);

/* Receives the result of an asynchronous call (infer_async), exactly once, on any thread (possibly before
 * infer_async returned): rc 0 with the outputs in `produced` (the callee takes the tensors; the list is left
 * empty), or a JN_E* code with `err` saying why. */
typedef void (*jn_async_done_fn)(void *arg, int rc, jn_tensor_list *produced, jn_err *err);

typedef struct jn_engine jn_engine;

/* Since ABI 3: one input of a pipeline step as the compiler sees it when it asks an engine for a step of its own
 * (for_step): the step's input name and the port its source produces (borrowed for the call). */
typedef struct jn_step_source {
    const char *name;
    const jn_port *src;
} jn_step_source;

typedef struct jn_engine_vtable {
    uint32_t abi_version; /* JN_ENGINE_ABI_VERSION */
    const char *platform; /* e.g. "junction_util"; reported as v2 ModelMetadata.platform */
    const char *model_type; /* "engine" (NULL) or "pipeline"; reported by ListModels */
    /* Required. Returns 0 and fills outputs, or a JN_E* code with err set. */
    int (*infer)(jn_engine *self, const jn_infer_ctx *ctx, const jn_tensor_list *inputs, jn_tensor_list *outputs,
                 jn_err *err);
    /* Optional (NULL), with JN_ENGINE_STREAMS: answers with partial outputs through emit, in order. An engine that
     * streams also implements infer (the whole answer at once) for unary callers. */
    int (*infer_stream)(jn_engine *self, const jn_infer_ctx *ctx, const jn_tensor_list *inputs, jn_emit_fn emit,
                        void *emit_arg, jn_err *err);
    /* Optional (NULL): outputs a caller may ask for beyond the signature (a pipeline's "step.port"). Returns a
     * port borrowed from the engine, or NULL. */
    const jn_port *(*find_output)(const jn_engine *self, const char *name);
    /* Optional (NULL): runs once before the engine is marked ready. */
    int (*warmup)(jn_engine *self, jn_err *err);
    /* Optional (NULL): frees ctx. */
    void (*destroy)(jn_engine *self);
    /* ---- since ABI 2 ---- */
    /* Optional (NULL): starts the call and returns without waiting for its answer (an engine whose work happens
     * elsewhere: another server). 0 = started: `done` will be called exactly once; or a JN_E* code with err set
     * when refused at once (done is then never called). ctx and inputs stay valid until done is called. The
     * dispatcher uses it for unary calls when the engine has it; streamed answers and pipeline steps use infer. */
    int (*infer_async)(jn_engine *self, const jn_infer_ctx *ctx, const jn_tensor_list *inputs, jn_async_done_fn done,
                       void *done_arg, jn_err *err);
    /* ---- since ABI 3 ---- */
    /* Optional (NULL): an engine whose inputs depend on how a pipeline step uses it (prompt-template: the names its
     * template reads). The pipeline compiler calls it for each step naming the engine, with the step's "parameters"
     * and the sources bound to the step's inputs, before type-checking the step; it returns a new, unregistered
     * engine (one reference, held by the step) whose inputs fit those sources, with the same outputs as self, or
     * NULL with err set (the compiler prefixes the pipeline and step). */
    jn_engine *(*for_step)(jn_engine *self, const jn_params *step_params, const jn_step_source *sources,
                           size_t n_sources, jn_err *err);
} jn_engine_vtable;

struct jn_engine {
    const jn_engine_vtable *vt;
    atomic_int refs;
    char *name;
    char *version;
    char *description; /* may be NULL */
    jn_signature sig;  /* filled by the engine's constructor; immutable once registered */
    unsigned flags;    /* JN_ENGINE_* */
    atomic_int ready;
    void *ctx; /* the implementation's state */
    /* Scheduling state (queues, metrics, bulkheads) is not here: it belongs to the registry's entry (jn_model,
     * registry.h), which the dispatcher owns. */
};

/* A new engine with an empty signature and one reference. Copies name, version (NULL -> "1") and description.
 * NULL with err set when the vtable's ABI version is not ours or memory runs out. */
jn_engine *jn_engine_create(const jn_engine_vtable *vt, const char *name, const char *version,
                            const char *description, void *ctx, jn_err *err);
jn_engine *jn_engine_ref(jn_engine *e);
void jn_engine_unref(jn_engine *e);

/* The port of output `name`: the signature's, or one the engine offers beyond it (find_output). NULL if none. */
const jn_port *jn_engine_find_output(const jn_engine *e, const char *name);

/* The engine's infer_async slot, or NULL when it has none (or its vtable predates ABI 2). */
static inline int (*jn_engine_async_slot(const jn_engine *e))(jn_engine *, const jn_infer_ctx *,
                                                               const jn_tensor_list *, jn_async_done_fn, void *,
                                                               jn_err *)
{
    return e->vt->abi_version >= 2 ? e->vt->infer_async : NULL;
}

/* The engine's for_step slot, or NULL when it has none (or its vtable predates ABI 3). */
static inline jn_engine *(*jn_engine_for_step_slot(const jn_engine *e))(jn_engine *, const jn_params *,
                                                                      const jn_step_source *, size_t, jn_err *)
{
    return e->vt->abi_version >= 3 ? e->vt->for_step : NULL;
}

/* Monotonic clock in nanoseconds (the clock of jn_infer_ctx.deadline_ns). */
int64_t jn_now_ns(void);

/* 0 while the call may go on; JN_EDEADLINE / JN_ECANCELLED (with err set) once it may not. Long-running engines
 * call it between chunks of work. */
int jn_infer_ctx_check(const jn_infer_ctx *ctx, jn_err *err);

#endif
