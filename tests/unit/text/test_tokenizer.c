/* test_tokenizer.c — the tokenizer.json engine on small hand-made tokenizers whose outputs can be worked out by hand:
 * BERT WordPiece (normalizer with CJK spacing and accent stripping, template), GPT-2 byte-level BPE (pattern, merges,
 * decoder), Unigram, Metaspace, and the load errors naming the JSON path. The token-for-token comparison with the
 * Hugging Face reference on trained tokenizers is tests/e2e/tokenizer (through the junction binary). */
#include <stdlib.h>
#include <string.h>

#include "test.h"
#include "tokenizer/tokenizer.h"

static const char BERT_JSON[] =
    "{\"version\":\"1.0\",\"added_tokens\":["
    "{\"id\":0,\"content\":\"[PAD]\",\"special\":true},{\"id\":1,\"content\":\"[UNK]\",\"special\":true},"
    "{\"id\":2,\"content\":\"[CLS]\",\"special\":true},{\"id\":3,\"content\":\"[SEP]\",\"special\":true}],"
    "\"normalizer\":{\"type\":\"BertNormalizer\",\"clean_text\":true,\"handle_chinese_chars\":true,"
    "\"strip_accents\":null,\"lowercase\":true},"
    "\"pre_tokenizer\":{\"type\":\"BertPreTokenizer\"},"
    "\"post_processor\":{\"type\":\"TemplateProcessing\","
    "\"single\":[{\"SpecialToken\":{\"id\":\"[CLS]\",\"type_id\":0}},{\"Sequence\":{\"id\":\"A\",\"type_id\":0}},"
    "{\"SpecialToken\":{\"id\":\"[SEP]\",\"type_id\":0}}],"
    "\"pair\":[{\"SpecialToken\":{\"id\":\"[CLS]\",\"type_id\":0}},{\"Sequence\":{\"id\":\"A\",\"type_id\":0}},"
    "{\"SpecialToken\":{\"id\":\"[SEP]\",\"type_id\":0}},{\"Sequence\":{\"id\":\"B\",\"type_id\":1}},"
    "{\"SpecialToken\":{\"id\":\"[SEP]\",\"type_id\":1}}],"
    "\"special_tokens\":{\"[CLS]\":{\"id\":\"[CLS]\",\"ids\":[2],\"tokens\":[\"[CLS]\"]},"
    "\"[SEP]\":{\"id\":\"[SEP]\",\"ids\":[3],\"tokens\":[\"[SEP]\"]}}},"
    "\"decoder\":{\"type\":\"WordPiece\",\"prefix\":\"##\",\"cleanup\":true},"
    "\"model\":{\"type\":\"WordPiece\",\"unk_token\":\"[UNK]\",\"continuing_subword_prefix\":\"##\","
    "\"max_input_chars_per_word\":100,\"vocab\":{\"[PAD]\":0,\"[UNK]\":1,\"[CLS]\":2,\"[SEP]\":3,\"hello\":4,"
    "\"world\":5,\"##s\":6,\",\":7,\"!\":8,\"\xE4\xB8\xAD\":9,\"\xE6\x96\x87\":10,\"un\":11,\"##aff\":12,"
    "\"##able\":13}}}";

static const char GPT2_JSON[] =
    "{\"added_tokens\":[{\"id\":17,\"content\":\"<|endoftext|>\",\"special\":true}],"
    "\"normalizer\":null,"
    "\"pre_tokenizer\":{\"type\":\"ByteLevel\",\"add_prefix_space\":false,\"trim_offsets\":true,\"use_regex\":true},"
    "\"post_processor\":{\"type\":\"ByteLevel\",\"add_prefix_space\":true,\"trim_offsets\":false},"
    "\"decoder\":{\"type\":\"ByteLevel\",\"add_prefix_space\":true,\"trim_offsets\":true},"
    "\"model\":{\"type\":\"BPE\",\"dropout\":null,\"unk_token\":null,\"fuse_unk\":false,\"byte_fallback\":false,"
    "\"vocab\":{\"h\":0,\"e\":1,\"l\":2,\"o\":3,\"\xC4\xA0\":4,\"w\":5,\"r\":6,\"d\":7,\"he\":8,\"ll\":9,"
    "\"hell\":10,\"hello\":11,\"\xC4\xA0w\":12,\"or\":13,\"\xC4\xA0wor\":14,\"ld\":15,\"\xC4\xA0world\":16,"
    "\"<|endoftext|>\":17,\"!\":18,\"\xC3\xA9\":19,\"\xC3\x83\":20,\"\xC2\xA9\":21},"
    "\"merges\":[\"h e\",\"l l\",\"he ll\",\"hell o\",\"\xC4\xA0 w\",\"o r\",\"\xC4\xA0w or\",\"l d\","
    "[\"\xC4\xA0wor\",\"ld\"]]}}";

static void check_ids(const jn_tok_encoding *e, const int64_t *want, size_t n, const char *what)
{
    JN_CHECK_INT_EQ(e->n, n);
    for (size_t i = 0; i < n && i < e->n; i++)
        if (e->ids[i] != want[i]) {
            fprintf(stderr, "%s: token %zu is %lld, want %lld\n", what, i, (long long)e->ids[i], (long long)want[i]);
            JN_CHECK(e->ids[i] == want[i]);
        }
}

static void test_bert(void)
{
    jn_err err = {0};
    jn_tokenizer *tk = jn_tokenizer_load(BERT_JSON, &err);
    JN_REQUIRE(tk != NULL);
    const char *text = "Hello, worlds!\t\xE4\xB8\xAD\xE6\x96\x87 unaffable \xC3\x9Cnaffable";
    jn_tok_encoding e;
    JN_CHECK_INT_EQ(jn_tokenizer_encode(tk, text, strlen(text), NULL, &e, &err), 0);
    static const int64_t want[] = {2, 4, 7, 5, 6, 8, 9, 10, 11, 12, 13, 11, 12, 13, 3};
    check_ids(&e, want, sizeof want / sizeof want[0], "bert");
    for (size_t i = 0; i < e.n; i++) {
        JN_CHECK_INT_EQ(e.attention[i], 1);
        JN_CHECK_INT_EQ(e.type_ids[i], 0);
    }
    JN_CHECK_INT_EQ(e.special[0], 1);
    JN_CHECK_INT_EQ(e.special[1], 0);
    char *s;
    JN_CHECK_INT_EQ(jn_tokenizer_decode(tk, e.ids, e.n, true, &s, NULL, &err), 0);
    JN_CHECK_STR_EQ(s, "hello, worlds! \xE4\xB8\xAD \xE6\x96\x87 unaffable unaffable");
    free(s);
    JN_CHECK_INT_EQ(jn_tokenizer_decode(tk, e.ids, 3, false, &s, NULL, &err), 0);
    JN_CHECK_STR_EQ(s, "[CLS] hello,");
    free(s);
    jn_tok_encoding_free(&e);

    /* no special tokens; unknown word; truncation to 4 with the 2 specials counted */
    jn_tok_options o = jn_tok_options_default();
    o.add_special_tokens = false;
    JN_CHECK_INT_EQ(jn_tokenizer_encode(tk, "hello zebra", 11, &o, &e, &err), 0);
    static const int64_t want2[] = {4, 1};
    check_ids(&e, want2, 2, "no specials");
    jn_tok_encoding_free(&e);
    o = jn_tok_options_default();
    o.max_length = 4;
    JN_CHECK_INT_EQ(jn_tokenizer_encode(tk, "hello world hello world", 23, &o, &e, &err), 0);
    static const int64_t want3[] = {2, 4, 5, 3};
    check_ids(&e, want3, 4, "truncated");
    jn_tok_encoding_free(&e);

    /* batch: padded to the longest with [PAD]=0 and attention 0 */
    const char *texts[] = {"hello", "hello world!", "[CLS]"};
    jn_tok_batch b;
    JN_CHECK_INT_EQ(jn_tokenizer_encode_batch(tk, texts, NULL, 3, NULL, &b, &err), 0);
    JN_CHECK_INT_EQ(b.rows, 3);
    JN_CHECK_INT_EQ(b.cols, 5);
    static const int64_t bids[] = {2, 4, 3, 0, 0, 2, 4, 5, 8, 3, 2, 2, 3, 0, 0};
    static const int64_t bmask[] = {1, 1, 1, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0};
    for (size_t i = 0; i < 15; i++) {
        JN_CHECK_INT_EQ(b.ids[i], bids[i]);
        JN_CHECK_INT_EQ(b.attention[i], bmask[i]);
    }
    jn_tok_batch_free(&b);

    /* invalid UTF-8 is refused with the byte offset */
    JN_CHECK_ERR(jn_tokenizer_encode(tk, "ab\xC3(", 4, NULL, &e, &err), err, JN_EINVAL);
    JN_CHECK_STR_CONTAINS(err.msg, "byte 2");
    const char *bad[] = {"ok", "\xFF"};
    JN_CHECK_ERR(jn_tokenizer_encode_batch(tk, bad, NULL, 2, NULL, &b, &err), err, JN_EINVAL);
    JN_CHECK_STR_CONTAINS(err.msg, "text[1]");

    JN_CHECK_INT_EQ(jn_tokenizer_token_to_id(tk, "##able"), 13);
    JN_CHECK_STR_EQ(jn_tokenizer_id_to_token(tk, 9), "\xE4\xB8\xAD");
    JN_CHECK(jn_tokenizer_is_special(tk, 2));
    JN_CHECK(!jn_tokenizer_is_special(tk, 4));
    jn_tok_special_ids sp = jn_tokenizer_special_ids(tk);
    JN_CHECK_INT_EQ(sp.cls, 2);
    JN_CHECK_INT_EQ(sp.sep, 3);
    JN_CHECK_INT_EQ(sp.pad, 0);
    JN_CHECK_INT_EQ(sp.unk, 1);
    JN_CHECK(jn_tokenizer_has_type_ids(tk));
    jn_tokenizer_free(tk);
}

static void test_gpt2(void)
{
    jn_err err = {0};
    jn_tokenizer *tk = jn_tokenizer_load(GPT2_JSON, &err);
    if (!tk)
        fprintf(stderr, "%s\n", err.msg);
    JN_REQUIRE(tk != NULL);
    jn_tok_encoding e;
    const char *text = "hello world!<|endoftext|>hello";
    JN_CHECK_INT_EQ(jn_tokenizer_encode(tk, text, strlen(text), NULL, &e, &err), 0);
    static const int64_t want[] = {11, 16, 18, 17, 11};
    check_ids(&e, want, 5, "gpt2");
    char *s;
    size_t n;
    JN_CHECK_INT_EQ(jn_tokenizer_decode(tk, e.ids, e.n, false, &s, &n, &err), 0);
    JN_CHECK_STR_EQ(s, text);
    free(s);
    JN_CHECK_INT_EQ(jn_tokenizer_decode(tk, e.ids, e.n, true, &s, &n, &err), 0);
    JN_CHECK_STR_EQ(s, "hello world!hello");
    free(s);
    jn_tok_encoding_free(&e);
    /* é is bytes C3 A9 -> byte-level chars U+00C3, U+00A9 (ids 20, 21) */
    JN_CHECK_INT_EQ(jn_tokenizer_encode(tk, "\xC3\xA9", 2, NULL, &e, &err), 0);
    static const int64_t want2[] = {20, 21};
    check_ids(&e, want2, 2, "byte-level");
    JN_CHECK_INT_EQ(jn_tokenizer_decode(tk, e.ids, e.n, false, &s, &n, &err), 0);
    JN_CHECK_STR_EQ(s, "\xC3\xA9");
    free(s);
    /* half a character decodes to U+FFFD */
    JN_CHECK_INT_EQ(jn_tokenizer_decode(tk, e.ids, 1, false, &s, &n, &err), 0);
    JN_CHECK_STR_EQ(s, "\xEF\xBF\xBD");
    free(s);
    jn_tok_encoding_free(&e);
    JN_CHECK(!jn_tokenizer_has_type_ids(tk));
    JN_CHECK_INT_EQ(jn_tokenizer_special_ids(tk).eos, 17);
    jn_tokenizer_free(tk);
}

static void test_unigram_metaspace(void)
{
    static const char J[] =
        "{\"normalizer\":{\"type\":\"Sequence\",\"normalizers\":[{\"type\":\"NFKC\"},{\"type\":\"Lowercase\"}]},"
        "\"pre_tokenizer\":{\"type\":\"Metaspace\",\"replacement\":\"\xE2\x96\x81\",\"prepend_scheme\":\"always\","
        "\"split\":true},"
        "\"decoder\":{\"type\":\"Metaspace\",\"replacement\":\"\xE2\x96\x81\",\"prepend_scheme\":\"always\"},"
        "\"model\":{\"type\":\"Unigram\",\"unk_id\":0,\"vocab\":[[\"<unk>\",0.0],[\"\xE2\x96\x81\",-2.0],"
        "[\"\xE2\x96\x81he\",-3.0],[\"llo\",-3.0],[\"\xE2\x96\x81hello\",-4.0],[\"h\",-5],[\"e\",-5],[\"l\",-5],"
        "[\"o\",-5],[\"\xE2\x96\x81w\",-3],[\"or\",-3],[\"ld\",-3],[\"\xE2\x96\x81world\",-10]]}}";
    jn_err err = {0};
    jn_tokenizer *tk = jn_tokenizer_load(J, &err);
    if (!tk)
        fprintf(stderr, "%s\n", err.msg);
    JN_REQUIRE(tk != NULL);
    jn_tok_encoding e;
    /* fullwidth Ｈ -> NFKC H -> h; "▁hello" (-4) beats "▁he"+"llo" (-6); "▁w or ld" (-9) beats "▁world" (-10);
     * zz are unknown, fused into one <unk> */
    const char *text = "\xEF\xBC\xA8" "ello World zz";
    JN_CHECK_INT_EQ(jn_tokenizer_encode(tk, text, strlen(text), NULL, &e, &err), 0);
    static const int64_t want[] = {4, 9, 10, 11, 1, 0};
    check_ids(&e, want, 6, "unigram");
    char *s;
    JN_CHECK_INT_EQ(jn_tokenizer_decode(tk, e.ids, 4, false, &s, NULL, &err), 0);
    JN_CHECK_STR_EQ(s, "hello world");
    free(s);
    jn_tok_encoding_free(&e);
    jn_tokenizer_free(tk);
}

static void test_errors(void)
{
    jn_err err = {0};
    JN_CHECK(jn_tokenizer_load("{\"model\": ", &err) == NULL);
    JN_CHECK_STR_CONTAINS(err.msg, "invalid JSON");
    JN_CHECK(jn_tokenizer_load("{\"model\":{\"type\":\"WordPiece\",\"vocab\":[1,2]}}", &err) == NULL);
    JN_CHECK_STR_CONTAINS(err.msg, "model.vocab: expected an object");
    JN_CHECK(jn_tokenizer_load("{\"model\":{\"type\":\"WordLevel\",\"vocab\":{}},"
                               "\"normalizer\":{\"type\":\"Sequence\",\"normalizers\":[{\"type\":\"Fancy\"}]}}",
                               &err) == NULL);
    JN_CHECK_STR_CONTAINS(err.msg, "normalizer.normalizers[0].type: unknown normalizer type 'Fancy'");
    JN_CHECK(jn_tokenizer_load("{\"model\":{\"type\":\"Magic\"}}", &err) == NULL);
    JN_CHECK_STR_CONTAINS(err.msg, "model.type: unknown model type 'Magic'");
    JN_CHECK(jn_tokenizer_load("{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0},\"merges\":[\"a b\"]}}", &err) ==
             NULL);
    JN_CHECK_STR_CONTAINS(err.msg, "model.merges[0]: token 'b' is not in the vocabulary");
    JN_CHECK(jn_tokenizer_load("{\"model\":{\"type\":\"WordLevel\",\"vocab\":{}},\"pre_tokenizer\":{\"type\":"
                               "\"Split\",\"pattern\":{\"Regex\":\"(\"},\"behavior\":\"Isolated\"}}",
                               &err) == NULL);
    JN_CHECK_STR_CONTAINS(err.msg, "pre_tokenizer.pattern: invalid regex");
    JN_CHECK(jn_tokenizer_load("/nonexistent/tokenizer.json", &err) == NULL);
    JN_CHECK_INT_EQ(err.code, JN_ENOTFOUND);
}

int main(void)
{
    JN_TEST_RUN(test_bert);
    JN_TEST_RUN(test_gpt2);
    JN_TEST_RUN(test_unigram_metaspace);
    JN_TEST_RUN(test_errors);
    return JN_TEST_EXIT();
}
