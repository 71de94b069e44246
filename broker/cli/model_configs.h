/* model_configs.h — `junction serve --model-config NAME=FILE.json`: how a registered model is served (dynamic
 * batching, instances, response cache; broker/core/model_config.h), for models that have no config.json of their
 * own (built-in engines, pipelines, or to override an ONNX model's).
 *
 * A model's configuration is applied as soon as the model exists at start: built-in engines before the built-in
 * pipelines are compiled (so the pipelines' steps run through the configured entry), ONNX models and remote engines
 * before --pipelines, pipelines after them. A name that is never registered stops the start.
 *
 * Ownership: the flag values are borrowed from argv; the parsed configs live in the jn_model_configs.
 * Thread-safety: used by serve's main thread during start only.
 */
#ifndef JN_CLI_MODEL_CONFIGS_H
#define JN_CLI_MODEL_CONFIGS_H

#include <stdbool.h>
#include <stddef.h>

#include "err.h"
#include "model_config.h"
#include "registry.h"

#define JN_MAX_MODEL_CONFIGS 64

typedef struct jn_model_configs {
    struct {
        char name[128];
        jn_model_config config;
        bool applied;
    } items[JN_MAX_MODEL_CONFIGS];
    size_t n;
} jn_model_configs;

/* Adds NAME=FILE: reads and checks the file now. JN_EINVAL / JN_EIO naming the flag value and the field. */
int jn_model_configs_add(jn_model_configs *mc, const char *flag_value, jn_err *err);
/* Applies every config not applied yet whose model is registered now. JN_E* naming the model when the config
 * cannot serve it. */
int jn_model_configs_apply(jn_model_configs *mc, jn_registry *reg, jn_err *err);
/* JN_ENOTFOUND naming the first config whose model never appeared. */
int jn_model_configs_check_all_applied(const jn_model_configs *mc, jn_err *err);

#endif
