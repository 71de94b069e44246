/* pipeline/spec.c — the plain-data pipeline spec and its builders. */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "pipeline.h"

void jn_pipeline_spec_init(jn_pipeline_spec *spec)
{
    memset(spec, 0, sizeof *spec);
    jn_signature_init(&spec->inputs);
}

void jn_pipeline_spec_free(jn_pipeline_spec *spec)
{
    free(spec->name);
    free(spec->description);
    jn_signature_free(&spec->inputs);
    for (size_t i = 0; i < spec->n_steps; i++) {
        jn_step_spec *s = &spec->steps[i];
        free(s->id);
        free(s->model);
        free(s->version);
        free(s->when);
        free(s->route);
        free(s->params);
        for (size_t k = 0; k < s->n_inputs; k++) {
            free(s->inputs[k].port);
            free(s->inputs[k].from);
        }
        free(s->inputs);
    }
    free(spec->steps);
    for (size_t i = 0; i < spec->n_outputs; i++) {
        free(spec->outputs[i].name);
        free(spec->outputs[i].from);
        for (size_t k = 0; k < spec->outputs[i].n_more_from; k++)
            free(spec->outputs[i].more_from[k]);
        free(spec->outputs[i].more_from);
    }
    free(spec->outputs);
    for (size_t i = 0; i < spec->n_models; i++) {
        free(spec->models[i].key);
        free(spec->models[i].json);
    }
    free(spec->models);
    jn_pipeline_spec_init(spec);
}

static char *dup_or_empty(const char *s)
{
    return strdup(s ? s : "");
}

int jn_pipeline_spec_set_name(jn_pipeline_spec *spec, const char *name, const char *description)
{
    char *n = dup_or_empty(name);
    char *d = description ? strdup(description) : NULL;
    if (!n || (description && !d)) {
        free(n);
        free(d);
        return JN_ENOMEM;
    }
    free(spec->name);
    free(spec->description);
    spec->name = n;
    spec->description = d;
    return 0;
}

jn_step_spec *jn_pipeline_spec_add_step(jn_pipeline_spec *spec, const char *id, const char *model,
                                        const char *version)
{
    jn_step_spec *grown = realloc(spec->steps, (spec->n_steps + 1) * sizeof *grown);
    if (!grown)
        return NULL;
    spec->steps = grown;
    jn_step_spec *s = &grown[spec->n_steps];
    memset(s, 0, sizeof *s);
    s->id = dup_or_empty(id);
    s->model = dup_or_empty(model);
    s->version = dup_or_empty(version);
    if (!s->id || !s->model || !s->version) {
        free(s->id);
        free(s->model);
        free(s->version);
        return NULL;
    }
    spec->n_steps++;
    return s;
}

jn_binding *jn_step_spec_bind(jn_step_spec *step, const char *port, const char *from)
{
    jn_binding *grown = realloc(step->inputs, (step->n_inputs + 1) * sizeof *grown);
    if (!grown)
        return NULL;
    step->inputs = grown;
    jn_binding *b = &grown[step->n_inputs];
    memset(b, 0, sizeof *b);
    b->port = dup_or_empty(port);
    b->from = dup_or_empty(from);
    b->cast = JN_DTYPE_INVALID;
    b->scale = 1.0;
    if (!b->port || !b->from) {
        free(b->port);
        free(b->from);
        return NULL;
    }
    step->n_inputs++;
    return b;
}

int jn_pipeline_spec_add_output(jn_pipeline_spec *spec, const char *name, const char *from)
{
    jn_output_spec *grown = realloc(spec->outputs, (spec->n_outputs + 1) * sizeof *grown);
    if (!grown)
        return JN_ENOMEM;
    spec->outputs = grown;
    jn_output_spec *o = &grown[spec->n_outputs];
    memset(o, 0, sizeof *o);
    o->name = dup_or_empty(name);
    o->from = dup_or_empty(from);
    if (!o->name || !o->from) {
        free(o->name);
        free(o->from);
        return JN_ENOMEM;
    }
    spec->n_outputs++;
    return 0;
}

int jn_pipeline_spec_add_serving(jn_pipeline_spec *spec, const char *key, const char *json)
{
    jn_step_serving *n = realloc(spec->models, (spec->n_models + 1) * sizeof *n);
    if (!n)
        return JN_ENOMEM;
    spec->models = n;
    jn_step_serving *m = &n[spec->n_models];
    m->key = strdup(key);
    m->json = strdup(json);
    if (!m->key || !m->json) {
        free(m->key);
        free(m->json);
        return JN_ENOMEM;
    }
    spec->n_models++;
    return 0;
}

int jn_step_spec_set_when(jn_step_spec *step, const char *json)
{
    char *w = json ? strdup(json) : NULL;
    if (json && !w)
        return JN_ENOMEM;
    free(step->when);
    step->when = w;
    return 0;
}

int jn_step_spec_set_route(jn_step_spec *step, const char *json)
{
    char *w = json ? strdup(json) : NULL;
    if (json && !w)
        return JN_ENOMEM;
    free(step->route);
    step->route = w;
    return 0;
}

int jn_step_spec_set_params(jn_step_spec *step, const char *json)
{
    char *w = json ? strdup(json) : NULL;
    if (json && !w)
        return JN_ENOMEM;
    free(step->params);
    step->params = w;
    return 0;
}

int jn_step_params_parse(const char *json, const char *what, jn_params *params, jn_err *err)
{
    json_error_t je;
    json_t *o = json_loads(json, JSON_REJECT_DUPLICATES, &je);
    if (!o || !json_is_object(o)) {
        json_decref(o);
        return jn_err_set(err, JN_EINVAL, "%s: parameters must be a JSON object", what);
    }
    const char *key;
    json_t *v;
    int rc = 0;
    json_object_foreach(o, key, v) {
        if (json_is_string(v))
            rc = jn_params_set_string(params, key, json_string_value(v));
        else if (json_is_integer(v))
            rc = jn_params_set_int(params, key, json_integer_value(v));
        else if (json_is_real(v))
            rc = jn_params_set_double(params, key, json_real_value(v));
        else if (json_is_boolean(v))
            rc = jn_params_set_bool(params, key, json_is_true(v));
        else
            rc = jn_err_set(err, JN_EINVAL, "%s: parameter '%s' must be a string, a number or a boolean", what, key);
        if (rc) {
            if (rc == JN_ENOMEM)
                jn_err_set(err, JN_ENOMEM, "out of memory");
            break;
        }
    }
    json_decref(o);
    return rc;
}

int jn_pipeline_spec_add_output_source(jn_pipeline_spec *spec, const char *from)
{
    if (!spec->n_outputs)
        return JN_EINVAL;
    jn_output_spec *o = &spec->outputs[spec->n_outputs - 1];
    char **grown = realloc(o->more_from, (o->n_more_from + 1) * sizeof *grown);
    if (!grown)
        return JN_ENOMEM;
    o->more_from = grown;
    if (!(grown[o->n_more_from] = dup_or_empty(from)))
        return JN_ENOMEM;
    o->n_more_from++;
    return 0;
}
