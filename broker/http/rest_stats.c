/* rest_stats.c — GET /v2/models[/{name}[/versions/{v}]]/stats: the v2 statistics extension's JSON (Triton's
 * extension_statistics.md), from one snapshot per registry entry (core/infer_stats.h says what each figure
 * counts). */
#include <string.h>
#include <stdint.h>
#include <stdlib.h>

#include "rest.h"

static json_t *count(uint64_t v)
{
    /* JSON integers are signed 64-bit in jansson; counts and nanoseconds stay far below 2^63 (292 years of ns). */
    return json_integer(v > (uint64_t)INT64_MAX ? (json_int_t)INT64_MAX : (json_int_t)v);
}

static json_t *duration(jn_duration d)
{
    return json_pack("{s:o, s:o}", "count", count(d.count), "ns", count(d.ns));
}

json_t *jn_rest_v2_model_stat(const char *name, const char *version, const jn_infer_stats_snapshot *s)
{
    json_t *batches = json_array();
    for (size_t i = 0; batches && i < s->n_batches; i++) {
        const jn_batch_stat *b = &s->batches[i];
        json_t *one = json_pack("{s:o, s:o, s:o, s:o}", "batch_size", count(b->batch_size), "compute_input",
                                duration(b->compute_input), "compute_infer", duration(b->compute_infer),
                                "compute_output", duration(b->compute_output));
        if (json_array_append_new(batches, one)) {
            json_decref(batches);
            batches = NULL;
        }
    }
    json_t *inference = json_pack("{s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o}", "success", duration(s->success), "fail",
                                  duration(s->fail), "queue", duration(s->queue), "compute_input",
                                  duration(s->compute_input), "compute_infer", duration(s->compute_infer),
                                  "compute_output", duration(s->compute_output), "cache_hit",
                                  duration(s->cache_hit), "cache_miss", duration(s->cache_miss));
    /* json_pack's "o" steals its reference even when packing fails, so nothing leaks on out of memory. */
    return json_pack("{s:o, s:o, s:o, s:o, s:o, s:o, s:o}", "name", jn__json_text(name), "version",
                     jn__json_text(version), "last_inference", count(s->last_inference_ms), "inference_count",
                     count(s->inference_count), "execution_count", count(s->execution_count), "inference_stats",
                     inference, "batch_stats", batches);
}

static json_t *model_stat_of(jn_model *m)
{
    jn_infer_stats_snapshot s;
    if (jn_infer_stats_snapshot_take(&m->infer, &s))
        return NULL;
    json_t *doc = jn_rest_v2_model_stat(m->engine->name, m->engine->version, &s);
    jn_infer_stats_snapshot_free(&s);
    return doc;
}

void jn_rest_v2_stats(jn_registry *reg, const char *model, const char *version, jn_rest_reply *reply)
{
    json_t *list = json_array();
    if (model && *model && !(version && *version)) { /* every version of the model, one item each (issue #20) */
        jn_model **models;
        long n = jn_registry_list_models(reg, &models), found = 0;
        for (long i = 0; list && i < n; i++) {
            if (strcmp(models[i]->engine->name, model) != 0)
                continue;
            found++;
            if (json_array_append_new(list, model_stat_of(models[i]))) {
                json_decref(list);
                list = NULL;
            }
        }
        if (n > 0)
            jn_registry_list_models_free(models, n);
        if (n < 0) {
            json_decref(list);
            list = NULL;
        } else if (!found) {
            jn_err err;
            jn_err_set(&err, JN_ENOTFOUND, "model '%s' is not registered", model);
            json_decref(list);
            jn_rest_reply_err(reply, &err);
            return;
        }
    } else if (model && *model) {
        jn_err err;
        jn_err_clear(&err);
        jn_model *m = jn_registry_resolve(reg, model, version, &err);
        if (!m) {
            json_decref(list);
            jn_rest_reply_err(reply, &err);
            return;
        }
        if (json_array_append_new(list, model_stat_of(m))) {
            json_decref(list);
            list = NULL;
        }
        jn_model_unref(m);
    } else {
        jn_model **models;
        long n = jn_registry_list_models(reg, &models);
        if (n < 0) {
            json_decref(list);
            list = NULL;
        }
        for (long i = 0; list && i < n; i++)
            if (json_array_append_new(list, model_stat_of(models[i]))) {
                json_decref(list);
                list = NULL;
            }
        if (n > 0)
            jn_registry_list_models_free(models, n);
    }
    /* jn_rest_reply_json answers 500 for a NULL document (out of memory). */
    jn_rest_reply_json(reply, 200, list ? json_pack("{s:o}", "model_stats", list) : NULL, 0);
}
