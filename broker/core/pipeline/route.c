/* pipeline/route.c — split, sticky and mirror routes of a pipeline step (contract in route.h). */
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "condition.h"
#include "pipeline.h"
#include "route.h"
#include "json_util.h"

#define PATH_LEN 320



static bool nonempty_string(const json_t *v)
{
    return json_is_string(v) && json_string_length(v) > 0;
}

/* What a value is, in the route's messages (an integer is "a number" there). */
static const char *kind_of(const json_t *v)
{
    return json_is_integer(v) ? "a number" : jn__json_type_of(v);
}

int jn__route_parse(const json_t *v, const char *path, const char **first, jn_err *err)
{
    char p[PATH_LEN];
    if (!json_is_object(v))
        return jn__json_bad(err, path, "expected an object ({\"split\": [...], \"sticky\"?, \"mirror\"?}), got %s", kind_of(v));
    const char *key;
    json_t *f;
    json_object_foreach((json_t *)v, key, f) {
        if (strcmp(key, "split") && strcmp(key, "sticky") && strcmp(key, "mirror"))
            return jn__json_bad(err, path, "unknown field '%s' (known: split, sticky, mirror)", key);
    }
    const json_t *split = json_object_get(v, "split"), *sticky = json_object_get(v, "sticky"),
                 *mirror = json_object_get(v, "mirror");
    snprintf(p, sizeof p, "%s.split", path);
    if (!split)
        return jn__json_bad(err, path, "missing 'split' (the candidates: [{\"model\", \"weight\"}, ...])");
    if (!json_is_array(split) || json_array_size(split) == 0)
        return jn__json_bad(err, p, "expected a non-empty array of {\"model\", \"weight\"}, got %s",
                   json_is_array(split) ? "an empty array" : kind_of(split));
    if (json_array_size(split) > JN_ROUTE_MAX_CANDIDATES)
        return jn__json_bad(err, p, "%zu candidates; at most %d", json_array_size(split), JN_ROUTE_MAX_CANDIDATES);
    double total = 0;
    for (size_t i = 0; i < json_array_size(split); i++) {
        const json_t *c = json_array_get(split, i);
        char pi[PATH_LEN];
        snprintf(pi, sizeof pi, "%s[%zu]", p, i);
        if (!json_is_object(c))
            return jn__json_bad(err, pi, "expected an object {\"model\", \"weight\"}, got %s", kind_of(c));
        json_object_foreach((json_t *)c, key, f) {
            if (strcmp(key, "model") && strcmp(key, "weight"))
                return jn__json_bad(err, pi, "unknown field '%s' (known: model, weight)", key);
        }
        const json_t *m = json_object_get(c, "model"), *w = json_object_get(c, "weight");
        if (!nonempty_string(m))
            return jn__json_bad(err, pi, m ? "model: expected a non-empty string" : "missing 'model'");
        if (!w)
            return jn__json_bad(err, pi, "missing 'weight'");
        if (!json_is_number(w) || !(json_number_value(w) >= 0) || !isfinite(json_number_value(w)))
            return jn__json_bad(err, pi, "weight: expected a number >= 0, got %s", json_is_number(w) ? "a negative one" : kind_of(w));
        for (size_t j = 0; j < i; j++)
            if (strcmp(json_string_value(json_object_get(json_array_get(split, j), "model")), json_string_value(m)) == 0)
                return jn__json_bad(err, pi, "model '%s' is a candidate twice", json_string_value(m));
        total += json_number_value(w);
    }
    if (!(total > 0))
        return jn__json_bad(err, p, "the weights add up to 0; at least one must be positive");
    if (sticky && !nonempty_string(sticky))
        return jn__json_bad(err, path, "sticky: expected a request parameter's name (a non-empty string), got %s",
                   kind_of(sticky));
    if (mirror && !nonempty_string(mirror))
        return jn__json_bad(err, path, "mirror: expected a model name (a non-empty string), got %s", kind_of(mirror));
    *first = json_string_value(json_object_get(json_array_get(split, 0), "model"));
    return 0;
}

/* ---- hashing ---- */

static uint64_t fnv1a(const void *data, size_t len)
{
    const unsigned char *p = data;
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < len; i++) {
        h ^= p[i];
        h *= 1099511628211ull;
    }
    return h;
}

static uint64_t mix64(uint64_t z)
{
    z += 0x9e3779b97f4a7c15ull;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* Uniform in (0, 1). */
static double unit(uint64_t h)
{
    return ((double)(h >> 11) + 0.5) * (1.0 / 9007199254740992.0);
}

size_t jn__route_pick_key(const route *r, const void *key, size_t len)
{
    uint64_t k = fnv1a(key, len);
    size_t best = 0;
    double best_score = -1;
    for (size_t i = 0; i < r->n; i++) {
        if (r->cands[i].weight <= 0)
            continue;
        double score = r->cands[i].weight / -log(unit(mix64(k ^ r->cands[i].name_hash)));
        if (score > best_score) {
            best_score = score;
            best = i;
        }
    }
    return best;
}

static _Thread_local uint64_t rng_state;

static double draw(void)
{
    if (!rng_state) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        rng_state = mix64((uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 32) ^ (uint64_t)(uintptr_t)&rng_state) | 1;
    }
    rng_state ^= rng_state >> 12; /* xorshift64* */
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return unit(rng_state * 0x2545f4914f6cdd1dull);
}

size_t jn__route_pick(const route *r, const jn_params *params)
{
    if (r->n == 1)
        return 0;
    const jn_param *p = r->sticky && params ? jn_params_find(params, r->sticky) : NULL;
    if (p) {
        char buf[64];
        switch (p->type) {
        case JN_PARAM_STRING:
            return jn__route_pick_key(r, p->v.s, strlen(p->v.s));
        case JN_PARAM_INT:
            return jn__route_pick_key(r, buf, (size_t)snprintf(buf, sizeof buf, "%lld", (long long)p->v.i));
        case JN_PARAM_DOUBLE:
            return jn__route_pick_key(r, buf, (size_t)snprintf(buf, sizeof buf, "%.17g", p->v.d));
        case JN_PARAM_BOOL:
            return jn__route_pick_key(r, p->v.b ? "true" : "false", p->v.b ? 4 : 5);
        }
    }
    double x = draw() * r->total;
    for (size_t i = 0; i < r->n; i++) {
        if (x < r->cands[i].weight)
            return i;
        x -= r->cands[i].weight;
    }
    for (size_t i = r->n; i-- > 0;) /* rounding at the top end: the last positive weight */
        if (r->cands[i].weight > 0)
            return i;
    return 0;
}

/* ---- compile ---- */

static void cand_free(route_cand *c)
{
    free(c->name);
    free(c->stat_name);
    jn_engine_unref(c->engine);
    jn_model_unref(c->model);
}

void jn__route_free(route *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->n; i++)
        cand_free(&r->cands[i]);
    free(r->cands);
    if (r->mirror) {
        cand_free(r->mirror);
        free(r->mirror);
    }
    free(r->sticky);
    free(r);
}

static int cand_init(route_cand *c, const char *model, double weight, const char *pipeline, const char *step_id,
                     bool mirror, jn_registry *reg, jn_err *err)
{
    jn_err lookup;
    jn_err_clear(&lookup);
    c->name = strdup(model);
    c->weight = weight;
    c->name_hash = mix64(fnv1a(model, strlen(model)));
    size_t n = strlen(step_id) + strlen(model) + 16;
    c->stat_name = malloc(n);
    if (!c->name || !c->stat_name)
        return jn_err_set(err, JN_ENOMEM, "out of memory");
    snprintf(c->stat_name, n, "%s/%s%s", step_id, mirror ? "mirror/" : "", model);
    c->model = jn_registry_resolve(reg, model, "", &lookup);
    if (!c->model)
        return jn_err_set(err, lookup.code, "pipeline '%s': step '%s': route%s: %s", pipeline, step_id,
                          mirror ? " mirror" : "", lookup.msg);
    c->engine = jn_engine_ref(c->model->engine);
    if (c->engine->flags & JN_ENGINE_STREAMS)
        return jn_err_set(err, JN_EINVAL, "pipeline '%s': step '%s': route candidate '%s' streams; a routed step "
                          "cannot stream", pipeline, step_id, model);
    return 0;
}

static bool dims_fit(const jn_port *a, const jn_port *b)
{
    if (a->kind != b->kind || a->dtype != b->dtype || a->ndim != b->ndim)
        return false;
    for (int d = 0; d < a->ndim; d++)
        if (a->shape[d] != -1 && b->shape[d] != -1 && a->shape[d] != b->shape[d])
            return false;
    return true;
}

static char *type_text(char *buf, size_t n, const jn_port *p)
{
    char t[160];
    snprintf(buf, n, "%s %s", jn_kind_name(p->kind), jn_format_type(t, sizeof t, p->dtype, p->ndim, p->shape));
    return buf;
}

/* Are c's ports (inputs; outputs too unless mirror) those of the first candidate? */
static int check_compatible(const route_cand *first, const route_cand *c, bool mirror, const char *pipeline,
                            const char *step_id, jn_err *err)
{
    const jn_signature *a = &first->engine->sig, *b = &c->engine->sig;
    char ta[200], tb[200];
    const char *who = mirror ? "mirror" : "candidate";
    if (a->n_inputs != b->n_inputs)
        return jn_err_set(err, JN_EINVAL,
                          "pipeline '%s': step '%s': route %s '%s' takes %zu inputs, but '%s' takes %zu; candidates "
                          "need compatible signatures",
                          pipeline, step_id, who, c->name, b->n_inputs, first->name, a->n_inputs);
    for (size_t i = 0; i < a->n_inputs; i++) {
        const jn_port *pb = jn_signature_find_input(b, a->inputs[i].name);
        if (!pb)
            return jn_err_set(err, JN_EINVAL, "pipeline '%s': step '%s': route %s '%s' has no input '%s' (which '%s' "
                              "has)", pipeline, step_id, who, c->name, a->inputs[i].name, first->name);
        if (!dims_fit(&a->inputs[i], pb))
            return jn_err_set(err, JN_EINVAL,
                              "pipeline '%s': step '%s': route %s '%s': input '%s' is %s, but '%s' has %s; candidates "
                              "need compatible signatures",
                              pipeline, step_id, who, c->name, pb->name, type_text(tb, sizeof tb, pb), first->name,
                              type_text(ta, sizeof ta, &a->inputs[i]));
    }
    if (mirror)
        return 0;
    for (size_t i = 0; i < a->n_outputs; i++) {
        const jn_port *pb = jn_engine_find_output(c->engine, a->outputs[i].name);
        if (!pb)
            return jn_err_set(err, JN_EINVAL, "pipeline '%s': step '%s': route candidate '%s' has no output '%s' "
                              "(which '%s' has)", pipeline, step_id, c->name, a->outputs[i].name, first->name);
        bool labels = pb->n_labels == a->outputs[i].n_labels;
        for (size_t k = 0; labels && k < pb->n_labels; k++)
            labels = strcmp(pb->labels[k], a->outputs[i].labels[k]) == 0;
        if (!dims_fit(&a->outputs[i], pb) || !labels)
            return jn_err_set(err, JN_EINVAL,
                              "pipeline '%s': step '%s': route candidate '%s': output '%s' is %s%s, but '%s' has %s; "
                              "candidates need compatible signatures",
                              pipeline, step_id, c->name, pb->name, type_text(tb, sizeof tb, pb),
                              labels ? "" : " (other labels)", first->name, type_text(ta, sizeof ta, &a->outputs[i]));
    }
    return 0;
}

route *jn__route_compile(const char *text, const char *pipeline, const char *step_id, jn_registry *reg, jn_err *err)
{
    json_error_t jerr;
    json_t *v = json_loads(text, JSON_REJECT_DUPLICATES, &jerr);
    const char *first;
    char where[300];
    snprintf(where, sizeof where, "pipeline '%s': step '%s': route", pipeline, step_id);
    if (!v) {
        jn_err_set(err, JN_EINVAL, "%s: %s", where, jerr.text);
        return NULL;
    }
    if (jn__route_parse(v, where, &first, err)) {
        json_decref(v);
        return NULL;
    }
    route *r = calloc(1, sizeof *r);
    const json_t *split = json_object_get(v, "split"), *sticky = json_object_get(v, "sticky"),
                 *mirror = json_object_get(v, "mirror");
    int rc = 0;
    if (!r || !(r->cands = calloc(json_array_size(split), sizeof *r->cands)) ||
        (sticky && !(r->sticky = strdup(json_string_value(sticky)))) ||
        (mirror && !(r->mirror = calloc(1, sizeof *r->mirror))))
        rc = jn_err_set(err, JN_ENOMEM, "out of memory");
    for (size_t i = 0; !rc && i < json_array_size(split); i++) {
        const json_t *c = json_array_get(split, i);
        r->n++;
        rc = cand_init(&r->cands[i], json_string_value(json_object_get(c, "model")),
                       json_number_value(json_object_get(c, "weight")), pipeline, step_id, false, reg, err);
        r->total += r->cands[i].weight;
        if (!rc && i)
            rc = check_compatible(&r->cands[0], &r->cands[i], false, pipeline, step_id, err);
    }
    if (!rc && r->mirror) {
        rc = cand_init(r->mirror, json_string_value(mirror), 0, pipeline, step_id, true, reg, err);
        if (!rc)
            rc = check_compatible(&r->cands[0], r->mirror, true, pipeline, step_id, err);
    }
    json_decref(v);
    if (rc) {
        jn__route_free(r);
        return NULL;
    }
    return r;
}

jn_step_stats *jn__route_stats(route_cand *c, const char *pipeline)
{
    jn_step_stats *s = atomic_load_explicit(&c->stats, memory_order_acquire);
    if (!s) { /* racing first uses find the same object */
        s = jn_metrics_step(pipeline, c->stat_name);
        atomic_store_explicit(&c->stats, s, memory_order_release);
    }
    return s;
}

/* ---- PutPipeline's route_json (pipeline.h) ---- */

int jn_step_spec_route_from_text(jn_step_spec *step, const char *text, const char *what, jn_err *err)
{
    json_error_t jerr;
    json_t *v = json_loads(text, JSON_REJECT_DUPLICATES, &jerr);
    if (!v)
        return jn__json_bad(err, what, "not JSON: %s", jerr.text);
    const char *first;
    int rc = jn__route_parse(v, what, &first, err);
    if (!rc && *step->model && strcmp(step->model, first) != 0)
        rc = jn__json_bad(err, what, "the step's model '%s' is not the route's first candidate '%s' (leave model empty)",
                 step->model, first);
    char *canon = rc ? NULL : jn__cond_dumps(v, JSON_COMPACT | JSON_PRESERVE_ORDER), *model = rc ? NULL : strdup(first);
    if (!rc && (!canon || !model || jn_step_spec_set_route(step, canon)))
        rc = jn_err_set(err, JN_ENOMEM, "out of memory");
    if (!rc) {
        free(step->model);
        step->model = model;
        model = NULL;
    }
    free(model);
    free(canon);
    json_decref(v);
    return rc;
}
