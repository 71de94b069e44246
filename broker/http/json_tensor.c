/* json_tensor.c — JSON values <-> tensor elements for the REST front end (rest.h), with jansson.
 *
 * Choices (DECISIONS.md, "REST"):
 * - Numbers are converted to the tensor's datatype with a range check; integer types also take reals with an exact
 *   integral value (2.0), never fractional ones. BOOL takes true/false only.
 * - JSON has no NaN or infinity: float outputs that are not finite are written as the strings "NaN", "Infinity" and
 *   "-Infinity" (what Python's float() and numpy read back), and float inputs accept the same strings, so a tensor
 *   round-trips losslessly.
 * - Floats are printed so they round-trip: an FP32 (FP16, BF16) value as its shortest decimal of at most 9
 *   significant digits (0.85f prints as 0.85, not 0.850000024); FP64 with 17 digits.
 */
#include <float.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base64.h"
#include "half.h"
#include "rest.h"
#include "signature.h"

/* ---- replies ---- */

void jn_rest_reply_free(jn_rest_reply *r)
{
    if (!r)
        return;
    free(r->body);
    free(r->headers);
    r->body = r->headers = NULL;
    r->body_len = 0;
}

json_t *jn__json_text(const char *s)
{
    size_t n = strlen(s), bad;
    if (jn_utf8_valid((const uint8_t *)s, n, &bad))
        return json_stringn(s, n);
    char *copy = malloc(n + 1);
    if (!copy)
        return NULL;
    memcpy(copy, s, n + 1);
    size_t from = 0;
    while (!jn_utf8_valid((const uint8_t *)copy + from, n - from, &bad)) {
        copy[from + bad] = '?';
        from += bad + 1;
    }
    json_t *j = json_stringn(copy, n);
    free(copy);
    return j;
}

void jn_rest_reply_json(jn_rest_reply *r, int status, json_t *doc, size_t flags)
{
    jn_rest_reply_free(r);
    char *text = doc ? json_dumps(doc, JSON_COMPACT | flags) : NULL;
    json_decref(doc);
    if (!text) {
        /* Out of memory (or a value jansson refused): a fixed answer that needs no allocation but the body. */
        static const char oom[] = "{\"error\":\"out of memory encoding the answer\"}";
        r->status = 500;
        r->content_type = JN_REST_JSON;
        r->body = malloc(sizeof oom);
        r->body_len = r->body ? sizeof oom - 1 : 0;
        if (r->body)
            memcpy(r->body, oom, sizeof oom);
        return;
    }
    r->status = status;
    r->content_type = JN_REST_JSON;
    r->body = text;
    r->body_len = strlen(text);
}

void jn_rest_reply_error(jn_rest_reply *r, int status, const char *message)
{
    json_t *doc = json_object();
    if (doc)
        json_object_set_new(doc, "error", jn__json_text(message ? message : ""));
    jn_rest_reply_json(r, status, doc, 0);
}

void jn_rest_reply_err(jn_rest_reply *r, const jn_err *err)
{
    int code = err->code ? err->code : JN_EINTERNAL;
    jn_rest_reply_error(r, jn_err_http_status(code), err->msg[0] ? err->msg : jn_strerror(code));
}

int jn__json_set_param(jn_params *params, const char *key, const json_t *v, jn_err *err)
{
    int rc;
    switch (json_typeof(v)) {
    case JSON_TRUE:
    case JSON_FALSE:
        rc = jn_params_set_bool(params, key, json_is_true(v));
        break;
    case JSON_INTEGER:
        rc = jn_params_set_int(params, key, (int64_t)json_integer_value(v));
        break;
    case JSON_REAL:
        rc = jn_params_set_double(params, key, json_real_value(v));
        break;
    case JSON_STRING:
        rc = jn_params_set_string(params, key, json_string_value(v));
        break;
    default:
        return jn_err_set(err, JN_EINVAL, "parameter '%s' must be a bool, a number or a string, got %s", key,
                          jn__json_kind(v));
    }
    return rc ? jn_err_set(err, JN_ENOMEM, "out of memory") : 0;
}

/* ---- JSON -> elements ---- */

const char *jn__json_kind(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        return "an object";
    case JSON_ARRAY:
        return "an array";
    case JSON_STRING:
        return "a string";
    case JSON_INTEGER:
    case JSON_REAL:
        return "a number";
    case JSON_TRUE:
        return "true";
    case JSON_FALSE:
        return "false";
    default:
        return "null";
    }
}

static bool is_float_type(jn_dtype dt)
{
    return dt == JN_DTYPE_FP16 || dt == JN_DTYPE_FP32 || dt == JN_DTYPE_FP64 || dt == JN_DTYPE_BF16;
}

static bool is_signed_type(jn_dtype dt)
{
    return dt == JN_DTYPE_INT8 || dt == JN_DTYPE_INT16 || dt == JN_DTYPE_INT32 || dt == JN_DTYPE_INT64;
}

static int wrong_kind(jn_err *err, const char *input, const char *field, size_t i, const json_t *v, jn_dtype dt)
{
    const char *want = dt == JN_DTYPE_BOOL ? "true or false" : "a number";
    return jn_err_set(err, JN_EINVAL, "input '%s': %s[%zu] is %s, expected %s (%s)", input, field, i, jn__json_kind(v),
                      want, jn_dtype_name(dt));
}

/* The shortest "%.Ng" form of d that reads back as d (for messages: 1e+39, not 9.9999999999999994e+38). */
static const char *fmt_double(char *buf, size_t n, double d)
{
    for (int p = 15; p < 17; p++) {
        snprintf(buf, n, "%.*g", p, d);
        if (strtod(buf, NULL) == d)
            return buf;
    }
    snprintf(buf, n, "%.17g", d);
    return buf;
}

static int does_not_fit(jn_err *err, const char *input, const char *field, size_t i, const json_t *v, jn_dtype dt)
{
    char num[40];
    if (json_is_integer(v))
        return jn_err_set(err, JN_EINVAL, "input '%s': %s[%zu] = %" JSON_INTEGER_FORMAT " does not fit %s", input,
                          field, i, json_integer_value(v), jn_dtype_name(dt));
    return jn_err_set(err, JN_EINVAL, "input '%s': %s[%zu] = %s does not fit %s", input, field, i,
                      fmt_double(num, sizeof num, json_real_value(v)), jn_dtype_name(dt));
}

/* A float input given as a string: only the names of the non-finite values. */
static bool nonfinite_name(const json_t *v, double *out)
{
    const char *s = json_string_value(v);
    if (!s)
        return false;
    if (strcmp(s, "NaN") == 0)
        *out = NAN;
    else if (strcmp(s, "Infinity") == 0)
        *out = INFINITY;
    else if (strcmp(s, "-Infinity") == 0)
        *out = -INFINITY;
    else
        return false;
    return true;
}

static int put_float(const json_t *v, jn_dtype dt, void *data, size_t i, const char *input, const char *field,
                     jn_err *err)
{
    double d;
    if (json_is_number(v)) {
        d = json_number_value(v);
    } else if (!nonfinite_name(v, &d)) {
        if (json_is_string(v))
            return jn_err_set(err, JN_EINVAL,
                              "input '%s': %s[%zu] is a string, expected a number (%s; non-finite values are "
                              "\"NaN\", \"Infinity\", \"-Infinity\")",
                              input, field, i, jn_dtype_name(dt));
        return wrong_kind(err, input, field, i, v, dt);
    }
    if (dt == JN_DTYPE_FP64) {
        memcpy((double *)data + i, &d, sizeof d);
        return 0;
    }
    /* Finite values beyond the type's largest round to it when within half a unit in the last place. */
    float f;
    if (isfinite(d)) {
        double limit = dt == JN_DTYPE_FP16 ? 65520.0 : (double)FLT_MAX + ldexp(1.0, 103);
        if (fabs(d) >= limit)
            return does_not_fit(err, input, field, i, v, dt);
        f = fabs(d) > FLT_MAX ? (d < 0 ? -FLT_MAX : FLT_MAX) : (float)d;
    } else {
        f = (float)d;
    }
    if (dt == JN_DTYPE_FP32) {
        memcpy((float *)data + i, &f, sizeof f);
        return 0;
    }
    uint16_t h = dt == JN_DTYPE_FP16 ? jn_fp16_from_double(f) : jn_bf16_from_float(f);
    if (isfinite(d) && (h & 0x7fffu) == (dt == JN_DTYPE_FP16 ? 0x7c00u : 0x7f80u))
        return does_not_fit(err, input, field, i, v, dt);
    memcpy((uint16_t *)data + i, &h, sizeof h);
    return 0;
}

int jn__json_put_elem(const json_t *v, jn_dtype dt, void *data, size_t i, const char *input, const char *field,
                      jn_err *err)
{
    if (dt == JN_DTYPE_BOOL) {
        if (!json_is_boolean(v))
            return wrong_kind(err, input, field, i, v, dt);
        ((uint8_t *)data)[i] = json_is_true(v) ? 1 : 0;
        return 0;
    }
    if (is_float_type(dt))
        return put_float(v, dt, data, i, input, field, err);
    if (!json_is_number(v))
        return wrong_kind(err, input, field, i, v, dt);
    /* Integers: as int64 (signed) or uint64 (unsigned), then range-checked. */
    bool is_signed = is_signed_type(dt);
    int64_t s = 0;
    uint64_t u = 0;
    if (json_is_integer(v)) {
        json_int_t x = json_integer_value(v);
        if (is_signed)
            s = (int64_t)x;
        else if (x < 0)
            return does_not_fit(err, input, field, i, v, dt);
        else
            u = (uint64_t)x;
    } else {
        double d = json_real_value(v);
        char num[40];
        if (d != floor(d))
            return jn_err_set(err, JN_EINVAL, "input '%s': %s[%zu] = %s is not an integer (%s)", input, field, i,
                              fmt_double(num, sizeof num, d), jn_dtype_name(dt));
        if (is_signed) {
            if (!(d >= -9223372036854775808.0 && d < 9223372036854775808.0))
                return does_not_fit(err, input, field, i, v, dt);
            s = (int64_t)d;
        } else {
            if (!(d >= 0 && d < 18446744073709551616.0))
                return does_not_fit(err, input, field, i, v, dt);
            u = (uint64_t)d;
        }
    }
    switch (dt) {
    case JN_DTYPE_INT8:
        if (s < INT8_MIN || s > INT8_MAX)
            return does_not_fit(err, input, field, i, v, dt);
        ((int8_t *)data)[i] = (int8_t)s;
        return 0;
    case JN_DTYPE_INT16:
        if (s < INT16_MIN || s > INT16_MAX)
            return does_not_fit(err, input, field, i, v, dt);
        ((int16_t *)data)[i] = (int16_t)s;
        return 0;
    case JN_DTYPE_INT32:
        if (s < INT32_MIN || s > INT32_MAX)
            return does_not_fit(err, input, field, i, v, dt);
        ((int32_t *)data)[i] = (int32_t)s;
        return 0;
    case JN_DTYPE_INT64:
        memcpy((int64_t *)data + i, &s, sizeof s);
        return 0;
    case JN_DTYPE_UINT8:
        if (u > UINT8_MAX)
            return does_not_fit(err, input, field, i, v, dt);
        ((uint8_t *)data)[i] = (uint8_t)u;
        return 0;
    case JN_DTYPE_UINT16:
        if (u > UINT16_MAX)
            return does_not_fit(err, input, field, i, v, dt);
        ((uint16_t *)data)[i] = (uint16_t)u;
        return 0;
    case JN_DTYPE_UINT32:
        if (u > UINT32_MAX)
            return does_not_fit(err, input, field, i, v, dt);
        ((uint32_t *)data)[i] = (uint32_t)u;
        return 0;
    case JN_DTYPE_UINT64:
        memcpy((uint64_t *)data + i, &u, sizeof u);
        return 0;
    default:
        return jn_err_set(err, JN_EINVAL, "input '%s': %s data cannot be given as JSON numbers", input,
                          jn_dtype_name(dt));
    }
}

/* ---- nesting ---- */

static void format_shape(char *buf, size_t n, int ndim, const int64_t *shape)
{
    size_t used = (size_t)snprintf(buf, n, "[");
    for (int k = 0; k < ndim && used < n; k++)
        used += (size_t)snprintf(buf + used, n - used, "%s%lld", k ? "," : "", (long long)shape[k]);
    if (used < n)
        snprintf(buf + used, n - used, "]");
}

static void format_path(char *buf, size_t n, const char *field, const size_t *idx, int depth)
{
    size_t used = (size_t)snprintf(buf, n, "%s", field);
    for (int k = 0; k < depth && used < n; k++)
        used += (size_t)snprintf(buf + used, n - used, "[%zu]", idx[k]);
}

typedef struct walk {
    int ndim;
    const int64_t *shape;
    const char *input, *field;
    jn__json_leaf_fn fn;
    void *arg;
    size_t next; /* row-major index of the next leaf */
    size_t idx[JN_MAX_DIMS];
    jn_err *err;
} walk;

static int walk_leaf(walk *w, const json_t *leaf, int depth)
{
    if (json_is_array(leaf) || json_is_object(leaf)) {
        char path[256], shp[160];
        format_path(path, sizeof path, w->field, w->idx, depth);
        format_shape(shp, sizeof shp, w->ndim, w->shape);
        return jn_err_set(w->err, JN_EINVAL, "input '%s': %s is %s where shape %s puts a value", w->input, path,
                          jn__json_kind(leaf), shp);
    }
    size_t i = w->next++;
    return w->fn ? w->fn(w->arg, leaf, i, w->err) : 0;
}

static int walk_nested(walk *w, const json_t *node, int depth)
{
    if (depth == w->ndim)
        return walk_leaf(w, node, depth);
    char path[256], shp[160];
    if (!json_is_array(node)) {
        format_path(path, sizeof path, w->field, w->idx, depth);
        format_shape(shp, sizeof shp, w->ndim, w->shape);
        return jn_err_set(w->err, JN_EINVAL, "input '%s': data nesting does not match shape %s: %s is %s, expected "
                          "an array of %lld", w->input, shp, path, jn__json_kind(node), (long long)w->shape[depth]);
    }
    size_t n = json_array_size(node);
    if ((int64_t)n != w->shape[depth]) {
        format_path(path, sizeof path, w->field, w->idx, depth);
        format_shape(shp, sizeof shp, w->ndim, w->shape);
        return jn_err_set(w->err, JN_EINVAL, "input '%s': data nesting does not match shape %s: %s has %zu "
                          "elements, expected %lld", w->input, shp, path, n, (long long)w->shape[depth]);
    }
    for (size_t k = 0; k < n; k++) {
        w->idx[depth] = k;
        int rc = walk_nested(w, json_array_get(node, k), depth + 1);
        if (rc)
            return rc;
    }
    return 0;
}

int jn__json_walk_data(const json_t *data, int ndim, const int64_t *shape, const char *input, const char *field,
                       jn__json_leaf_fn fn, void *arg, jn_err *err)
{
    walk w = {.ndim = ndim, .shape = shape, .input = input, .field = field, .fn = fn, .arg = arg, .err = err};
    int64_t count = jn_shape_element_count(ndim, shape);
    char shp[160]; /* formatted only for a message: this runs for every input */
    if (count < 0) {
        format_shape(shp, sizeof shp, ndim, shape);
        return jn_err_set(err, JN_EINVAL, "input '%s': shape %s is not a valid shape", input, shp);
    }
    if (!json_is_array(data)) {
        if (ndim == 0) /* a scalar tensor may be given bare */
            return walk_leaf(&w, data, 0);
        return jn_err_set(err, JN_EINVAL, "input '%s': %s must be an array, got %s", input, field, jn__json_kind(data));
    }
    size_t n = json_array_size(data);
    bool flat = ndim <= 1 || n == 0 || !json_is_array(json_array_get(data, 0));
    if (!flat)
        return walk_nested(&w, data, 0);
    if ((int64_t)n != count) {
        format_shape(shp, sizeof shp, ndim, shape);
        return jn_err_set(err, JN_EINVAL, "input '%s': %s has %zu elements, shape %s needs %lld", input, field, n,
                          shp, (long long)count);
    }
    for (size_t k = 0; k < n; k++) {
        w.idx[0] = k;
        int rc = walk_leaf(&w, json_array_get(data, k), ndim ? 1 : 0);
        if (rc)
            return rc;
    }
    return 0;
}

int jn__json_infer_shape(const json_t *v, int *ndim, int64_t *shape, const char *input, const char *field,
                         jn_err *err)
{
    int n = 0;
    while (json_is_array(v)) {
        if (n == JN_MAX_DIMS)
            return jn_err_set(err, JN_EINVAL, "input '%s': %s is nested deeper than the maximum rank of %d", input,
                              field, JN_MAX_DIMS);
        size_t len = json_array_size(v);
        shape[n++] = (int64_t)len;
        if (!len)
            break;
        v = json_array_get(v, 0);
    }
    *ndim = n;
    return 0;
}

typedef struct fill_arg {
    jn_dtype dtype;
    void *data;
    const char *input, *field;
    const char **strs; /* BYTES */
    size_t *lens;
} fill_arg;

static int fill_leaf(void *arg, const json_t *leaf, size_t index, jn_err *err)
{
    fill_arg *f = arg;
    if (f->dtype != JN_DTYPE_BYTES)
        return jn__json_put_elem(leaf, f->dtype, f->data, index, f->input, f->field, err);
    if (!json_is_string(leaf))
        return jn_err_set(err, JN_EINVAL, "input '%s': %s[%zu] is %s, expected a string (BYTES)", f->input,
                          f->field, index, jn__json_kind(leaf));
    f->strs[index] = json_string_value(leaf);
    f->lens[index] = json_string_length(leaf);
    return 0;
}

int jn__json_to_tensor(const json_t *data, const char *name, jn_dtype dtype, int ndim, const int64_t *shape,
                       const char *field, jn_tensor **out, jn_err *err)
{
    *out = NULL;
    /* Structure first: nothing is allocated for a shape the data does not have. */
    int rc = jn__json_walk_data(data, ndim, shape, name, field, NULL, NULL, err);
    if (rc)
        return rc;
    size_t count = (size_t)jn_shape_element_count(ndim, shape);
    fill_arg f = {.dtype = dtype, .input = name, .field = field};
    if (dtype == JN_DTYPE_BYTES) {
        f.strs = malloc((count ? count : 1) * sizeof *f.strs);
        f.lens = malloc((count ? count : 1) * sizeof *f.lens);
        if (!f.strs || !f.lens)
            rc = jn_err_set(err, JN_ENOMEM, "out of memory");
        if (!rc)
            rc = jn__json_walk_data(data, ndim, shape, name, field, fill_leaf, &f, err);
        if (!rc && !(*out = jn_tensor_from_strings(name, ndim, shape, f.strs, f.lens, count, err)))
            rc = err->code ? err->code : JN_ENOMEM;
        free(f.strs);
        free(f.lens);
        return rc;
    }
    jn_tensor *t = jn_tensor_create(name, dtype, ndim, shape, err);
    if (!t)
        return err->code ? err->code : JN_ENOMEM;
    f.data = t->data;
    rc = jn__json_walk_data(data, ndim, shape, name, field, fill_leaf, &f, err);
    if (rc) {
        jn_tensor_free(t);
        return rc;
    }
    *out = t;
    return 0;
}

/* ---- elements -> JSON ---- */

static json_t *nonfinite_json(double d)
{
    return json_string(isnan(d) ? "NaN" : d > 0 ? "Infinity" : "-Infinity");
}

/* The shortest decimal (6 to 9 significant digits) that reads back as f, as a double: printed with at most 9
 * digits it shows that decimal. */
static json_t *float_json(float f)
{
    if (!isfinite(f))
        return nonfinite_json(f);
    char buf[40];
    for (int p = 6; p < 9; p++) {
        snprintf(buf, sizeof buf, "%.*g", p, (double)f);
        double d = strtod(buf, NULL);
        if ((float)d == f)
            return json_real(d);
    }
    return json_real((double)f);
}

json_t *jn__json_elem(const jn_tensor *t, size_t i)
{
    const uint8_t *p = (const uint8_t *)t->data + i * jn_dtype_size(t->dtype);
    switch (t->dtype) {
    case JN_DTYPE_BOOL:
        return json_boolean(*p != 0);
    case JN_DTYPE_UINT8:
        return json_integer(*p);
    case JN_DTYPE_INT8:
        return json_integer((int8_t)*p);
    case JN_DTYPE_UINT16: {
        uint16_t v;
        memcpy(&v, p, sizeof v);
        return json_integer(v);
    }
    case JN_DTYPE_INT16: {
        int16_t v;
        memcpy(&v, p, sizeof v);
        return json_integer(v);
    }
    case JN_DTYPE_UINT32: {
        uint32_t v;
        memcpy(&v, p, sizeof v);
        return json_integer(v);
    }
    case JN_DTYPE_INT32: {
        int32_t v;
        memcpy(&v, p, sizeof v);
        return json_integer(v);
    }
    case JN_DTYPE_INT64: {
        int64_t v;
        memcpy(&v, p, sizeof v);
        return json_integer(v);
    }
    case JN_DTYPE_UINT64: {
        uint64_t v;
        memcpy(&v, p, sizeof v);
        return v <= INT64_MAX ? json_integer((json_int_t)v) : json_real((double)v);
    }
    case JN_DTYPE_FP16: {
        uint16_t v;
        memcpy(&v, p, sizeof v);
        return float_json(jn_fp16_to_float(v));
    }
    case JN_DTYPE_BF16: {
        uint16_t v;
        memcpy(&v, p, sizeof v);
        return float_json(jn_bf16_to_float(v));
    }
    case JN_DTYPE_FP32: {
        float v;
        memcpy(&v, p, sizeof v);
        return float_json(v);
    }
    case JN_DTYPE_FP64: {
        double v;
        memcpy(&v, p, sizeof v);
        return isfinite(v) ? json_real(v) : nonfinite_json(v);
    }
    default:
        return json_null();
    }
}

bool jn__tensor_needs_binary(const jn_tensor *t, bool halfs_allowed)
{
    switch (t->dtype) {
    case JN_DTYPE_FP16:
    case JN_DTYPE_BF16:
        return !halfs_allowed;
    case JN_DTYPE_UINT64: {
        size_t n = t->byte_size / sizeof(uint64_t);
        for (size_t i = 0; i < n; i++) {
            uint64_t v;
            memcpy(&v, (const uint8_t *)t->data + i * sizeof v, sizeof v);
            if (v > INT64_MAX)
                return true;
        }
        return false;
    }
    case JN_DTYPE_BYTES: {
        size_t pos = 0, bad;
        const uint8_t *elem;
        uint32_t len;
        while (jn_bytes_next(t->data, t->byte_size, &pos, &elem, &len))
            if (!jn_utf8_valid(elem, len, &bad))
                return true;
        return false;
    }
    default:
        return false;
    }
}

static json_t *bytes_json(const uint8_t *elem, uint32_t len, bool base64)
{
    if (!base64)
        return json_stringn((const char *)elem, len);
    size_t n;
    char *s = jn_base64_encode(elem, len, &n);
    json_t *j = s ? json_stringn(s, n) : NULL;
    free(s);
    return j;
}

/* Leaves in row-major order, from an element index or from the BYTES cursor. */
typedef struct emit {
    const jn_tensor *t;
    bool base64;
    size_t next;
    size_t pos; /* BYTES cursor */
} emit;

static json_t *next_leaf(emit *e)
{
    if (e->t->dtype != JN_DTYPE_BYTES)
        return jn__json_elem(e->t, e->next++);
    const uint8_t *elem;
    uint32_t len;
    if (!jn_bytes_next(e->t->data, e->t->byte_size, &e->pos, &elem, &len))
        return json_null(); /* a malformed payload was rejected by the executor; this is not reached */
    e->next++;
    return bytes_json(elem, len, e->base64);
}

static json_t *nested(emit *e, int depth)
{
    if (depth == e->t->ndim)
        return next_leaf(e);
    json_t *a = json_array();
    for (int64_t k = 0; a && k < e->t->shape[depth]; k++) {
        if (json_array_append_new(a, nested(e, depth + 1))) {
            json_decref(a);
            return NULL;
        }
    }
    return a;
}

json_t *jn__tensor_to_json(const jn_tensor *t, bool flat, bool base64)
{
    emit e = {.t = t, .base64 = base64};
    int64_t count = jn_tensor_element_count(t);
    if (count < 0)
        return NULL;
    if (!flat)
        return nested(&e, 0);
    json_t *a = json_array();
    for (int64_t k = 0; a && k < count; k++) {
        if (json_array_append_new(a, next_leaf(&e))) {
            json_decref(a);
            return NULL;
        }
    }
    return a;
}

size_t jn__json_real_flags(const jn_tensor_list *outputs)
{
    for (size_t i = 0; i < outputs->count; i++)
        if (outputs->items[i]->dtype == JN_DTYPE_FP64)
            return JSON_REAL_PRECISION(17);
    return JSON_REAL_PRECISION(9);
}

