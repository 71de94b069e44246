/* eval_cmd.c — `junction eval`: runs a labelled test set through a model or pipeline and reports classification
 * metrics (broker/core/evaluate.h), in process or against a running broker (junction.v1.Broker/Evaluate).
 *
 * Data sets: JSONL (one {"<input>": value, ..., "label": ...} per line; "text" and "image" name the model's single
 * TEXT / IMAGE input when no input has that name; image paths are relative to the JSONL file) or IDX
 * (Fashion-MNIST's images file, plain or gzipped; the labels file is --labels or found by the usual name). See
 * DECISIONS.md "Evaluation". The readers are eval_data.c's. `--compare B` evaluates a second model on the same data
 * and prints the two side by side with the differences; a model may be a file (.onnx, .safetensors): eval_compare.c.
 *
 * Ownership: examples and their payloads are read by eval_data.c and freed here before returning; engines and registries are
 * refcounted as their headers say; responses are freed with protobuf_c_message_free_unpacked.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "../../engines/builtin.h"
#include "cli.h"
#include "rpc_client.h"
#include "codec.h"
#include "eval_compare.h"
#include "eval_data.h"
#include "evaluate.h"
#include "junction/v1/broker.pb-c.h"
#include "pipeline.h"
#include "registry.h"
#include "signature_pb.h"

#define DEFAULT_TIMEOUT_MS (10 * 60 * 1000)
#define DEFAULT_BATCH 256
#define HEATMAP_CELL_PX 24

typedef struct eval_opts {
    const char *model, *version, *data, *labels_file, *heatmap, *server, *pipelines;
    const char *compare; /* --compare: the second model (its current version) */
    bool json;
    long limit; /* 0 = all */
    long batch;
    int timeout_ms;
} eval_opts;

/* Running ---------------------------------------------------------------------------------------------------- */

static jn_tensor *input_tensor(const ex_input *in, jn_err *err)
{
    if (in->form == JN_KIND_TENSOR) {
        jn_tensor *t = jn_tensor_create(in->port, JN_DTYPE_FP32, in->ndim, in->shape, err);
        if (t)
            memcpy(t->data, in->vals, t->byte_size);
        return t;
    }
    const int64_t one[1] = {1};
    const char *s = (const char *)in->bytes;
    return jn_tensor_from_strings(in->port, 1, one, &s, &in->len, 1, err);
}

/* Records one outcome; remembers the first error. */
static int record(jn_eval *ev, const char *label, const char *pred, double ms, const char *error, char *first_error,
                  size_t n_first)
{
    if (error && *error) {
        if (ev->n_failed++ == 0)
            snprintf(first_error, n_first, "%s", error);
        return 0;
    }
    return jn_eval_add(ev, label, pred, ms) ? jn__eval_fail("out of memory") : 0;
}

static int run_local(jn_registry *reg, const char *model, const char *version, const dataset *d, jn_eval *ev,
                     char *first_error, size_t n_first)
{
    int64_t t0 = jn_now_ns();
    for (size_t i = 0; i < d->n; i++) {
        const example *e = &d->ex[i];
        jn_request r;
        jn_request_init(&r);
        jn_err err;
        jn_err_clear(&err);
        int rc = jn_request_set_target(&r, model, version, "") ? jn_err_set(&err, JN_ENOMEM, "out of memory") : 0;
        for (size_t k = 0; !rc && k < e->n_in; k++) {
            jn_tensor *t = input_tensor(&e->in[k], &err);
            rc = !t ? err.code : jn_tensor_list_push(&r.inputs, t) ? jn_err_set(&err, JN_ENOMEM, "out of memory") : 0;
        }
        char *pred = NULL;
        double ms = 0;
        if (!rc)
            rc = jn_eval_run_example(reg, &r, NULL, NULL, &pred, &ms, &err);
        jn_request_clear(&r);
        if (rc == JN_ENOMEM || rc == JN_ENOTFOUND) {
            free(pred);
            return jn__eval_fail("%s", err.msg);
        }
        char where[64];
        snprintf(where, sizeof where, "example %zu: ", i + 1);
        char msg[JN_ERR_MSG_MAX + 64];
        snprintf(msg, sizeof msg, "%s%s", where, err.msg);
        int bad = record(ev, e->label, pred, ms, rc ? msg : NULL, first_error, n_first);
        free(pred);
        if (bad)
            return bad;
    }
    ev->wall_seconds = (double)(jn_now_ns() - t0) / 1e9;
    return 0;
}

/* Fills v (and the structs it points to, in the per-input scratch) for one input. */
typedef struct value_scratch {
    Junction__V1__Value value;
    Junction__V1__Text text;
    Junction__V1__Image image;
    Junction__V1__Tensor tensor;
} value_scratch;

static void fill_value(value_scratch *s, const ex_input *in)
{
    junction__v1__value__init(&s->value);
    s->value.name = (char *)in->port;
    if (in->form == JN_KIND_TEXT) {
        junction__v1__text__init(&s->text);
        s->text.text = (char *)in->bytes;
        s->value.value_case = JUNCTION__V1__VALUE__VALUE_TEXT;
        s->value.text = &s->text;
    } else if (in->form == JN_KIND_IMAGE) {
        junction__v1__image__init(&s->image);
        s->image.data.data = in->bytes;
        s->image.data.len = in->len;
        s->value.value_case = JUNCTION__V1__VALUE__VALUE_IMAGE;
        s->value.image = &s->image;
    } else {
        junction__v1__tensor__init(&s->tensor);
        s->tensor.datatype = JUNCTION__V1__DATA_TYPE__FP32;
        s->tensor.n_shape = (size_t)in->ndim;
        s->tensor.shape = (int64_t *)in->shape;
        int64_t count = jn_shape_element_count(in->ndim, in->shape);
        s->tensor.raw.data = (uint8_t *)in->vals;
        s->tensor.raw.len = (size_t)(count > 0 ? count : 0) * sizeof(float);
        s->value.value_case = JUNCTION__V1__VALUE__VALUE_TENSOR;
        s->value.tensor = &s->tensor;
    }
}

static int run_remote(jn_cli_rpc *r, const eval_opts *o, const char *model, const char *version, const dataset *d,
                      jn_eval *ev, char *first_error, size_t n_first)
{
    size_t batch = (size_t)o->batch;
    Junction__V1__Example *exs = calloc(batch, sizeof *exs);
    Junction__V1__Example **exp = calloc(batch, sizeof *exp);
    value_scratch *vs = calloc(batch * 8, sizeof *vs);
    Junction__V1__Value **vp = calloc(batch * 8, sizeof *vp);
    int rc = exs && exp && vs && vp ? 0 : jn__eval_fail("out of memory");
    int64_t t0 = jn_now_ns();
    for (size_t start = 0; !rc && start < d->n; start += batch) {
        size_t m = d->n - start < batch ? d->n - start : batch;
        for (size_t i = 0; i < m; i++) {
            const example *e = &d->ex[start + i];
            junction__v1__example__init(&exs[i]);
            exs[i].label = e->label;
            exs[i].n_inputs = e->n_in;
            exs[i].inputs = &vp[i * 8];
            for (size_t k = 0; k < e->n_in; k++) {
                fill_value(&vs[i * 8 + k], &e->in[k]);
                vp[i * 8 + k] = &vs[i * 8 + k].value;
            }
            exp[i] = &exs[i];
        }
        Junction__V1__EvaluateRequest req = JUNCTION__V1__EVALUATE_REQUEST__INIT;
        req.model = (char *)model;
        if (version)
            req.version = (char *)version;
        req.n_examples = m;
        req.examples = exp;
        ProtobufCMessage *msg;
        jn_cli_rpc_status st;
        if (jn_cli_rpc_unary(r, "/junction.v1.Broker/Evaluate", &req.base, &junction__v1__evaluate_response__descriptor,
                             &msg, &st)) {
            jn_cli_print_status("eval", r, &st);
            rc = JN_CLI_EXIT_FAIL;
            break;
        }
        const Junction__V1__EvaluateResponse *resp = (const Junction__V1__EvaluateResponse *)msg;
        if (resp->n_predictions != m || resp->n_latencies_ms != m || resp->n_errors != m) {
            rc = jn__eval_fail("malformed Evaluate response: %zu predictions for %zu examples", resp->n_predictions, m);
        }
        for (size_t i = 0; !rc && i < m; i++) {
            char msgbuf[2200];
            snprintf(msgbuf, sizeof msgbuf, "example %zu: %s", start + i + 1, resp->errors[i]);
            rc = record(ev, d->ex[start + i].label, resp->predictions[i], resp->latencies_ms[i],
                        *resp->errors[i] ? msgbuf : NULL, first_error, n_first);
        }
        protobuf_c_message_free_unpacked(msg, NULL);
    }
    ev->wall_seconds = (double)(jn_now_ns() - t0) / 1e9;
    free(exs);
    free(exp);
    free(vs);
    free(vp);
    return rc;
}

/* The model's signature from GetModel, as a jn_signature (labels included). */
static int remote_signature(jn_cli_rpc *r, const char *model, const char *version, jn_signature *sig)
{
    Junction__V1__GetModelRequest get = JUNCTION__V1__GET_MODEL_REQUEST__INIT;
    get.name = (char *)model;
    if (version)
        get.version = (char *)version;
    ProtobufCMessage *msg;
    jn_cli_rpc_status st;
    if (jn_cli_rpc_unary(r, "/junction.v1.Broker/GetModel", &get.base, &junction__v1__model_info__descriptor, &msg,
                         &st)) {
        jn_cli_print_status("eval", r, &st);
        return JN_CLI_EXIT_FAIL;
    }
    const Junction__V1__ModelInfo *info = (const Junction__V1__ModelInfo *)msg;
    jn_err err;
    jn_err_clear(&err);
    int rc = info->signature ? jn_signature_from_pb(sig, info->signature, &err) : 0;
    protobuf_c_message_free_unpacked(msg, NULL);
    return rc ? jn__eval_fail("model '%s': unusable signature: %s", model, err.msg) : 0;
}

/* Command ------------------------------------------------------------------------------------------------------ */

static void eval_usage(FILE *to)
{
    fprintf(to,
            "usage: junction eval --model NAME --data FILE [--compare NAME] [options]\n"
            "\n"
            "Runs a labelled test set through a model or pipeline and reports accuracy, per-class precision,\n"
            "recall and F1, macro / micro / weighted averages, the confusion matrix, latency p50/p99 and\n"
            "throughput. The prediction is the top-1 label of the model's CLASSIFICATION output, or the text of\n"
            "its TEXT output (elements joined by spaces). With --compare B, model B runs on the same data and the\n"
            "two are printed side by side with the difference (B - A): accuracy, macro F1, latency p50/p99 per\n"
            "example, throughput and size on disk (B / A).\n"
            "\n"
            "data FILE forms:\n"
            "  JSONL  one object per line: {\"text\": \"...\", \"label\": \"...\"},\n"
            "         {\"image\": \"x.png\", \"label\": ...} (paths relative to the file), or\n"
            "         {\"<input name>\": value, \"label\": ...}; a numeric label is an index into the output's labels\n"
            "  IDX    Fashion-MNIST's images file (plain or .gz); labels from --labels or the matching\n"
            "         *labels-idx1* file; class names from the model's CLASSIFICATION labels\n"
            "\n"
            "options:\n"
            "  --model NAME        the model or pipeline (required); or a file: FILE.onnx (an ONNX model, e.g.\n"
            "                      `junction export` / `junction quantize` output; class names from the other\n"
            "                      model with --compare, else 0..K-1) or CKPT.safetensors (a fashion-cnn\n"
            "                      checkpoint of `junction train` / `junction prune`)\n"
            "  --compare NAME      a second model or file, evaluated on the same data, reported side by side\n"
            "  --version V         its version (default: current)\n"
            "  --data FILE         the test set (required)\n"
            "  --labels FILE       IDX labels file\n"
            "  --limit N           evaluate the first N examples only\n"
            "  --json              print one JSON object (accuracy, macro, micro, weighted, labels, per_class,\n"
            "                      confusion, latency_ms {p50, p99, mean, max}, throughput, examples, failed)\n"
            "  --heatmap OUT.png   write the confusion matrix as a heat map (row-normalized, %d px per cell;\n"
            "                      not with --compare)\n"
            "  --server HOST:PORT  evaluate on a running broker (junction.v1.Broker/Evaluate), e.g. %s\n"
            "  --batch N           examples per Evaluate call with --server (default %d)\n"
            "  --timeout-ms N      deadline for the whole command with --server (default %d)\n"
            "  --pipelines DIR     in process: load DIR/*.json as `serve --pipelines DIR` does\n"
            "  -h, --help          this text\n"
            "\n"
            "Failed examples are counted (\"failed\") and left out of the metrics; exit status 1 when every\n"
            "example failed.\n",
            HEATMAP_CELL_PX, JN_CLI_DEFAULT_SERVER, DEFAULT_BATCH, DEFAULT_TIMEOUT_MS);
}

#define usage_error(...) jn_cli_usage_error("junction eval", eval_usage, __VA_ARGS__)

static int parse_count(const char *flag, const char *v, long max, long *out)
{
    char *end;
    errno = 0;
    long n = strtol(v, &end, 10);
    if (errno || end == v || *end || n <= 0 || n > max)
        return usage_error("%s: '%s' is not a number in 1..%ld", flag, v, max);
    *out = n;
    return 0;
}

static int parse_opts(int argc, char **argv, eval_opts *o)
{
    enum { O_MODEL = 1000, O_VERSION, O_DATA, O_LABELS, O_LIMIT, O_JSON, O_HEATMAP, O_SERVER, O_BATCH, O_TIMEOUT,
           O_PIPELINES, O_COMPARE };
    static const struct option options[] = {
        {"model", required_argument, NULL, O_MODEL},     {"version", required_argument, NULL, O_VERSION},
        {"data", required_argument, NULL, O_DATA},       {"labels", required_argument, NULL, O_LABELS},
        {"limit", required_argument, NULL, O_LIMIT},     {"json", no_argument, NULL, O_JSON},
        {"heatmap", required_argument, NULL, O_HEATMAP}, {"server", required_argument, NULL, O_SERVER},
        {"batch", required_argument, NULL, O_BATCH},     {"timeout-ms", required_argument, NULL, O_TIMEOUT},
        {"pipelines", required_argument, NULL, O_PIPELINES}, {"compare", required_argument, NULL, O_COMPARE},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    optind = 1;
    opterr = 0;
    int c;
    long t = 0;
    while ((c = getopt_long(argc, argv, ":h", options, NULL)) != -1) {
        switch (c) {
        case 'h':
            eval_usage(stdout);
            return JN_CLI_EXIT_OK;
        case O_MODEL:
            o->model = optarg;
            break;
        case O_VERSION:
            o->version = optarg;
            break;
        case O_DATA:
            o->data = optarg;
            break;
        case O_LABELS:
            o->labels_file = optarg;
            break;
        case O_LIMIT:
            if (parse_count("--limit", optarg, LONG_MAX, &o->limit))
                return JN_CLI_EXIT_USAGE;
            break;
        case O_JSON:
            o->json = true;
            break;
        case O_HEATMAP:
            o->heatmap = optarg;
            break;
        case O_SERVER:
            if (!*optarg)
                return usage_error("--server needs HOST:PORT");
            o->server = optarg;
            break;
        case O_BATCH:
            if (parse_count("--batch", optarg, 65536, &o->batch))
                return JN_CLI_EXIT_USAGE;
            break;
        case O_TIMEOUT:
            if (parse_count("--timeout-ms", optarg, 24L * 3600 * 1000, &t))
                return JN_CLI_EXIT_USAGE;
            o->timeout_ms = (int)t;
            break;
        case O_PIPELINES:
            o->pipelines = optarg;
            break;
        case O_COMPARE:
            if (!*optarg)
                return usage_error("--compare needs a model name or file");
            o->compare = optarg;
            break;
        case ':':
            return usage_error("%s needs a value", argv[optind - 1]);
        default:
            return usage_error("unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind < argc)
        return usage_error("unexpected argument '%s'", argv[optind]);
    if (!o->model || !*o->model)
        return usage_error("--model is required");
    if (!o->data || !*o->data)
        return usage_error("--data is required");
    if (o->server && o->pipelines)
        return usage_error("--pipelines is for in-process evaluation; the server has its own");
    if (o->compare && o->heatmap)
        return usage_error("--heatmap draws one model's confusion matrix: not with --compare");
    if (o->server && (jn__eval_is_file(o->model) || (o->compare && jn__eval_is_file(o->compare))))
        return usage_error("--%s: a model file is evaluated in process, not with --server (load it there first)",
                           jn__eval_is_file(o->model) ? "model" : "compare");
    return -1;
}

static int report(const eval_opts *o, const jn_eval *ev, const char *first_error)
{
    jn_err err;
    jn_eval_report rep;
    if (jn_eval_compute(ev, &rep, &err))
        return jn__eval_fail("%s", err.msg);
    int rc = JN_CLI_EXIT_OK;
    if (ev->n_failed)
        fprintf(stderr, "junction eval: %zu of %zu examples failed; the first: %s\n", ev->n_failed,
                ev->n_failed + ev->n, first_error);
    if (o->json) {
        json_t *j = jn_eval_report_json(&rep);
        if (!j || json_dumpf(j, stdout, JSON_INDENT(1) | JSON_REAL_PRECISION(17)) != 0)
            rc = jn__eval_fail("cannot print the report");
        json_decref(j);
        fputc('\n', stdout);
    } else {
        char *table = jn_eval_report_table(&rep);
        if (!table)
            rc = jn__eval_fail("out of memory");
        else
            fputs(table, stdout);
        free(table);
    }
    if (!rc && o->heatmap) {
        int w, h;
        uint8_t *px = jn_eval_heatmap_rgb(&rep, HEATMAP_CELL_PX, &w, &h);
        if (!px)
            rc = jn__eval_fail("no heat map: no classes");
        else {
            jn_err perr;
            if (jn_png_write_file(o->heatmap, w, h, 3, px, &perr))
                rc = jn__eval_fail("%s: cannot write the heat map: %s", o->heatmap, perr.msg);
        }
        free(px);
    }
    if (!rc && ev->n == 0)
        rc = JN_CLI_EXIT_FAIL;
    if (fflush(stdout) != 0 || ferror(stdout))
        rc = jn__eval_fail("cannot write the report: %s", strerror(errno));
    jn_eval_report_free(&rep);
    return rc;
}

/* Evaluates `model` (version: NULL = current) in process (reg) or on the server (r) into *ev (initialised on
 * success: the caller frees it). */
static int evaluate_model(jn_registry *reg, jn_cli_rpc *r, const eval_opts *o, const char *model, const char *version,
                          jn_eval *ev, char *first_error, size_t n_first)
{
    jn_err err;
    jn_err_clear(&err);
    jn_engine *engine = NULL;
    jn_signature remote_sig;
    jn_signature_init(&remote_sig);
    const jn_signature *sig = NULL;
    dataset d = {0};
    bool ev_ready = false;
    int rc = 0;
    if (o->server) {
        if ((rc = remote_signature(r, model, version, &remote_sig)))
            goto out;
        sig = &remote_sig;
    } else {
        if (!(engine = jn_registry_get(reg, model, version, &err))) {
            rc = jn__eval_fail("%s", err.msg);
            goto out;
        }
        sig = &engine->sig;
    }
    const jn_port *target = jn_eval_target_port(sig);
    if (!target) {
        rc = jn__eval_fail("model '%s' has no CLASSIFICATION output with labels and no TEXT output: nothing to "
                           "evaluate", model);
        goto out;
    }
    if ((rc = jn__eval_dataset_load(o->data, o->labels_file, o->limit, sig, target, &d)))
        goto out;
    if (jn_eval_init(ev, (const char *const *)target->labels, target->n_labels)) {
        rc = jn__eval_fail("out of memory");
        goto out;
    }
    ev_ready = true;
    if (o->compare && !o->server) { /* side by side: both timed warm (caches, packed weights, lazy plans) */
        dataset warm = {.ex = d.ex, .n = d.n < 20 ? d.n : 20, .cap = 0};
        jn_eval scratch;
        char ignored[64];
        if (jn_eval_init(&scratch, (const char *const *)target->labels, target->n_labels) == 0) {
            (void)run_local(reg, model, version, &warm, &scratch, ignored, sizeof ignored);
            jn_eval_free(&scratch);
        }
    }
    rc = o->server ? run_remote(r, o, model, version, &d, ev, first_error, n_first)
                   : run_local(reg, model, version, &d, ev, first_error, n_first);
out:
    if (rc && ev_ready)
        jn_eval_free(ev);
    jn__eval_dataset_free(&d);
    jn_signature_free(&remote_sig);
    if (engine)
        jn_engine_unref(engine);
    return rc;
}

/* The target port of a registered model (for an ONNX file's labels), or NULL. The engine reference is dropped: the
 * registry keeps the engine (and so the port) alive. */
static const jn_port *registered_target(jn_registry *reg, const char *model)
{
    jn_err err;
    jn_err_clear(&err);
    jn_engine *e = jn_registry_get(reg, model, NULL, &err);
    if (!e)
        return NULL;
    const jn_port *p = jn_eval_target_port(&e->sig);
    jn_engine_unref(e);
    return p;
}

/* --model A --compare B: both evaluated, printed side by side. */
static int compare(jn_registry *reg, jn_cli_rpc *r, const eval_opts *o)
{
    jn_eval ev[2];
    jn_eval_report rep[2];
    const char *models[2] = {o->model, o->compare}, *versions[2] = {o->version, NULL};
    int n_ev = 0, n_rep = 0, rc = 0;
    char first_error[2][2300] = {"", ""};
    for (int i = 0; i < 2 && !rc; i++) {
        if ((rc = evaluate_model(reg, r, o, models[i], versions[i], &ev[i], first_error[i], sizeof first_error[i])))
            break;
        n_ev++;
        jn_err err;
        if (jn_eval_compute(&ev[i], &rep[i], &err)) {
            rc = jn__eval_fail("%s", err.msg);
            break;
        }
        n_rep++;
        if (ev[i].n_failed)
            fprintf(stderr, "junction eval: %s: %zu of %zu examples failed; the first: %s\n", models[i],
                    ev[i].n_failed, ev[i].n_failed + ev[i].n, first_error[i]);
        if (ev[i].n == 0)
            rc = jn__eval_fail("%s: every example failed", models[i]);
    }
    if (!rc)
        rc = jn__eval_compare_print(o->model, o->compare, &rep[0], &rep[1], jn__eval_size_on_disk(o->model),
                                    jn__eval_size_on_disk(o->compare), o->json);
    for (int i = 0; i < n_rep; i++)
        jn_eval_report_free(&rep[i]);
    for (int i = 0; i < n_ev; i++)
        jn_eval_free(&ev[i]);
    return rc;
}

int jn_cmd_eval(int argc, char **argv)
{
    eval_opts o = {.batch = DEFAULT_BATCH, .timeout_ms = DEFAULT_TIMEOUT_MS};
    int rc = parse_opts(argc, argv, &o);
    if (rc >= 0)
        return rc;
    rc = JN_CLI_EXIT_OK;

    jn_err err;
    jn_err_clear(&err);
    jn_registry *reg = NULL;
    jn_cli_rpc r;
    char first_error[2300] = "";

    if (o.server) {
        jn_cli_rpc_open(&r, o.server, o.timeout_ms);
    } else {
        jn_builtin_options engines = {.burn_default_ms = 10.0};
        if (!(reg = jn_registry_create())) {
            rc = jn__eval_fail("out of memory");
            goto out;
        }
        if (jn_builtin_register_all(reg, &engines, &err) || jn_builtin_register_pipelines(reg, &err) ||
            (o.pipelines && jn_pipelines_load_dir(o.pipelines, reg, &err))) {
            rc = jn__eval_fail("%s", err.msg);
            goto out;
        }
        /* Model files (once each): checkpoints first, then ONNX files, which take the other model's class names. */
        const char *args[2] = {o.model, o.compare};
        for (int pass = 0; pass < 2 && !rc; pass++)
            for (int i = 0; i < 2 && !rc; i++) {
                const char *a = args[i], *other = args[1 - i];
                if (!a || !jn__eval_is_file(a) || (i == 1 && strcmp(a, args[0]) == 0))
                    continue;
                size_t n = strlen(a);
                if ((pass == 1) != (n > 5 && strcmp(a + n - 5, ".onnx") == 0))
                    continue;
                rc = jn__eval_register_file(reg, a, other && strcmp(other, a) ? registered_target(reg, other) : NULL);
            }
        if (rc)
            goto out;
    }
    if (o.compare) {
        rc = compare(reg, o.server ? &r : NULL, &o);
        goto out;
    }
    jn_eval ev;
    if (!(rc = evaluate_model(reg, o.server ? &r : NULL, &o, o.model, o.version, &ev, first_error,
                              sizeof first_error))) {
        rc = report(&o, &ev, first_error);
        jn_eval_free(&ev);
    }
out:
    if (o.server)
        jn_cli_rpc_close(&r);
    if (reg)
        jn_registry_destroy(reg);
    return rc;
}
