/* router.h — the REST front end: the jn_http_handler that maps HTTP requests on the KServe v2 REST endpoints, the
 * simple JSON predict endpoint, /metrics and the admin endpoints, through one route table (router.c: pattern,
 * methods, access class, loop or pool, handler), onto the registry and the one dispatcher (core/dispatch.h: the
 * same request path as the gRPC front ends).
 *
 *   GET  /v2/health/live, /v2/health/ready           200, or 503 once shutdown began (ready)
 *   GET  /v2                                         server metadata
 *   GET  /v2/models/{m}[/versions/{v}]               model metadata
 *   GET  /v2/models/{m}[/versions/{v}]/ready         200 / 503; 404 for an unknown model
 *   POST /v2/models/{m}[/versions/{v}]/infer         v2 inference (JSON, or Triton's binary-data extension)
 *   GET  /v2/models[/{m}[/versions/{v}]]/stats       v2 statistics (all models without {m}; 404 unknown model)
 *   POST /v2/models/{m}[/versions/{v}]/generate[_stream]  Triton's generate extension (generate_rest.c; SSE)
 *   GET, POST /openai/v1/...                         the OpenAI-compatible API (openai.h; --openai-prefix)
 *   POST /v1/models/{name}:predict                   simple JSON (simple_json.c)
 *   GET  /metrics                                    Prometheus text 0.0.4
 *   GET  /v1/models, /v1/models/{name}               models (junction.v1 ModelInfo as JSON)
 *   GET  /v1/pipelines; GET, PUT, DELETE /v1/pipelines/{name}
 *   GET  /, /console/...; GET /console/api/...      the web console and the JSON it polls (console.h)
 * HEAD is answered like GET (the server core drops the body). Unknown paths: 404 {"error"}; a known path with a
 * wrong method: 405 with Allow; a POST/PUT whose Content-Type is not application/json (parameters allowed; a
 * missing Content-Type counts as JSON; application/octet-stream too for a v2 infer with
 * Inference-Header-Content-Length): 415.
 *
 * Threads: the handler runs on the connection's HTTP loop thread (several loops may call it at once) and does only
 * cheap work there: path parsing, registry look-ups,
 * health, metadata, one model's or one pipeline's description or statistics, pipeline delete. Lists (every
 * model's statistics too), /metrics and pipeline
 * compilation go to the worker pool. An inference call is resolved here once and handed to the dispatcher, which
 * runs it on the loop thread when the body is under 64 KiB and the engine is inline (e.g. identity, or a pipeline
 * of inline steps: a hop through the pool costs more than the work; decoding 64 KiB of JSON takes well under a
 * millisecond) or asynchronous (a remote model: only its start), and on a worker otherwise.
 *
 * Ownership: the router borrows the registry and the pool; both must outlive it, and the pool must be destroyed
 * (which finishes its jobs) before the router. Each request is answered exactly once.
 * Thread-safety: jn_http_router_handle is called by the server; the shutdown functions from one controlling
 * thread.
 */
#ifndef JN_HTTP_ROUTER_H
#define JN_HTTP_ROUTER_H

#include <stdbool.h>
#include <stdint.h>

#include "registry.h"
#include "auth.h"
#include "control.h"
#include "dispatch.h"
#include "server.h"
#include "workpool.h"

typedef struct jn_http_router jn_http_router;

/* NULL on out of memory. */
jn_http_router *jn_http_router_create(jn_registry *reg, jn_workpool *pool);
void jn_http_router_destroy(jn_http_router *r);
/* Admin changes (PUT/DELETE /v1/pipelines/...) go through `control` (borrowed; must outlive the router) instead of
 * straight to the registry, unpersisted (the default). Call before serving. */
void jn_http_router_set_control(jn_http_router *r, jn_control *control);
/* Checks the Authorization header ("Bearer <token>") against `auth` (borrowed; must outlive the router): 401 with
 * WWW-Authenticate: Bearer, or 403 for a client token on an admin path. Probes and /metrics stay open. */
void jn_http_router_set_auth(jn_http_router *r, const jn_auth *auth);
/* The model repository for /v2/repository/... (borrowed; must outlive the router). Without it those answer 501. */
struct jn_model_records;
void jn_http_router_set_models(jn_http_router *r, const struct jn_model_records *models);
/* Inputs given by URL (simple JSON {"image": "https://..."}; fetch.h): fetched with `fetch` (borrowed; must outlive
 * the router; NULL, the default = http(s) URLs are refused naming --fetch-allow, data: URIs still decode). Call
 * before serving. Other routes of the front end reach it with jn_http_router_fetch. */
struct jn_fetcher;
void jn_http_router_set_fetch(jn_http_router *r, const struct jn_fetcher *fetch);
const struct jn_fetcher *jn_http_router_fetch(const jn_http_router *r);
/* The dispatcher's admission limits (dispatch.h; all 0 = no bound, the default): inference calls in progress beyond
 * max_inflight, or requests waiting for a worker beyond max_queue in all or beyond max_model_queue for one model's
 * inference calls, are answered 429 at once. Call before serving. */
void jn_http_router_set_limits(jn_http_router *r, const jn_dispatch_limits *limits);

/* The OpenAI-compatible API's path prefix (openai.h; default "/openai/v1"; NULL, "" or "off" turns it off). 0, or
 * JN_EINVAL for a prefix not starting with '/'. Call before serving. */
int jn_http_router_set_openai_prefix(jn_http_router *r, const char *prefix);

/* The web console (console.h) is served at / and /console/... unless turned off here (--console off; call before
 * serving). jn_http_router_console gives it (NULL when off), e.g. to attach the remote engines. */
struct jn_console;
void jn_http_router_set_console(jn_http_router *r, bool on);
struct jn_console *jn_http_router_console(jn_http_router *r);

/* The jn_http_handler: set jn_http_server_options.handler to it and .user to the router. */
void jn_http_router_handle(jn_http_request *req);

/* Shutdown, step 1: readiness turns to 503 and new inference, predict and admin requests are refused with 503
 * {"error": "the server is shutting down"}; liveness, metadata and /metrics still answer. */
void jn_http_router_begin_shutdown(jn_http_router *r);

/* Step 2: waits until no request is being handled, at most timeout_ms. True when idle. */
bool jn_http_router_drain(jn_http_router *r, int64_t timeout_ms);

/* Engines still running for HTTP callers see a cancellation (jn_infer_ctx.cancelled) and stop early. */
void jn_http_router_cancel(jn_http_router *r);

#endif
