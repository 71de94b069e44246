/* text_train.c — `junction train --model spam-text`: a linear softmax classifier over hashed n-gram features
 * (text.h) trained with cross-entropy on a JSONL dataset of {"text": string, "label": string} lines (any number of
 * classes; labels sorted by name unless --init fixes them).
 *
 * Optimizer: jn_optim (optim.h) updates W [D][K] and b [K] as dense arrays. Gradients are accumulated sparsely
 * (only the rows of the batch's features are touched, and only those rows are zeroed again), but the step itself is
 * dense: O(D*K) per batch, i.e. ~0.3 ms for D = 2^17, K = 2. That is cheaper than lazy per-row bookkeeping at these
 * sizes and keeps momentum and Adam exact (every moment decays every step, as in the dense formulation).
 *
 * Output: OUT.safetensors (W, b, hash config and labels as metadata, jn_text_model_save) and OUT.json (model card:
 * labels, features, training data and options, metrics). The features' dimension is 2^17 (or the --init
 * checkpoint's); JUNCTION_TEXT_DIM_BITS overrides it for experiments.
 */
#include <jansson.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../train/optim.h"
#include "../train/prune_magnitude.h"
#include "../train/trainer.h"
#include "text.h"

#define DEFAULT_DIM_BITS 17

typedef struct example {
    jn_text_sparse x;
    int y;
} example;

typedef struct dataset {
    example *ex;
    size_t n, cap;
    char **labels; /* distinct labels, in class order */
    size_t k;
} dataset;

static void dataset_free(dataset *d)
{
    for (size_t i = 0; i < d->n; i++)
        jn_text_sparse_free(&d->ex[i].x);
    free(d->ex);
    memset(d, 0, sizeof *d);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static uint64_t splitmix(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static void shuffle(size_t *a, size_t n, uint64_t *rng)
{
    for (size_t i = n; i > 1; i--) {
        size_t j = (size_t)(splitmix(rng) % i);
        size_t t = a[i - 1];
        a[i - 1] = a[j];
        a[j] = t;
    }
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Reads the JSONL lines (up to `limit` when > 0): texts and label strings (owned by the caller). */
static int read_jsonl(const char *path, long limit, char ***texts, size_t **lens, char ***labels, size_t *count,
                      jn_err *err)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return jn_err_set(err, JN_ENOTFOUND, "%s: cannot open", path);
    char *line = NULL;
    size_t cap = 0, n = 0, alloc = 0, lineno = 0;
    ssize_t got;
    int rc = 0;
    *texts = NULL;
    *lens = NULL;
    *labels = NULL;
    while ((limit <= 0 || (long)n < limit) && (got = getline(&line, &cap, f)) >= 0) {
        lineno++;
        size_t l = (size_t)got;
        while (l && (line[l - 1] == '\n' || line[l - 1] == '\r' || line[l - 1] == ' '))
            l--;
        if (l == 0)
            continue;
        json_error_t je;
        json_t *o = json_loadb(line, l, JSON_ALLOW_NUL, &je);
        json_t *jt = json_object_get(o, "text"), *jl = json_object_get(o, "label");
        char num[32];
        const char *lab = json_string_value(jl);
        if (!lab && json_is_integer(jl)) {
            snprintf(num, sizeof num, "%lld", (long long)json_integer_value(jl));
            lab = num;
        }
        if (!o || !json_is_string(jt) || !lab) {
            rc = jn_err_set(err, JN_EINVAL, "%s:%zu: %s", path, lineno,
                            o ? "expected {\"text\": string, \"label\": string}" : je.text);
            json_decref(o);
            break;
        }
        if (n == alloc) {
            alloc = alloc ? alloc * 2 : 1024;
            char **t2 = realloc(*texts, alloc * sizeof *t2);
            if (t2)
                *texts = t2;
            size_t *l2 = realloc(*lens, alloc * sizeof *l2);
            if (l2)
                *lens = l2;
            char **b2 = realloc(*labels, alloc * sizeof *b2);
            if (b2)
                *labels = b2;
            if (!t2 || !l2 || !b2) {
                json_decref(o);
                rc = jn_err_set(err, JN_ENOMEM, "out of memory");
                break;
            }
        }
        size_t tl = json_string_length(jt);
        (*texts)[n] = malloc(tl + 1);
        (*labels)[n] = strdup(lab);
        if ((*texts)[n])
            memcpy((*texts)[n], json_string_value(jt), tl + 1);
        (*lens)[n] = tl;
        n++;
        json_decref(o);
        if (!(*texts)[n - 1] || !(*labels)[n - 1]) {
            rc = jn_err_set(err, JN_ENOMEM, "out of memory");
            break;
        }
    }
    free(line);
    fclose(f);
    *count = n;
    if (!rc && n == 0)
        rc = jn_err_set(err, JN_EINVAL, "%s: no examples", path);
    return rc;
}

static void free_strs(char **s, size_t n)
{
    if (s)
        for (size_t i = 0; i < n; i++)
            free(s[i]);
    free(s);
}

/* Loads a JSONL file into d. When d->labels is NULL the label set is taken from the data (sorted by name);
 * otherwise every label must be one of d->labels. */
static int load_dataset(const char *path, long limit, const jn_text_hash_config *cfg, dataset *d, bool quiet,
                        jn_err *err)
{
    char **texts = NULL, **labs = NULL;
    size_t *lens = NULL, n = 0;
    int rc = read_jsonl(path, limit, &texts, &lens, &labs, &n, err);
    if (!rc && !d->labels) {
        char **sorted = malloc(n * sizeof *sorted);
        if (!sorted)
            rc = jn_err_set(err, JN_ENOMEM, "out of memory");
        else {
            memcpy(sorted, labs, n * sizeof *sorted);
            if (n > 1)
                qsort(sorted, n, sizeof *sorted, cmp_str);
            d->labels = calloc(n, sizeof *d->labels);
            for (size_t i = 0; d->labels && i < n; i++)
                if (i == 0 || strcmp(sorted[i], sorted[i - 1]) != 0)
                    d->labels[d->k++] = strdup(sorted[i]);
            free(sorted);
            if (!d->labels)
                rc = jn_err_set(err, JN_ENOMEM, "out of memory");
            else if (d->k < 2)
                rc = jn_err_set(err, JN_EINVAL, "%s: need at least 2 distinct labels, got %zu", path, d->k);
        }
    }
    if (!rc && !(d->ex = calloc(n, sizeof *d->ex)))
        rc = jn_err_set(err, JN_ENOMEM, "out of memory");
    double t0 = now_s();
    for (size_t i = 0; !rc && i < n; i++) {
        int y = -1;
        for (size_t c = 0; c < d->k; c++)
            if (strcmp(labs[i], d->labels[c]) == 0)
                y = (int)c;
        if (y < 0) {
            rc = jn_err_set(err, JN_EINVAL, "%s: example %zu has label '%s', not one of the model's %zu labels", path,
                            i + 1, labs[i], d->k);
            break;
        }
        d->ex[i].y = y;
        if (jn_text_features(cfg, (const uint8_t *)texts[i], lens[i], &d->ex[i].x))
            rc = jn_err_set(err, JN_ENOMEM, "out of memory");
        d->n = i + 1;
    }
    if (!rc && !quiet)
        fprintf(stderr, "spam-text: %s: %zu examples featurized in %.1f s\n", path, n, now_s() - t0);
    free_strs(texts, n);
    free_strs(labs, n);
    free(lens);
    return rc;
}

typedef struct eval {
    double loss, acc;
    size_t n;
    size_t *tp, *fp, *fn; /* per class */
} eval;

static int evaluate(const jn_text_linear *m, const dataset *d, const size_t *idx, size_t n, eval *e)
{
    memset(e, 0, sizeof *e);
    e->tp = calloc(m->k, sizeof *e->tp);
    e->fp = calloc(m->k, sizeof *e->fp);
    e->fn = calloc(m->k, sizeof *e->fn);
    float *p = malloc(m->k * sizeof *p);
    if (!e->tp || !e->fp || !e->fn || !p) {
        free(p);
        return JN_ENOMEM;
    }
    size_t correct = 0;
    for (size_t i = 0; i < n; i++) {
        const example *ex = &d->ex[idx ? idx[i] : i];
        jn_text_linear_forward(m, &ex->x, p);
        int best = 0;
        for (size_t c = 1; c < m->k; c++)
            if (p[c] > p[best])
                best = (int)c;
        e->loss += -log(p[ex->y] > 1e-30f ? p[ex->y] : 1e-30f);
        if (best == ex->y) {
            correct++;
            e->tp[best]++;
        } else {
            e->fp[best]++;
            e->fn[ex->y]++;
        }
    }
    free(p);
    e->n = n;
    e->acc = n ? (double)correct / (double)n : 0;
    e->loss = n ? e->loss / (double)n : 0;
    return 0;
}

static void eval_free(eval *e)
{
    free(e->tp);
    free(e->fp);
    free(e->fn);
}

static json_t *eval_json(const eval *e, char **labels, size_t k)
{
    json_t *o = json_pack("{s:I, s:f, s:f}", "examples", (json_int_t)e->n, "accuracy", e->acc, "loss", e->loss);
    json_t *pc = json_object();
    for (size_t c = 0; c < k; c++) {
        double p = e->tp[c] + e->fp[c] ? (double)e->tp[c] / (double)(e->tp[c] + e->fp[c]) : 0;
        double r = e->tp[c] + e->fn[c] ? (double)e->tp[c] / (double)(e->tp[c] + e->fn[c]) : 0;
        json_object_set_new(pc, labels[c],
                            json_pack("{s:f, s:f, s:f, s:I}", "precision", p, "recall", r, "f1",
                                      p + r > 0 ? 2 * p * r / (p + r) : 0, "support",
                                      (json_int_t)(e->tp[c] + e->fn[c])));
    }
    json_object_set_new(o, "per_class", pc);
    return o;
}

static void print_eval(const char *what, const eval *e, char **labels, size_t k)
{
    printf("spam-text: %s: %zu examples, accuracy %.4f, loss %.4f", what, e->n, e->acc, e->loss);
    for (size_t c = 0; c < k; c++) {
        double p = e->tp[c] + e->fp[c] ? (double)e->tp[c] / (double)(e->tp[c] + e->fp[c]) : 0;
        double r = e->tp[c] + e->fn[c] ? (double)e->tp[c] / (double)(e->tp[c] + e->fn[c]) : 0;
        printf(", %s P %.4f R %.4f F1 %.4f", labels[c], p, r, p + r > 0 ? 2 * p * r / (p + r) : 0);
    }
    printf("\n");
    fflush(stdout);
}

static size_t count_nonzero(const float *w, size_t n)
{
    size_t z = 0;
    for (size_t i = 0; i < n; i++)
        z += w[i] != 0.0f;
    return z;
}

int jn_train_spam_text(const jn_train_options *opt, jn_err *err)
{
    if (!opt->data || !opt->out)
        return jn_err_set(err, JN_EINVAL, "spam-text: --data and --out are required");
    const jn_prune_options *pr = opt->prune;
    int epochs = pr ? pr->fine_tune_epochs : opt->epochs > 0 ? opt->epochs : 5;
    if (pr && !opt->init)
        return jn_err_set(err, JN_EINVAL, "spam-text: pruning needs the checkpoint to prune (--checkpoint)");
    if (pr && pr->channels > 0)
        return jn_err_set(err, JN_EINVAL, "spam-text: a linear model has no channels to prune (use --sparsity)");
    uint8_t *keep = NULL;
    size_t nonzero_before = 0;
    double acc_before = -1, acc_pruned = -1;
    size_t batch = opt->batch_size > 0 ? (size_t)opt->batch_size : 32;
    jn_text_model model = {0};
    dataset d = {0}, test = {0};
    jn_optim *o = NULL;
    float *gw = NULL, *gb = NULL;
    size_t *order = NULL;
    json_t *card = NULL;
    eval ve = {0}, te = {0};
    int rc = 0;

    if (opt->init) {
        if ((rc = jn_text_model_load(opt->init, &model, err)))
            return rc;
        d.labels = model.labels;
        d.k = model.lin.k;
    } else {
        model.cfg = jn_text_hash_defaults();
        model.cfg.dim_bits = DEFAULT_DIM_BITS;
        const char *bits = getenv("JUNCTION_TEXT_DIM_BITS");
        if (bits && atoi(bits) >= 8 && atoi(bits) <= 24)
            model.cfg.dim_bits = atoi(bits);
    }
    if ((rc = load_dataset(opt->data, opt->limit, &model.cfg, &d, opt->quiet, err)))
        goto out;
    if (!opt->init) {
        model.labels = d.labels;
        model.lin.k = d.k;
        model.lin.dim = (size_t)1 << model.cfg.dim_bits;
        model.lin.w = calloc(model.lin.dim * model.lin.k, sizeof(float)); /* convex: zero init is fine */
        model.lin.b = calloc(model.lin.k, sizeof(float));
        if (!model.lin.w || !model.lin.b) {
            rc = jn_err_set(err, JN_ENOMEM, "out of memory");
            goto out;
        }
    }
    size_t dk = model.lin.dim * model.lin.k, k = model.lin.k;
    if (pr) {
        if (opt->test_data) {
            test.labels = model.labels;
            test.k = k;
            if ((rc = load_dataset(opt->test_data, 0, &model.cfg, &test, opt->quiet, err)))
                goto out;
            if (evaluate(&model.lin, &test, NULL, test.n, &te)) {
                rc = jn_err_set(err, JN_ENOMEM, "out of memory");
                goto out;
            }
            acc_before = te.acc;
        }
        nonzero_before = count_nonzero(model.lin.w, dk);
        if (!(keep = malloc(dk ? dk : 1)) || jn_prune_magnitude(model.lin.w, dk, pr->sparsity, keep) < 0) {
            rc = jn_err_set(err, JN_ENOMEM, "out of memory");
            goto out;
        }
        if (opt->test_data) {
            eval_free(&te);
            if (evaluate(&model.lin, &test, NULL, test.n, &te)) {
                rc = jn_err_set(err, JN_ENOMEM, "out of memory");
                goto out;
            }
            acc_pruned = te.acc;
            eval_free(&te);
        }
        if (!opt->quiet)
            fprintf(stderr, "spam-text: pruned %s: %zu -> %zu non-zero weights; test accuracy %.4f -> %.4f before "
                            "fine-tuning\n", opt->init, nonzero_before, count_nonzero(model.lin.w, dk), acc_before,
                    acc_pruned);
    }
    gw = calloc(dk, sizeof *gw);
    gb = calloc(k, sizeof *gb);
    order = malloc(d.n * sizeof *order);
    o = jn_optim_create(&opt->optim);
    if (!gw || !gb || !order || !o || jn_optim_add(o, model.lin.w, gw, dk) || jn_optim_add(o, model.lin.b, gb, k)) {
        rc = jn_err_set(err, JN_ENOMEM, "out of memory");
        goto out;
    }
    uint64_t rng = opt->seed ? opt->seed : 1;
    for (size_t i = 0; i < d.n; i++)
        order[i] = i;
    shuffle(order, d.n, &rng);
    size_t n_val = opt->validation_split > 0 && opt->validation_split < 1
                       ? (size_t)((double)d.n * opt->validation_split + 0.5)
                       : 0;
    if (n_val >= d.n)
        n_val = d.n - 1;
    size_t n_train = d.n - n_val;
    const size_t *val_idx = order + n_train;

    for (int ep = 1; ep <= epochs; ep++) {
        shuffle(order, n_train, &rng);
        double t0 = now_s(), last = 0, loss_sum = 0;
        size_t correct = 0, seen = 0;
        for (size_t s = 0; s < n_train; s += batch) {
            size_t e = s + batch < n_train ? s + batch : n_train;
            float scale = 1.0f / (float)(e - s);
            for (size_t i = s; i < e; i++) {
                const example *ex = &d.ex[order[i]];
                int pred;
                loss_sum += jn_text_linear_backward(&model.lin, &ex->x, ex->y, scale, gw, gb, &pred);
                correct += pred == ex->y;
            }
            seen = e;
            jn_optim_step(o);
            if (keep)
                for (size_t i = 0; i < dk; i++)
                    if (!keep[i])
                        model.lin.w[i] = 0.0f;
            for (size_t i = s; i < e; i++) { /* zero the touched rows only */
                const jn_text_sparse *x = &d.ex[order[i]].x;
                for (size_t j = 0; j < x->n; j++)
                    memset(gw + (size_t)x->idx[j] * k, 0, k * sizeof *gw);
            }
            memset(gb, 0, k * sizeof *gb);
            double t = now_s();
            if (e == n_train || t - last > 0.1) {
                jn_train_progress(ep, epochs, (long)seen, (long)n_train, loss_sum / (double)seen,
                                  (double)correct / (double)seen, (double)seen / (t - t0 + 1e-9), opt->quiet);
                last = t;
            }
        }
        if (n_val) {
            eval_free(&ve);
            if (evaluate(&model.lin, &d, val_idx, n_val, &ve)) {
                rc = jn_err_set(err, JN_ENOMEM, "out of memory");
                goto out;
            }
            if (!opt->quiet)
                fprintf(stderr, "epoch %d/%d: train loss %.4f acc %.4f, validation loss %.4f acc %.4f\n", ep, epochs,
                        loss_sum / (double)n_train, (double)correct / (double)n_train, ve.loss, ve.acc);
        }
    }
    if (n_val)
        print_eval("validation", &ve, model.labels, k);
    if (opt->test_data) {
        test.labels = model.labels;
        test.k = k;
        if (!test.n && (rc = load_dataset(opt->test_data, 0, &model.cfg, &test, opt->quiet, err)))
            goto out;
        if (evaluate(&model.lin, &test, NULL, test.n, &te)) {
            rc = jn_err_set(err, JN_ENOMEM, "out of memory");
            goto out;
        }
        print_eval("test", &te, model.labels, k);
    }

    char path[4096];
    snprintf(path, sizeof path, "%s.safetensors", opt->out);
    if ((rc = jn_text_model_save(path, &model, err)))
        goto out;
    json_t *labels = json_array();
    for (size_t c = 0; c < k; c++)
        json_array_append_new(labels, json_string(model.labels[c]));
    const char *slash = strrchr(path, '/');
    card = json_pack(
        "{s:s, s:s, s:s, s:o, s:{s:s, s:i, s:i, s:[i,i], s:i, s:b, s:i, s:s, s:s, s:s}, s:{s:s, s:s?, s:I, s:I, s:I, "
        "s:s, s:f, s:f, s:f, s:i, s:i, s:I, s:f, s:s?}, s:o}",
        "model", "spam-text", "format", "junction-text-linear/1", "weights", slash ? slash + 1 : path, "labels",
        labels, "features", "hash", "fnv1a32+fmix32", "dim_bits", model.cfg.dim_bits, "dimension",
        (int)model.lin.dim, "char_ngrams", model.cfg.char_min, model.cfg.char_max, "word_ngrams",
        model.cfg.word_ngrams, "stopwords", model.cfg.stopwords, "seed", (int)model.cfg.seed, "tf", "1 + ln(tf)",
        "norm", "l2", "tokenizer", "UTF-8 words lower-cased, CJK characters as single tokens", "training", "data",
        opt->data, "test_data", opt->test_data, "examples", (json_int_t)d.n, "train_examples", (json_int_t)n_train,
        "validation_examples", (json_int_t)n_val, "optimizer", opt->optim.kind == JN_OPTIM_ADAM ? "adam" : "sgd",
        "lr", (double)opt->optim.lr, "momentum", (double)opt->optim.momentum, "weight_decay",
        (double)opt->optim.weight_decay, "epochs", epochs, "batch_size", (int)batch, "seed", (json_int_t)opt->seed,
        "validation_split", opt->validation_split, "init", opt->init, "metrics", json_object());
    if (!card) {
        rc = jn_err_set(err, JN_ENOMEM, "cannot build the model card");
        goto out;
    }
    json_t *metrics = json_object_get(card, "metrics");
    if (n_val)
        json_object_set_new(metrics, "validation", eval_json(&ve, model.labels, k));
    if (opt->test_data)
        json_object_set_new(metrics, "test", eval_json(&te, model.labels, k));
    if (pr) {
        json_t *p = json_pack("{s:s, s:s, s:f, s:I, s:I, s:I, s:i, s:{s:o, s:o, s:o}}", "method", "magnitude",
                              "source", opt->init, "sparsity", pr->sparsity, "weights", (json_int_t)dk,
                              "nonzero_weights_before", (json_int_t)nonzero_before, "nonzero_weights_after",
                              (json_int_t)count_nonzero(model.lin.w, dk), "fine_tune_epochs", epochs,
                              "test_accuracy", "before", acc_before >= 0 ? json_real(acc_before) : json_null(),
                              "pruned", acc_pruned >= 0 ? json_real(acc_pruned) : json_null(), "after_fine_tuning",
                              opt->test_data ? json_real(te.acc) : json_null());
        if (!p || json_object_set_new(card, "pruning", p)) {
            rc = jn_err_set(err, JN_ENOMEM, "cannot build the model card");
            goto out;
        }
        printf("spam-text: pruned %s to %zu of %zu non-zero weights, fine-tuned %d epochs\n", opt->init,
               count_nonzero(model.lin.w, dk), dk, epochs);
    }
    snprintf(path, sizeof path, "%s.json", opt->out);
    if (json_dump_file(card, path, JSON_INDENT(2) | JSON_PRESERVE_ORDER) != 0)
        rc = jn_err_set(err, JN_EIO, "%s: cannot write the model card", path);
out:
    free(keep);
    json_decref(card);
    eval_free(&ve);
    eval_free(&te);
    jn_optim_destroy(o);
    free(gw);
    free(gb);
    free(order);
    test.labels = NULL; /* shared with the model */
    dataset_free(&test);
    if (model.labels != d.labels)
        free_strs(d.labels, d.k);
    dataset_free(&d);
    jn_text_model_free(&model);
    return rc;
}
