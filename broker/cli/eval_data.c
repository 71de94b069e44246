/* eval_data.c — `junction eval`'s data sets (eval_data.h): JSONL (one {"<input>": value, ..., "label": ...} per line;
 * "text" and "image" name the model's single TEXT / IMAGE input when no input has that name; image paths are relative
 * to the JSONL file) or IDX (Fashion-MNIST's images file, plain or gzipped; the labels file is given or found by the
 * usual name). See DECISIONS.md "Evaluation". */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include <jansson.h>

#include "cli.h"
#include "codec.h"
#include "eval_data.h"

#define MAX_FILE_BYTES ((size_t)256 << 20)

static const char *command_name = "junction eval";

void jn__eval_set_command(const char *name)
{
    command_name = name;
}

int jn__eval_fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "%s: ", command_name);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return JN_CLI_EXIT_FAIL;
}

void jn__eval_dataset_free(dataset *d)
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

/* Files -------------------------------------------------------------------------------------------------------- */

/* The whole file (gunzipped when it is gzip; zlib reads plain files as they are). *out malloc'd. */
static int read_file(const char *path, uint8_t **out, size_t *len)
{
    *out = NULL;
    *len = 0;
    gzFile f = gzopen(path, "rb");
    if (!f)
        return jn__eval_fail("%s: cannot open: %s", path, strerror(errno ? errno : ENOENT));
    size_t cap = 1 << 16, n = 0;
    uint8_t *buf = malloc(cap);
    int rc = buf ? 0 : jn__eval_fail("out of memory");
    while (!rc) {
        if (n == cap) {
            uint8_t *grown = cap >= MAX_FILE_BYTES ? NULL : realloc(buf, cap * 2);
            if (!grown) {
                rc = jn__eval_fail("%s: larger than %zu MiB or out of memory", path, MAX_FILE_BYTES >> 20);
                break;
            }
            buf = grown;
            cap *= 2;
        }
        int got = gzread(f, buf + n, (unsigned)(cap - n > INT_MAX ? INT_MAX : cap - n));
        if (got < 0) {
            int zerr;
            rc = jn__eval_fail("%s: cannot read: %s", path, gzerror(f, &zerr));
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
            return jn__eval_fail("%s: input '%s' wants a string", where, port->name);
        in->form = JN_KIND_TEXT;
        in->len = json_string_length(v);
        if (!(in->bytes = malloc(in->len + 1)))
            return jn__eval_fail("out of memory");
        memcpy(in->bytes, json_string_value(v), in->len + 1);
        return 0;
    }
    if (port->kind == JN_KIND_IMAGE) {
        if (!json_is_string(v))
            return jn__eval_fail("%s: input '%s' wants an image path", where, port->name);
        const char *p = json_string_value(v);
        char *full = malloc(strlen(dir) + strlen(p) + 1);
        if (!full)
            return jn__eval_fail("out of memory");
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
        return jn__eval_fail("%s: input '%s' is %s: only TEXT, IMAGE and FP32 inputs can be fed from JSONL", where,
                    port->name, jn_dtype_name(port->dtype));
    size_t n = 0, cap = 0;
    if (flatten_numbers(v, &in->vals, &n, &cap))
        return jn__eval_fail("%s: input '%s' wants numbers (nested arrays)", where, port->name);
    in->form = JN_KIND_TENSOR;
    if (tensor_shape(port, n, &in->ndim, in->shape)) {
        char t[128];
        return jn__eval_fail("%s: input '%s': %zu values do not fit %s", where, port->name, n,
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
        return jn__eval_fail("%s: \"label\" must be a string or a class index", where);
    }
    return (*out = strdup(s)) ? 0 : jn__eval_fail("out of memory");
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
            rc = jn__eval_fail("%s: not a JSON object%s%s", where, obj ? "" : ": ", obj ? "" : jerr.text);
            json_decref(obj);
            break;
        }
        example *e = dataset_push(d);
        if (!e) {
            json_decref(obj);
            rc = jn__eval_fail("out of memory");
            break;
        }
        json_t *label = json_object_get(obj, "label");
        if (!target) /* unlabelled data (calibration): a label is ignored */
            rc = 0;
        else
            rc = label ? label_from_json(label, target, &e->label, where)
                       : jn__eval_fail("%s: no \"label\"", where);
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
                rc = jn__eval_fail("%s: the model has no input '%s'", where, key);
            } else if (e->n_in == sizeof e->in / sizeof e->in[0]) {
                rc = jn__eval_fail("%s: too many inputs", where);
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
        return jn__eval_fail("%s: not an IDX images file (magic 0x00000803)", path);
    uint32_t n = be32(img + 4), rows = be32(img + 8), cols = be32(img + 12);
    if (rows == 0 || cols == 0 || rows > 4096 || cols > 4096 || (img_len - 16) / ((size_t)rows * cols) < n)
        return jn__eval_fail("%s: %u images of %ux%u do not fit the file", path, n, rows, cols);
    char *guessed = labels_path || !target ? NULL : labels_name(path);
    const char *lp = labels_path ? labels_path : guessed;
    if (!lp && target)
        return jn__eval_fail("%s: cannot tell the labels file from the name: give --labels FILE", path);
    uint8_t *lab = NULL;
    size_t lab_len = 0;
    int rc = lp ? read_file(lp, &lab, &lab_len) : 0;
    if (!rc && lp && (lab_len < 8 || be32(lab) != 0x00000801 || be32(lab + 4) != n || lab_len - 8 < n))
        rc = jn__eval_fail("%s: not the IDX labels file of %u images (magic 0x00000801)", lp, n);
    const jn_port *image = single_input(sig, JN_KIND_IMAGE);
    const jn_port *tensor = NULL;
    if (!rc && !image && sig->n_inputs == 1 && sig->inputs[0].dtype == JN_DTYPE_FP32)
        tensor = &sig->inputs[0];
    if (!rc && !image && !tensor)
        rc = jn__eval_fail("IDX images need a model with one IMAGE input or one FP32 input");
    size_t px = (size_t)rows * cols;
    for (uint32_t i = 0; !rc && i < n && (limit <= 0 || (long)d->n < limit); i++) {
        example *e = dataset_push(d);
        if (!e) {
            rc = jn__eval_fail("out of memory");
            break;
        }
        unsigned k = lab ? lab[8 + i] : 0;
        char num[16];
        snprintf(num, sizeof num, "%u", k);
        e->label = strdup(target && target->kind == JN_KIND_CLASSIFICATION && k < target->n_labels ? target->labels[k]
                                                                                                  : num);
        ex_input *in = &e->in[0];
        e->n_in = 1;
        const uint8_t *p = img + 16 + (size_t)i * px;
        if (image) {
            in->port = image->name;
            in->form = JN_KIND_IMAGE;
            jn_err perr;
            if (jn_png_encode((int)cols, (int)rows, 1, p, &in->bytes, &in->len, &perr))
                rc = jn__eval_fail("cannot encode image %u as PNG: %s", i, perr.msg);
        } else {
            in->port = tensor->name;
            in->form = JN_KIND_TENSOR;
            if (!(in->vals = malloc(px * sizeof *in->vals))) {
                rc = jn__eval_fail("out of memory");
                break;
            }
            for (size_t q = 0; q < px; q++)
                in->vals[q] = (float)p[q] / 255.0f;
            if (tensor_shape(tensor, px, &in->ndim, in->shape)) {
                char t[128];
                rc = jn__eval_fail("input '%s' is %s: %ux%u pixels do not fit", tensor->name,
                          jn_format_type(t, sizeof t, tensor->dtype, tensor->ndim, tensor->shape), rows, cols);
            }
        }
        if (!rc && !e->label)
            rc = jn__eval_fail("out of memory");
    }
    if (lab)
        free(lab);
    free(guessed);
    return rc;
}

int jn__eval_dataset_load(const char *path, const char *labels_path, long limit, const jn_signature *sig,
                          const jn_port *target, dataset *d)
{
    uint8_t *head;
    size_t len;
    int rc = read_file(path, &head, &len);
    if (rc)
        return rc;
    if (len >= 4 && be32(head) == 0x00000803)
        rc = load_idx(path, labels_path, head, len, sig, target, limit, d);
    else
        rc = load_jsonl(path, sig, target, limit, d);
    free(head);
    if (!rc && d->n == 0)
        rc = jn__eval_fail("%s: no examples", path);
    return rc;
}

