/* openai.h — internal to broker/http: the language-model doors. The OpenAI-compatible API under --openai-prefix
 * (default /openai/v1: GET models, GET models/{id}, POST embeddings, chat/completions, completions) and Triton's
 * generate extension (POST /v2/models/{m}[/versions/{v}]/generate and /generate_stream), over the one dispatcher
 * (core/dispatch.h) like every other door.
 *
 *   openai_request.c  request bodies -> jn_oai_request (every field checked, errors naming it: OpenAI's `param`)
 *   openai_write.c    answers: completion objects, chunks, Server-Sent Events, embeddings, OpenAI-shaped errors
 *   openai_routes.c   the routes, model listing, and the calls (unary, streamed, n choices one after another)
 *   generate_rest.c   Triton's generate extension (JSON in by input name, SSE out)
 *
 * What a language model is to these doors: an engine with the generate signature (core/generate.h: `prompt` or
 * `messages` in, `text` out with one element per choice, streamed as deltas, finish_reason and usage at the end). An
 * embedding model is one with one TEXT input and an EMBEDDING output.
 *
 * Ownership: a jn_oai_request owns its strings, arrays and parameters (jn_oai_request_clear). Answers are malloc'd
 * text the caller frees (or hands to the HTTP server).
 * Thread-safety: everything here is reentrant; the handlers run on an HTTP loop thread and leave long work to the
 * dispatcher (a worker, or an asynchronous engine).
 */
#ifndef JN_HTTP_OPENAI_H
#define JN_HTTP_OPENAI_H

#include <jansson.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "auth.h"
#include "dispatch.h"
#include "engine.h"
#include "err.h"
#include "params.h"
#include "registry.h"
#include "server.h"
#include "workpool.h"

#define JN_OPENAI_PREFIX_DEFAULT "/openai/v1"

typedef enum jn_oai_kind { JN_OAI_CHAT, JN_OAI_COMPLETIONS, JN_OAI_EMBEDDINGS } jn_oai_kind;

/* An image given in a chat message (an `image_url` content part). */
typedef struct jn_oai_image {
    char *url;      /* as given (an http(s) URL, or NULL once a data: URI was decoded into bytes) */
    uint8_t *bytes; /* a data: URI's decoded bytes */
    size_t len;
    char *media_type; /* a data: URI's type ("image/png"), or NULL */
} jn_oai_image;

typedef struct jn_oai_request {
    jn_oai_kind kind;
    char *model;
    /* chat: the messages as compact JSON (passed to engines with a `messages` input) and the prompt rendered from
     * them (for `prompt`-only engines, see jn_oai_render_prompt); completions: the prompt. */
    char *messages_json;
    char *prompt;
    jn_oai_image *images; /* chat: image_url parts in message order */
    size_t n_images;
    /* embeddings: the input strings */
    char **inputs;
    size_t n_inputs;
    bool base64; /* encoding_format "base64" */
    bool stream, include_usage;
    int n;           /* choices, 1.. JN_OAI_MAX_N */
    jn_params params; /* the sampling parameters passed on (max_tokens, temperature, top_p, seed, stop, ...) */
} jn_oai_request;

#define JN_OAI_MAX_N 16
#define JN_OAI_MAX_INPUTS 2048

/* An error in OpenAI's shape: the status, the message, and the request field it is about (param, or ""). */
typedef struct jn_oai_error {
    int status;
    const char *type; /* "invalid_request_error", ... (static) */
    const char *code; /* "model_not_found", ... (static) or NULL */
    char param[64];
    jn_err err; /* the message */
} jn_oai_error;

void jn_oai_request_clear(jn_oai_request *r);

/* Parses and checks a request body of `kind`. 0, or JN_EINVAL with e filled (status 400, param naming the field). */
int jn_oai_parse(jn_oai_kind kind, const uint8_t *body, size_t len, jn_oai_request *out, jn_oai_error *e);

/* The prompt a `prompt`-only engine gets for a chat: one line per message, "<role>: <text>" (a message's text
 * parts joined by a newline, image parts left out), then "assistant:" for the model to go on. malloc'd, or NULL. */
char *jn_oai_render_prompt(const json_t *messages);

/* Fills e (status, type, code from the status; message; param may be NULL). Returns the status. */
int jn_oai_error_set(jn_oai_error *e, int status, const char *param, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* From a dispatcher error: the status of its code (jn_err_http_status); 404 model_not_found when `model` names
 * it, 429 when shed. */
void jn_oai_error_from(jn_oai_error *e, const jn_err *err);

/* ---- openai_write.c ---- */

/* {"error": {"message", "type", "param", "code"}}, malloc'd compact JSON (never NULL: aborts on out of memory). */
char *jn_oai_error_json(const jn_oai_error *e, size_t *len);
/* "data: <json>\n\n" for a JSON document (reference stolen), or "data: [DONE]\n\n" for NULL; malloc'd. */
char *jn_oai_sse(json_t *doc, size_t *len);
/* A unique id: prefix + 24 hex digits ("chatcmpl-..."), into buf (at least 48 bytes). */
void jn_oai_make_id(char *buf, size_t size, const char *prefix);

/* What one choice produced (a generate engine's outputs). */
typedef struct jn_oai_choice {
    char *text;          /* malloc'd */
    size_t text_len;
    char finish_reason[32]; /* "stop", "length", ... */
} jn_oai_choice;

/* Reads a generate engine's answer, whole or one partial (generate.h: `text` has one element per choice), into
 * choices[base ..]: each text element appended to its choice, each finish_reason element kept; the usage counts into
 * *prompt_tokens / *completion_tokens when present (left alone otherwise). Elements beyond `max` choices are
 * ignored. Returns the number of text elements (0 when the answer has no `text`). */
size_t jn_oai_take(jn_oai_choice *choices, size_t max, size_t base, const jn_tensor_list *outputs,
                   int64_t *prompt_tokens, int64_t *completion_tokens);

/* The non-streamed answers. usage counts summed over the choices by the caller. */
json_t *jn_oai_chat_completion(const char *id, int64_t created, const char *model, const jn_oai_choice *choices,
                               size_t n, int64_t prompt_tokens, int64_t completion_tokens);
json_t *jn_oai_text_completion(const char *id, int64_t created, const char *model, const jn_oai_choice *choices,
                               size_t n, int64_t prompt_tokens, int64_t completion_tokens);
/* One streamed chunk as its whole SSE event ("data: {...}\n\n", malloc'd, *len set): chat (delta with the role, the
 * content, or {} with finish_reason) or text_completion. finish_reason NULL = null. with_usage_null: "usage": null
 * (stream_options.include_usage). */
char *jn_oai_chunk_sse(jn_oai_kind kind, const char *id, int64_t created, const char *model, int index,
                       const char *role, const char *content, size_t content_len, const char *finish_reason,
                       bool with_usage_null, size_t *len);
/* The last chunk of stream_options.include_usage: empty choices and the usage. */
json_t *jn_oai_usage_chunk(jn_oai_kind kind, const char *id, int64_t created, const char *model,
                           int64_t prompt_tokens, int64_t completion_tokens);
/* {"object": "list", "data": [...], "model", "usage"} from an [N, dim] FP32 tensor (base64: little-endian float32
 * bytes), as compact JSON text (malloc'd, *len set). NULL with err set on a wrong shape. */
char *jn_oai_embeddings(const char *model, const jn_tensor *vectors, size_t n_inputs, bool base64,
                        int64_t prompt_tokens, size_t *len, jn_err *err);
/* A model object {"id", "object": "model", "created", "owned_by"}. */
json_t *jn_oai_model_object(const jn_engine *e, int64_t created);

/* Words in a text (whitespace-separated runs): the token estimate when an engine gives no counts. */
int64_t jn_oai_count_words(const char *s, size_t n);

/* ---- openai_routes.c / generate_rest.c: the doors ---- */

/* What the router lends the language-model doors (all borrowed; they outlive every request). */
typedef struct jn_llm_env {
    jn_registry *reg;
    jn_dispatcher *dispatch;
    jn_workpool *pool;
    const jn_auth *auth;
    const atomic_int *cancelled; /* the router's: set at shutdown */
    int64_t started_unix;        /* "created" of the model objects */
    /* image_url parts that are http(s) URLs, for a model with IMAGE inputs: fetched with it (broker/fetch; borrowed,
     * NULL = refused naming --fetch-allow). */
    const struct jn_fetcher *fetch;
} jn_llm_env;

/* Called once the request is answered in full (its response given, or its stream ended). */
typedef void (*jn_llm_finished_fn)(void *arg);

/* Is the engine an embedding model (one TEXT input, an EMBEDDING output)? (Language models: jn_generate_is.) */
bool jn_llm_embeds(const jn_engine *e);

/* A request under the OpenAI prefix; `rest` is the path after it ("/chat/completions"). Does the auth check itself
 * (OpenAI's 401 shape). Answers exactly once, then calls finished(arg). Loop thread. */
void jn_openai_handle(const jn_llm_env *env, jn_http_request *req, const char *rest, jn_llm_finished_fn finished,
                      void *arg);

/* POST /v2/models/{m}[/versions/{v}]/generate (stream false) or /generate_stream (true), after the router's checks.
 * Answers exactly once, then calls finished(arg). Loop thread. */
void jn_generate_handle(const jn_llm_env *env, jn_http_request *req, const char *model, const char *version,
                        bool stream, jn_llm_finished_fn finished, void *arg);

#endif
