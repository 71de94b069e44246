/*
 * bench_echo_server: the thinnest unary echo server we can build on the gRPC C core.
 *
 * It is the ceiling for anything served by this stack: no protobuf, no routing, no worker hand-off. Every method
 * is answered the same way: the request's bytes come back as the response with status OK.
 *
 * Structure: N pump threads, each with its own completion queue registered with the server. Each pump keeps
 * PREPOSTED grpc_server_request_call()s outstanding on its queue (unregistered methods), and drives each call
 * through two batches:
 *   1. {RECV_MESSAGE}
 *   2. {SEND_INITIAL_METADATA, SEND_MESSAGE(the received buffer), SEND_STATUS_FROM_SERVER(OK), RECV_CLOSE_ON_SERVER}
 * A call context is freed once its last batch completes.
 *
 * Ownership: a call context owns its grpc_call ref, the call details, the request metadata array and the received
 * byte buffer; all are released in echo_call_free(). Contexts are only touched by the pump thread whose queue
 * delivers their tags (a call is bound to the queue it was requested on).
 *
 * Usage: bench_echo_server [--port N] [--threads N]
 *   --port 0 picks a free port. Prints "echo: listening on 127.0.0.1:PORT" once serving.
 *   SIGINT / SIGTERM shut it down cleanly.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/support/time.h>

enum { PREPOSTED = 256, MAX_THREADS = 64 };

typedef enum { ST_REQUESTED, ST_RECEIVING, ST_ANSWERING } echo_state;

struct pump;

typedef struct echo_call {
    struct pump *pump;
    echo_state state;
    grpc_call *call;
    grpc_call_details details;
    grpc_metadata_array request_md;
    grpc_byte_buffer *payload;
    int cancelled;
} echo_call;

typedef struct pump {
    grpc_server *server;
    grpc_completion_queue *cq;
    pthread_t thread;
} pump;

static atomic_int g_live_calls;   /* contexts not yet freed */
static atomic_int g_shutting_down;
static atomic_int g_server_shutdown_done;
/* Tag of grpc_server_shutdown_and_notify: its address is recognised by the pump. */
static char g_shutdown_tag;

static void die(const char *what)
{
    fprintf(stderr, "echo: %s\n", what);
    exit(1);
}

static void echo_call_free(echo_call *c)
{
    if (c->payload)
        grpc_byte_buffer_destroy(c->payload);
    if (c->call)
        grpc_call_unref(c->call);
    grpc_call_details_destroy(&c->details);
    grpc_metadata_array_destroy(&c->request_md);
    free(c);
    atomic_fetch_sub(&g_live_calls, 1);
}

/* Posts one request for any (unregistered) method on the pump's queue. */
static void post_request(pump *p)
{
    echo_call *c = calloc(1, sizeof *c);
    if (!c)
        die("out of memory");
    c->pump = p;
    c->state = ST_REQUESTED;
    grpc_call_details_init(&c->details);
    grpc_metadata_array_init(&c->request_md);
    atomic_fetch_add(&g_live_calls, 1);
    grpc_call_error e = grpc_server_request_call(p->server, &c->call, &c->details, &c->request_md, p->cq, p->cq, c);
    if (e != GRPC_CALL_OK) {
        fprintf(stderr, "echo: grpc_server_request_call failed: %d\n", (int)e);
        echo_call_free(c);
    }
}

static void start_recv(echo_call *c)
{
    grpc_op op;
    memset(&op, 0, sizeof op);
    op.op = GRPC_OP_RECV_MESSAGE;
    op.data.recv_message.recv_message = &c->payload;
    c->state = ST_RECEIVING;
    if (grpc_call_start_batch(c->call, &op, 1, c, NULL) != GRPC_CALL_OK)
        echo_call_free(c);
}

static void start_answer(echo_call *c)
{
    static grpc_slice empty_details; /* zero = the empty slice; never modified */
    grpc_op ops[4];
    size_t n = 0;
    memset(ops, 0, sizeof ops);
    ops[n++].op = GRPC_OP_SEND_INITIAL_METADATA;
    if (c->payload) {
        /* Echo the received buffer itself; it stays alive until the batch completes. */
        ops[n].op = GRPC_OP_SEND_MESSAGE;
        ops[n++].data.send_message.send_message = c->payload;
    }
    ops[n].op = GRPC_OP_SEND_STATUS_FROM_SERVER;
    ops[n].data.send_status_from_server.status = GRPC_STATUS_OK;
    ops[n++].data.send_status_from_server.status_details = &empty_details;
    ops[n].op = GRPC_OP_RECV_CLOSE_ON_SERVER;
    ops[n++].data.recv_close_on_server.cancelled = &c->cancelled;
    c->state = ST_ANSWERING;
    if (grpc_call_start_batch(c->call, ops, n, c, NULL) != GRPC_CALL_OK)
        echo_call_free(c);
}

static void *pump_main(void *arg)
{
    pump *p = arg;
    for (;;) {
        grpc_event ev = grpc_completion_queue_next(p->cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
        if (ev.type == GRPC_QUEUE_SHUTDOWN)
            break;
        if (ev.type != GRPC_OP_COMPLETE)
            continue;
        if (ev.tag == &g_shutdown_tag) {
            atomic_store(&g_server_shutdown_done, 1);
            continue;
        }
        echo_call *c = ev.tag;
        switch (c->state) {
        case ST_REQUESTED:
            if (!ev.success) { /* server shutting down: do not re-arm */
                echo_call_free(c);
                break;
            }
            if (!atomic_load(&g_shutting_down))
                post_request(p);
            start_recv(c);
            break;
        case ST_RECEIVING:
            if (!ev.success) { /* call failed or cancelled before its message arrived */
                echo_call_free(c);
                break;
            }
            start_answer(c);
            break;
        case ST_ANSWERING:
            echo_call_free(c);
            break;
        }
    }
    return NULL;
}

static int parse_int(const char *s, int lo, int hi, const char *opt)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || *end || end == s || v < lo || v > hi) {
        fprintf(stderr, "echo: bad value for %s: '%s' (expected %d..%d)\n", opt, s, lo, hi);
        exit(2);
    }
    return (int)v;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) == -1 && errno == EINTR) {
    }
}

int main(int argc, char **argv)
{
    int port = 0, nthreads = 2;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--port") && i + 1 < argc) {
            port = parse_int(argv[++i], 0, 65535, "--port");
        } else if (!strcmp(argv[i], "--threads") && i + 1 < argc) {
            nthreads = parse_int(argv[++i], 1, MAX_THREADS, "--threads");
        } else {
            fprintf(stderr, "usage: %s [--port N] [--threads N]\n", argv[0]);
            return 2;
        }
    }

    /* Block the stop signals in every thread (gRPC's included); main collects them with sigwait. */
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGINT);
    sigaddset(&stop, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop, NULL);

    grpc_init();

    grpc_arg args[2];
    args[0].type = GRPC_ARG_INTEGER;
    args[0].key = GRPC_ARG_ALLOW_REUSEPORT;
    args[0].value.integer = 0;
    args[1].type = GRPC_ARG_INTEGER;
    args[1].key = GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH;
    args[1].value.integer = -1;
    grpc_channel_args chargs = {2, args};
    grpc_server *server = grpc_server_create(&chargs, NULL);

    pump pumps[MAX_THREADS];
    for (int i = 0; i < nthreads; i++) {
        pumps[i].server = server;
        pumps[i].cq = grpc_completion_queue_create_for_next(NULL);
        grpc_server_register_completion_queue(server, pumps[i].cq, NULL);
    }

    char addr[64];
    snprintf(addr, sizeof addr, "127.0.0.1:%d", port);
    grpc_server_credentials *creds = grpc_insecure_server_credentials_create();
    int bound = grpc_server_add_http2_port(server, addr, creds);
    grpc_server_credentials_release(creds);
    if (bound == 0) {
        fprintf(stderr, "echo: cannot bind %s\n", addr);
        return 1;
    }
    grpc_server_start(server);

    for (int i = 0; i < nthreads; i++) {
        for (int k = 0; k < PREPOSTED; k++)
            post_request(&pumps[i]);
        if (pthread_create(&pumps[i].thread, NULL, pump_main, &pumps[i]) != 0)
            die("pthread_create failed");
    }

    printf("echo: listening on 127.0.0.1:%d\n", bound);
    fflush(stdout);

    int sig = 0;
    sigwait(&stop, &sig);
    fprintf(stderr, "echo: signal %d, shutting down\n", sig);

    /* Stop accepting, cancel what is in flight, then wait until every call context is gone: no batch may be
     * started on a queue after it is shut down. */
    atomic_store(&g_shutting_down, 1);
    grpc_server_shutdown_and_notify(server, pumps[0].cq, &g_shutdown_tag);
    grpc_server_cancel_all_calls(server);
    while (!atomic_load(&g_server_shutdown_done) || atomic_load(&g_live_calls) > 0)
        sleep_ms(5);

    grpc_server_destroy(server);
    for (int i = 0; i < nthreads; i++)
        grpc_completion_queue_shutdown(pumps[i].cq);
    for (int i = 0; i < nthreads; i++) {
        pthread_join(pumps[i].thread, NULL);
        grpc_completion_queue_destroy(pumps[i].cq);
    }
    grpc_shutdown();
    return 0;
}
