/* server.h — the HTTP/1.1 front end on libuv (http-parser for framing): keep-alive, pipelined requests answered in
 * order, Content-Length and chunked bodies, a body size limit, slow-client timeouts. It knows nothing of models:
 * every complete request goes to one handler, which answers once, from any thread.
 *
 * Threads: opt.loop_threads libuv loop threads (default 1); one of them accepts and deals the connections out
 * round-robin, and a connection stays on its loop thread for good. The handler is called on the connection's loop
 * thread, so with several loops it runs on several threads at once; it must not block or do heavy work there
 * (decode big bodies, run engines that are not inline): it hands such work to the worker pool and calls
 * jn_http_respond from the worker when done. jn_http_respond is thread-safe.
 *
 * Ownership: a jn_http_request and everything it points to (method, path, query, headers, body) belongs to the
 * server and stays valid until jn_http_respond is called for it; the handler must not keep pointers into it after
 * that. jn_http_respond copies nothing it is not told to: it takes ownership of `body` (freed with free()).
 *
 * Streaming: a handler may instead answer with a stream of chunks written from any thread (jn_http_stream_begin /
 * _write / _end below; Transfer-Encoding: chunked, bounded buffering with back-pressure), and learn that its client
 * left (jn_http_watch_gone) so the work behind the answer can be cancelled.
 */
#ifndef JN_HTTP_SERVER_H
#define JN_HTTP_SERVER_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"

typedef struct jn_http_server jn_http_server;

typedef struct jn_http_header {
    const char *name; /* lower-cased */
    const char *value;
} jn_http_header;

typedef struct jn_http_request {
    const char *method; /* "GET", "POST", ... */
    const char *path;   /* percent-decoding is the handler's business; no query string */
    const char *query;  /* after '?', or "" */
    const jn_http_header *headers;
    size_t n_headers;
    const uint8_t *body; /* de-chunked; NUL-terminated for convenience (not counted in body_len) */
    size_t body_len;
    void *user; /* jn_http_server_options.user */
} jn_http_request;

/* Case-insensitive header lookup; NULL if absent. */
const char *jn_http_header_get(const jn_http_request *req, const char *name);

/* Called once per complete request, on its connection's loop thread, in arrival order per connection (requests of
 * different connections may be handled concurrently). It must not call jn_http_server_stop or _destroy (they join
 * the loop threads). */
typedef void (*jn_http_handler)(jn_http_request *req);

typedef struct jn_http_server_options {
    const char *host;           /* "127.0.0.1" */
    int port;                   /* 0 = pick a free port (see jn_http_server_port) */
    size_t max_body_bytes;      /* larger bodies -> 413 and close */
    size_t max_header_bytes;    /* request line + headers; larger -> 431 and close (http-parser caps it at 80 KiB) */
    int64_t header_timeout_ms;  /* a request's head must arrive within this -> else 408 and close (a new
                                 * connection that sends nothing at all in this time is just closed) */
    int64_t body_timeout_ms;    /* its body within this after the head */
    int64_t idle_timeout_ms;    /* a keep-alive connection with no request in flight is closed after this; also
                                 * the limit for a client that does not read its answers. Timeouts <= 0: none */
    int max_pipelined;          /* requests read ahead on one connection before reading pauses (< 1 = 1) */
    int64_t stop_grace_ms;      /* jn_http_server_stop waits this long for unanswered requests; 0 = 10 s */
    int loop_threads;           /* libuv loop threads sharing the connections (< 1 = 1, at most 64) */
    jn_http_handler handler;
    void *user;
} jn_http_server_options;

/* 127.0.0.1:8000, 64 MiB bodies, 64 KiB heads, 10 s head, 60 s body, 60 s idle, 16 pipelined, 10 s stop grace. */
void jn_http_server_options_default(jn_http_server_options *opt);

/* Binds and starts the loop threads. NULL with err set when the address cannot be bound. The options are copied
 * (host too). */
jn_http_server *jn_http_server_start(const jn_http_server_options *opt, jn_err *err);
int jn_http_server_port(const jn_http_server *s);

/* Answers `req` (exactly once, any thread). `content_type` may be NULL for an empty body. `extra_headers` is a
 * block of "Name: value\r\n" lines or NULL. Takes ownership of body (malloc'd, may be NULL). Responses on one
 * connection are written in request order whatever order they are given in. The server adds Content-Length
 * (except for 204/304, which drop the body), Date, and Connection when needed; a HEAD request's body is not sent.
 * content_type and extra_headers are copied before it returns. Status codes outside 200..999 become 500.
 * Answering after the connection closed, or after the server was stopped or destroyed, is fine: the answer is
 * dropped. */
void jn_http_respond(jn_http_request *req, int status, const char *content_type, char *body, size_t body_len,
                     const char *extra_headers);

/* A JSON error answer {"error": message} with the given status. */
void jn_http_respond_error(jn_http_request *req, int status, const char *message);

/* ---- Streamed answers (stream.c) ----
 * A handler may answer a request with a stream instead of jn_http_respond: jn_http_stream_begin sends the status and
 * headers (Transfer-Encoding: chunked; for an HTTP/1.0 client the body ends when the connection closes), then
 * jn_http_stream_write sends chunks from any thread, in order, and jn_http_stream_end ends the body. Answers of later
 * requests on the same connection wait until the stream ends.
 *
 * Thread-safety: begin, write and end may be called from any thread, one at a time for a request (the producer's
 * calls must be ordered: they are usually made by one thread, or passed between threads with a lock).
 * Ownership: jn_http_stream_begin counts as answering: from then on the producer holds the request until
 * jn_http_stream_end, which it must call exactly once whatever happened (also after begin or write failed). The
 * request's strings and body stay valid until then. write copies the data.
 * Back-pressure: at most JN_HTTP_STREAM_MAX_BUFFERED bytes wait to be written: jn_http_stream_write blocks beyond
 * that until the client reads (a client that reads nothing is cut after idle_timeout_ms, which releases it). */
#define JN_HTTP_STREAM_MAX_BUFFERED ((size_t)1 << 20)

/* Sends the head of a streamed answer (content_type and extra_headers are copied). 0, or JN_ECANCELLED when the
 * client is already gone (call jn_http_stream_end anyway). */
int jn_http_stream_begin(jn_http_request *req, int status, const char *content_type, const char *extra_headers);
/* Queues one chunk (len 0 is ignored). 0, JN_ECANCELLED once the client is gone (the producer should stop), or
 * JN_ENOMEM. May block (back-pressure, above). */
int jn_http_stream_write(jn_http_request *req, const void *data, size_t len);
/* Ends the body; the request must not be touched afterwards. */
void jn_http_stream_end(jn_http_request *req);

/* Asks to be told when the client goes away before the request is fully answered (its connection closed or failed,
 * or it half-closed its side: for a watched request the end of the client's sending counts as leaving): *flag is set
 * to 1 (at once if it is gone already). Call it from the handler, before answering. The flag must stay valid until
 * the request is answered (jn_http_respond) or its stream ended. Meant for long answers whose work should stop with
 * their client (a streamed generation: the dispatcher's cancellation). */
void jn_http_watch_gone(jn_http_request *req, atomic_int *flag);
/* Is the request's client gone (its connection closed)? Until answered, or for a stream until ended. */
bool jn_http_request_gone(jn_http_request *req);

/* Stops accepting, answers what is in flight, closes connections, joins the loop threads. Requests the handler
 * has not answered within stop_grace_ms lose their connection (their later answer is dropped). Idempotent.
 * jn_http_server_destroy stops first if needed. */
void jn_http_server_stop(jn_http_server *s);
void jn_http_server_destroy(jn_http_server *s);

#endif
