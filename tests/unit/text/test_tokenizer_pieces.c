/* test_tokenizer_pieces.c — the tokenizer.json stages one at a time (adapters/tokenizer/internal.h): each
 * normalizer, pre-tokenizer, decoder, and the post-processing of truncation, padding and added tokens. The expected
 * values were taken from the Hugging Face `tokenizers` binding (normalizeString / preTokenizeString / decode /
 * encode on the same inputs and component settings). */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "test.h"
#include "tokenizer/internal.h"

/* Pre-tokenizes s with the component given as JSON and checks the pieces, joined with '|'. */
static void check_pre(const char *json, const char *s, const char *want)
{
    json_t *j = json_loads(json, 0, NULL);
    JN_REQUIRE(j != NULL);
    jn_tk_pre p;
    jn_err err = {0};
    int rc = jn__tk_pre_parse(&p, j, "pre_tokenizer", &err);
    json_decref(j);
    JN_CHECK_INT_EQ(rc, 0);
    if (rc) {
        fprintf(stderr, "%s\n", err.msg);
        return;
    }
    jn_tk_words in = {0}, out = {0};
    JN_CHECK_INT_EQ(jn__tk_words_add(&in, s, strlen(s)), 0);
    JN_CHECK_INT_EQ(jn__tk_pre_apply(&p, &in, &out, true), 0);
    jn_tk_buf got = {0};
    for (size_t i = 0; i < out.n; i++) {
        if (i)
            jn__tk_buf_put(&got, "|", 1);
        jn__tk_buf_put(&got, out.text.p + out.off[i], out.len[i]);
    }
    jn__tk_buf_put(&got, "", 0);
    JN_CHECK_STR_EQ(got.p ? got.p : "", want);
    free(got.p);
    jn__tk_words_free(&in);
    jn__tk_words_free(&out);
    jn__tk_pre_free(&p);
}

static void check_norm(const char *json, const char *s, const char *want)
{
    json_t *j = json_loads(json, 0, NULL);
    JN_REQUIRE(j != NULL);
    jn_tk_norm n;
    jn_err err = {0};
    int rc = jn__tk_norm_parse(&n, j, "normalizer", &err);
    json_decref(j);
    JN_CHECK_INT_EQ(rc, 0);
    if (rc)
        return;
    jn_tk_buf out = {0};
    JN_CHECK_INT_EQ(jn__tk_norm_apply(&n, s, strlen(s), &out), 0);
    JN_CHECK_STR_EQ(out.p, want);
    free(out.p);
    jn__tk_norm_free(&n);
}

static void check_dec(const char *json, const char *const *toks, size_t n, const char *want)
{
    json_t *j = json_loads(json, 0, NULL);
    JN_REQUIRE(j != NULL);
    jn_tk_dec d;
    jn_err err = {0};
    int rc = jn__tk_dec_parse(&d, j, "decoder", &err);
    json_decref(j);
    JN_CHECK_INT_EQ(rc, 0);
    if (rc)
        return;
    jn_tk_words w = {0};
    for (size_t i = 0; i < n; i++)
        jn__tk_words_add(&w, toks[i], strlen(toks[i]));
    jn_tk_buf out = {0};
    JN_CHECK_INT_EQ(jn__tk_dec_apply(&d, &w, &out), 0);
    jn__tk_buf_put(&out, "", 0);
    JN_CHECK_STR_EQ(out.p ? out.p : "", want);
    free(out.p);
    jn__tk_words_free(&w);
    jn__tk_dec_free(&d);
}

static void test_pre_tokenizers(void)
{
    check_pre("{\"type\":\"Digits\",\"individual_digits\":true}", "ab123c4", "ab|1|2|3|c|4");
    check_pre("{\"type\":\"Digits\",\"individual_digits\":false}", "ab123c4", "ab|123|c|4");
    check_pre("{\"type\":\"Punctuation\",\"behavior\":\"Isolated\"}", "a,b!!c", "a|,|b|!|!|c");
    check_pre("{\"type\":\"Punctuation\",\"behavior\":\"MergedWithPrevious\"}", "a,b!!c", "a,|b!|!|c");
    check_pre("{\"type\":\"Punctuation\",\"behavior\":\"MergedWithNext\"}", "a,b!!c", "a|,b|!|!c");
    check_pre("{\"type\":\"Punctuation\",\"behavior\":\"Contiguous\"}", "a,b!!c", "a|,|b|!!|c");
    check_pre("{\"type\":\"Punctuation\",\"behavior\":\"Removed\"}", "a,b!!c", "a|b|c");
    check_pre("{\"type\":\"Split\",\"pattern\":{\"Regex\":\"\\\\d+\"},\"behavior\":\"Isolated\",\"invert\":false}",
              "ab12cd345", "ab|12|cd|345");
    check_pre("{\"type\":\"Split\",\"pattern\":{\"Regex\":\"\\\\d+\"},\"behavior\":\"Removed\",\"invert\":true}",
              "ab12cd345", "12|345");
    check_pre("{\"type\":\"Split\",\"pattern\":{\"Regex\":\"\\\\d+\"},\"behavior\":\"MergedWithNext\"}", "ab12cd345",
              "ab|12cd|345");
    check_pre("{\"type\":\"Split\",\"pattern\":{\"String\":\"-\"},\"behavior\":\"MergedWithPrevious\"}", "a--b-",
              "a-|-|b-");
    check_pre("{\"type\":\"Whitespace\"}", "Hey friend!  How are you?!? \xC3\xA7" "a_va",
              "Hey|friend|!|How|are|you|?!?|\xC3\xA7" "a_va");
    check_pre("{\"type\":\"Metaspace\",\"replacement\":\"\xE2\x96\x81\",\"add_prefix_space\":true}", "Hey  friend",
              "\xE2\x96\x81Hey|\xE2\x96\x81|\xE2\x96\x81" "friend");
    check_pre("{\"type\":\"Metaspace\",\"replacement\":\"\xE2\x96\x81\",\"add_prefix_space\":false}", "Hey friend",
              "Hey|\xE2\x96\x81" "friend");
    check_pre("{\"type\":\"ByteLevel\",\"add_prefix_space\":true,\"use_regex\":true}", "Hello world's 12 \xC3\xA9",
              "\xC4\xA0Hello|\xC4\xA0world|'s|\xC4\xA0" "12|\xC4\xA0\xC3\x83\xC2\xA9");
    check_pre("{\"type\":\"BertPreTokenizer\"}", "Hi,\tthere!\xE3\x80\x82 ok", "Hi|,|there|!|\xE3\x80\x82|ok");
    check_pre("{\"type\":\"WhitespaceSplit\"}", " a\xC2\xA0" "b\n c ", "a|b|c");
    check_pre("{\"type\":\"Sequence\",\"pretokenizers\":[{\"type\":\"WhitespaceSplit\"},{\"type\":\"Digits\","
              "\"individual_digits\":true}]}",
              "x12 y", "x|1|2|y");
}

static void test_normalizers(void)
{
    check_norm("{\"type\":\"NFD\"}", "\xC3\xA9", "e\xCC\x81");
    check_norm("{\"type\":\"NFC\"}", "e\xCC\x81", "\xC3\xA9");
    check_norm("{\"type\":\"NFKD\"}", "\xEF\xAC\x81\xE2\x91\xA0", "fi1");
    check_norm("{\"type\":\"NFKC\"}", "\xEF\xBC\xA8", "H");
    check_norm("{\"type\":\"Strip\",\"strip_left\":true,\"strip_right\":true}", "  a b \n", "a b");
    check_norm("{\"type\":\"Sequence\",\"normalizers\":[{\"type\":\"NFD\"},{\"type\":\"StripAccents\"}]}",
               "\xC3\x9Cn\xC3\xAF" "c\xC3\xB6" "d\xC3\xA9", "Unicode");
    check_norm("{\"type\":\"Replace\",\"pattern\":{\"String\":\"  \"},\"content\":\" \"}", "a    b", "a  b");
    check_norm("{\"type\":\"Replace\",\"pattern\":{\"Regex\":\" {2,}\"},\"content\":\"_\"}", "a    b c", "a_b c");
    check_norm("{\"type\":\"Prepend\",\"prepend\":\"_\"}", "ab", "_ab");
    check_norm("{\"type\":\"Prepend\",\"prepend\":\"_\"}", "", "");
    check_norm("{\"type\":\"Lowercase\"}", "\xC3\x80\xC4\xB0\xCE\xA3", "\xC3\xA0i\xCC\x87\xCF\x83");
    /* BERT: controls dropped (not unassigned code points), whitespace to ' ', CJK spaced, accents, lowercase */
    check_norm("{\"type\":\"BertNormalizer\",\"lowercase\":true}",
               "A\xE2\x80\x8B" "b\tC\xE4\xB8\xAD\xC3\x89\xCD\xB8", "ab c \xE4\xB8\xAD e\xCD\xB8");
    check_norm("{\"type\":\"BertNormalizer\",\"lowercase\":false,\"strip_accents\":false}", "\xC3\x89", "\xC3\x89");
}

static void test_decoders(void)
{
    const char *bpe[] = {"hel", "lo</w>", "wor", "ld</w>"};
    check_dec("{\"type\":\"BPEDecoder\",\"suffix\":\"</w>\"}", bpe, 4, "hello world");
    const char *fb[] = {"a", "<0xC3>", "<0xA9>", "<0xFF>", "b"};
    check_dec("{\"type\":\"Sequence\",\"decoders\":[{\"type\":\"ByteFallback\"},{\"type\":\"Fuse\"}]}", fb, 5,
              "a\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD" "b");
    const char *fb2[] = {"<0xC3>", "<0xA9>", "x"};
    check_dec("{\"type\":\"ByteFallback\"}", fb2, 3, "\xC3\xA9x");
    const char *st[] = {" a", " b"};
    check_dec("{\"type\":\"Strip\",\"content\":\" \",\"start\":1,\"stop\":0}", st, 2, "ab");
    const char *ms[] = {"\xE2\x96\x81hello", "\xE2\x96\x81\xE2\x96\x81x", "y\xE2\x96\x81"};
    check_dec("{\"type\":\"Metaspace\",\"replacement\":\"\xE2\x96\x81\",\"add_prefix_space\":true}", ms, 3,
              "hello  xy ");
    const char *ms2[] = {"\xE2\x96\x81" "a\xE2\x96\x81" "b", "\xE2\x96\x81" "c"};
    check_dec("{\"type\":\"Metaspace\",\"replacement\":\"\xE2\x96\x81\",\"add_prefix_space\":true}", ms2, 2, "ab c");
    const char *wp[] = {"hello", ",", "i", "'", "m", "fine", "##s", "."};
    check_dec("{\"type\":\"WordPiece\",\"prefix\":\"##\",\"cleanup\":true}", wp, 8, "hello, i ' m fines.");
    const char *rp[] = {"a_b", "_c"};
    check_dec("{\"type\":\"Replace\",\"pattern\":{\"String\":\"_\"},\"content\":\" \"}", rp, 2, "a b c");
}

/* RobertaProcessing, left truncation, Fixed + pad_to_multiple_of left padding, an added token with single_word,
 * lstrip and rstrip (ids as the reference assigns them: added tokens after the vocabulary). */
static void test_post_and_added(void)
{
    static const char J[] =
        "{\"post_processor\":{\"type\":\"RobertaProcessing\",\"sep\":[\"</s>\",2],\"cls\":[\"<s>\",1],"
        "\"trim_offsets\":true,\"add_prefix_space\":true},\"pre_tokenizer\":{\"type\":\"WhitespaceSplit\"},"
        "\"model\":{\"type\":\"WordLevel\",\"vocab\":{\"[UNK]\":0,\"<s>\":1,\"</s>\":2,\"a\":3},\"unk_token\":\"[UNK]\"},"
        "\"truncation\":{\"max_length\":5,\"strategy\":\"LongestFirst\",\"stride\":0,\"direction\":\"Left\"},"
        "\"padding\":{\"strategy\":{\"Fixed\":7},\"direction\":\"Left\",\"pad_to_multiple_of\":4,\"pad_id\":9,"
        "\"pad_type_id\":1,\"pad_token\":\"[PAD]\"},"
        "\"added_tokens\":[{\"id\":4,\"content\":\"hi\",\"single_word\":true,\"lstrip\":true,\"rstrip\":true,"
        "\"normalized\":false,\"special\":false}]}";
    jn_err err = {0};
    jn_tokenizer *tk = jn_tokenizer_load(J, &err);
    if (!tk)
        fprintf(stderr, "%s\n", err.msg);
    JN_REQUIRE(tk != NULL);
    static const struct {
        const char *text;
        int64_t ids[8], mask[8], types[8];
    } cases[] = {
        {"a b a a a", {9, 9, 9, 1, 3, 3, 3, 2}, {0, 0, 0, 1, 1, 1, 1, 1}, {1, 1, 1, 0, 0, 0, 0, 0}},
        {"x hi a", {9, 9, 9, 1, 0, 4, 3, 2}, {0, 0, 0, 1, 1, 1, 1, 1}, {1, 1, 1, 0, 0, 0, 0, 0}},
        {"xhi a", {9, 9, 9, 9, 1, 0, 3, 2}, {0, 0, 0, 0, 1, 1, 1, 1}, {1, 1, 1, 1, 0, 0, 0, 0}},
        {"a  hi  a", {9, 9, 9, 1, 3, 4, 3, 2}, {0, 0, 0, 1, 1, 1, 1, 1}, {1, 1, 1, 0, 0, 0, 0, 0}},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        jn_tok_encoding e;
        JN_CHECK_INT_EQ(jn_tokenizer_encode(tk, cases[c].text, strlen(cases[c].text), NULL, &e, &err), 0);
        JN_CHECK_INT_EQ(e.n, 8);
        for (size_t i = 0; i < 8 && i < e.n; i++) {
            JN_CHECK_INT_EQ(e.ids[i], cases[c].ids[i]);
            JN_CHECK_INT_EQ(e.attention[i], cases[c].mask[i]);
            JN_CHECK_INT_EQ(e.type_ids[i], cases[c].types[i]);
        }
        jn_tok_encoding_free(&e);
    }
    /* a batch pads every row to the same width: the fixed length rounded up, on the left */
    const char *texts[] = {"a", "a a"};
    jn_tok_batch b;
    JN_CHECK_INT_EQ(jn_tokenizer_encode_batch(tk, texts, NULL, 2, NULL, &b, &err), 0);
    JN_CHECK_INT_EQ(b.cols, 8);
    JN_CHECK_INT_EQ(b.ids[7], 2);
    JN_CHECK_INT_EQ(b.ids[4], 9);
    JN_CHECK_INT_EQ(b.ids[5], 1);
    jn_tok_batch_free(&b);
    JN_CHECK(!jn_tokenizer_has_type_ids(tk)); /* Roberta: every type id 0 */
    jn_tokenizer_free(tk);
}

int main(void)
{
    JN_TEST_RUN(test_pre_tokenizers);
    JN_TEST_RUN(test_normalizers);
    JN_TEST_RUN(test_decoders);
    JN_TEST_RUN(test_post_and_added);
    return JN_TEST_EXIT();
}
