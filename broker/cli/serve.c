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

#include "../../adapters/codec/audio.h"
#include "../../adapters/onnx/onnx.h"
#include "../../engines/builtin.h"
#include "../../engines/generate/causallm.h"
#include "text/tokenizer_engine.h"
#include "../fetch/fetch.h"
#include "../http/console.h"
#include "../http/router.h"
#include "../http/server.h"
#include "../remote/remotes.h"
#include "../rpc/server.h"
#include "auth.h"
#include "cli.h"
#include "cluster.h"
#include "control.h"
#include "model_configs.h"
#include "otlp_export.h"
#include "pipeline.h"
#include "queue_metrics.h"
#include "redact.h"
#include "request_log.h"
#include "response_cache.h"
#include "registry.h"
#include "workpool.h"

#include "serve_options.h"

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

/* What a running broker is made of; torn down in reverse by serve_teardown (every field may be NULL/empty). */
typedef struct serve_parts {
    jn_auth auth;
    jn_registry *reg;
    jn_remotes *remotes;
    jn_response_cache *cache; /* --cache-mb */
    jn_queue_metrics *queues; /* /metrics: per-model queue depth and bounds */
    jn_redact *redact;        /* --redact */
    jn_request_log *request_log; /* --request-log */
    jn_model_records models; /* Admin.LoadModel / UnloadModel and the "model" record kind */
    jn_control control;      /* Admin changes: persisted when there is a state directory or a cluster */
    jn_state *state;
    jn_cluster *cluster;
    jn_workpool *http_pool;
    jn_http_router *router;
    jn_http_server *http;
    jn_server *server;
    jn_fetcher *fetch; /* inputs by URL (--fetch-allow) */
} serve_parts;

/* Stop signals are caught by a handler that only writes to a pipe; the main thread waits on the pipe
 * (wait_for_stop). Blocking the signals and sigwait-ing is not enough: libraries start threads before main
 * (OpenBLAS's pool), and a signal delivered to one of those would take the default action and kill the process
 * mid-request. On return the stop signals are blocked in *stop_signals: the threads started from here on (gRPC's,
 * pumps, workers, HTTP loops) inherit a mask without them, and wait_for_stop unblocks them once it waits, so the
 * kernel hands a stop signal for the process to the main thread. (ThreadSanitizer holds a signal back until its
 * thread enters an intercepted call again, which a thread asleep inside gRPC never does, and which a read restarted
 * by SA_RESTART never does either: the stop was lost. Here the read returns EINTR and is entered again.) A signal
 * that comes during the start stays pending until then. 0, or -1 after a message. */
static int catch_stop_signals(sigset_t *stop_signals)
{
    if (pipe(stop_pipe) != 0) {
        fprintf(stderr, "junction serve: cannot create the signal pipe: %s\n", strerror(errno));
        return -1;
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0; /* not SA_RESTART: the wait sees EINTR and goes round (see the mask) */
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    sigemptyset(stop_signals);
    sigaddset(stop_signals, SIGINT);
    sigaddset(stop_signals, SIGTERM);
    pthread_sigmask(SIG_BLOCK, stop_signals, NULL);
    return 0;
}

/* Blocks until SIGINT or SIGTERM; returns which. */
static int wait_for_stop(const sigset_t *stop_signals)
{
    unsigned char sig = 0;
    pthread_sigmask(SIG_UNBLOCK, stop_signals, NULL);
    while (read(stop_pipe[0], &sig, 1) < 0 && errno == EINTR)
        ;
    return sig;
}

/* The registry, filled with what is served at start: built-in engines and pipelines, --models, --remotes, the
 * record kinds Admin changes are kept under, --pipelines. 0, or JN_CLI_EXIT_FAIL after a message. */
static int load_served(const serve_config *cfg, serve_parts *p, jn_err *err)
{
    jn_registry *reg = p->reg = jn_registry_create();
    p->remotes = reg ? jn_remotes_create(reg) : NULL;
    if (!reg || !p->remotes) {
        fprintf(stderr, "junction serve: out of memory\n");
        return JN_CLI_EXIT_FAIL;
    }
    p->control = (jn_control){.reg = reg};
    if (jn_builtin_register_all(reg, &cfg->engines, err)) {
        fprintf(stderr, "junction serve: cannot register the built-in engines: %s\n", err->msg);
        return JN_CLI_EXIT_FAIL;
    }
    /* --model-config of built-in engines before the built-in pipelines hold their entries */
    if (jn_model_configs_apply((jn_model_configs *)&cfg->model_configs, reg, err)) {
        fprintf(stderr, "junction serve: %s\n", err->msg);
        return JN_CLI_EXIT_FAIL;
    }
    if (jn_builtin_register_pipelines(reg, err)) {
        fprintf(stderr, "junction serve: cannot register the built-in pipelines: %s\n", err->msg);
        return JN_CLI_EXIT_FAIL;
    }
    /* Admin.LoadModel / UnloadModel: ONNX files, given as bytes or re-read from --models DIR. */
    p->models = (jn_model_records){reg, jn_onnx_model_loader, (void *)cfg->models_dir, JN_ONNX_PLATFORM,
                                   jn_onnx_repo_index, jn_onnx_repo_versions};
    /* Models before pipelines, so that pipelines may use them. A folder with a causal LM and its tokenizer.json is
     * a generate engine (issue #19). */
    jn_onnx_set_causal_lm_loader(jn_causallm_create);
    if (cfg->models_dir) {
        int loaded = jn_onnx_register_dir(reg, cfg->models_dir, err);
        if (loaded < 0) {
            fprintf(stderr, "junction serve: %s\n", err->msg);
            return JN_CLI_EXIT_FAIL;
        }
        fprintf(stderr, "junction serve: %d ONNX model(s) from %s\n", loaded, cfg->models_dir);
        int tokenizers = jn_tokenizer_register_dir(reg, cfg->models_dir, err);
        if (tokenizers < 0) {
            fprintf(stderr, "junction serve: %s\n", err->msg);
            return JN_CLI_EXIT_FAIL;
        }
        if (tokenizers)
            fprintf(stderr, "junction serve: %d tokenizer(s) (tokenizer.json) from %s\n", tokenizers, cfg->models_dir);
    }
    if (cfg->remotes_file) {
        int rc = jn_remotes_load_file(p->remotes, cfg->remotes_file, err);
        jn_remote_thread_release(); /* the main thread makes no more remote calls */
        if (rc) {
            fprintf(stderr, "junction serve: --remotes %s\n", err->msg);
            return JN_CLI_EXIT_FAIL;
        }
    }
    if (jn_model_configs_apply((jn_model_configs *)&cfg->model_configs, reg, err)) { /* ONNX models, remotes */
        fprintf(stderr, "junction serve: %s\n", err->msg);
        return JN_CLI_EXIT_FAIL;
    }
    jn_control_add_kind(&p->control, JN_STATE_KIND_ENGINE, jn_remotes_apply_record, p->remotes); /* 1 of 4 slots */
    jn_control_add_kind(&p->control, JN_STATE_KIND_MODEL, jn_model_record_apply, &p->models);    /* 2 of 4 */
    if (cfg->pipelines_dir && jn_pipelines_load_dir(cfg->pipelines_dir, reg, err)) {
        fprintf(stderr, "junction serve: %s\n", err->msg);
        return JN_CLI_EXIT_FAIL;
    }
    if (jn_model_configs_apply((jn_model_configs *)&cfg->model_configs, reg, err) || /* pipelines */
        jn_model_configs_check_all_applied(&cfg->model_configs, err)) {
        fprintf(stderr, "junction serve: %s\n", err->msg);
        return JN_CLI_EXIT_FAIL;
    }
    if (cfg->cache_bytes && !(p->cache = jn_response_cache_create(cfg->cache_bytes))) {
        fprintf(stderr, "junction serve: out of memory\n");
        return JN_CLI_EXIT_FAIL;
    }
    if (!(p->queues = jn_queue_metrics_start(reg, (size_t)cfg->opt.max_model_queue, cfg->opt.max_inflight)))
        fprintf(stderr, "junction serve: the queue series are missing from /metrics (out of memory or collector "
                        "slots)\n");
    return 0;
}

/* Where Admin changes are kept: the cluster registry (--registry) or the state directory, whose records are served
 * again here. They come last: they are newer than the files and replace pipelines of the same name. 0, or the exit
 * status after a message. */
static int open_store(const serve_config *cfg, serve_parts *p, jn_err *err)
{
    jn_control *control = &p->control;
    if (cfg->registry) {
        if (!(p->cluster = jn_cluster_start(cfg->registry, cfg->registry_prefix, control, stderr, err))) {
            fprintf(stderr, "junction serve: %s\n", err->msg);
            return JN_CLI_EXIT_USAGE;
        }
        control->commit = jn_cluster_commit;
        control->store = p->cluster;
        control->publish_leased = jn_cluster_publish_leased;
    } else if (cfg->state_dir) {
        jn_state *state = p->state = jn_state_open(cfg->state_dir, err);
        if (!state) {
            fprintf(stderr, "junction serve: %s\n", err->msg);
            return JN_CLI_EXIT_FAIL;
        }
        if (*jn_state_report(state))
            fprintf(stderr, "junction: state: %s\n", jn_state_report(state));
        size_t kept = jn_control_restore(control, state, stderr);
        fprintf(stderr, "junction: state: %zu of %zu records restored from '%s'\n", jn_state_count(state) - kept,
                jn_state_count(state), cfg->state_dir);
        control->commit = jn_control_state_commit;
        control->store = state;
    }
    return 0;
}

/* The redaction rules and the request log (--redact, --request-log), before the doors that write to it. 0, or the
 * exit status after a message naming the file and the field. */
static int open_request_log(serve_config *cfg, serve_parts *p, jn_err *err)
{
    if (!cfg->request_log.path)
        return 0;
    if (cfg->redact_file && !(p->redact = jn_redact_load_file(cfg->redact_file, err))) {
        fprintf(stderr, "junction serve: --redact %s\n", err->msg);
        return JN_CLI_EXIT_USAGE;
    }
    char host[256] = "", source[300];
    if (gethostname(host, sizeof host - 1) != 0 || !*host)
        snprintf(host, sizeof host, "%s", cfg->opt.host);
    snprintf(source, sizeof source, "junction/%s", host);
    cfg->request_log.source = source; /* copied by the log */
    cfg->request_log.redact = p->redact;
    p->request_log = jn_request_log_open(&cfg->request_log, err);
    cfg->request_log.source = NULL; /* this frame's */
    if (!p->request_log) {
        fprintf(stderr, "junction serve: %s\n", err->msg);
        return JN_CLI_EXIT_USAGE;
    }
    return 0;
}

/* The REST front end (when --http-port is not 0), with its own worker pool (the gRPC server's is private to it) of
 * the same size. 0, or JN_CLI_EXIT_FAIL after a message. */
static int start_http(const serve_config *cfg, serve_parts *p, jn_err *err)
{
    if (cfg->http_port < 0)
        return 0;
    p->http_pool = jn_workpool_create(cfg->opt.worker_threads);
    p->router = p->http_pool ? jn_http_router_create(p->reg, p->http_pool) : NULL;
    if (!p->router) {
        fprintf(stderr, "junction serve: out of memory\n");
        return JN_CLI_EXIT_FAIL;
    }
    jn_http_router_set_control(p->router, &p->control);
    jn_http_router_set_auth(p->router, &p->auth);
    jn_http_router_set_console(p->router, !cfg->console_off);
    if (cfg->openai_prefix && jn_http_router_set_openai_prefix(p->router, cfg->openai_prefix) != 0) {
        fprintf(stderr, "junction serve: out of memory\n");
        return JN_CLI_EXIT_FAIL;
    }
    jn_console_attach_remotes(jn_http_router_console(p->router), p->remotes);
    jn_http_router_set_models(p->router, &p->models);
    jn_http_router_set_fetch(p->router, p->fetch);
    jn_dispatch_limits limits = {cfg->opt.max_inflight, (size_t)cfg->opt.max_queue, (size_t)cfg->opt.max_model_queue,
                                 p->cache, p->request_log};
    jn_http_router_set_limits(p->router, &limits);
    jn_http_server_options hopt;
    jn_http_server_options_default(&hopt);
    hopt.host = cfg->opt.host;
    hopt.port = cfg->http_port;
    hopt.max_body_bytes = cfg->http_max_body;
    hopt.loop_threads = cfg->http_threads;
    hopt.handler = jn_http_router_handle;
    hopt.user = p->router;
    if (!(p->http = jn_http_server_start(&hopt, err))) {
        fprintf(stderr, "junction serve: %s\n", err->msg);
        return JN_CLI_EXIT_FAIL;
    }
    return 0;
}

/* The gRPC server, over the same registry, control, auth, model loader and remote engines. 0, or JN_CLI_EXIT_FAIL
 * after a message. */
static int start_grpc(const serve_config *cfg, serve_parts *p, jn_err *err)
{
    jn_server_options opt = cfg->opt;
    opt.auth = &p->auth;
    opt.control = &p->control;
    opt.models = &p->models;
    opt.cache = p->cache;
    opt.request_log = p->request_log;
    opt.remotes = p->remotes;
    if (!(p->server = jn_server_start(&opt, p->reg, err))) {
        fprintf(stderr, "junction serve: %s\n", err->msg);
        return JN_CLI_EXIT_FAIL;
    }
    return 0;
}

/* HTTP first: readiness turns 503 and new work is refused while what runs finishes (up to the grace period, then it
 * is cancelled); then the server stops and closes its connections. Then gRPC, with the same grace. */
static void stop_serving(const serve_config *cfg, serve_parts *p)
{
    if (p->http) {
        jn_http_router_begin_shutdown(p->router);
        if (!jn_http_router_drain(p->router, cfg->opt.grace_ms)) {
            jn_http_router_cancel(p->router);
            jn_http_router_drain(p->router, 5000);
        }
        jn_http_server_stop(p->http);
    }
    jn_server_shutdown(p->server);
}

/* Frees whatever was made, in the order the parts depend on each other. */
static void serve_teardown(serve_parts *p)
{
    jn_http_server_destroy(p->http); /* stops it first if it still runs (a failed start of the gRPC server) */
    jn_workpool_destroy(p->http_pool); /* finishes any job still holding the router */
    jn_http_router_destroy(p->router);
    jn_server_destroy(p->server);
    jn_cluster_stop(p->cluster); /* before the registry it applies changes to */
    jn_queue_metrics_stop(p->queues); /* before the registry it reads */
    jn_remotes_stop(p->remotes); /* no health checks while the engines go */
    jn_registry_destroy(p->reg);
    jn_remotes_destroy(p->remotes); /* after the registry: frees the endpoints nobody uses any more */
    jn_state_close(p->state);
    jn_auth_clear(&p->auth);
    jn_response_cache_destroy(p->cache); /* after every call that could use it */
    jn_fetcher_destroy(p->fetch);        /* after the pools whose calls fetch */
    jn_request_log_close(p->request_log); /* likewise; writes out what is queued */
    jn_redact_free(p->redact);
}

int jn_cmd_serve(int argc, char **argv)
{
    serve_config cfg;
    int status = jn__serve_parse_options(argc, argv, &cfg);
    if (status >= 0)
        return status;
    sigset_t stop_signals;
    if (catch_stop_signals(&stop_signals))
        return JN_CLI_EXIT_FAIL;

    grpc_init();
    jn_err err;
    jn_err_clear(&err);
    serve_parts p;
    memset(&p, 0, sizeof p);
    jn_auth_init(&p.auth);
    if (!(p.fetch = jn_fetcher_create(&cfg.fetch, &err))) {
        fprintf(stderr, "junction serve: %s\n", err.msg);
        grpc_shutdown();
        return JN_CLI_EXIT_USAGE;
    }
    if ((cfg.admin_token_file && jn_auth_set_admin_token_file(&p.auth, cfg.admin_token_file, &err)) ||
        (cfg.client_token_file && jn_auth_set_client_token_file(&p.auth, cfg.client_token_file, &err))) {
        fprintf(stderr, "junction serve: %s\n", err.msg);
        jn_auth_clear(&p.auth);
        jn_fetcher_destroy(p.fetch);
        grpc_shutdown();
        return JN_CLI_EXIT_USAGE;
    }
    if (cfg.otlp.endpoint && jn_otlp_start(&cfg.otlp, &err)) {
        fprintf(stderr, "junction serve: %s\n", err.msg);
        jn_auth_clear(&p.auth);
        grpc_shutdown();
        return JN_CLI_EXIT_FAIL;
    }
    if (!(status = load_served(&cfg, &p, &err)) && !(status = open_store(&cfg, &p, &err)) &&
        !(status = open_request_log(&cfg, &p, &err)) && !(status = start_http(&cfg, &p, &err)) &&
        !(status = start_grpc(&cfg, &p, &err))) {
        if (p.http)
            printf("junction: serving HTTP on %s:%d\n", cfg.opt.host, jn_http_server_port(p.http));
        printf("junction: serving gRPC on %s:%d\n", cfg.opt.host, jn_server_port(p.server));
        if (cfg.forwarding_pumps)
            fprintf(stderr, "junction: one gRPC pump thread (a broker that forwards: --remotes without --models; "
                            "--threads N to change)\n");
        fflush(stdout);
        int sig = wait_for_stop(&stop_signals);
        fprintf(stderr, "junction: %s received, finishing in-flight calls\n", sig == SIGINT ? "SIGINT" : "SIGTERM");
        stop_serving(&cfg, &p);
    }
    serve_teardown(&p);
    jn_otlp_stop(); /* after the last call: its spans go in the last POST */
    grpc_shutdown();
    return status;
}
