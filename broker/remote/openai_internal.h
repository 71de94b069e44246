/* openai_internal.h — what the OpenAI-compatible remote's files share (openai_http.c: the HTTP plumbing; openai_client.c:
 * chat and completions; openai_embeddings.c). Not for other modules.
 *
 * Every function reports the server's answer in `st` (a grpc status code and message) and returns st->code, as
 * protocol.h's functions do. Ownership: a jn__oai_answer's data is malloc'd (free(a->data)); json_t values are the
 * caller's to json_decref. Thread-safety: all may run concurrently.
 */
#ifndef JN_REMOTE_OPENAI_INTERNAL_H
#define JN_REMOTE_OPENAI_INTERNAL_H

#include <jansson.h>

#include "http_client.h"
#include "protocol.h"
#include "trace.h"

/* The largest whole answer read (a streamed one is bounded per event by sse.c, and in all by the deadline): large
 * embedding batches fit (1000 vectors of 4096 numbers are ~50 MB of JSON). */
#define JN_OAI_MAX_ANSWER ((size_t)256 << 20)

typedef struct jn__oai_answer {
    char *data;
    size_t len, cap;
} jn__oai_answer;

/* {endpoint}{path}, without doubling the '/' of an endpoint that ends in one. */
void jn__oai_url(char *buf, size_t n, const jn_endpoint *ep, const char *path);
/* The server's message in an error body (OpenAI's {"error": {"message"}} and the other usual shapes), control
 * characters made spaces, the endpoint's key scrubbed. */
void jn__oai_upstream_message(const char *body, size_t len, char *out, size_t n);
void jn__oai_scrub_key(char *msg, const char *key);
/* st from an HTTP error status (and its Retry-After), or from a transfer that failed (jn_http_next's code). */
int jn__oai_http_failure(const jn_endpoint *ep, const char *method, const char *url, long status,
                         int64_t retry_after_ms, const char *body, size_t len, jn_call_status *st);
int jn__oai_transport_failure(int rc, const jn_err *err, const char *method, const char *url, jn_call_status *st);
/* Sends the request and reads the whole answer: 0 with a 2xx answer in *a, or the grpc status. */
/* `trace` (may be NULL): the span the request serves, sent as W3C traceparent / tracestate headers. */
int jn__oai_exchange(jn_endpoint *ep, const char *method, const char *path, const char *body, size_t body_len,
                     int64_t deadline_ns, const atomic_int *cancelled, const jn_trace_ctx *trace, jn__oai_answer *a,
                     jn_call_status *st);
/* The W3C headers' values for `trace` (may be NULL): r->traceparent (into tp) and r->tracestate, or none. */
void jn__oai_trace_headers(jn_http_client_request *r, const jn_trace_ctx *trace, char tp[JN_TRACEPARENT_LEN + 1]);
/* The answer as a JSON object, or NULL with st set (INTERNAL naming `what`). */
json_t *jn__oai_parse_answer(const jn__oai_answer *a, const char *what, jn_call_status *st);
/* GET models: 0 when `model` is among its ids; NOT_FOUND naming what it serves otherwise. */
int jn__oai_model_listed(jn_endpoint *ep, const char *model, int64_t deadline_ns, jn_call_status *st);
/* The protocols' health check (jn_remote_proto.check): the model is listed. */
int jn__oai_check(jn_endpoint *ep, const char *model, const char *version, int64_t deadline_ns, jn_call_status *st);

#endif
