/* rest_admin.c — the model and pipeline endpoints of the REST front end, in the JSON forms of junction.v1
 * (ModelInfo as `junction models --json` prints it, PipelineSpec as pipeline files are written).
 *
 *   GET    /v1/models            {"models": [ModelInfo, ...]} sorted by name
 *   GET    /v1/models/{name}     ModelInfo
 *   GET    /v1/pipelines         {"pipelines": [spec, ...]}
 *   GET    /v1/pipelines/{name}  the spec, as PUT takes it
 *   PUT    /v1/pipelines/{name}  body = spec (its "name" must be the path's) -> {"name", "replaced", "plan"};
 *                                201 when created, 200 when it replaced one
 *   DELETE /v1/pipelines/{name}  {"name", "deleted": true}
 *
 * Errors keep the codes the Admin service gives (a spec naming an unknown model is NOT_FOUND -> 404, replacing an
 * engine that is not a pipeline is ALREADY_EXISTS -> 409) and the same messages. No authentication yet, as for the
 * Admin service: the hardening issue adds the admin token (checked by the router before the body is parsed).
 */
#include <stdlib.h>
#include <string.h>

#include "pipeline.h"
#include "rest.h"

static json_t *shape_json(int ndim, const int64_t *shape)
{
    json_t *a = json_array();
    for (int k = 0; a && k < ndim; k++)
        if (json_array_append_new(a, json_integer(shape[k]))) {
            json_decref(a);
            return NULL;
        }
    return a;
}

static json_t *port_json(const jn_port *p)
{
    json_t *o = json_pack("{s:o, s:s, s:s, s:o}", "name", jn__json_text(p->name), "kind", jn_kind_name(p->kind),
                          "datatype", jn_dtype_name(p->dtype), "shape", shape_json(p->ndim, p->shape));
    if (o && p->n_labels) {
        json_t *labels = json_array();
        for (size_t k = 0; labels && k < p->n_labels; k++)
            if (json_array_append_new(labels, jn__json_text(p->labels[k]))) {
                json_decref(labels);
                labels = NULL;
            }
        if (json_object_set_new(o, "labels", labels)) {
            json_decref(o);
            return NULL;
        }
    }
    if (o && p->description && json_object_set_new(o, "description", jn__json_text(p->description))) {
        json_decref(o);
        return NULL;
    }
    /* issue #17: an AUDIO_TENSOR port's rate, an input callers may leave out */
    if (o && ((p->sample_rate && json_object_set_new(o, "sample_rate", json_integer(p->sample_rate))) ||
              (p->default_value && json_object_set_new(o, "has_default", json_true())))) {
        json_decref(o);
        return NULL;
    }
    return o;
}

static json_t *ports_json(const jn_port *ports, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; a && i < n; i++)
        if (json_array_append_new(a, port_json(&ports[i]))) {
            json_decref(a);
            return NULL;
        }
    return a;
}

json_t *jn_rest_model_info(const jn_engine *e)
{
    return json_pack("{s:o, s:[o], s:s, s:s, s:b, s:o, s:{s:o, s:o}}", "name", jn__json_text(e->name), "versions",
                     jn__json_text(e->version), "type", e->vt->model_type ? e->vt->model_type : "engine",
                     "platform", e->vt->platform ? e->vt->platform : "", "ready", atomic_load(&e->ready) != 0,
                     "description", jn__json_text(e->description ? e->description : ""), "signature", "inputs",
                     ports_json(e->sig.inputs, e->sig.n_inputs), "outputs",
                     ports_json(e->sig.outputs, e->sig.n_outputs));
}

static void reply_oom(jn_rest_reply *reply)
{
    jn_rest_reply_error(reply, 500, "out of memory");
}

void jn_rest_list_models(jn_registry *reg, jn_rest_reply *reply)
{
    jn_engine **engines;
    long n = jn_registry_list(reg, &engines);
    if (n < 0) {
        reply_oom(reply);
        return;
    }
    json_t *list = json_array();
    for (long i = 0; list && i < n; i++)
        if (json_array_append_new(list, jn_rest_model_info(engines[i]))) {
            json_decref(list);
            list = NULL;
        }
    jn_registry_list_free(engines, n);
    jn_rest_reply_json(reply, 200, list ? json_pack("{s:o}", "models", list) : NULL, 0);
}

/* A pipeline's spec as a JSON value (through the text form pipeline/json.c writes). */
static json_t *spec_value(const jn_engine *e)
{
    char *text = jn_pipeline_spec_to_json(jn_pipeline_spec_of(e), false);
    json_t *v = text ? json_loads(text, 0, NULL) : NULL;
    free(text);
    return v;
}

void jn_rest_list_pipelines(jn_registry *reg, jn_rest_reply *reply)
{
    jn_engine **engines;
    long n = jn_registry_list(reg, &engines);
    if (n < 0) {
        reply_oom(reply);
        return;
    }
    json_t *list = json_array();
    for (long i = 0; list && i < n; i++) {
        if (!jn_engine_is_pipeline(engines[i]))
            continue;
        if (json_array_append_new(list, spec_value(engines[i]))) {
            json_decref(list);
            list = NULL;
        }
    }
    jn_registry_list_free(engines, n);
    jn_rest_reply_json(reply, 200, list ? json_pack("{s:o}", "pipelines", list) : NULL, 0);
}

void jn_rest_get_pipeline(jn_registry *reg, const char *name, jn_rest_reply *reply)
{
    jn_err err;
    jn_err_clear(&err);
    jn_engine *e = jn_registry_get(reg, name, NULL, &err);
    if (!e) {
        jn_rest_reply_err(reply, &err);
        return;
    }
    if (!jn_engine_is_pipeline(e)) {
        jn_err_set(&err, JN_ENOTFOUND, "'%s' is a model, not a pipeline", name);
        jn_rest_reply_err(reply, &err);
    } else {
        jn_rest_reply_json(reply, 200, spec_value(e), 0);
    }
    jn_engine_unref(e);
}

void jn_rest_put_pipeline(jn_control *control, const char *name, const uint8_t *body, size_t len,
                          jn_rest_reply *reply)
{
    jn_err err;
    jn_err_clear(&err);
    jn_pipeline_spec spec;
    int rc = jn_pipeline_spec_from_json((const char *)body, len, &spec, &err);
    if (rc) {
        if (!err.code)
            jn_err_set(&err, rc, "%s", jn_strerror(rc));
    } else if (strcmp(spec.name, name) != 0) {
        rc = jn_err_set(&err, JN_EINVAL, "the path names pipeline '%s' but the spec's name is '%s'", name, spec.name);
    }
    jn_put_result put;
    if (!rc)
        rc = jn_control_put_pipeline(control, &spec, &put, &err);
    jn_pipeline_spec_free(&spec);
    if (rc) {
        if (!err.code)
            jn_err_set(&err, rc, "%s", jn_strerror(rc));
        jn_rest_reply_err(reply, &err);
        return;
    }
    jn_rest_reply_json(reply, put.replaced ? 200 : 201,
                       json_pack("{s:o, s:b, s:o}", "name", jn__json_text(name), "replaced", put.replaced, "plan",
                                 jn__json_text(put.plan)),
                       0);
    free(put.plan);
}

void jn_rest_delete_pipeline(jn_control *control, const char *name, jn_rest_reply *reply)
{
    jn_err err;
    jn_err_clear(&err);
    int rc = jn_control_delete_pipeline(control, name, &err);
    if (rc) {
        if (!err.code)
            jn_err_set(&err, rc, "pipeline '%s': %s", name, jn_strerror(rc));
        jn_rest_reply_err(reply, &err);
        return;
    }
    jn_rest_reply_json(reply, 200, json_pack("{s:o, s:b}", "name", jn__json_text(name), "deleted", 1), 0);
}
