/* onnx_text.c — a text model folder as one engine: tokenizer -> ONNX model -> head (onnx_text.h). The ONNX model
 * runs as its own (unregistered) engine inside; this file owns the config, the feeding by name and the heads. */
#define _GNU_SOURCE /* asprintf */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "onnx_text.h"
#include "onnx_text_tok.h"

enum { TASK_CLASSIFY, TASK_EMBED };

typedef struct text_model {
    jn_engine *inner; /* the ONNX model (one reference) */
    jn_text_tok *tok;
    int task;
    bool normalize;
    bool refuse_long;
    size_t max_len;           /* 0 = no bound */
    int64_t pad_id;
    const char *out_name;     /* borrowed from inner's signature */
    int out_rank;             /* 2: [batch, n] (logits or pooled), 3: [batch, seq, hidden] */
    jn_dtype ids_dtype;       /* INT64 or INT32, as the graph declares input_ids */
    bool has_mask, has_types;
    char *describe;
} text_model;

static const char TEXT_PLATFORM[] = "onnx_text";

bool jn_onnx_text_config_key(const char *key)
{
    return strcmp(key, "id2label") == 0 || strcmp(key, "label2id") == 0 || strcmp(key, "architectures") == 0 ||
           strcmp(key, "max_position_embeddings") == 0 || strcmp(key, "text") == 0;
}

/* ---- config ---- */

typedef struct text_config {
    int task; /* -1 = not said */
    bool normalize;
    bool refuse_long;
    int64_t max_length;     /* 0 = not said */
    int64_t max_positions;  /* max_position_embeddings, 0 = not said */
    const char *output;     /* NULL = not said */
    const json_t *id2label; /* NULL = none */
    bool bare_encoder;      /* architectures names an "...Model" */
} text_config;

static int parse_text_key(const json_t *t, const char *where, text_config *c, jn_err *err)
{
    if (!json_is_object(t))
        return jn_err_set(err, JN_EINVAL, "%s: text: expected an object {\"task\", \"normalize\", \"max_length\", "
                                          "\"overflow\", \"output\"}", where);
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)t, key, v) {
        if (strcmp(key, "task") == 0) {
            const char *s = json_string_value(v);
            if (!s || (strcmp(s, "classification") && strcmp(s, "embedding")))
                return jn_err_set(err, JN_EINVAL, "%s: text.task: expected \"classification\" or \"embedding\"",
                                  where);
            c->task = strcmp(s, "embedding") == 0 ? TASK_EMBED : TASK_CLASSIFY;
        } else if (strcmp(key, "normalize") == 0) {
            if (!json_is_boolean(v))
                return jn_err_set(err, JN_EINVAL, "%s: text.normalize: expected true or false", where);
            c->normalize = json_is_true(v);
        } else if (strcmp(key, "max_length") == 0) {
            if (!json_is_integer(v) || json_integer_value(v) < 1 || json_integer_value(v) > 1000000)
                return jn_err_set(err, JN_EINVAL, "%s: text.max_length: expected an integer 1 .. 1000000", where);
            c->max_length = json_integer_value(v);
        } else if (strcmp(key, "overflow") == 0) {
            const char *s = json_string_value(v);
            if (!s || (strcmp(s, "truncate") && strcmp(s, "refuse")))
                return jn_err_set(err, JN_EINVAL, "%s: text.overflow: expected \"truncate\" or \"refuse\"", where);
            c->refuse_long = strcmp(s, "refuse") == 0;
        } else if (strcmp(key, "output") == 0) {
            if (!json_is_string(v) || !*json_string_value(v))
                return jn_err_set(err, JN_EINVAL, "%s: text.output: expected the name of a graph output", where);
            c->output = json_string_value(v);
        } else {
            return jn_err_set(err, JN_EINVAL, "%s: text.%s is unknown (task, normalize, max_length, overflow, "
                                              "output)", where, key);
        }
    }
    return 0;
}

static int parse_config(const json_t *cfg, const char *where, text_config *c, jn_err *err)
{
    memset(c, 0, sizeof *c);
    c->task = -1;
    if (!cfg)
        return 0;
    const json_t *v = json_object_get(cfg, "id2label");
    if (v) {
        if (!json_is_object(v) || !json_object_size(v))
            return jn_err_set(err, JN_EINVAL, "%s: id2label: expected an object {\"0\": \"label\", ...}", where);
        c->id2label = v;
    }
    v = json_object_get(cfg, "label2id");
    if (v && !json_is_object(v))
        return jn_err_set(err, JN_EINVAL, "%s: label2id: expected an object {\"label\": 0, ...}", where);
    v = json_object_get(cfg, "architectures");
    if (v) {
        if (!json_is_array(v))
            return jn_err_set(err, JN_EINVAL, "%s: architectures: expected a list of names", where);
        for (size_t i = 0; i < json_array_size(v); i++) {
            const char *a = json_string_value(json_array_get(v, i));
            if (!a)
                return jn_err_set(err, JN_EINVAL, "%s: architectures[%zu]: expected a string", where, i);
            size_t n = strlen(a);
            if (n >= 5 && strcmp(a + n - 5, "Model") == 0 && !strstr(a, "For"))
                c->bare_encoder = true;
        }
    }
    v = json_object_get(cfg, "max_position_embeddings");
    if (v) {
        if (!json_is_integer(v) || json_integer_value(v) < 1)
            return jn_err_set(err, JN_EINVAL, "%s: max_position_embeddings: expected a positive integer", where);
        c->max_positions = json_integer_value(v);
    }
    v = json_object_get(cfg, "text");
    return v ? parse_text_key(v, where, c, err) : 0;
}

/* Labels from id2label: keys "0" .. "n-1", each exactly once. */
static int labels_from_config(const json_t *id2label, size_t n, const char *where, char ***out, jn_err *err)
{
    char **labels = calloc(n, sizeof *labels);
    if (!labels)
        return jn_err_set(err, JN_ENOMEM, "out of memory");
    int rc = 0;
    if (id2label && json_object_size(id2label) != n)
        rc = jn_err_set(err, JN_EINVAL, "%s: id2label has %zu labels, the model's output has %zu scores", where,
                        json_object_size(id2label), n);
    for (size_t i = 0; i < n && !rc; i++) {
        char key[32];
        snprintf(key, sizeof key, "%zu", i);
        if (!id2label) {
            snprintf(key, sizeof key, "LABEL_%zu", i);
            labels[i] = strdup(key);
        } else {
            const char *s = json_string_value(json_object_get(id2label, key));
            if (!s)
                rc = jn_err_set(err, JN_EINVAL, "%s: id2label.\"%s\": missing or not a string (ids run 0 .. %zu)",
                                where, key, n - 1);
            else
                labels[i] = strdup(s);
        }
        if (!rc && !labels[i])
            rc = jn_err_set(err, JN_ENOMEM, "out of memory");
    }
    if (rc) {
        for (size_t i = 0; i < n; i++)
            free(labels[i]);
        free(labels);
        return rc;
    }
    *out = labels;
    return 0;
}

/* ---- the engine ---- */

static void text_free(text_model *tm)
{
    if (!tm)
        return;
    if (tm->inner)
        jn_engine_unref(tm->inner);
    jn_text_tok_free(tm->tok);
    free(tm->describe);
    free(tm);
}

static void text_destroy(jn_engine *self)
{
    text_free(self->ctx);
}

/* The encoded rows of one request, padded to the longest. */
typedef struct batch {
    size_t rows, width;
    int64_t *ids, *mask, *types; /* rows * width */
} batch;

static void batch_free(batch *b)
{
    free(b->ids);
    free(b->mask);
    free(b->types);
}

static int encode_rows(const text_model *tm, const jn_tensor *text, batch *b, jn_err *err)
{
    memset(b, 0, sizeof *b);
    int64_t count = jn_tensor_element_count(text);
    if (count < 1)
        return jn_err_set(err, JN_EINVAL, "input 'text': no text given");
    size_t rows = (size_t)count;
    int64_t **ids = calloc(rows, sizeof *ids), **types = calloc(rows, sizeof *types);
    size_t *lens = calloc(rows, sizeof *lens);
    int rc = (!ids || !types || !lens) ? jn_err_set(err, JN_ENOMEM, "out of memory") : 0;
    size_t pos = 0, width = 0;
    for (size_t r = 0; r < rows && !rc; r++) {
        const uint8_t *s;
        uint32_t len;
        if (!jn_bytes_next(text->data, text->byte_size, &pos, &s, &len)) {
            rc = jn_err_set(err, JN_EINVAL, "input 'text': malformed element %zu", r);
            break;
        }
        if (len == 0) {
            rc = jn_err_set(err, JN_EINVAL, "input 'text'[%zu]: empty text", r);
            break;
        }
        if ((rc = jn_text_tok_encode(tm->tok, (const char *)s, len, tm->refuse_long ? 0 : tm->max_len, &ids[r],
                                     &types[r], &lens[r], err))) {
            jn_err_prefix(err, "input 'text'[%zu]", r);
            break;
        }
        if (tm->max_len && lens[r] > tm->max_len)
            rc = jn_err_set(err, JN_EINVAL, "input 'text'[%zu]: %zu tokens, the model takes at most %zu (its "
                            "config.json says text.overflow \"refuse\")", r, lens[r], tm->max_len);
        width = lens[r] > width ? lens[r] : width;
    }
    if (!rc) {
        b->rows = rows;
        b->width = width;
        b->ids = malloc(rows * width * sizeof *b->ids);
        b->mask = calloc(rows * width, sizeof *b->mask);
        b->types = calloc(rows * width, sizeof *b->types);
        if (!b->ids || !b->mask || !b->types)
            rc = jn_err_set(err, JN_ENOMEM, "out of memory");
    }
    for (size_t r = 0; r < rows && !rc; r++)
        for (size_t k = 0; k < width; k++) {
            bool in = k < lens[r];
            b->ids[r * width + k] = in ? ids[r][k] : tm->pad_id;
            b->mask[r * width + k] = in;
            b->types[r * width + k] = in && types[r] ? types[r][k] : 0;
        }
    for (size_t r = 0; ids && types && r < rows; r++) {
        free(ids[r]);
        free(types[r]);
    }
    free(ids);
    free(types);
    free(lens);
    if (rc)
        batch_free(b);
    return rc;
}

/* A [rows, width] tensor of the graph's integer dtype from an int64 matrix. */
static jn_tensor *feed(const char *name, jn_dtype dtype, const batch *b, const int64_t *v, jn_err *err)
{
    int64_t shape[2] = {(int64_t)b->rows, (int64_t)b->width};
    jn_tensor *t = jn_tensor_create(name, dtype, 2, shape, err);
    if (!t)
        return NULL;
    size_t n = b->rows * b->width;
    if (dtype == JN_DTYPE_INT64)
        memcpy(t->data, v, n * sizeof *v);
    else
        for (size_t i = 0; i < n; i++)
            ((int32_t *)t->data)[i] = (int32_t)v[i];
    return t;
}

static void softmax_rows(float *x, size_t rows, size_t n)
{
    for (size_t r = 0; r < rows; r++) {
        float *s = x + r * n, m = s[0];
        for (size_t k = 1; k < n; k++)
            m = s[k] > m ? s[k] : m;
        double sum = 0;
        for (size_t k = 0; k < n; k++)
            sum += (s[k] = expf(s[k] - m));
        for (size_t k = 0; k < n; k++)
            s[k] = (float)(s[k] / sum);
    }
}

/* The head: softmax over logits, or mean pooling over the attention mask (+ L2). */
static jn_tensor *head(const text_model *tm, const jn_tensor *out, const batch *b, const char *name, jn_err *err)
{
    if (out->dtype != JN_DTYPE_FP32 || out->ndim != tm->out_rank || out->shape[0] != (int64_t)b->rows ||
        (out->ndim == 3 && out->shape[1] != (int64_t)b->width)) {
        char got[96];
        jn_format_type(got, sizeof got, out->dtype, out->ndim, out->shape);
        jn_err_set(err, JN_EINVAL, "output '%s' is %s: the head expects FP32 [%zu, %s]", tm->out_name, got,
                   b->rows, tm->out_rank == 3 ? "tokens, hidden" : "n");
        return NULL;
    }
    int64_t n = out->shape[out->ndim - 1];
    int64_t shape[2] = {(int64_t)b->rows, n};
    jn_tensor *t = jn_tensor_create(name, JN_DTYPE_FP32, 2, shape, err);
    if (!t)
        return NULL;
    float *dst = t->data;
    const float *src = out->data;
    if (tm->task == TASK_CLASSIFY) {
        memcpy(dst, src, b->rows * (size_t)n * sizeof *dst);
        softmax_rows(dst, b->rows, (size_t)n);
        return t;
    }
    for (size_t r = 0; r < b->rows; r++) {
        float *e = dst + r * (size_t)n;
        if (tm->out_rank == 2) {
            memcpy(e, src + r * (size_t)n, (size_t)n * sizeof *e);
        } else {
            double *acc = calloc((size_t)n, sizeof *acc);
            if (!acc) {
                jn_tensor_free(t);
                jn_err_set(err, JN_ENOMEM, "out of memory");
                return NULL;
            }
            size_t used = 0;
            for (size_t k = 0; k < b->width; k++) {
                if (!b->mask[r * b->width + k])
                    continue;
                used++;
                const float *h = src + (r * b->width + k) * (size_t)n;
                for (int64_t j = 0; j < n; j++)
                    acc[j] += h[j];
            }
            for (int64_t j = 0; j < n; j++)
                e[j] = (float)(acc[j] / (double)(used ? used : 1));
            free(acc);
        }
        if (tm->normalize) {
            double ss = 0;
            for (int64_t j = 0; j < n; j++)
                ss += (double)e[j] * e[j];
            double norm = sqrt(ss);
            norm = norm > 1e-12 ? norm : 1e-12; /* Sentence Transformers' Normalize: F.normalize's eps */
            for (int64_t j = 0; j < n; j++)
                e[j] = (float)(e[j] / norm);
        }
    }
    return t;
}

static int text_infer(jn_engine *self, const jn_infer_ctx *ctx, const jn_tensor_list *inputs, jn_tensor_list *outputs,
                      jn_err *err)
{
    text_model *tm = self->ctx;
    const jn_tensor *text = jn_tensor_list_find(inputs, "text");
    if (!text)
        return jn_err_set(err, JN_EINVAL, "model '%s': input 'text' is missing", self->name);
    batch b;
    int rc = encode_rows(tm, text, &b, err);
    if (rc) {
        jn_err_prefix(err, "model '%s'", self->name);
        return rc;
    }
    jn_tensor_list in, out;
    jn_tensor_list_init(&in);
    jn_tensor_list_init(&out);
    jn_tensor *t = feed("input_ids", tm->ids_dtype, &b, b.ids, err);
    rc = !t || jn_tensor_list_push(&in, t) ? (t ? jn_err_set(err, JN_ENOMEM, "out of memory") : err->code) : 0;
    if (!rc && tm->has_mask) {
        t = feed("attention_mask", tm->ids_dtype, &b, b.mask, err);
        rc = !t || jn_tensor_list_push(&in, t) ? (t ? jn_err_set(err, JN_ENOMEM, "out of memory") : err->code) : 0;
    }
    if (!rc && tm->has_types) {
        t = feed("token_type_ids", tm->ids_dtype, &b, b.types, err);
        rc = !t || jn_tensor_list_push(&in, t) ? (t ? jn_err_set(err, JN_ENOMEM, "out of memory") : err->code) : 0;
    }
    if (!rc) {
        jn_infer_ctx inner_ctx = ctx ? *ctx : (jn_infer_ctx){0};
        const char *want = tm->out_name;
        inner_ctx.outputs = &want; /* only the output the head reads */
        inner_ctx.n_outputs = 1;
        inner_ctx.answer = NULL;
        rc = tm->inner->vt->infer(tm->inner, &inner_ctx, &in, &out, err);
        if (rc && rc != JN_EDEADLINE && rc != JN_ECANCELLED)
            jn_err_prefix(err, "model '%s'", self->name);
    }
    if (!rc) {
        const jn_tensor *o = jn_tensor_list_find(&out, tm->out_name);
        jn_tensor *h = o ? head(tm, o, &b, self->sig.outputs[0].name, err) : NULL;
        if (!o)
            rc = jn_err_set(err, JN_EINVAL, "model '%s': the graph gave no output '%s'", self->name, tm->out_name);
        else if (!h)
            rc = err->code;
        else if (jn_tensor_list_push(outputs, h)) {
            jn_tensor_free(h);
            rc = jn_err_set(err, JN_ENOMEM, "out of memory");
        }
    }
    jn_tensor_list_clear(&in);
    jn_tensor_list_clear(&out);
    batch_free(&b);
    return rc;
}

static const jn_engine_vtable text_vtable = {
    .abi_version = JN_ENGINE_ABI_VERSION,
    .platform = TEXT_PLATFORM,
    .infer = text_infer,
    .destroy = text_destroy,
};

const char *jn_onnx_text_describe(const jn_engine *e)
{
    return e && e->vt == &text_vtable ? ((const text_model *)e->ctx)->describe : NULL;
}

/* The graph output the head reads: text.output, else "logits" / "last_hidden_state" (then "sentence_embedding"),
 * else the first output of a fitting rank. */
static const jn_port *pick_output(const jn_signature *sig, int task, const char *named, const char *where,
                                  jn_err *err)
{
    if (named) {
        const jn_port *p = jn_signature_find_output(sig, named);
        if (!p)
            jn_err_set(err, JN_EINVAL, "%s: text.output: the model has no output '%s'", where, named);
        return p;
    }
    const char *pref[] = {task == TASK_CLASSIFY ? "logits" : "last_hidden_state",
                          task == TASK_CLASSIFY ? NULL : "token_embeddings",
                          task == TASK_CLASSIFY ? NULL : "sentence_embedding"};
    for (size_t i = 0; i < sizeof pref / sizeof *pref; i++) {
        const jn_port *p = pref[i] ? jn_signature_find_output(sig, pref[i]) : NULL;
        if (p)
            return p;
    }
    for (size_t i = 0; i < sig->n_outputs; i++)
        if (sig->outputs[i].ndim == 2 || (task == TASK_EMBED && sig->outputs[i].ndim == 3))
            return &sig->outputs[i];
    jn_err_set(err, JN_EINVAL, "model.onnx has no output a %s head can read (%s)",
               task == TASK_CLASSIFY ? "classification" : "embedding",
               task == TASK_CLASSIFY ? "logits [batch, labels]" : "last_hidden_state [batch, tokens, hidden]");
    return NULL;
}

/* Which graph inputs take which tokenizer outputs; anything else is refused, named. */
static int bind_inputs(text_model *tm, const jn_signature *sig, jn_err *err)
{
    const jn_port *ids = jn_signature_find_input(sig, "input_ids");
    if (!ids)
        return jn_err_set(err, JN_EINVAL, "model.onnx has no input 'input_ids' (a text model is fed input_ids, "
                                          "attention_mask and token_type_ids by name)");
    for (size_t i = 0; i < sig->n_inputs; i++) {
        const jn_port *p = &sig->inputs[i];
        bool known = strcmp(p->name, "input_ids") == 0 || strcmp(p->name, "attention_mask") == 0 ||
                     strcmp(p->name, "token_type_ids") == 0;
        if (!known)
            return jn_err_set(err, JN_EINVAL, "model.onnx: input '%s' is none of input_ids, attention_mask, "
                                              "token_type_ids (what a tokenizer gives)", p->name);
        if ((p->dtype != JN_DTYPE_INT64 && p->dtype != JN_DTYPE_INT32) || p->ndim != 2)
            return jn_err_set(err, JN_EINVAL, "model.onnx: input '%s' is %s rank %d; a text model's inputs are "
                                              "INT64 (or INT32) [batch, tokens]", p->name, jn_dtype_name(p->dtype),
                              p->ndim);
        if (p->dtype != ids->dtype)
            return jn_err_set(err, JN_EINVAL, "model.onnx: input '%s' is %s but input_ids is %s", p->name,
                              jn_dtype_name(p->dtype), jn_dtype_name(ids->dtype));
    }
    tm->ids_dtype = ids->dtype;
    tm->has_mask = jn_signature_find_input(sig, "attention_mask") != NULL;
    tm->has_types = jn_signature_find_input(sig, "token_type_ids") != NULL;
    return 0;
}

static int build(text_model *tm, jn_engine *e, const char *tok_path, const json_t *cfg, const char *where,
                 jn_err *err)
{
    text_config c;
    int rc = parse_config(cfg, where, &c, err);
    if (rc)
        return rc;
    const jn_signature *isig = &tm->inner->sig;
    if ((rc = bind_inputs(tm, isig, err)))
        return rc;
    tm->task = c.task >= 0 ? c.task : c.bare_encoder && !c.id2label ? TASK_EMBED : TASK_CLASSIFY;
    if (c.normalize && tm->task != TASK_EMBED)
        return jn_err_set(err, JN_EINVAL, "%s: text.normalize is for embeddings (text.task \"embedding\")", where);
    tm->normalize = c.normalize;
    tm->refuse_long = c.refuse_long;
    const jn_port *op = pick_output(isig, tm->task, c.output, where, err);
    if (!op)
        return err->code;
    if (op->dtype != JN_DTYPE_FP32 || (op->ndim != 2 && !(tm->task == TASK_EMBED && op->ndim == 3)))
        return jn_err_set(err, JN_EINVAL, "model.onnx: output '%s' (%s rank %d) cannot feed a %s head (FP32 %s)",
                          op->name, jn_dtype_name(op->dtype), op->ndim,
                          tm->task == TASK_CLASSIFY ? "classification" : "embedding",
                          tm->task == TASK_CLASSIFY ? "[batch, labels]" : "[batch, tokens, hidden] or [batch, hidden]");
    tm->out_name = op->name;
    tm->out_rank = op->ndim;
    int64_t n = op->shape[op->ndim - 1];
    if (!(tm->tok = jn_text_tok_load(tok_path, err)))
        return err->code;
    tm->pad_id = jn_text_tok_pad_id(tm->tok);
    size_t tmax = jn_text_tok_max_length(tm->tok);
    tm->max_len = c.max_length ? (size_t)c.max_length : tmax ? tmax : (size_t)c.max_positions;
    int64_t any[2] = {-1, -1};
    if ((rc = jn_signature_add_input(&e->sig, "text", JN_KIND_TEXT, JN_DTYPE_BYTES, 1, any, err)))
        return rc;
    if (tm->task == TASK_CLASSIFY) {
        if (n < 1 && !c.id2label)
            return jn_err_set(err, JN_EINVAL, "model.onnx: output '%s' has no fixed number of scores and %s has no "
                                              "id2label to say how many labels there are", op->name,
                              cfg ? where : "there is no config.json");
        size_t nl = n > 0 ? (size_t)n : json_object_size(c.id2label);
        char **labels = NULL;
        if ((rc = labels_from_config(c.id2label, nl, where, &labels, err)))
            return rc;
        int64_t shape[2] = {-1, (int64_t)nl};
        rc = jn_signature_add_output(&e->sig, "label", JN_KIND_CLASSIFICATION, JN_DTYPE_FP32, 2, shape, err);
        if (!rc)
            rc = jn_port_set_labels(&e->sig.outputs[0], (const char *const *)labels, nl, err);
        for (size_t i = 0; i < nl; i++)
            free(labels[i]);
        free(labels);
        if (rc)
            return rc;
    } else {
        int64_t shape[2] = {-1, n};
        if ((rc = jn_signature_add_output(&e->sig, "embedding", JN_KIND_EMBEDDING, JN_DTYPE_FP32, 2, shape, err)))
            return rc;
    }
    char inputs[96];
    snprintf(inputs, sizeof inputs, "input_ids%s%s", tm->has_mask ? ", attention_mask" : "",
             tm->has_types ? ", token_type_ids" : "");
    char maxs[64];
    if (tm->max_len)
        snprintf(maxs, sizeof maxs, "at most %zu tokens, longer text %s", tm->max_len,
                 tm->refuse_long ? "refused" : "truncated");
    else
        snprintf(maxs, sizeof maxs, "no length bound");
    char labels[64] = "";
    if (tm->task == TASK_CLASSIFY)
        snprintf(labels, sizeof labels, "%zu labels from %s", e->sig.outputs[0].n_labels,
                 c.id2label ? "id2label" : "LABEL_i (no id2label)");
    if (asprintf(&tm->describe,
                 "text TEXT[-1]\n"
                 "  -> tokenizer: %s (%s; %s)\n"
                 "  -> model.onnx: %s %s -> %s\n"
                 "  -> head: %s -> %s\n",
                 tok_path, jn_text_tok_describe(tm->tok), maxs, inputs, jn_dtype_name(tm->ids_dtype), op->name,
                 tm->task == TASK_CLASSIFY ? "softmax" : tm->out_rank == 3 ? "mean pooling over attention_mask"
                                                                            : "pooled output as is",
                 tm->task == TASK_CLASSIFY ? "label CLASSIFICATION FP32[-1, labels]" : "embedding EMBEDDING FP32[-1, hidden]") <
        0) {
        tm->describe = NULL;
        return jn_err_set(err, JN_ENOMEM, "out of memory");
    }
    if (tm->task == TASK_CLASSIFY) { /* the labels' source, after the head line */
        char *d;
        if (asprintf(&d, "%s     (%s)\n", tm->describe, labels) >= 0) {
            free(tm->describe);
            tm->describe = d;
        }
    } else if (tm->normalize) {
        char *d;
        if (asprintf(&d, "%s     (L2-normalized)\n", tm->describe) >= 0) {
            free(tm->describe);
            tm->describe = d;
        }
    }
    return 0;
}

jn_engine *jn_onnx_text_engine_create(const char *name, const char *version, jn_onnx_model *model,
                                      const char *tok_path, const json_t *cfg, const char *cfg_path, jn_err *err)
{
    text_model *tm = calloc(1, sizeof *tm);
    if (!tm) {
        jn_onnx_free(model);
        jn_err_set(err, JN_ENOMEM, "out of memory");
        return NULL;
    }
    if (!(tm->inner = jn_onnx_engine_create(name, version, model, err))) {
        free(tm);
        return NULL;
    }
    jn_engine *e = jn_engine_create(&text_vtable, name, version, "text model (tokenizer.json + ONNX)", tm, err);
    if (!e) {
        text_free(tm);
        return NULL;
    }
    if (build(tm, e, tok_path, cfg, cfg_path && *cfg_path ? cfg_path : "config.json", err)) {
        jn_engine_unref(e); /* the caller names the model */
        return NULL;
    }
    e->flags |= JN_ENGINE_BATCHES; /* rows are independent: padding is masked */
    return e;
}
