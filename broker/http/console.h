/* console.h — the web console on the HTTP port (issue #21): a single-page app served at / and /console/..., and the
 * JSON it polls under /console/api/. A front end: it reads the registry, the metrics (metrics.h's read-only views),
 * the pipelines' specs and plans and, when attached, the remote engines; core never includes it.
 *
 *   GET /, /console, /console/                 the page (index.html)
 *   GET /console/assets/{file}                 the embedded scripts and styles (console_assets.c, generated at
 *                                              build time from web/console and .cache/console; nothing read from
 *                                              disk at run time)
 *   GET /console/api/overview                  health ("ready": every model ready, "live": some not, "shutting
 *                                              down"), uptime, RSS, open streams, requests/s and errors/s series,
 *                                              the last errors the HTTP front end answered
 *   GET /console/api/models                    every model: name, versions, platform, readiness, signature,
 *                                              latency percentiles (p50/p90/p99 ms) and request rate
 *   GET /console/api/pipelines/{name}          a pipeline as a graph: inputs, steps (ports, types, latency),
 *                                              edges with the conversions the compiler inserted, outputs, plan
 *   GET /console/api/remotes                   the remote engines (endpoint, protocol, breaker, lease age, health)
 *   POST /console/api/evaluate/{model}         JSONL examples run through the model: the evaluation report
 *                                              (console_eval.c)
 *   GET /console/api/evaluation                {"report": the last evaluation's report, or null}
 * Every answer of the console carries a strict Content-Security-Policy (scripts and styles from this origin only,
 * no inline code, no eval), X-Content-Type-Options: nosniff and no caching of API answers. The page itself is
 * open (it must load to ask for the token); the API needs the client token when tokens are configured, as the
 * REST routes do (the router checks it).
 *
 * Rates and percentiles are computed here, server-side: percentiles from the metrics' latency histograms (linear
 * within a bucket, as Prometheus' histogram_quantile), rates from the difference between two polls at least a
 * second apart (the console keeps the last 120 overview samples and, per model, the previous count).
 *
 * Ownership: the console borrows the registry (it must outlive the console). Replies are the caller's.
 * Thread-safety: every function may be called from any thread; the sample history and the error ring are under
 * one mutex.
 */
#ifndef JN_HTTP_CONSOLE_H
#define JN_HTTP_CONSOLE_H

#include <jansson.h>
#include <stdbool.h>

#include "auth.h"
#include "registry.h"
#include "rest.h"

typedef struct jn_console jn_console;

/* NULL on out of memory. */
jn_console *jn_console_create(jn_registry *reg);
void jn_console_destroy(jn_console *c);

/* The server began shutting down: the overview's health says so. */
void jn_console_set_closing(jn_console *c);

/* The remote engines as a JSON array (new reference; NULL on out of memory), from whoever owns them
 * (console_remotes.c over broker/remote). Without one, /console/api/remotes answers an empty list. */
typedef json_t *(*jn_console_remotes_fn)(void *arg);
void jn_console_set_remotes(jn_console *c, jn_console_remotes_fn fn, void *arg);

/* console_remotes.c (library jn_console_remote, which links broker/remote): lists `remotes` (borrowed; must
 * outlive the console) on /console/api/remotes. */
struct jn_remotes;
void jn_console_attach_remotes(jn_console *c, struct jn_remotes *remotes);

/* What a path is to the console. */
typedef enum jn_console_kind {
    JN_CONSOLE_NONE,  /* not the console's */
    JN_CONSOLE_PAGE,  /* the page or an asset: open, cheap, answered on the loop thread */
    JN_CONSOLE_API,   /* GET /console/api/...: the client token, run on the worker pool */
    JN_CONSOLE_POST,  /* POST /console/api/... (an evaluation): the client token, on the worker pool */
} jn_console_kind;
jn_console_kind jn_console_classify(const char *method, const char *path);

/* GET of the page or an asset (404 for an unknown asset). */
void jn_console_page(const char *path, jn_rest_reply *reply);
/* An API call (method, path, query, body as received). */
void jn_console_api(jn_console *c, const char *method, const char *path, const char *query, const uint8_t *body,
                    size_t len, jn_rest_reply *reply);

/* The HTTP front end answered an error: kept (the last 20) for the overview's "last errors". */
void jn_console_note_error(jn_console *c, const char *method, const char *path, int status, const char *body,
                           size_t len);

/* The security headers every console answer carries ("Name: value\r\n" lines, static). */
extern const char jn_console_headers[];

/* ---- console_api.c: the JSON documents (the unit tests call these directly) ---- */

/* Percentile q (0..1) of a latency histogram in milliseconds; -1 when it is empty. */
double jn_console_percentile_ms(const uint64_t *counts, size_t n_buckets, double q);
/* One model's entry of /console/api/models (rate_per_s < 0: not known yet). */
json_t *jn_console_model_json(const jn_engine *e, double rate_per_s);
/* The pipeline graph of /console/api/pipelines/{name} (step models' ports looked up in reg, which may be NULL);
 * NULL when e is not a pipeline. */
json_t *jn_console_pipeline_json(jn_registry *reg, const jn_engine *e);

/* ---- console_eval.c ---- */

/* POST /console/api/evaluate/{model}: body = JSONL examples; the report (or the error naming the line). */
void jn_console_evaluate(jn_registry *reg, const char *model, const uint8_t *body, size_t len, jn_rest_reply *reply);

/* ---- console_assets.c (generated) ---- */

typedef struct jn_console_asset {
    const char *name; /* "index.html", "app.js", ... */
    const char *content_type;
    const unsigned char *data;
    size_t len;
} jn_console_asset;
extern const jn_console_asset jn_console_assets[];
extern const size_t jn_console_n_assets;

#endif
