/* perf.c — `junction perf`: a load generator in the spirit of Triton's perf_analyzer, for any KServe v2 server (its
 * flags mean what perf_analyzer's do). For each concurrency (closed loop: N requests outstanding) or request rate
 * (open loop: requests sent on a constant or Poisson schedule) it measures windows of --measurement-interval ms
 * until the last three agree within --stability-percentage on throughput and latency (the average, or the
 * --percentile one), or --max-trials windows passed ("unstable"); the level's figures are those three windows'.
 * Around each window it reads the model's statistics extension (gRPC ModelStatistics or REST .../stats, same
 * protocol) for the server's side: queue, compute input/infer/output, the client's overhead, cache hits.
 *
 * Exit status: 0; 1 when the server cannot be reached, the model's metadata cannot be read, or every request
 * failed; 2 on bad usage. The table goes to stdout, notes and errors to stderr, -f FILE writes CSV (README).
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>

#include "cli.h"
#include "perf.h"
#include "rpc_client.h"

#define CMD "perf"
#define STABLE_WINDOWS 3
#define DEFAULT_HTTP_PORT "8000"

static void usage(FILE *to)
{
    fputs("usage: junction perf -m MODEL [options]\n"
          "\n"
          "Measures a model on a running KServe v2 server (junction, Triton, ...) like Triton's perf_analyzer.\n"
          "\n"
          "  -m, --model MODEL               the model (required); --model-version V picks a version\n"
          "  --protocol grpc|http            KServe v2 gRPC (default) or REST (-i is the same)\n"
          "  -u HOST:PORT                    the server (default " JN_DEFAULT_HOST ":8001 for gRPC, :8000 for HTTP)\n"
          "  --concurrency-range S[:E[:STEP]]  closed loop: S..E requests outstanding (default 1)\n"
          "  --request-rate-range S[:E[:STEP]] open loop: S..E requests per second on a schedule\n"
          "  --request-distribution constant|poisson   the open loop's intervals (default constant)\n"
          "  --input-data random|zero|FILE.json        the inputs' values (default random; JSON: perf_analyzer's)\n"
          "  --shape NAME:D1,D2,...          an input's shape where the model has -1 dimensions (repeatable)\n"
          "  -b BATCH                        the first dimension when the model leaves it -1 (default 1)\n"
          "  -p, --measurement-interval MS   one measurement window (default 5000)\n"
          "  -s, --stability-percentage P    how close the last 3 windows must be (default 10)\n"
          "  -r, --max-trials N              windows per level before giving up on stability (default 10)\n"
          "  --percentile P                  stabilize on (and report) the P-th percentile latency, not the average\n"
          "  -f FILE                         also write the results as CSV (README: the columns)\n"
          "  --streaming                     gRPC ModelStreamInfer instead of ModelInfer\n"
          "  --threads N                     worker threads (default: half the cores, at least 1)\n"
          "  --http-client wire|curl         HTTP load on plain sockets (default) or through libcurl\n"
          "  --timeout-ms MS                 per request and per metadata/statistics call (default 10000)\n",
          to);
}

/* Numbers and ranges ------------------------------------------------------------------------------------------------ */

static int parse_long(const char *flag, const char *v, long lo, long hi, long *out)
{
    char *end;
    errno = 0;
    long x = strtol(v, &end, 10);
    if (errno || end == v || *end || x < lo || x > hi) {
        fprintf(stderr, "junction perf: %s: '%s' is not a whole number in %ld..%ld\n", flag, v, lo, hi);
        return -1;
    }
    *out = x;
    return 0;
}

static int parse_double(const char *flag, const char *v, double lo, double hi, double *out)
{
    char *end;
    errno = 0;
    double x = strtod(v, &end);
    if (errno || end == v || *end || !(x >= lo && x <= hi)) {
        fprintf(stderr, "junction perf: %s: '%s' is not a number in %g..%g\n", flag, v, lo, hi);
        return -1;
    }
    *out = x;
    return 0;
}

/* START[:END[:STEP]]; END defaults to START, STEP to 1. */
static int parse_range(const char *flag, const char *v, bool whole, perf_opts *o)
{
    char buf[128];
    snprintf(buf, sizeof buf, "%s", v);
    double x[3] = {0, 0, 1};
    int n = 0;
    for (char *save = NULL, *tok = strtok_r(buf, ":", &save); tok; tok = strtok_r(NULL, ":", &save)) {
        if (n == 3 || parse_double(flag, tok, whole ? 1 : 1e-6, 1e7, &x[n]) != 0) {
            if (n == 3)
                fprintf(stderr, "junction perf: %s: '%s' is not START[:END[:STEP]]\n", flag, v);
            return -1;
        }
        if (whole && x[n] != floor(x[n])) {
            fprintf(stderr, "junction perf: %s: '%s' is not a whole number\n", flag, tok);
            return -1;
        }
        n++;
    }
    if (n == 0) {
        fprintf(stderr, "junction perf: %s: '%s' is not START[:END[:STEP]]\n", flag, v);
        return -1;
    }
    o->start = x[0];
    o->end = n >= 2 ? x[1] : x[0];
    o->step = n >= 3 ? x[2] : 1;
    if (o->end < o->start) {
        fprintf(stderr, "junction perf: %s: END %g is below START %g\n", flag, o->end, o->start);
        return -1;
    }
    return 0;
}

/* NAME:D1,D2,... */
static int parse_shape(const char *v, perf_opts *o)
{
    const char *colon = strrchr(v, ':');
    if (!colon || colon == v || !colon[1]) {
        fprintf(stderr, "junction perf: --shape: '%s' is not NAME:D1,D2,...\n", v);
        return -1;
    }
    if (o->n_shapes == PERF_MAX_INPUTS) {
        fprintf(stderr, "junction perf: --shape: at most %d of them\n", PERF_MAX_INPUTS);
        return -1;
    }
    perf_shape_opt *s = &o->shapes[o->n_shapes];
    char *name = strndup(v, (size_t)(colon - v));
    if (!name)
        return -1;
    s->name = name;
    s->ndim = 0;
    const char *p = colon + 1;
    for (;;) {
        char *end;
        errno = 0;
        long long d = strtoll(p, &end, 10);
        if (errno || end == p || d < 0 || s->ndim == JN_MAX_DIMS || (*end && *end != ',')) {
            fprintf(stderr, "junction perf: --shape %s: '%s' is not a list of at most %d dimensions (>= 0)\n", name,
                    colon + 1, JN_MAX_DIMS);
            return -1;
        }
        s->dims[s->ndim++] = d;
        if (!*end)
            break;
        p = end + 1;
    }
    o->n_shapes++;
    return 0;
}

/* Flags -------------------------------------------------------------------------------------------------------------- */

static char default_url[64];

static int parse_flags(int argc, char **argv, perf_opts *o)
{
    *o = (perf_opts){.version = "", .protocol = PERF_GRPC, .mode = PERF_CONCURRENCY, .start = 1, .end = 1,
                     .step = 1, .dist = PERF_CONSTANT, .data_kind = PERF_DATA_RANDOM, .batch = 1,
                     .interval_ms = 5000, .stability_pct = 10, .max_trials = 10,
                     .timeout_ms = JN_CLI_DEFAULT_TIMEOUT_MS};
    bool have_conc = false, have_rate = false, have_dist = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        long n;
        int r = 0;
#define FLAG(name) ((r = jn_cli_flag_value(CMD, argc, argv, &i, name, &v)) != 0)
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            return 1;
        } else if (strcmp(a, "--streaming") == 0) {
            o->streaming = true;
        } else if (FLAG("-m") || FLAG("--model")) {
            if (r < 0)
                return -1;
            o->model = v;
        } else if (FLAG("--model-version") || FLAG("-x")) {
            if (r < 0)
                return -1;
            o->version = v;
        } else if (FLAG("--protocol") || FLAG("-i")) {
            if (r < 0)
                return -1;
            if (strcasecmp(v, "grpc") == 0)
                o->protocol = PERF_GRPC;
            else if (strcasecmp(v, "http") == 0)
                o->protocol = PERF_HTTP;
            else
                return jn_cli_usage_error("junction perf", usage, "--protocol: '%s' is not grpc or http", v), -1;
        } else if (FLAG("-u") || FLAG("--url")) {
            if (r < 0)
                return -1;
            if (strncmp(v, "http://", 7) == 0)
                v += 7;
            if (!*v || !strchr(v, ':')) {
                fprintf(stderr, "junction perf: -u: '%s' is not HOST:PORT\n", v);
                return -1;
            }
            o->url = v;
        } else if (FLAG("--concurrency-range")) {
            if (r < 0 || parse_range("--concurrency-range", v, true, o) != 0)
                return -1;
            have_conc = true;
            o->mode = PERF_CONCURRENCY;
        } else if (FLAG("--request-rate-range")) {
            if (r < 0 || parse_range("--request-rate-range", v, false, o) != 0)
                return -1;
            have_rate = true;
            o->mode = PERF_RATE;
        } else if (FLAG("--request-distribution")) {
            if (r < 0)
                return -1;
            if (strcmp(v, "constant") == 0)
                o->dist = PERF_CONSTANT;
            else if (strcmp(v, "poisson") == 0)
                o->dist = PERF_POISSON;
            else
                return fprintf(stderr, "junction perf: --request-distribution: '%s' is not constant or poisson\n",
                               v), -1;
            have_dist = true;
        } else if (FLAG("--input-data")) {
            if (r < 0)
                return -1;
            if (strcmp(v, "random") == 0)
                o->data_kind = PERF_DATA_RANDOM;
            else if (strcmp(v, "zero") == 0)
                o->data_kind = PERF_DATA_ZERO;
            else
                o->data_kind = PERF_DATA_FILE, o->data_file = v;
        } else if (FLAG("--shape")) {
            if (r < 0 || parse_shape(v, o) != 0)
                return -1;
        } else if (FLAG("-b") || FLAG("--batch-size")) {
            if (r < 0 || parse_long("-b", v, 1, 1 << 20, &n) != 0)
                return -1;
            o->batch = n;
            o->batch_given = true;
        } else if (FLAG("-p") || FLAG("--measurement-interval")) {
            if (r < 0 || parse_long("--measurement-interval", v, 10, 3600 * 1000, &n) != 0)
                return -1;
            o->interval_ms = (int)n;
        } else if (FLAG("-s") || FLAG("--stability-percentage")) {
            if (r < 0 || parse_double("--stability-percentage", v, 0, 1000, &o->stability_pct) != 0)
                return -1;
        } else if (FLAG("-r") || FLAG("--max-trials")) {
            if (r < 0 || parse_long("--max-trials", v, 1, 100000, &n) != 0)
                return -1;
            o->max_trials = (int)n;
        } else if (FLAG("--percentile")) {
            if (r < 0 || parse_long("--percentile", v, 1, 99, &n) != 0)
                return -1;
            o->percentile = (int)n;
        } else if (FLAG("-f")) {
            if (r < 0)
                return -1;
            o->csv = v;
        } else if (FLAG("--http-client")) {
            if (r < 0)
                return -1;
            if (strcmp(v, "curl") == 0)
                o->http_curl = true;
            else if (strcmp(v, "wire") == 0)
                o->http_curl = false;
            else
                return fprintf(stderr, "junction perf: --http-client: '%s' is not wire or curl\n", v), -1;
        } else if (FLAG("--threads")) {
            if (r < 0 || parse_long("--threads", v, 1, 256, &n) != 0)
                return -1;
            o->threads = (int)n;
        } else if (FLAG("--timeout-ms")) {
            if (r < 0 || parse_long("--timeout-ms", v, 1, 24 * 3600 * 1000, &n) != 0)
                return -1;
            o->timeout_ms = (int)n;
        } else {
            jn_cli_unknown_flag(CMD, a);
            return -1;
        }
#undef FLAG
    }
    if (!o->model)
        return jn_cli_usage_error("junction perf", usage, "-m MODEL is required"), -1;
    if (have_conc && have_rate)
        return jn_cli_usage_error("junction perf", usage, "--concurrency-range and --request-rate-range exclude each other"), -1;
    if (have_dist && !have_rate)
        return jn_cli_usage_error("junction perf", usage, "--request-distribution goes with --request-rate-range"), -1;
    if (o->streaming && o->protocol != PERF_GRPC)
        return jn_cli_usage_error("junction perf", usage, "--streaming needs --protocol grpc"), -1;
    if (!o->url) {
        snprintf(default_url, sizeof default_url, "%s:%s", JN_DEFAULT_HOST,
                 o->protocol == PERF_GRPC ? JN__CLI_XSTR(JN_DEFAULT_GRPC_PORT) : DEFAULT_HTTP_PORT);
        o->url = default_url;
    }
    return 0;
}

/* Results ------------------------------------------------------------------------------------------------------------ */

typedef struct level_result {
    double level;
    double throughput;
    double avg_us, p50_us, p90_us, p95_us, p99_us, pct_us;
    size_t n_ok, n_err;
    size_t n_ok_all; /* successes in every window of the level, the first ones included */
    int windows;
    bool stable;
    char first_err[PERF_MSG];
    bool have_server;
    double queue_us, input_us, infer_us, output_us, overhead_us, cache_ratio; /* cache_ratio < 0: no lookups */
    bool have_overhead;
} level_result;

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* The p-th percentile (nearest rank) of sorted values, in us. */
static double pct_us(const uint64_t *v, size_t n, double p)
{
    if (n == 0)
        return 0;
    size_t rank = (size_t)ceil(p / 100.0 * (double)n);
    return (double)v[rank ? rank - 1 : 0] / 1000.0;
}

static double avg_us(const uint64_t *v, size_t n)
{
    double s = 0;
    for (size_t i = 0; i < n; i++)
        s += (double)v[i];
    return n ? s / (double)n / 1000.0 : 0;
}

/* The latency the stability test (and the table's "stab." column) uses: the average or the --percentile one. */
static double window_latency(const perf_opts *o, perf_window *w)
{
    qsort(w->lat_ns, w->n_ok, sizeof *w->lat_ns, cmp_u64);
    return o->percentile ? pct_us(w->lat_ns, w->n_ok, o->percentile) : avg_us(w->lat_ns, w->n_ok);
}

static bool within(const double *x, int n, double pct)
{
    double mean = 0;
    for (int i = 0; i < n; i++)
        mean += x[i];
    mean /= n;
    if (mean == 0)
        return true; /* nothing succeeded in any of them: as stable as it gets */
    for (int i = 0; i < n; i++)
        if (fabs(x[i] - mean) > mean * pct / 100.0)
            return false;
    return true;
}

static double per_call_us(perf_dur a, perf_dur b)
{
    uint64_t n = b.count - a.count;
    return n ? (double)(b.ns - a.ns) / (double)n / 1000.0 : 0;
}

static void server_side(level_result *r, const perf_server_stats *a, const perf_server_stats *b)
{
    r->have_server = true;
    r->queue_us = per_call_us(a->queue, b->queue);
    r->input_us = per_call_us(a->compute_input, b->compute_input);
    r->infer_us = per_call_us(a->compute_infer, b->compute_infer);
    r->output_us = per_call_us(a->compute_output, b->compute_output);
    r->have_overhead = b->success.count > a->success.count;
    r->overhead_us = r->have_overhead ? r->avg_us - per_call_us(a->success, b->success) : 0;
    uint64_t hits = b->cache_hit.count - a->cache_hit.count, misses = b->cache_miss.count - a->cache_miss.count;
    r->cache_ratio = hits + misses ? (double)hits / (double)(hits + misses) : -1;
}

/* Statistics around the windows: whether the server has them, and the last note printed about them. */
typedef struct stats_state {
    bool off;
    char note[PERF_MSG];
} stats_state;

static int read_stats(perf_ctx *ctx, stats_state *ss, perf_server_stats *s)
{
    if (ss->off)
        return -1;
    char msg[PERF_MSG];
    int r = ctx->tp->stats(ctx->o, s, msg, sizeof msg);
    if (r == 0)
        return 0;
    ss->off = true; /* once: a server without the extension does not grow one */
    snprintf(ss->note, sizeof ss->note, "%s", msg);
    return -1;
}

/* One level: windows until stable or --max-trials, then the last STABLE_WINDOWS windows' figures. */
static int run_level(perf_ctx *ctx, double level, stats_state *ss, level_result *r, char *msg, size_t cap)
{
    const perf_opts *o = ctx->o;
    int max = o->max_trials;
    perf_window *w = calloc((size_t)max, sizeof *w);
    perf_server_stats *st = calloc((size_t)max + 1, sizeof *st);
    bool *st_ok = calloc((size_t)max + 1, sizeof *st_ok);
    double *tp = calloc((size_t)max, sizeof *tp), *lat = calloc((size_t)max, sizeof *lat);
    if (!w || !st || !st_ok || !tp || !lat) {
        free(w), free(st), free(st_ok), free(tp), free(lat);
        snprintf(msg, cap, "out of memory");
        return -1;
    }
    memset(r, 0, sizeof *r);
    r->level = level;
    st_ok[0] = read_stats(ctx, ss, &st[0]) == 0;
    perf_load *load = jn__perf_load_start(ctx, level, msg, cap);
    if (!load) {
        free(w), free(st), free(st_ok), free(tp), free(lat);
        return -1;
    }
    int k = 0;
    for (; k < max; k++) {
        struct timespec ts = {.tv_sec = o->interval_ms / 1000, .tv_nsec = (long)(o->interval_ms % 1000) * 1000000L};
        while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
            ;
        jn__perf_load_cut(load, &w[k]);
        st_ok[k + 1] = read_stats(ctx, ss, &st[k + 1]) == 0;
        tp[k] = (double)w[k].n_ok * 1e9 / (double)(w[k].t1 - w[k].t0);
        lat[k] = window_latency(o, &w[k]);
        if (k + 1 >= STABLE_WINDOWS && within(tp + k + 1 - STABLE_WINDOWS, STABLE_WINDOWS, o->stability_pct) &&
            within(lat + k + 1 - STABLE_WINDOWS, STABLE_WINDOWS, o->stability_pct)) {
            r->stable = true;
            k++;
            break;
        }
    }
    jn__perf_load_stop(load);
    int first = k > STABLE_WINDOWS ? k - STABLE_WINDOWS : 0;
    size_t n = 0;
    for (int i = first; i < k; i++)
        n += w[i].n_ok;
    uint64_t *all = malloc((n ? n : 1) * sizeof *all);
    n = 0;
    for (int i = first; i < k; i++) {
        if (all)
            memcpy(all + n, w[i].lat_ns, w[i].n_ok * sizeof *all);
        n += w[i].n_ok;
        r->n_ok += w[i].n_ok;
        if (w[i].n_err && !r->n_err)
            snprintf(r->first_err, sizeof r->first_err, "%s", w[i].first_err);
        r->n_err += w[i].n_err;
    }
    if (!r->n_err)
        for (int i = 0; i < first; i++)
            if (w[i].n_err) {
                snprintf(r->first_err, sizeof r->first_err, "%s", w[i].first_err);
                break;
            }
    for (int i = 0; i < k; i++)
        r->n_ok_all += w[i].n_ok;
    r->windows = k;
    r->throughput = (double)r->n_ok * 1e9 / (double)(w[k - 1].t1 - w[first].t0);
    if (all) {
        qsort(all, n, sizeof *all, cmp_u64);
        r->avg_us = avg_us(all, n);
        r->p50_us = pct_us(all, n, 50);
        r->p90_us = pct_us(all, n, 90);
        r->p95_us = pct_us(all, n, 95);
        r->p99_us = pct_us(all, n, 99);
        r->pct_us = o->percentile ? pct_us(all, n, o->percentile) : r->avg_us;
    }
    if (st_ok[first] && st_ok[k])
        server_side(r, &st[first], &st[k]);
    free(all);
    for (int i = 0; i < k; i++)
        free(w[i].lat_ns);
    free(w), free(st), free(st_ok), free(tp), free(lat);
    return 0;
}

/* Output ------------------------------------------------------------------------------------------------------------- */

static void print_header(const perf_opts *o)
{
    char pct[16];
    snprintf(pct, sizeof pct, o->percentile ? "p%d us" : "avg us", o->percentile);
    printf("%12s %10s %9s %9s %9s %9s %9s %8s %8s %9s %9s %9s %9s %11s %9s\n",
           o->mode == PERF_CONCURRENCY ? "concurrency" : "rate (1/s)", "infer/s", "p50 us", "p90 us", "p95 us",
           "p99 us", pct, "errors", "stable", "queue us", "input us", "infer us", "output us", "overhead us",
           "cache hit");
    fflush(stdout);
}

static void cell(char *buf, size_t cap, bool have, double v, const char *fmt)
{
    if (have)
        snprintf(buf, cap, fmt, v);
    else
        snprintf(buf, cap, "%s", "");
}

static void print_row(const perf_opts *o, const level_result *r)
{
    char q[32], in[32], inf[32], out[32], ov[32], ch[32];
    cell(q, sizeof q, r->have_server, r->queue_us, "%.1f");
    cell(in, sizeof in, r->have_server, r->input_us, "%.1f");
    cell(inf, sizeof inf, r->have_server, r->infer_us, "%.1f");
    cell(out, sizeof out, r->have_server, r->output_us, "%.1f");
    cell(ov, sizeof ov, r->have_server && r->have_overhead, r->overhead_us, "%.0f");
    cell(ch, sizeof ch, r->have_server && r->cache_ratio >= 0, r->cache_ratio, "%.3f");
    printf("%12g %10.1f %9.0f %9.0f %9.0f %9.0f %9.0f %8zu %8s %9s %9s %9s %9s %11s %9s\n", r->level, r->throughput,
           r->p50_us, r->p90_us, r->p95_us, r->p99_us, o->percentile ? r->pct_us : r->avg_us, r->n_err,
           r->stable ? "yes" : "unstable", q[0] ? q : "-", in[0] ? in : "-", inf[0] ? inf : "-", out[0] ? out : "-",
           ov[0] ? ov : "-", ch[0] ? ch : "-");
    fflush(stdout);
}

static const char CSV_HEADER[] =
    "concurrency,request_rate,throughput_infer_per_sec,client_avg_us,client_p50_us,client_p90_us,client_p95_us,"
    "client_p99_us,client_percentile_us,requests,errors,stable,windows,server_queue_us,server_compute_input_us,"
    "server_compute_infer_us,server_compute_output_us,client_overhead_us,server_cache_hit_ratio\n";

static void csv_row(FILE *f, const perf_opts *o, const level_result *r)
{
    char q[32], in[32], inf[32], out[32], ov[32], ch[32], pc[32];
    cell(q, sizeof q, r->have_server, r->queue_us, "%.1f");
    cell(in, sizeof in, r->have_server, r->input_us, "%.1f");
    cell(inf, sizeof inf, r->have_server, r->infer_us, "%.1f");
    cell(out, sizeof out, r->have_server, r->output_us, "%.1f");
    cell(ov, sizeof ov, r->have_server && r->have_overhead, r->overhead_us, "%.1f");
    cell(ch, sizeof ch, r->have_server && r->cache_ratio >= 0, r->cache_ratio, "%.4f");
    cell(pc, sizeof pc, o->percentile != 0, r->pct_us, "%.1f");
    if (o->mode == PERF_CONCURRENCY)
        fprintf(f, "%g,,", r->level);
    else
        fprintf(f, ",%g,", r->level);
    fprintf(f, "%.2f,%.1f,%.1f,%.1f,%.1f,%.1f,%s,%zu,%zu,%d,%d,%s,%s,%s,%s,%s,%s\n", r->throughput, r->avg_us,
            r->p50_us, r->p90_us, r->p95_us, r->p99_us, pc, r->n_ok + r->n_err, r->n_err, r->stable ? 1 : 0,
            r->windows, q, in, inf, out, ov, ch);
}

static void describe_inputs(const perf_data *d)
{
    fputs("inputs:", stdout);
    const perf_entry *e = &d->entries[0];
    for (int i = 0; i < e->n; i++) {
        printf("%s %s %s[", i ? "," : "", e->t[i].name, jn_dtype_name(e->t[i].dtype));
        for (int k = 0; k < e->t[i].ndim; k++)
            printf("%s%lld", k ? "," : "", (long long)e->t[i].shape[k]);
        putchar(']');
    }
    if (d->n_entries > 1)
        printf(" (%zu data entries, sent in turn)", d->n_entries);
    putchar('\n');
}

/* The command ------------------------------------------------------------------------------------------------------- */

static int run(const perf_opts *o, perf_ctx *ctx, FILE *csv)
{
    char msg[PERF_MSG];
    stats_state ss = {0};
    size_t ok_total = 0, err_total = 0;
    printf("junction perf: model '%s' on %s (%s%s%s), %d ms windows, stability %g %%, at most %d windows per level\n",
           o->model, o->url, ctx->tp->name, o->streaming ? ", streaming" : "",
           ctx->tp == &jn__perf_http ? ", libcurl" : "", o->interval_ms, o->stability_pct,
           o->max_trials);
    describe_inputs(ctx->data);
    print_header(o);
    if (csv)
        fputs(CSV_HEADER, csv);
    for (double level = o->start; level <= o->end + 1e-9; level += o->step) {
        level_result r;
        if (run_level(ctx, level, &ss, &r, msg, sizeof msg) != 0) {
            fprintf(stderr, "junction perf: %s\n", msg);
            return JN_CLI_EXIT_FAIL;
        }
        print_row(o, &r);
        if (csv) {
            csv_row(csv, o, &r);
            fflush(csv);
        }
        if (r.n_err)
            fprintf(stderr, "junction perf: %g: %zu of %zu requests failed; the first: %s\n", level, r.n_err,
                    r.n_ok + r.n_err, r.first_err);
        ok_total += r.n_ok_all;
        err_total += r.n_err;
        if (o->step <= 0)
            break;
    }
    if (ss.off)
        fprintf(stderr, "junction perf: note: no server-side columns: %s\n", ss.note);
    if (ok_total == 0) {
        fprintf(stderr, "junction perf: every request failed (%zu in the measured windows) on %s\n", err_total,
                o->url);
        return JN_CLI_EXIT_FAIL;
    }
    return JN_CLI_EXIT_OK;
}

int jn_cmd_perf(int argc, char **argv)
{
    perf_opts o;
    int pr = parse_flags(argc, argv, &o);
    if (pr != 0) {
        for (int i = 0; i < o.n_shapes; i++)
            free((char *)o.shapes[i].name);
        return pr > 0 ? JN_CLI_EXIT_OK : JN_CLI_EXIT_USAGE;
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const perf_transport *tp = o.protocol == PERF_GRPC ? &jn__perf_grpc
                               : o.http_curl                ? &jn__perf_http
                                                            : &jn__perf_http_wire;
    perf_model model;
    memset(&model, 0, sizeof model);
    perf_data data = {0};
    perf_ctx ctx = {.o = &o, .model = &model, .data = &data, .tp = tp};
    char msg[PERF_MSG];
    int rc = JN_CLI_EXIT_FAIL;
    FILE *csv = NULL;
    if (tp->metadata(&o, &model, msg, sizeof msg) != 0) {
        fprintf(stderr, "junction perf: %s\n", msg);
        goto out;
    }
    if (jn__perf_data_build(&o, &model, &data, msg, sizeof msg) != 0) {
        fprintf(stderr, "junction perf: %s\n", msg);
        rc = JN_CLI_EXIT_USAGE; /* the inputs do not fit the flags or the data file */
        goto out;
    }
    if (tp->prepare(&ctx, msg, sizeof msg) != 0) {
        fprintf(stderr, "junction perf: %s\n", msg);
        goto out;
    }
    if (o.csv && !(csv = fopen(o.csv, "w"))) {
        fprintf(stderr, "junction perf: -f %s: %s\n", o.csv, strerror(errno));
        goto out;
    }
    rc = run(&o, &ctx, csv);
out:
    if (csv && fclose(csv) != 0) {
        fprintf(stderr, "junction perf: -f %s: %s\n", o.csv, strerror(errno));
        rc = JN_CLI_EXIT_FAIL;
    }
    tp->unprepare(&ctx);
    jn__perf_data_free(&data);
    for (int i = 0; i < o.n_shapes; i++)
        free((char *)o.shapes[i].name);
    curl_global_cleanup();
    return rc;
}
