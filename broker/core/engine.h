/* engine.h — the engine plug-in interface. Built-in engines, ONNX-loaded models and remote models all implement
 * this const vtable; the broker knows nothing else about them.
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
#include <stdint.h>

#include "err.h"
#include "params.h"
#include "signature.h"
#include "tensor.h"

#define JN_ENGINE_ABI_VERSION 1u

/* Engine flags. */
enum {
    /* Cheap enough to run on the gRPC pump thread (microseconds, never blocks). Without it the call goes to the
     * worker pool so a pump never stalls. */
    JN_ENGINE_INLINE = 1u << 0,
    /* Can answer one request with a stream of partial outputs (vtable->infer_stream is set). */
    JN_ENGINE_STREAMS = 1u << 1,
};

struct jn_workpool;

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
} jn_infer_ctx;

/* Receives one partial answer of a streaming engine. Takes ownership of the tensors in `partial` (the list is
 * left empty). Returns 0 to go on, or a JN_E* code (the caller went away) to make the engine stop. */
typedef int (*jn_emit_fn)(void *arg, jn_tensor_list *partial, jn_err *err);

typedef struct jn_engine jn_engine;

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
    /* The model's metrics, looked up once (jn_metrics_engine) so requests skip the registry lookup. */
    struct jn_model_stats *_Atomic stats;
    /* Where front ends run this engine's calls when it is not inline (jn_exec_submit): NULL = their shared worker
     * pool. A remote engine sets its endpoint's own pool (a bulkhead: a hung remote ties up only its threads).
     * Borrowed: the engine keeps it alive for as long as it lives. Set before registration, never changed. */
    struct jn_workpool *pool;
    /* With `pool`: calls queued (not yet started) beyond this fail fast with JN_EUNAVAIL. 0 = no bound. */
    size_t pool_max_pending;
    /* Calls queued on the shared pool and not started yet (jn_exec_submit / jn_exec_started): per-model shedding. */
    atomic_long queued;
};

/* A new engine with an empty signature and one reference. Copies name, version (NULL -> "1") and description.
 * NULL with err set when the vtable's ABI version is not ours or memory runs out. */
jn_engine *jn_engine_create(const jn_engine_vtable *vt, const char *name, const char *version,
                            const char *description, void *ctx, jn_err *err);
jn_engine *jn_engine_ref(jn_engine *e);
void jn_engine_unref(jn_engine *e);

/* The port of output `name`: the signature's, or one the engine offers beyond it (find_output). NULL if none. */
const jn_port *jn_engine_find_output(const jn_engine *e, const char *name);

/* Monotonic clock in nanoseconds (the clock of jn_infer_ctx.deadline_ns). */
int64_t jn_now_ns(void);

/* 0 while the call may go on; JN_EDEADLINE / JN_ECANCELLED (with err set) once it may not. Long-running engines
 * call it between chunks of work. */
int jn_infer_ctx_check(const jn_infer_ctx *ctx, jn_err *err);

#endif
