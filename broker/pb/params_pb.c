/* params_pb.c — jn_params <-> junction.v1.Parameter and inference.InferParameter (see params_pb.h). */
#include "params_pb.h"

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

/* One block: the n entry pointers the message wants, then n (entry, value) slots they point at. */
#define ALIGN_UP(n, a) (((n) + (a) - 1) / (a) * (a))

int jn_params_to_v1_request(const jn_params *params, Junction__V1__InferRequest *req)
{
    typedef struct slot {
        Junction__V1__InferRequest__ParametersEntry entry;
        Junction__V1__Parameter value;
    } slot;
    size_t n = params ? params->count : 0;
    req->n_parameters = 0;
    req->parameters = NULL;
    if (!n)
        return 0;
    size_t at = ALIGN_UP(n * sizeof *req->parameters, _Alignof(slot));
    char *block = malloc(at + n * sizeof(slot));
    if (!block)
        return JN_ENOMEM;
    Junction__V1__InferRequest__ParametersEntry **ptrs = (void *)block;
    slot *slots = (slot *)(void *)(block + at);
    for (size_t i = 0; i < n; i++) {
        junction__v1__infer_request__parameters_entry__init(&slots[i].entry);
        v1_value(&slots[i].value, &params->items[i]);
        slots[i].entry.key = params->items[i].key;
        slots[i].entry.value = &slots[i].value;
        ptrs[i] = &slots[i].entry;
    }
    req->n_parameters = n;
    req->parameters = ptrs;
    return 0;
}

int jn_params_to_v2_request(const jn_params *params, Inference__ModelInferRequest *req)
{
    typedef struct slot {
        Inference__ModelInferRequest__ParametersEntry entry;
        Inference__InferParameter value;
    } slot;
    size_t n = params ? params->count : 0;
    req->n_parameters = 0;
    req->parameters = NULL;
    if (!n)
        return 0;
    size_t at = ALIGN_UP(n * sizeof *req->parameters, _Alignof(slot));
    char *block = malloc(at + n * sizeof(slot));
    if (!block)
        return JN_ENOMEM;
    Inference__ModelInferRequest__ParametersEntry **ptrs = (void *)block;
    slot *slots = (slot *)(void *)(block + at);
    for (size_t i = 0; i < n; i++) {
        inference__model_infer_request__parameters_entry__init(&slots[i].entry);
        v2_value(&slots[i].value, &params->items[i]);
        slots[i].entry.key = params->items[i].key;
        slots[i].entry.value = &slots[i].value;
        ptrs[i] = &slots[i].entry;
    }
    req->n_parameters = n;
    req->parameters = ptrs;
    return 0;
}
