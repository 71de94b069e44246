/* stream_peek.h — the control fields of a junction.v1.InferRequest on an Engine InferStream (a multiplexing
 * broker's messages, issue #24), read without decoding the message (stream_peek.c).
 *
 * Thread-safety: pure functions.
 */
#ifndef JN_RPC_STREAM_PEEK_H
#define JN_RPC_STREAM_PEEK_H

#include <grpc/grpc.h>
#include <stdbool.h>
#include <stdint.h>

typedef struct jn_stream_peek {
    char id[128];
    bool id_truncated; /* the id is longer than id can hold: it cannot be cancelled by id */
    bool cancel;
    int64_t timeout_us;
} jn_stream_peek;
/* 0 with *out filled (absent fields zero), or -1 when bb is not a well-formed message (the decoder says why). */
int jn_stream_peek_v1(grpc_byte_buffer *bb, jn_stream_peek *out);

#endif
