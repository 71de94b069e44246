/* generate.c — the generate signature, its sampling parameters and its answers (generate.h). */
#include "generate.h"

#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static const int64_t any_len[1] = {-1};
static const int64_t one_len[1] = {1};

int jn_generate_signature(jn_signature *sig, jn_generate_input in, jn_err *err)
{
    if (in != JN_GENERATE_IN_PROMPT && in != JN_GENERATE_IN_MESSAGES)
        return jn_err_set(err, JN_EINVAL, "generate signature: the input is neither prompt nor messages");
    const char *name = in == JN_GENERATE_IN_PROMPT ? JN_GENERATE_PROMPT : JN_GENERATE_MESSAGES;
    int rc = jn_signature_add_input(sig, name, JN_KIND_TEXT, JN_DTYPE_BYTES, 1, any_len, err);
    if (!rc)
        rc = jn_signature_add_output(sig, JN_GENERATE_TEXT, JN_KIND_TEXT, JN_DTYPE_BYTES, 1, any_len, err);
    if (!rc)
        rc = jn_signature_add_output(sig, JN_GENERATE_FINISH_REASON, JN_KIND_TEXT, JN_DTYPE_BYTES, 1, any_len, err);
    if (!rc)
        rc = jn_signature_add_output(sig, JN_GENERATE_PROMPT_TOKENS, JN_KIND_TENSOR, JN_DTYPE_INT64, 1, one_len, err);
    if (!rc)
        rc = jn_signature_add_output(sig, JN_GENERATE_COMPLETION_TOKENS, JN_KIND_TENSOR, JN_DTYPE_INT64, 1, one_len,
                                     err);
    if (rc)
        return rc;
    for (size_t i = 1; i < sig->n_outputs; i++) /* partials carry only text */
        sig->outputs[i].optional = true;
    return 0;
}

static bool is_text_port(const jn_port *p)
{
    return p->kind == JN_KIND_TEXT && p->dtype == JN_DTYPE_BYTES && p->ndim == 1;
}

static bool is_image_port(const jn_port *p)
{
    return p->kind == JN_KIND_IMAGE && p->dtype == JN_DTYPE_BYTES && p->ndim == 1;
}

size_t jn_generate_images(const jn_engine *e)
{
    size_t n = 0;
    for (size_t i = 0; e && i < e->sig.n_inputs; i++)
        n += is_image_port(&e->sig.inputs[i]);
    return n;
}

jn_generate_input jn_generate_input_of(const jn_engine *e)
{
    if (!e || !(e->flags & JN_ENGINE_STREAMS) || !e->vt->infer_stream || e->sig.n_inputs < 1)
        return JN_GENERATE_IN_NONE;
    const jn_port *in = NULL; /* the one TEXT input; any others are IMAGE inputs */
    for (size_t i = 0; i < e->sig.n_inputs; i++) {
        const jn_port *p = &e->sig.inputs[i];
        if (is_image_port(p))
            continue;
        if (in || !is_text_port(p))
            return JN_GENERATE_IN_NONE;
        in = p;
    }
    if (!in)
        return JN_GENERATE_IN_NONE;
    jn_generate_input form = strcmp(in->name, JN_GENERATE_PROMPT) == 0     ? JN_GENERATE_IN_PROMPT
                             : strcmp(in->name, JN_GENERATE_MESSAGES) == 0 ? JN_GENERATE_IN_MESSAGES
                                                                           : JN_GENERATE_IN_NONE;
    bool has_text = false;
    for (size_t i = 0; i < e->sig.n_outputs; i++) {
        const jn_port *p = &e->sig.outputs[i];
        if (strcmp(p->name, JN_GENERATE_TEXT) == 0 || strcmp(p->name, JN_GENERATE_FINISH_REASON) == 0) {
            if (!is_text_port(p))
                return JN_GENERATE_IN_NONE;
            has_text |= p->name[0] == 't';
        } else if (strcmp(p->name, JN_GENERATE_PROMPT_TOKENS) == 0 ||
                   strcmp(p->name, JN_GENERATE_COMPLETION_TOKENS) == 0) {
            if (p->dtype != JN_DTYPE_INT64)
                return JN_GENERATE_IN_NONE;
        } else {
            return JN_GENERATE_IN_NONE;
        }
    }
    return has_text ? form : JN_GENERATE_IN_NONE;
}

bool jn_generate_is(const jn_engine *e)
{
    return jn_generate_input_of(e) != JN_GENERATE_IN_NONE;
}

/* ---- sampling parameters ---- */

static int number_param(const jn_params *p, const char *key, double lo, double hi, bool *has, double *out,
                        jn_err *err)
{
    const jn_param *it = jn_params_find(p, key);
    if (!it)
        return 0;
    double v;
    if (it->type == JN_PARAM_BOOL || !jn_params_get_double(p, key, &v) || !isfinite(v))
        return jn_err_set(err, JN_EINVAL, "parameter '%s': not a number", key);
    if (v < lo || v > hi)
        return jn_err_set(err, JN_EINVAL, "parameter '%s': %g is not in [%g, %g]", key, v, lo, hi);
    *has = true;
    *out = v;
    return 0;
}

static int integer_param(const jn_params *p, const char *key, int64_t lo, int64_t hi, bool *has, int64_t *out,
                         jn_err *err)
{
    const jn_param *it = jn_params_find(p, key);
    if (!it)
        return 0;
    int64_t v;
    if (it->type == JN_PARAM_INT) {
        v = it->v.i;
    } else {
        double d;
        if (it->type == JN_PARAM_BOOL || !jn_params_get_double(p, key, &d) || !isfinite(d) || d != floor(d) ||
            fabs(d) > 9.0e15)
            return jn_err_set(err, JN_EINVAL, "parameter '%s': not an integer", key);
        v = (int64_t)d;
    }
    if (v < lo || v > hi)
        return jn_err_set(err, JN_EINVAL, "parameter '%s': %lld is not in [%lld, %lld]", key, (long long)v,
                          (long long)lo, (long long)hi);
    *has = true;
    *out = v;
    return 0;
}

/* stop: a plain string, or a JSON list of strings given as text. */
static int stop_param(const jn_params *p, jn_generate_sampling *s, jn_err *err)
{
    const jn_param *it = jn_params_find(p, JN_GENERATE_P_STOP);
    if (!it)
        return 0;
    if (it->type != JN_PARAM_STRING)
        return jn_err_set(err, JN_EINVAL, "parameter 'stop': expected a string or a JSON list of strings");
    const char *text = it->v.s;
    if (text[0] != '[') {
        if (!*text)
            return 0; /* "" = no stop sequence */
        if (!(s->stop[0] = strdup(text)))
            return jn_err_set(err, JN_ENOMEM, "out of memory");
        s->n_stop = 1;
        return 0;
    }
    json_error_t jerr;
    json_t *list = json_loads(text, JSON_DECODE_ANY, &jerr);
    int rc = 0;
    if (!json_is_array(list))
        rc = jn_err_set(err, JN_EINVAL, "parameter 'stop': not a JSON list of strings (%s)",
                        list ? "not a list" : jerr.text);
    else if (json_array_size(list) > JN_GENERATE_MAX_STOP)
        rc = jn_err_set(err, JN_EINVAL, "parameter 'stop': %zu sequences (at most %d)", json_array_size(list),
                        JN_GENERATE_MAX_STOP);
    for (size_t i = 0; !rc && i < json_array_size(list); i++) {
        json_t *v = json_array_get(list, i);
        if (!json_is_string(v) || !json_string_length(v))
            rc = jn_err_set(err, JN_EINVAL, "parameter 'stop': element %zu is not a non-empty string", i);
        else if (!(s->stop[s->n_stop] = strdup(json_string_value(v))))
            rc = jn_err_set(err, JN_ENOMEM, "out of memory");
        else
            s->n_stop++;
    }
    json_decref(list);
    return rc;
}

int jn_generate_sampling_read(const jn_params *p, jn_generate_sampling *s, jn_err *err)
{
    memset(s, 0, sizeof *s);
    s->n = 1;
    if (!p)
        return 0;
    int64_t n = 1;
    int rc = integer_param(p, JN_GENERATE_P_MAX_TOKENS, 1, INT32_MAX, &s->has_max_tokens, &s->max_tokens, err);
    if (!rc)
        rc = integer_param(p, JN_GENERATE_P_SEED, INT64_MIN, INT64_MAX, &s->has_seed, &s->seed, err);
    if (!rc)
        rc = integer_param(p, JN_GENERATE_P_N, 1, JN_GENERATE_MAX_N, &s->has_n, &n, err);
    if (!rc)
        rc = number_param(p, JN_GENERATE_P_TEMPERATURE, 0, 2, &s->has_temperature, &s->temperature, err);
    if (!rc)
        rc = number_param(p, JN_GENERATE_P_TOP_P, 0, 1, &s->has_top_p, &s->top_p, err);
    if (!rc)
        rc = number_param(p, JN_GENERATE_P_PRESENCE_PENALTY, -2, 2, &s->has_presence_penalty, &s->presence_penalty,
                          err);
    if (!rc)
        rc = number_param(p, JN_GENERATE_P_FREQUENCY_PENALTY, -2, 2, &s->has_frequency_penalty,
                          &s->frequency_penalty, err);
    if (!rc)
        rc = stop_param(p, s, err);
    s->n = (int)n;
    if (rc)
        jn_generate_sampling_clear(s);
    return rc;
}

void jn_generate_sampling_clear(jn_generate_sampling *s)
{
    for (size_t i = 0; i < s->n_stop; i++)
        free(s->stop[i]);
    s->n_stop = 0;
}

/* ---- inputs and answers ---- */

static int check_messages(const char *text, size_t len, jn_err *err)
{
    json_error_t jerr;
    json_t *list = json_loadb(text, len, 0, &jerr);
    int rc = 0;
    if (!list)
        rc = jn_err_set(err, JN_EINVAL, "input 'messages': not JSON (%s at offset %d)", jerr.text, jerr.position);
    else if (!json_is_array(list) || !json_array_size(list))
        rc = jn_err_set(err, JN_EINVAL, "input 'messages': expected a non-empty JSON list of messages");
    for (size_t i = 0; !rc && i < json_array_size(list); i++) {
        json_t *m = json_array_get(list, i);
        if (!json_is_object(m))
            rc = jn_err_set(err, JN_EINVAL, "input 'messages': message %zu is not an object", i);
        else if (!json_is_string(json_object_get(m, "role")))
            rc = jn_err_set(err, JN_EINVAL, "input 'messages': message %zu has no string 'role'", i);
    }
    json_decref(list);
    return rc;
}

int jn_generate_input_text(const jn_tensor_list *inputs, jn_generate_input in, const char **text, size_t *len,
                           jn_err *err)
{
    const char *name = in == JN_GENERATE_IN_MESSAGES ? JN_GENERATE_MESSAGES : JN_GENERATE_PROMPT;
    const jn_tensor *t = jn_tensor_list_find(inputs, name);
    if (!t || t->dtype != JN_DTYPE_BYTES)
        return jn_err_set(err, JN_EINVAL, "input '%s' is missing or not TEXT", name);
    int64_t count = jn_bytes_count(t->data, t->byte_size);
    if (count != 1)
        return jn_err_set(err, JN_EINVAL, "input '%s': expected one element, got %lld", name, (long long)count);
    size_t pos = 0;
    const uint8_t *elem;
    uint32_t n;
    if (!jn_bytes_next(t->data, t->byte_size, &pos, &elem, &n))
        return jn_err_set(err, JN_EINVAL, "input '%s': malformed TEXT element", name);
    if (in == JN_GENERATE_IN_MESSAGES) {
        int rc = check_messages((const char *)elem, n, err);
        if (rc)
            return rc;
    }
    *text = (const char *)elem;
    *len = n;
    return 0;
}

static int push(jn_tensor_list *out, jn_tensor *t, jn_err *err)
{
    if (!t)
        return err && err->code ? err->code : JN_ENOMEM;
    if (jn_tensor_list_push(out, t)) {
        jn_tensor_free(t);
        return jn_err_set(err, JN_ENOMEM, "out of memory");
    }
    return 0;
}

int jn_generate_push_text(jn_tensor_list *out, const char *const *texts, const size_t *lens, size_t n, jn_err *err)
{
    const int64_t shape[1] = {(int64_t)n};
    return push(out, jn_tensor_from_strings(JN_GENERATE_TEXT, 1, shape, texts, lens, n, err), err);
}

static int push_count(jn_tensor_list *out, const char *name, int64_t v, jn_err *err)
{
    jn_tensor *t = jn_tensor_create(name, JN_DTYPE_INT64, 1, one_len, err);
    if (t)
        memcpy(t->data, &v, sizeof v);
    return push(out, t, err);
}

int jn_generate_push_final(jn_tensor_list *out, const char *const *finish_reasons, size_t n, int64_t prompt_tokens,
                           int64_t completion_tokens, jn_err *err)
{
    const char *stack_strs[8];
    size_t stack_lens[8];
    const char **strs = n <= 8 ? stack_strs : malloc(n * sizeof *strs);
    size_t *lens = n <= 8 ? stack_lens : malloc(n * sizeof *lens);
    int rc = 0;
    if (!strs || !lens) {
        rc = jn_err_set(err, JN_ENOMEM, "out of memory");
    } else {
        for (size_t i = 0; i < n; i++) {
            strs[i] = finish_reasons[i] ? finish_reasons[i] : "";
            lens[i] = strlen(strs[i]);
        }
        const int64_t shape[1] = {(int64_t)n};
        rc = push(out, jn_tensor_from_strings(JN_GENERATE_FINISH_REASON, 1, shape, strs, lens, n, err), err);
    }
    if (strs != stack_strs)
        free(strs);
    if (lens != stack_lens)
        free(lens);
    if (!rc && prompt_tokens >= 0)
        rc = push_count(out, JN_GENERATE_PROMPT_TOKENS, prompt_tokens, err);
    if (!rc && completion_tokens >= 0)
        rc = push_count(out, JN_GENERATE_COMPLETION_TOKENS, completion_tokens, err);
    return rc;
}
