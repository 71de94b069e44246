/* Unit tests for broker/core/tensor.c: dtypes, refcounted buffers, tensors, the BYTES layout, tensor lists. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tensor.h"
#include "test.h"

static void test_dtype_names_and_sizes(void)
{
    static const struct {
        jn_dtype dtype;
        const char *name;
        size_t size;
    } want[] = {
        {JN_DTYPE_BOOL, "BOOL", 1},     {JN_DTYPE_UINT8, "UINT8", 1},   {JN_DTYPE_UINT16, "UINT16", 2},
        {JN_DTYPE_UINT32, "UINT32", 4}, {JN_DTYPE_UINT64, "UINT64", 8}, {JN_DTYPE_INT8, "INT8", 1},
        {JN_DTYPE_INT16, "INT16", 2},   {JN_DTYPE_INT32, "INT32", 4},   {JN_DTYPE_INT64, "INT64", 8},
        {JN_DTYPE_FP16, "FP16", 2},     {JN_DTYPE_FP32, "FP32", 4},     {JN_DTYPE_FP64, "FP64", 8},
        {JN_DTYPE_BF16, "BF16", 2},     {JN_DTYPE_BYTES, "BYTES", 0},
    };
    _Static_assert(sizeof want / sizeof want[0] == JN_DTYPE_COUNT - 1, "test table must cover jn_dtype");
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        JN_CHECK_STR_EQ(jn_dtype_name(want[i].dtype), want[i].name);
        JN_CHECK_INT_EQ(jn_dtype_size(want[i].dtype), want[i].size);
        JN_CHECK_INT_EQ(jn_dtype_from_name(want[i].name), want[i].dtype);
    }
    /* Every value round-trips through its name. */
    for (int d = 1; d < JN_DTYPE_COUNT; d++)
        JN_CHECK_INT_EQ(jn_dtype_from_name(jn_dtype_name((jn_dtype)d)), d);

    JN_CHECK_STR_EQ(jn_dtype_name(JN_DTYPE_INVALID), "INVALID");
    JN_CHECK_STR_EQ(jn_dtype_name(JN_DTYPE_COUNT), "INVALID");
    JN_CHECK_STR_EQ(jn_dtype_name((jn_dtype)-1), "INVALID");
    JN_CHECK_INT_EQ(jn_dtype_size(JN_DTYPE_INVALID), 0);
    JN_CHECK_INT_EQ(jn_dtype_size((jn_dtype)99), 0);
    JN_CHECK_INT_EQ(jn_dtype_from_name("fp32"), JN_DTYPE_INVALID); /* exact, upper case */
    JN_CHECK_INT_EQ(jn_dtype_from_name("FP32 "), JN_DTYPE_INVALID);
    JN_CHECK_INT_EQ(jn_dtype_from_name(""), JN_DTYPE_INVALID);
    JN_CHECK_INT_EQ(jn_dtype_from_name("INVALID"), JN_DTYPE_INVALID);
    JN_CHECK_INT_EQ(jn_dtype_from_name(NULL), JN_DTYPE_INVALID);
}

static void test_shape_element_count(void)
{
    JN_CHECK_INT_EQ(jn_shape_element_count(0, NULL), 1); /* scalar */
    const int64_t s1[] = {7};
    JN_CHECK_INT_EQ(jn_shape_element_count(0, s1), 1);
    JN_CHECK_INT_EQ(jn_shape_element_count(1, s1), 7);
    const int64_t s234[] = {2, 3, 4};
    JN_CHECK_INT_EQ(jn_shape_element_count(3, s234), 24);
    const int64_t zero[] = {3, 0, 5};
    JN_CHECK_INT_EQ(jn_shape_element_count(3, zero), 0);
    const int64_t neg[] = {2, -1};
    JN_CHECK_INT_EQ(jn_shape_element_count(2, neg), -1);
    const int64_t neg_after_zero[] = {0, -1};
    JN_CHECK_INT_EQ(jn_shape_element_count(2, neg_after_zero), -1);
    const int64_t big_ok[] = {INT64_C(1) << 31, INT64_C(1) << 31};
    JN_CHECK_INT_EQ(jn_shape_element_count(2, big_ok), INT64_C(1) << 62);
    const int64_t max_ok[] = {INT64_MAX, 1};
    JN_CHECK_INT_EQ(jn_shape_element_count(2, max_ok), INT64_MAX);
    const int64_t overflow[] = {INT64_C(1) << 32, INT64_C(1) << 31}; /* 2^63 */
    JN_CHECK_INT_EQ(jn_shape_element_count(2, overflow), -1);
    const int64_t overflow2[] = {INT64_MAX, 2};
    JN_CHECK_INT_EQ(jn_shape_element_count(2, overflow2), -1);
    /* A zero dimension makes the product 0 whatever the other dimensions are: nothing overflows. */
    const int64_t zero_last[] = {INT64_C(1) << 40, INT64_C(1) << 40, 0};
    JN_CHECK_INT_EQ(jn_shape_element_count(3, zero_last), 0);
}

static void test_tensor_create(void)
{
    jn_err err;
    jn_err_clear(&err);
    const int64_t shape[] = {2, 3};
    jn_tensor *t = jn_tensor_create("x", JN_DTYPE_FP32, 2, shape, &err);
    JN_REQUIRE(t);
    JN_CHECK_STR_EQ(t->name, "x");
    JN_CHECK_INT_EQ(t->dtype, JN_DTYPE_FP32);
    JN_CHECK_INT_EQ(t->ndim, 2);
    JN_CHECK_INT_EQ(t->shape[0], 2);
    JN_CHECK_INT_EQ(t->shape[1], 3);
    JN_CHECK_INT_EQ(t->byte_size, 24);
    JN_CHECK_INT_EQ(t->buffer->size, 24);
    JN_CHECK_INT_EQ(atomic_load(&t->buffer->refs), 1);
    JN_CHECK_PTR_EQ(t->data, t->buffer->data);
    JN_CHECK_INT_EQ((uintptr_t)t->data % 64, 0);
    const unsigned char *p = t->data;
    size_t nonzero = 0;
    for (size_t i = 0; i < t->byte_size; i++)
        nonzero += p[i] != 0;
    JN_CHECK_INT_EQ(nonzero, 0);
    JN_CHECK_INT_EQ(jn_tensor_element_count(t), 6);
    jn_tensor_free(t);

    t = jn_tensor_create("s", JN_DTYPE_INT64, 0, NULL, &err); /* scalar */
    JN_REQUIRE(t);
    JN_CHECK_INT_EQ(t->byte_size, 8);
    jn_tensor_free(t);

    const int64_t empty[] = {0, 4};
    t = jn_tensor_create("e", JN_DTYPE_FP64, 2, empty, &err);
    JN_REQUIRE(t);
    JN_CHECK_INT_EQ(t->byte_size, 0);
    JN_CHECK(t->buffer != NULL);
    jn_tensor_free(t);

    const int64_t u16[] = {5};
    t = jn_tensor_create(NULL, JN_DTYPE_UINT16, 1, u16, &err);
    JN_REQUIRE(t);
    JN_CHECK_STR_EQ(t->name, "");
    JN_CHECK_INT_EQ(t->byte_size, 10);
    jn_tensor_free(t);

    /* The name is copied. */
    char name[] = "copied";
    t = jn_tensor_create(name, JN_DTYPE_BOOL, 1, u16, &err);
    JN_REQUIRE(t);
    name[0] = 'X';
    JN_CHECK_STR_EQ(t->name, "copied");
    jn_tensor_free(t);

    jn_err_clear(&err);
    JN_CHECK(!jn_tensor_create("b", JN_DTYPE_BYTES, 1, u16, &err));
    JN_CHECK_INT_EQ(err.code, JN_EINVAL);
    JN_CHECK_STR_CONTAINS(err.msg, "'b'");
    JN_CHECK_STR_CONTAINS(err.msg, "BYTES");

    jn_err_clear(&err);
    JN_CHECK(!jn_tensor_create("i", JN_DTYPE_INVALID, 1, u16, &err));
    JN_CHECK_INT_EQ(err.code, JN_EINVAL);

    jn_err_clear(&err);
    const int64_t neg[] = {-1, 2};
    JN_CHECK(!jn_tensor_create("n", JN_DTYPE_FP32, 2, neg, &err));
    JN_CHECK_INT_EQ(err.code, JN_EINVAL);
    JN_CHECK_STR_CONTAINS(err.msg, "'n'");

    jn_err_clear(&err);
    const int64_t too_big[] = {INT64_C(1) << 62}; /* elements fit int64, bytes do not fit size_t */
    JN_CHECK(!jn_tensor_create("big", JN_DTYPE_FP64, 1, too_big, &err));
    JN_CHECK_INT_EQ(err.code, JN_EINVAL);

    jn_err_clear(&err);
    const int64_t nine[9] = {1, 1, 1, 1, 1, 1, 1, 1, 1};
    JN_CHECK(!jn_tensor_create("r", JN_DTYPE_FP32, 9, nine, &err));
    JN_CHECK_INT_EQ(err.code, JN_EINVAL);
    JN_CHECK_STR_CONTAINS(err.msg, "rank 9");

    /* err may be NULL. */
    JN_CHECK(!jn_tensor_create("r", JN_DTYPE_FP32, -1, nine, NULL));
}

static void test_buffer_alloc(void)
{
    jn_buffer *b = jn_buffer_alloc(100);
    JN_REQUIRE(b);
    JN_CHECK_INT_EQ(b->size, 100);
    JN_CHECK_INT_EQ((uintptr_t)b->data % 64, 0);
    JN_CHECK(b->release == NULL);
    memset(b->data, 0xAB, 100); /* ASan: the whole size is writable */
    JN_CHECK_PTR_EQ(jn_buffer_ref(b), b);
    JN_CHECK_INT_EQ(atomic_load(&b->refs), 2);
    jn_buffer_unref(b);
    JN_CHECK_INT_EQ(atomic_load(&b->refs), 1);
    jn_buffer_unref(b);

    b = jn_buffer_alloc(0);
    JN_REQUIRE(b);
    JN_CHECK_INT_EQ(b->size, 0);
    jn_buffer_unref(b);

    JN_CHECK(!jn_buffer_alloc(SIZE_MAX));
    JN_CHECK(jn_buffer_ref(NULL) == NULL);
    jn_buffer_unref(NULL);
}

static void test_tensor_share_is_zero_copy(void)
{
    jn_err err;
    jn_err_clear(&err);
    const int64_t shape[] = {2, 2};
    jn_tensor *t = jn_tensor_create("src", JN_DTYPE_FP32, 2, shape, &err);
    JN_REQUIRE(t);
    float *f = t->data;
    for (int i = 0; i < 4; i++)
        f[i] = (float)i + 0.5f;

    jn_tensor *s = jn_tensor_share(t, "alias", &err);
    JN_REQUIRE(s);
    JN_CHECK_PTR_EQ(s->data, t->data);
    JN_CHECK_PTR_EQ(s->buffer, t->buffer);
    JN_CHECK_INT_EQ(s->byte_size, t->byte_size);
    JN_CHECK_INT_EQ(s->dtype, JN_DTYPE_FP32);
    JN_CHECK_INT_EQ(s->ndim, 2);
    JN_CHECK_INT_EQ(s->shape[1], 2);
    JN_CHECK_STR_EQ(s->name, "alias");
    JN_CHECK_STR_EQ(t->name, "src");
    JN_CHECK_INT_EQ(atomic_load(&t->buffer->refs), 2);

    jn_tensor *same = jn_tensor_share(t, NULL, &err); /* NULL keeps the name, as a copy */
    JN_REQUIRE(same);
    JN_CHECK_STR_EQ(same->name, "src");
    JN_CHECK(same->name != t->name);
    JN_CHECK_INT_EQ(atomic_load(&t->buffer->refs), 3);

    jn_buffer *buf = t->buffer;
    jn_tensor_free(same);
    JN_CHECK_INT_EQ(atomic_load(&buf->refs), 2);
    jn_tensor_free(t); /* the share outlives its source */
    JN_CHECK_INT_EQ(atomic_load(&buf->refs), 1);
    const float *g = s->data;
    JN_CHECK_DBL_EQ(g[3], 3.5);
    jn_tensor_free(s);
}

typedef struct release_probe {
    int calls;
    void *data;
} release_probe;

static void probe_release(void *opaque)
{
    release_probe *p = opaque;
    p->calls++;
    free(p->data);
    p->data = NULL;
}

static void test_buffer_wrap_release_once(void)
{
    jn_err err;
    jn_err_clear(&err);
    release_probe probe = {0, malloc(16)};
    JN_REQUIRE(probe.data);
    memset(probe.data, 0, 16);
    jn_buffer *b = jn_buffer_wrap(probe.data, 16, probe_release, &probe);
    JN_REQUIRE(b);
    JN_CHECK_PTR_EQ(b->data, probe.data);
    JN_CHECK_INT_EQ(b->size, 16);
    JN_CHECK_INT_EQ(atomic_load(&b->refs), 1);

    const int64_t shape[] = {4};
    jn_tensor *t1 = jn_tensor_wrap("a", JN_DTYPE_FP32, 1, shape, b, b->data, 16, &err);
    JN_REQUIRE(t1);
    const int64_t half[] = {2};
    jn_tensor *t2 = jn_tensor_wrap("b", JN_DTYPE_FP32, 1, half, b, (char *)b->data + 8, 8, &err);
    JN_REQUIRE(t2);
    JN_CHECK_INT_EQ(atomic_load(&b->refs), 3); /* wrap takes new references; ours is kept */
    JN_CHECK_PTR_EQ(t2->data, (char *)probe.data + 8);

    jn_buffer_unref(b); /* drop ours */
    JN_CHECK_INT_EQ(probe.calls, 0);
    jn_tensor_free(t1);
    JN_CHECK_INT_EQ(probe.calls, 0);
    jn_tensor_free(t2); /* last reference */
    JN_CHECK_INT_EQ(probe.calls, 1);
    JN_CHECK(probe.data == NULL);

    /* Memory owned elsewhere with no release callback: only the header goes. */
    static char fixed[8] = "static";
    b = jn_buffer_wrap(fixed, sizeof fixed, NULL, NULL);
    JN_REQUIRE(b);
    jn_buffer_unref(b);
    JN_CHECK_STR_EQ(fixed, "static");
}

static void test_bytes_from_strings(void)
{
    jn_err err;
    jn_err_clear(&err);
    const char *strs[] = {"hi", "", "h\xC3\xA9llo", "a\0b"};
    const size_t lens[] = {2, 0, 6, 3};
    const int64_t shape[] = {4};
    jn_tensor *t = jn_tensor_from_strings("s", 1, shape, strs, lens, 4, &err);
    JN_REQUIRE(t);
    JN_CHECK_INT_EQ(t->dtype, JN_DTYPE_BYTES);
    JN_CHECK_INT_EQ(t->byte_size, 4 * 4 + 2 + 0 + 6 + 3);
    const uint8_t *raw = t->data;
    const uint8_t head[] = {2, 0, 0, 0, 'h', 'i', 0, 0, 0, 0, 6, 0, 0, 0, 'h', 0xC3};
    JN_CHECK(memcmp(raw, head, sizeof head) == 0);
    JN_CHECK_INT_EQ(jn_bytes_count(t->data, t->byte_size), 4);

    size_t pos = 0;
    const uint8_t *elem = NULL;
    uint32_t len = 0;
    for (size_t i = 0; i < 4; i++) {
        JN_CHECK(jn_bytes_next(t->data, t->byte_size, &pos, &elem, &len));
        JN_CHECK_INT_EQ(len, lens[i]);
        JN_CHECK(memcmp(elem, strs[i], lens[i]) == 0);
    }
    JN_CHECK_INT_EQ(pos, t->byte_size);
    JN_CHECK(!jn_bytes_next(t->data, t->byte_size, &pos, &elem, &len));
    JN_CHECK_INT_EQ(jn_tensor_check_size(t, "t", &err), 0);
    jn_tensor_free(t);

    /* Lengths are little-endian 32-bit. */
    char *long_str = malloc(300);
    JN_REQUIRE(long_str);
    memset(long_str, 'z', 300);
    const char *one[] = {long_str};
    const size_t one_len[] = {300};
    t = jn_tensor_from_strings("l", 0, NULL, one, one_len, 1, &err);
    JN_REQUIRE(t);
    raw = t->data;
    JN_CHECK_INT_EQ(raw[0], 0x2C);
    JN_CHECK_INT_EQ(raw[1], 0x01);
    JN_CHECK_INT_EQ(raw[2], 0);
    JN_CHECK_INT_EQ(raw[3], 0);
    JN_CHECK_INT_EQ(jn_bytes_count(t->data, t->byte_size), 1);
    JN_CHECK_INT_EQ(jn_tensor_check_size(t, "scalar", &err), 0); /* a scalar holds one element */
    jn_tensor_free(t);
    free(long_str);

    const int64_t none[] = {0};
    t = jn_tensor_from_strings("empty", 1, none, NULL, NULL, 0, &err);
    JN_REQUIRE(t);
    JN_CHECK_INT_EQ(t->byte_size, 0);
    JN_CHECK_INT_EQ(jn_bytes_count(t->data, t->byte_size), 0);
    JN_CHECK_INT_EQ(jn_tensor_check_size(t, "empty", &err), 0);
    jn_tensor_free(t);
}

static void test_bytes_malformed(void)
{
    JN_CHECK_INT_EQ(jn_bytes_count(NULL, 0), 0);
    const uint8_t short_len[] = {1, 0};
    JN_CHECK_INT_EQ(jn_bytes_count(short_len, sizeof short_len), -1);
    const uint8_t short_elem[] = {5, 0, 0, 0, 'a', 'b'};
    JN_CHECK_INT_EQ(jn_bytes_count(short_elem, sizeof short_elem), -1);
    const uint8_t trailing[] = {1, 0, 0, 0, 'a', 0};
    JN_CHECK_INT_EQ(jn_bytes_count(trailing, sizeof trailing), -1);
    const uint8_t huge_len[] = {0xFF, 0xFF, 0xFF, 0xFF, 'a'};
    JN_CHECK_INT_EQ(jn_bytes_count(huge_len, sizeof huge_len), -1);
    const uint8_t two_empty[] = {0, 0, 0, 0, 0, 0, 0, 0};
    JN_CHECK_INT_EQ(jn_bytes_count(two_empty, sizeof two_empty), 2);

    /* jn_bytes_next stops at the malformed element and leaves the position alone. */
    const uint8_t good_then_bad[] = {1, 0, 0, 0, 'x', 9, 0, 0, 0, 'y'};
    size_t pos = 0;
    const uint8_t *elem;
    uint32_t len;
    JN_CHECK(jn_bytes_next(good_then_bad, sizeof good_then_bad, &pos, &elem, &len));
    JN_CHECK_INT_EQ(len, 1);
    JN_CHECK_INT_EQ(elem[0], 'x');
    JN_CHECK_INT_EQ(pos, 5);
    JN_CHECK(!jn_bytes_next(good_then_bad, sizeof good_then_bad, &pos, &elem, &len));
    JN_CHECK_INT_EQ(pos, 5);
    pos = sizeof good_then_bad + 3; /* past the end */
    JN_CHECK(!jn_bytes_next(good_then_bad, sizeof good_then_bad, &pos, &elem, &len));
}

static void test_check_size_messages(void)
{
    jn_err err;
    jn_buffer *b = jn_buffer_alloc(64);
    JN_REQUIRE(b);

    const int64_t s22[] = {2, 2};
    jn_tensor *t = jn_tensor_wrap("w", JN_DTYPE_FP32, 2, s22, b, b->data, 12, NULL);
    JN_REQUIRE(t);
    jn_err_clear(&err);
    JN_CHECK_ERR(jn_tensor_check_size(t, "model 'm': input 'w'", &err), err, JN_EINVAL);
    JN_CHECK_STR_CONTAINS(err.msg, "model 'm': input 'w'");
    JN_CHECK_STR_CONTAINS(err.msg, "12 bytes");
    JN_CHECK_STR_CONTAINS(err.msg, "FP32[2,2]");
    JN_CHECK_STR_CONTAINS(err.msg, "needs 16");
    t->byte_size = 16;
    jn_err_clear(&err);
    JN_CHECK_INT_EQ(jn_tensor_check_size(t, "w", &err), 0);
    JN_CHECK_INT_EQ(err.code, 0);
    jn_tensor_free(t);

    const int64_t neg[] = {-1};
    t = jn_tensor_wrap("n", JN_DTYPE_FP32, 1, neg, b, b->data, 4, NULL);
    JN_REQUIRE(t);
    JN_CHECK_ERR(jn_tensor_check_size(t, "what", &err), err, JN_EINVAL);
    JN_CHECK_STR_CONTAINS(err.msg, "what: shape FP32[-1]");
    JN_CHECK_STR_CONTAINS(err.msg, "negative");
    jn_tensor_free(t);

    const int64_t one[] = {1};
    t = jn_tensor_wrap("i", JN_DTYPE_INVALID, 1, one, b, b->data, 4, NULL);
    JN_REQUIRE(t);
    JN_CHECK_ERR(jn_tensor_check_size(t, "what", &err), err, JN_EINVAL);
    JN_CHECK_STR_CONTAINS(err.msg, "invalid datatype");
    jn_tensor_free(t);

    /* BYTES: three well-formed elements where the shape wants two. */
    const char *strs[] = {"a", "b", "c"};
    const size_t lens[] = {1, 1, 1};
    const int64_t two[] = {2};
    t = jn_tensor_from_strings("s", 1, two, strs, lens, 3, NULL);
    JN_REQUIRE(t);
    JN_CHECK_ERR(jn_tensor_check_size(t, "input 's'", &err), err, JN_EINVAL);
    JN_CHECK_STR_CONTAINS(err.msg, "input 's'");
    JN_CHECK_STR_CONTAINS(err.msg, "has 3 BYTES elements");
    JN_CHECK_STR_CONTAINS(err.msg, "BYTES[2]");
    JN_CHECK_STR_CONTAINS(err.msg, "needs 2");
    t->byte_size -= 1; /* truncate the last element */
    JN_CHECK_ERR(jn_tensor_check_size(t, "input 's'", &err), err, JN_EINVAL);
    JN_CHECK_STR_CONTAINS(err.msg, "input 's': BYTES data is malformed");
    jn_tensor_free(t);

    JN_CHECK_INT_EQ(atomic_load(&b->refs), 1);
    jn_buffer_unref(b);
}

static void test_tensor_list(void)
{
    jn_tensor_list list;
    jn_tensor_list_init(&list);
    JN_CHECK_INT_EQ(list.count, 0);
    JN_CHECK(jn_tensor_list_find(&list, "a") == NULL);
    JN_CHECK(jn_tensor_list_take(&list, "a") == NULL);

    const int64_t shape[] = {1};
    const char *names[] = {"a", "b", "c", "d", "e", "f"}; /* more than the first capacity */
    jn_tensor *made[6];
    for (int i = 0; i < 6; i++) {
        made[i] = jn_tensor_create(names[i], JN_DTYPE_INT32, 1, shape, NULL);
        JN_REQUIRE(made[i]);
        JN_CHECK_INT_EQ(jn_tensor_list_push(&list, made[i]), 0);
    }
    JN_CHECK_INT_EQ(list.count, 6);
    for (int i = 0; i < 6; i++)
        JN_CHECK_PTR_EQ(jn_tensor_list_find(&list, names[i]), made[i]);
    JN_CHECK(jn_tensor_list_find(&list, "zz") == NULL);

    jn_tensor *b = jn_tensor_list_take(&list, "b");
    JN_CHECK_PTR_EQ(b, made[1]);
    JN_CHECK_INT_EQ(list.count, 5);
    JN_CHECK(jn_tensor_list_find(&list, "b") == NULL);
    JN_CHECK(jn_tensor_list_take(&list, "b") == NULL);
    /* The others keep their order. */
    JN_CHECK_PTR_EQ(list.items[0], made[0]);
    JN_CHECK_PTR_EQ(list.items[1], made[2]);
    JN_CHECK_PTR_EQ(list.items[4], made[5]);
    jn_tensor_free(b); /* ours now */

    jn_tensor *last = jn_tensor_list_take(&list, "f");
    JN_CHECK_PTR_EQ(last, made[5]);
    JN_CHECK_INT_EQ(list.count, 4);
    jn_tensor_free(last);

    jn_tensor_list_clear(&list); /* frees a, c, d, e (ASan checks) */
    JN_CHECK_INT_EQ(list.count, 0);
    JN_CHECK(list.items == NULL);

    /* Reusable after clear. */
    JN_CHECK_INT_EQ(jn_tensor_list_push(&list, jn_tensor_create("again", JN_DTYPE_INT8, 1, shape, NULL)), 0);
    JN_CHECK_INT_EQ(list.count, 1);
    JN_REQUIRE(jn_tensor_list_find(&list, "again"));
    JN_CHECK_STR_EQ(jn_tensor_list_find(&list, "again")->name, "again");
    jn_tensor_list_clear(&list);
    jn_tensor_list_clear(&list); /* clearing an empty list is fine */
}

/* A list over borrowed slots allocates nothing until it outgrows them, then moves to its own array; clear keeps the
 * borrowed slots for the next use and never frees them (ASan would report a free of stack memory). */
static void test_tensor_list_on_borrowed_slots(void)
{
    jn_tensor *slots[2] = {NULL, NULL};
    jn_tensor_list list;
    jn_tensor_list_init_on(&list, slots, 2);
    const int64_t shape[] = {1};
    JN_CHECK_INT_EQ(jn_tensor_list_push(&list, jn_tensor_create("a", JN_DTYPE_INT32, 1, shape, NULL)), 0);
    JN_CHECK_INT_EQ(jn_tensor_list_push(&list, jn_tensor_create("b", JN_DTYPE_INT32, 1, shape, NULL)), 0);
    JN_CHECK_PTR_EQ(list.items, slots);
    JN_CHECK(slots[0] && strcmp(slots[0]->name, "a") == 0);

    jn_tensor_list_clear(&list);
    JN_CHECK_INT_EQ(list.count, 0);
    JN_CHECK_PTR_EQ(list.items, slots); /* still on the borrowed slots */

    const char *names[] = {"c", "d", "e"}; /* one more than the slots: moves to a malloc'd array */
    for (int i = 0; i < 3; i++)
        JN_CHECK_INT_EQ(jn_tensor_list_push(&list, jn_tensor_create(names[i], JN_DTYPE_INT32, 1, shape, NULL)), 0);
    JN_CHECK(list.items != slots);
    JN_CHECK_INT_EQ(list.count, 3);
    for (int i = 0; i < 3; i++) {
        JN_REQUIRE(jn_tensor_list_find(&list, names[i]));
        JN_CHECK_STR_EQ(list.items[i]->name, names[i]);
    }
    jn_tensor *d = jn_tensor_list_take(&list, "d");
    JN_REQUIRE(d);
    jn_tensor_free(d);
    jn_tensor_list_clear(&list); /* frees c, e and the malloc'd array */
    JN_CHECK(list.items == NULL);
}

/* Tensors made by shape are capped at JN_MAX_TENSOR_ELEMENTS: refused with JN_ERESOURCE, nothing allocated. */
static void test_tensor_element_limit(void)
{
    jn_err err;
    jn_err_clear(&err);
    const int64_t too_many[2] = {(int64_t)1 << 20, (int64_t)1 << 9}; /* 2^29 */
    JN_CHECK(jn_tensor_create("big", JN_DTYPE_UINT8, 2, too_many, &err) == NULL);
    JN_CHECK_INT_EQ(err.code, JN_ERESOURCE);
    JN_CHECK(strstr(err.msg, "big") != NULL && strstr(err.msg, "at most") != NULL);
    const int64_t ok[1] = {1024};
    jn_tensor *t = jn_tensor_create("fine", JN_DTYPE_UINT8, 1, ok, &err);
    JN_CHECK(t != NULL);
    jn_tensor_free(t);
}

static void test_format_type(void)
{
    char buf[160];
    const int64_t s[] = {2, -1};
    JN_CHECK_STR_EQ(jn_format_type(buf, sizeof buf, JN_DTYPE_FP32, 2, s), "FP32[2,-1]");
    JN_CHECK_STR_EQ(jn_format_type(buf, sizeof buf, JN_DTYPE_INT64, 0, NULL), "INT64[]");
    const int64_t b3[] = {3};
    JN_CHECK_STR_EQ(jn_format_type(buf, sizeof buf, JN_DTYPE_BYTES, 1, b3), "BYTES[3]");
    JN_CHECK_STR_EQ(jn_format_type(buf, sizeof buf, (jn_dtype)77, 1, b3), "INVALID[3]");
    const int64_t max8[8] = {INT64_MAX, INT64_MIN, INT64_MAX, INT64_MIN, INT64_MAX, INT64_MIN, INT64_MAX, -1};
    jn_format_type(buf, sizeof buf, JN_DTYPE_UINT8, 8, max8);
    JN_CHECK_STR_CONTAINS(buf, "UINT8[9223372036854775807,-9223372036854775808,");
    JN_CHECK_STR_CONTAINS(buf, ",-1]");

    /* Truncated, always NUL-terminated. */
    const int64_t s123[] = {1, 2, 3};
    char small[6];
    memset(small, 'x', sizeof small);
    JN_CHECK_STR_EQ(jn_format_type(small, sizeof small, JN_DTYPE_FP32, 3, s123), "FP32[");
    char tiny[3];
    JN_CHECK_STR_EQ(jn_format_type(tiny, sizeof tiny, JN_DTYPE_FP32, 3, s123), "FP");
    char one[1] = {'x'};
    JN_CHECK_STR_EQ(jn_format_type(one, sizeof one, JN_DTYPE_FP32, 3, s123), "");
    char exact[12]; /* "FP32[1,2,3]" is 11 characters */
    JN_CHECK_STR_EQ(jn_format_type(exact, sizeof exact, JN_DTYPE_FP32, 3, s123), "FP32[1,2,3]");
    char short_by_one[11];
    JN_CHECK_STR_EQ(jn_format_type(short_by_one, sizeof short_by_one, JN_DTYPE_FP32, 3, s123), "FP32[1,2,3");
}

int main(void)
{
    JN_TEST_RUN(test_dtype_names_and_sizes);
    JN_TEST_RUN(test_shape_element_count);
    JN_TEST_RUN(test_tensor_create);
    JN_TEST_RUN(test_buffer_alloc);
    JN_TEST_RUN(test_tensor_share_is_zero_copy);
    JN_TEST_RUN(test_buffer_wrap_release_once);
    JN_TEST_RUN(test_bytes_from_strings);
    JN_TEST_RUN(test_bytes_malformed);
    JN_TEST_RUN(test_check_size_messages);
    JN_TEST_RUN(test_tensor_list);
    JN_TEST_RUN(test_tensor_list_on_borrowed_slots);
    JN_TEST_RUN(test_tensor_element_limit);
    JN_TEST_RUN(test_format_type);
    return JN_TEST_EXIT();
}
