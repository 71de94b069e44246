/* openai_embeddings.c — an OpenAI-compatible server's embeddings model as an engine (protocol openai, kind
 * embeddings; issue #18): text TEXT [-1] -> embedding EMBEDDING FP32 [-1, dim], by POST {endpoint}/embeddings with
 * encoding_format float; dim is learned at registration from one call. The vectors are read by their `index`.
 * Ownership and thread-safety as openai_client.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "openai_internal.h"

/* ---- embeddings ---- */

/* POST embeddings for the strings; the vectors in a new FP32 [n, dim] tensor named `embedding` (*dim_out set). */
static int embed(jn_endpoint *ep, const char *model, const char *const *strs, const size_t *lens, size_t n,
                 int64_t deadline_ns, const atomic_int *cancelled, const jn_trace_ctx *trace, jn_tensor **out,
                 int64_t *dim_out, jn_call_status *st)
{
    json_t *list = json_array();
    for (size_t i = 0; list && i < n; i++)
        if (json_array_append_new(list, json_stringn(strs[i], lens[i]))) {
            json_decref(list);
            list = NULL;
        }
    json_t *body = list ? json_pack("{s:s, s:o, s:s}", "model", model, "input", list, "encoding_format", "float")
                        : NULL;
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    if (!text)
        return jn_call_status_set(st, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory (building the request)");
    jn__oai_answer a;
    int code = jn__oai_exchange(ep, "POST", "/embeddings", text, strlen(text), deadline_ns, cancelled, trace, &a, st);
    free(text);
    if (code)
        return code;
    json_t *root = jn__oai_parse_answer(&a, "embeddings", st);
    free(a.data);
    if (!root)
        return st->code;
    json_t *data = json_object_get(root, "data");
    size_t dim = json_array_size(json_object_get(json_array_get(data, 0), "embedding"));
    jn_tensor *t = NULL;
    if (json_array_size(data) != n || !dim) {
        code = jn_call_status_set(st, GRPC_STATUS_INTERNAL,
                                  "embeddings: %zu vectors of %zu numbers for %zu inputs", json_array_size(data), dim,
                                  n);
    } else {
        const int64_t shape[2] = {(int64_t)n, (int64_t)dim};
        jn_err err;
        jn_err_clear(&err);
        if (!(t = jn_tensor_create("embedding", JN_DTYPE_FP32, 2, shape, &err)))
            code = jn_call_status_set(st, GRPC_STATUS_RESOURCE_EXHAUSTED, "%s", err.msg);
    }
    for (size_t i = 0; !code && i < n; i++) {
        json_t *item = json_array_get(data, i);
        json_t *idx = json_object_get(item, "index");
        size_t row = json_is_integer(idx) ? (size_t)json_integer_value(idx) : i;
        json_t *vec = json_object_get(item, "embedding");
        if (row >= n || json_array_size(vec) != dim) {
            code = jn_call_status_set(st, GRPC_STATUS_INTERNAL, "embeddings: vector %zu has index %zu and %zu numbers "
                                      "(expected < %zu and %zu)", i, row, json_array_size(vec), n, dim);
            break;
        }
        float *dst = (float *)t->data + row * dim;
        for (size_t k = 0; k < dim; k++) {
            json_t *x = json_array_get(vec, k);
            if (!json_is_number(x)) {
                code = jn_call_status_set(st, GRPC_STATUS_INTERNAL, "embeddings: vector %zu: element %zu is not a "
                                          "number", i, k);
                break;
            }
            dst[k] = (float)json_number_value(x);
        }
    }
    json_decref(root);
    if (code) {
        jn_tensor_free(t);
        return code;
    }
    *out = t;
    if (dim_out)
        *dim_out = (int64_t)dim;
    return 0;
}

static int embeddings_infer(jn_endpoint *ep, const char *model, const jn_infer_ctx *ctx, const jn_tensor_list *inputs,
                            int64_t deadline_ns, jn_tensor_list *outputs, jn_call_status *st)
{
    const jn_tensor *in = jn_tensor_list_find(inputs, "text");
    int64_t count = in ? jn_bytes_count(in->data, in->byte_size) : -1;
    if (count < 1)
        return jn_call_status_set(st, GRPC_STATUS_INVALID_ARGUMENT, "input 'text': expected at least one string");
    const char **strs = calloc((size_t)count, sizeof *strs);
    size_t *lens = calloc((size_t)count, sizeof *lens);
    int code = 0;
    if (!strs || !lens) {
        code = jn_call_status_set(st, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
    } else {
        size_t pos = 0;
        const uint8_t *elem;
        uint32_t n;
        for (int64_t i = 0; i < count && jn_bytes_next(in->data, in->byte_size, &pos, &elem, &n); i++) {
            strs[i] = (const char *)elem;
            lens[i] = n;
        }
        jn_tensor *t = NULL;
        code = embed(ep, model, strs, lens, (size_t)count, deadline_ns, ctx->cancelled, ctx->trace, &t, NULL, st);
        if (!code && jn_tensor_list_push(outputs, t)) {
            jn_tensor_free(t);
            code = jn_call_status_set(st, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
        }
    }
    free(strs);
    free(lens);
    return code;
}

static int embeddings_describe(jn_endpoint *ep, const char *model, const char *version, int64_t deadline_ns,
                               jn_signature *sig, bool *streams, jn_call_status *st)
{
    (void)version;
    *streams = false;
    int code = jn__oai_model_listed(ep, model, deadline_ns, st);
    if (code)
        return code;
    /* The dimension: one embeddings call. */
    const char *probe = "dimension probe";
    size_t probe_len = strlen(probe);
    jn_tensor *t = NULL;
    int64_t dim = 0;
    if ((code = embed(ep, model, &probe, &probe_len, 1, deadline_ns, NULL, NULL, &t, &dim, st)) != 0)
        return code;
    jn_tensor_free(t);
    jn_err err;
    jn_err_clear(&err);
    const int64_t in_shape[1] = {-1}, out_shape[2] = {-1, dim};
    if (jn_signature_add_input(sig, "text", JN_KIND_TEXT, JN_DTYPE_BYTES, 1, in_shape, &err) ||
        jn_signature_add_output(sig, "embedding", JN_KIND_EMBEDDING, JN_DTYPE_FP32, 2, out_shape, &err))
        return jn_call_status_set(st, GRPC_STATUS_INTERNAL, "%s", err.msg);
    return 0;
}

const jn_remote_proto jn_remote_openai_embeddings = {
    .name = "openai",
    .platform = "openai",
    .describe = embeddings_describe,
    .infer_method = JN_RM_COUNT,
    .check = jn__oai_check,
    .http = true,
    .infer = embeddings_infer,
};
