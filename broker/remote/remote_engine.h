/* remote_engine.h — a model served by another server, as a jn_engine: its signature comes from the remote's
 * metadata; infer() sends the call over the endpoint's shared channel with the caller's deadline (or the
 * engine's timeout_ms), retries UNAVAILABLE with jittered exponential backoff while the deadline allows, goes
 * through the endpoint's circuit breaker, and reports a remote error with the remote's status code and its
 * message prefixed by the engine's name.
 *
 * The engine is not inline; it is asynchronous (infer_async, ABI 2): given the host's completion queue (the gRPC
 * front end's), a unary call goes out without blocking anyone and its answer comes back on that queue; without
 * one, the call runs blocking on the endpoint's own pool. The registry entry (remotes.c) names that pool too, so
 * calls the dispatcher must run blocking (streamed answers, several requests in one HTTP call) wait there: a hung
 * remote ties up only its own threads. Inside a pipeline a remote step runs on the pipeline's thread, bounded by
 * the deadline and the breaker.
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
/* One health check of the model on its endpoint (deadline health_timeout_ms); 0 or the grpc status in st. */
int jn_remote_engine_check(const jn_engine *e, jn_call_status *st);

#endif
