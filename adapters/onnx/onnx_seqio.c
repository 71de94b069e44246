/* onnx_seqio.c — jn_onnx_run for models loaded with JN_ONNX_LOAD_SEQUENCE_IO (the conformance runner's entry):
 * graph inputs and outputs that are sequences or optionals travel flattened into plain tensors, as onnx.h says
 * ("s[0]", "s[1]", ... for a sequence; "o" for an optional tensor that holds one; nothing for an empty optional).
 * Inputs are checked only for dtype here: this path serves tests, not requests. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "onnx.h"
#include "onnx_graph.h"

static int input_val(const ox_model *m, size_t i, const jn_tensor_list *inputs, ox_val *v, jn_err *err)
{
    const ox_value *val = &m->values[m->inputs[i]];
    char name[512];
    if (val->kind == OX_KIND_TENSOR || val->kind == OX_KIND_OPT_TENSOR) {
        const jn_tensor *t = jn_tensor_list_find(inputs, val->name);
        if (!t && val->kind == OX_KIND_TENSOR)
            return jn_err_set(err, JN_EINVAL, "input '%s' is missing", val->name);
        if (t && t->dtype != val->dtype)
            return jn_err_set(err, JN_EINVAL, "input '%s' expects %s, got %s", val->name,
                              jn_dtype_name(val->dtype), jn_dtype_name(t->dtype));
        ox_tensor ot = {0};
        if (t && ox_set_shape(&ot, t->dtype, t->ndim, t->shape, err))
            return err->code;
        ot.data = t ? t->data : NULL;
        if (val->kind == OX_KIND_TENSOR) {
            v->t = ot;
            return 0;
        }
        if (!(v->box = ox_box_new(val->dtype, err)))
            return err->code;
        v->box->none = !t;
        return t ? ox_box_insert(v->box, 0, &ot, err) : 0;
    }
    if (!(v->box = ox_box_new(val->dtype, err)))
        return err->code;
    for (size_t k = 0;; k++) {
        snprintf(name, sizeof name, "%s[%zu]", val->name, k);
        const jn_tensor *t = jn_tensor_list_find(inputs, name);
        if (!t)
            break;
        ox_tensor ot = {0};
        if (ox_set_shape(&ot, t->dtype, t->ndim, t->shape, err))
            return err->code;
        ot.data = t->data;
        if (ox_box_insert(v->box, k, &ot, err))
            return err->code;
    }
    v->box->none = val->kind == OX_KIND_OPT_SEQ && v->box->n == 0;
    return 0;
}

static int push_copy(jn_tensor_list *outputs, const char *name, const ox_tensor *t, jn_err *err)
{
    jn_tensor *o = jn_tensor_create(name, t->dtype, t->ndim, t->shape, err);
    if (!o)
        return err->code;
    if (t->nbytes)
        memcpy(o->data, t->data, t->nbytes);
    if (jn_tensor_list_push(outputs, o)) {
        jn_tensor_free(o);
        return jn_err_set(err, JN_ENOMEM, "out of memory");
    }
    return 0;
}

int ox_seqio_run(ox_model *m, const jn_tensor_list *inputs, jn_tensor_list *outputs, const jn_infer_ctx *ctx,
                 jn_err *err)
{
    ox_val *in = calloc(m->n_inputs + 1, sizeof *in), *out = calloc(m->n_outputs + 1, sizeof *out);
    int rc = in && out ? 0 : jn_err_set(err, JN_ENOMEM, "out of memory");
    for (size_t i = 0; i < m->n_inputs && !rc; i++)
        rc = input_val(m, i, inputs, &in[i], err);
    if (!rc)
        rc = ox_graph_run(m, in, out, ctx, err);
    for (size_t i = 0; i < m->n_outputs && !rc; i++) {
        const ox_value *val = &m->values[m->outputs[i]];
        if (!out[i].box) {
            rc = push_copy(outputs, val->name, &out[i].t, err);
        } else if (val->kind == OX_KIND_OPT_TENSOR) {
            if (!out[i].box->none)
                rc = push_copy(outputs, val->name, &out[i].box->items[0], err);
        } else {
            for (size_t k = 0; k < out[i].box->n && !rc; k++) {
                char name[512];
                snprintf(name, sizeof name, "%s[%zu]", val->name, k);
                rc = push_copy(outputs, name, &out[i].box->items[k], err);
            }
        }
    }
    for (size_t i = 0; in && i < m->n_inputs; i++)
        ox_box_unref(in[i].box);
    for (size_t i = 0; out && i < m->n_outputs; i++)
        ox_val_release(&out[i]);
    free(in);
    free(out);
    return rc;
}
