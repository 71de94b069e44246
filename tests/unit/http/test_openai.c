/* test_openai.c — the language-model doors (broker/http/openai*.c, generate_rest.c) through the real HTTP server and
 * router, over a registry holding the built-in engines and `gen`, a streaming generate engine written here: it
 * has the generate signature (core/generate.h) and answers `prompt` with max_tokens (default 3) tokens "t0 ", "t1 ",
 * ... one partial each (one element per choice, `n`), then a last partial with empty deltas, finish_reason ("length"
 * when max_tokens was given, else "stop") and the token counts; temperature 1.5 makes it
 * slow (20 ms a token, up to 500) and it notes when it saw its cancellation. Checks: the request parser's errors and
 * params, the prompt rendering, the chat answer and its chunks byte-for-byte in structure, n = 2, include_usage,
 * stop/seed/temperature passed on, errors before the stream as statuses, a client that leaves mid-stream cancels the
 * engine, and generate / generate_stream. */
#include <errno.h>
#include <jansson.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "../../../engines/builtin.h"
#include "generate.h"
#include "openai.h"
#include "router.h"
#include "test.h"

/* ---- the engine ---- */

static atomic_int gen_cancelled;
static atomic_int gen_calls;
static char last_stop[64];
static double last_temperature;
static int64_t last_seed;
static int64_t last_top_k;
static double last_repetition_penalty;

static jn_tensor *text1(const char *name, const char *s, jn_err *err)
{
    int64_t shape[1] = {1};
    size_t len = strlen(s);
    return jn_tensor_from_strings(name, 1, shape, &s, &len, 1, err);
}

static int gen_stream(jn_engine *self, const jn_infer_ctx *ctx, const jn_tensor_list *inputs, jn_emit_fn emit,
                      void *arg, jn_err *err)
{
    int64_t max = 3;
    const jn_param *mt = jn_params_find(ctx->params, "max_tokens");
    if (mt && mt->type == JN_PARAM_INT)
        max = mt->v.i;
    double temp = 0;
    bool slow = jn_params_get_double(ctx->params, "temperature", &temp) && temp == 1.5;
    last_temperature = temp;
    const char *stop = jn_params_get_string(ctx->params, "stop");
    snprintf(last_stop, sizeof last_stop, "%s", stop ? stop : "");
    const jn_param *seed = jn_params_find(ctx->params, "seed");
    last_seed = seed && seed->type == JN_PARAM_INT ? seed->v.i : -1;
    const jn_param *top_k = jn_params_find(ctx->params, "top_k");
    last_top_k = top_k && top_k->type == JN_PARAM_INT ? top_k->v.i : -1;
    if (!jn_params_get_double(ctx->params, "repetition_penalty", &last_repetition_penalty))
        last_repetition_penalty = -1;
    if (slow)
        max = 500;
    int64_t n = 1;
    const jn_param *np = jn_params_find(ctx->params, "n");
    if (np && np->type == JN_PARAM_INT)
        n = np->v.i;
    if (n < 1 || n > 8)
        return jn_err_set(err, JN_EINVAL, "n");
    if (jn_params_get_double(ctx->params, "top_p", &temp) && temp == 0.5)
        n = 1; /* top_p 0.5: an engine that ignores `n` (one choice per call) */
    atomic_fetch_add(&gen_calls, 1);
    for (int64_t i = 0; i < max; i++) {
        if (slow) {
            struct timespec ts = {0, 20 * 1000000L};
            nanosleep(&ts, NULL);
        }
        int rc = jn_infer_ctx_check(ctx, err);
        if (rc) {
            atomic_store(&gen_cancelled, 1);
            return rc;
        }
        char tok[32];
        snprintf(tok, sizeof tok, "t%lld ", (long long)i);
        const char *toks[8];
        size_t lens[8];
        for (int64_t k = 0; k < n; k++) { /* one delta per choice */
            toks[k] = tok;
            lens[k] = strlen(tok);
        }
        jn_tensor_list part;
        jn_tensor_list_init(&part);
        jn_generate_push_text(&part, toks, lens, (size_t)n, err);
        rc = emit(arg, &part, err);
        jn_tensor_list_clear(&part); /* emit took the tensors; the list's own storage is ours */
        if (rc)
            return rc;
    }
    jn_tensor_list last; /* the end: empty deltas, why each choice ended, the counts */
    jn_tensor_list_init(&last);
    const char *empty[8], *why[8];
    size_t zero[8];
    for (int64_t k = 0; k < n; k++) {
        empty[k] = "";
        zero[k] = 0;
        why[k] = mt ? "length" : "stop";
    }
    jn_generate_push_text(&last, empty, zero, (size_t)n, err);
    jn_generate_push_final(&last, why, (size_t)n, 7, max * n, err);
    int rc = emit(arg, &last, err);
    jn_tensor_list_clear(&last);
    return rc;
}

/* The whole answer at once: the partials joined. */
typedef struct collect {
    char text[4096];
    jn_tensor_list rest;
} collect;

static int gather(void *arg, jn_tensor_list *partial, jn_err *err)
{
    collect *c = arg;
    jn_tensor *t = jn_tensor_list_take(partial, "text");
    if (t) {
        size_t pos = 0;
        const uint8_t *e;
        uint32_t len;
        if (jn_bytes_next(t->data, t->byte_size, &pos, &e, &len))
            strncat(c->text, (const char *)e, len);
        jn_tensor_free(t);
    }
    for (size_t i = 0; i < partial->count; i++)
        jn_tensor_list_push(&c->rest, partial->items[i]);
    partial->count = 0;
    return 0;
}

static int gen_infer(jn_engine *self, const jn_infer_ctx *ctx, const jn_tensor_list *inputs, jn_tensor_list *outputs,
                     jn_err *err)
{
    collect c;
    memset(&c, 0, sizeof c);
    jn_tensor_list_init(&c.rest);
    int rc = gen_stream(self, ctx, inputs, gather, &c, err);
    if (!rc) {
        jn_tensor_list_push(outputs, text1("text", c.text, err));
        for (size_t i = 0; i < c.rest.count; i++)
            jn_tensor_list_push(outputs, c.rest.items[i]);
        c.rest.count = 0;
    }
    jn_tensor_list_clear(&c.rest);
    return rc;
}

static const jn_engine_vtable gen_vt = {
    .abi_version = JN_ENGINE_ABI_VERSION, .platform = "test", .infer = gen_infer, .infer_stream = gen_stream};

static void register_gen(jn_registry *reg)
{
    jn_err err;
    jn_engine *e = jn_engine_create(&gen_vt, "gen", "1", "test generator", NULL, &err);
    JN_REQUIRE(e != NULL);
    JN_REQUIRE(jn_generate_signature(&e->sig, JN_GENERATE_IN_PROMPT, &err) == 0);
    e->flags = JN_ENGINE_STREAMS | JN_ENGINE_VOLATILE;
    atomic_store(&e->ready, 1);
    JN_REQUIRE(jn_registry_add(reg, e, &err) == 0);
}

/* ---- a client ---- */

static int port;

/* POSTs (Connection: close) and returns the whole response (head + body, de-chunked when chunked). */
static char *post(const char *path, const char *body, int *status, bool *chunked)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct timeval tv = {10, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    JN_REQUIRE(connect(fd, (struct sockaddr *)&a, sizeof a) == 0);
    char head[512];
    int n = snprintf(head, sizeof head,
                     "%s %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/json\r\n"
                     "Content-Length: %zu\r\n\r\n",
                     body ? "POST" : "GET", path, body ? strlen(body) : 0);
    send(fd, head, (size_t)n, MSG_NOSIGNAL);
    if (body)
        send(fd, body, strlen(body), MSG_NOSIGNAL);
    size_t cap = 1 << 16, len = 0;
    char *buf = malloc(cap);
    ssize_t k;
    while ((k = recv(fd, buf + len, cap - len - 1, 0)) > 0) {
        len += (size_t)k;
        if (len + 1 == cap)
            buf = realloc(buf, cap *= 2);
    }
    buf[len] = '\0';
    close(fd);
    *status = 0;
    sscanf(buf, "HTTP/1.1 %d", status);
    *chunked = strstr(buf, "Transfer-Encoding: chunked") != NULL;
    char *bodyp = strstr(buf, "\r\n\r\n");
    JN_REQUIRE(bodyp != NULL);
    bodyp += 4;
    char *out = malloc(len + 1);
    size_t o = 0;
    if (*chunked) {
        for (char *p = bodyp;;) {
            char *end;
            unsigned long sz = strtoul(p, &end, 16);
            if (sz == 0 || end == p)
                break;
            p = end + 2;
            memcpy(out + o, p, sz);
            o += sz;
            p += sz + 2;
        }
    } else {
        o = strlen(bodyp);
        memcpy(out, bodyp, o);
    }
    out[o] = '\0';
    free(buf);
    return out;
}

/* The SSE events' JSON documents (and whether [DONE] closed them). */
static size_t events(const char *body, json_t **docs, size_t max, bool *done)
{
    size_t n = 0;
    *done = false;
    for (const char *p = body; (p = strstr(p, "data: ")) != NULL;) {
        p += 6;
        const char *end = strstr(p, "\n\n");
        JN_REQUIRE(end != NULL);
        if (strncmp(p, "[DONE]", 6) == 0)
            *done = true;
        else if (n < max)
            docs[n++] = json_loadb(p, (size_t)(end - p), 0, NULL);
        p = end + 2;
    }
    return n;
}

/* ---- tests ---- */

static void test_parse(void)
{
    jn_oai_request r;
    jn_oai_error e;
    const char *ok = "{\"model\":\"m\",\"messages\":[{\"role\":\"system\",\"content\":\"be brief\"},{\"role\":\"user\","
                     "\"content\":[{\"type\":\"text\",\"text\":\"hi\"},{\"type\":\"text\",\"text\":\"there\"}]}],"
                     "\"max_completion_tokens\":5,\"stop\":[\"a\",\"b\"],\"seed\":3,\"n\":2}";
    JN_REQUIRE(jn_oai_parse(JN_OAI_CHAT, (const uint8_t *)ok, strlen(ok), &r, &e) == 0);
    JN_CHECK_STR_EQ(r.prompt, "system: be brief\nuser: hi\nthere\nassistant:");
    JN_CHECK_INT_EQ(r.n, 2);
    JN_CHECK_INT_EQ(jn_params_find(&r.params, "max_tokens")->v.i, 5);
    JN_CHECK_STR_EQ(jn_params_get_string(&r.params, "stop"), "[\"a\",\"b\"]");
    JN_CHECK_STR_CONTAINS(r.messages_json, "\"role\":\"system\"");
    jn_oai_request_clear(&r);

    struct {
        jn_oai_kind kind;
        const char *body, *param, *msg;
    } bad[] = {
        {JN_OAI_CHAT, "{\"messages\":[]}", "model", "'model' is required"},
        {JN_OAI_CHAT, "{\"model\":\"m\",\"messages\":[]}", "messages", "at least one"},
        {JN_OAI_CHAT, "{\"model\":\"m\",\"messages\":[{\"role\":\"user\"}]}", "messages[0].content", "required"},
        {JN_OAI_CHAT, "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"top_p\":2}", "top_p",
         "between 0 and 1"},
        {JN_OAI_CHAT, "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"n\":0}", "n", "between"},
        {JN_OAI_CHAT, "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"stop\":[1]}", "stop",
         "'stop[0]' must be a string"},
        {JN_OAI_CHAT, "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"input_audio\"}]}]}",
         "messages[0].content[0]", "not supported"},
        {JN_OAI_CHAT,
         "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"image_url\",\"image_url\":{\"url\":"
         "\"data:image/png;base64,@@@\"}}]}]}",
         "messages[0].content[0].image_url.url", "malformed base64"},
        {JN_OAI_COMPLETIONS, "{\"model\":\"m\",\"prompt\":[[1,2]]}", "prompt", "token arrays"},
        {JN_OAI_COMPLETIONS, "{\"model\":\"m\",\"prompt\":\"x\",\"logprobs\":2}", "logprobs", "not supported"},
        {JN_OAI_EMBEDDINGS, "{\"model\":\"m\",\"input\":[\"a\",3]}", "input", "'input[1]' must be a string"},
        {JN_OAI_EMBEDDINGS, "{\"model\":\"m\",\"input\":\"a\",\"encoding_format\":\"hex\"}", "encoding_format", "base64"},
        {JN_OAI_EMBEDDINGS, "[1]", "", "must be a JSON object"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int rc = jn_oai_parse(bad[i].kind, (const uint8_t *)bad[i].body, strlen(bad[i].body), &r, &e);
        JN_CHECK_INT_EQ(rc, JN_EINVAL);
        JN_CHECK_INT_EQ(e.status, 400);
        JN_CHECK_STR_EQ(e.param, bad[i].param);
        JN_CHECK_STR_CONTAINS(e.err.msg, bad[i].msg);
    }
    size_t len;
    jn_oai_error_set(&e, 404, "model", "The model 'x' does not exist");
    e.code = "model_not_found";
    char *j = jn_oai_error_json(&e, &len);
    JN_CHECK_STR_EQ(j, "{\"error\":{\"message\":\"The model 'x' does not exist\",\"type\":\"invalid_request_error\","
                       "\"param\":\"model\",\"code\":\"model_not_found\"}}");
    free(j);
}

static void test_chat_whole(void)
{
    int status;
    bool chunked;
    char *b = post("/openai/v1/chat/completions",
                   "{\"model\":\"gen\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"max_tokens\":4,"
                   "\"temperature\":0.25,\"seed\":42,\"stop\":\"END\",\"top_k\":40,\"repetition_penalty\":1.1}",
                   &status, &chunked);
    JN_CHECK_INT_EQ(status, 200);
    JN_CHECK(!chunked);
    json_t *d = json_loads(b, 0, NULL);
    JN_REQUIRE(d != NULL);
    JN_CHECK_STR_EQ(json_string_value(json_object_get(d, "object")), "chat.completion");
    JN_CHECK(strncmp(json_string_value(json_object_get(d, "id")), "chatcmpl-", 9) == 0);
    JN_CHECK_STR_EQ(json_string_value(json_object_get(d, "model")), "gen");
    json_t *ch = json_array_get(json_object_get(d, "choices"), 0);
    JN_CHECK_STR_EQ(json_string_value(json_object_get(json_object_get(ch, "message"), "content")), "t0 t1 t2 t3 ");
    JN_CHECK_STR_EQ(json_string_value(json_object_get(json_object_get(ch, "message"), "role")), "assistant");
    JN_CHECK_STR_EQ(json_string_value(json_object_get(ch, "finish_reason")), "length");
    JN_CHECK(json_is_null(json_object_get(ch, "logprobs")));
    json_t *u = json_object_get(d, "usage");
    JN_CHECK_INT_EQ(json_integer_value(json_object_get(u, "prompt_tokens")), 7);
    JN_CHECK_INT_EQ(json_integer_value(json_object_get(u, "completion_tokens")), 4);
    JN_CHECK_INT_EQ(json_integer_value(json_object_get(u, "total_tokens")), 11);
    JN_CHECK_STR_EQ(last_stop, "END");
    JN_CHECK_DBL_EQ(last_temperature, 0.25);
    JN_CHECK_INT_EQ(last_seed, 42);
    /* not OpenAI's, but passed on for local models (engines/generate/causallm.h) */
    JN_CHECK_INT_EQ(last_top_k, 40);
    JN_CHECK_DBL_EQ(last_repetition_penalty, 1.1);
    json_decref(d);
    free(b);
}

static void test_chat_stream(void)
{
    int status;
    bool chunked, done;
    char *b = post("/openai/v1/chat/completions",
                   "{\"model\":\"gen\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"stream\":true,\"n\":2,"
                   "\"stream_options\":{\"include_usage\":true}}",
                   &status, &chunked);
    JN_CHECK_INT_EQ(status, 200);
    JN_CHECK(chunked);
    if (getenv("DEBUG_OAI"))
        fprintf(stderr, "%s\n", b);
    json_t *ev[32];
    size_t n = events(b, ev, 32, &done);
    JN_CHECK(done);
    /* per choice: role, 3 deltas, finish (the choices' chunks interleaved); then the usage chunk */
    JN_CHECK_INT_EQ(n, 11);
    const char *id = n ? json_string_value(json_object_get(ev[0], "id")) : "";
    char joined[2][64] = {"", ""};
    int seen[2] = {0, 0}, finished[2] = {0, 0};
    for (size_t i = 0; i < n; i++) {
        JN_CHECK_STR_EQ(json_string_value(json_object_get(ev[i], "object")), "chat.completion.chunk");
        JN_CHECK_STR_EQ(json_string_value(json_object_get(ev[i], "id")), id);
        json_t *choices = json_object_get(ev[i], "choices");
        if (i + 1 == n) { /* include_usage: empty choices, the usage */
            JN_CHECK_INT_EQ(json_array_size(choices), 0);
            json_t *u = json_object_get(ev[i], "usage");
            JN_CHECK_INT_EQ(json_integer_value(json_object_get(u, "prompt_tokens")), 7);
            JN_CHECK_INT_EQ(json_integer_value(json_object_get(u, "completion_tokens")), 6);
            continue;
        }
        JN_CHECK(json_is_null(json_object_get(ev[i], "usage")));
        json_t *c = json_array_get(choices, 0);
        int idx = (int)json_integer_value(json_object_get(c, "index"));
        JN_REQUIRE(idx == 0 || idx == 1);
        json_t *delta = json_object_get(c, "delta");
        JN_CHECK((seen[idx]++ == 0) == (json_object_get(delta, "role") != NULL)); /* the role first, once */
        JN_CHECK(!finished[idx]);
        const char *content = json_string_value(json_object_get(delta, "content"));
        if (content)
            strcat(joined[idx], content);
        const char *fr = json_string_value(json_object_get(c, "finish_reason"));
        if (fr) {
            JN_CHECK_STR_EQ(fr, "stop");
            finished[idx] = 1;
        }
    }
    JN_CHECK(finished[0] && finished[1]);
    JN_CHECK_STR_EQ(joined[0], "t0 t1 t2 ");
    JN_CHECK_STR_EQ(joined[1], "t0 t1 t2 ");
    for (size_t i = 0; i < n; i++)
        json_decref(ev[i]);
    free(b);
}

/* An engine that gives one choice per call is called again for the others; the answer has them all, in order. */
static void test_n_fallback(void)
{
    int status;
    bool chunked, done;
    atomic_store(&gen_calls, 0);
    char *b = post("/openai/v1/chat/completions",
                   "{\"model\":\"gen\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"n\":3,\"top_p\":0.5,"
                   "\"max_tokens\":2}",
                   &status, &chunked);
    JN_CHECK_INT_EQ(status, 200);
    JN_CHECK_INT_EQ(atomic_load(&gen_calls), 3);
    json_t *d = json_loads(b, 0, NULL);
    json_t *choices = json_object_get(d, "choices");
    JN_CHECK_INT_EQ(json_array_size(choices), 3);
    for (size_t i = 0; i < json_array_size(choices); i++) {
        json_t *c = json_array_get(choices, i);
        JN_CHECK_INT_EQ(json_integer_value(json_object_get(c, "index")), (long long)i);
        JN_CHECK_STR_EQ(json_string_value(json_object_get(json_object_get(c, "message"), "content")), "t0 t1 ");
    }
    JN_CHECK_INT_EQ(json_integer_value(json_object_get(json_object_get(d, "usage"), "completion_tokens")), 6);
    json_decref(d);
    free(b);
    atomic_store(&gen_calls, 0);
    b = post("/openai/v1/completions", "{\"model\":\"gen\",\"prompt\":\"x\",\"n\":2,\"top_p\":0.5,\"stream\":true}",
             &status, &chunked);
    json_t *ev[16];
    size_t n = events(b, ev, 16, &done);
    JN_CHECK(done);
    JN_CHECK_INT_EQ(atomic_load(&gen_calls), 2);
    JN_CHECK_INT_EQ(n, 8); /* per choice: 3 tokens and the finish, one call after the other */
    for (size_t i = 0; i < n; i++) {
        json_t *c = json_array_get(json_object_get(ev[i], "choices"), 0);
        JN_CHECK_INT_EQ(json_integer_value(json_object_get(c, "index")), i < 4 ? 0 : 1);
        json_decref(ev[i]);
    }
    free(b);
}

static void test_completions_stream(void)
{
    int status;
    bool chunked, done;
    char *b = post("/openai/v1/completions", "{\"model\":\"gen\",\"prompt\":\"once\",\"stream\":true,\"max_tokens\":2}",
                   &status, &chunked);
    JN_CHECK_INT_EQ(status, 200);
    json_t *ev[8];
    size_t n = events(b, ev, 8, &done);
    JN_CHECK(done);
    JN_CHECK_INT_EQ(n, 3);
    for (size_t i = 0; i < n; i++) {
        JN_CHECK_STR_EQ(json_string_value(json_object_get(ev[i], "object")), "text_completion");
        json_t *c = json_array_get(json_object_get(ev[i], "choices"), 0);
        JN_CHECK_STR_EQ(json_string_value(json_object_get(c, "text")), i == 0 ? "t0 " : i == 1 ? "t1 " : "");
        json_decref(ev[i]);
    }
    free(b);
}

static void test_errors(void)
{
    int status;
    bool chunked;
    char *b = post("/openai/v1/chat/completions",
                   "{\"model\":\"nope\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"stream\":true}", &status,
                   &chunked);
    JN_CHECK_INT_EQ(status, 404); /* before the stream: a status, not an event */
    JN_CHECK_STR_CONTAINS(b, "\"code\":\"model_not_found\"");
    free(b);
    b = post("/openai/v1/completions", "{\"model\":\"identity\",\"prompt\":\"x\"}", &status, &chunked);
    JN_CHECK_INT_EQ(status, 400);
    JN_CHECK_STR_CONTAINS(b, "does not generate text");
    free(b);
    b = post("/openai/v1/nothing", "{}", &status, &chunked);
    JN_CHECK_INT_EQ(status, 404);
    JN_CHECK_STR_CONTAINS(b, "\"type\":\"invalid_request_error\"");
    free(b);
    b = post("/openai/v1/models/gen", NULL, &status, &chunked);
    JN_CHECK_INT_EQ(status, 200);
    JN_CHECK_STR_CONTAINS(b, "\"id\":\"gen\"");
    free(b);
    b = post("/openai/v1/models/identity", NULL, &status, &chunked);
    JN_CHECK_INT_EQ(status, 404);
    free(b);
}

static void test_client_leaves(void)
{
    atomic_store(&gen_cancelled, 0);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    JN_REQUIRE(connect(fd, (struct sockaddr *)&a, sizeof a) == 0);
    const char *body = "{\"model\":\"gen\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"stream\":true,"
                       "\"temperature\":1.5}";
    char head[256];
    int n = snprintf(head, sizeof head, "POST /openai/v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: "
                                        "application/json\r\nContent-Length: %zu\r\n\r\n%s", strlen(body), body);
    send(fd, head, (size_t)n, MSG_NOSIGNAL);
    char buf[4096];
    ssize_t k = recv(fd, buf, sizeof buf - 1, 0); /* the head and the first chunks */
    JN_CHECK(k > 0);
    close(fd);
    for (int i = 0; i < 200 && !atomic_load(&gen_cancelled); i++) {
        struct timespec ts = {0, 10 * 1000000L};
        nanosleep(&ts, NULL);
    }
    JN_CHECK_INT_EQ(atomic_load(&gen_cancelled), 1); /* well before its 500 tokens (10 s) */
}

static void test_generate(void)
{
    int status;
    bool chunked, done;
    char *b = post("/v2/models/gen/generate", "{\"prompt\":\"hi\",\"parameters\":{\"max_tokens\":2}}", &status,
                   &chunked);
    JN_CHECK_INT_EQ(status, 200);
    JN_CHECK_STR_CONTAINS(b, "\"model_name\":\"gen\"");
    JN_CHECK_STR_CONTAINS(b, "\"text\":\"t0 t1 \"");
    JN_CHECK_STR_CONTAINS(b, "\"finish_reason\":\"length\"");
    free(b);
    b = post("/v2/models/gen/versions/1/generate_stream", "{\"prompt\":\"hi\",\"parameters\":{\"max_tokens\":2}}",
             &status, &chunked);
    JN_CHECK_INT_EQ(status, 200);
    JN_CHECK(chunked);
    json_t *ev[8];
    size_t n = events(b, ev, 8, &done);
    JN_CHECK(!done); /* Triton's stream has no [DONE] */
    JN_CHECK_INT_EQ(n, 3);
    if (n == 3) {
        JN_CHECK_STR_EQ(json_string_value(json_object_get(ev[0], "text")), "t0 ");
        JN_CHECK_STR_EQ(json_string_value(json_object_get(ev[1], "text")), "t1 ");
        JN_CHECK_STR_EQ(json_string_value(json_object_get(ev[2], "finish_reason")), "length");
        JN_CHECK_INT_EQ(json_integer_value(json_object_get(ev[2], "completion_tokens")), 2);
    }
    for (size_t i = 0; i < n; i++)
        json_decref(ev[i]);
    free(b);
    b = post("/v2/models/gen/generate", "{\"prompt\":\"hi\",\"nope\":1}", &status, &chunked);
    JN_CHECK_INT_EQ(status, 400);
    JN_CHECK_STR_CONTAINS(b, "has no input 'nope'");
    free(b);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    jn_registry *reg = jn_registry_create();
    jn_builtin_options bopt = {.burn_default_ms = 0};
    jn_err err;
    JN_REQUIRE(jn_builtin_register_all(reg, &bopt, &err) == 0);
    register_gen(reg);
    jn_workpool *pool = jn_workpool_create(2);
    jn_http_router *router = jn_http_router_create(reg, pool);
    JN_REQUIRE(router != NULL);
    jn_http_server_options opt;
    jn_http_server_options_default(&opt);
    opt.port = 0;
    opt.handler = jn_http_router_handle;
    opt.user = router;
    jn_http_server *s = jn_http_server_start(&opt, &err);
    JN_REQUIRE(s != NULL);
    port = jn_http_server_port(s);
    JN_TEST_RUN(test_parse);
    JN_TEST_RUN(test_chat_whole);
    JN_TEST_RUN(test_chat_stream);
    JN_TEST_RUN(test_completions_stream);
    JN_TEST_RUN(test_n_fallback);
    JN_TEST_RUN(test_errors);
    JN_TEST_RUN(test_client_leaves);
    JN_TEST_RUN(test_generate);
    jn_http_router_begin_shutdown(router);
    jn_http_router_drain(router, 5000);
    jn_http_server_destroy(s);
    jn_workpool_destroy(pool);
    jn_http_router_destroy(router);
    jn_registry_destroy(reg);
    return JN_TEST_EXIT();
}
