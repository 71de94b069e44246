/* router.c — paths and methods to endpoints, and which thread does the work (router.h). */
#include "router.h"

#include <errno.h>
#include <stddef.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "console.h"
#include "executor.h"
#include "metrics.h"
#include "model_records.h"
#include "openai.h"
#include "rest.h"
#include "route_path.h"
#include "trace_headers.h"

/* Inference on an inline engine with a body below this runs on the loop thread (router.h says why). */
#define INLINE_MAX_BODY ((size_t)64 << 10)

struct jn_http_router {
    jn_registry *reg;
    jn_dispatcher *dispatch; /* inference calls: the one request path, over reg and pool */
    jn_control *control;    /* admin changes: own_control, or the server's (persisted) */
    const jn_auth *auth;    /* tokens (borrowed); NULL = every call is open */
    const jn_model_records *models; /* the model repository (borrowed), or NULL */
    jn_dispatch_limits limits; /* max_queue also bounds the pool work of the other routes */
    jn_control own_control; /* the registry alone */
    jn_workpool *pool;
    jn_console *console; /* the web console; NULL = off (--console off) */
    const jn_fetcher *fetch; /* inputs by URL (borrowed); NULL = only data: URIs */
    atomic_int closing;
    atomic_int cancelled;
    pthread_mutex_t mu;
    pthread_cond_t idle; /* signalled when inflight drops to 0 */
    long inflight;       /* mu: requests handed to us and not yet answered */
    struct call *free_calls; /* mu: finished call objects kept for reuse, at most FREE_CALLS_MAX */
    size_t n_free_calls;
    jn_llm_env llm;        /* what the language-model doors borrow (openai.h) */
    char *openai_prefix;   /* "/openai/v1"; NULL = the OpenAI-compatible API is off */
    size_t openai_prefix_len;
};

typedef struct call call;
typedef void (*route_fn)(call *c);

/* Route flags. */
enum {
    R_POOL = 1u << 0,   /* the handler runs on the worker pool (it may take a while); else on the loop thread */
    R_BINARY = 1u << 1, /* a v2 infer: Inference-Header-Content-Length and application/octet-stream allowed */
};

/* One row of the route table: a path pattern, the methods it answers (also the Allow header's text; HEAD goes
 * with GET), who may call it, where it runs, and the handler. Segments of a pattern are literals, "{model}",
 * "{version}", or "{model}:predict" (a name ending in ":predict"). Rows with the same pattern are one resource:
 * the first row whose pattern matches decides the resource, and its rows the method. */
typedef struct route {
    const char *pattern; /* for people and for grouping rows into resources */
    size_t n;            /* the pattern split into its segments, so matching a path reads no pattern text twice */
    const char *seg[JN_PATH_MAX_SEGMENTS];
    const char *methods;
    jn_access access;
    unsigned flags;
    route_fn fn;
} route;

/* One request being worked on (also the worker-pool job). */
struct call {
    jn_http_router *r;
    jn_http_request *req;
    const route *rt;
    char *model;    /* decoded path segment: model or pipeline name (points into path_buf) */
    char *version;  /* "" = current (points into path_buf, or NULL) */
    char *path_buf; /* the decoded segments, owned */
    int64_t header_len;
    call *next_free; /* on the router's free list */
    jn_rest_call rest; /* inference routes: the dispatcher's call (jn_rest_call_init sets it up) */
};

/* Call objects are over a kilobyte (the dispatcher's call holds its error text), past what malloc serves from its
 * per-thread caches: a short free list keeps them out of malloc on the hot path (measured with callgrind: 1.4 k
 * instructions of malloc bookkeeping per HTTP request without it). */
#define FREE_CALLS_MAX 64

jn_http_router *jn_http_router_create(jn_registry *reg, jn_workpool *pool)
{
    jn_http_router *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    r->reg = reg;
    r->own_control = (jn_control){.reg = reg};
    r->control = &r->own_control;
    r->pool = pool;
    if (!(r->dispatch = jn_dispatcher_create(reg, pool, NULL))) {
        free(r);
        return NULL;
    }
    if (!(r->console = jn_console_create(reg))) {
        jn_dispatcher_destroy(r->dispatch);
        free(r);
        return NULL;
    }
    pthread_mutex_init(&r->mu, NULL);
    pthread_cond_init(&r->idle, NULL);
    r->llm = (jn_llm_env){.reg = reg, .dispatch = r->dispatch, .pool = pool, .cancelled = &r->cancelled,
                          .started_unix = (int64_t)time(NULL)};
    if (jn_http_router_set_openai_prefix(r, JN_OPENAI_PREFIX_DEFAULT) != 0) {
        jn_http_router_destroy(r);
        return NULL;
    }
    return r;
}

int jn_http_router_set_openai_prefix(jn_http_router *r, const char *prefix)
{
    free(r->openai_prefix);
    r->openai_prefix = NULL;
    r->openai_prefix_len = 0;
    if (!prefix || !*prefix || strcmp(prefix, "off") == 0)
        return 0;
    size_t n = strlen(prefix);
    while (n > 1 && prefix[n - 1] == '/')
        n--;
    if (prefix[0] != '/' || n < 2)
        return JN_EINVAL;
    if (!(r->openai_prefix = strndup(prefix, n)))
        return JN_ENOMEM;
    r->openai_prefix_len = n;
    return 0;
}

void jn_http_router_set_console(jn_http_router *r, bool on)
{
    if (!on) {
        jn_console_destroy(r->console);
        r->console = NULL;
    }
}

jn_console *jn_http_router_console(jn_http_router *r)
{
    return r->console;
}

void jn_http_router_set_auth(jn_http_router *r, const jn_auth *auth)
{
    r->auth = auth;
    r->llm.auth = auth;
}

void jn_http_router_set_models(jn_http_router *r, const jn_model_records *models)
{
    r->models = models;
}

void jn_http_router_set_fetch(jn_http_router *r, const jn_fetcher *fetch)
{
    r->fetch = fetch;
    r->llm.fetch = fetch;
}

const jn_fetcher *jn_http_router_fetch(const jn_http_router *r)
{
    return r->fetch;
}

void jn_http_router_set_limits(jn_http_router *r, const jn_dispatch_limits *limits)
{
    r->limits = *limits;
    jn_dispatcher_set_limits(r->dispatch, limits);
}

void jn_http_router_set_control(jn_http_router *r, jn_control *control)
{
    r->control = control ? control : &r->own_control;
}

void jn_http_router_destroy(jn_http_router *r)
{
    if (!r)
        return;
    jn_dispatcher_destroy(r->dispatch);
    jn_console_destroy(r->console);
    while (r->free_calls) {
        call *c = r->free_calls;
        r->free_calls = c->next_free;
        free(c);
    }
    pthread_cond_destroy(&r->idle);
    pthread_mutex_destroy(&r->mu);
    free(r->openai_prefix);
    free(r);
}

void jn_http_router_begin_shutdown(jn_http_router *r)
{
    atomic_store(&r->closing, 1);
    jn_console_set_closing(r->console);
}

void jn_http_router_cancel(jn_http_router *r)
{
    atomic_store(&r->cancelled, 1);
}

bool jn_http_router_drain(jn_http_router *r, int64_t timeout_ms)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += (time_t)(timeout_ms / 1000);
    until.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&r->mu);
    int rc = 0;
    while (r->inflight > 0 && rc != ETIMEDOUT)
        rc = pthread_cond_timedwait(&r->idle, &r->mu, &until);
    bool idle = r->inflight == 0;
    pthread_mutex_unlock(&r->mu);
    return idle;
}

/* A request arrives: it counts as in flight, and gets a call object with every field before `rest` zeroed (rest
 * is set up by jn_rest_call_init when used). NULL on out of memory (then not counted). One lock for both. */
static call *enter(jn_http_router *r)
{
    pthread_mutex_lock(&r->mu);
    r->inflight++;
    call *c = r->free_calls;
    if (c) {
        r->free_calls = c->next_free;
        r->n_free_calls--;
    }
    pthread_mutex_unlock(&r->mu);
    if (!c && !(c = malloc(sizeof *c))) {
        pthread_mutex_lock(&r->mu);
        if (--r->inflight == 0)
            pthread_cond_broadcast(&r->idle);
        pthread_mutex_unlock(&r->mu);
        return NULL;
    }
    memset(c, 0, offsetof(call, rest));
    c->r = r;
    return c;
}

/* The request is answered: its call object goes back to the free list (or to malloc), and it leaves in-flight. */
static void leave(call *c)
{
    jn_http_router *r = c->r;
    free(c->path_buf);
    pthread_mutex_lock(&r->mu);
    if (r->n_free_calls < FREE_CALLS_MAX) {
        c->next_free = r->free_calls;
        r->free_calls = c;
        r->n_free_calls++;
        c = NULL;
    }
    if (--r->inflight == 0)
        pthread_cond_broadcast(&r->idle);
    pthread_mutex_unlock(&r->mu);
    free(c);
}

static void console_api(call *c);

/* Answers and lets go of the request (the call is freed). */
static void finish(call *c, jn_rest_reply *reply)
{
    if (reply->status >= 400 && c->r->console && (!c->rt || c->rt->fn != console_api))
        jn_console_note_error(c->r->console, c->req->method, c->req->path, reply->status, reply->body,
                              reply->body_len);
    jn_http_respond(c->req, reply->status, reply->body ? reply->content_type : NULL, reply->body, reply->body_len,
                    reply->headers);
    reply->body = NULL; /* the server owns it now */
    jn_rest_reply_free(reply);
    leave(c);
}

static void finish_error(call *c, int status, const char *message)
{
    jn_rest_reply reply = {0};
    jn_rest_reply_error(&reply, status, message);
    finish(c, &reply);
}

static void finish_err(call *c, const jn_err *err)
{
    jn_rest_reply reply = {0};
    jn_rest_reply_err(&reply, err);
    finish(c, &reply);
}

static void finish_empty(call *c, int status)
{
    jn_rest_reply reply = {.status = status};
    finish(c, &reply);
}

static void finish_json(call *c, int status, json_t *doc)
{
    jn_rest_reply reply = {0};
    jn_rest_reply_json(&reply, status, doc, 0);
    finish(c, &reply);
}

/* ---- paths (route_path.c) ---- */

/* Matches the path's segments against a route's pattern; the names go into *nm. */
static bool pattern_fits(const struct route *rt, const jn_path_segments *sg, jn_path_names *nm)
{
    if (rt->n != sg->n)
        return false;
    memset(nm, 0, sizeof *nm);
    for (size_t i = 0; i < sg->n; i++)
        if (!jn_path_segment_fits(rt->seg[i], sg->s[i], nm))
            return false;
    return true;
}

/* ---- handlers ---- */

static void answer_ok(call *c)
{
    finish_empty(c, 200);
}

static void server_meta(call *c)
{
    finish_json(c, 200, jn_rest_v2_server_metadata());
}

static void model_ready(call *c)
{
    jn_err err;
    jn_err_clear(&err);
    jn_engine *e = jn_registry_get(c->r->reg, c->model, c->version, &err);
    if (!e) {
        finish_err(c, &err);
        return;
    }
    bool ready = atomic_load(&e->ready) && !atomic_load(&c->r->closing);
    jn_engine_unref(e);
    finish_empty(c, ready ? 200 : 503);
}

static void describe(call *c, json_t *(*doc)(const jn_engine *e))
{
    jn_err err;
    jn_err_clear(&err);
    jn_engine *e = jn_registry_get(c->r->reg, c->model, c->version, &err);
    if (!e) {
        finish_err(c, &err);
        return;
    }
    json_t *d = doc(e);
    jn_engine_unref(e);
    finish_json(c, 200, d);
}

static void v2_model_meta(call *c)
{
    jn_err err;
    jn_err_clear(&err);
    jn_engine *e = jn_registry_get(c->r->reg, c->model, c->version, &err);
    if (!e) {
        finish_err(c, &err);
        return;
    }
    json_t *d = jn_rest_v2_model_metadata(e);
    char **versions;
    long n = jn_registry_versions(c->r->reg, e->name, &versions); /* every version served (issue #20) */
    json_t *list = n > 0 ? json_array() : NULL;
    for (long i = 0; list && i < n; i++)
        json_array_append_new(list, json_string(versions[i]));
    if (d && list)
        json_object_set_new(d, "versions", list);
    else
        json_decref(list);
    if (n > 0)
        jn_registry_versions_free(versions, n);
    jn_engine_unref(e);
    finish_json(c, 200, d);
}

static void v2_stats(call *c)
{
    jn_rest_reply reply = {0};
    jn_rest_v2_stats(c->r->reg, c->model, c->version, &reply);
    finish(c, &reply);
}

static void model_info(call *c)
{
    describe(c, jn_rest_model_info);
}

/* An inference call's answer: its metrics and what may point into the request body go first, then the reply. */
static void inference_answered(jn_rest_call *rc)
{
    call *c = rc->call.owner;
    jn_rest_reply reply = rc->reply;
    jn_rest_call_end(rc);
    finish(c, &reply);
}

/* POST .../infer and :predict: one dispatcher call; it runs here (a small body for an inline engine, or the
 * start of an asynchronous one) or on a worker (always when a predict body may hold a URL to fetch). */
static void inference(call *c, jn_rest_door door)
{
    const jn_http_request *req = c->req;
    bool all = door == JN_REST_PREDICT && jn_http_query_flag(req->query, "all");
    jn_rest_call_init(&c->rest, c->r->dispatch, door, req->body, req->body_len, c->header_len, all,
                      inference_answered, c);
    c->rest.call.cancelled = &c->r->cancelled;
    c->rest.fetch = c->r->fetch;
    bool fetches = door == JN_REST_PREDICT && jn_fetcher_on(c->r->fetch) &&
                   jn_fetch_may_hold_url(req->body, req->body_len); /* fetching blocks */
    c->rest.call.run_here = req->body_len < INLINE_MAX_BODY && !fetches;
    jn__http_trace_begin(&c->rest.call, req, door == JN_REST_V2_INFER ? "rest_v2" : "simple_json");
    jn_rest_call_start(&c->rest, c->model, c->version);
}

/* The language-model doors (openai.h) answer on their own, streamed or not; then the request leaves. */
static void llm_finished(void *arg)
{
    leave(arg);
}

static void v2_generate(call *c)
{
    jn_generate_handle(&c->r->llm, c->req, c->model, c->version, false, llm_finished, c);
}

static void v2_generate_stream(call *c)
{
    jn_generate_handle(&c->r->llm, c->req, c->model, c->version, true, llm_finished, c);
}

/* A path under the OpenAI prefix: its own errors (OpenAI's shape) and auth check. */
static void openai_request(call *c)
{
    jn_http_router *r = c->r;
    if (atomic_load(&r->closing) && strcmp(c->req->method, "POST") == 0) {
        finish_error(c, 503, "the server is shutting down");
        return;
    }
    const char *rest = c->req->path + r->openai_prefix_len;
    jn_openai_handle(&r->llm, c->req, *rest ? rest : "/", llm_finished, c);
}

static void v2_infer(call *c)
{
    inference(c, JN_REST_V2_INFER);
}

static void predict(call *c)
{
    inference(c, JN_REST_PREDICT);
}

static void list_models(call *c)
{
    jn_rest_reply reply = {0};
    jn_rest_list_models(c->r->reg, &reply);
    finish(c, &reply);
}

static void list_pipelines(call *c)
{
    jn_rest_reply reply = {0};
    jn_rest_list_pipelines(c->r->reg, &reply);
    finish(c, &reply);
}

static void get_pipeline(call *c)
{
    jn_rest_reply reply = {0};
    jn_rest_get_pipeline(c->r->reg, c->model, &reply);
    finish(c, &reply);
}

static void put_pipeline(call *c)
{
    jn_rest_reply reply = {0};
    jn_rest_put_pipeline(c->r->control, c->model, c->req->body, c->req->body_len, &reply);
    finish(c, &reply);
}

static void delete_pipeline(call *c)
{
    jn_rest_reply reply = {0};
    jn_rest_delete_pipeline(c->r->control, c->model, &reply);
    finish(c, &reply);
}

static void repository_index(call *c)
{
    jn_rest_reply reply = {0};
    jn_rest_repository_index(c->r->models, c->req->body, c->req->body_len, &reply);
    finish(c, &reply);
}

static void repository_load(call *c)
{
    jn_rest_reply reply = {0};
    jn_rest_repository_load(c->r->models, c->r->control, c->model, c->req->body, c->req->body_len, &reply);
    finish(c, &reply);
}

static void repository_unload(call *c)
{
    jn_rest_reply reply = {0};
    jn_rest_repository_unload(c->r->models, c->r->control, c->model, c->req->body, c->req->body_len, &reply);
    finish(c, &reply);
}

static void metrics(call *c)
{
    jn_rest_reply reply = {0};
    size_t len = 0;
    char *text = jn_metrics_render(&len);
    if (!text) {
        jn_rest_reply_error(&reply, 500, "out of memory rendering the metrics");
    } else {
        reply.status = 200;
        reply.content_type = "text/plain; version=0.0.4; charset=utf-8";
        reply.body = text;
        reply.body_len = len;
    }
    finish(c, &reply);
}

/* The web console (console.h): its API on the pool; the page and assets are answered by console_request. */
static void console_api(call *c)
{
    jn_rest_reply reply = {0};
    jn_console_api(c->r->console, c->req->method, c->req->path, c->req->query, c->req->body, c->req->body_len,
                   &reply);
    finish(c, &reply);
}

static const route console_read = {"/console/api/...", 0, {0}, "GET, HEAD", JN_ACCESS_INFER, R_POOL, console_api};
static const route console_post = {"/console/api/...", 0, {0}, "POST", JN_ACCESS_INFER, R_POOL, console_api};

/* The routes (router.h has the list for people). */
static const route routes[] = {
    /* pattern, its segments; methods, access, where, handler */
    {"/v2/health/live", 3, {"v2", "health", "live"}, "GET, HEAD", JN_ACCESS_OPEN, 0, answer_ok},
    {"/v2/health/ready", 3, {"v2", "health", "ready"}, "GET, HEAD", JN_ACCESS_OPEN, 0, answer_ok}, /* 503 closing */
    {"/v2", 1, {"v2"}, "GET, HEAD", JN_ACCESS_INFER, 0, server_meta},
    /* Before /v2/models/{model}: "stats" there is every model's statistics, as in Triton (DECISIONS.md). */
    {"/v2/models/stats", 3, {"v2", "models", "stats"}, "GET, HEAD", JN_ACCESS_INFER, R_POOL, v2_stats},
    {"/v2/models/{model}", 3, {"v2", "models", "{model}"}, "GET, HEAD", JN_ACCESS_INFER, 0, v2_model_meta},
    {"/v2/models/{model}/versions/{version}", 5, {"v2", "models", "{model}", "versions", "{version}"},
     "GET, HEAD", JN_ACCESS_INFER, 0, v2_model_meta},
    {"/v2/models/{model}/ready", 4, {"v2", "models", "{model}", "ready"}, "GET, HEAD", JN_ACCESS_INFER, 0,
     model_ready},
    {"/v2/models/{model}/versions/{version}/ready", 6, {"v2", "models", "{model}", "versions", "{version}", "ready"},
     "GET, HEAD", JN_ACCESS_INFER, 0, model_ready},
    {"/v2/models/{model}/stats", 4, {"v2", "models", "{model}", "stats"}, "GET, HEAD", JN_ACCESS_INFER, 0, v2_stats},
    {"/v2/models/{model}/versions/{version}/stats", 6, {"v2", "models", "{model}", "versions", "{version}", "stats"},
     "GET, HEAD", JN_ACCESS_INFER, 0, v2_stats},
    {"/v2/models/{model}/infer", 4, {"v2", "models", "{model}", "infer"}, "POST", JN_ACCESS_INFER, R_BINARY,
     v2_infer},
    {"/v2/models/{model}/versions/{version}/infer", 6, {"v2", "models", "{model}", "versions", "{version}", "infer"},
     "POST", JN_ACCESS_INFER, R_BINARY, v2_infer},
    /* Triton's generate extension (generate_rest.c): JSON inputs by name; generate_stream answers SSE. */
    {"/v2/models/{model}/generate", 4, {"v2", "models", "{model}", "generate"}, "POST", JN_ACCESS_INFER, 0,
     v2_generate},
    {"/v2/models/{model}/versions/{version}/generate", 6,
     {"v2", "models", "{model}", "versions", "{version}", "generate"}, "POST", JN_ACCESS_INFER, 0, v2_generate},
    {"/v2/models/{model}/generate_stream", 4, {"v2", "models", "{model}", "generate_stream"}, "POST",
     JN_ACCESS_INFER, 0, v2_generate_stream},
    {"/v2/models/{model}/versions/{version}/generate_stream", 6,
     {"v2", "models", "{model}", "versions", "{version}", "generate_stream"}, "POST", JN_ACCESS_INFER, 0,
     v2_generate_stream},
    {"/v1/models", 2, {"v1", "models"}, "GET, HEAD", JN_ACCESS_INFER, R_POOL, list_models},
    {"/v1/models/{model}:predict", 3, {"v1", "models", "{model}:predict"}, "POST", JN_ACCESS_INFER, 0, predict},
    {"/v1/models/{model}", 3, {"v1", "models", "{model}"}, "GET, HEAD", JN_ACCESS_INFER, 0, model_info},
    {"/v1/pipelines", 2, {"v1", "pipelines"}, "GET, HEAD", JN_ACCESS_INFER, R_POOL, list_pipelines},
    {"/v1/pipelines/{model}", 3, {"v1", "pipelines", "{model}"}, "GET, HEAD", JN_ACCESS_INFER, 0, get_pipeline},
    {"/v1/pipelines/{model}", 3, {"v1", "pipelines", "{model}"}, "PUT", JN_ACCESS_ADMIN, R_POOL, put_pipeline},
    {"/v1/pipelines/{model}", 3, {"v1", "pipelines", "{model}"}, "DELETE", JN_ACCESS_ADMIN, 0, delete_pipeline},
    {"/metrics", 1, {"metrics"}, "GET, HEAD", JN_ACCESS_OPEN, R_POOL, metrics},
    /* The model repository extension (issue #20): admin calls; loading reads files, so on the pool. */
    {"/v2/repository/index", 3, {"v2", "repository", "index"}, "POST", JN_ACCESS_ADMIN, R_POOL, repository_index},
    {"/v2/repository/models/{model}/load", 5, {"v2", "repository", "models", "{model}", "load"}, "POST",
     JN_ACCESS_ADMIN, R_POOL, repository_load},
    {"/v2/repository/models/{model}/unload", 5, {"v2", "repository", "models", "{model}", "unload"}, "POST",
     JN_ACCESS_ADMIN, R_POOL, repository_unload},
};
#define N_ROUTES (sizeof routes / sizeof routes[0])

/* The first row whose pattern fits the path, and that resource's row for `method` (NULL when it answers other
 * methods only: *allow then lists them). NULL and *resource NULL when no pattern fits. */
static const route *find_route(jn_path_segments *sg, const char *method, call *c, const route **resource, char *allow,
                               size_t allow_size)
{
    *resource = NULL;
    allow[0] = '\0';
    for (size_t i = 0; i < sg->n; i++)
        if (!sg->s[i][0])
            return NULL; /* empty segment: "//" or a trailing slash */
    jn_path_names nm;
    size_t first = 0;
    while (first < N_ROUTES && !pattern_fits(&routes[first], sg, &nm))
        first++;
    if (first == N_ROUTES)
        return NULL;
    *resource = &routes[first];
    const route *hit = NULL;
    for (size_t i = first; i < N_ROUTES && !hit; i++)
        if (strcmp(routes[i].pattern, routes[first].pattern) == 0 && jn_http_method_in(routes[i].methods, method))
            hit = &routes[i];
    if (!hit) { /* 405: the resource's methods, for Allow */
        size_t used = 0;
        for (size_t i = first; i < N_ROUTES; i++)
            if (strcmp(routes[i].pattern, routes[first].pattern) == 0)
                used += (size_t)snprintf(allow + used, used < allow_size ? allow_size - used : 0, "%s%s",
                                         used ? ", " : "", routes[i].methods);
    }
    if (hit && nm.model) {
        nm.model[nm.model_len] = '\0';
        c->model = nm.model;
        c->version = nm.version;
        c->path_buf = sg->buf; /* the call owns the segments now */
        sg->buf = NULL;
    }
    return hit;
}

static void run_on_pool(void *arg)
{
    call *c = arg;
    c->rt->fn(c);
}

/* Runs a route's handler on the worker pool; answers 429 beyond --max-queue, 503 when the pool takes no more. */
static void submit(call *c)
{
    size_t max = c->r->limits.max_queue;
    size_t waiting = max ? jn_workpool_pending(c->r->pool) : 0;
    if (max && waiting >= max) {
        char msg[160];
        snprintf(msg, sizeof msg, "the server is busy: %zu requests already wait for a worker (--max-queue %zu); retry "
                 "later", waiting, max);
        finish_error(c, 429, msg);
        return;
    }
    if (jn_workpool_submit(c->r->pool, run_on_pool, c) != 0)
        finish_error(c, 503, "the worker pool is not accepting work");
}

/* Refuses a request its caller may not make (401 / 403); false when it may go on. */
static bool refused_by_auth(call *c)
{
    jn_http_router *r = c->r;
    jn_access access = c->rt->access;
    if (!jn_auth_required(r->auth, access))
        return false;
    const char *authorization = jn_http_header_get(c->req, "authorization");
    if (authorization && !*authorization)
        authorization = NULL;
    jn_err denied;
    jn_err_clear(&denied);
    if (!jn_auth_check(r->auth, access, authorization, authorization ? strlen(authorization) : 0, &denied))
        return false;
    jn_rest_reply reply = {0};
    jn_rest_reply_err(&reply, &denied);
    if (denied.code == JN_EUNAUTHENTICATED)
        reply.headers = strdup("WWW-Authenticate: Bearer\r\n");
    finish(c, &reply);
    return true;
}


/* A console path: the page and assets here (open: the page must load to ask for the token), the API on the pool
 * after the client-token check (the console's changes go through the admin routes, /v1/pipelines). */
static void console_request(call *c, jn_console_kind kind)
{
    bool get = strcmp(c->req->method, "GET") == 0 || strcmp(c->req->method, "HEAD") == 0;
    if (kind == JN_CONSOLE_PAGE) {
        if (!get) {
            finish_error(c, 405, "the console's pages answer GET only");
            return;
        }
        jn_rest_reply reply = {0};
        jn_console_page(c->req->path, &reply);
        finish(c, &reply);
        return;
    }
    c->rt = kind == JN_CONSOLE_API ? &console_read : &console_post;
    if (kind == JN_CONSOLE_POST && strcmp(c->req->method, "POST") != 0) {
        finish_error(c, 405, "the console's API answers GET (reads) and POST (changes) only");
        return;
    }
    if (refused_by_auth(c))
        return;
    submit(c);
}

void jn_http_router_handle(jn_http_request *req)
{
    jn_http_router *r = req->user;
    call *c = enter(r);
    if (!c) {
        jn_http_respond_error(req, 500, "out of memory");
        return;
    }
    c->req = req;
    c->header_len = -1;
    /* Console paths are "/" and "/c...": the inference paths ("/v...") are ruled out here, without a call
     * (callgrind: the call cost 22 instructions of the ~71 k an identity v2 infer takes). */
    if (r->console && req->path[0] == '/' && (req->path[1] == '\0' || req->path[1] == 'c')) {
        jn_console_kind kind = jn_console_classify(req->method, req->path);
        if (kind != JN_CONSOLE_NONE) {
            console_request(c, kind);
            return;
        }
    }
    if (r->openai_prefix && strncmp(req->path, r->openai_prefix, r->openai_prefix_len) == 0 &&
        (req->path[r->openai_prefix_len] == '/' || req->path[r->openai_prefix_len] == '\0')) {
        openai_request(c);
        return;
    }
    jn_path_segments sg;
    int rc = jn_path_split(req->path, &sg);
    if (rc == JN_EINVAL) {
        finish_error(c, 400, "the path has a malformed percent-escape (or an encoded NUL)");
        return;
    }
    if (rc == JN_ENOMEM) {
        finish_error(c, 500, "out of memory");
        return;
    }
    const route *resource = NULL;
    char allow[64];
    c->rt = rc == 0 ? find_route(&sg, req->method, c, &resource, allow, sizeof allow) : NULL;
    jn_path_segments_free(&sg);
    if (!resource) {
        finish_error(c, 404, "no such endpoint (see the KServe v2 REST paths under /v2, and /v1/models, "
                             "/v1/pipelines, /metrics)");
        return;
    }
    if (!c->rt) {
        jn_rest_reply reply = {0};
        char msg[128];
        snprintf(msg, sizeof msg, "method %.16s is not allowed here (allowed: %s)", req->method, allow);
        jn_rest_reply_error(&reply, 405, msg);
        size_t hl = strlen(allow) + 16;
        reply.headers = malloc(hl);
        if (reply.headers)
            snprintf(reply.headers, hl, "Allow: %s\r\n", allow);
        finish(c, &reply);
        return;
    }
    bool has_body = strcmp(req->method, "POST") == 0 || strcmp(req->method, "PUT") == 0;
    if (c->rt->flags & R_BINARY)
        c->header_len = jn_http_header_length(req);
    if (c->header_len == -2) {
        finish_error(c, 400, "Inference-Header-Content-Length must be a decimal byte count");
        return;
    }
    const char *ct = jn_http_header_get(req, "content-type");
    if (has_body && !jn_http_content_type_ok(ct, c->header_len >= 0)) {
        char msg[256];
        snprintf(msg, sizeof msg, "unsupported Content-Type '%.64s': send application/json%s%s", ct,
                 c->header_len >= 0 ? " or application/octet-stream" : "",
                 strncasecmp(ct, "application/x-www-form-urlencoded", 33) == 0
                     ? " (curl -d sends a form type: add -H 'Content-Type: application/json')"
                     : "");
        finish_error(c, 415, msg);
        return;
    }
    bool changes = has_body || strcmp(req->method, "DELETE") == 0;
    if (atomic_load(&r->closing)) {
        if (strcmp(c->rt->pattern, "/v2/health/ready") == 0) {
            finish_empty(c, 503);
            return;
        }
        if (changes) {
            finish_error(c, 503, "the server is shutting down");
            return;
        }
    }
    if (refused_by_auth(c))
        return;
    if (c->rt->flags & R_POOL)
        submit(c);
    else
        c->rt->fn(c);
}
