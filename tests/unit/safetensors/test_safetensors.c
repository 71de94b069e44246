/* test_safetensors.c — adapters/safetensors: write and read back, and corrupt files rejected with messages. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "safetensors.h"
#include "test.h"

/* A file image: 8-byte length, header text, then `data_len` bytes of data. */
static uint8_t *make_file(const char *header, size_t data_len, size_t *len)
{
    size_t h = strlen(header);
    *len = 8 + h + data_len;
    uint8_t *p = calloc(1, *len);
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)((uint64_t)h >> (8 * i));
    memcpy(p + 8, header, h);
    return p;
}

static void expect_reject(const char *header, size_t data_len, const char *needle)
{
    size_t len;
    uint8_t *p = make_file(header, data_len, &len);
    jn_tensor_list out;
    jn_tensor_list_init(&out);
    jn_err err = {0};
    char *meta = NULL;
    int rc = jn_safetensors_parse(p, len, "bad.safetensors", &out, &meta, &err);
    JN_CHECK_ERR(rc, err, JN_EINVAL);
    JN_CHECK_STR_CONTAINS(err.msg, "bad.safetensors");
    JN_CHECK_STR_CONTAINS(err.msg, needle);
    JN_CHECK_INT_EQ(out.count, 0);
    JN_CHECK(meta == NULL);
    jn_tensor_list_clear(&out);
    free(p);
}

static void test_roundtrip(void)
{
    jn_err err = {0};
    jn_tensor_list in;
    jn_tensor_list_init(&in);
    int64_t s1[2] = {2, 3}, s2[1] = {4}, s0[1] = {0};
    jn_tensor *a = jn_tensor_create("conv1.weight", JN_DTYPE_FP32, 2, s1, &err);
    jn_tensor *b = jn_tensor_create("labels", JN_DTYPE_INT64, 1, s2, &err);
    jn_tensor *c = jn_tensor_create("empty", JN_DTYPE_UINT8, 1, s0, &err);
    JN_REQUIRE(a && b && c);
    for (int i = 0; i < 6; i++)
        ((float *)a->data)[i] = 0.5f * (float)i - 1.0f;
    for (int i = 0; i < 4; i++)
        ((int64_t *)b->data)[i] = 1000000000000LL * i;
    jn_tensor_list_push(&in, a);
    jn_tensor_list_push(&in, b);
    jn_tensor_list_push(&in, c);

    char path[] = "/tmp/jn_st_testXXXXXX";
    int fd = mkstemp(path);
    JN_REQUIRE(fd >= 0);
    close(fd);
    int rc = jn_safetensors_write(path, &in, "{\"format\": \"pt\", \"epochs\": \"3\"}", &err);
    JN_CHECK_ERR(rc, err, 0);

    jn_tensor_list out;
    jn_tensor_list_init(&out);
    char *meta = NULL;
    rc = jn_safetensors_read(path, &out, &meta, &err);
    JN_CHECK_ERR(rc, err, 0);
    JN_CHECK_INT_EQ(out.count, 3);
    jn_tensor *ra = jn_tensor_list_find(&out, "conv1.weight"), *rb = jn_tensor_list_find(&out, "labels"),
              *rc0 = jn_tensor_list_find(&out, "empty");
    JN_REQUIRE(ra && rb && rc0);
    JN_CHECK_INT_EQ(ra->dtype, JN_DTYPE_FP32);
    JN_CHECK_INT_EQ(ra->ndim, 2);
    JN_CHECK_INT_EQ(ra->shape[0], 2);
    JN_CHECK_INT_EQ(ra->shape[1], 3);
    JN_CHECK(memcmp(ra->data, a->data, 24) == 0);
    JN_CHECK_INT_EQ(((uintptr_t)ra->data) % 4, 0);
    JN_CHECK_INT_EQ(rb->dtype, JN_DTYPE_INT64);
    JN_CHECK_INT_EQ(((int64_t *)rb->data)[3], 3000000000000LL);
    JN_CHECK_INT_EQ(rc0->byte_size, 0);
    JN_REQUIRE(meta != NULL);
    JN_CHECK_STR_CONTAINS(meta, "\"epochs\":\"3\"");
    JN_CHECK_STR_CONTAINS(meta, "\"format\":\"pt\"");
    free(meta);
    jn_tensor_list_clear(&out);

    /* Without metadata. */
    rc = jn_safetensors_write(path, &in, NULL, &err);
    JN_CHECK_ERR(rc, err, 0);
    meta = (char *)"x";
    rc = jn_safetensors_read(path, &out, &meta, &err);
    JN_CHECK_ERR(rc, err, 0);
    JN_CHECK(meta == NULL);
    JN_CHECK_INT_EQ(out.count, 3);
    jn_tensor_list_clear(&out);

    /* Bad metadata is refused on write. */
    rc = jn_safetensors_write(path, &in, "{\"n\": 3}", &err);
    JN_CHECK_ERR(rc, err, JN_EINVAL);
    JN_CHECK_STR_CONTAINS(err.msg, "not a string");

    unlink(path);
    jn_tensor_list_clear(&in);

    rc = jn_safetensors_read("/nonexistent/x.safetensors", &out, NULL, &err);
    JN_CHECK_ERR(rc, err, JN_ENOTFOUND);
    JN_CHECK_STR_CONTAINS(err.msg, "/nonexistent/x.safetensors");
}

static void test_corrupt(void)
{
    jn_tensor_list out;
    jn_tensor_list_init(&out);
    jn_err err = {0};
    uint8_t tiny[4] = {1, 2, 3, 4};
    JN_CHECK_ERR(jn_safetensors_parse(tiny, sizeof tiny, "bad.safetensors", &out, NULL, &err), err, JN_EINVAL);
    JN_CHECK_STR_CONTAINS(err.msg, "truncated");

    uint8_t huge[16] = {0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, '{', '}'};
    JN_CHECK_ERR(jn_safetensors_parse(huge, sizeof huge, "bad.safetensors", &out, NULL, &err), err, JN_EINVAL);
    JN_CHECK_STR_CONTAINS(err.msg, "exceeds");

    expect_reject("{\"a\": ", 0, "not JSON");
    expect_reject("[1, 2]", 0, "not a JSON object");
    expect_reject("{\"a\": {\"dtype\": \"F32\", \"shape\": [2]}}", 8, "data_offsets");
    expect_reject("{\"a\": {\"dtype\": \"Q7\", \"shape\": [2], \"data_offsets\": [0, 8]}}", 8, "unknown dtype 'Q7'");
    expect_reject("{\"a\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 16]}}", 8, "out of range");
    expect_reject("{\"a\": {\"dtype\": \"F32\", \"shape\": [3], \"data_offsets\": [0, 8]}}", 8, "needs 12 bytes");
    expect_reject("{\"a\": {\"dtype\": \"F32\", \"shape\": [-1], \"data_offsets\": [0, 8]}}", 8, "shape[0]");
    expect_reject("{\"a\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 8]},"
                  " \"b\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [4, 12]}}",
                  12, "overlap");
    expect_reject("{\"__metadata__\": {\"k\": 1}}", 0, "not a string");
    expect_reject("{\"a\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, 4]},"
                  " \"a\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [4, 8]}}",
                  8, "not JSON");
    jn_tensor_list_clear(&out);
}

int main(void)
{
    JN_TEST_RUN(test_roundtrip);
    JN_TEST_RUN(test_corrupt);
    return JN_TEST_EXIT();
}
