#include "wire.h"

#include <stdlib.h>

static int check_rank(const char *name, size_t n_shape, jn_err *err)
{
    if (n_shape > JN_MAX_DIMS)
        return jn_err_set(err, JN_EINVAL, "input '%s': rank %zu exceeds the maximum of %d", name, n_shape,
                          JN_MAX_DIMS);
    return 0;
}

int jn_wire_tensor_held(const char *name, jn_dtype dtype, size_t n_shape, const int64_t *shape, void *data,
                        size_t len, jn_pb_holder *holder, jn_tensor **out, jn_err *err)
{
    *out = NULL;
    int rc = check_rank(name, n_shape, err);
    if (rc)
        return rc;
    jn_buffer *buf = jn_pb_holder_buffer(holder, data, len);
    if (!buf)
        return jn_err_set(err, JN_ENOMEM, "out of memory");
    *out = jn_tensor_wrap(name, dtype, (int)n_shape, shape, buf, data, len, err);
    jn_buffer_unref(buf); /* the tensor holds its own reference */
    return *out ? 0 : err->code;
}

int jn_wire_tensor_strings(const char *name, size_t n_shape, const int64_t *shape, const ProtobufCBinaryData *strs,
                           size_t n, jn_tensor **out, jn_err *err)
{
    *out = NULL;
    int rc = check_rank(name, n_shape, err);
    if (rc)
        return rc;
    const char **ptrs = malloc((n ? n : 1) * sizeof *ptrs);
    size_t *lens = malloc((n ? n : 1) * sizeof *lens);
    if (!ptrs || !lens) {
        free(ptrs);
        free(lens);
        return jn_err_set(err, JN_ENOMEM, "out of memory");
    }
    for (size_t i = 0; i < n; i++) {
        ptrs[i] = (const char *)strs[i].data;
        lens[i] = strs[i].len;
    }
    *out = jn_tensor_from_strings(name, (int)n_shape, shape, ptrs, lens, n, err);
    free(ptrs);
    free(lens);
    return *out ? 0 : err->code;
}

ProtobufCBinaryData *jn_wire_strings_view(const jn_tensor *t, size_t *n, int *oom)
{
    *n = 0;
    *oom = 0;
    int64_t count = jn_bytes_count(t->data, t->byte_size);
    if (count <= 0)
        return NULL;
    ProtobufCBinaryData *v = malloc((size_t)count * sizeof *v);
    if (!v) {
        *oom = 1;
        return NULL;
    }
    size_t pos = 0;
    const uint8_t *elem;
    uint32_t len;
    while (*n < (size_t)count && jn_bytes_next(t->data, t->byte_size, &pos, &elem, &len)) {
        v[*n].data = (uint8_t *)elem;
        v[*n].len = len;
        (*n)++;
    }
    return v;
}
