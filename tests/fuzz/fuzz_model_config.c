/* Fuzz target: a model's serving configuration (broker/core/model_config.h: `serve --model-config` files and the
 * serving keys of config.json), and the check against an engine that batches. Must never crash, leak or hang; every
 * refusal carries a message naming where. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine.h"
#include "model_config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int no_infer(jn_engine *self, const jn_infer_ctx *ctx, const jn_tensor_list *in, jn_tensor_list *out,
                    jn_err *err)
{
    (void)self, (void)ctx, (void)in, (void)out;
    return jn_err_set(err, JN_EUNIMPL, "not run");
}

static const jn_engine_vtable vt = {.abi_version = JN_ENGINE_ABI_VERSION, .platform = "fuzz", .infer = no_infer};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static jn_engine *e;
    if (!e) {
        jn_err err;
        e = jn_engine_create(&vt, "fuzz", "1", NULL, NULL, &err);
        if (!e)
            abort();
        e->flags |= JN_ENGINE_BATCHES;
    }
    jn_model_config cfg;
    jn_err err;
    jn_err_clear(&err);
    int rc = jn_model_config_parse_text((const char *)data, size, "fuzz.json", &cfg, &err);
    if (rc && (err.code != rc || !strstr(err.msg, "fuzz.json"))) {
        fprintf(stderr, "refusal without its code or the file's name: %d %s\n", rc, err.msg);
        abort();
    }
    if (!rc) {
        if (cfg.batching.enabled && (cfg.batching.max_batch_size < 1 || cfg.batching.priority_levels < 1 ||
                                     cfg.batching.default_priority_level < 1 ||
                                     cfg.batching.default_priority_level > cfg.batching.priority_levels))
            abort(); /* a config that parses is one the batcher can run */
        jn_err_clear(&err);
        rc = jn_model_config_check(&cfg, e, &err);
        if (rc && !err.msg[0])
            abort();
    }
    return 0;
}
