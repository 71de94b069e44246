#include "pb.h"

#include <grpc/byte_buffer_reader.h>
#include <grpc/slice.h>
#include <stdatomic.h>
#include <stdlib.h>

grpc_byte_buffer *jn_pb_pack(const ProtobufCMessage *msg)
{
    size_t n = protobuf_c_message_get_packed_size(msg);
    grpc_slice s = grpc_slice_malloc(n);
    protobuf_c_message_pack(msg, GRPC_SLICE_START_PTR(s));
    grpc_byte_buffer *bb = grpc_raw_byte_buffer_create(&s, 1);
    grpc_slice_unref(s);
    return bb;
}

ProtobufCMessage *jn_pb_unpack(const ProtobufCMessageDescriptor *desc, grpc_byte_buffer *bb, jn_err *err)
{
    if (!bb) {
        jn_err_set(err, JN_EINVAL, "no %s message received", desc->name);
        return NULL;
    }
    grpc_byte_buffer_reader reader;
    if (!grpc_byte_buffer_reader_init(&reader, bb)) {
        jn_err_set(err, JN_EINVAL, "cannot read the %s message (unsupported compression?)", desc->name);
        return NULL;
    }
    grpc_slice s = grpc_byte_buffer_reader_readall(&reader);
    grpc_byte_buffer_reader_destroy(&reader);
    ProtobufCMessage *msg =
        protobuf_c_message_unpack(desc, NULL, GRPC_SLICE_LENGTH(s), GRPC_SLICE_START_PTR(s));
    grpc_slice_unref(s);
    if (!msg)
        jn_err_set(err, JN_EINVAL, "malformed %s message (protobuf decoding failed)", desc->name);
    return msg;
}

struct jn_pb_holder {
    atomic_int refs;
    ProtobufCMessage *msg;
};

jn_pb_holder *jn_pb_holder_create(ProtobufCMessage *msg)
{
    jn_pb_holder *h = malloc(sizeof *h);
    if (!h) {
        protobuf_c_message_free_unpacked(msg, NULL);
        return NULL;
    }
    atomic_init(&h->refs, 1);
    h->msg = msg;
    return h;
}

void jn_pb_holder_unref(jn_pb_holder *h)
{
    if (!h || atomic_fetch_sub(&h->refs, 1) != 1)
        return;
    protobuf_c_message_free_unpacked(h->msg, NULL);
    free(h);
}

static void holder_release(void *opaque)
{
    jn_pb_holder_unref(opaque);
}

jn_buffer *jn_pb_holder_buffer(jn_pb_holder *h, void *data, size_t size)
{
    atomic_fetch_add(&h->refs, 1);
    jn_buffer *b = jn_buffer_wrap(data, size, holder_release, h);
    if (!b)
        jn_pb_holder_unref(h);
    return b;
}
