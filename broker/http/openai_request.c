/* openai_request.c — OpenAI request bodies (chat/completions, completions, embeddings) into jn_oai_request, with
 * every known field checked and errors naming the field as OpenAI's `param` does ("messages[2].content",
 * "temperature"). Unknown fields are ignored (as most OpenAI-compatible servers do); fields we cannot honour
 * (logprobs, echo, tools, token arrays) are refused rather than silently dropped. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base64.h"
#include "openai.h"
#include "grow.h"

int jn_oai_error_set(jn_oai_error *e, int status, const char *param, const char *fmt, ...)
{
    e->status = status;
    e->type = status == 401   ? "invalid_request_error"
              : status == 429 ? "rate_limit_exceeded"
              : status >= 500 ? "server_error"
                              : "invalid_request_error";
    e->code = status == 401 ? "invalid_api_key" : status == 429 ? "rate_limit_exceeded" : NULL;
    snprintf(e->param, sizeof e->param, "%s", param ? param : "");
    va_list ap;
    va_start(ap, fmt);
    char msg[JN_ERR_MSG_MAX];
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    jn_err_set(&e->err, JN_EINVAL, "%s", msg);
    return status;
}

void jn_oai_error_from(jn_oai_error *e, const jn_err *err)
{
    int status = jn_err_http_status(err->code ? err->code : JN_EINTERNAL);
    if (err->code == JN_ECANCELLED)
        status = 499;
    jn_oai_error_set(e, status, NULL, "%s", err->msg[0] ? err->msg : jn_strerror(err->code));
    e->err.code = err->code;
    if (err->code == JN_ENOTFOUND) {
        e->code = "model_not_found";
        snprintf(e->param, sizeof e->param, "model");
    }
}

void jn_oai_request_clear(jn_oai_request *r)
{
    free(r->model);
    free(r->messages_json);
    free(r->prompt);
    for (size_t i = 0; i < r->n_images; i++) {
        free(r->images[i].url);
        free(r->images[i].bytes);
        free(r->images[i].media_type);
    }
    free(r->images);
    for (size_t i = 0; i < r->n_inputs; i++)
        free(r->inputs[i]);
    free(r->inputs);
    jn_params_clear(&r->params);
    memset(r, 0, sizeof *r);
}

static const char *kind_of(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        return "an object";
    case JSON_ARRAY:
        return "an array";
    case JSON_STRING:
        return "a string";
    case JSON_INTEGER:
        return "an integer";
    case JSON_REAL:
        return "a number";
    case JSON_TRUE:
    case JSON_FALSE:
        return "a boolean";
    default:
        return "null";
    }
}

static int bad(jn_oai_error *e, const char *param, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int bad(jn_oai_error *e, const char *param, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    jn_oai_error_set(e, 400, param, "%s", msg);
    return JN_EINVAL;
}

static int oom(jn_oai_error *e)
{
    jn_oai_error_set(e, 500, NULL, "out of memory");
    e->err.code = JN_ENOMEM;
    return JN_ENOMEM;
}

/* A number field within [lo, hi], passed on as a double parameter. */
static int take_number(const json_t *doc, const char *key, double lo, double hi, jn_params *p, jn_oai_error *e)
{
    const json_t *v = json_object_get(doc, key);
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_number(v))
        return bad(e, key, "'%s' must be a number, got %s", key, kind_of(v));
    double d = json_number_value(v);
    if (!(d >= lo && d <= hi))
        return bad(e, key, "'%s' must be between %g and %g, got %g", key, lo, hi, d);
    return jn_params_set_double(p, key, d) ? oom(e) : 0;
}

/* An integer field within [lo, hi]; *out set (and passed on as `as`, unless NULL). */
static int take_int(const json_t *doc, const char *key, int64_t lo, int64_t hi, const char *as, jn_params *p,
                    int64_t *out, jn_oai_error *e)
{
    const json_t *v = json_object_get(doc, key);
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_integer(v) && !(json_is_real(v) && json_real_value(v) == floor(json_real_value(v)) &&
                                 fabs(json_real_value(v)) < 9e15))
        return bad(e, key, "'%s' must be an integer, got %s", key, kind_of(v));
    int64_t i = json_is_integer(v) ? (int64_t)json_integer_value(v) : (int64_t)json_real_value(v);
    if (i < lo || i > hi)
        return bad(e, key, "'%s' must be between %lld and %lld, got %lld", key, (long long)lo, (long long)hi,
                   (long long)i);
    if (out)
        *out = i;
    if (as && jn_params_set_int(p, as, i))
        return oom(e);
    return 0;
}

static int take_bool(const json_t *doc, const char *key, bool *out, jn_oai_error *e)
{
    const json_t *v = json_object_get(doc, key);
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_boolean(v))
        return bad(e, key, "'%s' must be a boolean, got %s", key, kind_of(v));
    *out = json_is_true(v);
    return 0;
}

/* `stop`: a string, or an array of 1..4 strings (passed on as the string, or the array as JSON text). */
static int take_stop(const json_t *doc, jn_params *p, jn_oai_error *e)
{
    const json_t *v = json_object_get(doc, "stop");
    if (!v || json_is_null(v))
        return 0;
    if (json_is_string(v))
        return jn_params_set_string(p, "stop", json_string_value(v)) ? oom(e) : 0;
    if (!json_is_array(v))
        return bad(e, "stop", "'stop' must be a string or an array of strings, got %s", kind_of(v));
    if (json_array_size(v) > 4)
        return bad(e, "stop", "'stop' takes at most 4 sequences, got %zu", json_array_size(v));
    size_t i;
    const json_t *s;
    json_array_foreach(v, i, s) if (!json_is_string(s)) return bad(e, "stop", "'stop[%zu]' must be a string, got %s",
                                                                    i, kind_of(s));
    char *text = json_dumps(v, JSON_COMPACT);
    if (!text)
        return oom(e);
    int rc = jn_params_set_string(p, "stop", text);
    free(text);
    return rc ? oom(e) : 0;
}

/* The sampling fields chat and completions share. */
static int take_sampling(const json_t *doc, jn_oai_request *r, jn_oai_error *e)
{
    int64_t n = 1, max_tokens = 0;
    int rc = take_int(doc, "n", 1, JN_OAI_MAX_N, NULL, NULL, &n, e);
    if (!rc)
        rc = take_int(doc, "max_tokens", 1, INT32_MAX, "max_tokens", &r->params, &max_tokens, e);
    if (!rc) /* the newer name wins */
        rc = take_int(doc, "max_completion_tokens", 1, INT32_MAX, "max_tokens", &r->params, &max_tokens, e);
    if (!rc)
        rc = take_number(doc, "temperature", 0, 2, &r->params, e);
    if (!rc)
        rc = take_number(doc, "top_p", 0, 1, &r->params, e);
    if (!rc)
        rc = take_number(doc, "presence_penalty", -2, 2, &r->params, e);
    if (!rc)
        rc = take_number(doc, "frequency_penalty", -2, 2, &r->params, e);
    if (!rc)
        rc = take_int(doc, "seed", INT64_MIN, INT64_MAX, "seed", &r->params, NULL, e);
    /* Not OpenAI's, but what local-model servers (vLLM, llama.cpp) take beside its fields: passed on to engines
     * that read them (engines/generate/causallm.h), which check their ranges. */
    if (!rc)
        rc = take_int(doc, "top_k", 0, INT32_MAX, "top_k", &r->params, NULL, e);
    if (!rc)
        rc = take_number(doc, "repetition_penalty", 0, 10, &r->params, e);
    if (!rc)
        rc = take_stop(doc, &r->params, e);
    if (!rc)
        rc = take_bool(doc, "stream", &r->stream, e);
    if (rc)
        return rc;
    r->n = (int)n;
    const json_t *so = json_object_get(doc, "stream_options");
    if (so && !json_is_null(so)) {
        if (!json_is_object(so))
            return bad(e, "stream_options", "'stream_options' must be an object, got %s", kind_of(so));
        if (!r->stream)
            return bad(e, "stream_options", "'stream_options' is only allowed when 'stream' is true");
        if ((rc = take_bool(so, "include_usage", &r->include_usage, e))) {
            snprintf(e->param, sizeof e->param, "stream_options.include_usage");
            return rc;
        }
    }
    const json_t *lp = json_object_get(doc, "logprobs");
    if (lp && !json_is_null(lp) && !json_is_false(lp) && !(json_is_integer(lp) && json_integer_value(lp) == 0))
        return bad(e, "logprobs", "'logprobs' is not supported by this server");
    const json_t *tools = json_object_get(doc, "tools");
    if (tools && !json_is_null(tools) && !(json_is_array(tools) && json_array_size(tools) == 0))
        return bad(e, "tools", "'tools' (function calling) is not supported by this server");
    return 0;
}

/* "data:[<type>][;base64],<data>" -> bytes. */
static int decode_data_uri(const char *url, jn_oai_image *img, const char *param, jn_oai_error *e)
{
    const char *comma = strchr(url, ',');
    if (!comma)
        return bad(e, param, "'%s': a data: URI needs a ',' before its data", param);
    const char *meta = url + 5;
    size_t meta_len = (size_t)(comma - meta);
    if (meta_len < 7 || strncmp(comma - 7, ";base64", 7) != 0)
        return bad(e, param, "'%s': only base64 data: URIs are accepted (data:<type>;base64,...)", param);
    size_t type_len = meta_len - 7;
    const char *semi = memchr(meta, ';', type_len);
    if (semi)
        type_len = (size_t)(semi - meta);
    size_t bad_at = 0;
    img->bytes = jn_base64_decode(comma + 1, strlen(comma + 1), &img->len, &bad_at);
    if (!img->bytes)
        return bad_at == SIZE_MAX ? oom(e)
                                  : bad(e, param, "'%s': malformed base64 at offset %zu of the data", param, bad_at);
    if (type_len && !(img->media_type = strndup(meta, type_len)))
        return oom(e);
    return 0;
}

static int add_image(jn_oai_request *r, const json_t *part, const char *param, jn_oai_error *e)
{
    const json_t *iu = json_object_get(part, "image_url");
    const json_t *url = json_is_object(iu) ? json_object_get(iu, "url") : iu;
    if (!json_is_string(url))
        return bad(e, param, "'%s.image_url' must be an object with a string 'url'", param);
    const char *u = json_string_value(url);
    jn_oai_image *grown = realloc(r->images, (r->n_images + 1) * sizeof *grown);
    if (!grown)
        return oom(e);
    r->images = grown;
    jn_oai_image *img = &r->images[r->n_images++];
    memset(img, 0, sizeof *img);
    char where[48];
    snprintf(where, sizeof where, "%.30s.image_url.url", param);
    if (strncasecmp(u, "data:", 5) == 0)
        return decode_data_uri(u, img, where, e);
    if (strncasecmp(u, "http://", 7) != 0 && strncasecmp(u, "https://", 8) != 0)
        return bad(e, where, "'%s' must be an http(s) URL or a data: URI", where);
    return (img->url = strdup(u)) ? 0 : oom(e);
}

static const char *const roles[] = {"system", "developer", "user", "assistant", "tool", "function"};

static int check_messages(const json_t *msgs, jn_oai_request *r, jn_oai_error *e)
{
    if (!msgs)
        return bad(e, "messages", "'messages' is required");
    if (!json_is_array(msgs))
        return bad(e, "messages", "'messages' must be an array, got %s", kind_of(msgs));
    if (json_array_size(msgs) == 0)
        return bad(e, "messages", "'messages' must hold at least one message");
    size_t i;
    const json_t *m;
    json_array_foreach(msgs, i, m)
    {
        char param[40];
        snprintf(param, sizeof param, "messages[%zu]", i);
        if (!json_is_object(m))
            return bad(e, param, "'%s' must be an object, got %s", param, kind_of(m));
        const json_t *role = json_object_get(m, "role");
        if (!json_is_string(role))
            return bad(e, param, "'%s.role' must be a string", param);
        bool known = false;
        for (size_t k = 0; k < sizeof roles / sizeof roles[0]; k++)
            known |= strcmp(json_string_value(role), roles[k]) == 0;
        if (!known)
            return bad(e, param, "'%s.role' must be one of system, developer, user, assistant, tool, got '%.32s'",
                       param, json_string_value(role));
        const json_t *content = json_object_get(m, "content");
        snprintf(param, sizeof param, "messages[%zu].content", i);
        if (!content || json_is_null(content)) {
            if (strcmp(json_string_value(role), "assistant") != 0)
                return bad(e, param, "'%s' is required", param);
            continue;
        }
        if (json_is_string(content))
            continue;
        if (!json_is_array(content))
            return bad(e, param, "'%s' must be a string or an array of content parts, got %s", param,
                       kind_of(content));
        size_t k;
        const json_t *part;
        json_array_foreach(content, k, part)
        {
            char pp[48];
            snprintf(pp, sizeof pp, "messages[%zu].content[%zu]", i, k);
            const json_t *type = json_is_object(part) ? json_object_get(part, "type") : NULL;
            if (!json_is_string(type))
                return bad(e, pp, "'%s' must be an object with a string 'type'", pp);
            const char *t = json_string_value(type);
            if (strcmp(t, "text") == 0) {
                if (!json_is_string(json_object_get(part, "text")))
                    return bad(e, pp, "'%s.text' must be a string", pp);
            } else if (strcmp(t, "image_url") == 0) {
                int rc = add_image(r, part, pp, e);
                if (rc)
                    return rc;
            } else {
                return bad(e, pp, "'%s': content parts of type '%.32s' are not supported (text, image_url)", pp,
                           t);
            }
        }
    }
    return 0;
}

char *jn_oai_render_prompt(const json_t *messages)
{
    jn_text b = {0};
    size_t i;
    const json_t *m;
    json_array_foreach(messages, i, m)
    {
        const char *role = json_string_value(json_object_get(m, "role"));
        const json_t *content = json_object_get(m, "content");
        jn_text_add(&b, role ? role : "user", role ? strlen(role) : 4);
        jn_text_add(&b, ": ", 2);
        if (json_is_string(content)) {
            jn_text_add(&b, json_string_value(content), json_string_length(content));
        } else if (json_is_array(content)) {
            size_t k, n_text = 0;
            const json_t *part;
            json_array_foreach(content, k, part)
            {
                const json_t *t = json_object_get(part, "text");
                if (!json_is_string(t))
                    continue;
                if (n_text++)
                    jn_text_add(&b, "\n", 1);
                jn_text_add(&b, json_string_value(t), json_string_length(t));
            }
        }
        jn_text_add(&b, "\n", 1);
    }
    jn_text_add(&b, "assistant:", 10);
    if (b.failed) {
        free(b.p);
        return NULL;
    }
    return b.p;
}

static int take_model(const json_t *doc, jn_oai_request *r, jn_oai_error *e)
{
    const json_t *model = json_object_get(doc, "model");
    if (!model)
        return bad(e, "model", "'model' is required");
    if (!json_is_string(model) || json_string_length(model) == 0)
        return bad(e, "model", "'model' must be a non-empty string");
    return (r->model = strdup(json_string_value(model))) ? 0 : oom(e);
}

static int parse_chat(const json_t *doc, jn_oai_request *r, jn_oai_error *e)
{
    const json_t *msgs = json_object_get(doc, "messages");
    int rc = check_messages(msgs, r, e);
    if (!rc)
        rc = take_sampling(doc, r, e);
    if (rc)
        return rc;
    r->messages_json = json_dumps(msgs, JSON_COMPACT);
    r->prompt = jn_oai_render_prompt(msgs);
    return r->messages_json && r->prompt ? 0 : oom(e);
}

static int parse_completions(const json_t *doc, jn_oai_request *r, jn_oai_error *e)
{
    const json_t *p = json_object_get(doc, "prompt");
    if (!p)
        return bad(e, "prompt", "'prompt' is required");
    if (json_is_array(p)) { /* a list of one prompt is the prompt; token arrays and batches are not served */
        if (json_array_size(p) != 1 || !json_is_string(json_array_get(p, 0)))
            return bad(e, "prompt", "'prompt' must be a string (or an array holding one string): token arrays and "
                                    "several prompts in one request are not supported");
        p = json_array_get(p, 0);
    }
    if (!json_is_string(p))
        return bad(e, "prompt", "'prompt' must be a string, got %s", kind_of(p));
    bool echo = false;
    int rc = take_bool(doc, "echo", &echo, e);
    if (!rc && echo)
        rc = bad(e, "echo", "'echo' is not supported by this server");
    const json_t *suffix = json_object_get(doc, "suffix");
    if (!rc && suffix && !json_is_null(suffix))
        rc = bad(e, "suffix", "'suffix' is not supported by this server");
    const json_t *best_of = json_object_get(doc, "best_of");
    if (!rc && best_of && !json_is_null(best_of) && !(json_is_integer(best_of) && json_integer_value(best_of) == 1))
        rc = bad(e, "best_of", "'best_of' other than 1 is not supported by this server");
    if (!rc)
        rc = take_sampling(doc, r, e);
    if (rc)
        return rc;
    return (r->prompt = strdup(json_string_value(p))) ? 0 : oom(e);
}

static int parse_embeddings(const json_t *doc, jn_oai_request *r, jn_oai_error *e)
{
    const json_t *in = json_object_get(doc, "input");
    if (!in)
        return bad(e, "input", "'input' is required");
    size_t n = json_is_array(in) ? json_array_size(in) : 1;
    if (!json_is_string(in) && !json_is_array(in))
        return bad(e, "input", "'input' must be a string or an array of strings, got %s", kind_of(in));
    if (n == 0)
        return bad(e, "input", "'input' must not be an empty array");
    if (n > JN_OAI_MAX_INPUTS)
        return bad(e, "input", "'input' holds %zu strings; at most %d per request", n, JN_OAI_MAX_INPUTS);
    if (!(r->inputs = calloc(n, sizeof *r->inputs)))
        return oom(e);
    for (size_t i = 0; i < n; i++) {
        const json_t *s = json_is_array(in) ? json_array_get(in, i) : in;
        if (!json_is_string(s))
            return bad(e, "input", "'input[%zu]' must be a string, got %s (token arrays are not supported)", i,
                       kind_of(s));
        if (json_string_length(s) == 0)
            return bad(e, "input", "'input[%zu]' must not be empty", i);
        if (!(r->inputs[i] = strdup(json_string_value(s))))
            return oom(e);
        r->n_inputs = i + 1;
    }
    const json_t *fmt = json_object_get(doc, "encoding_format");
    if (fmt && !json_is_null(fmt)) {
        if (!json_is_string(fmt) ||
            (strcmp(json_string_value(fmt), "float") != 0 && strcmp(json_string_value(fmt), "base64") != 0))
            return bad(e, "encoding_format", "'encoding_format' must be \"float\" or \"base64\"");
        r->base64 = strcmp(json_string_value(fmt), "base64") == 0;
    }
    int64_t dims = 0;
    int rc = take_int(doc, "dimensions", 1, 65536, "dimensions", &r->params, &dims, e);
    r->n = 1;
    return rc;
}

int jn_oai_parse(jn_oai_kind kind, const uint8_t *body, size_t len, jn_oai_request *out, jn_oai_error *e)
{
    memset(out, 0, sizeof *out);
    out->kind = kind;
    out->n = 1;
    memset(e, 0, sizeof *e);
    json_error_t jerr;
    json_t *doc = json_loadb((const char *)body, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!doc)
        return bad(e, NULL, "the body is not valid JSON: %s (line %d, column %d)", jerr.text, jerr.line,
                   jerr.column);
    int rc;
    if (!json_is_object(doc)) {
        rc = bad(e, NULL, "the body must be a JSON object, got %s", kind_of(doc));
    } else {
        rc = take_model(doc, out, e);
        if (!rc)
            rc = kind == JN_OAI_CHAT          ? parse_chat(doc, out, e)
                 : kind == JN_OAI_COMPLETIONS ? parse_completions(doc, out, e)
                                              : parse_embeddings(doc, out, e);
    }
    json_decref(doc);
    if (rc)
        jn_oai_request_clear(out);
    return rc;
}
