/* openai_routes.c — the OpenAI-compatible routes (openai.h) and their calls on the one dispatcher.
 *
 * A chat or completions request is parsed on the loop thread (on a worker when the body is over 64 KiB), admitted
 * (429 when shedding), resolved (404 model_not_found), checked to be a language model (generate.h), and run as one
 * dispatcher call with the `n` parameter (the engine gives one `text` element per choice); an engine that gives
 * fewer choices than asked is called again for the rest, one call after another (DECISIONS.md). `stream: true` answers
 * Server-Sent Events: nothing is sent until the first partial, so an error before it is an ordinary status and
 * OpenAI error body; after it, an error is a `data: {"error": ...}` event and the stream ends. The client leaving
 * (jn_http_watch_gone), a failed write or the server's shutdown cancel the call (the dispatcher's cancellation,
 * which a remote engine passes upstream).
 *
 * Ownership: an oai_call owns its parsed request, choices and the dispatcher's call; it is freed after the answer,
 * then the router's finished() runs. Threads: the handler on the loop thread; partial and done on whichever thread
 * runs the call (a worker for a streamed answer); one at a time for a call.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fetch.h"
#include "generate.h"
#include "openai.h"
#include "trace_headers.h"

/* Bodies larger than this are parsed on a worker, not on the loop thread. */
#define LOOP_PARSE_MAX ((size_t)64 << 10)

typedef struct oai_call {
    jn_call call; /* the current call's */
    const jn_llm_env *env;
    jn_http_request *req;
    jn_llm_finished_fn finished;
    void *finished_arg;
    jn_oai_kind kind;
    jn_oai_request r;
    atomic_int cancelled; /* the client left, a write failed: the call's cancellation */
    char id[64];
    int64_t created;
    int base;     /* the first choice the current call makes */
    int got;      /* choices the current call gave so far (text elements) */
    jn_oai_choice choices[JN_OAI_MAX_N];
    bool begun[JN_OAI_MAX_N]; /* the choice's first chunk (chat: the role) went out */
    int64_t prompt_tokens;     /* -1 = no engine said */
    int64_t completion_tokens; /* summed over the calls; -1 = no engine said */
    int64_t call_completion;   /* the current call's count, -1 = none yet */
    bool streaming; /* the SSE head went out */
    bool dead;      /* writing failed: the client is gone */
} oai_call;

static oai_call *owner_of(jn_call *c)
{
    return c->owner;
}

static const jn_port *text_input(const jn_engine *e)
{
    for (size_t i = 0; i < e->sig.n_inputs; i++)
        if (e->sig.inputs[i].kind == JN_KIND_TEXT)
            return &e->sig.inputs[i];
    return NULL;
}

static const jn_port *embedding_output(const jn_engine *e)
{
    for (size_t i = 0; i < e->sig.n_outputs; i++)
        if (e->sig.outputs[i].kind == JN_KIND_EMBEDDING)
            return &e->sig.outputs[i];
    return NULL;
}

bool jn_llm_embeds(const jn_engine *e)
{
    return e->sig.n_inputs == 1 && text_input(e) && embedding_output(e);
}

/* ---- answering ---- */

static void respond_json(jn_http_request *req, int status, json_t *doc)
{
    char *text = doc ? json_dumps(doc, JSON_COMPACT | JSON_REAL_PRECISION(9)) : NULL;
    json_decref(doc);
    if (!text) {
        jn_http_respond_error(req, 500, "out of memory");
        return;
    }
    jn_http_respond(req, status, "application/json", text, strlen(text), NULL);
}

static void respond_error(jn_http_request *req, const jn_oai_error *e)
{
    size_t len;
    char *body = jn_oai_error_json(e, &len);
    jn_http_respond(req, e->status, "application/json", body, len,
                    e->status == 401 ? "WWW-Authenticate: Bearer\r\n" : NULL);
}

static void oai_free(oai_call *oc)
{
    jn_llm_finished_fn finished = oc->finished;
    void *arg = oc->finished_arg;
    jn_oai_request_clear(&oc->r);
    for (int i = 0; i < JN_OAI_MAX_N; i++)
        free(oc->choices[i].text);
    free(oc);
    finished(arg);
}

/* Sends one SSE event (text taken); marks the call dead when the client is gone. */
static void send_text(oai_call *oc, char *text, size_t len)
{
    if (!oc->dead && jn_http_stream_write(oc->req, text, len) != 0) {
        oc->dead = true;
        atomic_store(&oc->cancelled, 1);
    }
    free(text);
}

/* Sends one SSE event (doc stolen; NULL = [DONE]). */
static void send_event(oai_call *oc, json_t *doc)
{
    size_t len;
    char *text = jn_oai_sse(doc, &len);
    send_text(oc, text, len);
}

/* Sends one chunk. */
static void send_chunk(oai_call *oc, int index, const char *role, const char *content, size_t content_len,
                       const char *finish_reason)
{
    size_t len;
    char *text = jn_oai_chunk_sse(oc->kind, oc->id, oc->created, oc->r.model, index, role, content, content_len,
                                  finish_reason, oc->r.include_usage, &len);
    send_text(oc, text, len);
}

static void stream_begin(oai_call *oc)
{
    if (oc->streaming)
        return;
    oc->streaming = true;
    if (jn_http_stream_begin(oc->req, 200, "text/event-stream; charset=utf-8",
                             "Cache-Control: no-cache\r\nX-Accel-Buffering: no\r\n") != 0) {
        oc->dead = true;
        atomic_store(&oc->cancelled, 1);
    }
}

/* ---- the calls ---- */

static int start_call_n(oai_call *oc, jn_oai_error *e);

static int64_t usage_prompt(const oai_call *oc)
{
    if (oc->prompt_tokens >= 0)
        return oc->prompt_tokens;
    const char *p = oc->r.prompt ? oc->r.prompt : "";
    return jn_oai_count_words(p, strlen(p)); /* an estimate: the engine did not count */
}

static int64_t usage_completion(const oai_call *oc)
{
    if (oc->completion_tokens >= 0)
        return oc->completion_tokens;
    int64_t sum = 0;
    for (int i = 0; i < oc->r.n; i++)
        sum += jn_oai_count_words(oc->choices[i].text ? oc->choices[i].text : "", oc->choices[i].text_len);
    return sum;
}

/* A chat choice's first chunk names the role (OpenAI's habit; the SDKs accumulate the deltas onto it). */
static void begin_choice(oai_call *oc, int i)
{
    if (oc->begun[i])
        return;
    oc->begun[i] = true;
    if (oc->kind == JN_OAI_CHAT)
        send_chunk(oc, i, "assistant", "", 0, NULL);
}

/* Takes a whole or partial answer of the current call; when streaming, sends each choice's new text as a chunk. */
static void take_answer(oai_call *oc, const jn_tensor_list *outputs)
{
    size_t before[JN_OAI_MAX_N];
    for (int i = 0; i < JN_OAI_MAX_N; i++)
        before[i] = oc->choices[i].text_len;
    size_t n = jn_oai_take(oc->choices, (size_t)oc->r.n, (size_t)oc->base, outputs, &oc->prompt_tokens,
                           &oc->call_completion);
    if ((int)n > oc->got)
        oc->got = (int)n > oc->r.n - oc->base ? oc->r.n - oc->base : (int)n;
    if (!oc->r.stream)
        return;
    stream_begin(oc);
    for (int i = oc->base; i < oc->base + oc->got; i++) {
        jn_oai_choice *ch = &oc->choices[i];
        if (ch->text_len == before[i] && oc->begun[i])
            continue;
        begin_choice(oc, i);
        if (ch->text_len > before[i])
            send_chunk(oc, i, NULL, ch->text + before[i], ch->text_len - before[i], NULL);
    }
}

/* A streaming engine's partial answer (a worker thread). */
static int on_partial(jn_call *c, jn_tensor_list *partial, jn_err *err)
{
    oai_call *oc = owner_of(c);
    take_answer(oc, partial);
    jn_tensor_list_clear(partial);
    if (atomic_load(oc->env->cancelled))
        return jn_err_set(err, JN_ECANCELLED, "the server is shutting down");
    return oc->dead ? jn_err_set(err, JN_ECANCELLED, "the client went away") : 0;
}

static void finish_stream(oai_call *oc)
{
    if (oc->r.include_usage)
        send_event(oc, jn_oai_usage_chunk(oc->kind, oc->id, oc->created, oc->r.model, usage_prompt(oc),
                                          usage_completion(oc)));
    send_event(oc, NULL);
    jn_http_stream_end(oc->req);
    oai_free(oc);
}

/* The call failed: an error answer, or an error event when the stream has begun. */
static void fail(oai_call *oc, const jn_oai_error *e)
{
    if (!oc->streaming) {
        respond_error(oc->req, e);
        oai_free(oc);
        return;
    }
    if (!oc->dead) {
        size_t len;
        char *body = jn_oai_error_json(e, &len);
        json_t *doc = json_loadb(body, len, 0, NULL);
        free(body);
        send_event(oc, doc);
    }
    jn_http_stream_end(oc->req);
    oai_free(oc);
}

static void embeddings_done(oai_call *oc)
{
    jn_call *c = &oc->call;
    const jn_port *out = embedding_output(c->engine);
    const jn_tensor *v = out ? jn_tensor_list_find(&c->outputs, out->name) : NULL;
    jn_oai_error e;
    memset(&e, 0, sizeof e);
    char *text = NULL;
    size_t len = 0;
    if (!v) {
        jn_oai_error_set(&e, 500, NULL, "model '%s' gave no '%s' output", oc->r.model, out ? out->name : "");
    } else {
        int64_t words = 0;
        for (size_t i = 0; i < oc->r.n_inputs; i++)
            words += jn_oai_count_words(oc->r.inputs[i], strlen(oc->r.inputs[i]));
        text = jn_oai_embeddings(oc->r.model, v, oc->r.n_inputs, oc->r.base64, words, &len, &e.err);
        if (!text)
            jn_oai_error_set(&e, 500, NULL, "%s", e.err.msg);
    }
    c->rc = text ? 0 : JN_EINTERNAL;
    jn_call_finish(c);
    if (!text) {
        fail(oc, &e);
        return;
    }
    jn_http_respond(oc->req, 200, "application/json", text, len, NULL);
    oai_free(oc);
}

static void on_done(jn_call *c)
{
    oai_call *oc = owner_of(c);
    if (c->rc) {
        jn_oai_error e;
        memset(&e, 0, sizeof e);
        jn_oai_error_from(&e, &c->err);
        jn_call_finish(c);
        fail(oc, &e);
        return;
    }
    if (oc->kind == JN_OAI_EMBEDDINGS) {
        embeddings_done(oc);
        return;
    }
    take_answer(oc, &c->outputs); /* unary: the whole answer; streamed: what the end carries, if anything */
    jn_call_finish(c);
    if (oc->got == 0) { /* a generate engine always gives `text`: count it as one empty choice */
        oc->got = 1;
        if (oc->r.stream)
            begin_choice(oc, oc->base);
    }
    if (oc->call_completion >= 0)
        oc->completion_tokens = (oc->completion_tokens > 0 ? oc->completion_tokens : 0) + oc->call_completion;
    if (oc->r.stream) {
        stream_begin(oc);
        for (int i = oc->base; i < oc->base + oc->got; i++) {
            const char *reason = oc->choices[i].finish_reason[0] ? oc->choices[i].finish_reason : "stop";
            send_chunk(oc, i, NULL, oc->kind == JN_OAI_CHAT ? NULL : "", 0, reason);
        }
    }
    oc->base += oc->got;
    if (oc->base < oc->r.n && !oc->dead) { /* the engine gave fewer choices than asked: another call for the rest */
        jn_oai_error e;
        memset(&e, 0, sizeof e);
        if (start_call_n(oc, &e) != 0)
            fail(oc, &e);
        return;
    }
    if (oc->r.stream) {
        finish_stream(oc);
        return;
    }
    json_t *doc = oc->kind == JN_OAI_CHAT ? jn_oai_chat_completion(oc->id, oc->created, oc->r.model, oc->choices,
                                                                   (size_t)oc->r.n, usage_prompt(oc),
                                                                   usage_completion(oc))
                                          : jn_oai_text_completion(oc->id, oc->created, oc->r.model, oc->choices,
                                                                   (size_t)oc->r.n, usage_prompt(oc),
                                                                   usage_completion(oc));
    respond_json(oc->req, 200, doc);
    oai_free(oc);
}

static const jn_call_ops unary_ops = {.door = JN_METRICS_HTTP, .done = on_done};
static const jn_call_ops stream_ops = {.door = JN_METRICS_HTTP, .partial = on_partial, .done = on_done};

/* One BYTES element as a [1] tensor. */
static int push_text(jn_request *req, const char *name, const char *text, jn_oai_error *e)
{
    int64_t shape[1] = {1};
    size_t len = strlen(text);
    jn_tensor *t = jn_tensor_from_strings(name, 1, shape, &text, &len, 1, &e->err);
    if (!t || jn_tensor_list_push(&req->inputs, t)) {
        jn_tensor_free(t);
        jn_oai_error_set(e, 500, NULL, "out of memory");
        return JN_ENOMEM;
    }
    return 0;
}

/* A generate engine's IMAGE inputs, in order, from the chat's image_url parts: data: URIs as decoded, http(s) URLs
 * fetched (broker/fetch: --fetch-allow, limits, Content-Type image/...; this runs on a worker when fetching is on,
 * jn_openai_handle sees to it). */
static int image_inputs(oai_call *oc, size_t n_ports, jn_oai_error *e)
{
    jn_call *c = &oc->call;
    const jn_engine *en = c->engine;
    if (oc->r.n_images != n_ports)
        return jn_oai_error_set(e, 400, "messages", "model '%s' takes %zu image%s (its IMAGE inputs), the messages "
                                "hold %zu image_url part%s", en->name, n_ports, n_ports == 1 ? "" : "s",
                                oc->r.n_images, oc->r.n_images == 1 ? "" : "s"),
               JN_EINVAL;
    size_t k = 0;
    for (size_t i = 0; i < en->sig.n_inputs; i++) {
        const jn_port *p = &en->sig.inputs[i];
        if (p->kind != JN_KIND_IMAGE)
            continue;
        const jn_oai_image *img = &oc->r.images[k++];
        jn_fetched got = {0};
        if (img->url) {
            char what[96];
            jn_err err;
            jn_err_clear(&err);
            snprintf(what, sizeof what, "messages: image_url %zu", k);
            if (jn_fetch(oc->env->fetch, img->url, strlen(img->url), JN_FETCH_IMAGE, what, 0, &oc->cancelled, &got,
                         &err)) {
                jn_oai_error_from(e, &err);
                snprintf(e->param, sizeof e->param, "messages");
                return err.code;
            }
        }
        const char *bytes = img->url ? (const char *)got.data : (const char *)img->bytes;
        size_t len = img->url ? got.len : img->len;
        int64_t shape[1] = {1};
        jn_tensor *t = jn_tensor_from_strings(p->name, 1, shape, &bytes, &len, 1, &e->err);
        jn_fetched_free(&got);
        if (!t || jn_tensor_list_push(&c->req.inputs, t))
            return jn_oai_error_set(e, 500, NULL, "out of memory"), JN_ENOMEM;
    }
    return 0;
}

/* The current call's request: the prompt or messages, the sampling parameters, n = the choices still to make. */
static int build_generate(oai_call *oc, jn_oai_error *e)
{
    jn_call *c = &oc->call;
    const jn_engine *en = c->engine;
    bool takes_messages = jn_generate_input_of(en) == JN_GENERATE_IN_MESSAGES;
    size_t n_ports = jn_generate_images(en);
    if (oc->r.n_images && !takes_messages && !n_ports) {
        jn_oai_error_set(e, 400, "messages", "model '%s' takes a prompt only: image_url parts are passed on only "
                         "to models that take 'messages' or have IMAGE inputs", en->name);
        return JN_EINVAL;
    }
    int rc = n_ports ? image_inputs(oc, n_ports, e) : 0;
    if (rc)
        return rc;
    if (takes_messages) {
        if (oc->kind == JN_OAI_CHAT) {
            rc = push_text(&c->req, JN_GENERATE_MESSAGES, oc->r.messages_json, e);
        } else { /* completions on a chat-only engine: the prompt as one user message */
            json_t *m = json_pack("[{s:s,s:s}]", "role", "user", "content", oc->r.prompt);
            char *text = m ? json_dumps(m, JSON_COMPACT) : NULL;
            json_decref(m);
            rc = text ? push_text(&c->req, JN_GENERATE_MESSAGES, text, e) : JN_ENOMEM;
            free(text);
        }
    } else {
        rc = push_text(&c->req, JN_GENERATE_PROMPT, oc->r.prompt, e); /* a chat: the rendered prompt */
    }
    if (rc)
        return rc;
    for (size_t i = 0; i < oc->r.params.count; i++) {
        const jn_param *p = &oc->r.params.items[i];
        int prc = p->type == JN_PARAM_INT      ? jn_params_set_int(&c->req.params, p->key, p->v.i)
                  : p->type == JN_PARAM_DOUBLE ? jn_params_set_double(&c->req.params, p->key, p->v.d)
                  : p->type == JN_PARAM_BOOL   ? jn_params_set_bool(&c->req.params, p->key, p->v.b)
                                               : jn_params_set_string(&c->req.params, p->key, p->v.s);
        if (prc)
            return jn_oai_error_set(e, 500, NULL, "out of memory"), JN_ENOMEM;
    }
    if (oc->r.n - oc->base > 1 && jn_params_set_int(&c->req.params, JN_GENERATE_P_N, oc->r.n - oc->base))
        return jn_oai_error_set(e, 500, NULL, "out of memory"), JN_ENOMEM;
    return 0;
}

static int build_embeddings(oai_call *oc, jn_oai_error *e)
{
    jn_call *c = &oc->call;
    const jn_port *in = text_input(c->engine);
    size_t *lens = malloc(oc->r.n_inputs * sizeof *lens);
    if (!lens)
        return jn_oai_error_set(e, 500, NULL, "out of memory"), JN_ENOMEM;
    for (size_t i = 0; i < oc->r.n_inputs; i++)
        lens[i] = strlen(oc->r.inputs[i]);
    int64_t shape[1] = {(int64_t)oc->r.n_inputs};
    jn_tensor *t = jn_tensor_from_strings(in->name, 1, shape, (const char *const *)oc->r.inputs, lens,
                                          oc->r.n_inputs, &e->err);
    free(lens);
    if (!t || jn_tensor_list_push(&c->req.inputs, t)) {
        jn_tensor_free(t);
        return jn_oai_error_set(e, 500, NULL, "out of memory"), JN_ENOMEM;
    }
    const jn_param *dims = jn_params_find(&oc->r.params, "dimensions");
    const jn_port *out = embedding_output(c->engine);
    if (dims && out->ndim == 2 && out->shape[1] > 0 && dims->v.i != out->shape[1])
        return jn_oai_error_set(e, 400, "dimensions", "model '%s' gives %lld dimensions; 'dimensions' asked for %lld",
                                c->engine->name, (long long)out->shape[1], (long long)dims->v.i),
               JN_EINVAL;
    return 0;
}

/* Admits, resolves and dispatches the current choice's call. 0 = dispatched (done will run); else e is filled and
 * nothing runs. */
static int start_call_n(oai_call *oc, jn_oai_error *e)
{
    jn_call *c = &oc->call;
    bool stream = oc->r.stream && oc->kind != JN_OAI_EMBEDDINGS;
    memset(c, 0, sizeof *c);
    oc->got = 0;
    oc->call_completion = -1;
    jn_call_init(c, oc->env->dispatch, stream ? &stream_ops : &unary_ops, oc);
    c->cancelled = &oc->cancelled;
    jn__http_trace_begin(c, oc->req, "openai");
    /* The request log's door (one line per choice's call) and the body's size. */
    static const char *const doors[] = {[JN_OAI_CHAT] = "openai-chat", [JN_OAI_COMPLETIONS] = "openai-completions",
                                        [JN_OAI_EMBEDDINGS] = "openai-embeddings"};
    c->door_name = doors[oc->kind];
    c->request_bytes = oc->req->body_len;
    int rc = jn_dispatch_admit(c);
    if (!rc)
        rc = jn_dispatch_resolve(c, oc->r.model, "");
    if (rc) {
        jn_oai_error_from(e, &c->err);
        jn_call_finish(c);
        return rc;
    }
    bool fits = oc->kind == JN_OAI_EMBEDDINGS ? jn_llm_embeds(c->engine) : jn_generate_is(c->engine);
    if (!fits) {
        jn_oai_error_set(e, 400, "model",
                         oc->kind == JN_OAI_EMBEDDINGS
                             ? "model '%s' is not an embedding model (one TEXT input, an EMBEDDING output)"
                             : "model '%s' does not generate text (it needs a TEXT input 'prompt' or 'messages' and "
                               "a TEXT output 'text')",
                         oc->r.model);
        jn_call_finish(c);
        return JN_EINVAL;
    }
    rc = jn_request_set_target(&c->req, oc->r.model, "", oc->id);
    if (!rc)
        rc = oc->kind == JN_OAI_EMBEDDINGS ? build_embeddings(oc, e) : build_generate(oc, e);
    if (rc) {
        if (!e->status)
            jn_oai_error_set(e, 500, NULL, "out of memory");
        jn_call_finish(c);
        return rc;
    }
    /* Unary calls on an inline engine (the built-in embed) or an asynchronous one (a remote) start here. */
    c->run_here = !stream && oc->req->body_len < LOOP_PARSE_MAX;
    jn_dispatch(c);
    return 0;
}

static void start_call(oai_call *oc)
{
    jn_oai_error e;
    memset(&e, 0, sizeof e);
    if (jn_oai_parse(oc->kind, oc->req->body, oc->req->body_len, &oc->r, &e) != 0) {
        respond_error(oc->req, &e);
        oai_free(oc);
        return;
    }
    jn_oai_make_id(oc->id, sizeof oc->id,
                   oc->kind == JN_OAI_CHAT ? "chatcmpl-" : oc->kind == JN_OAI_COMPLETIONS ? "cmpl-" : "emb-");
    oc->created = (int64_t)time(NULL);
    oc->prompt_tokens = oc->completion_tokens = -1;
    if (oc->r.stream)
        jn_http_watch_gone(oc->req, &oc->cancelled);
    if (start_call_n(oc, &e) != 0) {
        respond_error(oc->req, &e);
        oai_free(oc);
    }
}

static void start_on_pool(void *arg)
{
    start_call(arg);
}

/* ---- models ---- */

static void list_models(const jn_llm_env *env, jn_http_request *req, const char *only)
{
    jn_engine **list = NULL;
    long n = jn_registry_list(env->reg, &list);
    json_t *data = json_array();
    json_t *one = NULL;
    const char *last = NULL;
    for (long i = 0; i < n; i++) {
        const jn_engine *e = list[i];
        if (!jn_generate_is(e) && !jn_llm_embeds(e))
            continue;
        if (last && strcmp(last, e->name) == 0) /* versions: one model object per name */
            continue;
        last = e->name;
        if (only && strcmp(only, e->name) == 0)
            one = jn_oai_model_object(e, env->started_unix);
        else if (!only)
            json_array_append_new(data, jn_oai_model_object(e, env->started_unix));
    }
    if (n > 0)
        jn_registry_list_free(list, n);
    if (only) {
        json_decref(data);
        if (!one) {
            jn_oai_error e;
            memset(&e, 0, sizeof e);
            jn_oai_error_set(&e, 404, "model", "The model '%s' does not exist (or is not a language or embedding model)",
                             only);
            e.code = "model_not_found";
            respond_error(req, &e);
            return;
        }
        respond_json(req, 200, one);
        return;
    }
    respond_json(req, 200, json_pack("{s:s,s:o}", "object", "list", "data", data));
}

/* ---- the routes ---- */

static bool authorized(const jn_llm_env *env, jn_http_request *req)
{
    if (!jn_auth_required(env->auth, JN_ACCESS_INFER))
        return true;
    const char *h = jn_http_header_get(req, "authorization");
    jn_err denied;
    jn_err_clear(&denied);
    if (!jn_auth_check(env->auth, JN_ACCESS_INFER, h && *h ? h : NULL, h ? strlen(h) : 0, &denied))
        return true;
    jn_oai_error e;
    memset(&e, 0, sizeof e);
    jn_oai_error_set(&e, 401, NULL, "%s", denied.msg);
    respond_error(req, &e);
    return false;
}

static void not_here(jn_http_request *req, int status, const char *fmt, const char *what)
{
    jn_oai_error e;
    memset(&e, 0, sizeof e);
    jn_oai_error_set(&e, status, NULL, fmt, what);
    respond_error(req, &e);
}

void jn_openai_handle(const jn_llm_env *env, jn_http_request *req, const char *rest, jn_llm_finished_fn finished,
                      void *arg)
{
    bool get = strcmp(req->method, "GET") == 0 || strcmp(req->method, "HEAD") == 0;
    bool post = strcmp(req->method, "POST") == 0;
    if (!authorized(env, req)) {
        finished(arg);
        return;
    }
    if (strcmp(rest, "/models") == 0 || strncmp(rest, "/models/", 8) == 0) {
        if (!get)
            not_here(req, 405, "%s: use GET", "models");
        else
            list_models(env, req, rest[7] == '/' ? rest + 8 : NULL);
        finished(arg);
        return;
    }
    jn_oai_kind kind;
    if (strcmp(rest, "/chat/completions") == 0)
        kind = JN_OAI_CHAT;
    else if (strcmp(rest, "/completions") == 0)
        kind = JN_OAI_COMPLETIONS;
    else if (strcmp(rest, "/embeddings") == 0)
        kind = JN_OAI_EMBEDDINGS;
    else {
        not_here(req, 404, "no such endpoint '%.200s' (the OpenAI-compatible API serves models, chat/completions, "
                           "completions and embeddings)", rest);
        finished(arg);
        return;
    }
    if (!post) {
        not_here(req, 405, "%s: use POST", rest + 1);
        finished(arg);
        return;
    }
    oai_call *oc = calloc(1, sizeof *oc);
    if (!oc) {
        jn_http_respond_error(req, 500, "out of memory");
        finished(arg);
        return;
    }
    oc->env = env;
    oc->req = req;
    oc->kind = kind;
    oc->finished = finished;
    oc->finished_arg = arg;
    /* A body that may hold an image URL to fetch starts on a worker too: fetching blocks. */
    bool fetches = kind == JN_OAI_CHAT && jn_fetcher_on(env->fetch) && jn_fetch_may_hold_url(req->body, req->body_len);
    if ((req->body_len < LOOP_PARSE_MAX && !fetches) || jn_workpool_submit(env->pool, start_on_pool, oc) != 0)
        start_call(oc);
}
