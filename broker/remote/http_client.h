/* http_client.h — HTTP requests to one remote (an OpenAI-compatible server) through Debian's libcurl: TLS, proxies
 * (the usual *_proxy environment variables), HTTP/2 and connection reuse come with it.
 *
 * One client = one curl multi handle driven by one pump thread of its own: an epoll loop over the sockets libcurl
 * asks for (curl_multi_socket_action: a wake costs the sockets that are ready, not every transfer) and libcurl's
 * timer; other threads wake it through an eventfd to add or abort a transfer. Only the pump touches the multi
 * handle. The body of an answer is handed over as it arrives: the pump's write callback appends it to the
 * transfer's buffer and signals the owner only when it sleeps in jn_http_next (chunks that arrive while it works
 * are taken together at its next call), so a streamed answer's chunks reach the engine as they come, and the pump
 * never runs engine code nor waits for a slow consumer.
 * Aborting (jn_http_close before the end) removes the handle from the multi handle, which closes its connection:
 * the remote sees the client go away.
 *
 * Redirects are not followed (a bearer token is never sent to another host).
 *
 * Ownership: the client owns its pump and every transfer not yet closed; a transfer belongs to the thread that
 * started it until jn_http_close, which frees it. The request's strings are copied.
 * Thread-safety: start/next/close of different transfers may run on any threads at once; one transfer is used by
 * one thread at a time.
 */
#ifndef JN_REMOTE_HTTP_CLIENT_H
#define JN_REMOTE_HTTP_CLIENT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"

typedef struct jn_http_client jn_http_client;
typedef struct jn_http_transfer jn_http_transfer;

typedef struct jn_http_tls {
    const char *ca_file, *cert_file, *key_file; /* "" or NULL = libcurl's defaults (the system CA bundle) */
} jn_http_tls;

/* Starts the pump thread. keep_connections = how many idle connections to the remote stay open for reuse (the
 * endpoint's max_concurrency: libcurl's default cache shrinks to 4 x the transfers running, so the tail of a burst
 * closed most of them and the next burst paid new connections; <= 0 = libcurl's default). NULL with err set. */
jn_http_client *jn_http_client_create(const jn_http_tls *tls, long keep_connections, jn_err *err);
/* Aborts what is still running, stops the pump. No transfer may be in use any more. */
void jn_http_client_destroy(jn_http_client *c);

typedef struct jn_http_client_request {
    const char *method; /* "GET" or "POST" */
    const char *url;
    const char *body; /* POST: sent as application/json */
    size_t body_len;
    const char *bearer; /* NULL = no Authorization header */
    const char *accept; /* NULL = application/json */
    int64_t deadline_ns; /* jn_now_ns() clock; required */
    size_t max_body;     /* an answer body larger than this fails the transfer (JN_ERANGE); 0 = no limit */
    /* W3C trace context headers (core/trace.h), NULL = none: `traceparent` and, with it, `tracestate`. */
    const char *traceparent;
    const char *tracestate;
} jn_http_client_request;

/* Queues the request. NULL with err set (out of memory). */
jn_http_transfer *jn_http_start(jn_http_client *c, const jn_http_client_request *r, jn_err *err);

typedef enum jn_http_state {
    JN_HTTP_DATA = 1, /* bytes were appended to *out */
    JN_HTTP_END,      /* the answer is complete (any bytes left were appended first) */
} jn_http_state;

/* Waits for more of the answer: appends what has arrived to out (a malloc'd buffer of *out_cap bytes, grown with
 * realloc as needed: start with NULL, 0, 0 and free it after; *out_len is its length, kept NUL-terminated) and returns JN_HTTP_DATA, or JN_HTTP_END once the whole answer is in. Negative
 * JN_E* with err set when the transfer failed (JN_EUNAVAIL: connection refused or broken, with curl's reason;
 * JN_EDEADLINE: the deadline passed; JN_ERANGE: the body outgrew max_body) or *cancelled (may be NULL) was seen set (JN_ECANCELLED). The status and
 * headers are known once the first DATA or END came back. */
int jn_http_next(jn_http_transfer *t, const atomic_int *cancelled, char **out, size_t *out_len, size_t *out_cap,
                 jn_err *err);
/* The HTTP status (0 before the headers), and the Retry-After header in milliseconds (-1 when absent or not a
 * number of seconds). */
long jn_http_status(const jn_http_transfer *t);
int64_t jn_http_retry_after_ms(const jn_http_transfer *t);
/* The answer's Content-Type into buf ("" before the headers or without one). */
void jn_http_content_type(const jn_http_transfer *t, char *buf, size_t n);
/* Ends the transfer (aborting it when it still runs: its connection is closed) and frees it. */
void jn_http_close(jn_http_transfer *t);

/* Checks an endpoint URL: http:// or https://, a host, no user:password, query or fragment. JN_EINVAL saying what
 * is wrong. */
int jn_http_check_url(const char *url, jn_err *err);

#endif
