/* Fuzz target: raw bytes on an HTTP/1.1 connection — request lines, headers, Content-Length and chunked framing,
 * pipelining, bodies — through the real server (libuv + http-parser, broker/http/connection.c) and the real router
 * over the built-in engines. The server runs in-process on a loopback port; each input is written on a fresh
 * connection, the write side is closed, and everything the server answers is read until it closes. Must never crash,
 * leak or hang (the read has a 5 s limit: a connection the server keeps open after the client's EOF is a failure),
 * and whatever the server sends must begin with an HTTP/1.1 status line. Slow for a fuzzer (a socket round trip per
 * input), which is why it is separate from the body-only rest_v2 target. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "builtin.h"
#include "router.h"
#include "server.h"
#include "workpool.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int server_port(void)
{
    static int port;
    if (port)
        return port;
    signal(SIGPIPE, SIG_IGN);
    jn_builtin_options opt = {.burn_default_ms = 0};
    jn_err err;
    jn_err_clear(&err);
    jn_registry *reg = jn_registry_create();
    if (!reg || jn_builtin_register_all(reg, &opt, &err) || jn_builtin_register_pipelines(reg, &err))
        abort();
    jn_workpool *pool = jn_workpool_create(1);
    jn_http_router *router = pool ? jn_http_router_create(reg, pool) : NULL;
    if (!router)
        abort();
    jn_http_server_options hopt;
    jn_http_server_options_default(&hopt);
    hopt.host = "127.0.0.1";
    hopt.port = 0;
    hopt.max_body_bytes = 1 << 20;
    hopt.handler = jn_http_router_handle;
    hopt.user = router;
    jn_http_server *srv = jn_http_server_start(&hopt, &err);
    if (!srv) {
        fprintf(stderr, "fuzz_http_framing: %s\n", err.msg);
        abort();
    }
    port = jn_http_server_port(srv); /* the server lives as long as the process */
    return port;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int port = server_port();
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return 0;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        close(fd);
        return 0;
    }
    size_t off = 0;
    while (off < size) { /* the server may close early (a framing error): then stop writing */
        ssize_t w = send(fd, data + off, size - off, MSG_NOSIGNAL);
        if (w <= 0)
            break;
        off += (size_t)w;
    }
    shutdown(fd, SHUT_WR);
    char buf[65536], head[16];
    size_t got = 0;
    int waited_ms = 0;
    for (;;) {
        struct pollfd p = {fd, POLLIN, 0};
        int r = poll(&p, 1, 100);
        if (r == 0) {
            waited_ms += 100;
            if (waited_ms >= 5000) {
                fprintf(stderr, "fuzz_http_framing: the server kept the connection open after the client's EOF\n");
                abort();
            }
            continue;
        }
        ssize_t n = recv(fd, buf, sizeof buf, 0);
        if (n <= 0)
            break;
        if (got < sizeof head)
            memcpy(head + got, buf, (size_t)n < sizeof head - got ? (size_t)n : sizeof head - got);
        got += (size_t)n;
    }
    close(fd);
    if (got > 0 && (got < 9 || memcmp(head, "HTTP/1.1 ", 9) != 0)) {
        fprintf(stderr, "fuzz_http_framing: the answer does not start with an HTTP/1.1 status line\n");
        abort();
    }
    return 0;
}
