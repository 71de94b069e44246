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

#define JN_DEFAULT_HTTP_PORT 8000 /* Triton's and KServe's (gRPC 8001, metrics 8002) */
#define JN_DEFAULT_STATE_DIR "junction-state"

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
            "  --console on|off         the web console at http://HOST:HTTP-PORT/ (default on; README \"Web console\")\n"
            "  --openai-prefix PATH     where the OpenAI-compatible API is served on the HTTP port (default\n"
            "                           /openai/v1; 'off' turns it off; README \"LLMs: the OpenAI-compatible API\")\n"
            "  --http-threads N         HTTP event-loop threads sharing the connections (default: cores, 1-64)\n"
            "  --threads N              gRPC pump threads, one completion queue each (default 2)\n"
            "  --workers N              worker threads for engines that are not inline (default: cores); gRPC and\n"
            "                           HTTP each have a pool of this size\n"
            "  --prepost N              calls pre-posted per method per pump (default 32)\n"
            "  --max-stream-inflight N  requests one stream may have unanswered before reading pauses (default 64)\n"
            "  --max-message-mb N       largest message received or sent, in MiB (default 64)\n"
            "  --grace-ms N             shutdown: time in-flight calls get before they are cancelled (default 10000)\n"
            "  --max-queue N            gRPC calls waiting for a worker before new ones get RESOURCE_EXHAUSTED at once\n"
            "                           (default 4096; 0 = no bound); HTTP answers 429 past the same bounds\n"
            "  --max-model-queue N      the same for one model's calls (default 1024)\n"
            "  --max-streams-per-connection N  HTTP/2 streams one client connection may have open (default 1024)\n"
            "  --max-inflight N         gRPC inference requests handled at once, queued ones included; beyond it\n"
            "                           RESOURCE_EXHAUSTED at once (default 0 = no bound)\n"
            "  --burn-ms X              default burn time of the 'burn' engine (default 10)\n"
            "  --model-config NAME=FILE serve model NAME as FILE (JSON) says: {\"dynamic_batching\": {...},\n"
            "                           \"instances\": N, \"response_cache\": true} (README \"Batching\"); repeatable\n"
            "  --max-audio-seconds X    longest audio input accepted (default 600); longer: INVALID_ARGUMENT\n"
            "  --cache-mb N             the response cache's size in MiB (default 0 = off); models with\n"
            "                           \"response_cache\": true answer repeated requests from it\n"
            "  --models DIR             also serve the ONNX models in DIR: DIR/<name>/model.onnx or DIR/<name>.onnx,\n"
            "                           each under <name>; a model that does not load is reported and skipped;\n"
            "                           DIR/<name>/tokenizer.json alone (no model.onnx) is served as a tokenizer,\n"
            "                           beside model.onnx as a text model (text -> label or embedding; README), or\n"
            "                           as a generate engine when the ONNX is a causal LM with past_key_values\n"
            "  --pipelines DIR          also serve the pipelines in DIR/*.json (loaded in file-name order; any file\n"
            "                           that does not check stops the start with exit status 1)\n"
            "  --state-dir DIR          where run-time registrations (Admin / HTTP pipeline puts) are kept, durable\n"
            "                           before they are acknowledged, and restored from at start (default\n"
            "                           ./junction-state; 'none' keeps nothing)\n"
            "  --registry etcd://H:P[,H:P...]  cluster mode: run-time registrations live in etcd and every replica\n"
            "                           serves them (replaces --state-dir); see README \"Cluster mode\"\n"
            "  --registry-prefix P      the etcd key prefix (default /junction/)\n"
            "  --tls-cert FILE          serve gRPC over TLS with this PEM certificate chain (needs --tls-key)\n"
            "  --tls-key FILE           the PEM private key of --tls-cert\n"
            "  --tls-client-ca FILE     mutual TLS: require client certificates signed by these PEM CAs\n"
            "  --admin-token-file FILE  junction.v1.Admin calls need 'authorization: Bearer <the file's token>'\n"
            "  --client-token-file FILE inference and model calls need this token (or the admin token); health\n"
            "                           and v2 ServerLive/ServerReady stay open\n"
            "  --fetch-allow LIST       hosts inputs may be fetched from by URL ({\"image\": \"https://...\"}): comma-\n"
            "                           separated host, host:port, address, *.domain or *; default none (URLs are\n"
            "                           refused; data: URIs always decode). Private, loopback and link-local\n"
            "                           addresses only when listed by name or address (README \"Images by URL\")\n"
            "  --fetch-max-bytes N      largest body fetched (default 20971520)\n"
            "  --fetch-timeout-ms N     time a fetch may take, redirects included (default 10000)\n"
            "  --remotes FILE           register the remote engines listed in FILE (JSON: [{\"name\", \"endpoint\",\n"
            "                           \"protocol\": \"kserve_v2\"|\"native\"|\"openai\", \"model\", \"version\", \"options\"}])\n"
            "                           before the pipelines; an entry that cannot be registered stops the start\n"
            "                           (exit 1). openai: endpoint http(s)://HOST:PORT/v1, options api_key_file,\n"
            "                           kind chat|completions|embeddings (README \"LLMs\")\n"
            "  --otlp-endpoint URL      export trace spans by OTLP/HTTP protobuf to URL (POSTed to URL + /v1/traces\n"
            "                           when URL has no path, else to URL as given); README \"Tracing\"\n"
            "  --otlp-service-name S    the spans' resource attribute service.name (default junction)\n"
            "  --trace-sample-ratio X   share of calls arriving without a traceparent that are traced, 0-1 (default 1);\n"
            "                           a caller's traceparent decides for its calls (its sampled flag)\n"
            "  --trace-queue N          spans waiting for export before new ones are dropped (default 2048)\n"
            "  --request-log FILE|-     one JSON line per finished request (CloudEvents envelope: model, version,\n"
            "                           door, status, latency, sizes), appended to FILE or written to standard\n"
            "                           output; README \"Request log and redaction\"\n"
            "  --request-log-payloads   the lines include the inputs and outputs (masked as --redact says)\n"
            "  --request-log-sample R   share of requests logged, 0..1 (default 1)\n"
            "  --request-log-max-entry BYTES  longest line; payloads are cut to fit (default 65536, least 1024)\n"
            "  --request-log-max-bytes N  rotate FILE when it would grow past N bytes (default 0 = never)\n"
            "  --request-log-keep K     rotated files kept: FILE.1 .. FILE.K (default 5, 1-1000)\n"
            "  --redact FILE            redaction rules for the request log (JSON: {\"ports\": [...], \"patterns\":\n"
            "                           [\"email\", \"phone\", \"card\", \"iban\"], \"regex\": [...]})\n"
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

/* What the command line asks for. */
typedef struct serve_config {
    jn_server_options opt; /* the gRPC server's, also the source of the shared limits (workers, queues, grace) */
    jn_builtin_options engines;
    const char *pipelines_dir, *models_dir, *remotes_file; /* NULL: none */
    int http_port; /* -1 = off; 0 = any free port */
    size_t http_max_body;
    int http_threads;
    bool console_off; /* --console off */
    const char *openai_prefix; /* --openai-prefix; NULL = the default */
    const char *admin_token_file, *client_token_file; /* NULL: none */
    const char *state_dir;                           /* NULL: nothing kept */
    const char *registry, *registry_prefix;          /* cluster mode when registry is set */
    jn_model_configs model_configs;                  /* --model-config */
    size_t cache_bytes;                              /* --cache-mb; 0 = no cache */
    jn_fetch_options fetch;                          /* --fetch-allow, --fetch-max-bytes, --fetch-timeout-ms */
    jn_otlp_options otlp;                            /* endpoint NULL: no tracing */
    jn_request_log_options request_log;              /* --request-log*: on when its path is set */
    const char *redact_file;                         /* --redact */
} serve_config;

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

/* Parses the command line into cfg. Returns -1 to go on, or the exit status (help printed, or bad usage reported). */
static int parse_serve_options(int argc, char **argv, serve_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
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
        O_TLS_CERT,
        O_TLS_KEY,
        O_TLS_CLIENT_CA,
        O_ADMIN_TOKEN,
        O_CLIENT_TOKEN,
        O_STATE_DIR,
        O_REGISTRY,
        O_REGISTRY_PREFIX,
        O_HTTP_THREADS,
        O_MODELS,
        O_REMOTES,
        O_CONSOLE,
        O_FETCH_ALLOW,
        O_FETCH_MAX_BYTES,
        O_FETCH_TIMEOUT,
        O_MAX_QUEUE,
        O_MAX_MODEL_QUEUE,
        O_MAX_STREAMS_PER_CONN,
        O_MAX_INFLIGHT,
        O_MODEL_CONFIG,
        O_CACHE_MB,
        O_OPENAI_PREFIX,
        O_MAX_AUDIO_SECONDS,
        O_OTLP_ENDPOINT,
        O_OTLP_SERVICE,
        O_TRACE_RATIO,
        O_TRACE_QUEUE,
        O_REQUEST_LOG,
        O_REQUEST_LOG_PAYLOADS,
        O_REQUEST_LOG_SAMPLE,
        O_REQUEST_LOG_MAX_ENTRY,
        O_REQUEST_LOG_MAX_BYTES,
        O_REQUEST_LOG_KEEP,
        O_REDACT,
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
        {"max-queue", required_argument, NULL, O_MAX_QUEUE},
        {"max-model-queue", required_argument, NULL, O_MAX_MODEL_QUEUE},
        {"max-streams-per-connection", required_argument, NULL, O_MAX_STREAMS_PER_CONN},
        {"max-inflight", required_argument, NULL, O_MAX_INFLIGHT},
        {"burn-ms", required_argument, NULL, O_BURN},
        {"model-config", required_argument, NULL, O_MODEL_CONFIG},
        {"cache-mb", required_argument, NULL, O_CACHE_MB},
        {"max-audio-seconds", required_argument, NULL, O_MAX_AUDIO_SECONDS},
        {"pipelines", required_argument, NULL, O_PIPELINES},
        {"models", required_argument, NULL, O_MODELS},
        {"http-port", required_argument, NULL, O_HTTP_PORT},
        {"http-max-body-mb", required_argument, NULL, O_HTTP_MAX_BODY},
        {"tls-cert", required_argument, NULL, O_TLS_CERT},
        {"tls-key", required_argument, NULL, O_TLS_KEY},
        {"tls-client-ca", required_argument, NULL, O_TLS_CLIENT_CA},
        {"admin-token-file", required_argument, NULL, O_ADMIN_TOKEN},
        {"client-token-file", required_argument, NULL, O_CLIENT_TOKEN},
        {"state-dir", required_argument, NULL, O_STATE_DIR},
        {"registry", required_argument, NULL, O_REGISTRY},
        {"registry-prefix", required_argument, NULL, O_REGISTRY_PREFIX},
        {"http-threads", required_argument, NULL, O_HTTP_THREADS},
        {"remotes", required_argument, NULL, O_REMOTES},
        {"console", required_argument, NULL, O_CONSOLE},
        {"fetch-allow", required_argument, NULL, O_FETCH_ALLOW},
        {"fetch-max-bytes", required_argument, NULL, O_FETCH_MAX_BYTES},
        {"fetch-timeout-ms", required_argument, NULL, O_FETCH_TIMEOUT},
        {"openai-prefix", required_argument, NULL, O_OPENAI_PREFIX},
        {"otlp-endpoint", required_argument, NULL, O_OTLP_ENDPOINT},
        {"otlp-service-name", required_argument, NULL, O_OTLP_SERVICE},
        {"trace-sample-ratio", required_argument, NULL, O_TRACE_RATIO},
        {"trace-queue", required_argument, NULL, O_TRACE_QUEUE},
        {"request-log", required_argument, NULL, O_REQUEST_LOG},
        {"request-log-payloads", no_argument, NULL, O_REQUEST_LOG_PAYLOADS},
        {"request-log-sample", required_argument, NULL, O_REQUEST_LOG_SAMPLE},
        {"request-log-max-entry", required_argument, NULL, O_REQUEST_LOG_MAX_ENTRY},
        {"request-log-max-bytes", required_argument, NULL, O_REQUEST_LOG_MAX_BYTES},
        {"request-log-keep", required_argument, NULL, O_REQUEST_LOG_KEEP},
        {"redact", required_argument, NULL, O_REDACT},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    jn_server_options_default(&cfg->opt);
    cfg->opt.host = JN_DEFAULT_HOST;
    cfg->opt.port = JN_DEFAULT_GRPC_PORT;
    cfg->engines.burn_default_ms = 10.0;
    cfg->http_port = JN_DEFAULT_HTTP_PORT;
    cfg->state_dir = JN_DEFAULT_STATE_DIR;
    cfg->http_max_body = (size_t)64 << 20;
    jn_request_log_options_default(&cfg->request_log);
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    cfg->http_threads = cores < 1 ? 2 : cores > 64 ? 64 : (int)cores;
    cfg->otlp.sample_ratio = 1.0;
    cfg->otlp.queue_spans = 2048;
    cfg->otlp.timeout_ms = 2000;

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
            cfg->opt.host = optarg;
            break;
        case O_PORT:
            if (!parse_int(optarg, 0, 65535, &v))
                return bad_value("--grpc-port", optarg, "a port number (0-65535)");
            cfg->opt.port = (int)v;
            break;
        case O_THREADS:
            if (!parse_int(optarg, 1, 64, &v))
                return bad_value("--threads", optarg, "a thread count (1-64)");
            cfg->opt.pump_threads = (int)v;
            break;
        case O_WORKERS:
            if (!parse_int(optarg, 1, 256, &v))
                return bad_value("--workers", optarg, "a thread count (1-256)");
            cfg->opt.worker_threads = (int)v;
            break;
        case O_PREPOST:
            if (!parse_int(optarg, 1, 4096, &v))
                return bad_value("--prepost", optarg, "a count (1-4096)");
            cfg->opt.prepost = (int)v;
            break;
        case O_INFLIGHT:
            if (!parse_int(optarg, 1, 65536, &v))
                return bad_value("--max-stream-inflight", optarg, "a count (1-65536)");
            cfg->opt.max_stream_inflight = (int)v;
            break;
        case O_MAXMSG:
            if (!parse_int(optarg, 1, 2047, &v))
                return bad_value("--max-message-mb", optarg, "a size in MiB (1-2047)");
            cfg->opt.max_message_bytes = (int)(v << 20);
            break;
        case O_MAX_QUEUE:
            if (!parse_int(optarg, 0, 1000000, &v))
                return bad_value("--max-queue", optarg, "a count (0-1000000; 0 = no bound)");
            cfg->opt.max_queue = (int)v;
            break;
        case O_MAX_MODEL_QUEUE:
            if (!parse_int(optarg, 0, 1000000, &v))
                return bad_value("--max-model-queue", optarg, "a count (0-1000000; 0 = no bound)");
            cfg->opt.max_model_queue = (int)v;
            break;
        case O_MAX_INFLIGHT:
            if (!parse_int(optarg, 0, 10000000, &v))
                return bad_value("--max-inflight", optarg, "a count (0-10000000; 0 = no bound)");
            cfg->opt.max_inflight = (int)v;
            break;
        case O_MAX_STREAMS_PER_CONN:
            if (!parse_int(optarg, 1, 1000000, &v))
                return bad_value("--max-streams-per-connection", optarg, "a count (1-1000000)");
            cfg->opt.max_streams_per_connection = (int)v;
            break;
        case O_GRACE:
            if (!parse_int(optarg, 0, 3600000, &v))
                return bad_value("--grace-ms", optarg, "a duration in ms (0-3600000)");
            cfg->opt.grace_ms = v;
            break;
        case O_BURN: {
            char *end;
            double d = strtod(optarg, &end);
            if (end == optarg || *end || !(d >= 0 && d <= 600000))
                return bad_value("--burn-ms", optarg, "a duration in ms (0-600000)");
            cfg->engines.burn_default_ms = d;
            break;
        }
        case O_PIPELINES:
            cfg->pipelines_dir = optarg;
            break;
        case O_MODEL_CONFIG: {
            jn_err err;
            jn_err_clear(&err);
            if (jn_model_configs_add(&cfg->model_configs, optarg, &err)) {
                fprintf(stderr, "junction serve: %s\n", err.msg);
                return JN_CLI_EXIT_USAGE;
            }
            break;
        }
        case O_CACHE_MB:
            if (!parse_int(optarg, 0, 1 << 20, &v))
                return bad_value("--cache-mb", optarg, "a size in MiB (0-1048576)");
            cfg->cache_bytes = (size_t)v << 20;
            break;
        case O_MAX_AUDIO_SECONDS: {
            char *end = NULL;
            double secs = strtod(optarg, &end);
            if (!end || *end || end == optarg || !(secs > 0) || secs > 86400)
                return bad_value("--max-audio-seconds", optarg, "seconds, more than 0 and at most 86400");
            jn_audio_set_max_seconds(secs);
            break;
        }
        case O_CONSOLE:
            if (strcmp(optarg, "on") != 0 && strcmp(optarg, "off") != 0)
                return bad_value("--console", optarg, "'on' or 'off'");
            cfg->console_off = strcmp(optarg, "off") == 0;
            break;
        case O_OPENAI_PREFIX:
            if (strcmp(optarg, "off") != 0 && (optarg[0] != '/' || !optarg[1]))
                return bad_value("--openai-prefix", optarg, "a path starting with '/' (e.g. /openai/v1), or 'off'");
            cfg->openai_prefix = optarg;
            break;
        case O_REMOTES:
            cfg->remotes_file = optarg;
            break;
        case O_FETCH_ALLOW:
            cfg->fetch.allow = optarg;
            break;
        case O_FETCH_MAX_BYTES:
            if (!parse_int(optarg, 1, LONG_MAX, &v))
                return bad_value("--fetch-max-bytes", optarg, "a number of bytes (at least 1)");
            cfg->fetch.max_bytes = (size_t)v;
            break;
        case O_FETCH_TIMEOUT:
            if (!parse_int(optarg, 1, 24L * 3600 * 1000, &v))
                return bad_value("--fetch-timeout-ms", optarg, "a time in milliseconds (1-86400000)");
            cfg->fetch.timeout_ms = v;
            break;
        case O_HTTP_PORT:
            if (strcmp(optarg, "any") == 0)
                cfg->http_port = 0;
            else if (parse_int(optarg, 0, 65535, &v))
                cfg->http_port = v == 0 ? -1 : (int)v;
            else
                return bad_value("--http-port", optarg, "a port number (0-65535) or 'any'");
            break;
        case O_HTTP_MAX_BODY:
            if (!parse_int(optarg, 1, 4095, &v))
                return bad_value("--http-max-body-mb", optarg, "a size in MiB (1-4095)");
            cfg->http_max_body = (size_t)v << 20;
            break;
        case O_TLS_CERT:
            cfg->opt.tls_cert_file = optarg;
            break;
        case O_TLS_KEY:
            cfg->opt.tls_key_file = optarg;
            break;
        case O_TLS_CLIENT_CA:
            cfg->opt.tls_client_ca_file = optarg;
            break;
        case O_ADMIN_TOKEN:
            cfg->admin_token_file = optarg;
            break;
        case O_CLIENT_TOKEN:
            cfg->client_token_file = optarg;
            break;
        case O_REGISTRY:
            cfg->registry = optarg;
            break;
        case O_REGISTRY_PREFIX:
            cfg->registry_prefix = optarg;
            break;
        case O_STATE_DIR:
            if (!*optarg)
                return bad_value("--state-dir", optarg, "a directory (or 'none')");
            cfg->state_dir = strcmp(optarg, "none") == 0 ? NULL : optarg;
            break;
        case O_HTTP_THREADS:
            if (!parse_int(optarg, 1, 64, &v))
                return bad_value("--http-threads", optarg, "a thread count (1-64)");
            cfg->http_threads = (int)v;
            break;
        case O_MODELS:
            cfg->models_dir = optarg;
            break;
        case O_OTLP_ENDPOINT: {
            jn_err uerr;
            char *url = jn_otlp_traces_url(optarg, &uerr);
            if (!url)
                return bad_value("--otlp-endpoint", optarg, "an http:// or https:// URL with a host");
            free(url);
            cfg->otlp.endpoint = optarg;
            break;
        }
        case O_OTLP_SERVICE:
            if (!*optarg)
                return bad_value("--otlp-service-name", optarg, "a non-empty name");
            cfg->otlp.service_name = optarg;
            break;
        case O_TRACE_RATIO: {
            char *end;
            errno = 0;
            double r = strtod(optarg, &end);
            if (errno || end == optarg || *end || !(r >= 0 && r <= 1))
                return bad_value("--trace-sample-ratio", optarg, "a number from 0 to 1");
            cfg->otlp.sample_ratio = r;
            break;
        }
        case O_TRACE_QUEUE:
            if (!parse_int(optarg, 1, 1000000, &v))
                return bad_value("--trace-queue", optarg, "a span count (1-1000000)");
            cfg->otlp.queue_spans = (size_t)v;
            break;
        case O_REQUEST_LOG:
            cfg->request_log.path = optarg;
            break;
        case O_REQUEST_LOG_PAYLOADS:
            cfg->request_log.payloads = true;
            break;
        case O_REQUEST_LOG_SAMPLE: {
            char *end;
            double d = strtod(optarg, &end);
            if (end == optarg || *end || !(d >= 0 && d <= 1))
                return bad_value("--request-log-sample", optarg, "a ratio (0-1)");
            cfg->request_log.sample = d;
            break;
        }
        case O_REQUEST_LOG_MAX_ENTRY:
            if (!parse_int(optarg, JN_REQUEST_LOG_MIN_MAX_ENTRY, 64L << 20, &v))
                return bad_value("--request-log-max-entry", optarg, "a size in bytes (1024-67108864)");
            cfg->request_log.max_entry = (size_t)v;
            break;
        case O_REQUEST_LOG_MAX_BYTES:
            if (!parse_int(optarg, 0, LONG_MAX, &v))
                return bad_value("--request-log-max-bytes", optarg, "a size in bytes (0 = no rotation)");
            cfg->request_log.max_bytes = (uint64_t)v;
            break;
        case O_REQUEST_LOG_KEEP:
            if (!parse_int(optarg, 1, 1000, &v))
                return bad_value("--request-log-keep", optarg, "a count of files (1-1000)");
            cfg->request_log.keep = (int)v;
            break;
        case O_REDACT:
            cfg->redact_file = optarg;
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
    if (!cfg->request_log.path && (cfg->redact_file || cfg->request_log.payloads)) {
        fprintf(stderr, "junction serve: %s only applies to the request log: add --request-log FILE\n",
                cfg->redact_file ? "--redact" : "--request-log-payloads");
        return JN_CLI_EXIT_USAGE;
    }
    if (optind < argc) {
        fprintf(stderr, "junction serve: unexpected argument '%s'\n\n", argv[optind]);
        serve_usage(stderr);
        return JN_CLI_EXIT_USAGE;
    }
    return -1;
}

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
    int status = parse_serve_options(argc, argv, &cfg);
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
