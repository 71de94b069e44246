/* signature_pb.c — see signature_pb.h. */
#include "signature_pb.h"

#include <stdlib.h>

#include "err.h"

_Static_assert((int)JN_KIND_CLASSIFICATION == (int)JUNCTION__V1__KIND__CLASSIFICATION &&
                   (int)JN_KIND_EMBEDDING == (int)JUNCTION__V1__KIND__EMBEDDING,
               "jn_kind must follow junction.v1.Kind");
_Static_assert((int)JN_KIND_AUDIO == (int)JUNCTION__V1__KIND__AUDIO &&
                   (int)JN_KIND_AUDIO_TENSOR == (int)JUNCTION__V1__KIND__AUDIO_TENSOR,
               "jn_kind must follow junction.v1.Kind");

static void fill_port(Junction__V1__Port *p, const jn_port *src)
{
    junction__v1__port__init(p);
    p->name = src->name;
    p->kind = (Junction__V1__Kind)src->kind;
    p->datatype = (Junction__V1__DataType)src->dtype;
    p->n_shape = (size_t)src->ndim;
    p->shape = (int64_t *)src->shape;
    p->n_labels = src->n_labels;
    p->labels = src->labels;
    if (src->description)
        p->description = src->description;
    p->sample_rate = src->sample_rate;
    p->has_default = src->default_value != NULL;
}

int jn_signature_pb_fill(jn_signature_pb *out, const jn_signature *sig)
{
    size_t n = sig->n_inputs + sig->n_outputs;
    junction__v1__signature__init(&out->msg);
    out->ports = calloc(n ? n : 1, sizeof *out->ports);
    out->inputs = calloc(sig->n_inputs ? sig->n_inputs : 1, sizeof *out->inputs);
    out->outputs = calloc(sig->n_outputs ? sig->n_outputs : 1, sizeof *out->outputs);
    if (!out->ports || !out->inputs || !out->outputs)
        return JN_ENOMEM;
    for (size_t i = 0; i < sig->n_inputs; i++) {
        fill_port(&out->ports[i], &sig->inputs[i]);
        out->inputs[i] = &out->ports[i];
    }
    for (size_t i = 0; i < sig->n_outputs; i++) {
        fill_port(&out->ports[sig->n_inputs + i], &sig->outputs[i]);
        out->outputs[i] = &out->ports[sig->n_inputs + i];
    }
    out->msg.n_inputs = sig->n_inputs;
    out->msg.inputs = out->inputs;
    out->msg.n_outputs = sig->n_outputs;
    out->msg.outputs = out->outputs;
    return 0;
}

void jn_signature_pb_free(jn_signature_pb *out)
{
    free(out->ports);
    free(out->inputs);
    free(out->outputs);
    out->ports = NULL;
    out->inputs = out->outputs = NULL;
}

int jn_signature_from_pb(jn_signature *sig, const Junction__V1__Signature *pb, jn_err *err)
{
    for (int out = 0; out < 2; out++) {
        const char *dir = out ? "output" : "input";
        Junction__V1__Port **ports = out ? pb->outputs : pb->inputs;
        size_t n = out ? pb->n_outputs : pb->n_inputs;
        for (size_t i = 0; i < n; i++) {
            const Junction__V1__Port *p = ports[i];
            if (p->n_shape > JN_MAX_DIMS)
                return jn_err_set(err, JN_EINVAL, "%s '%s': rank %zu is too large", dir, p->name, p->n_shape);
            jn_kind kind = p->kind == 0 ? JN_KIND_TENSOR : (jn_kind)p->kind;
            jn_err e;
            jn_err_clear(&e);
            int rc = out ? jn_signature_add_output(sig, p->name, kind, (jn_dtype)p->datatype, (int)p->n_shape,
                                                   p->shape, &e)
                         : jn_signature_add_input(sig, p->name, kind, (jn_dtype)p->datatype, (int)p->n_shape,
                                                  p->shape, &e);
            if (!rc && p->n_labels)
                rc = jn_port_set_labels(out ? &sig->outputs[sig->n_outputs - 1] : &sig->inputs[sig->n_inputs - 1],
                                        (const char *const *)p->labels, p->n_labels, &e);
            if (!rc)
                (out ? &sig->outputs[sig->n_outputs - 1] : &sig->inputs[sig->n_inputs - 1])->sample_rate =
                    p->sample_rate;
            if (rc)
                return jn_err_set(err, rc, "%s %s", dir, e.msg);
        }
    }
    return 0;
}
