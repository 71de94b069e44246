/* tokenizer_engine.c — tokenizer.json served as a model (see tokenizer_engine.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "dir_names.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer_engine.h"

typedef struct tok_engine {
    jn_tokenizer *tk;
    bool type_ids;
} tok_engine;

/* add_special_tokens: a bool, an int (0/1) or a string ("false"/"true"/"0"/"1"). */
static int special_param(const jn_params *params, bool *out, jn_err *err)
{
    *out = true;
    const jn_param *p = params ? jn_params_find(params, "add_special_tokens") : NULL;
    if (!p)
        return 0;
    switch (p->type) {
    case JN_PARAM_BOOL:
        *out = p->v.b;
        return 0;
    case JN_PARAM_INT:
        if (p->v.i == 0 || p->v.i == 1) {
            *out = p->v.i;
            return 0;
        }
        break;
    case JN_PARAM_STRING:
        if (!strcasecmp(p->v.s, "false") || !strcmp(p->v.s, "0")) {
            *out = false;
            return 0;
        }
        if (!strcasecmp(p->v.s, "true") || !strcmp(p->v.s, "1"))
            return 0;
        break;
    case JN_PARAM_DOUBLE:
        break;
    }
    return jn_err_set(err, JN_EINVAL, "parameter 'add_special_tokens': expected true or false");
}

static int tok_infer(jn_engine *self, const jn_infer_ctx *ctx, const jn_tensor_list *inputs, jn_tensor_list *outputs,
                     jn_err *err)
{
    tok_engine *te = self->ctx;
    const jn_tensor *t = jn_tensor_list_find(inputs, "text");
    if (!t)
        return jn_err_set(err, JN_EINVAL, "input 'text' is missing");
    jn_tok_options opt = jn_tok_options_default();
    int rc = special_param(ctx ? ctx->params : NULL, &opt.add_special_tokens, err);
    if (rc)
        return rc;
    int64_t count = jn_bytes_count(t->data, t->byte_size);
    if (count <= 0)
        return jn_err_set(err, JN_EINVAL, "input 'text': no texts in the request");
    const char **s = calloc((size_t)count, sizeof *s);
    size_t *n = calloc((size_t)count, sizeof *n);
    if (!s || !n) {
        free(s);
        free(n);
        return jn_err_set(err, JN_ENOMEM, "out of memory");
    }
    size_t pos = 0;
    for (int64_t i = 0; i < count; i++) {
        const uint8_t *e;
        uint32_t len;
        if (!jn_bytes_next(t->data, t->byte_size, &pos, &e, &len)) {
            rc = jn_err_set(err, JN_EINVAL, "input 'text'[%lld]: malformed BYTES element", (long long)i);
            break;
        }
        if (len == 0) {
            rc = jn_err_set(err, JN_EINVAL, "input 'text'[%lld]: empty text", (long long)i);
            break;
        }
        s[i] = (const char *)e;
        n[i] = len;
    }
    jn_tok_batch b = {0};
    if (!rc && (rc = jn_infer_ctx_check(ctx, err)) == 0) {
        rc = jn_tokenizer_encode_batch(te->tk, s, n, (size_t)count, &opt, &b, err);
        if (rc && err->msg[0] == 't') /* "text[i]: ..." -> "input 'text'[i]: ..." */
            jn_err_prefix(err, "input '%s'", "text");
    }
    free(s);
    free(n);
    if (rc)
        return rc;
    const int64_t shape[2] = {(int64_t)b.rows, (int64_t)b.cols};
    const char *names[3] = {"input_ids", "attention_mask", "token_type_ids"};
    int64_t *data[3] = {b.ids, b.attention, b.type_ids};
    size_t nout = te->type_ids ? 3 : 2;
    for (size_t k = 0; k < nout && !rc; k++) {
        jn_tensor *o = jn_tensor_create(names[k], JN_DTYPE_INT64, 2, shape, err);
        if (!o) {
            rc = err->code;
            break;
        }
        memcpy(o->data, data[k], b.rows * b.cols * sizeof(int64_t));
        if (jn_tensor_list_push(outputs, o)) {
            jn_tensor_free(o);
            rc = jn_err_set(err, JN_ENOMEM, "out of memory");
        }
    }
    jn_tok_batch_free(&b);
    return rc;
}

static void tok_destroy(jn_engine *self)
{
    tok_engine *te = self->ctx;
    if (!te)
        return;
    jn_tokenizer_free(te->tk);
    free(te);
}

static const jn_engine_vtable tok_vtable = {
    .abi_version = JN_ENGINE_ABI_VERSION,
    .platform = "junction_tokenizer",
    .infer = tok_infer,
    .destroy = tok_destroy,
};

jn_engine *jn_tokenizer_engine_create(const char *name, const char *path, jn_err *err)
{
    jn_tokenizer *tk = jn_tokenizer_load(path, err);
    if (!tk)
        return NULL;
    tok_engine *te = calloc(1, sizeof *te);
    if (!te) {
        jn_tokenizer_free(tk);
        jn_err_set(err, JN_ENOMEM, "out of memory");
        return NULL;
    }
    te->tk = tk;
    te->type_ids = jn_tokenizer_has_type_ids(tk);
    jn_engine *e = jn_engine_create(&tok_vtable, name, "1",
                                    "Hugging Face tokenizer (tokenizer.json): text -> input_ids, attention_mask", te,
                                    err);
    if (!e) {
        jn_tokenizer_free(tk);
        free(te);
        return NULL;
    }
    const int64_t any[1] = {-1}, mat[2] = {-1, -1};
    if (jn_signature_add_input(&e->sig, "text", JN_KIND_TEXT, JN_DTYPE_BYTES, 1, any, err) ||
        jn_signature_add_output(&e->sig, "input_ids", JN_KIND_TENSOR, JN_DTYPE_INT64, 2, mat, err) ||
        jn_signature_add_output(&e->sig, "attention_mask", JN_KIND_TENSOR, JN_DTYPE_INT64, 2, mat, err) ||
        (te->type_ids &&
         jn_signature_add_output(&e->sig, "token_type_ids", JN_KIND_TENSOR, JN_DTYPE_INT64, 2, mat, err))) {
        jn_engine_unref(e);
        return NULL;
    }
    return e; /* not inline: long texts take a while; the worker pool runs it */
}

static bool is_file(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

int jn_tokenizer_register_dir(jn_registry *reg, const char *dir, jn_err *err)
{
    char **names = NULL;
    size_t n = 0;
    int rc = jn_dir_names(dir, NULL, &names, &n, err); /* a stable order for messages and name clashes */
    if (rc)
        return rc == JN_ENOMEM ? rc : jn_err_set(err, JN_EIO, "models directory '%s' cannot be read", dir);
    int registered = 0;
    for (size_t i = 0; i < n; i++) {
        char tok[4096], onnx[4096];
        snprintf(tok, sizeof tok, "%s/%s/tokenizer.json", dir, names[i]);
        snprintf(onnx, sizeof onnx, "%s/%s/model.onnx", dir, names[i]);
        if (is_file(tok) && !is_file(onnx)) {
            jn_err e = {0};
            jn_engine *eng = jn_tokenizer_engine_create(names[i], tok, &e);
            if (!eng || jn_registry_add(reg, eng, &e))
                fprintf(stderr, "junction: tokenizer '%s' skipped: %s\n", names[i], e.msg);
            else
                registered++;
        }
        free(names[i]);
    }
    free(names);
    return registered;
}
