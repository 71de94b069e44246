/* server.h — the gRPC server on the C core: junction.v1.Broker, inference.GRPCInferenceService (KServe v2 with
 * ModelStreamInfer) and grpc.health.v1.Health, over one registry.
 *
 * Threads: `pump_threads` threads each drive their own completion queue; cheap engines (JN_ENGINE_INLINE) run on
 * the pump thread, every other engine on a pool of `worker_threads`, so a pump never blocks.
 *
 * Ownership: the server borrows the registry (it must outlive the server). jn_server_destroy frees everything the
 * server made. Lifecycle: jn_server_start -> (serve) -> jn_server_shutdown -> jn_server_destroy.
 * Thread-safety: jn_server_shutdown may be called from any one thread, once.
 */
#ifndef JN_RPC_SERVER_H
#define JN_RPC_SERVER_H

#include <stdint.h>

#include "auth.h"
#include "engine.h"
#include "err.h"
#include "registry.h"
#include "control.h"
#include "model_records.h"
#include "request_log.h"
#include "response_cache.h"

typedef struct jn_server_options {
    const char *host;        /* "127.0.0.1" */
    int port;                /* 0 = pick a free port (see jn_server_port) */
    int pump_threads;        /* >= 1 */
    int worker_threads;      /* >= 1 */
    int prepost;             /* calls pre-posted per method per completion queue */
    int max_stream_inflight; /* requests read from one stream and not yet answered; reading pauses beyond */
    int max_message_bytes;   /* receive and send limit; larger -> RESOURCE_EXHAUSTED */
    int64_t grace_ms;        /* on shutdown: how long in-flight calls may take before they are cancelled */
    int max_queue;           /* calls waiting for a worker, in all, before new ones get RESOURCE_EXHAUSTED (0 = no bound) */
    int max_model_queue;     /* the same, per model */
    int max_inflight;        /* inference requests being handled at once (unary and stream requests), 0 = no bound */
    jn_response_cache *cache; /* the response cache (borrowed; must outlive the server); NULL = none */
    jn_request_log *request_log; /* the request log (borrowed; must outlive the server); NULL = none */
    int max_streams_per_connection; /* HTTP/2 concurrent streams a client connection may open */
    const jn_auth *auth;     /* tokens (borrowed; must outlive the server); NULL = every call is open */
    jn_control *control;     /* how Admin changes are made (borrowed); NULL = on the registry, not persisted */
    /* TLS (PEM file paths; all NULL = plaintext): a certificate chain and its key; a CA bundle to require and verify
     * client certificates against (mutual TLS; needs cert and key). */
    const char *tls_cert_file;
    const char *tls_key_file;
    const char *tls_client_ca_file;
    /* Admin.LoadModel / UnloadModel (model_records.h; borrowed): NULL or no loader = UNIMPLEMENTED. UnloadModel and
     * a replacing LoadModel touch only models of the loader's platform, never built-in engines or pipelines. */
    const jn_model_records *models;
    struct jn_remotes *remotes; /* remote engines (Admin.RegisterEngine...); NULL = not offered. Borrowed. */
} jn_server_options;

/* Fills the defaults (127.0.0.1:8001, 2 pumps, nproc workers, 32 pre-posted, 64 in flight per stream, 64 MiB,
 * 10 s grace, no model loader). */
void jn_server_options_default(jn_server_options *opt);

typedef struct jn_server jn_server;

/* Binds, starts the pumps and serves. NULL with err set when the address cannot be bound or options are bad. */
jn_server *jn_server_start(const jn_server_options *opt, jn_registry *reg, jn_err *err);

/* The bound port. */
int jn_server_port(const jn_server *s);

/* Graceful stop: health turns NOT_SERVING (watchers are told), new calls are refused, calls in flight finish
 * (streams are closed once their in-flight requests are answered); whatever still runs after grace_ms is
 * cancelled. Returns when every call is gone and the pumps have stopped. */
void jn_server_shutdown(jn_server *s);

void jn_server_destroy(jn_server *s);

#endif
