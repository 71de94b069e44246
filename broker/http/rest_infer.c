/* rest_infer.c — the REST inference doors (POST /v2/models/{m}[/versions/{v}]/infer and
 * POST /v1/models/{m}:predict) as calls of the one request path (core/dispatch.h): the router resolves the model
 * from the path once, the dispatcher admits and places the call, and the work here is only decoding the body on
 * the thread that runs it and encoding the answer. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "rest.h"

static jn_rest_call *rest_of(jn_call *c)
{
    return (jn_rest_call *)((char *)c - offsetof(jn_rest_call, call));
}

static int v2_decode(jn_call *c, jn_err *err)
{
    jn_rest_call *rc = rest_of(c);
    int rv = jn_rest_v2_decode(rc->body, rc->len, rc->header_len, rc->model, rc->version, &c->req, &rc->opts, err);
    if (rv) /* as the gRPC front ends name the model in decode errors */
        jn_err_prefix(err, "model '%s'", c->engine->name);
    return rv;
}

static void v2_done(jn_call *c)
{
    jn_rest_call *rc = rest_of(c);
    if (!c->rc)
        c->rc = jn_rest_v2_encode(&c->req, c->engine, &c->outputs, &rc->opts, &rc->reply, &c->err);
    if (c->rc)
        jn_rest_reply_err(&rc->reply, &c->err);
    c->response_bytes = rc->reply.body_len;
    rc->answered(rc);
}

static int predict_decode(jn_call *c, jn_err *err)
{
    jn_rest_call *rc = rest_of(c);
    return jn_rest_predict_parse(c, rc->body, rc->len, &rc->doc, err);
}

static int predict_run(jn_call *c, jn_err *err)
{
    jn_rest_call *rc = rest_of(c);
    return jn_rest_predict_run(c, rc->doc, rc->fetch, rc->all_scores, &rc->result, &rc->fp64, err);
}

static void predict_done(jn_call *c)
{
    jn_rest_call *rc = rest_of(c);
    if (c->rc) {
        jn_rest_reply_err(&rc->reply, &c->err);
    } else {
        jn_rest_reply_json(&rc->reply, 200, rc->result, rc->fp64 ? JSON_REAL_PRECISION(17) : JSON_REAL_PRECISION(9));
        rc->result = NULL; /* the reply took it */
        if (rc->reply.status >= 400)
            c->rc = JN_ENOMEM;
    }
    c->response_bytes = rc->reply.body_len;
    rc->answered(rc);
}

static const jn_call_ops v2_ops = {.door = JN_METRICS_HTTP, .decode = v2_decode, .done = v2_done};
static const jn_call_ops predict_ops = {
    .door = JN_METRICS_HTTP, .decode = predict_decode, .run = predict_run, .done = predict_done};

void jn_rest_call_init(jn_rest_call *rc, jn_dispatcher *d, jn_rest_door door, const uint8_t *body, size_t len,
                       int64_t header_len, bool all_scores, void (*answered)(jn_rest_call *rc), void *owner)
{
    memset(rc, 0, sizeof *rc);
    jn_call_init(&rc->call, d, door == JN_REST_V2_INFER ? &v2_ops : &predict_ops, owner);
    rc->door = door;
    rc->call.door_name = door == JN_REST_V2_INFER ? "rest-v2" : "simple-json";
    rc->call.request_bytes = len;
    rc->body = body;
    rc->len = len;
    rc->header_len = header_len;
    rc->all_scores = all_scores;
    rc->answered = answered;
}

void jn_rest_call_start(jn_rest_call *rc, const char *model, const char *version)
{
    jn_call *c = &rc->call;
    rc->model = model;
    rc->version = version ? version : "";
    jn_dispatch_resolve(c, model, version);
    jn_dispatch(c);
}

void jn_rest_call_end(jn_rest_call *rc)
{
    /* Everything that may point into the request body goes before the caller lets go of it. */
    jn_call_finish(&rc->call);
    jn_rest_v2_opts_free(&rc->opts);
    json_decref(rc->result);
    json_decref(rc->doc);
    rc->result = rc->doc = NULL;
}

/* ---- waiting for one call (tests) ---- */

typedef struct waiter {
    jn_rest_call rc;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool answered;
} waiter;

static void wake(jn_rest_call *rc)
{
    waiter *w = rc->call.owner;
    pthread_mutex_lock(&w->mu);
    w->answered = true;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

void jn_rest_call_run(jn_dispatcher *d, jn_rest_door door, const char *model, const char *version, const uint8_t *body,
                      size_t len, int64_t header_len, bool all_scores, jn_rest_reply *reply)
{
    waiter w;
    pthread_mutex_init(&w.mu, NULL);
    pthread_cond_init(&w.cv, NULL);
    w.answered = false;
    jn_rest_call_init(&w.rc, d, door, body, len, header_len, all_scores, wake, &w);
    w.rc.call.run_here = true;
    jn_rest_call_start(&w.rc, model, version);
    pthread_mutex_lock(&w.mu);
    while (!w.answered)
        pthread_cond_wait(&w.cv, &w.mu);
    pthread_mutex_unlock(&w.mu);
    *reply = w.rc.reply;
    jn_rest_call_end(&w.rc);
    pthread_cond_destroy(&w.cv);
    pthread_mutex_destroy(&w.mu);
}
