/* request_log.c — the request log (request_log.h): formatting on the finishing thread, a bounded queue, and one
 * writer thread that owns the file (writes, flushes, rotates).
 *
 * Lines are written with a small bounded JSON writer of their own, not jansson: a line must stay within
 * --request-log-max-entry and still be valid JSON, so values are cut as they are written (a tree would be built,
 * printed, measured and printed again), and the line without payloads costs one allocation. */
#include "request_log.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base64.h"
#include "half.h"
#include "metrics.h"
#include "signature.h"

#define QUEUE_BYTES ((size_t)64 << 20)
#define FIELD_MAX 256      /* model, version, request id: bytes written at most */
#define ERROR_MAX 512      /* an error message: bytes written at most */
#define BINARY_MAX 192     /* a binary element: bytes shown (as base64) at most */
#define CLOSING_RESERVE 48 /* room kept for what closes a cut line: ]}]...,"truncated":true}}\n */
/* The most the envelope's fixed parts take (keys, the id, the time, the status, three 20-digit numbers, the trace
 * id, the truncation mark and the closing): the strings of a line share what --request-log-max-entry leaves. */
#define ENVELOPE_FIXED 660
#define TENSOR_HEADER_MAX 400 /* a payload tensor's name (128), type, 8 dims and brackets */

typedef struct line {
    char *text;
    size_t len;
} line;

struct jn_request_log {
    jn_request_log_options o;
    char *path, *source, boot[17];
    uint64_t sample_threshold; /* a request is logged when a random 64-bit draw is below it (sample < 1) */
    FILE *f;
    bool own_file;
    uint64_t size; /* bytes in the current file (the writer's) */
    int n_old;     /* rotated files there are (FILE.1 .. FILE.n_old; the writer's) */
    atomic_uint_fast64_t seq;
    /* the queue */
    pthread_mutex_t mu;
    pthread_cond_t wake, idle;
    line *ring;
    size_t cap, head, count, bytes;
    bool stop;
    /* The writer: BUSY (writing, or not started), IDLE (the queue is empty: the next line wakes it), GATHER (waiting
     * up to GATHER_MS for a full batch: only the line that fills one wakes it). So a busy server signals the writer
     * about twice per GATHER_MS, not once per line. */
    enum { W_BUSY, W_IDLE, W_GATHER } wstate;
    int flushers; /* threads in jn_request_log_flush: the writer does not gather for them */
    pthread_t writer;
    /* counters (read by /metrics) */
    atomic_uint_fast64_t lines, dropped, rotations, write_errors;
};

void jn_request_log_options_default(jn_request_log_options *o)
{
    memset(o, 0, sizeof *o);
    o->sample = 1.0;
    o->max_entry = JN_REQUEST_LOG_DEFAULT_MAX_ENTRY;
    o->keep = JN_REQUEST_LOG_DEFAULT_KEEP;
}

/* ---- the bounded JSON writer ---- */

typedef struct lbuf {
    char *p;
    size_t len, cap;
    size_t budget; /* payload values stop here (the closing characters fit after it) */
    bool failed, cut;
} lbuf;

static bool grow(lbuf *b, size_t n)
{
    if (b->failed)
        return false;
    if (b->len + n + 1 <= b->cap)
        return true;
    size_t cap = b->cap ? b->cap : 512;
    while (cap < b->len + n + 1)
        cap *= 2;
    char *p = realloc(b->p, cap);
    if (!p) {
        b->failed = true;
        return false;
    }
    b->p = p;
    b->cap = cap;
    return true;
}

static void raw(lbuf *b, const char *s, size_t n)
{
    if (!n || !grow(b, n))
        return;
    memcpy(b->p + b->len, s, n);
    b->len += n;
}

#define LIT(b, s) raw((b), "" s, sizeof(s) - 1)

static void fmt(lbuf *b, const char *f, ...) __attribute__((format(printf, 2, 3)));
static void fmt(lbuf *b, const char *f, ...)
{
    char tmp[64];
    va_list ap;
    va_start(ap, f);
    int n = vsnprintf(tmp, sizeof tmp, f, ap);
    va_end(ap);
    if (n > 0)
        raw(b, tmp, (size_t)n < sizeof tmp ? (size_t)n : sizeof tmp - 1);
}

static void put_u64(lbuf *b, uint64_t v)
{
    char tmp[24];
    size_t i = sizeof tmp;
    do {
        tmp[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    raw(b, tmp + i, sizeof tmp - i);
}

static void put_i64(lbuf *b, int64_t v)
{
    if (v < 0) {
        LIT(b, "-");
        put_u64(b, (uint64_t)0 - (uint64_t)v);
    } else {
        put_u64(b, (uint64_t)v);
    }
}

/* A JSON string of at most `max` bytes of s (cut at a character boundary; bytes that are not UTF-8 become '?').
 * Returns true when s was cut. */
static bool str_capped(lbuf *b, const char *s, size_t n, size_t max)
{
    static const char hex[] = "0123456789abcdef";
    bool cut = false;
    size_t start = b->len;
    LIT(b, "\"");
    for (size_t i = 0; i < n;) {
        unsigned char c = (unsigned char)s[i];
        size_t clen = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
        bool ok = clen && i + clen <= n;
        if (ok && clen > 1) {
            size_t bad;
            ok = jn_utf8_valid((const uint8_t *)s + i, clen, &bad);
        }
        char esc[8];
        const char *out = esc;
        size_t olen;
        if (!ok) {
            esc[0] = '?';
            olen = 1;
            clen = 1;
        } else if (c == '"' || c == '\\') {
            esc[0] = '\\';
            esc[1] = (char)c;
            olen = 2;
        } else if (c < 0x20) {
            const char *named = c == '\n' ? "\\n" : c == '\r' ? "\\r" : c == '\t' ? "\\t" : c == '\b' ? "\\b"
                                : c == '\f'   ? "\\f"
                                              : NULL;
            if (named) {
                memcpy(esc, named, 2);
                olen = 2;
            } else {
                memcpy(esc, "\\u00", 4);
                esc[4] = hex[c >> 4];
                esc[5] = hex[c & 15];
                olen = 6;
            }
        } else {
            out = s + i;
            olen = clen;
        }
        if (b->len - start - 1 + olen > max) {
            cut = true;
            break;
        }
        raw(b, out, olen);
        i += clen;
    }
    LIT(b, "\"");
    return cut;
}

/* A string field's text, masked when there are rules, at most FIELD_MAX bytes; *cut set when it was cut. */
static void masked_str(lbuf *b, const jn_redact *r, const char *s, size_t max)
{
    size_t n = strlen(s);
    if (!r || (!jn_redact_patterns(r) && !jn_redact_regex_count(r))) {
        b->cut |= str_capped(b, s, n, max);
        return;
    }
    size_t mlen;
    /* Only the first 2*max bytes: their masked text is still longer than max, so the cut end is never shown. */
    char *m = jn_redact_mask(r, s, n > 2 * max ? 2 * max : n, &mlen);
    if (!m) {
        LIT(b, "\"[REDACTED]\"");
        return;
    }
    b->cut |= str_capped(b, m, mlen, max) || n > 2 * max;
    free(m);
}

/* ---- payloads ---- */

/* Room left for payload values. */
static size_t room(const lbuf *b)
{
    return b->len < b->budget ? b->budget - b->len : 0;
}

static void number(lbuf *b, const jn_tensor *t, int64_t i)
{
    const void *d = t->data;
    double v = 0;
    switch (t->dtype) {
    case JN_DTYPE_BOOL:
        if (((const uint8_t *)d)[i])
            LIT(b, "true");
        else
            LIT(b, "false");
        return;
    case JN_DTYPE_UINT8: put_u64(b, ((const uint8_t *)d)[i]); return;
    case JN_DTYPE_UINT16: put_u64(b, ((const uint16_t *)d)[i]); return;
    case JN_DTYPE_UINT32: put_u64(b, ((const uint32_t *)d)[i]); return;
    case JN_DTYPE_UINT64: put_u64(b, ((const uint64_t *)d)[i]); return;
    case JN_DTYPE_INT8: put_i64(b, ((const int8_t *)d)[i]); return;
    case JN_DTYPE_INT16: put_i64(b, ((const int16_t *)d)[i]); return;
    case JN_DTYPE_INT32: put_i64(b, ((const int32_t *)d)[i]); return;
    case JN_DTYPE_INT64: put_i64(b, ((const int64_t *)d)[i]); return;
    case JN_DTYPE_FP16: v = jn_fp16_to_float(((const uint16_t *)d)[i]); break;
    case JN_DTYPE_BF16: v = jn_bf16_to_float(((const uint16_t *)d)[i]); break;
    case JN_DTYPE_FP32: v = ((const float *)d)[i]; break;
    case JN_DTYPE_FP64: v = ((const double *)d)[i]; break;
    default: LIT(b, "null"); return;
    }
    if (isnan(v))
        LIT(b, "\"NaN\"");
    else if (isinf(v))
        raw(b, v > 0 ? "\"Infinity\"" : "\"-Infinity\"", v > 0 ? 10 : 11);
    else
        fmt(b, t->dtype == JN_DTYPE_FP64 ? "%.17g" : "%.9g", v);
}

static void bytes_element(lbuf *b, const jn_redact *r, const uint8_t *e, uint32_t len)
{
    size_t bad;
    if (jn_utf8_valid(e, len, &bad)) {
        size_t max = room(b) > 8 ? room(b) - 8 : 0;
        masked_str(b, r, len ? (const char *)e : "", max); /* NUL-free text only: strlen below */
        return;
    }
    size_t shown = len > BINARY_MAX ? BINARY_MAX : len, n64;
    char *s = jn_base64_encode(e, shown, &n64);
    if (!s) {
        b->failed = true;
        return;
    }
    LIT(b, "{\"base64\":\"");
    raw(b, s, n64);
    fmt(b, "\",\"bytes\":%" PRIu32 "%s}", len, shown < len ? ",\"truncated\":true" : "");
    free(s);
}

static void tensor_values(lbuf *b, const jn_redact *r, const jn_tensor *t)
{
    LIT(b, "[");
    if (t->dtype == JN_DTYPE_BYTES) {
        size_t pos = 0, k = 0;
        const uint8_t *e;
        uint32_t len;
        while (jn_bytes_next(t->data, t->byte_size, &pos, &e, &len)) {
            if (room(b) < 16) {
                b->cut = true;
                break;
            }
            if (k++)
                LIT(b, ",");
            /* A text element with a NUL inside is binary for the log (strlen would stop at it). */
            if (memchr(e, 0, len)) {
                size_t shown = len > BINARY_MAX ? BINARY_MAX : len, n64;
                char *s = jn_base64_encode(e, shown, &n64);
                if (s) {
                    LIT(b, "{\"base64\":\"");
                    raw(b, s, n64);
                    fmt(b, "\",\"bytes\":%" PRIu32 "%s}", len, shown < len ? ",\"truncated\":true" : "");
                    free(s);
                }
                continue;
            }
            char *z = malloc((size_t)len + 1);
            if (!z) {
                b->failed = true;
                break;
            }
            memcpy(z, e, len);
            z[len] = '\0';
            bytes_element(b, r, (const uint8_t *)z, len);
            free(z);
        }
    } else if (jn_dtype_size(t->dtype) && jn_tensor_element_count(t) >= 0 &&
               t->byte_size >= (size_t)jn_tensor_element_count(t) * jn_dtype_size(t->dtype)) {
        int64_t n = jn_tensor_element_count(t);
        for (int64_t i = 0; i < n; i++) {
            if (room(b) < 32) {
                b->cut = true;
                break;
            }
            if (i)
                LIT(b, ",");
            number(b, t, i);
        }
    }
    LIT(b, "]");
}

static void tensors(lbuf *b, const jn_redact *r, const char *key, const jn_tensor_list *list)
{
    fmt(b, ",\"%s\":[", key);
    for (size_t i = 0; list && i < list->count; i++) {
        const jn_tensor *t = list->items[i];
        if (room(b) < TENSOR_HEADER_MAX) {
            b->cut = true;
            break;
        }
        if (i)
            LIT(b, ",");
        LIT(b, "{\"name\":");
        b->cut |= str_capped(b, t->name, strlen(t->name), 128);
        fmt(b, ",\"datatype\":\"%s\",\"shape\":[", jn_dtype_name(t->dtype));
        for (int d = 0; d < t->ndim && d < JN_MAX_DIMS; d++)
            fmt(b, d ? ",%" PRId64 : "%" PRId64, t->shape[d]);
        LIT(b, "],\"values\":");
        if (jn_redact_port(r, t->name))
            LIT(b, "\"" JN_REDACT_VALUE "\"");
        else
            tensor_values(b, r, t);
        LIT(b, "}");
    }
    LIT(b, "]");
}

/* ---- the line ---- */

static void time_rfc3339(lbuf *b)
{
    static _Thread_local time_t cached_sec = -1; /* this thread's last second, formatted */
    static _Thread_local char cached[24];
    static _Thread_local size_t cached_len;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    if (ts.tv_sec != cached_sec) {
        struct tm tm;
        gmtime_r(&ts.tv_sec, &tm);
        cached_len = strftime(cached, sizeof cached, "%Y-%m-%dT%H:%M:%S", &tm);
        cached_sec = ts.tv_sec;
    }
    raw(b, cached, cached_len);
    long ms = ts.tv_nsec / 1000000;
    char frac[6] = {'.', (char)('0' + ms / 100), (char)('0' + ms / 10 % 10), (char)('0' + ms % 10), 'Z'};
    raw(b, frac, 5);
}

char *jn_request_log_format(jn_request_log *l, const jn_request_log_entry *e, size_t *len)
{
    const jn_request_log_options *o = &l->o;
    lbuf b = {.budget = o->max_entry > CLOSING_RESERVE ? o->max_entry - CLOSING_RESERVE : 0};
    /* Caps for the envelope's strings, so that the line fits whatever they are (max_entry >= 1024). */
    size_t avail = o->max_entry > ENVELOPE_FIXED ? o->max_entry - ENVELOPE_FIXED : 0;
    size_t field_max = avail / 6 < FIELD_MAX ? avail / 6 : FIELD_MAX;
    size_t error_max = avail / 3 < ERROR_MAX ? avail / 3 : ERROR_MAX;
    grow(&b, o->payloads ? 1024 : 480);
    uint64_t n = atomic_fetch_add_explicit(&l->seq, 1, memory_order_relaxed) + 1;
    LIT(&b, "{\"specversion\":\"1.0\",\"id\":\"");
    raw(&b, l->boot, strlen(l->boot));
    LIT(&b, "-");
    put_u64(&b, n);
    LIT(&b, "\",\"source\":");
    str_capped(&b, l->source, strlen(l->source), field_max);
    LIT(&b, ",\"type\":\"junction.request\",\"time\":\"");
    time_rfc3339(&b);
    LIT(&b, "\",\"datacontenttype\":\"application/json\",\"data\":{\"model\":");
    b.cut |= str_capped(&b, e->model ? e->model : "", e->model ? strlen(e->model) : 0, field_max);
    LIT(&b, ",\"version\":");
    b.cut |= str_capped(&b, e->version ? e->version : "", e->version ? strlen(e->version) : 0, field_max);
    LIT(&b, ",\"door\":");
    str_capped(&b, e->door ? e->door : "", e->door ? strlen(e->door) : 0, 24);
    if (e->request_id && *e->request_id) {
        LIT(&b, ",\"request_id\":");
        masked_str(&b, o->redact, e->request_id, field_max);
    }
    int grpc = jn_err_grpc_status(e->rc);
    const char *code = jn_grpc_status_name(grpc);
    LIT(&b, ",\"status\":{\"code\":\"");
    raw(&b, code, strlen(code));
    LIT(&b, "\",\"number\":");
    put_i64(&b, grpc);
    LIT(&b, "},\"latency_us\":");
    put_i64(&b, e->latency_ns > 0 ? e->latency_ns / 1000 : 0);
    LIT(&b, ",\"request_bytes\":");
    put_u64(&b, e->request_bytes < INT64_MAX ? e->request_bytes : INT64_MAX); /* readers parse int64 (jansson) */
    LIT(&b, ",\"response_bytes\":");
    put_u64(&b, e->response_bytes < INT64_MAX ? e->response_bytes : INT64_MAX);
    if (e->trace_id) {
        LIT(&b, ",\"traceid\":");
        str_capped(&b, e->trace_id, strlen(e->trace_id), 32);
    }
    if (e->rc && e->error && *e->error) {
        LIT(&b, ",\"error\":");
        masked_str(&b, o->redact, e->error, error_max);
    }
    if (o->payloads) {
        tensors(&b, o->redact, "inputs", e->inputs);
        tensors(&b, o->redact, "outputs", e->outputs);
    }
    if (b.cut)
        LIT(&b, ",\"truncated\":true");
    LIT(&b, "}}\n");
    if (b.failed) {
        free(b.p);
        return NULL;
    }
    b.p[b.len] = '\0'; /* grow always leaves room for it */
    *len = b.len;
    return b.p;
}

/* ---- the writer ---- */

static void rotated_name(const jn_request_log *l, int k, char *out, size_t n)
{
    if (k == 0)
        snprintf(out, n, "%s", l->path);
    else
        snprintf(out, n, "%s.%d", l->path, k);
}

/* FILE.keep-1 -> FILE.keep, ..., FILE -> FILE.1 (only the files there are), then a new FILE. On the writer thread. */
static void rotate(jn_request_log *l)
{
    fclose(l->f);
    l->f = NULL;
    size_t n = strlen(l->path) + 16;
    char *from = malloc(n), *to = malloc(n);
    if (from && to) {
        int top = l->n_old < l->o.keep ? l->n_old + 1 : l->o.keep;
        for (int k = top; k >= 1; k--) {
            rotated_name(l, k - 1, from, n);
            rotated_name(l, k, to, n);
            if (rename(from, to) != 0 && errno != ENOENT)
                atomic_fetch_add_explicit(&l->write_errors, 1, memory_order_relaxed);
        }
        l->n_old = top;
    }
    free(from);
    free(to);
    l->f = fopen(l->path, "a");
    if (l->f)
        setvbuf(l->f, NULL, _IOFBF, (size_t)256 << 10);
    l->size = 0;
    atomic_fetch_add_explicit(&l->rotations, 1, memory_order_relaxed);
}

static void write_line(jn_request_log *l, const line *ln)
{
    if (l->o.max_bytes && l->own_file && l->size > 0 && l->size + ln->len > l->o.max_bytes)
        rotate(l);
    /* Only the writer uses its own file; standard output is shared with the rest of the process (locked fwrite). */
    size_t put = !l->f ? 0 : l->own_file ? fwrite_unlocked(ln->text, 1, ln->len, l->f) : fwrite(ln->text, 1, ln->len, l->f);
    if (put != ln->len) {
        atomic_fetch_add_explicit(&l->write_errors, 1, memory_order_relaxed);
        atomic_fetch_add_explicit(&l->dropped, 1, memory_order_relaxed);
        if (!l->f && l->own_file)
            l->f = fopen(l->path, "a"); /* try again for the next line */
        return;
    }
    l->size += ln->len;
    atomic_fetch_add_explicit(&l->lines, 1, memory_order_relaxed);
}

#define BATCH 256
#define GATHER_MS 10

static void *writer_main(void *arg)
{
    jn_request_log *l = arg;
    line batch[BATCH];
    pthread_mutex_lock(&l->mu);
    for (;;) {
        while (!l->count && !l->stop) {
            l->wstate = W_IDLE;
            pthread_cond_broadcast(&l->idle);
            pthread_cond_wait(&l->wake, &l->mu);
        }
        if (!l->count && l->stop)
            break;
        if (l->count < BATCH && !l->stop && !l->flushers) {
            struct timespec until;
            clock_gettime(CLOCK_MONOTONIC, &until);
            until.tv_nsec += GATHER_MS * 1000000L;
            if (until.tv_nsec >= 1000000000L) {
                until.tv_sec++;
                until.tv_nsec -= 1000000000L;
            }
            l->wstate = W_GATHER;
            while (l->count < BATCH && !l->stop && !l->flushers)
                if (pthread_cond_timedwait(&l->wake, &l->mu, &until) != 0)
                    break; /* timed out: write what there is */
        }
        l->wstate = W_BUSY;
        size_t k = 0, bytes = 0;
        while (l->count && k < BATCH) {
            batch[k] = l->ring[l->head];
            bytes += batch[k].len;
            l->head = (l->head + 1) % l->cap;
            l->count--;
            k++;
        }
        l->bytes -= bytes;
        pthread_mutex_unlock(&l->mu);
        for (size_t i = 0; i < k; i++) {
            write_line(l, &batch[i]);
            free(batch[i].text);
        }
        if (l->f)
            fflush(l->f);
        pthread_mutex_lock(&l->mu);
    }
    l->wstate = W_IDLE;
    pthread_cond_broadcast(&l->idle);
    pthread_mutex_unlock(&l->mu);
    return NULL;
}

/* ---- the public side ---- */

static uint64_t draw(void)
{
    static _Thread_local uint64_t s;
    if (!s) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        s = ((uint64_t)ts.tv_nsec * 0x9E3779B97F4A7C15ull) ^ (uint64_t)(uintptr_t)&s ^ (uint64_t)ts.tv_sec;
        if (!s)
            s = 1;
    }
    s ^= s >> 12; /* xorshift64* */
    s ^= s << 25;
    s ^= s >> 27;
    return s * 2685821657736338717ull;
}

bool jn_request_log_payloads(const jn_request_log *l)
{
    return l && l->o.payloads;
}

void jn_request_log_record(jn_request_log *l, const jn_request_log_entry *e)
{
    if (!l || (l->o.sample < 1.0 && draw() >= l->sample_threshold))
        return;
    size_t len;
    char *text = jn_request_log_format(l, e, &len);
    if (!text) {
        atomic_fetch_add_explicit(&l->dropped, 1, memory_order_relaxed);
        return;
    }
    pthread_mutex_lock(&l->mu);
    if (l->count == l->cap || l->bytes + len > QUEUE_BYTES || l->stop) {
        pthread_mutex_unlock(&l->mu);
        free(text);
        atomic_fetch_add_explicit(&l->dropped, 1, memory_order_relaxed);
        return;
    }
    l->ring[(l->head + l->count) % l->cap] = (line){.text = text, .len = len};
    l->count++;
    l->bytes += len;
    bool wake = l->wstate == W_IDLE || (l->wstate == W_GATHER && l->count == BATCH);
    pthread_mutex_unlock(&l->mu);
    if (wake)
        pthread_cond_signal(&l->wake);
}

void jn_request_log_flush(jn_request_log *l)
{
    if (!l)
        return;
    pthread_mutex_lock(&l->mu);
    l->flushers++;
    pthread_cond_signal(&l->wake);
    while (l->count || l->wstate != W_IDLE)
        pthread_cond_wait(&l->idle, &l->mu);
    l->flushers--;
    pthread_mutex_unlock(&l->mu);
}

void jn_request_log_get_counts(jn_request_log *l, jn_request_log_counts *out)
{
    out->lines = atomic_load_explicit(&l->lines, memory_order_relaxed);
    out->dropped = atomic_load_explicit(&l->dropped, memory_order_relaxed);
    out->rotations = atomic_load_explicit(&l->rotations, memory_order_relaxed);
    out->write_errors = atomic_load_explicit(&l->write_errors, memory_order_relaxed);
}

static void collect(void *arg, jn_metrics_text *t)
{
    jn_request_log_counts c;
    jn_request_log_get_counts(arg, &c);
    jn_metrics_text_family(t, "junction_request_log_lines_total", "counter", "Request log lines written.");
    jn_metrics_text_sample(t, "junction_request_log_lines_total", NULL, 0, c.lines);
    jn_metrics_text_family(t, "junction_request_log_dropped_total", "counter",
                           "Request log lines dropped: the writer's queue was full, or the file could not be written.");
    jn_metrics_text_sample(t, "junction_request_log_dropped_total", NULL, 0, c.dropped);
    jn_metrics_text_family(t, "junction_request_log_rotations_total", "counter", "Request log files rotated by size.");
    jn_metrics_text_sample(t, "junction_request_log_rotations_total", NULL, 0, c.rotations);
}

static int check_options(const jn_request_log_options *o, jn_err *err)
{
    if (!o->path || !*o->path)
        return jn_err_set(err, JN_EINVAL, "--request-log needs a file name or '-'");
    if (!(o->sample >= 0 && o->sample <= 1))
        return jn_err_set(err, JN_EINVAL, "--request-log-sample %g is not a ratio between 0 and 1", o->sample);
    if (o->max_entry && o->max_entry < JN_REQUEST_LOG_MIN_MAX_ENTRY)
        return jn_err_set(err, JN_EINVAL, "--request-log-max-entry %zu is below the least a line needs (%u bytes)",
                          o->max_entry, JN_REQUEST_LOG_MIN_MAX_ENTRY);
    if (o->keep < 1 || o->keep > 1000)
        return jn_err_set(err, JN_EINVAL, "--request-log-keep %d is not a count of files (1-1000)", o->keep);
    if (o->max_bytes && strcmp(o->path, "-") == 0)
        return jn_err_set(err, JN_EINVAL, "--request-log-max-bytes: standard output ('-') cannot be rotated");
    return 0;
}

jn_request_log *jn_request_log_open(const jn_request_log_options *opt, jn_err *err)
{
    if (check_options(opt, err))
        return NULL;
    jn_request_log *l = calloc(1, sizeof *l);
    if (!l) {
        jn_err_set(err, JN_ENOMEM, "request log: out of memory");
        return NULL;
    }
    l->o = *opt;
    if (!l->o.max_entry)
        l->o.max_entry = JN_REQUEST_LOG_DEFAULT_MAX_ENTRY;
    l->cap = l->o.queue_lines ? l->o.queue_lines : 8192;
    l->path = strdup(opt->path);
    l->source = strdup(opt->source && *opt->source ? opt->source : "junction");
    l->ring = calloc(l->cap, sizeof *l->ring);
    l->o.path = l->path;
    l->o.source = l->source;
    l->sample_threshold = l->o.sample >= 1 ? UINT64_MAX : (uint64_t)(l->o.sample * 18446744073709551616.0);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    snprintf(l->boot, sizeof l->boot, "%08lx%04x", (unsigned long)(ts.tv_sec & 0xffffffff),
             (unsigned)(((uint64_t)ts.tv_nsec ^ ((uint64_t)getpid() << 16)) & 0xffff));
    if (!l->path || !l->source || !l->ring) {
        jn_err_set(err, JN_ENOMEM, "request log: out of memory");
        goto fail;
    }
    if (strcmp(l->path, "-") == 0) {
        l->f = stdout;
    } else {
        if (!(l->f = fopen(l->path, "a"))) {
            jn_err_set(err, JN_EIO, "--request-log %s: cannot open for appending: %s", l->path, strerror(errno));
            goto fail;
        }
        l->own_file = true;
        setvbuf(l->f, NULL, _IOFBF, (size_t)256 << 10); /* a batch goes out in one or two writes */
        struct stat st;
        if (fstat(fileno(l->f), &st) == 0)
            l->size = (uint64_t)st.st_size;
        char old[4096];
        while (l->n_old < l->o.keep && snprintf(old, sizeof old, "%s.%d", l->path, l->n_old + 1) < (int)sizeof old &&
               stat(old, &st) == 0)
            l->n_old++; /* FILE.1 .. FILE.n_old from an earlier run */
    }
    pthread_mutex_init(&l->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC); /* the gathering's timed wait */
    pthread_cond_init(&l->wake, &ca);
    pthread_condattr_destroy(&ca);
    pthread_cond_init(&l->idle, NULL);
    if (pthread_create(&l->writer, NULL, writer_main, l) != 0) {
        jn_err_set(err, JN_ERESOURCE, "request log: cannot start the writer thread");
        pthread_cond_destroy(&l->idle);
        pthread_cond_destroy(&l->wake);
        pthread_mutex_destroy(&l->mu);
        goto fail;
    }
    jn_metrics_add_collector(collect, l); /* none when the 4 slots are taken: the series are then missing */
    return l;
fail:
    if (l->own_file && l->f)
        fclose(l->f);
    free(l->ring);
    free(l->path);
    free(l->source);
    free(l);
    return NULL;
}

void jn_request_log_close(jn_request_log *l)
{
    if (!l)
        return;
    jn_metrics_remove_collector(collect, l);
    pthread_mutex_lock(&l->mu);
    l->stop = true;
    pthread_cond_signal(&l->wake);
    pthread_mutex_unlock(&l->mu);
    pthread_join(l->writer, NULL);
    if (l->f)
        fflush(l->f);
    if (l->own_file && l->f)
        fclose(l->f);
    pthread_cond_destroy(&l->idle);
    pthread_cond_destroy(&l->wake);
    pthread_mutex_destroy(&l->mu);
    free(l->ring);
    free(l->path);
    free(l->source);
    free(l);
}
