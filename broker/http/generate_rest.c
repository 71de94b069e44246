/* generate_rest.c — Triton's generate extension on the one dispatcher: POST /v2/models/{m}[/versions/{v}]/generate
 * answers one JSON object, /generate_stream one Server-Sent Event per partial answer of a streaming engine.
 *
 * In: a JSON object whose members are inputs by name (a TEXT input takes a string, or a JSON object or list of objects
 * as one element of its JSON text: a generate engine's `messages`; other inputs the JSON value laid out as their
 * shape, as v2 REST's data) and "parameters" (an object of scalars, passed on as request parameters).
 * Out: {"model_name", "model_version", <output>: value...}: a TEXT output of one element is a string, other outputs
 * their values (a single element as a scalar, more as a flat array). Any engine works; a language model (openai.h)
 * streams its tokens through generate_stream. Errors before the first event: a status and {"error": message}; after
 * it: an event {"error": message}, then the stream ends (as Triton does).
 *
 * Ownership: a gen_call owns its dispatcher call and is freed once answered, then the router's finished() runs.
 * Threads: the handler on the loop thread; partial and done on the thread running the call, one at a time.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "openai.h"
#include "rest.h"
#include "trace_headers.h"

typedef struct gen_call {
    jn_call call;
    const jn_llm_env *env;
    jn_http_request *req;
    jn_llm_finished_fn finished;
    void *finished_arg;
    bool stream, streaming, dead;
    atomic_int cancelled;
} gen_call;

static void gen_free(gen_call *g)
{
    jn_llm_finished_fn finished = g->finished;
    void *arg = g->finished_arg;
    free(g);
    finished(arg);
}

/* The outputs as the extension's JSON object. NULL on out of memory. */
static json_t *answer_doc(const jn_call *c, const jn_tensor_list *outputs)
{
    json_t *d = json_object();
    json_object_set_new(d, "model_name", jn__json_text(c->engine->name));
    json_object_set_new(d, "model_version", jn__json_text(c->engine->version));
    for (size_t i = 0; i < outputs->count; i++) {
        const jn_tensor *t = outputs->items[i];
        int64_t n = jn_tensor_element_count(t);
        json_t *v;
        if (t->dtype == JN_DTYPE_BYTES && n == 1) {
            size_t pos = 0;
            const uint8_t *elem;
            uint32_t len;
            v = jn_bytes_next(t->data, t->byte_size, &pos, &elem, &len) ? json_stringn((const char *)elem, len) : NULL;
            if (!v) /* not UTF-8 */
                v = json_string("");
        } else if (n == 1 && t->dtype != JN_DTYPE_BYTES) {
            v = jn__json_elem(t, 0);
        } else {
            v = jn__tensor_to_json(t, true, jn__tensor_needs_binary(t, true));
        }
        json_object_set_new(d, t->name, v ? v : json_null());
    }
    return d;
}

static char *sse_of(json_t *doc, size_t *len)
{
    char *text = json_dumps(doc, JSON_COMPACT | JSON_REAL_PRECISION(9));
    json_decref(doc);
    if (!text)
        return NULL;
    size_t n = strlen(text);
    char *out = malloc(n + 9);
    if (out) {
        memcpy(out, "data: ", 6);
        memcpy(out + 6, text, n);
        memcpy(out + 6 + n, "\n\n", 3);
        *len = n + 8;
    }
    free(text);
    return out;
}

static void send_event(gen_call *g, json_t *doc)
{
    if (!g->streaming) {
        g->streaming = true;
        if (jn_http_stream_begin(g->req, 200, "text/event-stream; charset=utf-8", "Cache-Control: no-cache\r\n"))
            g->dead = true;
    }
    size_t len = 0;
    char *text = sse_of(doc, &len);
    if (!g->dead && (!text || jn_http_stream_write(g->req, text, len) != 0)) {
        g->dead = true;
        atomic_store(&g->cancelled, 1);
    }
    free(text);
}

static int on_partial(jn_call *c, jn_tensor_list *partial, jn_err *err)
{
    gen_call *g = c->owner;
    send_event(g, answer_doc(c, partial));
    jn_tensor_list_clear(partial);
    if (atomic_load(g->env->cancelled))
        return jn_err_set(err, JN_ECANCELLED, "the server is shutting down");
    return g->dead ? jn_err_set(err, JN_ECANCELLED, "the client went away") : 0;
}

static void on_done(jn_call *c)
{
    gen_call *g = c->owner;
    if (c->rc) {
        if (g->streaming) {
            send_event(g, json_pack("{s:o}", "error", jn__json_text(c->err.msg)));
        } else {
            jn_rest_reply reply = {0};
            jn_rest_reply_err(&reply, &c->err);
            jn_http_respond(g->req, reply.status, reply.content_type, reply.body, reply.body_len, NULL);
            reply.body = NULL;
            jn_rest_reply_free(&reply);
        }
    } else if (g->stream) {
        if (!c->streamed || c->outputs.count) /* a unary engine's whole answer, or what a stream's end carries */
            send_event(g, answer_doc(c, &c->outputs));
    } else {
        json_t *doc = answer_doc(c, &c->outputs);
        char *text = doc ? json_dumps(doc, JSON_COMPACT | jn__json_real_flags(&c->outputs)) : NULL;
        json_decref(doc);
        if (text)
            jn_http_respond(g->req, 200, "application/json", text, strlen(text), NULL);
        else
            jn_http_respond_error(g->req, 500, "out of memory");
    }
    jn_call_finish(c);
    if (g->streaming)
        jn_http_stream_end(g->req);
    gen_free(g);
}

/* One member of the body as the input it names. */
static int take_input(const jn_engine *e, const char *key, const json_t *v, jn_request *req, jn_err *err)
{
    const jn_port *port = jn_signature_find_input(&e->sig, key);
    if (!port)
        return jn_err_set(err, JN_EINVAL, "model '%s' has no input '%s' (the body's members other than "
                                          "'parameters' are inputs by name)", e->name, key);
    jn_tensor *t = NULL;
    char field[96];
    snprintf(field, sizeof field, "%s", key);
    bool json_text = port->dtype == JN_DTYPE_BYTES &&
                     (json_is_object(v) || (json_is_array(v) && json_is_object(json_array_get(v, 0))));
    if (port->dtype == JN_DTYPE_BYTES && (json_is_string(v) || json_text)) {
        /* a string is one element; a JSON object or list of objects (a generate engine's `messages`) is one element
         * holding its compact JSON text */
        int64_t shape[1] = {1};
        char *dumped = json_text ? json_dumps(v, JSON_COMPACT) : NULL;
        const char *s = dumped ? dumped : json_string_value(v);
        size_t len = dumped ? strlen(dumped) : json_string_length(v);
        t = s ? jn_tensor_from_strings(key, 1, shape, &s, &len, 1, err) : NULL;
        free(dumped);
    } else {
        int ndim = 0;
        int64_t shape[JN_MAX_DIMS];
        if (jn__json_infer_shape(v, &ndim, shape, key, field, err))
            return JN_EINVAL;
        if (ndim == 0) { /* a scalar: one element along the port's free dimension */
            ndim = 1;
            shape[0] = 1;
        }
        if (jn__json_to_tensor(v, key, port->dtype, ndim, shape, field, &t, err))
            return err->code ? err->code : JN_EINVAL;
    }
    if (!t)
        return err->code ? err->code : JN_ENOMEM;
    if (jn_tensor_list_push(&req->inputs, t)) {
        jn_tensor_free(t);
        return jn_err_set(err, JN_ENOMEM, "out of memory");
    }
    return 0;
}

static int decode(jn_call *c, jn_err *err)
{
    gen_call *g = c->owner;
    json_error_t jerr;
    json_t *doc = json_loadb((const char *)g->req->body, g->req->body_len, JSON_REJECT_DUPLICATES, &jerr);
    if (!doc)
        return jn_err_set(err, JN_EINVAL, "model '%s': the body is not valid JSON: %s", c->engine->name, jerr.text);
    int rc = 0;
    if (!json_is_object(doc))
        rc = jn_err_set(err, JN_EINVAL, "model '%s': the body must be a JSON object of inputs and 'parameters'",
                        c->engine->name);
    const char *key;
    json_t *v;
    json_object_foreach(doc, key, v)
    {
        if (rc)
            break;
        if (strcmp(key, "parameters") == 0) {
            if (!json_is_object(v)) {
                rc = jn_err_set(err, JN_EINVAL, "model '%s': 'parameters' must be an object", c->engine->name);
                break;
            }
            const char *pk;
            json_t *pv;
            json_object_foreach(v, pk, pv) if (!rc) rc = jn__json_set_param(&c->req.params, pk, pv, err);
        } else {
            rc = take_input(c->engine, key, v, &c->req, err);
        }
    }
    json_decref(doc);
    return rc;
}

static const jn_call_ops unary_decode_ops = {.door = JN_METRICS_HTTP, .decode = decode, .done = on_done};
static const jn_call_ops stream_decode_ops = {
    .door = JN_METRICS_HTTP, .decode = decode, .partial = on_partial, .done = on_done};

void jn_generate_handle(const jn_llm_env *env, jn_http_request *req, const char *model, const char *version,
                        bool stream, jn_llm_finished_fn finished, void *arg)
{
    gen_call *g = calloc(1, sizeof *g);
    if (!g) {
        jn_http_respond_error(req, 500, "out of memory");
        finished(arg);
        return;
    }
    g->env = env;
    g->req = req;
    g->stream = stream;
    g->finished = finished;
    g->finished_arg = arg;
    jn_call_init(&g->call, env->dispatch, stream ? &stream_decode_ops : &unary_decode_ops, g);
    g->call.cancelled = &g->cancelled;
    g->call.door_name = stream ? "rest-generate-stream" : "rest-generate"; /* the request log's */
    g->call.request_bytes = req->body_len;
    g->call.run_here = !stream && req->body_len < ((size_t)64 << 10);
    jn__http_trace_begin(&g->call, req, "generate");
    if (stream)
        jn_http_watch_gone(req, &g->cancelled);
    if (!jn_dispatch_admit(&g->call))
        jn_dispatch_resolve(&g->call, model, version);
    if (!g->call.rc && jn_request_set_target(&g->call.req, model, version, "") != 0)
        g->call.rc = jn_err_set(&g->call.err, JN_ENOMEM, "out of memory");
    jn_dispatch(&g->call);
}
