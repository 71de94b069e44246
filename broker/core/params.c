#include "params.h"

#include <stdlib.h>
#include <string.h>

#include "err.h"

void jn_params_init(jn_params *p)
{
    p->items = NULL;
    p->count = 0;
}

static void param_free_value(jn_param *it)
{
    if (it->type == JN_PARAM_STRING)
        free(it->v.s);
}

void jn_params_clear(jn_params *p)
{
    for (size_t i = 0; i < p->count; i++) {
        free(p->items[i].key);
        param_free_value(&p->items[i]);
    }
    free(p->items);
    jn_params_init(p);
}

int jn_params_copy(jn_params *dst, const jn_params *src)
{
    for (size_t i = 0; src && i < src->count; i++) {
        const jn_param *it = &src->items[i];
        int rc = it->type == JN_PARAM_BOOL     ? jn_params_set_bool(dst, it->key, it->v.b)
                 : it->type == JN_PARAM_INT    ? jn_params_set_int(dst, it->key, it->v.i)
                 : it->type == JN_PARAM_DOUBLE ? jn_params_set_double(dst, it->key, it->v.d)
                                               : jn_params_set_string(dst, it->key, it->v.s);
        if (rc)
            return rc;
    }
    return 0;
}

bool jn_params_remove(jn_params *p, const char *key)
{
    for (size_t i = 0; i < p->count; i++) {
        if (strcmp(p->items[i].key, key) == 0) {
            free(p->items[i].key);
            param_free_value(&p->items[i]);
            memmove(&p->items[i], &p->items[i + 1], (p->count - i - 1) * sizeof *p->items);
            p->count--;
            return true;
        }
    }
    return false;
}

const jn_param *jn_params_find(const jn_params *p, const char *key)
{
    for (size_t i = 0; i < p->count; i++)
        if (strcmp(p->items[i].key, key) == 0)
            return &p->items[i];
    return NULL;
}

static jn_param *slot(jn_params *p, const char *key)
{
    for (size_t i = 0; i < p->count; i++) {
        if (strcmp(p->items[i].key, key) == 0) {
            param_free_value(&p->items[i]);
            return &p->items[i];
        }
    }
    jn_param *grown = realloc(p->items, (p->count + 1) * sizeof *grown);
    if (!grown)
        return NULL;
    p->items = grown;
    jn_param *it = &grown[p->count];
    if (!(it->key = strdup(key)))
        return NULL;
    it->type = JN_PARAM_BOOL;
    p->count++;
    return it;
}

int jn_params_set_bool(jn_params *p, const char *key, bool v)
{
    jn_param *it = slot(p, key);
    if (!it)
        return JN_ENOMEM;
    it->type = JN_PARAM_BOOL;
    it->v.b = v;
    return 0;
}

int jn_params_set_int(jn_params *p, const char *key, int64_t v)
{
    jn_param *it = slot(p, key);
    if (!it)
        return JN_ENOMEM;
    it->type = JN_PARAM_INT;
    it->v.i = v;
    return 0;
}

int jn_params_set_double(jn_params *p, const char *key, double v)
{
    jn_param *it = slot(p, key);
    if (!it)
        return JN_ENOMEM;
    it->type = JN_PARAM_DOUBLE;
    it->v.d = v;
    return 0;
}

int jn_params_set_string(jn_params *p, const char *key, const char *v)
{
    char *copy = strdup(v);
    if (!copy)
        return JN_ENOMEM;
    jn_param *it = slot(p, key);
    if (!it) {
        free(copy);
        return JN_ENOMEM;
    }
    it->type = JN_PARAM_STRING;
    it->v.s = copy;
    return 0;
}

bool jn_params_get_double(const jn_params *p, const char *key, double *out)
{
    const jn_param *it = jn_params_find(p, key);
    if (!it)
        return false;
    switch (it->type) {
    case JN_PARAM_INT:
        *out = (double)it->v.i;
        return true;
    case JN_PARAM_DOUBLE:
        *out = it->v.d;
        return true;
    case JN_PARAM_STRING: {
        char *end;
        double d = strtod(it->v.s, &end);
        if (end == it->v.s || *end)
            return false;
        *out = d;
        return true;
    }
    case JN_PARAM_BOOL:
        return false;
    }
    return false;
}

const char *jn_params_get_string(const jn_params *p, const char *key)
{
    const jn_param *it = jn_params_find(p, key);
    return it && it->type == JN_PARAM_STRING ? it->v.s : NULL;
}
