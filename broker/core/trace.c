/* trace.c — W3C trace context, span ids, the span ring and the trace counters (trace.h). */
#include "trace.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "dispatch.h"
#include "engine.h"
#include "err.h"
#include "metrics.h"

/* ---- W3C trace context ---- */

static int hex_val(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1; /* upper case is not allowed by the spec */
}

/* n bytes from 2n lower-case hex digits; false on a bad digit. */
static bool hex_bytes(const char *s, uint8_t *out, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        int hi = hex_val(s[2 * i]), lo = hex_val(s[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return false;
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    return true;
}

static bool all_zero(const uint8_t *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (b[i])
            return false;
    return true;
}

int jn_traceparent_parse(const char *s, size_t len, jn_trace_ctx *out)
{
    memset(out, 0, sizeof *out);
    if (!s || len < JN_TRACEPARENT_LEN)
        return JN_EINVAL;
    uint8_t version;
    if (!hex_bytes(s, &version, 1) || version == 0xff)
        return JN_EINVAL;
    /* Version 00 is exactly 55 characters; a later version may append fields after a '-'. */
    if (version == 0 ? len != JN_TRACEPARENT_LEN : (len > JN_TRACEPARENT_LEN && s[JN_TRACEPARENT_LEN] != '-'))
        return JN_EINVAL;
    if (s[2] != '-' || s[35] != '-' || s[52] != '-')
        return JN_EINVAL;
    jn_trace_ctx c;
    memset(&c, 0, sizeof c);
    if (!hex_bytes(s + 3, c.trace_id, JN_TRACE_ID_LEN) || !hex_bytes(s + 36, c.span_id, JN_SPAN_ID_LEN) ||
        !hex_bytes(s + 53, &c.flags, 1))
        return JN_EINVAL;
    if (all_zero(c.trace_id, JN_TRACE_ID_LEN) || all_zero(c.span_id, JN_SPAN_ID_LEN))
        return JN_EINVAL;
    c.valid = true;
    *out = c;
    return 0;
}

static void hex_write(const uint8_t *b, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[b[i] >> 4];
        out[2 * i + 1] = digits[b[i] & 15];
    }
}

void jn_traceparent_format(const jn_trace_ctx *c, char out[JN_TRACEPARENT_LEN + 1])
{
    out[0] = '0';
    out[1] = '0';
    out[2] = '-';
    hex_write(c->trace_id, JN_TRACE_ID_LEN, out + 3);
    out[35] = '-';
    hex_write(c->span_id, JN_SPAN_ID_LEN, out + 36);
    out[52] = '-';
    hex_write(&c->flags, 1, out + 53);
    out[JN_TRACEPARENT_LEN] = '\0';
}

void jn_trace_id_format(const uint8_t id[JN_TRACE_ID_LEN], char out[33])
{
    hex_write(id, JN_TRACE_ID_LEN, out);
    out[32] = '\0';
}

static bool lcalpha(char c)
{
    return c >= 'a' && c <= 'z';
}

static bool key_char(char c)
{
    return lcalpha(c) || (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '*' || c == '/';
}

/* simple-key = lcalpha 0*255(key chars); multi-tenant-key = tenant-id "@" system-id, tenant-id = (lcalpha / DIGIT)
 * 0*240(key chars), system-id = lcalpha 0*13(key chars). */
static bool tracestate_key(const char *k, size_t n)
{
    const char *at = memchr(k, '@', n);
    if (!at) {
        if (n < 1 || n > 256 || !lcalpha(k[0]))
            return false;
        for (size_t i = 1; i < n; i++)
            if (!key_char(k[i]))
                return false;
        return true;
    }
    size_t tn = (size_t)(at - k), sn = n - tn - 1;
    if (tn < 1 || tn > 241 || sn < 1 || sn > 14 || !(lcalpha(k[0]) || (k[0] >= '0' && k[0] <= '9')) ||
        !lcalpha(at[1]))
        return false;
    for (size_t i = 0; i < n; i++)
        if (i != tn && !key_char(k[i]))
            return false;
    return true;
}

/* value = 0*255(chr) nblk-chr; chr = %x20 / nblk-chr; nblk-chr = %x21-2B / %x2D-3C / %x3E-7E */
static bool tracestate_value(const char *v, size_t n)
{
    if (n < 1 || n > 256 || v[n - 1] == ' ')
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)v[i];
        if (c < 0x20 || c > 0x7e || c == ',' || c == '=')
            return false;
    }
    return true;
}

bool jn_tracestate_valid(const char *s, size_t len)
{
    if (!s || len > JN_TRACESTATE_MAX)
        return false;
    size_t members = 0, i = 0;
    while (i <= len) {
        size_t end = i;
        while (end < len && s[end] != ',')
            end++;
        size_t a = i, b = end; /* optional white space around each member */
        while (a < b && (s[a] == ' ' || s[a] == '\t'))
            a++;
        while (b > a && (s[b - 1] == ' ' || s[b - 1] == '\t'))
            b--;
        if (a < b) {
            const char *eq = memchr(s + a, '=', b - a);
            if (!eq || !tracestate_key(s + a, (size_t)(eq - (s + a))) ||
                !tracestate_value(eq + 1, (size_t)(s + b - eq - 1)))
                return false;
            if (++members > 32)
                return false;
        }
        i = end + 1;
    }
    return true;
}

/* ---- ids ---- */

/* Per-thread xorshift128+ seeded from the kernel: no lock, no shared state. */
static uint64_t next_random(void)
{
    static _Thread_local uint64_t s[2];
    if (!s[0] && !s[1]) {
        if (getrandom(s, sizeof s, 0) != (ssize_t)sizeof s) {
            struct timespec ts;
            clock_gettime(CLOCK_MONOTONIC, &ts);
            s[0] = (uint64_t)ts.tv_nsec ^ (uint64_t)(uintptr_t)&s;
            s[1] = (uint64_t)ts.tv_sec * 0x9e3779b97f4a7c15ull;
        }
        if (!s[0] && !s[1])
            s[0] = 1;
    }
    uint64_t x = s[0];
    const uint64_t y = s[1];
    s[0] = y;
    x ^= x << 23;
    s[1] = x ^ y ^ (x >> 17) ^ (y >> 26);
    return s[1] + y;
}

static void random_fill(uint8_t *b, size_t n)
{
    do {
        for (size_t i = 0; i < n; i += 8) {
            uint64_t r = next_random();
            memcpy(b + i, &r, n - i < 8 ? n - i : 8);
        }
    } while (all_zero(b, n));
}

void jn_trace_new_trace_id(uint8_t id[JN_TRACE_ID_LEN])
{
    random_fill(id, JN_TRACE_ID_LEN);
}

void jn_trace_new_span_id(uint8_t id[JN_SPAN_ID_LEN])
{
    random_fill(id, JN_SPAN_ID_LEN);
}

/* ---- the switch, the ring, the counters ---- */

static atomic_bool trace_on;
static uint64_t sample_threshold; /* a new trace is sampled when a random number is below it; UINT64_MAX = all */
static bool sample_all;

static pthread_mutex_t ring_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t ring_cv = PTHREAD_COND_INITIALIZER;
static jn_span_rec *ring; /* guarded by ring_mu, as are the four below */
static size_t ring_cap, ring_head, ring_count, ring_want = 1;
static size_t ring_claimed; /* the first ring_claimed records from ring_head are being read by the exporter */
static bool ring_woken;

static atomic_ullong n_recorded, n_exported, n_dropped_full, n_dropped_failed, n_failures;

static void collect(void *arg, jn_metrics_text *t)
{
    (void)arg;
    jn_trace_counters c;
    jn_trace_counters_get(&c);
    jn_metrics_text_family(t, "junction_trace_spans_recorded_total", "counter",
                           "Spans recorded into the export queue.");
    jn_metrics_text_sample(t, "junction_trace_spans_recorded_total", NULL, 0, c.recorded);
    jn_metrics_text_family(t, "junction_trace_spans_exported_total", "counter",
                           "Spans the OTLP collector accepted.");
    jn_metrics_text_sample(t, "junction_trace_spans_exported_total", NULL, 0, c.exported);
    jn_metrics_text_family(t, "junction_trace_spans_dropped_total", "counter",
                           "Spans lost: the export queue was full, or the collector did not accept their batch.");
    const char *full[1][2] = {{"reason", "queue_full"}};
    const char *failed[1][2] = {{"reason", "export_failed"}};
    jn_metrics_text_sample(t, "junction_trace_spans_dropped_total", (const char *const (*)[2])full, 1,
                           c.dropped_queue_full);
    jn_metrics_text_sample(t, "junction_trace_spans_dropped_total", (const char *const (*)[2])failed, 1,
                           c.dropped_export_failed);
    jn_metrics_text_family(t, "junction_trace_export_failures_total", "counter",
                           "OTLP export requests that failed (no answer in time, refused, or not 2xx).");
    jn_metrics_text_sample(t, "junction_trace_export_failures_total", NULL, 0, c.export_failures);
}

int jn_trace_enable(double sample_ratio, size_t queue_spans)
{
    if (queue_spans < 1)
        queue_spans = 1;
    jn_span_rec *r = calloc(queue_spans, sizeof *r);
    if (!r)
        return JN_ENOMEM;
    pthread_mutex_lock(&ring_mu);
    free(ring);
    ring = r;
    ring_cap = queue_spans;
    ring_head = ring_count = ring_claimed = 0;
    pthread_mutex_unlock(&ring_mu);
    sample_all = sample_ratio >= 1.0;
    sample_threshold = sample_ratio <= 0 ? 0 : sample_all ? UINT64_MAX : (uint64_t)(sample_ratio * 18446744073709551616.0);
    jn_metrics_add_collector(collect, NULL);
    atomic_store(&trace_on, true);
    return 0;
}

void jn_trace_disable(void)
{
    atomic_store(&trace_on, false);
    jn_metrics_remove_collector(collect, NULL);
    pthread_mutex_lock(&ring_mu);
    free(ring);
    ring = NULL;
    ring_cap = ring_head = ring_count = ring_claimed = 0;
    pthread_mutex_unlock(&ring_mu);
}

bool jn_trace_on(void)
{
    return atomic_load_explicit(&trace_on, memory_order_relaxed);
}

static void copy_str(char *dst, size_t cap, const char *src)
{
    size_t n = src ? strnlen(src, cap - 1) : 0;
    memcpy(dst, src ? src : "", n);
    dst[n] = '\0';
}

void jn_span_start(jn_span *s, const jn_trace_ctx *parent)
{
    s->recording = false;
    if (!parent || !parent->valid || !(parent->flags & JN_TRACE_FLAG_SAMPLED) || !jn_trace_on())
        return;
    jn_span_start_at(s, parent, jn_now_ns());
}

void jn_span_start_at(jn_span *s, const jn_trace_ctx *parent, int64_t start_ns)
{
    s->recording = false;
    if (!parent || !parent->valid || !(parent->flags & JN_TRACE_FLAG_SAMPLED) || !jn_trace_on())
        return;
    s->recording = true;
    memcpy(s->ctx.trace_id, parent->trace_id, JN_TRACE_ID_LEN);
    jn_trace_new_span_id(s->ctx.span_id);
    s->ctx.flags = parent->flags;
    s->ctx.valid = true;
    s->ctx.tracestate = parent->tracestate;
    memcpy(s->parent_id, parent->span_id, JN_SPAN_ID_LEN);
    s->has_parent = true;
    s->start_ns = start_ns;
}

static void fill_record(jn_span_rec *r, const jn_span *s, const char *name, const char *detail, jn_span_kind kind,
                        int64_t end_ns, const jn_span_attrs *a)
{
    memcpy(r->trace_id, s->ctx.trace_id, JN_TRACE_ID_LEN);
    memcpy(r->span_id, s->ctx.span_id, JN_SPAN_ID_LEN);
    memcpy(r->parent_id, s->parent_id, JN_SPAN_ID_LEN);
    r->has_parent = s->has_parent;
    r->flags = s->ctx.flags;
    r->kind = (uint8_t)kind;
    r->start_ns = s->start_ns;
    r->end_ns = end_ns;
    copy_str(r->name, sizeof r->name, name);
    if (detail) {
        size_t n = strlen(r->name);
        if (n + 1 < sizeof r->name) {
            r->name[n] = ' ';
            copy_str(r->name + n + 1, sizeof r->name - n - 1, detail);
        }
    }
    static const jn_span_attrs none = JN_SPAN_ATTRS_NONE;
    if (!a)
        a = &none;
    r->status = a->status;
    r->in_bytes = a->in_bytes;
    r->out_bytes = a->out_bytes;
    r->batch_size = a->batch_size;
    r->rows = a->rows;
    copy_str(r->model, sizeof r->model, a->model);
    copy_str(r->version, sizeof r->version, a->version);
    copy_str(r->door, sizeof r->door, a->door);
    copy_str(r->error, sizeof r->error, a->error);
    copy_str(r->tracestate, sizeof r->tracestate, a->tracestate);
    size_t nl = 0;
    for (size_t i = 0; i < a->n_links; i++) {
        const jn_trace_ctx *l = a->links[i];
        if (!l || !l->valid)
            continue;
        if (nl == JN_SPAN_MAX_LINKS) {
            r->dropped_links++;
            continue;
        }
        memcpy(r->links[nl].trace_id, l->trace_id, JN_TRACE_ID_LEN);
        memcpy(r->links[nl].span_id, l->span_id, JN_SPAN_ID_LEN);
        nl++;
    }
    r->n_links = (uint8_t)nl;
}

void jn_span_end(jn_span *s, const char *name, const char *detail, jn_span_kind kind, int64_t end_ns,
                 const jn_span_attrs *a)
{
    if (!s->recording)
        return;
    if (!end_ns)
        end_ns = jn_now_ns();
    pthread_mutex_lock(&ring_mu);
    if (!ring || ring_count == ring_cap) {
        pthread_mutex_unlock(&ring_mu);
        atomic_fetch_add_explicit(&n_dropped_full, 1, memory_order_relaxed);
        return;
    }
    jn_span_rec *r = &ring[(ring_head + ring_count) % ring_cap];
    r->dropped_links = 0;
    fill_record(r, s, name, detail, kind, end_ns, a);
    ring_count++;
    bool wake = ring_count == ring_want;
    pthread_mutex_unlock(&ring_mu);
    atomic_fetch_add_explicit(&n_recorded, 1, memory_order_relaxed);
    if (wake)
        pthread_cond_signal(&ring_cv);
}

size_t jn_trace_ring_claim(const jn_span_rec **first, size_t max)
{
    pthread_mutex_lock(&ring_mu);
    size_t n = ring_count < max ? ring_count : max;
    if (n > ring_cap - ring_head) /* contiguous: up to the end of the array */
        n = ring_cap - ring_head;
    ring_claimed = n;
    *first = n ? &ring[ring_head] : NULL;
    pthread_mutex_unlock(&ring_mu);
    return n;
}

void jn_trace_ring_release(void)
{
    pthread_mutex_lock(&ring_mu);
    if (ring_cap) {
        ring_head = (ring_head + ring_claimed) % ring_cap;
        ring_count -= ring_claimed;
    }
    ring_claimed = 0;
    pthread_mutex_unlock(&ring_mu);
}

size_t jn_trace_ring_pop(jn_span_rec *out, size_t max)
{
    size_t total = 0;
    while (total < max) {
        const jn_span_rec *first;
        size_t n = jn_trace_ring_claim(&first, max - total);
        if (n)
            memcpy(out + total, first, n * sizeof *first);
        jn_trace_ring_release();
        if (!n)
            break;
        total += n;
    }
    return total;
}

size_t jn_trace_ring_count(void)
{
    pthread_mutex_lock(&ring_mu);
    size_t n = ring_count;
    pthread_mutex_unlock(&ring_mu);
    return n;
}

void jn_trace_ring_wait(size_t want, int64_t timeout_ns)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    int64_t ns = (int64_t)until.tv_nsec + timeout_ns;
    until.tv_sec += (time_t)(ns / 1000000000);
    until.tv_nsec = (long)(ns % 1000000000);
    pthread_mutex_lock(&ring_mu);
    ring_want = want ? want : 1;
    while (ring_count < ring_want && !ring_woken)
        if (pthread_cond_timedwait(&ring_cv, &ring_mu, &until))
            break;
    ring_woken = false;
    pthread_mutex_unlock(&ring_mu);
}

void jn_trace_ring_wake(void)
{
    pthread_mutex_lock(&ring_mu);
    ring_woken = true;
    pthread_cond_broadcast(&ring_cv);
    pthread_mutex_unlock(&ring_mu);
}

void jn_trace_count_exported(uint64_t spans)
{
    atomic_fetch_add_explicit(&n_exported, spans, memory_order_relaxed);
}

void jn_trace_count_failed(uint64_t spans)
{
    atomic_fetch_add_explicit(&n_dropped_failed, spans, memory_order_relaxed);
    atomic_fetch_add_explicit(&n_failures, 1, memory_order_relaxed);
}

void jn_trace_counters_get(jn_trace_counters *out)
{
    out->recorded = atomic_load_explicit(&n_recorded, memory_order_relaxed);
    out->exported = atomic_load_explicit(&n_exported, memory_order_relaxed);
    out->dropped_queue_full = atomic_load_explicit(&n_dropped_full, memory_order_relaxed);
    out->dropped_export_failed = atomic_load_explicit(&n_dropped_failed, memory_order_relaxed);
    out->export_failures = atomic_load_explicit(&n_failures, memory_order_relaxed);
}

/* ---- the call's trace ---- */

void jn_call_trace_begin(jn_call_trace *t, const char *door, const char *traceparent, size_t tp_len,
                         const char *tracestate, size_t ts_len, int64_t start_ns)
{
    t->door = door;
    bool on = jn_trace_on();
    if (!on && !traceparent)
        return; /* the hot path with tracing off */
    if (traceparent)
        jn_traceparent_parse(traceparent, tp_len, &t->incoming); /* malformed: ignored, a new trace */
    if (t->incoming.valid && tracestate && ts_len && jn_tracestate_valid(tracestate, ts_len)) {
        t->tracestate = malloc(ts_len + 1); /* out of memory: it is not passed on */
        if (t->tracestate) {
            memcpy(t->tracestate, tracestate, ts_len);
            t->tracestate[ts_len] = '\0';
        }
        t->incoming.tracestate = t->tracestate;
    }
    if (!on)
        return; /* passed on unchanged (jn_call_trace_ctx) */
    jn_span *s = &t->span;
    if (t->incoming.valid) {
        if (!(t->incoming.flags & JN_TRACE_FLAG_SAMPLED))
            return;
        jn_span_start(s, &t->incoming);
    } else {
        /* A new trace. One that is not sampled still gets ids, passed on with the sampled flag off: the remote
         * engines of this call then record nothing either (parent-based), rather than sampling on their own. */
        bool sampled = sample_all || next_random() < sample_threshold;
        jn_trace_new_trace_id(s->ctx.trace_id);
        jn_trace_new_span_id(s->ctx.span_id);
        s->ctx.flags = sampled ? JN_TRACE_FLAG_SAMPLED : 0;
        s->ctx.valid = true;
        s->ctx.tracestate = NULL;
        s->has_parent = false;
        s->recording = sampled;
    }
    s->start_ns = start_ns;
}

const jn_trace_ctx *jn_call_trace_ctx(const jn_call_trace *t)
{
    if (t->span.ctx.valid) /* a trace begun here: recording (ended or not), or not sampled */
        return &t->span.ctx;
    return t->incoming.valid ? &t->incoming : NULL;
}

void jn_call_trace_clear(jn_call_trace *t)
{
    free(t->tracestate);
    t->tracestate = NULL;
}

void jn_trace_id_hex(const struct jn_call *c, char out[33])
{
    const jn_trace_ctx *ctx = jn_call_trace_ctx(&c->trace);
    if (!ctx) {
        out[0] = '\0';
        return;
    }
    jn_trace_id_format(ctx->trace_id, out);
}
