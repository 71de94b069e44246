/* model_configs.c — serve's --model-config NAME=FILE (model_configs.h). */
#include "model_configs.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int jn_model_configs_add(jn_model_configs *mc, const char *flag_value, jn_err *err)
{
    const char *eq = strchr(flag_value, '=');
    if (!eq || eq == flag_value || !eq[1] || (size_t)(eq - flag_value) >= sizeof mc->items[0].name)
        return jn_err_set(err, JN_EINVAL, "--model-config '%s' is not NAME=FILE.json", flag_value);
    if (mc->n == JN_MAX_MODEL_CONFIGS)
        return jn_err_set(err, JN_EINVAL, "--model-config: at most %d models", JN_MAX_MODEL_CONFIGS);
    const char *path = eq + 1;
    FILE *f = fopen(path, "rb");
    if (!f)
        return jn_err_set(err, JN_EIO, "--model-config: cannot read '%s'", path);
    char *text = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        if (len + 4096 > cap) {
            cap = cap ? cap * 2 : 8192;
            if (cap > (1u << 20)) {
                free(text);
                fclose(f);
                return jn_err_set(err, JN_EINVAL, "--model-config: '%s' is larger than 1 MiB", path);
            }
            char *nt = realloc(text, cap);
            if (!nt) {
                free(text);
                fclose(f);
                return jn_err_set(err, JN_ENOMEM, "out of memory");
            }
            text = nt;
        }
        size_t got = fread(text + len, 1, cap - len, f);
        len += got;
        if (got == 0)
            break;
    }
    fclose(f);
    int rc = jn_model_config_parse_text(text ? text : "", len, path, &mc->items[mc->n].config, err);
    free(text);
    if (rc)
        return rc;
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
        jn_err probe;
        jn_err_clear(&probe);
        jn_model *m = jn_registry_resolve(reg, mc->items[i].name, NULL, &probe);
        if (!m)
            continue; /* not registered yet */
        jn_model_unref(m);
        int rc = jn_registry_configure(reg, mc->items[i].name, &mc->items[i].config, err);
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
