/* serve_options.c — `junction serve`'s command line: its usage text and the parsing into a serve_config. */
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
            "  --threads N              gRPC pump threads, one completion queue each (default 2; 1 for a broker\n"
            "                           that forwards: --remotes without --models)\n"
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

/* See serve_options.h. */
int jn__serve_parse_options(int argc, char **argv, serve_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    bool threads_given = false;
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
            threads_given = true;
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
    /* A broker that forwards (remote engines, no model repository) runs one pump: with two, gRPC's single poller
     * hands most events from one pump to the other (DECISIONS.md, "Multiplexed remotes": pump threads). */
    if (!threads_given && cfg->remotes_file && !cfg->models_dir) {
        cfg->opt.pump_threads = 1;
        cfg->forwarding_pumps = true;
    }
    if (optind < argc) {
        fprintf(stderr, "junction serve: unexpected argument '%s'\n\n", argv[optind]);
        serve_usage(stderr);
        return JN_CLI_EXIT_USAGE;
    }
    return -1;
}
