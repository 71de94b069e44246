/* fashion_cnn.c — the `fashion-cnn` engine: encoded PNG/JPEG images of any size -> Fashion-MNIST class scores,
 * with the CNN of cnn.h and the weights shipped in engines/vision/models/fashion-cnn.safetensors.
 *
 * Preprocessing is the trainer's: decode, gray, bilinear (antialiased) resize to 28x28 without crop, x/255. The
 * model learnt Fashion-MNIST, whose items are LIGHT ON A BLACK BACKGROUND: callers send images in that form
 * (invert an ordinary product shot on white before sending it). Scores are softmax probabilities.
 *
 * Weights: $JUNCTION_MODELS_DIR/fashion-cnn.safetensors, else <exe dir>/../engines/vision/models (or ../../ from a
 * build directory nested one deeper), else the source tree's engines/vision/models. Registration fails when none
 * has them. Labels come from fashion-cnn.json next to the weights when it has 10 of them, else the built-in names.
 */
#include <cblas.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "builtin.h"
#include "cnn.h"
#include "cnn_labels.h"
#include "preprocess.h"
#include "safetensors.h"

#ifndef JN_VISION_SOURCE_MODELS_DIR
#define JN_VISION_SOURCE_MODELS_DIR ""
#endif

#define FASHION_WEIGHTS "fashion-cnn.safetensors"
#define FASHION_CARD "fashion-cnn.json"
#define FASHION_CHUNK 32 /* images per forward pass */

typedef struct fashion_ctx {
    jn_cnn model;          /* read-only once loaded: shared by concurrent calls */
    jn_cnn_packed *packed; /* model's weights packed once for the kernels; read-only, shared likewise */
} fashion_ctx;

static int try_dir(const char *dir, char *buf, size_t n)
{
    if (!dir || !*dir)
        return 0;
    int w = snprintf(buf, n, "%s/%s", dir, FASHION_WEIGHTS);
    return w > 0 && (size_t)w < n && access(buf, R_OK) == 0;
}

/* Finds the weights; buf receives the directory-qualified file path. */
static int find_weights(char *buf, size_t n, jn_err *err)
{
    const char *env = getenv("JUNCTION_MODELS_DIR");
    if (env && *env) {
        if (try_dir(env, buf, n))
            return 0;
        return jn_err_set(err, JN_ENOTFOUND, "fashion-cnn: weights '%s' not found in JUNCTION_MODELS_DIR=%s",
                          FASHION_WEIGHTS, env);
    }
    char exe[PATH_MAX];
    ssize_t len = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (len > 0) {
        exe[len] = '\0';
        char *slash = strrchr(exe, '/');
        if (slash)
            *slash = '\0';
        char dir[PATH_MAX + 64];
        snprintf(dir, sizeof dir, "%s/../engines/vision/models", exe);
        if (try_dir(dir, buf, n))
            return 0;
        snprintf(dir, sizeof dir, "%s/../../engines/vision/models", exe);
        if (try_dir(dir, buf, n))
            return 0;
    }
    if (try_dir(JN_VISION_SOURCE_MODELS_DIR, buf, n))
        return 0;
    return jn_err_set(err, JN_ENOTFOUND,
                      "fashion-cnn: weights '%s' not found (set JUNCTION_MODELS_DIR; looked in "
                      "<exe dir>/../engines/vision/models and %s)",
                      FASHION_WEIGHTS, JN_VISION_SOURCE_MODELS_DIR);
}

int jn_fashion_cnn_weights_path(char *buf, size_t n, jn_err *err)
{
    return find_weights(buf, n, err);
}

/* The model card's 10 labels (CKPT.json beside CKPT.safetensors; malloc'd strings into labels[]), or 0 to use the
 * built-in ones. */
static int card_labels(const char *weights_path, char *labels[JN_FASHION_N_LABELS])
{
    char path[PATH_MAX + 64];
    snprintf(path, sizeof path, "%s", weights_path);
    size_t n = strlen(path), ext = strlen(".safetensors");
    char *slash = strrchr(path, '/');
    if (n > ext && strcmp(path + n - ext, ".safetensors") == 0) /* CKPT.safetensors: its card is CKPT.json */
        snprintf(path + n - ext, sizeof path - (n - ext), ".json");
    else if (slash)
        snprintf(slash + 1, sizeof path - (size_t)(slash + 1 - path), "%s", FASHION_CARD);
    json_t *card = json_load_file(path, 0, NULL);
    json_t *arr = json_object_get(card, "labels");
    int ok = json_is_array(arr) && json_array_size(arr) == JN_FASHION_N_LABELS;
    for (size_t i = 0; ok && i < JN_FASHION_N_LABELS; i++)
        ok = json_is_string(json_array_get(arr, i));
    for (size_t i = 0; ok && i < JN_FASHION_N_LABELS; i++)
        labels[i] = strdup(json_string_value(json_array_get(arr, i)));
    json_decref(card);
    return ok;
}

static int fashion_infer(jn_engine *self, const jn_infer_ctx *ctx, const jn_tensor_list *inputs,
                         jn_tensor_list *outputs, jn_err *err)
{
    const fashion_ctx *fc = self->ctx;
    const jn_cnn *m = &fc->model;
    const jn_tensor *in = jn_tensor_list_find(inputs, "image");
    if (!in || in->dtype != JN_DTYPE_BYTES)
        return jn_err_set(err, JN_EINVAL, "model '%s': input 'image' (BYTES) is missing", self->name);
    int64_t count = jn_bytes_count(in->data, in->byte_size);
    if (count < 0)
        return jn_err_set(err, JN_EINVAL, "model '%s': input 'image' has a malformed BYTES payload", self->name);
    const int64_t shape[2] = {count, m->a.classes};
    jn_tensor *out = jn_tensor_create("scores", JN_DTYPE_FP32, 2, shape, err);
    if (!out)
        return err->code ? err->code : JN_ENOMEM;
    int chunk = count < FASHION_CHUNK ? (int)(count > 0 ? count : 1) : FASHION_CHUNK;
    size_t pix = (size_t)m->a.h * m->a.w * m->a.c;
    jn_cnn_work *w = jn_cnn_work_create_infer(&m->a, chunk);
    float *x = malloc((size_t)chunk * pix * sizeof(float));
    int rc = 0;
    if (!w || !x)
        rc = jn_err_set(err, JN_ENOMEM, "model '%s': out of memory", self->name);
    jn_preprocess_config cfg = {.width = m->a.w, .height = m->a.h, .channels = m->a.c, .mean = {0, 0, 0},
                                .std = {1, 1, 1}, .crop = false};
    size_t pos = 0;
    for (int64_t s = 0; !rc && s < count; s += chunk) {
        int b = (int)(count - s < chunk ? count - s : chunk);
        for (int i = 0; !rc && i < b; i++) {
            const uint8_t *elem;
            uint32_t len;
            if (!jn_bytes_next(in->data, in->byte_size, &pos, &elem, &len)) {
                rc = jn_err_set(err, JN_EINVAL, "model '%s': input 'image' has a malformed BYTES payload",
                                self->name);
                break;
            }
            char what[48];
            snprintf(what, sizeof what, "image[%lld]", (long long)(s + i));
            rc = jn_image_to_nchw_named(elem, len, &cfg, what, x + (size_t)i * pix, err);
            if (rc)
                jn_err_prefix(err, "model '%s'", self->name);
        }
        if (!rc)
            rc = jn_infer_ctx_check(ctx, err);
        if (rc)
            break;
        float *logits = (float *)out->data + (size_t)s * m->a.classes;
        jn_cnn_infer(fc->packed, w, x, b, logits);
        jn_cnn_softmax(logits, b, m->a.classes);
    }
    free(x);
    jn_cnn_work_destroy(w);
    if (rc) {
        jn_tensor_free(out);
        return rc;
    }
    return jn_tensor_list_push(outputs, out) ? jn_err_set(err, JN_ENOMEM, "out of memory") : 0;
}

static void fashion_destroy(jn_engine *self)
{
    fashion_ctx *fc = self->ctx;
    if (!fc)
        return;
    jn_cnn_packed_free(fc->packed);
    jn_cnn_free(&fc->model);
    free(fc);
}

static const jn_engine_vtable fashion_vtable = {
    .abi_version = JN_ENGINE_ABI_VERSION,
    .platform = "junction_vision",
    .infer = fashion_infer,
    .destroy = fashion_destroy,
};

jn_engine *jn_fashion_cnn_create(const char *name, const jn_builtin_options *opt, jn_err *err)
{
    (void)opt;
    char path[PATH_MAX + 64];
    if (find_weights(path, sizeof path, err))
        return NULL;
    return jn_fashion_cnn_create_from(name, path, err);
}

jn_engine *jn_fashion_cnn_create_from(const char *name, const char *path, jn_err *err)
{
    fashion_ctx *fc = calloc(1, sizeof *fc);
    if (!fc) {
        jn_err_set(err, JN_ENOMEM, "out of memory");
        return NULL;
    }
    jn_tensor_list ts;
    jn_tensor_list_init(&ts);
    int rc = jn_safetensors_read(path, &ts, NULL, err);
    if (!rc)
        rc = jn_cnn_from_tensors(&fc->model, &ts, 28, 28, 1, path, err);
    jn_tensor_list_clear(&ts);
    if (!rc && fc->model.a.classes != JN_FASHION_N_LABELS) {
        jn_cnn_free(&fc->model);
        rc = jn_err_set(err, JN_EINVAL, "fashion-cnn: '%s' does not have %d classes", path, JN_FASHION_N_LABELS);
    }
    if (!rc && !(fc->packed = jn_cnn_pack(&fc->model))) {
        jn_cnn_free(&fc->model);
        rc = jn_err_set(err, JN_ENOMEM, "fashion-cnn: out of memory packing the weights");
    }
    if (rc) {
        free(fc);
        jn_err_prefix(err, "engine '%s'", name);
        return NULL;
    }
    /* Requests already run in parallel on the worker pool: one BLAS thread per call avoids oversubscription. */
    openblas_set_num_threads(1);

    jn_engine *e = jn_engine_create(&fashion_vtable, name, "1",
                                    "Fashion-MNIST CNN (2 conv + 2 dense, junction kernels): encoded PNG/JPEG of one clothing "
                                    "item, light on a black background, any size -> scores over the 10 classes",
                                    fc, err);
    if (!e) {
        jn_cnn_packed_free(fc->packed);
        jn_cnn_free(&fc->model);
        free(fc);
        return NULL;
    }
    char *labels[JN_FASHION_N_LABELS] = {0};
    int have = card_labels(path, labels);
    const int64_t any[1] = {-1}, out_shape[2] = {-1, JN_FASHION_N_LABELS};
    rc = jn_signature_add_input(&e->sig, "image", JN_KIND_IMAGE, JN_DTYPE_BYTES, 1, any, err);
    if (!rc)
        rc = jn_signature_add_output(&e->sig, "scores", JN_KIND_CLASSIFICATION, JN_DTYPE_FP32, 2, out_shape, err);
    if (!rc)
        rc = jn_port_set_labels(&e->sig.outputs[0],
                                have ? (const char *const *)labels : jn_fashion_labels, JN_FASHION_N_LABELS, err);
    for (int i = 0; i < JN_FASHION_N_LABELS; i++)
        free(labels[i]);
    if (rc) {
        jn_engine_unref(e);
        return NULL;
    }
    if (jn_signature_batches(&e->sig)) /* rows are independent */
        e->flags |= JN_ENGINE_BATCHES;
    return e;
}
