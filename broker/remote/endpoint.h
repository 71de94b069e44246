/* endpoint.h — one remote gRPC server as the broker sees it: a shared channel, a circuit breaker and a bounded
 * thread pool (the bulkhead its calls run on); plus the blocking unary call every remote call is made of.
 *
 * Endpoints live in a table keyed by their target string ("127.0.0.1:9000"): every engine on the same target
 * shares one. Engines hold references (jn_endpoint_ref/unref); an endpoint nobody references is freed by
 * jn_endpoints_reap, never by unref: the last reference may be dropped on one of the endpoint's own pool threads,
 * which cannot join itself.
 *
 * Two kinds of unary call, both always with a deadline:
 * - blocking (jn_endpoint_unary): one per thread at a time, on that thread's own pluck completion queue (created on
 *   first use, destroyed when the thread exits or calls jn_remote_thread_release);
 * - waited for by nobody (jn_endpoint_call_start): the answer comes out of a completion queue the caller already
 *   pumps (the server's), so no thread blocks and no thread hand-off happens. The endpoint lets max_concurrency
 *   of them be on the wire at once; the next max_queue wait in order and go out as earlier ones end; beyond that
 *   a call is refused at once (the bulkhead, as the pool is for blocking calls).
 * Brokered infer calls of remotes that allow it go instead as messages on multiplexed streams (jn_endpoint_mux_start
 * / jn_endpoint_mux_unary, endpoint_mux.c, issue #24), under the same admission.
 *
 * Thread-safety: everything may be called from any thread.
 */
#ifndef JN_REMOTE_ENDPOINT_H
#define JN_REMOTE_ENDPOINT_H

#include <grpc/grpc.h>
#include <pthread.h>
#include <protobuf-c/protobuf-c.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "breaker.h"
#include "err.h"
#include "options.h"
#include "workpool.h"

/* The remote methods, registered once per channel. */
typedef enum jn_remote_method {
    JN_RM_V2_SERVER_READY,
    JN_RM_V2_MODEL_READY,
    JN_RM_V2_MODEL_METADATA,
    JN_RM_V2_MODEL_INFER,
    JN_RM_V2_MODEL_STREAM_INFER,
    JN_RM_ENGINE_DESCRIBE,
    JN_RM_ENGINE_INFER,
    JN_RM_ENGINE_INFER_STREAM,
    JN_RM_HEALTH_CHECK,
    JN_RM_COUNT
} jn_remote_method;

struct jn_http_client;

typedef struct jn_endpoint {
    char *target;          /* HOST:PORT (gRPC), or the base URL of an HTTP remote */
    grpc_channel *channel; /* NULL for an HTTP remote */
    /* HTTP remotes (protocol openai, issue #18): the libcurl client, and the bearer token read from the first
     * engine's api_key_file (NULL: none). The token is sent only in this endpoint's requests and never printed;
     * it is wiped when the endpoint is freed. */
    struct jn_http_client *http;
    char *bearer;
    void *methods[JN_RM_COUNT];
    jn_breaker breaker;
    jn_workpool *pool;
    jn_remote_options opt; /* of the engine that opened it */
    atomic_int refs;          /* engines using it (health lives on the engines: remotes.c) */
    _Atomic unsigned long long calls_ok, calls_failed; /* attempts sent to it, by outcome (/metrics) */
    /* Calls nobody waits for (jn_endpoint_call_start): how many are on the wire, and the ones waiting in order for
     * one of those to end. Guarded by calls_mu. */
    pthread_mutex_t calls_mu;
    int calls_running, calls_waiting;
    struct jn_endpoint_call *wait_head, *wait_tail;
    /* Multiplexed streams (endpoint_mux.c, guarded by its lock): after streams that broke without answering, none
     * is opened before mux_retry_at_ns (the wait doubles up to backoff_max_ms; reset by an answer). */
    int64_t mux_retry_at_ns, mux_backoff_ns;
    struct jn_endpoint *next; /* in the table, guarded by the table's lock */
} jn_endpoint;

typedef struct jn_endpoints jn_endpoints;

jn_endpoints *jn_endpoints_create(void);
/* Frees every endpoint; none may be referenced any more. */
void jn_endpoints_destroy(jn_endpoints *t);

/* Checks the form of a target: HOST:PORT, [IPV6]:PORT, dns:///HOST:PORT, ipv4:ADDR:PORT, ipv6:..., unix:PATH.
 * JN_EINVAL saying what is wrong with it. */
int jn_endpoint_check_target(const char *target, jn_err *err);

/* The endpoint for `target` (made on first use with `opt`), with a new reference. NULL with err set. */
jn_endpoint *jn_endpoints_open(jn_endpoints *t, const char *target, const jn_remote_options *opt, jn_err *err);
/* The same for an HTTP remote: `url` (checked: http:// or https://) keys the table; the endpoint has a libcurl
 * client instead of a channel and the bearer token of opt->api_key_file. An endpoint already open with another
 * api_key_file or other TLS files is refused (JN_EINVAL naming the option); so is an unreadable or empty key file
 * (the message names the file, never its content). */
jn_endpoint *jn_endpoints_open_http(jn_endpoints *t, const char *url, const jn_remote_options *opt, jn_err *err);
jn_endpoint *jn_endpoint_ref(jn_endpoint *ep);
void jn_endpoint_unref(jn_endpoint *ep);

/* Frees the endpoints nobody references (their pools are drained and joined). Returns how many. Must not run on
 * an endpoint pool thread. */
size_t jn_endpoints_reap(jn_endpoints *t);

/* Calls fn on every endpoint, with a reference held during the call (the table's lock is not held). */
void jn_endpoints_each(jn_endpoints *t, void (*fn)(jn_endpoint *ep, void *arg), void *arg);

/* The outcome of one call as the remote (or the transport) told it. */
typedef struct jn_call_status {
    int code; /* grpc_status_code */
    char message[JN_ERR_MSG_MAX];
    /* HTTP remotes: >= 0 when the remote asked to be retried after this many ms (a 429, or a 5xx with Retry-After);
     * -1 otherwise. Only the remote engine's attempts read it (each attempt resets it first). */
    int64_t retry_after_ms;
} jn_call_status;

/* Sets st and returns its code. */
int jn_call_status_set(jn_call_status *st, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* One unary call: sends req, waits for the answer until deadline_ns (jn_now_ns() clock; required), watching
 * `cancelled` (may be NULL: the call is then cancelled too). Returns the grpc status code: 0 with *resp set (free
 * with protobuf_c_message_free_unpacked) or non-zero with st filled (an undecodable answer is INTERNAL). */
int jn_endpoint_unary(jn_endpoint *ep, jn_remote_method m, const ProtobufCMessage *req,
                      const ProtobufCMessageDescriptor *resp_desc, int64_t deadline_ns, const atomic_int *cancelled,
                      ProtobufCMessage **resp, jn_call_status *st);

/* The same with the request already packed (taken; a copy of a kept request is cheap: grpc_byte_buffer_copy), and
 * W3C traceparent / tracestate (core/trace.h; NULL or "" = none) sent as metadata. */
int jn_endpoint_unary_packed(jn_endpoint *ep, jn_remote_method m, grpc_byte_buffer *request, const char *traceparent,
                             const char *tracestate, const ProtobufCMessageDescriptor *resp_desc, int64_t deadline_ns,
                             const atomic_int *cancelled, ProtobufCMessage **resp, jn_call_status *st);

/* A unary call nobody waits for. Takes `request`. 0: *call is set (before the call can end) and `tag` comes out of
 * `cq` (which the caller pumps with grpc_completion_queue_next) exactly once, when the call has ended, maybe on
 * another thread before this one returns; then the caller calls jn_endpoint_call_end on the thread that got it.
 * `parent` (may be NULL) is the server call this one serves: its cancellation is passed on. Non-zero grpc status
 * with st set when refused: UNAVAILABLE (max_queue calls already wait; the message names the endpoint) or
 * RESOURCE_EXHAUSTED (no memory); the tag then never comes. `traceparent` and `tracestate` (NULL or "" = none; tracestate borrowed until the tag came out) go as metadata. */
typedef struct jn_endpoint_call jn_endpoint_call;
int jn_endpoint_call_start(jn_endpoint *ep, jn_remote_method m, grpc_byte_buffer *request, const char *traceparent,
                           const char *tracestate, int64_t deadline_ns, grpc_completion_queue *cq, grpc_call *parent, void *tag,
                           jn_endpoint_call **call, jn_call_status *st);
/* After its tag came out: frees the call (its place goes to the next waiting call) and returns the grpc status: 0
 * with *resp (decoded with resp_desc; free with protobuf_c_message_free_unpacked), or non-zero with st filled. */
int jn_endpoint_call_end(jn_endpoint_call *c, const ProtobufCMessageDescriptor *resp_desc, ProtobufCMessage **resp,
                         jn_call_status *st);

/* A brokered infer call (a packed request, taken) as one message on a multiplexed stream of (ep, cq)
 * (endpoint_mux.c, issue #24): `stream` is JN_RM_ENGINE_INFER_STREAM (a junction.v1.InferRequest; the answer a
 * junction.v1.InferResponse) or JN_RM_V2_MODEL_STREAM_INFER (a v2 ModelInferRequest; the answer the
 * ModelInferResponse inside the stream's message, whose error_message fails the call). The same contract as
 * jn_endpoint_call_start (admission, the tag, jn_endpoint_call_end), except that the tag's function (a jn_host_tag)
 * is called directly: on the thread pumping cq for an answer or a broken stream, on the multiplexer's own thread
 * when the deadline passes or *cancelled (may be NULL) is seen set. The answer is a junction.v1.InferResponse (an
 * error in it is the caller's to read). When no stream can be had (backoff after broken ones, a closed queue) the
 * call goes out unary on cq. `request_id` (may be NULL) travels with the message id. */
int jn_endpoint_mux_start(jn_endpoint *ep, jn_remote_method stream, grpc_byte_buffer *request,
                          const char *request_id, int64_t deadline_ns, grpc_completion_queue *cq, grpc_call *parent,
                          const atomic_int *cancelled, void *tag, jn_endpoint_call **call, jn_call_status *st);
/* The same waited for by the calling thread (the stream is on the multiplexer's own queue); as
 * jn_endpoint_unary_packed, with admission: UNAVAILABLE at once when max_queue calls already wait. */
int jn_endpoint_mux_unary(jn_endpoint *ep, jn_remote_method stream, grpc_byte_buffer *request, const char *request_id,
                          const ProtobufCMessageDescriptor *resp_desc, int64_t deadline_ns,
                          const atomic_int *cancelled, ProtobufCMessage **resp, jn_call_status *st);
/* Whether the remote serves `stream` (a bidi method): a stream opened and half-closed at once ends OK (*supported
 * true) or UNIMPLEMENTED (false). Non-zero grpc status with st set when the remote did not say (unreachable...). */
int jn_endpoint_probe_stream(jn_endpoint *ep, jn_remote_method stream, int64_t deadline_ns, bool *supported,
                             jn_call_status *st);

/* jn_remote_mux_close_queue (server shutdown): declared in remotes.h, for the gRPC front end. */
/* When no endpoint is left: ends the multiplexer's own streams and stops its thread (restarted on next use). */
void jn_remote_mux_shutdown(void);

/* A bidi call driven step by step on the calling thread (streaming native engines). Open sends the one request
 * and half-closes; next reads answers until it returns 0 with *msg NULL (the end: st has the final status). */
typedef struct jn_endpoint_stream jn_endpoint_stream;
jn_endpoint_stream *jn_endpoint_stream_open(jn_endpoint *ep, jn_remote_method m, const ProtobufCMessage *req,
                                            int64_t deadline_ns, const atomic_int *cancelled, jn_call_status *st);
/* 0 with *msg (free with protobuf_c_message_free_unpacked) or *msg NULL at the end; non-zero grpc status on
 * failure (st filled). */
int jn_endpoint_stream_next(jn_endpoint_stream *s, const ProtobufCMessageDescriptor *desc, ProtobufCMessage **msg,
                            jn_call_status *st);
/* Cancels the call if it still runs and frees it. */
void jn_endpoint_stream_close(jn_endpoint_stream *s);

/* Destroys the calling thread's completion queue (the main thread calls it after making remote calls). */
void jn_remote_thread_release(void);

#endif
