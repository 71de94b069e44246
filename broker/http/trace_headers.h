/* trace_headers.h — the W3C trace context (core/trace.h) an HTTP request brings for the call it starts: every door of
 * the HTTP front end that dispatches a call (v2 REST, simple JSON, Triton's generate, the OpenAI-compatible API)
 * reads the `traceparent` and `tracestate` headers the same way. Malformed values are ignored (a new trace).
 * Call after jn_call_init and before jn_dispatch, on the thread that has the request. */
#ifndef JN_HTTP_TRACE_HEADERS_H
#define JN_HTTP_TRACE_HEADERS_H

#include <string.h>

#include "dispatch.h"
#include "server.h"
#include "trace.h"

static inline void jn__http_trace_begin(jn_call *c, const jn_http_request *req, const char *door)
{
    const char *tp = jn_http_header_get(req, "traceparent");
    const char *ts = tp ? jn_http_header_get(req, "tracestate") : NULL;
    jn_call_trace_begin(&c->trace, door, tp, tp ? strlen(tp) : 0, ts, ts ? strlen(ts) : 0, c->t_created);
}

#endif
