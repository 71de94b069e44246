/* cnn_train.c — `junction train --model fashion-cnn`: the standard loop (trainer.h) over the CNN of cnn.h.
 *
 * Data: a directory with Fashion-MNIST's IDX files (train-images-idx3-ubyte[.gz], train-labels-idx1-ubyte[.gz],
 * and t10k-* for the test set: Debian's dataset-fashion-mnist installs them in /usr/share/datasets/fashion-mnist),
 * or a JSONL file of {"image": "path.png", "label": "Sneaker"} (paths relative to the JSONL's directory; decoded
 * and resized to 28x28 gray by engines/vision/preprocess.h, exactly as the fashion-cnn engine does).
 * Pixels are x/255 in [0, 1]; Fashion-MNIST items are light on a black background.
 * `junction prune` (opt->prune) runs the same loop: the --init checkpoint is evaluated, pruned (cnn_prune.h:
 * channels and/or weights by magnitude), evaluated again and fine-tuned for prune->fine_tune_epochs with pruned
 * weights kept at zero after every step; the model card's "pruning" object records what was done.
 */
#include <cblas.h>
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <zlib.h>

#include "cnn.h"
#include "cnn_labels.h"
#include "cnn_prune.h"
#include "optim.h"
#include "preprocess.h"
#include "safetensors.h"
#include "trainer.h"

#define IMG 28
#define PIX (IMG * IMG)

typedef struct dataset {
    float *x; /* [n, 28, 28] in [0, 1] */
    int *y;
    long n;
} dataset;

static void dataset_free(dataset *d)
{
    free(d->x);
    free(d->y);
    memset(d, 0, sizeof *d);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* ---- IDX ---------------------------------------------------------------------------------------------------- */

/* Opens dir/name or dir/name.gz (zlib reads both, compressed or not). */
static gzFile open_idx(const char *dir, const char *name, char *path, size_t n)
{
    snprintf(path, n, "%s/%s.gz", dir, name);
    gzFile f = gzopen(path, "rb");
    if (f)
        return f;
    snprintf(path, n, "%s/%s", dir, name);
    return gzopen(path, "rb");
}

static int read_be32(gzFile f, uint32_t *v)
{
    uint8_t b[4];
    if (gzread(f, b, 4) != 4)
        return -1;
    *v = (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
    return 0;
}

/* Loads `prefix`-images-idx3-ubyte and `prefix`-labels-idx1-ubyte from dir (up to limit examples, 0 = all). */
static int load_idx(const char *dir, const char *prefix, long limit, dataset *d, jn_err *err)
{
    char name[64], ipath[4096], lpath[4096];
    snprintf(name, sizeof name, "%s-images-idx3-ubyte", prefix);
    gzFile fi = open_idx(dir, name, ipath, sizeof ipath);
    if (!fi)
        return jn_err_set(err, JN_ENOTFOUND, "fashion-cnn: no %s[.gz] in '%s'", name, dir);
    snprintf(name, sizeof name, "%s-labels-idx1-ubyte", prefix);
    gzFile fl = open_idx(dir, name, lpath, sizeof lpath);
    if (!fl) {
        gzclose(fi);
        return jn_err_set(err, JN_ENOTFOUND, "fashion-cnn: no %s[.gz] in '%s'", name, dir);
    }
    int rc = 0;
    uint8_t *raw = NULL;
    uint32_t magic, n, rows, cols, lmagic, ln;
    if (read_be32(fi, &magic) || read_be32(fi, &n) || read_be32(fi, &rows) || read_be32(fi, &cols) ||
        magic != 0x803 || rows != IMG || cols != IMG) {
        rc = jn_err_set(err, JN_EINVAL, "fashion-cnn: '%s' is not an IDX file of 28x28 uint8 images", ipath);
        goto done;
    }
    if (read_be32(fl, &lmagic) || read_be32(fl, &ln) || lmagic != 0x801 || ln != n) {
        rc = jn_err_set(err, JN_EINVAL, "fashion-cnn: '%s' is not an IDX label file for %u images", lpath, n);
        goto done;
    }
    long count = limit > 0 && limit < (long)n ? limit : (long)n;
    d->x = malloc((size_t)count * PIX * sizeof(float));
    d->y = malloc((size_t)count * sizeof(int));
    raw = malloc((size_t)count * PIX);
    if (!d->x || !d->y || !raw) {
        rc = jn_err_set(err, JN_ENOMEM, "fashion-cnn: out of memory for %ld images", count);
        goto done;
    }
    if (gzread(fi, raw, (unsigned)(count * PIX)) != (int)(count * PIX)) {
        rc = jn_err_set(err, JN_EINVAL, "fashion-cnn: '%s' is truncated", ipath);
        goto done;
    }
    for (long i = 0; i < count * PIX; i++)
        d->x[i] = raw[i] * (1.0f / 255.0f);
    if (gzread(fl, raw, (unsigned)count) != (int)count) {
        rc = jn_err_set(err, JN_EINVAL, "fashion-cnn: '%s' is truncated", lpath);
        goto done;
    }
    for (long i = 0; i < count; i++) {
        if (raw[i] >= JN_FASHION_N_LABELS) {
            rc = jn_err_set(err, JN_EINVAL, "fashion-cnn: '%s': label %u of item %ld is not 0..9", lpath, raw[i], i);
            goto done;
        }
        d->y[i] = raw[i];
    }
    d->n = count;
done:
    free(raw);
    gzclose(fi);
    gzclose(fl);
    if (rc)
        dataset_free(d);
    return rc;
}

/* ---- JSONL -------------------------------------------------------------------------------------------------- */

static int label_index(json_t *v)
{
    if (json_is_integer(v) && json_integer_value(v) >= 0 && json_integer_value(v) < JN_FASHION_N_LABELS)
        return (int)json_integer_value(v);
    if (!json_is_string(v))
        return -1;
    for (int i = 0; i < JN_FASHION_N_LABELS; i++)
        if (strcmp(jn_fashion_labels[i], json_string_value(v)) == 0)
            return i;
    return -1;
}

static int read_file(const char *path, uint8_t **data, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return -1;
    size_t cap = 1 << 16, n = 0;
    uint8_t *buf = malloc(cap);
    while (buf) {
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (n < cap)
            break;
        uint8_t *g = realloc(buf, cap * 2);
        if (!g) {
            free(buf);
            buf = NULL;
            break;
        }
        buf = g;
        cap *= 2;
    }
    int bad = ferror(f);
    fclose(f);
    if (!buf || bad) {
        free(buf);
        return -1;
    }
    *data = buf;
    *len = n;
    return 0;
}

static int load_jsonl(const char *path, long limit, dataset *d, jn_err *err)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return jn_err_set(err, JN_ENOTFOUND, "fashion-cnn: cannot open '%s': %s", path, strerror(errno));
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash)
        *slash = '\0';
    else
        snprintf(dir, sizeof dir, ".");
    jn_preprocess_config cfg = {.width = IMG, .height = IMG, .channels = 1, .mean = {0, 0, 0}, .std = {1, 1, 1},
                                .crop = false};
    char *line = NULL;
    size_t lcap = 0, cap = 0;
    long lineno = 0;
    int rc = 0;
    while (getline(&line, &lcap, f) > 0 && (limit <= 0 || d->n < limit)) {
        lineno++;
        char *s = line;
        while (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n')
            s++;
        if (!*s)
            continue;
        json_error_t jerr;
        json_t *o = json_loads(s, 0, &jerr);
        json_t *img = json_object_get(o, "image");
        int label = label_index(json_object_get(o, "label"));
        if (!json_is_string(img) || label < 0) {
            json_decref(o);
            rc = jn_err_set(err, JN_EINVAL,
                            "fashion-cnn: %s:%ld: expected {\"image\": \"path\", \"label\": one of the 10 "
                            "Fashion-MNIST class names}",
                            path, lineno);
            break;
        }
        char ipath[8192];
        const char *ip = json_string_value(img);
        if (ip[0] == '/')
            snprintf(ipath, sizeof ipath, "%s", ip);
        else
            snprintf(ipath, sizeof ipath, "%s/%s", dir, ip);
        json_decref(o);
        if ((size_t)d->n == cap) {
            cap = cap ? cap * 2 : 1024;
            float *nx = realloc(d->x, cap * PIX * sizeof(float));
            if (nx)
                d->x = nx;
            int *ny = realloc(d->y, cap * sizeof(int));
            if (ny)
                d->y = ny;
            if (!nx || !ny) {
                rc = jn_err_set(err, JN_ENOMEM, "fashion-cnn: out of memory");
                break;
            }
        }
        uint8_t *bytes;
        size_t blen;
        if (read_file(ipath, &bytes, &blen) != 0) {
            rc = jn_err_set(err, JN_ENOTFOUND, "fashion-cnn: %s:%ld: cannot read '%s'", path, lineno, ipath);
            break;
        }
        rc = jn_image_to_nchw_named(bytes, blen, &cfg, ipath, d->x + (size_t)d->n * PIX, err);
        free(bytes);
        if (rc) {
            jn_err_prefix(err, "fashion-cnn: %s:%ld", path, lineno);
            break;
        }
        d->y[d->n++] = label;
    }
    free(line);
    fclose(f);
    if (!rc && d->n == 0)
        rc = jn_err_set(err, JN_EINVAL, "fashion-cnn: '%s' holds no examples", path);
    if (rc)
        dataset_free(d);
    return rc;
}

static int is_dir(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

/* The training set (prefix "train") or test set ("t10k") of an IDX directory, or a JSONL file. */
static int load_data(const char *path, const char *prefix, long limit, dataset *d, jn_err *err)
{
    if (is_dir(path))
        return load_idx(path, prefix, limit, d, err);
    return load_jsonl(path, limit, d, err);
}

/* ---- loop --------------------------------------------------------------------------------------------------- */

static uint64_t rng_next(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static void shuffle(long *idx, long n, uint64_t *s)
{
    for (long i = n - 1; i > 0; i--) {
        long j = (long)(rng_next(s) % (uint64_t)(i + 1));
        long t = idx[i];
        idx[i] = idx[j];
        idx[j] = t;
    }
}

/* Accuracy and mean loss of the model on examples idx[0..n) of d (all of d when idx is NULL). */
static double evaluate(const jn_cnn *m, jn_cnn_work *w, int cap, const dataset *d, const long *idx, long n,
                       float *xb, int *yb, float *logits, double *loss_out)
{
    long correct = 0;
    double loss = 0.0;
    for (long s = 0; s < n; s += cap) {
        int b = (int)(n - s < cap ? n - s : cap);
        for (int i = 0; i < b; i++) {
            long k = idx ? idx[s + i] : s + i;
            memcpy(xb + (size_t)i * PIX, d->x + (size_t)k * PIX, PIX * sizeof(float));
            yb[i] = d->y[k];
        }
        jn_cnn_forward(m, w, xb, b, logits);
        loss += jn_cnn_softmax_xent(logits, yb, b, JN_FASHION_N_LABELS, NULL, &correct) * b;
    }
    if (loss_out)
        *loss_out = n ? loss / n : 0.0;
    return n ? (double)correct / n : 0.0;
}

static int save_checkpoint(const jn_cnn *m, const jn_train_options *opt, json_t *card, jn_err *err)
{
    char path[4096];
    jn_tensor_list ts;
    jn_tensor_list_init(&ts);
    int rc = jn_cnn_to_tensors(m, &ts, err);
    if (!rc) {
        snprintf(path, sizeof path, "%s.safetensors", opt->out);
        rc = jn_safetensors_write(path, &ts, "{\"model\": \"fashion-cnn\", \"layout\": \"NHWC, conv OHWI\"}", err);
    }
    jn_tensor_list_clear(&ts);
    if (rc)
        return rc;
    snprintf(path, sizeof path, "%s.json", opt->out);
    if (json_dump_file(card, path, JSON_INDENT(2) | JSON_PRESERVE_ORDER) != 0)
        return jn_err_set(err, JN_EIO, "fashion-cnn: cannot write the model card '%s'", path);
    return 0;
}

static json_t *model_card(const jn_cnn *m, const jn_train_options *opt, int epochs, int batch, long n_train,
                          long n_val, double seconds)
{
    const jn_cnn_arch *a = &m->a;
    json_t *labels = json_array();
    for (int i = 0; i < JN_FASHION_N_LABELS; i++)
        json_array_append_new(labels, json_string(jn_fashion_labels[i]));
    char arch[256];
    snprintf(arch, sizeof arch,
             "conv %dx%d %d + ReLU + maxpool 2 -> conv %dx%d %d + ReLU + maxpool 2 -> dense %d + ReLU -> dense %d",
             a->k, a->k, a->c1, a->k, a->k, a->c2, a->hidden, a->classes);
    json_t *card = json_pack(
        "{s:s, s:s, s:s, s:o, s:{s:s, s:s, s:i, s:i, s:i, s:i, s:i}, "
        "s:{s:s, s:i, s:i, s:i, s:s, s:f, s:f, s:b, s:s}, "
        "s:{s:[{s:s, s:s, s:s, s:[i]}], s:[{s:s, s:s, s:s, s:[i,i]}]}, "
        "s:{s:s, s:I, s:I, s:f, s:I, s:i, s:i, s:s, s:f, s:f, s:f, s:s, s:I, s:i, s:f}, s:o}",
        "name", "fashion-cnn", "format", "safetensors", "weights", "fashion-cnn.safetensors", "labels", labels,
        "architecture", "summary", arch, "layout", "activations NHWC; conv weights [out, k, k, in]; fc1 input is "
        "the NHWC flattening of the 7x7 map", "kernel", a->k, "conv1", a->c1, "conv2", a->c2, "hidden", a->hidden,
        "classes", a->classes,
        "preprocessing", "resize", "bilinear (antialiased) to 28x28, no crop", "width", IMG, "height", IMG,
        "channels", 1, "scale", "x/255", "mean", 0.0, "std", 1.0, "inverted", true, "note",
        "Fashion-MNIST items are light on a BLACK background: send a gray image with the item bright and the "
        "background dark (invert ordinary photos/product shots on white)",
        "signature", "inputs", "name", "image", "kind", "IMAGE", "dtype", "BYTES", "shape", -1, "outputs", "name",
        "scores", "kind", "CLASSIFICATION", "dtype", "FP32", "shape", -1, JN_FASHION_N_LABELS,
        "training", "data", opt->data, "examples", (json_int_t)n_train, "validation_examples", (json_int_t)n_val,
        "validation_split", opt->validation_split, "limit", (json_int_t)opt->limit, "epochs", epochs, "batch_size",
        batch, "optimizer", opt->optim.kind == JN_OPTIM_ADAM ? "adam" : "sgd", "lr", (double)opt->optim.lr,
        "momentum", (double)opt->optim.momentum, "weight_decay", (double)opt->optim.weight_decay, "schedule",
        "cosine decay of the learning rate to 5% over all steps", "seed", (json_int_t)opt->seed, "threads",
        opt->threads, "wall_seconds", seconds, "metrics", json_object());
    return card;
}

/* Test accuracy of m on d with a work area of its own (-1 when d is empty or out of memory). */
static double test_accuracy(const jn_cnn *m, const dataset *d, int batch)
{
    if (d->n == 0)
        return -1.0;
    jn_cnn_work *w = jn_cnn_work_create(&m->a, batch);
    float *xb = malloc((size_t)batch * PIX * sizeof(float));
    int *yb = malloc((size_t)batch * sizeof(int));
    float *logits = malloc((size_t)batch * JN_FASHION_N_LABELS * sizeof(float));
    double acc = w && xb && yb && logits ? evaluate(m, w, batch, d, NULL, d->n, xb, yb, logits, NULL) : -1.0;
    jn_cnn_work_destroy(w);
    free(xb);
    free(yb);
    free(logits);
    return acc;
}

static json_t *acc_json(double acc)
{
    return acc >= 0 ? json_real(acc) : json_null();
}

/* `junction prune`: prunes *m in place as pr asks (channels first, then weights), fills *mask for --sparsity and
 * *pruning with the card's record (test accuracies before pruning and right after it; after fine-tuning is added by
 * the caller). */
static int prune_model(jn_cnn *m, const jn_prune_options *pr, const jn_train_options *opt, const dataset *test,
                       int batch, jn_cnn_mask *mask, json_t **pruning, jn_err *err)
{
    jn_cnn_arch before = m->a;
    size_t params_before = m->n_params, nonzero_before = jn_cnn_nonzero(m);
    double acc_before = test_accuracy(m, test, batch);
    if (pr->channels > 0) {
        jn_cnn small;
        int rc = jn_cnn_prune_channels(m, pr->channels, &small, err);
        if (rc)
            return rc;
        jn_cnn_free(m);
        *m = small;
    }
    if (pr->sparsity > 0) {
        int rc = jn_cnn_prune_magnitude(m, pr->sparsity, mask, err);
        if (rc)
            return rc;
    }
    double acc_pruned = test_accuracy(m, test, batch);
    const char *method = pr->channels > 0 && pr->sparsity > 0 ? "channels (L1) + magnitude"
                         : pr->channels > 0                   ? "channels (L1)"
                                                              : "magnitude";
    *pruning = json_pack("{s:s, s:s, s:o, s:o, s:{s:i, s:i}, s:{s:i, s:i}, s:I, s:I, s:I, s:i, s:{s:o, s:o}}",
                         "method", method, "source", opt->init,
                         "channels_ratio", pr->channels > 0 ? json_real(pr->channels) : json_null(),
                         "sparsity", pr->sparsity > 0 ? json_real(pr->sparsity) : json_null(),
                         "channels_before", "conv1", before.c1, "conv2", before.c2,
                         "channels_after", "conv1", m->a.c1, "conv2", m->a.c2,
                         "parameters_before", (json_int_t)params_before,
                         "nonzero_parameters_before", (json_int_t)nonzero_before,
                         "parameters_after", (json_int_t)m->n_params, "fine_tune_epochs", pr->fine_tune_epochs,
                         "test_accuracy", "before", acc_json(acc_before), "pruned", acc_json(acc_pruned));
    if (!*pruning)
        return jn_err_set(err, JN_ENOMEM, "fashion-cnn: out of memory");
    if (!opt->quiet)
        fprintf(stderr, "fashion-cnn: pruned %s: conv1 %d -> %d, conv2 %d -> %d channels, %zu -> %zu parameters "
                        "(%zu non-zero); test accuracy %.4f -> %.4f before fine-tuning\n",
                opt->init, before.c1, m->a.c1, before.c2, m->a.c2, params_before, m->n_params, jn_cnn_nonzero(m),
                acc_before, acc_pruned);
    return 0;
}

int jn_train_fashion_cnn(const jn_train_options *opt, jn_err *err)
{
    double t0 = now_s();
    if (!opt->data || !opt->out)
        return jn_err_set(err, JN_EINVAL, "fashion-cnn: --data and --out are required");
    if (opt->threads > 0)
        openblas_set_num_threads(opt->threads);
    const jn_prune_options *pr = opt->prune;
    int epochs = pr ? pr->fine_tune_epochs : opt->epochs > 0 ? opt->epochs : 10;
    if (pr && !opt->init)
        return jn_err_set(err, JN_EINVAL, "fashion-cnn: pruning needs the checkpoint to prune (--checkpoint)");
    int batch = opt->batch_size > 0 ? opt->batch_size : 64;
    if (opt->validation_split < 0 || opt->validation_split >= 1)
        return jn_err_set(err, JN_EINVAL, "fashion-cnn: --validation-split must be in [0, 1), got %g",
                          opt->validation_split);

    dataset train = {0}, test = {0};
    int rc = load_data(opt->data, "train", opt->limit, &train, err);
    if (rc)
        return rc;
    const char *test_path = opt->test_data;
    char test_dir[4096];
    if (!test_path && is_dir(opt->data)) {
        /* An IDX directory carries its own test set (t10k-*). */
        snprintf(test_dir, sizeof test_dir, "%s", opt->data);
        test_path = test_dir;
    }
    if (test_path) {
        rc = load_data(test_path, "t10k", 0, &test, err);
        if (rc && test_path == test_dir) {
            jn_err_clear(err);
            rc = 0; /* no t10k files next to the training set: no test metrics */
        }
        if (rc) {
            dataset_free(&train);
            return rc;
        }
    }

    jn_cnn m;
    jn_cnn_arch arch = jn_cnn_default_arch();
    if (opt->init) {
        jn_tensor_list ts;
        jn_tensor_list_init(&ts);
        rc = jn_safetensors_read(opt->init, &ts, NULL, err);
        if (!rc)
            rc = jn_cnn_from_tensors(&m, &ts, IMG, IMG, 1, opt->init, err);
        jn_tensor_list_clear(&ts);
        if (!rc && m.a.classes != JN_FASHION_N_LABELS) {
            int classes = m.a.classes;
            jn_cnn_free(&m);
            rc = jn_err_set(err, JN_EINVAL, "fashion-cnn: --init '%s' has %d classes, expected %d", opt->init,
                            classes, JN_FASHION_N_LABELS);
        }
    } else {
        rc = jn_cnn_init(&m, &arch, opt->seed, err);
    }
    if (rc) {
        dataset_free(&train);
        dataset_free(&test);
        return rc;
    }
    jn_cnn_mask mask = {0};
    json_t *pruning = NULL;
    if (pr && (rc = prune_model(&m, pr, opt, &test, batch, &mask, &pruning, err))) {
        jn_cnn_free(&m);
        dataset_free(&train);
        dataset_free(&test);
        return rc;
    }

    /* Hold out a seeded random validation subset. */
    uint64_t rs = opt->seed * 0x2545F4914F6CDD1Dull + 1;
    long *perm = malloc((size_t)(train.n ? train.n : 1) * sizeof(long));
    jn_cnn_work *w = jn_cnn_work_create(&m.a, batch);
    float *xb = malloc((size_t)batch * PIX * sizeof(float));
    int *yb = malloc((size_t)batch * sizeof(int));
    float *logits = malloc((size_t)batch * JN_FASHION_N_LABELS * sizeof(float));
    float *dlogits = malloc((size_t)batch * JN_FASHION_N_LABELS * sizeof(float));
    jn_optim *o = jn_optim_create(&opt->optim);
    json_t *card = NULL;
    if (!perm || !w || !xb || !yb || !logits || !dlogits || !o) {
        rc = jn_err_set(err, JN_ENOMEM, "fashion-cnn: out of memory");
        goto done;
    }
    for (int i = 0; i < JN_CNN_N_PARAMS && !rc; i++)
        rc = jn_optim_add(o, m.p[i], m.g[i], m.len[i]);
    if (rc) {
        rc = jn_err_set(err, JN_ENOMEM, "fashion-cnn: out of memory");
        goto done;
    }
    for (long i = 0; i < train.n; i++)
        perm[i] = i;
    shuffle(perm, train.n, &rs);
    long n_val = (long)(opt->validation_split * (double)train.n);
    long *val_idx = perm, *tr_idx = perm + n_val, n_tr = train.n - n_val;
    if (n_tr <= 0) {
        rc = jn_err_set(err, JN_EINVAL, "fashion-cnn: no training examples left after the validation split");
        goto done;
    }
    if (!opt->quiet)
        fprintf(stderr, "fashion-cnn: %ld training, %ld validation, %ld test examples; %zu parameters\n", n_tr,
                n_val, test.n, m.n_params);

    long steps_per_epoch = (n_tr + batch - 1) / batch, total_steps = steps_per_epoch * epochs, step = 0;
    double train_loss = 0.0, train_acc = 0.0, val_acc = -1.0, val_loss = 0.0;
    for (int ep = 1; ep <= epochs; ep++) {
        shuffle(tr_idx, n_tr, &rs);
        double te = now_s(), loss_sum = 0.0;
        long correct = 0, done_n = 0;
        for (long s = 0; s < n_tr; s += batch) {
            int b = (int)(n_tr - s < batch ? n_tr - s : batch);
            for (int i = 0; i < b; i++) {
                long k = tr_idx[s + i];
                memcpy(xb + (size_t)i * PIX, train.x + (size_t)k * PIX, PIX * sizeof(float));
                yb[i] = train.y[k];
            }
            float lr = opt->optim.lr * (float)(0.05 + 0.95 * 0.5 * (1.0 + cos(M_PI * (double)step / total_steps)));
            jn_optim_set_lr(o, lr);
            jn_cnn_forward(&m, w, xb, b, logits);
            loss_sum += jn_cnn_softmax_xent(logits, yb, b, JN_FASHION_N_LABELS, dlogits, &correct) * b;
            jn_cnn_backward(&m, w, xb, b, dlogits);
            jn_optim_step(o);
            jn_cnn_mask_apply(&m, &mask);
            step++;
            done_n += b;
            if (!opt->quiet && (step % 20 == 0 || done_n == n_tr))
                jn_train_progress(ep, epochs, done_n, n_tr, loss_sum / done_n, (double)correct / done_n,
                                  done_n / (now_s() - te), opt->quiet);
        }
        train_loss = loss_sum / n_tr;
        train_acc = (double)correct / n_tr;
        if (n_val > 0)
            val_acc = evaluate(&m, w, batch, &train, val_idx, n_val, xb, yb, logits, &val_loss);
        if (!opt->quiet) {
            if (n_val > 0)
                fprintf(stderr, "epoch %d/%d: train loss %.4f acc %.4f, validation loss %.4f acc %.4f (%.1f s)\n",
                        ep, epochs, train_loss, train_acc, val_loss, val_acc, now_s() - te);
            else
                fprintf(stderr, "epoch %d/%d: train loss %.4f acc %.4f (%.1f s)\n", ep, epochs, train_loss,
                        train_acc, now_s() - te);
        }
    }

    double test_acc = -1.0, test_loss = 0.0;
    if (test.n > 0)
        test_acc = evaluate(&m, w, batch, &test, NULL, test.n, xb, yb, logits, &test_loss);
    double seconds = now_s() - t0;

    card = model_card(&m, opt, epochs, batch, n_tr, n_val, seconds);
    if (!card) {
        rc = jn_err_set(err, JN_ENOMEM, "fashion-cnn: out of memory");
        goto done;
    }
    if (pruning) {
        json_object_set_new(json_object_get(pruning, "test_accuracy"), "after_fine_tuning",
                            test.n > 0 ? json_real(test_acc) : json_null());
        json_object_set_new(pruning, "nonzero_parameters", json_integer((json_int_t)jn_cnn_nonzero(&m)));
        json_object_set(card, "pruning", pruning);
    }
    json_t *metrics = json_object_get(card, "metrics");
    json_object_set_new(metrics, "train_loss", json_real(train_loss));
    json_object_set_new(metrics, "train_accuracy", json_real(train_acc));
    if (n_val > 0) {
        json_object_set_new(metrics, "validation_loss", json_real(val_loss));
        json_object_set_new(metrics, "validation_accuracy", json_real(val_acc));
    }
    if (test.n > 0) {
        json_object_set_new(metrics, "test_examples", json_integer(test.n));
        json_object_set_new(metrics, "test_loss", json_real(test_loss));
        json_object_set_new(metrics, "test_accuracy", json_real(test_acc));
    }
    rc = save_checkpoint(&m, opt, card, err);
    if (!rc) {
        if (pr)
            printf("fashion-cnn: pruned %s to conv1 %d, conv2 %d channels, %zu of %zu parameters non-zero; "
                   "fine-tuned %d epochs on %ld examples in %.1f s\n",
                   opt->init, m.a.c1, m.a.c2, jn_cnn_nonzero(&m), m.n_params, epochs, n_tr, seconds);
        else
            printf("fashion-cnn: trained %d epochs on %ld examples in %.1f s\n", epochs, n_tr, seconds);
        printf("train_accuracy %.4f\n", train_acc);
        if (n_val > 0)
            printf("validation_accuracy %.4f\n", val_acc);
        if (test.n > 0)
            printf("test_accuracy %.4f\n", test_acc);
        if (pruning) {
            json_t *ta = json_object_get(pruning, "test_accuracy");
            if (json_is_real(json_object_get(ta, "before")))
                printf("test_accuracy_before_pruning %.4f\ntest_accuracy_pruned %.4f\n",
                       json_real_value(json_object_get(ta, "before")), json_real_value(json_object_get(ta, "pruned")));
        }
        printf("saved %s.safetensors and %s.json\n", opt->out, opt->out);
        fflush(stdout);
    }

done:
    json_decref(card);
    json_decref(pruning);
    jn_cnn_mask_free(&mask);
    jn_optim_destroy(o);
    free(perm);
    free(xb);
    free(yb);
    free(logits);
    free(dlogits);
    jn_cnn_work_destroy(w);
    jn_cnn_free(&m);
    dataset_free(&train);
    dataset_free(&test);
    return rc;
}
