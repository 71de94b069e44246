/* unary_exchange.h — the one-batch unary exchange every C-core client here makes (remote engines, the etcd client,
 * the CLI): send the request message and close, receive the initial metadata, the answer message and the status, all
 * in one batch on a call the caller created (any completion queue, any deadline). How the caller waits for the
 * batch (pluck with cancellation polling, next with a grace period) stays the caller's.
 *
 * Ownership: jn_unary_exchange_start takes a copy of nothing: `x` must stay put until the batch completes, and
 * jn_unary_exchange_finish then frees what the batch received and the packed request. Thread-safety: one exchange per
 * call, used by the thread that waits for it.
 */
#ifndef JN_PB_UNARY_EXCHANGE_H
#define JN_PB_UNARY_EXCHANGE_H

#include <grpc/grpc.h>
#include <protobuf-c/protobuf-c.h>

#include "err.h"

typedef struct jn_unary_exchange {
    grpc_op ops[6];
    grpc_byte_buffer *send;
    grpc_byte_buffer *recv; /* the answer, when the status is OK */
    grpc_metadata_array initial_md, trailing_md;
    grpc_status_code code;
    grpc_slice details;
    const char *error_string;
    grpc_metadata send_md[2]; /* traceparent, tracestate (jn_unary_exchange_start_traced), released by finish */
    size_t n_send_md;
} jn_unary_exchange;

/* Packs req and starts the batch on call with `tag`. GRPC_CALL_OK, or the C core's error (nothing started; call
 * jn_unary_exchange_finish all the same). */
grpc_call_error jn_unary_exchange_start(jn_unary_exchange *x, grpc_call *call, const ProtobufCMessage *req, void *tag);
/* The same with the request already packed: takes `request` (NULL = it could not be packed: GRPC_CALL_ERROR). */
grpc_call_error jn_unary_exchange_start_packed(jn_unary_exchange *x, grpc_call *call, grpc_byte_buffer *request,
                                               void *tag);

/* The same with W3C `traceparent` and `tracestate` metadata entries (core/trace.h) sent with the request; NULL or ""
 * = none (a tracestate goes only with a traceparent). */
grpc_call_error jn_unary_exchange_start_traced(jn_unary_exchange *x, grpc_call *call, grpc_byte_buffer *request,
                                               const char *traceparent, const char *tracestate, void *tag);

/* After the batch completed: the status message (details, else the core's error string, else "") into msg. */
void jn_unary_exchange_message(const jn_unary_exchange *x, char *msg, size_t cap);

/* After the batch completed with OK: the answer decoded (free with protobuf_c_message_free_unpacked), or NULL with
 * err when it does not decode. */
ProtobufCMessage *jn_unary_exchange_answer(const jn_unary_exchange *x, const ProtobufCMessageDescriptor *desc,
                                           jn_err *err);

void jn_unary_exchange_finish(jn_unary_exchange *x);

#endif
