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

#include "../../engines/builtin.h"
#include "cli.h"
#include "pipeline.h"
#include "registry.h"
#include "server.h"

static void serve_usage(FILE *to)
{
    fprintf(to,
            "usage: junction serve [options]\n"
            "\n"
            "Serves the built-in engines and demo pipelines (and those of --pipelines) over gRPC:\n"
            "junction.v1.Broker, inference.GRPCInferenceService (KServe v2) and grpc.health.v1.Health.\n"
            "SIGINT/SIGTERM stop it gracefully.\n"
            "\n"
            "options:\n"
            "  --host ADDR              address to bind (default %s; use 0.0.0.0 to accept remote callers)\n"
            "  --grpc-port N            gRPC port (default %d; 0 picks a free one)\n"
            "  --threads N              gRPC pump threads, one completion queue each (default 2)\n"
            "  --workers N              worker threads for engines that are not inline (default: cores)\n"
            "  --prepost N              calls pre-posted per method per pump (default 32)\n"
            "  --max-stream-inflight N  requests one stream may have unanswered before reading pauses (default 64)\n"
            "  --max-message-mb N       largest message received or sent, in MiB (default 64)\n"
            "  --grace-ms N             shutdown: time in-flight calls get before they are cancelled (default 10000)\n"
            "  --burn-ms X              default burn time of the 'burn' engine (default 10)\n"
            "  --pipelines DIR          also serve the pipelines in DIR/*.json (loaded in file-name order; any file\n"
            "                           that does not check stops the start with exit status 1)\n"
            "  -h, --help               this text\n"
            "\n"
            "When ready it prints one line: 'junction: serving gRPC on HOST:PORT'.\n",
            JN_DEFAULT_HOST, JN_DEFAULT_GRPC_PORT);
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
        O_PIPELINES
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
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    jn_server_options opt;
    jn_server_options_default(&opt);
    opt.host = JN_DEFAULT_HOST;
    opt.port = JN_DEFAULT_GRPC_PORT;
    jn_builtin_options engines = {.burn_default_ms = 10.0};
    const char *pipelines_dir = NULL;

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

    /* Block the stop signals before any thread exists (gRPC's included), then wait for them here. */
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGINT);
    sigaddset(&stop, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop, NULL);
    signal(SIGPIPE, SIG_IGN);

    grpc_init();
    int status = JN_CLI_EXIT_FAIL;
    jn_err err;
    jn_err_clear(&err);
    jn_registry *reg = jn_registry_create();
    jn_server *server = NULL;
    if (!reg) {
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
    if (pipelines_dir && jn_pipelines_load_dir(pipelines_dir, reg, &err)) {
        fprintf(stderr, "junction serve: %s\n", err.msg);
        goto out;
    }
    server = jn_server_start(&opt, reg, &err);
    if (!server) {
        fprintf(stderr, "junction serve: %s\n", err.msg);
        goto out;
    }
    printf("junction: serving gRPC on %s:%d\n", opt.host, jn_server_port(server));
    fflush(stdout);

    int sig = 0;
    sigwait(&stop, &sig);
    fprintf(stderr, "junction: %s received, finishing in-flight calls\n", sig == SIGINT ? "SIGINT" : "SIGTERM");
    jn_server_shutdown(server);
    status = JN_CLI_EXIT_OK;
out:
    jn_server_destroy(server);
    jn_registry_destroy(reg);
    grpc_shutdown();
    return status;
}
