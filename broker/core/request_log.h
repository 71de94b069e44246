/* request_log.h — one JSON line per finished request (`junction serve --request-log FILE|-`, issue #22), in a
 * CloudEvents 1.0 envelope (structured mode, one event per line):
 *
 *   {"specversion":"1.0","id":"<boot id>-<n>","source":"junction/<host>","type":"junction.request",
 *    "time":"2026-12-07T05:13:43.123Z","datacontenttype":"application/json",
 *    "data":{"model":"identity","version":"1","door":"grpc-v1","request_id":"r-1",
 *            "status":{"code":"OK","number":0},"latency_us":84,"request_bytes":61,"response_bytes":44,
 *            "error":"...",                       (failed requests: the message, masked)
 *            "inputs":[...],"outputs":[...],      (--request-log-payloads only)
 *            "truncated":true}}                   (only when the entry hit --request-log-max-entry)
 *
 * status is the gRPC code name and number (whatever door the request came through); latency_us is received ->
 * answered (the dispatcher's total); sizes are the request and answer as the door saw them on the wire (0 where it
 * could not tell). A payload tensor is {"name","datatype","shape","values"}: numbers for numeric tensors, true/false
 * for BOOL, text for BYTES elements that are UTF-8 (masked), {"base64": first 192 bytes, "bytes": length} for
 * binary elements; a redacted port (redact.h) has "values":"[REDACTED]". Request parameters and transport metadata
 * (authorization, API keys, any header) are never written: the log has no field for them.
 *
 * Requests are never made to wait on the disk: the finishing thread samples (--request-log-sample), formats the
 * line and puts it in a bounded queue (8192 lines or 64 MiB), or drops it when the queue is full (counted);
 * one writer thread writes the queue out and rotates the file by size (FILE -> FILE.1 -> ... FILE.K, the oldest
 * dropped), between two lines, so rotation neither loses nor repeats one.
 * /metrics: junction_request_log_lines_total, junction_request_log_dropped_total,
 * junction_request_log_rotations_total.
 *
 * Ownership: the log is the server's (created by serve, borrowed by the dispatchers through jn_dispatch_limits);
 * it borrows the redaction rules, which must outlive it. Entries are read during jn_request_log_record only.
 * Thread-safety: jn_request_log_record / _counts may be called from any thread at once; open and close from one.
 */
#ifndef JN_REQUEST_LOG_H
#define JN_REQUEST_LOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "redact.h"
#include "tensor.h"

#define JN_REQUEST_LOG_DEFAULT_MAX_ENTRY (64u << 10)
#define JN_REQUEST_LOG_MIN_MAX_ENTRY 1024u
#define JN_REQUEST_LOG_DEFAULT_KEEP 5

typedef struct jn_request_log_options {
    const char *path;         /* a file (appended to), or "-" for standard output */
    const char *source;       /* the CloudEvents source: "junction/<host>" */
    bool payloads;            /* inputs and outputs too */
    double sample;            /* share of requests logged, 0..1 */
    size_t max_entry;         /* bytes per line, newline included (payloads are cut to fit); 0 = default */
    uint64_t max_bytes;       /* rotate when a line would take the file past this; 0 = never (not with "-") */
    int keep;                 /* rotated files kept (FILE.1 .. FILE.keep), 1..1000 */
    size_t queue_lines;       /* lines waiting for the writer at most; 0 = 8192 */
    const jn_redact *redact;  /* borrowed; NULL = no redaction */
} jn_request_log_options;

/* Defaults: sample 1, max_entry 64 KiB, keep 5, no rotation, no payloads. */
void jn_request_log_options_default(jn_request_log_options *o);

typedef struct jn_request_log jn_request_log;

/* Opens the file (appends; creates it) and starts the writer. NULL with err naming the option or the file. */
jn_request_log *jn_request_log_open(const jn_request_log_options *o, jn_err *err);
/* Writes out every line already queued, stops the writer, closes the file. No record may be in progress. */
void jn_request_log_close(jn_request_log *l);

/* One finished request, as the dispatcher saw it (every pointer borrowed for the call). */
typedef struct jn_request_log_entry {
    const char *model, *version; /* NULL = "" */
    const char *door;            /* "grpc-v1", "rest-v2", ... */
    const char *request_id;      /* the caller's id; NULL or "" = none (not written) */
    int rc;                      /* 0 or a JN_E* code */
    const char *error;           /* the message when rc != 0 (masked before it is written) */
    int64_t latency_ns;
    uint64_t request_bytes, response_bytes;
    const jn_tensor_list *inputs, *outputs; /* for payloads; NULL = none */
    const char *trace_id;        /* 32 hex digits, or NULL = not written */
} jn_request_log_entry;

/* Are payloads (inputs and outputs) written? */
bool jn_request_log_payloads(const jn_request_log *l);

/* Samples, formats and queues the entry's line: never blocks on the writer or the disk. */
void jn_request_log_record(jn_request_log *l, const jn_request_log_entry *e);

/* The line for e (what record queues, newline included), malloc'd and NUL-terminated, *len without the NUL; NULL on
 * out of memory. For tests. */
char *jn_request_log_format(jn_request_log *l, const jn_request_log_entry *e, size_t *len);

/* Blocks until every line queued so far is written and flushed (tests, shutdown). */
void jn_request_log_flush(jn_request_log *l);

typedef struct jn_request_log_counts {
    uint64_t lines, dropped, rotations, write_errors;
} jn_request_log_counts;
void jn_request_log_get_counts(jn_request_log *l, jn_request_log_counts *out);

#endif
