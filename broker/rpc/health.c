/* health.c — grpc.health.v1.Health (doc/health-checking.md): Check and Watch, by hand since the C core has no
 * health service of its own. Known services: "" (the whole server), junction.v1.Broker,
 * inference.GRPCInferenceService. SERVING while the server runs, NOT_SERVING once shutdown begins. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "grpc/health/v1/health.pb-c.h"
#include "internal.h"
#include "pb.h"

typedef Grpc__Health__V1__HealthCheckResponse__ServingStatus serving_status;

static const char *const known_services[] = {"", "junction.v1.Broker", "inference.GRPCInferenceService",
                                             "grpc.health.v1.Health", "junction.v1.Engine"};

static bool service_known(const char *name)
{
    for (size_t i = 0; i < sizeof known_services / sizeof known_services[0]; i++)
        if (strcmp(name, known_services[i]) == 0)
            return true;
    return false;
}

static serving_status status_of(const jn_server *s, bool known)
{
    if (!known)
        return GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVICE_UNKNOWN;
    return jn__server_closing(s) ? GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__NOT_SERVING
                                 : GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING;
}

static grpc_byte_buffer *pack_status(serving_status status)
{
    Grpc__Health__V1__HealthCheckResponse r = GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__INIT;
    r.status = status;
    return jn_pb_pack(&r.base);
}

void jn_health_check(jn_unary *u, grpc_byte_buffer *payload)
{
    jn_err err;
    Grpc__Health__V1__HealthCheckRequest *req = (Grpc__Health__V1__HealthCheckRequest *)jn_pb_unpack(
        &grpc__health__v1__health_check_request__descriptor, payload, &err);
    if (!req) {
        jn_unary_fail(u, err.code, err.msg);
        return;
    }
    if (!service_known(req->service)) {
        char msg[300];
        snprintf(msg, sizeof msg, "unknown service '%.200s'", req->service);
        jn_unary_fail(u, JN_ENOTFOUND, msg);
    } else {
        jn_unary_reply(u, pack_status(status_of(u->server, true)));
    }
    protobuf_c_message_free_unpacked(&req->base, NULL);
}

/* ---- Watch ---- */

struct jn_watch {
    jn_tag close_tag, write_tag, status_tag;
    jn_server *server;
    grpc_call *call;
    grpc_metadata_array md;
    bool known;
    int recv_cancelled;
    grpc_byte_buffer *writing_bb;
    grpc_slice status_details;

    pthread_mutex_t mu; /* guards below */
    int refs;
    int sent; /* last status written, -1 = none */
    bool writing, finishing, status_sent, failed;
    jn_watch *prev, *next; /* server->watchers, guarded by server->mu */
};

static void watch_free(jn_watch *w)
{
    jn_server *s = w->server;
    pthread_mutex_lock(&s->mu);
    if (w->prev)
        w->prev->next = w->next;
    else
        s->watchers = w->next;
    if (w->next)
        w->next->prev = w->prev;
    pthread_mutex_unlock(&s->mu);
    grpc_slice_unref(w->status_details);
    grpc_metadata_array_destroy(&w->md);
    grpc_call_unref(w->call);
    pthread_mutex_destroy(&w->mu);
    free(w);
    jn__server_call_end(s);
}

static void unlock_and_release(jn_watch *w)
{
    bool dead = w->refs == 0;
    pthread_mutex_unlock(&w->mu);
    if (dead)
        watch_free(w);
}

static void start_locked(jn_watch *w, const grpc_op *ops, size_t n, jn_tag *tag)
{
    w->refs++;
    if (jn_start_batch(w->call, ops, n, tag) != GRPC_CALL_OK) {
        w->refs--;
        w->failed = true;
    }
}

/* Writes the current status if it changed, or ends the call once finishing and up to date. */
static void advance_locked(jn_watch *w)
{
    if (w->writing || w->status_sent || w->failed)
        return;
    serving_status now = status_of(w->server, w->known);
    grpc_op op;
    memset(&op, 0, sizeof op);
    if ((int)now != w->sent) {
        w->writing_bb = pack_status(now);
        op.op = GRPC_OP_SEND_MESSAGE;
        op.data.send_message.send_message = w->writing_bb;
        w->sent = (int)now;
        w->writing = true;
        start_locked(w, &op, 1, &w->write_tag);
        if (w->failed) {
            w->writing = false;
            grpc_byte_buffer_destroy(w->writing_bb);
            w->writing_bb = NULL;
        }
    } else if (w->finishing) {
        w->status_details = grpc_slice_from_static_string("the server is shutting down");
        op.op = GRPC_OP_SEND_STATUS_FROM_SERVER;
        op.data.send_status_from_server.status = GRPC_STATUS_UNAVAILABLE;
        op.data.send_status_from_server.status_details = &w->status_details;
        w->status_sent = true;
        start_locked(w, &op, 1, &w->status_tag);
    }
}

static void on_watch_write(jn_tag *tag, bool ok)
{
    jn_watch *w = JN_CONTAINER_OF(tag, jn_watch, write_tag);
    pthread_mutex_lock(&w->mu);
    w->refs--;
    w->writing = false;
    grpc_byte_buffer_destroy(w->writing_bb);
    w->writing_bb = NULL;
    if (!ok)
        w->failed = true;
    advance_locked(w);
    unlock_and_release(w);
}

static void on_watch_status(jn_tag *tag, bool ok)
{
    jn_watch *w = JN_CONTAINER_OF(tag, jn_watch, status_tag);
    pthread_mutex_lock(&w->mu);
    w->refs--;
    unlock_and_release(w);
}

static void on_watch_close(jn_tag *tag, bool ok)
{
    jn_watch *w = JN_CONTAINER_OF(tag, jn_watch, close_tag);
    pthread_mutex_lock(&w->mu);
    w->refs--;
    w->failed = true; /* the call is over: the client left or the status went out */
    unlock_and_release(w);
}

void jn_health_watch_start(jn_server *s, const jn_method *m, jn_incoming *in)
{
    jn_err err;
    Grpc__Health__V1__HealthCheckRequest *req = (Grpc__Health__V1__HealthCheckRequest *)jn_pb_unpack(
        &grpc__health__v1__health_check_request__descriptor, in->payload, &err);
    if (in->payload)
        grpc_byte_buffer_destroy(in->payload);
    jn_watch *w = req ? calloc(1, sizeof *w) : NULL;
    if (!w) {
        grpc_call_cancel_with_status(in->call, req ? GRPC_STATUS_RESOURCE_EXHAUSTED : GRPC_STATUS_INVALID_ARGUMENT,
                                     req ? "out of memory" : err.msg, NULL);
        grpc_call_unref(in->call);
        grpc_metadata_array_destroy(&in->md);
        if (req)
            protobuf_c_message_free_unpacked(&req->base, NULL);
        return;
    }
    jn__server_call_begin(s);
    w->close_tag.fn = on_watch_close;
    w->write_tag.fn = on_watch_write;
    w->status_tag.fn = on_watch_status;
    w->server = s;
    w->call = in->call;
    w->md = in->md;
    w->known = service_known(req->service);
    w->sent = -1;
    w->status_details = grpc_empty_slice();
    protobuf_c_message_free_unpacked(&req->base, NULL);
    pthread_mutex_init(&w->mu, NULL);

    pthread_mutex_lock(&s->mu);
    w->next = s->watchers;
    if (s->watchers)
        s->watchers->prev = w;
    s->watchers = w;
    pthread_mutex_unlock(&s->mu);

    pthread_mutex_lock(&w->mu);
    grpc_op ops[2];
    memset(ops, 0, sizeof ops);
    ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
    ops[1].op = GRPC_OP_RECV_CLOSE_ON_SERVER;
    ops[1].data.recv_close_on_server.cancelled = &w->recv_cancelled;
    start_locked(w, ops, 2, &w->close_tag);
    w->finishing = jn__server_closing(s);
    advance_locked(w);
    unlock_and_release(w);
}

void jn__health_shutdown(jn_server *s)
{
    pthread_mutex_lock(&s->mu);
    for (jn_watch *w = s->watchers; w; w = w->next) {
        pthread_mutex_lock(&w->mu);
        if (w->refs > 0) {
            w->finishing = true;
            advance_locked(w);
        }
        pthread_mutex_unlock(&w->mu);
    }
    pthread_mutex_unlock(&s->mu);
}
