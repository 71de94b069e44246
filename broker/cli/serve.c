/* serve.c — `junction serve`: the broker on its embedded defaults (built-in engines on 127.0.0.1:8001). */
#include <getopt.h>
#include <grpc/grpc.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../engines/builtin.h"
#include "../http/router.h"
#include "../http/server.h"
#include "../remote/remotes.h"
#include "../rpc/server.h"
#include "cli.h"
#include "pipeline.h"
#include "registry.h"
#include "workpool.h"

#define JN_DEFAULT_HTTP_PORT 8000 /* Triton's and KServe's (gRPC 8001, metrics 8002) */

static void serve_usage(FILE *to)
{
    fprintf(to,
            "usage: junction serve [options]\n"
            "\n"
            "Serves the built-in engines and demo pipelines (and those of --pipelines) over gRPC:\n"
            "junction.v1.Broker, inference.GRPCInferenceService (KServe v2) and grpc.health.v1.Health;\n"
            "and over HTTP/1.1: KServe v2 REST, POST /v1/models/NAME:predict, /v1/models, /v1/pipelines and\n"
            "/metrics. SIGINT/SIGTERM stop it gracefully (HTTP first, then gRPC).\n"
            "\n"
            "options:\n"
            "  --host ADDR              address to bind (default %s; use 0.0.0.0 to accept remote callers)\n"
            "  --grpc-port N            gRPC port (default %d; 0 picks a free one)\n"
            "  --http-port N|any        HTTP port (default %d; 0 turns HTTP off; 'any' picks a free one)\n"
            "  --http-max-body-mb N     largest HTTP request body, in MiB (default 64); larger ones get 413\n"
            "  --threads N              gRPC pump threads, one completion queue each (default 2)\n"
            "  --workers N              worker threads for engines that are not inline (default: cores); gRPC and\n"
            "                           HTTP each have a pool of this size\n"
            "  --prepost N              calls pre-posted per method per pump (default 32)\n"
            "  --max-stream-inflight N  requests one stream may have unanswered before reading pauses (default 64)\n"
            "  --max-message-mb N       largest message received or sent, in MiB (default 64)\n"
            "  --grace-ms N             shutdown: time in-flight calls get before they are cancelled (default 10000)\n"
            "  --burn-ms X              default burn time of the 'burn' engine (default 10)\n"
            "  --pipelines DIR          also serve the pipelines in DIR/*.json (loaded in file-name order; any file\n"
            "                           that does not check stops the start with exit status 1)\n"
            "  --remotes FILE           register the remote engines listed in FILE (JSON: [{\"name\", \"endpoint\",\n"
            "                           \"protocol\": \"kserve_v2\"|\"native\", \"model\", \"version\", \"options\"}]) before\n"
            "                           the pipelines; an entry that cannot be registered stops the start (exit 1)\n"
            "  -h, --help               this text\n"
            "\n"
            "When ready it prints 'junction: serving HTTP on HOST:PORT' (when HTTP is on), then\n"
            "'junction: serving gRPC on HOST:PORT'.\n",
            JN_DEFAULT_HOST, JN_DEFAULT_GRPC_PORT, JN_DEFAULT_HTTP_PORT);
}

/* Parses a whole decimal integer within [lo, hi]. */
static bool parse_int(const char *s, long lo, long hi, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi)
        return false;
    *out = v;
    return true;
}

static int bad_value(const char *flag, const char *value, const char *want)
{
    fprintf(stderr, "junction serve: %s '%s' is not %s\n\n", flag, value, want);
    serve_usage(stderr);
    return JN_CLI_EXIT_USAGE;
}

/* The self-pipe the stop-signal handler writes to (the only process-wide state of serve). */
static int stop_pipe[2] = {-1, -1};

static void on_stop_signal(int sig)
{
    int saved = errno;
    unsigned char b = (unsigned char)sig;
    if (write(stop_pipe[1], &b, 1) < 0) {
        /* nothing more can be done inside a signal handler */
    }
    errno = saved;
}

int jn_cmd_serve(int argc, char **argv)
{
    enum {
        O_HOST = 1000,
        O_PORT,
        O_THREADS,
        O_WORKERS,
        O_PREPOST,
        O_INFLIGHT,
        O_MAXMSG,
        O_GRACE,
        O_BURN,
        O_PIPELINES,
        O_HTTP_PORT,
        O_HTTP_MAX_BODY,
        O_REMOTES
    };
    static const struct option options[] = {
        {"host", required_argument, NULL, O_HOST},
        {"grpc-port", required_argument, NULL, O_PORT},
        {"threads", required_argument, NULL, O_THREADS},
        {"workers", required_argument, NULL, O_WORKERS},
        {"prepost", required_argument, NULL, O_PREPOST},
        {"max-stream-inflight", required_argument, NULL, O_INFLIGHT},
        {"max-message-mb", required_argument, NULL, O_MAXMSG},
        {"grace-ms", required_argument, NULL, O_GRACE},
        {"burn-ms", required_argument, NULL, O_BURN},
        {"pipelines", required_argument, NULL, O_PIPELINES},
        {"http-port", required_argument, NULL, O_HTTP_PORT},
        {"http-max-body-mb", required_argument, NULL, O_HTTP_MAX_BODY},
        {"remotes", required_argument, NULL, O_REMOTES},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    jn_server_options opt;
    jn_server_options_default(&opt);
    opt.host = JN_DEFAULT_HOST;
    opt.port = JN_DEFAULT_GRPC_PORT;
    jn_builtin_options engines = {.burn_default_ms = 10.0};
    const char *pipelines_dir = NULL;
    const char *remotes_file = NULL;
    int http_port = JN_DEFAULT_HTTP_PORT; /* -1 = off; 0 = any free port */
    size_t http_max_body = (size_t)64 << 20;

    optind = 1;
    opterr = 0;
    int c;
    long v;
    while ((c = getopt_long(argc, argv, ":h", options, NULL)) != -1) {
        switch (c) {
        case 'h':
            serve_usage(stdout);
            return JN_CLI_EXIT_OK;
        case O_HOST:
            opt.host = optarg;
            break;
        case O_PORT:
            if (!parse_int(optarg, 0, 65535, &v))
                return bad_value("--grpc-port", optarg, "a port number (0-65535)");
            opt.port = (int)v;
            break;
        case O_THREADS:
            if (!parse_int(optarg, 1, 64, &v))
                return bad_value("--threads", optarg, "a thread count (1-64)");
            opt.pump_threads = (int)v;
            break;
        case O_WORKERS:
            if (!parse_int(optarg, 1, 256, &v))
                return bad_value("--workers", optarg, "a thread count (1-256)");
            opt.worker_threads = (int)v;
            break;
        case O_PREPOST:
            if (!parse_int(optarg, 1, 4096, &v))
                return bad_value("--prepost", optarg, "a count (1-4096)");
            opt.prepost = (int)v;
            break;
        case O_INFLIGHT:
            if (!parse_int(optarg, 1, 65536, &v))
                return bad_value("--max-stream-inflight", optarg, "a count (1-65536)");
            opt.max_stream_inflight = (int)v;
            break;
        case O_MAXMSG:
            if (!parse_int(optarg, 1, 2047, &v))
                return bad_value("--max-message-mb", optarg, "a size in MiB (1-2047)");
            opt.max_message_bytes = (int)(v << 20);
            break;
        case O_GRACE:
            if (!parse_int(optarg, 0, 3600000, &v))
                return bad_value("--grace-ms", optarg, "a duration in ms (0-3600000)");
            opt.grace_ms = v;
            break;
        case O_BURN: {
            char *end;
            double d = strtod(optarg, &end);
            if (end == optarg || *end || !(d >= 0 && d <= 600000))
                return bad_value("--burn-ms", optarg, "a duration in ms (0-600000)");
            engines.burn_default_ms = d;
            break;
        }
        case O_PIPELINES:
            pipelines_dir = optarg;
            break;
        case O_REMOTES:
            remotes_file = optarg;
            break;
        case O_HTTP_PORT:
            if (strcmp(optarg, "any") == 0)
                http_port = 0;
            else if (parse_int(optarg, 0, 65535, &v))
                http_port = v == 0 ? -1 : (int)v;
            else
                return bad_value("--http-port", optarg, "a port number (0-65535) or 'any'");
            break;
        case O_HTTP_MAX_BODY:
            if (!parse_int(optarg, 1, 4095, &v))
                return bad_value("--http-max-body-mb", optarg, "a size in MiB (1-4095)");
            http_max_body = (size_t)v << 20;
            break;
        case ':':
            fprintf(stderr, "junction serve: %s needs a value\n\n", argv[optind - 1]);
            serve_usage(stderr);
            return JN_CLI_EXIT_USAGE;
        default:
            fprintf(stderr, "junction serve: unknown option '%s'\n\n", argv[optind - 1]);
            serve_usage(stderr);
            return JN_CLI_EXIT_USAGE;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "junction serve: unexpected argument '%s'\n\n", argv[optind]);
        serve_usage(stderr);
        return JN_CLI_EXIT_USAGE;
    }

    /* Stop signals are caught by a handler that only writes to a pipe; this thread waits on the pipe. Blocking
     * the signals and sigwait-ing is not enough: libraries start threads before main (OpenBLAS's pool), and a
     * signal delivered to one of those would take the default action and kill the process mid-request. */
    if (pipe(stop_pipe) != 0) {
        fprintf(stderr, "junction serve: cannot create the signal pipe: %s\n", strerror(errno));
        return JN_CLI_EXIT_FAIL;
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    grpc_init();
    int status = JN_CLI_EXIT_FAIL;
    jn_err err;
    jn_err_clear(&err);
    jn_registry *reg = jn_registry_create();
    jn_server *server = NULL;
    jn_workpool *http_pool = NULL;
    jn_http_router *router = NULL;
    jn_http_server *http = NULL;
    jn_remotes *remotes = reg ? jn_remotes_create(reg) : NULL;
    if (!reg || !remotes) {
        fprintf(stderr, "junction serve: out of memory\n");
        goto out;
    }
    if (jn_builtin_register_all(reg, &engines, &err)) {
        fprintf(stderr, "junction serve: cannot register the built-in engines: %s\n", err.msg);
        goto out;
    }
    if (jn_builtin_register_pipelines(reg, &err)) {
        fprintf(stderr, "junction serve: cannot register the built-in pipelines: %s\n", err.msg);
        goto out;
    }
    if (remotes_file) {
        int rc = jn_remotes_load_file(remotes, remotes_file, &err);
        jn_remote_thread_release(); /* the main thread makes no more remote calls */
        if (rc) {
            fprintf(stderr, "junction serve: --remotes %s\n", err.msg);
            goto out;
        }
    }
    opt.remotes = remotes;
    if (pipelines_dir && jn_pipelines_load_dir(pipelines_dir, reg, &err)) {
        fprintf(stderr, "junction serve: %s\n", err.msg);
        goto out;
    }
    if (http_port >= 0) {
        /* The REST front end has its own worker pool (the gRPC server's is private to it), of the same size. */
        http_pool = jn_workpool_create(opt.worker_threads);
        router = http_pool ? jn_http_router_create(reg, http_pool) : NULL;
        if (!router) {
            fprintf(stderr, "junction serve: out of memory\n");
            goto out;
        }
        jn_http_server_options hopt;
        jn_http_server_options_default(&hopt);
        hopt.host = opt.host;
        hopt.port = http_port;
        hopt.max_body_bytes = http_max_body;
        hopt.handler = jn_http_router_handle;
        hopt.user = router;
        http = jn_http_server_start(&hopt, &err);
        if (!http) {
            fprintf(stderr, "junction serve: %s\n", err.msg);
            goto out;
        }
    }
    server = jn_server_start(&opt, reg, &err);
    if (!server) {
        fprintf(stderr, "junction serve: %s\n", err.msg);
        goto out;
    }
    if (http)
        printf("junction: serving HTTP on %s:%d\n", opt.host, jn_http_server_port(http));
    printf("junction: serving gRPC on %s:%d\n", opt.host, jn_server_port(server));
    fflush(stdout);

    unsigned char sig = 0;
    while (read(stop_pipe[0], &sig, 1) < 0 && errno == EINTR)
        ;
    fprintf(stderr, "junction: %s received, finishing in-flight calls\n", sig == SIGINT ? "SIGINT" : "SIGTERM");
    if (http) {
        /* HTTP first: readiness turns 503 and new work is refused while what runs finishes (up to the grace
         * period, then it is cancelled); then the server stops and closes its connections. */
        jn_http_router_begin_shutdown(router);
        if (!jn_http_router_drain(router, opt.grace_ms)) {
            jn_http_router_cancel(router);
            jn_http_router_drain(router, 5000);
        }
        jn_http_server_stop(http);
    }
    jn_server_shutdown(server);
    status = JN_CLI_EXIT_OK;
out:
    jn_http_server_destroy(http); /* stops it first if it still runs (a failed start of the gRPC server) */
    jn_workpool_destroy(http_pool); /* finishes any job still holding the router */
    jn_http_router_destroy(router);
    jn_server_destroy(server);
    jn_remotes_stop(remotes); /* no health checks while the engines go */
    jn_registry_destroy(reg);
    jn_remotes_destroy(remotes); /* after the registry: frees the endpoints nobody uses any more */
    grpc_shutdown();
    return status;
}
