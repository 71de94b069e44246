/* params_pb.c — jn_params <-> junction.v1.Parameter and inference.InferParameter (see params_pb.h). */
#include "params_pb.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

static int added(int rc, const char *key, jn_err *err)
{
    if (rc == JN_EINVAL)
        return jn_err_set(err, JN_EINVAL, "parameter '%s' has no value", key);
    return rc ? jn_err_set(err, rc, "out of memory") : 0;
}

int jn_params_add_v1_pb(jn_params *params, const char *key, const Junction__V1__Parameter *p, jn_err *err)
{
    int rc = JN_EINVAL;
    switch (p ? p->value_case : JUNCTION__V1__PARAMETER__VALUE__NOT_SET) {
    case JUNCTION__V1__PARAMETER__VALUE_BOOL_VALUE:
        rc = jn_params_set_bool(params, key, p->bool_value);
        break;
    case JUNCTION__V1__PARAMETER__VALUE_INT64_VALUE:
        rc = jn_params_set_int(params, key, p->int64_value);
        break;
    case JUNCTION__V1__PARAMETER__VALUE_DOUBLE_VALUE:
        rc = jn_params_set_double(params, key, p->double_value);
        break;
    case JUNCTION__V1__PARAMETER__VALUE_STRING_VALUE:
        rc = jn_params_set_string(params, key, p->string_value);
        break;
    default:
        break;
    }
    return added(rc, key, err);
}

int jn_params_add_v2_pb(jn_params *params, const char *key, const Inference__InferParameter *p, jn_err *err)
{
    int rc = JN_EINVAL;
    switch (p ? p->parameter_choice_case : INFERENCE__INFER_PARAMETER__PARAMETER_CHOICE__NOT_SET) {
    case INFERENCE__INFER_PARAMETER__PARAMETER_CHOICE_BOOL_PARAM:
        rc = jn_params_set_bool(params, key, p->bool_param);
        break;
    case INFERENCE__INFER_PARAMETER__PARAMETER_CHOICE_INT64_PARAM:
        rc = jn_params_set_int(params, key, p->int64_param);
        break;
    case INFERENCE__INFER_PARAMETER__PARAMETER_CHOICE_UINT64_PARAM:
        if (p->uint64_param > INT64_MAX)
            return jn_err_set(err, JN_EINVAL, "parameter '%s' is too large", key);
        rc = jn_params_set_int(params, key, (int64_t)p->uint64_param);
        break;
    case INFERENCE__INFER_PARAMETER__PARAMETER_CHOICE_DOUBLE_PARAM:
        rc = jn_params_set_double(params, key, p->double_param);
        break;
    case INFERENCE__INFER_PARAMETER__PARAMETER_CHOICE_STRING_PARAM:
        rc = jn_params_set_string(params, key, p->string_param);
        break;
    default:
        break;
    }
    return added(rc, key, err);
}

static void v1_value(Junction__V1__Parameter *v, const jn_param *src)
{
    junction__v1__parameter__init(v);
    switch (src->type) {
    case JN_PARAM_BOOL:
        v->value_case = JUNCTION__V1__PARAMETER__VALUE_BOOL_VALUE;
        v->bool_value = src->v.b;
        break;
    case JN_PARAM_INT:
        v->value_case = JUNCTION__V1__PARAMETER__VALUE_INT64_VALUE;
        v->int64_value = src->v.i;
        break;
    case JN_PARAM_DOUBLE:
        v->value_case = JUNCTION__V1__PARAMETER__VALUE_DOUBLE_VALUE;
        v->double_value = src->v.d;
        break;
    case JN_PARAM_STRING:
        v->value_case = JUNCTION__V1__PARAMETER__VALUE_STRING_VALUE;
        v->string_value = src->v.s;
        break;
    }
}

static void v2_value(Inference__InferParameter *v, const jn_param *src)
{
    inference__infer_parameter__init(v);
    switch (src->type) {
    case JN_PARAM_BOOL:
        v->parameter_choice_case = INFERENCE__INFER_PARAMETER__PARAMETER_CHOICE_BOOL_PARAM;
        v->bool_param = src->v.b;
        break;
    case JN_PARAM_INT:
        v->parameter_choice_case = INFERENCE__INFER_PARAMETER__PARAMETER_CHOICE_INT64_PARAM;
        v->int64_param = src->v.i;
        break;
    case JN_PARAM_DOUBLE:
        v->parameter_choice_case = INFERENCE__INFER_PARAMETER__PARAMETER_CHOICE_DOUBLE_PARAM;
        v->double_param = src->v.d;
        break;
    case JN_PARAM_STRING:
        v->parameter_choice_case = INFERENCE__INFER_PARAMETER__PARAMETER_CHOICE_STRING_PARAM;
        v->string_param = src->v.s;
        break;
    }
}

/* The request's parameter map in one block: n entry pointers, then n entries, then n values (each array aligned
 * for any type); fill sets up entry i, its value from the i-th parameter, and pointer i (the block seen as the
 * message's own pointer type). NULL when there are no parameters or memory runs out (*n tells which). */
typedef void (*fill_fn)(void *block, size_t i, void *entry, void *value, const jn_param *src);

static void *params_block(const jn_params *params, size_t entry_size, size_t value_size, fill_fn fill, size_t *n)
{
    const size_t align = _Alignof(max_align_t);
    *n = params ? params->count : 0;
    if (!*n)
        return NULL;
    size_t at_entries = (*n * sizeof(void *) + align - 1) / align * align;
    size_t at_values = at_entries + (*n * entry_size + align - 1) / align * align;
    char *block = malloc(at_values + *n * value_size);
    for (size_t i = 0; block && i < *n; i++)
        fill(block, i, block + at_entries + i * entry_size, block + at_values + i * value_size, &params->items[i]);
    return block;
}

static void fill_v1(void *block, size_t i, void *entry, void *value, const jn_param *src)
{
    Junction__V1__InferRequest__ParametersEntry *e = entry;
    junction__v1__infer_request__parameters_entry__init(e);
    v1_value(value, src);
    e->key = src->key;
    e->value = value;
    ((Junction__V1__InferRequest__ParametersEntry **)block)[i] = e;
}

static void fill_v2(void *block, size_t i, void *entry, void *value, const jn_param *src)
{
    Inference__ModelInferRequest__ParametersEntry *e = entry;
    inference__model_infer_request__parameters_entry__init(e);
    v2_value(value, src);
    e->key = src->key;
    e->value = value;
    ((Inference__ModelInferRequest__ParametersEntry **)block)[i] = e;
}

int jn_params_to_v1_request(const jn_params *params, Junction__V1__InferRequest *req)
{
    size_t n;
    req->parameters = params_block(params, sizeof **req->parameters, sizeof(Junction__V1__Parameter), fill_v1, &n);
    req->n_parameters = req->parameters ? n : 0;
    return n && !req->parameters ? JN_ENOMEM : 0;
}

int jn_params_to_v2_request(const jn_params *params, Inference__ModelInferRequest *req)
{
    size_t n;
    req->parameters = params_block(params, sizeof **req->parameters, sizeof(Inference__InferParameter), fill_v2, &n);
    req->n_parameters = req->parameters ? n : 0;
    return n && !req->parameters ? JN_ENOMEM : 0;
}
