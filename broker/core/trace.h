/* trace.h — distributed tracing (issue #22): W3C trace context in and out, spans recorded into a bounded ring that
 * one exporter thread drains (otlp_export.h sends them as OTLP/HTTP protobuf).
 *
 * The model:
 * - A call arriving at any door carries at most one `traceparent` (and `tracestate`) header or metadata entry
 *   (W3C Trace Context level 1). jn_call_trace_begin reads them: a valid traceparent is the parent of the call's
 *   request span and its sampled flag decides whether the call is recorded; a missing or malformed one starts a new
 *   trace, sampled with probability --trace-sample-ratio. Malformed input is ignored, never an error.
 * - Spans are recorded only while tracing is on (jn_trace_enable: an exporter is running). Off, every span function
 *   returns after one branch, and a caller's traceparent is still passed on unchanged to remote engines.
 * - A span is opened on the stack (jn_span_start: ids and the start time) and closed with its attributes
 *   (jn_span_end), which copies a fixed-size record into the ring: no allocation per span. A full ring drops the
 *   span and counts it (junction_trace_spans_dropped_total{reason="queue_full"}); nobody ever waits for the
 *   exporter.
 *
 * Ownership: jn_trace_ctx and jn_span are plain values owned by whoever holds them. jn_call_trace owns its
 * tracestate copy (jn_call_trace_clear frees it). Strings passed to jn_span_end are copied (truncated to the
 * record's fields). Records popped with jn_trace_ring_pop are the caller's copies.
 * Thread-safety: everything may be called from any thread. jn_trace_enable / jn_trace_disable are called by the
 * exporter's owner before the first call and after the last one.
 */
#ifndef JN_TRACE_H
#define JN_TRACE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define JN_TRACE_ID_LEN 16
#define JN_SPAN_ID_LEN 8
#define JN_TRACE_FLAG_SAMPLED 0x01u
/* "00-<32 hex>-<16 hex>-<2 hex>" */
#define JN_TRACEPARENT_LEN 55
/* W3C: at most 32 list members, 512 characters kept when passing it on. */
#define JN_TRACESTATE_MAX 512

/* A span context: the trace, the span and the W3C trace flags. valid = ids set (neither all zero). */
typedef struct jn_trace_ctx {
    uint8_t trace_id[JN_TRACE_ID_LEN];
    uint8_t span_id[JN_SPAN_ID_LEN];
    uint8_t flags;
    bool valid;
    /* The caller's tracestate, passed on with the context (borrowed from the call's jn_call_trace, valid until the
     * call finishes); NULL = none. */
    const char *tracestate;
} jn_trace_ctx;

/* ---- W3C trace context ---- */

/* Parses a traceparent value (version 00 exactly; a higher version is read by its first four fields when followed
 * by '-' or the end, as the spec asks; version ff is invalid). 0 with *out set, or JN_EINVAL (out->valid false):
 * wrong length, non lower-case hex, all-zero trace or span id, a bad separator. `len` bytes of s are read. */
int jn_traceparent_parse(const char *s, size_t len, jn_trace_ctx *out);
/* Writes "00-<trace>-<span>-<flags>" and a NUL (JN_TRACEPARENT_LEN + 1 bytes). */
void jn_traceparent_format(const jn_trace_ctx *c, char out[JN_TRACEPARENT_LEN + 1]);
/* Whether a tracestate value may be passed on: at most JN_TRACESTATE_MAX bytes and 32 list members, each
 * key=value with the spec's key and value characters (empty members between commas allowed). */
bool jn_tracestate_valid(const char *s, size_t len);
/* Lower-case hex of the trace id (32 characters and a NUL). */
void jn_trace_id_format(const uint8_t id[JN_TRACE_ID_LEN], char out[33]);

/* ---- the switch ---- */

/* Starts recording: `sample_ratio` (0..1) applies to calls that arrive without a traceparent; `queue_spans` is the
 * ring's capacity (>= 1). 0, or JN_ENOMEM. Registers the trace counters with /metrics. */
int jn_trace_enable(double sample_ratio, size_t queue_spans);
/* Stops recording (spans ended later are not kept) and frees the ring. */
void jn_trace_disable(void);
/* Whether spans are recorded at all (one relaxed load). */
bool jn_trace_on(void);

/* ---- spans ---- */

typedef enum jn_span_kind {
    JN_SPAN_INTERNAL = 1, /* the values of OTLP's Span.SpanKind */
    JN_SPAN_SERVER = 2,
    JN_SPAN_CLIENT = 3,
} jn_span_kind;

/* An open span. `ctx` is what its children use as parent (and what goes out in a traceparent). */
typedef struct jn_span {
    jn_trace_ctx ctx;
    uint8_t parent_id[JN_SPAN_ID_LEN];
    bool has_parent;
    bool recording;
    int64_t start_ns; /* jn_now_ns() clock */
} jn_span;

/* Opens a span under `parent` (may be NULL or invalid: then nothing is recorded): recording when tracing is on and
 * the parent is sampled. start_ns = now. */
void jn_span_start(jn_span *s, const jn_trace_ctx *parent);
/* The same with a start time the caller read already (jn_now_ns() clock): no clock read. */
void jn_span_start_at(jn_span *s, const jn_trace_ctx *parent, int64_t start_ns);
/* The context to pass on below a span: its own when recording, else `parent` unchanged (may be NULL). */
static inline const jn_trace_ctx *jn_span_ctx(const jn_span *s, const jn_trace_ctx *parent)
{
    return s->recording ? &s->ctx : parent;
}

#define JN_SPAN_MAX_LINKS 16

/* What a span says about itself. Strings may be NULL (left out); numbers < 0 are left out. */
typedef struct jn_span_attrs {
    const char *model;
    const char *version;
    const char *door;
    const char *tracestate; /* the request span's caller-given tracestate */
    const char *error;      /* the failure's message (status ERROR) */
    int status;             /* gRPC status code; < 0 = none */
    int64_t in_bytes, out_bytes;
    int64_t batch_size; /* requests in a batch */
    int64_t rows;       /* rows of a batch */
    /* Span links (a batch's requests); at most JN_SPAN_MAX_LINKS are kept, the rest counted as dropped. */
    const jn_trace_ctx *const *links;
    size_t n_links;
} jn_span_attrs;

/* A jn_span_attrs with every number "none". */
#define JN_SPAN_ATTRS_NONE                                                                                           \
    {                                                                                                                \
        .status = -1, .in_bytes = -1, .out_bytes = -1, .batch_size = -1, .rows = -1                                 \
    }

/* Closes the span: a record (name, kind, times, attributes) goes into the ring when it is recording. Its name is
 * `name`, or "name detail" when detail is not NULL (no formatting on the hot path). end_ns 0 = now. Nothing happens
 * for a span that does not record; a span is ended once. */
void jn_span_end(jn_span *s, const char *name, const char *detail, jn_span_kind kind, int64_t end_ns,
                 const jn_span_attrs *a);

/* ---- the call's trace (one per request; embedded in jn_call) ---- */

typedef struct jn_call_trace {
    jn_span span;          /* the request span (kind SERVER) */
    jn_trace_ctx incoming; /* the caller's context (valid when a good traceparent came) */
    char *tracestate;      /* the caller's tracestate (malloc'd) when it came with a valid traceparent; else NULL */
    const char *door;      /* static string naming the door ("junction.v1", "rest_v2", ...) */
} jn_call_trace;

/* Reads the caller's context (either value may be NULL; lengths in bytes) and opens the request span, which
 * starts at start_ns (the call's arrival). Cheap when there is nothing to do: tracing off and no traceparent. */
void jn_call_trace_begin(jn_call_trace *t, const char *door, const char *traceparent, size_t tp_len,
                         const char *tracestate, size_t ts_len, int64_t start_ns);
/* The context a call's children use: the request span's when the trace was begun here (recording, or a new trace
 * that was not sampled: its ids go on with the sampled flag off), else the caller's (passed on as is), or NULL
 * (tracing off and no traceparent came). */
const jn_trace_ctx *jn_call_trace_ctx(const jn_call_trace *t);
/* Frees the tracestate copy; the span is not ended (the dispatcher ends it in jn_call_finish). */
void jn_call_trace_clear(jn_call_trace *t);

/* For the request log (issue #22 part 2): the call's trace id as 32 lower-case hex digits (sampled or not), or ""
 * when the call has none (tracing off and no traceparent came). `c` is a jn_call (dispatch.h); declared here so the
 * log needs only this header. Any thread that holds the call. */
struct jn_call;
void jn_trace_id_hex(const struct jn_call *c, char out[33]);

/* ---- the ring (for the exporter) ---- */

#define JN_SPAN_NAME_MAX 64

/* One finished span: fixed size, no pointers. Times on the jn_now_ns() clock. */
typedef struct jn_span_rec {
    uint8_t trace_id[JN_TRACE_ID_LEN];
    uint8_t span_id[JN_SPAN_ID_LEN];
    uint8_t parent_id[JN_SPAN_ID_LEN];
    uint8_t flags;
    uint8_t kind;
    bool has_parent;
    uint8_t n_links;
    uint8_t dropped_links;
    int32_t status;
    int64_t start_ns, end_ns;
    int64_t in_bytes, out_bytes, batch_size, rows;
    char name[JN_SPAN_NAME_MAX];
    char model[64];
    char version[32];
    char door[24];
    char error[160];
    struct {
        uint8_t trace_id[JN_TRACE_ID_LEN];
        uint8_t span_id[JN_SPAN_ID_LEN];
    } links[JN_SPAN_MAX_LINKS];
    char tracestate[JN_TRACESTATE_MAX + 1];
} jn_span_rec;

/* The exporter's zero-copy read: up to max of the oldest records, in place (*first; contiguous, so fewer when the
 * ring wraps). They stay the caller's, untouched by producers, until jn_trace_ring_release. Returns how many. One
 * claim at a time. */
size_t jn_trace_ring_claim(const jn_span_rec **first, size_t max);
/* Frees the records of the last claim. */
void jn_trace_ring_release(void);
/* Copies up to max records out of the ring (oldest first) and removes them. Returns how many. */
size_t jn_trace_ring_pop(jn_span_rec *out, size_t max);
/* Records waiting in the ring. */
size_t jn_trace_ring_count(void);
/* Waits until at least `want` records wait, or timeout_ns passed, or jn_trace_ring_wake was called. */
void jn_trace_ring_wait(size_t want, int64_t timeout_ns);
void jn_trace_ring_wake(void);

/* Counters (also in /metrics): the exporter reports what became of the spans it took. */
void jn_trace_count_exported(uint64_t spans);
void jn_trace_count_failed(uint64_t spans); /* a POST the collector did not accept: its spans are dropped */

typedef struct jn_trace_counters {
    uint64_t recorded, exported, dropped_queue_full, dropped_export_failed, export_failures;
} jn_trace_counters;
void jn_trace_counters_get(jn_trace_counters *out);

/* ---- for tests ---- */

/* Random ids (never all zero). */
void jn_trace_new_trace_id(uint8_t id[JN_TRACE_ID_LEN]);
void jn_trace_new_span_id(uint8_t id[JN_SPAN_ID_LEN]);

#endif
