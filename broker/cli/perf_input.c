/* perf_input.c — `junction perf`'s request payloads (perf.h): each model input's shape from its v2 metadata, --shape
 * and -b, and its values from --input-data: `random` and `zero` (one entry), or a JSON file in perf_analyzer's
 * format, `{"data": [{"INPUT0": [..], "INPUT1": {"content": [..], "shape": [..]}, "INPUT2": {"b64": ".."}}, ..]}`
 * (nested arrays are flattened; BYTES elements are strings), whose entries the workers send in turn.
 *
 * Shapes: --shape NAME:D1,D2 gives the input's whole shape, or its shape without the batch dimension when the model's
 * first dimension is -1 (then -b, default 1, fills it); -b alone fills a -1 first dimension. A -1 left anywhere else
 * is an error naming the input, except in a JSON entry whose element count settles a single -1.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "base64.h"
#include "half.h"
#include "perf.h"

#define RANDOM_STRING_LEN 8

static const perf_shape_opt *find_shape(const perf_opts *o, const char *name)
{
    for (int i = 0; i < o->n_shapes; i++)
        if (strcmp(o->shapes[i].name, name) == 0)
            return &o->shapes[i];
    return NULL;
}

static int format_shape(char *buf, size_t cap, const int64_t *dims, int ndim)
{
    size_t n = (size_t)snprintf(buf, cap, "[");
    for (int i = 0; i < ndim && n < cap; i++)
        n += (size_t)snprintf(buf + n, cap - n, "%s%lld", i ? "," : "", (long long)dims[i]);
    if (n < cap)
        snprintf(buf + n, cap - n, "]");
    return 0;
}

/* The shape an input is sent with, before any data entry is looked at (it may keep -1s: see resolve_free). */
static int base_shape(const perf_opts *o, const perf_input_meta *in, perf_tensor *t, char *msg, size_t cap)
{
    char ms[128];
    format_shape(ms, sizeof ms, in->shape, in->ndim);
    const perf_shape_opt *so = find_shape(o, in->name);
    bool batch_dim = in->ndim > 0 && in->shape[0] == -1;
    if (o->batch_given && !batch_dim && o->batch != 1 && !(in->ndim > 0 && in->shape[0] == o->batch)) {
        snprintf(msg, cap, "-b %lld: input '%s' (%s%s) has no variable first (batch) dimension", (long long)o->batch,
                 in->name, in->datatype, ms);
        return -1;
    }
    if (so) {
        int off;
        if (so->ndim == in->ndim)
            off = 0;
        else if (batch_dim && so->ndim == in->ndim - 1)
            off = 1;
        else {
            snprintf(msg, cap,
                     "--shape %s: input '%s' is %s%s: give %d dimensions (or %d without the batch dimension)", in->name,
                     in->name, in->datatype, ms, in->ndim, in->ndim - 1);
            return -1;
        }
        t->ndim = in->ndim;
        if (off)
            t->shape[0] = o->batch;
        for (int d = 0; d < so->ndim; d++) {
            int64_t want = in->shape[d + off];
            if (want != -1 && want != so->dims[d]) {
                snprintf(msg, cap, "--shape %s: dimension %d is %lld in the model (%s%s), got %lld", in->name,
                         d + off, (long long)want, in->datatype, ms, (long long)so->dims[d]);
                return -1;
            }
            t->shape[d + off] = so->dims[d];
        }
        return 0;
    }
    t->ndim = in->ndim;
    memcpy(t->shape, in->shape, sizeof(int64_t) * (size_t)in->ndim);
    if (batch_dim)
        t->shape[0] = o->batch;
    return 0;
}

static int count_free(const perf_tensor *t)
{
    int n = 0;
    for (int d = 0; d < t->ndim; d++)
        n += t->shape[d] < 0;
    return n;
}

static size_t element_count(const perf_tensor *t)
{
    size_t n = 1;
    for (int d = 0; d < t->ndim; d++)
        n *= (size_t)t->shape[d];
    return n;
}

/* A -1 left in the shape: settled by `have` elements when there is one, else an error naming the input. */
static int resolve_free(perf_tensor *t, const perf_input_meta *in, long long have, const char *where, char *msg,
                        size_t cap)
{
    int nfree = count_free(t);
    if (nfree == 0)
        return 0;
    if (nfree == 1 && have >= 0) {
        size_t known = 1;
        int at = 0;
        for (int d = 0; d < t->ndim; d++) {
            if (t->shape[d] < 0)
                at = d;
            else
                known *= (size_t)t->shape[d];
        }
        if (known && (size_t)have % known == 0) {
            t->shape[at] = (int64_t)((size_t)have / known);
            return 0;
        }
    }
    char ms[128];
    format_shape(ms, sizeof ms, in->shape, in->ndim);
    snprintf(msg, cap, "%sinput '%s' has a variable dimension (%s%s): give its shape with --shape %s:D1,D2,...", where,
             in->name, in->datatype, ms, in->name);
    return -1;
}

/* Fills raw (numeric) or strs/lens (BYTES) for `count` elements, all zero or random. */
static int alloc_tensor(perf_tensor *t)
{
    t->count = element_count(t);
    if (t->dtype == JN_DTYPE_BYTES) {
        t->strs = calloc(t->count ? t->count : 1, sizeof *t->strs);
        t->lens = calloc(t->count ? t->count : 1, sizeof *t->lens);
        return t->strs && t->lens ? 0 : -1;
    }
    t->raw_len = t->count * jn_dtype_size(t->dtype);
    t->raw = calloc(t->raw_len ? t->raw_len : 1, 1);
    return t->raw ? 0 : -1;
}

/* BYTES: the v2 raw form, 4-byte little-endian length then the bytes, for each element. */
static int pack_strings(perf_tensor *t)
{
    size_t n = 0;
    for (size_t i = 0; i < t->count; i++)
        n += 4 + t->lens[i];
    t->raw = malloc(n ? n : 1);
    if (!t->raw)
        return -1;
    t->raw_len = n;
    uint8_t *p = t->raw;
    for (size_t i = 0; i < t->count; i++) {
        uint32_t len = (uint32_t)t->lens[i];
        p[0] = (uint8_t)len, p[1] = (uint8_t)(len >> 8), p[2] = (uint8_t)(len >> 16), p[3] = (uint8_t)(len >> 24);
        memcpy(p + 4, t->strs[i], t->lens[i]);
        p += 4 + t->lens[i];
    }
    return 0;
}

/* Stores v as element i of a numeric tensor (little-endian hosts, as the rest of junction assumes). */
static void store(perf_tensor *t, size_t i, double v)
{
    uint8_t *p = t->raw + i * jn_dtype_size(t->dtype);
    switch (t->dtype) {
    case JN_DTYPE_BOOL: *p = v != 0; break;
    case JN_DTYPE_UINT8: *p = (uint8_t)v; break;
    case JN_DTYPE_INT8: *(int8_t *)p = (int8_t)v; break;
    case JN_DTYPE_UINT16: { uint16_t x = (uint16_t)v; memcpy(p, &x, 2); break; }
    case JN_DTYPE_INT16: { int16_t x = (int16_t)v; memcpy(p, &x, 2); break; }
    case JN_DTYPE_UINT32: { uint32_t x = (uint32_t)v; memcpy(p, &x, 4); break; }
    case JN_DTYPE_INT32: { int32_t x = (int32_t)v; memcpy(p, &x, 4); break; }
    case JN_DTYPE_UINT64: { uint64_t x = (uint64_t)v; memcpy(p, &x, 8); break; }
    case JN_DTYPE_INT64: { int64_t x = (int64_t)v; memcpy(p, &x, 8); break; }
    case JN_DTYPE_FP16: { uint16_t x = jn_fp16_from_double(v); memcpy(p, &x, 2); break; }
    case JN_DTYPE_BF16: { uint16_t x = jn_bf16_from_float((float)v); memcpy(p, &x, 2); break; }
    case JN_DTYPE_FP32: { float x = (float)v; memcpy(p, &x, 4); break; }
    case JN_DTYPE_FP64: memcpy(p, &v, 8); break;
    default: break;
    }
}

void jn__perf_format_element(const perf_tensor *t, size_t i, char *buf, size_t cap)
{
    const uint8_t *p = t->raw + i * jn_dtype_size(t->dtype);
    switch (t->dtype) {
    case JN_DTYPE_BOOL: snprintf(buf, cap, "%s", *p ? "true" : "false"); break;
    case JN_DTYPE_UINT8: snprintf(buf, cap, "%u", (unsigned)*p); break;
    case JN_DTYPE_INT8: snprintf(buf, cap, "%d", (int)*(const int8_t *)p); break;
    case JN_DTYPE_UINT16: { uint16_t x; memcpy(&x, p, 2); snprintf(buf, cap, "%u", (unsigned)x); break; }
    case JN_DTYPE_INT16: { int16_t x; memcpy(&x, p, 2); snprintf(buf, cap, "%d", (int)x); break; }
    case JN_DTYPE_UINT32: { uint32_t x; memcpy(&x, p, 4); snprintf(buf, cap, "%lu", (unsigned long)x); break; }
    case JN_DTYPE_INT32: { int32_t x; memcpy(&x, p, 4); snprintf(buf, cap, "%ld", (long)x); break; }
    case JN_DTYPE_UINT64: { uint64_t x; memcpy(&x, p, 8); snprintf(buf, cap, "%llu", (unsigned long long)x); break; }
    case JN_DTYPE_INT64: { int64_t x; memcpy(&x, p, 8); snprintf(buf, cap, "%lld", (long long)x); break; }
    case JN_DTYPE_FP16: { uint16_t x; memcpy(&x, p, 2); snprintf(buf, cap, "%.9g", (double)jn_fp16_to_float(x)); break; }
    case JN_DTYPE_BF16: { uint16_t x; memcpy(&x, p, 2); snprintf(buf, cap, "%.9g", (double)jn_bf16_to_float(x)); break; }
    case JN_DTYPE_FP32: { float x; memcpy(&x, p, 4); snprintf(buf, cap, "%.9g", (double)x); break; }
    case JN_DTYPE_FP64: { double x; memcpy(&x, p, 8); snprintf(buf, cap, "%.17g", x); break; }
    default: snprintf(buf, cap, "0"); break;
    }
    /* JSON has no NaN or Infinity: a random FP16 never makes one, a file's values came from JSON numbers. */
}

static uint64_t rng_state = 0x853C49E6748FEA9BULL;

static double rand01(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return (double)((rng_state * 0x2545F4914F6CDD1DULL) >> 11) / 9007199254740992.0;
}

/* --input-data random|zero: one entry. */
static int fill_synthetic(perf_tensor *t, bool random)
{
    if (alloc_tensor(t) != 0)
        return -1;
    bool is_float = t->dtype == JN_DTYPE_FP16 || t->dtype == JN_DTYPE_BF16 || t->dtype == JN_DTYPE_FP32 ||
                    t->dtype == JN_DTYPE_FP64;
    for (size_t i = 0; i < t->count; i++) {
        if (t->dtype == JN_DTYPE_BYTES) {
            size_t len = random ? RANDOM_STRING_LEN : 1;
            t->strs[i] = malloc(len + 1);
            if (!t->strs[i])
                return -1;
            for (size_t k = 0; k < len; k++)
                t->strs[i][k] = random ? (char)('a' + (int)(rand01() * 26)) : '0';
            t->strs[i][len] = '\0';
            t->lens[i] = len;
        } else if (random) {
            double v = rand01();
            store(t, i, t->dtype == JN_DTYPE_BOOL ? (v < 0.5 ? 0 : 1) : is_float ? v : floor(v * 100));
        }
    }
    return t->dtype == JN_DTYPE_BYTES ? pack_strings(t) : 0;
}

/* Appends the leaves of a (nested) JSON array to out. */
static int flatten(json_t *v, json_t *out)
{
    if (!json_is_array(v))
        return json_array_append(out, v);
    size_t i;
    json_t *e;
    json_array_foreach(v, i, e) if (flatten(e, out) != 0) return -1;
    return 0;
}

static int from_elements(perf_tensor *t, const perf_input_meta *in, json_t *elems, const char *where, char *msg,
                         size_t cap)
{
    size_t n = json_array_size(elems);
    if (resolve_free(t, in, (long long)n, where, msg, cap) != 0)
        return -1;
    if (element_count(t) != n) {
        char ss[128];
        format_shape(ss, sizeof ss, t->shape, t->ndim);
        snprintf(msg, cap, "%sinput '%s': %zu elements, its shape %s needs %zu", where, in->name, n, ss,
                 element_count(t));
        return -1;
    }
    if (alloc_tensor(t) != 0) {
        snprintf(msg, cap, "out of memory");
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        json_t *e = json_array_get(elems, i);
        if (t->dtype == JN_DTYPE_BYTES) {
            if (!json_is_string(e)) {
                snprintf(msg, cap, "%sinput '%s' (BYTES): element %zu is not a string", where, in->name, i);
                return -1;
            }
            t->lens[i] = json_string_length(e);
            t->strs[i] = malloc(t->lens[i] + 1);
            if (!t->strs[i]) {
                snprintf(msg, cap, "out of memory");
                return -1;
            }
            memcpy(t->strs[i], json_string_value(e), t->lens[i] + 1);
        } else if (json_is_boolean(e)) {
            store(t, i, json_is_true(e) ? 1 : 0);
        } else if (json_is_number(e)) {
            store(t, i, json_number_value(e));
        } else {
            snprintf(msg, cap, "%sinput '%s' (%s): element %zu is not a number", where, in->name, in->datatype, i);
            return -1;
        }
    }
    return t->dtype == JN_DTYPE_BYTES ? pack_strings(t) : 0;
}

static int from_json_value(perf_tensor *t, const perf_input_meta *in, json_t *v, const char *where, char *msg,
                           size_t cap)
{
    if (json_is_object(v) && json_object_get(v, "b64")) {
        json_t *b = json_object_get(v, "b64");
        if (!json_is_string(b)) {
            snprintf(msg, cap, "%sinput '%s': \"b64\" must be a string", where, in->name);
            return -1;
        }
        size_t len, bad;
        uint8_t *raw = jn_base64_decode(json_string_value(b), json_string_length(b), &len, &bad);
        if (!raw) {
            snprintf(msg, cap, "%sinput '%s': \"b64\" is not base64 (at offset %zu)", where, in->name, bad);
            return -1;
        }
        if (t->dtype == JN_DTYPE_BYTES) { /* one element holding those bytes */
            for (int d = 0; d < t->ndim; d++)
                if (t->shape[d] < 0)
                    t->shape[d] = 1;
            if (element_count(t) != 1 || alloc_tensor(t) != 0) {
                free(raw);
                snprintf(msg, cap, "%sinput '%s': \"b64\" gives one BYTES element, its shape holds %zu", where,
                         in->name, element_count(t));
                return -1;
            }
            t->strs[0] = (char *)raw;
            t->lens[0] = len;
            return pack_strings(t);
        }
        size_t es = jn_dtype_size(t->dtype);
        if (resolve_free(t, in, len % es ? -1 : (long long)(len / es), where, msg, cap) != 0) {
            free(raw);
            return -1;
        }
        t->count = element_count(t);
        if (len != t->count * es) {
            snprintf(msg, cap, "%sinput '%s': \"b64\" decodes to %zu bytes, %s x %zu elements needs %zu", where,
                     in->name, len, in->datatype, t->count, t->count * es);
            free(raw);
            return -1;
        }
        t->raw = raw;
        t->raw_len = len;
        return 0;
    }
    json_t *content = v;
    if (json_is_object(v)) {
        content = json_object_get(v, "content");
        json_t *shape = json_object_get(v, "shape");
        if (!json_is_array(content)) {
            snprintf(msg, cap, "%sinput '%s': an object needs \"content\" (an array) or \"b64\"", where, in->name);
            return -1;
        }
        if (shape) {
            size_t nd = json_array_size(shape);
            if (!json_is_array(shape) || nd > JN_MAX_DIMS) {
                snprintf(msg, cap, "%sinput '%s': \"shape\" must be an array of at most %d dimensions", where,
                         in->name, JN_MAX_DIMS);
                return -1;
            }
            for (size_t d = 0; d < nd; d++) {
                json_t *x = json_array_get(shape, d);
                if (!json_is_integer(x) || json_integer_value(x) < 0) {
                    snprintf(msg, cap, "%sinput '%s': \"shape\"[%zu] is not a dimension", where, in->name, d);
                    return -1;
                }
                t->shape[d] = json_integer_value(x);
            }
            t->ndim = (int)nd;
        }
    } else if (!json_is_array(v)) {
        snprintf(msg, cap, "%sinput '%s': expected an array, {\"content\", \"shape\"} or {\"b64\"}", where, in->name);
        return -1;
    }
    json_t *flat = json_array();
    int r = flat && flatten(content, flat) == 0 ? from_elements(t, in, flat, where, msg, cap) : -1;
    if (!flat)
        snprintf(msg, cap, "out of memory");
    json_decref(flat);
    return r;
}

static int load_file(const perf_opts *o, const perf_model *m, perf_data *d, char *msg, size_t cap)
{
    json_error_t je;
    json_t *root = json_load_file(o->data_file, 0, &je);
    if (!root) {
        snprintf(msg, cap, "--input-data %s: %s (line %d, column %d)", o->data_file, je.text, je.line, je.column);
        return -1;
    }
    json_t *data = json_object_get(root, "data");
    int r = -1;
    if (!json_is_array(data) || json_array_size(data) == 0) {
        snprintf(msg, cap, "--input-data %s: expected {\"data\": [{\"INPUT\": [...], ...}, ...]} with one entry or "
                           "more", o->data_file);
        goto out;
    }
    d->n_entries = json_array_size(data);
    d->entries = calloc(d->n_entries, sizeof *d->entries);
    if (!d->entries) {
        snprintf(msg, cap, "out of memory");
        goto out;
    }
    for (size_t e = 0; e < d->n_entries; e++) {
        json_t *entry = json_array_get(data, e);
        char where[PERF_MSG];
        snprintf(where, sizeof where, "--input-data %s: entry %zu: ", o->data_file, e);
        if (!json_is_object(entry)) {
            snprintf(msg, cap, "%snot an object of inputs", where);
            goto out;
        }
        const char *key;
        json_t *val;
        json_object_foreach(entry, key, val)
        {
            int k = 0;
            while (k < m->n_inputs && strcmp(m->inputs[k].name, key) != 0)
                k++;
            if (k == m->n_inputs) {
                snprintf(msg, cap, "%smodel '%s' has no input '%s'", where, m->name, key);
                goto out;
            }
        }
        perf_entry *pe = &d->entries[e];
        pe->n = m->n_inputs;
        for (int i = 0; i < m->n_inputs; i++) {
            const perf_input_meta *in = &m->inputs[i];
            perf_tensor *t = &pe->t[i];
            t->name = in->name;
            t->dtype = jn_dtype_from_name(in->datatype);
            json_t *v = json_object_get(entry, in->name);
            if (!v) {
                snprintf(msg, cap, "%smissing input '%s' (%s)", where, in->name, in->datatype);
                goto out;
            }
            if (base_shape(o, in, t, msg, cap) != 0 || from_json_value(t, in, v, where, msg, cap) != 0)
                goto out;
        }
    }
    r = 0;
out:
    json_decref(root);
    return r;
}

int jn__perf_data_build(const perf_opts *o, const perf_model *m, perf_data *d, char *msg, size_t cap)
{
    memset(d, 0, sizeof *d);
    for (int s = 0; s < o->n_shapes; s++) {
        int i = 0;
        while (i < m->n_inputs && strcmp(m->inputs[i].name, o->shapes[s].name) != 0)
            i++;
        if (i == m->n_inputs) {
            snprintf(msg, cap, "--shape %s: model '%s' has no input '%s'", o->shapes[s].name, m->name,
                     o->shapes[s].name);
            return -1;
        }
    }
    for (int i = 0; i < m->n_inputs; i++) {
        jn_dtype dt = jn_dtype_from_name(m->inputs[i].datatype);
        if (dt == JN_DTYPE_INVALID) {
            snprintf(msg, cap, "model '%s': input '%s' has datatype '%s', which perf does not know", m->name,
                     m->inputs[i].name, m->inputs[i].datatype);
            return -1;
        }
    }
    if (o->data_kind == PERF_DATA_FILE)
        return load_file(o, m, d, msg, cap);
    d->entries = calloc(1, sizeof *d->entries);
    if (!d->entries) {
        snprintf(msg, cap, "out of memory");
        return -1;
    }
    d->n_entries = 1;
    d->entries[0].n = m->n_inputs;
    for (int i = 0; i < m->n_inputs; i++) {
        const perf_input_meta *in = &m->inputs[i];
        perf_tensor *t = &d->entries[0].t[i];
        t->name = in->name;
        t->dtype = jn_dtype_from_name(in->datatype);
        if (base_shape(o, in, t, msg, cap) != 0 || resolve_free(t, in, -1, "", msg, cap) != 0)
            return -1;
        if (fill_synthetic(t, o->data_kind == PERF_DATA_RANDOM) != 0) {
            snprintf(msg, cap, "out of memory");
            return -1;
        }
    }
    return 0;
}

void jn__perf_data_free(perf_data *d)
{
    for (size_t e = 0; e < d->n_entries; e++) {
        for (int i = 0; i < d->entries[e].n; i++) {
            perf_tensor *t = &d->entries[e].t[i];
            if (t->strs)
                for (size_t k = 0; k < t->count; k++)
                    free(t->strs[k]);
            free(t->strs);
            free(t->lens);
            free(t->raw);
        }
    }
    free(d->entries);
    memset(d, 0, sizeof *d);
}
