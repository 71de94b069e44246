/* Fuzz target: one request log line (broker/core/request_log.h jn_request_log_format) from arbitrary entries: the
 * envelope's strings, tensors of every datatype (text, binary, numbers, NaN), redacted ports and masking, and
 * --request-log-max-entry from 1024 up. Every line must be one valid JSON object (jansson parses it), end in a
 * newline and fit the cap. The input: byte 0 picks the cap, byte 1 the datatype of tensor 1, the rest is split
 * into the model name, the request id, the error message, a text element and tensor 1's raw bytes. */
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "request_log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The next piece of the input: up to the next 0xff byte (or the end). */
static char *piece(const uint8_t **p, const uint8_t *end, size_t *len)
{
    const uint8_t *s = *p, *q = s;
    while (q < end && *q != 0xff)
        q++;
    *len = (size_t)(q - s);
    char *out = malloc(*len + 1);
    if (!out)
        abort();
    memcpy(out, s, *len);
    out[*len] = '\0';
    *p = q < end ? q + 1 : q;
    return out;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static jn_redact *rules;
    if (!rules) {
        static const char text[] = "{\"ports\": [\"secret\"], \"patterns\": [\"email\", \"phone\", \"card\", \"iban\"], "
                                   "\"regex\": [\"ACME-[0-9]{6}\"]}";
        jn_err err;
        rules = jn_redact_parse(text, sizeof text - 1, "rules", &err);
        if (!rules)
            abort();
    }
    if (size < 2)
        return 0;
    jn_request_log_options o;
    jn_request_log_options_default(&o);
    o.path = "/dev/null";
    o.payloads = true;
    o.redact = data[0] & 1 ? rules : NULL;
    o.max_entry = 1024 + (size_t)(data[0] >> 1) * 97;
    jn_err err;
    jn_request_log *l = jn_request_log_open(&o, &err);
    if (!l)
        abort();
    const uint8_t *p = data + 2, *end = data + size;
    size_t model_len, id_len, error_len, text_len, raw_len;
    char *model = piece(&p, end, &model_len), *id = piece(&p, end, &id_len), *error = piece(&p, end, &error_len);
    char *text = piece(&p, end, &text_len), *raw = piece(&p, end, &raw_len);

    jn_tensor_list in, out;
    jn_tensor_list_init(&in);
    jn_tensor_list_init(&out);
    int64_t one[1] = {1};
    const char *t = text;
    jn_tensor *tt = jn_tensor_from_strings(data[1] & 0x80 ? "secret" : "text", 1, one, &t, &text_len, 1, NULL);
    if (tt)
        jn_tensor_list_push(&in, tt);
    jn_dtype dt = (jn_dtype)(1 + data[1] % (JN_DTYPE_COUNT - 1));
    if (dt == JN_DTYPE_BYTES) {
        const char *r = raw;
        jn_tensor *bt = jn_tensor_from_strings(model, 1, one, &r, &raw_len, 1, NULL);
        if (bt)
            jn_tensor_list_push(&out, bt);
    } else {
        int64_t n = (int64_t)(raw_len / jn_dtype_size(dt));
        int64_t shape[2] = {1, n};
        jn_tensor *nt = jn_tensor_create("out", dt, 2, shape, NULL);
        if (nt) {
            memcpy(nt->data, raw, (size_t)n * jn_dtype_size(dt));
            jn_tensor_list_push(&out, nt);
        }
    }
    jn_request_log_entry e = {.model = model, .version = id, .door = "grpc-v1", .request_id = id,
                              .rc = error_len ? JN_EINVAL : 0, .error = error, .latency_ns = (int64_t)size * 1000,
                              .request_bytes = size, .inputs = &in, .outputs = &out};
    size_t len;
    char *line = jn_request_log_format(l, &e, &len);
    if (!line)
        abort();
    json_error_t je;
    json_t *doc = json_loadb(line, len, JSON_DECODE_INT_AS_REAL, &je); /* UINT64 values past INT64_MAX */
    if (!doc || !json_is_object(doc) || len > o.max_entry || line[len - 1] != '\n') {
        fprintf(stderr, "bad line (%zu bytes, cap %zu): %s\n%.*s\n", len, o.max_entry, doc ? "" : je.text, (int)len,
                line);
        abort();
    }
    json_decref(doc);
    free(line);
    jn_tensor_list_clear(&in);
    jn_tensor_list_clear(&out);
    jn_request_log_close(l);
    free(model);
    free(id);
    free(error);
    free(text);
    free(raw);
    return 0;
}
