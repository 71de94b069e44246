/* onnx_conformance — the official ONNX backend tests (Debian's libonnx-testdata) through the ONNX adapter.
 *
 * For every <folder>/<test>/model.onnx: load it (a rejection is "refused", with its reason), then run every
 * test_data_set_*: inputs from input_<i>.pb in graph-input order, outputs compared with output_<i>.pb in
 * graph-output order: same dtype and shape, floats within |got - want| <= atol + rtol * |want| (the backend test's
 * rtol 1e-3, atol 1e-7; NaN matches NaN; FP16/BF16 also within one unit in their last place), everything else
 * exactly. A run error or a mismatch is "failed", except that a run refusing test data which contradicts its own
 * model (an input of another shape than the model declares) makes the test refused, saying so.
 *
 * Sequence and optional graph inputs and outputs (SequenceProto / OptionalProto vectors, read here from the wire
 * format: Debian's onnx.proto does not define them) travel flattened as the adapter's JN_ONNX_LOAD_SEQUENCE_IO says.
 *
 * Prints passed / failed / refused per folder and every failure. With --refused FILE, every refused test must be
 * listed in FILE with the same reason, and every listed test of the folders run must still be refused: a pass that
 * turns into a refusal, a changed reason, or a listed test that now passes (the list is stale) fails the run, with
 * the difference printed. --write-refused FILE writes the current refusals in that format (sorted lines
 * "folder/test<TAB>reason"). --min-pass FOLDER=N fails the run when FOLDER passes fewer than N tests; --by-reason
 * prints the refusals grouped by reason.
 * Exit status 1 when anything failed, a minimum is not met or the refused list differs; with --require-all, also
 * when a model is refused.
 * Usage: onnx_conformance [--data DIR] [--refused FILE] [--write-refused FILE] [--min-pass FOLDER=N]...
 *                         [--rtol X] [--atol X] [--require-all] [--by-reason] [--verbose] [folder...]
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
#include "half.h"

/* The backend test's tolerances; --rtol / --atol change them (the model-family tests compare with ONNX Runtime). */
static double rel_tol = 1e-3, abs_tol = 1e-7;
/* --dump DIR: every run's outputs, raw bytes, as DIR/<test>.<set>.<i>.bin (for a caller's own statistics) */
static const char *dump_dir;

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
    return dt == JN_DTYPE_FP32 || dt == JN_DTYPE_FP64 || dt == JN_DTYPE_FP16 || dt == JN_DTYPE_BF16;
}

static double element(const jn_tensor *t, int64_t i)
{
    switch (t->dtype) {
    case JN_DTYPE_FP32: return ((const float *)t->data)[i];
    case JN_DTYPE_FP16: return jn_fp16_to_float(((const uint16_t *)t->data)[i]);
    case JN_DTYPE_BF16: return jn_bf16_to_float(((const uint16_t *)t->data)[i]);
    default: return ((const double *)t->data)[i];
    }
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
        /* A half result may also be one unit in its last place away: it is rounded from an FP32 result (the
         * adapter computes FP16/BF16 through FP32), the reference from its own. */
        double ulp = want->dtype == JN_DTYPE_FP16 ? 0x1p-10 : want->dtype == JN_DTYPE_BF16 ? 0x1p-7 : 0;
        double rtol = rel_tol > ulp ? rel_tol : ulp;
        for (int64_t i = 0; i < count; i++) {
            double a = element(got, i), b = element(want, i);
            if (isnan(a) && isnan(b))
                continue;
            if (a == b)
                continue;
            if (!(fabs(a - b) <= abs_tol + rtol * fabs(b))) {
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
static result run_test(const char *dir, char *why, size_t wsz)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/model.onnx", dir);
    size_t len = 0;
    uint8_t *bytes = read_all(path, &len);
    if (!bytes) {
        snprintf(why, wsz, "cannot read model.onnx");
        return R_FAIL;
    }
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
        char contradiction[600] = "";
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
            /* The suite's own data may contradict its model's declared inputs (ONNX 1.12's castlike tests declare
             * 'like' [3, 4] and feed [1]): noted, and if the run then fails, the test is refused naming the
             * contradiction rather than counted as the adapter's failure. */
            if (i < sig.n_inputs && !contradiction[0] &&
                jn_port_check_tensor("model", "input", &sig.inputs[i], t, &err))
                snprintf(contradiction, sizeof contradiction, "test data contradicts the model: %s", err.msg);
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
                if (contradiction[0]) {
                    snprintf(why, wsz, "%s", contradiction);
                    r = R_UNSUPPORTED;
                } else {
                    snprintf(why, wsz, "%s: run %d: %s", sets[s], pass + 1, err.msg);
                    r = R_FAIL;
                }
            }
            for (size_t i = 0; r == R_PASS && pass == 0 && i < expected.count && i < outputs.count; i++) {
                char msg[400];
                if (!compare(outputs.items[i], expected.items[i], msg, sizeof msg)) {
                    snprintf(why, wsz, "%s: first run: output '%s': %s", sets[s], outputs.items[i]->name, msg);
                    r = R_FAIL;
                }
            }
        }
        for (size_t i = 0; dump_dir && i < outputs.count; i++) {
            const char *test = strrchr(dir, '/');
            snprintf(path, sizeof path, "%s/%s.%s.%zu.bin", dump_dir, test ? test + 1 : dir, sets[s], i);
            FILE *f = fopen(path, "wb");
            if (!f || fwrite(outputs.items[i]->data, 1, outputs.items[i]->byte_size, f) != outputs.items[i]->byte_size)
                fprintf(stderr, "onnx_conformance: cannot write %s\n", path);
            if (f)
                fclose(f);
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

/* ---------------------------------------------------------------------------------------------------------------
 * The refused list: "folder/test<TAB>reason" lines, sorted. */

typedef struct entry {
    char *key;    /* folder/test */
    char *reason; /* one line */
    bool seen;
} entry;

typedef struct entry_list {
    entry *items;
    size_t n, cap;
} entry_list;

static void entries_add(entry_list *l, const char *key, const char *reason)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 256;
        l->items = realloc(l->items, l->cap * sizeof *l->items);
        if (!l->items)
            abort();
    }
    entry *e = &l->items[l->n++];
    e->key = strdup(key);
    e->reason = strdup(reason);
    e->seen = false;
    if (!e->key || !e->reason)
        abort();
    /* One line each: tabs and line breaks in a reason become spaces. */
    for (char *c = e->reason; *c; c++)
        if (*c == '\t' || *c == '\n' || *c == '\r')
            *c = ' ';
}

static void entries_free(entry_list *l)
{
    for (size_t i = 0; i < l->n; i++) {
        free(l->items[i].key);
        free(l->items[i].reason);
    }
    free(l->items);
}

static int entry_cmp(const void *a, const void *b)
{
    return strcmp(((const entry *)a)->key, ((const entry *)b)->key);
}

static entry *entries_find(entry_list *l, const char *key)
{
    entry k = {.key = (char *)key};
    return l->n ? bsearch(&k, l->items, l->n, sizeof *l->items, entry_cmp) : NULL;
}

/* Reads FILE (blank lines and '#' comments skipped); false when it cannot be read or a line has no tab. */
static bool entries_read(entry_list *l, const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "onnx_conformance: cannot read %s\n", path);
        return false;
    }
    char line[8192];
    int lineno = 0;
    bool ok = true;
    while (fgets(line, sizeof line, f)) {
        lineno++;
        line[strcspn(line, "\r\n")] = '\0';
        if (!line[0] || line[0] == '#')
            continue;
        char *tab = strchr(line, '\t');
        if (!tab) {
            fprintf(stderr, "onnx_conformance: %s:%d: expected \"folder/test<TAB>reason\"\n", path, lineno);
            ok = false;
            continue;
        }
        *tab = '\0';
        entries_add(l, line, tab + 1);
    }
    fclose(f);
    if (l->n)
        qsort(l->items, l->n, sizeof *l->items, entry_cmp);
    return ok;
}

static bool entries_write(entry_list *l, const char *path)
{
    FILE *f = fopen(path, "w");
    if (!f) {
        fprintf(stderr, "onnx_conformance: cannot write %s\n", path);
        return false;
    }
    if (l->n)
        qsort(l->items, l->n, sizeof *l->items, entry_cmp);
    for (size_t i = 0; i < l->n; i++)
        fprintf(f, "%s\t%s\n", l->items[i].key, l->items[i].reason);
    return fclose(f) == 0;
}

/* Compares this run's refusals with the list (entries of folders not run are left alone); prints every
 * difference and returns their count. `passed` holds this run's passing keys. */
static long refused_diff(entry_list *want, entry_list *got, entry_list *passed, const char *const *folders,
                         int n_folders, const char *path)
{
    long diffs = 0;
    for (size_t i = 0; i < got->n; i++) {
        entry *w = entries_find(want, got->items[i].key);
        if (!w) {
            printf("  refused-list + %s: newly refused: %s\n", got->items[i].key, got->items[i].reason);
            diffs++;
            continue;
        }
        w->seen = true;
        if (strcmp(w->reason, got->items[i].reason) != 0) {
            printf("  refused-list ~ %s: the reason changed\n      was: %s\n      now: %s\n", got->items[i].key,
                   w->reason, got->items[i].reason);
            diffs++;
        }
    }
    for (size_t i = 0; i < want->n; i++) {
        const entry *w = &want->items[i];
        bool in_run = false;
        for (int f = 0; f < n_folders && !in_run; f++) {
            size_t len = strlen(folders[f]);
            in_run = strncmp(w->key, folders[f], len) == 0 && w->key[len] == '/';
        }
        if (!in_run || w->seen)
            continue;
        printf("  refused-list - %s: listed as refused, but it %s now\n", w->key,
               entries_find(passed, w->key) ? "passes" : "fails or is gone");
        diffs++;
    }
    if (diffs)
        printf("the refused list %s differs in %ld test(s); if the change is intended, regenerate it with\n"
               "  onnx_conformance --write-refused %s\n",
               path, diffs, path);
    return diffs;
}

/* --by-reason: the refusals grouped by reason, node names elided ("node '...'"), most frequent first. */
typedef struct reason_group {
    char reason[1300];
    size_t count;
} reason_group;

static int group_cmp(const void *a, const void *b)
{
    const reason_group *x = a, *y = b;
    return x->count != y->count ? (x->count < y->count ? 1 : -1) : strcmp(x->reason, y->reason);
}

static void print_by_reason(const entry_list *refused)
{
    reason_group *groups = calloc(refused->n + 1, sizeof *groups);
    size_t n = 0;
    if (!groups)
        abort();
    for (size_t i = 0; i < refused->n; i++) {
        char r[sizeof groups->reason], *o = r;
        const char *p = refused->items[i].reason;
        if (strncmp(p, "model: ", 7) == 0)
            p += 7;
        while (*p && o < r + sizeof r - 16) {
            const char *close = strncmp(p, "node '", 6) == 0 ? strchr(p + 6, '\'') : NULL;
            if (close) {
                o += sprintf(o, "node '...'");
                p = close + 1;
            } else {
                *o++ = *p++;
            }
        }
        *o = '\0';
        size_t g = 0;
        while (g < n && strcmp(groups[g].reason, r) != 0)
            g++;
        if (g == n)
            memcpy(groups[n++].reason, r, sizeof r);
        groups[g].count++;
    }
    qsort(groups, n, sizeof *groups, group_cmp);
    printf("refused tests by reason:\n");
    for (size_t g = 0; g < n; g++)
        printf("%5zu  %s\n", groups[g].count, groups[g].reason);
    free(groups);
}

int main(int argc, char **argv)
{
    const char *root = "/usr/include/onnx/backend/test/data", *refused_path = NULL, *write_path = NULL;
    bool verbose = false, require_all = false, by_reason = false;
    const char *folders[16];
    const char *min_folder[16];
    long min_count[16];
    int n_folders = 0, n_min = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--data") == 0 && i + 1 < argc)
            root = argv[++i];
        else if (strcmp(argv[i], "--refused") == 0 && i + 1 < argc)
            refused_path = argv[++i];
        else if (strcmp(argv[i], "--write-refused") == 0 && i + 1 < argc)
            write_path = argv[++i];
        else if (strcmp(argv[i], "--min-pass") == 0 && i + 1 < argc && n_min < 16) {
            char *eq = strchr(argv[++i], '=');
            if (!eq) {
                fprintf(stderr, "onnx_conformance: --min-pass takes FOLDER=N, got '%s'\n", argv[i]);
                return 2;
            }
            *eq = '\0';
            min_folder[n_min] = argv[i];
            min_count[n_min++] = strtol(eq + 1, NULL, 10);
        } else if (strcmp(argv[i], "--rtol") == 0 && i + 1 < argc)
            rel_tol = strtod(argv[++i], NULL);
        else if (strcmp(argv[i], "--atol") == 0 && i + 1 < argc)
            abs_tol = strtod(argv[++i], NULL);
        else if (strcmp(argv[i], "--require-all") == 0)
            require_all = true;
        else if (strcmp(argv[i], "--dump") == 0 && i + 1 < argc)
            dump_dir = argv[++i];
        else if (strcmp(argv[i], "--verbose") == 0)
            verbose = true;
        else if (strcmp(argv[i], "--by-reason") == 0)
            by_reason = true;
        else if (argv[i][0] == '-') {
            fprintf(stderr, "onnx_conformance: unknown option '%s'\n", argv[i]);
            return 2;
        } else if (n_folders < 16)
            folders[n_folders++] = argv[i];
    }
    if (n_folders == 0) {
        folders[n_folders++] = "node";
        folders[n_folders++] = "pytorch-converted";
        folders[n_folders++] = "pytorch-operator";
        folders[n_folders++] = "simple";
        folders[n_folders++] = "real";
    }
    entry_list refused = {0}, passed = {0};
    long total_failed = 0, total_unsupported = 0, total_tests = 0, short_folders = 0;
    for (int f = 0; f < n_folders; f++) {
        char dir[4096];
        snprintf(dir, sizeof dir, "%s/%s", root, folders[f]);
        char **tests;
        size_t n = list_dir(dir, NULL, &tests);
        long pass = 0, fail = 0, unsup = 0;
        for (size_t i = 0; i < n; i++) {
            char tdir[4096], model[4200], key[600], why[1200] = "";
            struct stat st;
            snprintf(tdir, sizeof tdir, "%s/%s", dir, tests[i]);
            snprintf(model, sizeof model, "%s/model.onnx", tdir);
            snprintf(key, sizeof key, "%s/%s", folders[f], tests[i]);
            if (stat(model, &st) != 0)
                continue;
            result r = run_test(tdir, why, sizeof why);
            total_tests++;
            if (r == R_PASS) {
                pass++;
                entries_add(&passed, key, "");
                if (verbose)
                    printf("  pass        %s\n", key);
            } else if (r == R_FAIL) {
                fail++;
                printf("  FAILED      %s: %s\n", key, why);
            } else {
                unsup++;
                entries_add(&refused, key, why);
                if (verbose)
                    printf("  refused     %s: %s\n", key, why);
            }
        }
        free_list(tests, n);
        printf("%-18s passed %4ld  failed %4ld  refused %4ld  (of %zu)\n", folders[f], pass, fail, unsup, n);
        for (int k = 0; k < n_min; k++)
            if (strcmp(min_folder[k], folders[f]) == 0 && pass < min_count[k]) {
                printf("  %s: %ld passed, at least %ld required\n", folders[f], pass, min_count[k]);
                short_folders++;
            }
        total_failed += fail;
        total_unsupported += unsup;
    }
    printf("failed across the suite: %ld (of %ld tests)\n", total_failed, total_tests);
    if (refused.n)
        qsort(refused.items, refused.n, sizeof *refused.items, entry_cmp);
    if (passed.n)
        qsort(passed.items, passed.n, sizeof *passed.items, entry_cmp);
    long diffs = 0;
    bool io_ok = true;
    if (refused_path) {
        entry_list want = {0};
        io_ok = entries_read(&want, refused_path);
        if (io_ok)
            diffs = refused_diff(&want, &refused, &passed, folders, n_folders, refused_path);
        entries_free(&want);
    }
    if (write_path) {
        io_ok = entries_write(&refused, write_path) && io_ok;
        printf("wrote %zu refused tests to %s\n", refused.n, write_path);
    }
    if (by_reason)
        print_by_reason(&refused);
    entries_free(&refused);
    entries_free(&passed);
    if (total_tests == 0) {
        printf("no tests found under %s\n", root);
        return 1;
    }
    return total_failed > 0 || short_folders > 0 || diffs > 0 || !io_ok || (require_all && total_unsupported > 0)
               ? 1
               : 0;
}
