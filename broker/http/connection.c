/* connection.c — one client connection on the loop thread: http-parser framing, the request queue (arrival order,
 * answers written strictly in that order), 100-continue, limits (413/431/411/400), timers (408, idle), read
 * back-pressure (max_pipelined) and the closing sequence (shutdown, linger, close).
 *
 * Ownership: a connection owns its hreqs (created at the first byte of a request, queued at once, freed when their
 * answer is written), the unparsed leftover while reading is paused, and its two handles (tcp, timer). When both
 * handles are closed the connection is freed; hreqs a handler still holds are orphaned (conn = NULL under the
 * server mutex) and freed by whoever touches them next (see internal.h).
 * Threads: everything here runs on the loop thread. The handler is called from on_message_complete, inside
 * http_parser_execute; it only queues its answer, which is attached by jn__http_drain after parsing returns.
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
/* Bytes counted per header line and for the request line besides their text (": ", CRLF, method, version). */
#define HEADER_LINE_OVERHEAD 4
#define REQUEST_LINE_OVERHEAD 16

enum { PH_NONE, PH_HEADER, PH_BODY, PH_IDLE, PH_SEND, PH_LINGER };

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

static jn__http_req *req_new(jn__http_conn *c)
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
    if (!r && !(r = req_new(c))) {
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

/* --- http-parser callbacks ------------------------------------------------------------------------------------- */

static int reject(jn__http_conn *c, int status, const char *message)
{
    c->fail_status = status;
    c->fail_msg = message;
    return -1;
}

static int raw_append(jn__http_req *r, const char *at, size_t len)
{
    if (r->raw_len + len + 1 > r->raw_cap) {
        size_t cap = r->raw_cap ? r->raw_cap : 256;
        while (cap < r->raw_len + len + 1)
            cap *= 2;
        char *p = realloc(r->raw, cap);
        if (!p)
            return -1;
        r->raw = p;
        r->raw_cap = cap;
    }
    memcpy(r->raw + r->raw_len, at, len);
    r->raw_len += len;
    return 0;
}

static int count_head(jn__http_conn *c, size_t len)
{
    c->head_bytes += len;
    if (c->head_bytes > c->s->opt.max_header_bytes)
        return reject(c, 431, "the request line and headers are too large");
    return 0;
}

static int on_message_begin(http_parser *p)
{
    jn__http_conn *c = p->data;
    jn__http_req *r = req_new(c);
    if (!r)
        return reject(c, 500, "out of memory");
    c->cur = r;
    c->head_bytes = 0;
    r->raw = c->spare_raw; /* a request that dies half-parsed frees them with itself */
    r->raw_cap = c->spare_raw_cap;
    r->spans = c->spare_spans;
    r->spans_cap = c->spare_spans_cap;
    c->spare_raw = NULL;
    c->spare_spans = NULL;
    c->spare_raw_cap = c->spare_spans_cap = 0;
    return count_head(c, REQUEST_LINE_OVERHEAD);
}

static int on_url(http_parser *p, const char *at, size_t len)
{
    jn__http_conn *c = p->data;
    jn__http_req *r = c->cur;
    if (count_head(c, len))
        return -1;
    if (raw_append(r, at, len))
        return reject(c, 500, "out of memory");
    r->url_len += len;
    return 0;
}

static int on_header_field(http_parser *p, const char *at, size_t len)
{
    jn__http_conn *c = p->data;
    jn__http_req *r = c->cur;
    if (r->state != HREQ_HEAD) /* chunked trailer: dropped (the parser bounds its size) */
        return 0;
    if (count_head(c, len))
        return -1;
    if (r->last_cb != 1) {
        if (count_head(c, HEADER_LINE_OVERHEAD))
            return -1;
        if (r->n_spans == r->spans_cap) {
            size_t cap = r->spans_cap ? r->spans_cap * 2 : 16;
            jn__http_hdr_span *sp = realloc(r->spans, cap * sizeof *sp);
            if (!sp)
                return reject(c, 500, "out of memory");
            r->spans = sp;
            r->spans_cap = cap;
        }
        r->spans[r->n_spans++] = (jn__http_hdr_span){r->raw_len, 0, r->raw_len, 0};
        r->last_cb = 1;
    }
    if (raw_append(r, at, len))
        return reject(c, 500, "out of memory");
    r->spans[r->n_spans - 1].name_len += len;
    return 0;
}

static int on_header_value(http_parser *p, const char *at, size_t len)
{
    jn__http_conn *c = p->data;
    jn__http_req *r = c->cur;
    if (r->state != HREQ_HEAD)
        return 0;
    if (count_head(c, len))
        return -1;
    jn__http_hdr_span *sp = &r->spans[r->n_spans - 1];
    if (r->last_cb != 2) {
        sp->value_off = r->raw_len;
        sp->value_len = 0;
        r->last_cb = 2;
    }
    if (raw_append(r, at, len))
        return reject(c, 500, "out of memory");
    sp->value_len += len;
    return 0;
}

/* Path and query of the request target (origin form "/p?q", absolute form "http://h/p?q", "*", authority form). */
static void split_target(const char *url, size_t n, bool is_connect, size_t *path_off, size_t *path_len,
                         size_t *query_off, size_t *query_len)
{
    *path_off = *path_len = *query_off = *query_len = 0;
    if (is_connect) {
        *path_len = n;
        return;
    }
    if (n && url[0] != '/' && url[0] != '*') {
        struct http_parser_url u;
        http_parser_url_init(&u);
        if (http_parser_parse_url(url, n, 0, &u) == 0) {
            if (u.field_set & (1 << UF_PATH)) {
                *path_off = u.field_data[UF_PATH].off;
                *path_len = u.field_data[UF_PATH].len;
            }
            if (u.field_set & (1 << UF_QUERY)) {
                *query_off = u.field_data[UF_QUERY].off;
                *query_len = u.field_data[UF_QUERY].len;
            }
            return;
        }
    }
    size_t end = 0;
    while (end < n && url[end] != '#')
        end++;
    size_t q = 0;
    while (q < end && url[q] != '?')
        q++;
    *path_len = q;
    if (q < end) {
        *query_off = q + 1;
        *query_len = end - q - 1;
    }
}

/* Turns the raw URL and header spans into the NUL-terminated strings the handler sees (one allocation: the
 * header array, then the strings), and gives the raw buffers back to the connection for its next request. */
static int build_strings(jn__http_conn *c, jn__http_req *r, bool is_connect)
{
    size_t po, pl, qo, ql;
    split_target(r->raw ? r->raw : "", r->url_len, is_connect, &po, &pl, &qo, &ql);
    size_t total = (pl ? pl : 1) + 1 + ql + 1;
    for (size_t i = 0; i < r->n_spans; i++)
        total += r->spans[i].name_len + 1 + r->spans[i].value_len + 1;
    size_t header_bytes = r->n_spans * sizeof(jn_http_header);
    jn_http_header *h = malloc(header_bytes + total);
    if (!h)
        return -1;
    char *s = (char *)h + header_bytes;
    size_t at = 0;
    r->pub.path = s;
    if (pl) {
        memcpy(s, r->raw + po, pl);
        at = pl;
    } else {
        s[at++] = '/';
    }
    s[at++] = '\0';
    r->pub.query = s + at;
    if (ql)
        memcpy(s + at, r->raw + qo, ql);
    at += ql;
    s[at++] = '\0';
    for (size_t i = 0; i < r->n_spans; i++) {
        const jn__http_hdr_span *sp = &r->spans[i];
        h[i].name = s + at;
        for (size_t k = 0; k < sp->name_len; k++) {
            char ch = r->raw[sp->name_off + k];
            s[at++] = (ch >= 'A' && ch <= 'Z') ? (char)(ch - 'A' + 'a') : ch;
        }
        s[at++] = '\0';
        size_t vl = sp->value_len;
        while (vl && (r->raw[sp->value_off + vl - 1] == ' ' || r->raw[sp->value_off + vl - 1] == '\t'))
            vl--;
        h[i].value = s + at;
        memcpy(s + at, r->raw + sp->value_off, vl);
        at += vl;
        s[at++] = '\0';
    }
    r->headers = h;
    r->pub.headers = r->n_spans ? h : NULL;
    r->pub.n_headers = r->n_spans;
    /* nothing points into raw and spans any more */
    free(c->spare_raw);
    free(c->spare_spans);
    c->spare_raw = r->raw;
    c->spare_raw_cap = r->raw_cap;
    c->spare_spans = r->spans;
    c->spare_spans_cap = r->spans_cap;
    r->raw = NULL;
    r->raw_len = r->raw_cap = 0;
    r->spans = NULL;
    r->n_spans = r->spans_cap = 0;
    return 0;
}

static int body_reserve(jn__http_req *r, size_t need)
{
    if (need <= r->body_cap)
        return 0;
    size_t cap = r->body_cap ? r->body_cap : 64; /* small: 1 KiB and up is malloc's slower large-chunk path */
    while (cap < need)
        cap *= 2;
    uint8_t *b = realloc(r->body, cap);
    if (!b)
        return -1;
    r->body = b;
    r->body_cap = cap;
    return 0;
}

static int on_headers_complete(http_parser *p)
{
    jn__http_conn *c = p->data;
    jn__http_req *r = c->cur;
    const jn_http_server_options *o = &c->s->opt;
    bool is_connect = p->method == HTTP_CONNECT;
    if (p->upgrade && !is_connect)
        p->upgrade = 0; /* an Upgrade offer is declined by answering normally (RFC 9110 7.8) */
    if (build_strings(c, r, is_connect))
        return reject(c, 500, "out of memory");
    r->pub.method = http_method_str((enum http_method)p->method);
    r->http_minor = p->http_minor;
    r->is_head = p->method == HTTP_HEAD;
    r->keep_alive = http_should_keep_alive(p) && !is_connect;

    bool chunked = p->flags & F_CHUNKED;
    bool has_length = p->flags & F_CONTENTLENGTH;
    if ((p->method == HTTP_POST || p->method == HTTP_PUT) && !chunked && !has_length)
        return reject(c, 411, "a POST or PUT request needs Content-Length or Transfer-Encoding: chunked");
    if (has_length && p->content_length > o->max_body_bytes)
        return reject(c, 413, "the request body is larger than the server accepts");
    const char *expect = jn_http_header_get(&r->pub, "expect");
    if (expect && strcasecmp(expect, "100-continue") == 0 && p->http_major == 1 && p->http_minor >= 1 &&
        (chunked || (has_length && p->content_length > 0)))
        r->want_continue = true;
    if (has_length && body_reserve(r, (size_t)p->content_length + 1))
        return reject(c, 500, "out of memory");
    r->state = HREQ_BODY;
    return 0;
}

static int on_body(http_parser *p, const char *at, size_t len)
{
    jn__http_conn *c = p->data;
    jn__http_req *r = c->cur;
    if (len > c->s->opt.max_body_bytes - r->body_len)
        return reject(c, 413, "the request body is larger than the server accepts");
    if (body_reserve(r, r->body_len + len + 1))
        return reject(c, 500, "out of memory");
    memcpy(r->body + r->body_len, at, len);
    r->body_len += len;
    return 0;
}

static int on_message_complete(http_parser *p)
{
    jn__http_conn *c = p->data;
    jn__http_req *r = c->cur;
    jn_http_server *s = c->s;
    c->cur = NULL;
    if (r->body) {
        r->body[r->body_len] = '\0';
        r->pub.body = r->body;
    }
    r->pub.body_len = r->body_len;
    r->want_continue = false; /* the whole body came without waiting for it */
    r->state = HREQ_DISPATCHED;
    if (!r->keep_alive) { /* the last request on this connection: the rest of the bytes are not parsed */
        r->close_after = true;
        c->no_more = true;
        http_parser_pause(p, 1);
    } else if (c->n_queued >= (size_t)s->opt.max_pipelined) {
        c->paused_bp = true;
        http_parser_pause(p, 1);
    }
    jn__http_dispatching = c->lp; /* an answer given inline needs no wake-up: the caller of conn_feed drains */
    s->opt.handler(&r->pub);
    jn__http_dispatching = NULL;
    return 0;
}

static const http_parser_settings parser_settings = {
    .on_message_begin = on_message_begin,
    .on_url = on_url,
    .on_header_field = on_header_field,
    .on_header_value = on_header_value,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_message_complete = on_message_complete,
};

/* Parses `len` bytes; may call the handler, pause (saving the rest), or fail the connection. */
static void conn_feed(jn__http_conn *c, const char *data, size_t len)
{
    size_t n = http_parser_execute(&c->parser, &parser_settings, data, len);
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
