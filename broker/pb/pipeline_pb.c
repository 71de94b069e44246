/* pipeline_pb.c — junction.v1.PipelineSpec <-> jn_pipeline_spec. */
#include "pipeline_pb.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "junction/v1/contract.pb-c.h"

/* jn_dtype and jn_kind carry the contract's enum values (DECISIONS.md), so conversion is a range check. */
_Static_assert((int)JN_DTYPE_COUNT == (int)JUNCTION__V1__DATA_TYPE__BYTES + 1 &&
                   (int)JN_DTYPE_FP32 == (int)JUNCTION__V1__DATA_TYPE__FP32,
               "jn_dtype must follow junction.v1.DataType");
_Static_assert((int)JN_KIND_COUNT == (int)JUNCTION__V1__KIND__AUDIO_TENSOR + 1 &&
                   (int)JN_KIND_TEXT == (int)JUNCTION__V1__KIND__TEXT,
               "jn_kind must follow junction.v1.Kind");

/* ---- message -> spec ---- */

static int port_from_pb(const Junction__V1__Port *p, const char *field, size_t i, jn_pipeline_spec *spec,
                        jn_err *err)
{
    if (!p->name || !*p->name)
        return jn_err_set(err, JN_EINVAL, "%s.inputs[%zu].name is empty", field, i);
    int kind = (int)p->kind, dtype = (int)p->datatype;
    if (kind == JN_KIND_INVALID)
        return jn_err_set(err, JN_EINVAL, "%s.inputs[%zu].kind is not set (input '%s')", field, i, p->name);
    if (kind < 0 || kind >= JN_KIND_COUNT)
        return jn_err_set(err, JN_EINVAL, "%s.inputs[%zu].kind: unknown value %d (input '%s')", field, i, kind,
                          p->name);
    if (dtype == JN_DTYPE_INVALID)
        return jn_err_set(err, JN_EINVAL, "%s.inputs[%zu].datatype is not set (input '%s')", field, i, p->name);
    if (dtype < 0 || dtype >= JN_DTYPE_COUNT)
        return jn_err_set(err, JN_EINVAL, "%s.inputs[%zu].datatype: unknown value %d (input '%s')", field, i,
                          dtype, p->name);
    if (p->n_shape > JN_MAX_DIMS)
        return jn_err_set(err, JN_EINVAL, "%s.inputs[%zu].shape has %zu dimensions, at most %d (input '%s')", field,
                          i, p->n_shape, JN_MAX_DIMS, p->name);
    int rc = jn_signature_add_input(&spec->inputs, p->name, (jn_kind)kind, (jn_dtype)dtype, (int)p->n_shape,
                                    p->shape, err);
    if (rc) {
        if (rc == JN_ENOMEM)
            return rc;
        /* A duplicate name is a malformed spec here, not an ALREADY_EXISTS. */
        if (err)
            err->code = JN_EINVAL;
        jn_err_prefix(err, "%s.inputs[%zu]", field, i);
        return JN_EINVAL;
    }
    jn_port *port = &spec->inputs.inputs[spec->inputs.n_inputs - 1];
    for (size_t k = 0; k < p->n_labels; k++)
        if (!p->labels[k] || !*p->labels[k])
            return jn_err_set(err, JN_EINVAL, "%s.inputs[%zu].labels[%zu] is empty (input '%s')", field, i, k,
                              p->name);
    if (p->n_labels && (rc = jn_port_set_labels(port, (const char *const *)p->labels, p->n_labels, err)))
        return rc;
    if (p->description && *p->description && !(port->description = strdup(p->description)))
        return jn_err_set(err, JN_ENOMEM, "out of memory");
    return 0;
}

static int binding_from_pb(const Junction__V1__PipelineStep__InputsEntry *e, const char *field, size_t i,
                           jn_step_spec *step, jn_err *err)
{
    const char *port = e->key;
    if (!port || !*port)
        return jn_err_set(err, JN_EINVAL, "%s.steps[%zu].inputs: an entry has an empty input name (step '%s')",
                          field, i, step->id);
    const Junction__V1__Binding *b = e->value;
    if (!b || !b->from || !*b->from)
        return jn_err_set(err, JN_EINVAL, "%s.steps[%zu].inputs['%s'].from is empty", field, i, port);
    int cast = (int)b->cast;
    if (cast < 0 || cast >= JN_DTYPE_COUNT)
        return jn_err_set(err, JN_EINVAL, "%s.steps[%zu].inputs['%s'].cast: unknown value %d", field, i, port,
                          cast);
    if (!isfinite(b->scale))
        return jn_err_set(err, JN_EINVAL, "%s.steps[%zu].inputs['%s'].scale is not a finite number", field, i,
                          port);
    if (!isfinite(b->offset))
        return jn_err_set(err, JN_EINVAL, "%s.steps[%zu].inputs['%s'].offset is not a finite number", field, i,
                          port);
    /* A map: a key given twice on the wire keeps its last value (protobuf's rule for maps). */
    jn_binding *dst = NULL;
    for (size_t k = 0; k < step->n_inputs; k++)
        if (strcmp(step->inputs[k].port, port) == 0)
            dst = &step->inputs[k];
    if (dst) {
        char *from = strdup(b->from);
        if (!from)
            return jn_err_set(err, JN_ENOMEM, "out of memory");
        free(dst->from);
        dst->from = from;
    } else if (!(dst = jn_step_spec_bind(step, port, b->from))) {
        return jn_err_set(err, JN_ENOMEM, "out of memory");
    }
    dst->cast = (jn_dtype)cast; /* DATA_TYPE_UNSPECIFIED = JN_DTYPE_INVALID = no cast declared */
    /* scale 0 = no scaling declared (the builder's default scale 1.0 stays). */
    dst->has_scale = b->scale != 0.0;
    dst->scale = dst->has_scale ? b->scale : 1.0;
    dst->offset = b->offset;
    return 0;
}

static int step_from_pb(const Junction__V1__PipelineStep *s, const char *field, size_t i, jn_pipeline_spec *spec,
                        jn_err *err)
{
    if (!s->id || !*s->id)
        return jn_err_set(err, JN_EINVAL, "%s.steps[%zu].id is empty", field, i);
    bool routed = s->route_json && *s->route_json;
    if ((!s->model || !*s->model) && !routed)
        return jn_err_set(err, JN_EINVAL, "%s.steps[%zu].model is empty (step '%s')", field, i, s->id);
    jn_step_spec *step = jn_pipeline_spec_add_step(spec, s->id, s->model, s->version);
    if (!step)
        return jn_err_set(err, JN_ENOMEM, "out of memory");
    char what[200];
    int rc = 0;
    if (routed) {
        snprintf(what, sizeof what, "%s.steps[%zu].route_json", field, i);
        if (s->version && *s->version)
            return jn_err_set(err, JN_EINVAL, "%s: 'version' goes with 'model', not with a route", what);
        rc = jn_step_spec_route_from_text(step, s->route_json, what, err);
    }
    if (!rc && s->when_json && *s->when_json) {
        snprintf(what, sizeof what, "%s.steps[%zu].when_json", field, i);
        rc = jn_step_spec_when_from_text(step, s->when_json, what, err);
    }
    if (!rc && s->parameters_json && *s->parameters_json) {
        snprintf(what, sizeof what, "%s.steps[%zu].parameters_json", field, i);
        rc = jn_step_spec_params_from_text(step, s->parameters_json, what, err);
    }
    if (rc)
        return rc;
    for (size_t k = 0; k < s->n_inputs && !rc; k++)
        rc = binding_from_pb(s->inputs[k], field, i, step, err);
    return rc;
}

static int spec_from_pb(const Junction__V1__PipelineSpec *msg, const char *field, jn_pipeline_spec *spec,
                        jn_err *err)
{
    if (!msg->name || !*msg->name)
        return jn_err_set(err, JN_EINVAL, "%s.name is empty", field);
    const char *desc = msg->description && *msg->description ? msg->description : NULL;
    if (jn_pipeline_spec_set_name(spec, msg->name, desc))
        return jn_err_set(err, JN_ENOMEM, "out of memory");
    for (size_t i = 0; i < msg->n_inputs; i++) {
        int rc = port_from_pb(msg->inputs[i], field, i, spec, err);
        if (rc)
            return rc;
    }
    for (size_t i = 0; i < msg->n_steps; i++) {
        int rc = step_from_pb(msg->steps[i], field, i, spec, err);
        if (rc)
            return rc;
    }
    for (size_t i = 0; i < msg->n_outputs; i++) {
        const Junction__V1__PipelineOutput *o = msg->outputs[i];
        if (!o->name || !*o->name)
            return jn_err_set(err, JN_EINVAL, "%s.outputs[%zu].name is empty", field, i);
        if (!o->from || !*o->from)
            return jn_err_set(err, JN_EINVAL, "%s.outputs[%zu].from is empty (output '%s')", field, i, o->name);
        if (jn_pipeline_spec_add_output(spec, o->name, o->from))
            return jn_err_set(err, JN_ENOMEM, "out of memory");
        for (size_t k = 0; k < o->n_more_from; k++) {
            if (!o->more_from[k] || !*o->more_from[k])
                return jn_err_set(err, JN_EINVAL, "%s.outputs[%zu].more_from[%zu] is empty (output '%s')", field, i, k,
                                  o->name);
            if (jn_pipeline_spec_add_output_source(spec, o->more_from[k]))
                return jn_err_set(err, JN_ENOMEM, "out of memory");
        }
        spec->outputs[spec->n_outputs - 1].optional = o->optional;
    }
    return 0;
}

int jn_pipeline_spec_from_pb(const Junction__V1__PipelineSpec *msg, const char *field, jn_pipeline_spec *spec,
                             jn_err *err)
{
    jn_pipeline_spec_init(spec);
    jn_err_clear(err);
    int rc = spec_from_pb(msg, field ? field : "spec", spec, err);
    if (rc)
        jn_pipeline_spec_free(spec);
    return rc;
}

/* ---- spec -> message ---- */

static char *str(const char *s)
{
    return (char *)(s ? s : "");
}

void jn_pipeline_spec_pb_free(Junction__V1__PipelineSpec *msg)
{
    if (!msg)
        return;
    for (size_t i = 0; msg->inputs && i < msg->n_inputs; i++)
        free(msg->inputs[i]);
    free(msg->inputs);
    for (size_t i = 0; msg->steps && i < msg->n_steps; i++) {
        Junction__V1__PipelineStep *s = msg->steps[i];
        if (!s)
            continue;
        for (size_t k = 0; s->inputs && k < s->n_inputs; k++) {
            if (s->inputs[k])
                free(s->inputs[k]->value);
            free(s->inputs[k]);
        }
        free(s->inputs);
        free(s);
    }
    free(msg->steps);
    for (size_t i = 0; msg->outputs && i < msg->n_outputs; i++)
        free(msg->outputs[i]);
    free(msg->outputs);
    free(msg);
}

static int step_to_pb(const jn_step_spec *src, Junction__V1__PipelineStep **out)
{
    Junction__V1__PipelineStep *s = *out = malloc(sizeof *s);
    if (!s)
        return JN_ENOMEM;
    junction__v1__pipeline_step__init(s);
    s->id = str(src->id);
    s->model = str(src->model);
    s->version = str(src->version);
    s->when_json = str(src->when);
    s->route_json = str(src->route);
    s->parameters_json = str(src->params);
    s->inputs = calloc(src->n_inputs ? src->n_inputs : 1, sizeof *s->inputs);
    if (!s->inputs)
        return JN_ENOMEM;
    s->n_inputs = src->n_inputs;
    for (size_t k = 0; k < src->n_inputs; k++) {
        const jn_binding *b = &src->inputs[k];
        Junction__V1__PipelineStep__InputsEntry *e = s->inputs[k] = malloc(sizeof *e);
        if (!e)
            return JN_ENOMEM;
        junction__v1__pipeline_step__inputs_entry__init(e);
        if (!(e->value = malloc(sizeof *e->value)))
            return JN_ENOMEM;
        junction__v1__binding__init(e->value);
        e->key = str(b->port);
        e->value->from = str(b->from);
        e->value->cast = (Junction__V1__DataType)b->cast;
        e->value->scale = b->has_scale ? b->scale : 0.0;
        e->value->offset = b->offset;
    }
    return 0;
}

static int spec_to_pb(const jn_pipeline_spec *spec, Junction__V1__PipelineSpec *msg)
{
    msg->name = str(spec->name);
    msg->description = str(spec->description);
    const jn_signature *sig = &spec->inputs;
    msg->inputs = calloc(sig->n_inputs ? sig->n_inputs : 1, sizeof *msg->inputs);
    msg->steps = calloc(spec->n_steps ? spec->n_steps : 1, sizeof *msg->steps);
    msg->outputs = calloc(spec->n_outputs ? spec->n_outputs : 1, sizeof *msg->outputs);
    if (!msg->inputs || !msg->steps || !msg->outputs)
        return JN_ENOMEM;
    msg->n_inputs = sig->n_inputs;
    msg->n_steps = spec->n_steps;
    msg->n_outputs = spec->n_outputs;
    for (size_t i = 0; i < sig->n_inputs; i++) {
        const jn_port *src = &sig->inputs[i];
        Junction__V1__Port *p = msg->inputs[i] = malloc(sizeof *p);
        if (!p)
            return JN_ENOMEM;
        junction__v1__port__init(p);
        p->name = str(src->name);
        p->kind = (Junction__V1__Kind)src->kind;
        p->datatype = (Junction__V1__DataType)src->dtype;
        p->n_shape = (size_t)src->ndim;
        p->shape = (int64_t *)src->shape;
        p->n_labels = src->n_labels;
        p->labels = src->labels;
        p->description = str(src->description);
    }
    for (size_t i = 0; i < spec->n_steps; i++)
        if (step_to_pb(&spec->steps[i], &msg->steps[i]))
            return JN_ENOMEM;
    for (size_t i = 0; i < spec->n_outputs; i++) {
        Junction__V1__PipelineOutput *o = msg->outputs[i] = malloc(sizeof *o);
        if (!o)
            return JN_ENOMEM;
        junction__v1__pipeline_output__init(o);
        o->name = str(spec->outputs[i].name);
        o->from = str(spec->outputs[i].from);
        o->n_more_from = spec->outputs[i].n_more_from;
        o->more_from = spec->outputs[i].more_from; /* borrowed, like the strings */
        o->optional = spec->outputs[i].optional;
    }
    return 0;
}

Junction__V1__PipelineSpec *jn_pipeline_spec_to_pb(const jn_pipeline_spec *spec)
{
    Junction__V1__PipelineSpec *msg = malloc(sizeof *msg);
    if (!msg)
        return NULL;
    junction__v1__pipeline_spec__init(msg);
    if (spec_to_pb(spec, msg)) {
        jn_pipeline_spec_pb_free(msg);
        return NULL;
    }
    return msg;
}
