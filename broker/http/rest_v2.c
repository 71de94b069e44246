/* rest_v2.c — KServe v2 REST (Open Inference Protocol, ../shared/docs/open-inference-protocol.md) <-> jn_request
 * and outputs, with Triton's binary-data extension.
 *
 * Request: {"id"?, "parameters"?, "inputs": [{"name", "shape", "datatype", "parameters"?, "data"}],
 * "outputs"?: [{"name", "parameters"?}]}. `data` is flat or nested exactly as the shape says; numbers are converted
 * to the datatype with a range check, BOOL is true/false, BYTES are JSON strings. FP16/BF16 travel as binary data
 * only (as they travel raw only over gRPC). Request parameters become jn_params as in the gRPC codecs, except
 * binary_data_output, which is the extension's.
 *
 * Binary data: the body is the JSON header followed by raw tensor bytes; Inference-Header-Content-Length gives the
 * header's length, each binary input has parameters.binary_data_size and the inputs' bytes follow in input order
 * (BYTES in the v2 raw layout: 4-byte little-endian length before each element), all of them and nothing more.
 * Binary inputs are used without a copy when they are aligned for their datatype (copied otherwise).
 *
 * Response: {"model_name", "model_version", "id", "outputs": [{"name", "datatype", "shape", "data"}]} with flat
 * data (as Triton answers). An output goes out as binary data — JSON header + raw bytes, the
 * Inference-Header-Content-Length response header, parameters.binary_data_size on the output — when the request
 * asked for it (outputs[].parameters.binary_data = true, or the request parameter binary_data_output = true), and
 * also when JSON cannot carry it losslessly: FP16/BF16, BYTES that are not UTF-8, UINT64 above INT64_MAX.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "executor.h"
#include "json_write.h"
#include "rest.h"

#ifndef JUNCTION_VERSION
#define JUNCTION_VERSION "unknown"
#endif

static void no_release(void *opaque)
{
    (void)opaque; /* the request body belongs to the HTTP server; see rest.h */
}

void jn_rest_v2_opts_free(jn_rest_v2_opts *opts)
{
    if (!opts)
        return;
    for (size_t i = 0; i < opts->n; i++)
        free(opts->names[i]);
    free(opts->names);
    opts->names = NULL;
    opts->n = 0;
}

static int oom(jn_err *err)
{
    return jn_err_set(err, JN_ENOMEM, "out of memory");
}

static int add_binary_name(jn_rest_v2_opts *opts, const char *name)
{
    char **names = realloc(opts->names, (opts->n + 1) * sizeof *names);
    if (!names)
        return JN_ENOMEM;
    opts->names = names;
    if (!(names[opts->n] = strdup(name)))
        return JN_ENOMEM;
    opts->n++;
    return 0;
}

static int decode_outputs(const json_t *outs, jn_request *req, jn_rest_v2_opts *opts, jn_err *err)
{
    if (!json_is_array(outs))
        return jn_err_set(err, JN_EINVAL, "outputs must be an array, got %s", jn__json_kind(outs));
    size_t i;
    const json_t *o;
    json_array_foreach(outs, i, o) {
        if (!json_is_object(o))
            return jn_err_set(err, JN_EINVAL, "outputs[%zu] must be an object, got %s", i, jn__json_kind(o));
        const char *name = json_string_value(json_object_get(o, "name"));
        if (!name || !*name)
            return jn_err_set(err, JN_EINVAL, "outputs[%zu] has no name", i);
        const json_t *params = json_object_get(o, "parameters");
        if (params && !json_is_object(params))
            return jn_err_set(err, JN_EINVAL, "output '%s': parameters must be an object, got %s", name,
                              jn__json_kind(params));
        if (json_object_get(params, "classification"))
            return jn_err_set(err, JN_EINVAL,
                              "output '%s': the 'classification' parameter is not supported; ask for the model's "
                              "CLASSIFICATION port instead",
                              name);
        const json_t *bin = json_object_get(params, "binary_data");
        if (bin && !json_is_boolean(bin))
            return jn_err_set(err, JN_EINVAL, "output '%s': parameters.binary_data must be true or false, got %s",
                              name, jn__json_kind(bin));
        if ((json_is_true(bin) && add_binary_name(opts, name)) || jn_request_add_output(req, name))
            return oom(err);
    }
    return 0;
}

/* The binary bytes of one input, taken from the region after the JSON header. */
typedef struct binary_region {
    const uint8_t *p;
    size_t left;
    bool present; /* Inference-Header-Content-Length was given */
} binary_region;

static int decode_shape(const json_t *in, const char *name, int *ndim, int64_t *shape, jn_err *err)
{
    const json_t *s = json_object_get(in, "shape");
    if (!s)
        return jn_err_set(err, JN_EINVAL, "input '%s' has no shape", name);
    if (!json_is_array(s))
        return jn_err_set(err, JN_EINVAL, "input '%s': shape must be an array of integers, got %s", name,
                          jn__json_kind(s));
    size_t n = json_array_size(s);
    if (n > JN_MAX_DIMS)
        return jn_err_set(err, JN_EINVAL, "input '%s': rank %zu exceeds the maximum of %d", name, n, JN_MAX_DIMS);
    for (size_t k = 0; k < n; k++) {
        const json_t *d = json_array_get(s, k);
        if (!json_is_integer(d))
            return jn_err_set(err, JN_EINVAL, "input '%s': shape[%zu] is %s, expected an integer", name, k,
                              jn__json_kind(d));
        if (json_integer_value(d) < 0)
            return jn_err_set(err, JN_EINVAL, "input '%s': shape[%zu] = %" JSON_INTEGER_FORMAT " is negative", name,
                              k, json_integer_value(d));
        shape[k] = (int64_t)json_integer_value(d);
    }
    *ndim = (int)n;
    return 0;
}

static int binary_tensor(const char *name, jn_dtype dt, int ndim, const int64_t *shape, binary_region *bin,
                         json_int_t size, jn_tensor **out, jn_err *err)
{
    if (!bin->present)
        return jn_err_set(err, JN_EINVAL,
                          "input '%s': parameters.binary_data_size needs the Inference-Header-Content-Length header "
                          "(the length of the JSON part of the body)",
                          name);
    if (size < 0 || (uint64_t)size > bin->left)
        return jn_err_set(err, JN_EINVAL,
                          "input '%s': binary_data_size %" JSON_INTEGER_FORMAT " exceeds the %zu bytes of binary "
                          "data left in the body",
                          name, size, bin->left);
    const uint8_t *p = bin->p;
    size_t n = (size_t)size;
    bin->p += n;
    bin->left -= n;
    size_t esz = jn_dtype_size(dt);
    jn_buffer *buf;
    if (esz > 1 && (uintptr_t)p % esz != 0) { /* engines read elements in place: give them aligned ones */
        buf = jn_buffer_alloc(n);
        if (buf)
            memcpy(buf->data, p, n);
    } else {
        buf = jn_buffer_wrap((void *)(uintptr_t)p, n, no_release, NULL);
    }
    if (!buf)
        return oom(err);
    *out = jn_tensor_wrap(name, dt, ndim, shape, buf, buf->data, n, err);
    jn_buffer_unref(buf); /* the tensor holds its own reference */
    return *out ? 0 : (err->code ? err->code : JN_ENOMEM);
}

static int decode_input(const json_t *in, size_t index, binary_region *bin, jn_request *req, jn_err *err)
{
    if (!json_is_object(in))
        return jn_err_set(err, JN_EINVAL, "inputs[%zu] must be an object, got %s", index, jn__json_kind(in));
    const char *name = json_string_value(json_object_get(in, "name"));
    if (!name || !*name)
        return jn_err_set(err, JN_EINVAL, "input #%zu has no name", index);
    const json_t *dtj = json_object_get(in, "datatype");
    if (!json_is_string(dtj))
        return jn_err_set(err, JN_EINVAL, "input '%s' has no datatype", name);
    jn_dtype dt = jn_dtype_from_name(json_string_value(dtj));
    if (dt == JN_DTYPE_INVALID)
        return jn_err_set(err, JN_EINVAL,
                          "input '%s': unknown datatype '%s' (expected one of BOOL, UINT8, UINT16, UINT32, UINT64, "
                          "INT8, INT16, INT32, INT64, FP16, FP32, FP64, BF16, BYTES)",
                          name, json_string_value(dtj));
    int ndim = 0;
    int64_t shape[JN_MAX_DIMS];
    int rc = decode_shape(in, name, &ndim, shape, err);
    if (rc)
        return rc;
    const json_t *params = json_object_get(in, "parameters");
    if (params && !json_is_object(params))
        return jn_err_set(err, JN_EINVAL, "input '%s': parameters must be an object, got %s", name,
                          jn__json_kind(params));
    const json_t *size = json_object_get(params, "binary_data_size");
    const json_t *data = json_object_get(in, "data");
    jn_tensor *t = NULL;
    if (size) {
        if (!json_is_integer(size))
            return jn_err_set(err, JN_EINVAL, "input '%s': parameters.binary_data_size must be an integer, got %s",
                              name, jn__json_kind(size));
        if (data)
            return jn_err_set(err, JN_EINVAL, "input '%s': give either data or parameters.binary_data_size, not both",
                              name);
        rc = binary_tensor(name, dt, ndim, shape, bin, json_integer_value(size), &t, err);
    } else if (!data) {
        return jn_err_set(err, JN_EINVAL,
                          "input '%s' has no data (give data, or parameters.binary_data_size with binary data)", name);
    } else if (dt == JN_DTYPE_FP16 || dt == JN_DTYPE_BF16) {
        return jn_err_set(err, JN_EINVAL,
                          "input '%s': %s data can only be sent as binary data (parameters.binary_data_size and the "
                          "Inference-Header-Content-Length header)",
                          name, jn_dtype_name(dt));
    } else {
        rc = jn__json_to_tensor(data, name, dt, ndim, shape, "data", &t, err);
    }
    if (rc)
        return rc;
    return jn_tensor_list_push(&req->inputs, t) ? oom(err) : 0;
}

int jn_rest_v2_decode(const uint8_t *body, size_t len, int64_t header_len, const char *model, const char *version,
                      jn_request *req, jn_rest_v2_opts *opts, jn_err *err)
{
    memset(opts, 0, sizeof *opts);
    size_t jlen = len;
    if (header_len >= 0) {
        if ((uint64_t)header_len > len)
            return jn_err_set(err, JN_EINVAL,
                              "Inference-Header-Content-Length is %" PRId64 " but the body has only %zu bytes",
                              header_len, len);
        jlen = (size_t)header_len;
    }
    json_error_t je;
    json_t *doc = json_loadb((const char *)body, jlen, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &je);
    if (!doc)
        return jn_err_set(err, JN_EINVAL, "request JSON: line %d, column %d: %s", je.line, je.column, je.text);
    int rc = 0;
    const json_t *id = NULL, *params = NULL, *outs = NULL, *ins = NULL;
    if (!json_is_object(doc)) {
        rc = jn_err_set(err, JN_EINVAL, "request JSON: expected an object at the top level, got %s",
                        jn__json_kind(doc));
        goto out;
    }
    id = json_object_get(doc, "id");
    if (id && !json_is_string(id)) {
        rc = jn_err_set(err, JN_EINVAL, "id must be a string, got %s", jn__json_kind(id));
        goto out;
    }
    if (jn_request_set_target(req, model, version, id ? json_string_value(id) : "")) {
        rc = oom(err);
        goto out;
    }
    params = json_object_get(doc, "parameters");
    if (params) {
        if (!json_is_object(params)) {
            rc = jn_err_set(err, JN_EINVAL, "parameters must be an object, got %s", jn__json_kind(params));
            goto out;
        }
        const char *key;
        const json_t *v;
        json_object_foreach((json_t *)params, key, v) {
            if (strcmp(key, "binary_data_output") == 0) { /* the extension's, not the model's */
                if (!json_is_boolean(v)) {
                    rc = jn_err_set(err, JN_EINVAL, "parameter 'binary_data_output' must be true or false, got %s",
                                    jn__json_kind(v));
                    goto out;
                }
                opts->binary_all = json_is_true(v);
                continue;
            }
            if ((rc = jn__json_set_param(&req->params, key, v, err)))
                goto out;
        }
    }
    outs = json_object_get(doc, "outputs");
    if (outs && (rc = decode_outputs(outs, req, opts, err)))
        goto out;
    ins = json_object_get(doc, "inputs");
    if (!ins) {
        rc = jn_err_set(err, JN_EINVAL, "request has no inputs");
        goto out;
    }
    if (!json_is_array(ins)) {
        rc = jn_err_set(err, JN_EINVAL, "inputs must be an array, got %s", jn__json_kind(ins));
        goto out;
    }
    binary_region bin = {body + jlen, len - jlen, header_len >= 0};
    size_t i;
    const json_t *in;
    json_array_foreach(ins, i, in) {
        if ((rc = decode_input(in, i, &bin, req, err)))
            goto out;
    }
    if (bin.left)
        rc = jn_err_set(err, JN_EINVAL,
                        "the body has %zu bytes after the JSON header that no input's binary_data_size accounts for",
                        bin.left);
out:
    json_decref(doc);
    return rc;
}

/* ---- encoding ---- */

static bool asked_binary(const jn_rest_v2_opts *opts, const char *name)
{
    if (opts->binary_all)
        return true;
    for (size_t i = 0; i < opts->n; i++)
        if (strcmp(opts->names[i], name) == 0)
            return true;
    return false;
}

static json_t *shape_json(int ndim, const int64_t *shape)
{
    json_t *a = json_array();
    for (int k = 0; a && k < ndim; k++)
        if (json_array_append_new(a, json_integer(shape[k]))) {
            json_decref(a);
            return NULL;
        }
    return a;
}

int jn__rest_v2_encode_jansson(const jn_request *req, const jn_engine *engine, const jn_tensor_list *outputs,
                               const jn_rest_v2_opts *opts, jn_rest_reply *reply, jn_err *err)
{
    size_t n = outputs->count;
    bool *binary = calloc(n ? n : 1, sizeof *binary);
    json_t *doc = json_object(), *outs = json_array();
    bool any_binary = false, any_fp64 = false, bad = !binary || !doc || !outs;
    size_t bin_total = 0;
    if (!bad) {
        bad |= json_object_set_new(doc, "model_name", jn__json_text(req->model)) != 0;
        bad |= json_object_set_new(doc, "model_version", jn__json_text(engine->version)) != 0;
        bad |= json_object_set_new(doc, "id", jn__json_text(req->id ? req->id : "")) != 0;
    }
    if (!bad && req->answer.count) { /* the answer's own parameters (a pipeline's "route.<step>") */
        json_t *params = json_object();
        bad |= !params || json_object_set_new(doc, "parameters", params) != 0;
        for (size_t k = 0; !bad && k < req->answer.count; k++)
            if (req->answer.items[k].type == JN_PARAM_STRING)
                bad |= json_object_set_new(params, req->answer.items[k].key,
                                           jn__json_text(req->answer.items[k].v.s)) != 0;
    }
    for (size_t i = 0; !bad && i < n; i++) {
        const jn_tensor *t = outputs->items[i];
        binary[i] = asked_binary(opts, t->name) || jn__tensor_needs_binary(t, false);
        json_t *o = json_object();
        bad |= !o || json_array_append_new(outs, o) != 0;
        if (bad)
            break;
        bad |= json_object_set_new(o, "name", jn__json_text(t->name)) != 0;
        bad |= json_object_set_new(o, "datatype", json_string(jn_dtype_name(t->dtype))) != 0;
        bad |= json_object_set_new(o, "shape", shape_json(t->ndim, t->shape)) != 0;
        if (binary[i]) {
            json_t *p = json_object();
            bad |= !p || json_object_set_new(o, "parameters", p) != 0;
            bad |= bad || json_object_set_new(p, "binary_data_size", json_integer((json_int_t)t->byte_size)) != 0;
            any_binary = true;
            bin_total += t->byte_size;
        } else {
            bad |= json_object_set_new(o, "data", jn__tensor_to_json(t, true, false)) != 0;
            any_fp64 |= t->dtype == JN_DTYPE_FP64;
        }
    }
    if (!bad) {
        bad = json_object_set(doc, "outputs", outs) != 0;
    }
    char *text = NULL;
    if (!bad)
        text = json_dumps(doc, JSON_COMPACT | (any_fp64 ? JSON_REAL_PRECISION(17) : JSON_REAL_PRECISION(9)));
    json_decref(outs);
    json_decref(doc);
    int rc = 0;
    if (!text) {
        rc = jn_err_set(err, JN_ENOMEM, "out of memory encoding the response of '%s'", req->model);
        goto out;
    }
    jn_rest_reply_free(reply);
    reply->status = 200;
    size_t jlen = strlen(text);
    if (!any_binary) {
        reply->content_type = JN_REST_JSON;
        reply->body = text;
        reply->body_len = jlen;
        goto out;
    }
    char *body = malloc(jlen + bin_total + 1);
    char *headers = malloc(64);
    if (!body || !headers) {
        free(body);
        free(headers);
        free(text);
        rc = jn_err_set(err, JN_ENOMEM, "out of memory encoding the response of '%s'", req->model);
        goto out;
    }
    memcpy(body, text, jlen);
    free(text);
    size_t at = jlen;
    for (size_t i = 0; i < n; i++) {
        if (!binary[i])
            continue;
        const jn_tensor *t = outputs->items[i];
        if (t->byte_size)
            memcpy(body + at, t->data, t->byte_size);
        at += t->byte_size;
    }
    snprintf(headers, 64, "Inference-Header-Content-Length: %zu\r\n", jlen);
    reply->content_type = JN_REST_OCTETS;
    reply->body = body;
    reply->body_len = at;
    reply->headers = headers;
out:
    free(binary);
    return rc;
}

/* ---- the same answer written directly (json_write.h) ---- */

/* The direct writer covers answers whose outputs all go out as JSON, none of them FP64 (an FP64 output switches
 * jansson's precision for every real of the answer to 17 digits); the jansson path above does the rest. */
static bool direct_encodable(const jn_tensor_list *outputs, const jn_rest_v2_opts *opts)
{
    for (size_t i = 0; i < outputs->count; i++) {
        const jn_tensor *t = outputs->items[i];
        if (t->dtype == JN_DTYPE_FP64 || t->dtype == JN_DTYPE_FP16 || t->dtype == JN_DTYPE_BF16 ||
            asked_binary(opts, t->name) || jn__tensor_needs_binary(t, false))
            return false;
    }
    return true;
}

static void write_text(jn_json_buf *b, const char *s)
{
    jn_json_string(b, s, strlen(s));
}

/* The tensor's elements as a flat JSON array, as jn__tensor_to_json(t, true, false) gives them. */
static void write_data(jn_json_buf *b, const jn_tensor *t)
{
    int64_t count = jn_tensor_element_count(t);
    const uint8_t *p = t->data;
    jn_json_lit(b, "[");
    if (t->dtype == JN_DTYPE_BYTES) { /* UTF-8 checked by jn__tensor_needs_binary */
        size_t pos = 0;
        const uint8_t *elem;
        uint32_t len;
        for (int64_t k = 0; k < count && jn_bytes_next(t->data, t->byte_size, &pos, &elem, &len); k++) {
            if (k)
                jn_json_lit(b, ",");
            jn_json_string(b, (const char *)elem, len);
        }
        jn_json_lit(b, "]");
        return;
    }
    size_t esz = jn_dtype_size(t->dtype);
    for (int64_t k = 0; k < count; k++, p += esz) {
        if (k)
            jn_json_lit(b, ",");
        switch (t->dtype) {
        case JN_DTYPE_FP32: {
            float v;
            memcpy(&v, p, sizeof v);
            jn_json_float32(b, v);
            break;
        }
        case JN_DTYPE_BOOL:
            jn_json_bool(b, *p != 0);
            break;
        case JN_DTYPE_UINT8:
            jn_json_int(b, *p);
            break;
        case JN_DTYPE_INT8:
            jn_json_int(b, (int8_t)*p);
            break;
        case JN_DTYPE_UINT16: {
            uint16_t v;
            memcpy(&v, p, sizeof v);
            jn_json_int(b, v);
            break;
        }
        case JN_DTYPE_INT16: {
            int16_t v;
            memcpy(&v, p, sizeof v);
            jn_json_int(b, v);
            break;
        }
        case JN_DTYPE_UINT32: {
            uint32_t v;
            memcpy(&v, p, sizeof v);
            jn_json_int(b, v);
            break;
        }
        case JN_DTYPE_INT32: {
            int32_t v;
            memcpy(&v, p, sizeof v);
            jn_json_int(b, v);
            break;
        }
        case JN_DTYPE_INT64: {
            int64_t v;
            memcpy(&v, p, sizeof v);
            jn_json_int(b, v);
            break;
        }
        case JN_DTYPE_UINT64: { /* <= INT64_MAX, else it went binary */
            uint64_t v;
            memcpy(&v, p, sizeof v);
            jn_json_int(b, (int64_t)v);
            break;
        }
        default: /* excluded by direct_encodable */
            jn_json_lit(b, "null");
            break;
        }
    }
    jn_json_lit(b, "]");
}

static int encode_direct(const jn_request *req, const jn_engine *engine, const jn_tensor_list *outputs,
                         jn_rest_reply *reply, jn_err *err)
{
    size_t guess = 128;
    for (size_t i = 0; i < outputs->count; i++)
        guess += 96 + outputs->items[i]->byte_size * 4;
    jn_json_buf b;
    jn_json_buf_init(&b, guess);
    jn_json_lit(&b, "{\"model_name\":");
    write_text(&b, req->model);
    jn_json_lit(&b, ",\"model_version\":");
    write_text(&b, engine->version);
    jn_json_lit(&b, ",\"id\":");
    write_text(&b, req->id ? req->id : "");
    if (req->answer.count) { /* the answer's own parameters (a pipeline's "route.<step>") */
        jn_json_lit(&b, ",\"parameters\":{");
        bool first = true;
        for (size_t k = 0; k < req->answer.count; k++) {
            if (req->answer.items[k].type != JN_PARAM_STRING)
                continue;
            if (!first)
                jn_json_lit(&b, ",");
            first = false;
            write_text(&b, req->answer.items[k].key);
            jn_json_lit(&b, ":");
            write_text(&b, req->answer.items[k].v.s);
        }
        jn_json_lit(&b, "}");
    }
    jn_json_lit(&b, ",\"outputs\":[");
    for (size_t i = 0; i < outputs->count; i++) {
        const jn_tensor *t = outputs->items[i];
        if (i)
            jn_json_lit(&b, ",");
        jn_json_lit(&b, "{\"name\":");
        write_text(&b, t->name);
        jn_json_lit(&b, ",\"datatype\":\"");
        const char *dt = jn_dtype_name(t->dtype);
        jn_json_raw(&b, dt, strlen(dt));
        jn_json_lit(&b, "\",\"shape\":[");
        for (int k = 0; k < t->ndim; k++) {
            if (k)
                jn_json_lit(&b, ",");
            jn_json_int(&b, t->shape[k]);
        }
        jn_json_lit(&b, "],\"data\":");
        write_data(&b, t);
        jn_json_lit(&b, "}");
    }
    jn_json_lit(&b, "]}");
    size_t len;
    char *text = jn_json_buf_take(&b, &len);
    if (!text)
        return jn_err_set(err, JN_ENOMEM, "out of memory encoding the response of '%s'", req->model);
    jn_rest_reply_free(reply);
    reply->status = 200;
    reply->content_type = JN_REST_JSON;
    reply->body = text;
    reply->body_len = len;
    return 0;
}

int jn_rest_v2_encode(const jn_request *req, const jn_engine *engine, const jn_tensor_list *outputs,
                      const jn_rest_v2_opts *opts, jn_rest_reply *reply, jn_err *err)
{
    if (direct_encodable(outputs, opts))
        return encode_direct(req, engine, outputs, reply, err);
    return jn__rest_v2_encode_jansson(req, engine, outputs, opts, reply, err);
}

/* ---- metadata ---- */

json_t *jn_rest_v2_server_metadata(void)
{
    /* What the REST front end implements (the gRPC one lists its own: parameters, model_stream_infer,
     * statistics, model_repository). */
    return json_pack("{s:s, s:s, s:[s, s, s, s]}", "name", "junction", "version", JUNCTION_VERSION, "extensions",
                     "parameters", "binary_tensor_data", "statistics", "model_repository");
}

static json_t *tensor_metadata(const jn_port *ports, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; a && i < n; i++) {
        json_t *m = json_pack("{s:o, s:s, s:o}", "name", jn__json_text(ports[i].name), "datatype",
                              jn_dtype_name(ports[i].dtype), "shape", shape_json(ports[i].ndim, ports[i].shape));
        if (json_array_append_new(a, m)) {
            json_decref(a);
            return NULL;
        }
    }
    return a;
}

json_t *jn_rest_v2_model_metadata(const jn_engine *e)
{
    return json_pack("{s:o, s:[o], s:s, s:o, s:o}", "name", jn__json_text(e->name), "versions",
                     jn__json_text(e->version), "platform", e->vt->platform ? e->vt->platform : "", "inputs",
                     tensor_metadata(e->sig.inputs, e->sig.n_inputs), "outputs",
                     tensor_metadata(e->sig.outputs, e->sig.n_outputs));
}
