/* model_configs.c — serve's --model-config NAME=FILE (model_configs.h). */
#include "model_configs.h"

#include <string.h>

int jn_model_configs_add(jn_model_configs *mc, const char *flag_value, jn_err *err)
{
    const char *eq = strchr(flag_value, '=');
    if (!eq || eq == flag_value || !eq[1] || (size_t)(eq - flag_value) >= sizeof mc->items[0].name)
        return jn_err_set(err, JN_EINVAL, "--model-config '%s' is not NAME=FILE.json", flag_value);
    if (mc->n == JN_MAX_MODEL_CONFIGS)
        return jn_err_set(err, JN_EINVAL, "--model-config: at most %d models", JN_MAX_MODEL_CONFIGS);
    int rc = jn_model_config_parse_file(eq + 1, &mc->items[mc->n].config, err);
    if (rc) {
        jn_err_prefix(err, "--model-config %.*s", (int)(eq - flag_value), flag_value);
        return rc;
    }
    memcpy(mc->items[mc->n].name, flag_value, (size_t)(eq - flag_value));
    mc->items[mc->n].name[eq - flag_value] = '\0';
    mc->items[mc->n].applied = false;
    mc->n++;
    return 0;
}

int jn_model_configs_apply(jn_model_configs *mc, jn_registry *reg, jn_err *err)
{
    for (size_t i = 0; i < mc->n; i++) {
        if (mc->items[i].applied)
            continue;
        int rc = jn_registry_configure(reg, mc->items[i].name, &mc->items[i].config, err);
        if (rc == JN_ENOTFOUND) {
            jn_err_clear(err);
            continue; /* not registered yet */
        }
        if (rc) {
            jn_err_prefix(err, "--model-config %s", mc->items[i].name);
            return rc;
        }
        mc->items[i].applied = true;
    }
    return 0;
}

int jn_model_configs_check_all_applied(const jn_model_configs *mc, jn_err *err)
{
    for (size_t i = 0; i < mc->n; i++)
        if (!mc->items[i].applied)
            return jn_err_set(err, JN_ENOTFOUND, "--model-config %s: no model of that name is served",
                              mc->items[i].name);
    return 0;
}
