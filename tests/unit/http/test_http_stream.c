/* test_http_stream.c — streamed answers of the HTTP server core (server.h: jn_http_stream_*, jn_http_watch_gone)
 * over real loopback sockets: chunked framing byte for byte, a pipelined request answered after the stream, HTTP/1.0
 * (no framing, closed at the end), a client that leaves mid-stream (the watch flag is set and writes fail), and
 * back-pressure (a producer blocks while the client reads nothing, then every byte arrives in order).
 *
 * The producer is a thread per request: "/stream?n=N" sends N chunks "chunk i\n" 2 ms apart; "/forever" sends a
 * chunk every 5 ms until a write fails; "/big" sends 16 MiB in 64 KiB chunks. Other paths answer "plain" at once.
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
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "server.h"
#include "test.h"

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {
    }
}

/* What the producers saw, for the checks. */
static atomic_int gone_flag;       /* /forever's watch flag */
static atomic_int forever_ended;   /* /forever's producer stopped because a write failed */
static atomic_long big_written;    /* /big: bytes accepted by jn_http_stream_write so far */
static atomic_int producers_live;

typedef struct job {
    jn_http_request *req;
    int n;
    int kind; /* 0 stream, 1 forever, 2 big */
} job;

/* More than the socket buffers of both ends hold (loopback send buffers grow to a few MiB). */
#define BIG_CHUNKS 256
#define BIG_BYTES (BIG_CHUNKS * 65536L)

static void *produce(void *arg)
{
    job *j = arg;
    jn_http_request *req = j->req;
    int rc = jn_http_stream_begin(req, 200, "text/event-stream", "Cache-Control: no-cache\r\n");
    if (j->kind == 0) {
        for (int i = 0; i < j->n && rc == 0; i++) {
            char line[32];
            int len = snprintf(line, sizeof line, "chunk %d\n", i);
            rc = jn_http_stream_write(req, line, (size_t)len);
            sleep_ms(2);
        }
    } else if (j->kind == 1) {
        for (int i = 0; rc == 0 && i < 2000; i++) {
            rc = jn_http_stream_write(req, "tick\n", 5);
            sleep_ms(5);
        }
        JN_CHECK_INT_EQ(rc, JN_ECANCELLED);
        atomic_store(&forever_ended, 1);
    } else {
        static char block[65536];
        memset(block, 'b', sizeof block);
        for (int i = 0; i < BIG_CHUNKS && rc == 0; i++) {
            rc = jn_http_stream_write(req, block, sizeof block);
            if (rc == 0)
                atomic_fetch_add(&big_written, (long)sizeof block);
        }
        JN_CHECK_INT_EQ(rc, 0);
    }
    jn_http_stream_end(req);
    free(j);
    atomic_fetch_sub(&producers_live, 1);
    return NULL;
}

static void handler(jn_http_request *req)
{
    job *j = calloc(1, sizeof *j);
    j->req = req;
    if (strcmp(req->path, "/stream") == 0) {
        j->n = atoi(req->query + 2);
    } else if (strcmp(req->path, "/forever") == 0) {
        j->kind = 1;
        jn_http_watch_gone(req, &gone_flag);
    } else if (strcmp(req->path, "/big") == 0) {
        j->kind = 2;
    } else {
        free(j);
        char *b = strdup("plain");
        jn_http_respond(req, 200, "text/plain", b, 5, NULL);
        return;
    }
    atomic_fetch_add(&producers_live, 1);
    pthread_t t;
    JN_REQUIRE(pthread_create(&t, NULL, produce, j) == 0);
    pthread_detach(t);
}

static int port;

static int client_open_rcvbuf(int rcvbuf)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    JN_REQUIRE(fd >= 0);
    if (rcvbuf) /* before connect, so that the window is small from the start */
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
    struct timeval tv = {5, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    JN_REQUIRE(connect(fd, (struct sockaddr *)&a, sizeof a) == 0);
    return fd;
}

static int client_open(void)
{
    return client_open_rcvbuf(0);
}

static void send_str(int fd, const char *s)
{
    JN_REQUIRE(send(fd, s, strlen(s), MSG_NOSIGNAL) == (ssize_t)strlen(s));
}

/* Reads until EOF or until `until` appears; returns the malloc'd text. */
static char *read_until(int fd, const char *until, size_t *len)
{
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap + 1);
    for (;;) {
        if (n == cap) {
            cap *= 2;
            buf = realloc(buf, cap + 1);
        }
        ssize_t k = recv(fd, buf + n, cap - n, 0);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            break;
        size_t from = n > 64 ? n - 64 : 0; /* only the new bytes and a few before them */
        n += (size_t)k;
        buf[n] = '\0';
        if (until && strstr(buf + from, until))
            break;
    }
    buf[n] = '\0';
    *len = n;
    return buf;
}

static void test_chunked_then_pipelined(void)
{
    int fd = client_open();
    send_str(fd, "GET /stream?n=3 HTTP/1.1\r\nHost: x\r\n\r\nGET /plain HTTP/1.1\r\nHost: x\r\n\r\n");
    size_t len;
    char *text = read_until(fd, "plain", &len);
    JN_CHECK(strncmp(text, "HTTP/1.1 200 OK\r\n", 17) == 0);
    JN_CHECK(strstr(text, "Transfer-Encoding: chunked\r\n") != NULL);
    JN_CHECK(strstr(text, "Content-Type: text/event-stream\r\n") != NULL);
    JN_CHECK(strstr(text, "Cache-Control: no-cache\r\n") != NULL);
    const char *body = strstr(text, "\r\n\r\n");
    JN_REQUIRE(body != NULL);
    /* The chunks may be coalesced into fewer writes but the framing is per chunk. */
    JN_CHECK(strncmp(body + 4, "8\r\nchunk 0\n\r\n8\r\nchunk 1\n\r\n8\r\nchunk 2\n\r\n0\r\n\r\nHTTP/1.1 200 OK\r\n", 61) == 0);
    JN_CHECK(strstr(body, "Content-Length: 5\r\n") != NULL);
    free(text);
    close(fd);
}

static void test_http10(void)
{
    int fd = client_open();
    send_str(fd, "GET /stream?n=2 HTTP/1.0\r\n\r\n");
    size_t len;
    char *text = read_until(fd, NULL, &len); /* EOF ends the body */
    JN_CHECK(strstr(text, "Transfer-Encoding") == NULL);
    JN_CHECK(strstr(text, "Connection: close\r\n") != NULL);
    const char *body = strstr(text, "\r\n\r\n");
    JN_REQUIRE(body != NULL);
    JN_CHECK(strcmp(body + 4, "chunk 0\nchunk 1\n") == 0);
    free(text);
    close(fd);
}

static void test_client_leaves(void)
{
    atomic_store(&gone_flag, 0);
    atomic_store(&forever_ended, 0);
    int fd = client_open();
    send_str(fd, "POST /forever HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n");
    size_t len;
    char *text = read_until(fd, "tick\n\r\n5\r\ntick", &len);
    JN_CHECK(strstr(text, "tick") != NULL);
    free(text);
    shutdown(fd, SHUT_WR); /* an SSE client that stops listening */
    close(fd);
    for (int i = 0; i < 400 && !atomic_load(&forever_ended); i++)
        sleep_ms(5);
    JN_CHECK_INT_EQ(atomic_load(&gone_flag), 1);
    JN_CHECK_INT_EQ(atomic_load(&forever_ended), 1);
}

static void test_back_pressure(void)
{
    atomic_store(&big_written, 0);
    int fd = client_open_rcvbuf(4096);
    send_str(fd, "GET /big HTTP/1.1\r\nHost: x\r\n\r\n");
    sleep_ms(300); /* the client reads nothing: the producer must be held back */
    long written = atomic_load(&big_written);
    JN_CHECK_INT_LT(written, BIG_BYTES);
    JN_CHECK_INT_GE(written, (long)JN_HTTP_STREAM_MAX_BUFFERED);
    size_t len;
    char *text = read_until(fd, "\r\n0\r\n\r\n", &len);
    const char *body = strstr(text, "\r\n\r\n");
    JN_REQUIRE(body != NULL);
    size_t bs = 0;
    for (const char *p = body + 4; *p;) { /* de-chunk and count */
        char *end;
        unsigned long n = strtoul(p, &end, 16);
        if (n == 0)
            break;
        p = end + 2;
        unsigned long other = 0;
        for (unsigned long i = 0; i < n; i++)
            other += p[i] != 'b';
        JN_CHECK_INT_EQ(other, 0);
        bs += n;
        p += n + 2;
    }
    JN_CHECK_INT_EQ(bs, BIG_BYTES);
    JN_CHECK_INT_EQ(atomic_load(&big_written), BIG_BYTES);
    free(text);
    close(fd);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    jn_http_server_options opt;
    jn_http_server_options_default(&opt);
    opt.port = 0;
    opt.handler = handler;
    opt.loop_threads = 2;
    jn_err err;
    jn_http_server *s = jn_http_server_start(&opt, &err);
    JN_REQUIRE(s != NULL);
    port = jn_http_server_port(s);
    JN_TEST_RUN(test_chunked_then_pipelined);
    JN_TEST_RUN(test_http10);
    JN_TEST_RUN(test_client_leaves);
    JN_TEST_RUN(test_back_pressure);
    for (int i = 0; i < 400 && atomic_load(&producers_live); i++)
        sleep_ms(5);
    JN_CHECK_INT_EQ(atomic_load(&producers_live), 0);
    jn_http_server_destroy(s);
    return JN_TEST_EXIT();
}
