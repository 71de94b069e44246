/* evaluate.c — see evaluate.h. */
#include "evaluate.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char **dup_strings(const char *const *s, size_t n)
{
    char **out = calloc(n ? n : 1, sizeof *out);
    for (size_t i = 0; out && i < n; i++) {
        if (!(out[i] = strdup(s[i]))) {
            for (size_t k = 0; k < i; k++)
                free(out[k]);
            free(out);
            return NULL;
        }
    }
    return out;
}

static void free_strings(char **s, size_t n)
{
    for (size_t i = 0; s && i < n; i++)
        free(s[i]);
    free(s);
}

int jn_eval_init(jn_eval *ev, const char *const *declared, size_t n_declared)
{
    memset(ev, 0, sizeof *ev);
    if (n_declared) {
        if (!(ev->declared = dup_strings(declared, n_declared)))
            return JN_ENOMEM;
        ev->n_declared = n_declared;
    }
    return 0;
}

void jn_eval_free(jn_eval *ev)
{
    free_strings(ev->declared, ev->n_declared);
    free_strings(ev->labels, ev->n_labels);
    free(ev->truth);
    free(ev->pred);
    free(ev->latency_ms);
    memset(ev, 0, sizeof *ev);
}

/* Index of label, added when new; (size_t)-1 on OOM. Linear: label sets are small (tens of classes). */
static size_t label_index(jn_eval *ev, const char *label)
{
    for (size_t i = 0; i < ev->n_labels; i++)
        if (strcmp(ev->labels[i], label) == 0)
            return i;
    if (ev->n_labels == ev->cap_labels) {
        size_t cap = ev->cap_labels ? ev->cap_labels * 2 : 16;
        char **grown = realloc(ev->labels, cap * sizeof *grown);
        if (!grown)
            return (size_t)-1;
        ev->labels = grown;
        ev->cap_labels = cap;
    }
    if (!(ev->labels[ev->n_labels] = strdup(label)))
        return (size_t)-1;
    return ev->n_labels++;
}

int jn_eval_add(jn_eval *ev, const char *truth, const char *pred, double latency_ms)
{
    if (ev->n == ev->cap) {
        size_t cap = ev->cap ? ev->cap * 2 : 256;
        size_t *t = realloc(ev->truth, cap * sizeof *t);
        if (!t)
            return JN_ENOMEM;
        ev->truth = t;
        size_t *p = realloc(ev->pred, cap * sizeof *p);
        if (!p)
            return JN_ENOMEM;
        ev->pred = p;
        double *l = realloc(ev->latency_ms, cap * sizeof *l);
        if (!l)
            return JN_ENOMEM;
        ev->latency_ms = l;
        ev->cap = cap;
    }
    size_t ti = label_index(ev, truth), pi = label_index(ev, pred);
    if (ti == (size_t)-1 || pi == (size_t)-1)
        return JN_ENOMEM;
    ev->truth[ev->n] = ti;
    ev->pred[ev->n] = pi;
    ev->latency_ms[ev->n] = latency_ms;
    ev->n++;
    return 0;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

double jn_eval_percentile(double *values, size_t n, double q)
{
    if (n == 0)
        return 0;
    qsort(values, n, sizeof *values, cmp_double);
    double h = (double)(n - 1) * q / 100.0;
    size_t lo = (size_t)floor(h);
    if (lo >= n - 1)
        return values[n - 1];
    return values[lo] + (h - (double)lo) * (values[lo + 1] - values[lo]);
}

static double ratio(int64_t num, int64_t den)
{
    return den ? (double)num / (double)den : 0.0;
}

static double f1_of(double p, double r)
{
    return p + r > 0 ? 2 * p * r / (p + r) : 0.0;
}

/* Report order: declared labels first (declared order), then the rest in byte order. */
typedef struct order_key {
    const jn_eval *ev;
    size_t idx;
    size_t rank; /* declared position, or n_declared for undeclared */
} order_key;

static int cmp_order(const void *a, const void *b)
{
    const order_key *x = a, *y = b;
    if (x->rank != y->rank)
        return x->rank < y->rank ? -1 : 1;
    return strcmp(x->ev->labels[x->idx], y->ev->labels[y->idx]);
}

void jn_eval_report_free(jn_eval_report *r)
{
    free_strings(r->labels, r->n_labels);
    free(r->confusion);
    free(r->per_class);
    memset(r, 0, sizeof *r);
}

int jn_eval_compute(const jn_eval *ev, jn_eval_report *r, jn_err *err)
{
    memset(r, 0, sizeof *r);
    size_t L = ev->n_labels;
    order_key *keys = calloc(L ? L : 1, sizeof *keys);
    size_t *pos = calloc(L ? L : 1, sizeof *pos); /* ev index -> report index */
    double *lat = malloc((ev->n ? ev->n : 1) * sizeof *lat);
    r->labels = calloc(L ? L : 1, sizeof *r->labels);
    r->confusion = calloc(L ? L * L : 1, sizeof *r->confusion);
    r->per_class = calloc(L ? L : 1, sizeof *r->per_class);
    int rc = keys && pos && lat && r->labels && r->confusion && r->per_class ? 0 : JN_ENOMEM;
    if (rc)
        goto out;
    r->n_labels = L;
    for (size_t i = 0; i < L; i++) {
        keys[i] = (order_key){ev, i, ev->n_declared};
        for (size_t d = 0; d < ev->n_declared; d++)
            if (strcmp(ev->declared[d], ev->labels[i]) == 0) {
                keys[i].rank = d;
                break;
            }
    }
    if (L > 1)
        qsort(keys, L, sizeof *keys, cmp_order);
    for (size_t i = 0; i < L; i++) {
        pos[keys[i].idx] = i;
        if (!(r->labels[i] = strdup(ev->labels[keys[i].idx]))) {
            rc = JN_ENOMEM;
            goto out;
        }
    }

    int64_t correct = 0;
    for (size_t k = 0; k < ev->n; k++) {
        size_t t = pos[ev->truth[k]], p = pos[ev->pred[k]];
        r->confusion[t * L + p]++;
        correct += t == p;
        lat[k] = ev->latency_ms[k];
    }
    r->examples = (int64_t)ev->n;
    r->failed = (int64_t)ev->n_failed;
    r->accuracy = ratio(correct, r->examples);

    int64_t tp_sum = 0, pred_sum = 0, true_sum = 0;
    for (size_t c = 0; c < L; c++) {
        jn_eval_class *pc = &r->per_class[c];
        int64_t tp = r->confusion[c * L + c];
        for (size_t o = 0; o < L; o++) {
            pc->support += r->confusion[c * L + o];
            pc->predicted += r->confusion[o * L + c];
        }
        pc->precision = ratio(tp, pc->predicted);
        pc->recall = ratio(tp, pc->support);
        pc->f1 = f1_of(pc->precision, pc->recall);
        r->macro.precision += pc->precision;
        r->macro.recall += pc->recall;
        r->macro.f1 += pc->f1;
        r->weighted.precision += pc->precision * (double)pc->support;
        r->weighted.recall += pc->recall * (double)pc->support;
        r->weighted.f1 += pc->f1 * (double)pc->support;
        tp_sum += tp;
        pred_sum += pc->predicted;
        true_sum += pc->support;
    }
    if (L) {
        r->macro.precision /= (double)L;
        r->macro.recall /= (double)L;
        r->macro.f1 /= (double)L;
    }
    if (true_sum) {
        r->weighted.precision /= (double)true_sum;
        r->weighted.recall /= (double)true_sum;
        r->weighted.f1 /= (double)true_sum;
    }
    r->micro.precision = ratio(tp_sum, pred_sum);
    r->micro.recall = ratio(tp_sum, true_sum);
    r->micro.f1 = f1_of(r->micro.precision, r->micro.recall);

    if (ev->n) {
        double sum = 0;
        for (size_t k = 0; k < ev->n; k++)
            sum += lat[k];
        r->latency_mean = sum / (double)ev->n;
        r->latency_p50 = jn_eval_percentile(lat, ev->n, 50);
        r->latency_p99 = jn_eval_percentile(lat, ev->n, 99);
        r->latency_max = lat[ev->n - 1];
    }
    r->throughput = ev->wall_seconds > 0 ? (double)ev->n / ev->wall_seconds : 0;
out:
    free(keys);
    free(pos);
    free(lat);
    if (rc) {
        jn_eval_report_free(r);
        return jn_err_set(err, rc, "out of memory");
    }
    return 0;
}

static json_t *avg_json(const jn_eval_avg *a)
{
    return json_pack("{s:f, s:f, s:f}", "precision", a->precision, "recall", a->recall, "f1", a->f1);
}

json_t *jn_eval_report_json(const jn_eval_report *r)
{
    size_t L = r->n_labels;
    json_t *labels = json_array(), *per_class = json_object(), *confusion = json_array();
    for (size_t c = 0; labels && per_class && confusion && c < L; c++) {
        const jn_eval_class *pc = &r->per_class[c];
        json_array_append_new(labels, json_string(r->labels[c]));
        json_object_set_new(per_class, r->labels[c],
                            json_pack("{s:f, s:f, s:f, s:I, s:I}", "precision", pc->precision, "recall", pc->recall,
                                      "f1", pc->f1, "support", (json_int_t)pc->support, "predicted",
                                      (json_int_t)pc->predicted));
        json_t *row = json_array();
        for (size_t o = 0; row && o < L; o++)
            json_array_append_new(row, json_integer((json_int_t)r->confusion[c * L + o]));
        json_array_append_new(confusion, row);
    }
    /* json_pack's "o" steals the references, also on failure. */
    return json_pack("{s:I, s:I, s:f, s:o, s:o, s:o, s:o, s:o, s:o, s:{s:f, s:f, s:f, s:f}, s:f}", "examples",
                     (json_int_t)r->examples, "failed", (json_int_t)r->failed, "accuracy", r->accuracy, "macro",
                     avg_json(&r->macro), "micro", avg_json(&r->micro), "weighted", avg_json(&r->weighted), "labels",
                     labels, "per_class", per_class, "confusion", confusion, "latency_ms", "p50", r->latency_p50,
                     "p99", r->latency_p99, "mean", r->latency_mean, "max", r->latency_max, "throughput",
                     r->throughput);
}

/* A growable string. */
typedef struct sbuf {
    char *s;
    size_t len, cap;
    int oom;
} sbuf;

__attribute__((format(printf, 2, 3))) static void sb_printf(sbuf *b, const char *fmt, ...)
{
    if (b->oom)
        return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(b->s ? b->s + b->len : NULL, b->s ? b->cap - b->len : 0, fmt, ap);
        va_end(ap);
        if (n < 0) {
            b->oom = 1;
            return;
        }
        if (b->s && b->len + (size_t)n < b->cap) {
            b->len += (size_t)n;
            return;
        }
        size_t cap = (b->cap ? b->cap * 2 : 1024) + (size_t)n;
        char *grown = realloc(b->s, cap);
        if (!grown) {
            b->oom = 1;
            return;
        }
        b->s = grown;
        b->cap = cap;
    }
}

char *jn_eval_report_table(const jn_eval_report *r)
{
    sbuf b = {0};
    size_t L = r->n_labels;
    int w = 9;
    for (size_t c = 0; c < L; c++)
        if ((int)strlen(r->labels[c]) > w)
            w = (int)strlen(r->labels[c]);
    if (w > 32)
        w = 32;
    sb_printf(&b, "examples %lld (failed %lld)   accuracy %.4f\n", (long long)r->examples, (long long)r->failed,
              r->accuracy);
    sb_printf(&b, "latency ms: p50 %.3f  p99 %.3f  mean %.3f  max %.3f   throughput %.1f/s\n\n", r->latency_p50,
              r->latency_p99, r->latency_mean, r->latency_max, r->throughput);
    sb_printf(&b, "%-*s  %9s  %9s  %9s  %9s\n", w, "class", "precision", "recall", "f1", "support");
    for (size_t c = 0; c < L; c++) {
        const jn_eval_class *pc = &r->per_class[c];
        sb_printf(&b, "%-*.*s  %9.4f  %9.4f  %9.4f  %9lld\n", w, w, r->labels[c], pc->precision, pc->recall, pc->f1,
                  (long long)pc->support);
    }
    sb_printf(&b, "\n%-*s  %9.4f  %9.4f  %9.4f  %9lld\n", w, "macro", r->macro.precision, r->macro.recall,
              r->macro.f1, (long long)r->examples);
    sb_printf(&b, "%-*s  %9.4f  %9.4f  %9.4f  %9lld\n", w, "micro", r->micro.precision, r->micro.recall,
              r->micro.f1, (long long)r->examples);
    sb_printf(&b, "%-*s  %9.4f  %9.4f  %9.4f  %9lld\n", w, "weighted", r->weighted.precision, r->weighted.recall,
              r->weighted.f1, (long long)r->examples);
    sb_printf(&b, "\nconfusion (rows = true, columns = predicted, in class order):\n");
    int cw = 4;
    for (size_t k = 0; k < L * L; k++) {
        int d = snprintf(NULL, 0, "%lld", (long long)r->confusion[k]);
        if (d + 1 > cw)
            cw = d + 1;
    }
    for (size_t c = 0; c < L; c++) {
        sb_printf(&b, "%-*.*s ", w, w, r->labels[c]);
        for (size_t o = 0; o < L; o++)
            sb_printf(&b, "%*lld", cw, (long long)r->confusion[c * L + o]);
        sb_printf(&b, "\n");
    }
    if (b.oom || !b.s) {
        free(b.s);
        return NULL;
    }
    return b.s;
}

uint8_t *jn_eval_heatmap_rgb(const jn_eval_report *r, int cell_px, int *width, int *height)
{
    size_t L = r->n_labels;
    if (L == 0 || cell_px <= 0 || L > 4096 || cell_px > 256)
        return NULL;
    size_t side = L * (size_t)cell_px;
    uint8_t *px = malloc(side * side * 3);
    if (!px)
        return NULL;
    for (size_t c = 0; c < L; c++) {
        int64_t row = 0;
        for (size_t o = 0; o < L; o++)
            row += r->confusion[c * L + o];
        for (size_t o = 0; o < L; o++) {
            double v = row ? (double)r->confusion[c * L + o] / (double)row : 0.0;
            /* white -> (8, 48, 107), the dark end of matplotlib's "Blues" */
            uint8_t rgb[3] = {(uint8_t)lround(255 - v * (255 - 8)), (uint8_t)lround(255 - v * (255 - 48)),
                              (uint8_t)lround(255 - v * (255 - 107))};
            for (size_t y = c * (size_t)cell_px; y < (c + 1) * (size_t)cell_px; y++)
                for (size_t x = o * (size_t)cell_px; x < (o + 1) * (size_t)cell_px; x++)
                    memcpy(px + (y * side + x) * 3, rgb, 3);
        }
    }
    *width = *height = (int)side;
    return px;
}

/* Predictions ---------------------------------------------------------------------------------------------------- */

const jn_port *jn_eval_target_port(const jn_signature *sig)
{
    for (size_t i = 0; i < sig->n_outputs; i++)
        if (sig->outputs[i].kind == JN_KIND_CLASSIFICATION && sig->outputs[i].n_labels)
            return &sig->outputs[i];
    for (size_t i = 0; i < sig->n_outputs; i++)
        if (sig->outputs[i].kind == JN_KIND_TEXT)
            return &sig->outputs[i];
    return NULL;
}

int jn_eval_prediction(const jn_port *port, const jn_tensor *t, char **out, jn_err *err)
{
    *out = NULL;
    if (port->kind == JN_KIND_CLASSIFICATION) {
        if (t->dtype != JN_DTYPE_FP32 || t->ndim < 1)
            return jn_err_set(err, JN_EINVAL, "output '%s': CLASSIFICATION scores must be FP32, got %s", port->name,
                              jn_dtype_name(t->dtype));
        int64_t n = t->shape[t->ndim - 1];
        if (n <= 0 || (size_t)n != port->n_labels || t->byte_size < (size_t)n * sizeof(float))
            return jn_err_set(err, JN_EINVAL, "output '%s': %lld scores for %zu labels", port->name, (long long)n,
                              port->n_labels);
        const float *s = t->data;
        int64_t best = 0;
        for (int64_t i = 1; i < n; i++)
            if (s[i] > s[best])
                best = i;
        *out = strdup(port->labels[best]);
        return *out ? 0 : jn_err_set(err, JN_ENOMEM, "out of memory");
    }
    if (t->dtype != JN_DTYPE_BYTES)
        return jn_err_set(err, JN_EINVAL, "output '%s': TEXT must be BYTES", port->name);
    sbuf b = {0};
    sb_printf(&b, "%s", "");
    size_t pos = 0;
    const uint8_t *elem;
    uint32_t len;
    for (int k = 0; jn_bytes_next(t->data, t->byte_size, &pos, &elem, &len); k++)
        sb_printf(&b, "%s%.*s", k ? " " : "", (int)len, (const char *)elem);
    if (b.oom) {
        free(b.s);
        return jn_err_set(err, JN_ENOMEM, "out of memory");
    }
    *out = b.s;
    return 0;
}

int jn_eval_run_example(jn_registry *reg, jn_request *req, const atomic_int *cancelled, jn_workpool *pool,
                        char **pred, double *latency_ms, jn_err *err)
{
    *pred = NULL;
    *latency_ms = 0;
    int64_t t0 = jn_now_ns();
    jn_engine *e = jn_registry_get(reg, req->model, req->version, err);
    if (!e)
        return err->code;
    const jn_port *port = jn_eval_target_port(&e->sig);
    if (!port) {
        int rc = jn_err_set(err, JN_EINVAL,
                            "model '%s' has no CLASSIFICATION output with labels and no TEXT output to evaluate",
                            e->name);
        jn_engine_unref(e);
        return rc;
    }
    int rc = 0;
    if (req->n_outputs == 0 && jn_request_add_output(req, port->name))
        rc = jn_err_set(err, JN_ENOMEM, "out of memory");
    jn_engine *run = NULL;
    jn_tensor_list outputs;
    jn_tensor_list_init(&outputs);
    if (!rc)
        rc = jn_exec_prepare(reg, req, &run, err);
    if (!rc)
        rc = jn_exec_run(run, req, cancelled, pool, &outputs, err);
    int64_t t1 = jn_now_ns();
    if (!rc) {
        const jn_tensor *t = jn_tensor_list_find(&outputs, port->name);
        rc = t ? jn_eval_prediction(port, t, pred, err)
               : jn_err_set(err, JN_EINTERNAL, "model '%s' did not produce '%s'", e->name, port->name);
    }
    *latency_ms = (double)(t1 - t0) / 1e6;
    jn_tensor_list_clear(&outputs);
    if (run)
        jn_engine_unref(run);
    jn_engine_unref(e);
    return rc;
}
