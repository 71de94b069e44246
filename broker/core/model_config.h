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
 * - sequence (issue #17, a stateful model; sequence.h serves it):
 *     {"sequence": {"state": [{"input": "state", "output": "stateN", "initial": "zeros"}],
 *                   "idle_timeout_ms": 60000, "max_sequences": 1024}}
 *   each state pair: the output of one request becomes that input of the next request of the same sequence; the
 *   input is no longer part of the model's public signature (callers neither send nor receive the state ports, but
 *   may ask for the state outputs by name). initial: "zeros" (the default) or a list of numbers (as many as the
 *   input's fixed shape has elements, or one number repeated). idle_timeout_ms (default 60000, 0 = never) drops a
 *   sequence nobody used for that long; max_sequences (default 1024) bounds those alive at once. The input and the
 *   output must exist with the same dtype and compatible shapes (checked against the engine:
 *   jn_model_config_check). Not with dynamic_batching, instances or response_cache.
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
#define JN_MAX_SEQUENCE_STATES 8
#define JN_SEQUENCE_NAME_MAX 128
#define JN_SEQUENCE_INITIAL_MAX 64 /* numbers in a literal "initial" list */

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

typedef struct jn_sequence_state_config {
    char input[JN_SEQUENCE_NAME_MAX];
    char output[JN_SEQUENCE_NAME_MAX];
    double initial[JN_SEQUENCE_INITIAL_MAX]; /* a literal list; n_initial 0 = zeros */
    size_t n_initial;
} jn_sequence_state_config;

typedef struct jn_sequence_config {
    bool enabled; /* "sequence" present */
    jn_sequence_state_config state[JN_MAX_SEQUENCE_STATES];
    size_t n_state; /* >= 1 when enabled */
    uint64_t idle_timeout_ms; /* 0 = never */
    uint64_t max_sequences;   /* >= 1 */
} jn_sequence_config;

typedef struct jn_model_config {
    jn_batching_config batching;
    uint32_t instances; /* 0 = not set */
    bool response_cache;
    jn_sequence_config sequence;
} jn_model_config;

/* The keys this module owns, for readers of a larger object (config.json): true for "dynamic_batching",
 * "instances", "response_cache", "sequence". */
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
 * (not JN_ENGINE_VOLATILE) and does not stream; a sequence needs its state inputs and outputs in the engine's
 * signature (same dtype, compatible shapes, a literal initial value fitting the input's fixed shape), an engine that
 * does not stream, and neither batching, instances nor the cache. JN_EINVAL naming the model, the field
 * (sequence.state[i].input ...) and the reason. */
int jn_model_config_check(const jn_model_config *cfg, const struct jn_engine *e, jn_err *err);

/* Anything set that needs the model's own queue (batching or instances)? */
static inline bool jn_model_config_queued(const jn_model_config *cfg)
{
    return cfg->batching.enabled || cfg->instances > 0;
}

#endif
