/* json_util.c — what the pipeline's JSON code shares (json_util.h). */
#include "json_util.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

int jn__json_bad(jn_err *err, const char *path, const char *fmt, ...)
{
    char msg[JN_ERR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return jn_err_set(err, JN_EINVAL, "%s: %s", *path ? path : "pipeline JSON", msg);
}

const char *jn__json_type_of(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        return "an object";
    case JSON_ARRAY:
        return "an array";
    case JSON_STRING:
        return "a string";
    case JSON_INTEGER:
        return "an integer";
    case JSON_REAL:
        return "a number";
    case JSON_TRUE:
    case JSON_FALSE:
        return "a boolean";
    case JSON_NULL:
        return "null";
    }
    return "a value";
}

int jn__json_digits_for(double x)
{
    char buf[64];
    for (int p = 1; p < 17; p++) {
        snprintf(buf, sizeof buf, "%.*g", p, x);
        if (strtod(buf, NULL) == x)
            return p;
    }
    return 17;
}

void jn__json_value_digits(const json_t *v, int *digits)
{
    if (json_is_real(v) && jn__json_digits_for(json_real_value(v)) > *digits)
        *digits = jn__json_digits_for(json_real_value(v));
    const char *key;
    json_t *x;
    size_t i;
    if (json_is_object(v))
        json_object_foreach((json_t *)v, key, x) jn__json_value_digits(x, digits);
    else if (json_is_array(v))
        json_array_foreach(v, i, x) jn__json_value_digits(x, digits);
}
