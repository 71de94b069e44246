/* onnx_text_tok.h — the tokenizer a text model folder uses (DIR/<name>/tokenizer.json), as onnx_text.c needs it:
 * one narrow seam over the tokenizer engine (wip/tokjson), so the model side does not depend on its internals.
 *
 * Ownership: jn_text_tok_load returns a tokenizer freed with jn_text_tok_free; encode's arrays are the caller's
 * (free()).
 * Thread-safety: a loaded tokenizer is immutable; encode may run on several threads at once.
 */
#ifndef JN_ONNX_TEXT_TOK_H
#define JN_ONNX_TEXT_TOK_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

typedef struct jn_text_tok jn_text_tok;

/* JN_EINVAL naming the file and the JSON path on anything the tokenizer engine refuses. */
jn_text_tok *jn_text_tok_load(const char *path, jn_err *err);
void jn_text_tok_free(jn_text_tok *tok);

/* tokenizer.json's truncation.max_length (0 when it sets none). */
size_t jn_text_tok_max_length(const jn_text_tok *tok);
/* The id padding rows uses (padding.pad_id, else 0). */
int64_t jn_text_tok_pad_id(const jn_text_tok *tok);
/* A one-line description for `model inspect` ("WordPiece, BERT normalizer, template [CLS] $A [SEP]"). */
const char *jn_text_tok_describe(const jn_text_tok *tok);

/* One text (`len` bytes of UTF-8) with the special tokens of the post-processor, truncated to `max_len` tokens
 * (0 = no bound, also none of tokenizer.json's; the special tokens are kept). *ids and *types (token_type_ids)
 * get n elements. JN_EINVAL for invalid UTF-8. */
int jn_text_tok_encode(const jn_text_tok *tok, const char *text, size_t len, size_t max_len, int64_t **ids,
                       int64_t **types, size_t *n, jn_err *err);

#endif
