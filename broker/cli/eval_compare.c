/* eval_compare.c — `junction eval`: model files (.onnx, .safetensors) and the side by side report of --compare
 * (eval_compare.h). */
#include "eval_compare.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <jansson.h>

#include "../../engines/builtin.h"
#include "eval_data.h"
#include "onnx.h"

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n > k && strcmp(s + n - k, suffix) == 0;
}

bool jn__eval_is_file(const char *arg)
{
    return ends_with(arg, ".onnx") || ends_with(arg, ".safetensors");
}

long long jn__eval_size_on_disk(const char *arg)
{
    struct stat st;
    if (!jn__eval_is_file(arg) || stat(arg, &st) != 0)
        return -1;
    return (long long)st.st_size;
}

/* The ONNX model's classification output gets labels: fallback's when it has K, else "0".."K-1". */
static int label_onnx_output(jn_engine *e, const jn_port *fallback, jn_err *err)
{
    if (jn_eval_target_port(&e->sig))
        return 0;
    jn_port *port = NULL;
    for (size_t i = 0; i < e->sig.n_outputs; i++) {
        jn_port *p = &e->sig.outputs[i];
        if (p->dtype == JN_DTYPE_FP32 && p->ndim >= 1 && p->shape[p->ndim - 1] > 1) {
            if (port)
                return jn_err_set(err, JN_EINVAL, "more than one FP32 output ('%s', '%s'): cannot tell which one "
                                                  "holds the class scores", port->name, p->name);
            port = p;
        }
    }
    if (!port)
        return jn_err_set(err, JN_EINVAL, "no FP32 output [.., K] of class scores to evaluate");
    int64_t k = port->shape[port->ndim - 1];
    if (fallback && fallback->n_labels == (size_t)k) {
        int rc = jn_port_set_labels(port, (const char *const *)fallback->labels, (size_t)k, err);
        if (!rc)
            port->kind = JN_KIND_CLASSIFICATION;
        return rc;
    }
    char **names = calloc((size_t)k, sizeof *names);
    int rc = names ? 0 : jn_err_set(err, JN_ENOMEM, "out of memory");
    for (int64_t i = 0; !rc && i < k; i++) {
        char num[24];
        snprintf(num, sizeof num, "%lld", (long long)i);
        if (!(names[i] = strdup(num)))
            rc = jn_err_set(err, JN_ENOMEM, "out of memory");
    }
    if (!rc)
        rc = jn_port_set_labels(port, (const char *const *)names, (size_t)k, err);
    if (!rc)
        port->kind = JN_KIND_CLASSIFICATION;
    for (int64_t i = 0; names && i < k; i++)
        free(names[i]);
    free(names);
    return rc;
}

int jn__eval_register_file(jn_registry *reg, const char *arg, const jn_port *fallback)
{
    jn_err err;
    jn_err_clear(&err);
    jn_engine *e = NULL;
    if (ends_with(arg, ".safetensors")) {
        e = jn_fashion_cnn_create_from(arg, arg, &err);
    } else {
        jn_onnx_model *m = jn_onnx_load_file(arg, &err);
        if (m && !(e = jn_onnx_engine_create(arg, "1", m, &err)))
            jn_onnx_free(m);
        if (e && label_onnx_output(e, fallback, &err)) {
            jn_engine_unref(e);
            e = NULL;
        }
    }
    if (!e || jn_registry_add(reg, e, &err))
        return jn__eval_fail("model file '%s': %s", arg, err.msg);
    return 0;
}

static void print_row(const char *what, double a, double b, const char *fmt)
{
    char sa[32], sb[32], sd[32];
    snprintf(sa, sizeof sa, fmt, a);
    snprintf(sb, sizeof sb, fmt, b);
    snprintf(sd, sizeof sd, fmt, b - a);
    if (sd[0] != '-') { /* an explicit sign on the difference */
        memmove(sd + 1, sd, strlen(sd) + 1);
        sd[0] = '+';
    }
    printf("%-18s %16s %16s %16s\n", what, sa, sb, sd);
}

static json_t *num_or_null(long long v)
{
    return v >= 0 ? json_integer(v) : json_null();
}

int jn__eval_compare_print(const char *a, const char *b, const jn_eval_report *ra, const jn_eval_report *rb,
                           long long size_a, long long size_b, bool json)
{
    if (json) {
        json_t *diff = json_pack("{s:f, s:f, s:f, s:f, s:f}", "accuracy", rb->accuracy - ra->accuracy, "macro_f1",
                                 rb->macro.f1 - ra->macro.f1, "latency_p50_ms", rb->latency_p50 - ra->latency_p50,
                                 "latency_p99_ms", rb->latency_p99 - ra->latency_p99, "throughput",
                                 rb->throughput - ra->throughput);
        if (diff && size_a >= 0 && size_b >= 0) {
            json_object_set_new(diff, "size_bytes", json_integer(size_b - size_a));
            json_object_set_new(diff, "size_ratio", json_real(size_a > 0 ? (double)size_b / (double)size_a : 0));
        }
        json_t *j = json_pack("{s:s, s:s, s:o, s:o, s:o, s:o, s:o}", "model_a", a, "model_b", b, "a",
                              jn_eval_report_json(ra), "b", jn_eval_report_json(rb), "size_a", num_or_null(size_a),
                              "size_b", num_or_null(size_b), "difference", diff ? diff : json_null());
        int bad = !j || json_dumpf(j, stdout, JSON_INDENT(1) | JSON_REAL_PRECISION(17)) != 0;
        json_decref(j);
        fputc('\n', stdout);
        return bad ? jn__eval_fail("cannot print the report") : 0;
    }
    printf("%-18s %16s %16s %16s\n", "", "A", "B", "B - A");
    printf("A: %s\nB: %s\n", a, b);
    printf("%-18s %16lld %16lld %+16lld\n", "examples", (long long)ra->examples, (long long)rb->examples,
           (long long)(rb->examples - ra->examples));
    printf("%-18s %16lld %16lld %+16lld\n", "failed", (long long)ra->failed, (long long)rb->failed,
           (long long)(rb->failed - ra->failed));
    print_row("accuracy", ra->accuracy, rb->accuracy, "%.4f");
    print_row("macro F1", ra->macro.f1, rb->macro.f1, "%.4f");
    print_row("latency p50 ms", ra->latency_p50, rb->latency_p50, "%.3f");
    print_row("latency p99 ms", ra->latency_p99, rb->latency_p99, "%.3f");
    print_row("throughput /s", ra->throughput, rb->throughput, "%.1f");
    if (size_a >= 0 && size_b >= 0) {
        char ratio[32];
        snprintf(ratio, sizeof ratio, "x%.3f", size_a > 0 ? (double)size_b / (double)size_a : 0.0);
        printf("%-18s %16lld %16lld %16s\n", "size bytes", size_a, size_b, ratio);
    } else {
        char sa[32] = "-", sb[32] = "-";
        if (size_a >= 0)
            snprintf(sa, sizeof sa, "%lld", size_a);
        if (size_b >= 0)
            snprintf(sb, sizeof sb, "%lld", size_b);
        printf("%-18s %16s %16s %16s\n", "size bytes", sa, sb, "-");
    }
    if (fflush(stdout) != 0 || ferror(stdout))
        return jn__eval_fail("cannot write the report: %s", strerror(errno));
    return 0;
}
