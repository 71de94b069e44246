/* json_util.h — what the pipeline's JSON readers and writers share (json.c, condition.c, route.c): the JN_EINVAL
 * that names the JSON path, what a value is in words, and the digits a number needs to be written back exactly.
 *
 * Ownership: nothing kept. Thread-safety: pure functions. Private to broker/core/pipeline/.
 */
#ifndef JN_PIPELINE_JSON_UTIL_H
#define JN_PIPELINE_JSON_UTIL_H

#include <jansson.h>

#include "err.h"

/* JN_EINVAL with "<path>: <message>" (the document itself, path "", shows as "pipeline JSON"). */
__attribute__((format(printf, 3, 4))) int jn__json_bad(jn_err *err, const char *path, const char *fmt, ...);
/* "an object", "an array", "a string", "an integer", "a number", "a boolean", "null". */
const char *jn__json_type_of(const json_t *v);
/* The fewest significant digits that give x back, so 0.1 is written "0.1" and not "0.10000000000000001". */
int jn__json_digits_for(double x);
/* Raises *digits to what every number inside v needs. */
void jn__json_value_digits(const json_t *v, int *digits);

#endif
