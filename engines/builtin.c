#include "builtin.h"

const jn_builtin_engine jn_builtin_engines[] = {
    {"identity", jn_identity_create, "input FP32[-1,-1] -> output, the same buffer (zero-copy)"},
    {"burn", jn_burn_create,
     "input FP32[-1,-1] -> output (identity) after burning CPU or sleeping; parameters burn_ms, burn_mode"},
    {"tokenize", jn_tokenize_create,
     "text TEXT BYTES[-1] -> tokens TEXT BYTES[-1]; streams one token per message"},
    {NULL, NULL, NULL},
};

int jn_builtin_register_all(jn_registry *reg, const jn_builtin_options *opt, jn_err *err)
{
    for (const jn_builtin_engine *b = jn_builtin_engines; b->name; b++) {
        jn_engine *e = b->create(b->name, opt, err);
        if (!e)
            return err->code;
        int rc = jn_registry_add(reg, e, err);
        if (rc)
            return rc;
    }
    return 0;
}
