/* unary_exchange.c — see unary_exchange.h. */
#include "unary_exchange.h"

#include <grpc/support/alloc.h>
#include <stdio.h>
#include <string.h>

#include "pb.h"
#include "tsan.h"

grpc_call_error jn_unary_exchange_start(jn_unary_exchange *x, grpc_call *call, const ProtobufCMessage *req, void *tag)
{
    return jn_unary_exchange_start_packed(x, call, jn_pb_pack(req), tag);
}

grpc_call_error jn_unary_exchange_start_packed(jn_unary_exchange *x, grpc_call *call, grpc_byte_buffer *request,
                                               void *tag)
{
    return jn_unary_exchange_start_traced(x, call, request, NULL, NULL, tag);
}

grpc_call_error jn_unary_exchange_start_traced(jn_unary_exchange *x, grpc_call *call, grpc_byte_buffer *request,
                                               const char *traceparent, const char *tracestate, void *tag)
{
    memset(x, 0, sizeof *x);
    grpc_metadata_array_init(&x->initial_md);
    grpc_metadata_array_init(&x->trailing_md);
    x->code = GRPC_STATUS_UNKNOWN;
    x->details = grpc_empty_slice();
    x->send = request;
    if (!x->send)
        return GRPC_CALL_ERROR;
    x->ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
    if (traceparent && *traceparent) {
        x->send_md[0].key = grpc_slice_from_static_string("traceparent");
        x->send_md[0].value = grpc_slice_from_copied_string(traceparent);
        x->n_send_md = 1;
        if (tracestate && *tracestate) {
            x->send_md[1].key = grpc_slice_from_static_string("tracestate");
            x->send_md[1].value = grpc_slice_from_copied_string(tracestate);
            x->n_send_md = 2;
        }
        x->ops[0].data.send_initial_metadata.count = x->n_send_md;
        x->ops[0].data.send_initial_metadata.metadata = x->send_md;
    }
    x->ops[1].op = GRPC_OP_SEND_MESSAGE;
    x->ops[1].data.send_message.send_message = x->send;
    x->ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
    x->ops[3].op = GRPC_OP_RECV_INITIAL_METADATA;
    x->ops[3].data.recv_initial_metadata.recv_initial_metadata = &x->initial_md;
    x->ops[4].op = GRPC_OP_RECV_MESSAGE;
    x->ops[4].data.recv_message.recv_message = &x->recv;
    x->ops[5].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
    x->ops[5].data.recv_status_on_client.trailing_metadata = &x->trailing_md;
    x->ops[5].data.recv_status_on_client.status = &x->code;
    x->ops[5].data.recv_status_on_client.status_details = &x->details;
    x->ops[5].data.recv_status_on_client.error_string = &x->error_string;
    JN_TSAN_RELEASE(tag); /* x may be freed by whoever takes the tag out (tsan.h) */
    return grpc_call_start_batch(call, x->ops, 6, tag, NULL);
}

void jn_unary_exchange_message(const jn_unary_exchange *x, char *msg, size_t cap)
{
    if (GRPC_SLICE_LENGTH(x->details))
        snprintf(msg, cap, "%.*s", (int)GRPC_SLICE_LENGTH(x->details), (const char *)GRPC_SLICE_START_PTR(x->details));
    else if (x->code != GRPC_STATUS_OK && x->error_string)
        snprintf(msg, cap, "%s", x->error_string);
    else if (cap)
        msg[0] = '\0';
}

ProtobufCMessage *jn_unary_exchange_answer(const jn_unary_exchange *x, const ProtobufCMessageDescriptor *desc,
                                           jn_err *err)
{
    if (!x->recv) {
        jn_err_set(err, JN_EINTERNAL, "no answer message");
        return NULL;
    }
    return jn_pb_unpack(desc, x->recv, err);
}

void jn_unary_exchange_finish(jn_unary_exchange *x)
{
    grpc_slice_unref(x->details);
    gpr_free((void *)x->error_string);
    grpc_metadata_array_destroy(&x->initial_md);
    grpc_metadata_array_destroy(&x->trailing_md);
    if (x->send)
        grpc_byte_buffer_destroy(x->send);
    if (x->recv)
        grpc_byte_buffer_destroy(x->recv);
    x->send = x->recv = NULL;
    for (size_t i = 0; i < x->n_send_md; i++)
        grpc_slice_unref(x->send_md[i].value);
    x->n_send_md = 0;
    x->error_string = NULL;
    x->details = grpc_empty_slice();
}
