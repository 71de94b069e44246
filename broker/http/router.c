/* router.c — paths and methods to endpoints, and which thread does the work (router.h). */
#include "router.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "executor.h"
#include "metrics.h"
#include "rest.h"

/* Inference on an inline engine with a body below this runs on the loop thread (router.h says why). */
#define INLINE_MAX_BODY ((size_t)64 << 10)
/* /v2/models/{m}/versions/{v}/infer is the longest path we serve. */
#define MAX_SEGMENTS 6

struct jn_http_router {
    jn_registry *reg;
    jn_control *control;    /* admin changes: own_control, or the server's (persisted) */
    const jn_auth *auth;    /* tokens (borrowed); NULL = every call is open */
    size_t max_queue;       /* requests waiting for a worker before 429 (0 = no bound) */
    size_t max_model_queue; /* the same for one model's inference calls */
    jn_control own_control; /* the registry alone */
    jn_workpool *pool;
    atomic_int closing;
    atomic_int cancelled;
    pthread_mutex_t mu;
    pthread_cond_t idle; /* signalled when inflight drops to 0 */
    long inflight;       /* mu: requests handed to us and not yet answered */
};

typedef enum route_id {
    RT_NONE,
    RT_LIVE,
    RT_READY,
    RT_SERVER_META,
    RT_MODEL_META,
    RT_MODEL_READY,
    RT_INFER,
    RT_PREDICT,
    RT_METRICS,
    RT_MODELS,
    RT_MODEL,
    RT_PIPELINES,
    RT_PIPELINE,
} route_id;

/* One request being worked on (also the worker-pool job). */
typedef struct call {
    jn_http_router *r;
    jn_http_request *req;
    route_id id;
    char *model;    /* decoded path segment: model or pipeline name (points into path_buf) */
    char *version;  /* "" = current (points into path_buf, or NULL) */
    char *path_buf; /* the decoded segments, owned */
    int64_t header_len;
    bool all_scores;
    int64_t t0, t_start;
    jn_model_stats *stats;
    jn_engine *queued_engine; /* held while the call waits for a pool (jn_exec_started when it starts) */
} call;

jn_http_router *jn_http_router_create(jn_registry *reg, jn_workpool *pool)
{
    jn_http_router *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    r->reg = reg;
    r->own_control = (jn_control){.reg = reg};
    r->control = &r->own_control;
    r->pool = pool;
    pthread_mutex_init(&r->mu, NULL);
    pthread_cond_init(&r->idle, NULL);
    return r;
}

void jn_http_router_set_auth(jn_http_router *r, const jn_auth *auth)
{
    r->auth = auth;
}

void jn_http_router_set_max_queue(jn_http_router *r, size_t max_queue, size_t max_model_queue)
{
    r->max_queue = max_queue;
    r->max_model_queue = max_model_queue;
}

/* Who may call a route: probes and /metrics are open; changing pipelines is Admin; the rest is inference. */
static jn_access route_access(route_id id, const char *method)
{
    switch (id) {
    case RT_LIVE:
    case RT_READY:
    case RT_METRICS:
        return JN_ACCESS_OPEN;
    case RT_PIPELINE:
        return strcmp(method, "GET") == 0 ? JN_ACCESS_INFER : JN_ACCESS_ADMIN;
    default:
        return JN_ACCESS_INFER;
    }
}

void jn_http_router_set_control(jn_http_router *r, jn_control *control)
{
    r->control = control ? control : &r->own_control;
}

void jn_http_router_destroy(jn_http_router *r)
{
    if (!r)
        return;
    pthread_cond_destroy(&r->idle);
    pthread_mutex_destroy(&r->mu);
    free(r);
}

void jn_http_router_begin_shutdown(jn_http_router *r)
{
    atomic_store(&r->closing, 1);
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

static void enter(jn_http_router *r)
{
    pthread_mutex_lock(&r->mu);
    r->inflight++;
    pthread_mutex_unlock(&r->mu);
}

static void leave(jn_http_router *r)
{
    pthread_mutex_lock(&r->mu);
    if (--r->inflight == 0)
        pthread_cond_broadcast(&r->idle);
    pthread_mutex_unlock(&r->mu);
}

static void call_free(call *c)
{
    free(c->path_buf);
    free(c);
}

/* Answers, records the request's metrics, and lets go of it (the call is freed). */
static void finish(call *c, jn_rest_reply *reply, int64_t compute_ns)
{
    jn_http_router *r = c->r;
    if (c->stats) {
        int64_t now = jn_now_ns();
        jn_metrics_request_end(c->stats, JN_METRICS_HTTP, reply->status < 400,
                               c->t_start ? c->t_start - c->t0 : -1, compute_ns > 0 ? compute_ns : -1, now - c->t0);
    }
    jn_http_respond(c->req, reply->status, reply->body ? reply->content_type : NULL, reply->body, reply->body_len,
                    reply->headers);
    reply->body = NULL; /* the server owns it now */
    jn_rest_reply_free(reply);
    call_free(c);
    leave(r);
}

static void finish_error(call *c, int status, const char *message)
{
    jn_rest_reply reply = {0};
    jn_rest_reply_error(&reply, status, message);
    finish(c, &reply, -1);
}

static void finish_err(call *c, const jn_err *err)
{
    jn_rest_reply reply = {0};
    jn_rest_reply_err(&reply, err);
    finish(c, &reply, -1);
}

static void finish_empty(call *c, int status)
{
    jn_rest_reply reply = {.status = status};
    finish(c, &reply, -1);
}

static void finish_json(call *c, int status, json_t *doc)
{
    jn_rest_reply reply = {0};
    jn_rest_reply_json(&reply, status, doc, 0);
    finish(c, &reply, -1);
}

/* ---- paths ---- */

static int hex(char ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F')
        return ch - 'A' + 10;
    return -1;
}

/* Percent-decodes s[0..n) into out (room for n + 1 bytes, NUL-terminated); false for a bad escape or an encoded
 * NUL. */
static bool decode_segment(const char *s, size_t n, char *out)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] != '%') {
            out[o++] = s[i];
            continue;
        }
        int a = i + 2 < n ? hex(s[i + 1]) : -1, b = a < 0 ? -1 : hex(s[i + 2]);
        if (a < 0 || b < 0 || (a == 0 && b == 0))
            return false;
        out[o++] = (char)(a << 4 | b);
        i += 2;
    }
    out[o] = '\0';
    return true;
}

/* The decoded path segments, one after the other in buf (one allocation per request). */
typedef struct segments {
    size_t n;
    char *s[MAX_SEGMENTS];
    char *buf;
} segments;

static void segments_free(segments *sg)
{
    free(sg->buf);
    sg->buf = NULL;
    sg->n = 0;
}

/* 0, -1 when the path has too many segments (no route), -2 for a bad escape, -3 out of memory. */
static int split_path(const char *path, segments *sg)
{
    sg->n = 0;
    sg->buf = NULL;
    if (path[0] != '/')
        return -1;
    /* Each segment decodes to at most its own length plus a NUL where its '/' (or the end) was. */
    sg->buf = malloc(strlen(path) + 1);
    if (!sg->buf)
        return -3;
    char *out = sg->buf;
    const char *p = path + 1;
    for (;;) {
        const char *slash = strchr(p, '/');
        size_t len = slash ? (size_t)(slash - p) : strlen(p);
        if (sg->n == MAX_SEGMENTS) {
            segments_free(sg);
            return -1;
        }
        if (!decode_segment(p, len, out)) {
            segments_free(sg);
            return -2;
        }
        sg->s[sg->n++] = out;
        out += strlen(out) + 1;
        if (!slash)
            return 0;
        p = slash + 1;
    }
}

static bool seg_is(const segments *sg, size_t i, const char *s)
{
    return i < sg->n && strcmp(sg->s[i], s) == 0;
}

/* Matches a route; takes the model/pipeline name and version out of sg into c. */
static route_id match(segments *sg, call *c)
{
    for (size_t i = 0; i < sg->n; i++)
        if (!sg->s[i][0])
            return RT_NONE; /* empty segment: "//" or a trailing slash */
    size_t n = sg->n;
    route_id id = RT_NONE;
    size_t name = 0, version = 0;
    if (seg_is(sg, 0, "v2")) {
        if (n == 1)
            id = RT_SERVER_META;
        else if (n == 3 && seg_is(sg, 1, "health"))
            id = seg_is(sg, 2, "live") ? RT_LIVE : seg_is(sg, 2, "ready") ? RT_READY : RT_NONE;
        else if (seg_is(sg, 1, "models") && n >= 3) {
            name = 2;
            size_t rest = 3;
            if (n >= 5 && seg_is(sg, 3, "versions")) {
                version = 4;
                rest = 5;
            }
            if (n == rest)
                id = RT_MODEL_META;
            else if (n == rest + 1)
                id = seg_is(sg, rest, "ready") ? RT_MODEL_READY : seg_is(sg, rest, "infer") ? RT_INFER : RT_NONE;
        }
    } else if (seg_is(sg, 0, "v1") && n >= 2) {
        if (seg_is(sg, 1, "models")) {
            if (n == 2) {
                id = RT_MODELS;
            } else if (n == 3) {
                name = 2;
                size_t len = strlen(sg->s[2]);
                static const char suffix[] = ":predict";
                if (len > sizeof suffix - 1 && strcmp(sg->s[2] + len - (sizeof suffix - 1), suffix) == 0) {
                    sg->s[2][len - (sizeof suffix - 1)] = '\0';
                    id = RT_PREDICT;
                } else {
                    id = RT_MODEL;
                }
            }
        } else if (seg_is(sg, 1, "pipelines")) {
            if (n == 2)
                id = RT_PIPELINES;
            else if (n == 3) {
                name = 2;
                id = RT_PIPELINE;
            }
        }
    } else if (n == 1 && seg_is(sg, 0, "metrics")) {
        id = RT_METRICS;
    }
    if (id != RT_NONE && name) {
        c->model = sg->s[name];
        if (version)
            c->version = sg->s[version];
        c->path_buf = sg->buf; /* the call owns the segments now */
        sg->buf = NULL;
    }
    return id;
}

static const char *allowed(route_id id)
{
    switch (id) {
    case RT_INFER:
    case RT_PREDICT:
        return "POST";
    case RT_PIPELINE:
        return "GET, HEAD, PUT, DELETE";
    default:
        return "GET, HEAD";
    }
}

static bool method_ok(route_id id, const char *m)
{
    bool get = strcmp(m, "GET") == 0 || strcmp(m, "HEAD") == 0;
    switch (id) {
    case RT_INFER:
    case RT_PREDICT:
        return strcmp(m, "POST") == 0;
    case RT_PIPELINE:
        return get || strcmp(m, "PUT") == 0 || strcmp(m, "DELETE") == 0;
    default:
        return get;
    }
}

/* "application/json" or `alt` (may be NULL), case-insensitive, parameters (";charset=utf-8") allowed. */
static bool type_is(const char *ct, const char *want)
{
    size_t n = strlen(want);
    if (strncasecmp(ct, want, n) != 0)
        return false;
    const char *rest = ct + n;
    while (*rest == ' ' || *rest == '\t')
        rest++;
    return *rest == '\0' || *rest == ';';
}

static bool content_type_ok(const char *ct, bool octets_too)
{
    if (!ct)
        return true;
    while (*ct == ' ' || *ct == '\t')
        ct++;
    return type_is(ct, JN_REST_JSON) || (octets_too && type_is(ct, JN_REST_OCTETS));
}

static bool query_flag(const char *query, const char *name)
{
    size_t n = strlen(name);
    for (const char *p = query; p && *p;) {
        const char *amp = strchr(p, '&');
        size_t len = amp ? (size_t)(amp - p) : strlen(p);
        if (len > n && strncmp(p, name, n) == 0 && p[n] == '=') {
            const char *v = p + n + 1;
            size_t vl = len - n - 1;
            if ((vl == 1 && *v == '1') || (vl == 4 && strncasecmp(v, "true", 4) == 0))
                return true;
        } else if (len == n && strncmp(p, name, n) == 0) {
            return true;
        }
        p = amp ? amp + 1 : NULL;
    }
    return false;
}

/* Inference-Header-Content-Length: -1 absent, -2 malformed. */
static int64_t header_length(const jn_http_request *req)
{
    const char *v = jn_http_header_get(req, "inference-header-content-length");
    if (!v)
        return -1;
    while (*v == ' ')
        v++;
    if (*v < '0' || *v > '9')
        return -2;
    errno = 0;
    char *end;
    unsigned long long n = strtoull(v, &end, 10);
    while (*end == ' ')
        end++;
    if (errno || *end || n > (unsigned long long)INT64_MAX)
        return -2;
    return (int64_t)n;
}

/* ---- work ---- */

static void run_call(void *arg)
{
    call *c = arg;
    jn_http_router *r = c->r;
    c->t_start = jn_now_ns();
    if (c->queued_engine) { /* its place in the model's queue is free again */
        jn_exec_started(c->queued_engine);
        jn_engine_unref(c->queued_engine);
        c->queued_engine = NULL;
    }
    jn_rest_env env = {.reg = r->reg, .pool = r->pool, .cancelled = &r->cancelled, .compute_ns = -1};
    jn_rest_reply reply = {0};
    const jn_http_request *req = c->req;
    switch (c->id) {
    case RT_INFER:
        jn_rest_v2_infer(&env, c->model, c->version ? c->version : "", req->body, req->body_len, c->header_len,
                         &reply);
        break;
    case RT_PREDICT:
        jn_rest_predict(&env, c->model, req->body, req->body_len, c->all_scores, &reply);
        break;
    case RT_MODELS:
        jn_rest_list_models(r->reg, &reply);
        break;
    case RT_PIPELINES:
        jn_rest_list_pipelines(r->reg, &reply);
        break;
    case RT_PIPELINE: /* PUT */
        jn_rest_put_pipeline(r->control, c->model, req->body, req->body_len, &reply);
        break;
    case RT_METRICS: {
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
        break;
    }
    default:
        jn_rest_reply_error(&reply, 500, "internal error: no worker for this route");
        break;
    }
    finish(c, &reply, env.compute_ns);
}

/* Runs the call on the worker pool; answers 503 when the pool takes no more work. */
static void submit(call *c)
{
    size_t waiting = c->r->max_queue ? jn_workpool_pending(c->r->pool) : 0;
    if (c->r->max_queue && waiting >= c->r->max_queue) {
        char msg[160];
        snprintf(msg, sizeof msg, "the server is busy: %zu requests already wait for a worker (--max-queue %zu); retry "
                 "later", waiting, c->r->max_queue);
        finish_error(c, 429, msg);
        return;
    }
    if (jn_workpool_submit(c->r->pool, run_call, c) != 0)
        finish_error(c, 503, "the worker pool is not accepting work");
}

/* POST .../infer and :predict: resolve now (cheap), then run inline or on the pool. */
static void start_inference(call *c)
{
    jn_err err;
    jn_err_clear(&err);
    jn_engine *e = jn_registry_get(c->r->reg, c->model, c->version, &err);
    if (!e) {
        jn_metrics_unknown_model(JN_METRICS_HTTP);
        finish_err(c, &err);
        return;
    }
    c->stats = jn_metrics_engine(e);
    jn_metrics_request_begin(c->stats);
    bool run_inline = jn_engine_is_inline(e) && c->req->body_len < INLINE_MAX_BODY;
    if (run_inline) {
        jn_engine_unref(e);
        run_call(c);
    } else { /* a remote engine's own pool (the bulkhead), else the shared one within the queue bounds */
        jn_exec_limits limits = {c->r->max_queue, c->r->max_model_queue};
        jn_err_clear(&err);
        c->queued_engine = e; /* our reference, dropped when the call starts */
        if (jn_exec_submit(e, c->r->pool, &limits, run_call, c, &err)) {
            c->queued_engine = NULL;
            jn_engine_unref(e);
            finish_err(c, &err);
        }
    }
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

static void describe_model(call *c, bool v2)
{
    jn_err err;
    jn_err_clear(&err);
    jn_engine *e = jn_registry_get(c->r->reg, c->model, c->version, &err);
    if (!e) {
        finish_err(c, &err);
        return;
    }
    json_t *doc = v2 ? jn_rest_v2_model_metadata(e) : jn_rest_model_info(e);
    jn_engine_unref(e);
    finish_json(c, 200, doc);
}

static void pipeline_call(call *c, const char *method)
{
    jn_rest_reply reply = {0};
    if (strcmp(method, "PUT") == 0) {
        submit(c);
        return;
    }
    if (strcmp(method, "DELETE") == 0)
        jn_rest_delete_pipeline(c->r->control, c->model, &reply);
    else
        jn_rest_get_pipeline(c->r->reg, c->model, &reply);
    finish(c, &reply, -1);
}

void jn_http_router_handle(jn_http_request *req)
{
    jn_http_router *r = req->user;
    enter(r);
    call *c = calloc(1, sizeof *c);
    if (!c) {
        jn_http_respond_error(req, 500, "out of memory");
        leave(r);
        return;
    }
    c->r = r;
    c->req = req;
    c->t0 = jn_now_ns();
    c->header_len = -1;
    segments sg;
    int rc = split_path(req->path, &sg);
    if (rc == -2) {
        finish_error(c, 400, "the path has a malformed percent-escape (or an encoded NUL)");
        return;
    }
    if (rc == -3) {
        finish_error(c, 500, "out of memory");
        return;
    }
    c->id = rc == 0 ? match(&sg, c) : RT_NONE;
    segments_free(&sg);
    if (c->id == RT_NONE) {
        finish_error(c, 404, "no such endpoint (see the KServe v2 REST paths under /v2, and /v1/models, "
                             "/v1/pipelines, /metrics)");
        return;
    }
    if (!method_ok(c->id, req->method)) {
        jn_rest_reply reply = {0};
        char msg[128];
        snprintf(msg, sizeof msg, "method %.16s is not allowed here (allowed: %s)", req->method, allowed(c->id));
        jn_rest_reply_error(&reply, 405, msg);
        size_t hl = strlen(allowed(c->id)) + 16;
        reply.headers = malloc(hl);
        if (reply.headers)
            snprintf(reply.headers, hl, "Allow: %s\r\n", allowed(c->id));
        finish(c, &reply, -1);
        return;
    }
    bool has_body = strcmp(req->method, "POST") == 0 || strcmp(req->method, "PUT") == 0;
    if (c->id == RT_INFER)
        c->header_len = header_length(req);
    if (c->header_len == -2) {
        finish_error(c, 400, "Inference-Header-Content-Length must be a decimal byte count");
        return;
    }
    const char *ct = jn_http_header_get(req, "content-type");
    if (has_body && !content_type_ok(ct, c->header_len >= 0)) {
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
        if (c->id == RT_READY) {
            finish_empty(c, 503);
            return;
        }
        if (changes) {
            finish_error(c, 503, "the server is shutting down");
            return;
        }
    }
    if (jn_auth_required(r->auth, route_access(c->id, req->method))) {
        const char *authorization = jn_http_header_get(req, "authorization");
        if (authorization && !*authorization)
            authorization = NULL;
        jn_err denied;
        jn_err_clear(&denied);
        if (jn_auth_check(r->auth, route_access(c->id, req->method), authorization,
                          authorization ? strlen(authorization) : 0, &denied)) {
            jn_rest_reply reply = {0};
            jn_rest_reply_err(&reply, &denied);
            if (denied.code == JN_EUNAUTHENTICATED)
                reply.headers = strdup("WWW-Authenticate: Bearer\r\n");
            finish(c, &reply, -1);
            return;
        }
    }
    switch (c->id) {
    case RT_LIVE:
    case RT_READY:
        finish_empty(c, 200);
        return;
    case RT_SERVER_META:
        finish_json(c, 200, jn_rest_v2_server_metadata());
        return;
    case RT_MODEL_META:
        describe_model(c, true);
        return;
    case RT_MODEL:
        describe_model(c, false);
        return;
    case RT_MODEL_READY:
        model_ready(c);
        return;
    case RT_INFER:
    case RT_PREDICT:
        c->all_scores = c->id == RT_PREDICT && query_flag(req->query, "all");
        start_inference(c);
        return;
    case RT_PIPELINE:
        pipeline_call(c, req->method);
        return;
    default: /* lists and /metrics */
        submit(c);
        return;
    }
}
