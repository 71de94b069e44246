/* onnx_inputs.c — config.json "inputs" beside an ONNX model (issue #17): an input's kind (AUDIO_TENSOR with its
 * sample_rate: callers may then send encoded audio, converted before the model runs) and a default value callers may
 * leave out. Errors name the file and the field ("models/vad/config.json: inputs.sr.default: ...").
 *
 * Ownership: the default tensor is given to the port (jn_port_set_default). Runs once at load, before the engine is
 * registered.
 */
#include <jansson.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "engine.h"
#include "onnx_internal.h"
#include "signature.h"

/* ---- config.json "inputs" (issue #17): {"<input>": {"kind": "AUDIO_TENSOR", "sample_rate": 16000}, "<input>":
 * {"default": [16000]}} — a port's kind and rate, and a value callers may leave out. ---- */

/* Flattens a number or nested arrays of numbers into vals (at most cap); -1 on a non-number. */
static int64_t flatten_numbers(const json_t *v, double *vals, int64_t n, int64_t cap)
{
    if (json_is_number(v)) {
        if (n < cap)
            vals[n] = json_number_value(v);
        return n + 1;
    }
    if (json_is_true(v) || json_is_false(v)) {
        if (n < cap)
            vals[n] = json_is_true(v);
        return n + 1;
    }
    if (!json_is_array(v))
        return -1;
    size_t i;
    const json_t *x;
    json_array_foreach(v, i, x) {
        n = flatten_numbers(x, vals, n, cap);
        if (n < 0)
            return -1;
    }
    return n;
}

/* The default tensor of `port` from its JSON value: the port's dtype, its fixed dims, and for free (-1) dims 1 each
 * but the last, which takes what the values need. */
static int default_tensor(const jn_port *port, const json_t *v, const char *path, jn_tensor **out, jn_err *err)
{
    int64_t n = flatten_numbers(v, NULL, 0, 0);
    if (n < 0)
        return jn_err_set(err, JN_EINVAL, "%s: inputs.%s.default must be a number or an array of numbers", path,
                          port->name);
    if (n == 0 || n > (1 << 20))
        return jn_err_set(err, JN_EINVAL, "%s: inputs.%s.default has %lld values (1 .. 1048576)", path, port->name,
                          (long long)n);
    int64_t shape[JN_MAX_DIMS], fixed = 1;
    int last_free = -1;
    for (int i = 0; i < port->ndim; i++) {
        shape[i] = port->shape[i] < 0 ? 1 : port->shape[i];
        if (port->shape[i] < 0)
            last_free = i;
        else
            fixed *= port->shape[i];
    }
    if (last_free >= 0 && fixed > 0 && n % fixed == 0)
        shape[last_free] = n / fixed;
    char type[160];
    jn_format_type(type, sizeof type, port->dtype, port->ndim, port->shape);
    if (jn_shape_element_count(port->ndim, shape) != n)
        return jn_err_set(err, JN_EINVAL, "%s: inputs.%s.default: %lld values cannot fill %s", path, port->name,
                          (long long)n, type);
    double *vals = malloc(sizeof *vals * (size_t)n);
    jn_tensor *t = vals ? jn_tensor_create(port->name, port->dtype, port->ndim, shape, err) : NULL;
    if (!t) {
        free(vals);
        return vals ? (err ? err->code : JN_ENOMEM) : jn_err_set(err, JN_ENOMEM, "out of memory");
    }
    flatten_numbers(v, vals, 0, n);
    int rc = 0;
    for (int64_t i = 0; i < n && !rc; i++) {
        double x = vals[i];
        bool integral = x == floor(x);
        switch (port->dtype) {
        case JN_DTYPE_FP32:
            ((float *)t->data)[i] = (float)x;
            break;
        case JN_DTYPE_FP64:
            ((double *)t->data)[i] = x;
            break;
        case JN_DTYPE_INT64:
            integral = integral && fabs(x) < 9.2e18;
            ((int64_t *)t->data)[i] = integral ? (int64_t)x : 0;
            break;
        case JN_DTYPE_INT32:
            integral = integral && x >= INT32_MIN && x <= INT32_MAX;
            ((int32_t *)t->data)[i] = integral ? (int32_t)x : 0;
            break;
        case JN_DTYPE_INT8:
            integral = integral && x >= INT8_MIN && x <= INT8_MAX;
            ((int8_t *)t->data)[i] = integral ? (int8_t)x : 0;
            break;
        case JN_DTYPE_UINT8:
        case JN_DTYPE_BOOL:
            integral = integral && x >= 0 && x <= (port->dtype == JN_DTYPE_BOOL ? 1 : UINT8_MAX);
            ((uint8_t *)t->data)[i] = integral ? (uint8_t)x : 0;
            break;
        default:
            rc = jn_err_set(err, JN_EINVAL, "%s: inputs.%s.default: a default for datatype %s is not supported "
                                            "(FP32, FP64, INT64, INT32, INT8, UINT8, BOOL)", path, port->name,
                            jn_dtype_name(port->dtype));
            continue;
        }
        if (!integral && port->dtype != JN_DTYPE_FP32 && port->dtype != JN_DTYPE_FP64)
            rc = jn_err_set(err, JN_EINVAL, "%s: inputs.%s.default[%lld] = %g does not fit %s", path, port->name,
                            (long long)i, x, jn_dtype_name(port->dtype));
    }
    free(vals);
    if (rc) {
        jn_tensor_free(t);
        return rc;
    }
    *out = t;
    return 0;
}

int jn__onnx_apply_input_config(struct jn_engine *e, const struct json_t *inputs, const char *path, jn_err *err)
{
    const char *name;
    json_t *o;
    json_object_foreach((json_t *)inputs, name, o) {
        jn_port *port = NULL;
        for (size_t i = 0; i < e->sig.n_inputs; i++)
            if (strcmp(e->sig.inputs[i].name, name) == 0)
                port = &e->sig.inputs[i];
        if (!port)
            return jn_err_set(err, JN_EINVAL, "%s: inputs.%s: the model has no input '%s'", path, name, name);
        if (!json_is_object(o))
            return jn_err_set(err, JN_EINVAL, "%s: inputs.%s takes an object ({\"kind\", \"sample_rate\", "
                                              "\"default\"})", path, name);
        const char *key;
        json_t *v;
        json_object_foreach(o, key, v) {
            if (strcmp(key, "kind") != 0 && strcmp(key, "sample_rate") != 0 && strcmp(key, "default") != 0)
                return jn_err_set(err, JN_EINVAL, "%s: inputs.%s: unknown field '%s' (kind, sample_rate, default)",
                                  path, name, key);
        }
        const json_t *kind = json_object_get(o, "kind"), *rate = json_object_get(o, "sample_rate"),
                     *def = json_object_get(o, "default");
        if (kind) {
            jn_kind k = json_is_string(kind) ? jn_kind_from_name(json_string_value(kind)) : JN_KIND_INVALID;
            if (k != JN_KIND_TENSOR && k != JN_KIND_AUDIO_TENSOR && k != JN_KIND_IMAGE_TENSOR &&
                k != JN_KIND_EMBEDDING)
                return jn_err_set(err, JN_EINVAL, "%s: inputs.%s.kind must be one of TENSOR, AUDIO_TENSOR, "
                                                  "IMAGE_TENSOR, EMBEDDING", path, name);
            if (k == JN_KIND_AUDIO_TENSOR && (port->dtype != JN_DTYPE_FP32 || port->ndim < 1 || port->ndim > 3)) {
                char type[160];
                return jn_err_set(err, JN_EINVAL, "%s: inputs.%s.kind: AUDIO_TENSOR needs FP32 samples of rank 1 to "
                                                  "3 ([samples], [N, samples] or [N, channels, samples]); the model's "
                                                  "input is %s", path, name,
                                  jn_format_type(type, sizeof type, port->dtype, port->ndim, port->shape));
            }
            port->kind = k;
        }
        if (rate) {
            json_int_t r = json_is_integer(rate) ? json_integer_value(rate) : 0;
            if (r < 1 || r > 384000)
                return jn_err_set(err, JN_EINVAL, "%s: inputs.%s.sample_rate must be an integer in 1..384000 (Hz)",
                                  path, name);
            if (port->kind != JN_KIND_AUDIO_TENSOR)
                return jn_err_set(err, JN_EINVAL, "%s: inputs.%s.sample_rate is for AUDIO_TENSOR inputs (set "
                                                  "\"kind\": \"AUDIO_TENSOR\")", path, name);
            port->sample_rate = (int)r;
        }
        if (def) {
            jn_tensor *t = NULL;
            int rc = default_tensor(port, def, path, &t, err);
            if (!rc && (rc = jn_port_set_default(port, t, err)))
                jn_err_prefix(err, "%s: inputs.%s.default", path, name);
            if (rc)
                return rc;
        }
    }
    return 0;
}

