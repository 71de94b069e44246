/* metrics.h — the broker's counters, gauges and latency histograms, rendered for GET /metrics in the Prometheus
 * text format 0.0.4 (issue #7).
 *
 * One registry per process: a global, because every front end (gRPC, HTTP) and the pipeline runtime record into
 * the same numbers and /metrics shows them all; there is nothing to create or pass around. It is statically
 * initialised (no init call) and never torn down.
 *
 * Hot path: a front end looks its model's stats object up once per request (jn_metrics_model: a read-locked binary
 * search, a write lock only the first time a name is seen) and keeps the pointer; every later update is a relaxed
 * atomic add, with no lock and no allocation. Pipelines cache their steps' objects the same way.
 *
 * What is counted:
 * - per model, by the name the caller used: requests by front end ("grpc", "http") and outcome, requests in flight,
 *   and three latency histograms: queue (received -> engine start, worker-pool wait included), compute (the engine
 *   run; for a streaming answer, until its last partial is handed over, client back-pressure included) and total
 *   (received -> answer encoded). Only requests that resolve to a registered model count against it; the others
 *   go to one counter per front end (so unknown names cannot grow the table);
 * - per model, from the dynamic batcher and the response cache (their owners call jn_metrics_batch / _cache): a
 *   histogram of rows per engine execution (buckets 1, 2, 4 .. 256) and the cache's hits and misses. The queue
 *   time is the queue phase of the latency histogram above;
 * - per pipeline step (pipeline name, step id): runs by outcome and a duration histogram (input hand-off,
 *   conversions and the engine run). A step after a streaming step runs, and is counted, once per partial answer;
 *   the streaming step itself runs once per request, and its duration and outcome cover the partials it hands on
 *   (the steps after it and the client's back-pressure included: a stream that breaks off is its failure);
 * - open streams and streams opened, by protocol;
 * - the process: resident memory, threads, start time, uptime (read from /proc at render time).
 * Series other modules keep themselves come through collectors (below): remote endpoints (remotes.c), the response
 * cache's size, per-model queue depth and bounds (queue_metrics.h), etcd reachability in cluster mode (cluster.h).
 *
 * Ownership: stats objects belong to the registry and live until the process exits; the pointers handed out are
 * borrowed and stay valid for ever. Name strings passed in are copied. jn_metrics_render returns malloc'd text the
 * caller frees.
 * Thread-safety: every function may be called from any thread at any time. Counters only go up (they never reset),
 * so a scrape never sees one go backwards.
 */
#ifndef JN_METRICS_H
#define JN_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Front-end labels: these two and no others (anything else is a programming error and aborts). */
#define JN_METRICS_GRPC "grpc"
#define JN_METRICS_HTTP "http"

typedef struct jn_model_stats jn_model_stats;
typedef struct jn_step_stats jn_step_stats;

/* The stats of model `model`, created on first use. Call it once per request, only for a model the registry knows
 * (the name is kept until the process exits). NULL only when memory runs out; every recording function accepts
 * NULL and then does nothing. */
jn_model_stats *jn_metrics_model(const char *model);


/* A request for the model was received and resolved: in flight until jn_metrics_request_end. */
void jn_metrics_request_begin(jn_model_stats *st);

/* The request is answered (successfully or not): counts it under `frontend` (JN_METRICS_GRPC / _HTTP) and
 * outcome, leaves in flight, and observes the three durations (nanoseconds; a negative one means the phase did
 * not happen — e.g. a request refused before its engine ran — and is not observed). Exactly one per begin. */
void jn_metrics_request_end(jn_model_stats *st, const char *frontend, bool ok, int64_t queue_ns, int64_t compute_ns,
                            int64_t total_ns);

/* One engine execution of the model that computed `rows` rows (a dynamic batch, or one request run alone):
 * observed in junction_model_batch_size. rows 0 is not observed. */
void jn_metrics_batch(jn_model_stats *st, uint64_t rows);

/* One response-cache lookup for the model: a hit (answered from the cache) or a miss. */
void jn_metrics_cache(jn_model_stats *st, bool hit);

/* A request that named no registered model (or version), or no model at all. */
void jn_metrics_unknown_model(const char *frontend);

/* The stats of step `step` of pipeline `pipeline`, created on first use. NULL only when memory runs out. */
jn_step_stats *jn_metrics_step(const char *pipeline, const char *step);
/* One run of the step; st may be NULL. */
void jn_metrics_step_record(jn_step_stats *st, bool ok, int64_t compute_ns);

/* A stream call of `protocol` (e.g. "junction.v1", "inference.v2") opened / closed: one close per open. A lock
 * per call, not per message. */
void jn_metrics_stream_opened(const char *protocol);
void jn_metrics_stream_closed(const char *protocol);

/* Everything, as Prometheus text format 0.0.4 (Content-Type: text/plain; version=0.0.4; charset=utf-8): # HELP and
 * # TYPE for every family, families and series in a fixed order (models, steps and protocols sorted by name in
 * byte order), label values escaped (backslash, double quote, newline). Only the process gauges change between two
 * renders with no update in between. Returns malloc'd NUL-terminated text (*len, if not NULL, gets its length) the
 * caller frees; NULL on out of memory. */
char *jn_metrics_render(size_t *len);

/* Series another module keeps itself (remote endpoints: calls, breaker state): a collector is called during every
 * render, after the models, steps and streams, and writes whole families through the two helpers below (a family
 * line, then its samples). At most 8 collectors; JN_ERESOURCE beyond. fn must not call back into the metrics. */
typedef struct jn_metrics_text jn_metrics_text;
typedef void (*jn_metrics_collector)(void *arg, jn_metrics_text *t);
int jn_metrics_add_collector(jn_metrics_collector fn, void *arg);
void jn_metrics_remove_collector(jn_metrics_collector fn, void *arg);
void jn_metrics_text_family(jn_metrics_text *t, const char *name, const char *type, const char *help);
/* name{labels...} value: labels are n (key, value) pairs, values escaped as the text format requires. */
void jn_metrics_text_sample(jn_metrics_text *t, const char *name, const char *const (*labels)[2], size_t n,
                            uint64_t value);

/* ---- read-only snapshots for front ends that draw the numbers themselves (the web console, issue #21) ----
 * Each figure is read with relaxed loads: consistent by itself, not all taken at one instant. */

/* The latency buckets' upper bounds in nanoseconds (JN_METRICS_N_BOUNDS of them; the last bucket is unbounded). */
#define JN_METRICS_N_BOUNDS 16
const int64_t *jn_metrics_bounds_ns(void);

typedef struct jn_metrics_hist {
    uint64_t count[JN_METRICS_N_BOUNDS + 1]; /* per bucket, not cumulative */
    uint64_t sum_ns;
} jn_metrics_hist;

typedef struct jn_metrics_model_view {
    uint64_t ok, failed; /* requests answered, every front end */
    int64_t in_flight;
    jn_metrics_hist total; /* received -> answer encoded */
} jn_metrics_model_view;

/* Model `model`'s figures; false (and *view zeroed) when nothing was ever recorded for it. Never creates an entry. */
bool jn_metrics_model_view_get(const char *model, jn_metrics_model_view *view);
/* Step `step` of `pipeline`: runs by outcome and the duration histogram; false (zeroed) when never recorded. */
bool jn_metrics_step_view_get(const char *pipeline, const char *step, uint64_t *ok, uint64_t *failed,
                              jn_metrics_hist *duration);
/* Streams open now (every protocol), and requests that named no registered model (every front end). */
int64_t jn_metrics_open_streams(void);
uint64_t jn_metrics_unknown_total(void);
/* The process: resident memory in bytes and seconds since it started; -1 where /proc cannot be read. */
void jn_metrics_process_view(int64_t *rss_bytes, double *uptime_s);

#endif
