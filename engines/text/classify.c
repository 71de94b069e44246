/* classify.c — the text classifier's model file (safetensors W, b + hash config metadata) and where shipped models
 * live (text.h). The forward pass and gradient are in features.c (jn_text_linear_*). */
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "safetensors.h"
#include "text.h"

#ifndef JN_TEXT_SOURCE_MODELS_DIR
#define JN_TEXT_SOURCE_MODELS_DIR ""
#endif

void jn_text_model_free(jn_text_model *m)
{
    if (m->labels)
        for (size_t i = 0; i < m->lin.k; i++)
            free(m->labels[i]);
    free(m->labels);
    free(m->lin.w);
    free(m->lin.b);
    memset(m, 0, sizeof *m);
}

static int meta_int(json_t *meta, const char *key, int lo, int hi, int *out, const char *path, jn_err *err)
{
    const char *s = json_string_value(json_object_get(meta, key));
    char *end;
    long v = s ? strtol(s, &end, 10) : 0;
    if (!s || *end || v < lo || v > hi)
        return jn_err_set(err, JN_EINVAL, "%s: metadata '%s' missing or out of range [%d, %d]", path, key, lo, hi);
    *out = (int)v;
    return 0;
}

int jn_text_model_load(const char *path, jn_text_model *m, jn_err *err)
{
    memset(m, 0, sizeof *m);
    jn_tensor_list tl;
    jn_tensor_list_init(&tl);
    char *metatext = NULL;
    int rc = jn_safetensors_read(path, &tl, &metatext, err);
    if (rc)
        return rc;
    json_t *meta = metatext ? json_loads(metatext, 0, NULL) : NULL;
    free(metatext);
    jn_tensor *w = jn_tensor_list_find(&tl, "W"), *b = jn_tensor_list_find(&tl, "b");
    int seed = 0, stop = 0;
    json_t *labels = NULL;
    if (!json_is_object(meta)) {
        rc = jn_err_set(err, JN_EINVAL, "%s: no metadata (not a spam-text checkpoint)", path);
        goto out;
    }
    if ((rc = meta_int(meta, "dim_bits", 8, 24, &m->cfg.dim_bits, path, err)) ||
        (rc = meta_int(meta, "word_ngrams", 1, 2, &m->cfg.word_ngrams, path, err)) ||
        (rc = meta_int(meta, "char_min", 0, 16, &m->cfg.char_min, path, err)) ||
        (rc = meta_int(meta, "char_max", 0, 16, &m->cfg.char_max, path, err)) ||
        (rc = meta_int(meta, "stopwords", 0, 1, &stop, path, err)) ||
        (rc = meta_int(meta, "seed", 0, INT_MAX, &seed, path, err)))
        goto out;
    m->cfg.stopwords = stop != 0;
    m->cfg.seed = (uint32_t)seed;
    const char *lt = json_string_value(json_object_get(meta, "labels"));
    labels = lt ? json_loads(lt, 0, NULL) : NULL;
    size_t k = json_array_size(labels), d = (size_t)1 << m->cfg.dim_bits;
    if (k < 2) {
        rc = jn_err_set(err, JN_EINVAL, "%s: metadata 'labels' must be a JSON array of at least 2 strings", path);
        goto out;
    }
    if (!w || w->dtype != JN_DTYPE_FP32 || w->ndim != 2 || w->shape[0] != (int64_t)d || w->shape[1] != (int64_t)k ||
        !b || b->dtype != JN_DTYPE_FP32 || b->ndim != 1 || b->shape[0] != (int64_t)k) {
        rc = jn_err_set(err, JN_EINVAL, "%s: expected tensors W FP32[%zu,%zu] and b FP32[%zu]", path, d, k, k);
        goto out;
    }
    m->lin.dim = d;
    m->lin.k = k;
    m->lin.w = malloc(d * k * sizeof(float));
    m->lin.b = malloc(k * sizeof(float));
    m->labels = calloc(k, sizeof *m->labels);
    if (!m->lin.w || !m->lin.b || !m->labels) {
        rc = jn_err_set(err, JN_ENOMEM, "out of memory");
        goto out;
    }
    memcpy(m->lin.w, w->data, d * k * sizeof(float));
    memcpy(m->lin.b, b->data, k * sizeof(float));
    for (size_t i = 0; i < k; i++) {
        const char *l = json_string_value(json_array_get(labels, i));
        if (!l || !(m->labels[i] = strdup(l))) {
            rc = jn_err_set(err, l ? JN_ENOMEM : JN_EINVAL, "%s: label %zu is not a string", path, i);
            goto out;
        }
    }
out:
    json_decref(labels);
    json_decref(meta);
    jn_tensor_list_clear(&tl);
    if (rc)
        jn_text_model_free(m);
    return rc;
}

int jn_text_model_save(const char *path, const jn_text_model *m, jn_err *err)
{
    size_t d = m->lin.dim, k = m->lin.k;
    jn_tensor_list tl;
    jn_tensor_list_init(&tl);
    int64_t ws[2] = {(int64_t)d, (int64_t)k}, bs[1] = {(int64_t)k};
    jn_tensor *w = jn_tensor_create("W", JN_DTYPE_FP32, 2, ws, err);
    if (!w || jn_tensor_list_push(&tl, w))
        return w ? jn_err_set(err, JN_ENOMEM, "out of memory") : err->code;
    jn_tensor *b = jn_tensor_create("b", JN_DTYPE_FP32, 1, bs, err);
    if (!b || jn_tensor_list_push(&tl, b)) {
        jn_tensor_list_clear(&tl);
        return b ? jn_err_set(err, JN_ENOMEM, "out of memory") : err->code;
    }
    memcpy(w->data, m->lin.w, d * k * sizeof(float));
    memcpy(b->data, m->lin.b, k * sizeof(float));
    json_t *labels = json_array();
    for (size_t i = 0; i < k; i++)
        json_array_append_new(labels, json_string(m->labels[i]));
    char *lt = json_dumps(labels, JSON_COMPACT);
    json_decref(labels);
    json_t *meta = json_object();
    char num[32];
#define PUT_INT(key, v)                                                                                            \
    do {                                                                                                           \
        snprintf(num, sizeof num, "%lld", (long long)(v));                                                         \
        json_object_set_new(meta, key, json_string(num));                                                          \
    } while (0)
    json_object_set_new(meta, "format", json_string("junction-text-linear/1"));
    json_object_set_new(meta, "labels", json_string(lt ? lt : "[]"));
    json_object_set_new(meta, "hash", json_string("fnv1a32+fmix32"));
    PUT_INT("dim_bits", m->cfg.dim_bits);
    PUT_INT("word_ngrams", m->cfg.word_ngrams);
    PUT_INT("char_min", m->cfg.char_min);
    PUT_INT("char_max", m->cfg.char_max);
    PUT_INT("stopwords", m->cfg.stopwords ? 1 : 0);
    PUT_INT("seed", m->cfg.seed);
#undef PUT_INT
    free(lt);
    char *mt = json_dumps(meta, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(meta);
    int rc = mt ? jn_safetensors_write(path, &tl, mt, err) : jn_err_set(err, JN_ENOMEM, "out of memory");
    free(mt);
    jn_tensor_list_clear(&tl);
    return rc;
}

static bool try_dir(const char *dir, const char *file, char *buf, size_t n)
{
    if (!dir || !*dir)
        return false;
    int w = snprintf(buf, n, "%s/%s", dir, file);
    return w > 0 && (size_t)w < n && access(buf, R_OK) == 0;
}

int jn_text_find_model(const char *file, char *buf, size_t n, jn_err *err)
{
    const char *env = getenv("JUNCTION_MODELS_DIR");
    if (env && *env) {
        if (try_dir(env, file, buf, n))
            return 0;
        return jn_err_set(err, JN_ENOTFOUND, "model file '%s' not found in JUNCTION_MODELS_DIR=%s", file, env);
    }
    char exe[PATH_MAX];
    ssize_t len = readlink("/proc/self/exe", exe, sizeof exe - 1);
    char dir[PATH_MAX + 64];
    if (len > 0) {
        exe[len] = '\0';
        char *slash = strrchr(exe, '/');
        if (slash)
            *slash = '\0';
        snprintf(dir, sizeof dir, "%s/../engines/text/models", exe);
        if (try_dir(dir, file, buf, n))
            return 0;
        snprintf(dir, sizeof dir, "%s/../../engines/text/models", exe);
        if (try_dir(dir, file, buf, n))
            return 0;
    }
    if (try_dir(JN_TEXT_SOURCE_MODELS_DIR, file, buf, n))
        return 0;
    return jn_err_set(err, JN_ENOTFOUND,
                      "model file '%s' not found (set JUNCTION_MODELS_DIR; looked next to the executable and in %s)",
                      file, JN_TEXT_SOURCE_MODELS_DIR);
}
