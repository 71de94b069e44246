/* pb.h — protobuf-c messages <-> gRPC byte buffers, shared by the server and the C-core clients.
 *
 * Ownership: jn_pb_pack returns a new byte buffer the caller destroys (grpc_byte_buffer_destroy), usually by handing
 * it to a SEND_MESSAGE batch and destroying it after the batch completes. jn_pb_unpack returns a message the caller
 * frees with protobuf_c_message_free_unpacked(msg, NULL); the byte buffer is not consumed.
 * Thread-safety: pure functions.
 */
#ifndef JN_PB_PB_H
#define JN_PB_PB_H

#include <grpc/byte_buffer.h>
#include <protobuf-c/protobuf-c.h>

#include "err.h"
#include "tensor.h"

grpc_byte_buffer *jn_pb_pack(const ProtobufCMessage *msg);

/* NULL with JN_EINVAL ("malformed inference.ModelInferRequest message") when the bytes do not parse, or when
 * bb is NULL (the client sent no message). */
ProtobufCMessage *jn_pb_unpack(const ProtobufCMessageDescriptor *desc, grpc_byte_buffer *bb, jn_err *err);

/* A decoded message shared by the tensors that point into it (zero-copy decode): each tensor's buffer holds a
 * reference, and the message is freed with the last one. jn_pb_holder_create takes ownership of msg and returns
 * one reference (NULL on out of memory: msg is then freed). */
typedef struct jn_pb_holder jn_pb_holder;
jn_pb_holder *jn_pb_holder_create(ProtobufCMessage *msg);
void jn_pb_holder_unref(jn_pb_holder *h);
/* A buffer over [data, data+size) inside the held message; takes a holder reference for the buffer's lifetime.
 * NULL on out of memory. */
struct jn_buffer *jn_pb_holder_buffer(jn_pb_holder *h, void *data, size_t size);

#endif
