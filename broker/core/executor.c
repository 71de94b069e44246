#include "executor.h"

#include <string.h>

int jn_exec_prepare(jn_registry *reg, const jn_request *req, jn_engine **engine, jn_err *err)
{
    *engine = NULL;
    if (!req->model || !*req->model)
        return jn_err_set(err, JN_EINVAL, "request names no model");
    jn_engine *e = jn_registry_get(reg, req->model, req->version, err);
    if (!e)
        return err ? err->code : JN_ENOTFOUND;
    if (!atomic_load(&e->ready)) {
        jn_engine_unref(e);
        return jn_err_set(err, JN_EUNAVAIL, "model '%s' is not ready", req->model);
    }
    int rc = jn_signature_validate_inputs(&e->sig, req->model, &req->inputs, err);
    if (!rc)
        rc = jn_signature_validate_outputs(&e->sig, req->model, (const char *const *)req->outputs, req->n_outputs,
                                           err);
    if (rc) {
        jn_engine_unref(e);
        return rc;
    }
    *engine = e;
    return 0;
}

static int keep_output(jn_engine *e, const char *model, const char *name, jn_tensor_list *produced,
                       jn_tensor_list *outputs, jn_err *err)
{
    const jn_port *port = jn_signature_find_output(&e->sig, name);
    jn_tensor *t = jn_tensor_list_take(produced, name);
    if (!t)
        return jn_err_set(err, JN_EINTERNAL, "model '%s': engine produced no output '%s'", model, name);
    int rc = jn_port_check_tensor(model, "output", port, t, err);
    if (rc) {
        jn_tensor_free(t);
        if (err) /* err may be NULL, as everywhere */
            err->code = JN_EINTERNAL;
        return JN_EINTERNAL;
    }
    return jn_tensor_list_push(outputs, t) ? jn_err_set(err, JN_ENOMEM, "out of memory") : 0;
}

int jn_exec_run(jn_engine *engine, const jn_request *req, const atomic_int *cancelled, jn_tensor_list *outputs,
                jn_err *err)
{
    jn_infer_ctx ctx = {
        .model = req->model,
        .request_id = req->id ? req->id : "",
        .params = &req->params,
        .deadline_ns = req->deadline_ns,
        .cancelled = cancelled,
    };
    int rc = jn_infer_ctx_check(&ctx, err);
    if (rc)
        return rc;
    jn_tensor_list produced;
    jn_tensor_list_init(&produced);
    rc = engine->vt->infer(engine, &ctx, &req->inputs, &produced, err);
    if (rc) {
        if (err && !err->code)
            jn_err_set(err, rc, "model '%s': engine failed (%s)", req->model, jn_strerror(rc));
        jn_tensor_list_clear(&produced);
        return rc;
    }
    size_t had = outputs->count;
    if (req->n_outputs) {
        for (size_t i = 0; i < req->n_outputs && !rc; i++)
            rc = keep_output(engine, req->model, req->outputs[i], &produced, outputs, err);
    } else {
        for (size_t i = 0; i < engine->sig.n_outputs && !rc; i++)
            rc = keep_output(engine, req->model, engine->sig.outputs[i].name, &produced, outputs, err);
    }
    /* All or nothing: a failed call leaves no half of its outputs in the caller's list. */
    while (rc && outputs->count > had)
        jn_tensor_free(outputs->items[--outputs->count]);
    jn_tensor_list_clear(&produced);
    return rc;
}
