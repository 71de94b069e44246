/* The message ids of multiplexed remote calls (issue #24): the id and timeout appended to an already packed request
 * (broker/remote/endpoint_mux.c) are what the remote's decoder and its stream peek (broker/rpc/stream_peek.c) read,
 * whatever the request held before and however its bytes are split into slices. */
#include <grpc/byte_buffer_reader.h>
#include <string.h>

#include "endpoint_internal.h"
#include "inference/grpc_service.pb-c.h"
#include "stream_peek.h"
#include "junction/v1/broker.pb-c.h"
#include "pb.h"
#include "test.h"

/* A copy of bb cut into slices of `step` bytes. */
static grpc_byte_buffer *resliced(grpc_byte_buffer *bb, size_t step)
{
    grpc_byte_buffer_reader r;
    JN_REQUIRE(grpc_byte_buffer_reader_init(&r, bb));
    grpc_slice all = grpc_byte_buffer_reader_readall(&r);
    grpc_byte_buffer_reader_destroy(&r);
    size_t n = GRPC_SLICE_LENGTH(all), count = (n + step - 1) / step;
    grpc_slice slices[256];
    JN_REQUIRE(count <= 256);
    for (size_t i = 0; i < count; i++) {
        size_t len = n - i * step < step ? n - i * step : step;
        slices[i] = grpc_slice_from_copied_buffer((const char *)GRPC_SLICE_START_PTR(all) + i * step, len);
    }
    grpc_byte_buffer *out = grpc_raw_byte_buffer_create(slices, count);
    for (size_t i = 0; i < count; i++)
        grpc_slice_unref(slices[i]);
    grpc_slice_unref(all);
    return out;
}

static void native_request(void)
{
    float data[6] = {1, 2, 3, 4, 5, 6};
    int64_t shape[2] = {2, 3};
    Junction__V1__Tensor t = JUNCTION__V1__TENSOR__INIT;
    t.datatype = JUNCTION__V1__DATA_TYPE__FP32;
    t.n_shape = 2;
    t.shape = shape;
    t.raw.data = (uint8_t *)data;
    t.raw.len = sizeof data;
    Junction__V1__Value v = JUNCTION__V1__VALUE__INIT;
    v.name = "input";
    v.value_case = JUNCTION__V1__VALUE__VALUE_TENSOR;
    v.tensor = &t;
    Junction__V1__Value *vs[1] = {&v};
    Junction__V1__InferRequest req = JUNCTION__V1__INFER_REQUEST__INIT;
    req.model = "identity";
    req.id = "caller-7";
    req.n_inputs = 1;
    req.inputs = vs;
    grpc_byte_buffer *bb = jn__mux_with_id(jn_pb_pack(&req.base), "1f:caller-7", 2500000);
    JN_REQUIRE(bb != NULL);
    for (size_t step = 1; step <= 64; step = step * 3 + 1) {
        grpc_byte_buffer *cut = resliced(bb, step);
        jn_err err;
        jn_err_clear(&err);
        Junction__V1__InferRequest *m =
            (Junction__V1__InferRequest *)jn_pb_unpack(&junction__v1__infer_request__descriptor, cut, &err);
        JN_REQUIRE(m != NULL);
        JN_CHECK_STR_EQ(m->id, "1f:caller-7"); /* the appended id wins */
        JN_CHECK_INT_EQ(m->timeout_us, 2500000);
        JN_CHECK(!m->cancel);
        JN_CHECK_STR_EQ(m->model, "identity");
        JN_REQUIRE(m->n_inputs == 1 && m->inputs[0]->tensor);
        JN_CHECK_INT_EQ(m->inputs[0]->tensor->raw.len, sizeof data);
        JN_CHECK(memcmp(m->inputs[0]->tensor->raw.data, data, sizeof data) == 0);
        protobuf_c_message_free_unpacked(&m->base, NULL);
        jn_stream_peek pk;
        JN_CHECK_INT_EQ(jn_stream_peek_v1(cut, &pk), 0);
        JN_CHECK_STR_EQ(pk.id, "1f:caller-7");
        JN_CHECK_INT_EQ(pk.timeout_us, 2500000);
        JN_CHECK(!pk.cancel && !pk.id_truncated);
        grpc_byte_buffer_destroy(cut);
    }
    grpc_byte_buffer_destroy(bb);
}

static void cancel_message(void)
{
    Junction__V1__InferRequest req = JUNCTION__V1__INFER_REQUEST__INIT;
    req.id = "2a:";
    req.cancel = true;
    grpc_byte_buffer *bb = jn_pb_pack(&req.base);
    jn_stream_peek pk;
    JN_CHECK_INT_EQ(jn_stream_peek_v1(bb, &pk), 0);
    JN_CHECK(pk.cancel);
    JN_CHECK_STR_EQ(pk.id, "2a:");
    JN_CHECK_INT_EQ(pk.timeout_us, 0);
    grpc_byte_buffer_destroy(bb);
    /* a long id is read truncated and said so (it cannot be cancelled by id) */
    char longid[300];
    memset(longid, 'x', sizeof longid - 1);
    longid[sizeof longid - 1] = '\0';
    req.id = longid;
    bb = jn_pb_pack(&req.base);
    JN_CHECK_INT_EQ(jn_stream_peek_v1(bb, &pk), 0);
    JN_CHECK(pk.id_truncated);
    grpc_byte_buffer_destroy(bb);
    /* not a message: refused, not read past its end */
    uint8_t bad[3] = {0x1a, 0x7f, 'a'}; /* field 3, length 127, one byte */
    grpc_slice s = grpc_slice_from_copied_buffer((const char *)bad, sizeof bad);
    bb = grpc_raw_byte_buffer_create(&s, 1);
    grpc_slice_unref(s);
    JN_CHECK_INT_EQ(jn_stream_peek_v1(bb, &pk), -1);
    grpc_byte_buffer_destroy(bb);
}

static void v2_request(void)
{
    Inference__ModelInferRequest req = INFERENCE__MODEL_INFER_REQUEST__INIT;
    req.model_name = "identity";
    req.id = "theirs";
    grpc_byte_buffer *bb = jn__mux_with_id(jn_pb_pack(&req.base), "3:theirs", 0);
    JN_REQUIRE(bb != NULL);
    jn_err err;
    jn_err_clear(&err);
    Inference__ModelInferRequest *m =
        (Inference__ModelInferRequest *)jn_pb_unpack(&inference__model_infer_request__descriptor, bb, &err);
    JN_REQUIRE(m != NULL);
    JN_CHECK_STR_EQ(m->id, "3:theirs");
    JN_CHECK_STR_EQ(m->model_name, "identity");
    protobuf_c_message_free_unpacked(&m->base, NULL);
    grpc_byte_buffer_destroy(bb);
}

int main(void)
{
    grpc_init();
    JN_TEST_RUN(native_request);
    JN_TEST_RUN(cancel_message);
    JN_TEST_RUN(v2_request);
    grpc_shutdown();
    return JN_TEST_EXIT();
}
