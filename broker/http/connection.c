/* connection.c — one client connection on the loop thread: http-parser framing (its callbacks: request_parse.c), the request queue (arrival order,
 * answers written strictly in that order), 100-continue, limits (413/431/411/400), timers (408, idle), read
 * back-pressure (max_pipelined) and the closing sequence (shutdown, linger, close).
 *
 * Ownership: a connection owns its hreqs (created at the first byte of a request, queued at once, freed when their
 * answer is written), the unparsed leftover while reading is paused, and its two handles (tcp, timer). When both
 * handles are closed the connection is freed; hreqs a handler still holds are orphaned (conn = NULL under the
 * server mutex) and freed by whoever touches them next (see internal.h).
 * Threads: everything here runs on the loop thread. The handler is called from on_message_complete (request_parse.c),
 * inside http_parser_execute; it only queues its answer, which is attached by jn__http_drain after parsing returns.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "internal.h"

/* After the last answer of a closing connection: how long to keep reading (and dropping) what the client still
 * sends, so that closing with unread data does not reset the connection before the client has read the answer. */
#define LINGER_MS 2000
#define LINGER_STOPPING_MS 250 /* shorter while the server stops */

enum { PH_NONE, PH_HEADER, PH_BODY, PH_IDLE, PH_SEND, PH_LINGER };


static const char CONTINUE_100[] = "HTTP/1.1 100 Continue\r\n\r\n";

static void conn_pump(jn__http_conn *c);
static void conn_update_timer(jn__http_conn *c);
static void conn_shutdown(jn__http_conn *c);
static void on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf);

jn__http_conn *jn__http_conn_next(jn__http_conn *c)
{
    return c->next;
}

/* --- queue ----------------------------------------------------------------------------------------------------- */

jn__http_req *jn__http_req_new(jn__http_conn *c)
{
    jn__http_req *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    r->srv = c->s;
    r->lp = c->lp;
    atomic_fetch_add(&c->s->refs, 1);
    r->conn = c;
    r->seq = ++c->seq;
    r->state = HREQ_HEAD;
    r->keep_alive = true;
    r->pub.method = "";
    r->pub.path = "";
    r->pub.query = "";
    r->pub.body = (const uint8_t *)"";
    r->pub.user = c->s->opt.user;
    if (c->q_tail)
        c->q_tail->next = r;
    else
        c->q_head = r;
    c->q_tail = r;
    c->n_queued++;
    return r;
}

static void queue_remove(jn__http_conn *c, jn__http_req *r)
{
    jn__http_req **pp = &c->q_head, *prev = NULL;
    while (*pp && *pp != r) {
        prev = *pp;
        pp = &(*pp)->next;
    }
    JN_HTTP_ASSERT(*pp == r);
    *pp = r->next;
    if (c->q_tail == r)
        c->q_tail = prev;
    r->next = NULL;
    c->n_queued--;
}

/* --- reading control ------------------------------------------------------------------------------------------- */

/* One buffer for every connection: each read is parsed (the rest copied out) before the next one starts. */
static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    jn__http_conn *c = h->data;
    *buf = uv_buf_init(c->lp->rbuf, sizeof c->lp->rbuf);
}

static void read_start(jn__http_conn *c)
{
    if (c->reading || c->closing || c->read_eof)
        return;
    if (uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) == 0)
        c->reading = true;
}

static void read_stop(jn__http_conn *c)
{
    if (!c->reading)
        return;
    uv_read_stop((uv_stream_t *)&c->tcp);
    c->reading = false;
}

static void drop_pending(jn__http_conn *c)
{
    free(c->pending);
    c->pending = NULL;
    c->pending_len = 0;
}

/* --- closing --------------------------------------------------------------------------------------------------- */

static void conn_free(jn__http_conn *c)
{
    jn__http_loop *lp = c->lp;
    jn__http_req *dead = NULL;
    pthread_mutex_lock(&lp->mu);
    for (jn__http_req *r = c->q_head, *next; r; r = next) {
        next = r->next;
        r->next = NULL;
        if ((r->state == HREQ_DISPATCHED || r->state == HREQ_STREAM) && !jn__http_stream_orphan_locked(r)) {
            /* the handler, its producer or the response queue still holds it: conn is NULL now */
        } else {
            r->next = dead;
            dead = r;
        }
    }
    pthread_mutex_unlock(&lp->mu);
    while (dead) {
        jn__http_req *next = dead->next;
        jn__http_req_free(dead);
        dead = next;
    }
    drop_pending(c);
    free(c->spare_raw);
    free(c->spare_spans);
    if (c->prev)
        c->prev->next = c->next;
    else
        lp->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    free(c);
    jn__http_conn_freed(lp);
}

static void on_handle_closed(uv_handle_t *h)
{
    jn__http_conn *c = h->data;
    if (--c->handles_open == 0)
        conn_free(c);
}

void jn__http_conn_close(jn__http_conn *c)
{
    if (c->closing)
        return;
    c->closing = true;
    c->reading = false;
    uv_close((uv_handle_t *)&c->tcp, on_handle_closed);
    uv_close((uv_handle_t *)&c->timer, on_handle_closed);
}

static void on_timer(uv_timer_t *t);

static void on_shutdown(uv_shutdown_t *req, int status)
{
    jn__http_conn *c = req->data;
    if (status < 0 || c->closing || c->read_eof) {
        jn__http_conn_close(c);
        return;
    }
    /* Read and drop whatever the client still sends until it closes, for at most LINGER_MS. */
    c->lingering = true;
    read_start(c);
    c->phase = PH_LINGER;
    uv_timer_start(&c->timer, on_timer, c->stopping ? LINGER_STOPPING_MS : LINGER_MS, 0);
    c->timer_ms = -1;
}

/* The last answer is written: send FIN, then linger. */
static void conn_shutdown(jn__http_conn *c)
{
    if (c->shut || c->closing)
        return;
    c->shut = true;
    c->no_more = true;
    drop_pending(c);
    read_stop(c);
    uv_timer_stop(&c->timer);
    c->phase = PH_NONE;
    if (uv_shutdown(&c->shut_req, (uv_stream_t *)&c->tcp, on_shutdown) < 0)
        jn__http_conn_close(c);
}

/* The server answers the request being received itself (or a new one) and closes after it. */
static void conn_fail(jn__http_conn *c, int status, const char *message)
{
    if (c->closing || c->shut)
        return;
    jn__http_req *r = c->cur;
    if (!r && !(r = jn__http_req_new(c))) {
        jn__http_conn_close(c);
        return;
    }
    c->cur = NULL;
    size_t len;
    char *body = jn__http_error_json(message, &len);
    free(r->resp_head);
    free(r->resp_body);
    jn__http_format(r, status, "application/json", body, len, NULL);
    r->state = HREQ_READY;
    r->close_after = true;
    r->want_continue = false;
    c->no_more = true;
    drop_pending(c);
    read_stop(c);
    conn_pump(c);
    conn_update_timer(c);
}

/* Parses `len` bytes; may call the handler, pause (saving the rest), or fail the connection. */
static void conn_feed(jn__http_conn *c, const char *data, size_t len)
{
    size_t n = http_parser_execute(&c->parser, &jn__http_parser_settings, data, len);
    enum http_errno e = HTTP_PARSER_ERRNO(&c->parser);
    if (e == HPE_PAUSED) {
        if (c->no_more) { /* the last request: whatever follows is dropped */
            read_stop(c);
            return;
        }
        if (n < len) {
            char *rest = malloc(len - n);
            if (!rest) {
                jn__http_conn_close(c);
                return;
            }
            memcpy(rest, data + n, len - n);
            drop_pending(c);
            c->pending = rest;
            c->pending_len = len - n;
        }
        read_stop(c);
        return;
    }
    if (e != HPE_OK) {
        int status = c->fail_status;
        const char *msg = c->fail_msg;
        if (!status) {
            status = e == HPE_HEADER_OVERFLOW ? 431 : 400;
            msg = e == HPE_HEADER_OVERFLOW ? "the request line and headers are too large"
                                           : http_errno_description(e);
        }
        char text[160];
        if (status == 400) {
            snprintf(text, sizeof text, "malformed HTTP request: %s", msg);
            msg = text;
        }
        conn_fail(c, status, msg);
        return;
    }
    if (c->parser.upgrade) { /* CONNECT: what follows is not HTTP */
        if (c->q_tail)
            c->q_tail->close_after = true;
        c->no_more = true;
        read_stop(c);
    }
}

/* Back-pressure is over: parse what was held back, then read again. */
static void conn_resume(jn__http_conn *c)
{
    c->paused_bp = false;
    http_parser_pause(&c->parser, 0);
    if (c->pending) {
        char *buf = c->pending;
        size_t len = c->pending_len;
        c->pending = NULL;
        c->pending_len = 0;
        conn_feed(c, buf, len);
        free(buf);
        jn__http_drain(c->lp);
    }
    if (!c->paused_bp && !c->no_more && !c->shut && !c->stopping)
        read_start(c);
}

/* --- writing --------------------------------------------------------------------------------------------------- */

/* r's answer is written in full: it leaves the queue, and the connection goes on with the next. */
static void answer_written(jn__http_conn *c, jn__http_req *r, int status)
{
    JN_HTTP_ASSERT(c && c->q_head == r);
    queue_remove(c, r);
    bool close_after = r->close_after;
    jn__http_req_free(r);
    if (status < 0 || c->closing) {
        jn__http_conn_close(c);
        return;
    }
    if (close_after) {
        conn_shutdown(c);
        return;
    }
    if (!c->q_head && c->read_eof) {
        jn__http_conn_close(c);
        return;
    }
    if (!c->q_head && c->stopping) {
        conn_shutdown(c);
        return;
    }
    if (c->paused_bp && c->n_queued < (size_t)c->s->opt.max_pipelined)
        conn_resume(c);
    conn_pump(c);
    conn_update_timer(c);
}

static void on_write(uv_write_t *wr, int status)
{
    jn__http_req *r = wr->data;
    answer_written(r->conn, r, status);
}

/* One write of a streamed answer completed: the next, or the end of the answer. */
static void on_stream_write(uv_write_t *wr, int status)
{
    jn__http_req *r = wr->data;
    jn__http_conn *c = r->conn;
    r->stream_writing = false;
    jn__http_stream_written(r);
    if (status < 0) { /* closing tells the producer (jn__http_stream_orphan_locked) */
        jn__http_conn_close(c);
        return;
    }
    if (r->stream_last) {
        answer_written(c, r, status);
        return;
    }
    if (c->closing)
        return;
    conn_pump(c);
    conn_update_timer(c);
}

static void on_continue_written(uv_write_t *wr, int status)
{
    jn__http_conn *c = wr->data;
    c->cont_writing = false;
    if (status < 0 || c->closing) {
        jn__http_conn_close(c);
        return;
    }
    conn_pump(c);
}

/* Fills r->tail with the Date and Connection lines and the blank line; returns its length. */
static size_t format_tail(jn__http_conn *c, jn__http_req *r)
{
    if (!r->next && !c->cur && (c->stopping || c->read_eof))
        r->close_after = true;
    const char *connection = r->close_after         ? "Connection: close\r\n"
                             : r->http_minor == 0 ? "Connection: keep-alive\r\n"
                                                  : "";
    /* "Date: <29 characters>\r\n" + the Connection line + "\r\n" fit in tail (no printf: once per answer) */
    const char *date = jn__http_date(c->lp);
    size_t date_len = strlen(date), conn_len = strlen(connection), n = 0;
    JN_HTTP_ASSERT(6 + date_len + 2 + conn_len + 2 <= sizeof r->tail);
    memcpy(r->tail, "Date: ", 6);
    n += 6;
    memcpy(r->tail + n, date, date_len);
    n += date_len;
    memcpy(r->tail + n, "\r\n", 2);
    n += 2;
    memcpy(r->tail + n, connection, conn_len);
    n += conn_len;
    memcpy(r->tail + n, "\r\n", 2);
    n += 2;
    return n;
}

static int start_write(jn__http_conn *c, jn__http_req *r)
{
    size_t n = format_tail(c, r);
    uv_buf_t bufs[3];
    unsigned nb = 0;
    bufs[nb].base = r->resp_head; /* len set directly: uv_buf_init takes an unsigned int, len is a size_t */
    bufs[nb++].len = r->resp_head_len;
    bufs[nb].base = r->tail;
    bufs[nb++].len = n;
    if (r->resp_body_len && !r->is_head) {
        bufs[nb].base = r->resp_body;
        bufs[nb++].len = r->resp_body_len;
    }
    r->state = HREQ_WRITING;
    r->wr.data = r;
    if (uv_write(&r->wr, (uv_stream_t *)&c->tcp, bufs, nb, on_write) < 0) {
        jn__http_conn_close(c);
        return -1;
    }
    return 0;
}

/* Writes what a streamed answer has queued (head, chunks, end), one write at a time. */
static void stream_pump(jn__http_conn *c, jn__http_req *r)
{
    if (r->stream_writing)
        return;
    if (!r->head_sent && r->http_minor == 0)
        r->close_after = true; /* an HTTP/1.0 stream has no framing: its end is the connection's (loop thread only) */
    size_t tail_len = r->head_sent ? 0 : format_tail(c, r);
    size_t len;
    if (!jn__http_stream_take(r, r->tail, tail_len, &len))
        return;
    uv_buf_t b;
    b.base = r->swbuf;
    b.len = len;
    r->stream_writing = true;
    r->wr.data = r;
    if (uv_write(&r->wr, (uv_stream_t *)&c->tcp, &b, 1, on_stream_write) < 0) {
        r->stream_writing = false;
        jn__http_conn_close(c);
    }
}

/* Writes every answer that is next in line; sends 100 Continue to a request whose body is awaited. */
static void conn_pump(jn__http_conn *c)
{
    if (c->closing || c->shut)
        return;
    for (jn__http_req *r = c->q_head; r; r = r->next) {
        if (r->state == HREQ_WRITING)
            continue;
        if (r->state == HREQ_STREAM) { /* the answers behind it wait for its end */
            stream_pump(c, r);
            return;
        }
        if (r->state == HREQ_READY) {
            if (start_write(c, r) < 0 || r->close_after)
                return;
            continue;
        }
        if (r->state == HREQ_BODY && r->want_continue && !r->continue_sent && !c->cont_writing) {
            uv_buf_t b = uv_buf_init((char *)CONTINUE_100, sizeof CONTINUE_100 - 1);
            c->cont_wr.data = c;
            if (uv_write(&c->cont_wr, (uv_stream_t *)&c->tcp, &b, 1, on_continue_written) < 0) {
                jn__http_conn_close(c);
                return;
            }
            c->cont_writing = true;
            r->continue_sent = true;
        }
        return;
    }
}

void jn__http_conn_stream_news(jn__http_req *r)
{
    jn__http_conn *c = r->conn;
    if (r->state == HREQ_DISPATCHED)
        r->state = HREQ_STREAM;
    conn_pump(c);
    conn_update_timer(c);
}

void jn__http_conn_answered(jn__http_req *r)
{
    jn__http_conn *c = r->conn;
    r->state = HREQ_READY;
    conn_pump(c);
    conn_update_timer(c);
}

/* --- timers ---------------------------------------------------------------------------------------------------- */

static void on_timer(uv_timer_t *t)
{
    jn__http_conn *c = t->data;
    int phase = c->phase;
    c->phase = PH_NONE;
    switch (phase) {
    case PH_HEADER:
        if (c->cur)
            conn_fail(c, 408, "the request head did not arrive in time");
        else
            jn__http_conn_close(c); /* nothing was sent at all */
        break;
    case PH_BODY:
        conn_fail(c, 408, "the request body did not arrive in time");
        break;
    default: /* idle, a client that does not read its answers, lingering */
        jn__http_conn_close(c);
        break;
    }
}

/* Points the timer at what the connection is waiting for; a deadline restarts only when that changes. */
static void conn_update_timer(jn__http_conn *c)
{
    if (c->closing || c->shut)
        return;
    const jn_http_server_options *o = &c->s->opt;
    int phase = PH_NONE;
    uint64_t seq = 0;
    if (c->cur) {
        phase = c->cur->state == HREQ_HEAD ? PH_HEADER : PH_BODY;
        seq = c->cur->seq;
    } else if (c->q_head && c->q_head->state == HREQ_STREAM) {
        if (c->q_head->stream_writing) { /* a client that stops reading a stream is cut after the idle time */
            phase = PH_SEND;
            seq = c->q_head->seq;
        }
    } else if (c->q_head) {
        if (c->q_head->state == HREQ_WRITING && c->q_tail->state == HREQ_WRITING) {
            phase = PH_SEND; /* only the client's reading is awaited */
            seq = c->q_head->seq;
        }
    } else if (!c->no_more && !c->paused_bp && !c->read_eof && !c->stopping) {
        phase = c->seq == 0 ? PH_HEADER : PH_IDLE;
    }
    if (phase == c->phase && seq == c->phase_seq)
        return;
    c->phase = phase;
    c->phase_seq = seq;
    int64_t ms = phase == PH_HEADER ? o->header_timeout_ms
                 : phase == PH_BODY ? o->body_timeout_ms
                 : phase == PH_IDLE || phase == PH_SEND ? o->idle_timeout_ms
                                                        : 0;
    if (ms > 0) {
        /* Restarting within the same loop millisecond with the same timeout would set the very same due time:
         * skip it (a request passes through several phases in one go; each restart is a heap update). */
        uint64_t now = uv_now(&c->lp->loop);
        if (c->timer_ms != ms || c->timer_start != now || !uv_is_active((uv_handle_t *)&c->timer)) {
            uv_timer_start(&c->timer, on_timer, (uint64_t)ms, 0);
            c->timer_ms = ms;
            c->timer_start = now;
        }
    } else {
        uv_timer_stop(&c->timer);
    }
}

/* --- reading --------------------------------------------------------------------------------------------------- */

/* Does a request of c want to hear that its client went away (jn_http_watch_gone)? */
static bool conn_watched(jn__http_conn *c)
{
    bool any = false;
    pthread_mutex_lock(&c->lp->mu);
    for (jn__http_req *r = c->q_head; r && !any; r = r->next)
        any = r->watched;
    pthread_mutex_unlock(&c->lp->mu);
    return any;
}

static void on_eof(jn__http_conn *c)
{
    c->read_eof = true;
    c->reading = false;
    /* Nothing left to answer, a request cut in half, or one whose handler treats the end of the client's sending as
     * its leaving (a streamed answer: an SSE client closes to stop listening, and the work stops with it). */
    if (c->shut || c->cur || !c->q_head || conn_watched(c)) {
        jn__http_conn_close(c);
        return;
    }
    conn_update_timer(c); /* the queued requests are answered, the last with Connection: close */
}

static void on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf)
{
    jn__http_conn *c = st->data;
    if (nread == 0 || c->closing)
        return;
    if (nread < 0) {
        if (nread == UV_EOF && !c->lingering)
            on_eof(c);
        else
            jn__http_conn_close(c);
        return;
    }
    if (c->lingering || c->no_more)
        return;
    conn_feed(c, buf->base, (size_t)nread);
    jn__http_drain(c->lp); /* answers the handler gave inline go out with this round */
    conn_pump(c);
    conn_update_timer(c);
}

/* --- from server.c --------------------------------------------------------------------------------------------- */

void jn__http_conn_accept(jn__http_loop *lp, int fd)
{
    jn__http_conn *c = calloc(1, sizeof *c);
    if (!c) {
        fprintf(stderr, "junction http: out of memory accepting a connection\n");
        close(fd);
        return;
    }
    c->s = lp->s;
    c->lp = lp;
    c->next = lp->conns;
    if (lp->conns)
        lp->conns->prev = c;
    lp->conns = c;
    uv_tcp_init(&lp->loop, &c->tcp);
    uv_timer_init(&lp->loop, &c->timer);
    c->tcp.data = c;
    c->timer.data = c;
    c->shut_req.data = c;
    c->handles_open = 2;
    http_parser_init(&c->parser, HTTP_REQUEST);
    c->parser.data = c;
    if (uv_tcp_open(&c->tcp, fd) < 0) {
        close(fd); /* the handle does not own it */
        jn__http_conn_close(c);
        return;
    }
    uv_tcp_nodelay(&c->tcp, 1);
    read_start(c);
    if (!c->reading) {
        jn__http_conn_close(c);
        return;
    }
    conn_update_timer(c);
}

void jn__http_conn_stop(jn__http_conn *c)
{
    c->stopping = true;
    if (c->closing)
        return;
    if (c->lingering) {
        if (uv_timer_get_due_in(&c->timer) > LINGER_STOPPING_MS) {
            uv_timer_start(&c->timer, on_timer, LINGER_STOPPING_MS, 0);
            c->timer_ms = -1;
        }
        return;
    }
    if (c->shut) /* lingers briefly once the shutdown completes */
        return;
    read_stop(c);
    drop_pending(c);
    c->no_more = true;
    if (c->cur) { /* a request half received cannot be answered */
        jn__http_req *r = c->cur;
        c->cur = NULL;
        queue_remove(c, r);
        jn__http_req_free(r);
    }
    if (!c->q_head) {
        jn__http_conn_close(c);
        return;
    }
    if (c->q_tail->state != HREQ_WRITING)
        c->q_tail->close_after = true;
    conn_update_timer(c);
}
