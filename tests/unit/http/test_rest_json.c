/* test_rest_json.c — the REST front end's JSON conversions without sockets: KServe v2 decode/encode (flat and
 * nested data, range checks, BYTES, parameters, the binary-data extension, forced binary outputs), the simple
 * predict form over fake engines (TEXT -> CLASSIFICATION, IMAGE, numeric ports, instances), base64 and half
 * floats. */
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../../../engines/builtin.h"
#include "executor.h"
#include "base64.h"
#include "rest.h"
#include "test.h"

/* ---- helpers ---- */

static const char *S(const char *s)
{
    return s;
}

typedef struct decoded {
    jn_request req;
    jn_rest_v2_opts opts;
    jn_err err;
    int rc;
} decoded;

static void decode_with(decoded *d, const char *body, size_t len, int64_t header_len)
{
    jn_request_init(&d->req);
    jn_err_clear(&d->err);
    d->rc = jn_rest_v2_decode((const uint8_t *)body, len, header_len, "m", "", &d->req, &d->opts, &d->err);
}

static void decode(decoded *d, const char *json)
{
    decode_with(d, json, strlen(json), -1);
}

static void decoded_free(decoded *d)
{
    jn_request_clear(&d->req);
    jn_rest_v2_opts_free(&d->opts);
}

/* Decoding must fail with JN_EINVAL and a message containing `want`. */
static void expect_decode_error(const char *json, const char *want)
{
    decoded d;
    decode(&d, json);
    JN_CHECK_ERR(d.rc, d.err, JN_EINVAL);
    JN_CHECK_STR_CONTAINS(d.err.msg, want);
    decoded_free(&d);
}

static jn_tensor *fp32_tensor(const char *name, int ndim, const int64_t *shape, const float *v)
{
    jn_err err;
    jn_tensor *t = jn_tensor_create(name, JN_DTYPE_FP32, ndim, shape, &err);
    JN_REQUIRE(t);
    memcpy(t->data, v, t->byte_size);
    return t;
}

/* Encodes outputs of a request for model "m" (engine version "1"). */
static void encode(jn_tensor_list *outs, const jn_rest_v2_opts *opts, jn_rest_reply *reply)
{
    jn_err err;
    jn_err_clear(&err);
    jn_request req;
    jn_request_init(&req);
    JN_REQUIRE(jn_request_set_target(&req, "m", "", "x") == 0);
    jn_engine_vtable vt = {.abi_version = JN_ENGINE_ABI_VERSION};
    jn_engine fake = {.vt = &vt, .name = (char *)"m", .version = (char *)"1"};
    memset(reply, 0, sizeof *reply);
    int rc = jn_rest_v2_encode(&req, &fake, outs, opts, reply, &err);
    JN_CHECK_INT_EQ(rc, 0);
    jn_request_clear(&req);
}

/* ---- v2 decode ---- */

static void test_v2_flat_and_nested(void)
{
    decoded d;
    decode(&d, "{\"id\": \"r1\", \"inputs\": [{\"name\": \"a\", \"shape\": [2, 3], \"datatype\": \"FP32\", "
               "\"data\": [[1, 2, 3], [4, 5.5, -6]]}, {\"name\": \"b\", \"shape\": [2, 2], \"datatype\": \"INT8\", "
               "\"data\": [1, -128, 127, 2.0]}]}");
    JN_CHECK_ERR(d.rc, d.err, 0);
    JN_CHECK_STR_EQ(d.req.model, "m");
    JN_CHECK_STR_EQ(d.req.id, "r1");
    JN_REQUIRE(d.req.inputs.count == 2);
    const jn_tensor *a = d.req.inputs.items[0], *b = d.req.inputs.items[1];
    JN_CHECK_STR_EQ(a->name, "a");
    JN_CHECK_INT_EQ(a->dtype, JN_DTYPE_FP32);
    JN_CHECK_INT_EQ(a->ndim, 2);
    JN_CHECK_INT_EQ(a->shape[1], 3);
    JN_CHECK_DBL_EQ(((float *)a->data)[4], 5.5);
    JN_CHECK_DBL_EQ(((float *)a->data)[5], -6);
    JN_CHECK_INT_EQ(((int8_t *)b->data)[1], -128);
    JN_CHECK_INT_EQ(((int8_t *)b->data)[3], 2);
    decoded_free(&d);

    /* A scalar (rank 0), bare or in a one-element array. */
    decode(&d, "{\"inputs\": [{\"name\": \"s\", \"shape\": [], \"datatype\": \"INT64\", \"data\": 7}, "
               "{\"name\": \"t\", \"shape\": [], \"datatype\": \"INT64\", \"data\": [9]}]}");
    JN_CHECK_ERR(d.rc, d.err, 0);
    JN_REQUIRE(d.req.inputs.count == 2);
    JN_CHECK_INT_EQ(((int64_t *)d.req.inputs.items[0]->data)[0], 7);
    JN_CHECK_INT_EQ(((int64_t *)d.req.inputs.items[1]->data)[0], 9);
    JN_CHECK_STR_EQ(d.req.id, "");
    decoded_free(&d);

    /* Empty tensors. */
    decode(&d, "{\"inputs\": [{\"name\": \"e\", \"shape\": [0, 3], \"datatype\": \"FP32\", \"data\": []}]}");
    JN_CHECK_ERR(d.rc, d.err, 0);
    decoded_free(&d);
}

static void test_v2_nesting_errors(void)
{
    expect_decode_error("{\"inputs\": [{\"name\": \"a\", \"shape\": [2, 3], \"datatype\": \"FP32\", "
                        "\"data\": [[1, 2, 3], [4, 5]]}]}",
                        "input 'a': data nesting does not match shape [2,3]: data[1] has 2 elements, expected 3");
    expect_decode_error("{\"inputs\": [{\"name\": \"a\", \"shape\": [2, 3], \"datatype\": \"FP32\", "
                        "\"data\": [1, 2, 3, 4, 5]}]}",
                        "input 'a': data has 5 elements, shape [2,3] needs 6");
    expect_decode_error("{\"inputs\": [{\"name\": \"a\", \"shape\": [2, 2], \"datatype\": \"FP32\", "
                        "\"data\": [[1, 2], 3]}]}",
                        "input 'a': data nesting does not match shape [2,2]: data[1] is a number");
    expect_decode_error("{\"inputs\": [{\"name\": \"a\", \"shape\": [4], \"datatype\": \"FP32\", "
                        "\"data\": [1, [2], 3, 4]}]}",
                        "input 'a': data[1] is an array where shape [4] puts a value");
    expect_decode_error("{\"inputs\": [{\"name\": \"a\", \"shape\": [2, 2, 1], \"datatype\": \"FP32\", "
                        "\"data\": [[1, 2], [3, 4]]}]}",
                        "data[0][0] is a number, expected an array of 1");
    expect_decode_error("{\"inputs\": [{\"name\": \"a\", \"shape\": [2], \"datatype\": \"FP32\", \"data\": 3}]}",
                        "input 'a': data must be an array, got a number");
}

static void test_v2_element_errors(void)
{
    expect_decode_error("{\"inputs\": [{\"name\": \"x\", \"shape\": [3], \"datatype\": \"INT8\", "
                        "\"data\": [1, 2, 300]}]}",
                        "input 'x': data[2] = 300 does not fit INT8");
    expect_decode_error("{\"inputs\": [{\"name\": \"x\", \"shape\": [2], \"datatype\": \"UINT16\", "
                        "\"data\": [-1, 2]}]}",
                        "input 'x': data[0] = -1 does not fit UINT16");
    expect_decode_error("{\"inputs\": [{\"name\": \"x\", \"shape\": [2], \"datatype\": \"INT32\", "
                        "\"data\": [1, 1.5]}]}",
                        "input 'x': data[1] = 1.5 is not an integer (INT32)");
    expect_decode_error("{\"inputs\": [{\"name\": \"x\", \"shape\": [2], \"datatype\": \"FP32\", "
                        "\"data\": [1, \"two\"]}]}",
                        "input 'x': data[1] is a string, expected a number (FP32");
    expect_decode_error("{\"inputs\": [{\"name\": \"x\", \"shape\": [1], \"datatype\": \"FP32\", "
                        "\"data\": [1e39]}]}",
                        "input 'x': data[0] = 1e+39 does not fit FP32");
    expect_decode_error("{\"inputs\": [{\"name\": \"x\", \"shape\": [2], \"datatype\": \"BOOL\", "
                        "\"data\": [true, 1]}]}",
                        "input 'x': data[1] is a number, expected true or false (BOOL)");
    expect_decode_error("{\"inputs\": [{\"name\": \"x\", \"shape\": [1], \"datatype\": \"BYTES\", "
                        "\"data\": [5]}]}",
                        "input 'x': data[0] is a number, expected a string (BYTES)");
    expect_decode_error("{\"inputs\": [{\"name\": \"x\", \"shape\": [1], \"datatype\": \"FP16\", "
                        "\"data\": [1]}]}",
                        "input 'x': FP16 data can only be sent as binary data");
    expect_decode_error("{\"inputs\": [{\"name\": \"x\", \"shape\": [1], \"datatype\": \"FLOAT\", "
                        "\"data\": [1]}]}",
                        "input 'x': unknown datatype 'FLOAT' (expected one of BOOL");
    expect_decode_error("{\"inputs\": [{\"shape\": [1], \"datatype\": \"FP32\", \"data\": [1]}]}",
                        "input #0 has no name");
    expect_decode_error("{\"inputs\": [{\"name\": \"x\", \"shape\": [-1], \"datatype\": \"FP32\", \"data\": [1]}]}",
                        "input 'x': shape[0] = -1 is negative");
    expect_decode_error("{\"inputs\": [{\"name\": \"x\", \"shape\": [1], \"datatype\": \"FP32\"}]}",
                        "input 'x' has no data");
    expect_decode_error("{\"inputs\": [{\"name\": \"x\", \"shape\": [1,1,1,1,1,1,1,1,1], \"datatype\": \"FP32\", "
                        "\"data\": [1]}]}",
                        "input 'x': rank 9 exceeds the maximum of 8");
    /* UINT64 above INT64_MAX cannot be a JSON integer in jansson: the parser says so. */
    expect_decode_error("{\"inputs\": [{\"name\": \"x\", \"shape\": [1], \"datatype\": \"UINT64\", "
                        "\"data\": [18446744073709551615]}]}",
                        "request JSON: line 1, column");
}

static void test_v2_values(void)
{
    decoded d;
    decode(&d, "{\"inputs\": [{\"name\": \"f\", \"shape\": [5], \"datatype\": \"FP32\", "
               "\"data\": [\"NaN\", \"Infinity\", \"-Infinity\", 3.4028235e38, 0.1]}, "
               "{\"name\": \"b\", \"shape\": [2], \"datatype\": \"BOOL\", \"data\": [true, false]}, "
               "{\"name\": \"s\", \"shape\": [3], \"datatype\": \"BYTES\", "
               "\"data\": [\"\\u8fd9\", \"a\\u0000b\", \"\"]}, "
               "{\"name\": \"u\", \"shape\": [1], \"datatype\": \"UINT64\", \"data\": [9223372036854775807]}, "
               "{\"name\": \"d\", \"shape\": [1], \"datatype\": \"FP64\", \"data\": [0.1]}]}");
    JN_CHECK_ERR(d.rc, d.err, 0);
    JN_REQUIRE(d.req.inputs.count == 5);
    const float *f = d.req.inputs.items[0]->data;
    JN_CHECK(isnan(f[0]));
    JN_CHECK(isinf(f[1]) && f[1] > 0);
    JN_CHECK(isinf(f[2]) && f[2] < 0);
    JN_CHECK(f[3] == 3.4028234663852886e38f); /* FLT_MAX's shortest form rounds to it */
    JN_CHECK(f[4] == 0.1f);
    const uint8_t *b = d.req.inputs.items[1]->data;
    JN_CHECK(b[0] == 1 && b[1] == 0);
    const jn_tensor *s = d.req.inputs.items[2];
    size_t pos = 0;
    const uint8_t *elem;
    uint32_t len;
    JN_REQUIRE(jn_bytes_next(s->data, s->byte_size, &pos, &elem, &len));
    JN_CHECK(len == 3 && memcmp(elem, "\xe8\xbf\x99", 3) == 0);
    JN_REQUIRE(jn_bytes_next(s->data, s->byte_size, &pos, &elem, &len));
    JN_CHECK(len == 3 && memcmp(elem, "a\0b", 3) == 0);
    JN_REQUIRE(jn_bytes_next(s->data, s->byte_size, &pos, &elem, &len));
    JN_CHECK_INT_EQ(len, 0);
    JN_CHECK(((uint64_t *)d.req.inputs.items[3]->data)[0] == 9223372036854775807ull);
    JN_CHECK_DBL_EQ(((double *)d.req.inputs.items[4]->data)[0], 0.1);
    decoded_free(&d);
}

static void test_v2_parameters_and_outputs(void)
{
    decoded d;
    decode(&d, "{\"parameters\": {\"burn_ms\": 5, \"mode\": \"cpu\", \"flag\": true, \"scale\": 0.5, "
               "\"binary_data_output\": false}, "
               "\"inputs\": [], \"outputs\": [{\"name\": \"o1\"}, {\"name\": \"o2\", \"parameters\": "
               "{\"binary_data\": true}}]}");
    JN_CHECK_ERR(d.rc, d.err, 0);
    JN_CHECK_INT_EQ(d.req.params.count, 4);
    const jn_param *p = jn_params_find(&d.req.params, "burn_ms");
    JN_CHECK(p && p->type == JN_PARAM_INT && p->v.i == 5);
    p = jn_params_find(&d.req.params, "flag");
    JN_CHECK(p && p->type == JN_PARAM_BOOL && p->v.b);
    p = jn_params_find(&d.req.params, "scale");
    JN_CHECK(p && p->type == JN_PARAM_DOUBLE && p->v.d == 0.5);
    JN_CHECK_STR_EQ(jn_params_get_string(&d.req.params, "mode"), "cpu");
    JN_CHECK(!jn_params_find(&d.req.params, "binary_data_output"));
    JN_CHECK(!d.opts.binary_all);
    JN_REQUIRE(d.req.n_outputs == 2);
    JN_CHECK_STR_EQ(d.req.outputs[1], "o2");
    JN_REQUIRE(d.opts.n == 1);
    JN_CHECK_STR_EQ(d.opts.names[0], "o2");
    decoded_free(&d);

    expect_decode_error("{\"inputs\": [], \"parameters\": {\"p\": [1]}}",
                        "parameter 'p' must be a bool, a number or a string, got an array");
    expect_decode_error("{\"inputs\": [], \"outputs\": [{\"name\": \"o\", \"parameters\": {\"classification\": 2}}]}",
                        "output 'o': the 'classification' parameter is not supported; ask for the model's "
                        "CLASSIFICATION port instead");
    expect_decode_error("{\"inputs\": [], \"id\": 5}", "id must be a string, got a number");
    expect_decode_error("{\"inputs\": [}", "request JSON: line 1, column 13: ");
    expect_decode_error("[1]", "request JSON: expected an object at the top level, got an array");
    expect_decode_error("{\"id\": \"a\"}", "request has no inputs");
    expect_decode_error("{\"inputs\": [], \"inputs\": []}", "duplicate object key");
}

/* ---- binary data ---- */

static size_t build_binary(char *buf, const char *json, const void *bin, size_t bin_len, size_t pad)
{
    size_t n = strlen(json);
    memcpy(buf, json, n);
    memset(buf + n, ' ', pad); /* trailing JSON whitespace moves the binary part's alignment */
    memcpy(buf + n + pad, bin, bin_len);
    return n + pad + bin_len;
}

static void test_v2_binary_inputs(void)
{
    static _Alignas(16) char body[512];
    const float v[3] = {1.5f, -2, 3};
    const char *json = "{\"inputs\": [{\"name\": \"a\", \"shape\": [3], \"datatype\": \"FP32\", "
                       "\"parameters\": {\"binary_data_size\": 12}}, {\"name\": \"s\", \"shape\": [2], "
                       "\"datatype\": \"BYTES\", \"parameters\": {\"binary_data_size\": 11}}]}";
    char bin[23];
    memcpy(bin, v, 12);
    memcpy(bin + 12, "\x02\x00\x00\x00hi\x01\x00\x00\x00!", 11);
    size_t jl = strlen(json);
    for (size_t pad = 0; pad < 4; pad++) {
        size_t n = build_binary(body, json, bin, sizeof bin, pad);
        decoded d;
        decode_with(&d, body, n, (int64_t)(jl + pad));
        JN_CHECK_ERR(d.rc, d.err, 0);
        JN_REQUIRE(d.req.inputs.count == 2);
        const jn_tensor *a = d.req.inputs.items[0];
        JN_CHECK(memcmp(a->data, v, 12) == 0);
        JN_CHECK_INT_EQ((uintptr_t)a->data % 4, 0);
        /* Zero-copy exactly when the bytes are aligned for FP32 in the body. */
        bool aligned = (jl + pad) % 4 == 0;
        JN_CHECK_INT_EQ(a->data == (void *)(body + jl + pad), aligned);
        const jn_tensor *s = d.req.inputs.items[1];
        JN_CHECK_INT_EQ(jn_bytes_count(s->data, s->byte_size), 2);
        JN_CHECK(s->data == (void *)(body + jl + pad + 12)); /* BYTES need no alignment */
        decoded_free(&d);
    }

    /* Mistakes. */
    size_t n = build_binary(body, json, bin, sizeof bin, 0);
    decoded d;
    decode_with(&d, body, n - 1, (int64_t)jl);
    JN_CHECK_ERR(d.rc, d.err, JN_EINVAL);
    JN_CHECK_STR_CONTAINS(d.err.msg, "input 's': binary_data_size 11 exceeds the 10 bytes of binary data left");
    decoded_free(&d);
    n = build_binary(body, json, "0123456789012345678901234", 25, 0);
    decode_with(&d, body, n, (int64_t)jl);
    JN_CHECK_ERR(d.rc, d.err, JN_EINVAL);
    JN_CHECK_STR_CONTAINS(d.err.msg, "the body has 2 bytes after the JSON header that no input's binary_data_size "
                                     "accounts for");
    decoded_free(&d);
    decode_with(&d, body, n, (int64_t)n + 1);
    JN_CHECK_ERR(d.rc, d.err, JN_EINVAL);
    JN_CHECK_STR_CONTAINS(d.err.msg, "Inference-Header-Content-Length is");
    decoded_free(&d);
    decode_with(&d, json, jl, -1);
    JN_CHECK_ERR(d.rc, d.err, JN_EINVAL);
    JN_CHECK_STR_CONTAINS(d.err.msg, "input 'a': parameters.binary_data_size needs the "
                                     "Inference-Header-Content-Length header");
    decoded_free(&d);
    expect_decode_error("{\"inputs\": [{\"name\": \"a\", \"shape\": [1], \"datatype\": \"FP32\", \"data\": [1], "
                        "\"parameters\": {\"binary_data_size\": 4}}]}",
                        "input 'a': give either data or parameters.binary_data_size, not both");

    /* FP16 goes in binary. */
    const char *h = "{\"inputs\": [{\"name\": \"h\", \"shape\": [2], \"datatype\": \"FP16\", "
                    "\"parameters\": {\"binary_data_size\": 4}}]}";
    n = build_binary(body, h, "\x00\x3c\x00\xc0", 4, 0);
    decode_with(&d, body, n, (int64_t)strlen(h));
    JN_CHECK_ERR(d.rc, d.err, 0);
    JN_CHECK_INT_EQ(d.req.inputs.items[0]->byte_size, 4);
    decoded_free(&d);
}

/* ---- v2 encode ---- */

static void test_v2_encode_json(void)
{
    jn_tensor_list outs;
    jn_tensor_list_init(&outs);
    const int64_t s3[1] = {3}, s22[2] = {2, 2};
    const float f[3] = {0.85f, 1.0f, NAN};
    jn_tensor_list_push(&outs, fp32_tensor("o", 1, s3, f));
    jn_err err;
    jn_tensor *i8 = jn_tensor_create("i", JN_DTYPE_INT8, 2, s22, &err);
    int8_t iv[4] = {-1, 2, -128, 127};
    memcpy(i8->data, iv, 4);
    jn_tensor_list_push(&outs, i8);
    const int64_t s2[1] = {2};
    jn_tensor *bl = jn_tensor_create("b", JN_DTYPE_BOOL, 1, s2, &err);
    ((uint8_t *)bl->data)[1] = 1;
    jn_tensor_list_push(&outs, bl);
    const char *strs[2] = {"\xe4\xbd\x93\xe8\x82\xb2", "x"};
    const size_t lens[2] = {6, 1};
    jn_tensor_list_push(&outs, jn_tensor_from_strings("s", 1, s2, strs, lens, 2, &err));
    jn_rest_v2_opts opts = {0};
    jn_rest_reply reply;
    encode(&outs, &opts, &reply);
    JN_CHECK_INT_EQ(reply.status, 200);
    JN_CHECK_STR_EQ(reply.content_type, JN_REST_JSON);
    JN_CHECK(!reply.headers);
    JN_CHECK_STR_EQ(reply.body,
                    S("{\"model_name\":\"m\",\"model_version\":\"1\",\"id\":\"x\",\"outputs\":["
                      "{\"name\":\"o\",\"datatype\":\"FP32\",\"shape\":[3],\"data\":[0.85,1.0,\"NaN\"]},"
                      "{\"name\":\"i\",\"datatype\":\"INT8\",\"shape\":[2,2],\"data\":[-1,2,-128,127]},"
                      "{\"name\":\"b\",\"datatype\":\"BOOL\",\"shape\":[2],\"data\":[false,true]},"
                      "{\"name\":\"s\",\"datatype\":\"BYTES\",\"shape\":[2],\"data\":[\"\xe4\xbd\x93\xe8\x82\xb2\","
                      "\"x\"]}]}"));
    jn_rest_reply_free(&reply);
    jn_tensor_list_clear(&outs);

    /* FP32 round-trips through its printed form; FP64 prints 17 digits. */
    float hard[4] = {0.1f, 16777217.0f, 1.17549435e-38f, 3.14159274f};
    for (size_t k = 0; k < 4; k++)
        hard[k] = nextafterf(hard[k], 1e30f);
    jn_tensor_list_push(&outs, fp32_tensor("o", 1, (const int64_t[]){4}, hard));
    encode(&outs, &opts, &reply);
    json_t *doc = json_loads(reply.body, 0, NULL);
    JN_REQUIRE(doc);
    json_t *data = json_object_get(json_array_get(json_object_get(doc, "outputs"), 0), "data");
    for (size_t k = 0; k < 4; k++)
        JN_CHECK((float)json_number_value(json_array_get(data, k)) == hard[k]);
    json_decref(doc);
    jn_rest_reply_free(&reply);
    jn_tensor_list_clear(&outs);

    jn_tensor *d = jn_tensor_create("d", JN_DTYPE_FP64, 1, s2, &err);
    ((double *)d->data)[0] = 0.1;
    ((double *)d->data)[1] = -INFINITY;
    jn_tensor_list_push(&outs, d);
    encode(&outs, &opts, &reply);
    JN_CHECK_STR_CONTAINS(reply.body, "\"data\":[0.10000000000000001,\"-Infinity\"]");
    jn_rest_reply_free(&reply);
    jn_tensor_list_clear(&outs);
}

/* The direct writer (json_write.h) and the jansson tree give the same bytes, for every datatype the writer takes,
 * odd names and ids (escapes, invalid UTF-8), empty and rank-0 tensors and random values; and the same document. */
static void encode_both_and_compare(jn_tensor_list *outs, const char *model, const char *id)
{
    jn_err err;
    jn_err_clear(&err);
    jn_request req;
    jn_request_init(&req);
    JN_REQUIRE(jn_request_set_target(&req, model, "", id) == 0);
    jn_engine_vtable vt = {.abi_version = JN_ENGINE_ABI_VERSION};
    jn_engine fake = {.vt = &vt, .name = (char *)model, .version = (char *)"7\t\"v\""};
    jn_rest_v2_opts opts = {0};
    jn_rest_reply direct = {0}, tree = {0};
    JN_CHECK_INT_EQ(jn_rest_v2_encode(&req, &fake, outs, &opts, &direct, &err), 0);
    JN_CHECK_INT_EQ(jn__rest_v2_encode_jansson(&req, &fake, outs, &opts, &tree, &err), 0);
    JN_REQUIRE(direct.body && tree.body);
    JN_CHECK_INT_EQ(direct.body_len, tree.body_len);
    JN_CHECK_STR_EQ(direct.body, tree.body);
    JN_CHECK_STR_EQ(direct.content_type, tree.content_type);
    json_t *a = json_loadb(direct.body, direct.body_len, 0, NULL), *b = json_loadb(tree.body, tree.body_len, 0, NULL);
    JN_CHECK(a && b && json_equal(a, b));
    json_decref(a);
    json_decref(b);
    jn_rest_reply_free(&direct);
    jn_rest_reply_free(&tree);
    jn_request_clear(&req);
}

static void test_v2_encode_direct_matches_jansson(void)
{
    static const jn_dtype types[] = {JN_DTYPE_BOOL,  JN_DTYPE_UINT8, JN_DTYPE_UINT16, JN_DTYPE_UINT32,
                                     JN_DTYPE_UINT64, JN_DTYPE_INT8,  JN_DTYPE_INT16,  JN_DTYPE_INT32,
                                     JN_DTYPE_INT64, JN_DTYPE_FP32};
    uint64_t x = 0x243f6a8885a308d3u;
    jn_err err;
    for (int round = 0; round < 200; round++) {
        jn_tensor_list outs;
        jn_tensor_list_init(&outs);
        int n_out = round % 4; /* 0 outputs too */
        for (int o = 0; o < n_out; o++) {
            jn_dtype dt = types[(size_t)(round + o) % (sizeof types / sizeof types[0])];
            int64_t shape[3] = {1 + round % 3, (round / 3) % 5, 2};
            int ndim = round % 7 == 0 ? 0 : 1 + (round + o) % 3;
            char name[32];
            snprintf(name, sizeof name, o == 1 ? "out\"%d\\\x01\x7f\xff" : "out%d/\xe4\xbd\x93", o);
            jn_tensor *t = jn_tensor_create(name, dt, ndim, shape, &err);
            JN_REQUIRE(t);
            uint8_t *p = t->data;
            for (size_t k = 0; k < t->byte_size; k++) {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                p[k] = (uint8_t)(x >> 24);
            }
            size_t esz = jn_dtype_size(dt);
            for (size_t k = 0; k < t->byte_size; k += esz) {
                if (dt == JN_DTYPE_BOOL)
                    p[k] &= 1;
                if (dt == JN_DTYPE_UINT64)
                    p[k + 7] &= 0x7f; /* above INT64_MAX goes binary (jansson path alone) */
                if (dt == JN_DTYPE_FP32 && k / esz % 5 == 0) {
                    float special[] = {0.0f, -0.0f, NAN, INFINITY, -INFINITY, 0.85f, 1e-40f, 3.4e38f};
                    memcpy(p + k, &special[(k / esz / 5) % 8], sizeof(float));
                }
            }
            jn_tensor_list_push(&outs, t);
        }
        if (round % 5 == 0) {
            const char *strs[3] = {"\xe4\xbd\x93\xe8\x82\xb2", "a\"b\\c\n\r\t\b\f\x1f/", ""};
            const size_t lens[3] = {6, strlen(strs[1]), 0};
            jn_tensor_list_push(&outs, jn_tensor_from_strings("s", 1, (const int64_t[]){3}, strs, lens, 3, &err));
        }
        encode_both_and_compare(&outs, round % 2 ? "m" : "m\"\xc3(", round % 3 ? "" : "id\n\x02\xe2\x82");
        jn_tensor_list_clear(&outs);
    }
}

static void test_v2_encode_binary(void)
{
    jn_tensor_list outs;
    jn_tensor_list_init(&outs);
    jn_err err;
    const int64_t s2[1] = {2};
    const float f[2] = {1, 2};
    jn_tensor_list_push(&outs, fp32_tensor("asked", 1, s2, f));
    jn_tensor_list_push(&outs, fp32_tensor("plain", 1, s2, f));
    jn_tensor *h = jn_tensor_create("half", JN_DTYPE_FP16, 1, s2, &err);
    memcpy(h->data, "\x00\x3c\x00\xc0", 4);
    jn_tensor_list_push(&outs, h);
    const char *strs[1] = {"\xff\xfe"};
    const size_t lens[1] = {2};
    jn_tensor_list_push(&outs, jn_tensor_from_strings("raw", 1, (const int64_t[]){1}, strs, lens, 1, &err));
    jn_tensor *u = jn_tensor_create("big", JN_DTYPE_UINT64, 1, (const int64_t[]){1}, &err);
    ((uint64_t *)u->data)[0] = UINT64_MAX;
    jn_tensor_list_push(&outs, u);
    char *asked = (char *)"asked";
    jn_rest_v2_opts opts = {.n = 1, .names = &asked};
    jn_rest_reply reply;
    encode(&outs, &opts, &reply);
    JN_CHECK_STR_EQ(reply.content_type, JN_REST_OCTETS);
    JN_REQUIRE(reply.headers);
    size_t jlen = 0;
    JN_CHECK(sscanf(reply.headers, "Inference-Header-Content-Length: %zu\r\n", &jlen) == 1);
    JN_REQUIRE(jlen < reply.body_len);
    json_error_t je;
    json_t *doc = json_loadb(reply.body, jlen, 0, &je);
    JN_REQUIRE(doc);
    json_t *o = json_object_get(doc, "outputs");
    /* asked (8) + half (4) + raw (4 + 2) + big (8), in output order; plain stays JSON. */
    const char *names[5] = {"asked", "plain", "half", "raw", "big"};
    const long sizes[5] = {8, -1, 4, 6, 8};
    size_t at = jlen;
    for (size_t k = 0; k < 5; k++) {
        json_t *e = json_array_get(o, k);
        JN_CHECK_STR_EQ(json_string_value(json_object_get(e, "name")), names[k]);
        json_t *size = json_object_get(json_object_get(e, "parameters"), "binary_data_size");
        if (sizes[k] < 0) {
            JN_CHECK(!size && json_object_get(e, "data"));
            continue;
        }
        JN_CHECK_INT_EQ(json_integer_value(size), sizes[k]);
        JN_CHECK(!json_object_get(e, "data"));
        if (k == 0)
            JN_CHECK(memcmp(reply.body + at, f, 8) == 0);
        if (k == 2)
            JN_CHECK(memcmp(reply.body + at, "\x00\x3c\x00\xc0", 4) == 0);
        if (k == 3)
            JN_CHECK(memcmp(reply.body + at, "\x02\x00\x00\x00\xff\xfe", 6) == 0);
        at += (size_t)sizes[k];
    }
    JN_CHECK_INT_EQ(at, reply.body_len);
    json_decref(doc);
    jn_rest_reply_free(&reply);

    /* binary_data_output: everything binary. */
    jn_rest_v2_opts all = {.binary_all = true};
    encode(&outs, &all, &reply);
    JN_CHECK_STR_CONTAINS(reply.body, "{\"name\":\"plain\",\"datatype\":\"FP32\",\"shape\":[2],\"parameters\":"
                                      "{\"binary_data_size\":8}}");
    jn_rest_reply_free(&reply);
    jn_tensor_list_clear(&outs);
}

/* ---- the whole v2 call over the registry ---- */

static jn_registry *test_registry(void);

static void test_v2_infer_call(void)
{
    jn_registry *reg = test_registry();
    jn_workpool *pool = jn_workpool_create(1);
    jn_dispatcher *d = jn_dispatcher_create(reg, pool, NULL);
    jn_rest_reply reply = {0};
    const char *ok = "{\"id\": \"q\", \"inputs\": [{\"name\": \"input\", \"shape\": [1, 2], \"datatype\": \"FP32\", "
                     "\"data\": [[1.5, 2]]}]}";
    jn_rest_call_run(d, JN_REST_V2_INFER, "identity", "", (const uint8_t *)ok, strlen(ok), -1, false, &reply);
    JN_CHECK_INT_EQ(reply.status, 200);
    JN_CHECK_STR_EQ(reply.body, S("{\"model_name\":\"identity\",\"model_version\":\"1\",\"id\":\"q\",\"outputs\":"
                                  "[{\"name\":\"output\",\"datatype\":\"FP32\",\"shape\":[1,2],\"data\":[1.5,2.0]}]}"));
    jn_rest_reply_free(&reply);

    /* The executor's message, as gRPC gives it. */
    const char *wrong = "{\"inputs\": [{\"name\": \"input\", \"shape\": [2], \"datatype\": \"FP32\", "
                        "\"data\": [1, 2]}]}";
    jn_rest_call_run(d, JN_REST_V2_INFER, "identity", "", (const uint8_t *)wrong, strlen(wrong), -1, false, &reply);
    JN_CHECK_INT_EQ(reply.status, 400);
    JN_CHECK_STR_CONTAINS(reply.body, "model 'identity': input 'input'");
    jn_rest_reply_free(&reply);

    jn_rest_call_run(d, JN_REST_V2_INFER, "nope", "", (const uint8_t *)ok, strlen(ok), -1, false, &reply);
    JN_CHECK_INT_EQ(reply.status, 404);
    JN_CHECK_STR_EQ(reply.body, S("{\"error\":\"model 'nope' is not registered\"}"));
    jn_rest_reply_free(&reply);

    const char *bad = "{\"inputs\": [{\"name\": \"input\", \"shape\": [1], \"datatype\": \"INT8\", "
                      "\"data\": [999]}]}";
    jn_rest_call_run(d, JN_REST_V2_INFER, "identity", "", (const uint8_t *)bad, strlen(bad), -1, false, &reply);
    JN_CHECK_INT_EQ(reply.status, 400);
    JN_CHECK_STR_EQ(reply.body, S("{\"error\":\"model 'identity': input 'input': data[0] = 999 does not fit INT8\"}"));
    jn_rest_reply_free(&reply);
    jn_workpool_destroy(pool);
    jn_dispatcher_destroy(d);
    jn_registry_destroy(reg);
}

/* ---- simple JSON over fake engines ---- */

static const char *const LABELS[3] = {"\xe4\xbd\x93\xe8\x82\xb2", "\xe8\xb4\xa2\xe7\xbb\x8f", "tech"};

/* 'classify': content TEXT BYTES[-1] -> label CLASSIFICATION FP32[-1,3]; one row per text, money is finance. */
static int classify_infer(jn_engine *self, const jn_infer_ctx *ctx, const jn_tensor_list *inputs,
                          jn_tensor_list *outputs, jn_err *err)
{
    const jn_tensor *in = jn_tensor_list_find(inputs, "content");
    int64_t n = jn_tensor_element_count(in);
    const int64_t shape[2] = {n, 3};
    jn_tensor *t = jn_tensor_create("label", JN_DTYPE_FP32, 2, shape, err);
    if (!t)
        return err->code;
    size_t pos = 0;
    const uint8_t *elem;
    uint32_t len;
    for (int64_t i = 0; jn_bytes_next(in->data, in->byte_size, &pos, &elem, &len); i++) {
        bool money = false;
        for (uint32_t k = 0; k + 5 <= len && !money; k++)
            money = memcmp(elem + k, "money", 5) == 0;
        float *row = (float *)t->data + i * 3;
        row[0] = money ? 0.1f : 0.85f;
        row[1] = money ? 0.8f : 0.05f;
        row[2] = money ? 0.1f : 0.1f;
    }
    return jn_tensor_list_push(outputs, t);
}

/* 'imgsize': picture IMAGE BYTES[-1] -> size INT64[-1] (bytes of each image) and echo IMAGE BYTES[-1]. */
static int imgsize_infer(jn_engine *self, const jn_infer_ctx *ctx, const jn_tensor_list *inputs,
                         jn_tensor_list *outputs, jn_err *err)
{
    const jn_tensor *in = inputs->items[0];
    int64_t n = jn_tensor_element_count(in);
    jn_tensor *t = jn_tensor_create("size", JN_DTYPE_INT64, 1, &n, err);
    if (!t)
        return err->code;
    size_t pos = 0;
    const uint8_t *elem;
    uint32_t len;
    for (int64_t i = 0; jn_bytes_next(in->data, in->byte_size, &pos, &elem, &len); i++)
        ((int64_t *)t->data)[i] = len;
    jn_tensor_list_push(outputs, t);
    return jn_tensor_list_push(outputs, jn_tensor_share(in, "echo", err));
}

/* 'two_text': a, b TEXT -> n INT32[1] */
static int two_text_infer(jn_engine *self, const jn_infer_ctx *ctx, const jn_tensor_list *inputs,
                          jn_tensor_list *outputs, jn_err *err)
{
    const int64_t one = 1;
    jn_tensor *t = jn_tensor_create("n", JN_DTYPE_INT32, 1, &one, err);
    ((int32_t *)t->data)[0] = (int32_t)inputs->count;
    return jn_tensor_list_push(outputs, t);
}

/* 'half': x FP16[-1] -> y FP16[-1] (shared) */
static int half_infer(jn_engine *self, const jn_infer_ctx *ctx, const jn_tensor_list *inputs,
                      jn_tensor_list *outputs, jn_err *err)
{
    return jn_tensor_list_push(outputs, jn_tensor_share(inputs->items[0], "y", err));
}

#define FAKE_VTABLE(fn) {.abi_version = JN_ENGINE_ABI_VERSION, .platform = "test", .infer = fn}
static const jn_engine_vtable classify_vt = FAKE_VTABLE(classify_infer), imgsize_vt = FAKE_VTABLE(imgsize_infer),
                              two_text_vt = FAKE_VTABLE(two_text_infer), half_vt = FAKE_VTABLE(half_infer);

static jn_engine *fake(const char *name, const jn_engine_vtable *vt)
{
    jn_err err;
    jn_engine *e = jn_engine_create(vt, name, "1", NULL, NULL, &err);
    JN_REQUIRE(e);
    return e;
}

static jn_registry *test_registry(void)
{
    jn_registry *reg = jn_registry_create();
    jn_err err;
    jn_builtin_options bo = {.burn_default_ms = 0};
    JN_REQUIRE(jn_registry_add(reg, jn_identity_create("identity", &bo, &err), &err) == 0);
    const int64_t any[1] = {-1}, any_rows[2] = {-1, 3};

    jn_engine *e = fake("classify", &classify_vt);
    JN_REQUIRE(jn_signature_add_input(&e->sig, "content", JN_KIND_TEXT, JN_DTYPE_BYTES, 1, any, &err) == 0);
    JN_REQUIRE(jn_signature_add_output(&e->sig, "label", JN_KIND_CLASSIFICATION, JN_DTYPE_FP32, 2, any_rows,
                                       &err) == 0);
    JN_REQUIRE(jn_port_set_labels(&e->sig.outputs[0], LABELS, 3, &err) == 0);
    JN_REQUIRE(jn_registry_add(reg, e, &err) == 0);

    e = fake("imgsize", &imgsize_vt);
    JN_REQUIRE(jn_signature_add_input(&e->sig, "picture", JN_KIND_IMAGE, JN_DTYPE_BYTES, 1, any, &err) == 0);
    JN_REQUIRE(jn_signature_add_output(&e->sig, "size", JN_KIND_TENSOR, JN_DTYPE_INT64, 1, any, &err) == 0);
    JN_REQUIRE(jn_signature_add_output(&e->sig, "echo", JN_KIND_IMAGE, JN_DTYPE_BYTES, 1, any, &err) == 0);
    JN_REQUIRE(jn_registry_add(reg, e, &err) == 0);

    e = fake("two_text", &two_text_vt);
    JN_REQUIRE(jn_signature_add_input(&e->sig, "a", JN_KIND_TEXT, JN_DTYPE_BYTES, 1, any, &err) == 0);
    JN_REQUIRE(jn_signature_add_input(&e->sig, "b", JN_KIND_TEXT, JN_DTYPE_BYTES, 1, any, &err) == 0);
    JN_REQUIRE(jn_signature_add_output(&e->sig, "n", JN_KIND_TENSOR, JN_DTYPE_INT32, 1, any, &err) == 0);
    JN_REQUIRE(jn_registry_add(reg, e, &err) == 0);

    e = fake("half", &half_vt);
    JN_REQUIRE(jn_signature_add_input(&e->sig, "x", JN_KIND_TENSOR, JN_DTYPE_FP16, 1, any, &err) == 0);
    JN_REQUIRE(jn_signature_add_output(&e->sig, "y", JN_KIND_TENSOR, JN_DTYPE_FP16, 1, any, &err) == 0);
    JN_REQUIRE(jn_registry_add(reg, e, &err) == 0);
    return reg;
}

/* POST :predict; returns the reply (caller frees) after checking the status. */
static void predict(jn_registry *reg, const char *model, const char *body, bool all, int want_status,
                    jn_rest_reply *reply)
{
    jn_workpool *pool = jn_workpool_create(1);
    jn_dispatcher *d = jn_dispatcher_create(reg, pool, NULL);
    memset(reply, 0, sizeof *reply);
    jn_rest_call_run(d, JN_REST_PREDICT, model, "", (const uint8_t *)body, strlen(body), -1, all, reply);
    jn_workpool_destroy(pool);
    jn_dispatcher_destroy(d);
    JN_CHECK_INT_EQ(reply->status, want_status);
    if (reply->status != want_status)
        fprintf(stderr, "    body: %s\n", reply->body ? reply->body : "(none)");
}

static void expect_predict(jn_registry *reg, const char *model, const char *body, bool all, int status,
                           const char *want)
{
    jn_rest_reply reply;
    predict(reg, model, body, all, status, &reply);
    if (status == 200)
        JN_CHECK_STR_EQ(reply.body, want);
    else
        JN_CHECK_STR_CONTAINS(reply.body, want);
    jn_rest_reply_free(&reply);
}

static void test_simple_classification(void)
{
    jn_registry *reg = test_registry();
    /* {"text": ...} feeds the single TEXT input whatever its name; the single CLASSIFICATION output answers. */
    expect_predict(reg, "classify",
                   "{\"text\": \"\xe8\xbf\x99\xe6\x98\xaf\xe4\xb8\x80\xe6\xae\xb5\xe6\x96\x87\xe6\x9c\xac\xe3\x80\x82\"}", false, 200, "{\"label\":\"\xe4\xbd\x93\xe8\x82\xb2\",\"score\":0.85}");
    expect_predict(reg, "classify", "{\"content\": \"money talks\"}", false, 200,
                   "{\"label\":\"\xe8\xb4\xa2\xe7\xbb\x8f\",\"score\":0.8}");
    expect_predict(reg, "classify", "{\"text\": \"money\"}", true, 200,
                   "{\"label\":\"\xe8\xb4\xa2\xe7\xbb\x8f\",\"score\":0.8,\"scores\":[{\"label\":\"\xe8\xb4\xa2"
                   "\xe7\xbb\x8f\",\"score\":0.8},{\"label\":\"\xe4\xbd\x93\xe8\x82\xb2\",\"score\":0.1},"
                   "{\"label\":\"tech\",\"score\":0.1}]}");
    /* Batches. */
    expect_predict(reg, "classify", "{\"instances\": [{\"text\": \"a\"}, {\"text\": \"money\"}, \"b\"]}", false,
                   200,
                   "{\"predictions\":[{\"label\":\"\xe4\xbd\x93\xe8\x82\xb2\",\"score\":0.85},{\"label\":\"\xe8"
                   "\xb4\xa2\xe7\xbb\x8f\",\"score\":0.8},{\"label\":\"\xe4\xbd\x93\xe8\x82\xb2\",\"score\":0.85}]}");
    /* Several texts in one request: one row each. */
    expect_predict(reg, "classify", "{\"text\": [\"a\", \"money\"]}", false, 200,
                   "[{\"label\":\"\xe4\xbd\x93\xe8\x82\xb2\",\"score\":0.85},{\"label\":\"\xe8\xb4\xa2\xe7\xbb\x8f"
                   "\",\"score\":0.8}]");
    /* Mistakes name the model, the key, the instance. */
    expect_predict(reg, "classify", "{\"image\": \"AAAA\"}", false, 400,
                   "model 'classify': no IMAGE input to take \\\"image\\\" (the model's inputs are 'content')");
    expect_predict(reg, "classify", "{\"body\": \"x\"}", false, 400,
                   "model 'classify': no input 'body' (the model's inputs are 'content')");
    expect_predict(reg, "classify", "{\"instances\": [{\"text\": \"a\"}, {\"text\": 5}]}", false, 400,
                   "instances[1]: model 'classify': input 'content': value[0] is a number, expected a string "
                   "(BYTES)");
    expect_predict(reg, "classify", "{\"instances\": [], \"extra\": 1}", false, 400,
                   "with \\\"instances\\\", the only other key may be \\\"parameters\\\", got \\\"extra\\\"");
    expect_predict(reg, "classify", "{\"text\": \"a\", \"content\": \"b\"}", false, 400,
                   "model 'classify': input 'content' is given twice");
    expect_predict(reg, "classify", "{}", false, 400, "model 'classify': missing input 'content'");
    expect_predict(reg, "nope", "{\"text\": \"a\"}", false, 404, "model 'nope' is not registered");
    expect_predict(reg, "classify", "{\"text\": ", false, 400, "model 'classify': request JSON: line 1");
    expect_predict(reg, "two_text", "{\"text\": \"a\"}", false, 400,
                   "model 'two_text': 2 TEXT inputs could take \\\"text\\\": name the one meant");
    expect_predict(reg, "two_text", "{\"a\": \"x\", \"b\": \"y\"}", false, 200, "{\"n\":[2]}");
    expect_predict(reg, "two_text", "{\"instances\": [\"x\"]}", false, 400,
                   "model 'two_text': the model has 2 inputs: give the instance as an object naming them, got a "
                   "string");
    jn_registry_destroy(reg);
}

static void test_simple_image_and_tensors(void)
{
    jn_registry *reg = test_registry();
    /* "aGVsbG8=" is "hello": 5 bytes; base64 answers for IMAGE outputs. */
    expect_predict(reg, "imgsize", "{\"image\": \"aGVsbG8=\"}", false, 200,
                   "{\"size\":[5],\"echo\":[\"aGVsbG8=\"]}");
    expect_predict(reg, "imgsize", "{\"image\": \"data:image/png;base64,aGVsbG8\"}", false, 200,
                   "{\"size\":[5],\"echo\":[\"aGVsbG8=\"]}");
    expect_predict(reg, "imgsize", "{\"picture\": [\"aGk=\", \"\"]}", false, 200,
                   "{\"size\":[2,0],\"echo\":[\"aGk=\",\"\"]}");
    expect_predict(reg, "imgsize", "{\"image\": \"a*b\"}", false, 400,
                   "input 'picture': value[0] is not valid base64 (character 1)");
    expect_predict(reg, "imgsize", "{\"text\": \"a\"}", false, 400, "model 'imgsize': no TEXT input to take");

    /* Numeric ports: leading dims added up to the port's rank; the answer keeps the output's shape. */
    expect_predict(reg, "identity", "{\"input\": [1, 2.5, 3]}", false, 200, "{\"output\":[[1.0,2.5,3.0]]}");
    expect_predict(reg, "identity", "{\"input\": 4}", false, 200, "{\"output\":[[4.0]]}");
    expect_predict(reg, "identity", "{\"input\": [[1, 2], [3, 4]]}", false, 200,
                   "{\"output\":[[1.0,2.0],[3.0,4.0]]}");
    expect_predict(reg, "identity", "{\"instances\": [[1, 2], [[3], [4]]]}", false, 200,
                   "{\"predictions\":[{\"output\":[[1.0,2.0]]},{\"output\":[[3.0],[4.0]]}]}");
    expect_predict(reg, "identity", "{\"input\": [[1, 2], [3]]}", false, 400,
                   "input 'input': data nesting does not match shape [2,2]: value[1] has 1 elements, expected 2");
    expect_predict(reg, "identity", "{\"input\": [[[1]]]}", false, 400, "model 'identity': input 'input'");
    expect_predict(reg, "identity", "{\"input\": [1], \"parameters\": {\"k\": 1}}", false, 200,
                   "{\"output\":[[1.0]]}");
    /* FP16 ports take and give numbers in the simple form. */
    expect_predict(reg, "half", "{\"x\": [1, -2, 0.1, 65504]}", false, 200, "{\"y\":[1.0,-2.0,0.099975586,65504.0]}");
    expect_predict(reg, "half", "{\"x\": [70000]}", false, 400, "input 'x': value[0] = 70000 does not fit FP16");
    jn_registry_destroy(reg);
}

/* ---- base64, halves ---- */

static void test_base64(void)
{
    const char *cases[][2] = {{"", ""}, {"f", "Zg=="}, {"fo", "Zm8="}, {"foo", "Zm9v"}, {"foob", "Zm9vYg=="}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        size_t n, bad;
        char *enc = jn_base64_encode((const uint8_t *)cases[i][0], strlen(cases[i][0]), &n);
        JN_CHECK_STR_EQ(enc, cases[i][1]);
        uint8_t *dec = jn_base64_decode(enc, n, &n, &bad);
        JN_REQUIRE(dec);
        JN_CHECK_INT_EQ(n, strlen(cases[i][0]));
        JN_CHECK(memcmp(dec, cases[i][0], n) == 0);
        free(enc);
        free(dec);
    }
    size_t n, bad = 0;
    uint8_t *d = jn_base64_decode("_-8 \n", 5, &n, &bad); /* URL-safe alphabet, whitespace */
    JN_REQUIRE(d);
    JN_CHECK(n == 2 && d[0] == 0xff && d[1] == 0xef);
    free(d);
    JN_CHECK(!jn_base64_decode("Zg=a", 4, &n, &bad) && bad == 3);
    JN_CHECK(!jn_base64_decode("Z", 1, &n, &bad));
}

static void test_half_conversion(void)
{
    uint16_t h[6];
    jn_err err;
    const char *vals = "[1, -2, 65504, 5.960464477539063e-08, 0, \"-Infinity\"]";
    json_t *a = json_loads(vals, 0, NULL);
    for (size_t i = 0; i < 6; i++)
        JN_CHECK_INT_EQ(jn__json_put_elem(json_array_get(a, i), JN_DTYPE_FP16, h, i, "x", "data", &err), 0);
    JN_CHECK_INT_EQ(h[0], 0x3c00);
    JN_CHECK_INT_EQ(h[1], 0xc000);
    JN_CHECK_INT_EQ(h[2], 0x7bff);
    JN_CHECK_INT_EQ(h[3], 0x0001);
    JN_CHECK_INT_EQ(h[4], 0);
    JN_CHECK_INT_EQ(h[5], 0xfc00);
    for (size_t i = 0; i < 6; i++)
        JN_CHECK_INT_EQ(jn__json_put_elem(json_array_get(a, i), JN_DTYPE_BF16, h, i, "x", "data", &err), 0);
    JN_CHECK_INT_EQ(h[0], 0x3f80);
    JN_CHECK_INT_EQ(h[1], 0xc000);
    json_decref(a);
}

int main(void)
{
    JN_TEST_RUN(test_v2_flat_and_nested);
    JN_TEST_RUN(test_v2_nesting_errors);
    JN_TEST_RUN(test_v2_element_errors);
    JN_TEST_RUN(test_v2_values);
    JN_TEST_RUN(test_v2_parameters_and_outputs);
    JN_TEST_RUN(test_v2_binary_inputs);
    JN_TEST_RUN(test_v2_encode_json);
    JN_TEST_RUN(test_v2_encode_binary);
    JN_TEST_RUN(test_v2_encode_direct_matches_jansson);
    JN_TEST_RUN(test_v2_infer_call);
    JN_TEST_RUN(test_simple_classification);
    JN_TEST_RUN(test_simple_image_and_tensors);
    JN_TEST_RUN(test_base64);
    JN_TEST_RUN(test_half_conversion);
    return JN_TEST_EXIT();
}
