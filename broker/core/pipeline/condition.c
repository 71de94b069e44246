/* pipeline/condition.c — parsing, binding and evaluating a step's `when` (contract in condition.h). */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "condition.h"
#include "json_util.h"
#include "half.h"
#include "pipeline.h"

#define PATH_LEN 320





char *jn__cond_dumps(const json_t *v, size_t flags)
{
    int digits = 1;
    jn__json_value_digits(v, &digits);
    return json_dumps(v, flags | JSON_REAL_PRECISION(digits));
}

void jn__cond_free(cond *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->n_subs; i++)
        jn__cond_free(&c->subs[i]);
    free(c->subs);
    free(c->from);
    free(c->text);
    for (size_t i = 0; i < c->n_strs; i++)
        free(c->strs[i]);
    free(c->strs);
    if (c->has_re)
        regfree(&c->re);
    free(c->label_idx);
    memset(c, 0, sizeof *c);
}

/* A non-empty array of strings at v (each non-empty when `nonempty`), copied into c->strs. */
static int get_strings(const json_t *v, const char *path, bool nonempty, cond *c, jn_err *err)
{
    if (!json_is_array(v) || json_array_size(v) == 0)
        return jn__json_bad(err, path, "expected a non-empty array of strings, got %s",
                   json_is_array(v) ? "an empty array" : jn__json_type_of(v));
    c->strs = calloc(json_array_size(v), sizeof *c->strs);
    if (!c->strs)
        return jn_err_set(err, JN_ENOMEM, "out of memory");
    for (size_t i = 0; i < json_array_size(v); i++) {
        const json_t *s = json_array_get(v, i);
        char pi[PATH_LEN];
        snprintf(pi, sizeof pi, "%s[%zu]", path, i);
        if (!json_is_string(s))
            return jn__json_bad(err, pi, "expected a string, got %s", jn__json_type_of(s));
        if (nonempty && json_string_length(s) == 0)
            return jn__json_bad(err, pi, "must not be empty");
        if (!(c->strs[c->n_strs++] = strdup(json_string_value(s))))
            return jn_err_set(err, JN_ENOMEM, "out of memory");
    }
    return 0;
}

static int get_number(const json_t *obj, const char *key, const char *path, bool *has, double *out, jn_err *err)
{
    const json_t *v = json_object_get(obj, key);
    if (!v)
        return 0;
    if (!json_is_number(v))
        return jn__json_bad(err, path, "%s: expected a number, got %s", key, jn__json_type_of(v));
    *has = true;
    *out = json_number_value(v);
    return 0;
}

static int parse_list(const json_t *v, const char *path, const char *key, int depth, cond *out, jn_err *err)
{
    char p[PATH_LEN];
    snprintf(p, sizeof p, "%s.%s", path, key);
    if (json_object_size(v) != 1)
        return jn__json_bad(err, path, "'%s' stands alone (no other field beside it)", key);
    const json_t *arr = json_object_get(v, key);
    if (out->op == COND_NOT) {
        if (!json_is_object(arr))
            return jn__json_bad(err, p, "expected a condition (an object), got %s", jn__json_type_of(arr));
        if (!(out->subs = calloc(1, sizeof *out->subs)))
            return jn_err_set(err, JN_ENOMEM, "out of memory");
        out->n_subs = 1;
        return jn__cond_parse(arr, p, depth + 1, &out->subs[0], err);
    }
    if (!json_is_array(arr) || json_array_size(arr) == 0)
        return jn__json_bad(err, p, "expected a non-empty array of conditions, got %s",
                   json_is_array(arr) ? "an empty array" : jn__json_type_of(arr));
    if (!(out->subs = calloc(json_array_size(arr), sizeof *out->subs)))
        return jn_err_set(err, JN_ENOMEM, "out of memory");
    for (size_t i = 0; i < json_array_size(arr); i++) {
        char pi[PATH_LEN];
        snprintf(pi, sizeof pi, "%s[%zu]", p, i);
        out->n_subs++;
        int rc = jn__cond_parse(json_array_get(arr, i), pi, depth + 1, &out->subs[i], err);
        if (rc)
            return rc;
    }
    return 0;
}

static size_t count_leaves(const cond *c)
{
    if (c->op == COND_ALL || c->op == COND_ANY || c->op == COND_NOT) {
        size_t n = 0;
        for (size_t i = 0; i < c->n_subs; i++)
            n += count_leaves(&c->subs[i]);
        return n;
    }
    return 1;
}

static int parse_leaf(const json_t *v, const char *path, cond *out, jn_err *err)
{
    static const char *const known[] = {"from", "label", "score_above", "score_below", "equals", "matches",
                                        "above", "below", NULL};
    const char *key;
    json_t *f;
    json_object_foreach((json_t *)v, key, f) {
        bool found = false;
        for (const char *const *k = known; *k && !found; k++)
            found = strcmp(key, *k) == 0;
        if (!found)
            return jn__json_bad(err, path,
                       "unknown field '%s' (known: from; label, score_above, score_below for a CLASSIFICATION; "
                       "equals, matches for a TEXT; above, below, equals for a number; or all, any, not)",
                       key);
    }
    const json_t *from = json_object_get(v, "from");
    if (!from)
        return jn__json_bad(err, path, "missing 'from' (the port the condition reads: an input or 'step.port')");
    if (!json_is_string(from) || json_string_length(from) == 0)
        return jn__json_bad(err, path, "from: expected a non-empty string, got %s",
                   json_is_string(from) ? "an empty string" : jn__json_type_of(from));
    if (!(out->from = strdup(json_string_value(from))))
        return jn_err_set(err, JN_ENOMEM, "out of memory");
    const json_t *equals = json_object_get(v, "equals");
    bool cls = json_object_get(v, "label") || json_object_get(v, "score_above") || json_object_get(v, "score_below");
    bool txt = json_object_get(v, "matches") || (equals && !json_is_number(equals));
    bool num = json_object_get(v, "above") || json_object_get(v, "below") || (equals && json_is_number(equals));
    if (cls + txt + num > 1)
        return jn__json_bad(err, path,
                   "mixes tests of different kinds (label/score_* test a CLASSIFICATION, equals [strings]/matches a "
                   "TEXT, above/below/equals <number> a number); combine them with \"all\"");
    if (!cls && !txt && !num)
        return jn__json_bad(err, path, "tests nothing: give label/score_above/score_below, equals/matches, or above/below");
    char p[PATH_LEN];
    int rc = 0;
    if (cls) {
        out->op = COND_CLASS;
        const json_t *labels = json_object_get(v, "label");
        snprintf(p, sizeof p, "%s.label", path);
        if (labels && (rc = get_strings(labels, p, true, out, err)))
            return rc;
        if ((rc = get_number(v, "score_above", path, &out->has_above, &out->above, err)) ||
            (rc = get_number(v, "score_below", path, &out->has_below, &out->below, err)))
            return rc;
        if (out->has_above && out->has_below && out->above >= out->below)
            return jn__json_bad(err, path, "score_above %g and score_below %g: no score is both", out->above, out->below);
    } else if (txt) {
        out->op = COND_TEXT;
        if (equals) {
            snprintf(p, sizeof p, "%s.equals", path);
            if ((rc = get_strings(equals, p, false, out, err)))
                return rc;
        }
        const json_t *re = json_object_get(v, "matches");
        if (re) {
            snprintf(p, sizeof p, "%s.matches", path);
            if (!json_is_string(re))
                return jn__json_bad(err, p, "expected a string (a POSIX extended regex), got %s", jn__json_type_of(re));
            int erc = regcomp(&out->re, json_string_value(re), REG_EXTENDED | REG_NOSUB);
            if (erc) {
                char why[160];
                regerror(erc, &out->re, why, sizeof why);
                return jn__json_bad(err, p, "'%s' is not a POSIX extended regex: %s", json_string_value(re), why);
            }
            out->has_re = true;
        }
        if (equals && re)
            return jn__json_bad(err, path, "give 'equals' or 'matches', not both (combine them with \"any\" or \"all\")");
    } else {
        out->op = COND_SCALAR;
        if ((rc = get_number(v, "above", path, &out->has_above, &out->above, err)) ||
            (rc = get_number(v, "below", path, &out->has_below, &out->below, err)) ||
            (rc = get_number(v, "equals", path, &out->has_equals, &out->equals, err)))
            return rc;
    }
    if (!(out->text = jn__cond_dumps(v, JSON_COMPACT | JSON_SORT_KEYS)))
        return jn_err_set(err, JN_ENOMEM, "out of memory");
    return 0;
}

int jn__cond_parse(const json_t *v, const char *path, int depth, cond *out, jn_err *err)
{
    memset(out, 0, sizeof *out);
    out->src_step = -1;
    if (!json_is_object(v))
        return jn__json_bad(err, path, "expected a condition (an object), got %s", jn__json_type_of(v));
    if (depth >= JN_COND_MAX_DEPTH)
        return jn__json_bad(err, path, "conditions nest more than %d deep", JN_COND_MAX_DEPTH);
    int rc;
    if (json_object_get(v, "all")) {
        out->op = COND_ALL;
        rc = parse_list(v, path, "all", depth, out, err);
    } else if (json_object_get(v, "any")) {
        out->op = COND_ANY;
        rc = parse_list(v, path, "any", depth, out, err);
    } else if (json_object_get(v, "not")) {
        out->op = COND_NOT;
        rc = parse_list(v, path, "not", depth, out, err);
    } else {
        rc = parse_leaf(v, path, out, err);
    }
    if (!rc && depth == 0 && count_leaves(out) > JN_COND_MAX_LEAVES)
        rc = jn__json_bad(err, path, "%zu tests; a condition holds at most %d", count_leaves(out), JN_COND_MAX_LEAVES);
    return rc;
}

/* ---- binding ---- */

static bool numeric(jn_dtype d)
{
    return d != JN_DTYPE_BYTES && d != JN_DTYPE_INVALID;
}

int jn__cond_bind(cond *c, jn__cond_resolve_fn resolve, void *arg, const char *where, jn_err *err)
{
    if (c->op == COND_ALL || c->op == COND_ANY || c->op == COND_NOT) {
        for (size_t i = 0; i < c->n_subs; i++) {
            int rc = jn__cond_bind(&c->subs[i], resolve, arg, where, err);
            if (rc)
                return rc;
        }
        return 0;
    }
    char what[400];
    snprintf(what, sizeof what, "%s: condition %s", where, c->text);
    int rc = resolve(arg, c->from, what, &c->src_step, &c->src_port, &c->src, err);
    if (rc)
        return rc;
    const jn_port *p = c->src;
    char t[160];
    jn_format_type(t, sizeof t, p->dtype, p->ndim, p->shape);
    switch (c->op) {
    case COND_CLASS:
        if (p->kind != JN_KIND_CLASSIFICATION)
            return jn_err_set(err, JN_EINVAL,
                              "%s tests a CLASSIFICATION (label, score_above, score_below), but '%s' is %s %s", what,
                              c->from, jn_kind_name(p->kind), t);
        if (c->n_strs) {
            if (!p->n_labels)
                return jn_err_set(err, JN_EINVAL, "%s names labels, but '%s' declares none", what, c->from);
            if (!(c->label_idx = calloc(c->n_strs, sizeof *c->label_idx)))
                return jn_err_set(err, JN_ENOMEM, "out of memory");
            for (size_t i = 0; i < c->n_strs; i++) {
                c->label_idx[i] = -1;
                for (size_t k = 0; k < p->n_labels && c->label_idx[i] < 0; k++)
                    if (strcmp(p->labels[k], c->strs[i]) == 0)
                        c->label_idx[i] = (int)k;
                if (c->label_idx[i] < 0) {
                    char list[256] = "";
                    size_t used = 0;
                    for (size_t k = 0; k < p->n_labels && used < sizeof list; k++)
                        used += (size_t)snprintf(list + used, sizeof list - used, "%s'%s'", k ? ", " : "",
                                                 p->labels[k]);
                    return jn_err_set(err, JN_EINVAL, "%s: '%s' has no label '%s' (its labels are %s)", what,
                                      c->from, c->strs[i], list);
                }
            }
        }
        return 0;
    case COND_TEXT:
        if (p->kind != JN_KIND_TEXT)
            return jn_err_set(err, JN_EINVAL, "%s tests a TEXT (equals strings, matches), but '%s' is %s %s", what,
                              c->from, jn_kind_name(p->kind), t);
        return 0;
    default: {
        int64_t n = jn_shape_element_count(p->ndim, p->shape);
        if (p->kind != JN_KIND_TENSOR || !numeric(p->dtype))
            return jn_err_set(err, JN_EINVAL,
                              "%s compares a number (above, below, equals), but '%s' is %s %s, not a numeric TENSOR",
                              what, c->from, jn_kind_name(p->kind), t);
        if (n > 1)
            return jn_err_set(err, JN_EINVAL, "%s compares one number, but '%s' is %s: %lld values", what, c->from,
                              t, (long long)n);
        return 0;
    }
    }
}

void jn__cond_leaves(cond *c, void (*fn)(cond *leaf, void *arg), void *arg)
{
    if (c->op == COND_ALL || c->op == COND_ANY || c->op == COND_NOT) {
        for (size_t i = 0; i < c->n_subs; i++)
            jn__cond_leaves(&c->subs[i], fn, arg);
        return;
    }
    fn(c, arg);
}

/* ---- evaluation ---- */

static double element(const jn_tensor *t, int64_t i)
{
    const unsigned char *d = t->data;
    switch (t->dtype) {
    case JN_DTYPE_BOOL:
        return d[i] != 0;
    case JN_DTYPE_UINT8:
        return d[i];
    case JN_DTYPE_UINT16:
        return ((const uint16_t *)t->data)[i];
    case JN_DTYPE_UINT32:
        return ((const uint32_t *)t->data)[i];
    case JN_DTYPE_UINT64:
        return (double)((const uint64_t *)t->data)[i];
    case JN_DTYPE_INT8:
        return ((const int8_t *)t->data)[i];
    case JN_DTYPE_INT16:
        return ((const int16_t *)t->data)[i];
    case JN_DTYPE_INT32:
        return ((const int32_t *)t->data)[i];
    case JN_DTYPE_INT64:
        return (double)((const int64_t *)t->data)[i];
    case JN_DTYPE_FP16:
        return jn_fp16_to_float(((const uint16_t *)t->data)[i]);
    case JN_DTYPE_BF16:
        return jn_bf16_to_float(((const uint16_t *)t->data)[i]);
    case JN_DTYPE_FP32:
        return ((const float *)t->data)[i];
    case JN_DTYPE_FP64:
        return ((const double *)t->data)[i];
    default:
        return NAN;
    }
}

static int eval_leaf(const cond *c, const jn_tensor *t, jn_err *err)
{
    if (!t)
        return jn_err_set(err, JN_EINTERNAL, "condition %s: '%s' was not produced", c->text, c->from);
    int64_t n = jn_tensor_element_count(t);
    if (c->op == COND_CLASS) {
        int64_t k = t->ndim ? t->shape[t->ndim - 1] : 1;
        if (t->dtype != JN_DTYPE_FP32 || k <= 0 || n != k)
            return jn_err_set(err, JN_EINVAL, "condition %s reads one row of scores, got %lld values in %lld rows",
                              c->text, (long long)n, (long long)(k > 0 ? n / k : 0));
        const float *s = t->data;
        int64_t top = 0;
        for (int64_t i = 1; i < k; i++)
            if (s[i] > s[top])
                top = i;
        bool ok = !c->n_strs;
        for (size_t i = 0; i < c->n_strs && !ok; i++)
            ok = c->label_idx[i] == top;
        return ok && (!c->has_above || s[top] > c->above) && (!c->has_below || s[top] < c->below);
    }
    if (c->op == COND_TEXT) {
        const uint8_t *elem;
        uint32_t len;
        size_t pos = 0;
        if (t->dtype != JN_DTYPE_BYTES || n != 1 || !jn_bytes_next(t->data, t->byte_size, &pos, &elem, &len))
            return jn_err_set(err, JN_EINVAL, "condition %s reads one text, got %lld", c->text, (long long)n);
        for (size_t i = 0; i < c->n_strs; i++)
            if (strlen(c->strs[i]) == len && memcmp(c->strs[i], elem, len) == 0)
                return 1;
        if (!c->has_re)
            return 0;
        char small[256], *s = len < sizeof small ? small : malloc((size_t)len + 1);
        if (!s)
            return jn_err_set(err, JN_ENOMEM, "out of memory");
        memcpy(s, elem, len);
        s[len] = '\0';
        int m = regexec(&c->re, s, 0, NULL, 0);
        if (s != small)
            free(s);
        return m == 0;
    }
    if (n != 1 || t->dtype == JN_DTYPE_BYTES)
        return jn_err_set(err, JN_EINVAL, "condition %s compares one number, got %lld values", c->text, (long long)n);
    double x = element(t, 0);
    return (!c->has_above || x > c->above) && (!c->has_below || x < c->below) && (!c->has_equals || x == c->equals);
}

int jn__cond_eval(const cond *c, jn__cond_lookup_fn lookup, const void *arg, jn_err *err)
{
    switch (c->op) {
    case COND_ALL:
    case COND_ANY:
        for (size_t i = 0; i < c->n_subs; i++) {
            int v = jn__cond_eval(&c->subs[i], lookup, arg, err);
            if (v < 0)
                return v;
            if ((c->op == COND_ALL) != (v == 1)) /* all: first false decides; any: first true */
                return c->op == COND_ANY;
        }
        return c->op == COND_ALL;
    case COND_NOT: {
        int v = jn__cond_eval(&c->subs[0], lookup, arg, err);
        return v < 0 ? v : !v;
    }
    default:
        return eval_leaf(c, lookup(arg, c->src_step, c->src_port), err);
    }
}

bool jn__cond_eval_vars(const cond *c, unsigned vars)
{
    switch (c->op) {
    case COND_ALL:
        for (size_t i = 0; i < c->n_subs; i++)
            if (!jn__cond_eval_vars(&c->subs[i], vars))
                return false;
        return true;
    case COND_ANY:
        for (size_t i = 0; i < c->n_subs; i++)
            if (jn__cond_eval_vars(&c->subs[i], vars))
                return true;
        return false;
    case COND_NOT:
        return !jn__cond_eval_vars(&c->subs[0], vars);
    default:
        return (vars >> c->var) & 1u;
    }
}

/* ---- PutPipeline's when_json (pipeline.h) ---- */

int jn_step_spec_when_from_text(jn_step_spec *step, const char *text, const char *what, jn_err *err)
{
    json_error_t jerr;
    json_t *v = json_loads(text, JSON_REJECT_DUPLICATES, &jerr);
    if (!v)
        return jn__json_bad(err, what, "not JSON: %s", jerr.text);
    cond c;
    int rc = jn__cond_parse(v, what, 0, &c, err);
    jn__cond_free(&c);
    char *canon = rc ? NULL : jn__cond_dumps(v, JSON_COMPACT | JSON_PRESERVE_ORDER);
    if (!rc && (!canon || jn_step_spec_set_when(step, canon)))
        rc = jn_err_set(err, JN_ENOMEM, "out of memory");
    free(canon);
    json_decref(v);
    return rc;
}
