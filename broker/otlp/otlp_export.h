/* otlp_export.h — sends the spans of trace.h to an OpenTelemetry collector by OTLP/HTTP protobuf (issue #22).
 *
 * One background thread drains the span ring: it POSTs an ExportTraceServiceRequest (opentelemetry-proto messages
 * compiled with protobuf-c, proto/opentelemetry/) with Content-Type application/x-protobuf through libcurl when
 * JN_OTLP_BATCH spans wait or a second passed since the last POST. A POST that fails (refused, no answer within
 * timeout_ms, not 2xx) drops its spans and counts them (junction_trace_spans_dropped_total{reason="export_failed"});
 * there is no retry. While a POST is in flight new spans wait in the ring, and once it is full they are dropped
 * (reason="queue_full"): requests never wait for the collector.
 *
 * Ownership: the options' strings are copied. Thread-safety: start and stop from one thread (serve's), once each.
 */
#ifndef JN_OTLP_EXPORT_H
#define JN_OTLP_EXPORT_H

#include <stddef.h>

#include "err.h"

/* Spans per POST at most. */
#define JN_OTLP_BATCH 512

typedef struct jn_otlp_options {
    const char *endpoint;     /* --otlp-endpoint: a URL with no path (or "/") gets /v1/traces appended */
    const char *service_name; /* --otlp-service-name; NULL = "junction" */
    double sample_ratio;      /* --trace-sample-ratio, 0..1 */
    size_t queue_spans;       /* --trace-queue: the ring's capacity */
    long timeout_ms;          /* one POST's bound (connect included) */
} jn_otlp_options;

/* The URL POSTs go to: endpoint as given when it has a path, else endpoint + "/v1/traces". Returns malloc'd text
 * or NULL (out of memory, or not an http:// or https:// URL: err says so). */
char *jn_otlp_traces_url(const char *endpoint, jn_err *err);

/* Turns tracing on (jn_trace_enable) and starts the exporter thread. 0, or a JN_E* code with err set. */
int jn_otlp_start(const jn_otlp_options *opt, jn_err *err);
/* Stops recording, sends what waits (one last POST bounded by the shorter of timeout_ms and 2 s), joins the thread
 * and frees everything. A no-op when not started. */
void jn_otlp_stop(void);

#endif
