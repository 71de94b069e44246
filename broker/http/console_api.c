/* console_api.c — the JSON documents the web console draws (console.h): a model with its latency percentiles and
 * rate, and a pipeline as a graph (steps, ports, edges with the conversions from the compiled plan, per-step
 * latency). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "console.h"
#include "metrics.h"
#include "pipeline.h"

double jn_console_percentile_ms(const uint64_t *counts, size_t n_buckets, double q)
{
    const int64_t *bounds = jn_metrics_bounds_ns();
    uint64_t total = 0;
    for (size_t b = 0; b < n_buckets; b++)
        total += counts[b];
    if (total == 0)
        return -1;
    double rank = q * (double)total, seen = 0;
    for (size_t b = 0; b < n_buckets; b++) {
        if (counts[b] == 0 || seen + (double)counts[b] < rank) {
            seen += (double)counts[b];
            continue;
        }
        if (b >= JN_METRICS_N_BOUNDS) /* the unbounded bucket: its lower bound, as histogram_quantile does */
            return (double)bounds[JN_METRICS_N_BOUNDS - 1] / 1e6;
        double lo = b == 0 ? 0 : (double)bounds[b - 1], hi = (double)bounds[b];
        return (lo + (hi - lo) * (rank - seen) / (double)counts[b]) / 1e6;
    }
    return (double)bounds[JN_METRICS_N_BOUNDS - 1] / 1e6;
}

static json_t *number_or_null(double v)
{
    return v < 0 || !isfinite(v) ? json_null() : json_real(v);
}

/* {"p50", "p90", "p99", "mean"} in ms (null when nothing was recorded), "count". */
static json_t *latency_json(const jn_metrics_hist *h)
{
    uint64_t n = 0;
    for (size_t b = 0; b <= JN_METRICS_N_BOUNDS; b++)
        n += h->count[b];
    return json_pack("{s:o, s:o, s:o, s:o, s:I}", "p50", number_or_null(jn_console_percentile_ms(h->count, JN_METRICS_N_BOUNDS + 1, 0.5)),
                     "p90", number_or_null(jn_console_percentile_ms(h->count, JN_METRICS_N_BOUNDS + 1, 0.9)), "p99",
                     number_or_null(jn_console_percentile_ms(h->count, JN_METRICS_N_BOUNDS + 1, 0.99)), "mean",
                     number_or_null(n ? (double)h->sum_ns / (double)n / 1e6 : -1), "count", (json_int_t)n);
}

json_t *jn_console_model_json(const jn_engine *e, double rate_per_s)
{
    json_t *info = jn_rest_model_info(e);
    if (!info)
        return NULL;
    jn_metrics_model_view v;
    jn_metrics_model_view_get(e->name, &v);
    if (json_object_set_new(info, "latency_ms", latency_json(&v.total)) ||
        json_object_set_new(info, "requests", json_pack("{s:I, s:I, s:I}", "ok", (json_int_t)v.ok, "failed",
                                                        (json_int_t)v.failed, "in_flight", (json_int_t)v.in_flight)) ||
        json_object_set_new(info, "rate_per_s", number_or_null(rate_per_s)) ||
        json_object_set_new(info, "pipeline", json_boolean(jn_engine_is_pipeline(e)))) {
        json_decref(info);
        return NULL;
    }
    return info;
}

/* ---- pipeline graphs ---- */

/* The conversions the plan lists for input `port` of step `id` ("  N. step 'id' (model 'm') ..." then
 * "       port <- source | conv to TYPE | ..."): a JSON array of the " | "-separated parts, [] when none. */
static json_t *conversions_of(const char *plan, const char *id, const char *port)
{
    json_t *list = json_array();
    if (!plan || !list)
        return list;
    char head[300];
    snprintf(head, sizeof head, ". step '%s' (model '", id);
    bool in_step = false;
    for (const char *line = plan; *line;) {
        const char *eol = strchr(line, '\n');
        size_t n = eol ? (size_t)(eol - line) : strlen(line);
        if (n > 4 && line[0] == ' ' && line[1] == ' ' && line[2] != ' ') {
            /* a step (or input/output) line */
            const char *hit = strstr(line, head);
            in_step = hit && hit < line + n;
        } else if (in_step && n > 7 && strncmp(line, "       ", 7) == 0) {
            const char *p = line + 7;
            size_t pl = strlen(port);
            if (strncmp(p, port, pl) == 0 && strncmp(p + pl, " <- ", 4) == 0) {
                const char *bar = p;
                while ((bar = strstr(bar, " | ")) && bar < line + n) {
                    bar += 3;
                    const char *next = strstr(bar, " | ");
                    const char *end = next && next < line + n ? next : line + n;
                    json_array_append_new(list, json_stringn_nocheck(bar, (size_t)(end - bar)));
                }
                return list;
            }
        }
        line += n + (eol ? 1 : 0);
    }
    return list;
}

static json_t *port_type_json(const jn_port *p)
{
    json_t *shape = json_array();
    for (int k = 0; shape && k < p->ndim; k++)
        json_array_append_new(shape, json_integer(p->shape[k]));
    return json_pack("{s:o, s:s, s:s, s:o}", "name", jn__json_text(p->name), "kind", jn_kind_name(p->kind),
                     "datatype", jn_dtype_name(p->dtype), "shape", shape);
}

static json_t *ports_json(const jn_port *ports, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; a && i < n; i++)
        json_array_append_new(a, port_type_json(&ports[i]));
    return a;
}

/* A binding's source "step.port" or a pipeline input "x": {"step": id or null, "port"}. */
static json_t *source_json(const jn_pipeline_spec *spec, const char *from)
{
    const char *dot = strchr(from, '.');
    if (dot) {
        for (size_t i = 0; i < spec->n_steps; i++) {
            size_t n = strlen(spec->steps[i].id);
            if ((size_t)(dot - from) == n && strncmp(from, spec->steps[i].id, n) == 0)
                return json_pack("{s:o, s:o}", "step", jn__json_text(spec->steps[i].id), "port",
                                 jn__json_text(dot + 1));
        }
    }
    return json_pack("{s:n, s:o}", "step", "port", jn__json_text(from));
}

json_t *jn_console_pipeline_json(jn_registry *reg, const jn_engine *e)
{
    const jn_pipeline_spec *spec = jn_pipeline_spec_of(e);
    if (!spec)
        return NULL;
    char *plan = jn_pipeline_plan_text(e);
    json_t *steps = json_array(), *edges = json_array(), *outputs = json_array();
    for (size_t i = 0; steps && edges && i < spec->n_steps; i++) {
        const jn_step_spec *st = &spec->steps[i];
        jn_err err;
        jn_err_clear(&err);
        /* The step model's ports and types as registered now (for display: the pipeline holds its own engine). */
        jn_engine *se = reg ? jn_registry_get(reg, st->model, st->version, &err) : NULL;
        json_t *ins = se ? ports_json(se->sig.inputs, se->sig.n_inputs) : json_array();
        json_t *outs = se ? ports_json(se->sig.outputs, se->sig.n_outputs) : json_array();
        bool is_pipeline = se && jn_engine_is_pipeline(se);
        if (se)
            jn_engine_unref(se);
        uint64_t ok = 0, failed = 0;
        jn_metrics_hist h;
        jn_metrics_step_view_get(e->name, st->id, &ok, &failed, &h);
        json_t *lat = latency_json(&h);
        json_object_set_new(lat, "failed", json_integer((json_int_t)failed));
        for (size_t k = 0; k < st->n_inputs; k++) {
            const jn_binding *b = &st->inputs[k];
            json_t *edge = json_pack("{s:o, s:{s:o, s:o}, s:o}", "from", source_json(spec, b->from), "to", "step",
                                     jn__json_text(st->id), "port", jn__json_text(b->port), "conversions",
                                     conversions_of(plan, st->id, b->port));
            json_array_append_new(edges, edge);
        }
        json_array_append_new(steps, json_pack("{s:o, s:o, s:o, s:o, s:o, s:o, s:b}", "id", jn__json_text(st->id),
                                               "model", jn__json_text(st->model), "version",
                                               jn__json_text(st->version), "inputs", ins, "outputs", outs,
                                               "latency_ms", lat, "pipeline", is_pipeline));
    }
    for (size_t i = 0; outputs && i < spec->n_outputs; i++)
        json_array_append_new(outputs, json_pack("{s:o, s:o}", "name", jn__json_text(spec->outputs[i].name), "from",
                                                 source_json(spec, spec->outputs[i].from)));
    json_t *doc = json_pack("{s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o}", "name", jn__json_text(e->name), "description",
                            jn__json_text(e->description ? e->description : ""), "inputs",
                            ports_json(e->sig.inputs, e->sig.n_inputs), "output_types",
                            ports_json(e->sig.outputs, e->sig.n_outputs), "steps", steps, "edges", edges, "outputs",
                            outputs, "plan", jn__json_text(plan ? plan : ""));
    free(plan);
    return doc;
}
