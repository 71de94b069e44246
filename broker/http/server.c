/* server.c — the HTTP server's life cycle: bind and start the loop thread, hand answers from any thread to the loop
 * (mutex-protected queue + one coalescing uv_async), response formatting, orderly stop, refcounted teardown.
 * Per-connection work (parsing, ordering, writing, timers) is in connection.c.
 *
 * Ownership: the server owns its loop, handles and connections; jn_http_server_destroy drops the owner's reference
 * and the memory goes when the last request still held by a handler is answered (see internal.h). Response bodies
 * passed to jn_http_respond are owned by the server from then on and freed with free().
 * Threads: jn_http_server_start/stop/destroy from one controlling thread (never the loop thread, i.e. never from a
 * handler); jn_http_respond and jn_http_respond_error from any thread.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "internal.h"

/* Requests given to the handler get this long to be answered once stop is called; then connections are cut. */
#define STOP_GRACE_DEFAULT_MS 10000

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
}

const char *jn_http_header_get(const jn_http_request *req, const char *name)
{
    for (size_t i = 0; i < req->n_headers; i++)
        if (strcasecmp(req->headers[i].name, name) == 0)
            return req->headers[i].value;
    return NULL;
}

/* --- refcount -------------------------------------------------------------------------------------------------- */

static void server_free(jn_http_server *s)
{
    pthread_mutex_destroy(&s->mu);
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
    free(r->strings);
    free(r->headers);
    free(r->body);
    free(r->resp_head);
    free(r->resp_body);
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

void jn__http_format(jn__http_req *r, int status, const char *content_type, char *body, size_t body_len,
                     const char *extra_headers)
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
    size_t cap = 96 + reason_len + ct_len + ex_len;
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
    if (!bodyless) {
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

const char *jn__http_date(jn_http_server *s)
{
    time_t now = time(NULL);
    if (now != s->date_sec) {
        struct tm tm;
        gmtime_r(&now, &tm);
        strftime(s->date, sizeof s->date, "%a, %d %b %Y %H:%M:%S GMT", &tm);
        s->date_sec = now;
    }
    return s->date;
}

/* --- answers from any thread ----------------------------------------------------------------------------------- */

_Thread_local jn_http_server *jn__http_dispatching;

void jn_http_respond(jn_http_request *req, int status, const char *content_type, char *body, size_t body_len,
                     const char *extra_headers)
{
    jn__http_req *r = (jn__http_req *)req;
    jn_http_server *s = r->srv;
    jn__http_format(r, status, content_type, body, body_len, extra_headers);

    pthread_mutex_lock(&s->mu);
    JN_HTTP_ASSERT(!r->answered); /* answered twice */
    r->answered = true;
    if (!r->conn) { /* the connection is gone: nobody to tell */
        pthread_mutex_unlock(&s->mu);
        jn__http_req_free(r);
        return;
    }
    r->rnext = NULL;
    if (s->rq_tail)
        s->rq_tail->rnext = r;
    else
        s->rq_head = r;
    s->rq_tail = r;
    JN_HTTP_ASSERT(!s->loop_closing);
    if (jn__http_dispatching != s)
        uv_async_send(&s->async);
    pthread_mutex_unlock(&s->mu);
}

void jn_http_respond_error(jn_http_request *req, int status, const char *message)
{
    size_t len;
    char *body = jn__http_error_json(message, &len);
    jn_http_respond(req, status, "application/json", body, len, NULL);
}

void jn__http_drain(jn_http_server *s)
{
    pthread_mutex_lock(&s->mu);
    jn__http_req *r = s->rq_head;
    s->rq_head = s->rq_tail = NULL;
    pthread_mutex_unlock(&s->mu);
    while (r) {
        jn__http_req *next = r->rnext;
        r->rnext = NULL;
        if (r->conn) /* conn is written only on this thread */
            jn__http_conn_answered(r);
        else
            jn__http_req_free(r);
        r = next;
    }
}

/* --- stopping -------------------------------------------------------------------------------------------------- */

static void finish(jn_http_server *s)
{
    if (s->finished)
        return;
    s->finished = true;
    pthread_mutex_lock(&s->mu);
    s->loop_closing = true;
    jn__http_req *r = s->rq_head;
    s->rq_head = s->rq_tail = NULL;
    pthread_mutex_unlock(&s->mu);
    while (r) { /* every connection is gone, so every conn pointer is NULL */
        jn__http_req *next = r->rnext;
        JN_HTTP_ASSERT(!r->conn);
        jn__http_req_free(r);
        r = next;
    }
    uv_close((uv_handle_t *)&s->async, NULL);
    uv_close((uv_handle_t *)&s->stop_timer, NULL);
}

void jn__http_conn_freed(jn_http_server *s)
{
    if (s->stopping && !s->conns)
        finish(s);
}

static void on_stop_timeout(uv_timer_t *t)
{
    jn_http_server *s = t->data;
    fprintf(stderr, "junction http: requests still unanswered %lld ms after stop; closing their connections\n",
            (long long)s->opt.stop_grace_ms);
    for (jn__http_conn *c = s->conns; c; c = jn__http_conn_next(c))
        jn__http_conn_close(c);
}

static void stop_begin(jn_http_server *s)
{
    s->stopping = true;
    uv_close((uv_handle_t *)&s->listener, NULL);
    uv_timer_start(&s->stop_timer, on_stop_timeout, (uint64_t)s->opt.stop_grace_ms, 0);
    jn__http_conn *c = s->conns;
    while (c) { /* conn_stop may close c, but memory goes only in a later close callback */
        jn__http_conn *next = jn__http_conn_next(c);
        jn__http_conn_stop(c);
        c = next;
    }
    jn__http_conn_freed(s);
}

static void on_async(uv_async_t *a)
{
    jn_http_server *s = a->data;
    jn__http_drain(s);
    pthread_mutex_lock(&s->mu);
    bool stop = s->stop_requested;
    pthread_mutex_unlock(&s->mu);
    if (stop && !s->stopping)
        stop_begin(s);
}

static void on_connection(uv_stream_t *listener, int status)
{
    jn_http_server *s = listener->data;
    if (status < 0 || s->stopping)
        return;
    jn__http_conn_accept(s);
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
    jn_http_server *s = arg;
    loop_close_all(&s->loop);
}

/* --- public life cycle ----------------------------------------------------------------------------------------- */

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
    int rc = uv_getaddrinfo(&s->loop, &gai, NULL, s->opt.host, port_text, &hints);
    if (rc < 0)
        return jn_err_set(err, JN_EINVAL, "http: cannot resolve '%s': %s", s->opt.host, uv_strerror(rc));
    rc = uv_tcp_bind(&s->listener, gai.addrinfo->ai_addr, 0);
    uv_freeaddrinfo(gai.addrinfo);
    if (rc == 0)
        rc = uv_listen((uv_stream_t *)&s->listener, 511, on_connection);
    if (rc < 0)
        return jn_err_set(err, JN_EUNAVAIL, "http: cannot listen on %s:%d: %s", s->opt.host, s->opt.port,
                          uv_strerror(rc));
    struct sockaddr_storage ss;
    int ss_len = sizeof ss;
    rc = uv_tcp_getsockname(&s->listener, (struct sockaddr *)&ss, &ss_len);
    if (rc < 0)
        return jn_err_set(err, JN_EIO, "http: getsockname: %s", uv_strerror(rc));
    s->port = ss.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&ss)->sin6_port)
                                       : ntohs(((struct sockaddr_in *)&ss)->sin_port);
    return 0;
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
    s->host_copy = strdup(opt->host ? opt->host : "127.0.0.1");
    s->opt.host = s->host_copy;
    if (s->opt.max_pipelined < 1)
        s->opt.max_pipelined = 1;
    if (s->opt.stop_grace_ms <= 0)
        s->opt.stop_grace_ms = STOP_GRACE_DEFAULT_MS;
    atomic_init(&s->refs, 1);
    pthread_mutex_init(&s->mu, NULL);

    int rc = uv_loop_init(&s->loop);
    if (rc < 0 || !s->host_copy) {
        jn_err_set(err, JN_EINTERNAL, "http: uv_loop_init: %s", rc < 0 ? uv_strerror(rc) : "out of memory");
        if (rc == 0)
            uv_loop_close(&s->loop);
        server_free(s);
        return NULL;
    }
    s->loop.data = s;
    uv_tcp_init(&s->loop, &s->listener);
    s->listener.data = s;
    uv_async_init(&s->loop, &s->async, on_async);
    s->async.data = s;
    uv_timer_init(&s->loop, &s->stop_timer);
    s->stop_timer.data = s;

    rc = bind_listener(s, err);
    if (rc == 0) {
        rc = uv_thread_create(&s->thread, loop_main, s);
        if (rc < 0)
            jn_err_set(err, JN_EINTERNAL, "http: cannot start the loop thread: %s", uv_strerror(rc));
    }
    if (rc < 0) {
        uv_walk(&s->loop, close_any, NULL);
        loop_close_all(&s->loop);
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
    JN_HTTP_ASSERT(!uv_thread_equal(&self, &s->thread)); /* called from a handler: it would join itself */
    s->stop_called = true;
    pthread_mutex_lock(&s->mu);
    s->stop_requested = true;
    uv_async_send(&s->async);
    pthread_mutex_unlock(&s->mu);
    uv_thread_join(&s->thread);
}

void jn_http_server_destroy(jn_http_server *s)
{
    if (!s)
        return;
    jn_http_server_stop(s);
    server_unref(s);
}
