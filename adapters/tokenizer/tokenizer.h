/* tokenizer.h — Hugging Face tokenizers (`tokenizer.json`) in C: load, encode text → ids / attention mask / type
 * ids, batch encode padded to the longest, decode ids → text.
 *
 * The pipeline follows the tokenizer.json format: added tokens are cut out of the text first, the rest goes through
 * the normalizer, the pre-tokenizer (which splits it into words), the model (WordPiece, BPE, Unigram) mapping each
 * word to ids, then truncation (tokenizer.json "truncation" or the caller's options), the post-processor (the
 * template's special tokens and type ids, when add_special_tokens) and padding. Decoding maps ids back to tokens and
 * runs the decoder (WordPiece, ByteLevel, Metaspace, ...).
 *
 * Ownership: jn_tokenizer_load returns a tokenizer the caller frees with jn_tokenizer_free. Encodings and batches
 * are filled into caller-provided structs whose arrays the library allocates; free them with
 * jn_tok_encoding_free / jn_tok_batch_free. Strings returned by jn_tokenizer_decode are malloc'd (caller frees);
 * strings returned by jn_tokenizer_id_to_token are borrowed from the tokenizer.
 *
 * Thread-safety: a loaded tokenizer is immutable; any number of threads may encode/decode with one tokenizer at the
 * same time (every call keeps its scratch on its own stack / heap).
 */
#ifndef JN_TOKENIZER_H
#define JN_TOKENIZER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"

typedef struct jn_tokenizer jn_tokenizer;

/* Loads a tokenizer from a file path, or — when the argument's first non-blank character is '{' — from JSON text.
 * Invalid JSON, a missing/ill-typed field or an unknown component type is refused with JN_EINVAL and a message
 * naming the JSON path ("model.vocab: expected an object"). NULL on failure (err filled). */
jn_tokenizer *jn_tokenizer_load(const char *path_or_json, jn_err *err);

/* Same, from a JSON buffer of len bytes (need not be NUL-terminated). */
jn_tokenizer *jn_tokenizer_load_json(const char *json, size_t len, jn_err *err);

void jn_tokenizer_free(jn_tokenizer *tk);

/* Encode options. Start from jn_tok_options_default(). */
typedef struct jn_tok_options {
    bool add_special_tokens; /* run the post-processor's template (default true) */
    /* Truncation: -1 = as tokenizer.json says (default), 0 = none, > 0 = this max length (special tokens included,
     * right side unless tokenizer.json says left). */
    long max_length;
    /* Padding of a single encode: -1 = as tokenizer.json says for a Fixed length (default; BatchLongest does
     * nothing for one text), 0 = none, > 0 = pad to at least this length. Batches are always padded to the longest
     * row (or more when tokenizer.json/pad_to asks). */
    long pad_to;
} jn_tok_options;

jn_tok_options jn_tok_options_default(void);

/* One encoded text. ids/type_ids/attention/special have n entries each (malloc'd, owned by the struct). */
typedef struct jn_tok_encoding {
    int64_t *ids;
    int64_t *type_ids;
    int64_t *attention;  /* 1 for tokens, 0 for padding */
    uint8_t *special;    /* 1 for the post-processor's special tokens and for padding */
    size_t n;
} jn_tok_encoding;

void jn_tok_encoding_free(jn_tok_encoding *e);

/* Encodes text[0..len) (UTF-8; invalid UTF-8 is refused with JN_EINVAL). An empty text gives just the template's
 * special tokens (or nothing). opt NULL = defaults. On failure *out is left empty. */
int jn_tokenizer_encode(const jn_tokenizer *tk, const char *text, size_t len, const jn_tok_options *opt,
                        jn_tok_encoding *out, jn_err *err);

/* A padded batch: rows x cols, row-major (row r starts at r * cols). All arrays malloc'd, owned by the struct. */
typedef struct jn_tok_batch {
    int64_t *ids;
    int64_t *type_ids;
    int64_t *attention;
    size_t rows, cols;
} jn_tok_batch;

void jn_tok_batch_free(jn_tok_batch *b);

/* Encodes n texts (texts[i], lens[i] bytes; lens NULL = NUL-terminated) and pads every row to the longest (pad id,
 * pad type id and side from tokenizer.json "padding", else id 0 on the right). Fails on the first bad text with
 * "text[i]: ..." in the message. */
int jn_tokenizer_encode_batch(const jn_tokenizer *tk, const char *const *texts, const size_t *lens, size_t n,
                              const jn_tok_options *opt, jn_tok_batch *out, jn_err *err);

/* Decodes ids to text (malloc'd, NUL-terminated, *out_len bytes when out_len is non-NULL). skip_special drops special
 * tokens (added tokens marked special). Ids outside the vocabulary are skipped, as the tokenizers library does
 * (a model's logits may cover a padded vocabulary). */
int jn_tokenizer_decode(const jn_tokenizer *tk, const int64_t *ids, size_t n, bool skip_special, char **out,
                        size_t *out_len, jn_err *err);

/* The id of a token (vocabulary or added token), or -1. */
int64_t jn_tokenizer_token_to_id(const jn_tokenizer *tk, const char *token);

/* The token of an id (borrowed, NUL-terminated), or NULL. */
const char *jn_tokenizer_id_to_token(const jn_tokenizer *tk, int64_t id);

/* Largest id + 1 over the model's vocabulary and the added tokens. */
size_t jn_tokenizer_vocab_size(const jn_tokenizer *tk);

/* Is this id a special added token ([CLS], <|endoftext|>, ...)? */
bool jn_tokenizer_is_special(const jn_tokenizer *tk, int64_t id);

/* Well-known special ids looked up by their usual names ("[CLS]"/"<s>", "[SEP]"/"</s>", "[PAD]"/"<pad>",
 * "[UNK]"/"<unk>", "<|endoftext|>", "[MASK]"/"<mask>"), the padding config's pad id and the model's unk token;
 * -1 when absent. */
typedef struct jn_tok_special_ids {
    int64_t bos, eos, pad, unk, cls, sep, mask;
} jn_tok_special_ids;

jn_tok_special_ids jn_tokenizer_special_ids(const jn_tokenizer *tk);

/* Does the post-processor produce type ids (a template or BERT processor with a type id other than 0 for the pair,
 * i.e. BERT-style models that take token_type_ids)? */
bool jn_tokenizer_has_type_ids(const jn_tokenizer *tk);

/* Max length of tokenizer.json's "truncation" (0 = none). */
size_t jn_tokenizer_max_length(const jn_tokenizer *tk);

#endif
