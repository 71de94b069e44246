/* Fuzz target: pipeline JSON -> spec -> compile against the built-in engines -> plan text. Must never crash, leak
 * or hang; every rejection must carry a message. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "builtin.h"
#include "pipeline.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static jn_registry *fuzz_registry(void)
{
    static jn_registry *reg;
    if (!reg) {
        jn_builtin_options opt = {.burn_default_ms = 0};
        jn_err err;
        reg = jn_registry_create();
        if (!reg || jn_builtin_register_all(reg, &opt, &err) || jn_builtin_register_pipelines(reg, &err))
            abort();
    }
    return reg;
}

static void require_message(int rc, const jn_err *err)
{
    if (rc && (err->code != rc || err->msg[0] == '\0')) {
        fprintf(stderr, "rejection without a matching code and message: rc=%d code=%d\n", rc, err->code);
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    jn_pipeline_spec spec;
    jn_err err;
    jn_err_clear(&err);
    int rc = jn_pipeline_spec_from_json((const char *)data, size, &spec, &err);
    require_message(rc, &err);
    if (!rc) {
        char *json = jn_pipeline_spec_to_json(&spec, true);
        free(json);
        jn_engine *e = jn_pipeline_compile(&spec, fuzz_registry(), &err);
        require_message(e ? 0 : err.code, &err);
        if (e) {
            free(jn_pipeline_plan_text(e));
            jn_engine_unref(e);
        }
    }
    jn_pipeline_spec_free(&spec);
    return 0;
}
