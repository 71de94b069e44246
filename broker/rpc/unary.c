/* unary.c — the life of a unary call: {RECV_CLOSE_ON_SERVER} when the handler's work may outlast its thread (to learn
 * of cancellation while it runs; jn_unary_watch_cancel), the handler's work, then one {SEND_INITIAL_METADATA,
 * SEND_MESSAGE, SEND_STATUS} batch, which also carries the RECV_CLOSE_ON_SERVER when nobody asked for it earlier
 * (one batch and one completion fewer for inference answered on the pump). The call object is freed when the
 * handler has replied and its batches completed. */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

static void unary_unref(jn_unary *u)
{
    if (atomic_fetch_sub(&u->refs, 1) != 1)
        return;
    jn_server *s = u->server;
    if (u->response)
        grpc_byte_buffer_destroy(u->response);
    grpc_slice_unref(u->details);
    grpc_metadata_array_destroy(&u->md);
    grpc_call_unref(u->call);
    free(u);
    jn__server_call_end(s);
}

static void on_close(jn_tag *tag, bool ok)
{
    jn_unary *u = JN_CONTAINER_OF(tag, jn_unary, close_tag);
    if (!ok || u->recv_cancelled)
        atomic_store(&u->cancelled, 1);
    unary_unref(u);
}

static void on_sent(jn_tag *tag, bool ok)
{
    unary_unref(JN_CONTAINER_OF(tag, jn_unary, send_tag));
}

void jn__unary_start(jn_server *s, const jn_method *m, jn_incoming *in)
{
    jn_unary *u = calloc(1, sizeof *u);
    if (!u) { /* cannot even answer: cancel the call so the client is not left hanging */
        grpc_call_cancel_with_status(in->call, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory", NULL);
        grpc_call_unref(in->call);
        grpc_metadata_array_destroy(&in->md);
        if (in->payload)
            grpc_byte_buffer_destroy(in->payload);
        return;
    }
    jn__server_call_begin(s);
    u->close_tag.fn = on_close;
    u->send_tag.fn = on_sent;
    u->server = s;
    u->method = m;
    u->call = in->call;
    u->cq = in->cq;
    u->md = in->md;
    u->deadline_ns = jn__deadline_ns(in->deadline);
    u->details = grpc_empty_slice();
    atomic_init(&u->cancelled, 0);
    atomic_init(&u->refs, 1); /* the handler's */
    if (!m->defers_cancel_watch) /* see jn_method */
        jn_unary_watch_cancel(u);
    grpc_byte_buffer *payload = in->payload;
    m->unary(u, payload);
    if (payload)
        grpc_byte_buffer_destroy(payload);
}

void jn_unary_watch_cancel(jn_unary *u)
{
    if (u->close_posted)
        return;
    u->close_posted = true;
    atomic_fetch_add(&u->refs, 1); /* the close batch's */
    grpc_op op;
    memset(&op, 0, sizeof op);
    op.op = GRPC_OP_RECV_CLOSE_ON_SERVER;
    op.data.recv_close_on_server.cancelled = &u->recv_cancelled;
    if (jn_start_batch(u->call, &op, 1, &u->close_tag) != GRPC_CALL_OK) {
        atomic_store(&u->cancelled, 1);
        unary_unref(u);
    }
}

static void send_final(jn_unary *u, grpc_status_code code, const char *message, grpc_byte_buffer *response)
{
    u->response = response;
    grpc_slice_unref(u->details);
    u->details = message && *message ? grpc_slice_from_copied_string(message) : grpc_empty_slice();
    grpc_op ops[4];
    memset(ops, 0, sizeof ops);
    size_t n = 0;
    if (!u->close_posted) { /* nobody watched for cancellation: the close goes with the answer, one batch */
        u->close_posted = true;
        ops[n].op = GRPC_OP_RECV_CLOSE_ON_SERVER;
        ops[n++].data.recv_close_on_server.cancelled = &u->recv_cancelled;
    }
    ops[n++].op = GRPC_OP_SEND_INITIAL_METADATA;
    if (response) {
        ops[n].op = GRPC_OP_SEND_MESSAGE;
        ops[n++].data.send_message.send_message = response;
    }
    ops[n].op = GRPC_OP_SEND_STATUS_FROM_SERVER;
    ops[n].data.send_status_from_server.status = code;
    ops[n++].data.send_status_from_server.status_details = &u->details;
    /* The handler's reference becomes the send batch's. */
    if (jn_start_batch(u->call, ops, n, &u->send_tag) != GRPC_CALL_OK)
        unary_unref(u);
}

void jn_unary_reply(jn_unary *u, grpc_byte_buffer *response)
{
    send_final(u, GRPC_STATUS_OK, NULL, response);
}

void jn_unary_fail_status(jn_unary *u, grpc_status_code code, const char *message)
{
    send_final(u, code, message, NULL);
}

void jn_unary_fail(jn_unary *u, int jn_code, const char *message)
{
    send_final(u, (grpc_status_code)jn_err_grpc_status(jn_code), message, NULL);
}
