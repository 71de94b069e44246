/* openai_client.c — OpenAI-compatible servers (vLLM, llama.cpp's server, Ollama, TGI, OpenAI itself) as remote
 * engines, protocol "openai" (issue #18), written from OpenAI's API reference:
 *   chat         POST {endpoint}/chat/completions  messages -> text   (the generate signature, generate.h; streams)
 *   completions  POST {endpoint}/completions       prompt -> text     (the generate signature; streams)
 *   embeddings   POST {endpoint}/embeddings        text TEXT[-1] -> embedding EMBEDDING FP32[-1, dim]
 * Registration (describe) and health (check) read GET {endpoint}/models and require the model among its ids; the
 * embeddings engine learns its dimension from one embeddings call at registration. This file has chat and
 * completions; openai_embeddings.c the embeddings engine; openai_http.c the plumbing they share.
 *
 * Streaming: the request says "stream": true (with stream_options.include_usage); the answer's Server-Sent Events
 * (sse.c) are parsed as libcurl hands over the bytes, and every chunk with new text is emitted at once as a partial
 * whose `text` holds each choice's delta. After `data: [DONE]` one last partial carries empty deltas, finish_reason
 * and the usage counts (generate.h). A server that answers a stream request with one JSON answer (it does not
 * stream) gives one partial with everything. A stream that ends before [DONE] (a dropped connection) fails UNAVAILABLE; a
 * caller that goes away (ctx->cancelled, or emit refusing) aborts the transfer, which closes the connection.
 *
 * Errors: an HTTP error status maps to a gRPC status (400/422 INVALID_ARGUMENT, 401 UNAUTHENTICATED, 403
 * PERMISSION_DENIED, 404 NOT_FOUND, 429 RESOURCE_EXHAUSTED, 5xx UNAVAILABLE) with the server's own message quoted
 * (OpenAI's {"error": {"message": ...}}); a 429, or a 5xx with Retry-After, sets st->retry_after_ms for the remote
 * engine's retries. The API key (jn_endpoint.bearer) goes only into the Authorization header of this endpoint's
 * requests: never into a message.
 *
 * Ownership: answers are decoded into new tensors pushed onto `outputs` (or handed to emit). Thread-safety: every
 * call uses its own transfer; the endpoint's client is shared.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "generate.h"
#include "openai_internal.h"
#include "sse.h"

typedef enum api { API_CHAT, API_COMPLETIONS } api;

static const char *const api_paths[] = {"/chat/completions", "/completions"};

/* ---- requests ---- */

static int set_new(json_t *o, const char *key, json_t *v)
{
    return v ? json_object_set_new(o, key, v) : -1;
}

/* The sampling parameters in OpenAI's names. */
static int add_sampling(json_t *body, const jn_generate_sampling *s)
{
    int bad = 0;
    if (s->has_max_tokens)
        bad |= set_new(body, "max_tokens", json_integer(s->max_tokens));
    if (s->has_temperature)
        bad |= set_new(body, "temperature", json_real(s->temperature));
    if (s->has_top_p)
        bad |= set_new(body, "top_p", json_real(s->top_p));
    if (s->has_seed)
        bad |= set_new(body, "seed", json_integer(s->seed));
    if (s->has_n)
        bad |= set_new(body, "n", json_integer(s->n));
    if (s->has_presence_penalty)
        bad |= set_new(body, "presence_penalty", json_real(s->presence_penalty));
    if (s->has_frequency_penalty)
        bad |= set_new(body, "frequency_penalty", json_real(s->frequency_penalty));
    if (s->n_stop == 1) {
        bad |= set_new(body, "stop", json_string(s->stop[0]));
    } else if (s->n_stop > 1) {
        json_t *list = json_array();
        for (size_t i = 0; list && i < s->n_stop; i++)
            bad |= json_array_append_new(list, json_string(s->stop[i]));
        bad |= set_new(body, "stop", list);
    }
    return bad;
}

/* The body of a chat or completions request, compact JSON (malloc'd); *n_choices from the `n` parameter. NULL with
 * st set. */
static char *generate_body(api which, const char *model, const jn_infer_ctx *ctx, const jn_tensor_list *inputs,
                           bool stream, int *n_choices, jn_call_status *st)
{
    jn_err err;
    jn_err_clear(&err);
    jn_generate_input in = which == API_CHAT ? JN_GENERATE_IN_MESSAGES : JN_GENERATE_IN_PROMPT;
    const char *text;
    size_t len;
    jn_generate_sampling s;
    if (jn_generate_input_text(inputs, in, &text, &len, &err) || jn_generate_sampling_read(ctx->params, &s, &err)) {
        jn_call_status_set(st, GRPC_STATUS_INVALID_ARGUMENT, "%s", err.msg);
        return NULL;
    }
    *n_choices = s.n;
    json_t *body = json_object();
    int bad = !body || set_new(body, "model", json_string(model));
    if (which == API_CHAT)
        bad |= set_new(body, "messages", json_loadb(text, len, 0, NULL)); /* checked by jn_generate_input_text */
    else
        bad |= set_new(body, "prompt", json_stringn(text, len));
    bad |= add_sampling(body, &s);
    if (stream) {
        bad |= set_new(body, "stream", json_true());
        bad |= set_new(body, "stream_options", json_pack("{s:b}", "include_usage", 1));
    }
    jn_generate_sampling_clear(&s);
    char *out = bad ? NULL : json_dumps(body, JSON_COMPACT);
    json_decref(body);
    if (!out)
        jn_call_status_set(st, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory (building the request)");
    return out;
}

/* usage.prompt_tokens / completion_tokens, -1 when absent. */
static void read_usage(json_t *root, int64_t *prompt_tokens, int64_t *completion_tokens)
{
    json_t *u = json_object_get(root, "usage");
    json_t *p = json_object_get(u, "prompt_tokens"), *c = json_object_get(u, "completion_tokens");
    if (json_is_integer(p))
        *prompt_tokens = json_integer_value(p);
    if (json_is_integer(c))
        *completion_tokens = json_integer_value(c);
}

/* A choice's index, checked against n; -1 when out of range. */
static int choice_index(json_t *choice, size_t i, int n)
{
    json_t *idx = json_object_get(choice, "index");
    long long k = json_is_integer(idx) ? json_integer_value(idx) : (long long)i;
    return k >= 0 && k < n ? (int)k : -1;
}

/* The text of a choice: chat's message.content (or a stream's delta.content), completions' text. "" when absent
 * or null. */
static const char *choice_text(api which, json_t *choice, bool delta, size_t *len)
{
    json_t *v = which == API_CHAT ? json_object_get(json_object_get(choice, delta ? "delta" : "message"), "content")
                                  : json_object_get(choice, "text");
    *len = json_is_string(v) ? json_string_length(v) : 0;
    return json_is_string(v) ? json_string_value(v) : "";
}

/* ---- generate: unary ---- */

/* A whole chat.completion / text_completion answer: text and the final outputs pushed onto outputs. */
static int read_generate_answer(api which, json_t *root, int n, jn_tensor_list *outputs, jn_call_status *st)
{
    const char **texts = calloc((size_t)n, sizeof *texts);
    size_t *lens = calloc((size_t)n, sizeof *lens);
    const char **reasons = calloc((size_t)n, sizeof *reasons);
    json_t *choices = json_object_get(root, "choices");
    int code = 0;
    if (!texts || !lens || !reasons) {
        code = jn_call_status_set(st, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
    } else if (!json_array_size(choices)) {
        code = jn_call_status_set(st, GRPC_STATUS_INTERNAL, "%s: the answer has no choices", api_paths[which] + 1);
    } else {
        for (int i = 0; i < n; i++)
            texts[i] = "";
        for (size_t i = 0; i < json_array_size(choices); i++) {
            json_t *ch = json_array_get(choices, i);
            int k = choice_index(ch, i, n);
            if (k < 0)
                continue;
            texts[k] = choice_text(which, ch, false, &lens[k]);
            reasons[k] = json_string_value(json_object_get(ch, "finish_reason"));
        }
        int64_t pt = -1, ct = -1;
        read_usage(root, &pt, &ct);
        jn_err err;
        jn_err_clear(&err);
        if (jn_generate_push_text(outputs, texts, lens, (size_t)n, &err) ||
            jn_generate_push_final(outputs, reasons, (size_t)n, pt, ct, &err))
            code = jn_call_status_set(st, GRPC_STATUS_INTERNAL, "%s", err.msg);
    }
    free(texts);
    free(lens);
    free(reasons);
    return code;
}

static int generate_infer(api which, jn_endpoint *ep, const char *model, const jn_infer_ctx *ctx,
                          const jn_tensor_list *inputs, int64_t deadline_ns, jn_tensor_list *outputs,
                          jn_call_status *st)
{
    int n = 1;
    char *body = generate_body(which, model, ctx, inputs, false, &n, st);
    if (!body)
        return st->code;
    jn__oai_answer a;
    int code = jn__oai_exchange(ep, "POST", api_paths[which], body, strlen(body), deadline_ns, ctx->cancelled,
                                ctx->trace, &a, st);
    free(body);
    if (code)
        return code;
    json_t *root = jn__oai_parse_answer(&a, api_paths[which] + 1, st);
    free(a.data);
    if (!root)
        return st->code;
    code = read_generate_answer(which, root, n, outputs, st);
    json_decref(root);
    return code;
}

/* ---- generate: streaming ---- */

typedef struct stream_state {
    api which;
    int n;
    jn_emit_fn emit;
    void *emit_arg;
    const char **deltas; /* n, for the chunk being read */
    size_t *lens;
    char **reasons; /* n, malloc'd */
    int64_t prompt_tokens, completion_tokens;
    size_t chunks; /* events read */
    bool done;     /* [DONE] seen */
    int emit_rc;   /* emit refused (the caller went away) */
    jn_err emit_err;
    jn_call_status *st;
    const char *bearer; /* the endpoint's key, scrubbed from messages */
    bool whole;         /* the server answered the stream request with one JSON answer, emitted as one partial */
} stream_state;

static int emit_text(stream_state *s, bool final)
{
    jn_tensor_list partial;
    jn_tensor_list_init(&partial);
    int rc = jn_generate_push_text(&partial, s->deltas, s->lens, (size_t)s->n, &s->emit_err);
    if (!rc && final)
        rc = jn_generate_push_final(&partial, (const char *const *)s->reasons, (size_t)s->n, s->prompt_tokens,
                                    s->completion_tokens, &s->emit_err);
    if (!rc)
        rc = s->emit(s->emit_arg, &partial, &s->emit_err);
    jn_tensor_list_clear(&partial);
    if (rc)
        s->emit_rc = rc;
    return rc;
}

static int on_event(void *arg, const char *data, size_t len)
{
    stream_state *s = arg;
    if (len == 6 && memcmp(data, "[DONE]", 6) == 0) { /* by length: data may hold a NUL */
        s->done = true;
        return 0;
    }
    s->chunks++;
    json_error_t jerr;
    json_t *chunk = json_loadb(data, len, 0, &jerr);
    if (!json_is_object(chunk)) {
        json_decref(chunk);
        jn_call_status_set(s->st, GRPC_STATUS_INTERNAL, "stream chunk %zu is not a JSON object (%s)", s->chunks,
                           jerr.text);
        return JN_EIO;
    }
    if (json_object_get(chunk, "error")) { /* an error reported inside the stream */
        char msg[600];
        jn__oai_upstream_message(data, len, msg, sizeof msg);
        jn__oai_scrub_key(msg, s->bearer);
        json_decref(chunk);
        jn_call_status_set(s->st, GRPC_STATUS_UNAVAILABLE, "the server reported an error mid-stream: \"%s\"", msg);
        return JN_EIO;
    }
    bool any = false;
    for (int i = 0; i < s->n; i++) {
        s->deltas[i] = "";
        s->lens[i] = 0;
    }
    json_t *choices = json_object_get(chunk, "choices"); /* null or absent in the usage chunk */
    int rc = 0;
    for (size_t i = 0; i < json_array_size(choices) && !rc; i++) {
        json_t *ch = json_array_get(choices, i);
        int k = choice_index(ch, i, s->n);
        if (k < 0)
            continue;
        s->deltas[k] = choice_text(s->which, ch, true, &s->lens[k]);
        any |= s->lens[k] > 0;
        const char *reason = json_string_value(json_object_get(ch, "finish_reason"));
        if (reason && !s->reasons[k] && !(s->reasons[k] = strdup(reason)))
            rc = jn_call_status_set(s->st, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
    }
    read_usage(chunk, &s->prompt_tokens, &s->completion_tokens);
    if (!rc && any)
        rc = emit_text(s, false);
    json_decref(chunk);
    return rc;
}

static bool all_finished(const stream_state *s)
{
    for (int i = 0; i < s->n; i++)
        if (!s->reasons[i])
            return false;
    return true;
}

/* A stream request answered with one whole JSON answer (a server that ignores "stream"): its text and final
 * outputs as one partial. */
static int emit_whole(stream_state *s, const jn__oai_answer *a, jn_call_status *st)
{
    json_t *root = jn__oai_parse_answer(a, api_paths[s->which] + 1, st);
    if (!root)
        return st->code;
    jn_tensor_list partial;
    jn_tensor_list_init(&partial);
    int code = read_generate_answer(s->which, root, s->n, &partial, st);
    json_decref(root);
    if (!code && s->emit(s->emit_arg, &partial, &s->emit_err)) {
        s->emit_rc = s->emit_err.code ? s->emit_err.code : JN_ECANCELLED;
        code = jn_call_status_set(st, GRPC_STATUS_CANCELLED, "the caller stopped reading: %s", s->emit_err.msg);
    }
    jn_tensor_list_clear(&partial);
    s->whole = !code;
    return code;
}

/* Reads the event stream of a started transfer into emits. 0, or the grpc status with st set. */
static int read_stream(const jn_endpoint *ep, jn_http_transfer *t, const char *url, const jn_infer_ctx *ctx,
                       stream_state *s, jn_call_status *st)
{
    jn_sse sse;
    jn_sse_init(&sse, 0);
    jn__oai_answer a = {0};
    jn_err err;
    jn_err_clear(&err);
    int code = 0;
    for (;;) {
        int rc = jn_http_next(t, ctx->cancelled, &a.data, &a.len, &a.cap, &err);
        if (rc < 0) {
            code = jn__oai_transport_failure(rc, &err, "POST", url, st);
            if (code != GRPC_STATUS_CANCELLED && s->chunks)
                jn_call_status_set(st, code, "POST %s: the stream broke after %zu chunks: %s", url, s->chunks,
                                   err.msg);
            break;
        }
        long status = jn_http_status(t);
        if (status != 200) {
            if (rc == JN_HTTP_END || a.len > ((size_t)1 << 20)) { /* an error's message is in its first MiB */
                code = jn__oai_http_failure(ep, "POST", url, status, jn_http_retry_after_ms(t), a.data, a.len, st);
                break;
            }
            continue; /* the error's body: read it whole */
        }
        char type[128];
        jn_http_content_type(t, type, sizeof type);
        if (strncasecmp(type, "application/json", 16) == 0) { /* a server that does not stream: one answer */
            if (rc != JN_HTTP_END)
                continue;
            code = emit_whole(s, &a, st);
            break;
        }
        int frc = jn_sse_feed(&sse, a.data, a.len, on_event, s, &err);
        a.len = 0;
        if (frc) {
            if (s->emit_rc)
                code = jn_call_status_set(st, GRPC_STATUS_CANCELLED, "the caller stopped reading: %s",
                                          s->emit_err.msg);
            else if (!st->code)
                code = jn_call_status_set(st, GRPC_STATUS_INTERNAL, "POST %s: %s", url, err.msg);
            else
                code = st->code;
            break;
        }
        if (rc == JN_HTTP_END) {
            if (!s->done && !all_finished(s))
                code = jn_call_status_set(st, GRPC_STATUS_UNAVAILABLE,
                                          "POST %s: the stream ended after %zu chunks without data: [DONE]", url,
                                          s->chunks);
            break;
        }
    }
    free(a.data);
    jn_sse_free(&sse);
    return code;
}

static int generate_stream(api which, jn_endpoint *ep, const char *model, const jn_infer_ctx *ctx,
                           const jn_tensor_list *inputs, int64_t deadline_ns, jn_emit_fn emit, void *emit_arg,
                           jn_call_status *st)
{
    int n = 1;
    char *body = generate_body(which, model, ctx, inputs, true, &n, st);
    if (!body)
        return st->code;
    char url[512];
    jn__oai_url(url, sizeof url, ep, api_paths[which]);
    stream_state s = {.which = which, .n = n, .emit = emit, .emit_arg = emit_arg, .prompt_tokens = -1,
                      .completion_tokens = -1, .st = st,
                      .bearer = ep->bearer};
    s.deltas = calloc((size_t)n, sizeof *s.deltas);
    s.lens = calloc((size_t)n, sizeof *s.lens);
    s.reasons = calloc((size_t)n, sizeof *s.reasons);
    jn_err_clear(&s.emit_err);
    st->code = 0;
    int code = 0;
    jn_http_transfer *t = NULL;
    if (!s.deltas || !s.lens || !s.reasons) {
        code = jn_call_status_set(st, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
    } else {
        jn_http_client_request r = {.method = "POST", .url = url, .body = body, .body_len = strlen(body),
                             .bearer = ep->bearer, .accept = "text/event-stream", .deadline_ns = deadline_ns};
        char tp[JN_TRACEPARENT_LEN + 1];
        jn__oai_trace_headers(&r, ctx->trace, tp);
        jn_err err;
        jn_err_clear(&err);
        if (!(t = jn_http_start(ep->http, &r, &err)))
            code = jn__oai_transport_failure(err.code, &err, "POST", url, st);
        else
            code = read_stream(ep, t, url, ctx, &s, st);
    }
    jn_http_close(t); /* before the end (cancelled, emit refused, an error): aborts it, closing the connection */
    if (!code && !s.whole) {
        for (int i = 0; i < n; i++) {
            s.deltas[i] = "";
            s.lens[i] = 0;
        }
        if (emit_text(&s, true))
            code = jn_call_status_set(st, GRPC_STATUS_CANCELLED, "the caller stopped reading: %s", s.emit_err.msg);
    }
    for (int i = 0; s.reasons && i < n; i++)
        free(s.reasons[i]);
    free(s.reasons);
    free(s.deltas);
    free(s.lens);
    free(body);
    return code;
}

/* ---- describe: the generate signature ---- */

static int describe(api which, jn_endpoint *ep, const char *model, int64_t deadline_ns, jn_signature *sig,
                    bool *streams, jn_call_status *st)
{
    *streams = false;
    int code = jn__oai_model_listed(ep, model, deadline_ns, st);
    if (code)
        return code;
    jn_err err;
    jn_err_clear(&err);
    if (jn_generate_signature(sig, which == API_CHAT ? JN_GENERATE_IN_MESSAGES : JN_GENERATE_IN_PROMPT, &err))
        return jn_call_status_set(st, GRPC_STATUS_INTERNAL, "%s", err.msg);
    *streams = true;
    return 0;
}

/* ---- the protocol objects, one per kind ---- */

#define OPENAI_KIND(lower, API)                                                                                    \
    static int lower##_describe(jn_endpoint *ep, const char *model, const char *version, int64_t deadline_ns,      \
                                jn_signature *sig, bool *streams, jn_call_status *st)                             \
    {                                                                                                              \
        (void)version;                                                                                             \
        return describe(API, ep, model, deadline_ns, sig, streams, st);                                            \
    }

OPENAI_KIND(chat, API_CHAT)
OPENAI_KIND(completions, API_COMPLETIONS)

static int chat_infer(jn_endpoint *ep, const char *model, const jn_infer_ctx *ctx, const jn_tensor_list *inputs,
                      int64_t deadline_ns, jn_tensor_list *outputs, jn_call_status *st)
{
    return generate_infer(API_CHAT, ep, model, ctx, inputs, deadline_ns, outputs, st);
}

static int completions_infer(jn_endpoint *ep, const char *model, const jn_infer_ctx *ctx,
                             const jn_tensor_list *inputs, int64_t deadline_ns, jn_tensor_list *outputs,
                             jn_call_status *st)
{
    return generate_infer(API_COMPLETIONS, ep, model, ctx, inputs, deadline_ns, outputs, st);
}

static int chat_stream(jn_endpoint *ep, const char *model, const char *version, const jn_infer_ctx *ctx,
                       const jn_tensor_list *inputs, int64_t deadline_ns, jn_emit_fn emit, void *emit_arg,
                       jn_call_status *st)
{
    (void)version;
    return generate_stream(API_CHAT, ep, model, ctx, inputs, deadline_ns, emit, emit_arg, st);
}

static int completions_stream(jn_endpoint *ep, const char *model, const char *version, const jn_infer_ctx *ctx,
                              const jn_tensor_list *inputs, int64_t deadline_ns, jn_emit_fn emit, void *emit_arg,
                              jn_call_status *st)
{
    (void)version;
    return generate_stream(API_COMPLETIONS, ep, model, ctx, inputs, deadline_ns, emit, emit_arg, st);
}

const jn_remote_proto jn_remote_openai_chat = {
    .name = "openai",
    .platform = "openai",
    .describe = chat_describe,
    .infer_method = JN_RM_COUNT,
    .infer_stream = chat_stream,
    .check = jn__oai_check,
    .http = true,
    .infer = chat_infer,
};

const jn_remote_proto jn_remote_openai_completions = {
    .name = "openai",
    .platform = "openai",
    .describe = completions_describe,
    .infer_method = JN_RM_COUNT,
    .infer_stream = completions_stream,
    .check = jn__oai_check,
    .http = true,
    .infer = completions_infer,
};
