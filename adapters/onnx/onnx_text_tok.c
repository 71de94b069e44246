/* onnx_text_tok.c — the seam over the tokenizer engine (adapters/tokenizer, issue #19 item 1) that
 * onnx_text.c uses: the only file of the ONNX adapter that knows its API. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "onnx_text_tok.h"
#include "tokenizer/tokenizer.h"

struct jn_text_tok {
    jn_tokenizer *tk;
    int64_t pad_id;
    char describe[160];
};

jn_text_tok *jn_text_tok_load(const char *path, jn_err *err)
{
    jn_text_tok *t = calloc(1, sizeof *t);
    if (!t) {
        jn_err_set(err, JN_ENOMEM, "out of memory");
        return NULL;
    }
    if (!(t->tk = jn_tokenizer_load(path, err))) {
        if (!strstr(err->msg, path))
            jn_err_prefix(err, "%s", path);
        free(t);
        return NULL;
    }
    jn_tok_special_ids sp = jn_tokenizer_special_ids(t->tk);
    t->pad_id = sp.pad >= 0 ? sp.pad : 0;
    snprintf(t->describe, sizeof t->describe, "%zu ids, truncation %zu, pad id %lld%s",
             jn_tokenizer_vocab_size(t->tk), jn_tokenizer_max_length(t->tk), (long long)t->pad_id,
             jn_tokenizer_has_type_ids(t->tk) ? ", type ids" : "");
    return t;
}

void jn_text_tok_free(jn_text_tok *tok)
{
    if (!tok)
        return;
    jn_tokenizer_free(tok->tk);
    free(tok);
}

size_t jn_text_tok_max_length(const jn_text_tok *tok)
{
    return jn_tokenizer_max_length(tok->tk);
}

int64_t jn_text_tok_pad_id(const jn_text_tok *tok)
{
    return tok->pad_id;
}

const char *jn_text_tok_describe(const jn_text_tok *tok)
{
    return tok->describe;
}

int jn_text_tok_encode(const jn_text_tok *tok, const char *text, size_t len, size_t max_len, int64_t **ids,
                       int64_t **types, size_t *n, jn_err *err)
{
    jn_tok_options opt = jn_tok_options_default();
    opt.max_length = (long)max_len; /* 0 = none: the caller's bound replaces tokenizer.json's */
    opt.pad_to = 0;
    jn_tok_encoding enc;
    memset(&enc, 0, sizeof enc);
    int rc = jn_tokenizer_encode(tok->tk, text, len, &opt, &enc, err);
    if (rc)
        return rc;
    *ids = enc.ids;
    *types = enc.type_ids;
    *n = enc.n;
    enc.ids = enc.type_ids = NULL;
    jn_tok_encoding_free(&enc);
    return 0;
}
