/* Fuzz target: encoding and decoding with tokenizer.json tokenizers (adapters/tokenizer). The input is the
 * text; it is encoded by four tokenizers (BERT WordPiece, GPT-2 byte-level BPE, Unigram with byte fallback, a BPE
 * with a sequence of pre-tokenizers, truncation and fixed padding: the seeds of corpus/tokenizer_json) with and
 * without special tokens, alone and in a batch, and the ids are decoded. Must never crash, leak or hang; invalid
 * UTF-8 must be refused (JN_EINVAL), valid text encoded with ids inside the vocabulary and a 0/1 attention mask. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tokenizer/tokenizer.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const TOKENIZERS[] = {
    /* corpus/tokenizer_json/bert.json */
    "{\"version\":\"1.0\",\"added_tokens\":[{\"id\":0,\"content\":\"[PAD]\",\"special\":true},{\"id\":1,\""
    "content\":\"[UNK]\",\"special\":true},{\"id\":2,\"content\":\"[CLS]\",\"special\":true},{\"id\":3,\""
    "content\":\"[SEP]\",\"special\":true}],\"normalizer\":{\"type\":\"BertNormalizer\",\"clean_text\":tr"
    "ue,\"handle_chinese_chars\":true,\"strip_accents\":null,\"lowercase\":true},\"pre_tokenizer\":{\"typ"
    "e\":\"BertPreTokenizer\"},\"post_processor\":{\"type\":\"TemplateProcessing\",\"single\":[{\"Special"
    "Token\":{\"id\":\"[CLS]\",\"type_id\":0}},{\"Sequence\":{\"id\":\"A\",\"type_id\":0}},{\"SpecialToke"
    "n\":{\"id\":\"[SEP]\",\"type_id\":0}}],\"pair\":[{\"SpecialToken\":{\"id\":\"[CLS]\",\"type_id\":0}}"
    ",{\"Sequence\":{\"id\":\"A\",\"type_id\":0}},{\"SpecialToken\":{\"id\":\"[SEP]\",\"type_id\":0}},{\""
    "Sequence\":{\"id\":\"B\",\"type_id\":1}},{\"SpecialToken\":{\"id\":\"[SEP]\",\"type_id\":1}}],\"spec"
    "ial_tokens\":{\"[CLS]\":{\"id\":\"[CLS]\",\"ids\":[2],\"tokens\":[\"[CLS]\"]},\"[SEP]\":{\"id\":\"[S"
    "EP]\",\"ids\":[3],\"tokens\":[\"[SEP]\"]}}},\"decoder\":{\"type\":\"WordPiece\",\"prefix\":\"##\",\""
    "cleanup\":true},\"model\":{\"type\":\"WordPiece\",\"unk_token\":\"[UNK]\",\"continuing_subword_prefi"
    "x\":\"##\",\"max_input_chars_per_word\":100,\"vocab\":{\"[PAD]\":0,\"[UNK]\":1,\"[CLS]\":2,\"[SEP]\""
    ":3,\"hello\":4,\"world\":5,\"##s\":6,\",\":7,\"!\":8,\"\xE4\xB8\xAD\":9,\"\xE6\x96\x87\":10,\"un\":1"
    "1,\"##aff\":12,\"##able\":13}}}",
    /* corpus/tokenizer_json/gpt2.json */
    "{\"added_tokens\":[{\"id\":17,\"content\":\"<|endoftext|>\",\"special\":true}],\"normalizer\":null,\""
    "pre_tokenizer\":{\"type\":\"ByteLevel\",\"add_prefix_space\":false,\"trim_offsets\":true,\"use_regex"
    "\":true},\"post_processor\":{\"type\":\"ByteLevel\",\"add_prefix_space\":true,\"trim_offsets\":false"
    "},\"decoder\":{\"type\":\"ByteLevel\",\"add_prefix_space\":true,\"trim_offsets\":true},\"model\":{\""
    "type\":\"BPE\",\"dropout\":null,\"unk_token\":null,\"fuse_unk\":false,\"byte_fallback\":false,\"voca"
    "b\":{\"h\":0,\"e\":1,\"l\":2,\"o\":3,\"\xC4\xA0\":4,\"w\":5,\"r\":6,\"d\":7,\"he\":8,\"ll\":9,\"hell"
    "\":10,\"hello\":11,\"\xC4\xA0w\":12,\"or\":13,\"\xC4\xA0wor\":14,\"ld\":15,\"\xC4\xA0world\":16,\"<|"
    "endoftext|>\":17,\"!\":18,\"\xC3\xA9\":19,\"\xC3\x83\":20,\"\xC2\xA9\":21},\"merges\":[\"h e\",\"l l"
    "\",\"he ll\",\"hell o\",\"\xC4\xA0 w\",\"o r\",\"\xC4\xA0w or\",\"l d\",[\"\xC4\xA0wor\",\"ld\"]]}}",
    /* corpus/tokenizer_json/unigram.json */
    "{\"normalizer\":{\"type\":\"Sequence\",\"normalizers\":[{\"type\":\"NFKC\"},{\"type\":\"Lowercase\"}"
    ",{\"type\":\"Replace\",\"pattern\":{\"Regex\":\" {2,}\"},\"content\":\" \"},{\"type\":\"Strip\",\"st"
    "rip_left\":true,\"strip_right\":true},{\"type\":\"Prepend\",\"prepend\":\"_\"}]},\"pre_tokenizer\":{"
    "\"type\":\"Metaspace\",\"replacement\":\"\xE2\x96\x81\",\"prepend_scheme\":\"first\",\"split\":true}"
    ",\"decoder\":{\"type\":\"Sequence\",\"decoders\":[{\"type\":\"Replace\",\"pattern\":{\"String\":\"\xE2"
    "\x96\x81\"},\"content\":\" \"},{\"type\":\"ByteFallback\"},{\"type\":\"Fuse\"},{\"type\":\"Strip\",\""
    "content\":\" \",\"start\":1,\"stop\":0}]},\"model\":{\"type\":\"Unigram\",\"unk_id\":0,\"byte_fallba"
    "ck\":true,\"vocab\":[[\"<unk>\",0.0],[\"\xE2\x96\x81\",-2.0],[\"\xE2\x96\x81he\",-3.0],[\"llo\",-3.0"
    "],[\"<0x41>\",-9],[\"<0xC3>\",-9],[\"<0xA9>\",-9]]}}",
    /* corpus/tokenizer_json/sequence.json */
    "{\"normalizer\":{\"type\":\"BertNormalizer\",\"clean_text\":true,\"handle_chinese_chars\":true,\"str"
    "ip_accents\":true,\"lowercase\":false},\"pre_tokenizer\":{\"type\":\"Sequence\",\"pretokenizers\":[{"
    "\"type\":\"WhitespaceSplit\"},{\"type\":\"Digits\",\"individual_digits\":true},{\"type\":\"Punctuati"
    "on\",\"behavior\":\"MergedWithPrevious\"},{\"type\":\"Split\",\"pattern\":{\"Regex\":\"\\\\p{Han}\"}"
    ",\"behavior\":\"Isolated\",\"invert\":false},{\"type\":\"Whitespace\"}]},\"post_processor\":{\"type\""
    ":\"RobertaProcessing\",\"sep\":[\"</s>\",2],\"cls\":[\"<s>\",0],\"trim_offsets\":true,\"add_prefix_s"
    "pace\":false},\"decoder\":{\"type\":\"BPEDecoder\",\"suffix\":\"</w>\"},\"truncation\":{\"max_length"
    "\":8,\"direction\":\"Left\",\"strategy\":\"LongestFirst\",\"stride\":0},\"padding\":{\"strategy\":{\""
    "Fixed\":10},\"direction\":\"Right\",\"pad_id\":1,\"pad_type_id\":0,\"pad_token\":\"<pad>\",\"pad_to_"
    "multiple_of\":4},\"added_tokens\":[{\"id\":0,\"content\":\"<s>\",\"special\":true,\"lstrip\":false,\""
    "rstrip\":false,\"single_word\":false,\"normalized\":false},{\"id\":5,\"content\":\"hi\",\"special\":"
    "false,\"lstrip\":true,\"rstrip\":true,\"single_word\":true,\"normalized\":true}],\"model\":{\"type\""
    ":\"BPE\",\"unk_token\":\"<unk>\",\"fuse_unk\":true,\"byte_fallback\":true,\"continuing_subword_prefi"
    "x\":\"##\",\"end_of_word_suffix\":\"</w>\",\"vocab\":{\"<s>\":0,\"<pad>\":1,\"</s>\":2,\"<unk>\":3,\""
    "a\":4,\"hi\":5,\"##b</w>\":6,\"ab</w>\":7,\"<0x41>\":8},\"merges\":[[\"a\",\"##b</w>\"]]}}",
};
#define N_TOKENIZERS (sizeof TOKENIZERS / sizeof TOKENIZERS[0])

static bool valid_utf8(const uint8_t *s, size_t n)
{
    for (size_t i = 0; i < n;) {
        uint8_t c = s[i];
        size_t k = c < 0x80 ? 0 : c >= 0xC2 && c <= 0xDF ? 1 : c >= 0xE0 && c <= 0xEF ? 2 : c >= 0xF0 && c <= 0xF4 ? 3 : 9;
        if (k == 9 || n - i <= k)
            return false;
        uint32_t cp = k == 0 ? c : c & (0x3F >> k);
        for (size_t j = 1; j <= k; j++) {
            if ((s[i + j] & 0xC0) != 0x80)
                return false;
            cp = (cp << 6) | (s[i + j] & 0x3F);
        }
        static const uint32_t min[] = {0, 0x80, 0x800, 0x10000};
        if (cp < min[k] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return false;
        i += k + 1;
    }
    return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static jn_tokenizer *tk[N_TOKENIZERS];
    for (size_t i = 0; i < N_TOKENIZERS; i++) {
        jn_err err = {0};
        if (!tk[i] && !(tk[i] = jn_tokenizer_load(TOKENIZERS[i], &err)))
            abort();
    }
    if (size > 1 << 16)
        return 0;
    bool valid = valid_utf8(data, size);
    for (size_t i = 0; i < N_TOKENIZERS; i++) {
        for (int special = 0; special < 2; special++) {
            jn_tok_options o = jn_tok_options_default();
            o.add_special_tokens = special;
            jn_tok_encoding e;
            jn_err err = {0};
            int rc = jn_tokenizer_encode(tk[i], (const char *)data, size, &o, &e, &err);
            if (!valid) {
                if (rc != JN_EINVAL || !strstr(err.msg, "invalid UTF-8"))
                    abort();
                continue;
            }
            if (rc == JN_EINVAL && strstr(err.msg, "no token")) /* a model without unk_token */
                continue;
            if (rc)
                abort();
            for (size_t k = 0; k < e.n; k++)
                if (e.ids[k] < 0 || (size_t)e.ids[k] >= jn_tokenizer_vocab_size(tk[i]) ||
                    (e.attention[k] != 0 && e.attention[k] != 1))
                    abort();
            char *s;
            size_t n;
            if (jn_tokenizer_decode(tk[i], e.ids, e.n, special, &s, &n, &err) || strlen(s) > n)
                abort();
            free(s);
            jn_tok_encoding_free(&e);
        }
        const char *texts[2] = {(const char *)data, "x"};
        size_t lens[2] = {size, 1};
        jn_tok_batch b;
        jn_err err = {0};
        int rc = jn_tokenizer_encode_batch(tk[i], texts, lens, 2, NULL, &b, &err);
        if (!rc) {
            if (b.rows != 2)
                abort();
            jn_tok_batch_free(&b);
        } else if (valid && !strstr(err.msg, "no token")) {
            abort();
        }
    }
    return 0;
}
