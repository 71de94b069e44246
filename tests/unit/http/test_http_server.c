/* test_http_server.c — the HTTP/1.1 server core (broker/http/server.h) over real loopback sockets.
 *
 * The handler echoes "METHOD path?query body=..." inline; "/slow" (50 ms), "/late-first" (100 ms), "/in-flight"
 * (300 ms) and "/very-slow" (1500 ms: well past the 100 ms stop grace of test_stop_grace_expires, however late the
 * controlling thread calls stop under load) are answered from another thread, "/err" with jn_http_respond_error.
 * The client side is plain POSIX sockets with a minimal response reader (status, Content-Length, Connection), so
 * the server is checked byte for byte.
 *
 * Ownership: each test opens and closes its own sockets; answer threads are joined by join_answer_threads().
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "server.h"
#include "test.h"

/* --- the handler ----------------------------------------------------------------------------------------------- */

static atomic_int handled;

#define MAX_THREADS 64
static pthread_mutex_t threads_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_t threads[MAX_THREADS];
static int n_threads;

typedef struct delayed {
    jn_http_request *req;
    int ms;
} delayed;

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {
    }
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

static void echo(jn_http_request *req)
{
    const char *x = jn_http_header_get(req, "X-Echo");
    size_t cap = req->body_len + strlen(req->path) + strlen(req->query) + (x ? strlen(x) : 0) + 64;
    char *body = malloc(cap);
    int n = snprintf(body, cap, "%s %s?%s body=", req->method, req->path, req->query);
    memcpy(body + n, req->body, req->body_len);
    size_t len = (size_t)n + req->body_len;
    if (x)
        len += (size_t)snprintf(body + len, cap - len, " x-echo=%s", x);
    jn_http_respond(req, 200, "text/plain", body, len, "X-Test: yes\r\n");
}

static void *answer_later(void *arg)
{
    delayed *d = arg;
    sleep_ms(d->ms);
    echo(d->req);
    free(d);
    return NULL;
}

static void answer_from_thread(jn_http_request *req, int ms)
{
    delayed *d = malloc(sizeof *d);
    d->req = req;
    d->ms = ms;
    pthread_mutex_lock(&threads_mu);
    JN_REQUIRE(n_threads < MAX_THREADS);
    JN_REQUIRE(pthread_create(&threads[n_threads], NULL, answer_later, d) == 0);
    n_threads++;
    pthread_mutex_unlock(&threads_mu);
}

static void join_answer_threads(void)
{
    pthread_mutex_lock(&threads_mu);
    for (int i = 0; i < n_threads; i++)
        pthread_join(threads[i], NULL);
    n_threads = 0;
    pthread_mutex_unlock(&threads_mu);
}

/* Loop threads the servers under test run (main runs every test with 1, then with 3), and the distinct threads
 * the handler was called on. */
static int loop_threads = 1;
static pthread_mutex_t seen_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_t seen[8];
static int n_seen;

static void note_thread(void)
{
    pthread_t self = pthread_self();
    pthread_mutex_lock(&seen_mu);
    bool known = false;
    for (int i = 0; i < n_seen; i++)
        known |= pthread_equal(seen[i], self) != 0;
    if (!known && n_seen < 8)
        seen[n_seen++] = self;
    pthread_mutex_unlock(&seen_mu);
}

static void handler(jn_http_request *req)
{
    atomic_fetch_add(&handled, 1);
    note_thread();
    if (strcmp(req->path, "/slow") == 0)
        answer_from_thread(req, 50);
    else if (strcmp(req->path, "/late-first") == 0)
        answer_from_thread(req, 100);
    else if (strcmp(req->path, "/in-flight") == 0)
        answer_from_thread(req, 300);
    else if (strcmp(req->path, "/very-slow") == 0)
        answer_from_thread(req, 1500);
    else if (strcmp(req->path, "/err") == 0)
        jn_http_respond_error(req, 422, "say \"hi\"\n\\ \x01 ok");
    else if (strcmp(req->path, "/empty") == 0)
        jn_http_respond(req, 204, NULL, NULL, 0, NULL);
    else
        echo(req);
}

static jn_http_server *start_grace(size_t max_body, size_t max_head, int64_t head_ms, int64_t body_ms,
                                   int64_t idle_ms, int max_pipelined, int64_t grace_ms)
{
    jn_http_server_options opt;
    jn_http_server_options_default(&opt);
    opt.port = 0;
    opt.max_body_bytes = max_body;
    opt.max_header_bytes = max_head;
    opt.header_timeout_ms = head_ms;
    opt.body_timeout_ms = body_ms;
    opt.idle_timeout_ms = idle_ms;
    opt.max_pipelined = max_pipelined;
    opt.stop_grace_ms = grace_ms;
    opt.loop_threads = loop_threads;
    opt.handler = handler;
    jn_err err;
    jn_http_server *s = jn_http_server_start(&opt, &err);
    if (!s)
        fprintf(stderr, "start: %s\n", err.msg);
    JN_REQUIRE(s != NULL);
    JN_CHECK(jn_http_server_port(s) > 0);
    return s;
}

static jn_http_server *start(size_t max_body, size_t max_head, int64_t head_ms, int64_t body_ms, int64_t idle_ms,
                             int max_pipelined)
{
    return start_grace(max_body, max_head, head_ms, body_ms, idle_ms, max_pipelined, 0);
}

/* The server most tests share: 4 KiB bodies, 2 KiB heads, 5 s timeouts, 4 requests read ahead. */
static jn_http_server *srv;
static int port;

/* --- a minimal client ------------------------------------------------------------------------------------------ */

typedef struct client {
    int fd;
    size_t len;
    char buf[1 << 16];
} client;

typedef struct response {
    int status;
    char head[4096];
    char *body;
    size_t body_len;
    bool has_length, close, keep_alive;
} response;

static client *client_open(int p)
{
    client *c = calloc(1, sizeof *c);
    c->fd = socket(AF_INET, SOCK_STREAM, 0);
    JN_REQUIRE(c->fd >= 0);
    struct timeval tv = {5, 0};
    setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)p);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    JN_REQUIRE(connect(c->fd, (struct sockaddr *)&a, sizeof a) == 0);
    return c;
}

static void client_close(client *c)
{
    close(c->fd);
    free(c);
}

static int send_all(client *c, const void *data, size_t len)
{
    const char *p = data;
    while (len) {
        ssize_t n = send(c->fd, p, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

static int send_str(client *c, const char *s)
{
    return send_all(c, s, strlen(s));
}

/* Reads more into the buffer: >0 bytes, 0 on EOF, -1 on error or timeout. */
static ssize_t fill(client *c)
{
    if (c->len == sizeof c->buf)
        return -1;
    for (;;) {
        ssize_t n = recv(c->fd, c->buf + c->len, sizeof c->buf - c->len, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n > 0)
            c->len += (size_t)n;
        return n;
    }
}

/* End of the response head in the buffer, or NULL. */
static char *head_end(client *c)
{
    for (size_t i = 0; i + 4 <= c->len; i++)
        if (memcmp(c->buf + i, "\r\n\r\n", 4) == 0)
            return c->buf + i;
    return NULL;
}

static void consume(client *c, size_t n)
{
    memmove(c->buf, c->buf + n, c->len - n);
    c->len -= n;
}

static const char *find_header(const char *head, const char *name)
{
    size_t nl = strlen(name);
    for (const char *line = strstr(head, "\r\n"); line; line = strstr(line + 2, "\r\n"))
        if (strncasecmp(line + 2, name, nl) == 0 && line[2 + nl] == ':') {
            const char *v = line + 3 + nl;
            while (*v == ' ')
                v++;
            return v;
        }
    return NULL;
}

/* 0 and *r filled, or -1 (EOF, error, timeout, garbage). The caller frees r->body. */
static int read_response(client *c, response *r)
{
    memset(r, 0, sizeof *r);
    char *end;
    while (!(end = head_end(c)))
        if (fill(c) <= 0)
            return -1;
    size_t head_len = (size_t)(end - c->buf) + 4;
    if (head_len >= sizeof r->head)
        return -1;
    memcpy(r->head, c->buf, head_len);
    r->head[head_len] = '\0';
    consume(c, head_len);
    if (sscanf(r->head, "HTTP/1.1 %d ", &r->status) != 1)
        return -1;
    const char *cl = find_header(r->head, "content-length");
    const char *conn = find_header(r->head, "connection");
    r->has_length = cl != NULL;
    r->close = conn && strncasecmp(conn, "close", 5) == 0;
    r->keep_alive = conn && strncasecmp(conn, "keep-alive", 10) == 0;
    size_t len = cl ? strtoul(cl, NULL, 10) : 0;
    r->body = malloc(len + 1);
    while (c->len < len)
        if (fill(c) <= 0) {
            free(r->body);
            r->body = NULL;
            return -1;
        }
    memcpy(r->body, c->buf, len);
    r->body[len] = '\0';
    r->body_len = len;
    consume(c, len);
    return 0;
}

/* Reads the response to a HEAD request: the head only, Content-Length describes what a GET would get. */
static int read_head_only(client *c, response *r)
{
    memset(r, 0, sizeof *r);
    char *end;
    while (!(end = head_end(c)))
        if (fill(c) <= 0)
            return -1;
    size_t head_len = (size_t)(end - c->buf) + 4;
    memcpy(r->head, c->buf, head_len < sizeof r->head ? head_len : sizeof r->head - 1);
    consume(c, head_len);
    r->has_length = find_header(r->head, "content-length") != NULL;
    return sscanf(r->head, "HTTP/1.1 %d ", &r->status) == 1 ? 0 : -1;
}

/* True when the server closed the connection with nothing more to read. */
static bool closed_cleanly(client *c)
{
    if (c->len)
        return false;
    char b[256];
    ssize_t n;
    while ((n = recv(c->fd, b, sizeof b, 0)) < 0 && errno == EINTR) {
    }
    return n == 0;
}

#define EXPECT_RESPONSE(cl, r, want_status)                                                                    \
    do {                                                                                                       \
        int rc_ = read_response((cl), (r));                                                                    \
        JN_CHECK_INT_EQ(rc_, 0);                                                                               \
        JN_CHECK_INT_EQ((r)->status, (want_status));                                                           \
        JN_CHECK((r)->has_length || (r)->status == 204);                                                       \
    } while (0)

/* --- tests ----------------------------------------------------------------------------------------------------- */

static void test_keepalive_1000(void)
{
    client *c = client_open(port);
    int ok = 0, closed = 0;
    char req[128], want[128];
    for (int i = 0; i < 1000; i++) {
        snprintf(req, sizeof req, "GET /k?i=%d HTTP/1.1\r\nHost: t\r\n\r\n", i);
        snprintf(want, sizeof want, "GET /k?i=%d body=", i);
        if (send_str(c, req))
            break;
        response r;
        if (read_response(c, &r))
            break;
        ok += r.status == 200 && r.has_length && strcmp(r.body, want) == 0 && strstr(r.head, "X-Test: yes\r\n");
        closed += r.close;
        free(r.body);
    }
    JN_CHECK_INT_EQ(ok, 1000);
    JN_CHECK_INT_EQ(closed, 0);
    client_close(c);
}

static void test_pipelined_in_order(void)
{
    client *c = client_open(port);
    const char *reqs = "GET /a HTTP/1.1\r\nHost: t\r\n\r\n"
                       "POST /b?x=1 HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nxyz"
                       "GET /slow HTTP/1.1\r\nHost: t\r\n\r\n"
                       "GET /c HTTP/1.1\r\nHost: t\r\n\r\n"
                       "GET /late-first HTTP/1.1\r\nHost: t\r\n\r\n"
                       "GET /fast-second HTTP/1.1\r\nHost: t\r\n\r\n"
                       "GET /err HTTP/1.1\r\nHost: t\r\n\r\n"
                       "GET /d?q=2 HTTP/1.1\r\nHost: t\r\nX-Echo:  Spaced  \r\n\r\n";
    JN_CHECK_INT_EQ(send_str(c, reqs), 0); /* one write: more requests than max_pipelined (4) */
    const char *want[] = {"GET /a? body=",          "POST /b?x=1 body=xyz", "GET /slow? body=",
                          "GET /c? body=",          "GET /late-first? body=", "GET /fast-second? body=",
                          NULL,                     "GET /d?q=2 body= x-echo=Spaced"};
    for (int i = 0; i < 8; i++) {
        response r;
        EXPECT_RESPONSE(c, &r, want[i] ? 200 : 422);
        if (want[i])
            JN_CHECK_STR_EQ(r.body, want[i]);
        else
            JN_CHECK_STR_EQ(r.body, "{\"error\": \"say \\\"hi\\\"\\n\\\\ \\u0001 ok\"}");
        JN_CHECK(!r.close);
        free(r.body);
    }
    /* The connection is still usable: the handler's 422 is not a framing error. */
    JN_CHECK_INT_EQ(send_str(c, "GET /after HTTP/1.1\r\nHost: t\r\n\r\n"), 0);
    response r;
    EXPECT_RESPONSE(c, &r, 200);
    JN_CHECK_STR_EQ(r.body, "GET /after? body=");
    free(r.body);
    client_close(c);
    join_answer_threads();
}

static void test_chunked_upload(void)
{
    client *c = client_open(port);
    JN_CHECK_INT_EQ(send_str(c, "POST /up HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"), 0);
    sleep_ms(10);
    JN_CHECK_INT_EQ(send_str(c, "5\r\nhello\r\n"), 0);
    sleep_ms(10);
    JN_CHECK_INT_EQ(send_str(c, "6\r\n world\r\n0\r\n\r\n"), 0);
    response r;
    EXPECT_RESPONSE(c, &r, 200);
    JN_CHECK_STR_EQ(r.body, "POST /up? body=hello world");
    free(r.body);
    /* With a trailer, then a plain request on the same connection. */
    JN_CHECK_INT_EQ(send_str(c, "PUT /t HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
                                "3\r\nabc\r\n0\r\nX-Trailer: 1\r\n\r\n"
                                "GET /next HTTP/1.1\r\n\r\n"),
                    0);
    EXPECT_RESPONSE(c, &r, 200);
    JN_CHECK_STR_EQ(r.body, "PUT /t? body=abc");
    free(r.body);
    EXPECT_RESPONSE(c, &r, 200);
    JN_CHECK_STR_EQ(r.body, "GET /next? body=");
    free(r.body);
    client_close(c);
}

static void test_body_too_large(void)
{
    /* Announced by Content-Length: refused at once, the connection closed after the answer. */
    client *c = client_open(port);
    size_t n = 100000;
    char *big = malloc(n);
    memset(big, 'b', n);
    JN_CHECK_INT_EQ(send_str(c, "POST /big HTTP/1.1\r\nHost: t\r\nContent-Length: 100000\r\n\r\n"), 0);
    send_all(c, big, n); /* may fail once the server closed: that is fine */
    response r;
    EXPECT_RESPONSE(c, &r, 413);
    JN_CHECK(r.close);
    JN_CHECK_STR_CONTAINS(r.body, "{\"error\": \"");
    JN_CHECK_STR_CONTAINS(r.head, "Content-Type: application/json\r\n");
    free(r.body);
    JN_CHECK(closed_cleanly(c));
    client_close(c);

    /* Chunked: found out while the body arrives. */
    c = client_open(port);
    JN_CHECK_INT_EQ(send_str(c, "POST /big HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"), 0);
    for (int i = 0; i < 3; i++) {
        char size[16];
        snprintf(size, sizeof size, "%x\r\n", 3000);
        if (send_str(c, size) || send_all(c, big, 3000) || send_str(c, "\r\n"))
            break;
    }
    EXPECT_RESPONSE(c, &r, 413);
    JN_CHECK(r.close);
    free(r.body);
    JN_CHECK(closed_cleanly(c));
    client_close(c);
    free(big);

    /* Exactly at the limit is fine. */
    c = client_open(port);
    char *head = malloc(4096 + 128);
    int hl = snprintf(head, 128, "POST /limit HTTP/1.1\r\nContent-Length: 4096\r\n\r\n");
    memset(head + hl, 'x', 4096);
    JN_CHECK_INT_EQ(send_all(c, head, (size_t)hl + 4096), 0);
    EXPECT_RESPONSE(c, &r, 200);
    JN_CHECK_INT_EQ(r.body_len, strlen("POST /limit? body=") + 4096);
    free(r.body);
    free(head);
    client_close(c);
}

static void test_head_too_large(void)
{
    client *c = client_open(port);
    char req[4096];
    int n = snprintf(req, sizeof req, "GET /h HTTP/1.1\r\nHost: t\r\nX-Big: ");
    memset(req + n, 'h', 3000);
    n += 3000;
    n += snprintf(req + n, sizeof req - (size_t)n, "\r\n\r\n");
    JN_CHECK_INT_EQ(send_all(c, req, (size_t)n), 0);
    response r;
    EXPECT_RESPONSE(c, &r, 431);
    JN_CHECK(r.close);
    JN_CHECK_STR_CONTAINS(r.body, "\"error\"");
    free(r.body);
    JN_CHECK(closed_cleanly(c));
    client_close(c);
}

static void test_garbage(void)
{
    client *c = client_open(port);
    JN_CHECK_INT_EQ(send_str(c, "GET /ok HTTP/1.1\r\nHost: t\r\n\r\nTHIS IS NOT HTTP\r\n\r\n"), 0);
    response r;
    EXPECT_RESPONSE(c, &r, 200); /* the good request before the garbage is still answered, first */
    JN_CHECK_STR_EQ(r.body, "GET /ok? body=");
    free(r.body);
    EXPECT_RESPONSE(c, &r, 400);
    JN_CHECK(r.close);
    JN_CHECK_STR_CONTAINS(r.body, "malformed");
    free(r.body);
    JN_CHECK(closed_cleanly(c));
    client_close(c);

    c = client_open(port); /* a bad header line */
    JN_CHECK_INT_EQ(send_str(c, "GET / HTTP/1.1\r\nBad Header\r\n\r\n"), 0);
    EXPECT_RESPONSE(c, &r, 400);
    free(r.body);
    JN_CHECK(closed_cleanly(c));
    client_close(c);
}

static void test_post_without_length(void)
{
    client *c = client_open(port);
    JN_CHECK_INT_EQ(send_str(c, "POST /nolen HTTP/1.1\r\nHost: t\r\n\r\n"), 0);
    response r;
    EXPECT_RESPONSE(c, &r, 411);
    JN_CHECK_STR_CONTAINS(r.body, "Content-Length");
    free(r.body);
    client_close(c);
}

static void test_expect_continue(void)
{
    client *c = client_open(port);
    JN_CHECK_INT_EQ(send_str(c, "POST /e HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\n"
                                "Content-Length: 11\r\n\r\n"),
                    0);
    response r;
    JN_CHECK_INT_EQ(read_head_only(c, &r), 0); /* before any body byte was sent */
    JN_CHECK_INT_EQ(r.status, 100);
    JN_CHECK_INT_EQ(send_str(c, "hello there"), 0);
    EXPECT_RESPONSE(c, &r, 200);
    JN_CHECK_STR_EQ(r.body, "POST /e? body=hello there");
    free(r.body);

    /* Too large: the final answer comes instead of 100 Continue. */
    JN_CHECK_INT_EQ(send_str(c, "POST /e HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 999999\r\n\r\n"), 0);
    EXPECT_RESPONSE(c, &r, 413);
    JN_CHECK(r.close);
    free(r.body);
    client_close(c);
}

static void test_connection_close(void)
{
    client *c = client_open(port);
    JN_CHECK_INT_EQ(send_str(c, "GET /bye HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"
                                "GET /ignored HTTP/1.1\r\nHost: t\r\n\r\n"),
                    0);
    response r;
    EXPECT_RESPONSE(c, &r, 200);
    JN_CHECK_STR_EQ(r.body, "GET /bye? body=");
    JN_CHECK(r.close);
    free(r.body);
    JN_CHECK(closed_cleanly(c));
    client_close(c);
}

static void test_http10(void)
{
    client *c = client_open(port);
    JN_CHECK_INT_EQ(send_str(c, "GET /ten HTTP/1.0\r\n\r\n"), 0);
    response r;
    EXPECT_RESPONSE(c, &r, 200);
    JN_CHECK_STR_EQ(r.body, "GET /ten? body=");
    JN_CHECK(r.close);
    free(r.body);
    JN_CHECK(closed_cleanly(c));
    client_close(c);

    c = client_open(port);
    for (int i = 0; i < 2; i++) {
        JN_CHECK_INT_EQ(send_str(c, "GET /ka HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"), 0);
        EXPECT_RESPONSE(c, &r, 200);
        JN_CHECK(r.keep_alive);
        free(r.body);
    }
    client_close(c);
}

static void test_head_and_204(void)
{
    client *c = client_open(port);
    JN_CHECK_INT_EQ(send_str(c, "HEAD /h HTTP/1.1\r\nHost: t\r\n\r\n"
                                "GET /empty HTTP/1.1\r\n\r\nGET /z HTTP/1.1\r\n\r\n"),
                    0);
    response r;
    JN_CHECK_INT_EQ(read_head_only(c, &r), 0);
    JN_CHECK_INT_EQ(r.status, 200);
    JN_CHECK_STR_CONTAINS(r.head, "Content-Length: 14\r\n"); /* what GET would get: "HEAD /h? body=" */
    EXPECT_RESPONSE(c, &r, 204);
    JN_CHECK(!r.has_length);
    free(r.body);
    EXPECT_RESPONSE(c, &r, 200); /* no stray body bytes came before it */
    JN_CHECK_STR_EQ(r.body, "GET /z? body=");
    free(r.body);
    client_close(c);
}

static void test_timeouts(void)
{
    jn_http_server *s = start(4096, 2048, 200, 200, 300, 4);
    int p = jn_http_server_port(s);

    /* Head too slow. */
    client *c = client_open(p);
    double t0 = now_ms();
    JN_CHECK_INT_EQ(send_str(c, "GET /slowhead HTTP/1.1\r\nHost: t\r\n"), 0);
    response r;
    EXPECT_RESPONSE(c, &r, 408);
    JN_CHECK(r.close);
    free(r.body);
    JN_CHECK(closed_cleanly(c));
    double dt = now_ms() - t0;
    JN_CHECK(dt >= 150 && dt < 2000);
    client_close(c);

    /* Body too slow. */
    c = client_open(p);
    JN_CHECK_INT_EQ(send_str(c, "POST /slowbody HTTP/1.1\r\nContent-Length: 10\r\n\r\nabc"), 0);
    EXPECT_RESPONSE(c, &r, 408);
    JN_CHECK(r.close);
    free(r.body);
    JN_CHECK(closed_cleanly(c));
    client_close(c);

    /* Idle keep-alive connection: closed without a word. */
    c = client_open(p);
    JN_CHECK_INT_EQ(send_str(c, "GET /once HTTP/1.1\r\n\r\n"), 0);
    EXPECT_RESPONSE(c, &r, 200);
    free(r.body);
    t0 = now_ms();
    JN_CHECK(closed_cleanly(c));
    dt = now_ms() - t0;
    JN_CHECK(dt >= 200 && dt < 2000);
    client_close(c);

    /* A connection that never sends anything. */
    c = client_open(p);
    JN_CHECK(closed_cleanly(c));
    client_close(c);

    jn_http_server_destroy(s);
}

static void test_stop_answers_in_flight(void)
{
    jn_http_server *s = start(4096, 2048, 5000, 5000, 5000, 16);
    int p = jn_http_server_port(s);
    atomic_store(&handled, 0);
    client *a = client_open(p), *b = client_open(p), *idle = client_open(p);
    /* The answers must still be in flight when the stop reaches the loops: they are held 300 ms, so that a
     * controlling thread descheduled for a while under load (tens of ms) does not call stop only after the answers
     * went out, as ordinary keep-alive answers (a server that is not stopping rightly sends no Connection: close). */
    JN_CHECK_INT_EQ(send_str(a, "GET /in-flight HTTP/1.1\r\n\r\nGET /fast HTTP/1.1\r\n\r\n"
                                "GET /in-flight HTTP/1.1\r\n\r\n"),
                    0);
    JN_CHECK_INT_EQ(send_str(b, "POST /in-flight HTTP/1.1\r\nContent-Length: 2\r\n\r\nhi"), 0);
    for (int i = 0; i < 500 && atomic_load(&handled) < 4; i++)
        sleep_ms(2);
    JN_CHECK_INT_EQ(atomic_load(&handled), 4);
    double t0 = now_ms();
    jn_http_server_stop(s);
    double dt = now_ms() - t0;
    JN_CHECK(dt < 2000);

    const char *want_a[] = {"GET /in-flight? body=", "GET /fast? body=", "GET /in-flight? body="};
    for (int i = 0; i < 3; i++) {
        response r;
        EXPECT_RESPONSE(a, &r, 200);
        JN_CHECK_STR_EQ(r.body, want_a[i]);
        JN_CHECK(r.close == (i == 2));
        free(r.body);
    }
    JN_CHECK(closed_cleanly(a));
    response r;
    EXPECT_RESPONSE(b, &r, 200);
    JN_CHECK_STR_EQ(r.body, "POST /in-flight? body=hi");
    JN_CHECK(r.close);
    free(r.body);
    JN_CHECK(closed_cleanly(b));
    JN_CHECK(closed_cleanly(idle));
    client_close(a);
    client_close(b);
    client_close(idle);
    jn_http_server_destroy(s);
    join_answer_threads();

    /* Nothing listens any more. */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)p);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    JN_CHECK(connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0);
    close(fd);
}

static void test_client_gone_before_answer(void)
{
    client *c = client_open(port);
    JN_CHECK_INT_EQ(send_str(c, "GET /slow HTTP/1.1\r\n\r\nGET /slow HTTP/1.1\r\n\r\n"), 0);
    sleep_ms(10);
    client_close(c); /* the answers find no connection: dropped, nothing leaks */
    join_answer_threads();
    c = client_open(port);
    JN_CHECK_INT_EQ(send_str(c, "GET /still-here HTTP/1.1\r\n\r\n"), 0);
    response r;
    EXPECT_RESPONSE(c, &r, 200);
    free(r.body);
    client_close(c);
}

static void test_half_close(void)
{
    client *c = client_open(port);
    JN_CHECK_INT_EQ(send_str(c, "GET /slow HTTP/1.1\r\n\r\nGET /h2 HTTP/1.1\r\n\r\n"), 0);
    shutdown(c->fd, SHUT_WR); /* the requests still get their answers */
    response r;
    EXPECT_RESPONSE(c, &r, 200);
    JN_CHECK_STR_EQ(r.body, "GET /slow? body=");
    free(r.body);
    EXPECT_RESPONSE(c, &r, 200);
    JN_CHECK_STR_EQ(r.body, "GET /h2? body=");
    JN_CHECK(r.close);
    free(r.body);
    JN_CHECK(closed_cleanly(c));
    client_close(c);
    join_answer_threads();
}

static void test_request_targets(void)
{
    client *c = client_open(port);
    JN_CHECK_INT_EQ(send_str(c, "GET http://example.test:8000/abs/path?q=1&r=%20 HTTP/1.1\r\n"
                                "Host: example.test\r\n\r\n"
                                "OPTIONS * HTTP/1.1\r\n\r\n"
                                "GET /frag?x#y HTTP/1.1\r\n\r\n"
                                "GET /ws HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"
                                "DELETE /del HTTP/1.1\r\n\r\n"),
                    0);
    const char *want[] = {"GET /abs/path?q=1&r=%20 body=", "OPTIONS *? body=", "GET /frag?x body=",
                          "GET /ws? body=", "DELETE /del? body="};
    for (int i = 0; i < 5; i++) {
        response r;
        EXPECT_RESPONSE(c, &r, 200);
        JN_CHECK_STR_EQ(r.body, want[i]);
        free(r.body);
    }
    client_close(c);
}

static void test_stop_grace_expires(void)
{
    /* A handler that answers after the grace: its connection is cut at stop, the late answer is dropped, and it
     * may even come after the server was destroyed. */
    jn_http_server *s = start_grace(4096, 2048, 5000, 5000, 5000, 16, 100);
    int p = jn_http_server_port(s);
    atomic_store(&handled, 0);
    client *c = client_open(p), *partial = client_open(p);
    JN_CHECK_INT_EQ(send_str(c, "GET /very-slow HTTP/1.1\r\n\r\n"), 0);
    JN_CHECK_INT_EQ(send_str(partial, "GET /half HTTP/1.1\r\nHost:"), 0);
    for (int i = 0; i < 500 && atomic_load(&handled) < 1; i++)
        sleep_ms(2);
    sleep_ms(20); /* let the partial head arrive too */
    double t0 = now_ms();
    jn_http_server_stop(s);
    double dt = now_ms() - t0;
    JN_CHECK(dt >= 90 && dt < 1000);
    response r;
    JN_CHECK_INT_EQ(read_response(c, &r), -1); /* closed without an answer */
    JN_CHECK(closed_cleanly(partial));
    jn_http_server_destroy(s);
    join_answer_threads(); /* the answer arrives now, after destroy */
    client_close(c);
    client_close(partial);
}

static void test_bind_failure(void)
{
    jn_http_server_options opt;
    jn_http_server_options_default(&opt);
    opt.port = port; /* taken by srv */
    opt.handler = handler;
    jn_err err;
    jn_http_server *s = jn_http_server_start(&opt, &err);
    JN_CHECK(s == NULL);
    JN_CHECK_INT_NE(err.code, 0);
    JN_CHECK_STR_CONTAINS(err.msg, "127.0.0.1");
}

static void test_many_connections(void)
{
    enum { N = 32 };
    client *cs[N];
    for (int i = 0; i < N; i++) {
        cs[i] = client_open(port);
        char req[64];
        snprintf(req, sizeof req, "GET /m?%d HTTP/1.1\r\n\r\n", i);
        JN_CHECK_INT_EQ(send_str(cs[i], req), 0);
    }
    int ok = 0;
    for (int i = N - 1; i >= 0; i--) {
        response r;
        char want[64];
        snprintf(want, sizeof want, "GET /m?%d body=", i);
        if (read_response(cs[i], &r) == 0) {
            ok += r.status == 200 && strcmp(r.body, want) == 0;
            free(r.body);
        }
        client_close(cs[i]);
    }
    JN_CHECK_INT_EQ(ok, N);
}

/* Connections are dealt out to every loop thread, and each keeps its pipelined answers in order. */
static void test_loops_share_connections(void)
{
    enum { N = 12 };
    pthread_mutex_lock(&seen_mu);
    n_seen = 0;
    pthread_mutex_unlock(&seen_mu);
    client *cs[N];
    for (int i = 0; i < N; i++) {
        cs[i] = client_open(port);
        char req[160];
        snprintf(req, sizeof req, "GET /l?%d HTTP/1.1\r\n\r\nGET /slow?%d HTTP/1.1\r\n\r\nGET /l2?%d HTTP/1.1\r\n\r\n", i, i,
                 i);
        JN_CHECK_INT_EQ(send_str(cs[i], req), 0);
    }
    for (int i = 0; i < N; i++) {
        const char *paths[3] = {"/l", "/slow", "/l2"};
        for (int k = 0; k < 3; k++) {
            response r;
            char want[64];
            snprintf(want, sizeof want, "GET %s?%d body=", paths[k], i);
            EXPECT_RESPONSE(cs[i], &r, 200);
            JN_CHECK_STR_EQ(r.body, want);
            free(r.body);
        }
        client_close(cs[i]);
    }
    join_answer_threads();
    pthread_mutex_lock(&seen_mu);
    JN_CHECK_INT_EQ(n_seen, loop_threads);
    pthread_mutex_unlock(&seen_mu);
}

/* Every test against servers with `n_loops` loop threads. */
static void run_all(int n_loops)
{
    loop_threads = n_loops;
    printf("-- %d loop thread%s\n", n_loops, n_loops == 1 ? "" : "s");
    srv = start(4096, 2048, 5000, 5000, 5000, 4);
    port = jn_http_server_port(srv);

    JN_TEST_RUN(test_keepalive_1000);
    JN_TEST_RUN(test_pipelined_in_order);
    JN_TEST_RUN(test_chunked_upload);
    JN_TEST_RUN(test_body_too_large);
    JN_TEST_RUN(test_head_too_large);
    JN_TEST_RUN(test_garbage);
    JN_TEST_RUN(test_post_without_length);
    JN_TEST_RUN(test_expect_continue);
    JN_TEST_RUN(test_connection_close);
    JN_TEST_RUN(test_http10);
    JN_TEST_RUN(test_head_and_204);
    JN_TEST_RUN(test_many_connections);
    JN_TEST_RUN(test_client_gone_before_answer);
    JN_TEST_RUN(test_half_close);
    JN_TEST_RUN(test_request_targets);
    JN_TEST_RUN(test_bind_failure);
    JN_TEST_RUN(test_timeouts);
    JN_TEST_RUN(test_stop_answers_in_flight);
    JN_TEST_RUN(test_stop_grace_expires);
    JN_TEST_RUN(test_loops_share_connections);

    jn_http_server_destroy(srv);
    join_answer_threads();
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    run_all(1);
    run_all(3);
    return JN_TEST_EXIT();
}
