/* server.c — the HTTP server's life cycle: bind, start the loop threads, accept on loop 0 and deal the sockets out
 * round-robin, hand answers from any thread to their loop (mutex-protected queue + one coalescing uv_async per
 * loop), response formatting, orderly stop, refcounted teardown. Per-connection work (parsing, ordering, writing,
 * timers) is in connection.c.
 *
 * Ownership: the server owns its loops, handles and connections; jn_http_server_destroy drops the owner's reference
 * and the memory goes when the last request still held by a handler is answered (see internal.h). Response bodies
 * passed to jn_http_respond are owned by the server from then on and freed with free().
 * Threads: jn_http_server_start/stop/destroy from one controlling thread (never a loop thread, i.e. never from a
 * handler); jn_http_respond and jn_http_respond_error from any thread.
 */
#define _GNU_SOURCE /* accept4 */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

/* Requests given to the handler get this long to be answered once stop is called; then connections are cut. */
#define STOP_GRACE_DEFAULT_MS 10000
/* Out of file descriptors: accepting pauses this long (the pending connections wait in the backlog). */
#define ACCEPT_PAUSE_MS 100
/* Connections accepted per wake-up of the listener before the loop attends to its own sockets again. */
#define ACCEPT_BATCH 64
#define MAX_LOOP_THREADS 64

_Noreturn void jn__http_assert_fail(const char *file, int line, const char *cond)
{
    fprintf(stderr, "%s:%d: assertion failed: %s\n", file, line, cond);
    fflush(stderr);
    abort();
}

void jn_http_server_options_default(jn_http_server_options *opt)
{
    memset(opt, 0, sizeof *opt);
    opt->host = "127.0.0.1";
    opt->port = 8000;
    opt->max_body_bytes = (size_t)64 << 20;
    opt->max_header_bytes = (size_t)64 << 10;
    opt->header_timeout_ms = 10000;
    opt->body_timeout_ms = 60000;
    opt->idle_timeout_ms = 60000;
    opt->max_pipelined = 16;
    opt->stop_grace_ms = STOP_GRACE_DEFAULT_MS;
    opt->loop_threads = 1;
}

const char *jn_http_header_get(const jn_http_request *req, const char *name)
{
    for (size_t i = 0; i < req->n_headers; i++)
        if (strcasecmp(req->headers[i].name, name) == 0)
            return req->headers[i].value;
    return NULL;
}

/* --- refcount -------------------------------------------------------------------------------------------------- */

/* Sockets loop 0 handed over but the loop did not open (it was stopping, or never ran). */
static void close_fds(int *fds, size_t n)
{
    for (size_t i = 0; i < n; i++)
        close(fds[i]);
}

static void server_free(jn_http_server *s)
{
    for (int i = 0; i < s->n_loops; i++) {
        pthread_mutex_destroy(&s->loops[i].mu);
        close_fds(s->loops[i].new_fds, s->loops[i].n_new_fds); /* handed to a loop that never ran */
        free(s->loops[i].new_fds);
    }
    free(s->loops);
    free(s->host_copy);
    free(s);
}

static void server_unref(jn_http_server *s)
{
    if (atomic_fetch_sub(&s->refs, 1) == 1)
        server_free(s);
}

void jn__http_req_free(jn__http_req *r)
{
    jn_http_server *s = r->srv;
    free(r->raw);
    free(r->spans);
    free(r->headers);
    free(r->body);
    free(r->resp_head);
    free(r->resp_body);
    jn__http_stream_free(r);
    free(r);
    server_unref(s);
}

/* --- formatting ------------------------------------------------------------------------------------------------ */

static const char *status_reason(int status)
{
    switch (status) {
    case 413:
        return "Content Too Large";
    case 431:
        return "Request Header Fields Too Large";
    default:
        break;
    }
    const char *r = http_status_str((enum http_status)status);
    return r && strcmp(r, "<unknown>") != 0 ? r : "Unknown";
}

static size_t put_text(char *out, size_t at, const char *s, size_t n)
{
    memcpy(out + at, s, n);
    return at + n;
}

static size_t put_uint(char *out, size_t at, uint64_t v)
{
    char tmp[24], *end = tmp + sizeof tmp, *p = end;
    do {
        *--p = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    return put_text(out, at, p, (size_t)(end - p));
}

static void format_answer(jn__http_req *r, int status, const char *content_type, char *body, size_t body_len,
                          const char *extra_headers, bool chunked)
{
    if (status < 200 || status > 999)
        status = 500; /* interim and invalid codes are not the handler's to send */
    /* 204 and 304 carry neither a body nor Content-Length (RFC 9110 8.6). */
    bool bodyless = status == 204 || status == 304;
    if (bodyless && body) {
        free(body);
        body = NULL;
        body_len = 0;
    }
    if (!body)
        body_len = 0;
    size_t ct_len = content_type ? strlen(content_type) : 0;
    size_t ex_len = extra_headers ? strlen(extra_headers) : 0;
    const char *reason = status_reason(status);
    size_t reason_len = strlen(reason);
    size_t cap = 128 + reason_len + ct_len + ex_len;
    char *h = malloc(cap);
    if (!h) {
        fprintf(stderr, "junction http: out of memory formatting a response\n");
        abort();
    }
    /* No printf on this path: it runs once per answer. */
    size_t len = put_text(h, 0, "HTTP/1.1 ", 9);
    len = put_uint(h, len, (uint64_t)status);
    h[len++] = ' ';
    len = put_text(h, len, reason, reason_len);
    len = put_text(h, len, "\r\n", 2);
    if (content_type && *content_type) {
        len = put_text(h, len, "Content-Type: ", 14);
        len = put_text(h, len, content_type, ct_len);
        len = put_text(h, len, "\r\n", 2);
    }
    if (chunked) {
        if (r->http_minor >= 1) /* HTTP/1.0: no framing, the body ends when the connection does (connection.c) */
            len = put_text(h, len, "Transfer-Encoding: chunked\r\n", 28);
    } else if (!bodyless) {
        len = put_text(h, len, "Content-Length: ", 16);
        len = put_uint(h, len, body_len);
        len = put_text(h, len, "\r\n", 2);
    }
    if (ex_len) {
        memcpy(h + len, extra_headers, ex_len);
        len += ex_len;
        if (ex_len < 2 || extra_headers[ex_len - 2] != '\r' || extra_headers[ex_len - 1] != '\n') {
            h[len++] = '\r';
            h[len++] = '\n';
        }
    }
    r->status = status;
    r->resp_head = h;
    r->resp_head_len = len;
    r->resp_body = body;
    r->resp_body_len = body_len;
}

void jn__http_format(jn__http_req *r, int status, const char *content_type, char *body, size_t body_len,
                     const char *extra_headers)
{
    format_answer(r, status, content_type, body, body_len, extra_headers, false);
}

void jn__http_format_stream(jn__http_req *r, int status, const char *content_type, const char *extra_headers)
{
    format_answer(r, status == 204 || status == 304 ? 200 : status, content_type, NULL, 0, extra_headers, true);
}

/* Replaces every byte outside printable ASCII so that jansson accepts the text as UTF-8. */
static char *ascii_copy(const char *s)
{
    size_t n = strlen(s);
    char *c = malloc(n + 1);
    if (!c)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        c[i] = ch < 0x80 ? (char)ch : '?';
    }
    c[n] = '\0';
    return c;
}

static char *error_json_try(const char *message)
{
    json_t *o = json_pack("{s:s}", "error", message);
    if (!o)
        return NULL;
    char *text = json_dumps(o, 0);
    json_decref(o);
    return text;
}

char *jn__http_error_json(const char *message, size_t *len)
{
    if (!message)
        message = "";
    char *text = error_json_try(message);
    if (!text) { /* not valid UTF-8 */
        char *clean = ascii_copy(message);
        if (clean) {
            text = error_json_try(clean);
            free(clean);
        }
    }
    if (!text) {
        static const char fallback[] = "{\"error\": \"internal error\"}";
        text = malloc(sizeof fallback);
        if (!text) {
            fprintf(stderr, "junction http: out of memory formatting an error\n");
            abort();
        }
        memcpy(text, fallback, sizeof fallback);
    }
    *len = strlen(text);
    return text;
}

const char *jn__http_date(jn__http_loop *lp)
{
    time_t now = time(NULL);
    if (now != lp->date_sec) {
        struct tm tm;
        gmtime_r(&now, &tm);
        strftime(lp->date, sizeof lp->date, "%a, %d %b %Y %H:%M:%S GMT", &tm);
        lp->date_sec = now;
    }
    return lp->date;
}

/* --- answers from any thread ----------------------------------------------------------------------------------- */

_Thread_local jn__http_loop *jn__http_dispatching;

void jn_http_respond(jn_http_request *req, int status, const char *content_type, char *body, size_t body_len,
                     const char *extra_headers)
{
    jn__http_req *r = (jn__http_req *)req;
    jn__http_loop *lp = r->lp;
    jn__http_format(r, status, content_type, body, body_len, extra_headers);

    pthread_mutex_lock(&lp->mu);
    JN_HTTP_ASSERT(!r->answered); /* answered twice */
    r->answered = true;
    if (!r->conn) { /* the connection is gone: nobody to tell */
        pthread_mutex_unlock(&lp->mu);
        jn__http_req_free(r);
        return;
    }
    jn__http_enqueue_locked(r);
    pthread_mutex_unlock(&lp->mu);
}

void jn__http_enqueue_locked(jn__http_req *r)
{
    jn__http_loop *lp = r->lp;
    r->rnext = NULL;
    if (lp->rq_tail)
        lp->rq_tail->rnext = r;
    else
        lp->rq_head = r;
    lp->rq_tail = r;
    JN_HTTP_ASSERT(!lp->loop_closing);
    if (jn__http_dispatching != lp)
        uv_async_send(&lp->async);
}

void jn_http_respond_error(jn_http_request *req, int status, const char *message)
{
    size_t len;
    char *body = jn__http_error_json(message, &len);
    jn_http_respond(req, status, "application/json", body, len, NULL);
}

void jn__http_drain(jn__http_loop *lp)
{
    pthread_mutex_lock(&lp->mu);
    jn__http_req *r = lp->rq_head;
    lp->rq_head = lp->rq_tail = NULL;
    pthread_mutex_unlock(&lp->mu);
    while (r) {
        jn__http_req *next = r->rnext;
        r->rnext = NULL;
        if (r->streaming) /* its producer may still hold it: see stream.c */
            jn__http_stream_drained(r);
        else if (r->conn) /* conn is written only on this thread */
            jn__http_conn_answered(r);
        else
            jn__http_req_free(r);
        r = next;
    }
}

/* --- accepting (loop 0) --------------------------------------------------------------------------------------- */

/* Gives an accepted socket to `lp` (from loop 0's thread). */
static void hand_off(jn__http_loop *lp, int fd)
{
    if (lp->index == 0) {
        jn__http_conn_accept(lp, fd);
        return;
    }
    pthread_mutex_lock(&lp->mu);
    bool refused = lp->loop_closing || lp->stop_requested;
    if (!refused && lp->n_new_fds == lp->new_fds_cap) {
        size_t cap = lp->new_fds_cap ? lp->new_fds_cap * 2 : 16;
        int *p = realloc(lp->new_fds, cap * sizeof *p);
        if (p) {
            lp->new_fds = p;
            lp->new_fds_cap = cap;
        } else {
            refused = true;
        }
    }
    if (!refused) {
        lp->new_fds[lp->n_new_fds++] = fd;
        uv_async_send(&lp->async);
    }
    pthread_mutex_unlock(&lp->mu);
    if (refused)
        close(fd);
}

static void on_listener_readable(uv_poll_t *h, int status, int events);

static void on_accept_pause_over(uv_timer_t *t)
{
    jn_http_server *s = t->data;
    if (s->listener_open && !s->loops[0].stopping)
        uv_poll_start(&s->listener, UV_READABLE, on_listener_readable);
}

static void on_listener_readable(uv_poll_t *h, int status, int events)
{
    jn_http_server *s = h->data;
    if (status < 0 || s->loops[0].stopping)
        return;
    for (int i = 0; i < ACCEPT_BATCH; i++) {
        int fd = accept4(s->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
                uv_poll_stop(&s->listener); /* else the poll fires again at once, for ever */
                uv_timer_start(&s->accept_pause, on_accept_pause_over, ACCEPT_PAUSE_MS, 0);
            }
            return; /* EAGAIN: all taken */
        }
        jn__http_loop *lp = &s->loops[s->next_loop++ % (unsigned)s->n_loops];
        hand_off(lp, fd);
    }
}

static void on_listener_closed(uv_handle_t *h)
{
    jn_http_server *s = h->data;
    close(s->listen_fd);
    s->listen_fd = -1;
}

/* --- stopping -------------------------------------------------------------------------------------------------- */

static void finish(jn__http_loop *lp)
{
    if (lp->finished)
        return;
    lp->finished = true;
    pthread_mutex_lock(&lp->mu);
    lp->loop_closing = true;
    jn__http_req *r = lp->rq_head;
    lp->rq_head = lp->rq_tail = NULL;
    int *fds = lp->new_fds;
    size_t n_fds = lp->n_new_fds;
    lp->new_fds = NULL;
    lp->n_new_fds = lp->new_fds_cap = 0;
    pthread_mutex_unlock(&lp->mu);
    close_fds(fds, n_fds);
    free(fds);
    while (r) { /* every connection is gone, so every conn pointer is NULL */
        jn__http_req *next = r->rnext;
        JN_HTTP_ASSERT(!r->conn);
        if (r->streaming)
            jn__http_stream_drained(r); /* freed here when ended, else by its producer's jn_http_stream_end */
        else
            jn__http_req_free(r);
        r = next;
    }
    uv_close((uv_handle_t *)&lp->async, NULL);
    uv_close((uv_handle_t *)&lp->stop_timer, NULL);
    if (lp->index == 0)
        uv_close((uv_handle_t *)&lp->s->accept_pause, NULL);
}

void jn__http_conn_freed(jn__http_loop *lp)
{
    if (lp->stopping && !lp->conns)
        finish(lp);
}

static void on_stop_timeout(uv_timer_t *t)
{
    jn__http_loop *lp = t->data;
    fprintf(stderr, "junction http: requests still unanswered %lld ms after stop; closing their connections\n",
            (long long)lp->s->opt.stop_grace_ms);
    for (jn__http_conn *c = lp->conns; c; c = jn__http_conn_next(c))
        jn__http_conn_close(c);
}

static void stop_begin(jn__http_loop *lp)
{
    jn_http_server *s = lp->s;
    lp->stopping = true;
    if (lp->index == 0 && s->listener_open) {
        s->listener_open = false;
        uv_timer_stop(&s->accept_pause);
        uv_close((uv_handle_t *)&s->listener, on_listener_closed);
    }
    uv_timer_start(&lp->stop_timer, on_stop_timeout, (uint64_t)s->opt.stop_grace_ms, 0);
    jn__http_conn *c = lp->conns;
    while (c) { /* conn_stop may close c, but memory goes only in a later close callback */
        jn__http_conn *next = jn__http_conn_next(c);
        jn__http_conn_stop(c);
        c = next;
    }
    jn__http_conn_freed(lp);
}

static void on_async(uv_async_t *a)
{
    jn__http_loop *lp = a->data;
    pthread_mutex_lock(&lp->mu);
    bool stop = lp->stop_requested;
    int *fds = lp->new_fds;
    size_t n_fds = lp->n_new_fds;
    lp->n_new_fds = 0;
    if (n_fds) { /* take the array; a later hand-off allocates a new one */
        lp->new_fds = NULL;
        lp->new_fds_cap = 0;
    }
    pthread_mutex_unlock(&lp->mu);
    /* A stop that is already requested is begun before the queued answers are attached: each connection's last
     * answer then goes out with Connection: close. (Draining first wrote those answers as keep-alive when the loop
     * thread woke late, with the stop and the answers in the same turn, and the stop then found nothing to mark.) */
    if (stop && !lp->stopping)
        stop_begin(lp);
    jn__http_drain(lp);
    for (size_t i = 0; i < n_fds; i++) {
        if (lp->stopping)
            close(fds[i]);
        else
            jn__http_conn_accept(lp, fds[i]);
    }
    if (n_fds)
        free(fds);
}

static void close_any(uv_handle_t *h, void *arg)
{
    if (!uv_is_closing(h))
        uv_close(h, NULL);
}

/* Runs the loop until every handle is closed and the loop can be released. */
static void loop_close_all(uv_loop_t *loop)
{
    uv_run(loop, UV_RUN_DEFAULT);
    while (uv_loop_close(loop) == UV_EBUSY) {
        uv_walk(loop, close_any, NULL);
        uv_run(loop, UV_RUN_DEFAULT);
    }
}

static void loop_main(void *arg)
{
    jn__http_loop *lp = arg;
    loop_close_all(&lp->loop);
}

/* --- public life cycle ----------------------------------------------------------------------------------------- */

static int listen_error(jn_http_server *s, int fd, int sys_errno, jn_err *err)
{
    if (fd >= 0)
        close(fd);
    return jn_err_set(err, JN_EUNAVAIL, "http: cannot listen on %s:%d: %s", s->opt.host, s->opt.port,
                      uv_strerror(uv_translate_sys_error(sys_errno)));
}

/* Binds and listens (SO_REUSEADDR, backlog 511, as uv_tcp_bind and uv_listen did), polled by loop 0. */
static int bind_listener(jn_http_server *s, jn_err *err)
{
    char port_text[16];
    snprintf(port_text, sizeof port_text, "%d", s->opt.port);
    struct addrinfo hints;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    uv_getaddrinfo_t gai;
    int rc = uv_getaddrinfo(&s->loops[0].loop, &gai, NULL, s->opt.host, port_text, &hints);
    if (rc < 0)
        return jn_err_set(err, JN_EINVAL, "http: cannot resolve '%s': %s", s->opt.host, uv_strerror(rc));
    const struct addrinfo *ai = gai.addrinfo;
    int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int on = 1;
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on) != 0 ||
        bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, 511) != 0) {
        int e = errno;
        uv_freeaddrinfo(gai.addrinfo);
        return listen_error(s, fd, e, err);
    }
    uv_freeaddrinfo(gai.addrinfo);
    struct sockaddr_storage ss;
    socklen_t ss_len = sizeof ss;
    if (getsockname(fd, (struct sockaddr *)&ss, &ss_len) != 0) {
        int e = errno;
        close(fd);
        return jn_err_set(err, JN_EIO, "http: getsockname: %s", uv_strerror(uv_translate_sys_error(e)));
    }
    s->port = ss.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&ss)->sin6_port)
                                       : ntohs(((struct sockaddr_in *)&ss)->sin_port);
    rc = uv_poll_init_socket(&s->loops[0].loop, &s->listener, fd);
    if (rc == 0)
        rc = uv_poll_start(&s->listener, UV_READABLE, on_listener_readable);
    if (rc < 0) {
        close(fd);
        return jn_err_set(err, JN_EINTERNAL, "http: cannot poll the listening socket: %s", uv_strerror(rc));
    }
    s->listen_fd = fd;
    s->listener.data = s;
    s->listener_open = true;
    return 0;
}

/* Asks every started loop to stop and joins it (the controlling thread). */
static void stop_loops(jn_http_server *s)
{
    for (int i = 0; i < s->n_loops; i++) {
        jn__http_loop *lp = &s->loops[i];
        if (!lp->thread_started)
            continue;
        pthread_mutex_lock(&lp->mu);
        lp->stop_requested = true;
        uv_async_send(&lp->async);
        pthread_mutex_unlock(&lp->mu);
    }
    for (int i = 0; i < s->n_loops; i++) {
        jn__http_loop *lp = &s->loops[i];
        if (lp->thread_started) {
            uv_thread_join(&lp->thread);
            lp->thread_started = false;
        }
    }
}

jn_http_server *jn_http_server_start(const jn_http_server_options *opt, jn_err *err)
{
    jn_err_clear(err);
    if (!opt || !opt->handler) {
        jn_err_set(err, JN_EINVAL, "http: a handler is required");
        return NULL;
    }
    jn_http_server *s = calloc(1, sizeof *s);
    if (!s) {
        jn_err_set(err, JN_ENOMEM, "http: out of memory");
        return NULL;
    }
    s->opt = *opt;
    s->listen_fd = -1;
    s->host_copy = strdup(opt->host ? opt->host : "127.0.0.1");
    s->opt.host = s->host_copy;
    if (s->opt.max_pipelined < 1)
        s->opt.max_pipelined = 1;
    if (s->opt.stop_grace_ms <= 0)
        s->opt.stop_grace_ms = STOP_GRACE_DEFAULT_MS;
    if (s->opt.loop_threads < 1)
        s->opt.loop_threads = 1;
    if (s->opt.loop_threads > MAX_LOOP_THREADS)
        s->opt.loop_threads = MAX_LOOP_THREADS;
    atomic_init(&s->refs, 1);
    s->loops = calloc((size_t)s->opt.loop_threads, sizeof *s->loops);
    if (!s->host_copy || !s->loops) {
        jn_err_set(err, JN_ENOMEM, "http: out of memory");
        server_free(s);
        return NULL;
    }
    for (int i = 0; i < s->opt.loop_threads; i++) {
        jn__http_loop *lp = &s->loops[i];
        lp->s = s;
        lp->index = i;
        int rc = uv_loop_init(&lp->loop);
        if (rc < 0) {
            jn_err_set(err, JN_EINTERNAL, "http: uv_loop_init: %s", uv_strerror(rc));
            for (int k = 0; k < i; k++) {
                uv_walk(&s->loops[k].loop, close_any, NULL);
                loop_close_all(&s->loops[k].loop);
            }
            server_free(s);
            return NULL;
        }
        pthread_mutex_init(&lp->mu, NULL);
        s->n_loops = i + 1;
        lp->loop.data = lp;
        uv_async_init(&lp->loop, &lp->async, on_async);
        lp->async.data = lp;
        uv_timer_init(&lp->loop, &lp->stop_timer);
        lp->stop_timer.data = lp;
    }
    uv_timer_init(&s->loops[0].loop, &s->accept_pause);
    s->accept_pause.data = s;

    int rc = bind_listener(s, err);
    for (int i = 0; rc == 0 && i < s->n_loops; i++) {
        jn__http_loop *lp = &s->loops[i];
        rc = uv_thread_create(&lp->thread, loop_main, lp);
        if (rc < 0)
            jn_err_set(err, JN_EINTERNAL, "http: cannot start a loop thread: %s", uv_strerror(rc));
        else
            lp->thread_started = true;
    }
    if (rc < 0) {
        stop_loops(s); /* the started ones close their handles (loop 0: the listener too) */
        for (int i = 0; i < s->n_loops; i++) {
            jn__http_loop *lp = &s->loops[i];
            if (lp->finished)
                continue;
            uv_walk(&lp->loop, close_any, NULL);
            loop_close_all(&lp->loop);
        }
        if (s->listen_fd >= 0)
            close(s->listen_fd);
        server_free(s);
        return NULL;
    }
    return s;
}

int jn_http_server_port(const jn_http_server *s)
{
    return s->port;
}

void jn_http_server_stop(jn_http_server *s)
{
    if (!s || s->stop_called)
        return;
    uv_thread_t self = uv_thread_self();
    for (int i = 0; i < s->n_loops; i++) /* called from a handler: it would join itself */
        JN_HTTP_ASSERT(!s->loops[i].thread_started || !uv_thread_equal(&self, &s->loops[i].thread));
    s->stop_called = true;
    stop_loops(s);
}

void jn_http_server_destroy(jn_http_server *s)
{
    if (!s)
        return;
    jn_http_server_stop(s);
    server_unref(s);
}
