#include "optim.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"

typedef struct slot {
    float *param;
    const float *grad;
    size_t n;
    float *m; /* SGD velocity, or Adam first moment */
    float *v; /* Adam second moment */
} slot;

struct jn_optim {
    jn_optim_config cfg;
    slot *slots;
    size_t n_slots;
    long t; /* Adam step count */
};

jn_optim_config jn_optim_defaults(jn_optim_kind kind)
{
    jn_optim_config c = {.kind = kind, .lr = kind == JN_OPTIM_ADAM ? 0.001f : 0.01f, .momentum = 0.9f,
                         .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f, .weight_decay = 0.0f};
    return c;
}

jn_optim *jn_optim_create(const jn_optim_config *cfg)
{
    jn_optim *o = calloc(1, sizeof *o);
    if (o)
        o->cfg = *cfg;
    return o;
}

int jn_optim_add(jn_optim *o, float *param, const float *grad, size_t n)
{
    slot *grown = realloc(o->slots, (o->n_slots + 1) * sizeof *grown);
    if (!grown)
        return JN_ENOMEM;
    o->slots = grown;
    slot *s = &grown[o->n_slots];
    s->param = param;
    s->grad = grad;
    s->n = n;
    s->m = calloc(n ? n : 1, sizeof *s->m);
    s->v = o->cfg.kind == JN_OPTIM_ADAM ? calloc(n ? n : 1, sizeof *s->v) : NULL;
    if (!s->m || (o->cfg.kind == JN_OPTIM_ADAM && !s->v)) {
        free(s->m);
        free(s->v);
        return JN_ENOMEM;
    }
    o->n_slots++;
    return 0;
}

void jn_optim_step(jn_optim *o)
{
    const jn_optim_config *c = &o->cfg;
    o->t++;
    float bc1 = 1.0f - powf(c->beta1, (float)o->t), bc2 = 1.0f - powf(c->beta2, (float)o->t);
    for (size_t k = 0; k < o->n_slots; k++) {
        slot *s = &o->slots[k];
        for (size_t i = 0; i < s->n; i++) {
            float g = s->grad[i] + c->weight_decay * s->param[i];
            if (c->kind == JN_OPTIM_SGD) {
                s->m[i] = c->momentum * s->m[i] + g;
                s->param[i] -= c->lr * s->m[i];
            } else {
                s->m[i] = c->beta1 * s->m[i] + (1.0f - c->beta1) * g;
                s->v[i] = c->beta2 * s->v[i] + (1.0f - c->beta2) * g * g;
                float mh = s->m[i] / bc1, vh = s->v[i] / bc2;
                s->param[i] -= c->lr * mh / (sqrtf(vh) + c->eps);
            }
        }
    }
}

void jn_optim_set_lr(jn_optim *o, float lr)
{
    o->cfg.lr = lr;
}

void jn_optim_destroy(jn_optim *o)
{
    if (!o)
        return;
    for (size_t k = 0; k < o->n_slots; k++) {
        free(o->slots[k].m);
        free(o->slots[k].v);
    }
    free(o->slots);
    free(o);
}

int jn_optim_kind_from_name(const char *name)
{
    if (name && strcmp(name, "sgd") == 0)
        return JN_OPTIM_SGD;
    if (name && strcmp(name, "adam") == 0)
        return JN_OPTIM_ADAM;
    return -1;
}
