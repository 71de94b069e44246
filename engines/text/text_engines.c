/* text_engines.c — the served text models:
 *
 * - spam-text: 'text' TEXT BYTES[-1] -> 'scores' CLASSIFICATION FP32[-1,K], softmax probabilities of the shipped
 *   linear classifier (engines/text/models/spam-text.safetensors, labels from its metadata: ["ham","spam"]). The
 *   weights are loaded once at creation and shared read-only by every call. When the file cannot be found the engine
 *   is still registered (serve must not fail for one model) and every call answers UNAVAILABLE naming where it looked.
 * - embed: 'text' TEXT BYTES[-1] -> 'embedding' EMBEDDING FP32[-1,256]: hashed n-gram features signed-hashed down to
 *   256 dimensions and L2-normalized (jn_text_embed). No training: similar wording gives a high cosine.
 * - similarity: 'a', 'b' TEXT BYTES[-1] -> 'cosine' FP32[-1]: cosine of the two embeddings, element by element (a
 *   single 'a' or 'b' is paired with every element of the other).
 *
 * All run on the worker pool (a long e-mail takes about a millisecond to featurize).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../builtin.h"
#include "text.h"

#define EMBED_DIM 256
#define SPAM_MODEL_FILE "spam-text.safetensors"

typedef struct spam_ctx {
    jn_text_model model;
    bool loaded;
    char why[JN_ERR_MSG_MAX];
} spam_ctx;

/* Elements of a BYTES tensor as (pointer, length) pairs. */
typedef struct texts {
    const uint8_t **s;
    uint32_t *n;
    size_t count;
} texts;

static int texts_get(const jn_tensor *t, texts *out, jn_err *err)
{
    int64_t c = jn_bytes_count(t->data, t->byte_size);
    out->count = c > 0 ? (size_t)c : 0;
    out->s = calloc(out->count ? out->count : 1, sizeof *out->s);
    out->n = calloc(out->count ? out->count : 1, sizeof *out->n);
    if (!out->s || !out->n) {
        free(out->s);
        free(out->n);
        return jn_err_set(err, JN_ENOMEM, "out of memory");
    }
    size_t pos = 0, i = 0;
    while (i < out->count && jn_bytes_next(t->data, t->byte_size, &pos, &out->s[i], &out->n[i]))
        i++;
    return 0;
}

static void texts_free(texts *t)
{
    free(t->s);
    free(t->n);
}

static int spam_infer(jn_engine *self, const jn_infer_ctx *ctx, const jn_tensor_list *inputs,
                      jn_tensor_list *outputs, jn_err *err)
{
    spam_ctx *sc = self->ctx;
    if (!sc->loaded)
        return jn_err_set(err, JN_EUNAVAIL, "model '%s': %s", self->name, sc->why);
    texts tx;
    int rc = texts_get(jn_tensor_list_find(inputs, "text"), &tx, err);
    if (rc)
        return rc;
    size_t k = sc->model.lin.k;
    const int64_t shape[2] = {(int64_t)tx.count, (int64_t)k};
    jn_tensor *out = jn_tensor_create("scores", JN_DTYPE_FP32, 2, shape, err);
    if (!out) {
        texts_free(&tx);
        return err->code;
    }
    jn_text_sparse x = {0};
    for (size_t i = 0; i < tx.count && !rc; i++) {
        if ((rc = jn_infer_ctx_check(ctx, err)))
            break;
        if (jn_text_features(&sc->model.cfg, tx.s[i], tx.n[i], &x))
            rc = jn_err_set(err, JN_ENOMEM, "out of memory");
        else
            jn_text_linear_forward(&sc->model.lin, &x, (float *)out->data + i * k);
    }
    jn_text_sparse_free(&x);
    texts_free(&tx);
    if (rc) {
        jn_tensor_free(out);
        return rc;
    }
    return jn_tensor_list_push(outputs, out) ? jn_err_set(err, JN_ENOMEM, "out of memory") : 0;
}

static void spam_destroy(jn_engine *self)
{
    spam_ctx *sc = self->ctx;
    if (!sc)
        return;
    jn_text_model_free(&sc->model);
    free(sc);
}

static const jn_engine_vtable spam_vtable = {
    .abi_version = JN_ENGINE_ABI_VERSION,
    .platform = "junction_text",
    .infer = spam_infer,
    .destroy = spam_destroy,
};

/* A linear text classifier over a shipped model file; if the file is missing the engine still registers (with
 * the fallback labels) and answers UNAVAILABLE, so one missing file does not stop `serve`. */
static jn_engine *text_classifier_create(const char *name, const char *model_file, const char *description,
                                         const char *const *fallback, size_t n_fallback, jn_err *err)
{
    spam_ctx *sc = calloc(1, sizeof *sc);
    if (!sc) {
        jn_err_set(err, JN_ENOMEM, "out of memory");
        return NULL;
    }
    char path[4096];
    jn_err lerr = {0};
    if (jn_text_find_model(model_file, path, sizeof path, &lerr) == 0 &&
        jn_text_model_load(path, &sc->model, &lerr) == 0)
        sc->loaded = true;
    else {
        snprintf(sc->why, sizeof sc->why, "%s", lerr.msg);
        fprintf(stderr, "junction: warning: %s: %s\n", name, lerr.msg);
    }
    jn_engine *e = jn_engine_create(&spam_vtable, name, "1", description, sc, err);
    if (!e) {
        jn_text_model_free(&sc->model);
        free(sc);
        return NULL;
    }
    size_t k = sc->loaded ? sc->model.lin.k : n_fallback;
    const char *const *labels = sc->loaded ? (const char *const *)sc->model.labels : fallback;
    const int64_t any[1] = {-1}, out_shape[2] = {-1, (int64_t)k};
    if (jn_signature_add_input(&e->sig, "text", JN_KIND_TEXT, JN_DTYPE_BYTES, 1, any, err) ||
        jn_signature_add_output(&e->sig, "scores", JN_KIND_CLASSIFICATION, JN_DTYPE_FP32, 2, out_shape, err) ||
        jn_port_set_labels(&e->sig.outputs[0], labels, k, err)) {
        jn_engine_unref(e);
        return NULL;
    }
    if (jn_signature_batches(&e->sig)) /* rows are independent */
        e->flags |= JN_ENGINE_BATCHES;
    return e;
}

jn_engine *jn_spam_text_create(const char *name, const jn_builtin_options *opt, jn_err *err)
{
    static const char *const fallback[] = {"ham", "spam"};
    return text_classifier_create(name, SPAM_MODEL_FILE,
                                  "spam filter: linear softmax over hashed word (1-2) and character (3-5) n-grams, "
                                  "trained on the SpamAssassin public corpus; UTF-8 text -> ham/spam scores",
                                  fallback, 2, err);
}

jn_engine *jn_fashion_text_create(const char *name, const jn_builtin_options *opt, jn_err *err)
{
    static const char *const fallback[] = {"Ankle boot", "Bag", "Coat", "Dress", "Pullover",
                                           "Sandal", "Shirt", "Sneaker", "T-shirt/top", "Trouser"};
    return text_classifier_create(name, "fashion-text.safetensors",
                                  "product title -> Fashion-MNIST category; linear model over hashed n-grams, "
                                  "trained on synthetic titles (tests/data/make_fashion_titles.py)",
                                  fallback, 10, err);
}

static int embed_infer(jn_engine *self, const jn_infer_ctx *ctx, const jn_tensor_list *inputs,
                       jn_tensor_list *outputs, jn_err *err)
{
    texts tx;
    int rc = texts_get(jn_tensor_list_find(inputs, "text"), &tx, err);
    if (rc)
        return rc;
    const int64_t shape[2] = {(int64_t)tx.count, EMBED_DIM};
    jn_tensor *out = jn_tensor_create("embedding", JN_DTYPE_FP32, 2, shape, err);
    for (size_t i = 0; out && i < tx.count && !rc; i++)
        if (!(rc = jn_infer_ctx_check(ctx, err)) &&
            jn_text_embed(tx.s[i], tx.n[i], (float *)out->data + i * EMBED_DIM, EMBED_DIM))
            rc = jn_err_set(err, JN_ENOMEM, "out of memory");
    texts_free(&tx);
    if (!out)
        return err->code;
    if (rc) {
        jn_tensor_free(out);
        return rc;
    }
    return jn_tensor_list_push(outputs, out) ? jn_err_set(err, JN_ENOMEM, "out of memory") : 0;
}

static const jn_engine_vtable embed_vtable = {
    .abi_version = JN_ENGINE_ABI_VERSION,
    .platform = "junction_text",
    .infer = embed_infer,
};

jn_engine *jn_embed_create(const char *name, const jn_builtin_options *opt, jn_err *err)
{
    jn_engine *e = jn_engine_create(&embed_vtable, name, "1",
                                    "UTF-8 text -> 256-d L2-normalized embedding (hashed word and character n-grams, "
                                    "signed-hash projection)",
                                    NULL, err);
    if (!e)
        return NULL;
    const int64_t any[1] = {-1}, out_shape[2] = {-1, EMBED_DIM};
    if (jn_signature_add_input(&e->sig, "text", JN_KIND_TEXT, JN_DTYPE_BYTES, 1, any, err) ||
        jn_signature_add_output(&e->sig, "embedding", JN_KIND_EMBEDDING, JN_DTYPE_FP32, 2, out_shape, err)) {
        jn_engine_unref(e);
        return NULL;
    }
    if (jn_signature_batches(&e->sig)) /* rows are independent */
        e->flags |= JN_ENGINE_BATCHES;
    return e;
}

static int sim_infer(jn_engine *self, const jn_infer_ctx *ctx, const jn_tensor_list *inputs,
                     jn_tensor_list *outputs, jn_err *err)
{
    texts a, b;
    int rc = texts_get(jn_tensor_list_find(inputs, "a"), &a, err);
    if (rc)
        return rc;
    if ((rc = texts_get(jn_tensor_list_find(inputs, "b"), &b, err))) {
        texts_free(&a);
        return rc;
    }
    size_t n = a.count > b.count ? a.count : b.count;
    jn_tensor *out = NULL;
    if (a.count != b.count && a.count != 1 && b.count != 1)
        rc = jn_err_set(err, JN_EINVAL,
                        "model '%s': inputs 'a' and 'b' need the same number of texts (or one of them a single "
                        "text), got %zu and %zu",
                        self->name, a.count, b.count);
    const int64_t shape[1] = {(int64_t)n};
    if (!rc && !(out = jn_tensor_create("cosine", JN_DTYPE_FP32, 1, shape, err)))
        rc = err->code;
    float ea[EMBED_DIM], eb[EMBED_DIM];
    for (size_t i = 0; !rc && i < n; i++) {
        size_t ia = a.count == 1 ? 0 : i, ib = b.count == 1 ? 0 : i;
        if ((rc = jn_infer_ctx_check(ctx, err)))
            break;
        if (jn_text_embed(a.s[ia], a.n[ia], ea, EMBED_DIM) || jn_text_embed(b.s[ib], b.n[ib], eb, EMBED_DIM)) {
            rc = jn_err_set(err, JN_ENOMEM, "out of memory");
            break;
        }
        float dot = 0;
        for (size_t j = 0; j < EMBED_DIM; j++)
            dot += ea[j] * eb[j];
        ((float *)out->data)[i] = dot;
    }
    texts_free(&a);
    texts_free(&b);
    if (rc) {
        jn_tensor_free(out);
        return rc;
    }
    return jn_tensor_list_push(outputs, out) ? jn_err_set(err, JN_ENOMEM, "out of memory") : 0;
}

static const jn_engine_vtable sim_vtable = {
    .abi_version = JN_ENGINE_ABI_VERSION,
    .platform = "junction_text",
    .infer = sim_infer,
};

jn_engine *jn_similarity_create(const char *name, const jn_builtin_options *opt, jn_err *err)
{
    jn_engine *e = jn_engine_create(&sim_vtable, name, "1",
                                    "two UTF-8 texts -> cosine similarity of their `embed` vectors", NULL, err);
    if (!e)
        return NULL;
    const int64_t any[1] = {-1};
    if (jn_signature_add_input(&e->sig, "a", JN_KIND_TEXT, JN_DTYPE_BYTES, 1, any, err) ||
        jn_signature_add_input(&e->sig, "b", JN_KIND_TEXT, JN_DTYPE_BYTES, 1, any, err) ||
        jn_signature_add_output(&e->sig, "cosine", JN_KIND_TENSOR, JN_DTYPE_FP32, 1, any, err)) {
        jn_engine_unref(e);
        return NULL;
    }
    if (jn_signature_batches(&e->sig)) /* rows are independent */
        e->flags |= JN_ENGINE_BATCHES;
    return e;
}
