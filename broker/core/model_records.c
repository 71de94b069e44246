/* model_records.c — the "model" record kind (see model_records.h): records made and read, loads and unloads through
 * control, and the registry checks that keep them to models of the loader's platform. */
#include "model_records.h"

#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "base64.h"

/* Registry checks: `platform` (the arg) is that of the engines the loader makes. */
static int may_replace_loaded(const jn_engine *existing, void *platform, jn_err *err)
{
    const char *p = platform;
    if (p && existing->vt->platform && strcmp(existing->vt->platform, p) == 0)
        return 0;
    return jn_err_set(err, JN_EEXIST, "model '%s' exists and was not loaded from a model file (platform %s)",
                      existing->name, existing->vt->platform ? existing->vt->platform : "?");
}

static int may_remove_loaded(const jn_engine *existing, void *platform, jn_err *err)
{
    if (may_replace_loaded(existing, platform, err))
        return jn_err_set(err, JN_EPRECOND, "model '%s' was not loaded from a model file: it cannot be unloaded",
                          existing->name);
    return 0;
}

/* Names a load accepts: they become file names in the repository and model names in URLs. */
static bool model_name_ok(const char *name)
{
    if (!name || !name[0] || name[0] == '.' || strlen(name) > 128)
        return false;
    for (const char *c = name; *c; c++)
        if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') || *c == '-' ||
              *c == '_' || *c == '.'))
            return false;
    return true;
}

static char *model_record(const char *version, const uint8_t *bytes, size_t n, jn_err *err)
{
    if (bytes && n > JN_MODEL_RECORD_MAX_BYTES) {
        jn_err_set(err, JN_EPRECOND,
                   "the uploaded model is %zu bytes; at most %zu can be kept in the server's state: put the file in "
                   "the model repository (serve --models DIR) and call LoadModel with its name and no bytes",
                   n, JN_MODEL_RECORD_MAX_BYTES);
        return NULL;
    }
    char *b64 = NULL;
    size_t b64_len = 0;
    if (bytes && !(b64 = jn_base64_encode(bytes, n, &b64_len))) {
        jn_err_set(err, JN_ENOMEM, "out of memory");
        return NULL;
    }
    json_t *o = b64 ? json_pack("{s:s, s:s}", "version", version, "onnx_base64", b64)
                    : json_pack("{s:s}", "version", version);
    char *text = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    free(b64);
    if (!text)
        jn_err_set(err, JN_ENOMEM, "out of memory");
    return text;
}

typedef struct load_change {
    jn_registry *reg;
    const char *platform;
    jn_engine *engine;
    jn_model_sched sched;
    bool replaced;
} load_change;

static int apply_load(void *arg, jn_err *err)
{
    load_change *c = arg;
    return jn_registry_put(c->reg, jn_engine_ref(c->engine), &c->sched, may_replace_loaded, (void *)c->platform,
                           &c->replaced, err);
}

/* A set of versions (Triton's layout) put in one step. */
typedef struct versions_change {
    jn_registry *reg;
    const char *platform;
    jn_engine **engines;
    jn_model_sched *scheds;
    size_t n;
    bool replaced;
} versions_change;

static int apply_versions(void *arg, jn_err *err)
{
    versions_change *c = arg;
    for (size_t i = 0; i < c->n; i++) /* put_versions takes references; the change keeps its own */
        jn_engine_ref(c->engines[i]);
    return jn_registry_put_versions(c->reg, c->engines, c->scheds, c->n, may_replace_loaded, (void *)c->platform,
                                    &c->replaced, err);
}

/* Loads versions[0..n) of `name`: engines and their serving into vc (the caller frees them). */
static int load_versions(const jn_model_records *m, const char *name, char **versions, size_t n, versions_change *vc,
                         jn_err *err)
{
    vc->engines = calloc(n, sizeof *vc->engines);
    vc->scheds = calloc(n, sizeof *vc->scheds);
    if (!vc->engines || !vc->scheds)
        return jn_err_set(err, JN_ENOMEM, "out of memory");
    for (size_t i = 0; i < n; i++) {
        vc->engines[i] = m->load(m->load_arg, name, versions[i], NULL, 0, &vc->scheds[i].config, err);
        if (!vc->engines[i])
            return err->code ? err->code : JN_EINTERNAL;
        vc->n++;
    }
    return 0;
}

static void versions_change_clear(versions_change *vc)
{
    for (size_t i = 0; i < vc->n; i++)
        jn_engine_unref(vc->engines[i]);
    free(vc->engines);
    free(vc->scheds);
}

typedef struct unload_change {
    jn_registry *reg;
    const char *platform;
    const char *name;
} unload_change;

static int apply_unload(void *arg, jn_err *err)
{
    unload_change *c = arg;
    return jn_registry_remove_if(c->reg, c->name, may_remove_loaded, (void *)c->platform, err);
}

int jn_model_record_apply(void *records, const char *name, const char *value_json, jn_err *err)
{
    jn_model_records *m = records;
    if (!value_json) {
        int rc = jn_registry_remove_if(m->reg, name, may_remove_loaded, (void *)m->platform, err);
        return rc == JN_ENOTFOUND ? 0 : rc;
    }
    if (!m->load)
        return jn_err_set(err, JN_EUNIMPL, "model '%s': this server loads no model files", name);
    json_error_t jerr;
    json_t *o = json_loads(value_json, 0, &jerr);
    json_t *vs = o ? json_object_get(o, "versions") : NULL;
    if (json_is_array(vs) && json_array_size(vs)) { /* a set of versions from the repository (Triton's layout) */
        size_t n = json_array_size(vs);
        char **names = calloc(n, sizeof *names);
        versions_change vc = {m->reg, m->platform, NULL, NULL, 0, false};
        int rc = names ? 0 : jn_err_set(err, JN_ENOMEM, "out of memory");
        for (size_t i = 0; !rc && i < n; i++)
            if (!(names[i] = (char *)json_string_value(json_array_get(vs, i))))
                rc = jn_err_set(err, JN_EINVAL, "model '%s': the state record's versions are not strings", name);
        if (!rc)
            rc = load_versions(m, name, names, n, &vc, err);
        if (!rc)
            rc = apply_versions(&vc, err);
        versions_change_clear(&vc);
        free(names);
        json_decref(o);
        return rc;
    }
    const char *version = o ? json_string_value(json_object_get(o, "version")) : NULL;
    const char *b64 = o ? json_string_value(json_object_get(o, "onnx_base64")) : NULL;
    if (!o || !version) {
        json_decref(o);
        return jn_err_set(err, JN_EINVAL, "model '%s': the state record is not {\"version\", [\"onnx_base64\"]}", name);
    }
    size_t n = 0, bad = 0;
    uint8_t *bytes = b64 ? jn_base64_decode(b64, strlen(b64), &n, &bad) : NULL;
    jn_engine *e = NULL;
    jn_model_sched sched = {0};
    if (b64 && !bytes)
        jn_err_set(err, JN_EINVAL, "model '%s': the state record's onnx_base64 is malformed at %zu", name, bad);
    else
        e = m->load(m->load_arg, name, *version ? version : NULL, bytes, n, &sched.config, err);
    free(bytes);
    json_decref(o);
    if (!e)
        return err && err->code ? err->code : JN_EINVAL;
    return jn_registry_put(m->reg, e, &sched, may_replace_loaded, (void *)m->platform, NULL, err);
}

int jn_model_records_load(const jn_model_records *m, jn_control *control, const char *name, const char *version,
                          const uint8_t *bytes, size_t n, bool *replaced, jn_err *err)
{
    if (!m || !m->load)
        return jn_err_set(err, JN_EUNIMPL, "this server loads no model files");
    jn_err_clear(err);
    jn_engine *e = NULL;
    jn_model_sched sched = {0};
    if (control->commit && n > JN_MODEL_RECORD_MAX_BYTES) /* refused before any loading */
        model_record("", bytes, n, err);
    else if (!model_name_ok(name))
        jn_err_set(err, JN_EINVAL, "name '%s' is not a model name (letters, digits, '-', '_', '.')",
                   name ? name : "");
    else
        e = m->load(m->load_arg, name, version && version[0] ? version : NULL, n ? bytes : NULL, n, &sched.config,
                    err);
    if (!e) {
        if (!err->code)
            jn_err_set(err, JN_EINTERNAL, "the model loader failed without saying why");
        return err->code;
    }
    /* Durable before it is acknowledged: the bytes (or, from the repository, just the version) as a state record. */
    int rc = 0;
    char *record = NULL;
    if (control->commit) {
        record = model_record(version ? version : "", n ? bytes : NULL, n, err);
        if (!record)
            rc = err->code ? err->code : JN_ENOMEM;
    }
    load_change change = {m->reg, m->platform, e, sched, false};
    if (!rc)
        rc = jn_control_commit(control, JN_STATE_KIND_MODEL, e->name, record, apply_load, &change, err);
    free(record);
    if (rc && !err->code)
        jn_err_set(err, rc, "%s", jn_strerror(rc));
    if (!rc && replaced)
        *replaced = change.replaced;
    jn_engine_unref(e);
    return rc;
}

int jn_model_records_load_repository(const jn_model_records *m, jn_control *control, const char *name, bool *replaced,
                                     jn_err *err)
{
    if (!m || !m->load)
        return jn_err_set(err, JN_EUNIMPL, "this server loads no model files");
    jn_err_clear(err);
    if (!model_name_ok(name))
        return jn_err_set(err, JN_EINVAL, "name '%s' is not a model name (letters, digits, '-', '_', '.')",
                          name ? name : "");
    char **versions = NULL;
    long n = m->versions ? m->versions(m->load_arg, name, &versions, err) : 0;
    if (n < 0)
        return (int)n;
    if (n == 0) /* one model file: LoadModel's path */
        return jn_model_records_load(m, control, name, NULL, NULL, 0, replaced, err);
    versions_change vc = {m->reg, m->platform, NULL, NULL, 0, false};
    int rc = load_versions(m, name, versions, (size_t)n, &vc, err);
    char *record = NULL;
    if (!rc && control->commit) { /* {"version": "", "versions": [...]}: loaded again from the repository */
        json_t *list = json_array();
        for (long i = 0; list && i < n; i++)
            json_array_append_new(list, json_string(versions[i]));
        json_t *o = list ? json_pack("{s:s, s:o}", "version", "", "versions", list) : NULL;
        record = o ? json_dumps(o, JSON_COMPACT) : NULL;
        json_decref(o);
        if (!record)
            rc = jn_err_set(err, JN_ENOMEM, "out of memory");
    }
    if (!rc)
        rc = jn_control_commit(control, JN_STATE_KIND_MODEL, name, record, apply_versions, &vc, err);
    if (rc && !err->code)
        jn_err_set(err, rc, "%s", jn_strerror(rc));
    if (!rc && replaced)
        *replaced = vc.replaced;
    free(record);
    versions_change_clear(&vc);
    for (long i = 0; i < n; i++)
        free(versions[i]);
    free(versions);
    return rc;
}

void jn_repo_items_free(jn_repo_item *items, long n)
{
    for (long i = 0; i < n; i++) {
        free(items[i].name);
        free(items[i].version);
    }
    free(items);
}

void jn_repo_states_free(jn_repo_state *states, long n)
{
    for (long i = 0; i < n; i++) {
        free(states[i].name);
        free(states[i].version);
    }
    free(states);
}

long jn_model_records_index(const jn_model_records *m, bool ready_only, jn_repo_state **out, jn_err *err)
{
    *out = NULL;
    if (!m || !m->index)
        return jn_err_set(err, JN_EUNIMPL, "this server has no model repository (serve --models DIR)");
    jn_repo_item *items = NULL;
    long n = m->index(m->load_arg, &items, err);
    if (n < 0)
        return n;
    jn_repo_state *st = calloc(n ? (size_t)n : 1, sizeof *st);
    if (!st) {
        jn_repo_items_free(items, n);
        return jn_err_set(err, JN_ENOMEM, "out of memory");
    }
    long k = 0;
    for (long i = 0; i < n; i++) {
        jn_err lookup;
        jn_err_clear(&lookup);
        jn_model *e = jn_registry_resolve(m->reg, items[i].name, items[i].version, &lookup);
        bool loaded = e && (!m->platform || (e->engine->vt->platform && strcmp(e->engine->vt->platform, m->platform) == 0));
        bool ready = loaded && atomic_load(&e->engine->ready);
        jn_model_unref(e);
        if (ready_only && !ready)
            continue;
        st[k].name = items[i].name;
        st[k].version = items[i].version;
        items[i].name = items[i].version = NULL;
        st[k].state = ready ? "READY" : "UNAVAILABLE";
        st[k].reason = ready ? "" : loaded ? "not ready" : "unloaded";
        k++;
    }
    jn_repo_items_free(items, n);
    *out = st;
    return k;
}

int jn_model_records_unload(const jn_model_records *m, jn_control *control, const char *name, jn_err *err)
{
    if (!m || !m->load)
        return jn_err_set(err, JN_EUNIMPL, "this server loads no model files");
    jn_err_clear(err);
    if (!name || !name[0])
        return jn_err_set(err, JN_EINVAL, "name is empty");
    unload_change change = {m->reg, m->platform, name};
    int rc = jn_control_commit(control, JN_STATE_KIND_MODEL, name, NULL, apply_unload, &change, err);
    if (rc && !err->code)
        jn_err_set(err, rc, "%s", jn_strerror(rc));
    return rc;
}
