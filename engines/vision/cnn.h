/* cnn.h — a small convolutional image classifier: forward pass on the shared kernels (kernels/jn_kernels.h, the
 * ONNX adapter's), backward pass with OpenBLAS.
 *
 * Architecture (fixed shape, sizes from jn_cnn_arch):
 *   input [N, H, W, C] (for 1-channel images this is also NCHW [N, 1, H, W])
 *   -> conv k x k, c1 filters, same padding + ReLU -> maxpool 2
 *   -> conv k x k, c2 filters, same padding + ReLU -> maxpool 2
 *   -> dense hidden + ReLU -> dense classes (logits); softmax cross-entropy for training.
 * Forward (jn_cnn_infer for serving, jn_cnn_forward for training): the same direct convolution and packed dense
 * product the ONNX adapter runs its Conv and Gemm with, on NCHW maps (the ONNX export's layout), one image at a
 * time through the convolutions and the whole batch through the dense layers. Serving packs the weights once
 * (jn_cnn_pack: conv weights to the kernel's OIHW tiles, fc1's columns permuted from the checkpoint's NHWC
 * flattening to NCHW, dense weights to column panels) and fuses each Relu and 2x2 pool into its convolution;
 * training repacks on every call (the weights change every step) and keeps the unpooled maps. The backward pass
 * transposes the kept maps to NHWC and works there: im2col + sgemm over the whole batch. Max pooling keeps no
 * argmax: backward finds it again from the activations (the first maximum of each 2x2 window in (dy, dx) order).
 * Weights: convN.weight [cout, k, k, cin] (OHWI), convN.bias [cout], fcN.weight [out, in] where fc1's input is the
 * NHWC flattening (h, w, c) of the second pooled map, fcN.bias [out]. FP32 throughout.
 *
 * Ownership: jn_cnn owns its parameters and gradients (one allocation each); a jn_cnn_packed owns its packed copy
 * of the weights (one allocation, independent of the jn_cnn once packed); a jn_cnn_work owns the scratch of one
 * forward/backward pass up to its batch capacity. jn_cnn_to_tensors returns tensors the caller owns (copies).
 * Thread-safety: jn_cnn_infer on a const jn_cnn_packed with a work area per thread may run concurrently;
 * jn_cnn_forward and jn_cnn_backward write their work area (and backward the model's gradients): one thread per
 * work area (BLAS itself may use several threads).
 */
#ifndef JN_VISION_CNN_H
#define JN_VISION_CNN_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "tensor.h"

typedef struct jn_cnn_arch {
    int h, w, c;  /* input size: 28, 28, 1 for Fashion-MNIST; h and w divisible by 4 */
    int k;        /* odd kernel size (5) */
    int c1, c2;   /* filters of the two conv layers */
    int hidden;   /* dense layer width */
    int classes;  /* outputs */
} jn_cnn_arch;

/* The Fashion-MNIST architecture shipped as fashion-cnn. */
jn_cnn_arch jn_cnn_default_arch(void);

enum { JN_CNN_N_PARAMS = 8 }; /* conv1.w/b, conv2.w/b, fc1.w/b, fc2.w/b */

typedef struct jn_cnn {
    jn_cnn_arch a;
    float *params, *grads; /* all parameters / gradients, contiguous */
    size_t n_params;
    float *p[JN_CNN_N_PARAMS]; /* into params, in jn_cnn_param_names order */
    float *g[JN_CNN_N_PARAMS]; /* into grads */
    size_t len[JN_CNN_N_PARAMS];
} jn_cnn;

extern const char *const jn_cnn_param_names[JN_CNN_N_PARAMS];

/* Allocates the model for `a` with He-normal weights (zero biases) from a PRNG seeded with `seed`. */
int jn_cnn_init(jn_cnn *m, const jn_cnn_arch *a, uint64_t seed, jn_err *err);
void jn_cnn_free(jn_cnn *m);

/* Loads parameters from named tensors (a safetensors checkpoint); the architecture is read off their shapes and
 * must have input h x w x c. `what` names the source in messages. m is initialised on success only. */
int jn_cnn_from_tensors(jn_cnn *m, const jn_tensor_list *ts, int h, int w, int c, const char *what, jn_err *err);
/* Appends copies of the parameters as FP32 tensors named per jn_cnn_param_names. */
int jn_cnn_to_tensors(const jn_cnn *m, jn_tensor_list *out, jn_err *err);

typedef struct jn_cnn_work jn_cnn_work;

/* Scratch for batches of up to `batch` examples: jn_cnn_work_create for training (forward, backward and
 * jn_cnn_infer), jn_cnn_work_create_infer for serving only (jn_cnn_infer: a few hundred KB instead of the training
 * maps and gradients; jn_cnn_forward on it is a programming error and aborts). NULL on out of memory. */
jn_cnn_work *jn_cnn_work_create(const jn_cnn_arch *a, int batch);
jn_cnn_work *jn_cnn_work_create_infer(const jn_cnn_arch *a, int batch);
void jn_cnn_work_destroy(jn_cnn_work *w);

/* Training forward pass of n <= capacity examples x [n, h, w, c] -> logits [n, classes]: packs m's current weights
 * into `w` and keeps the activations there for jn_cnn_backward. */
void jn_cnn_forward(const jn_cnn *m, jn_cnn_work *w, const float *x, int n, float *logits);

/* m's weights packed for the kernels at the level jn_k_isa() gives now. NULL on out of memory. */
typedef struct jn_cnn_packed {
    jn_cnn_arch a;
    int isa;                                                 /* the level packed for (jn_kernels.h) */
    float *c1w, *c1b, *c2w, *c2b, *f1w, *f1b, *f2w, *f2b;    /* into data */
    float data[];
} jn_cnn_packed;
jn_cnn_packed *jn_cnn_pack(const jn_cnn *m);
void jn_cnn_packed_free(jn_cnn_packed *p);

/* Serving forward pass: logits [n, classes] of x [n, h, w, c] (n <= the work area's capacity, created for p->a)
 * with the packed weights; keeps nothing for backward. */
void jn_cnn_infer(const jn_cnn_packed *p, jn_cnn_work *w, const float *x, int n, float *logits);

/* Softmax cross-entropy averaged over n rows: returns the loss, writes dlogits (d loss / d logits, may be NULL) and
 * adds the number of rows whose argmax equals the label to *correct (may be NULL). */
double jn_cnn_softmax_xent(const float *logits, const int *labels, int n, int classes, float *dlogits,
                           long *correct);

/* In place: each row of logits [n, classes] becomes its softmax. */
void jn_cnn_softmax(float *logits, int n, int classes);

/* Backward pass for the last forward on `w` (same x and n): overwrites m->grads with d loss / d params given
 * dlogits. */
void jn_cnn_backward(jn_cnn *m, jn_cnn_work *w, const float *x, int n, const float *dlogits);

#endif
