/* tensor.h — datatypes, refcounted buffers and tensors: the currency every engine and front end trades in.
 *
 * Ownership:
 * - jn_buffer is refcounted. jn_buffer_alloc / jn_buffer_wrap return a buffer holding one reference; every
 *   jn_buffer_ref must be paired with a jn_buffer_unref; the last unref releases the memory (free for
 *   jn_buffer_alloc, the caller's release callback for jn_buffer_wrap, e.g. "free the decoded request message").
 * - jn_tensor is a small owned struct (name, dtype, shape) that holds one reference on its buffer. It is never
 *   copied by value (its name may point into itself). Creating a
 *   tensor that shares another's bytes (jn_tensor_share) copies no payload: that is how in-process hops are free.
 * - jn_tensor_list owns the tensors pushed into it and frees them in jn_tensor_list_clear.
 * - Engines borrow their inputs (never free or modify them) and return outputs that the caller owns.
 *
 * BYTES tensors use the Open Inference Protocol's raw layout for their payload: for each element a 4-byte
 * little-endian length followed by that many bytes. That is the wire layout of v2 raw_input_contents, so raw BYTES
 * requests are taken as they are.
 *
 * Thread-safety: refcounts are atomic; a tensor may be read from several threads, never written once shared.
 */
#ifndef JN_TENSOR_H
#define JN_TENSOR_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"

#define JN_MAX_DIMS 8

/* Values match junction.v1.DataType. */
typedef enum jn_dtype {
    JN_DTYPE_INVALID = 0,
    JN_DTYPE_BOOL,
    JN_DTYPE_UINT8,
    JN_DTYPE_UINT16,
    JN_DTYPE_UINT32,
    JN_DTYPE_UINT64,
    JN_DTYPE_INT8,
    JN_DTYPE_INT16,
    JN_DTYPE_INT32,
    JN_DTYPE_INT64,
    JN_DTYPE_FP16,
    JN_DTYPE_FP32,
    JN_DTYPE_FP64,
    JN_DTYPE_BF16,
    JN_DTYPE_BYTES,
    JN_DTYPE_COUNT
} jn_dtype;

/* Bytes per element; 0 for BYTES (variable) and INVALID. */
size_t jn_dtype_size(jn_dtype dtype);
/* The v2 name ("FP32"); "INVALID" for out-of-range values. Returns a static string. */
const char *jn_dtype_name(jn_dtype dtype);
/* Parses a v2 name (exact, upper case); JN_DTYPE_INVALID when unknown. */
jn_dtype jn_dtype_from_name(const char *name);

typedef void (*jn_buffer_release_fn)(void *opaque);

typedef struct jn_buffer {
    atomic_int refs;
    void *data;
    size_t size;
    jn_buffer_release_fn release; /* NULL: data is inline in the same allocation */
    void *opaque;
} jn_buffer;

/* A zero-filled buffer of `size` bytes (64-byte aligned data). NULL on out of memory. */
jn_buffer *jn_buffer_alloc(size_t size);
/* Wraps memory owned elsewhere; `release(opaque)` runs when the last reference goes. NULL on out of memory
 * (release is then NOT called: the caller still owns the memory). */
jn_buffer *jn_buffer_wrap(void *data, size_t size, jn_buffer_release_fn release, void *opaque);
jn_buffer *jn_buffer_ref(jn_buffer *buf);
void jn_buffer_unref(jn_buffer *buf);

#define JN_TENSOR_INLINE_NAME 32

typedef struct jn_tensor {
    char *name; /* owned: points to name_inline for short names (one allocation less per pipeline hop) */
    char name_inline[JN_TENSOR_INLINE_NAME];
    jn_dtype dtype;
    int ndim;
    int64_t shape[JN_MAX_DIMS];
    jn_buffer *buffer; /* one reference held */
    void *data;        /* points into buffer */
    size_t byte_size;
} jn_tensor;

/* Product of the dims, or -1 if a dim is negative or the product overflows. 1 for a scalar (ndim 0). */
int64_t jn_shape_element_count(int ndim, const int64_t *shape);

/* The most elements a tensor made by shape may have (2^28: 1 GiB of FP32): larger ones are refused with
 * JN_ERESOURCE instead of being allocated (issue #9, "max tensor elements"). Tensors that arrive in a request are
 * bounded by the message size they come in; this bounds the ones engines make (an ONNX ConstantOfShape or Expand fed
 * a huge shape, say). */
#define JN_MAX_TENSOR_ELEMENTS ((int64_t)1 << 28)

/* A new numeric tensor with a fresh zeroed buffer of element_count * dtype size bytes. BYTES tensors are made
 * with jn_tensor_wrap (their size depends on their strings) or jn_tensor_from_strings. */
jn_tensor *jn_tensor_create(const char *name, jn_dtype dtype, int ndim, const int64_t *shape, jn_err *err);

/* A tensor over `byte_size` bytes at `data` inside `buffer`; takes a NEW reference on buffer (the caller keeps
 * its own). No validation of byte_size against the shape: that is jn_tensor_check_size's job. */
jn_tensor *jn_tensor_wrap(const char *name, jn_dtype dtype, int ndim, const int64_t *shape, jn_buffer *buffer,
                          void *data, size_t byte_size, jn_err *err);

/* A tensor that shares src's bytes (zero-copy) under another name (NULL keeps src's name). */
jn_tensor *jn_tensor_share(const jn_tensor *src, const char *name, jn_err *err);

/* A BYTES tensor of `count` elements, copied from strs/lens into the v2 raw layout. */
jn_tensor *jn_tensor_from_strings(const char *name, int ndim, const int64_t *shape, const char *const *strs,
                                  const size_t *lens, size_t count, jn_err *err);

void jn_tensor_free(jn_tensor *t);

/* Number of elements of t per its shape (-1 on overflow / negative dims). */
int64_t jn_tensor_element_count(const jn_tensor *t);

/* Checks that the payload matches shape x dtype (BYTES: the elements parse and their count matches).
 * `what` names the tensor in the message, e.g. "model 'identity': input 'input'". */
int jn_tensor_check_size(const jn_tensor *t, const char *what, jn_err *err);

/* BYTES payload walking: counts elements; returns -1 if the layout is malformed (truncated length or element). */
int64_t jn_bytes_count(const void *data, size_t size);
/* Iterates: *pos starts at 0; returns true and sets elem/len for each element, false at the end or on a
 * malformed layout. */
bool jn_bytes_next(const void *data, size_t size, size_t *pos, const uint8_t **elem, uint32_t *len);

/* Formats "FP32[2,-1]" into buf (always NUL-terminated). Returns buf. */
char *jn_format_type(char *buf, size_t n, jn_dtype dtype, int ndim, const int64_t *shape);

/* A growable list that owns its tensors. Its slot array is malloc'd, or borrowed from the caller
 * (jn_tensor_list_init_on: no allocation until it outgrows the borrowed slots, then it moves to a malloc'd array). */
typedef struct jn_tensor_list {
    jn_tensor **items;
    size_t count;
    size_t cap;
    bool borrowed; /* items is the caller's storage: never freed or realloc'd here */
} jn_tensor_list;

void jn_tensor_list_init(jn_tensor_list *list);
/* An empty list over the caller's `cap` slots, which must outlive every use of the list and of any copy of it. */
void jn_tensor_list_init_on(jn_tensor_list *list, jn_tensor **slots, size_t cap);
/* Takes ownership of t (also on failure: t is freed then). */
int jn_tensor_list_push(jn_tensor_list *list, jn_tensor *t);
/* Borrowed pointer, or NULL. */
jn_tensor *jn_tensor_list_find(const jn_tensor_list *list, const char *name);
/* Removes and returns the tensor (ownership to the caller), or NULL. */
jn_tensor *jn_tensor_list_take(jn_tensor_list *list, const char *name);
/* Frees every tensor; the list is empty and reusable afterwards (borrowed slots stay in use). */
void jn_tensor_list_clear(jn_tensor_list *list);

#endif
