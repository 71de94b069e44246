/* model_cmd.c — `junction model inspect FILE.onnx [--json]`: what serving the model would do, without serving it
 * (signature, opset imports, operator histogram, every refused node and why), through the ONNX adapter's
 * jn_onnx_inspect; and `junction model operators [--readme]`: the operators the adapter implements, from its own
 * table (--readme prints the README's generated block, scripts/gen-operator-list.sh puts it there).
 *
 * Exit status: 0 the model would load, 1 something is refused, 2 bad usage or a file that cannot be read or parsed.
 * Single-threaded; everything it allocates is freed before it returns.
 */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "onnx.h"
#include "onnx_text.h"
#include "signature.h"

static void model_usage(FILE *to)
{
    fprintf(to,
            "usage: junction model inspect [--json] FILE.onnx | FOLDER\n"
            "       junction model operators [--readme]\n"
            "\n"
            "inspect: reads an ONNX model the way `junction serve --models DIR` would and prints, without serving\n"
            "it, the signature it would be served with (inputs and outputs: kind, dtype, shape, -1 for symbolic\n"
            "dims), the opset imports, the operators it uses (counts, with the domain when not the default) and\n"
            "every node that would be refused, with the reason. A node reading a refused node's output is checked\n"
            "as far as its unknown input dtypes allow and listed as unchecked.\n"
            "  --json      the same as one JSON object (see README, \"junction model inspect\")\n"
            "A text model FOLDER (model.onnx + tokenizer.json [+ config.json]) is loaded as serve would load it\n"
            "and the pipeline built printed: tokenizer -> model -> head (README, \"Text models from a folder\").\n"
            "\n"
            "operators: the operators the ONNX adapter implements, per domain, from its own table.\n"
            "  --readme    the README's generated block (scripts/gen-operator-list.sh writes it there)\n"
            "\n"
            "Exit status: 0 the model would load, 1 something is refused, 2 bad usage or a file that cannot be read\n"
            "or parsed.\n");
}

#define usage_error(...) jn_cli_usage_error("junction model", model_usage, __VA_ARGS__)

/* The whole file; NULL with a message naming it on stderr. */
static uint8_t *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "junction model inspect: %s: cannot open: %s\n", path, strerror(errno));
        return NULL;
    }
    uint8_t *buf = NULL;
    size_t n = 0, cap = 0;
    for (;;) {
        if (n == cap) {
            cap = cap ? cap * 2 : 1 << 16;
            uint8_t *grown = realloc(buf, cap);
            if (!grown) {
                fprintf(stderr, "junction model inspect: %s: out of memory\n", path);
                free(buf);
                fclose(f);
                return NULL;
            }
            buf = grown;
        }
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (got == 0)
            break;
    }
    if (ferror(f)) {
        fprintf(stderr, "junction model inspect: %s: read error: %s\n", path, strerror(errno));
        free(buf);
        fclose(f);
        return NULL;
    }
    fclose(f);
    *len = n;
    return buf;
}

static const char *domain_name(const char *d)
{
    return d && d[0] ? d : "ai.onnx";
}

static void print_port(const char *dir, const jn_port *p)
{
    printf("  %-6s %s: %s %s [", dir, p->name, jn_kind_name(p->kind), jn_dtype_name(p->dtype));
    for (int i = 0; i < p->ndim; i++)
        printf("%s%lld", i ? ", " : "", (long long)p->shape[i]);
    printf("]\n");
}

static void print_refusals(const char *title, const jn_onnx_refusal *r, size_t n)
{
    if (!n)
        return;
    printf("%s (%zu):\n", title, n);
    for (size_t i = 0; i < n; i++) {
        if (!r[i].op_type)
            printf("  model: %s\n", r[i].reason);
        else if (r[i].domain[0])
            printf("  %s %s (node '%s'): %s\n", r[i].domain, r[i].op_type, r[i].node, r[i].reason);
        else
            printf("  %s (node '%s'): %s\n", r[i].op_type, r[i].node, r[i].reason);
    }
}

static void print_text(const char *file, const jn_onnx_report *rep)
{
    printf("model: %s\n", file);
    printf("ir_version: %lld\n", (long long)rep->ir_version);
    if (rep->producer && rep->producer[0])
        printf("producer: %s\n", rep->producer);
    printf("opsets:");
    for (size_t i = 0; i < rep->n_opsets; i++)
        printf("%s %s %lld", i ? "," : "", domain_name(rep->opsets[i].domain), (long long)rep->opsets[i].version);
    printf("%s\n", rep->n_opsets ? "" : " (none)");
    printf("signature%s:\n", rep->loads ? "" : " (as declared; the model is refused)");
    for (size_t i = 0; i < rep->sig.n_inputs; i++)
        print_port("input", &rep->sig.inputs[i]);
    for (size_t i = 0; i < rep->sig.n_outputs; i++)
        print_port("output", &rep->sig.outputs[i]);
    printf("operators (%zu nodes):\n", rep->n_nodes);
    for (size_t i = 0; i < rep->n_ops; i++) {
        char name[300];
        snprintf(name, sizeof name, "%s%s%s", rep->ops[i].domain, rep->ops[i].domain[0] ? " " : "",
                 rep->ops[i].op_type);
        printf("  %-28s %zu\n", name, rep->ops[i].count);
    }
    print_refusals("refused", rep->refused, rep->n_refused);
    print_refusals("unchecked (downstream of a refused node)", rep->unchecked, rep->n_unchecked);
    if (rep->loads)
        printf("result: loads\n");
    else
        printf("result: refused (%zu refused, %zu unchecked)\n", rep->n_refused, rep->n_unchecked);
}

/* ---------------------------------------------------------------------------------------------------------------
 * JSON (jansson). json_pack fails on a NULL member; push() notes any failure in *ok, so an out-of-memory anywhere
 * fails the whole report instead of leaving an element out. */

static void push(json_t *array, json_t *v, bool *ok)
{
    if (!v || json_array_append_new(array, v))
        *ok = false;
}

/* A JSON string from a name in the file: protobuf-c does not check that ONNX's strings are UTF-8, jansson refuses
 * those that are not, so each invalid byte becomes '?' (NULL stays JSON null). */
static json_t *jstr(const char *s)
{
    if (!s)
        return json_null();
    size_t n = strlen(s), bad;
    if (jn_utf8_valid((const uint8_t *)s, n, &bad))
        return json_string(s);
    char *copy = strdup(s);
    if (!copy)
        return NULL;
    size_t at = 0;
    while (!jn_utf8_valid((const uint8_t *)copy + at, n - at, &bad)) {
        copy[at + bad] = '?';
        at += bad + 1;
    }
    json_t *j = json_string(copy);
    free(copy);
    return j;
}

static json_t *ports_json(const jn_port *ports, size_t n, bool *ok)
{
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++) {
        json_t *shape = json_array();
        for (int d = 0; d < ports[i].ndim; d++)
            push(shape, json_integer(ports[i].shape[d]), ok);
        push(a,
             json_pack("{s:o, s:s, s:s, s:o}", "name", jstr(ports[i].name), "kind", jn_kind_name(ports[i].kind),
                       "dtype", jn_dtype_name(ports[i].dtype), "shape", shape),
             ok);
    }
    return a;
}

static json_t *refusals_json(const jn_onnx_refusal *r, size_t n, bool *ok)
{
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++)
        push(a,
             json_pack("{s:o, s:o, s:o, s:o}", "op_type", jstr(r[i].op_type), "domain", jstr(r[i].domain), "node",
                       jstr(r[i].node), "reason", jstr(r[i].reason)),
             ok);
    return a;
}

static int print_json(const char *file, const jn_onnx_report *rep)
{
    bool ok = true;
    json_t *opsets = json_array(), *ops = json_array();
    for (size_t i = 0; i < rep->n_opsets; i++)
        push(opsets,
             json_pack("{s:o, s:I}", "domain", jstr(rep->opsets[i].domain), "version",
                       (json_int_t)rep->opsets[i].version),
             &ok);
    for (size_t i = 0; i < rep->n_ops; i++)
        push(ops,
             json_pack("{s:o, s:o, s:I}", "domain", jstr(rep->ops[i].domain), "op_type", jstr(rep->ops[i].op_type),
                       "count", (json_int_t)rep->ops[i].count),
             &ok);
    json_t *o = json_pack("{s:o, s:b, s:I, s:o, s:o, s:o, s:o, s:I, s:o, s:o, s:o}", "file", jstr(file), "loads",
                          rep->loads, "ir_version", (json_int_t)rep->ir_version, "producer",
                          jstr(rep->producer ? rep->producer : ""), "inputs",
                          ports_json(rep->sig.inputs, rep->sig.n_inputs, &ok), "outputs",
                          ports_json(rep->sig.outputs, rep->sig.n_outputs, &ok), "opsets", opsets, "nodes",
                          (json_int_t)rep->n_nodes, "operators", ops, "refused",
                          refusals_json(rep->refused, rep->n_refused, &ok), "unchecked",
                          refusals_json(rep->unchecked, rep->n_unchecked, &ok));
    char *text = o && ok ? json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;
    json_decref(o);
    if (!text) {
        fprintf(stderr, "junction model inspect: %s: cannot build the JSON report (out of memory)\n", file);
        return -1;
    }
    puts(text);
    free(text);
    return 0;
}

/* A text model folder (model.onnx + tokenizer.json, adapters/onnx/onnx_text.h): loaded as `serve --models` would
 * load it, and the pipeline it builds printed (or refused, with the message naming the file and field). */
static int inspect_folder(const char *dir, bool json)
{
    char parent[4096], name[256];
    snprintf(parent, sizeof parent, "%s", dir);
    size_t n = strlen(parent);
    while (n > 1 && parent[n - 1] == '/')
        parent[--n] = '\0';
    char *slash = strrchr(parent, '/');
    snprintf(name, sizeof name, "%s", slash ? slash + 1 : parent);
    if (slash)
        *(slash == parent ? slash + 1 : slash) = '\0';
    else
        snprintf(parent, sizeof parent, ".");
    char tok[4400];
    snprintf(tok, sizeof tok, "%s/%s/tokenizer.json", parent, name);
    struct stat st;
    if (stat(tok, &st) != 0) {
        fprintf(stderr, "junction model inspect: %s is a directory without tokenizer.json: give the .onnx file, or a "
                        "text model folder (model.onnx + tokenizer.json)\n", dir);
        return JN_CLI_EXIT_USAGE;
    }
    jn_err err;
    jn_err_clear(&err);
    jn_model_config serving;
    memset(&serving, 0, sizeof serving);
    jn_engine *e = jn_onnx_model_loader(parent, name, NULL, NULL, 0, &serving, &err);
    if (!e) {
        fprintf(stderr, "junction model inspect: %s\n", err.msg);
        return JN_CLI_EXIT_FAIL;
    }
    const char *pipeline = jn_onnx_text_describe(e);
    if (json) {
        json_t *o = json_pack("{s:s, s:s, s:s?}", "folder", dir, "kind", "text model", "pipeline", pipeline);
        char *text = o ? json_dumps(o, JSON_INDENT(2)) : NULL;
        if (text)
            printf("%s\n", text);
        free(text);
        json_decref(o);
    } else {
        printf("%s: text model folder, served as\n%s", dir, pipeline ? pipeline : "(not a text model)\n");
        printf("result: loads\n");
    }
    jn_engine_unref(e);
    return JN_CLI_EXIT_OK;
}

static int cmd_inspect(int argc, char **argv)
{
    bool json = false;
    const char *file = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0)
            json = true;
        else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            model_usage(stdout);
            return JN_CLI_EXIT_OK;
        } else if (argv[i][0] == '-' && argv[i][1])
            return usage_error("unknown option '%s'", argv[i]);
        else if (file)
            return usage_error("one model at a time ('%s' and '%s')", file, argv[i]);
        else
            file = argv[i];
    }
    if (!file)
        return usage_error("inspect needs a model file");
    struct stat st;
    if (stat(file, &st) == 0 && S_ISDIR(st.st_mode))
        return inspect_folder(file, json);
    size_t len = 0;
    uint8_t *data = read_file(file, &len);
    if (!data)
        return JN_CLI_EXIT_USAGE;
    jn_onnx_report rep;
    jn_err err;
    jn_err_clear(&err);
    int rc = jn_onnx_inspect(data, len, file, &rep, &err);
    free(data);
    if (rc) {
        fprintf(stderr, "junction model inspect: %s\n", err.msg);
        jn_onnx_report_free(&rep);
        return rc == JN_EINVAL ? JN_CLI_EXIT_USAGE : JN_CLI_EXIT_FAIL;
    }
    int status = rep.loads ? JN_CLI_EXIT_OK : JN_CLI_EXIT_FAIL;
    if (json) {
        if (print_json(file, &rep))
            status = JN_CLI_EXIT_FAIL;
    } else {
        print_text(file, &rep);
    }
    jn_onnx_report_free(&rep);
    if (fflush(stdout) != 0 || ferror(stdout)) {
        fprintf(stderr, "junction model inspect: cannot write the report: %s\n", strerror(errno));
        return JN_CLI_EXIT_FAIL;
    }
    return status;
}

/* ---------------------------------------------------------------------------------------------------------------
 * The operator list */

typedef struct op_list {
    char domain[64];
    const char *ops[1024];
    size_t n;
    bool readme;
} op_list;

#define README_WIDTH 116

static void flush_domain(op_list *l)
{
    if (!l->n)
        return;
    if (!l->readme) {
        for (size_t i = 0; i < l->n; i++)
            printf("%s %s\n", domain_name(l->domain), l->ops[i]);
    } else {
        char head[128];
        if (l->domain[0])
            snprintf(head, sizeof head, "Operators of `%s` (%zu):", l->domain, l->n);
        else
            snprintf(head, sizeof head, "Operators of the default domain (%zu):", l->n);
        fputs(head, stdout);
        size_t col = strlen(head);
        for (size_t i = 0; i < l->n; i++) {
            size_t w = strlen(l->ops[i]) + 1 + 1; /* the name, its comma or full stop, the space before */
            if (col + w > README_WIDTH) {
                fputc('\n', stdout);
                col = 0;
            } else {
                fputc(' ', stdout);
                col++;
            }
            printf("%s%c", l->ops[i], i + 1 < l->n ? ',' : '.');
            col += w - 1;
        }
        fputc('\n', stdout);
    }
    l->n = 0;
}

static void list_op(void *ctx, const char *domain, const char *op_type)
{
    op_list *l = ctx;
    if (strcmp(l->domain, domain) != 0) {
        flush_domain(l);
        snprintf(l->domain, sizeof l->domain, "%s", domain);
    }
    if (l->n == sizeof l->ops / sizeof l->ops[0])
        flush_domain(l); /* not reached with today's tables; keeps the array bounded */
    l->ops[l->n++] = op_type;
}

static int cmd_operators(int argc, char **argv)
{
    op_list l = {.domain = ""};
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--readme") == 0)
            l.readme = true;
        else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            model_usage(stdout);
            return JN_CLI_EXIT_OK;
        } else
            return usage_error("operators: unknown argument '%s'", argv[i]);
    }
    if (l.readme)
        printf("<!-- operators:begin (generated from the adapter's table by scripts/gen-operator-list.sh; do not "
               "edit) -->\n");
    jn_onnx_operators(list_op, &l);
    flush_domain(&l);
    if (l.readme)
        printf("<!-- operators:end -->\n");
    if (fflush(stdout) != 0 || ferror(stdout)) {
        fprintf(stderr, "junction model operators: cannot write the list: %s\n", strerror(errno));
        return JN_CLI_EXIT_FAIL;
    }
    return JN_CLI_EXIT_OK;
}

int jn_cmd_model(int argc, char **argv)
{
    if (argc < 2)
        return usage_error("a sub-command is needed: inspect or operators");
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "help") == 0) {
        model_usage(stdout);
        return JN_CLI_EXIT_OK;
    }
    if (strcmp(argv[1], "inspect") == 0)
        return cmd_inspect(argc - 1, argv + 1);
    if (strcmp(argv[1], "operators") == 0)
        return cmd_operators(argc - 1, argv + 1);
    return usage_error("unknown sub-command '%s' (inspect or operators)", argv[1]);
}
