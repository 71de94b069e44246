/* safetensors.c — reading and writing the safetensors format (see safetensors.h). jansson parses and writes the
 * header; the payload is one shared buffer the returned tensors point into. */
#include "safetensors.h"

#include <errno.h>
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Header sizes above this are rejected before allocating (the reference implementation caps at 100 MB). */
#define JN_ST_MAX_HEADER (100u * 1024 * 1024)

/* safetensors dtype names <-> ours. */
static const struct {
    const char *name;
    jn_dtype dtype;
} st_dtypes[] = {
    {"BOOL", JN_DTYPE_BOOL}, {"U8", JN_DTYPE_UINT8},  {"U16", JN_DTYPE_UINT16}, {"U32", JN_DTYPE_UINT32},
    {"U64", JN_DTYPE_UINT64}, {"I8", JN_DTYPE_INT8},  {"I16", JN_DTYPE_INT16},  {"I32", JN_DTYPE_INT32},
    {"I64", JN_DTYPE_INT64}, {"F16", JN_DTYPE_FP16}, {"F32", JN_DTYPE_FP32},   {"F64", JN_DTYPE_FP64},
    {"BF16", JN_DTYPE_BF16},
};

static jn_dtype st_dtype_from_name(const char *s)
{
    for (size_t i = 0; i < sizeof st_dtypes / sizeof st_dtypes[0]; i++)
        if (strcmp(st_dtypes[i].name, s) == 0)
            return st_dtypes[i].dtype;
    return JN_DTYPE_INVALID;
}

static const char *st_dtype_name(jn_dtype d)
{
    for (size_t i = 0; i < sizeof st_dtypes / sizeof st_dtypes[0]; i++)
        if (st_dtypes[i].dtype == d)
            return st_dtypes[i].name;
    return NULL;
}

static uint64_t le64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

typedef struct range {
    uint64_t begin, end;
    const char *name;
} range;

static int range_cmp(const void *a, const void *b)
{
    const range *x = a, *y = b;
    return x->begin < y->begin ? -1 : x->begin > y->begin ? 1 : (x->end < y->end ? -1 : x->end > y->end);
}

/* Parses into `out` from data that `buf` owns (one reference is taken per tensor). */
static int parse_into(jn_buffer *buf, const uint8_t *data, size_t len, const char *what, jn_tensor_list *out,
                      char **metadata, jn_err *err)
{
    if (metadata)
        *metadata = NULL;
    if (len < 8)
        return jn_err_set(err, JN_EINVAL, "safetensors '%s': truncated (%zu bytes, no header length)", what, len);
    uint64_t hlen = le64(data);
    if (hlen > JN_ST_MAX_HEADER || hlen > len - 8)
        return jn_err_set(err, JN_EINVAL, "safetensors '%s': header length %llu exceeds the file (%zu bytes)", what,
                          (unsigned long long)hlen, len);
    const uint8_t *body = data + 8 + hlen;
    size_t body_len = len - 8 - (size_t)hlen;

    json_error_t jerr;
    json_t *root = json_loadb((const char *)data + 8, (size_t)hlen, JSON_REJECT_DUPLICATES, &jerr);
    if (!root)
        return jn_err_set(err, JN_EINVAL, "safetensors '%s': header is not JSON: %s (offset %d)", what, jerr.text,
                          jerr.position);
    if (!json_is_object(root)) {
        json_decref(root);
        return jn_err_set(err, JN_EINVAL, "safetensors '%s': header is not a JSON object", what);
    }

    size_t n = json_object_size(root);
    range *ranges = calloc(n ? n : 1, sizeof *ranges);
    size_t n_ranges = 0, first = out->count;
    int rc = 0;
    if (!ranges) {
        json_decref(root);
        return jn_err_set(err, JN_ENOMEM, "safetensors '%s': out of memory", what);
    }

    const char *key;
    json_t *val;
    json_object_foreach(root, key, val)
    {
        if (strcmp(key, "__metadata__") == 0) {
            if (!json_is_object(val)) {
                rc = jn_err_set(err, JN_EINVAL, "safetensors '%s': __metadata__ is not an object", what);
                goto done;
            }
            const char *mk;
            json_t *mv;
            json_object_foreach(val, mk, mv)
            {
                if (!json_is_string(mv)) {
                    rc = jn_err_set(err, JN_EINVAL, "safetensors '%s': __metadata__ value '%s' is not a string",
                                    what, mk);
                    goto done;
                }
            }
            if (metadata) {
                *metadata = json_dumps(val, JSON_COMPACT | JSON_SORT_KEYS);
                if (!*metadata) {
                    rc = jn_err_set(err, JN_ENOMEM, "safetensors '%s': out of memory", what);
                    goto done;
                }
            }
            continue;
        }
        if (!json_is_object(val)) {
            rc = jn_err_set(err, JN_EINVAL, "safetensors '%s': tensor '%s': entry is not an object", what, key);
            goto done;
        }
        json_t *jd = json_object_get(val, "dtype"), *js = json_object_get(val, "shape"),
               *jo = json_object_get(val, "data_offsets");
        if (!json_is_string(jd) || !json_is_array(js) || !json_is_array(jo) || json_array_size(jo) != 2) {
            rc = jn_err_set(err, JN_EINVAL,
                            "safetensors '%s': tensor '%s': needs \"dtype\" (string), \"shape\" (array) and "
                            "\"data_offsets\" ([begin, end])",
                            what, key);
            goto done;
        }
        jn_dtype dt = st_dtype_from_name(json_string_value(jd));
        if (dt == JN_DTYPE_INVALID) {
            rc = jn_err_set(err, JN_EINVAL, "safetensors '%s': tensor '%s': unknown dtype '%s'", what, key,
                            json_string_value(jd));
            goto done;
        }
        int ndim = (int)json_array_size(js);
        if (ndim > JN_MAX_DIMS) {
            rc = jn_err_set(err, JN_EINVAL, "safetensors '%s': tensor '%s': rank %d exceeds %d", what, key, ndim,
                            JN_MAX_DIMS);
            goto done;
        }
        int64_t shape[JN_MAX_DIMS];
        for (int i = 0; i < ndim; i++) {
            json_t *d = json_array_get(js, (size_t)i);
            if (!json_is_integer(d) || json_integer_value(d) < 0) {
                rc = jn_err_set(err, JN_EINVAL, "safetensors '%s': tensor '%s': shape[%d] is not a non-negative "
                                "integer", what, key, i);
                goto done;
            }
            shape[i] = (int64_t)json_integer_value(d);
        }
        json_t *jb = json_array_get(jo, 0), *je = json_array_get(jo, 1);
        if (!json_is_integer(jb) || !json_is_integer(je) || json_integer_value(jb) < 0 ||
            json_integer_value(je) < json_integer_value(jb) || (uint64_t)json_integer_value(je) > body_len) {
            rc = jn_err_set(err, JN_EINVAL,
                            "safetensors '%s': tensor '%s': data_offsets out of range (data is %zu bytes)", what,
                            key, body_len);
            goto done;
        }
        uint64_t b = (uint64_t)json_integer_value(jb), e = (uint64_t)json_integer_value(je);
        int64_t count = jn_shape_element_count(ndim, shape);
        if (count < 0 || (uint64_t)count > UINT64_MAX / jn_dtype_size(dt) ||
            (uint64_t)count * jn_dtype_size(dt) != e - b) {
            rc = jn_err_set(err, JN_EINVAL,
                            "safetensors '%s': tensor '%s': shape x %s needs %lld bytes, data_offsets give %llu",
                            what, key, json_string_value(jd),
                            count < 0 ? -1LL : (long long)((uint64_t)count * jn_dtype_size(dt)),
                            (unsigned long long)(e - b));
            goto done;
        }
        ranges[n_ranges++] = (range){b, e, key};
        jn_tensor *t =
            jn_tensor_wrap(key, dt, ndim, shape, buf, (void *)(uintptr_t)(body + b), (size_t)(e - b), err);
        if (!t) {
            rc = err->code ? err->code : JN_ENOMEM;
            goto done;
        }
        rc = jn_tensor_list_push(out, t);
        if (rc) {
            rc = jn_err_set(err, rc, "safetensors '%s': out of memory", what);
            goto done;
        }
    }

    /* Byte ranges must not overlap (empty tensors occupy nothing). */
    if (n_ranges > 1)
        qsort(ranges, n_ranges, sizeof *ranges, range_cmp);
    for (size_t i = 1; i < n_ranges; i++) {
        if (ranges[i].begin < ranges[i - 1].end && ranges[i].end > ranges[i].begin) {
            rc = jn_err_set(err, JN_EINVAL, "safetensors '%s': tensors '%s' and '%s' overlap", what,
                            ranges[i - 1].name, ranges[i].name);
            goto done;
        }
    }

done:
    if (rc) {
        while (out->count > first)
            jn_tensor_free(out->items[--out->count]);
        if (metadata) {
            free(*metadata);
            *metadata = NULL;
        }
    }
    free(ranges);
    json_decref(root);
    return rc;
}

int jn_safetensors_parse(const uint8_t *data, size_t len, const char *what, jn_tensor_list *out, char **metadata,
                         jn_err *err)
{
    jn_buffer *buf = jn_buffer_alloc(len ? len : 1);
    if (!buf)
        return jn_err_set(err, JN_ENOMEM, "safetensors '%s': out of memory", what);
    if (len)
        memcpy(buf->data, data, len);
    int rc = parse_into(buf, buf->data, len, what, out, metadata, err);
    jn_buffer_unref(buf);
    return rc;
}

int jn_safetensors_read(const char *path, jn_tensor_list *out, char **metadata, jn_err *err)
{
    if (metadata)
        *metadata = NULL;
    FILE *f = fopen(path, "rb");
    if (!f)
        return jn_err_set(err, errno == ENOENT ? JN_ENOTFOUND : JN_EIO, "safetensors '%s': %s", path,
                          strerror(errno));
    if (fseek(f, 0, SEEK_END) != 0) {
        fclose(f);
        return jn_err_set(err, JN_EIO, "safetensors '%s': cannot seek", path);
    }
    long size = ftell(f);
    rewind(f);
    if (size < 0) {
        fclose(f);
        return jn_err_set(err, JN_EIO, "safetensors '%s': cannot tell its size", path);
    }
    jn_buffer *buf = jn_buffer_alloc(size ? (size_t)size : 1);
    if (!buf) {
        fclose(f);
        return jn_err_set(err, JN_ENOMEM, "safetensors '%s': out of memory (%ld bytes)", path, size);
    }
    size_t got = fread(buf->data, 1, (size_t)size, f);
    fclose(f);
    if (got != (size_t)size) {
        jn_buffer_unref(buf);
        return jn_err_set(err, JN_EIO, "safetensors '%s': short read", path);
    }
    int rc = parse_into(buf, buf->data, (size_t)size, path, out, metadata, err);
    jn_buffer_unref(buf);
    return rc;
}

int jn_safetensors_write(const char *path, const jn_tensor_list *tensors, const char *metadata, jn_err *err)
{
    json_t *root = json_object();
    if (!root)
        return jn_err_set(err, JN_ENOMEM, "safetensors '%s': out of memory", path);
    int rc = 0;
    char *header = NULL;
    char *tmp = NULL;
    FILE *f = NULL;
    if (metadata) {
        json_error_t jerr;
        json_t *m = json_loads(metadata, 0, &jerr);
        if (!json_is_object(m)) {
            json_decref(m);
            rc = jn_err_set(err, JN_EINVAL, "safetensors '%s': metadata is not a JSON object", path);
            goto done;
        }
        const char *mk;
        json_t *mv;
        json_object_foreach(m, mk, mv)
        {
            if (!json_is_string(mv)) {
                /* mk points into m: format the message before m goes */
                rc = jn_err_set(err, JN_EINVAL, "safetensors '%s': metadata value '%s' is not a string", path, mk);
                json_decref(m);
                goto done;
            }
        }
        json_object_set_new(root, "__metadata__", m);
    }
    uint64_t off = 0;
    for (size_t i = 0; i < tensors->count; i++) {
        const jn_tensor *t = tensors->items[i];
        const char *dn = st_dtype_name(t->dtype);
        if (!dn) {
            rc = jn_err_set(err, JN_EINVAL, "safetensors '%s': tensor '%s': dtype %s has no safetensors name", path,
                            t->name, jn_dtype_name(t->dtype));
            goto done;
        }
        if (strcmp(t->name, "__metadata__") == 0 || json_object_get(root, t->name)) {
            rc = jn_err_set(err, JN_EINVAL, "safetensors '%s': tensor name '%s' is reserved or repeated", path,
                            t->name);
            goto done;
        }
        json_t *shape = json_array();
        for (int d = 0; d < t->ndim; d++)
            json_array_append_new(shape, json_integer(t->shape[d]));
        json_t *entry = json_pack("{s:s, s:o, s:[I,I]}", "dtype", dn, "shape", shape, "data_offsets",
                                  (json_int_t)off, (json_int_t)(off + t->byte_size));
        if (!entry || json_object_set_new(root, t->name, entry) != 0) {
            rc = jn_err_set(err, JN_ENOMEM, "safetensors '%s': out of memory", path);
            goto done;
        }
        off += t->byte_size;
    }
    header = json_dumps(root, JSON_COMPACT | JSON_PRESERVE_ORDER);
    if (!header) {
        rc = jn_err_set(err, JN_ENOMEM, "safetensors '%s': out of memory", path);
        goto done;
    }
    /* Pad the header with spaces so the data starts 8-byte aligned (as the reference writer does). */
    size_t hlen = strlen(header), padded = (hlen + 7) & ~(size_t)7;
    size_t plen = strlen(path) + 16;
    tmp = malloc(plen);
    if (!tmp) {
        rc = jn_err_set(err, JN_ENOMEM, "safetensors '%s': out of memory", path);
        goto done;
    }
    snprintf(tmp, plen, "%s.tmp%d", path, (int)getpid());
    f = fopen(tmp, "wb");
    if (!f) {
        rc = jn_err_set(err, JN_EIO, "safetensors '%s': cannot create '%s': %s", path, tmp, strerror(errno));
        goto done;
    }
    uint8_t lenb[8];
    for (int i = 0; i < 8; i++)
        lenb[i] = (uint8_t)((uint64_t)padded >> (8 * i));
    int ok = fwrite(lenb, 1, 8, f) == 8 && fwrite(header, 1, hlen, f) == hlen;
    for (size_t i = hlen; ok && i < padded; i++)
        ok = fputc(' ', f) != EOF;
    for (size_t i = 0; ok && i < tensors->count; i++) {
        const jn_tensor *t = tensors->items[i];
        ok = t->byte_size == 0 || fwrite(t->data, 1, t->byte_size, f) == t->byte_size;
    }
    if (fclose(f) != 0)
        ok = 0;
    f = NULL;
    if (!ok) {
        unlink(tmp);
        rc = jn_err_set(err, JN_EIO, "safetensors '%s': write failed: %s", path, strerror(errno));
        goto done;
    }
    if (rename(tmp, path) != 0) {
        unlink(tmp);
        rc = jn_err_set(err, JN_EIO, "safetensors '%s': rename failed: %s", path, strerror(errno));
        goto done;
    }
done:
    if (f) {
        fclose(f);
        unlink(tmp);
    }
    free(tmp);
    free(header);
    json_decref(root);
    return rc;
}
