/* tokenize: input 'text' TEXT BYTES[-1] -> output 'tokens' TEXT BYTES[-1]. Words are lower-cased (ASCII letters)
 * runs of letters and digits; each CJK character (Han, kana, Hangul) is a token of its own; whitespace and
 * punctuation separate. A unary call gets every token at once (BYTES[n]); a stream call gets one token per partial
 * answer (BYTES[1]), the built-in proof that streaming passes through pipelines. The text engines issue grows this
 * into the full tokenizer (stop words, n-grams). */
#include <stdlib.h>
#include <string.h>

#include "../builtin.h"

typedef struct token_list {
    char **items;
    size_t *lens;
    size_t count, cap;
} token_list;

static void tokens_free(token_list *t)
{
    for (size_t i = 0; i < t->count; i++)
        free(t->items[i]);
    free(t->items);
    free(t->lens);
}

static int tokens_push(token_list *t, const char *s, size_t n)
{
    if (t->count == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 16;
        char **items = realloc(t->items, cap * sizeof *items);
        if (!items)
            return JN_ENOMEM;
        t->items = items;
        size_t *lens = realloc(t->lens, cap * sizeof *lens);
        if (!lens)
            return JN_ENOMEM;
        t->lens = lens;
        t->cap = cap;
    }
    char *copy = malloc(n ? n : 1);
    if (!copy)
        return JN_ENOMEM;
    for (size_t i = 0; i < n; i++)
        copy[i] = s[i] >= 'A' && s[i] <= 'Z' ? (char)(s[i] - 'A' + 'a') : s[i];
    t->items[t->count] = copy;
    t->lens[t->count++] = n;
    return 0;
}

/* Decodes one UTF-8 code point (input already validated as UTF-8 by the TEXT port). */
static size_t next_cp(const uint8_t *s, size_t n, uint32_t *cp)
{
    uint8_t c = s[0];
    size_t len = c < 0x80 ? 1 : (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : 4;
    if (len > n)
        len = n;
    uint32_t v = len == 1 ? c : len == 2 ? c & 0x1F : len == 3 ? c & 0x0F : c & 0x07;
    for (size_t i = 1; i < len; i++)
        v = v << 6 | (s[i] & 0x3F);
    *cp = v;
    return len;
}

static bool is_cjk(uint32_t cp)
{
    return (cp >= 0x4E00 && cp <= 0x9FFF) || (cp >= 0x3400 && cp <= 0x4DBF) || (cp >= 0x3040 && cp <= 0x30FF) ||
           (cp >= 0xAC00 && cp <= 0xD7AF) || (cp >= 0xF900 && cp <= 0xFAFF) || (cp >= 0x20000 && cp <= 0x2A6DF);
}

/* Word characters: ASCII letters and digits, and every non-ASCII code point that is not CJK, punctuation or
 * space (accented Latin, Cyrillic, Greek ... stay inside words). */
static bool is_word(uint32_t cp)
{
    if (cp < 0x80)
        return (cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z') || (cp >= '0' && cp <= '9') || cp == '\'';
    if (cp <= 0xBF || (cp >= 0x2000 && cp <= 0x206F) || (cp >= 0x3000 && cp <= 0x303F) ||
        (cp >= 0xFF00 && cp <= 0xFF0F) || (cp >= 0xFF1A && cp <= 0xFF20) || cp == 0xFEFF)
        return false; /* Latin-1 punctuation, general punctuation, CJK and full-width punctuation */
    return !is_cjk(cp);
}

static int tokenize_all(const jn_tensor *text, token_list *out)
{
    size_t pos = 0;
    const uint8_t *elem;
    uint32_t len;
    while (jn_bytes_next(text->data, text->byte_size, &pos, &elem, &len)) {
        size_t i = 0, word = SIZE_MAX;
        while (i < len) {
            uint32_t cp;
            size_t n = next_cp(elem + i, len - i, &cp);
            bool w = is_word(cp);
            if (!w && word != SIZE_MAX) {
                if (tokens_push(out, (const char *)elem + word, i - word))
                    return JN_ENOMEM;
                word = SIZE_MAX;
            }
            if (w && word == SIZE_MAX)
                word = i;
            if (is_cjk(cp) && tokens_push(out, (const char *)elem + i, n))
                return JN_ENOMEM;
            i += n;
        }
        if (word != SIZE_MAX && tokens_push(out, (const char *)elem + word, len - word))
            return JN_ENOMEM;
    }
    return 0;
}

static int tokenize_infer(jn_engine *self, const jn_infer_ctx *ctx, const jn_tensor_list *inputs,
                          jn_tensor_list *outputs, jn_err *err)
{
    token_list toks = {0};
    int rc = tokenize_all(jn_tensor_list_find(inputs, "text"), &toks);
    if (rc) {
        tokens_free(&toks);
        return jn_err_set(err, rc, "out of memory");
    }
    const int64_t shape[1] = {(int64_t)toks.count};
    jn_tensor *t = jn_tensor_from_strings("tokens", 1, shape, (const char *const *)toks.items, toks.lens,
                                          toks.count, err);
    tokens_free(&toks);
    if (!t)
        return err->code;
    return jn_tensor_list_push(outputs, t) ? jn_err_set(err, JN_ENOMEM, "out of memory") : 0;
}

static int tokenize_stream(jn_engine *self, const jn_infer_ctx *ctx, const jn_tensor_list *inputs,
                           jn_emit_fn emit, void *emit_arg, jn_err *err)
{
    token_list toks = {0};
    int rc = tokenize_all(jn_tensor_list_find(inputs, "text"), &toks);
    if (rc)
        rc = jn_err_set(err, rc, "out of memory");
    const int64_t one[1] = {1};
    for (size_t i = 0; i < toks.count && !rc; i++) {
        if ((rc = jn_infer_ctx_check(ctx, err)))
            break;
        const char *s = toks.items[i];
        jn_tensor *t = jn_tensor_from_strings("tokens", 1, one, &s, &toks.lens[i], 1, err);
        if (!t) {
            rc = err->code;
            break;
        }
        jn_tensor_list partial;
        jn_tensor_list_init(&partial);
        if (jn_tensor_list_push(&partial, t))
            rc = jn_err_set(err, JN_ENOMEM, "out of memory");
        else
            rc = emit(emit_arg, &partial, err);
        jn_tensor_list_clear(&partial);
    }
    tokens_free(&toks);
    return rc;
}

static const jn_engine_vtable tokenize_vtable = {
    .abi_version = JN_ENGINE_ABI_VERSION,
    .platform = "junction_text",
    .infer = tokenize_infer,
    .infer_stream = tokenize_stream,
};

jn_engine *jn_tokenize_create(const char *name, const jn_builtin_options *opt, jn_err *err)
{
    jn_engine *e = jn_engine_create(&tokenize_vtable, name, "1",
                                    "UTF-8 text -> lower-cased word tokens, CJK characters as single tokens; streams "
                                    "one token per message",
                                    NULL, err);
    if (!e)
        return NULL;
    const int64_t any[1] = {-1};
    if (jn_signature_add_input(&e->sig, "text", JN_KIND_TEXT, JN_DTYPE_BYTES, 1, any, err) ||
        jn_signature_add_output(&e->sig, "tokens", JN_KIND_TEXT, JN_DTYPE_BYTES, 1, any, err)) {
        jn_engine_unref(e);
        return NULL;
    }
    e->flags |= JN_ENGINE_STREAMS;
    return e;
}
