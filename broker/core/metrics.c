/* metrics.c — the process-wide metrics registry and its Prometheus text rendering.
 *
 * Three tables (models, pipeline steps, stream protocols), each a sorted array of pointers to heap objects, under
 * one reader-writer lock: lookups take the read lock and binary-search, the first lookup of a name takes the write
 * lock and inserts. Objects are never freed or moved, so the pointers handed out stay valid without the lock and
 * all updates are relaxed atomic adds. Sorted tables also give /metrics its deterministic order.
 *
 * Histograms keep one non-cumulative count per bucket; rendering adds them up, so the +Inf bucket and _count are
 * the same number by construction (a concurrent update lands in a later scrape, never in one line and not the
 * other). Sums are kept in integer nanoseconds and printed exactly.
 */
#include "metrics.h"

#include "engine.h"
#include "process_info.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* ---- histograms: seconds, 0.1 ms .. 10 s ---- */

enum { N_BOUNDS = 16 };
static const int64_t bound_ns[N_BOUNDS] = {
    100000,   250000,    500000,    1000000,   2500000,    5000000,    10000000,   25000000,
    50000000, 100000000, 250000000, 500000000, 1000000000, 2500000000, 5000000000, 10000000000,
};
static const char *const bound_le[] = {
    "0.0001", "0.00025", "0.0005", "0.001", "0.0025", "0.005", "0.01", "0.025", "0.05",
    "0.1",    "0.25",    "0.5",    "1",     "2.5",    "5",     "10",   "+Inf",
};
_Static_assert(sizeof bound_le / sizeof *bound_le == N_BOUNDS + 1, "one le label per bound, plus +Inf");

typedef struct hist {
    _Atomic uint64_t count[N_BOUNDS + 1]; /* per bucket, not cumulative; the last is (10 s, +Inf) */
    _Atomic uint64_t sum_ns;
} hist;

/* A histogram as read for rendering (one or the sum of several shards). */
typedef struct hist_counts {
    uint64_t count[N_BOUNDS + 1];
    uint64_t sum_ns;
} hist_counts;

static void hist_add_to(const hist *h, hist_counts *acc)
{
    for (size_t b = 0; b <= N_BOUNDS; b++)
        acc->count[b] += atomic_load_explicit(&h->count[b], memory_order_relaxed);
    acc->sum_ns += atomic_load_explicit(&h->sum_ns, memory_order_relaxed);
}

static void hist_observe(hist *h, int64_t ns)
{
    if (ns < 0)
        return;
    size_t b = 0;
    while (b < N_BOUNDS && ns > bound_ns[b]) /* le is inclusive */
        b++;
    atomic_fetch_add_explicit(&h->count[b], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&h->sum_ns, (uint64_t)ns, memory_order_relaxed);
}

/* ---- the batch-size histogram: rows per engine execution, powers of two up to 256 ---- */

enum { N_BATCH_BOUNDS = 9 };
static const uint64_t batch_bound[N_BATCH_BOUNDS] = {1, 2, 4, 8, 16, 32, 64, 128, 256};
static const char *const batch_le[] = {"1", "2", "4", "8", "16", "32", "64", "128", "256", "+Inf"};
_Static_assert(sizeof batch_le / sizeof *batch_le == N_BATCH_BOUNDS + 1, "one le label per batch bound, plus +Inf");

/* ---- labels ---- */

static const char *const frontends[] = {JN_METRICS_GRPC, JN_METRICS_HTTP};
enum { N_FRONTENDS = sizeof frontends / sizeof *frontends };
static const char *const outcomes[] = {"success", "failure"};
enum { N_OUTCOMES = 2 };
static const char *const phases[] = {"queue", "compute", "total"};
enum { PHASE_QUEUE, PHASE_COMPUTE, PHASE_TOTAL, N_PHASES };
_Static_assert(sizeof phases / sizeof *phases == N_PHASES, "one label per phase");

static size_t frontend_index(const char *frontend)
{
    for (size_t i = 0; i < N_FRONTENDS; i++)
        if (frontend && strcmp(frontend, frontends[i]) == 0)
            return i;
    /* An invariant, not input: front ends pass one of the JN_METRICS_* constants. */
    fprintf(stderr, "jn_metrics: unknown front end label '%s'\n", frontend ? frontend : "(null)");
    abort();
}

/* ---- stats objects (calloc'd: all-zero atomics are valid zero counters on every platform we build for) ---- */

struct jn_model_stats {
    char *name;
    _Atomic uint64_t requests[N_FRONTENDS][N_OUTCOMES];
    _Atomic int64_t in_flight;
    hist phase[N_PHASES];
    _Atomic uint64_t batch[N_BATCH_BOUNDS + 1]; /* executions per rows bucket, not cumulative; last = (256, +Inf) */
    _Atomic uint64_t batch_rows;                /* the histogram's sum */
    _Atomic uint64_t cache[2];                  /* response-cache lookups: [0] hits, [1] misses */
};

/* Pipeline steps are recorded several times per request (once per step), from every pump and worker thread: one
 * shared set of counters would bounce its cache lines between cores on every step. So each step keeps N_SHARDS
 * cache-line-aligned copies; a thread always writes the same shard, rendering adds the shards up. */
enum { N_SHARDS = 8, CACHE_LINE = 64 };

typedef struct step_shard {
    _Alignas(CACHE_LINE) _Atomic uint64_t runs[N_OUTCOMES];
    hist duration;
} step_shard;

struct jn_step_stats {
    char *pipeline;
    char *step;
    step_shard shard[N_SHARDS];
};

static atomic_uint next_shard;
static _Thread_local int thread_shard = -1;

static int my_shard(void)
{
    if (thread_shard < 0)
        thread_shard = (int)(atomic_fetch_add_explicit(&next_shard, 1, memory_order_relaxed) % N_SHARDS);
    return thread_shard;
}

typedef struct stream_stats {
    char *protocol;
    _Atomic int64_t open;
    _Atomic uint64_t opened;
} stream_stats;

/* ---- the registry ---- */

typedef struct table {
    void **items; /* sorted by key */
    size_t n, cap;
} table;

typedef struct step_key {
    const char *pipeline, *step;
} step_key;

static struct {
    pthread_rwlock_t lock; /* guards the three tables (not the objects' counters) */
    table models, steps, streams;
    _Atomic uint64_t unknown_model[N_FRONTENDS];
} g = {.lock = PTHREAD_RWLOCK_INITIALIZER};

typedef int (*cmp_fn)(const void *item, const void *key);
typedef void *(*make_fn)(const void *key);

static int cmp_model(const void *item, const void *key)
{
    return strcmp(((const jn_model_stats *)item)->name, key);
}

static int cmp_step(const void *item, const void *key)
{
    const jn_step_stats *s = item;
    const step_key *k = key;
    int c = strcmp(s->pipeline, k->pipeline);
    return c ? c : strcmp(s->step, k->step);
}

static int cmp_stream(const void *item, const void *key)
{
    return strcmp(((const stream_stats *)item)->protocol, key);
}

static void *make_model(const void *key)
{
    jn_model_stats *m = calloc(1, sizeof *m);
    if (m && !(m->name = strdup(key))) {
        free(m);
        m = NULL;
    }
    return m;
}

static void *make_step(const void *key)
{
    const step_key *k = key;
    size_t size = (sizeof(jn_step_stats) + CACHE_LINE - 1) / CACHE_LINE * CACHE_LINE;
    jn_step_stats *s = aligned_alloc(CACHE_LINE, size); /* the shards' alignment; calloc only promises 16 */
    if (!s)
        return NULL;
    memset(s, 0, size);
    s->pipeline = strdup(k->pipeline);
    s->step = strdup(k->step);
    if (!s->pipeline || !s->step) {
        free(s->pipeline);
        free(s->step);
        free(s);
        return NULL;
    }
    return s;
}

static void *make_stream(const void *key)
{
    stream_stats *s = calloc(1, sizeof *s);
    if (s && !(s->protocol = strdup(key))) {
        free(s);
        s = NULL;
    }
    return s;
}

/* Lower bound of key in t; *found tells whether it is there. Caller holds g.lock. */
static size_t table_find(const table *t, cmp_fn cmp, const void *key, bool *found)
{
    size_t lo = 0, hi = t->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (cmp(t->items[mid], key) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    *found = lo < t->n && cmp(t->items[lo], key) == 0;
    return lo;
}

/* The object for key, created and inserted on first use. NULL only on out of memory. */
static void *get_or_create(table *t, cmp_fn cmp, make_fn make, const void *key)
{
    bool found;
    pthread_rwlock_rdlock(&g.lock);
    size_t i = table_find(t, cmp, key, &found);
    void *item = found ? t->items[i] : NULL;
    pthread_rwlock_unlock(&g.lock);
    if (item)
        return item;

    pthread_rwlock_wrlock(&g.lock);
    i = table_find(t, cmp, key, &found); /* someone may have inserted it meanwhile */
    if (found) {
        item = t->items[i];
    } else {
        if (t->n == t->cap) {
            size_t cap = t->cap ? t->cap * 2 : 16;
            void **items = realloc(t->items, cap * sizeof *items);
            if (items) {
                t->items = items;
                t->cap = cap;
            }
        }
        if (t->n < t->cap && (item = make(key))) {
            memmove(&t->items[i + 1], &t->items[i], (t->n - i) * sizeof *t->items);
            t->items[i] = item;
            t->n++;
        }
    }
    pthread_rwlock_unlock(&g.lock);
    return item;
}

/* ---- recording ---- */

jn_model_stats *jn_metrics_model(const char *model)
{
    return get_or_create(&g.models, cmp_model, make_model, model ? model : "");
}

void jn_metrics_request_begin(jn_model_stats *st)
{
    if (st)
        atomic_fetch_add_explicit(&st->in_flight, 1, memory_order_relaxed);
}

void jn_metrics_request_end(jn_model_stats *st, const char *frontend, bool ok, int64_t queue_ns, int64_t compute_ns,
                            int64_t total_ns)
{
    size_t f = frontend_index(frontend);
    if (!st)
        return;
    atomic_fetch_add_explicit(&st->requests[f][ok ? 0 : 1], 1, memory_order_relaxed);
    atomic_fetch_sub_explicit(&st->in_flight, 1, memory_order_relaxed);
    hist_observe(&st->phase[PHASE_QUEUE], queue_ns);
    hist_observe(&st->phase[PHASE_COMPUTE], compute_ns);
    hist_observe(&st->phase[PHASE_TOTAL], total_ns);
}

void jn_metrics_batch(jn_model_stats *st, uint64_t rows)
{
    if (!st || rows == 0)
        return;
    size_t b = 0;
    while (b < N_BATCH_BOUNDS && rows > batch_bound[b]) /* le is inclusive */
        b++;
    atomic_fetch_add_explicit(&st->batch[b], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&st->batch_rows, rows, memory_order_relaxed);
}

void jn_metrics_cache(jn_model_stats *st, bool hit)
{
    if (st)
        atomic_fetch_add_explicit(&st->cache[hit ? 0 : 1], 1, memory_order_relaxed);
}

void jn_metrics_unknown_model(const char *frontend)
{
    atomic_fetch_add_explicit(&g.unknown_model[frontend_index(frontend)], 1, memory_order_relaxed);
}

jn_step_stats *jn_metrics_step(const char *pipeline, const char *step)
{
    step_key k = {pipeline ? pipeline : "", step ? step : ""};
    return get_or_create(&g.steps, cmp_step, make_step, &k);
}

void jn_metrics_step_record(jn_step_stats *st, bool ok, int64_t compute_ns)
{
    if (!st)
        return;
    step_shard *sh = &st->shard[my_shard()];
    atomic_fetch_add_explicit(&sh->runs[ok ? 0 : 1], 1, memory_order_relaxed);
    hist_observe(&sh->duration, compute_ns);
}

void jn_metrics_stream_opened(const char *protocol)
{
    stream_stats *s = get_or_create(&g.streams, cmp_stream, make_stream, protocol ? protocol : "");
    if (s) {
        atomic_fetch_add_explicit(&s->opened, 1, memory_order_relaxed);
        atomic_fetch_add_explicit(&s->open, 1, memory_order_relaxed);
    }
}

void jn_metrics_stream_closed(const char *protocol)
{
    stream_stats *s = get_or_create(&g.streams, cmp_stream, make_stream, protocol ? protocol : "");
    if (s)
        atomic_fetch_sub_explicit(&s->open, 1, memory_order_relaxed);
}

/* ---- rendering ---- */

typedef struct jn_metrics_text {
    char *buf;
    size_t len, cap;
    bool oom;
} out;

static bool reserve(out *o, size_t more)
{
    if (o->oom)
        return false;
    if (o->len + more + 1 <= o->cap)
        return true;
    size_t cap = o->cap ? o->cap : 4096;
    while (cap < o->len + more + 1)
        cap *= 2;
    char *buf = realloc(o->buf, cap);
    if (!buf) {
        o->oom = true;
        return false;
    }
    o->buf = buf;
    o->cap = cap;
    return true;
}

static void put(out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(out *o, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char small[256];
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0 || !reserve(o, (size_t)n))
        return;
    if ((size_t)n < sizeof small) {
        memcpy(o->buf + o->len, small, (size_t)n + 1);
    } else {
        va_start(ap, fmt);
        vsnprintf(o->buf + o->len, (size_t)n + 1, fmt, ap);
        va_end(ap);
    }
    o->len += (size_t)n;
}

/* A label value, escaped as the text format wants: \\, \" and \n. */
static void put_label_value(out *o, const char *s)
{
    for (; *s; s++) {
        const char *esc = *s == '\\' ? "\\\\" : *s == '"' ? "\\\"" : *s == '\n' ? "\\n" : NULL;
        if (esc) {
            put(o, "%s", esc);
        } else if (reserve(o, 1)) {
            o->buf[o->len++] = *s;
            o->buf[o->len] = '\0';
        }
    }
}

/* `name{k1="v1",k2="v2"} ` from n (key, value) pairs; the caller writes the value and the newline. */
static void put_series(out *o, const char *name, const char *(*labels)[2], size_t n)
{
    put(o, "%s", name);
    for (size_t i = 0; i < n; i++) {
        put(o, "%s%s=\"", i ? "," : "{", labels[i][0]);
        put_label_value(o, labels[i][1]);
        put(o, "\"");
    }
    put(o, "%s ", n ? "}" : "");
}

static void put_family(out *o, const char *name, const char *type, const char *help)
{
    put(o, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void put_seconds(out *o, uint64_t ns)
{
    put(o, "%" PRIu64 ".%09" PRIu64 "\n", ns / 1000000000u, ns % 1000000000u);
}

/* One histogram series: buckets (cumulative), _sum, _count. labels has room for one more pair (le). */
static void put_hist(out *o, const char *name, const hist_counts *h, const char *(*labels)[2], size_t n)
{
    char metric[128];
    uint64_t cumulative = 0;
    snprintf(metric, sizeof metric, "%s_bucket", name);
    for (size_t b = 0; b <= N_BOUNDS; b++) {
        cumulative += h->count[b];
        labels[n][0] = "le";
        labels[n][1] = bound_le[b];
        put_series(o, metric, labels, n + 1);
        put(o, "%" PRIu64 "\n", cumulative);
    }
    snprintf(metric, sizeof metric, "%s_sum", name);
    put_series(o, metric, labels, n);
    put_seconds(o, h->sum_ns);
    snprintf(metric, sizeof metric, "%s_count", name);
    put_series(o, metric, labels, n);
    put(o, "%" PRIu64 "\n", cumulative);
}

/* The batcher's and the cache's families (one series per model, at zero until recorded). */
static void render_batch_and_cache(out *o, const table *t)
{
    put_family(o, "junction_model_batch_size", "histogram",
               "Rows computed per engine execution (a dynamic batch, or one request run alone), by model.");
    for (size_t i = 0; i < t->n; i++) {
        const jn_model_stats *m = t->items[i];
        const char *labels[2][2] = {{"model", m->name}, {"le", NULL}};
        uint64_t cumulative = 0;
        for (size_t b = 0; b <= N_BATCH_BOUNDS; b++) {
            cumulative += atomic_load_explicit(&m->batch[b], memory_order_relaxed);
            labels[1][1] = batch_le[b];
            put_series(o, "junction_model_batch_size_bucket", labels, 2);
            put(o, "%" PRIu64 "\n", cumulative);
        }
        put_series(o, "junction_model_batch_size_sum", labels, 1);
        put(o, "%" PRIu64 "\n", atomic_load_explicit(&m->batch_rows, memory_order_relaxed));
        put_series(o, "junction_model_batch_size_count", labels, 1);
        put(o, "%" PRIu64 "\n", cumulative);
    }
    static const char *const cache_family[2][2] = {
        {"junction_model_cache_hits_total", "Response-cache lookups answered from the cache, by model."},
        {"junction_model_cache_misses_total", "Response-cache lookups that found no answer, by model."},
    };
    for (size_t k = 0; k < 2; k++) {
        put_family(o, cache_family[k][0], "counter", cache_family[k][1]);
        for (size_t i = 0; i < t->n; i++) {
            const jn_model_stats *m = t->items[i];
            const char *labels[1][2] = {{"model", m->name}};
            put_series(o, cache_family[k][0], labels, 1);
            put(o, "%" PRIu64 "\n", atomic_load_explicit(&m->cache[k], memory_order_relaxed));
        }
    }
}

static void render_models(out *o)
{
    const table *t = &g.models;
    put_family(o, "junction_requests_total", "counter",
               "Inference requests answered, by model, front end and outcome.");
    for (size_t i = 0; i < t->n; i++) {
        const jn_model_stats *m = t->items[i];
        for (size_t f = 0; f < N_FRONTENDS; f++) {
            for (size_t k = 0; k < N_OUTCOMES; k++) {
                const char *labels[3][2] = {{"model", m->name}, {"frontend", frontends[f]}, {"outcome", outcomes[k]}};
                put_series(o, "junction_requests_total", labels, 3);
                put(o, "%" PRIu64 "\n", atomic_load_explicit(&m->requests[f][k], memory_order_relaxed));
            }
        }
    }
    put_family(o, "junction_requests_unknown_model_total", "counter",
               "Inference requests that named no registered model, by front end.");
    for (size_t f = 0; f < N_FRONTENDS; f++) {
        const char *labels[1][2] = {{"frontend", frontends[f]}};
        put_series(o, "junction_requests_unknown_model_total", labels, 1);
        put(o, "%" PRIu64 "\n", atomic_load_explicit(&g.unknown_model[f], memory_order_relaxed));
    }
    put_family(o, "junction_requests_in_flight", "gauge", "Inference requests received and not yet answered.");
    for (size_t i = 0; i < t->n; i++) {
        const jn_model_stats *m = t->items[i];
        const char *labels[1][2] = {{"model", m->name}};
        put_series(o, "junction_requests_in_flight", labels, 1);
        put(o, "%" PRId64 "\n", atomic_load_explicit(&m->in_flight, memory_order_relaxed));
    }
    put_family(o, "junction_request_duration_seconds", "histogram",
               "Inference request latency by phase: queue (received to engine start), compute (engine run), "
               "total (received to answer encoded).");
    for (size_t i = 0; i < t->n; i++) {
        const jn_model_stats *m = t->items[i];
        for (size_t p = 0; p < N_PHASES; p++) {
            const char *labels[3][2] = {{"model", m->name}, {"phase", phases[p]}};
            hist_counts counts = {{0}, 0};
            hist_add_to(&m->phase[p], &counts);
            put_hist(o, "junction_request_duration_seconds", &counts, labels, 2);
        }
    }
    render_batch_and_cache(o, t);
}

static void render_steps(out *o)
{
    const table *t = &g.steps;
    put_family(o, "junction_pipeline_step_runs_total", "counter", "Pipeline step runs, by outcome.");
    for (size_t i = 0; i < t->n; i++) {
        const jn_step_stats *s = t->items[i];
        for (size_t k = 0; k < N_OUTCOMES; k++) {
            const char *labels[3][2] = {{"pipeline", s->pipeline}, {"step", s->step}, {"outcome", outcomes[k]}};
            uint64_t runs = 0;
            for (size_t h = 0; h < N_SHARDS; h++)
                runs += atomic_load_explicit(&s->shard[h].runs[k], memory_order_relaxed);
            put_series(o, "junction_pipeline_step_runs_total", labels, 3);
            put(o, "%" PRIu64 "\n", runs);
        }
    }
    put_family(o, "junction_pipeline_step_duration_seconds", "histogram",
               "Pipeline step duration: input hand-off, conversions and the engine run.");
    for (size_t i = 0; i < t->n; i++) {
        const jn_step_stats *s = t->items[i];
        const char *labels[3][2] = {{"pipeline", s->pipeline}, {"step", s->step}};
        hist_counts counts = {{0}, 0};
        for (size_t h = 0; h < N_SHARDS; h++)
            hist_add_to(&s->shard[h].duration, &counts);
        put_hist(o, "junction_pipeline_step_duration_seconds", &counts, labels, 2);
    }
}

static void render_streams(out *o)
{
    const table *t = &g.streams;
    put_family(o, "junction_open_streams", "gauge", "Infer streams open, by protocol.");
    for (size_t i = 0; i < t->n; i++) {
        const stream_stats *s = t->items[i];
        const char *labels[1][2] = {{"protocol", s->protocol}};
        put_series(o, "junction_open_streams", labels, 1);
        put(o, "%" PRId64 "\n", atomic_load_explicit(&s->open, memory_order_relaxed));
    }
    put_family(o, "junction_streams_total", "counter", "Infer streams opened, by protocol.");
    for (size_t i = 0; i < t->n; i++) {
        const stream_stats *s = t->items[i];
        const char *labels[1][2] = {{"protocol", s->protocol}};
        put_series(o, "junction_streams_total", labels, 1);
        put(o, "%" PRIu64 "\n", atomic_load_explicit(&s->opened, memory_order_relaxed));
    }
}

/* ---- process gauges (process_info.c); a value that cannot be read is left out ---- */

static void render_process(out *o)
{
    jn_process_info p;
    jn_process_info_read(&p);
    if (p.rss_bytes >= 0) {
        put_family(o, "process_resident_memory_bytes", "gauge", "Resident memory size in bytes.");
        put(o, "process_resident_memory_bytes %lld\n", (long long)p.rss_bytes);
    }
    if (p.threads >= 0) {
        put_family(o, "process_threads", "gauge", "Threads in the process.");
        put(o, "process_threads %lld\n", (long long)p.threads);
    }
    if (p.start_time > 0) {
        put_family(o, "process_start_time_seconds", "gauge", "Start time of the process since the Unix epoch.");
        put(o, "process_start_time_seconds %.2f\n", p.start_time);
    }
    if (p.uptime_s >= 0) {
        put_family(o, "junction_uptime_seconds", "gauge", "Seconds since the process started.");
        put(o, "junction_uptime_seconds %.3f\n", p.uptime_s);
    }
}

/* ---- series from other modules (remote endpoints) ---- */

enum { MAX_COLLECTORS = 8 };
static struct {
    jn_metrics_collector fn;
    void *arg;
} collectors[MAX_COLLECTORS];
static size_t n_collectors;
static pthread_mutex_t collectors_mu = PTHREAD_MUTEX_INITIALIZER;

int jn_metrics_add_collector(jn_metrics_collector fn, void *arg)
{
    pthread_mutex_lock(&collectors_mu);
    int rc = JN_ERESOURCE;
    if (n_collectors < MAX_COLLECTORS) {
        collectors[n_collectors].fn = fn;
        collectors[n_collectors].arg = arg;
        n_collectors++;
        rc = 0;
    }
    pthread_mutex_unlock(&collectors_mu);
    return rc;
}

void jn_metrics_remove_collector(jn_metrics_collector fn, void *arg)
{
    pthread_mutex_lock(&collectors_mu);
    for (size_t i = 0; i < n_collectors; i++) {
        if (collectors[i].fn == fn && collectors[i].arg == arg) {
            memmove(&collectors[i], &collectors[i + 1], (n_collectors - i - 1) * sizeof collectors[0]);
            n_collectors--;
            break;
        }
    }
    pthread_mutex_unlock(&collectors_mu);
}

void jn_metrics_text_family(jn_metrics_text *t, const char *name, const char *type, const char *help)
{
    put_family(t, name, type, help);
}

void jn_metrics_text_sample(jn_metrics_text *t, const char *name, const char *const (*labels)[2], size_t n,
                            uint64_t value)
{
    put_series(t, name, (const char *(*)[2])labels, n);
    put(t, "%" PRIu64 "\n", value);
}

char *jn_metrics_render(size_t *len)
{
    out o = {0};
    pthread_rwlock_rdlock(&g.lock);
    render_models(&o);
    render_steps(&o);
    render_streams(&o);
    pthread_rwlock_unlock(&g.lock);
    pthread_mutex_lock(&collectors_mu);
    for (size_t i = 0; i < n_collectors; i++)
        collectors[i].fn(collectors[i].arg, &o);
    pthread_mutex_unlock(&collectors_mu);
    render_process(&o);
    if (o.oom || !reserve(&o, 0)) {
        free(o.buf);
        return NULL;
    }
    o.buf[o.len] = '\0';
    if (len)
        *len = o.len;
    return o.buf;
}

/* ---- read-only snapshots (metrics.h) ---- */

_Static_assert(JN_METRICS_N_BOUNDS == N_BOUNDS, "the public bucket count is the histograms'");

const int64_t *jn_metrics_bounds_ns(void)
{
    return bound_ns;
}

static void hist_view(const hist_counts *h, jn_metrics_hist *dst)
{
    memcpy(dst->count, h->count, sizeof dst->count);
    dst->sum_ns = h->sum_ns;
}

bool jn_metrics_model_view_get(const char *model, jn_metrics_model_view *view)
{
    memset(view, 0, sizeof *view);
    bool found;
    pthread_rwlock_rdlock(&g.lock);
    size_t i = table_find(&g.models, cmp_model, model ? model : "", &found);
    const jn_model_stats *m = found ? g.models.items[i] : NULL;
    pthread_rwlock_unlock(&g.lock); /* stats objects live for ever */
    if (!m)
        return false;
    for (size_t f = 0; f < N_FRONTENDS; f++) {
        view->ok += atomic_load_explicit(&m->requests[f][0], memory_order_relaxed);
        view->failed += atomic_load_explicit(&m->requests[f][1], memory_order_relaxed);
    }
    view->in_flight = atomic_load_explicit(&m->in_flight, memory_order_relaxed);
    hist_counts c = {{0}, 0};
    hist_add_to(&m->phase[PHASE_TOTAL], &c);
    hist_view(&c, &view->total);
    return true;
}

bool jn_metrics_step_view_get(const char *pipeline, const char *step, uint64_t *ok, uint64_t *failed,
                              jn_metrics_hist *duration)
{
    *ok = *failed = 0;
    memset(duration, 0, sizeof *duration);
    step_key k = {pipeline ? pipeline : "", step ? step : ""};
    bool found;
    pthread_rwlock_rdlock(&g.lock);
    size_t i = table_find(&g.steps, cmp_step, &k, &found);
    const jn_step_stats *s = found ? g.steps.items[i] : NULL;
    pthread_rwlock_unlock(&g.lock);
    if (!s)
        return false;
    hist_counts c = {{0}, 0};
    for (size_t h = 0; h < N_SHARDS; h++) {
        *ok += atomic_load_explicit(&s->shard[h].runs[0], memory_order_relaxed);
        *failed += atomic_load_explicit(&s->shard[h].runs[1], memory_order_relaxed);
        hist_add_to(&s->shard[h].duration, &c);
    }
    hist_view(&c, duration);
    return true;
}

int64_t jn_metrics_open_streams(void)
{
    int64_t open = 0;
    pthread_rwlock_rdlock(&g.lock);
    for (size_t i = 0; i < g.streams.n; i++)
        open += atomic_load_explicit(&((const stream_stats *)g.streams.items[i])->open, memory_order_relaxed);
    pthread_rwlock_unlock(&g.lock);
    return open;
}

uint64_t jn_metrics_unknown_total(void)
{
    uint64_t n = 0;
    for (size_t f = 0; f < N_FRONTENDS; f++)
        n += atomic_load_explicit(&g.unknown_model[f], memory_order_relaxed);
    return n;
}

void jn_metrics_process_view(int64_t *rss_bytes, double *uptime_s)
{
    jn_process_info p;
    jn_process_info_read(&p);
    *rss_bytes = p.rss_bytes;
    *uptime_s = p.uptime_s;
}
