/* params.h — request parameters (v2 InferParameter / junction.v1 Parameter): a small key -> typed value list.
 *
 * Ownership: jn_params owns its keys and string values (copied on set); jn_params_clear frees them.
 */
#ifndef JN_PARAMS_H
#define JN_PARAMS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum jn_param_type { JN_PARAM_BOOL, JN_PARAM_INT, JN_PARAM_DOUBLE, JN_PARAM_STRING } jn_param_type;

typedef struct jn_param {
    char *key;
    jn_param_type type;
    union {
        bool b;
        int64_t i;
        double d;
        char *s;
    } v;
} jn_param;

typedef struct jn_params {
    jn_param *items;
    size_t count;
} jn_params;

void jn_params_init(jn_params *p);
void jn_params_clear(jn_params *p);
/* Each returns 0 or JN_ENOMEM; a key set twice keeps the last value. */
int jn_params_set_bool(jn_params *p, const char *key, bool v);
int jn_params_set_int(jn_params *p, const char *key, int64_t v);
int jn_params_set_double(jn_params *p, const char *key, double v);
int jn_params_set_string(jn_params *p, const char *key, const char *v);
/* Adds every parameter of src (may be NULL) to dst: 0 or JN_ENOMEM. */
int jn_params_copy(jn_params *dst, const jn_params *src);
/* Removes `key` (freeing its value); true when it was there. */
bool jn_params_remove(jn_params *p, const char *key);
/* Borrowed, or NULL. */
const jn_param *jn_params_find(const jn_params *p, const char *key);
/* Reads a number whatever form it came in (int, double, or a decimal string). Returns true if found and
 * convertible. */
bool jn_params_get_double(const jn_params *p, const char *key, double *out);
/* Borrowed string value or NULL when absent or not a string. */
const char *jn_params_get_string(const jn_params *p, const char *key);

#endif
