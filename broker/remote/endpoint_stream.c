/* endpoint_stream.c — a bidi call on an endpoint driven step by step on the calling thread's own queue (streaming
 * native engines): one request, then answers until the final status. */
#include <grpc/support/alloc.h>
#include <grpc/support/time.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "endpoint.h"
#include "endpoint_internal.h"
#include "pb.h"

/* ---- streams ---- */

struct jn_endpoint_stream {
    grpc_completion_queue *cq;
    grpc_call *call;
    int64_t deadline_ns;
    const atomic_int *cancelled;
    grpc_metadata_array initial_md, trailing_md;
    grpc_status_code code;
    grpc_slice details;
    const char *error_string;
    bool ended;
};

static int stream_finish(jn_endpoint_stream *s, jn_call_status *st)
{
    grpc_op op;
    memset(&op, 0, sizeof op);
    op.op = GRPC_OP_RECV_STATUS_ON_CLIENT;
    op.data.recv_status_on_client.trailing_metadata = &s->trailing_md;
    op.data.recv_status_on_client.status = &s->code;
    op.data.recv_status_on_client.status_details = &s->details;
    op.data.recv_status_on_client.error_string = &s->error_string;
    void *tag = &s->code;
    s->ended = true;
    if (grpc_call_start_batch(s->call, &op, 1, tag, NULL) != GRPC_CALL_OK) {
        st->code = GRPC_STATUS_INTERNAL;
        snprintf(st->message, sizeof st->message, "cannot read the stream's status");
        return st->code;
    }
    jn__endpoint_wait_batch(s->cq, s->call, tag, s->deadline_ns, s->cancelled);
    jn__endpoint_copy_status(st, s->code, s->details, s->error_string);
    return s->code;
}

jn_endpoint_stream *jn_endpoint_stream_open(jn_endpoint *ep, jn_remote_method m, const ProtobufCMessage *req,
                                            int64_t deadline_ns, const atomic_int *cancelled, jn_call_status *st)
{
    jn_endpoint_stream *s = calloc(1, sizeof *s);
    if (!s) {
        st->code = GRPC_STATUS_RESOURCE_EXHAUSTED;
        snprintf(st->message, sizeof st->message, "out of memory");
        return NULL;
    }
    s->cq = jn__endpoint_thread_cq();
    s->deadline_ns = deadline_ns;
    s->cancelled = cancelled;
    s->details = grpc_empty_slice();
    grpc_metadata_array_init(&s->initial_md);
    grpc_metadata_array_init(&s->trailing_md);
    s->call = grpc_channel_create_registered_call(ep->channel, NULL, GRPC_PROPAGATE_DEFAULTS, s->cq, ep->methods[m],
                                                  jn__endpoint_gpr_deadline(deadline_ns), NULL);
    grpc_byte_buffer *send = jn_pb_pack(req);
    grpc_op ops[4];
    memset(ops, 0, sizeof ops);
    ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
    ops[1].op = GRPC_OP_SEND_MESSAGE;
    ops[1].data.send_message.send_message = send;
    ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
    ops[3].op = GRPC_OP_RECV_INITIAL_METADATA;
    ops[3].data.recv_initial_metadata.recv_initial_metadata = &s->initial_md;
    void *tag = ops;
    bool ok = grpc_call_start_batch(s->call, ops, 4, tag, NULL) == GRPC_CALL_OK;
    if (ok)
        jn__endpoint_wait_batch(s->cq, s->call, tag, deadline_ns, cancelled);
    grpc_byte_buffer_destroy(send);
    if (!ok) {
        st->code = GRPC_STATUS_INTERNAL;
        snprintf(st->message, sizeof st->message, "cannot start the call %s", jn__endpoint_method_paths[m]);
        jn_endpoint_stream_close(s);
        return NULL;
    }
    return s;
}

int jn_endpoint_stream_next(jn_endpoint_stream *s, const ProtobufCMessageDescriptor *desc, ProtobufCMessage **msg,
                            jn_call_status *st)
{
    *msg = NULL;
    st->code = 0;
    st->message[0] = '\0';
    if (s->ended)
        return 0;
    grpc_byte_buffer *recv = NULL;
    grpc_op op;
    memset(&op, 0, sizeof op);
    op.op = GRPC_OP_RECV_MESSAGE;
    op.data.recv_message.recv_message = &recv;
    void *tag = &recv;
    if (grpc_call_start_batch(s->call, &op, 1, tag, NULL) != GRPC_CALL_OK)
        return stream_finish(s, st);
    jn__endpoint_wait_batch(s->cq, s->call, tag, s->deadline_ns, s->cancelled);
    if (!recv) /* the server ended the stream (or the call failed): its status says which */
        return stream_finish(s, st);
    jn_err err;
    jn_err_clear(&err);
    *msg = jn_pb_unpack(desc, recv, &err);
    grpc_byte_buffer_destroy(recv);
    if (!*msg) {
        st->code = GRPC_STATUS_INTERNAL;
        snprintf(st->message, sizeof st->message, "a streamed answer does not decode: %s", err.msg);
        return st->code;
    }
    return 0;
}

void jn_endpoint_stream_close(jn_endpoint_stream *s)
{
    if (!s)
        return;
    if (!s->ended) {
        grpc_call_cancel(s->call, NULL);
        jn_call_status st;
        stream_finish(s, &st);
    }
    grpc_slice_unref(s->details);
    gpr_free((void *)s->error_string);
    grpc_metadata_array_destroy(&s->initial_md);
    grpc_metadata_array_destroy(&s->trailing_md);
    grpc_call_unref(s->call);
    free(s);
}

