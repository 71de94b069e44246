/* serve_options.h — private to `junction serve` (serve.c, serve_options.c): what the command line asks for, parsed.
 *
 * Ownership: a serve_config points into argv (strings) and owns its model_configs (freed by serve.c at the end of
 * serve, as before). Single-threaded: parsed once on the main thread before anything starts. */
#ifndef JN_CLI_SERVE_OPTIONS_H
#define JN_CLI_SERVE_OPTIONS_H

#include <stdbool.h>
#include <stddef.h>

#include "../../engines/builtin.h"
#include "../fetch/fetch.h"
#include "../rpc/server.h"
#include "model_configs.h"
#include "otlp_export.h"
#include "request_log.h"

#define JN_DEFAULT_HTTP_PORT 8000 /* Triton's and KServe's (gRPC 8001, metrics 8002) */
#define JN_DEFAULT_STATE_DIR "junction-state"

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
    bool forwarding_pumps;                           /* one pump chosen: --remotes without --models or --threads */
} serve_config;

/* Parses the command line into cfg. Returns -1 to go on, or the exit status (help printed, or bad usage reported). */
int jn__serve_parse_options(int argc, char **argv, serve_config *cfg);

#endif
