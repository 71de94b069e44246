/* sequence.h — stateful models (issue #17): a model served with "sequence" (model_config.h) carries state from one
 * request to the next of the same sequence, in the broker, as Triton's sequence batcher with implicit state does.
 *
 * A stateful model is registered as a *sequence engine* wrapping the model's engine (the registry does it when the
 * entry's config has "sequence"): its signature is the wrapped one without the state inputs and outputs (callers
 * neither send nor receive them; the state outputs may still be asked for by name, find_output), and it owns the
 * model's sequence table. The dispatcher (dispatch.c) is the one place that runs sequences, for every door:
 *   - which sequence a call belongs to (jn_seq_join): the request parameter `sequence_id` (an integer or a string,
 *     Triton's), with `sequence_start` / `sequence_end` (booleans); else the stream it came on (a jn_seq_scope, set
 *     by the stream front end: one stream = one sequence per stateful model, ended when the stream closes); else
 *     (a lone unary call) a sequence of one request that starts from the initial state.
 *     A sequence_id the table does not hold, without sequence_start, is refused with JN_EINVAL (Triton answers
 *     INVALID_ARGUMENT too): it never started, ended, was dropped after idle_timeout_ms, or lives in another
 *     replica's table (state is per process). A new sequence beyond max_sequences: JN_ERESOURCE naming the limit.
 *     sequence_start on a live id starts it again from the initial state.
 *   - order: the calls of one sequence run one at a time, in the order they joined (a per-sequence FIFO; a call
 *     that finds its sequence busy is parked and handed back to the dispatcher by jn_seq_leave of the call before
 *     it); different sequences run in parallel.
 *   - state (jn_seq_run): the state inputs are added to the request (the last state outputs, or the initial value:
 *     zeros or the config's list), the state outputs are asked of the engine and kept for the next call; a failed
 *     call leaves the state as it was.
 *   - idle: a sequence not used for idle_timeout_ms is dropped by the table's sweeper thread (it wakes every
 *     idle_timeout_ms / 4, at least 10 ms apart and at most 1 s), and a join finding an expired one treats it as
 *     gone, so the bound holds to the sweeper's period.
 * Called directly (a pipeline step, anything that calls the engine's infer without the dispatcher), a sequence
 * engine runs a sequence of one request from the initial state.
 *
 * Ownership: the table lives in the sequence engine's context and goes with its last reference; a jn_seq_scope holds
 * a reference on every sequence engine it opened a sequence in. A jn_seq_slot is the call's (embedded in jn_call).
 * Thread-safety: jn_seq_join / jn_seq_leave / scopes from any thread (a mutex per table, one per scope); jn_seq_run
 * runs only for the call that holds its sequence (the state is touched by one call at a time).
 */
#ifndef JN_SEQUENCE_H
#define JN_SEQUENCE_H

#include <stdbool.h>
#include <stdint.h>

#include "engine.h"
#include "model_config.h"

typedef struct jn_seq jn_seq;
typedef struct jn_seq_table jn_seq_table;
typedef struct jn_seq_scope jn_seq_scope;

/* A call's hold on its sequence, between jn_seq_join and jn_seq_leave. Zero = none. */
typedef struct jn_seq_slot {
    jn_seq_table *table;
    jn_seq *seq;
    bool start; /* sequence_start: the state starts again when the call runs */
    bool end;   /* sequence_end: the sequence ends when the call leaves */
} jn_seq_slot;

/* ---- the sequence engine ---- */

/* A sequence engine over `inner` (its reference is taken, also on failure) with the config (copied; checked by
 * jn_model_config_check against inner). Starts the table's sweeper. NULL with err set. */
jn_engine *jn_sequence_engine_wrap(jn_engine *inner, const jn_sequence_config *cfg, jn_err *err);
/* The engine a sequence engine wraps (borrowed), or NULL when e is not one. */
jn_engine *jn_sequence_inner(const jn_engine *e);
/* The signature state ports are looked up in: the wrapped engine's for a sequence engine, else e's. */
const jn_signature *jn_sequence_inner_signature(const jn_engine *e);
/* The table of a sequence engine (borrowed), or NULL. */
jn_seq_table *jn_sequence_table(const jn_engine *e);

/* ---- the table ---- */

/* A table for `engine` (borrowed: the sequence engine that owns the table; its inner engine runs the calls), with
 * its sweeper thread when idle_timeout_ms > 0. NULL with err set. Exposed for the unit tests. */
jn_seq_table *jn_seq_table_create(jn_engine *engine, jn_engine *inner, const jn_sequence_config *cfg, jn_err *err);
/* Stops the sweeper and frees every sequence (no call may hold one). */
void jn_seq_table_destroy(jn_seq_table *t);
/* Sequences alive (in the table: not counting lone calls). */
size_t jn_seq_table_count(jn_seq_table *t);
/* Drops sequences idle for idle_timeout_ms (the sweeper's work; callable directly): how many were dropped. */
size_t jn_seq_table_sweep(jn_seq_table *t);

/* Places a call in its sequence, from its request parameters and its stream's scope (may be NULL). `waiter` is the
 * caller's handle for the call. 0 with *slot filled and *parked false: the call holds its sequence and may run; or
 * *parked true: it waits behind the sequence's running call and will be handed back by that call's jn_seq_leave.
 * JN_EINVAL (bad parameters, unknown sequence_id without sequence_start) / JN_ERESOURCE (max_sequences) with err
 * naming the model. */
int jn_seq_join(jn_seq_table *t, const jn_params *params, jn_seq_scope *scope, void *waiter, jn_seq_slot *slot,
                bool *parked, jn_err *err);
/* Runs the wrapped engine for the call holding `slot` (a call may run it several times: simple JSON instances, each a
 * step; sequence_start applies to the first): the state inputs added, the state outputs kept, `outputs`
 * getting what the caller asked for (`ctx->outputs`, none = the sequence engine's signature). As jn_exec_engine. */
int jn_seq_run(jn_seq_slot *slot, const jn_infer_ctx *ctx, const jn_tensor_list *inputs, jn_tensor_list *outputs,
               jn_err *err);
/* The call holding `slot` is done: its sequence ends when it asked (sequence_end) or its stream closed and nobody
 * waits; the slot is cleared. Returns the next parked call's waiter (which now holds the sequence) or NULL. */
void *jn_seq_leave(jn_seq_slot *slot);

/* ---- streams ---- */

/* A stream's sequences: one per stateful model the stream calls (without sequence_id). NULL on out of memory. */
jn_seq_scope *jn_seq_scope_create(void);
/* The stream closed: ends its sequences (one still running ends when its last call leaves) and frees the scope. */
void jn_seq_scope_close(jn_seq_scope *scope);

#endif
