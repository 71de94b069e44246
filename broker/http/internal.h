/* internal.h — state shared by server.c (loop threads, listener and accepting, response hand-off, shutdown),
 * connection.c (one client socket: ordering, writing, timers), request_parse.c (its http-parser callbacks) and
 * stream.c (streamed answers). Not installed; nothing outside broker/http includes it.
 *
 * Loops: the server runs opt.loop_threads loop threads (jn__http_loop), each with its own libuv loop, async handle,
 * connections and read buffer. Loop 0 also polls the listening socket: it accepts and deals the new sockets out
 * round-robin (to itself directly, to the others through their new_fds queue and async). A connection, its
 * requests and their answers belong to one loop for their whole life.
 *
 * Ownership:
 * - jn_http_server is refcounted: one reference for the owner (dropped by jn_http_server_destroy) and one per live
 *   request (hreq). A handler that answers after the server was destroyed therefore still finds a valid mutex
 *   (the loops, and their mutexes, are freed with the server).
 * - A connection owns its queue of hreqs (arrival order). An hreq the handler holds, or whose answer waits in its
 *   loop's response queue (both DISPATCHED) outlives its connection if the connection dies first: the connection
 *   sets hreq.conn = NULL under the loop mutex and forgets it; whoever touches it next (jn_http_respond if not
 *   yet answered, else the loop's drain) frees it.
 * - Everything else (connection, parser, buffers, libuv handles) belongs to its loop thread.
 *
 * Locking: each loop's mu guards its stop_requested, loop_closing, response queue and new_fds, and for the hreqs
 * of its connections hreq.answered and every write of hreq.conn after the hreq was dispatched (the loop thread
 * reads conn without the lock: only it writes it). uv_async_send is only called with mu held and only while
 * !loop_closing, so it never races with the async handle's close.
 */
#ifndef JN_HTTP_INTERNAL_H
#define JN_HTTP_INTERNAL_H

#include <http_parser.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <uv.h>

#include "server.h"

/* Invariants that stay checked in release builds. */
#define JN_HTTP_ASSERT(cond)                                                                                   \
    do {                                                                                                       \
        if (!(cond))                                                                                           \
            jn__http_assert_fail(__FILE__, __LINE__, #cond);                                                   \
    } while (0)
_Noreturn void jn__http_assert_fail(const char *file, int line, const char *cond);

typedef struct jn__http_conn jn__http_conn;
typedef struct jn__http_loop jn__http_loop;

enum {
    HREQ_HEAD,       /* request line and headers arriving */
    HREQ_BODY,       /* body arriving */
    HREQ_DISPATCHED, /* given to the handler; its answer may be waiting in the server's queue (see answered) */
    HREQ_READY,      /* answer attached on the loop thread, waiting for earlier answers */
    HREQ_WRITING,    /* uv_write in flight */
    HREQ_STREAM,     /* a streamed answer whose head is attached: chunks are written as they come (stream.c) */
};

/* One chunk of a streamed answer, queued by the producer (mu) and written by the loop. */
typedef struct jn__http_chunk {
    struct jn__http_chunk *next;
    size_t len;
    char data[]; /* len bytes */
} jn__http_chunk;

typedef struct jn__http_hdr_span {
    size_t name_off, name_len, value_off, value_len;
} jn__http_hdr_span;

typedef struct jn__http_req {
    jn_http_request pub; /* first: the handler's pointer is this struct's */
    jn_http_server *srv;
    jn__http_loop *lp;   /* the loop of its connection; never changes */
    jn__http_conn *conn; /* NULL once the connection is gone (see the ownership rule above) */
    struct jn__http_req *next;  /* connection queue */
    struct jn__http_req *rnext; /* server response queue */
    int state;     /* loop thread only */
    bool answered; /* mu: jn_http_respond was called */
    uint64_t seq;  /* per connection, from 1 */

    /* Parsing (loop thread). Raw URL and header bytes accumulate in `raw`; spans index into it. */
    char *raw;
    size_t raw_len, raw_cap, url_len;
    jn__http_hdr_span *spans;
    size_t n_spans, spans_cap;
    int last_cb; /* 0 none, 1 header field, 2 header value */
    jn_http_header *headers; /* one block: the header array, then path, query, header names and values,
                              * NUL-terminated (built at headers complete) */
    uint8_t *body;
    size_t body_len, body_cap;
    unsigned short http_minor;
    bool keep_alive, is_head, want_continue, continue_sent, close_after;

    /* Response. head = status line + headers except Date/Connection; tail = those + the blank line. */
    int status;
    char *resp_head;
    size_t resp_head_len;
    char *resp_body;
    size_t resp_body_len;
    char tail[96];
    uv_write_t wr;

    /* Streamed answers (stream.c). Under the loop's mu: streaming (jn_http_stream_begin was called: `answered` is
     * set too), stream_ended (jn_http_stream_end was called), in_rq (on the loop's response queue; whoever finds
     * conn == NULL frees the hreq only when it is ended and not queued), the producer's chunk queue and its byte
     * count (written chunks leave the count when their write completes: back-pressure), room (signalled when the
     * count drops or the connection goes) and gone (the handler's flag, set when the client goes away before the
     * answer is complete; jn_http_watch_gone). */
    bool streaming, stream_ended, in_rq, room_init, watched;
    jn__http_chunk *sq_head, *sq_tail;
    size_t sq_bytes;
    pthread_cond_t room;
    atomic_int *gone;
    /* Loop thread only: the head went out, a write is in flight (its buffer, payload bytes, and whether it held
     * the last chunk). */
    bool head_sent, stream_writing, stream_last;
    char *swbuf;
    size_t sw_payload;
} jn__http_req;

/* One loop thread and what it owns. */
struct jn__http_loop {
    jn_http_server *s;
    int index; /* 0 accepts */
    uv_loop_t loop;
    uv_async_t async;
    uv_timer_t stop_timer;
    uv_thread_t thread;
    bool thread_started; /* controlling thread */

    pthread_mutex_t mu;
    bool stop_requested;             /* mu */
    bool loop_closing;               /* mu: the async handle is closing; respond must not touch the loop */
    jn__http_req *rq_head, *rq_tail; /* mu: answered requests waiting for the loop */
    int *new_fds;                    /* mu: accepted sockets handed over by loop 0, not yet opened */
    size_t n_new_fds, new_fds_cap;

    /* Loop thread only. */
    bool stopping, finished;
    jn__http_conn *conns; /* doubly linked */
    time_t date_sec;
    char date[40];
    char rbuf[65536]; /* every connection's reads land here (see on_alloc) */
};

struct jn_http_server {
    jn_http_server_options opt; /* host points into host_copy */
    char *host_copy;
    int port;
    atomic_int refs;
    bool stop_called; /* controlling thread */

    /* The listening socket, polled by loop 0 (loop 0's thread only, once started). */
    int listen_fd;
    uv_poll_t listener;
    uv_timer_t accept_pause; /* accepting paused for a moment after running out of descriptors */
    bool listener_open;
    unsigned next_loop; /* round-robin */

    int n_loops;
    jn__http_loop *loops;
};

/* One client connection (connection.c; its parser callbacks in request_parse.c). Loop thread only. */
struct jn__http_conn {
    uv_tcp_t tcp;
    uv_timer_t timer;
    uv_shutdown_t shut_req;
    uv_write_t cont_wr;
    http_parser parser;
    jn_http_server *s; /* lp->s */
    jn__http_loop *lp;
    jn__http_conn *prev, *next;

    jn__http_req *q_head, *q_tail; /* arrival order; the tail may be the request being parsed */
    jn__http_req *cur;             /* being parsed (HEAD or BODY), NULL between requests */
    size_t n_queued;
    uint64_t seq;      /* requests begun */
    size_t head_bytes; /* of cur's head so far */

    char *spare_raw; /* the head buffers of the last request, lent to the next one (fewer allocations) */
    size_t spare_raw_cap;
    jn__http_hdr_span *spare_spans;
    size_t spare_spans_cap;
    char *pending; /* read but not parsed while paused for back-pressure */
    size_t pending_len;
    int fail_status; /* set by a parser callback that rejects the request */
    const char *fail_msg;

    int phase; /* what the timer is counting down */
    uint64_t phase_seq;
    int64_t timer_ms;      /* the timeout conn_update_timer last started the timer with; -1 after any other start */
    uint64_t timer_start;  /* uv_now() then */
    int handles_open;
    bool reading, paused_bp, no_more, read_eof, cont_writing, shut, lingering, closing, stopping;
};

/* connection.c */
/* A new hreq at the tail of c's queue (the request whose first byte arrived), or NULL on out of memory. */
jn__http_req *jn__http_req_new(jn__http_conn *c);
void jn__http_conn_accept(jn__http_loop *lp, int fd); /* takes the accepted socket (closed on failure) */
void jn__http_conn_stop(jn__http_conn *c);      /* server stopping: answer what is in flight, then close */
void jn__http_conn_close(jn__http_conn *c);     /* close now; outstanding requests are orphaned */
void jn__http_conn_answered(jn__http_req *r);   /* r's answer arrived on the loop thread */
jn__http_conn *jn__http_conn_next(jn__http_conn *c);

/* request_parse.c: the callbacks http_parser_execute calls for a connection (parser.data is the jn__http_conn). */
extern const http_parser_settings jn__http_parser_settings;

/* The loop whose handler runs on this thread right now (set around the handler call), else NULL.
 * jn_http_respond from inside the handler then skips the uv_async wake-up: the loop drains its response queue
 * right after parsing (on_read, conn_resume). */
extern _Thread_local jn__http_loop *jn__http_dispatching;

/* stream.c */
/* The loop took r (streaming) off its response queue: promote it, write what is queued, or free an orphan. */
void jn__http_stream_drained(jn__http_req *r);
/* Builds the next write of a streamed answer (head, queued chunks, last chunk) into r->swbuf; false when there is
 * nothing to write now. `tail` is the Date/Connection block for the head. Loop thread. */
bool jn__http_stream_take(jn__http_req *r, const char *tail, size_t tail_len, size_t *len);
/* The write of `payload` bytes completed: releases back-pressure. Loop thread. */
void jn__http_stream_written(jn__http_req *r);
/* The connection went away: tells the producer (gone flag, room); true when r must be freed now (its producer
 * ended and it is not queued), else r->conn is cleared and r left to its producer or the drain. Under mu. */
bool jn__http_stream_orphan_locked(jn__http_req *r);
/* r's chunk queue and condition (with jn__http_req_free). */
void jn__http_stream_free(jn__http_req *r);
/* connection.c: a streamed answer has news (its head, chunks, or its end). */
void jn__http_conn_stream_news(jn__http_req *r);

/* server.c */
void jn__http_conn_freed(jn__http_loop *lp);    /* a connection is gone: maybe finish stopping */
void jn__http_req_free(jn__http_req *r);
void jn__http_drain(jn__http_loop *lp);         /* attach queued answers to their connections */
const char *jn__http_date(jn__http_loop *lp);
/* Formats status line and headers into r->resp_head and takes body. Any thread. chunked: a streamed answer
 * (Transfer-Encoding: chunked instead of Content-Length; nothing for HTTP/1.0, which is closed after it). */
void jn__http_format(jn__http_req *r, int status, const char *content_type, char *body, size_t body_len,
                     const char *extra_headers);
void jn__http_format_stream(jn__http_req *r, int status, const char *content_type, const char *extra_headers);
/* Puts r on its loop's response queue and wakes the loop (mu held; r->conn != NULL). */
void jn__http_enqueue_locked(jn__http_req *r);
/* {"error": message}, malloc'd, never NULL. */
char *jn__http_error_json(const char *message, size_t *len);

#endif
