/* model_config.h — how a model is served, beyond what it computes: the dynamic batcher, instances and the response
 * cache (issue #16). The same JSON object everywhere a user configures a model: the model repository's config.json
 * (beside an ONNX model), `junction serve --model-config NAME=FILE.json` (any registered model: built-in engines,
 * pipelines), a remote engine's RegisterEngine options:
 *
 *   {"dynamic_batching": {"max_batch_size": 32, "max_queue_delay_us": 500,
 *                         "preferred_batch_sizes": [8, 16, 32], "preserve_ordering": false,
 *                         "priority_levels": 2, "default_priority_level": 1,
 *                         "queue": {"max_size": 1024, "timeout_us": 0, "timeout_action": "reject"}},
 *    "instances": 2, "response_cache": true}
 *
 * Semantics are Triton's (its model configuration's dynamic_batching and instance_group):
 * - max_batch_size: the most rows one execution takes (the first dimension of every input and output is the batch);
 *   max_queue_delay_us: how long the oldest waiting request may wait for more rows (0 = run what is there);
 *   preferred_batch_sizes: a batch of one of these sizes runs at once, without waiting for the delay;
 *   preserve_ordering: answers leave in the order the requests arrived;
 *   priority_levels / default_priority_level: levels 1 (first served) .. N; a request's `priority` parameter (0 = the
 *   default level);
 *   queue.max_size: requests waiting at most (0 = no bound; beyond: RESOURCE_EXHAUSTED / 429 at once);
 *   queue.timeout_us: how long a request may wait in the queue (0 = no bound; the request's `timeout` parameter
 *   overrides it); timeout_action "reject" fails it with DEADLINE_EXCEEDED, "delay" keeps it waiting.
 * - instances: how many executions of the model run at once (its own threads: a slow model never holds the shared
 *   workers); 0 = not set (1 when batching is on).
 * - response_cache: answers are kept in the server's cache (--cache-mb) and repeated requests answered from it.
 *
 * Ownership: plain values; jn_model_config holds no pointers.
 * Thread-safety: parsing is pure; a parsed config is immutable.
 */
#ifndef JN_MODEL_CONFIG_H
#define JN_MODEL_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"

struct json_t;
struct jn_engine;

#define JN_MAX_PREFERRED_BATCH 16
#define JN_MAX_PRIORITY_LEVELS 16

typedef struct jn_batching_config {
    bool enabled; /* "dynamic_batching" present */
    uint32_t max_batch_size;
    uint64_t max_queue_delay_us;
    uint32_t preferred[JN_MAX_PREFERRED_BATCH]; /* ascending */
    size_t n_preferred;
    bool preserve_ordering;
    uint32_t priority_levels;        /* >= 1 */
    uint32_t default_priority_level; /* 1 .. priority_levels */
    uint64_t queue_max_size;         /* 0 = no bound */
    uint64_t queue_timeout_us;       /* 0 = no bound */
    bool timeout_delay;              /* timeout_action "delay" (else "reject") */
} jn_batching_config;

typedef struct jn_model_config {
    jn_batching_config batching;
    uint32_t instances; /* 0 = not set */
    bool response_cache;
} jn_model_config;

/* The keys this module owns, for readers of a larger object (config.json): true for "dynamic_batching",
 * "instances", "response_cache". */
bool jn_model_config_key(const char *key);

/* Reads the keys above from `obj` (other keys are the caller's and ignored) into *out (zeroed first: nothing set =
 * served as before). JN_EINVAL with the field's path and `where` (e.g. "models/mlp/config.json") in the message on
 * any wrong type, range or unknown field inside dynamic_batching. */
int jn_model_config_parse(const struct json_t *obj, const char *where, jn_model_config *out, jn_err *err);
/* The same from JSON text (a file given to --model-config): unknown top-level keys are refused. */
int jn_model_config_parse_text(const char *text, size_t len, const char *where, jn_model_config *out, jn_err *err);
/* The same from a file (`serve --model-config NAME=FILE`); messages name the path. JN_EIO when it cannot be read. */
int jn_model_config_parse_file(const char *path, jn_model_config *out, jn_err *err);

/* Can `e` be served with this config? Batching needs an engine that batches (JN_ENGINE_BATCHES: dim 0 of every
 * input and output is the batch) and does not stream; the cache needs one whose answers depend only on the request
 * (not JN_ENGINE_VOLATILE) and does not stream. JN_EINVAL naming the model and the reason. */
int jn_model_config_check(const jn_model_config *cfg, const struct jn_engine *e, jn_err *err);

/* Anything set that needs the model's own queue (batching or instances)? */
static inline bool jn_model_config_queued(const jn_model_config *cfg)
{
    return cfg->batching.enabled || cfg->instances > 0;
}

#endif
