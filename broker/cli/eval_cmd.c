/* eval_cmd.c — `junction eval`: runs a labelled test set through a model or pipeline and reports classification
 * metrics (broker/core/evaluate.h), in process or against a running broker (junction.v1.Broker/Evaluate).
 *
 * Data sets: JSONL (one {"<input>": value, ..., "label": ...} per line; "text" and "image" name the model's single
 * TEXT / IMAGE input when no input has that name; image paths are relative to the JSONL file) or IDX
 * (Fashion-MNIST's images file, plain or gzipped; the labels file is --labels or found by the usual name). See
 * DECISIONS.md "Evaluation".
 *
 * Ownership: examples and their payloads are malloc'd here and freed before returning; engines and registries are
 * refcounted as their headers say; responses are freed with protobuf_c_message_free_unpacked.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include <jansson.h>

#include "../../engines/builtin.h"
#include "cli.h"
#include "rpc_client.h"
#include "codec.h"
#include "evaluate.h"
#include "junction/v1/broker.pb-c.h"
#include "pipeline.h"
#include "registry.h"
#include "signature_pb.h"

#define DEFAULT_TIMEOUT_MS (10 * 60 * 1000)
#define DEFAULT_BATCH 256
#define HEATMAP_CELL_PX 24
#define MAX_FILE_BYTES ((size_t)256 << 20)

typedef struct eval_opts {
    const char *model, *version, *data, *labels_file, *heatmap, *server, *pipelines;
    bool json;
    long limit; /* 0 = all */
    long batch;
    int timeout_ms;
} eval_opts;

/* One input of one example: TEXT and IMAGE carry bytes, TENSOR FP32 values. */
typedef struct ex_input {
    const char *port; /* borrowed from the signature */
    jn_kind form;     /* JN_KIND_TEXT, JN_KIND_IMAGE or JN_KIND_TENSOR */
    uint8_t *bytes;   /* NUL-terminated for TEXT */
    size_t len;
    float *vals;
    int ndim;
    int64_t shape[JN_MAX_DIMS];
} ex_input;

typedef struct example {
    ex_input in[8];
    size_t n_in;
    char *label;
} example;

typedef struct dataset {
    example *ex;
    size_t n, cap;
} dataset;

static void dataset_free(dataset *d)
{
    for (size_t i = 0; i < d->n; i++) {
        for (size_t k = 0; k < d->ex[i].n_in; k++) {
            free(d->ex[i].in[k].bytes);
            free(d->ex[i].in[k].vals);
        }
        free(d->ex[i].label);
    }
    free(d->ex);
}

static example *dataset_push(dataset *d)
{
    if (d->n == d->cap) {
        size_t cap = d->cap ? d->cap * 2 : 1024;
        example *grown = realloc(d->ex, cap * sizeof *grown);
        if (!grown)
            return NULL;
        d->ex = grown;
        d->cap = cap;
    }
    example *e = &d->ex[d->n++];
    memset(e, 0, sizeof *e);
    return e;
}

__attribute__((format(printf, 1, 2))) static int fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("junction eval: ", stderr);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return JN_CLI_EXIT_FAIL;
}

/* Files -------------------------------------------------------------------------------------------------------- */

/* The whole file (gunzipped when it is gzip; zlib reads plain files as they are). *out malloc'd. */
static int read_file(const char *path, uint8_t **out, size_t *len)
{
    *out = NULL;
    *len = 0;
    gzFile f = gzopen(path, "rb");
    if (!f)
        return fail("%s: cannot open: %s", path, strerror(errno ? errno : ENOENT));
    size_t cap = 1 << 16, n = 0;
    uint8_t *buf = malloc(cap);
    int rc = buf ? 0 : fail("out of memory");
    while (!rc) {
        if (n == cap) {
            uint8_t *grown = cap >= MAX_FILE_BYTES ? NULL : realloc(buf, cap * 2);
            if (!grown) {
                rc = fail("%s: larger than %zu MiB or out of memory", path, MAX_FILE_BYTES >> 20);
                break;
            }
            buf = grown;
            cap *= 2;
        }
        int got = gzread(f, buf + n, (unsigned)(cap - n > INT_MAX ? INT_MAX : cap - n));
        if (got < 0) {
            int zerr;
            rc = fail("%s: cannot read: %s", path, gzerror(f, &zerr));
        } else if (got == 0) {
            break;
        }
        n += got > 0 ? (size_t)got : 0;
    }
    gzclose(f);
    if (rc) {
        free(buf);
        return rc;
    }
    *out = buf;
    *len = n;
    return 0;
}


/* Signature-driven inputs ------------------------------------------------------------------------------------ */

/* The only input of `kind`, or NULL (none, or several). */
static const jn_port *single_input(const jn_signature *sig, jn_kind kind)
{
    const jn_port *found = NULL;
    for (size_t i = 0; i < sig->n_inputs; i++)
        if (sig->inputs[i].kind == kind) {
            if (found)
                return NULL;
            found = &sig->inputs[i];
        }
    return found;
}

/* Shape for n FP32 values on port: fixed dims as they are, -1 dims 1 except the last -1, which takes the rest (as
 * `junction infer` does). -1 when the values do not fit. */
static int tensor_shape(const jn_port *port, size_t n, int *ndim, int64_t *shape)
{
    int64_t fixed = 1;
    int last_free = -1;
    for (int d = 0; d < port->ndim; d++) {
        if (port->shape[d] < 0)
            last_free = d;
        else
            fixed *= port->shape[d];
    }
    *ndim = port->ndim;
    for (int d = 0; d < port->ndim; d++)
        shape[d] = port->shape[d] < 0 ? 1 : port->shape[d];
    if (last_free >= 0) {
        if (fixed == 0 || (int64_t)n % fixed)
            return -1;
        shape[last_free] = (int64_t)n / fixed;
        return 0;
    }
    return (int64_t)n == fixed ? 0 : -1;
}

static int flatten_numbers(json_t *v, float **vals, size_t *n, size_t *cap)
{
    if (json_is_number(v)) {
        if (*n == *cap) {
            size_t c = *cap ? *cap * 2 : 64;
            float *grown = realloc(*vals, c * sizeof *grown);
            if (!grown)
                return -1;
            *vals = grown;
            *cap = c;
        }
        (*vals)[(*n)++] = (float)json_number_value(v);
        return 0;
    }
    if (!json_is_array(v))
        return -1;
    size_t i;
    json_t *x;
    json_array_foreach(v, i, x) if (flatten_numbers(x, vals, n, cap)) return -1;
    return 0;
}

/* Dirname of path with a trailing '/', or "" (malloc'd). */
static char *dir_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    size_t n = slash ? (size_t)(slash - path + 1) : 0;
    char *d = malloc(n + 1);
    if (d) {
        memcpy(d, path, n);
        d[n] = '\0';
    }
    return d;
}

static int set_input(ex_input *in, const jn_port *port, json_t *v, const char *dir, const char *where)
{
    in->port = port->name;
    if (port->kind == JN_KIND_TEXT || (port->kind == JN_KIND_TENSOR && port->dtype == JN_DTYPE_BYTES)) {
        if (!json_is_string(v))
            return fail("%s: input '%s' wants a string", where, port->name);
        in->form = JN_KIND_TEXT;
        in->len = json_string_length(v);
        if (!(in->bytes = malloc(in->len + 1)))
            return fail("out of memory");
        memcpy(in->bytes, json_string_value(v), in->len + 1);
        return 0;
    }
    if (port->kind == JN_KIND_IMAGE) {
        if (!json_is_string(v))
            return fail("%s: input '%s' wants an image path", where, port->name);
        const char *p = json_string_value(v);
        char *full = malloc(strlen(dir) + strlen(p) + 1);
        if (!full)
            return fail("out of memory");
        if (p[0] == '/')
            strcpy(full, p);
        else
            sprintf(full, "%s%s", dir, p);
        in->form = JN_KIND_IMAGE;
        int rc = read_file(full, &in->bytes, &in->len);
        free(full);
        return rc;
    }
    if (port->dtype != JN_DTYPE_FP32)
        return fail("%s: input '%s' is %s: only TEXT, IMAGE and FP32 inputs can be fed from JSONL", where,
                    port->name, jn_dtype_name(port->dtype));
    size_t n = 0, cap = 0;
    if (flatten_numbers(v, &in->vals, &n, &cap))
        return fail("%s: input '%s' wants numbers (nested arrays)", where, port->name);
    in->form = JN_KIND_TENSOR;
    if (tensor_shape(port, n, &in->ndim, in->shape)) {
        char t[128];
        return fail("%s: input '%s': %zu values do not fit %s", where, port->name, n,
                    jn_format_type(t, sizeof t, port->dtype, port->ndim, port->shape));
    }
    return 0;
}

static int label_from_json(json_t *v, const jn_port *target, char **out, const char *where)
{
    char buf[32];
    const char *s;
    if (json_is_string(v)) {
        s = json_string_value(v);
    } else if (json_is_integer(v)) {
        json_int_t k = json_integer_value(v);
        if (target->kind == JN_KIND_CLASSIFICATION && k >= 0 && (size_t)k < target->n_labels) {
            s = target->labels[k];
        } else {
            snprintf(buf, sizeof buf, "%lld", (long long)k);
            s = buf;
        }
    } else {
        return fail("%s: \"label\" must be a string or a class index", where);
    }
    return (*out = strdup(s)) ? 0 : fail("out of memory");
}

static int load_jsonl(const char *path, const jn_signature *sig, const jn_port *target, long limit, dataset *d)
{
    uint8_t *text;
    size_t len;
    int rc = read_file(path, &text, &len);
    if (rc)
        return rc;
    char *dir = dir_of(path);
    char where[512];
    size_t line_no = 0;
    for (size_t pos = 0; !rc && pos < len && (limit <= 0 || (long)d->n < limit);) {
        size_t end = pos;
        while (end < len && text[end] != '\n')
            end++;
        line_no++;
        size_t s = pos;
        pos = end + 1;
        while (s < end && (text[s] == ' ' || text[s] == '\t' || text[s] == '\r'))
            s++;
        if (s == end)
            continue;
        snprintf(where, sizeof where, "%s:%zu", path, line_no);
        json_error_t jerr;
        json_t *obj = json_loadb((const char *)text + s, end - s, 0, &jerr);
        if (!obj || !json_is_object(obj)) {
            rc = fail("%s: not a JSON object%s%s", where, obj ? "" : ": ", obj ? "" : jerr.text);
            json_decref(obj);
            break;
        }
        example *e = dataset_push(d);
        if (!e) {
            json_decref(obj);
            rc = fail("out of memory");
            break;
        }
        json_t *label = json_object_get(obj, "label");
        rc = label ? label_from_json(label, target, &e->label, where) : fail("%s: no \"label\"", where);
        const char *key;
        json_t *v;
        json_object_foreach(obj, key, v)
        {
            if (rc || strcmp(key, "label") == 0)
                continue;
            const jn_port *port = jn_signature_find_input(sig, key);
            if (!port && strcmp(key, "text") == 0)
                port = single_input(sig, JN_KIND_TEXT);
            if (!port && strcmp(key, "image") == 0)
                port = single_input(sig, JN_KIND_IMAGE);
            if (!port) {
                rc = fail("%s: the model has no input '%s'", where, key);
            } else if (e->n_in == sizeof e->in / sizeof e->in[0]) {
                rc = fail("%s: too many inputs", where);
            } else {
                rc = set_input(&e->in[e->n_in], port, v, dir ? dir : "", where);
                e->n_in++;
            }
        }
        json_decref(obj);
    }
    free(dir);
    free(text);
    return rc;
}

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* "t10k-images-idx3-ubyte[.gz]" -> "t10k-labels-idx1-ubyte[.gz]". NULL when the name does not follow it. */
static char *labels_name(const char *images)
{
    const char *base = strrchr(images, '/');
    base = base ? base + 1 : images;
    const char *at = strstr(base, "images-idx3");
    if (!at)
        return NULL;
    char *out = malloc(strlen(images) + 1);
    if (!out)
        return NULL;
    size_t pre = (size_t)(at - images);
    memcpy(out, images, pre);
    strcpy(out + pre, "labels-idx1");
    strcat(out, at + strlen("images-idx3"));
    return out;
}

static int load_idx(const char *path, const char *labels_path, const uint8_t *img, size_t img_len,
                    const jn_signature *sig, const jn_port *target, long limit, dataset *d)
{
    if (img_len < 16 || be32(img) != 0x00000803)
        return fail("%s: not an IDX images file (magic 0x00000803)", path);
    uint32_t n = be32(img + 4), rows = be32(img + 8), cols = be32(img + 12);
    if (rows == 0 || cols == 0 || rows > 4096 || cols > 4096 || (img_len - 16) / ((size_t)rows * cols) < n)
        return fail("%s: %u images of %ux%u do not fit the file", path, n, rows, cols);
    char *guessed = labels_path ? NULL : labels_name(path);
    const char *lp = labels_path ? labels_path : guessed;
    if (!lp)
        return fail("%s: cannot tell the labels file from the name: give --labels FILE", path);
    uint8_t *lab;
    size_t lab_len;
    int rc = read_file(lp, &lab, &lab_len);
    if (!rc && (lab_len < 8 || be32(lab) != 0x00000801 || be32(lab + 4) != n || lab_len - 8 < n))
        rc = fail("%s: not the IDX labels file of %u images (magic 0x00000801)", lp, n);
    const jn_port *image = single_input(sig, JN_KIND_IMAGE);
    const jn_port *tensor = NULL;
    if (!rc && !image && sig->n_inputs == 1 && sig->inputs[0].dtype == JN_DTYPE_FP32)
        tensor = &sig->inputs[0];
    if (!rc && !image && !tensor)
        rc = fail("IDX images need a model with one IMAGE input or one FP32 input");
    size_t px = (size_t)rows * cols;
    for (uint32_t i = 0; !rc && i < n && (limit <= 0 || (long)d->n < limit); i++) {
        example *e = dataset_push(d);
        if (!e) {
            rc = fail("out of memory");
            break;
        }
        unsigned k = lab[8 + i];
        char num[16];
        snprintf(num, sizeof num, "%u", k);
        e->label = strdup(target->kind == JN_KIND_CLASSIFICATION && k < target->n_labels ? target->labels[k] : num);
        ex_input *in = &e->in[0];
        e->n_in = 1;
        const uint8_t *p = img + 16 + (size_t)i * px;
        if (image) {
            in->port = image->name;
            in->form = JN_KIND_IMAGE;
            jn_err perr;
            if (jn_png_encode((int)cols, (int)rows, 1, p, &in->bytes, &in->len, &perr))
                rc = fail("cannot encode image %u as PNG: %s", i, perr.msg);
        } else {
            in->port = tensor->name;
            in->form = JN_KIND_TENSOR;
            if (!(in->vals = malloc(px * sizeof *in->vals))) {
                rc = fail("out of memory");
                break;
            }
            for (size_t q = 0; q < px; q++)
                in->vals[q] = (float)p[q] / 255.0f;
            if (tensor_shape(tensor, px, &in->ndim, in->shape)) {
                char t[128];
                rc = fail("input '%s' is %s: %ux%u pixels do not fit", tensor->name,
                          jn_format_type(t, sizeof t, tensor->dtype, tensor->ndim, tensor->shape), rows, cols);
            }
        }
        if (!rc && !e->label)
            rc = fail("out of memory");
    }
    if (lab)
        free(lab);
    free(guessed);
    return rc;
}

static int load_dataset(const eval_opts *o, const jn_signature *sig, const jn_port *target, dataset *d)
{
    uint8_t *head;
    size_t len;
    int rc = read_file(o->data, &head, &len);
    if (rc)
        return rc;
    if (len >= 4 && be32(head) == 0x00000803)
        rc = load_idx(o->data, o->labels_file, head, len, sig, target, o->limit, d);
    else
        rc = load_jsonl(o->data, sig, target, o->limit, d);
    free(head);
    if (!rc && d->n == 0)
        rc = fail("%s: no examples", o->data);
    return rc;
}

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
    return jn_eval_add(ev, label, pred, ms) ? fail("out of memory") : 0;
}

static int run_local(jn_registry *reg, const eval_opts *o, const dataset *d, jn_eval *ev, char *first_error,
                     size_t n_first)
{
    int64_t t0 = jn_now_ns();
    for (size_t i = 0; i < d->n; i++) {
        const example *e = &d->ex[i];
        jn_request r;
        jn_request_init(&r);
        jn_err err;
        jn_err_clear(&err);
        int rc = jn_request_set_target(&r, o->model, o->version, "") ? jn_err_set(&err, JN_ENOMEM, "out of memory")
                                                                       : 0;
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
            return fail("%s", err.msg);
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

static int run_remote(jn_cli_rpc *r, const eval_opts *o, const dataset *d, jn_eval *ev, char *first_error,
                      size_t n_first)
{
    size_t batch = (size_t)o->batch;
    Junction__V1__Example *exs = calloc(batch, sizeof *exs);
    Junction__V1__Example **exp = calloc(batch, sizeof *exp);
    value_scratch *vs = calloc(batch * 8, sizeof *vs);
    Junction__V1__Value **vp = calloc(batch * 8, sizeof *vp);
    int rc = exs && exp && vs && vp ? 0 : fail("out of memory");
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
        req.model = (char *)o->model;
        if (o->version)
            req.version = (char *)o->version;
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
            rc = fail("malformed Evaluate response: %zu predictions for %zu examples", resp->n_predictions, m);
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
static int remote_signature(jn_cli_rpc *r, const eval_opts *o, jn_signature *sig)
{
    Junction__V1__GetModelRequest get = JUNCTION__V1__GET_MODEL_REQUEST__INIT;
    get.name = (char *)o->model;
    if (o->version)
        get.version = (char *)o->version;
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
    return rc ? fail("model '%s': unusable signature: %s", o->model, err.msg) : 0;
}

/* Command ------------------------------------------------------------------------------------------------------ */

static void eval_usage(FILE *to)
{
    fprintf(to,
            "usage: junction eval --model NAME --data FILE [options]\n"
            "\n"
            "Runs a labelled test set through a model or pipeline and reports accuracy, per-class precision,\n"
            "recall and F1, macro / micro / weighted averages, the confusion matrix, latency p50/p99 and\n"
            "throughput. The prediction is the top-1 label of the model's CLASSIFICATION output, or the text of\n"
            "its TEXT output (elements joined by spaces).\n"
            "\n"
            "data FILE forms:\n"
            "  JSONL  one object per line: {\"text\": \"...\", \"label\": \"...\"},\n"
            "         {\"image\": \"x.png\", \"label\": ...} (paths relative to the file), or\n"
            "         {\"<input name>\": value, \"label\": ...}; a numeric label is an index into the output's labels\n"
            "  IDX    Fashion-MNIST's images file (plain or .gz); labels from --labels or the matching\n"
            "         *labels-idx1* file; class names from the model's CLASSIFICATION labels\n"
            "\n"
            "options:\n"
            "  --model NAME        the model or pipeline (required)\n"
            "  --version V         its version (default: current)\n"
            "  --data FILE         the test set (required)\n"
            "  --labels FILE       IDX labels file\n"
            "  --limit N           evaluate the first N examples only\n"
            "  --json              print one JSON object (accuracy, macro, micro, weighted, labels, per_class,\n"
            "                      confusion, latency_ms {p50, p99, mean, max}, throughput, examples, failed)\n"
            "  --heatmap OUT.png   write the confusion matrix as a heat map (row-normalized, %d px per cell)\n"
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
           O_PIPELINES };
    static const struct option options[] = {
        {"model", required_argument, NULL, O_MODEL},     {"version", required_argument, NULL, O_VERSION},
        {"data", required_argument, NULL, O_DATA},       {"labels", required_argument, NULL, O_LABELS},
        {"limit", required_argument, NULL, O_LIMIT},     {"json", no_argument, NULL, O_JSON},
        {"heatmap", required_argument, NULL, O_HEATMAP}, {"server", required_argument, NULL, O_SERVER},
        {"batch", required_argument, NULL, O_BATCH},     {"timeout-ms", required_argument, NULL, O_TIMEOUT},
        {"pipelines", required_argument, NULL, O_PIPELINES}, {"help", no_argument, NULL, 'h'},
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
    return -1;
}

static int report(const eval_opts *o, const jn_eval *ev, const char *first_error)
{
    jn_err err;
    jn_eval_report rep;
    if (jn_eval_compute(ev, &rep, &err))
        return fail("%s", err.msg);
    int rc = JN_CLI_EXIT_OK;
    if (ev->n_failed)
        fprintf(stderr, "junction eval: %zu of %zu examples failed; the first: %s\n", ev->n_failed,
                ev->n_failed + ev->n, first_error);
    if (o->json) {
        json_t *j = jn_eval_report_json(&rep);
        if (!j || json_dumpf(j, stdout, JSON_INDENT(1) | JSON_REAL_PRECISION(17)) != 0)
            rc = fail("cannot print the report");
        json_decref(j);
        fputc('\n', stdout);
    } else {
        char *table = jn_eval_report_table(&rep);
        if (!table)
            rc = fail("out of memory");
        else
            fputs(table, stdout);
        free(table);
    }
    if (!rc && o->heatmap) {
        int w, h;
        uint8_t *px = jn_eval_heatmap_rgb(&rep, HEATMAP_CELL_PX, &w, &h);
        if (!px)
            rc = fail("no heat map: no classes");
        else {
            jn_err perr;
            if (jn_png_write_file(o->heatmap, w, h, 3, px, &perr))
                rc = fail("%s: cannot write the heat map: %s", o->heatmap, perr.msg);
        }
        free(px);
    }
    if (!rc && ev->n == 0)
        rc = JN_CLI_EXIT_FAIL;
    if (fflush(stdout) != 0 || ferror(stdout))
        rc = fail("cannot write the report: %s", strerror(errno));
    jn_eval_report_free(&rep);
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
    jn_engine *engine = NULL;
    jn_signature remote_sig;
    jn_signature_init(&remote_sig);
    const jn_signature *sig = NULL;
    jn_cli_rpc r;
    dataset d = {0};
    jn_eval ev;
    bool ev_ready = false;
    char first_error[2300] = "";

    if (o.server) {
        jn_cli_rpc_open(&r, o.server, o.timeout_ms);
        if ((rc = remote_signature(&r, &o, &remote_sig)))
            goto out;
        sig = &remote_sig;
    } else {
        jn_builtin_options engines = {.burn_default_ms = 10.0};
        if (!(reg = jn_registry_create())) {
            rc = fail("out of memory");
            goto out;
        }
        if (jn_builtin_register_all(reg, &engines, &err) || jn_builtin_register_pipelines(reg, &err) ||
            (o.pipelines && jn_pipelines_load_dir(o.pipelines, reg, &err))) {
            rc = fail("%s", err.msg);
            goto out;
        }
        if (!(engine = jn_registry_get(reg, o.model, o.version, &err))) {
            rc = fail("%s", err.msg);
            goto out;
        }
        sig = &engine->sig;
    }
    const jn_port *target = jn_eval_target_port(sig);
    if (!target) {
        rc = fail("model '%s' has no CLASSIFICATION output with labels and no TEXT output: nothing to evaluate",
                  o.model);
        goto out;
    }
    if ((rc = load_dataset(&o, sig, target, &d)))
        goto out;
    if (jn_eval_init(&ev, (const char *const *)target->labels, target->n_labels)) {
        rc = fail("out of memory");
        goto out;
    }
    ev_ready = true;
    rc = o.server ? run_remote(&r, &o, &d, &ev, first_error, sizeof first_error)
                  : run_local(reg, &o, &d, &ev, first_error, sizeof first_error);
    if (!rc)
        rc = report(&o, &ev, first_error);
out:
    if (ev_ready)
        jn_eval_free(&ev);
    dataset_free(&d);
    if (o.server)
        jn_cli_rpc_close(&r);
    jn_signature_free(&remote_sig);
    if (engine)
        jn_engine_unref(engine);
    if (reg)
        jn_registry_destroy(reg);
    return rc;
}
