/* admin_remote.c — junction.v1.Admin for remote engines: RegisterEngine, UnregisterEngine, ListEngines, Heartbeat.
 *
 * RegisterEngine and Heartbeat ask the remote to describe its model (a blocking call of up to the caller's deadline
 * or the engine's health_timeout_ms): they run on the remote manager's registration pool, never on the pump thread
 * nor on the shared worker pool. Unregister and List
 * touch only local tables and answer on the pump thread. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../remote/remotes.h"
#include "internal.h"
#include "junction/v1/admin.pb-c.h"
#include "pb.h"
#include "signature_pb.h"

static jn_remotes *remotes_of(jn_unary *u)
{
    jn_remotes *r = u->server->opt.remotes;
    if (!r)
        jn_unary_fail(u, JN_EUNIMPL, "remote engines are not enabled on this server");
    return r;
}

static const char *protocol_name(Junction__V1__RemoteProtocol p, bool default_native)
{
    switch (p) {
    case JUNCTION__V1__REMOTE_PROTOCOL__KSERVE_V2:
        return "kserve_v2";
    case JUNCTION__V1__REMOTE_PROTOCOL__NATIVE:
        return "native";
    case JUNCTION__V1__REMOTE_PROTOCOL__OPENAI:
        return "openai";
    case JUNCTION__V1__REMOTE_PROTOCOL__REMOTE_PROTOCOL_UNSPECIFIED:
        return default_native ? "native" : "";
    default:
        return NULL;
    }
}

static Junction__V1__RemoteProtocol protocol_enum(const char *name)
{
    if (strcmp(name, "kserve_v2") == 0)
        return JUNCTION__V1__REMOTE_PROTOCOL__KSERVE_V2;
    if (strcmp(name, "native") == 0)
        return JUNCTION__V1__REMOTE_PROTOCOL__NATIVE;
    if (strcmp(name, "openai") == 0)
        return JUNCTION__V1__REMOTE_PROTOCOL__OPENAI;
    return JUNCTION__V1__REMOTE_PROTOCOL__REMOTE_PROTOCOL_UNSPECIFIED;
}

/* A registration or heartbeat waiting for a worker. */
typedef struct admin_job {
    jn_unary *u;
    ProtobufCMessage *msg;
    jn_remotes *remotes;
    /* option views into msg */
    const char **keys, **values;
    size_t n_options;
} admin_job;

static void admin_job_free(admin_job *j)
{
    protobuf_c_message_free_unpacked(j->msg, NULL);
    free(j->keys);
    free(j->values);
    free(j);
}

/* The string value of field `name` of msg, read through its descriptor (NULL when it has none). */
static const char *string_field(const ProtobufCMessage *msg, const char *name)
{
    const ProtobufCFieldDescriptor *f = protobuf_c_message_descriptor_get_field_by_name(msg->descriptor, name);
    return f && f->type == PROTOBUF_C_TYPE_STRING ? *(char *const *)((const char *)msg + f->offset) : NULL;
}

/* A job over msg (taken) with views of its map<string, string> `options`. RegisterEngine and Heartbeat have
 * different generated entry types of the same shape, so the entries are read through protobuf-c's descriptors.
 * NULL once the call was answered (no memory). */
static admin_job *admin_job_new(jn_unary *u, jn_remotes *r, ProtobufCMessage *msg)
{
    const ProtobufCFieldDescriptor *f = protobuf_c_message_descriptor_get_field_by_name(msg->descriptor, "options");
    size_t n_options = f && f->label == PROTOBUF_C_LABEL_REPEATED && f->type == PROTOBUF_C_TYPE_MESSAGE
                           ? *(const size_t *)((const char *)msg + f->quantifier_offset)
                           : 0;
    ProtobufCMessage *const *entries = n_options ? *(ProtobufCMessage *const *const *)((const char *)msg + f->offset)
                                                 : NULL;
    admin_job *j = calloc(1, sizeof *j);
    if (j) {
        j->keys = calloc(n_options ? n_options : 1, sizeof *j->keys);
        j->values = calloc(n_options ? n_options : 1, sizeof *j->values);
    }
    if (!j || !j->keys || !j->values) {
        if (j) {
            free(j->keys);
            free(j->values);
            free(j);
        }
        protobuf_c_message_free_unpacked(msg, NULL);
        jn_unary_fail(u, JN_ENOMEM, "out of memory");
        return NULL;
    }
    for (size_t i = 0; i < n_options; i++) {
        j->keys[i] = string_field(entries[i], "key");
        j->values[i] = string_field(entries[i], "value");
    }
    j->u = u;
    j->remotes = r;
    j->msg = msg;
    j->n_options = n_options;
    return j;
}

static void submit(admin_job *j, jn_job_fn fn)
{
    jn_workpool *pool = jn_remotes_pool(j->remotes);
    if (!pool || jn_workpool_submit(pool, fn, j) != 0) {
        jn_unary_fail(j->u, JN_EUNAVAIL, "remote engines are not accepting registrations (shutting down)");
        admin_job_free(j);
    }
}

/* Decodes a RegisterEngine / Heartbeat request and queues fn with it on the registrations pool (it may wait for
 * the remote's answer); every failure here is answered at once. */
static void start_job(jn_unary *u, grpc_byte_buffer *payload, const ProtobufCMessageDescriptor *desc, jn_job_fn fn)
{
    jn_remotes *r = remotes_of(u);
    if (!r)
        return;
    jn_err err;
    ProtobufCMessage *m = jn_pb_unpack(desc, payload, &err);
    if (!m) {
        jn_unary_fail(u, err.code, err.msg);
        return;
    }
    admin_job *j = admin_job_new(u, r, m);
    if (j)
        submit(j, fn);
}


/* ---- RegisterEngine ---- */

typedef struct register_change {
    jn_remotes *remotes;
    const jn_remote_request *req;
    int64_t deadline_ns;
    jn_engine **engine; /* the registered engine, for the answer */
} register_change;

static int apply_register(void *arg, jn_err *err)
{
    register_change *c = arg;
    return jn_remotes_register(c->remotes, c->req, c->deadline_ns, c->engine, err);
}

typedef struct unregister_change {
    jn_remotes *remotes;
    const char *name;
} unregister_change;

static int apply_unregister(void *arg, jn_err *err)
{
    unregister_change *c = arg;
    return jn_remotes_unregister(c->remotes, c->name, err);
}

static void register_job(void *arg)
{
    admin_job *j = arg;
    Junction__V1__RegisterEngineRequest *m = (Junction__V1__RegisterEngineRequest *)j->msg;
    jn_err err;
    jn_err_clear(&err);
    const char *proto = protocol_name(m->protocol, false);
    jn_engine *e = NULL;
    int rc;
    if (!proto || !*proto) {
        rc = jn_err_set(&err, JN_EINVAL, "protocol %d is unknown or unset (expected KSERVE_V2, NATIVE or OPENAI)",
                        (int)m->protocol);
    } else {
        jn_remote_request req = {m->name, m->endpoint, proto, m->model, m->version, j->keys, j->values,
                                 j->n_options};
        /* Kept in the state directory (or the cluster registry) before it is acknowledged. */
        char *record = jn_remote_request_json(&req);
        register_change change = {j->remotes, &req, j->u->deadline_ns, &e};
        rc = record ? jn_control_commit(j->u->server->control, JN_STATE_KIND_ENGINE, m->name ? m->name : "", record,
                                        apply_register, &change, &err)
                    : jn_err_set(&err, JN_ENOMEM, "out of memory");
        free(record);
    }
    if (rc) {
        jn_unary_fail(j->u, rc, err.msg);
        admin_job_free(j);
        return;
    }
    jn_signature_pb sig = {0};
    if (jn_signature_pb_fill(&sig, &e->sig)) {
        jn_unary_fail(j->u, JN_ENOMEM, "out of memory");
    } else {
        Junction__V1__RegisterEngineResponse r = JUNCTION__V1__REGISTER_ENGINE_RESPONSE__INIT;
        r.name = e->name;
        r.signature = &sig.msg;
        r.platform = (char *)e->vt->platform;
        r.streams = (e->flags & JN_ENGINE_STREAMS) != 0;
        jn_unary_reply(j->u, jn_pb_pack(&r.base));
    }
    jn_signature_pb_free(&sig);
    jn_engine_unref(e);
    admin_job_free(j);
}

void jn_admin_register_engine(jn_unary *u, grpc_byte_buffer *payload)
{
    start_job(u, payload, &junction__v1__register_engine_request__descriptor, register_job);
}

/* ---- Heartbeat ---- */

static void heartbeat_job(void *arg)
{
    admin_job *j = arg;
    Junction__V1__HeartbeatRequest *m = (Junction__V1__HeartbeatRequest *)j->msg;
    jn_err err;
    jn_err_clear(&err);
    const char *proto = protocol_name(m->protocol, true);
    bool registered = false;
    int rc;
    if (!proto) {
        rc = jn_err_set(&err, JN_EINVAL, "protocol %d is unknown (expected KSERVE_V2, NATIVE or OPENAI)", (int)m->protocol);
    } else {
        jn_remote_request req = {m->name, m->endpoint, proto, m->model, m->version, j->keys, j->values,
                                 j->n_options};
        rc = jn_remotes_heartbeat(j->remotes, &req, m->interval_ms, m->ttl_ms, j->u->deadline_ns, &registered,
                                  &err);
        jn_control *control = j->u->server->control;
        if (!rc && control->publish_leased) { /* cluster mode: the other replicas serve it while it heartbeats */
            char *record = jn_remote_request_json(&req);
            jn_err perr;
            jn_err_clear(&perr);
            if (!record || control->publish_leased(control->store, JN_STATE_KIND_ENGINE, req.name, record,
                                                   m->ttl_ms, &perr))
                fprintf(stderr, "junction: heartbeat of '%s': not published to the cluster registry: %s\n",
                        req.name, record ? perr.msg : "out of memory");
            free(record);
        }
    }
    if (rc) {
        jn_unary_fail(j->u, rc, err.msg);
    } else {
        Junction__V1__HeartbeatResponse r = JUNCTION__V1__HEARTBEAT_RESPONSE__INIT;
        r.registered = registered;
        jn_unary_reply(j->u, jn_pb_pack(&r.base));
    }
    admin_job_free(j);
}

void jn_admin_heartbeat(jn_unary *u, grpc_byte_buffer *payload)
{
    start_job(u, payload, &junction__v1__heartbeat_request__descriptor, heartbeat_job);
}

/* ---- UnregisterEngine, ListEngines ---- */

void jn_admin_unregister_engine(jn_unary *u, grpc_byte_buffer *payload)
{
    jn_remotes *r = remotes_of(u);
    if (!r)
        return;
    jn_err err;
    Junction__V1__UnregisterEngineRequest *m = (Junction__V1__UnregisterEngineRequest *)jn_pb_unpack(
        &junction__v1__unregister_engine_request__descriptor, payload, &err);
    if (!m) {
        jn_unary_fail(u, err.code, err.msg);
        return;
    }
    jn_err_clear(&err);
    unregister_change change = {r, m->name ? m->name : ""};
    int rc = jn_control_commit(u->server->control, JN_STATE_KIND_ENGINE, change.name, NULL, apply_unregister, &change,
                               &err);
    protobuf_c_message_free_unpacked(&m->base, NULL);
    if (rc) {
        jn_unary_fail(u, rc, err.msg);
        return;
    }
    Junction__V1__UnregisterEngineResponse resp = JUNCTION__V1__UNREGISTER_ENGINE_RESPONSE__INIT;
    jn_unary_reply(u, jn_pb_pack(&resp.base));
}

void jn_admin_list_engines(jn_unary *u, grpc_byte_buffer *payload)
{
    jn_remotes *r = remotes_of(u);
    if (!r)
        return;
    jn_err err;
    ProtobufCMessage *m = jn_pb_unpack(&junction__v1__list_engines_request__descriptor, payload, &err);
    if (!m) {
        jn_unary_fail(u, err.code, err.msg);
        return;
    }
    protobuf_c_message_free_unpacked(m, NULL);
    jn_remote_info *infos;
    long n = jn_remotes_list(r, &infos);
    if (n < 0) {
        jn_unary_fail(u, JN_ENOMEM, "out of memory");
        return;
    }
    size_t n_opts = 0;
    for (long i = 0; i < n; i++)
        n_opts += infos[i].n_options;
    Junction__V1__RemoteEngineInfo *msgs = calloc(n ? (size_t)n : 1, sizeof *msgs);
    Junction__V1__RemoteEngineInfo **ptrs = calloc(n ? (size_t)n : 1, sizeof *ptrs);
    Junction__V1__RemoteEngineInfo__OptionsEntry *opts = calloc(n_opts ? n_opts : 1, sizeof *opts);
    Junction__V1__RemoteEngineInfo__OptionsEntry **opt_ptrs = calloc(n_opts ? n_opts : 1, sizeof *opt_ptrs);
    if (!msgs || !ptrs || !opts || !opt_ptrs) {
        jn_unary_fail(u, JN_ENOMEM, "out of memory");
    } else {
        size_t k = 0;
        for (long i = 0; i < n; i++) {
            jn_remote_info *in = &infos[i];
            Junction__V1__RemoteEngineInfo *e = &msgs[i];
            junction__v1__remote_engine_info__init(e);
            e->name = in->name;
            e->endpoint = in->endpoint;
            e->protocol = protocol_enum(in->protocol);
            e->model = in->model;
            e->version = in->version;
            e->ready = in->ready;
            e->breaker = (char *)in->breaker;
            e->leased = in->leased;
            e->since_heartbeat_ms = in->since_heartbeat_ms;
            e->breaker_opened = in->breaker_opened;
            e->health_error = in->health_error;
            e->options = &opt_ptrs[k];
            for (size_t o = 0; o < in->n_options; o++, k++) {
                junction__v1__remote_engine_info__options_entry__init(&opts[k]);
                opts[k].key = in->option_keys[o];
                opts[k].value = in->option_values[o];
                opt_ptrs[k] = &opts[k];
            }
            e->n_options = in->n_options;
            ptrs[i] = e;
        }
        Junction__V1__ListEnginesResponse resp = JUNCTION__V1__LIST_ENGINES_RESPONSE__INIT;
        resp.n_engines = (size_t)n;
        resp.engines = ptrs;
        jn_unary_reply(u, jn_pb_pack(&resp.base));
    }
    free(msgs);
    free(ptrs);
    free(opts);
    free(opt_ptrs);
    jn_remotes_infos_free(infos, n);
}
