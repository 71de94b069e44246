/* Unit tests for broker/core/metrics.c: counters and gauges move as recorded, histogram buckets are cumulative
 * with _count equal to the +Inf bucket, rendering is deterministic and escapes label values, concurrent updates
 * lose nothing, pipeline steps are counted by the runtime, and every render passes a strict checker of the text
 * format 0.0.4: what promtool's parser rejects, plus our own rules (HELP and TYPE for every family, contiguous
 * families, counters named _total, histogram buckets ascending and cumulative with _count equal to +Inf).
 *
 * The registry is process-wide and never reset, so each test uses model names of its own.
 * `test_metrics --write FILE` writes a sample render to FILE and exits (the promtool CTest reads it). */
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "builtin.h"
#include "executor.h"
#include "metrics.h"
#include "pipeline.h"
#include "test.h"

/* ---- reading a render ---- */

/* The value of the sample whose name and labels are exactly `series` (e.g. `x_total{a="b"}`); -1 if absent. */
static double sample(const char *text, const char *series)
{
    size_t n = strlen(series);
    for (const char *line = text; line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
        if (strncmp(line, series, n) == 0 && line[n] == ' ')
            return strtod(line + n + 1, NULL);
    }
    return -1;
}

static double sample_now(const char *series)
{
    char *text = jn_metrics_render(NULL);
    JN_REQUIRE(text);
    double v = sample(text, series);
    free(text);
    return v;
}

/* ---- a strict text-format 0.0.4 checker ---- */

typedef struct family {
    char name[256];
    char type[16];
    bool help, typed, sampled;
} family;

typedef struct checker {
    family fams[64];
    size_t n_fams;
    family *cur;   /* the family whose samples may follow */
    char **series; /* every name{labels} seen, to catch duplicates */
    size_t n_series;
    /* the histogram series being read: its labels without le, the last bucket's bound and count */
    char hist_key[1024];
    double last_le;
    double last_bucket;
    bool in_buckets, inf_seen, sum_seen;
    double inf_count;
    int line;
    int errors;
} checker;

static bool checker_quiet; /* while feeding the checker bad input on purpose */

static void bad(checker *c, const char *why, const char *line)
{
    c->errors++;
    if (!checker_quiet)
        jn__test_fail(__FILE__, __LINE__, "metrics line %d: %s: %.200s", c->line, why, line);
}

static bool name_char(char ch, bool first, bool colon)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || ch == '_' || (colon && ch == ':') ||
           (!first && ch >= '0' && ch <= '9');
}

/* Reads a metric (colon) or label name at *p; its length, 0 if none. */
static size_t read_name(const char **p, bool colon)
{
    const char *s = *p;
    size_t n = 0;
    while (name_char(s[n], n == 0, colon))
        n++;
    *p = s + n;
    return n;
}

static family *find_family(checker *c, const char *name, size_t n)
{
    for (size_t i = 0; i < c->n_fams; i++)
        if (strlen(c->fams[i].name) == n && strncmp(c->fams[i].name, name, n) == 0)
            return &c->fams[i];
    if (c->n_fams == sizeof c->fams / sizeof *c->fams || n >= sizeof c->fams[0].name)
        return NULL;
    family *f = &c->fams[c->n_fams++];
    memset(f, 0, sizeof *f);
    memcpy(f->name, name, n);
    return f;
}

static bool parse_value(const char *s, size_t n, double *v)
{
    char buf[64];
    if (n == 0 || n >= sizeof buf)
        return false;
    memcpy(buf, s, n);
    buf[n] = '\0';
    if (!strcmp(buf, "+Inf") || !strcmp(buf, "-Inf") || !strcmp(buf, "NaN")) {
        *v = !strcmp(buf, "NaN") ? NAN : buf[0] == '-' ? -INFINITY : INFINITY;
        return true;
    }
    char *end;
    *v = strtod(buf, &end);
    return end == buf + n && !strchr(buf, 'x') && !strchr(buf, 'X'); /* no C hex floats */
}

static void end_histogram(checker *c, const char *line)
{
    if (c->hist_key[0] && !(c->inf_seen && c->sum_seen))
        bad(c, "histogram series without its +Inf bucket, _sum or _count", line);
    c->hist_key[0] = '\0';
    c->in_buckets = c->inf_seen = c->sum_seen = false;
}

static void check_comment(checker *c, const char *line)
{
    const char *p = line + 2;
    bool help = strncmp(line, "# HELP ", 7) == 0, type = strncmp(line, "# TYPE ", 7) == 0;
    if (!help && !type)
        return; /* a plain comment */
    p = line + 7;
    const char *name = p;
    size_t n = read_name(&p, true);
    if (!n || *p != ' ') {
        bad(c, "bad metric name in HELP/TYPE", line);
        return;
    }
    family *f = find_family(c, name, n);
    if (!f) {
        bad(c, "too many families", line);
        return;
    }
    p++;
    if (help) {
        if (f->help)
            bad(c, "second HELP for a family", line);
        f->help = true;
        for (; *p; p++)
            if (*p == '\\' && p[1] != '\\' && p[1] != 'n')
                bad(c, "bad escape in HELP", line);
        return;
    }
    if (f->typed)
        bad(c, "second TYPE for a family", line);
    if (f->sampled)
        bad(c, "TYPE after the family's samples", line);
    static const char *const types[] = {"counter", "gauge", "histogram", "summary", "untyped"};
    bool known = false;
    for (size_t i = 0; i < 5; i++)
        known |= strcmp(p, types[i]) == 0;
    if (!known)
        bad(c, "unknown TYPE", line);
    snprintf(f->type, sizeof f->type, "%s", p);
    f->typed = true;
    if (c->cur && c->cur != f)
        end_histogram(c, line);
    c->cur = f;
}

static void check_sample(checker *c, const char *line)
{
    const char *p = line, *name = p;
    size_t n = read_name(&p, true);
    if (!n) {
        bad(c, "sample without a metric name", line);
        return;
    }
    family *f = c->cur;
    if (!f || !f->typed) {
        bad(c, "sample before any TYPE", line);
        return;
    }
    f->sampled = true;
    /* Which part of its family the sample is. */
    const char *suffix = "";
    size_t fl = strlen(f->name);
    if (n < fl || strncmp(name, f->name, fl) != 0) {
        bad(c, "sample outside the family its TYPE opened (families must be contiguous)", line);
        return;
    }
    suffix = name + fl;
    size_t sl = n - fl;
    bool histogram = strcmp(f->type, "histogram") == 0;
    bool bucket = histogram && sl == 7 && !strncmp(suffix, "_bucket", 7);
    bool sum = histogram && sl == 4 && !strncmp(suffix, "_sum", 4);
    bool count = histogram && sl == 6 && !strncmp(suffix, "_count", 6);
    if (histogram ? !(bucket || sum || count) : sl != 0)
        bad(c, "sample name does not belong to its family", line);
    if (!strcmp(f->type, "counter") && (fl < 6 || strcmp(f->name + fl - 6, "_total")))
        bad(c, "counter name without _total", line);

    /* Labels: name="value" pairs, escapes \\ \" \n only, no duplicate names; le kept apart. */
    char key[1024], le[64] = "";
    size_t kl = 0;
    char names[16][64];
    size_t n_names = 0;
    if (*p == '{') {
        p++;
        while (*p != '}') {
            const char *ln = p;
            size_t lnl = read_name(&p, false);
            if (!lnl || lnl >= 64 || *p != '=' || p[1] != '"') {
                bad(c, "bad label", line);
                return;
            }
            for (size_t i = 0; i < n_names; i++)
                if (strlen(names[i]) == lnl && !strncmp(names[i], ln, lnl))
                    bad(c, "duplicate label name", line);
            if (n_names < 16) {
                memcpy(names[n_names], ln, lnl);
                names[n_names++][lnl] = '\0';
            }
            if (lnl >= 2 && !strncmp(ln, "__", 2))
                bad(c, "reserved label name", line);
            p += 2;
            const char *v = p;
            for (; *p && *p != '"'; p++) {
                if (*p == '\\') {
                    if (p[1] != '\\' && p[1] != '"' && p[1] != 'n') {
                        bad(c, "bad escape in label value", line);
                        return;
                    }
                    p++;
                }
            }
            if (*p != '"') {
                bad(c, "unterminated label value", line);
                return;
            }
            bool is_le = lnl == 2 && !strncmp(ln, "le", 2);
            if (is_le) {
                snprintf(le, sizeof le, "%.*s", (int)(p - v), v);
                if (!bucket)
                    bad(c, "le label outside a _bucket sample", line);
            } else if (kl + (size_t)(p - v) + lnl + 4 < sizeof key) {
                kl += (size_t)snprintf(key + kl, sizeof key - kl, "%.*s=%.*s,", (int)lnl, ln, (int)(p - v), v);
            }
            p++;
            if (*p == ',' && p[1] != '}')
                p++;
            else if (*p != '}') {
                bad(c, "expected , or } after a label", line);
                return;
            }
        }
        p++;
    }
    if (*p != ' ') {
        bad(c, "expected one space before the value", line);
        return;
    }
    p++;
    const char *val = p;
    while (*p && *p != ' ')
        p++;
    double v;
    if (!parse_value(val, (size_t)(p - val), &v)) {
        bad(c, "value is not a float", line);
        return;
    }
    if (*p == ' ') { /* a timestamp: an integer */
        char *end;
        strtoll(p + 1, &end, 10);
        if (end == p + 1 || *end)
            bad(c, "bad timestamp", line);
    }
    if ((!strcmp(f->type, "counter") || bucket || count) && !(v >= 0))
        bad(c, "counter-like value below zero", line);

    /* No series twice (checked at the end, sorted). */
    char full[1400];
    snprintf(full, sizeof full, "%.*s{%s,le=%s}", (int)n, name, key, le);
    char **grown = realloc(c->series, (c->n_series + 1) * sizeof *grown);
    JN_REQUIRE(grown);
    c->series = grown;
    c->series[c->n_series++] = strdup(full);

    if (!histogram)
        return;
    /* Histogram: per label set, buckets in ascending le with non-decreasing counts ending at +Inf, then _sum and
     * _count; _count equals the +Inf bucket. */
    if (bucket) {
        double bound;
        if (!parse_value(le, strlen(le), &bound)) {
            bad(c, "bucket without a numeric le", line);
            return;
        }
        if (!c->in_buckets || strcmp(c->hist_key, key) != 0) {
            end_histogram(c, line);
            snprintf(c->hist_key, sizeof c->hist_key, "%s", key);
            c->in_buckets = true;
            c->last_le = -INFINITY;
            c->last_bucket = 0;
        }
        if (c->inf_seen)
            bad(c, "bucket after +Inf", line);
        if (!(bound > c->last_le))
            bad(c, "bucket bounds not ascending", line);
        if (v < c->last_bucket)
            bad(c, "buckets not cumulative", line);
        c->last_le = bound;
        c->last_bucket = v;
        if (isinf(bound)) {
            c->inf_seen = true;
            c->inf_count = v;
        }
    } else if (strcmp(c->hist_key, key) != 0 || !c->inf_seen) {
        bad(c, "_sum/_count without the buckets of the same series before it", line);
    } else if (sum) {
        c->sum_seen = true;
        if (!(v >= 0))
            bad(c, "negative _sum of durations", line);
    } else if (count) {
        if (!c->sum_seen)
            bad(c, "_count before _sum", line);
        if (v != c->inf_count)
            bad(c, "_count differs from the +Inf bucket", line);
        end_histogram(c, line);
    }
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Number of format errors in text (each reported). */
static int check_format(const char *text, size_t len)
{
    checker c;
    memset(&c, 0, sizeof c);
    JN_CHECK_INT_EQ(strlen(text), len);
    if (len == 0 || text[len - 1] != '\n')
        bad(&c, "text does not end with a newline", "");
    const char *p = text;
    while (*p) {
        const char *nl = strchr(p, '\n');
        size_t n = nl ? (size_t)(nl - p) : strlen(p);
        char *line = malloc(n + 1);
        JN_REQUIRE(line);
        memcpy(line, p, n);
        line[n] = '\0';
        c.line++;
        if (n == 0)
            bad(&c, "empty line", line);
        else if (line[0] == '#')
            check_comment(&c, line);
        else
            check_sample(&c, line);
        free(line);
        p += n + (nl ? 1 : 0);
    }
    end_histogram(&c, "(end)");
    if (c.n_series)
        qsort(c.series, c.n_series, sizeof *c.series, cmp_str);
    for (size_t i = 1; i < c.n_series; i++)
        if (!strcmp(c.series[i - 1], c.series[i]))
            bad(&c, "duplicate series", c.series[i]);
    for (size_t i = 0; i < c.n_fams; i++)
        if (!c.fams[i].help || !c.fams[i].typed)
            bad(&c, "family without HELP or TYPE", c.fams[i].name);
    for (size_t i = 0; i < c.n_series; i++)
        free(c.series[i]);
    free(c.series);
    return c.errors;
}

static void test_checker_catches_mistakes(void)
{
    /* The checker must fail what promtool would fail; otherwise passing it proves nothing. */
    static const char *const wrong[] = {
        "x_total 1\n",                                                       /* no TYPE */
        "# HELP x_total h\n# TYPE x_total counter\nx_total{a=\"b\\t\"} 1\n", /* bad escape */
        "# HELP x h\n# TYPE x gauge\nx{a=\"1\",a=\"2\"} 1\n",                /* duplicate label */
        "# HELP x h\n# TYPE x gauge\nx 1\nx 2\n",                            /* duplicate series */
        "# HELP x h\n# TYPE x gauge\nx one\n",                               /* not a float */
        "# HELP h h\n# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_bucket{le=\"+Inf\"} 1\nh_sum 1\nh_count 1\n",
        "# HELP h h\n# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_bucket{le=\"+Inf\"} 2\nh_sum 1\nh_count 3\n",
        "# HELP h h\n# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_sum 1\nh_count 1\n", /* no +Inf */
        "# HELP x h\n# TYPE x gauge\n# HELP y h\n# TYPE y gauge\ny 1\nx 1\n",         /* not contiguous */
        "# HELP x h\n# TYPE x counter\nx 1\n",                                        /* counter without _total */
        "# HELP x h\n# TYPE x gauge\nx 1",                                            /* no final newline */
    };
    checker_quiet = true;
    for (size_t i = 0; i < sizeof wrong / sizeof *wrong; i++) {
        int errors = check_format(wrong[i], strlen(wrong[i]));
        if (errors == 0)
            jn__test_fail(__FILE__, __LINE__, "checker accepted bad input %zu: %s", i, wrong[i]);
    }
    checker_quiet = false;
    const char *right = "# HELP h h\n# TYPE h histogram\nh_bucket{a=\"x\\\\\\\"\\n\",le=\"0.5\"} 1\n"
                        "h_bucket{a=\"x\\\\\\\"\\n\",le=\"+Inf\"} 1\nh_sum{a=\"x\\\\\\\"\\n\"} 0.25\n"
                        "h_count{a=\"x\\\\\\\"\\n\"} 1\n";
    JN_CHECK_INT_EQ(check_format(right, strlen(right)), 0);
}

/* ---- the registry ---- */

static void test_model_counters(void)
{
    jn_model_stats *m = jn_metrics_model("t_counters");
    JN_REQUIRE(m);
    JN_CHECK_PTR_EQ(jn_metrics_model("t_counters"), m);
    JN_CHECK(jn_metrics_model("t_counters_other") != m);

    /* Series exist, at zero, as soon as the model does. */
    JN_CHECK_DBL_EQ(sample_now("junction_requests_total{model=\"t_counters\",frontend=\"grpc\",outcome=\"success\"}"),
                    0);
    JN_CHECK_DBL_EQ(sample_now("junction_requests_in_flight{model=\"t_counters\"}"), 0);

    jn_metrics_request_begin(m);
    jn_metrics_request_begin(m);
    jn_metrics_request_begin(m);
    JN_CHECK_DBL_EQ(sample_now("junction_requests_in_flight{model=\"t_counters\"}"), 3);
    jn_metrics_request_end(m, JN_METRICS_GRPC, true, 1000, 2000, 5000);
    jn_metrics_request_end(m, JN_METRICS_GRPC, true, 1000, 2000, 5000);
    jn_metrics_request_end(m, JN_METRICS_HTTP, false, -1, -1, 5000);

    char *text = jn_metrics_render(NULL);
    JN_REQUIRE(text);
    JN_CHECK_DBL_EQ(sample(text, "junction_requests_total{model=\"t_counters\",frontend=\"grpc\",outcome=\"success\"}"),
                    2);
    JN_CHECK_DBL_EQ(sample(text, "junction_requests_total{model=\"t_counters\",frontend=\"grpc\",outcome=\"failure\"}"),
                    0);
    JN_CHECK_DBL_EQ(sample(text, "junction_requests_total{model=\"t_counters\",frontend=\"http\",outcome=\"success\"}"),
                    0);
    JN_CHECK_DBL_EQ(sample(text, "junction_requests_total{model=\"t_counters\",frontend=\"http\",outcome=\"failure\"}"),
                    1);
    JN_CHECK_DBL_EQ(sample(text, "junction_requests_in_flight{model=\"t_counters\"}"), 0);
    /* A refused request (negative phases) is observed in total only. */
    JN_CHECK_DBL_EQ(sample(text, "junction_request_duration_seconds_count{model=\"t_counters\",phase=\"queue\"}"), 2);
    JN_CHECK_DBL_EQ(sample(text, "junction_request_duration_seconds_count{model=\"t_counters\",phase=\"compute\"}"), 2);
    JN_CHECK_DBL_EQ(sample(text, "junction_request_duration_seconds_count{model=\"t_counters\",phase=\"total\"}"), 3);
    JN_CHECK_STR_CONTAINS(text, "junction_request_duration_seconds_sum{model=\"t_counters\",phase=\"total\"} "
                                "0.000015000\n");
    JN_CHECK_STR_CONTAINS(text, "# TYPE junction_requests_total counter\n");
    JN_CHECK_STR_CONTAINS(text, "# TYPE junction_requests_in_flight gauge\n");
    JN_CHECK_STR_CONTAINS(text, "# TYPE junction_request_duration_seconds histogram\n");
    free(text);

    double grpc = sample_now("junction_requests_unknown_model_total{frontend=\"grpc\"}");
    double http = sample_now("junction_requests_unknown_model_total{frontend=\"http\"}");
    JN_CHECK(grpc >= 0 && http >= 0);
    jn_metrics_unknown_model(JN_METRICS_GRPC);
    jn_metrics_unknown_model(JN_METRICS_GRPC);
    jn_metrics_unknown_model(JN_METRICS_HTTP);
    JN_CHECK_DBL_EQ(sample_now("junction_requests_unknown_model_total{frontend=\"grpc\"}"), grpc + 2);
    JN_CHECK_DBL_EQ(sample_now("junction_requests_unknown_model_total{frontend=\"http\"}"), http + 1);

    /* NULL stats (out of memory at lookup) are accepted and ignored. */
    jn_metrics_request_begin(NULL);
    jn_metrics_request_end(NULL, JN_METRICS_GRPC, true, 1, 1, 1);
    jn_metrics_step_record(NULL, true, 1);
}

static void test_histogram_buckets(void)
{
    jn_model_stats *m = jn_metrics_model("t_hist");
    JN_REQUIRE(m);
    const int64_t ms = 1000000, s = 1000000000;
    /* Bounds are inclusive: 0.1 ms lands in le="0.0001"; 10 s in le="10"; 20 s only in +Inf. */
    jn_metrics_request_begin(m);
    jn_metrics_request_end(m, JN_METRICS_GRPC, true, 0, ms / 10, 10 * s);
    jn_metrics_request_begin(m);
    jn_metrics_request_end(m, JN_METRICS_GRPC, true, 0, 3 * ms / 10, 20 * s);
    jn_metrics_request_begin(m);
    jn_metrics_request_end(m, JN_METRICS_GRPC, true, 0, ms / 10 + 1, 3 * s);

    char *text = jn_metrics_render(NULL);
    JN_REQUIRE(text);
#define B(phase, le)                                                                                                   \
    sample(text, "junction_request_duration_seconds_bucket{model=\"t_hist\",phase=\"" phase "\",le=\"" le "\"}")
    JN_CHECK_DBL_EQ(B("queue", "0.0001"), 3); /* zero durations are observed, in the first bucket */
    JN_CHECK_DBL_EQ(B("compute", "0.0001"), 1);
    JN_CHECK_DBL_EQ(B("compute", "0.00025"), 2);
    JN_CHECK_DBL_EQ(B("compute", "0.0005"), 3);
    JN_CHECK_DBL_EQ(B("compute", "10"), 3);
    JN_CHECK_DBL_EQ(B("compute", "+Inf"), 3);
    JN_CHECK_DBL_EQ(B("total", "2.5"), 0);
    JN_CHECK_DBL_EQ(B("total", "5"), 1);
    JN_CHECK_DBL_EQ(B("total", "10"), 2);
    JN_CHECK_DBL_EQ(B("total", "+Inf"), 3);
#undef B
    JN_CHECK_DBL_EQ(sample(text, "junction_request_duration_seconds_count{model=\"t_hist\",phase=\"total\"}"), 3);
    JN_CHECK_STR_CONTAINS(text,
                          "junction_request_duration_seconds_sum{model=\"t_hist\",phase=\"total\"} 33.000000000\n");
    JN_CHECK_STR_CONTAINS(text,
                          "junction_request_duration_seconds_sum{model=\"t_hist\",phase=\"compute\"} 0.000500001\n");

    /* Every bucket line of this series, in order: 17 of them, cumulative. */
    const char *prefix = "junction_request_duration_seconds_bucket{model=\"t_hist\",phase=\"compute\",le=\"";
    static const char *const les[] = {"0.0001", "0.00025", "0.0005", "0.001", "0.0025", "0.005",
                                      "0.01",   "0.025",   "0.05",   "0.1",   "0.25",   "0.5",
                                      "1",      "2.5",     "5",      "10",    "+Inf"};
    const char *at = strstr(text, prefix);
    double last = 0;
    for (size_t i = 0; i < sizeof les / sizeof *les; i++) {
        JN_REQUIRE(at && strncmp(at, prefix, strlen(prefix)) == 0);
        at += strlen(prefix);
        JN_CHECK(strncmp(at, les[i], strlen(les[i])) == 0 && at[strlen(les[i])] == '"');
        double v = strtod(strchr(at, ' ') + 1, NULL);
        JN_CHECK(v >= last);
        last = v;
        at = strchr(at, '\n') + 1;
    }
    const char *sum = "junction_request_duration_seconds_sum{model=\"t_hist\",phase=\"compute\"} ";
    JN_CHECK(strncmp(at, sum, strlen(sum)) == 0);
    free(text);
}

static void test_batch_and_cache(void)
{
    jn_model_stats *m = jn_metrics_model("t_batch");
    JN_REQUIRE(m);
    /* Series exist, at zero, as soon as the model does. */
    JN_CHECK_DBL_EQ(sample_now("junction_model_batch_size_count{model=\"t_batch\"}"), 0);
    JN_CHECK_DBL_EQ(sample_now("junction_model_batch_size_bucket{model=\"t_batch\",le=\"+Inf\"}"), 0);
    JN_CHECK_DBL_EQ(sample_now("junction_model_cache_hits_total{model=\"t_batch\"}"), 0);
    JN_CHECK_DBL_EQ(sample_now("junction_model_cache_misses_total{model=\"t_batch\"}"), 0);

    /* Bounds are inclusive: 1 in le="1", 3 in le="4", 256 in le="256", 300 only in +Inf; 0 rows not observed. */
    static const uint64_t rows[] = {1, 1, 3, 8, 256, 300, 0};
    for (size_t i = 0; i < sizeof rows / sizeof *rows; i++)
        jn_metrics_batch(m, rows[i]);
    jn_metrics_cache(m, true);
    jn_metrics_cache(m, true);
    jn_metrics_cache(m, true);
    jn_metrics_cache(m, false);
    jn_metrics_batch(NULL, 4); /* NULL stats (out of memory at lookup) are accepted and ignored */
    jn_metrics_cache(NULL, true);

    char *text = jn_metrics_render(NULL);
    JN_REQUIRE(text);
    static const char *const les[] = {"1", "2", "4", "8", "16", "32", "64", "128", "256", "+Inf"};
    static const double want[] = {2, 2, 3, 4, 4, 4, 4, 4, 5, 6};
    const char *prefix = "junction_model_batch_size_bucket{model=\"t_batch\",le=\"";
    const char *at = strstr(text, prefix);
    for (size_t i = 0; i < sizeof les / sizeof *les; i++) { /* every bucket, in order, cumulative */
        JN_REQUIRE(at && strncmp(at, prefix, strlen(prefix)) == 0);
        at += strlen(prefix);
        JN_CHECK(strncmp(at, les[i], strlen(les[i])) == 0 && at[strlen(les[i])] == '"');
        JN_CHECK_DBL_EQ(strtod(strchr(at, ' ') + 1, NULL), want[i]);
        at = strchr(at, '\n') + 1;
    }
    JN_CHECK_STR_CONTAINS(text, "junction_model_batch_size_sum{model=\"t_batch\"} 569\n");
    JN_CHECK_STR_CONTAINS(text, "junction_model_batch_size_count{model=\"t_batch\"} 6\n");
    JN_CHECK_STR_CONTAINS(text, "# TYPE junction_model_batch_size histogram\n");
    JN_CHECK_STR_CONTAINS(text, "# TYPE junction_model_cache_hits_total counter\n");
    JN_CHECK_STR_CONTAINS(text, "# TYPE junction_model_cache_misses_total counter\n");
    JN_CHECK_DBL_EQ(sample(text, "junction_model_cache_hits_total{model=\"t_batch\"}"), 3);
    JN_CHECK_DBL_EQ(sample(text, "junction_model_cache_misses_total{model=\"t_batch\"}"), 1);
    JN_CHECK_INT_EQ(check_format(text, strlen(text)), 0);
    free(text);
}

static void test_steps_and_streams(void)
{
    jn_step_stats *a = jn_metrics_step("t_pipe", "a");
    JN_REQUIRE(a);
    JN_CHECK_PTR_EQ(jn_metrics_step("t_pipe", "a"), a);
    JN_CHECK(jn_metrics_step("t_pipe", "b") != a);
    JN_CHECK(jn_metrics_step("t_pipe2", "a") != a);
    /* The key is the pair, not a concatenation. */
    JN_CHECK(jn_metrics_step("t_p", "ipea") != jn_metrics_step("t_pi", "pea"));
    jn_metrics_step_record(a, true, 2000000);
    jn_metrics_step_record(a, true, 2000000);
    jn_metrics_step_record(a, false, 30000000);

    jn_metrics_stream_opened("t_proto");
    jn_metrics_stream_opened("t_proto");
    jn_metrics_stream_opened("t_proto");
    jn_metrics_stream_closed("t_proto");

    char *text = jn_metrics_render(NULL);
    JN_REQUIRE(text);
    JN_CHECK_DBL_EQ(
        sample(text, "junction_pipeline_step_runs_total{pipeline=\"t_pipe\",step=\"a\",outcome=\"success\"}"), 2);
    JN_CHECK_DBL_EQ(
        sample(text, "junction_pipeline_step_runs_total{pipeline=\"t_pipe\",step=\"a\",outcome=\"failure\"}"), 1);
    JN_CHECK_DBL_EQ(
        sample(text, "junction_pipeline_step_duration_seconds_bucket{pipeline=\"t_pipe\",step=\"a\",le=\"0.0025\"}"),
        2);
    JN_CHECK_DBL_EQ(
        sample(text, "junction_pipeline_step_duration_seconds_bucket{pipeline=\"t_pipe\",step=\"a\",le=\"0.025\"}"), 2);
    JN_CHECK_DBL_EQ(
        sample(text, "junction_pipeline_step_duration_seconds_bucket{pipeline=\"t_pipe\",step=\"a\",le=\"0.05\"}"), 3);
    JN_CHECK_DBL_EQ(sample(text, "junction_pipeline_step_duration_seconds_count{pipeline=\"t_pipe\",step=\"a\"}"), 3);
    JN_CHECK_STR_CONTAINS(text, "junction_pipeline_step_duration_seconds_sum{pipeline=\"t_pipe\",step=\"a\"} "
                                "0.034000000\n");
    JN_CHECK_DBL_EQ(sample(text, "junction_open_streams{protocol=\"t_proto\"}"), 2);
    JN_CHECK_DBL_EQ(sample(text, "junction_streams_total{protocol=\"t_proto\"}"), 3);
    free(text);
}

static void *wait_for(void *mu)
{
    pthread_mutex_lock(mu);
    pthread_mutex_unlock(mu);
    return NULL;
}

static void test_process_gauges(void)
{
    char *text = jn_metrics_render(NULL);
    JN_REQUIRE(text);
    JN_CHECK(sample(text, "process_resident_memory_bytes") > 1024 * 1024 / 4);
    JN_CHECK(sample(text, "process_threads") >= 1);
    double start = sample(text, "process_start_time_seconds");
    JN_CHECK(start > 1.5e9); /* after 2017 */
    double up = sample(text, "junction_uptime_seconds");
    JN_CHECK(up >= 0 && up < 600);
    JN_CHECK_STR_CONTAINS(text, "# TYPE process_resident_memory_bytes gauge\n");
    JN_CHECK_STR_CONTAINS(text, "# TYPE junction_uptime_seconds gauge\n");
    free(text);

    /* Threads are counted live. */
    char *before = jn_metrics_render(NULL);
    JN_REQUIRE(before);
    double n0 = sample(before, "process_threads");
    free(before);
    pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
    pthread_mutex_lock(&mu);
    pthread_t t;
    JN_REQUIRE(pthread_create(&t, NULL, wait_for, &mu) == 0);
    JN_CHECK(sample_now("process_threads") >= n0 + 1); /* sanitizers may start a thread of their own */
    pthread_mutex_unlock(&mu);
    pthread_join(t, NULL);
}

static void test_label_escaping(void)
{
    const char *name = "t_esc \"quoted\" back\\slash\nnewline";
    jn_model_stats *m = jn_metrics_model(name);
    JN_REQUIRE(m);
    JN_CHECK(jn_metrics_model("t_esc \"quoted\" back\\slash") != m);
    jn_metrics_request_begin(m);
    jn_metrics_request_end(m, JN_METRICS_GRPC, true, 1, 1, 1);
    jn_metrics_step_record(jn_metrics_step("t_esc\"p", "s\\1\n"), true, 1);
    jn_metrics_stream_opened("t_esc\n");
    char *text = jn_metrics_render(NULL);
    JN_REQUIRE(text);
    JN_CHECK_DBL_EQ(sample(text, "junction_requests_total{model=\"t_esc \\\"quoted\\\" back\\\\slash\\nnewline\","
                                 "frontend=\"grpc\",outcome=\"success\"}"),
                    1);
    JN_CHECK_DBL_EQ(sample(text, "junction_pipeline_step_runs_total{pipeline=\"t_esc\\\"p\",step=\"s\\\\1\\n\","
                                 "outcome=\"success\"}"),
                    1);
    JN_CHECK_DBL_EQ(sample(text, "junction_open_streams{protocol=\"t_esc\\n\"}"), 1);
    /* No raw newline leaked into a line: every line starts with a metric name or '#'. */
    for (const char *p = text; *p; p = strchr(p, '\n') + 1)
        JN_CHECK(*p == '#' || (*p >= 'a' && *p <= 'z'));
    free(text);
}

static void test_deterministic_order(void)
{
    /* Created out of order; rendered sorted by name (byte order), whatever the creation order. */
    JN_REQUIRE(jn_metrics_model("t_order_b"));
    JN_REQUIRE(jn_metrics_model("t_order_B"));
    JN_REQUIRE(jn_metrics_model("t_order_a"));
    JN_REQUIRE(jn_metrics_step("t_order_p", "z"));
    JN_REQUIRE(jn_metrics_step("t_order_p", "y"));
    size_t len1, len2;
    char *one = jn_metrics_render(&len1);
    char *two = jn_metrics_render(&len2);
    JN_REQUIRE(one && two);
    JN_CHECK_INT_EQ(strlen(one), len1);
    /* Identical up to the process gauges, which are last and move on their own. */
    char *p1 = strstr(one, "# HELP process_"), *p2 = strstr(two, "# HELP process_");
    JN_REQUIRE(p1 && p2);
    JN_CHECK_INT_EQ(p1 - one, p2 - two);
    JN_CHECK(memcmp(one, two, (size_t)(p1 - one)) == 0);
    const char *B = strstr(one, "junction_requests_in_flight{model=\"t_order_B\"}");
    const char *a = strstr(one, "junction_requests_in_flight{model=\"t_order_a\"}");
    const char *b = strstr(one, "junction_requests_in_flight{model=\"t_order_b\"}");
    JN_CHECK(B && a && b && B < a && a < b);
    const char *y = strstr(one, "junction_pipeline_step_runs_total{pipeline=\"t_order_p\",step=\"y\"");
    const char *z = strstr(one, "junction_pipeline_step_runs_total{pipeline=\"t_order_p\",step=\"z\"");
    JN_CHECK(y && z && y < z);
    /* Families in a fixed order. */
    static const char *const families[] = {
        "junction_requests_total",
        "junction_requests_unknown_model_total",
        "junction_requests_in_flight",
        "junction_request_duration_seconds",
        "junction_model_batch_size",
        "junction_model_cache_hits_total",
        "junction_model_cache_misses_total",
        "junction_pipeline_step_runs_total",
        "junction_pipeline_step_duration_seconds",
        "junction_open_streams",
        "junction_streams_total",
        "process_resident_memory_bytes",
        "process_threads",
        "process_start_time_seconds",
        "junction_uptime_seconds",
    };
    const char *prev = one;
    for (size_t i = 0; i < sizeof families / sizeof *families; i++) {
        char help[128];
        snprintf(help, sizeof help, "# HELP %s ", families[i]);
        const char *at = strstr(one, help);
        JN_CHECK_STR_CONTAINS(one, help);
        JN_CHECK(at && at >= prev);
        prev = at ? at : prev;
    }
    free(one);
    free(two);
}

/* ---- concurrency ---- */

enum { N_THREADS = 8, N_ITER = 20000, N_NAMES = 40 };

static atomic_int stop_rendering, rendering;

static void *hammer(void *arg)
{
    long id = (long)arg;
    for (int i = 0; i < N_ITER; i++) {
        jn_model_stats *m = jn_metrics_model("t_conc"); /* every lookup, as a front end does per request */
        jn_metrics_request_begin(m);
        jn_metrics_request_end(m, (i & 1) ? JN_METRICS_HTTP : JN_METRICS_GRPC, i % 3 != 0, i, 2 * i, 3 * i);
        jn_metrics_step_record(jn_metrics_step("t_conc_pipe", "s"), true, i);
        if (i < N_NAMES) { /* inserts racing lookups and renders */
            char name[64];
            snprintf(name, sizeof name, "t_conc_%ld_%d", id, i);
            jn_metrics_request_begin(jn_metrics_model(name));
            jn_metrics_stream_opened(name);
        }
    }
    return NULL;
}

static void *render_loop(void *arg)
{
    long *renders = arg;
    atomic_store(&rendering, 1);
    do {
        size_t len;
        char *text = jn_metrics_render(&len);
        JN_REQUIRE(text);
        JN_CHECK_INT_EQ(check_format(text, len), 0);
        free(text);
        (*renders)++;
    } while (!atomic_load(&stop_rendering));
    return NULL;
}

static void test_concurrent_updates(void)
{
    pthread_t t[N_THREADS], r;
    long renders = 0;
    atomic_store(&stop_rendering, 0);
    JN_REQUIRE(pthread_create(&r, NULL, render_loop, &renders) == 0);
    while (!atomic_load(&rendering)) /* renders must overlap the updates */
        sched_yield();
    for (long i = 0; i < N_THREADS; i++)
        JN_REQUIRE(pthread_create(&t[i], NULL, hammer, (void *)i) == 0);
    for (int i = 0; i < N_THREADS; i++)
        pthread_join(t[i], NULL);
    atomic_store(&stop_rendering, 1);
    pthread_join(r, NULL);
    JN_CHECK(renders > 0);

    char *text = jn_metrics_render(NULL);
    JN_REQUIRE(text);
    double total = 0;
    static const char *const fo[] = {"grpc\",outcome=\"success", "grpc\",outcome=\"failure", "http\",outcome=\"success",
                                     "http\",outcome=\"failure"};
    double per[4];
    for (int k = 0; k < 4; k++) {
        char series[160];
        snprintf(series, sizeof series, "junction_requests_total{model=\"t_conc\",frontend=\"%s\"}", fo[k]);
        per[k] = sample(text, series);
        total += per[k];
    }
    JN_CHECK_DBL_EQ(total, (double)N_THREADS * N_ITER);
    /* Per thread: i odd -> http, i % 3 == 0 -> failure. Over i in 0..N_ITER-1: */
    long gs = 0, gf = 0, hs = 0, hf = 0;
    for (int i = 0; i < N_ITER; i++) {
        bool http = i & 1, fail = i % 3 == 0;
        *(http ? (fail ? &hf : &hs) : (fail ? &gf : &gs)) += 1;
    }
    JN_CHECK_DBL_EQ(per[0], (double)N_THREADS * gs);
    JN_CHECK_DBL_EQ(per[1], (double)N_THREADS * gf);
    JN_CHECK_DBL_EQ(per[2], (double)N_THREADS * hs);
    JN_CHECK_DBL_EQ(per[3], (double)N_THREADS * hf);
    JN_CHECK_DBL_EQ(sample(text, "junction_requests_in_flight{model=\"t_conc\"}"), 0);
    JN_CHECK_DBL_EQ(sample(text, "junction_request_duration_seconds_count{model=\"t_conc\",phase=\"compute\"}"),
                    (double)N_THREADS * N_ITER);
    JN_CHECK_DBL_EQ(
        sample(text, "junction_request_duration_seconds_bucket{model=\"t_conc\",phase=\"compute\",le=\"+Inf\"}"),
        (double)N_THREADS * N_ITER);
    /* sum of 3i ns over i, per thread */
    uint64_t sum_ns = (uint64_t)N_THREADS * 3 * ((uint64_t)N_ITER * (N_ITER - 1) / 2);
    char want[200];
    snprintf(want, sizeof want,
             "junction_request_duration_seconds_sum{model=\"t_conc\",phase=\"total\"} %" PRIu64 ".%09" PRIu64 "\n",
             sum_ns / 1000000000u, sum_ns % 1000000000u);
    JN_CHECK_STR_CONTAINS(text, want);
    JN_CHECK_DBL_EQ(sample(text, "junction_pipeline_step_runs_total{pipeline=\"t_conc_pipe\",step=\"s\","
                                 "outcome=\"success\"}"),
                    (double)N_THREADS * N_ITER);
    for (long id = 0; id < N_THREADS; id++) {
        for (int i = 0; i < N_NAMES; i++) {
            char series[128];
            snprintf(series, sizeof series, "junction_requests_in_flight{model=\"t_conc_%ld_%d\"}", id, i);
            JN_CHECK_DBL_EQ(sample(text, series), 1);
            snprintf(series, sizeof series, "junction_streams_total{protocol=\"t_conc_%ld_%d\"}", id, i);
            JN_CHECK_DBL_EQ(sample(text, series), 1);
        }
    }
    JN_CHECK_INT_EQ(check_format(text, strlen(text)), 0);
    free(text);
}

/* ---- the pipeline runtime records its steps ---- */

static int run_pipeline(jn_registry *reg, const char *name, const char *burn_ms)
{
    jn_request req;
    jn_request_init(&req);
    JN_REQUIRE(jn_request_set_target(&req, name, NULL, "r") == 0);
    const int64_t shape[] = {1, 2};
    jn_tensor *t = jn_tensor_create("x", JN_DTYPE_FP32, 2, shape, NULL);
    JN_REQUIRE(t && jn_tensor_list_push(&req.inputs, t) == 0);
    if (burn_ms)
        JN_REQUIRE(jn_params_set_string(&req.params, "burn_ms", burn_ms) == 0);
    jn_err err;
    jn_err_clear(&err);
    jn_engine *e = NULL;
    int rc = jn_exec_prepare(reg, &req, &e, &err);
    jn_tensor_list out;
    jn_tensor_list_init(&out);
    if (!rc)
        rc = jn_exec_run(e, &req, NULL, NULL, &out, &err);
    jn_engine_unref(e);
    jn_tensor_list_clear(&out);
    jn_request_clear(&req);
    return rc;
}

static int count_partial(void *arg, jn_tensor_list *partial, jn_err *err)
{
    (*(int *)arg)++;
    jn_tensor_list_clear(partial);
    return 0;
}

static void test_pipeline_steps_recorded(void)
{
    jn_registry *reg = jn_registry_create();
    JN_REQUIRE(reg);
    jn_builtin_options opt = {0};
    jn_err err;
    JN_REQUIRE(jn_builtin_register_all(reg, &opt, &err) == 0);
    JN_REQUIRE(jn_builtin_register_pipelines(reg, &err) == 0);

    /* Nothing is registered for a pipeline before its first run. */
    JN_CHECK_DBL_EQ(sample_now("junction_pipeline_step_runs_total{pipeline=\"demo-chain\",step=\"a\","
                               "outcome=\"success\"}"),
                    -1);
    for (int i = 0; i < 3; i++)
        JN_CHECK_INT_EQ(run_pipeline(reg, "demo-chain", NULL), 0);
    /* demo-fanout's burn step fails on a burn_ms that is not a number. */
    JN_CHECK_INT_EQ(run_pipeline(reg, "demo-fanout", "fast"), JN_EINVAL);

    char *text = jn_metrics_render(NULL);
    JN_REQUIRE(text);
    JN_CHECK_DBL_EQ(
        sample(text, "junction_pipeline_step_runs_total{pipeline=\"demo-chain\",step=\"a\",outcome=\"success\"}"), 3);
    JN_CHECK_DBL_EQ(
        sample(text, "junction_pipeline_step_runs_total{pipeline=\"demo-chain\",step=\"b\",outcome=\"success\"}"), 3);
    JN_CHECK_DBL_EQ(
        sample(text, "junction_pipeline_step_runs_total{pipeline=\"demo-chain\",step=\"b\",outcome=\"failure\"}"), 0);
    JN_CHECK_DBL_EQ(sample(text, "junction_pipeline_step_duration_seconds_count{pipeline=\"demo-chain\",step=\"b\"}"),
                    3);
    JN_CHECK_DBL_EQ(
        sample(text, "junction_pipeline_step_runs_total{pipeline=\"demo-fanout\",step=\"b\",outcome=\"failure\"}"), 1);
    /* The executor alone records no per-model request: that is the front ends' job. */
    JN_CHECK(!strstr(text, "junction_requests_in_flight{model=\"demo-chain\"}"));
    free(text);

    /* The streaming step counts once per request whether the answer is streamed or whole. */
    for (int streamed = 0; streamed < 2; streamed++) {
        jn_request req;
        jn_request_init(&req);
        JN_REQUIRE(jn_request_set_target(&req, "demo-tokens", NULL, "r") == 0);
        const char *words[] = {"one two three"};
        const size_t lens[] = {strlen(words[0])};
        const int64_t shape[] = {1};
        jn_tensor *t = jn_tensor_from_strings("text", 1, shape, words, lens, 1, NULL);
        JN_REQUIRE(t && jn_tensor_list_push(&req.inputs, t) == 0);
        jn_engine *e = NULL;
        JN_REQUIRE(jn_exec_prepare(reg, &req, &e, &err) == 0);
        int partials = 0;
        if (streamed) {
            JN_CHECK_INT_EQ(jn_exec_run_stream(e, &req, NULL, NULL, count_partial, &partials, &err), 0);
            JN_CHECK(partials > 1);
        } else {
            jn_tensor_list out;
            jn_tensor_list_init(&out);
            JN_CHECK_INT_EQ(jn_exec_run(e, &req, NULL, NULL, &out, &err), 0);
            jn_tensor_list_clear(&out);
        }
        jn_engine_unref(e);
        jn_request_clear(&req);
        JN_CHECK_DBL_EQ(sample_now("junction_pipeline_step_runs_total{pipeline=\"demo-tokens\",step=\"t\","
                                   "outcome=\"success\"}"),
                        streamed + 1);
    }
    jn_registry_destroy(reg);
}

/* ---- the whole render, through the checker ---- */

static void fill_sample(void)
{
    jn_model_stats *m = jn_metrics_model("sample-model");
    jn_metrics_request_begin(m);
    jn_metrics_request_end(m, JN_METRICS_GRPC, true, 50000, 1200000, 1400000);
    jn_metrics_request_begin(m);
    jn_metrics_request_end(m, JN_METRICS_HTTP, false, -1, -1, 90000);
    jn_metrics_request_begin(m);
    jn_metrics_request_begin(jn_metrics_model("odd \"name\" \\ with\nnewline"));
    jn_metrics_batch(m, 1);
    jn_metrics_batch(m, 24);
    jn_metrics_batch(m, 1000);
    jn_metrics_cache(m, true);
    jn_metrics_cache(m, false);
    jn_metrics_unknown_model(JN_METRICS_GRPC);
    jn_metrics_step_record(jn_metrics_step("sample-pipe", "a"), true, 700000);
    jn_metrics_step_record(jn_metrics_step("sample-pipe", "b"), false, 12000000000);
    jn_metrics_stream_opened("junction.v1");
    jn_metrics_stream_opened("inference.v2");
    jn_metrics_stream_closed("inference.v2");
}

static void test_render_format(void)
{
    fill_sample();
    size_t len;
    char *text = jn_metrics_render(&len);
    JN_REQUIRE(text);
    JN_CHECK_INT_EQ(check_format(text, len), 0);
    free(text);
}

/* The read-only views front ends draw from (metrics.h): they never create an entry, and they add up what the text
 * shows (every front end, every step shard). */
static void test_views(void)
{
    jn_metrics_model_view v;
    JN_CHECK(!jn_metrics_model_view_get("view-never-seen", &v));
    JN_CHECK_INT_EQ(v.ok + v.failed, 0);
    char *text = jn_metrics_render(NULL);
    JN_REQUIRE(text);
    JN_CHECK(strstr(text, "view-never-seen") == NULL); /* looking did not create it */
    free(text);

    jn_model_stats *st = jn_metrics_model("view-model");
    jn_metrics_request_begin(st);
    jn_metrics_request_end(st, JN_METRICS_GRPC, true, 10, 20, 300000); /* (0.25, 0.5] ms */
    jn_metrics_request_begin(st);
    jn_metrics_request_end(st, JN_METRICS_HTTP, false, 10, 20, 300000);
    jn_metrics_request_begin(st); /* still in flight */
    JN_REQUIRE(jn_metrics_model_view_get("view-model", &v));
    JN_CHECK_INT_EQ(v.ok, 1);
    JN_CHECK_INT_EQ(v.failed, 1);
    JN_CHECK_INT_EQ(v.in_flight, 1);
    JN_CHECK_INT_EQ(v.total.count[2], 2);
    JN_CHECK_INT_EQ(v.total.sum_ns, 600000);
    JN_CHECK_INT_EQ(jn_metrics_bounds_ns()[2], 500000);
    jn_metrics_request_end(st, JN_METRICS_HTTP, true, -1, -1, -1);

    uint64_t ok, failed;
    jn_metrics_hist h;
    JN_CHECK(!jn_metrics_step_view_get("view-pipe", "a", &ok, &failed, &h));
    jn_step_stats *ss = jn_metrics_step("view-pipe", "a");
    jn_metrics_step_record(ss, true, 50000);
    jn_metrics_step_record(ss, false, 20000000000); /* beyond 10 s */
    JN_REQUIRE(jn_metrics_step_view_get("view-pipe", "a", &ok, &failed, &h));
    JN_CHECK_INT_EQ(ok, 1);
    JN_CHECK_INT_EQ(failed, 1);
    JN_CHECK_INT_EQ(h.count[0], 1);
    JN_CHECK_INT_EQ(h.count[JN_METRICS_N_BOUNDS], 1);

    int64_t open0 = jn_metrics_open_streams();
    jn_metrics_stream_opened("view-proto");
    JN_CHECK_INT_EQ(jn_metrics_open_streams(), open0 + 1);
    jn_metrics_stream_closed("view-proto");
    JN_CHECK_INT_EQ(jn_metrics_open_streams(), open0);
    uint64_t unknown0 = jn_metrics_unknown_total();
    jn_metrics_unknown_model(JN_METRICS_GRPC);
    JN_CHECK_INT_EQ(jn_metrics_unknown_total(), unknown0 + 1);

    int64_t rss;
    double up;
    jn_metrics_process_view(&rss, &up);
    JN_CHECK(rss > 1 << 20);
    JN_CHECK(up >= 0 && up < 3600);
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "--write") == 0) {
        fill_sample();
        size_t len;
        char *text = jn_metrics_render(&len);
        FILE *f = fopen(argv[2], "w");
        if (!text || !f || fwrite(text, 1, len, f) != len || fclose(f) != 0) {
            fprintf(stderr, "cannot write %s\n", argv[2]);
            return 1;
        }
        free(text);
        return 0;
    }
    JN_TEST_RUN(test_checker_catches_mistakes);
    JN_TEST_RUN(test_model_counters);
    JN_TEST_RUN(test_histogram_buckets);
    JN_TEST_RUN(test_batch_and_cache);
    JN_TEST_RUN(test_steps_and_streams);
    JN_TEST_RUN(test_process_gauges);
    JN_TEST_RUN(test_label_escaping);
    JN_TEST_RUN(test_deterministic_order);
    JN_TEST_RUN(test_concurrent_updates);
    JN_TEST_RUN(test_pipeline_steps_recorded);
    JN_TEST_RUN(test_render_format);
    JN_TEST_RUN(test_views);
    return JN_TEST_EXIT();
}
