/* openai_write.c — the OpenAI answers as JSON: chat.completion and text_completion objects, their streamed chunks
 * and Server-Sent Events framing, embeddings (float arrays or base64 of little-endian float32), model objects and
 * errors, in the shapes of OpenAI's API reference. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "base64.h"
#include "generate.h"
#include "openai.h"
#include "json_write.h"
#include "rest.h"

static void *need(void *p)
{
    if (!p) {
        fprintf(stderr, "junction openai: out of memory\n");
        abort();
    }
    return p;
}

/* A JSON string of bytes that may not be valid UTF-8 (bad bytes become U+FFFD's stand-in '?'). */
static json_t *text_value(const char *s, size_t n)
{
    json_t *v = json_stringn(s ? s : "", s ? n : 0);
    if (v)
        return v;
    char *c = need(malloc(n + 1));
    for (size_t i = 0; i < n; i++)
        c[i] = (unsigned char)s[i] < 0x80 ? s[i] : '?';
    c[n] = '\0';
    v = json_stringn(c, n);
    free(c);
    return v;
}

char *jn_oai_error_json(const jn_oai_error *e, size_t *len)
{
    json_t *inner = json_object();
    json_object_set_new(inner, "message", text_value(e->err.msg, strlen(e->err.msg)));
    json_object_set_new(inner, "type", json_string(e->type ? e->type : "invalid_request_error"));
    json_object_set_new(inner, "param", e->param[0] ? json_string(e->param) : json_null());
    json_object_set_new(inner, "code", e->code ? json_string(e->code) : json_null());
    json_t *doc = json_pack("{s:o}", "error", inner);
    char *text = need(json_dumps(doc, JSON_COMPACT));
    json_decref(doc);
    *len = strlen(text);
    return text;
}

char *jn_oai_sse(json_t *doc, size_t *len)
{
    if (!doc) {
        static const char done[] = "data: [DONE]\n\n";
        *len = sizeof done - 1;
        return need(strdup(done));
    }
    char *text = need(json_dumps(doc, JSON_COMPACT | JSON_REAL_PRECISION(9)));
    json_decref(doc);
    size_t n = strlen(text);
    char *out = need(malloc(n + 9));
    memcpy(out, "data: ", 6);
    memcpy(out + 6, text, n);
    memcpy(out + 6 + n, "\n\n", 3);
    free(text);
    *len = n + 8;
    return out;
}

void jn_oai_make_id(char *buf, size_t size, const char *prefix)
{
    uint8_t r[12];
    if (getrandom(r, sizeof r, 0) != (ssize_t)sizeof r) /* never fails for 12 bytes; fall back to the clock */
        for (size_t i = 0; i < sizeof r; i++)
            r[i] = (uint8_t)(jn_now_ns() >> (i % 8 * 8));
    int n = snprintf(buf, size, "%s", prefix);
    for (size_t i = 0; i < sizeof r && (size_t)n + 2 < size; i++)
        n += snprintf(buf + n, size - (size_t)n, "%02x", r[i]);
}

int64_t jn_oai_count_words(const char *s, size_t n)
{
    int64_t words = 0;
    bool in = false;
    for (size_t i = 0; i < n; i++) {
        bool space = s[i] == ' ' || s[i] == '\n' || s[i] == '\t' || s[i] == '\r';
        if (!space && !in)
            words++;
        in = !space;
    }
    return words;
}

/* Element i of a TEXT output, or NULL. */
static const uint8_t *text_elem(const jn_tensor *t, size_t i, uint32_t *len)
{
    if (!t || t->dtype != JN_DTYPE_BYTES)
        return NULL;
    size_t pos = 0;
    const uint8_t *elem = NULL;
    for (size_t k = 0; k <= i; k++)
        if (!jn_bytes_next(t->data, t->byte_size, &pos, &elem, len))
            return NULL;
    return elem;
}

static int64_t first_int(const jn_tensor_list *outputs, const char *name)
{
    const jn_tensor *t = jn_tensor_list_find(outputs, name);
    if (!t || jn_tensor_element_count(t) < 1)
        return -1;
    switch (t->dtype) {
    case JN_DTYPE_INT64:
        return ((const int64_t *)t->data)[0];
    case JN_DTYPE_INT32:
        return ((const int32_t *)t->data)[0];
    default:
        return -1;
    }
}

size_t jn_oai_take(jn_oai_choice *choices, size_t max, size_t base, const jn_tensor_list *outputs,
                   int64_t *prompt_tokens, int64_t *completion_tokens)
{
    const jn_tensor *text = jn_tensor_list_find(outputs, JN_GENERATE_TEXT);
    const jn_tensor *fin = jn_tensor_list_find(outputs, JN_GENERATE_FINISH_REASON);
    int64_t n = text && text->dtype == JN_DTYPE_BYTES ? jn_tensor_element_count(text) : 0;
    for (int64_t k = 0; k < n && base + (size_t)k < max; k++) {
        jn_oai_choice *c = &choices[base + (size_t)k];
        uint32_t len = 0;
        const uint8_t *s = text_elem(text, (size_t)k, &len);
        if (s && len) {
            c->text = need(realloc(c->text, c->text_len + len + 1));
            memcpy(c->text + c->text_len, s, len);
            c->text_len += len;
            c->text[c->text_len] = '\0';
        }
        uint32_t fl = 0;
        const uint8_t *fr = text_elem(fin, (size_t)k, &fl);
        if (fr && fl) {
            size_t m = fl < sizeof c->finish_reason - 1 ? fl : sizeof c->finish_reason - 1;
            memcpy(c->finish_reason, fr, m);
            c->finish_reason[m] = '\0';
        }
    }
    int64_t pt = first_int(outputs, JN_GENERATE_PROMPT_TOKENS), ct = first_int(outputs, JN_GENERATE_COMPLETION_TOKENS);
    if (pt >= 0)
        *prompt_tokens = pt;
    if (ct >= 0)
        *completion_tokens = ct;
    return n > 0 ? (size_t)n : 0;
}

static json_t *usage(int64_t prompt_tokens, int64_t completion_tokens, bool completion)
{
    json_t *u = json_object();
    json_object_set_new(u, "prompt_tokens", json_integer(prompt_tokens));
    if (completion)
        json_object_set_new(u, "completion_tokens", json_integer(completion_tokens));
    json_object_set_new(u, "total_tokens", json_integer(prompt_tokens + (completion ? completion_tokens : 0)));
    return u;
}

static json_t *head(const char *id, const char *object, int64_t created, const char *model)
{
    json_t *d = json_object();
    json_object_set_new(d, "id", json_string(id));
    json_object_set_new(d, "object", json_string(object));
    json_object_set_new(d, "created", json_integer(created));
    json_object_set_new(d, "model", text_value(model, strlen(model)));
    return d;
}

static const char *reason_of(const jn_oai_choice *c)
{
    return c->finish_reason[0] ? c->finish_reason : "stop";
}

json_t *jn_oai_chat_completion(const char *id, int64_t created, const char *model, const jn_oai_choice *choices,
                               size_t n, int64_t prompt_tokens, int64_t completion_tokens)
{
    json_t *d = head(id, "chat.completion", created, model);
    json_t *list = json_array();
    for (size_t i = 0; i < n; i++) {
        json_t *msg = json_object();
        json_object_set_new(msg, "role", json_string("assistant"));
        json_object_set_new(msg, "content", text_value(choices[i].text, choices[i].text_len));
        json_object_set_new(msg, "refusal", json_null());
        json_t *ch = json_object();
        json_object_set_new(ch, "index", json_integer((json_int_t)i));
        json_object_set_new(ch, "message", msg);
        json_object_set_new(ch, "logprobs", json_null());
        json_object_set_new(ch, "finish_reason", json_string(reason_of(&choices[i])));
        json_array_append_new(list, ch);
    }
    json_object_set_new(d, "choices", list);
    json_object_set_new(d, "usage", usage(prompt_tokens, completion_tokens, true));
    return d;
}

json_t *jn_oai_text_completion(const char *id, int64_t created, const char *model, const jn_oai_choice *choices,
                               size_t n, int64_t prompt_tokens, int64_t completion_tokens)
{
    json_t *d = head(id, "text_completion", created, model);
    json_t *list = json_array();
    for (size_t i = 0; i < n; i++) {
        json_t *ch = json_object();
        json_object_set_new(ch, "text", text_value(choices[i].text, choices[i].text_len));
        json_object_set_new(ch, "index", json_integer((json_int_t)i));
        json_object_set_new(ch, "logprobs", json_null());
        json_object_set_new(ch, "finish_reason", json_string(reason_of(&choices[i])));
        json_array_append_new(list, ch);
    }
    json_object_set_new(d, "choices", list);
    json_object_set_new(d, "usage", usage(prompt_tokens, completion_tokens, true));
    return d;
}

char *jn_oai_chunk_sse(jn_oai_kind kind, const char *id, int64_t created, const char *model, int index,
                       const char *role, const char *content, size_t content_len, const char *finish_reason,
                       bool with_usage_null, size_t *len)
{
    /* Once per token: written straight into one buffer (json_write.h), no jansson tree. The same bytes as
     * json_dumps(JSON_COMPACT) of the object OpenAI's reference shows. */
    bool chat = kind == JN_OAI_CHAT;
    jn_json_buf b;
    jn_json_buf_init(&b, 192 + content_len + strlen(model));
    jn_json_lit(&b, "data: {\"id\":");
    jn_json_string(&b, id, strlen(id));
    if (chat)
        jn_json_lit(&b, ",\"object\":\"chat.completion.chunk\",\"created\":");
    else
        jn_json_lit(&b, ",\"object\":\"text_completion\",\"created\":");
    jn_json_int(&b, created);
    jn_json_lit(&b, ",\"model\":");
    jn_json_string(&b, model, strlen(model));
    jn_json_lit(&b, ",\"choices\":[{\"index\":");
    jn_json_int(&b, index);
    if (chat) {
        jn_json_lit(&b, ",\"delta\":{");
        if (role) {
            jn_json_lit(&b, "\"role\":");
            jn_json_string(&b, role, strlen(role));
        }
        if (content) {
            if (role)
                jn_json_lit(&b, ",");
            jn_json_lit(&b, "\"content\":");
            jn_json_string(&b, content, content_len);
        }
        jn_json_lit(&b, "}");
    } else {
        jn_json_lit(&b, ",\"text\":");
        jn_json_string(&b, content ? content : "", content ? content_len : 0);
    }
    jn_json_lit(&b, ",\"logprobs\":null,\"finish_reason\":");
    if (finish_reason)
        jn_json_string(&b, finish_reason, strlen(finish_reason));
    else
        jn_json_lit(&b, "null");
    jn_json_lit(&b, "}]");
    if (with_usage_null)
        jn_json_lit(&b, ",\"usage\":null");
    jn_json_lit(&b, "}\n\n");
    char *text = jn_json_buf_take(&b, len);
    return need(text);
}

json_t *jn_oai_usage_chunk(jn_oai_kind kind, const char *id, int64_t created, const char *model,
                           int64_t prompt_tokens, int64_t completion_tokens)
{
    json_t *d = head(id, kind == JN_OAI_CHAT ? "chat.completion.chunk" : "text_completion", created, model);
    json_object_set_new(d, "choices", json_array());
    json_object_set_new(d, "usage", usage(prompt_tokens, completion_tokens, true));
    return d;
}

char *jn_oai_embeddings(const char *model, const jn_tensor *vectors, size_t n_inputs, bool base64,
                        int64_t prompt_tokens, size_t *len, jn_err *err)
{
    if (vectors->dtype != JN_DTYPE_FP32 || vectors->ndim != 2 || vectors->shape[0] != (int64_t)n_inputs) {
        char have[96];
        jn_format_type(have, sizeof have, vectors->dtype, vectors->ndim, vectors->shape);
        jn_err_set(err, JN_EINTERNAL, "model '%s': its embedding output is %s; expected FP32[%zu, dim]", model, have,
                   n_inputs);
        return NULL;
    }
    size_t dim = (size_t)vectors->shape[1];
    const float *v = vectors->data;
    /* Written straight into one buffer (json_write.h), as v2 REST's answers are: a jansson tree of every number costs
     * several times the whole request. */
    jn_json_buf b;
    jn_json_buf_init(&b, 128 + n_inputs * (base64 ? dim * 4 / 3 + 64 : dim * 12 + 64));
    jn_json_lit(&b, "{\"object\":\"list\",\"data\":[");
    for (size_t i = 0; i < n_inputs; i++) {
        if (i)
            jn_json_lit(&b, ",");
        jn_json_lit(&b, "{\"object\":\"embedding\",\"index\":");
        jn_json_int(&b, (int64_t)i);
        jn_json_lit(&b, ",\"embedding\":");
        if (base64) { /* the float32 values as little-endian bytes (this machine's order: x86-64 and arm64) */
            _Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "base64 embeddings assume little-endian");
            size_t blen;
            char *text = need(jn_base64_encode((const uint8_t *)(v + i * dim), dim * sizeof(float), &blen));
            jn_json_lit(&b, "\"");
            jn_json_raw(&b, text, blen);
            jn_json_lit(&b, "\"");
            free(text);
        } else { /* the v2 REST door's numbers: shortest round-trip text */
            jn_json_lit(&b, "[");
            for (size_t k = 0; k < dim; k++) {
                if (k)
                    jn_json_lit(&b, ",");
                jn_json_float32(&b, v[i * dim + k]);
            }
            jn_json_lit(&b, "]");
        }
        jn_json_lit(&b, "}");
    }
    jn_json_lit(&b, "],\"model\":");
    jn_json_string(&b, model, strlen(model));
    jn_json_lit(&b, ",\"usage\":{\"prompt_tokens\":");
    jn_json_int(&b, prompt_tokens);
    jn_json_lit(&b, ",\"total_tokens\":");
    jn_json_int(&b, prompt_tokens);
    jn_json_lit(&b, "}}");
    char *text = jn_json_buf_take(&b, len);
    if (!text)
        jn_err_set(err, JN_ENOMEM, "out of memory");
    return text;
}

json_t *jn_oai_model_object(const jn_engine *e, int64_t created)
{
    json_t *d = json_object();
    json_object_set_new(d, "id", text_value(e->name, strlen(e->name)));
    json_object_set_new(d, "object", json_string("model"));
    json_object_set_new(d, "created", json_integer(created));
    json_object_set_new(d, "owned_by", json_string("junction"));
    return d;
}
