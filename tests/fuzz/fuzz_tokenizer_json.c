/* Fuzz target: the tokenizer.json loader (adapters/tokenizer). The input is the file. Must never crash, leak or
 * hang; a file that is refused says why (JN_EINVAL with the JSON path, or JN_ENOMEM), and a file that loads encodes a
 * few texts (ASCII, CJK, emoji, a long word) with ids inside its vocabulary and decodes them. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tokenizer/tokenizer.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 1 << 20)
        return 0;
    jn_err err = {0};
    jn_tokenizer *tk = jn_tokenizer_load_json((const char *)data, size, &err);
    if (!tk) {
        if ((err.code != JN_EINVAL && err.code != JN_ENOMEM) || !err.msg[0])
            abort();
        return 0;
    }
    static const char *const texts[] = {"Hello, world! unaffable", "\xE4\xB8\xAD\xE6\x96\x87 \xF0\x9F\x91\x8D",
                                        "caf\xC3\xA9  <s> [CLS] 12345", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"};
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        jn_tok_encoding e;
        int rc = jn_tokenizer_encode(tk, texts[i], strlen(texts[i]), NULL, &e, &err);
        if (rc == JN_EINVAL) /* e.g. a model without unk_token meeting an unknown word */
            continue;
        if (rc)
            abort();
        size_t vs = jn_tokenizer_vocab_size(tk);
        for (size_t k = 0; k < e.n; k++)
            if (e.attention[k] == 1 && (e.ids[k] < 0 || ((size_t)e.ids[k] >= vs && vs > 0 && !e.special[k])))
                abort();
        char *s;
        if (jn_tokenizer_decode(tk, e.ids, e.n, true, &s, NULL, &err))
            abort();
        free(s);
        jn_tok_encoding_free(&e);
    }
    jn_tokenizer_free(tk);
    return 0;
}
