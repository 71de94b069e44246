#include "executor.h"

#include <stdio.h>
#include <string.h>

#include "convert.h"


/* Requested outputs must exist: in the signature, or offered beyond it (a pipeline's "step.port"). */
static int validate_outputs(const jn_engine *e, const char *model, char *const *names, size_t n, jn_err *err)
{
    if (!e->vt->find_output)
        return jn_signature_validate_outputs(&e->sig, model, (const char *const *)names, n, err);
    for (size_t i = 0; i < n; i++) {
        if (!jn_engine_find_output(e, names[i])) {
            char list[512];
            size_t used = 0;
            list[0] = '\0';
            for (size_t k = 0; k < e->sig.n_outputs && used < sizeof list; k++)
                used += (size_t)snprintf(list + used, sizeof list - used, "%s'%s'", k ? ", " : "",
                                         e->sig.outputs[k].name);
            return jn_err_set(err, JN_EINVAL,
                              "model '%s': unknown output '%s' requested (the model's outputs are %s, and any "
                              "step's output as 'step.port')",
                              model, names[i], list);
        }
        for (size_t j = 0; j < i; j++)
            if (strcmp(names[j], names[i]) == 0)
                return jn_err_set(err, JN_EINVAL, "model '%s': output '%s' is requested twice", model, names[i]);
    }
    return 0;
}

int jn_exec_validate(const jn_engine *e, const jn_request *req, jn_err *err)
{
    if (!atomic_load(&e->ready))
        return jn_err_set(err, JN_EUNAVAIL, "model '%s' is not ready", req->model);
    int rc = jn_signature_validate_inputs(&e->sig, req->model, &req->inputs, err);
    if (!rc)
        rc = validate_outputs(e, req->model, req->outputs, req->n_outputs, err);
    return rc;
}

int jn_exec_prepare(jn_registry *reg, const jn_request *req, jn_engine **engine, jn_err *err)
{
    *engine = NULL;
    if (!req->model || !*req->model)
        return jn_err_set(err, JN_EINVAL, "request names no model");
    jn_engine *e = jn_registry_get(reg, req->model, req->version, err);
    if (!e)
        return err ? err->code : JN_ENOTFOUND;
    int rc = jn_exec_validate(e, req, err);
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
    const jn_port *port = jn_engine_find_output(e, name);
    jn_tensor *t = jn_tensor_list_take(produced, name);
    if (!t && port && port->optional) /* left out on purpose (a pipeline output whose sources were all skipped) */
        return 0;
    if (!t)
        return jn_err_set(err, JN_EINTERNAL, "model '%s': engine produced no output '%s'", model, name);
    int rc = port ? jn_port_check_tensor(model, "output", port, t, err)
                  : jn_err_set(err, JN_EINTERNAL, "model '%s': output '%s' has no port", model, name);
    if (rc) {
        jn_tensor_free(t);
        if (err) /* err may be NULL, as everywhere */
            err->code = JN_EINTERNAL;
        return JN_EINTERNAL;
    }
    return jn_tensor_list_push(outputs, t) ? jn_err_set(err, JN_ENOMEM, "out of memory") : 0;
}

/* Moves the outputs the context asks for from `produced` to `outputs`, checked; all or nothing. */
static int keep_outputs(jn_engine *engine, const jn_infer_ctx *ctx, jn_tensor_list *produced,
                        jn_tensor_list *outputs, jn_err *err)
{
    int rc = 0;
    size_t had = outputs->count;
    if (ctx->n_outputs) {
        for (size_t i = 0; i < ctx->n_outputs && !rc; i++)
            rc = keep_output(engine, ctx->model, ctx->outputs[i], produced, outputs, err);
    } else {
        for (size_t i = 0; i < engine->sig.n_outputs && !rc; i++)
            rc = keep_output(engine, ctx->model, engine->sig.outputs[i].name, produced, outputs, err);
    }
    while (rc && outputs->count > had)
        jn_tensor_free(outputs->items[--outputs->count]);
    jn_tensor_list_clear(produced);
    return rc;
}

static void name_failure(const jn_infer_ctx *ctx, int rc, jn_err *err)
{
    if (err && !err->code)
        jn_err_set(err, rc, "model '%s': engine failed (%s)", ctx->model, jn_strerror(rc));
}

/* ---- inputs the caller may give in another form (issue #17): a port's default where the input is left out, and
 * encoded audio for an AUDIO_TENSOR port (the registered AUDIO -> AUDIO_TENSOR conversion, as the pipeline compiler
 * inserts it). jn_signature_validate_inputs accepted both and probed the audio; nothing else changes. ---- */

static bool needs_adapting(const jn_engine *e, const jn_tensor_list *inputs)
{
    for (size_t i = 0; i < e->sig.n_inputs; i++) {
        const jn_port *p = &e->sig.inputs[i];
        if (!p->default_value && p->kind != JN_KIND_AUDIO_TENSOR)
            continue;
        const jn_tensor *t = jn_tensor_list_find(inputs, p->name);
        if ((!t && p->default_value) || (t && p->kind == JN_KIND_AUDIO_TENSOR && t->dtype == JN_DTYPE_BYTES))
            return true;
    }
    return false;
}

/* Encoded audio (BYTES [n]) -> the port's samples: decoded, down-mixed, resampled, checked against the port. */
static int audio_for_port(const jn_engine *e, const jn_port *port, const jn_tensor *t, jn_tensor **out, jn_err *err)
{
    const jn_port audio = {.name = port->name, .kind = JN_KIND_AUDIO, .dtype = JN_DTYPE_BYTES, .ndim = 1,
                           .shape = {t->shape[0]}};
    jn_convert_step chain[JN_CONVERT_MAX_CHAIN];
    int n = jn_convert_plan(&audio, port, NULL, chain);
    if (n <= 0) {
        char want[160];
        jn_format_type(want, sizeof want, port->dtype, port->ndim, port->shape);
        return jn_err_set(err, JN_EINVAL, "model '%s': input '%s' (AUDIO_TENSOR %s) cannot be made from encoded "
                                          "audio (no conversion applies to that shape)", e->name, port->name, want);
    }
    jn_tensor *s = jn_tensor_share(t, port->name, err);
    if (!s)
        return err ? err->code : JN_ENOMEM;
    int rc = jn_convert_apply(chain, n, s, &s, err);
    if (rc)
        jn_err_prefix(err, "model '%s'", e->name);
    if (!rc && (rc = jn_port_check_tensor(e->name, "input", port, s, err)))
        jn_tensor_free(s);
    if (!rc)
        *out = s;
    return rc;
}

static int adapt_inputs(const jn_engine *e, const jn_tensor_list *inputs, jn_tensor_list *out, jn_err *err)
{
    int rc = 0;
    for (size_t i = 0; i < inputs->count && !rc; i++) {
        const jn_tensor *t = inputs->items[i];
        const jn_port *p = jn_signature_find_input(&e->sig, t->name);
        jn_tensor *u = NULL;
        if (p && p->kind == JN_KIND_AUDIO_TENSOR && t->dtype == JN_DTYPE_BYTES)
            rc = audio_for_port(e, p, t, &u, err);
        else if (!(u = jn_tensor_share(t, t->name, err)))
            rc = err ? err->code : JN_ENOMEM;
        if (!rc && jn_tensor_list_push(out, u)) {
            jn_tensor_free(u);
            rc = jn_err_set(err, JN_ENOMEM, "out of memory");
        }
    }
    for (size_t i = 0; i < e->sig.n_inputs && !rc; i++) {
        const jn_port *p = &e->sig.inputs[i];
        if (!p->default_value || jn_tensor_list_find(inputs, p->name))
            continue;
        jn_tensor *u = jn_tensor_share(p->default_value, p->name, err);
        if (!u)
            rc = err ? err->code : JN_ENOMEM;
        else if (jn_tensor_list_push(out, u)) {
            jn_tensor_free(u);
            rc = jn_err_set(err, JN_ENOMEM, "out of memory");
        }
    }
    if (rc)
        jn_tensor_list_clear(out);
    return rc;
}

int jn_exec_engine(jn_engine *engine, const jn_infer_ctx *ctx, const jn_tensor_list *inputs,
                   jn_tensor_list *outputs, jn_err *err)
{
    int rc = jn_infer_ctx_check(ctx, err);
    if (rc)
        return rc;
    if (needs_adapting(engine, inputs)) {
        jn_tensor_list adapted;
        jn_tensor_list_init(&adapted);
        rc = adapt_inputs(engine, inputs, &adapted, err);
        if (!rc)
            rc = jn_exec_engine(engine, ctx, &adapted, outputs, err);
        jn_tensor_list_clear(&adapted);
        return rc;
    }
    jn_tensor *slots[JN_EXEC_OUTPUT_SLOTS]; /* most engines answer a few tensors: no allocation for the list */
    jn_tensor_list produced;
    jn_tensor_list_init_on(&produced, slots, JN_EXEC_OUTPUT_SLOTS);
    rc = engine->vt->infer(engine, ctx, inputs, &produced, err);
    return jn_exec_keep(engine, ctx, rc, &produced, outputs, err);
}

int jn_exec_keep(jn_engine *engine, const jn_infer_ctx *ctx, int rc, jn_tensor_list *produced, jn_tensor_list *outputs,
                 jn_err *err)
{
    if (rc) {
        name_failure(ctx, rc, err);
        jn_tensor_list_clear(produced);
        return rc;
    }
    return keep_outputs(engine, ctx, produced, outputs, err);
}

typedef struct stream_filter {
    jn_engine *engine;
    const jn_infer_ctx *ctx;
    jn_emit_fn emit;
    void *arg;
} stream_filter;

static int filter_emit(void *arg, jn_tensor_list *partial, jn_err *err)
{
    stream_filter *f = arg;
    jn_tensor_list kept;
    jn_tensor_list_init(&kept);
    int rc = keep_outputs(f->engine, f->ctx, partial, &kept, err);
    if (!rc)
        rc = f->emit(f->arg, &kept, err);
    jn_tensor_list_clear(&kept);
    return rc;
}

int jn_exec_engine_stream(jn_engine *engine, const jn_infer_ctx *ctx, const jn_tensor_list *inputs,
                          jn_emit_fn emit, void *emit_arg, jn_err *err)
{
    if (!(engine->flags & JN_ENGINE_STREAMS) || !engine->vt->infer_stream) {
        jn_tensor_list outputs;
        jn_tensor_list_init(&outputs);
        int rc = jn_exec_engine(engine, ctx, inputs, &outputs, err);
        if (!rc)
            rc = emit(emit_arg, &outputs, err);
        jn_tensor_list_clear(&outputs);
        return rc;
    }
    int rc = jn_infer_ctx_check(ctx, err);
    if (rc)
        return rc;
    if (needs_adapting(engine, inputs)) {
        jn_tensor_list adapted;
        jn_tensor_list_init(&adapted);
        rc = adapt_inputs(engine, inputs, &adapted, err);
        if (!rc)
            rc = jn_exec_engine_stream(engine, ctx, &adapted, emit, emit_arg, err);
        jn_tensor_list_clear(&adapted);
        return rc;
    }
    stream_filter f = {engine, ctx, emit, emit_arg};
    rc = engine->vt->infer_stream(engine, ctx, inputs, filter_emit, &f, err);
    if (rc)
        name_failure(ctx, rc, err);
    return rc;
}

jn_infer_ctx jn_exec_request_ctx(const jn_request *req, const atomic_int *cancelled, jn_workpool *pool)
{
    jn_infer_ctx ctx = {
        .model = req->model,
        .request_id = req->id ? req->id : "",
        .params = &req->params,
        .deadline_ns = req->deadline_ns,
        .cancelled = cancelled,
        .outputs = (const char *const *)req->outputs,
        .n_outputs = req->n_outputs,
        .pool = pool,
    };
    return ctx;
}

int jn_exec_run(jn_engine *engine, const jn_request *req, const atomic_int *cancelled, jn_workpool *pool,
                jn_tensor_list *outputs, jn_err *err)
{
    jn_infer_ctx ctx = jn_exec_request_ctx(req, cancelled, pool);
    return jn_exec_engine(engine, &ctx, &req->inputs, outputs, err);
}

int jn_exec_run_stream(jn_engine *engine, const jn_request *req, const atomic_int *cancelled, jn_workpool *pool,
                       jn_emit_fn emit, void *emit_arg, jn_err *err)
{
    jn_infer_ctx ctx = jn_exec_request_ctx(req, cancelled, pool);
    return jn_exec_engine_stream(engine, &ctx, &req->inputs, emit, emit_arg, err);
}
