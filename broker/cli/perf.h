/* perf.h — private to `junction perf` (perf.c, perf_input.c, perf_load.c, perf_grpc.c, perf_http.c,
 * perf_http_wire.c): a load generator in the spirit of Triton's perf_analyzer for any KServe v2 server (junction,
 * Triton, KServe model servers).
 *
 * perf.c parses the flags and runs the levels (measurement windows until stable, the table and the CSV);
 * perf_input.c turns the model's v2 metadata and --input-data/--shape/-b into request payloads; perf_load.c runs the
 * worker threads that keep N requests outstanding (closed loop) or send on a schedule (open loop); perf_grpc.c,
 * perf_http.c (libcurl) and perf_http_wire.c (HTTP load on plain sockets, metadata and statistics through
 * perf_http.c) are the transports (metadata, statistics and the requests themselves).
 *
 * Ownership: perf_data and everything in it belong to the command (perf_data_free). A transport's per-worker state
 * (perf_conn) is created, used and closed by one worker thread; the transport's prepared payloads (perf_ctx.tp) are
 * built once before the workers start and only read afterwards.
 * Thread-safety: metadata/stats/prepare run on the main thread; conn_* on the worker that opened the conn.
 */
#ifndef JN_CLI_PERF_H
#define JN_CLI_PERF_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tensor.h"

#define PERF_MAX_INPUTS 64
#define PERF_MSG 512

typedef enum perf_protocol { PERF_GRPC, PERF_HTTP } perf_protocol;
typedef enum perf_mode { PERF_CONCURRENCY, PERF_RATE } perf_mode;
typedef enum perf_dist { PERF_CONSTANT, PERF_POISSON } perf_dist;
typedef enum perf_data_kind { PERF_DATA_RANDOM, PERF_DATA_ZERO, PERF_DATA_FILE } perf_data_kind;

typedef struct perf_shape_opt { /* one --shape NAME:D1,D2 */
    const char *name;
    int ndim;
    int64_t dims[JN_MAX_DIMS];
} perf_shape_opt;

typedef struct perf_opts {
    const char *model;
    const char *version; /* "" = the server's choice */
    perf_protocol protocol;
    const char *url; /* HOST:PORT */
    perf_mode mode;
    double start, end, step; /* the concurrency or request-rate range */
    perf_dist dist;
    perf_data_kind data_kind;
    const char *data_file;
    perf_shape_opt shapes[PERF_MAX_INPUTS];
    int n_shapes;
    int64_t batch; /* -b: the first dimension when the model leaves it -1 */
    bool batch_given;
    int interval_ms;
    double stability_pct;
    int max_trials;
    int percentile; /* 0 = stability on the average latency */
    const char *csv;
    bool streaming;
    bool http_curl; /* --http-client curl: the load through libcurl too */
    int threads; /* 0 = automatic */
    int timeout_ms;
} perf_opts;

/* One model input as the server describes it. */
typedef struct perf_input_meta {
    char name[128];
    char datatype[16];
    int ndim;
    int64_t shape[JN_MAX_DIMS];
} perf_input_meta;

typedef struct perf_model {
    char name[256];
    char platform[64];
    int n_inputs;
    perf_input_meta inputs[PERF_MAX_INPUTS];
} perf_model;

/* One input's value in one data entry. Numeric: `raw` holds count * dtype size little-endian bytes; BYTES: `strs`
 * holds count strings (lens[i] bytes each) and `raw` their v2 raw form (4-byte little-endian length + bytes each). */
typedef struct perf_tensor {
    const char *name; /* borrowed from perf_model */
    jn_dtype dtype;
    int ndim;
    int64_t shape[JN_MAX_DIMS];
    size_t count;
    uint8_t *raw;
    size_t raw_len;
    char **strs;
    size_t *lens;
} perf_tensor;

typedef struct perf_entry {
    perf_tensor t[PERF_MAX_INPUTS];
    int n;
} perf_entry;

typedef struct perf_data {
    perf_entry *entries;
    size_t n_entries;
} perf_data;

/* Cumulative server statistics of the model (the v2 statistics extension), summed over its versions. */
typedef struct perf_dur {
    uint64_t count, ns;
} perf_dur;

typedef struct perf_server_stats {
    uint64_t inference_count, execution_count;
    perf_dur success, fail, queue, compute_input, compute_infer, compute_output, cache_hit, cache_miss;
} perf_server_stats;

typedef struct perf_ctx perf_ctx;
typedef struct perf_conn perf_conn;

/* Called by conn_wait for each finished request: slot, success, and on failure a message (borrowed). */
typedef void (*perf_done_fn)(void *worker, int slot, bool ok, const char *err);

typedef struct perf_transport {
    const char *name;
    /* The model's inputs. 0, or -1 with msg (naming the server and the model). */
    int (*metadata)(const perf_opts *o, perf_model *m, char *msg, size_t cap);
    /* The model's statistics: 0 with *s, 1 when the server has no statistics extension (msg says how it
     * answered), -1 on another failure (msg). */
    int (*stats)(const perf_opts *o, perf_server_stats *s, char *msg, size_t cap);
    /* Builds the requests of every data entry into ctx->tp (freed by unprepare). 0, or -1 with msg. */
    int (*prepare)(perf_ctx *ctx, char *msg, size_t cap);
    void (*unprepare)(perf_ctx *ctx);
    /* Per worker: a connection for up to `slots` outstanding requests. NULL with msg. */
    perf_conn *(*conn_open)(perf_ctx *ctx, int slots, char *msg, size_t cap);
    /* Starts the request of data entry `entry` on a free slot. 0, or -1 with msg (counted as a failed request). */
    int (*conn_start)(perf_conn *c, int slot, size_t entry, char *msg, size_t cap);
    /* Waits until some request finishes or the monotonic clock reaches until_ns, calling done for each finished
     * request. */
    void (*conn_wait)(perf_conn *c, int64_t until_ns, perf_done_fn done, void *worker);
    /* Cancels what is outstanding (no more done calls) and frees the connection. */
    void (*conn_close)(perf_conn *c);
} perf_transport;

extern const perf_transport jn__perf_grpc;
extern const perf_transport jn__perf_http;      /* libcurl for everything (--http-client curl) */
extern const perf_transport jn__perf_http_wire; /* the load on plain sockets + http-parser; the rest via libcurl */

/* perf_http.c, for perf_http_wire.c: the URL path "/v2/models/{m}[/versions/{v}]" + tail, and the JSON infer body
 * of a data entry (both malloc'd; NULL on out of memory). */
char *jn__perf_http_path(const perf_opts *o, const char *tail);
char *jn__perf_http_body(const perf_entry *pe, size_t *len);

struct perf_ctx {
    const perf_opts *o;
    const perf_model *model;
    const perf_data *data;
    const perf_transport *tp;
    void *tp_data; /* the transport's prepared requests */
};

/* Monotonic clock in ns. */
int64_t jn__perf_now_ns(void);

/* perf_input.c: the payloads for every data entry from the model's metadata and the options. 0, or -1 with msg
 * naming the input (and entry) at fault. */
int jn__perf_data_build(const perf_opts *o, const perf_model *m, perf_data *d, char *msg, size_t cap);
void jn__perf_data_free(perf_data *d);
/* Writes element i of a numeric tensor as a JSON number into buf (FP16/BF16 converted). */
void jn__perf_format_element(const perf_tensor *t, size_t i, char *buf, size_t cap);

/* perf_load.c: one measurement run at one level. */
typedef struct perf_window { /* what completed during one window */
    int64_t t0, t1;          /* monotonic ns */
    uint64_t *lat_ns;        /* successful requests' latencies (malloc'd) */
    size_t n_ok, n_err;
    char first_err[PERF_MSG];
} perf_window;

typedef struct perf_load perf_load;
/* Starts the worker threads for `level` (outstanding requests, or requests/s). NULL with msg. */
perf_load *jn__perf_load_start(perf_ctx *ctx, double level, char *msg, size_t cap);
/* Ends the current window (started by the previous call or by load_start) and starts the next one. */
void jn__perf_load_cut(perf_load *l, perf_window *w);
/* Stops the workers (outstanding requests cancelled) and frees the load. */
void jn__perf_load_stop(perf_load *l);

#endif
