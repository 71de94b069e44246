/* perf_http_wire.c — `junction perf --protocol http`'s default load path (perf.h): the same KServe v2 REST infer
 * requests as perf_http.c's libcurl path (`--http-client curl`), written straight to keep-alive sockets and read back
 * through Debian's http-parser (the library junction's own HTTP server parses with).
 *
 * Why a second path: bench/perf_check.sh measured libcurl's multi interface at about twice h2load's CPU time per
 * request (URL and header handling, connection-cache checks, poll set rebuilds; 26-45 us against 13-21 us on this
 * machine), and since the generator shares the cores with the server, that showed as 0.67 x h2load's throughput at
 * concurrency 1 and 16. Here a request is one write of bytes built once per data entry (request line, headers and
 * JSON body), and an answer is the reads http-parser needs; metadata and statistics stay on libcurl (perf_http.c).
 *
 * Each worker has one epoll set and one connection per slot (one per outstanding request), opened on first use and
 * again after the server closes it. Only the status code and the start of an error body are kept.
 *
 * Ownership: the request bytes belong to the transport until unprepare; a conn and its sockets to its worker.
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <http_parser.h>

#include "perf.h"

#define ERR_BODY_MAX 400
#define READ_CHUNK 65536

typedef struct wire_req {
    char *bytes;
    size_t len;
} wire_req;

typedef struct wire_prepared {
    wire_req *req; /* one per data entry */
    size_t n;
    struct addrinfo *addr;
} wire_prepared;

static int wire_prepare(perf_ctx *ctx, char *msg, size_t cap)
{
    wire_prepared *w = calloc(1, sizeof *w);
    if (!w || !(w->req = calloc(ctx->data->n_entries, sizeof *w->req))) {
        free(w);
        snprintf(msg, cap, "out of memory");
        return -1;
    }
    ctx->tp_data = w;
    char host[256];
    const char *colon = strrchr(ctx->o->url, ':');
    snprintf(host, sizeof host, "%.*s", (int)(colon - ctx->o->url), ctx->o->url);
    if (host[0] == '[' && host[strlen(host) - 1] == ']') { /* [::1]:8000 */
        memmove(host, host + 1, strlen(host));
        host[strlen(host) - 1] = '\0';
    }
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    int ge = getaddrinfo(host, colon + 1, &hints, &w->addr);
    if (ge != 0) {
        snprintf(msg, cap, "-u %s: %s", ctx->o->url, gai_strerror(ge));
        return -1;
    }
    char *path = jn__perf_http_path(ctx->o, "/infer");
    if (!path) {
        snprintf(msg, cap, "out of memory");
        return -1;
    }
    for (size_t e = 0; e < ctx->data->n_entries; e++) {
        size_t body_len;
        char *body = jn__perf_http_body(&ctx->data->entries[e], &body_len);
        char head[1024];
        int hn = body ? snprintf(head, sizeof head,
                                 "POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\n"
                                 "Content-Length: %zu\r\n\r\n",
                                 path, ctx->o->url, body_len)
                      : -1;
        if (hn < 0 || (size_t)hn >= sizeof head || !(w->req[e].bytes = malloc((size_t)hn + body_len))) {
            free(body);
            free(path);
            w->n = e;
            snprintf(msg, cap, "cannot build the request of data entry %zu (out of memory or a very long URL)", e);
            return -1;
        }
        memcpy(w->req[e].bytes, head, (size_t)hn);
        memcpy(w->req[e].bytes + hn, body, body_len);
        w->req[e].len = (size_t)hn + body_len;
        free(body);
        w->n = e + 1;
    }
    free(path);
    return 0;
}

static void wire_unprepare(perf_ctx *ctx)
{
    wire_prepared *w = ctx->tp_data;
    if (w) {
        for (size_t e = 0; e < w->n; e++)
            free(w->req[e].bytes);
        free(w->req);
        if (w->addr)
            freeaddrinfo(w->addr);
        free(w);
        ctx->tp_data = NULL;
    }
    jn__perf_http.unprepare(ctx); /* the statistics handle */
}

/* Connections ------------------------------------------------------------------------------------------------------ */

typedef struct wslot {
    int index;
    int fd; /* -1: not connected */
    bool busy, complete, keep_alive;
    const wire_req *req;
    size_t sent;
    int64_t deadline;
    http_parser parser;
    char body[ERR_BODY_MAX + 1];
    size_t body_len;
} wslot;

struct perf_conn {
    perf_ctx *ctx;
    int epfd;
    wslot *slots;
    int n_slots;
    http_parser_settings settings;
    int64_t next_timeout_check;
};

static int on_body(http_parser *p, const char *at, size_t n)
{
    wslot *s = p->data;
    size_t room = ERR_BODY_MAX - s->body_len, take = n < room ? n : room;
    memcpy(s->body + s->body_len, at, take);
    s->body_len += take;
    s->body[s->body_len] = '\0';
    return 0;
}

static int on_complete(http_parser *p)
{
    wslot *s = p->data;
    s->complete = true;
    s->keep_alive = http_should_keep_alive(p) != 0;
    http_parser_pause(p, 1); /* nothing after this answer belongs to this request */
    return 0;
}

static void drop_connection(perf_conn *c, wslot *s)
{
    if (s->fd >= 0) {
        epoll_ctl(c->epfd, EPOLL_CTL_DEL, s->fd, NULL);
        close(s->fd);
        s->fd = -1;
    }
}

static void wire_conn_close(perf_conn *c)
{
    for (int i = 0; i < c->n_slots; i++)
        drop_connection(c, &c->slots[i]);
    if (c->epfd >= 0)
        close(c->epfd);
    free(c->slots);
    free(c);
}

static perf_conn *wire_conn_open(perf_ctx *ctx, int slots, char *msg, size_t cap)
{
    perf_conn *c = calloc(1, sizeof *c);
    if (!c || !(c->slots = calloc((size_t)slots, sizeof *c->slots))) {
        free(c);
        snprintf(msg, cap, "out of memory");
        return NULL;
    }
    c->ctx = ctx;
    c->n_slots = slots;
    c->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (c->epfd < 0) {
        snprintf(msg, cap, "epoll_create1: %s", strerror(errno));
        wire_conn_close(c);
        return NULL;
    }
    http_parser_settings_init(&c->settings);
    c->settings.on_body = on_body;
    c->settings.on_message_complete = on_complete;
    for (int i = 0; i < slots; i++) {
        c->slots[i].index = i;
        c->slots[i].fd = -1;
    }
    return c;
}

/* Connects to the address resolved once in prepare, waiting at most --timeout-ms (on the worker's thread: its other
 * requests wait meanwhile, which only happens while the server is unreachable), then non-blocking I/O on the epoll
 * set. */
static int connect_slot(perf_conn *c, wslot *s, char *msg, size_t cap)
{
    const wire_prepared *w = c->ctx->tp_data;
    int err = 0;
    for (const struct addrinfo *a = w->addr; a; a = a->ai_next) {
        int fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
        if (fd < 0) {
            err = errno;
            continue;
        }
        fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
        if (connect(fd, a->ai_addr, a->ai_addrlen) != 0) {
            err = errno;
            if (err == EINPROGRESS) { /* wait for it, at most --timeout-ms */
                struct pollfd pfd = {.fd = fd, .events = POLLOUT};
                int pr = poll(&pfd, 1, c->ctx->o->timeout_ms);
                socklen_t len = sizeof err;
                if (pr == 1 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0 && err == 0)
                    goto connected;
                if (pr == 0)
                    err = ETIMEDOUT;
            }
            close(fd);
            continue;
        }
    connected:;
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        struct epoll_event ev = {.events = EPOLLIN, .data.u32 = (uint32_t)s->index};
        if (epoll_ctl(c->epfd, EPOLL_CTL_ADD, fd, &ev) != 0) {
            err = errno;
            close(fd);
            continue;
        }
        s->fd = fd;
        return 0;
    }
    snprintf(msg, cap, "cannot connect to %s: %s", c->ctx->o->url, strerror(err));
    return -1;
}

/* Writes what is left of the request; arms EPOLLOUT while some stays. 0, or -1 with msg. */
static int send_more(perf_conn *c, wslot *s, char *msg, size_t cap)
{
    while (s->sent < s->req->len) {
        ssize_t n = send(s->fd, s->req->bytes + s->sent, s->req->len - s->sent, MSG_NOSIGNAL);
        if (n > 0) {
            s->sent += (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT, .data.u32 = (uint32_t)s->index};
            epoll_ctl(c->epfd, EPOLL_CTL_MOD, s->fd, &ev);
            return 0;
        }
        snprintf(msg, cap, "sending to %s: %s", c->ctx->o->url, strerror(errno));
        return -1;
    }
    return 0;
}

static int wire_conn_start(perf_conn *c, int slot, size_t entry, char *msg, size_t cap)
{
    const wire_prepared *w = c->ctx->tp_data;
    wslot *s = &c->slots[slot];
    if (s->fd < 0 && connect_slot(c, s, msg, cap) != 0)
        return -1;
    s->req = &w->req[entry];
    s->sent = 0;
    s->complete = false;
    s->body_len = 0;
    s->body[0] = '\0';
    s->deadline = jn__perf_now_ns() + (int64_t)c->ctx->o->timeout_ms * 1000000LL;
    http_parser_init(&s->parser, HTTP_RESPONSE);
    s->parser.data = s;
    if (send_more(c, s, msg, cap) != 0) {
        /* A kept-alive connection the server closed in the meantime: one more try on a new one. */
        drop_connection(c, s);
        if (connect_slot(c, s, msg, cap) != 0 || (s->sent = 0, send_more(c, s, msg, cap)) != 0) {
            drop_connection(c, s);
            return -1;
        }
    }
    s->busy = true;
    return 0;
}

static void finish(perf_conn *c, wslot *s, bool ok, const char *err, perf_done_fn done, void *worker)
{
    s->busy = false;
    if (!ok || !s->keep_alive)
        drop_connection(c, s);
    done(worker, s->index, ok, err);
}

static void on_readable(perf_conn *c, wslot *s, perf_done_fn done, void *worker)
{
    char buf[READ_CHUNK];
    char msg[PERF_MSG];
    for (;;) {
        ssize_t n = recv(s->fd, buf, sizeof buf, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        if (!s->busy) { /* an idle connection the server closed (or sent something unasked): start afresh */
            drop_connection(c, s);
            return;
        }
        if (n <= 0) {
            snprintf(msg, sizeof msg, "%s: %s", c->ctx->o->url,
                     n == 0 ? "the server closed the connection before answering" : strerror(errno));
            finish(c, s, false, msg, done, worker);
            return;
        }
        size_t used = http_parser_execute(&s->parser, &c->settings, buf, (size_t)n);
        if (s->complete) {
            if (s->parser.status_code == 200) {
                finish(c, s, true, NULL, done, worker);
            } else {
                snprintf(msg, sizeof msg, "HTTP %u: %s", s->parser.status_code, s->body);
                s->keep_alive = s->keep_alive && used == (size_t)n;
                finish(c, s, false, msg, done, worker);
            }
            return;
        }
        if (HTTP_PARSER_ERRNO(&s->parser) != HPE_OK) {
            snprintf(msg, sizeof msg, "bad HTTP answer from %s: %s", c->ctx->o->url,
                     http_errno_description(HTTP_PARSER_ERRNO(&s->parser)));
            finish(c, s, false, msg, done, worker);
            return;
        }
    }
}

static void check_timeouts(perf_conn *c, int64_t now, perf_done_fn done, void *worker)
{
    if (now < c->next_timeout_check)
        return;
    c->next_timeout_check = now + 10 * 1000000LL;
    for (int i = 0; i < c->n_slots; i++) {
        wslot *s = &c->slots[i];
        if (s->busy && now > s->deadline) {
            char msg[PERF_MSG];
            snprintf(msg, sizeof msg, "no answer from %s within --timeout-ms %d", c->ctx->o->url,
                     c->ctx->o->timeout_ms);
            finish(c, s, false, msg, done, worker);
        }
    }
}

static void wire_conn_wait(perf_conn *c, int64_t until_ns, perf_done_fn done, void *worker)
{
    struct epoll_event evs[64];
    int64_t left = until_ns - jn__perf_now_ns();
    int ms = left <= 0 ? 0 : (int)((left + 999999) / 1000000);
    int n = epoll_wait(c->epfd, evs, (int)(sizeof evs / sizeof evs[0]), ms);
    for (int i = 0; i < n; i++) {
        wslot *s = &c->slots[evs[i].data.u32];
        if (s->fd < 0)
            continue;
        if ((evs[i].events & EPOLLOUT) && s->busy) {
            char msg[PERF_MSG];
            if (send_more(c, s, msg, sizeof msg) != 0) {
                finish(c, s, false, msg, done, worker);
                continue;
            }
            if (s->sent == s->req->len) {
                struct epoll_event ev = {.events = EPOLLIN, .data.u32 = (uint32_t)s->index};
                epoll_ctl(c->epfd, EPOLL_CTL_MOD, s->fd, &ev);
            }
        }
        if (evs[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP))
            on_readable(c, s, done, worker);
    }
    check_timeouts(c, jn__perf_now_ns(), done, worker);
}

/* Metadata and statistics through libcurl (perf_http.c); the load on the sockets above. */
static int wire_metadata(const perf_opts *o, perf_model *m, char *msg, size_t cap)
{
    return jn__perf_http.metadata(o, m, msg, cap);
}

static int wire_stats(const perf_opts *o, perf_server_stats *s, char *msg, size_t cap)
{
    return jn__perf_http.stats(o, s, msg, cap);
}

const perf_transport jn__perf_http_wire = {
    .name = "http",
    .metadata = wire_metadata,
    .stats = wire_stats,
    .prepare = wire_prepare,
    .unprepare = wire_unprepare,
    .conn_open = wire_conn_open,
    .conn_start = wire_conn_start,
    .conn_wait = wire_conn_wait,
    .conn_close = wire_conn_close,
};
