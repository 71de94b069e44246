/* optim.h — the optimizers of the standard training loop (load -> init -> forward -> loss -> backward -> optimizer
 * step -> save): SGD with momentum and Adam, over a model's parameters held as named FP32 arrays.
 *
 * Ownership: a jn_optim owns its state (momentum / moment buffers), not the parameters or gradients it updates;
 * those are registered by pointer and must outlive it. Not thread-safe: one training loop drives one optimizer.
 */
#ifndef JN_TRAIN_OPTIM_H
#define JN_TRAIN_OPTIM_H

#include <stddef.h>

typedef enum jn_optim_kind { JN_OPTIM_SGD, JN_OPTIM_ADAM } jn_optim_kind;

typedef struct jn_optim_config {
    jn_optim_kind kind;
    float lr;           /* learning rate */
    float momentum;     /* SGD: 0.9 typical; 0 = plain SGD */
    float beta1, beta2; /* Adam: 0.9, 0.999 */
    float eps;          /* Adam: 1e-8 */
    float weight_decay; /* L2, added to the gradient; 0 = none */
} jn_optim_config;

/* SGD lr 0.01 momentum 0.9, or Adam lr 0.001 (0.9, 0.999, 1e-8); no weight decay. */
jn_optim_config jn_optim_defaults(jn_optim_kind kind);

typedef struct jn_optim jn_optim;

jn_optim *jn_optim_create(const jn_optim_config *cfg);
/* Registers one parameter array and its gradient array (both n floats). 0 or JN_ENOMEM. */
int jn_optim_add(jn_optim *o, float *param, const float *grad, size_t n);
/* One update of every registered parameter from its gradient (the caller zeroes gradients between steps). */
void jn_optim_step(jn_optim *o);
/* Changes the learning rate (schedules). */
void jn_optim_set_lr(jn_optim *o, float lr);
void jn_optim_destroy(jn_optim *o);

/* Parses "sgd" / "adam"; -1 if neither. */
int jn_optim_kind_from_name(const char *name);

#endif
