/* etcd.c — etcd v3 over the gRPC C core (see etcd.h). Every call runs on a completion queue of its own (pluck), so
 * callers on different threads never wait for each other. */
#include "etcd.h"

#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/support/time.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "etcd/rpc.pb-c.h"
#include "pb.h"
#include "unary_exchange.h"

struct jn_etcd {
    char *endpoints;
    grpc_channel *channel;
};

/* ---- open / close ---- */

static bool ipv4_literal(const char *host, size_t len)
{
    int dots = 0;
    for (size_t i = 0; i < len; i++) {
        if (host[i] == '.')
            dots++;
        else if (host[i] < '0' || host[i] > '9')
            return false;
    }
    return dots == 3;
}

jn_etcd *jn_etcd_open(const char *url, jn_err *err)
{
    const char *scheme = "etcd://";
    if (!url || strncmp(url, scheme, strlen(scheme)) != 0) {
        jn_err_set(err, JN_EINVAL, "registry '%s': expected etcd://host:port[,host:port...]", url ? url : "");
        return NULL;
    }
    const char *list = url + strlen(scheme);
    size_t n_eps = 0;
    bool all_ipv4 = true;
    for (const char *p = list; *p;) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        const char *colon = memchr(p, ':', len);
        char *port_end = NULL;
        long port = colon ? strtol(colon + 1, &port_end, 10) : 0;
        if (!colon || colon == p || port_end != p + len || port < 1 || port > 65535) {
            jn_err_set(err, JN_EINVAL, "registry '%s': endpoint '%.*s' is not host:port", url, (int)len, p);
            return NULL;
        }
        all_ipv4 &= ipv4_literal(p, (size_t)(colon - p));
        n_eps++;
        p = end ? end + 1 : p + len;
        if (end && !*p) {
            jn_err_set(err, JN_EINVAL, "registry '%s': an endpoint is empty", url);
            return NULL;
        }
    }
    if (n_eps == 0) {
        jn_err_set(err, JN_EINVAL, "registry '%s': no endpoint", url);
        return NULL;
    }
    if (n_eps > 1 && !all_ipv4) {
        jn_err_set(err, JN_EINVAL, "registry '%s': several endpoints must be IPv4 addresses (one may be a host name)",
                   url);
        return NULL;
    }
    jn_etcd *c = calloc(1, sizeof *c);
    size_t tlen = strlen(list) + 16;
    char *target = malloc(tlen);
    if (!c || !target || !(c->endpoints = strdup(list))) {
        free(c ? c->endpoints : NULL);
        free(c);
        free(target);
        jn_err_set(err, JN_ENOMEM, "out of memory");
        return NULL;
    }
    /* Several IPv4 endpoints: one channel over all of them (pick_first moves on when one fails). */
    snprintf(target, tlen, "%s%s", all_ipv4 ? "ipv4:" : "dns:///", list);
    /* Reconnect within about 2 s of etcd coming back (the C core's default backoff grows to 2 minutes). */
    grpc_arg args[4];
    memset(args, 0, sizeof args);
    args[0].type = args[1].type = args[2].type = args[3].type = GRPC_ARG_INTEGER;
    args[0].key = GRPC_ARG_ENABLE_RETRIES;
    args[0].value.integer = 0;
    args[1].key = GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS;
    args[1].value.integer = 200;
    args[2].key = GRPC_ARG_MIN_RECONNECT_BACKOFF_MS;
    args[2].value.integer = 200;
    args[3].key = GRPC_ARG_MAX_RECONNECT_BACKOFF_MS;
    args[3].value.integer = 2000;
    grpc_channel_args cargs = {4, args};
    grpc_channel_credentials *creds = grpc_insecure_credentials_create();
    c->channel = grpc_channel_create(target, creds, &cargs);
    grpc_channel_credentials_release(creds);
    free(target);
    return c;
}

void jn_etcd_close(jn_etcd *c)
{
    if (!c)
        return;
    grpc_channel_destroy(c->channel);
    free(c->endpoints);
    free(c);
}

const char *jn_etcd_endpoints(const jn_etcd *c)
{
    return c->endpoints;
}

/* ---- one call in one batch ---- */

static void cq_destroy(grpc_completion_queue *cq)
{
    grpc_completion_queue_shutdown(cq);
    while (grpc_completion_queue_pluck(cq, NULL, gpr_inf_future(GPR_CLOCK_REALTIME), NULL).type != GRPC_QUEUE_SHUTDOWN)
        ;
    grpc_completion_queue_destroy(cq);
}

/* A request, a response, a status: unary methods, and a keep-alive on the lease stream (one message each way). */
static int call_once(jn_etcd *c, const char *method, const ProtobufCMessage *req,
                     const ProtobufCMessageDescriptor *resp_desc, ProtobufCMessage **resp, int timeout_ms, jn_err *err)
{
    *resp = NULL;
    grpc_completion_queue *cq = grpc_completion_queue_create_for_pluck(NULL);
    gpr_timespec deadline =
        gpr_time_add(gpr_now(GPR_CLOCK_REALTIME), gpr_time_from_millis(timeout_ms, GPR_TIMESPAN));
    grpc_call *call = grpc_channel_create_call(c->channel, NULL, GRPC_PROPAGATE_DEFAULTS, cq,
                                               grpc_slice_from_static_string(method), NULL, deadline, NULL);
    jn_unary_exchange x;
    int rc = 0;
    if (!call) {
        memset(&x, 0, sizeof x);
        x.details = grpc_empty_slice();
        rc = jn_err_set(err, JN_ENOMEM, "out of memory calling etcd");
    } else if (jn_unary_exchange_start(&x, call, req, &x) != GRPC_CALL_OK) {
        rc = jn_err_set(err, JN_EINTERNAL, "etcd at %s: %s: the call could not start", c->endpoints, method);
    } else {
        grpc_completion_queue_pluck(cq, &x, gpr_inf_future(GPR_CLOCK_REALTIME), NULL); /* the deadline ends it */
        if (x.code != GRPC_STATUS_OK) {
            char msg[JN_ERR_MSG_MAX / 2];
            jn_unary_exchange_message(&x, msg, sizeof msg);
            rc = jn_err_set(err, jn_err_from_grpc_status(x.code), "etcd at %s: %s: %s", c->endpoints, method, msg);
        } else if (!(*resp = jn_unary_exchange_answer(&x, resp_desc, err))) {
            rc = err && err->code ? err->code : JN_EINTERNAL;
        }
    }
    jn_unary_exchange_finish(&x);
    if (call)
        grpc_call_unref(call);
    cq_destroy(cq);
    return rc;
}

/* ---- KV ---- */

/* The end of the range of keys with this prefix: the prefix with its last byte below 0xff incremented. */
static ProtobufCBinaryData prefix_end(const char *prefix, char *buf, size_t cap)
{
    size_t n = strlen(prefix);
    if (n > cap)
        n = cap;
    memcpy(buf, prefix, n);
    while (n > 0 && (unsigned char)buf[n - 1] == 0xff)
        n--;
    if (n == 0) { /* every key */
        buf[0] = 0;
        return (ProtobufCBinaryData){1, (uint8_t *)buf};
    }
    buf[n - 1] = (char)((unsigned char)buf[n - 1] + 1);
    return (ProtobufCBinaryData){n, (uint8_t *)buf};
}

static ProtobufCBinaryData bytes_of(const char *s)
{
    return (ProtobufCBinaryData){strlen(s), (uint8_t *)s};
}

static char *strndup_bytes(const ProtobufCBinaryData *b)
{
    char *s = malloc(b->len + 1);
    if (s) {
        if (b->len)
            memcpy(s, b->data, b->len);
        s[b->len] = '\0';
    }
    return s;
}

void jn_etcd_kvs_free(jn_etcd_kv *kvs, size_t n)
{
    for (size_t i = 0; kvs && i < n; i++) {
        free(kvs[i].key);
        free(kvs[i].value);
    }
    free(kvs);
}

int jn_etcd_get_prefix(jn_etcd *c, const char *prefix, int timeout_ms, jn_etcd_kv **kvs, size_t *n,
                       int64_t *revision, jn_err *err)
{
    *kvs = NULL;
    *n = 0;
    char end[512];
    Etcdserverpb__RangeRequest req = ETCDSERVERPB__RANGE_REQUEST__INIT;
    req.key = bytes_of(prefix);
    req.range_end = prefix_end(prefix, end, sizeof end);
    ProtobufCMessage *m;
    int rc = call_once(c, "/etcdserverpb.KV/Range", &req.base, &etcdserverpb__range_response__descriptor, &m,
                       timeout_ms, err);
    if (rc)
        return rc;
    Etcdserverpb__RangeResponse *resp = (Etcdserverpb__RangeResponse *)m;
    jn_etcd_kv *out = calloc(resp->n_kvs ? resp->n_kvs : 1, sizeof *out);
    if (!out)
        rc = jn_err_set(err, JN_ENOMEM, "out of memory");
    for (size_t i = 0; !rc && i < resp->n_kvs; i++) {
        out[i].key = strndup_bytes(&resp->kvs[i]->key);
        out[i].value = strndup_bytes(&resp->kvs[i]->value);
        out[i].value_len = resp->kvs[i]->value.len;
        out[i].mod_revision = resp->kvs[i]->mod_revision;
        out[i].lease = resp->kvs[i]->lease;
        if (!out[i].key || !out[i].value)
            rc = jn_err_set(err, JN_ENOMEM, "out of memory");
    }
    if (!rc) {
        *kvs = out;
        *n = resp->n_kvs;
        *revision = resp->header ? resp->header->revision : 0;
    } else {
        jn_etcd_kvs_free(out, resp->n_kvs);
    }
    protobuf_c_message_free_unpacked(m, NULL);
    return rc;
}

int jn_etcd_put_if(jn_etcd *c, const char *key, const char *value, int64_t expect_mod, int64_t lease, int timeout_ms,
                   bool *changed, int64_t *revision, int64_t *current_mod, jn_err *err)
{
    *changed = false;
    *current_mod = 0;
    Etcdserverpb__Compare cmp = ETCDSERVERPB__COMPARE__INIT;
    cmp.result = ETCDSERVERPB__COMPARE__COMPARE_RESULT__EQUAL;
    cmp.target = ETCDSERVERPB__COMPARE__COMPARE_TARGET__MOD;
    cmp.key = bytes_of(key);
    cmp.target_union_case = ETCDSERVERPB__COMPARE__TARGET_UNION_MOD_REVISION;
    cmp.mod_revision = expect_mod; /* a key that does not exist has mod revision 0 */
    Etcdserverpb__Compare *cmps[1] = {&cmp};

    Etcdserverpb__PutRequest put = ETCDSERVERPB__PUT_REQUEST__INIT;
    Etcdserverpb__DeleteRangeRequest del = ETCDSERVERPB__DELETE_RANGE_REQUEST__INIT;
    Etcdserverpb__RequestOp change = ETCDSERVERPB__REQUEST_OP__INIT;
    if (value) {
        put.key = bytes_of(key);
        put.value = bytes_of(value);
        put.lease = lease;
        change.request_case = ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_PUT;
        change.request_put = &put;
    } else {
        del.key = bytes_of(key);
        change.request_case = ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_DELETE_RANGE;
        change.request_delete_range = &del;
    }
    Etcdserverpb__RequestOp *success[1] = {&change};
    Etcdserverpb__RangeRequest read = ETCDSERVERPB__RANGE_REQUEST__INIT; /* on a lost race: where the key is now */
    read.key = bytes_of(key);
    read.keys_only = true;
    Etcdserverpb__RequestOp lookup = ETCDSERVERPB__REQUEST_OP__INIT;
    lookup.request_case = ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_RANGE;
    lookup.request_range = &read;
    Etcdserverpb__RequestOp *failure[1] = {&lookup};

    Etcdserverpb__TxnRequest txn = ETCDSERVERPB__TXN_REQUEST__INIT;
    txn.n_compare = 1;
    txn.compare = cmps;
    txn.n_success = 1;
    txn.success = success;
    txn.n_failure = 1;
    txn.failure = failure;
    ProtobufCMessage *m;
    int rc = call_once(c, "/etcdserverpb.KV/Txn", &txn.base, &etcdserverpb__txn_response__descriptor, &m, timeout_ms,
                       err);
    if (rc)
        return rc;
    Etcdserverpb__TxnResponse *resp = (Etcdserverpb__TxnResponse *)m;
    *changed = resp->succeeded;
    *revision = resp->header ? resp->header->revision : 0;
    if (!resp->succeeded && resp->n_responses == 1 &&
        resp->responses[0]->response_case == ETCDSERVERPB__RESPONSE_OP__RESPONSE_RESPONSE_RANGE &&
        resp->responses[0]->response_range->n_kvs == 1)
        *current_mod = resp->responses[0]->response_range->kvs[0]->mod_revision;
    protobuf_c_message_free_unpacked(m, NULL);
    return 0;
}

int jn_etcd_put(jn_etcd *c, const char *key, const char *value, int64_t lease, int timeout_ms, int64_t *revision,
                jn_err *err)
{
    Etcdserverpb__PutRequest req = ETCDSERVERPB__PUT_REQUEST__INIT;
    req.key = bytes_of(key);
    req.value = bytes_of(value);
    req.lease = lease;
    ProtobufCMessage *m;
    int rc = call_once(c, "/etcdserverpb.KV/Put", &req.base, &etcdserverpb__put_response__descriptor, &m, timeout_ms,
                       err);
    if (rc)
        return rc;
    Etcdserverpb__PutResponse *resp = (Etcdserverpb__PutResponse *)m;
    *revision = resp->header ? resp->header->revision : 0;
    protobuf_c_message_free_unpacked(m, NULL);
    return 0;
}

/* ---- leases ---- */

int jn_etcd_lease_grant(jn_etcd *c, int64_t ttl_s, int timeout_ms, int64_t *id, jn_err *err)
{
    Etcdserverpb__LeaseGrantRequest req = ETCDSERVERPB__LEASE_GRANT_REQUEST__INIT;
    req.ttl = ttl_s;
    ProtobufCMessage *m;
    int rc = call_once(c, "/etcdserverpb.Lease/LeaseGrant", &req.base, &etcdserverpb__lease_grant_response__descriptor,
                       &m, timeout_ms, err);
    if (rc)
        return rc;
    Etcdserverpb__LeaseGrantResponse *resp = (Etcdserverpb__LeaseGrantResponse *)m;
    if (resp->error && resp->error[0])
        rc = jn_err_set(err, JN_EUNAVAIL, "etcd at %s: lease grant: %s", c->endpoints, resp->error);
    else
        *id = resp->id;
    protobuf_c_message_free_unpacked(m, NULL);
    return rc;
}

int jn_etcd_lease_keepalive(jn_etcd *c, int64_t id, int timeout_ms, int64_t *ttl_left, jn_err *err)
{
    Etcdserverpb__LeaseKeepAliveRequest req = ETCDSERVERPB__LEASE_KEEP_ALIVE_REQUEST__INIT;
    req.id = id;
    ProtobufCMessage *m;
    int rc = call_once(c, "/etcdserverpb.Lease/LeaseKeepAlive", &req.base,
                       &etcdserverpb__lease_keep_alive_response__descriptor, &m, timeout_ms, err);
    if (rc)
        return rc;
    *ttl_left = ((Etcdserverpb__LeaseKeepAliveResponse *)m)->ttl;
    protobuf_c_message_free_unpacked(m, NULL);
    return 0;
}

int jn_etcd_lease_revoke(jn_etcd *c, int64_t id, int timeout_ms, jn_err *err)
{
    Etcdserverpb__LeaseRevokeRequest req = ETCDSERVERPB__LEASE_REVOKE_REQUEST__INIT;
    req.id = id;
    ProtobufCMessage *m;
    int rc = call_once(c, "/etcdserverpb.Lease/LeaseRevoke", &req.base,
                       &etcdserverpb__lease_revoke_response__descriptor, &m, timeout_ms, err);
    if (!rc)
        protobuf_c_message_free_unpacked(m, NULL);
    return rc;
}

/* ---- watch ---- */

struct jn_etcd_watch {
    jn_etcd *c;
    grpc_completion_queue *cq;
    grpc_call *call;
    atomic_int cancelled;
    bool ended; /* the status has been received */
    grpc_metadata_array md_initial, md_trailing;
    grpc_status_code status;
    grpc_slice details;
};

void jn_etcd_events_free(jn_etcd_event *events, size_t n)
{
    for (size_t i = 0; events && i < n; i++) {
        free(events[i].key);
        free(events[i].value);
    }
    free(events);
}

/* Runs one batch and waits for it. false when the batch failed (the stream is over). */
static bool watch_batch(jn_etcd_watch *w, grpc_op *ops, size_t n)
{
    int tag;
    if (grpc_call_start_batch(w->call, ops, n, &tag, NULL) != GRPC_CALL_OK)
        return false;
    grpc_event ev = grpc_completion_queue_pluck(w->cq, &tag, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
    return ev.type == GRPC_OP_COMPLETE && ev.success;
}

/* Receives the final status (once). */
static void watch_finish(jn_etcd_watch *w)
{
    if (w->ended)
        return;
    grpc_op op;
    memset(&op, 0, sizeof op);
    op.op = GRPC_OP_RECV_STATUS_ON_CLIENT;
    op.data.recv_status_on_client.trailing_metadata = &w->md_trailing;
    op.data.recv_status_on_client.status = &w->status;
    op.data.recv_status_on_client.status_details = &w->details;
    watch_batch(w, &op, 1);
    w->ended = true;
}

jn_etcd_watch *jn_etcd_watch_prefix(jn_etcd *c, const char *prefix, int64_t start_revision, jn_err *err)
{
    jn_etcd_watch *w = calloc(1, sizeof *w);
    if (!w) {
        jn_err_set(err, JN_ENOMEM, "out of memory");
        return NULL;
    }
    w->c = c;
    w->details = grpc_empty_slice();
    w->status = GRPC_STATUS_UNKNOWN;
    grpc_metadata_array_init(&w->md_initial);
    grpc_metadata_array_init(&w->md_trailing);
    w->cq = grpc_completion_queue_create_for_pluck(NULL);
    w->call = grpc_channel_create_call(c->channel, NULL, GRPC_PROPAGATE_DEFAULTS, w->cq,
                                       grpc_slice_from_static_string("/etcdserverpb.Watch/Watch"), NULL,
                                       gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
    char end[512];
    Etcdserverpb__WatchCreateRequest create = ETCDSERVERPB__WATCH_CREATE_REQUEST__INIT;
    create.key = bytes_of(prefix);
    create.range_end = prefix_end(prefix, end, sizeof end);
    create.start_revision = start_revision;
    create.progress_notify = true;
    Etcdserverpb__WatchRequest req = ETCDSERVERPB__WATCH_REQUEST__INIT;
    req.request_union_case = ETCDSERVERPB__WATCH_REQUEST__REQUEST_UNION_CREATE_REQUEST;
    req.create_request = &create;
    grpc_byte_buffer *out = jn_pb_pack(&req.base);
    grpc_op ops[3];
    memset(ops, 0, sizeof ops);
    ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
    ops[1].op = GRPC_OP_SEND_MESSAGE;
    ops[1].data.send_message.send_message = out;
    ops[2].op = GRPC_OP_RECV_INITIAL_METADATA;
    ops[2].data.recv_initial_metadata.recv_initial_metadata = &w->md_initial;
    bool ok = w->call && out && watch_batch(w, ops, 3);
    if (out)
        grpc_byte_buffer_destroy(out);
    if (!ok) {
        if (w->call)
            watch_finish(w);
        jn_err_set(err, JN_EUNAVAIL, "etcd at %s: the watch could not start: %.*s", c->endpoints,
                   (int)GRPC_SLICE_LENGTH(w->details), (const char *)GRPC_SLICE_START_PTR(w->details));
        jn_etcd_watch_free(w);
        return NULL;
    }
    return w;
}

int jn_etcd_watch_next(jn_etcd_watch *w, jn_etcd_event **events, size_t *n, int64_t *revision, jn_err *err)
{
    *events = NULL;
    *n = 0;
    if (w->ended || atomic_load(&w->cancelled))
        return jn_err_set(err, JN_ECANCELLED, "the watch was cancelled");
    grpc_byte_buffer *in = NULL;
    grpc_op op;
    memset(&op, 0, sizeof op);
    op.op = GRPC_OP_RECV_MESSAGE;
    op.data.recv_message.recv_message = &in;
    bool ok = watch_batch(w, &op, 1);
    if (!ok || !in) {
        if (in)
            grpc_byte_buffer_destroy(in);
        watch_finish(w);
        if (atomic_load(&w->cancelled))
            return jn_err_set(err, JN_ECANCELLED, "the watch was cancelled");
        return jn_err_set(err, JN_EUNAVAIL, "etcd at %s: the watch ended: %.*s", w->c->endpoints,
                          (int)GRPC_SLICE_LENGTH(w->details), (const char *)GRPC_SLICE_START_PTR(w->details));
    }
    Etcdserverpb__WatchResponse *resp =
        (Etcdserverpb__WatchResponse *)jn_pb_unpack(&etcdserverpb__watch_response__descriptor, in, err);
    grpc_byte_buffer_destroy(in);
    if (!resp)
        return err && err->code ? err->code : JN_EINTERNAL;
    int rc = 0;
    if (resp->compact_revision > 0)
        rc = jn_err_set(err, JN_EPRECOND, "etcd at %s: the watch start was compacted (now from revision %lld)",
                        w->c->endpoints, (long long)resp->compact_revision);
    else if (resp->canceled)
        rc = jn_err_set(err, JN_EUNAVAIL, "etcd at %s: the watch was cancelled by etcd: %s", w->c->endpoints,
                        resp->cancel_reason ? resp->cancel_reason : "");
    jn_etcd_event *out = NULL;
    if (!rc && resp->n_events) {
        out = calloc(resp->n_events, sizeof *out);
        if (!out)
            rc = jn_err_set(err, JN_ENOMEM, "out of memory");
        for (size_t i = 0; !rc && i < resp->n_events; i++) {
            const Mvccpb__Event *e = resp->events[i];
            const Mvccpb__KeyValue *kv = e->kv;
            if (!kv) {
                rc = jn_err_set(err, JN_EINTERNAL, "etcd at %s: a watch event without its key", w->c->endpoints);
                break;
            }
            out[i].deleted = e->type == MVCCPB__EVENT__EVENT_TYPE__DELETE;
            out[i].key = strndup_bytes(&kv->key);
            out[i].value = out[i].deleted ? NULL : strndup_bytes(&kv->value);
            out[i].mod_revision = kv->mod_revision;
            if (!out[i].key || (!out[i].deleted && !out[i].value))
                rc = jn_err_set(err, JN_ENOMEM, "out of memory");
        }
    }
    if (!rc) {
        *events = out;
        *n = resp->n_events;
        *revision = resp->header ? resp->header->revision : 0;
    } else {
        jn_etcd_events_free(out, resp->n_events);
    }
    protobuf_c_message_free_unpacked(&resp->base, NULL);
    return rc;
}

void jn_etcd_watch_cancel(jn_etcd_watch *w)
{
    atomic_store(&w->cancelled, 1);
    if (w->call)
        grpc_call_cancel(w->call, NULL);
}

void jn_etcd_watch_free(jn_etcd_watch *w)
{
    if (!w)
        return;
    if (w->call) {
        if (!w->ended) {
            grpc_call_cancel(w->call, NULL);
            watch_finish(w);
        }
        grpc_call_unref(w->call);
    }
    grpc_slice_unref(w->details);
    grpc_metadata_array_destroy(&w->md_initial);
    grpc_metadata_array_destroy(&w->md_trailing);
    if (w->cq)
        cq_destroy(w->cq);
    free(w);
}
