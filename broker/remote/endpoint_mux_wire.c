/* endpoint_mux_wire.c — the bytes of multiplexed calls (endpoint_mux.c, issue #24): a packed request with its
 * message id (and timeout) appended, the cancel message, the probe of a suspect stream; and the registration-time
 * probe of whether a remote serves a stream method at all.
 *
 * Thread-safety: pure functions of their arguments (the stream probe blocks on the calling thread's own queue). */
#include <grpc/byte_buffer_reader.h>
#include <grpc/support/alloc.h>
#include <stdlib.h>
#include <string.h>

#include "endpoint.h"
#include "endpoint_internal.h"
#include "inference/grpc_service.pb-c.h"
#include "junction/v1/broker.pb-c.h"
#include "pb.h"

static size_t put_varint(uint8_t *p, uint64_t v)
{
    size_t n = 0;
    while (v >= 0x80) {
        p[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    p[n++] = (uint8_t)v;
    return n;
}

/* The request with `id` and `timeout_us` (when > 0) appended (fields 3 and 8 of InferRequest). Takes request. */
grpc_byte_buffer *jn__mux_with_id(grpc_byte_buffer *request, const char *id, int64_t timeout_us)
{
    uint8_t tail[160];
    size_t idlen = strlen(id), n = 0;
    tail[n++] = (3 << 3) | 2;
    n += put_varint(tail + n, idlen);
    memcpy(tail + n, id, idlen);
    n += idlen;
    if (timeout_us > 0) {
        tail[n++] = 8 << 3;
        n += put_varint(tail + n, (uint64_t)timeout_us);
    }
    grpc_byte_buffer_reader r;
    if (!grpc_byte_buffer_reader_init(&r, request)) {
        grpc_byte_buffer_destroy(request);
        return NULL;
    }
    size_t count = 0;
    grpc_slice s;
    while (grpc_byte_buffer_reader_next(&r, &s)) {
        grpc_slice_unref(s);
        count++;
    }
    grpc_byte_buffer_reader_destroy(&r);
    grpc_slice *slices = malloc((count + 1) * sizeof *slices);
    grpc_byte_buffer *out = NULL;
    if (slices && grpc_byte_buffer_reader_init(&r, request)) {
        size_t i = 0;
        while (i < count && grpc_byte_buffer_reader_next(&r, &slices[i]))
            i++;
        grpc_byte_buffer_reader_destroy(&r);
        slices[i] = grpc_slice_from_copied_buffer((const char *)tail, n);
        out = grpc_raw_byte_buffer_create(slices, i + 1);
        for (size_t k = 0; k <= i; k++)
            grpc_slice_unref(slices[k]);
    }
    free(slices);
    grpc_byte_buffer_destroy(request);
    return out;
}

grpc_byte_buffer *jn__mux_cancel_message(const char *id)
{
    Junction__V1__InferRequest m = JUNCTION__V1__INFER_REQUEST__INIT;
    m.id = (char *)id;
    m.cancel = true;
    return jn_pb_pack(&m.base);
}

/* A request that names no model: the remote answers it at once, with an error (the probe of a suspect stream). */
grpc_byte_buffer *jn__mux_probe_message(jn_remote_method stream)
{
    if (stream == JN_RM_V2_MODEL_STREAM_INFER) {
        Inference__ModelInferRequest m = INFERENCE__MODEL_INFER_REQUEST__INIT;
        m.id = "0:probe";
        return jn_pb_pack(&m.base);
    }
    Junction__V1__InferRequest m = JUNCTION__V1__INFER_REQUEST__INIT;
    m.id = "0:probe";
    return jn_pb_pack(&m.base);
}


int jn_endpoint_probe_stream(jn_endpoint *ep, jn_remote_method stream, int64_t deadline_ns, bool *supported,
                             jn_call_status *st)
{
    *supported = false;
    grpc_completion_queue *cq = jn__endpoint_thread_cq();
    grpc_call *call = grpc_channel_create_registered_call(ep->channel, NULL, GRPC_PROPAGATE_DEFAULTS, cq,
                                                          ep->methods[stream], jn__endpoint_gpr_deadline(deadline_ns),
                                                          NULL);
    grpc_metadata_array initial_md, trailing_md;
    grpc_metadata_array_init(&initial_md);
    grpc_metadata_array_init(&trailing_md);
    grpc_status_code code = GRPC_STATUS_UNKNOWN;
    grpc_slice details = grpc_empty_slice();
    const char *error_string = NULL;
    grpc_op ops[4];
    memset(ops, 0, sizeof ops);
    ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
    ops[1].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
    ops[2].op = GRPC_OP_RECV_INITIAL_METADATA;
    ops[2].data.recv_initial_metadata.recv_initial_metadata = &initial_md;
    ops[3].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
    ops[3].data.recv_status_on_client.trailing_metadata = &trailing_md;
    ops[3].data.recv_status_on_client.status = &code;
    ops[3].data.recv_status_on_client.status_details = &details;
    ops[3].data.recv_status_on_client.error_string = &error_string;
    void *tag = ops;
    int rc;
    grpc_call_error ce = grpc_call_start_batch(call, ops, 4, tag, NULL);
    if (ce != GRPC_CALL_OK) {
        rc = jn__endpoint_start_failed(stream, ce, st);
    } else {
        jn__endpoint_wait_batch(cq, call, tag, deadline_ns, NULL);
        jn__endpoint_copy_status(st, code, details, error_string);
        *supported = code == GRPC_STATUS_OK;
        rc = code == GRPC_STATUS_OK || code == GRPC_STATUS_UNIMPLEMENTED ? 0 : code;
    }
    grpc_slice_unref(details);
    gpr_free((void *)error_string);
    grpc_metadata_array_destroy(&initial_md);
    grpc_metadata_array_destroy(&trailing_md);
    grpc_call_unref(call);
    return rc;
}

