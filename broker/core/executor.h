/* executor.h — validate and run one request on an engine. An engine call is a one-step plan, and a pipeline is an
 * engine whose infer runs its steps through jn_exec_engine: one executor for both. Front ends do not call it
 * directly: the dispatcher (dispatch.h) resolves, admits and places every call and runs it through here.
 *
 * Ownership: jn_exec_prepare returns a NEW engine reference in *engine (the caller unrefs it after run).
 * The run functions append the requested outputs to `outputs` (owned by the caller), in the order requested, or in
 * signature order when the request names none; on failure they append nothing.
 * Thread-safety: all may run concurrently for different requests.
 */
#ifndef JN_EXECUTOR_H
#define JN_EXECUTOR_H

#include <stdatomic.h>
#include <stdbool.h>

#include "engine.h"
#include "registry.h"
#include "request.h"
#include "workpool.h"

/* Checks a request against an engine before anything runs: the engine is ready (JN_EUNAVAIL), the inputs fit its
 * signature and the requested outputs exist (JN_EINVAL, naming the model and the port). */
int jn_exec_validate(const jn_engine *e, const jn_request *req, jn_err *err);

/* Looks the target up (JN_ENOTFOUND) and validates inputs and requested outputs against its signature
 * (JN_EINVAL), before anything runs. */
int jn_exec_prepare(jn_registry *reg, const jn_request *req, jn_engine **engine, jn_err *err);

/* Runs a prepared request: refuses to start after the deadline or a cancellation, calls the engine, checks what it
 * produced against its signature (a mismatch is the engine's bug: JN_EINTERNAL) and keeps the requested outputs.
 * `pool` (may be NULL) is where the engine may run independent work in parallel. */
int jn_exec_run(jn_engine *engine, const jn_request *req, const atomic_int *cancelled, jn_workpool *pool,
                jn_tensor_list *outputs, jn_err *err);

/* The same for a streaming answer: each partial output (filtered to the requested outputs and checked) goes to
 * emit, in order. An engine that does not stream answers with exactly one emit. */
int jn_exec_run_stream(jn_engine *engine, const jn_request *req, const atomic_int *cancelled, jn_workpool *pool,
                       jn_emit_fn emit, void *emit_arg, jn_err *err);

/* The core of both, for callers that already hold inputs and a context (pipeline steps). */
int jn_exec_engine(jn_engine *engine, const jn_infer_ctx *ctx, const jn_tensor_list *inputs,
                   jn_tensor_list *outputs, jn_err *err);
int jn_exec_engine_stream(jn_engine *engine, const jn_infer_ctx *ctx, const jn_tensor_list *inputs,
                          jn_emit_fn emit, void *emit_arg, jn_err *err);

/* For an engine call that completes later, elsewhere (a remote call whose answer comes back on the server's
 * completion queue): the context jn_exec_run gives the engine (it borrows req), and what jn_exec_engine does with
 * the engine's result: rc (0 or a JN_E* code) and the tensors it produced (taken) -> the requested outputs,
 * checked, or the failure named. */
/* Room for the tensors an engine produces that needs no allocation (jn_tensor_list_init_on): most answer a few. */
enum { JN_EXEC_OUTPUT_SLOTS = 8 };
jn_infer_ctx jn_exec_request_ctx(const jn_request *req, const atomic_int *cancelled, jn_workpool *pool);
int jn_exec_keep(jn_engine *engine, const jn_infer_ctx *ctx, int rc, jn_tensor_list *produced, jn_tensor_list *outputs,
                 jn_err *err);

static inline bool jn_engine_is_inline(const jn_engine *e)
{
    return (e->flags & JN_ENGINE_INLINE) != 0;
}

#endif
