/* quantize_cmd.c — `junction quantize --model FILE.onnx|NAME --calibration DATA --out Q.onnx [options]`:
 * post-training INT8 quantization (engines/quantize/quantize.h). A built-in NAME is first exported as
 * `junction export` does (its shipped checkpoint, or --checkpoint). Calibration reads the data sets `eval` reads
 * (eval_data.c: JSONL, or Fashion-MNIST's IDX images file; a directory means its train-images-idx3-ubyte.gz), runs
 * the FP32 model in process through the ONNX adapter with the values to calibrate tapped
 * (jn_onnx_load_bytes_tapped) and shows a progress bar on stderr.
 *
 * Exit status: 0 written; 1 a failure while running (the model does not run, the file cannot be written);
 * 2 bad usage or bad input (flags, a missing or corrupt model, calibration data that does not fit the model, an
 * --out that cannot be created) — with a message naming the flag or field; no output file then.
 *
 * Ownership: everything allocated here is freed before returning. Thread-safety: runs on one thread. */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include <jansson.h>

#include "../../engines/builtin.h"
#include "cli.h"
#include "eval_data.h"
#include "file_read.h"
#include "onnx.h"
#include "quantize.h"
#include "trainer.h"
#include "vision/preprocess.h"

#define DEFAULT_LIMIT 1000
#define DEFAULT_BATCH 64
#define MAX_MODEL_BYTES ((size_t)2 << 30)

static void quantize_usage(FILE *to)
{
    fprintf(to,
            "usage: junction quantize --model FILE.onnx|NAME --calibration DATA --out Q.onnx [options]\n"
            "\n"
            "Post-training INT8 quantization. Static mode (the default) writes a QDQ model: QuantizeLinear /\n"
            "DequantizeLinear pairs on the activations into and out of every Conv, MatMul and Gemm, INT8 weights\n"
            "(symmetric) read through DequantizeLinear, INT32 biases (scale = input scale x weight scale), as ONNX\n"
            "Runtime's quantizer writes it; any ONNX runtime runs it. Activation ranges come from running the FP32\n"
            "model on the calibration data. --dynamic quantizes MatMul / Gemm weights only (no calibration).\n"
            "\n"
            "options:\n"
            "  --model FILE.onnx|NAME   an ONNX model (a file, or a model folder's model.onnx), or a built-in model\n"
            "                           exported first as `junction export` does (fashion-cnn, spam-text, fashion-text)\n"
            "  --checkpoint CKPT        NAME's weights (default for fashion-cnn: the shipped ones)\n"
            "  --calibration DATA       JSONL ({\"<input>\": numbers, ...} per line, or {\"image\": \"x.png\"} for a\n"
            "                           model whose one input is FP32 [N,C,H,W]: decoded, resized to HxW, x/255, as\n"
            "                           `train` does; labels ignored), an IDX images file (Fashion-MNIST), or a\n"
            "                           directory holding train-images-idx3-ubyte.gz\n"
            "                           (/usr/share/datasets/fashion-mnist from Debian's dataset-fashion-mnist)\n"
            "  --out Q.onnx             the quantized model (written whole or not at all)\n"
            "  --method minmax|percentile|entropy\n"
            "                           activation ranges: observed extremes (default), a percentile of |x|, or the\n"
            "                           clip with the least KL divergence (entropy, as TensorRT / ONNX Runtime)\n"
            "  --percentile P           percentile's clip (default %g)\n"
            "  --per-channel            one weight scale per output channel (opset 13)\n"
            "  --activations uint8|int8 activation type (default uint8, asymmetric)\n"
            "  --weight-range reduced|full\n"
            "                           INT8 weights in [-64, 64] (default: no u8 x s8 pair sum saturates 16 bits,\n"
            "                           as in x86 kernels without VNNI, ONNX Runtime's among them) or [-127, 127]\n"
            "  --dynamic                weights only, MatMul and Gemm; no --calibration needed\n"
            "  --calibration-limit N    use the first N examples (default %d, 0 = all)\n"
            "  --batch-size N           examples per calibration run (default %d)\n"
            "  --quiet                  no progress bar\n"
            "  -h, --help               this text\n"
            "\n"
            "Exit status: 0 written, 1 failed while running, 2 bad usage or bad input (nothing written).\n",
            JN_QUANT_DEFAULT_PERCENTILE, DEFAULT_LIMIT, DEFAULT_BATCH);
}

#define usage_error(...) jn_cli_usage_error("junction quantize", quantize_usage, __VA_ARGS__)

static int input_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int input_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("junction quantize: ", stderr);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return JN_CLI_EXIT_USAGE;
}

static int parse_long(const char *s, long lo, long hi, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

static int read_whole(const char *path, uint8_t **out, size_t *len)
{
    void *buf;
    int e = jn_read_file(path, MAX_MODEL_BYTES, &buf, len);
    *out = buf;
    return e;
}

/* Can a file be created at path (its directory writable, path not a directory)? */
static int out_writable(const char *path)
{
    struct stat st;
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
        errno = EISDIR;
        return 0;
    }
    return jn_cli_dir_writable(path);
}

/* The model's bytes: the file, or the built-in NAME exported to a temporary file and read back. */
static int model_bytes(const char *model, const char *checkpoint, uint8_t **bytes, size_t *len)
{
    struct stat st;
    if (stat(model, &st) == 0) {
        char inside[PATH_MAX];
        if (S_ISDIR(st.st_mode)) { /* a model folder: its model.onnx */
            snprintf(inside, sizeof inside, "%s/model.onnx", model);
            model = inside;
        }
        int e = read_whole(model, bytes, len);
        return e ? input_error("--model '%s': cannot read: %s", model, strerror(e)) : 0;
    }
    if (!jn_cli_can_export_onnx(model))
        return input_error("--model '%s': no such file, and not a built-in model with an ONNX export (fashion-cnn, "
                           "spam-text, fashion-text)", model);
    char ckpt[PATH_MAX];
    jn_err err = {0};
    if (checkpoint) {
        snprintf(ckpt, sizeof ckpt, "%s", checkpoint);
    } else if (strcmp(model, "fashion-cnn") == 0) {
        if (jn_fashion_cnn_weights_path(ckpt, sizeof ckpt, &err))
            return input_error("--model fashion-cnn: %s", err.msg);
    } else {
        return input_error("--model %s: give its weights with --checkpoint CKPT.safetensors", model);
    }
    char tmp[] = "/tmp/junction-quantize-XXXXXX";
    int fd = mkstemp(tmp);
    if (fd < 0)
        return input_error("cannot create a temporary file for the export: %s", strerror(errno));
    close(fd);
    int rc = jn_cli_export_onnx(model, ckpt, tmp, &err);
    int e = rc ? 0 : read_whole(tmp, bytes, len);
    unlink(tmp);
    if (rc)
        return input_error("--model %s: %s", model, err.msg[0] ? err.msg : jn_strerror(rc));
    return e ? input_error("--model %s: cannot read the export back: %s", model, strerror(e)) : 0;
}

static void progress(long done, long total, double ex_per_s, int pass, int passes, bool quiet)
{
    if (quiet)
        return;
    char head[64], tail[96];
    snprintf(head, sizeof head, "calibration pass %d/%d", pass, passes);
    snprintf(tail, sizeof tail, "%ld/%ld %.0f ex/s", done, total, ex_per_s);
    jn_progress_bar(head, done, total, tail);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Whether examples [a, a+n) can run as one batch: every input has a symbolic first dimension and the same shape in
 * each, with 1 in that dimension. */
static bool batchable(const jn_signature *sig, const dataset *d, size_t a, size_t n)
{
    for (size_t i = 0; i < sig->n_inputs; i++)
        if (sig->inputs[i].ndim < 1 || sig->inputs[i].shape[0] >= 0)
            return false;
    const example *e0 = &d->ex[a];
    for (size_t k = 0; k < e0->n_in; k++)
        if (e0->in[k].form != JN_KIND_TENSOR || e0->in[k].ndim < 1 || e0->in[k].shape[0] != 1)
            return false;
    for (size_t j = a + 1; j < a + n; j++)
        for (size_t k = 0; k < e0->n_in; k++) {
            const ex_input *x = &d->ex[j].in[k], *y = &e0->in[k];
            if (x->port != y->port || x->ndim != y->ndim || memcmp(x->shape, y->shape, sizeof(int64_t) * x->ndim))
                return false;
        }
    return true;
}

/* Inputs for examples [a, a+n) (stacked along the first dimension). */
static int batch_inputs(const dataset *d, size_t a, size_t n, jn_tensor_list *list, jn_err *err)
{
    const example *e0 = &d->ex[a];
    for (size_t k = 0; k < e0->n_in; k++) {
        int64_t shape[JN_MAX_DIMS];
        memcpy(shape, e0->in[k].shape, sizeof shape);
        shape[0] = (int64_t)n * e0->in[k].shape[0];
        jn_tensor *t = jn_tensor_create(e0->in[k].port, JN_DTYPE_FP32, e0->in[k].ndim, shape, err);
        if (!t)
            return err->code;
        size_t row = t->byte_size / n;
        for (size_t j = 0; j < n; j++)
            memcpy((uint8_t *)t->data + j * row, d->ex[a + j].in[k].vals, row);
        if (jn_tensor_list_push(list, t)) {
            jn_tensor_free(t);
            return jn_err_set(err, JN_ENOMEM, "out of memory");
        }
    }
    return 0;
}

typedef struct qopts {
    const char *model, *checkpoint, *calibration, *out;
    long limit, batch;
    bool quiet;
    jn_quant_options q;
} qopts;

/* An image input: the model's only input, FP32 [N, C, H, W] with C 1 or 3 and H, W fixed. A JSONL file whose first
 * line gives "image" as a path then names images, preprocessed as `train` and fashion-cnn do: decode, gray or RGB, bilinear
 * antialiased resize to H x W without crop, x/255. */
static bool image_input(const jn_signature *sig)
{
    if (sig->n_inputs != 1)
        return false;
    const jn_port *p = &sig->inputs[0];
    return p->dtype == JN_DTYPE_FP32 && p->ndim == 4 && (p->shape[1] == 1 || p->shape[1] == 3) && p->shape[2] > 0 &&
           p->shape[3] > 0;
}

/* Whether path starts with the IDX images magic (plain or gzipped): its pixels then go x/255 as eval and train read
 * them, not through an image codec. */
static bool is_idx(const char *path)
{
    gzFile f = gzopen(path, "rb");
    unsigned char m[4] = {0};
    bool idx = f && gzread(f, m, 4) == 4 && m[0] == 0 && m[1] == 0 && m[2] == 8 && m[3] == 3;
    if (f)
        gzclose(f);
    return idx;
}

/* Whether the first line of a JSONL file gives "image" as a string (a path): the file then names images. */
static bool jsonl_names_images(const char *path)
{
    gzFile f = gzopen(path, "rb");
    if (!f)
        return false;
    size_t cap = 1 << 20;
    char *line = malloc(cap);
    bool yes = false;
    if (line && gzgets(f, line, (int)cap)) {
        json_t *obj = json_loads(line, JSON_DISABLE_EOF_CHECK, NULL);
        yes = json_is_string(json_object_get(obj, "image"));
        json_decref(obj);
    }
    free(line);
    gzclose(f);
    return yes;
}

/* Decodes the examples that are images into [1, C, H, W] FP32 values. */
static int decode_images(const jn_port *port, dataset *d, const char *path)
{
    jn_preprocess_config cfg = {.width = (int)port->shape[3], .height = (int)port->shape[2],
                                .channels = (int)port->shape[1], .std = {1, 1, 1}};
    size_t n = (size_t)(port->shape[1] * port->shape[2] * port->shape[3]);
    for (size_t i = 0; i < d->n; i++) {
        ex_input *in = &d->ex[i].in[0];
        if (in->form != JN_KIND_IMAGE)
            continue;
        if (!(in->vals = malloc(n * sizeof *in->vals)))
            return input_error("out of memory");
        jn_err err = {0};
        if (jn_image_to_nchw_named(in->bytes, in->len, &cfg, port->name, in->vals, &err))
            return input_error("--calibration '%s': example %zu: %s", path, i + 1, err.msg);
        free(in->bytes);
        in->bytes = NULL;
        in->len = 0;
        in->form = JN_KIND_TENSOR;
        in->ndim = 4;
        in->shape[0] = 1;
        for (int k = 1; k < 4; k++)
            in->shape[k] = port->shape[k];
    }
    return 0;
}

/* Runs the calibration passes. 0, JN_CLI_EXIT_USAGE (data that does not fit) or JN_CLI_EXIT_FAIL. */
static int calibrate(const qopts *o, const uint8_t *bytes, size_t len, jn_quant_plan *plan, size_t *n_examples)
{
    const char *const *taps;
    size_t n_taps = jn_quant_taps(plan, &taps);
    jn_err err = {0};
    jn_onnx_model *m = jn_onnx_load_bytes_tapped(bytes, len, o->model, taps, n_taps, &err);
    if (!m)
        return input_error("--model: %s", err.msg);
    jn_signature sig;
    jn_signature_init(&sig);
    dataset d = {0};
    int rc = jn_onnx_signature(m, &sig, &err) ? input_error("--model: %s", err.msg) : 0;
    const char *path = o->calibration;
    char dirpath[PATH_MAX];
    struct stat st;
    if (!rc && stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
        snprintf(dirpath, sizeof dirpath, "%s/train-images-idx3-ubyte.gz", path);
        path = dirpath;
    }
    jn__eval_set_command("junction quantize: --calibration");
    bool images = !rc && image_input(&sig) && !is_idx(path) && jsonl_names_images(path);
    if (images)
        sig.inputs[0].kind = JN_KIND_IMAGE; /* JSONL "image" paths and IDX pixels come as images */
    if (!rc && jn__eval_dataset_load(path, NULL, o->limit, &sig, NULL, &d))
        rc = JN_CLI_EXIT_USAGE;
    if (!rc && images)
        rc = decode_images(&sig.inputs[0], &d, path);
    for (size_t i = 0; !rc && i < d.n; i++)
        for (size_t k = 0; !rc && k < sig.n_inputs; k++) {
            bool found = false;
            for (size_t j = 0; j < d.ex[i].n_in; j++)
                found |= strcmp(d.ex[i].in[j].port, sig.inputs[k].name) == 0;
            if (!found)
                rc = input_error("--calibration '%s': example %zu has no value for the model's input '%s'", path,
                                 i + 1, sig.inputs[k].name);
        }
    int passes = jn_quant_passes(plan);
    size_t n_cal = jn_quant_n_calibrated(plan);
    for (int pass = 0; !rc && pass < passes; pass++) {
        double t0 = now_s();
        for (size_t a = 0; !rc && a < d.n;) {
            size_t n = d.n - a < (size_t)o->batch ? d.n - a : (size_t)o->batch;
            if (!batchable(&sig, &d, a, n))
                n = 1;
            jn_tensor_list in, out;
            jn_tensor_list_init(&in);
            jn_tensor_list_init(&out);
            rc = batch_inputs(&d, a, n, &in, &err);
            if (!rc)
                rc = jn_onnx_run(m, &in, &out, &err);
            if (rc) {
                fprintf(stderr, "%sjunction quantize: --calibration '%s' example %zu: %s\n", o->quiet ? "" : "\n",
                        path, a + 1, err.msg);
                rc = rc == JN_EINVAL ? JN_CLI_EXIT_USAGE : JN_CLI_EXIT_FAIL;
            }
            for (size_t i = 0; !rc && i < n_cal; i++) {
                const char *name = jn_quant_calibrated_name(plan, i);
                jn_tensor *t = jn_tensor_list_find(&out, name);
                if (!t)
                    t = jn_tensor_list_find(&in, name);
                if (!t || t->dtype != JN_DTYPE_FP32) {
                    fprintf(stderr, "junction quantize: value '%s' is %s: only FP32 values are quantized\n", name,
                            t ? jn_dtype_name(t->dtype) : "not computed");
                    rc = JN_CLI_EXIT_FAIL;
                } else if (jn_quant_observe(plan, i, pass, t->data, t->byte_size / sizeof(float), &err)) {
                    fprintf(stderr, "junction quantize: %s\n", err.msg);
                    rc = JN_CLI_EXIT_FAIL;
                }
            }
            jn_tensor_list_clear(&in);
            jn_tensor_list_clear(&out);
            a += n;
            double dt = now_s() - t0;
            if (!rc)
                progress((long)a, (long)d.n, dt > 0 ? (double)a / dt : 0, pass + 1, passes, o->quiet);
        }
    }
    *n_examples = d.n;
    jn__eval_dataset_free(&d);
    jn_signature_free(&sig);
    jn_onnx_free(m);
    return rc;
}

int jn_cmd_quantize(int argc, char **argv)
{
    enum {
        OPT_MODEL = 256,
        OPT_CHECKPOINT,
        OPT_CAL,
        OPT_OUT,
        OPT_METHOD,
        OPT_PERCENTILE,
        OPT_PER_CHANNEL,
        OPT_ACT,
        OPT_DYNAMIC,
        OPT_LIMIT,
        OPT_BATCH,
        OPT_QUIET,
        OPT_WRANGE,
    };
    static const struct option longopts[] = {
        {"model", required_argument, NULL, OPT_MODEL},
        {"checkpoint", required_argument, NULL, OPT_CHECKPOINT},
        {"calibration", required_argument, NULL, OPT_CAL},
        {"out", required_argument, NULL, OPT_OUT},
        {"method", required_argument, NULL, OPT_METHOD},
        {"percentile", required_argument, NULL, OPT_PERCENTILE},
        {"per-channel", no_argument, NULL, OPT_PER_CHANNEL},
        {"activations", required_argument, NULL, OPT_ACT},
        {"dynamic", no_argument, NULL, OPT_DYNAMIC},
        {"calibration-limit", required_argument, NULL, OPT_LIMIT},
        {"batch-size", required_argument, NULL, OPT_BATCH},
        {"quiet", no_argument, NULL, OPT_QUIET},
        {"weight-range", required_argument, NULL, OPT_WRANGE},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    qopts o = {.limit = DEFAULT_LIMIT, .batch = DEFAULT_BATCH};
    const char *method = "minmax";
    optind = 1;
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
        switch (c) {
        case OPT_MODEL: o.model = optarg; break;
        case OPT_CHECKPOINT: o.checkpoint = optarg; break;
        case OPT_CAL: o.calibration = optarg; break;
        case OPT_OUT: o.out = optarg; break;
        case OPT_METHOD: method = optarg; break;
        case OPT_PERCENTILE: {
            char *end;
            errno = 0;
            double v = strtod(optarg, &end);
            if (errno || end == optarg || *end || !(v > 0 && v <= 100))
                return usage_error("--percentile wants a number in (0, 100], got '%s'", optarg);
            o.q.percentile = v;
            break;
        }
        case OPT_PER_CHANNEL: o.q.per_channel = true; break;
        case OPT_ACT:
            if (strcmp(optarg, "uint8") && strcmp(optarg, "int8"))
                return usage_error("--activations wants uint8 or int8, got '%s'", optarg);
            o.q.act_int8 = strcmp(optarg, "int8") == 0;
            break;
        case OPT_DYNAMIC: o.q.dynamic = true; break;
        case OPT_LIMIT:
            if (parse_long(optarg, 0, LONG_MAX, &o.limit))
                return usage_error("--calibration-limit wants a non-negative integer, got '%s'", optarg);
            break;
        case OPT_BATCH:
            if (parse_long(optarg, 1, 4096, &o.batch))
                return usage_error("--batch-size wants an integer in 1..4096, got '%s'", optarg);
            break;
        case OPT_QUIET: o.quiet = true; break;
        case OPT_WRANGE:
            if (strcmp(optarg, "reduced") && strcmp(optarg, "full"))
                return usage_error("--weight-range wants reduced or full, got '%s'", optarg);
            o.q.full_range = strcmp(optarg, "full") == 0;
            break;
        case 'h': quantize_usage(stdout); return JN_CLI_EXIT_OK;
        case ':': return usage_error("option '%s' needs a value", argv[optind - 1]);
        default: return usage_error("unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind < argc)
        return usage_error("unexpected argument '%s'", argv[optind]);
    if (!o.model)
        return usage_error("--model is required");
    if (!o.out)
        return usage_error("--out is required");
    if (!o.calibration && !o.q.dynamic)
        return usage_error("--calibration is required (static quantization calibrates activation ranges; "
                           "--dynamic needs none)");
    if (strcmp(method, "minmax") == 0)
        o.q.method = JN_QUANT_MINMAX;
    else if (strcmp(method, "percentile") == 0)
        o.q.method = JN_QUANT_PERCENTILE;
    else if (strcmp(method, "entropy") == 0)
        o.q.method = JN_QUANT_ENTROPY;
    else
        return usage_error("--method wants minmax, percentile or entropy, got '%s'", method);
    if (o.q.percentile > 0 && o.q.method != JN_QUANT_PERCENTILE)
        return usage_error("--percentile goes with --method percentile");
    if (o.q.dynamic && o.calibration)
        return usage_error("--dynamic quantizes weights only: --calibration is not used with it");
    if (!out_writable(o.out))
        return input_error("--out '%s': cannot create a file there: %s", o.out, strerror(errno));

    uint8_t *bytes = NULL;
    size_t len = 0;
    int rc = model_bytes(o.model, o.checkpoint, &bytes, &len);
    if (rc)
        return rc;
    jn_err err = {0};
    jn_quant_plan *plan = NULL;
    if (jn_quant_plan_create(bytes, len, o.model, &o.q, &plan, &err)) {
        free(bytes);
        return input_error("--model: %s", err.msg);
    }
    /* The FP32 model must load in junction before calibration (also in dynamic mode: a model that does not run
     * here is refused rather than rewritten blind). */
    size_t n_examples = 0;
    if (o.q.dynamic) {
        jn_onnx_model *m = jn_onnx_load_bytes(bytes, len, o.model, &err);
        if (!m)
            rc = input_error("--model: %s", err.msg);
        jn_onnx_free(m);
    } else {
        rc = calibrate(&o, bytes, len, plan, &n_examples);
    }
    free(bytes);
    jn_quant_summary sum;
    char note[512];
    snprintf(note, sizeof note, "%zu examples of %s", n_examples, o.calibration ? o.calibration : "-");
    if (!rc && jn_quant_write(plan, o.out, o.q.dynamic ? NULL : note, &sum, &err)) {
        fprintf(stderr, "junction quantize: %s\n", err.msg);
        rc = err.code == JN_EIO ? JN_CLI_EXIT_USAGE : JN_CLI_EXIT_FAIL;
    }
    jn_quant_plan_free(plan);
    if (rc)
        return rc;
    printf("quantized %zu nodes (%zu activation pairs, %zu INT8 weights, %zu INT32 / %zu FP32 biases); "
           "%zu -> %zu bytes (%.3fx); last output scale %.9g\n",
           sum.nodes, sum.activations, sum.weights, sum.int32_biases, sum.fp32_biases, sum.bytes_in, sum.bytes_out,
           sum.bytes_in ? (double)sum.bytes_out / (double)sum.bytes_in : 0.0, (double)sum.last_scale);
    printf("saved %s\n", o.out);
    return JN_CLI_EXIT_OK;
}
