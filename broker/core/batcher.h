/* batcher.h — a model's own queue: the dynamic batcher and the model's instances (issue #16, model_config.h).
 *
 * A registry entry served with `dynamic_batching` or `instances` has one of these. Calls for the model wait in it
 * (not in the shared worker pool) and are run by the model's own instance threads: an instance that is free takes
 * the oldest request of the highest priority, adds every compatible waiting request up to max_batch_size rows (the
 * same inputs by name, dtype and shape beyond the first dimension, the same requested outputs, the same parameters
 * but `priority` and `timeout`), waits up to max_queue_delay_us for more unless the batch is full or of a preferred
 * size, concatenates the inputs along the first dimension (one copy), runs the engine once, and hands each request
 * its own rows of every output as tensors over the batch's buffers (no copy). A request that is alone runs on its
 * own tensors (no copy at all); one whose inputs do not share a first dimension never joins others; one larger
 * than max_batch_size runs alone. Without batching (instances only) every request runs alone.
 *
 * While queued, a request's deadline and cancellation are watched (a watcher thread wakes for the earliest
 * deadline and polls cancellations every 10 ms): it is answered DEADLINE_EXCEEDED / CANCELLED and removed. Its queue
 * timeout (the `timeout` parameter in microseconds, else queue.timeout_us) fails it the same way with
 * timeout_action "reject" and is ignored with "delay". A full queue refuses a request at once (JN_ERESOURCE).
 *
 * Ownership: the batcher belongs to its registry entry (jn_model) and borrows its engine and statistics, which
 * outlive it. An item is the caller's (embedded in its call): everything it points to (inputs, outputs, params,
 * cancelled) stays valid until its `done` ran. Outputs handed to `done` are the callee's.
 * Thread-safety: submit / run from any thread. jn_batcher_destroy needs an empty queue (every queued request holds
 * its entry, so the last reference to the entry comes after its last request) and may run on one of the batcher's
 * own threads (the last call it answered dropped the entry): that thread then finishes on its own.
 */
#ifndef JN_BATCHER_H
#define JN_BATCHER_H

#include <stdatomic.h>
#include <stdint.h>

#include "engine.h"
#include "infer_stats.h"
#include "model_config.h"

typedef struct jn_batcher jn_batcher;
typedef struct jn_batch_item jn_batch_item;

/* The item's outcome, exactly once, on any thread: rc 0 with its outputs in `outputs` (taken: the list is left
 * empty), or a JN_E* code with err. */
typedef void (*jn_batch_done_fn)(jn_batch_item *item, int rc, jn_tensor_list *outputs, jn_err *err);

struct jn_batch_item {
    /* ---- the caller's ---- */
    const jn_tensor_list *inputs;
    const char *const *outputs; /* requested; none = the signature's */
    size_t n_outputs;
    const jn_params *params;     /* may be NULL */
    const char *model;           /* the name the caller used (errors, the engine's ctx) */
    const char *request_id;      /* may be NULL */
    int64_t deadline_ns;         /* hard: the transport's (0 = none) */
    const atomic_int *cancelled; /* may be NULL */
    const struct jn_trace_ctx *trace; /* the caller's span (trace.h), linked from the batch's span; may be NULL */
    jn_batch_done_fn done;
    void *arg;
    /* ---- the batcher's ---- */
    int64_t t_enqueued, t_started; /* t_started: its execution began (0: it never ran) */
    int64_t queue_deadline_ns;     /* 0 = none */
    int64_t rows;                  /* 0 = cannot join a batch */
    uint32_t level;                /* 0-based priority level */
    uint64_t seq;
    bool finished;
    int rc;
    jn_err err;
    jn_tensor_list result;
    jn_batch_item *next, *order_next;
};

/* NULL with err set on out of memory or when threads cannot start. `stats` (may be NULL) receives the executions. */
jn_batcher *jn_batcher_create(jn_engine *engine, const jn_model_config *cfg, jn_infer_stats *stats, jn_err *err);
void jn_batcher_destroy(jn_batcher *b);

/* Queues the item: 0 (done will be called), or a JN_E* code with err set and the item not queued (a full queue,
 * a bad `priority` or `timeout` parameter). */
int jn_batcher_submit(jn_batcher *b, jn_batch_item *item, jn_err *err);

/* The synchronous form, for callers that wait anyway (pipeline steps, simple JSON's instances): queues the request
 * and waits for its answer; the same contract as jn_exec_engine (ctx's deadline, cancellation, params and
 * requested outputs apply). */
int jn_batcher_run(jn_batcher *b, const jn_infer_ctx *ctx, const jn_tensor_list *inputs, jn_tensor_list *outputs,
                   jn_err *err);

/* Requests waiting (not yet executing). */
size_t jn_batcher_queued(jn_batcher *b);

#endif
