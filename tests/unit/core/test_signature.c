/* Unit tests for broker/core/signature.c: ports, UTF-8 validation, request validation and its messages. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "signature.h"
#include "test.h"

static void test_kind_names(void)
{
    for (int k = 1; k < JN_KIND_COUNT; k++)
        JN_CHECK_INT_EQ(jn_kind_from_name(jn_kind_name((jn_kind)k)), k);
    JN_CHECK_STR_EQ(jn_kind_name(JN_KIND_TEXT), "TEXT");
    JN_CHECK_STR_EQ(jn_kind_name(JN_KIND_CLASSIFICATION), "CLASSIFICATION");
    JN_CHECK_STR_EQ(jn_kind_name(JN_KIND_COUNT), "INVALID");
    JN_CHECK_INT_EQ(jn_kind_from_name("text"), JN_KIND_INVALID);
    JN_CHECK_INT_EQ(jn_kind_from_name(NULL), JN_KIND_INVALID);
}

static void test_add_ports(void)
{
    jn_signature sig;
    jn_signature_init(&sig);
    jn_err err;
    jn_err_clear(&err);
    char name[] = "pixels";
    int64_t shape[] = {-1, 4};
    JN_CHECK_INT_EQ(jn_signature_add_input(&sig, name, JN_KIND_TENSOR, JN_DTYPE_FP32, 2, shape, &err), 0);
    JN_CHECK_INT_EQ(err.code, 0);
    /* Name and shape are copied. */
    name[0] = 'X';
    shape[1] = 99;
    const jn_port *p = jn_signature_find_input(&sig, "pixels");
    JN_REQUIRE(p);
    JN_CHECK_INT_EQ(p->kind, JN_KIND_TENSOR);
    JN_CHECK_INT_EQ(p->dtype, JN_DTYPE_FP32);
    JN_CHECK_INT_EQ(p->ndim, 2);
    JN_CHECK_INT_EQ(p->shape[0], -1);
    JN_CHECK_INT_EQ(p->shape[1], 4);
    JN_CHECK(p->labels == NULL && p->n_labels == 0 && p->description == NULL);
    JN_CHECK(jn_signature_find_input(&sig, "Xixels") == NULL);
    JN_CHECK(jn_signature_find_output(&sig, "pixels") == NULL);

    const int64_t any[] = {-1};
    JN_CHECK_ERR(jn_signature_add_input(&sig, "pixels", JN_KIND_TENSOR, JN_DTYPE_INT32, 1, any, &err), err,
                 JN_EEXIST);
    JN_CHECK_STR_CONTAINS(err.msg, "'pixels'");
    JN_CHECK_STR_CONTAINS(err.msg, "twice");
    JN_CHECK_INT_EQ(sig.n_inputs, 1);

    /* Inputs and outputs are separate name spaces. */
    JN_CHECK_INT_EQ(jn_signature_add_output(&sig, "pixels", JN_KIND_TENSOR, JN_DTYPE_FP32, 1, any, &err), 0);

    JN_CHECK_ERR(jn_signature_add_input(&sig, "prompt", JN_KIND_TEXT, JN_DTYPE_FP32, 1, any, &err), err, JN_EINVAL);
    JN_CHECK_STR_CONTAINS(err.msg, "'prompt'");
    JN_CHECK_STR_CONTAINS(err.msg, "TEXT");
    JN_CHECK_STR_CONTAINS(err.msg, "BYTES");
    JN_CHECK_STR_CONTAINS(err.msg, "got FP32");
    JN_CHECK_ERR(jn_signature_add_output(&sig, "photo", JN_KIND_IMAGE, JN_DTYPE_UINT8, 1, any, &err), err,
                 JN_EINVAL);
    JN_CHECK_STR_CONTAINS(err.msg, "IMAGE needs datatype BYTES, got UINT8");
    JN_CHECK_INT_EQ(jn_signature_add_input(&sig, "prompt", JN_KIND_TEXT, JN_DTYPE_BYTES, 1, any, &err), 0);
    JN_CHECK_INT_EQ(jn_signature_add_input(&sig, "photo", JN_KIND_IMAGE, JN_DTYPE_BYTES, 0, NULL, &err), 0);

    const int64_t nine[9] = {1, 1, 1, 1, 1, 1, 1, 1, 1};
    JN_CHECK_ERR(jn_signature_add_input(&sig, "deep", JN_KIND_TENSOR, JN_DTYPE_FP32, 9, nine, &err), err,
                 JN_EINVAL);
    JN_CHECK_STR_CONTAINS(err.msg, "'deep'");
    JN_CHECK_STR_CONTAINS(err.msg, "rank 9");
    JN_CHECK_ERR(jn_signature_add_input(&sig, "neg", JN_KIND_TENSOR, JN_DTYPE_FP32, -1, nine, &err), err,
                 JN_EINVAL);
    JN_CHECK_STR_CONTAINS(err.msg, "rank -1");
    const int64_t bad_dim[] = {2, -2};
    JN_CHECK_ERR(jn_signature_add_input(&sig, "dim", JN_KIND_TENSOR, JN_DTYPE_FP32, 2, bad_dim, &err), err,
                 JN_EINVAL);
    JN_CHECK_STR_CONTAINS(err.msg, "dimension 1 is -2");
    JN_CHECK_ERR(jn_signature_add_input(&sig, "", JN_KIND_TENSOR, JN_DTYPE_FP32, 1, any, &err), err, JN_EINVAL);
    JN_CHECK_ERR(jn_signature_add_input(&sig, NULL, JN_KIND_TENSOR, JN_DTYPE_FP32, 1, any, &err), err, JN_EINVAL);
    JN_CHECK_ERR(jn_signature_add_input(&sig, "k", JN_KIND_INVALID, JN_DTYPE_FP32, 1, any, &err), err, JN_EINVAL);
    JN_CHECK_ERR(jn_signature_add_input(&sig, "k", JN_KIND_COUNT, JN_DTYPE_FP32, 1, any, &err), err, JN_EINVAL);
    JN_CHECK_ERR(jn_signature_add_input(&sig, "d", JN_KIND_TENSOR, JN_DTYPE_INVALID, 1, any, &err), err,
                 JN_EINVAL);
    JN_CHECK_ERR(jn_signature_add_input(&sig, "d", JN_KIND_TENSOR, JN_DTYPE_COUNT, 1, any, &err), err, JN_EINVAL);
    /* Rejected ports leave the signature as it was. */
    JN_CHECK_INT_EQ(sig.n_inputs, 3);
    JN_CHECK_INT_EQ(sig.n_outputs, 1);
    JN_CHECK_STR_EQ(sig.inputs[0].name, "pixels");
    JN_CHECK_STR_EQ(sig.inputs[1].name, "prompt");
    JN_CHECK_STR_EQ(sig.inputs[2].name, "photo");

    jn_signature_free(&sig);
    JN_CHECK(sig.inputs == NULL && sig.n_inputs == 0 && sig.outputs == NULL && sig.n_outputs == 0);
}

static void test_port_labels(void)
{
    jn_signature sig;
    jn_signature_init(&sig);
    const int64_t shape[] = {-1, 3};
    JN_REQUIRE(jn_signature_add_output(&sig, "scores", JN_KIND_CLASSIFICATION, JN_DTYPE_FP32, 2, shape, NULL) == 0);
    char cat[] = "cat";
    const char *labels[] = {cat, "dog", "bird"};
    jn_err err;
    JN_CHECK_INT_EQ(jn_port_set_labels(&sig.outputs[0], labels, 3, &err), 0);
    cat[0] = 'b';
    JN_CHECK_INT_EQ(sig.outputs[0].n_labels, 3);
    JN_CHECK_STR_EQ(sig.outputs[0].labels[0], "cat");
    JN_CHECK_STR_EQ(sig.outputs[0].labels[2], "bird");
    const char *fewer[] = {"yes", "no"};
    JN_CHECK_INT_EQ(jn_port_set_labels(&sig.outputs[0], fewer, 2, &err), 0); /* replaces, no leak */
    JN_CHECK_INT_EQ(sig.outputs[0].n_labels, 2);
    JN_CHECK_STR_EQ(sig.outputs[0].labels[1], "no");
    jn_signature_free(&sig);
}

/* Valid or not, and where the first bad sequence starts. */
static void check_utf8(const char *file, int line, const char *s, size_t n, bool want_ok, size_t want_off)
{
    size_t off = (size_t)-1;
    bool ok = jn_utf8_valid((const uint8_t *)s, n, &off);
    if (ok != want_ok)
        jn__test_fail(file, line, "jn_utf8_valid: got %s, want %s", ok ? "valid" : "invalid",
                      want_ok ? "valid" : "invalid");
    else if (!ok && off != want_off)
        jn__test_fail(file, line, "jn_utf8_valid: bad offset %zu, want %zu", off, want_off);
    JN__CHECKED();
}
#define UTF8_OK(lit) check_utf8(__FILE__, __LINE__, lit, sizeof lit - 1, true, 0)
#define UTF8_BAD(lit, off) check_utf8(__FILE__, __LINE__, lit, sizeof lit - 1, false, off)

static void test_utf8(void)
{
    UTF8_OK("");
    UTF8_OK("hello, world\n\t~");
    UTF8_OK("\x00\x7F");                                      /* NUL and DEL are valid code points */
    UTF8_OK("caf\xC3\xA9");                                   /* U+00E9 */
    UTF8_OK("\xC2\x80");                                      /* U+0080, smallest 2-byte */
    UTF8_OK("\xDF\xBF");                                      /* U+07FF */
    UTF8_OK("\xE6\x97\xA5\xE6\x9C\xAC\xE8\xAA\x9E");          /* 日本語 */
    UTF8_OK("\xE0\xA0\x80");                                  /* U+0800, smallest 3-byte */
    UTF8_OK("\xED\x9F\xBF");                                  /* U+D7FF, just below the surrogates */
    UTF8_OK("\xEE\x80\x80");                                  /* U+E000, just above */
    UTF8_OK("\xEF\xBF\xBF");                                  /* U+FFFF */
    UTF8_OK("\xF0\x9F\x98\x80");                              /* U+1F600 😀 */
    UTF8_OK("\xF0\x90\x80\x80");                              /* U+10000, smallest 4-byte */
    UTF8_OK("\xF4\x8F\xBF\xBF");                              /* U+10FFFF, the last code point */
    UTF8_OK("a\xF0\x9F\x98\x80" "b\xE6\x97\xA5" "c\xC3\xA9"); /* mixed */

    /* Overlong encodings. */
    UTF8_BAD("\xC0\x80", 0);         /* NUL in 2 bytes */
    UTF8_BAD("\xC1\xBF", 0);         /* U+007F in 2 bytes */
    UTF8_BAD("ab\xE0\x80\x80", 2);   /* NUL in 3 bytes */
    UTF8_BAD("\xE0\x9F\xBF", 0);     /* U+07FF in 3 bytes */
    UTF8_BAD("\xF0\x80\x80\x80", 0); /* NUL in 4 bytes */
    UTF8_BAD("\xF0\x8F\xBF\xBF", 0); /* U+FFFF in 4 bytes */
    /* UTF-16 surrogates. */
    UTF8_BAD("\xED\xA0\x80", 0); /* U+D800 */
    UTF8_BAD("x\xED\xBF\xBF", 1); /* U+DFFF */
    UTF8_BAD("\xED\xA0\xBD\xED\xB8\x80", 0); /* CESU-8 pair for U+1F600 */
    /* Beyond U+10FFFF. */
    UTF8_BAD("\xF4\x90\x80\x80", 0); /* U+110000 */
    UTF8_BAD("\xF7\xBF\xBF\xBF", 0); /* U+1FFFFF */
    UTF8_BAD("\xF8\x88\x80\x80\x80", 0);
    UTF8_BAD("\xFE", 0);
    UTF8_BAD("\xFF", 0);
    /* Truncated sequences and stray continuation bytes. */
    UTF8_BAD("ab\xE6\x97", 2);
    UTF8_BAD("\xF0\x9F\x98", 0);
    UTF8_BAD("\xC3", 0);
    UTF8_BAD("a\x80", 1);
    UTF8_BAD("\xC3\x28", 0);             /* lead byte followed by ASCII */
    UTF8_BAD("\xE6\x97" "A", 0);
    UTF8_BAD("h\xC3\xA9llo\xFF", 6);     /* offsets count bytes, not characters */
    UTF8_BAD("\xF0\x9F\x98\x80\x80", 4); /* valid emoji, then a stray continuation */

    /* bad_offset may be NULL. */
    JN_CHECK(!jn_utf8_valid((const uint8_t *)"\xFF", 1, NULL));
    JN_CHECK(jn_utf8_valid((const uint8_t *)"ok", 2, NULL));
    /* Only n bytes are read: a valid prefix of an invalid buffer is valid. */
    JN_CHECK(jn_utf8_valid((const uint8_t *)"ok\xFF", 2, NULL));
}

/* The signature of model "m1" used by the validation tests:
 *   inputs  pixels TENSOR FP32[-1,4], prompt TEXT BYTES[-1]
 *   outputs scores CLASSIFICATION FP32[-1,3], embedding EMBEDDING FP32[-1,8] */
static void make_sig(jn_signature *sig)
{
    jn_signature_init(sig);
    const int64_t px[] = {-1, 4}, pr[] = {-1}, sc[] = {-1, 3}, em[] = {-1, 8};
    JN_REQUIRE(jn_signature_add_input(sig, "pixels", JN_KIND_TENSOR, JN_DTYPE_FP32, 2, px, NULL) == 0);
    JN_REQUIRE(jn_signature_add_input(sig, "prompt", JN_KIND_TEXT, JN_DTYPE_BYTES, 1, pr, NULL) == 0);
    JN_REQUIRE(jn_signature_add_output(sig, "scores", JN_KIND_CLASSIFICATION, JN_DTYPE_FP32, 2, sc, NULL) == 0);
    JN_REQUIRE(jn_signature_add_output(sig, "embedding", JN_KIND_EMBEDDING, JN_DTYPE_FP32, 2, em, NULL) == 0);
}

static jn_tensor *num(const char *name, jn_dtype dtype, int ndim, int64_t d0, int64_t d1)
{
    const int64_t shape[] = {d0, d1};
    jn_tensor *t = jn_tensor_create(name, dtype, ndim, shape, NULL);
    JN_REQUIRE(t);
    return t;
}

static jn_tensor *text(const char *name, int64_t dim, const char *a, const char *b)
{
    const char *strs[] = {a, b};
    const size_t lens[] = {strlen(a), strlen(b)};
    const int64_t shape[] = {dim};
    jn_tensor *t = jn_tensor_from_strings(name, 1, shape, strs, lens, 2, NULL);
    JN_REQUIRE(t);
    return t;
}

/* Validates the list (which it then empties) and returns the code; the message lands in *err. */
static int validate(const jn_signature *sig, jn_tensor_list *in, jn_err *err)
{
    jn_err_clear(err);
    int rc = jn_signature_validate_inputs(sig, "m1", in, err);
    jn_tensor_list_clear(in);
    return rc;
}

static void test_validate_inputs(void)
{
    jn_signature sig;
    make_sig(&sig);
    jn_tensor_list in;
    jn_tensor_list_init(&in);
    jn_err err;

    /* A good request; -1 dims accept any size, 0 included. */
    jn_tensor_list_push(&in, num("pixels", JN_DTYPE_FP32, 2, 7, 4));
    jn_tensor_list_push(&in, text("prompt", 2, "hello", "\xE6\x97\xA5"));
    JN_CHECK_INT_EQ(validate(&sig, &in, &err), 0);
    JN_CHECK_INT_EQ(err.code, 0);
    jn_tensor_list_push(&in, text("prompt", 2, "b", "a")); /* order of inputs does not matter */
    jn_tensor_list_push(&in, num("pixels", JN_DTYPE_FP32, 2, 0, 4));
    JN_CHECK_INT_EQ(validate(&sig, &in, &err), 0);

    /* Missing input: names the model, the port and what it expects. */
    jn_tensor_list_push(&in, num("pixels", JN_DTYPE_FP32, 2, 1, 4));
    JN_CHECK_ERR(validate(&sig, &in, &err), err, JN_EINVAL);
    JN_CHECK_STR_CONTAINS(err.msg, "model 'm1'");
    JN_CHECK_STR_CONTAINS(err.msg, "missing input 'prompt'");
    JN_CHECK_STR_CONTAINS(err.msg, "TEXT BYTES[-1]");
    JN_CHECK_ERR(validate(&sig, &in, &err), err, JN_EINVAL); /* no inputs at all */
    JN_CHECK_STR_CONTAINS(err.msg, "missing input 'pixels'");

    /* Unknown input: names it and lists the real ones. */
    jn_tensor_list_push(&in, num("pixels", JN_DTYPE_FP32, 2, 1, 4));
    jn_tensor_list_push(&in, text("prompt", 2, "a", "b"));
    jn_tensor_list_push(&in, num("pixel", JN_DTYPE_FP32, 2, 1, 4));
    JN_CHECK_ERR(validate(&sig, &in, &err), err, JN_EINVAL);
    JN_CHECK_STR_CONTAINS(err.msg, "model 'm1'");
    JN_CHECK_STR_CONTAINS(err.msg, "unknown input 'pixel'");
    JN_CHECK_STR_CONTAINS(err.msg, "'pixels', 'prompt'");

    /* Duplicate input. */
    jn_tensor_list_push(&in, num("pixels", JN_DTYPE_FP32, 2, 1, 4));
    jn_tensor_list_push(&in, text("prompt", 2, "a", "b"));
    jn_tensor_list_push(&in, num("pixels", JN_DTYPE_FP32, 2, 1, 4));
    JN_CHECK_ERR(validate(&sig, &in, &err), err, JN_EINVAL);
    JN_CHECK_STR_CONTAINS(err.msg, "model 'm1'");
    JN_CHECK_STR_CONTAINS(err.msg, "input 'pixels' is given twice");

    /* Datatype mismatch: expected and got, as a datatype and as a full type. */
    jn_tensor_list_push(&in, num("pixels", JN_DTYPE_INT32, 2, 2, 4));
    jn_tensor_list_push(&in, text("prompt", 2, "a", "b"));
    JN_CHECK_ERR(validate(&sig, &in, &err), err, JN_EINVAL);
    JN_CHECK_STR_CONTAINS(err.msg, "model 'm1'");
    JN_CHECK_STR_CONTAINS(err.msg, "input 'pixels'");
    JN_CHECK_STR_CONTAINS(err.msg, "expects datatype FP32 (FP32[-1,4])");
    JN_CHECK_STR_CONTAINS(err.msg, "got INT32 (INT32[2,4])");

    /* Rank mismatch. */
    jn_tensor_list_push(&in, num("pixels", JN_DTYPE_FP32, 1, 8, 0));
    jn_tensor_list_push(&in, text("prompt", 2, "a", "b"));
    JN_CHECK_ERR(validate(&sig, &in, &err), err, JN_EINVAL);
    JN_CHECK_STR_CONTAINS(err.msg, "model 'm1'");
    JN_CHECK_STR_CONTAINS(err.msg, "input 'pixels'");
    JN_CHECK_STR_CONTAINS(err.msg, "expects rank 2 (FP32[-1,4])");
    JN_CHECK_STR_CONTAINS(err.msg, "got rank 1 (FP32[8])");

    /* Shape mismatch on a fixed dim; the -1 dim is not what is reported. */
    jn_tensor_list_push(&in, num("pixels", JN_DTYPE_FP32, 2, 3, 5));
    jn_tensor_list_push(&in, text("prompt", 2, "a", "b"));
    JN_CHECK_ERR(validate(&sig, &in, &err), err, JN_EINVAL);
    JN_CHECK_STR_CONTAINS(err.msg, "model 'm1'");
    JN_CHECK_STR_CONTAINS(err.msg, "input 'pixels'");
    JN_CHECK_STR_CONTAINS(err.msg, "expects shape FP32[-1,4], got FP32[3,5]");

    /* Byte size that does not match shape x dtype. */
    jn_tensor *short_px = num("pixels", JN_DTYPE_FP32, 2, 2, 4);
    short_px->byte_size = 31;
    jn_tensor_list_push(&in, short_px);
    jn_tensor_list_push(&in, text("prompt", 2, "a", "b"));
    JN_CHECK_ERR(validate(&sig, &in, &err), err, JN_EINVAL);
    JN_CHECK_STR_CONTAINS(err.msg, "model 'm1': input 'pixels'");
    JN_CHECK_STR_CONTAINS(err.msg, "31 bytes");
    JN_CHECK_STR_CONTAINS(err.msg, "FP32[2,4] needs 32");

    /* BYTES element count that does not match the shape. */
    jn_tensor_list_push(&in, num("pixels", JN_DTYPE_FP32, 2, 1, 4));
    jn_tensor_list_push(&in, text("prompt", 3, "a", "b"));
    JN_CHECK_ERR(validate(&sig, &in, &err), err, JN_EINVAL);
    JN_CHECK_STR_CONTAINS(err.msg, "model 'm1': input 'prompt'");
    JN_CHECK_STR_CONTAINS(err.msg, "has 2 BYTES elements");
    JN_CHECK_STR_CONTAINS(err.msg, "BYTES[3] needs 3");

    /* Malformed BYTES payload. */
    jn_tensor_list_push(&in, num("pixels", JN_DTYPE_FP32, 2, 1, 4));
    jn_tensor *bad_layout = text("prompt", 2, "a", "b");
    bad_layout->byte_size -= 1;
    jn_tensor_list_push(&in, bad_layout);
    JN_CHECK_ERR(validate(&sig, &in, &err), err, JN_EINVAL);
    JN_CHECK_STR_CONTAINS(err.msg, "model 'm1': input 'prompt'");
    JN_CHECK_STR_CONTAINS(err.msg, "malformed");

    /* Invalid UTF-8 in a TEXT port: which element, which byte, where. */
    jn_tensor_list_push(&in, num("pixels", JN_DTYPE_FP32, 2, 1, 4));
    jn_tensor_list_push(&in, text("prompt", 2, "fine", "caf\xC3"));
    JN_CHECK_ERR(validate(&sig, &in, &err), err, JN_EINVAL);
    JN_CHECK_STR_CONTAINS(err.msg, "model 'm1'");
    JN_CHECK_STR_CONTAINS(err.msg, "input 'prompt'");
    JN_CHECK_STR_CONTAINS(err.msg, "UTF-8");
    JN_CHECK_STR_CONTAINS(err.msg, "element 1");
    JN_CHECK_STR_CONTAINS(err.msg, "0xC3");
    JN_CHECK_STR_CONTAINS(err.msg, "offset 3");
    jn_tensor_list_push(&in, num("pixels", JN_DTYPE_FP32, 2, 1, 4));
    jn_tensor_list_push(&in, text("prompt", 2, "\xED\xA0\x80", "ok"));
    JN_CHECK_ERR(validate(&sig, &in, &err), err, JN_EINVAL);
    JN_CHECK_STR_CONTAINS(err.msg, "element 0");
    JN_CHECK_STR_CONTAINS(err.msg, "0xED at offset 0");

    jn_signature_free(&sig);
}

static void test_bytes_tensor_port_takes_any_bytes(void)
{
    /* Only TEXT ports insist on UTF-8; a BYTES tensor port carries arbitrary bytes. */
    jn_signature sig;
    jn_signature_init(&sig);
    const int64_t any[] = {-1};
    JN_REQUIRE(jn_signature_add_input(&sig, "blob", JN_KIND_TENSOR, JN_DTYPE_BYTES, 1, any, NULL) == 0);
    jn_tensor_list in;
    jn_tensor_list_init(&in);
    jn_err err;
    jn_tensor_list_push(&in, text("blob", 2, "\xFF\xFE", "\xC0\x80"));
    JN_CHECK_INT_EQ(validate(&sig, &in, &err), 0);
    jn_signature_free(&sig);
}

static void test_port_check_output_direction(void)
{
    jn_signature sig;
    make_sig(&sig);
    jn_err err;
    jn_err_clear(&err);
    jn_tensor *t = num("scores", JN_DTYPE_FP32, 2, 2, 4);
    JN_CHECK_ERR(jn_port_check_tensor("m1", "output", jn_signature_find_output(&sig, "scores"), t, &err), err,
                 JN_EINVAL);
    JN_CHECK_STR_CONTAINS(err.msg, "model 'm1': output 'scores' expects shape FP32[-1,3], got FP32[2,4]");
    jn_tensor_free(t);
    jn_signature_free(&sig);
}

static void test_validate_outputs(void)
{
    jn_signature sig;
    make_sig(&sig);
    jn_err err;
    jn_err_clear(&err);

    JN_CHECK_INT_EQ(jn_signature_validate_outputs(&sig, "m1", NULL, 0, &err), 0); /* none = all */
    const char *both[] = {"embedding", "scores"};
    JN_CHECK_INT_EQ(jn_signature_validate_outputs(&sig, "m1", both, 2, &err), 0);
    JN_CHECK_INT_EQ(err.code, 0);

    const char *unknown[] = {"scores", "logits"};
    JN_CHECK_ERR(jn_signature_validate_outputs(&sig, "m1", unknown, 2, &err), err, JN_EINVAL);
    JN_CHECK_STR_CONTAINS(err.msg, "model 'm1'");
    JN_CHECK_STR_CONTAINS(err.msg, "unknown output 'logits'");
    JN_CHECK_STR_CONTAINS(err.msg, "'scores', 'embedding'");

    const char *twice[] = {"scores", "embedding", "scores"};
    jn_err_clear(&err);
    JN_CHECK_ERR(jn_signature_validate_outputs(&sig, "m1", twice, 3, &err), err, JN_EINVAL);
    JN_CHECK_STR_CONTAINS(err.msg, "model 'm1'");
    JN_CHECK_STR_CONTAINS(err.msg, "output 'scores'");
    JN_CHECK_STR_CONTAINS(err.msg, "twice");

    jn_signature empty;
    jn_signature_init(&empty);
    const char *any[] = {"x"};
    JN_CHECK_ERR(jn_signature_validate_outputs(&empty, "bare", any, 1, &err), err, JN_EINVAL);
    JN_CHECK_STR_CONTAINS(err.msg, "model 'bare'");
    JN_CHECK_STR_CONTAINS(err.msg, "(none)");

    jn_signature_free(&sig);
}

static void test_validate_long_port_lists_truncate(void)
{
    /* Many long port names: the "inputs are ..." list is cut at its buffer, never overflows (ASan watches). */
    jn_signature sig;
    jn_signature_init(&sig);
    const int64_t any[] = {-1};
    char name[64];
    for (int i = 0; i < 40; i++) {
        snprintf(name, sizeof name, "a_rather_long_input_port_name_number_%02d", i);
        JN_REQUIRE(jn_signature_add_input(&sig, name, JN_KIND_TENSOR, JN_DTYPE_FP32, 1, any, NULL) == 0);
    }
    jn_tensor_list in;
    jn_tensor_list_init(&in);
    jn_err err;
    jn_tensor_list_push(&in, num("nope", JN_DTYPE_FP32, 1, 1, 0));
    JN_CHECK_ERR(validate(&sig, &in, &err), err, JN_EINVAL);
    JN_CHECK_STR_CONTAINS(err.msg, "unknown input 'nope'");
    JN_CHECK_STR_CONTAINS(err.msg, "number_00");
    JN_CHECK_INT_LT(strlen(err.msg), JN_ERR_MSG_MAX);
    jn_signature_free(&sig);
}

int main(void)
{
    JN_TEST_RUN(test_kind_names);
    JN_TEST_RUN(test_add_ports);
    JN_TEST_RUN(test_port_labels);
    JN_TEST_RUN(test_utf8);
    JN_TEST_RUN(test_validate_inputs);
    JN_TEST_RUN(test_bytes_tensor_port_takes_any_bytes);
    JN_TEST_RUN(test_port_check_output_direction);
    JN_TEST_RUN(test_validate_outputs);
    JN_TEST_RUN(test_validate_long_port_lists_truncate);
    return JN_TEST_EXIT();
}
