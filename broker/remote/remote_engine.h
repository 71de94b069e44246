/* remote_engine.h — a model served by another server, as a jn_engine: its signature comes from the remote's
 * metadata; infer() sends the call over the endpoint's shared channel with the caller's deadline (or the
 * engine's timeout_ms), retries UNAVAILABLE with jittered exponential backoff while the deadline allows, goes
 * through the endpoint's circuit breaker, and reports a remote error with the remote's status code and its
 * message prefixed by the engine's name.
 *
 * The engine is not inline. The gRPC front end sends a unary call without blocking anyone (jn_remote_call_start:
 * the answer comes back on the server's own completion queue); other callers (HTTP) run infer() on the
 * endpoint's own pool (engine->pool), so a hung remote ties up only its own threads. Inside a pipeline a remote
 * step runs on the pipeline's thread, bounded by the deadline and the breaker.
 *
 * Ownership: jn_remote_engine_create returns a new engine (one reference) holding a reference on its endpoint.
 * Thread-safety: infer may run concurrently.
 */
#ifndef JN_REMOTE_ENGINE_H
#define JN_REMOTE_ENGINE_H

#include "endpoint.h"
#include "engine.h"
#include "protocol.h"

typedef struct jn_remote_spec {
    const char *name;     /* the name callers use here */
    const char *endpoint; /* target of the remote server */
    const jn_remote_proto *proto;
    const char *model;   /* on the remote; NULL or "" = name */
    const char *version; /* on the remote; NULL = "" (its current one) */
    jn_remote_options opt;
} jn_remote_spec;

/* Opens (or shares) the endpoint, asks the remote to describe the model (deadline: deadline_ns, or
 * opt.health_timeout_ms from now when 0) and makes the engine. NULL with err set: the remote's code and message
 * ("engine 'x': cannot describe model 'm' at HOST:PORT: ..."), or JN_EINVAL for a bad endpoint. */
jn_engine *jn_remote_engine_create(jn_endpoints *table, const jn_remote_spec *spec, int64_t deadline_ns,
                                   jn_err *err);

/* Is e a remote engine (made by jn_remote_engine_create)? */
bool jn_engine_is_remote(const jn_engine *e);
/* Its endpoint (borrowed), model on the remote, protocol. e must be remote. */
jn_endpoint *jn_remote_engine_endpoint(const jn_engine *e);
const char *jn_remote_engine_model(const jn_engine *e);
const jn_remote_proto *jn_remote_engine_proto(const jn_engine *e);
/* ---- a unary call nobody waits for ----
 * Made in two steps, so the caller can keep the object before its answer may come: create (packs the request;
 * no I/O), then send: the first attempt goes out on a completion queue the caller pumps (jn_endpoint_call_start:
 * the endpoint's max_concurrency and max_queue bound such calls). When `tag` comes out of that queue, the caller
 * calls jn_remote_call_finish on the thread that got it. An attempt answered UNAVAILABLE that may be retried sets
 * *retry: the retries (with their backoff waits) then run blocking, in jn_remote_call_retry, on a thread that may
 * wait (the endpoint's pool). Breaker, deadline margin, error messages: as infer().
 * Ownership: ctx and inputs are borrowed until the call is freed; create returns the caller's object (NULL with
 * err set: no memory); free it after finish (and retry), or after send failed.
 * send: 0 (the tag may come out on another thread before send returns: the caller touches nothing the tag's
 * handler frees after calling it), or a JN_E* code with err set when refused at once (circuit open, too many calls
 * waiting); the tag then never comes. */
typedef struct jn_remote_call jn_remote_call;
jn_remote_call *jn_remote_call_create(jn_engine *e, const jn_infer_ctx *ctx, const jn_tensor_list *inputs,
                                      jn_err *err);
int jn_remote_call_send(jn_remote_call *c, grpc_completion_queue *cq, grpc_call *parent, void *tag, jn_err *err);
/* 0 with the outputs appended (or with *retry set); a JN_E* code with err set. */
int jn_remote_call_finish(jn_remote_call *c, jn_tensor_list *outputs, bool *retry, jn_err *err);
int jn_remote_call_retry(jn_remote_call *c, jn_tensor_list *outputs, jn_err *err);
void jn_remote_call_free(jn_remote_call *c);

/* One health check of the model on its endpoint (deadline health_timeout_ms); 0 or the grpc status in st. */
int jn_remote_engine_check(const jn_engine *e, jn_call_status *st);

#endif
