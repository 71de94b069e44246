/* onnx_conformance — the official ONNX backend tests (Debian's libonnx-testdata) through the ONNX adapter.
 *
 * For every <folder>/<test>/model.onnx: load it (a rejection is "unsupported", with its reason), then run every
 * test_data_set_*: inputs from input_<i>.pb in graph-input order, outputs compared with output_<i>.pb in
 * graph-output order: same dtype and shape, floats within |got - want| <= atol + rtol * |want| (the backend test's
 * rtol 1e-3, atol 1e-7; NaN matches NaN), everything else exactly. A run error or a mismatch is "failed".
 *
 * Sequence and optional graph inputs and outputs (SequenceProto / OptionalProto vectors, read here from the wire
 * format: Debian's onnx.proto does not define them) travel flattened as the adapter's JN_ONNX_LOAD_SEQUENCE_IO says.
 *
 * Prints passed / failed / unsupported per folder, every failure, and the passes among the node tests whose
 * operators are all in the adapter's issue list. Exit status 1 when anything failed or those passes are fewer than
 * --min-listed (default 300); with --require-all, also when a model is rejected.
 * Usage: onnx_conformance [--data DIR] [--min-listed N] [--rtol X] [--atol X] [--require-all] [--verbose] [folder...]
 */
#include <dirent.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "onnx.h"
#include "onnx.pb-c.h"

/* The backend test's tolerances; --rtol / --atol change them (the model-family tests compare with ONNX Runtime). */
static double rel_tol = 1e-3, abs_tol = 1e-7;

static const char *const listed_ops[] = {
    "Gemm", "MatMul", "Add", "Sub", "Mul", "Div", "Pow", "Sqrt", "Exp", "Log", "Neg", "Abs", "Erf", "Relu",
    "LeakyRelu", "Sigmoid", "Tanh", "Clip", "Softmax", "LogSoftmax", "Conv", "ConvTranspose", "MaxPool",
    "AveragePool", "GlobalAveragePool", "BatchNormalization", "LayerNormalization", "Flatten", "Reshape",
    "Transpose", "Squeeze", "Unsqueeze", "Concat", "Split", "Slice", "Gather", "Shape", "Constant",
    "ConstantOfShape", "Identity", "Cast", "ReduceMean", "ReduceSum", "ReduceMax", "ArgMax", "Where", "Equal",
    "Less", "Greater", "Expand", "Dropout", NULL};

static uint8_t *read_all(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *buf = malloc(n > 0 ? (size_t)n : 1);
    if (buf && n > 0 && fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    *len = n > 0 ? (size_t)n : 0;
    return buf;
}

static bool graph_uses_listed_only(const Onnx__GraphProto *g)
{
    for (size_t i = 0; i < g->n_node; i++) {
        const Onnx__NodeProto *n = g->node[i];
        if (n->domain && n->domain[0] && strcmp(n->domain, "ai.onnx") != 0)
            return false;
        bool found = false;
        for (const char *const *op = listed_ops; *op && !found; op++)
            found = strcmp(*op, n->op_type) == 0;
        if (!found)
            return false;
        for (size_t a = 0; a < n->n_attribute; a++) {
            if (n->attribute[a]->g && !graph_uses_listed_only(n->attribute[a]->g))
                return false;
            for (size_t k = 0; k < n->attribute[a]->n_graphs; k++)
                if (!graph_uses_listed_only(n->attribute[a]->graphs[k]))
                    return false;
        }
    }
    return true;
}

static bool uses_listed_only(const uint8_t *data, size_t len)
{
    Onnx__ModelProto *p = onnx__model_proto__unpack(NULL, len, data);
    bool ok = p && p->graph && graph_uses_listed_only(p->graph);
    if (p)
        onnx__model_proto__free_unpacked(p, NULL);
    return ok;
}

static int name_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorted entries of dir starting with prefix (all when NULL); caller frees. */
static size_t list_dir(const char *dir, const char *prefix, char ***out)
{
    DIR *d = opendir(dir);
    *out = NULL;
    if (!d)
        return 0;
    size_t n = 0, cap = 0;
    char **names = NULL;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.' || (prefix && strncmp(e->d_name, prefix, strlen(prefix)) != 0))
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 64;
            names = realloc(names, cap * sizeof *names);
            if (!names)
                abort();
        }
        names[n++] = strdup(e->d_name);
    }
    closedir(d);
    if (n)
        qsort(names, n, sizeof *names, name_cmp);
    *out = names;
    return n;
}

static void free_list(char **names, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
}

static bool is_float(jn_dtype dt)
{
    return dt == JN_DTYPE_FP32 || dt == JN_DTYPE_FP64;
}

/* Compares one output; on mismatch writes why into msg and returns false. */
static bool compare(const jn_tensor *got, const jn_tensor *want, char *msg, size_t msz)
{
    char g[128], w[128];
    if (got->dtype != want->dtype || got->ndim != want->ndim ||
        memcmp(got->shape, want->shape, sizeof(int64_t) * (size_t)got->ndim) != 0) {
        snprintf(msg, msz, "got %s, want %s", jn_format_type(g, sizeof g, got->dtype, got->ndim, got->shape),
                 jn_format_type(w, sizeof w, want->dtype, want->ndim, want->shape));
        return false;
    }
    int64_t count = jn_tensor_element_count(want);
    if (is_float(want->dtype)) {
        for (int64_t i = 0; i < count; i++) {
            double a = want->dtype == JN_DTYPE_FP32 ? ((const float *)got->data)[i] : ((const double *)got->data)[i];
            double b = want->dtype == JN_DTYPE_FP32 ? ((const float *)want->data)[i] : ((const double *)want->data)[i];
            if (isnan(a) && isnan(b))
                continue;
            if (a == b)
                continue;
            if (!(fabs(a - b) <= abs_tol + rel_tol * fabs(b))) {
                snprintf(msg, msz, "element %lld: got %.9g, want %.9g", (long long)i, a, b);
                return false;
            }
        }
        return true;
    }
    if (got->byte_size != want->byte_size || memcmp(got->data, want->data, want->byte_size) != 0) {
        snprintf(msg, msz, "%s values differ", jn_dtype_name(want->dtype));
        return false;
    }
    return true;
}

/* ---- SequenceProto / OptionalProto, from the wire format ---- */

static bool read_varint(const uint8_t **p, const uint8_t *end, uint64_t *v)
{
    *v = 0;
    for (int shift = 0; *p < end && shift < 64; shift += 7) {
        uint8_t b = *(*p)++;
        *v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80))
            return true;
    }
    return false;
}

/* Calls fn for every length-delimited field `field` of the message; false when the message does not parse. */
static bool each_field(const uint8_t *data, size_t len, unsigned field,
                       bool (*fn)(void *ctx, const uint8_t *d, size_t n), void *ctx)
{
    const uint8_t *p = data, *end = data + len;
    while (p < end) {
        uint64_t key, v;
        if (!read_varint(&p, end, &key))
            return false;
        switch (key & 7) {
        case 0:
            if (!read_varint(&p, end, &v))
                return false;
            break;
        case 1: p += 8; break;
        case 5: p += 4; break;
        case 2:
            if (!read_varint(&p, end, &v) || v > (uint64_t)(end - p))
                return false;
            if ((key >> 3) == field && !fn(ctx, p, (size_t)v))
                return false;
            p += v;
            break;
        default: return false;
        }
        if (p > end)
            return false;
    }
    return true;
}

typedef struct flat_ctx {
    jn_tensor_list *list;
    const char *name;
    size_t next;
    char *why;
    size_t wsz;
} flat_ctx;

static bool flat_tensor(void *vc, const uint8_t *d, size_t n)
{
    flat_ctx *c = vc;
    char name[600];
    snprintf(name, sizeof name, "%s[%zu]", c->name, c->next++);
    jn_err err;
    jn_err_clear(&err);
    jn_tensor *t = jn_onnx_tensor_parse(d, n, name, &err);
    if (!t) {
        snprintf(c->why, c->wsz, "%s: %s", name, err.msg);
        return false;
    }
    jn_tensor *named = jn_tensor_share(t, name, &err);
    jn_tensor_free(t);
    if (!named || jn_tensor_list_push(c->list, named))
        abort();
    return true;
}

static bool flat_sequence(void *vc, const uint8_t *d, size_t n)
{
    return each_field(d, n, 3, flat_tensor, vc); /* SequenceProto.tensor_values */
}

static bool flat_opt_tensor(void *vc, const uint8_t *d, size_t n)
{
    flat_ctx *c = vc;
    jn_err err;
    jn_err_clear(&err);
    jn_tensor *t = jn_onnx_tensor_parse(d, n, c->name, &err);
    jn_tensor *named = t ? jn_tensor_share(t, c->name, &err) : NULL;
    jn_tensor_free(t);
    if (!named) {
        snprintf(c->why, c->wsz, "%s: %s", c->name, err.msg);
        return false;
    }
    if (jn_tensor_list_push(c->list, named))
        abort();
    return true;
}

/* The kind of a declared graph value: 0 tensor, 1 sequence, 2 optional. */
static int value_kind(const Onnx__ValueInfoProto *vi)
{
    if (!vi || !vi->type)
        return 0;
    return vi->type->value_case == ONNX__TYPE_PROTO__VALUE_SEQUENCE_TYPE   ? 1
           : vi->type->value_case == ONNX__TYPE_PROTO__VALUE_OPTIONAL_TYPE ? 2
                                                                           : 0;
}

static const Onnx__ValueInfoProto *find_vi(Onnx__ValueInfoProto *const *vis, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (vis[i]->name && strcmp(vis[i]->name, name) == 0)
            return vis[i];
    return NULL;
}

/* Appends the test vector `data` for a value of that kind to list, flattened; false with *why set on error. */
static bool push_flat(jn_tensor_list *list, int kind, const char *name, const uint8_t *data, size_t len, char *why,
                      size_t wsz)
{
    flat_ctx c = {.list = list, .name = name, .why = why, .wsz = wsz};
    snprintf(why, wsz, "%s: a malformed %s", name, kind == 1 ? "SequenceProto" : "OptionalProto");
    if (kind == 1)
        return flat_sequence(&c, data, len);
    /* OptionalProto: tensor_value 3, sequence_value 5 */
    return each_field(data, len, 3, flat_opt_tensor, &c) && each_field(data, len, 5, flat_sequence, &c);
}

static bool graph_has_seq_io(const Onnx__GraphProto *g)
{
    for (size_t i = 0; i < g->n_input; i++)
        if (value_kind(g->input[i]))
            return true;
    for (size_t i = 0; i < g->n_output; i++)
        if (value_kind(g->output[i]))
            return true;
    return false;
}

typedef enum { R_PASS, R_FAIL, R_UNSUPPORTED } result;

/* Runs one test directory; *why gets the reason for a failure or rejection. */
static result run_test(const char *dir, bool *listed, char *why, size_t wsz)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/model.onnx", dir);
    size_t len = 0;
    uint8_t *bytes = read_all(path, &len);
    if (!bytes) {
        snprintf(why, wsz, "cannot read model.onnx");
        return R_FAIL;
    }
    *listed = uses_listed_only(bytes, len);
    jn_err err;
    jn_err_clear(&err);
    Onnx__ModelProto *proto = onnx__model_proto__unpack(NULL, len, bytes);
    bool seq_io = proto && proto->graph && graph_has_seq_io(proto->graph);
    jn_onnx_model *m = jn_onnx_load_bytes_flags(bytes, len, "model", seq_io ? JN_ONNX_LOAD_SEQUENCE_IO : 0, &err);
    free(bytes);
    if (!m && proto)
        onnx__model_proto__free_unpacked(proto, NULL);
    if (!m) {
        snprintf(why, wsz, "%s", err.msg);
        return R_UNSUPPORTED;
    }
    jn_signature sig;
    jn_signature_init(&sig);
    if (jn_onnx_signature(m, &sig, &err)) {
        snprintf(why, wsz, "signature: %s", err.msg);
        jn_onnx_free(m);
        if (proto)
            onnx__model_proto__free_unpacked(proto, NULL);
        return R_FAIL;
    }
    char **sets;
    size_t n_sets = list_dir(dir, "test_data_set_", &sets);
    result r = n_sets ? R_PASS : R_FAIL;
    if (!n_sets)
        snprintf(why, wsz, "no test_data_set_*");
    for (size_t s = 0; s < n_sets && r == R_PASS; s++) {
        jn_tensor_list inputs, outputs, expected;
        jn_tensor_list_init(&inputs);
        jn_tensor_list_init(&outputs);
        jn_tensor_list_init(&expected);
        for (size_t i = 0;; i++) {
            snprintf(path, sizeof path, "%s/%s/input_%zu.pb", dir, sets[s], i);
            uint8_t *b = read_all(path, &len);
            if (!b)
                break;
            const char *name = i < sig.n_inputs ? sig.inputs[i].name : "extra";
            int kind = seq_io ? value_kind(find_vi(proto->graph->input, proto->graph->n_input, name)) : 0;
            if (kind) {
                bool ok = push_flat(&inputs, kind, name, b, len, why, wsz);
                free(b);
                if (!ok) {
                    r = R_FAIL;
                    break;
                }
                continue;
            }
            jn_tensor *t = jn_onnx_tensor_parse(b, len, name, &err);
            free(b);
            if (!t) {
                snprintf(why, wsz, "%s input %zu: %s", sets[s], i, err.msg);
                r = R_FAIL;
                break;
            }
            /* numpy has no bfloat16: the suite stores BFLOAT16 vectors as their UINT16 bit patterns. */
            if (t->dtype == JN_DTYPE_UINT16 && i < sig.n_inputs && sig.inputs[i].dtype == JN_DTYPE_BF16)
                t->dtype = JN_DTYPE_BF16;
            /* Fed by position, as the backend runner does. */
            jn_tensor *named = jn_tensor_share(t, name, &err);
            jn_tensor_free(t);
            if (!named || jn_tensor_list_push(&inputs, named))
                abort();
        }
        for (size_t i = 0; r == R_PASS; i++) {
            snprintf(path, sizeof path, "%s/%s/output_%zu.pb", dir, sets[s], i);
            uint8_t *b = read_all(path, &len);
            if (!b)
                break;
            int kind = seq_io && i < proto->graph->n_output ? value_kind(proto->graph->output[i]) : 0;
            if (kind) {
                bool ok = push_flat(&expected, kind, proto->graph->output[i]->name, b, len, why, wsz);
                free(b);
                if (!ok) {
                    r = R_FAIL;
                    break;
                }
                continue;
            }
            jn_tensor *t = jn_onnx_tensor_parse(b, len, "expected", &err);
            free(b);
            if (!t) {
                snprintf(why, wsz, "%s output %zu: %s", sets[s], i, err.msg);
                r = R_FAIL;
                break;
            }
            if (t->dtype == JN_DTYPE_UINT16 && i < sig.n_outputs && sig.outputs[i].dtype == JN_DTYPE_BF16)
                t->dtype = JN_DTYPE_BF16; /* bit patterns, as for inputs */
            if (jn_tensor_list_push(&expected, t))
                abort();
        }
        /* Twice: the first run infers shapes and plans the buffers, the second runs on the cached plan. */
        for (int pass = 0; pass < 2 && r == R_PASS; pass++) {
            jn_tensor_list_clear(&outputs);
            if (jn_onnx_run(m, &inputs, &outputs, &err)) {
                snprintf(why, wsz, "%s: run %d: %s", sets[s], pass + 1, err.msg);
                r = R_FAIL;
            }
            for (size_t i = 0; r == R_PASS && pass == 0 && i < expected.count && i < outputs.count; i++) {
                char msg[400];
                if (!compare(outputs.items[i], expected.items[i], msg, sizeof msg)) {
                    snprintf(why, wsz, "%s: first run: output '%s': %s", sets[s], outputs.items[i]->name, msg);
                    r = R_FAIL;
                }
            }
        }
        if (r == R_PASS && outputs.count != expected.count) {
            snprintf(why, wsz, "%s: %zu outputs, %zu expected", sets[s], outputs.count, expected.count);
            r = R_FAIL;
        }
        for (size_t i = 0; r == R_PASS && i < expected.count; i++) {
            char msg[400];
            if (!compare(outputs.items[i], expected.items[i], msg, sizeof msg)) {
                snprintf(why, wsz, "%s: output '%s': %s", sets[s], outputs.items[i]->name, msg);
                r = R_FAIL;
            }
        }
        jn_tensor_list_clear(&inputs);
        jn_tensor_list_clear(&outputs);
        jn_tensor_list_clear(&expected);
    }
    free_list(sets, n_sets);
    jn_signature_free(&sig);
    jn_onnx_free(m);
    if (proto)
        onnx__model_proto__free_unpacked(proto, NULL);
    return r;
}

int main(int argc, char **argv)
{
    const char *root = "/usr/include/onnx/backend/test/data";
    long min_listed = 300;
    bool verbose = false, require_all = false;
    const char *folders[16];
    int n_folders = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--data") == 0 && i + 1 < argc)
            root = argv[++i];
        else if (strcmp(argv[i], "--min-listed") == 0 && i + 1 < argc)
            min_listed = strtol(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--rtol") == 0 && i + 1 < argc)
            rel_tol = strtod(argv[++i], NULL);
        else if (strcmp(argv[i], "--atol") == 0 && i + 1 < argc)
            abs_tol = strtod(argv[++i], NULL);
        else if (strcmp(argv[i], "--require-all") == 0)
            require_all = true;
        else if (strcmp(argv[i], "--verbose") == 0)
            verbose = true;
        else if (n_folders < 16)
            folders[n_folders++] = argv[i];
    }
    if (n_folders == 0) {
        folders[n_folders++] = "node";
        folders[n_folders++] = "pytorch-converted";
        folders[n_folders++] = "pytorch-operator";
    }
    long total_failed = 0, total_unsupported = 0, listed_total = 0, listed_passed = 0, total_tests = 0;
    for (int f = 0; f < n_folders; f++) {
        char dir[4096];
        snprintf(dir, sizeof dir, "%s/%s", root, folders[f]);
        char **tests;
        size_t n = list_dir(dir, NULL, &tests);
        long pass = 0, fail = 0, unsup = 0;
        for (size_t i = 0; i < n; i++) {
            char tdir[4096], model[4200], why[1200] = "";
            struct stat st;
            snprintf(tdir, sizeof tdir, "%s/%s", dir, tests[i]);
            snprintf(model, sizeof model, "%s/model.onnx", tdir);
            if (stat(model, &st) != 0)
                continue;
            bool listed = false;
            result r = run_test(tdir, &listed, why, sizeof why);
            total_tests++;
            if (strcmp(folders[f], "node") == 0 && listed) {
                listed_total++;
                listed_passed += r == R_PASS;
            }
            if (r == R_PASS) {
                pass++;
                if (verbose)
                    printf("  pass        %s/%s\n", folders[f], tests[i]);
            } else if (r == R_FAIL) {
                fail++;
                printf("  FAILED      %s/%s: %s\n", folders[f], tests[i], why);
            } else {
                unsup++;
                if (verbose || (listed && strcmp(folders[f], "node") == 0))
                    printf("  unsupported %s/%s%s: %s\n", folders[f], tests[i], listed ? " (listed ops)" : "", why);
            }
        }
        free_list(tests, n);
        printf("%-18s passed %4ld  failed %4ld  unsupported %4ld  (of %zu)\n", folders[f], pass, fail, unsup, n);
        total_failed += fail;
        total_unsupported += unsup;
    }
    printf("node tests using only the listed operators: %ld of %ld pass (at least %ld required)\n", listed_passed,
           listed_total, min_listed);
    printf("failed across the suite: %ld (of %ld tests)\n", total_failed, total_tests);
    if (total_tests == 0) {
        printf("no tests found under %s\n", root);
        return 1;
    }
    return total_failed > 0 || listed_passed < min_listed || (require_all && total_unsupported > 0) ? 1 : 0;
}
