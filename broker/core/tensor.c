#include "tensor.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct {
    const char *name;
    size_t size;
} dtype_info[] = {
    [JN_DTYPE_INVALID] = {"INVALID", 0}, [JN_DTYPE_BOOL] = {"BOOL", 1},   [JN_DTYPE_UINT8] = {"UINT8", 1},
    [JN_DTYPE_UINT16] = {"UINT16", 2},   [JN_DTYPE_UINT32] = {"UINT32", 4}, [JN_DTYPE_UINT64] = {"UINT64", 8},
    [JN_DTYPE_INT8] = {"INT8", 1},       [JN_DTYPE_INT16] = {"INT16", 2}, [JN_DTYPE_INT32] = {"INT32", 4},
    [JN_DTYPE_INT64] = {"INT64", 8},     [JN_DTYPE_FP16] = {"FP16", 2},   [JN_DTYPE_FP32] = {"FP32", 4},
    [JN_DTYPE_FP64] = {"FP64", 8},       [JN_DTYPE_BF16] = {"BF16", 2},   [JN_DTYPE_BYTES] = {"BYTES", 0},
};
_Static_assert(sizeof dtype_info / sizeof dtype_info[0] == JN_DTYPE_COUNT, "dtype_info must cover jn_dtype");

size_t jn_dtype_size(jn_dtype dtype)
{
    return (unsigned)dtype < JN_DTYPE_COUNT ? dtype_info[dtype].size : 0;
}

const char *jn_dtype_name(jn_dtype dtype)
{
    return (unsigned)dtype < JN_DTYPE_COUNT ? dtype_info[dtype].name : "INVALID";
}

jn_dtype jn_dtype_from_name(const char *name)
{
    if (!name)
        return JN_DTYPE_INVALID;
    for (int i = 1; i < JN_DTYPE_COUNT; i++)
        if (strcmp(name, dtype_info[i].name) == 0)
            return (jn_dtype)i;
    return JN_DTYPE_INVALID;
}

/* Inline buffers: header, padding to 64 bytes, data. */
#define JN_BUFFER_ALIGN 64

jn_buffer *jn_buffer_alloc(size_t size)
{
    size_t header = (sizeof(jn_buffer) + JN_BUFFER_ALIGN - 1) / JN_BUFFER_ALIGN * JN_BUFFER_ALIGN;
    if (size > SIZE_MAX - header)
        return NULL;
    size_t total = (header + size + JN_BUFFER_ALIGN - 1) / JN_BUFFER_ALIGN * JN_BUFFER_ALIGN;
    jn_buffer *b = aligned_alloc(JN_BUFFER_ALIGN, total);
    if (!b)
        return NULL;
    memset(b, 0, total);
    atomic_init(&b->refs, 1);
    b->data = (char *)b + header;
    b->size = size;
    b->release = NULL;
    b->opaque = NULL;
    return b;
}

jn_buffer *jn_buffer_wrap(void *data, size_t size, jn_buffer_release_fn release, void *opaque)
{
    jn_buffer *b = malloc(sizeof *b);
    if (!b)
        return NULL;
    atomic_init(&b->refs, 1);
    b->data = data;
    b->size = size;
    b->release = release;
    b->opaque = opaque;
    return b;
}

jn_buffer *jn_buffer_ref(jn_buffer *buf)
{
    if (buf)
        atomic_fetch_add_explicit(&buf->refs, 1, memory_order_relaxed);
    return buf;
}

void jn_buffer_unref(jn_buffer *buf)
{
    if (!buf)
        return;
    if (atomic_fetch_sub_explicit(&buf->refs, 1, memory_order_acq_rel) != 1)
        return;
    if (buf->release)
        buf->release(buf->opaque);
    free(buf);
}

int64_t jn_shape_element_count(int ndim, const int64_t *shape)
{
    /* A zero dimension makes the product 0 however large the others are, so look for negatives and zeros
     * before multiplying: [2^40, 2^40, 0] is an empty tensor, not an overflow. */
    bool empty = false;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 0)
            return -1;
        empty |= shape[i] == 0;
    }
    if (empty)
        return 0;
    int64_t n = 1;
    for (int i = 0; i < ndim; i++) {
        if (n > INT64_MAX / shape[i])
            return -1;
        n *= shape[i];
    }
    return n;
}

int64_t jn_tensor_element_count(const jn_tensor *t)
{
    return jn_shape_element_count(t->ndim, t->shape);
}

/* ---- recycled tensor structs ----
 * A pipeline hop makes and frees two tensor structs (its input under the engine's port name, its output); a long
 * chain frees more of them at once than malloc's own per-thread cache keeps, and the rest take malloc's slow path.
 * So each thread keeps up to TENSOR_CACHE_MAX freed structs for its next tensors, and releases them when it ends.
 * Sanitizer builds do without, so that a use after free of a tensor is still caught. */
#if defined(__SANITIZE_ADDRESS__)
#define JN_TENSOR_CACHE 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(memory_sanitizer)
#define JN_TENSOR_CACHE 0
#endif
#endif
#ifndef JN_TENSOR_CACHE
#define JN_TENSOR_CACHE 1
#endif

#if JN_TENSOR_CACHE
enum { TENSOR_CACHE_MAX = 64 };

typedef struct tensor_cache {
    jn_tensor *spare[TENSOR_CACHE_MAX];
    int n;
    bool registered; /* the thread-exit destructor knows this thread's cache */
} tensor_cache;

static _Thread_local tensor_cache tls_tensors;
static pthread_key_t tensor_cache_key;
static pthread_once_t tensor_cache_once = PTHREAD_ONCE_INIT;

static void tensor_cache_release(void *cache)
{
    tensor_cache *c = cache;
    while (c->n > 0)
        free(c->spare[--c->n]);
}

static void tensor_cache_key_create(void)
{
    if (pthread_key_create(&tensor_cache_key, tensor_cache_release) != 0)
        tensor_cache_key = (pthread_key_t)-1;
}

static jn_tensor *tensor_struct_alloc(void)
{
    tensor_cache *c = &tls_tensors;
    return c->n > 0 ? c->spare[--c->n] : malloc(sizeof(jn_tensor));
}

static void tensor_struct_free(jn_tensor *t)
{
    tensor_cache *c = &tls_tensors;
    if (!c->registered) { /* the first free on this thread: have its cache released when the thread ends */
        pthread_once(&tensor_cache_once, tensor_cache_key_create);
        c->registered = true;
        if (tensor_cache_key == (pthread_key_t)-1 || pthread_setspecific(tensor_cache_key, c) != 0)
            c->n = TENSOR_CACHE_MAX; /* no destructor: never cache on this thread */
    }
    if (c->n < TENSOR_CACHE_MAX)
        c->spare[c->n++] = t;
    else
        free(t);
}
#else
static jn_tensor *tensor_struct_alloc(void)
{
    return malloc(sizeof(jn_tensor));
}

static void tensor_struct_free(jn_tensor *t)
{
    free(t);
}
#endif

static jn_tensor *tensor_new(const char *name, jn_dtype dtype, int ndim, const int64_t *shape, jn_err *err)
{
    if (ndim < 0 || ndim > JN_MAX_DIMS) {
        jn_err_set(err, JN_EINVAL, "tensor '%s': rank %d is outside 0..%d", name ? name : "", ndim, JN_MAX_DIMS);
        return NULL;
    }
    jn_tensor *t = tensor_struct_alloc();
    if (t) {
        t->buffer = NULL;
        t->data = NULL;
        t->byte_size = 0;
        size_t len = strlen(name ? name : "");
        if (len < sizeof t->name_inline) {
            memcpy(t->name_inline, name ? name : "", len + 1);
            t->name = t->name_inline;
        } else {
            t->name = strdup(name);
        }
    }
    if (!t || !t->name) {
        if (t)
            tensor_struct_free(t);
        jn_err_set(err, JN_ENOMEM, "out of memory creating tensor");
        return NULL;
    }
    t->dtype = dtype;
    t->ndim = ndim;
    if (ndim)
        memcpy(t->shape, shape, (size_t)ndim * sizeof *shape);
    memset(t->shape + ndim, 0, (size_t)(JN_MAX_DIMS - ndim) * sizeof *shape);
    return t;
}

jn_tensor *jn_tensor_create(const char *name, jn_dtype dtype, int ndim, const int64_t *shape, jn_err *err)
{
    size_t esize = jn_dtype_size(dtype);
    if (esize == 0) {
        jn_err_set(err, JN_EINVAL, "tensor '%s': cannot allocate a %s tensor by shape", name ? name : "",
                   jn_dtype_name(dtype));
        return NULL;
    }
    int64_t n = jn_shape_element_count(ndim, shape);
    if (n < 0 || (uint64_t)n > SIZE_MAX / esize) {
        jn_err_set(err, JN_EINVAL, "tensor '%s': shape is negative or too large", name ? name : "");
        return NULL;
    }
    if (n > JN_MAX_TENSOR_ELEMENTS) {
        jn_err_set(err, JN_ERESOURCE, "tensor '%s': %lld elements; at most %lld", name ? name : "", (long long)n,
                   (long long)JN_MAX_TENSOR_ELEMENTS);
        return NULL;
    }
    jn_tensor *t = tensor_new(name, dtype, ndim, shape, err);
    if (!t)
        return NULL;
    t->byte_size = (size_t)n * esize;
    t->buffer = jn_buffer_alloc(t->byte_size);
    if (!t->buffer) {
        jn_tensor_free(t);
        jn_err_set(err, JN_ENOMEM, "out of memory allocating %zu bytes", (size_t)n * esize);
        return NULL;
    }
    t->data = t->buffer->data;
    return t;
}

jn_tensor *jn_tensor_wrap(const char *name, jn_dtype dtype, int ndim, const int64_t *shape, jn_buffer *buffer,
                          void *data, size_t byte_size, jn_err *err)
{
    jn_tensor *t = tensor_new(name, dtype, ndim, shape, err);
    if (!t)
        return NULL;
    t->buffer = jn_buffer_ref(buffer);
    t->data = data;
    t->byte_size = byte_size;
    return t;
}

jn_tensor *jn_tensor_share(const jn_tensor *src, const char *name, jn_err *err)
{
    return jn_tensor_wrap(name ? name : src->name, src->dtype, src->ndim, src->shape, src->buffer, src->data,
                          src->byte_size, err);
}

jn_tensor *jn_tensor_from_strings(const char *name, int ndim, const int64_t *shape, const char *const *strs,
                                  const size_t *lens, size_t count, jn_err *err)
{
    size_t total = 0;
    for (size_t i = 0; i < count; i++) {
        if (lens[i] > UINT32_MAX || total > SIZE_MAX - 4 - lens[i]) {
            jn_err_set(err, JN_EINVAL, "tensor '%s': element %zu is too large", name ? name : "", i);
            return NULL;
        }
        total += 4 + lens[i];
    }
    jn_tensor *t = tensor_new(name, JN_DTYPE_BYTES, ndim, shape, err);
    if (!t)
        return NULL;
    t->buffer = jn_buffer_alloc(total);
    if (!t->buffer) {
        jn_tensor_free(t);
        jn_err_set(err, JN_ENOMEM, "out of memory");
        return NULL;
    }
    uint8_t *p = t->buffer->data;
    for (size_t i = 0; i < count; i++) {
        uint32_t len = (uint32_t)lens[i];
        p[0] = (uint8_t)len;
        p[1] = (uint8_t)(len >> 8);
        p[2] = (uint8_t)(len >> 16);
        p[3] = (uint8_t)(len >> 24);
        if (len)
            memcpy(p + 4, strs[i], len);
        p += 4 + len;
    }
    t->data = t->buffer->data;
    t->byte_size = total;
    return t;
}

void jn_tensor_free(jn_tensor *t)
{
    if (!t)
        return;
    jn_buffer_unref(t->buffer);
    if (t->name != t->name_inline)
        free(t->name);
    tensor_struct_free(t);
}

bool jn_bytes_next(const void *data, size_t size, size_t *pos, const uint8_t **elem, uint32_t *len)
{
    const uint8_t *p = data;
    if (*pos + 4 > size || *pos + 4 < *pos)
        return false;
    uint32_t n = (uint32_t)p[*pos] | (uint32_t)p[*pos + 1] << 8 | (uint32_t)p[*pos + 2] << 16 |
                 (uint32_t)p[*pos + 3] << 24;
    if (n > size - *pos - 4)
        return false;
    *elem = p + *pos + 4;
    *len = n;
    *pos += 4 + (size_t)n;
    return true;
}

int64_t jn_bytes_count(const void *data, size_t size)
{
    size_t pos = 0;
    int64_t count = 0;
    const uint8_t *elem;
    uint32_t len;
    while (pos < size) {
        if (!jn_bytes_next(data, size, &pos, &elem, &len))
            return -1;
        count++;
    }
    return count;
}

int jn_tensor_check_size(const jn_tensor *t, const char *what, jn_err *err)
{
    char type[160];
    int64_t n = jn_tensor_element_count(t);
    if (n < 0)
        return jn_err_set(err, JN_EINVAL, "%s: shape %s has a negative dimension or is too large", what,
                          jn_format_type(type, sizeof type, t->dtype, t->ndim, t->shape));
    if (t->dtype == JN_DTYPE_BYTES) {
        int64_t got = jn_bytes_count(t->data, t->byte_size);
        if (got < 0)
            return jn_err_set(err, JN_EINVAL,
                              "%s: BYTES data is malformed (each element needs a 4-byte little-endian length "
                              "followed by that many bytes)",
                              what);
        if (got != n)
            return jn_err_set(err, JN_EINVAL, "%s: has %lld BYTES elements, shape %s needs %lld", what,
                              (long long)got, jn_format_type(type, sizeof type, t->dtype, t->ndim, t->shape),
                              (long long)n);
        return 0;
    }
    size_t esize = jn_dtype_size(t->dtype);
    if (esize == 0)
        return jn_err_set(err, JN_EINVAL, "%s: invalid datatype", what);
    if ((uint64_t)n > SIZE_MAX / esize || t->byte_size != (size_t)n * esize)
        return jn_err_set(err, JN_EINVAL, "%s: has %zu bytes of data, %s needs %llu", what, t->byte_size,
                          jn_format_type(type, sizeof type, t->dtype, t->ndim, t->shape),
                          (unsigned long long)n * esize);
    return 0;
}

char *jn_format_type(char *buf, size_t n, jn_dtype dtype, int ndim, const int64_t *shape)
{
    size_t used = (size_t)snprintf(buf, n, "%s[", jn_dtype_name(dtype));
    for (int i = 0; i < ndim && used < n; i++)
        used += (size_t)snprintf(buf + used, n - used, i ? ",%lld" : "%lld", (long long)shape[i]);
    if (used < n)
        snprintf(buf + used, n - used, "]");
    return buf;
}

void jn_tensor_list_init(jn_tensor_list *list)
{
    list->items = NULL;
    list->count = 0;
    list->cap = 0;
    list->borrowed = false;
}

void jn_tensor_list_init_on(jn_tensor_list *list, jn_tensor **slots, size_t cap)
{
    list->items = slots;
    list->count = 0;
    list->cap = cap;
    list->borrowed = true;
}

int jn_tensor_list_push(jn_tensor_list *list, jn_tensor *t)
{
    if (list->count == list->cap) {
        size_t cap = list->cap ? list->cap * 2 : 4;
        jn_tensor **items = list->borrowed ? malloc(cap * sizeof *items) : realloc(list->items, cap * sizeof *items);
        if (!items) {
            jn_tensor_free(t);
            return JN_ENOMEM;
        }
        if (list->borrowed && list->count)
            memcpy(items, list->items, list->count * sizeof *items);
        list->items = items;
        list->cap = cap;
        list->borrowed = false;
    }
    list->items[list->count++] = t;
    return 0;
}

jn_tensor *jn_tensor_list_find(const jn_tensor_list *list, const char *name)
{
    for (size_t i = 0; i < list->count; i++)
        if (strcmp(list->items[i]->name, name) == 0)
            return list->items[i];
    return NULL;
}

jn_tensor *jn_tensor_list_take(jn_tensor_list *list, const char *name)
{
    for (size_t i = 0; i < list->count; i++) {
        if (strcmp(list->items[i]->name, name) == 0) {
            jn_tensor *t = list->items[i];
            memmove(list->items + i, list->items + i + 1, (list->count - i - 1) * sizeof *list->items);
            list->count--;
            return t;
        }
    }
    return NULL;
}

void jn_tensor_list_clear(jn_tensor_list *list)
{
    for (size_t i = 0; i < list->count; i++)
        jn_tensor_free(list->items[i]);
    list->count = 0;
    if (!list->borrowed) {
        free(list->items);
        jn_tensor_list_init(list);
    }
}
