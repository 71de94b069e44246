/* export_cmd.c — `junction export --model NAME --checkpoint CKPT.safetensors --out FILE.onnx`: loads a checkpoint
 * written by `junction train` (or a shipped one) and writes it as an ONNX model (engines/train/onnx_export.h).
 * `junction train --onnx FILE` calls jn_cli_export_onnx on the checkpoint it has just saved. */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "onnx_export.h"
#include "safetensors.h"
#include "text/text.h"
#include "vision/cnn.h"
#include "vision/cnn_labels.h"

#define FASHION_PREPROCESSING                                                                                      \
    "decode PNG/JPEG, gray (BT.601 luma, alpha over white), bilinear antialiased resize to 28x28 without crop, "   \
    "x/255 (no mean/std); items light on a black background as in Fashion-MNIST"

/* The model card next to a checkpoint: PREFIX.json for PREFIX.safetensors. NULL when there is none. */
static json_t *load_card(const char *checkpoint)
{
    size_t n = strlen(checkpoint);
    const char *ext = ".safetensors";
    size_t e = strlen(ext);
    if (n <= e || strcmp(checkpoint + n - e, ext) != 0)
        return NULL;
    char *path = malloc(n + 8);
    if (!path)
        return NULL;
    snprintf(path, n + 8, "%.*s.json", (int)(n - e), checkpoint);
    json_t *card = json_load_file(path, 0, NULL);
    free(path);
    return card;
}

static int export_cnn(const char *model, const char *checkpoint, const char *out, jn_err *err)
{
    jn_tensor_list ts;
    jn_tensor_list_init(&ts);
    jn_cnn m;
    int rc = jn_safetensors_read(checkpoint, &ts, NULL, err);
    if (!rc)
        rc = jn_cnn_from_tensors(&m, &ts, 28, 28, 1, checkpoint, err);
    jn_tensor_list_clear(&ts);
    if (rc)
        return rc;
    /* Labels: the model card's when it lists one per class, else Fashion-MNIST's. */
    json_t *card = load_card(checkpoint);
    json_t *arr = json_object_get(card, "labels");
    const char *labels[64];
    int n = 0;
    if (json_is_array(arr) && json_array_size(arr) == (size_t)m.a.classes && m.a.classes <= 64) {
        for (size_t i = 0; i < json_array_size(arr) && json_is_string(json_array_get(arr, i)); i++)
            labels[n++] = json_string_value(json_array_get(arr, i));
    }
    if (n != m.a.classes && m.a.classes == JN_FASHION_N_LABELS)
        for (n = 0; n < JN_FASHION_N_LABELS; n++)
            labels[n] = jn_fashion_labels[n];
    if (n != m.a.classes)
        rc = jn_err_set(err, JN_EINVAL, "'%s' has %d classes and no model card naming them", checkpoint,
                        m.a.classes);
    else
        rc = jn_onnx_export_cnn(&m, labels, n, model, FASHION_PREPROCESSING, out, err);
    json_decref(card);
    jn_cnn_free(&m);
    return rc;
}

static int export_text(const char *model, const char *checkpoint, const char *out, jn_err *err)
{
    jn_text_model m;
    int rc = jn_text_model_load(checkpoint, &m, err);
    if (rc)
        return rc;
    rc = jn_onnx_export_text_linear(&m, model, out, err);
    jn_text_model_free(&m);
    return rc;
}

typedef struct exporter {
    const char *model;
    int (*run)(const char *model, const char *checkpoint, const char *out, jn_err *err);
    const char *summary;
} exporter;

static const exporter exporters[] = {
    {"fashion-cnn", export_cnn,
     "FP32 [N,1,28,28] preprocessed image -> Conv/Relu/MaxPool x2, Gemm/Relu, Gemm, Softmax"},
    {"spam-text", export_text, "FP32 [N,2^bits] hashed features -> Gemm -> Softmax (the linear head)"},
    {"fashion-text", export_text, "the same linear head, for the product-title model"},
    {NULL, NULL, NULL},
};

static const exporter *find_exporter(const char *model)
{
    for (const exporter *e = exporters; e->model; e++)
        if (strcmp(e->model, model) == 0)
            return e;
    return NULL;
}

bool jn_cli_can_export_onnx(const char *model)
{
    return find_exporter(model) != NULL;
}

int jn_cli_export_onnx(const char *model, const char *checkpoint, const char *out, jn_err *err)
{
    const exporter *e = find_exporter(model);
    if (!e)
        return jn_err_set(err, JN_EINVAL, "model '%s' has no ONNX export", model);
    int rc = e->run(model, checkpoint, out, err);
    if (rc)
        jn_err_prefix(err, "export of '%s' to '%s'", model, out);
    return rc;
}

static void export_usage(FILE *to)
{
    fprintf(to,
            "usage: junction export --model NAME --checkpoint CKPT.safetensors --out FILE.onnx\n"
            "\n"
            "Writes a trained built-in model as ONNX (IR %d, opset %d; weights as initializers, batch dimension\n"
            "symbolic, class labels and preprocessing in the metadata). CKPT is what `junction train --out PREFIX`\n"
            "wrote (PREFIX.safetensors; labels are read from PREFIX.json when present) or a shipped model such as\n"
            "engines/vision/models/fashion-cnn.safetensors. `junction train ... --onnx FILE.onnx` does the same\n"
            "right after training.\n"
            "\n"
            "models:\n",
            JN_ONNX_EXPORT_IR_VERSION, JN_ONNX_EXPORT_OPSET);
    for (const exporter *e = exporters; e->model; e++)
        fprintf(to, "  %-12s %s\n", e->model, e->summary);
    fprintf(to, "\n"
                "Exit status: 0 written, 1 export failed (the reason on stderr), 2 bad usage.\n");
}

#define usage_error(...) jn_cli_usage_error("junction export", export_usage, __VA_ARGS__)

int jn_cmd_export(int argc, char **argv)
{
    enum { OPT_MODEL = 256, OPT_CHECKPOINT, OPT_OUT };
    static const struct option longopts[] = {
        {"model", required_argument, NULL, OPT_MODEL},
        {"checkpoint", required_argument, NULL, OPT_CHECKPOINT},
        {"out", required_argument, NULL, OPT_OUT},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *model = NULL, *checkpoint = NULL, *out = NULL;
    optind = 1;
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
        switch (c) {
        case OPT_MODEL: model = optarg; break;
        case OPT_CHECKPOINT: checkpoint = optarg; break;
        case OPT_OUT: out = optarg; break;
        case 'h': export_usage(stdout); return JN_CLI_EXIT_OK;
        case ':': return usage_error("option '%s' needs a value", argv[optind - 1]);
        default: return usage_error("unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind < argc)
        return usage_error("unexpected argument '%s'", argv[optind]);
    if (!model)
        return usage_error("--model is required");
    if (!checkpoint)
        return usage_error("--checkpoint is required");
    if (!out)
        return usage_error("--out is required");
    if (!find_exporter(model))
        return usage_error("unknown model '%s' (ONNX export knows fashion-cnn, spam-text, fashion-text)", model);
    jn_err err = {0};
    int rc = jn_cli_export_onnx(model, checkpoint, out, &err);
    if (rc) {
        fprintf(stderr, "junction export: %s\n", err.msg[0] ? err.msg : jn_strerror(rc));
        return JN_CLI_EXIT_FAIL;
    }
    printf("saved %s\n", out);
    return JN_CLI_EXIT_OK;
}
