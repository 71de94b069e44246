/* options.h — the tuning of a remote engine (RegisterEngine options, --remotes "options"), with defaults.
 *
 * Endpoint-wide settings (max_concurrency, max_queue, breaker_*, health_*) are taken from the first engine that
 * opens the endpoint; engines added later on the same endpoint share what is there.
 * Ownership: plain values.
 */
#ifndef JN_REMOTE_OPTIONS_H
#define JN_REMOTE_OPTIONS_H

#include <stdbool.h>
#include <stdint.h>

#include "err.h"
#include "model_config.h"

typedef enum jn_remote_kind {
    JN_REMOTE_KIND_CHAT = 0,    /* POST chat/completions: messages -> text (streams) */
    JN_REMOTE_KIND_COMPLETIONS, /* POST completions: prompt -> text (streams) */
    JN_REMOTE_KIND_EMBEDDINGS,  /* POST embeddings: text -> embedding */
} jn_remote_kind;

typedef struct jn_remote_options {
    int64_t timeout_ms;          /* per call when the caller set no deadline (30000) */
    int max_attempts;            /* tries of a call answered UNAVAILABLE, within the deadline (3) */
    int64_t backoff_ms;          /* first retry waits a jittered [backoff/2, backoff] (25), doubling */
    int64_t backoff_max_ms;      /* cap of the doubling (1000) */
    int breaker_failures;        /* consecutive failures that open the breaker (5) */
    int64_t breaker_cooldown_ms; /* open -> half-open after this (2000) */
    int max_concurrency;         /* threads of the endpoint's pool: calls running at once (16) */
    int max_queue;               /* calls waiting for a thread beyond which new ones fail fast (64) */
    int64_t health_interval_ms;  /* between health checks of the endpoint (1000) */
    int64_t health_timeout_ms;   /* deadline of one health check, and of registration's metadata call (2000) */
    /* TLS to the endpoint (PEM file paths; "" = plaintext): the CA bundle to verify the remote with, and for mutual
     * TLS this side's certificate chain and key (both or neither). */
    char tls_ca_file[256];
    char tls_cert_file[256];
    char tls_key_file[256];
    /* How the registry serves the engine (model_config.h; issue #16): "dynamic_batching" takes the JSON object as
     * text, "instances" a number, "response_cache" true/false. A remote's answers are taken as not repeatable (never
     * cached) unless "deterministic" is "true". */
    jn_model_config serving;
    bool deterministic;
    /* Native remotes (issue #24): brokered calls go as messages on long-lived InferStream streams, one per gRPC pump
     * of this server and endpoint, plus one for blocking callers (endpoint_mux.c); false = one unary call each
     * (true). Endpoint-wide like max_concurrency. */
    bool multiplex;
    int streams; /* multiplexed streams per pump and endpoint (2): a message goes on the least busy one */
    /* OpenAI-compatible remotes (protocol openai, issue #18): the file holding the API key (sent as a bearer token;
     * endpoint-wide like the TLS files), and which of the server's APIs the engine is (chat by default). */
    char api_key_file[256];
    jn_remote_kind kind;
} jn_remote_options;

void jn_remote_options_default(jn_remote_options *o);
/* Sets one option from its text form. JN_EINVAL naming the key (unknown key, or a value out of range). */
int jn_remote_options_set(jn_remote_options *o, const char *key, const char *value, jn_err *err);

#endif
