/* tokenize: input 'text' TEXT BYTES[-1] -> output 'tokens' TEXT BYTES[-1], with the shared tokenizer of text.h:
 * lower-cased words (ASCII, Latin-1, Latin Extended-A, Greek, Cyrillic capitals), each CJK character (Han, kana,
 * Hangul) a token of its own, whitespace and punctuation separating; the request parameter `stopwords` (bool, default
 * false) drops English stop words. A unary call gets every token at once (BYTES[n]); a stream call gets one token
 * per partial answer (BYTES[1]), the built-in proof that streaming passes through pipelines. */
#include <stdlib.h>
#include <string.h>

#include "../builtin.h"
#include "text.h"

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

static int tokens_push(void *arg, const char *s, size_t n)
{
    token_list *t = arg;
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
    memcpy(copy, s, n);
    t->items[t->count] = copy;
    t->lens[t->count++] = n;
    return 0;
}

/* Every element of the BYTES tensor in turn; the request parameter `stopwords` (bool) drops English stop words. */
static int tokenize_all(const jn_infer_ctx *ctx, const jn_tensor *text, token_list *out)
{
    const jn_param *p = ctx && ctx->params ? jn_params_find(ctx->params, "stopwords") : NULL;
    bool stop = p && ((p->type == JN_PARAM_BOOL && p->v.b) || (p->type == JN_PARAM_INT && p->v.i != 0) ||
                      (p->type == JN_PARAM_STRING && strcmp(p->v.s, "true") == 0));
    size_t pos = 0;
    const uint8_t *elem;
    uint32_t len;
    while (jn_bytes_next(text->data, text->byte_size, &pos, &elem, &len)) {
        int rc = jn_text_tokenize(elem, len, stop, tokens_push, out);
        if (rc)
            return rc;
    }
    return 0;
}

static int tokenize_infer(jn_engine *self, const jn_infer_ctx *ctx, const jn_tensor_list *inputs,
                          jn_tensor_list *outputs, jn_err *err)
{
    token_list toks = {0};
    int rc = tokenize_all(ctx, jn_tensor_list_find(inputs, "text"), &toks);
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
    int rc = tokenize_all(ctx, jn_tensor_list_find(inputs, "text"), &toks);
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
