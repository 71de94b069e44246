/* prompt_template.c — the `prompt-template` engine (issue #18 item 4): TEXT, CLASSIFICATION and scalar inputs and
 * request parameters -> one TEXT `text`, through a template (template.h) given as the parameter `template`, so a
 * pipeline can feed a classifier's answer into a language model:
 *
 *   {"id": "p", "model": "prompt-template",
 *    "parameters": {"template": "Answer in {{lang}}. The photo shows a {{category.label}} ({{category.score}}).
 *                                {{question}}", "lang": "English"},
 *    "inputs": {"category": "cnn.scores", "question": "question"}}
 *
 * Ports: the registered engine has no inputs (called directly, every name comes from the request's parameters) and
 * two outputs, one element each: `text` TEXT BYTES[-1], and `messages` TEXT BYTES[-1], the same text as an OpenAI
 * chat message list for a language model's `messages` input (core/generate.h): [{"role": "user", "content": text}],
 * after {"role": "system", "content": <parameter system>} when the parameter `system` is given.
 * Its inputs depend on the step, so it has the for_step slot (engine.h): when a pipeline is compiled, each step
 * naming it gets an engine of its own whose inputs are the step's bound inputs, typed as their sources (a
 * CLASSIFICATION keeps its labels), after checking them against the step's template: every bound input must be read
 * by it, .label/.score only on a CLASSIFICATION, and only TEXT, CLASSIFICATION and TENSOR inputs (one value each). A
 * template given only in the call's parameters is checked when the call runs.
 *
 * Values: {{name}} reads the input of that name, else the parameter (the step's parameters over the call's). A TEXT
 * input is its one element; a CLASSIFICATION input is its top-1 label ({{x}}, {{x.label}}) and that label's score
 * ({{x.score}}), one row of scores; a TENSOR input holds one value; numbers are written in the shortest form that
 * reads back as the same value (FP32 as a float: 0.9998346, not 0.99983459711074829), integers as integers,
 * booleans as true/false. A name that is neither an input nor a parameter is INVALID_ARGUMENT naming it.
 *
 * Thread-safety: no mutable state; calls run concurrently (inline: microseconds). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "../../broker/core/half.h"
#include "../builtin.h"
#include "template.h"

#define TEMPLATE_PARAM "template"
#define SYSTEM_PARAM "system"

/* ---- text building ---- */

typedef struct buf {
    char *p;
    size_t len, cap;
} buf;

static int put(buf *b, const char *s, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *grown = realloc(b->p, cap);
        if (!grown)
            return JN_ENOMEM;
        b->p = grown;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
    return 0;
}

/* The shortest %g text that reads back as v (as a double, or as a float when `single`). */
static void shortest(char *out, size_t n, double v, bool single)
{
    for (int digits = 1; digits <= 17; digits++) {
        snprintf(out, n, "%.*g", digits, v);
        double back = strtod(out, NULL);
        if (single ? (float)back == (float)v : back == v)
            return;
    }
}

/* One element of a numeric tensor as text. */
static void scalar_text(const jn_tensor *t, char *out, size_t n)
{
    const void *d = t->data;
    switch (t->dtype) {
    case JN_DTYPE_BOOL:
        snprintf(out, n, "%s", *(const uint8_t *)d ? "true" : "false");
        break;
    case JN_DTYPE_UINT8:
        snprintf(out, n, "%u", (unsigned)*(const uint8_t *)d);
        break;
    case JN_DTYPE_UINT16:
        snprintf(out, n, "%u", (unsigned)*(const uint16_t *)d);
        break;
    case JN_DTYPE_UINT32:
        snprintf(out, n, "%u", (unsigned)*(const uint32_t *)d);
        break;
    case JN_DTYPE_UINT64:
        snprintf(out, n, "%llu", (unsigned long long)*(const uint64_t *)d);
        break;
    case JN_DTYPE_INT8:
        snprintf(out, n, "%d", (int)*(const int8_t *)d);
        break;
    case JN_DTYPE_INT16:
        snprintf(out, n, "%d", (int)*(const int16_t *)d);
        break;
    case JN_DTYPE_INT32:
        snprintf(out, n, "%d", (int)*(const int32_t *)d);
        break;
    case JN_DTYPE_INT64:
        snprintf(out, n, "%lld", (long long)*(const int64_t *)d);
        break;
    case JN_DTYPE_FP16:
        shortest(out, n, jn_fp16_to_float(*(const uint16_t *)d), true);
        break;
    case JN_DTYPE_BF16:
        shortest(out, n, jn_bf16_to_float(*(const uint16_t *)d), true);
        break;
    case JN_DTYPE_FP32:
        shortest(out, n, *(const float *)d, true);
        break;
    case JN_DTYPE_FP64:
        shortest(out, n, *(const double *)d, false);
        break;
    default:
        snprintf(out, n, "?");
        break;
    }
}

static const char *field_name(jn_tmpl_field f)
{
    return f == JN_TMPL_LABEL ? "label" : f == JN_TMPL_SCORE ? "score" : "";
}

/* An input's value for placeholder part. */
static int input_text(const jn_engine *self, const jn_infer_ctx *ctx, const jn_tmpl_part *part, const jn_tensor *t,
                      buf *out, jn_err *err)
{
    const jn_port *port = jn_signature_find_input(&self->sig, t->name);
    jn_kind kind = port ? port->kind : t->dtype == JN_DTYPE_BYTES ? JN_KIND_TEXT : JN_KIND_TENSOR;
    int64_t count = jn_tensor_element_count(t);
    if (part->field != JN_TMPL_VALUE && kind != JN_KIND_CLASSIFICATION)
        return jn_err_set(err, JN_EINVAL, "model '%s': template: '{{%s.%s}}': input '%s' is %s; .%s reads a "
                          "CLASSIFICATION", ctx->model, part->text, field_name(part->field), t->name,
                          jn_kind_name(kind), field_name(part->field));
    if (kind == JN_KIND_CLASSIFICATION) {
        size_t k = port->n_labels;
        if (!k || t->dtype != JN_DTYPE_FP32 || count != (int64_t)k)
            return jn_err_set(err, JN_EINVAL, "model '%s': template: input '%s' holds %lld scores; the template reads "
                              "one row of %zu", ctx->model, t->name, (long long)count, k);
        const float *s = t->data;
        size_t top = 0;
        for (size_t i = 1; i < k; i++)
            if (s[i] > s[top])
                top = i;
        if (part->field == JN_TMPL_SCORE) {
            char num[64];
            shortest(num, sizeof num, s[top], true);
            return put(out, num, strlen(num));
        }
        return put(out, port->labels[top], strlen(port->labels[top]));
    }
    if (count != 1)
        return jn_err_set(err, JN_EINVAL, "model '%s': template: input '%s' holds %lld values; the template reads one",
                          ctx->model, t->name, (long long)count);
    if (t->dtype == JN_DTYPE_BYTES) {
        size_t pos = 0;
        const uint8_t *s;
        uint32_t n;
        if (!jn_bytes_next(t->data, t->byte_size, &pos, &s, &n))
            return jn_err_set(err, JN_EINVAL, "model '%s': input '%s' is malformed", ctx->model, t->name);
        return put(out, (const char *)s, n);
    }
    char num[64];
    scalar_text(t, num, sizeof num);
    return put(out, num, strlen(num));
}

static int param_text(const jn_infer_ctx *ctx, const jn_tmpl_part *part, const jn_param *q, buf *out, jn_err *err)
{
    if (part->field != JN_TMPL_VALUE)
        return jn_err_set(err, JN_EINVAL, "model '%s': template: '{{%s.%s}}': '%s' is a parameter; .%s reads a "
                          "CLASSIFICATION input", ctx->model, part->text, field_name(part->field), part->text,
                          field_name(part->field));
    char num[64];
    switch (q->type) {
    case JN_PARAM_STRING:
        return put(out, q->v.s, strlen(q->v.s));
    case JN_PARAM_BOOL:
        snprintf(num, sizeof num, "%s", q->v.b ? "true" : "false");
        break;
    case JN_PARAM_INT:
        snprintf(num, sizeof num, "%lld", (long long)q->v.i);
        break;
    case JN_PARAM_DOUBLE:
        shortest(num, sizeof num, q->v.d, false);
        break;
    }
    return put(out, num, strlen(num));
}

static int render(const jn_engine *self, const jn_infer_ctx *ctx, const jn_template *t, const jn_tensor_list *inputs,
                  buf *out, jn_err *err)
{
    int rc = 0;
    for (size_t i = 0; i < t->n && !rc; i++) {
        const jn_tmpl_part *part = &t->parts[i];
        if (!part->is_name) {
            rc = put(out, part->text, part->len);
            continue;
        }
        const jn_tensor *in = jn_tensor_list_find(inputs, part->text);
        const jn_param *q = in ? NULL : jn_params_find(ctx->params, part->text);
        if (in)
            rc = input_text(self, ctx, part, in, out, err);
        else if (q)
            rc = param_text(ctx, part, q, out, err);
        else
            rc = jn_err_set(err, JN_EINVAL, "model '%s': template: '{{%s}}' (character %zu) names neither an input nor "
                            "a parameter", ctx->model, part->text, part->offset);
    }
    if (rc == JN_ENOMEM)
        jn_err_set(err, JN_ENOMEM, "out of memory");
    return rc;
}

static int push_text(jn_tensor_list *outputs, const char *name, const char *s, size_t n, jn_err *err)
{
    const int64_t shape[1] = {1};
    jn_tensor *t = jn_tensor_from_strings(name, 1, shape, &s, &n, 1, err);
    if (!t)
        return err->code ? err->code : jn_err_set(err, JN_ENOMEM, "out of memory");
    return jn_tensor_list_push(outputs, t) ? jn_err_set(err, JN_ENOMEM, "out of memory") : 0;
}

/* The text as a chat message list (malloc'd), after the `system` parameter's message when there is one. */
static char *messages_json(const jn_infer_ctx *ctx, const char *text, size_t n, jn_err *err)
{
    const jn_param *sys = jn_params_find(ctx->params, SYSTEM_PARAM);
    if (sys && sys->type != JN_PARAM_STRING) {
        jn_err_set(err, JN_EINVAL, "model '%s': parameter '" SYSTEM_PARAM "' must be a string", ctx->model);
        return NULL;
    }
    json_t *list = json_array();
    if (list && sys)
        json_array_append_new(list, json_pack("{s:s, s:s}", "role", "system", "content", sys->v.s));
    if (list)
        json_array_append_new(list, json_pack("{s:s, s:s%}", "role", "user", "content", text, n));
    char *s = list && json_array_size(list) == (sys ? 2u : 1u) ? json_dumps(list, JSON_COMPACT) : NULL;
    json_decref(list);
    if (!s)
        jn_err_set(err, JN_ENOMEM, "out of memory");
    return s;
}

static int prompt_infer(jn_engine *self, const jn_infer_ctx *ctx, const jn_tensor_list *inputs,
                        jn_tensor_list *outputs, jn_err *err)
{
    const jn_param *tp = jn_params_find(ctx->params, TEMPLATE_PARAM);
    if (!tp || tp->type != JN_PARAM_STRING)
        return jn_err_set(err, JN_EINVAL, "model '%s': parameter '" TEMPLATE_PARAM "' %s", ctx->model,
                          tp ? "must be a string" : "is missing: give the template as a request or pipeline-step "
                                                    "parameter");
    jn_template t;
    int rc = jn_template_parse(tp->v.s, strlen(tp->v.s), &t, err);
    if (rc) {
        jn_err_prefix(err, "model '%s': parameter '" TEMPLATE_PARAM "'", ctx->model);
        return rc;
    }
    buf out = {0};
    rc = render(self, ctx, &t, inputs, &out, err);
    jn_template_free(&t);
    if (!rc && !jn_utf8_valid((const uint8_t *)out.p, out.len, &(size_t){0}))
        rc = jn_err_set(err, JN_EINVAL, "model '%s': the text made is not valid UTF-8 (a parameter or input holds "
                        "other bytes)", ctx->model);
    if (!rc)
        rc = push_text(outputs, "text", out.p ? out.p : "", out.len, err);
    char *messages = NULL;
    if (!rc && !(messages = messages_json(ctx, out.p ? out.p : "", out.len, err)))
        rc = err->code;
    if (!rc)
        rc = push_text(outputs, "messages", messages, strlen(messages), err);
    free(messages);
    free(out.p);
    return rc;
}

/* ---- the engine and its per-step engines ---- */

static jn_engine *make_engine(const char *name, jn_err *err);

static jn_engine *prompt_for_step(jn_engine *self, const jn_params *step_params, const jn_step_source *sources,
                                  size_t n_sources, jn_err *err)
{
    const jn_param *tp = jn_params_find(step_params, TEMPLATE_PARAM);
    jn_template t = {0};
    bool have = tp != NULL;
    if (tp && tp->type != JN_PARAM_STRING) {
        jn_err_set(err, JN_EINVAL, "parameter '" TEMPLATE_PARAM "' must be a string");
        return NULL;
    }
    if (have && jn_template_parse(tp->v.s, strlen(tp->v.s), &t, err)) {
        jn_err_prefix(err, "parameter '" TEMPLATE_PARAM "'");
        return NULL;
    }
    jn_engine *e = make_engine(self->name, err);
    for (size_t i = 0; e && i < n_sources; i++) {
        const char *name = sources[i].name;
        const jn_port *src = sources[i].src;
        unsigned reads = 0;
        int rc = 0;
        if (src->kind != JN_KIND_TEXT && src->kind != JN_KIND_CLASSIFICATION &&
            !(src->kind == JN_KIND_TENSOR && src->dtype != JN_DTYPE_BYTES))
            rc = jn_err_set(err, JN_EINVAL, "input '%s' is %s %s; a template reads TEXT, CLASSIFICATION and numeric "
                            "TENSOR inputs", name, jn_kind_name(src->kind), jn_dtype_name(src->dtype));
        else if (src->kind == JN_KIND_CLASSIFICATION && !src->n_labels)
            rc = jn_err_set(err, JN_EINVAL, "input '%s' is a CLASSIFICATION without labels", name);
        else if (have && !jn_template_reads(&t, name, &reads))
            rc = jn_err_set(err, JN_EINVAL, "input '%s' is bound, but the template never reads it ({{%s}})", name,
                            name);
        else if (src->kind != JN_KIND_CLASSIFICATION && (reads & ~(1u << JN_TMPL_VALUE)))
            rc = jn_err_set(err, JN_EINVAL, "template: input '%s' is %s; .label and .score read a CLASSIFICATION", name,
                            jn_kind_name(src->kind));
        if (!rc)
            rc = jn_signature_add_input(&e->sig, name, src->kind, src->dtype, src->ndim, src->shape, err);
        if (!rc && src->n_labels)
            rc = jn_port_set_labels(&e->sig.inputs[e->sig.n_inputs - 1], (const char *const *)src->labels,
                                    src->n_labels, err);
        if (rc) {
            jn_engine_unref(e);
            e = NULL;
        }
    }
    jn_template_free(&t);
    return e;
}

static const jn_engine_vtable prompt_vtable = {
    .abi_version = JN_ENGINE_ABI_VERSION,
    .platform = "junction_text",
    .infer = prompt_infer,
    .for_step = prompt_for_step,
};

static jn_engine *make_engine(const char *name, jn_err *err)
{
    jn_engine *e = jn_engine_create(&prompt_vtable, name, "1",
                                    "TEXT, CLASSIFICATION and scalar inputs and parameters -> text, through the "
                                    "parameter 'template' (\"... {{name}} {{x.label}} {{x.score}} ...\")",
                                    NULL, err);
    if (!e)
        return NULL;
    const int64_t shape[1] = {-1};
    if (jn_signature_add_output(&e->sig, "text", JN_KIND_TEXT, JN_DTYPE_BYTES, 1, shape, err) ||
        jn_signature_add_output(&e->sig, "messages", JN_KIND_TEXT, JN_DTYPE_BYTES, 1, shape, err)) {
        jn_engine_unref(e);
        return NULL;
    }
    e->flags |= JN_ENGINE_INLINE;
    return e;
}

jn_engine *jn_prompt_template_create(const char *name, const jn_builtin_options *opt, jn_err *err)
{
    (void)opt;
    return make_engine(name, err);
}
