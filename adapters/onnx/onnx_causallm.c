/* onnx_causallm.c — a causal LM's decode step with its KV cache (see onnx_causallm.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "onnx_causallm.h"
#include "onnx_internal.h"

#define PAST_PREFIX "past_key_values."
#define PRESENT_PREFIX "present."

typedef struct lm_kv {
    char *past;    /* past_key_values.{i}.key */
    char *present; /* present.{i}.key */
    int64_t heads, head_dim;
} lm_kv;

struct jn_onnx_lm {
    jn_onnx_model *m;
    lm_kv *kv;
    size_t n_kv;
    bool position_ids;
};

static int find_input(const ox_model *m, const char *name)
{
    for (size_t i = 0; i < m->n_inputs; i++)
        if (strcmp(m->values[m->inputs[i]].name, name) == 0)
            return (int)i;
    return -1;
}

static int find_output(const ox_model *m, const char *name)
{
    for (size_t i = 0; i < m->n_outputs; i++)
        if (strcmp(m->values[m->outputs[i]].name, name) == 0)
            return (int)i;
    return -1;
}

bool jn_onnx_is_causal_lm(const jn_onnx_model *m)
{
    if (find_input(m, "input_ids") < 0 || find_output(m, "logits") < 0)
        return false;
    for (size_t i = 0; i < m->n_inputs; i++)
        if (strncmp(m->values[m->inputs[i]].name, PAST_PREFIX, strlen(PAST_PREFIX)) == 0)
            return true;
    return false;
}

void jn_onnx_lm_free(jn_onnx_lm *lm)
{
    if (!lm)
        return;
    for (size_t i = 0; i < lm->n_kv; i++) {
        free(lm->kv[i].past);
        free(lm->kv[i].present);
    }
    free(lm->kv);
    jn_onnx_free(lm->m);
    free(lm);
}

size_t jn_onnx_lm_layers(const jn_onnx_lm *lm)
{
    return lm->n_kv / 2;
}

static int check_ids_input(const ox_model *m, const char *name, bool required, jn_err *err)
{
    int i = find_input(m, name);
    if (i < 0)
        return required ? jn_err_set(err, JN_EUNIMPL, "causal LM: the model has no input '%s'", name) : 0;
    if (m->values[m->inputs[i]].dtype != JN_DTYPE_INT64 || m->in_ndim[i] != 2)
        return jn_err_set(err, JN_EUNIMPL, "causal LM: input '%s' must be INT64 [batch, sequence]", name);
    return 0;
}

jn_onnx_lm *jn_onnx_lm_open(jn_onnx_model *m, int64_t context, jn_err *err)
{
    jn_onnx_lm *lm = calloc(1, sizeof *lm);
    if (!lm) {
        jn_onnx_free(m);
        jn_err_set(err, JN_ENOMEM, "out of memory");
        return NULL;
    }
    lm->m = m;
    lm->kv = calloc(m->n_inputs + 1, sizeof *lm->kv);
    if (!lm->kv) {
        jn_err_set(err, JN_ENOMEM, "out of memory");
        goto fail;
    }
    if (check_ids_input(m, "input_ids", true, err) || check_ids_input(m, "attention_mask", true, err) ||
        check_ids_input(m, "position_ids", false, err))
        goto fail;
    lm->position_ids = find_input(m, "position_ids") >= 0;
    int lo = find_output(m, "logits");
    if (lo < 0 || m->values[m->outputs[lo]].dtype != JN_DTYPE_FP32 || m->out_ndim[lo] != 3) {
        jn_err_set(err, JN_EUNIMPL, "causal LM: output 'logits' must be FP32 [batch, sequence, vocab]");
        goto fail;
    }
    for (size_t i = 0; i < m->n_inputs; i++) {
        const char *name = m->values[m->inputs[i]].name;
        if (strcmp(name, "input_ids") == 0 || strcmp(name, "attention_mask") == 0 ||
            strcmp(name, "position_ids") == 0)
            continue;
        if (strncmp(name, PAST_PREFIX, strlen(PAST_PREFIX)) != 0) {
            jn_err_set(err, JN_EUNIMPL, "causal LM: input '%s' is none of input_ids, attention_mask, position_ids, "
                                        "past_key_values.*", name);
            goto fail;
        }
        if (m->values[m->inputs[i]].dtype != JN_DTYPE_FP32 || m->in_ndim[i] != 4 || m->in_shape[i][1] <= 0 ||
            m->in_shape[i][3] <= 0) {
            jn_err_set(err, JN_EUNIMPL, "causal LM: input '%s' must be FP32 [batch, heads, past, head_dim] with "
                                        "heads and head_dim fixed", name);
            goto fail;
        }
        lm_kv *kv = &lm->kv[lm->n_kv];
        kv->heads = m->in_shape[i][1];
        kv->head_dim = m->in_shape[i][3];
        kv->past = strdup(name);
        size_t n = strlen(PRESENT_PREFIX) + strlen(name) - strlen(PAST_PREFIX) + 1;
        kv->present = malloc(n);
        if (!kv->past || !kv->present) {
            free(kv->past);
            free(kv->present);
            jn_err_set(err, JN_ENOMEM, "out of memory");
            goto fail;
        }
        snprintf(kv->present, n, "%s%s", PRESENT_PREFIX, name + strlen(PAST_PREFIX));
        lm->n_kv++;
        int o = find_output(m, kv->present);
        if (o < 0 || m->values[m->outputs[o]].dtype != JN_DTYPE_FP32 || m->out_ndim[o] != 4) {
            jn_err_set(err, JN_EUNIMPL, "causal LM: input '%s' has no output '%s' (FP32, rank 4) to feed it", name,
                       kv->present);
            goto fail;
        }
    }
    if (!lm->n_kv) {
        jn_err_set(err, JN_EUNIMPL, "causal LM: the model has no past_key_values.* inputs");
        goto fail;
    }
    if (context > 0)
        jn_onnx_set_max_plans(m, (size_t)context + 8);
    return lm;
fail:
    jn_onnx_lm_free(lm);
    return NULL;
}

int jn_onnx_lm_cache_init(const jn_onnx_lm *lm, jn_onnx_lm_cache *c, jn_err *err)
{
    memset(c, 0, sizeof *c);
    jn_tensor_list_init(&c->past);
    for (size_t i = 0; i < lm->n_kv; i++) {
        int64_t shape[4] = {1, lm->kv[i].heads, 0, lm->kv[i].head_dim};
        jn_tensor *t = jn_tensor_create(lm->kv[i].past, JN_DTYPE_FP32, 4, shape, err);
        if (!t || jn_tensor_list_push(&c->past, t)) { /* push frees t when it fails */
            if (t)
                jn_err_set(err, JN_ENOMEM, "out of memory");
            jn_onnx_lm_cache_clear(c);
            return err->code;
        }
    }
    return 0;
}

void jn_onnx_lm_cache_clear(jn_onnx_lm_cache *c)
{
    jn_tensor_list_clear(&c->past);
    jn_tensor_free(c->logits);
    c->logits = NULL;
    c->length = 0;
}

static jn_tensor *ids_tensor(const char *name, int64_t first, const int64_t *ids, size_t n, int64_t count,
                             jn_err *err)
{
    int64_t shape[2] = {1, count};
    jn_tensor *t = jn_tensor_create(name, JN_DTYPE_INT64, 2, shape, err);
    if (!t)
        return NULL;
    int64_t *d = t->data;
    for (int64_t k = 0; k < count; k++)
        d[k] = ids ? ids[k] : first < 0 ? 1 : first + k;
    (void)n;
    return t;
}

int jn_onnx_lm_step(jn_onnx_lm *lm, jn_onnx_lm_cache *c, const int64_t *ids, size_t n, const jn_infer_ctx *ctx,
                    const float **last, size_t *vocab, jn_err *err)
{
    if (n == 0)
        return jn_err_set(err, JN_EINVAL, "causal LM: a step needs at least one token");
    /* The inputs: the step's ids, the mask over cache + step (all ones), positions counting on from the cache, and
     * the past tensors (borrowed: shared into the list, which frees only its own references). */
    jn_tensor_list in;
    jn_tensor_list_init(&in);
    int rc = 0;
    jn_tensor *t[3] = {
        ids_tensor("input_ids", 0, ids, n, (int64_t)n, err),
        ids_tensor("attention_mask", -1, NULL, 0, c->length + (int64_t)n, err),
        lm->position_ids ? ids_tensor("position_ids", c->length, NULL, 0, (int64_t)n, err) : NULL,
    };
    for (int k = 0; k < 3 && !rc; k++) {
        if (!t[k]) {
            if (k < 2 || lm->position_ids)
                rc = err->code ? err->code : jn_err_set(err, JN_ENOMEM, "out of memory");
            continue;
        }
        jn_tensor *x = t[k];
        t[k] = NULL; /* the list's now (push frees it when it fails) */
        if (jn_tensor_list_push(&in, x))
            rc = jn_err_set(err, JN_ENOMEM, "out of memory");
    }
    for (int k = 0; k < 3; k++)
        jn_tensor_free(t[k]);
    for (size_t i = 0; i < c->past.count && !rc; i++) {
        jn_tensor *s = jn_tensor_share(c->past.items[i], NULL, err);
        if (!s)
            rc = err->code;
        else if (jn_tensor_list_push(&in, s))
            rc = jn_err_set(err, JN_ENOMEM, "out of memory");
    }
    jn_tensor_list out;
    jn_tensor_list_init(&out);
    if (!rc)
        rc = jn_onnx_run_ctx(lm->m, &in, &out, ctx, err);
    jn_tensor_list_clear(&in);
    if (rc) {
        jn_tensor_list_clear(&out);
        return rc;
    }
    /* present.* become the next step's past_key_values.* (renamed shares: no copy). */
    jn_tensor_list next;
    jn_tensor_list_init(&next);
    for (size_t i = 0; i < lm->n_kv && !rc; i++) {
        jn_tensor *p = jn_tensor_list_find(&out, lm->kv[i].present);
        jn_tensor *s = p ? jn_tensor_share(p, lm->kv[i].past, err) : NULL;
        if (!p)
            rc = jn_err_set(err, JN_EINVAL, "causal LM: the model gave no '%s'", lm->kv[i].present);
        else if (!s)
            rc = err->code;
        else if (p->ndim != 4 || p->shape[2] != c->length + (int64_t)n) {
            jn_tensor_free(s);
            rc = jn_err_set(err, JN_EINVAL, "causal LM: output '%s' holds %lld positions, expected %lld",
                            lm->kv[i].present, p->ndim == 4 ? (long long)p->shape[2] : -1LL,
                            (long long)(c->length + (int64_t)n));
        } else if (jn_tensor_list_push(&next, s))
            rc = jn_err_set(err, JN_ENOMEM, "out of memory");
    }
    jn_tensor *logits = rc ? NULL : jn_tensor_list_take(&out, "logits");
    jn_tensor_list_clear(&out);
    if (!rc && (!logits || logits->ndim != 3 || logits->shape[0] != 1 || logits->shape[1] != (int64_t)n ||
                logits->shape[2] <= 0))
        rc = jn_err_set(err, JN_EINVAL, "causal LM: output 'logits' is not [1, %zu, vocab]", n);
    if (rc) {
        jn_tensor_free(logits);
        jn_tensor_list_clear(&next);
        return rc;
    }
    jn_tensor_list_clear(&c->past);
    c->past = next;
    jn_tensor_free(c->logits);
    c->logits = logits;
    c->length += (int64_t)n;
    *vocab = (size_t)logits->shape[2];
    *last = (const float *)logits->data + (n - 1) * *vocab;
    return 0;
}
