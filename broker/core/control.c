/* control.c — run-time changes, persisted then applied (see control.h). */
#include "control.h"

#include <stdlib.h>
#include <string.h>

typedef struct put_change {
    jn_registry *reg;
    jn_engine *engine; /* the compiled pipeline; the caller keeps its reference */
    bool replaced;
} put_change;

static int apply_put(void *arg, jn_err *err)
{
    put_change *c = arg;
    return jn_pipeline_register(c->reg, jn_engine_ref(c->engine), &c->replaced, err);
}

int jn_control_put_pipeline(jn_control *c, const jn_pipeline_spec *spec, jn_put_result *result, jn_err *err)
{
    result->replaced = false;
    result->plan = NULL;
    jn_engine *e = jn_pipeline_compile(spec, c->reg, err);
    if (!e)
        return err && err->code ? err->code : jn_err_set(err, JN_EINTERNAL, "the pipeline compiler failed");
    /* Everything that can fail before the change is made: once registered, nothing is left to fail. */
    char *plan = jn_pipeline_plan_text(e);
    char *json = c->commit ? jn_pipeline_spec_to_json(spec, false) : NULL;
    if (!plan || (c->commit && !json)) {
        free(plan);
        free(json);
        jn_engine_unref(e);
        return jn_err_set(err, JN_ENOMEM, "out of memory");
    }
    put_change change = {c->reg, e, false};
    int rc = c->commit ? c->commit(c->store, JN_STATE_KIND_PIPELINE, spec->name, json, apply_put, &change, err)
                       : apply_put(&change, err);
    free(json);
    jn_engine_unref(e);
    if (rc) {
        free(plan);
        return rc;
    }
    result->replaced = change.replaced;
    result->plan = plan;
    return 0;
}

typedef struct delete_change {
    jn_registry *reg;
    const char *name;
} delete_change;

static int apply_delete(void *arg, jn_err *err)
{
    delete_change *c = arg;
    int rc = jn_pipeline_unregister(c->reg, c->name, err);
    if (rc && err && !err->code)
        jn_err_set(err, rc, "pipeline '%s': %s", c->name, jn_strerror(rc));
    return rc;
}

int jn_control_delete_pipeline(jn_control *c, const char *name, jn_err *err)
{
    if (!name || !*name)
        return jn_err_set(err, JN_EINVAL, "name is empty");
    delete_change change = {c->reg, name};
    if (!c->commit)
        return apply_delete(&change, err);
    return c->commit(c->store, JN_STATE_KIND_PIPELINE, name, NULL, apply_delete, &change, err);
}

int jn_control_state_commit(void *state, const char *kind, const char *name, const char *value_json,
                            jn_state_apply_fn apply, void *arg, jn_err *err)
{
    return jn_state_commit(state, kind, name, value_json, apply, arg, err);
}

int jn_control_add_kind(jn_control *c, const char *kind, jn_record_apply_fn apply, void *arg)
{
    if (c->n_kinds == JN_CONTROL_MAX_KINDS)
        return JN_ERESOURCE;
    c->kinds[c->n_kinds++] = (jn_record_kind){kind, apply, arg};
    return 0;
}

int jn_control_commit(jn_control *c, const char *kind, const char *name, const char *value_json,
                      jn_state_apply_fn apply, void *arg, jn_err *err)
{
    if (!c->commit)
        return apply ? apply(arg, err) : 0;
    return c->commit(c->store, kind, name, value_json, apply, arg, err);
}

int jn_control_apply_record(const jn_control *c, const char *kind, const char *name, const char *value_json,
                            jn_err *err)
{
    jn_registry *reg = c->reg;
    if (strcmp(kind, JN_STATE_KIND_PIPELINE) != 0) {
        for (size_t i = 0; i < c->n_kinds; i++)
            if (strcmp(c->kinds[i].kind, kind) == 0)
                return c->kinds[i].apply(c->kinds[i].arg, name, value_json, err);
        return jn_err_set(err, JN_EUNIMPL, "record kind '%s' is not known to this junction", kind);
    }
    if (!value_json) {
        int rc = jn_pipeline_unregister(reg, name, err);
        return rc == JN_ENOTFOUND ? 0 : rc; /* already gone */
    }
    jn_pipeline_spec spec;
    int rc = jn_pipeline_spec_from_json(value_json, strlen(value_json), &spec, err);
    if (!rc && strcmp(spec.name, name) != 0)
        rc = jn_err_set(err, JN_EINVAL, "record '%s' holds pipeline '%s'", name, spec.name);
    jn_engine *e = rc ? NULL : jn_pipeline_compile(&spec, reg, err);
    jn_pipeline_spec_free(&spec);
    if (!e)
        return err->code ? err->code : JN_EINVAL;
    return jn_pipeline_register(reg, e, NULL, err);
}

size_t jn_control_restore(const jn_control *c, jn_state *state, FILE *report)
{
    size_t n = state ? jn_state_count(state) : 0;
    if (n == 0)
        return 0;
    bool *done = calloc(n, sizeof *done);
    jn_err *last = calloc(n, sizeof *last);
    if (!done || !last) {
        free(done);
        free(last);
        if (report)
            fprintf(report, "junction: state: out of memory restoring %zu records\n", n);
        return n;
    }
    /* Passes until one restores nothing more: a pipeline that uses one put after it succeeds on a later pass. */
    size_t left = n;
    for (bool progress = true; progress && left;) {
        progress = false;
        for (size_t i = 0; i < n; i++) {
            if (done[i])
                continue;
            const char *kind, *name, *value;
            jn_state_record(state, i, &kind, &name, &value);
            jn_err_clear(&last[i]);
            if (jn_control_apply_record(c, kind, name, value, &last[i]) == 0) {
                done[i] = true;
                left--;
                progress = true;
            }
        }
    }
    for (size_t i = 0; i < n && report; i++) {
        if (done[i])
            continue;
        const char *kind, *name, *value;
        jn_state_record(state, i, &kind, &name, &value);
        fprintf(report, "junction: state: %s '%s' not restored (kept in the state directory): %s\n", kind, name,
                last[i].msg);
    }
    free(done);
    free(last);
    return left;
}
