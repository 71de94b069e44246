/* cnn.h — a small convolutional image classifier, forward and backward, computed with OpenBLAS.
 *
 * Architecture (fixed shape, sizes from jn_cnn_arch):
 *   input [N, H, W, C] (for 1-channel images this is also NCHW [N, 1, H, W])
 *   -> conv k x k, c1 filters, same padding + ReLU -> maxpool 2
 *   -> conv k x k, c2 filters, same padding + ReLU -> maxpool 2
 *   -> dense hidden + ReLU -> dense classes (logits); softmax cross-entropy for training.
 * Activations are batch-major NHWC; a convolution is im2col (rows are output pixels) + sgemm, with the bias and ReLU
 * applied in one pass after it. The forward pass convolves one image at a time (its im2col matrix stays in cache; a
 * batch of 32 would not: 10 MB for conv2) and runs the dense layers over the whole batch; the backward pass takes
 * the whole batch per sgemm. In the forward pass a one-channel first layer (fashion-cnn's) builds the transposed
 * im2col matrix instead (one contiguous run per kernel tap and image row) and uses sgemm's transpose flag, and conv2
 * multiplies by its weights transposed (in the work area) in row blocks of at most 1e6 multiply-adds, the size
 * OpenBLAS computes without packing its operands. Max pooling keeps no argmax: backward finds it again from the
 * activations (the first maximum of each 2x2 window in (dy, dx) order).
 * Weights: convN.weight [cout, k, k, cin] (OHWI), convN.bias [cout], fcN.weight [out, in] where fc1's input is the
 * NHWC flattening (h, w, c) of the second pooled map, fcN.bias [out]. FP32 throughout.
 *
 * Ownership: jn_cnn owns its parameters and gradients (one allocation each); a jn_cnn_work owns the scratch of one
 * forward/backward pass up to its batch capacity. jn_cnn_to_tensors returns tensors the caller owns (copies).
 * Thread-safety: forward on a const jn_cnn with a work area per thread may run concurrently; backward writes the
 * model's gradients and is single-threaded (BLAS itself may use several threads).
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

/* Scratch for batches of up to `batch` examples. NULL on out of memory. */
jn_cnn_work *jn_cnn_work_create(const jn_cnn_arch *a, int batch);
void jn_cnn_work_destroy(jn_cnn_work *w);

/* Forward pass of n <= capacity examples x [n, h, w, c] -> logits [n, classes]; keeps the activations in `w` for
 * jn_cnn_backward. */
void jn_cnn_forward(const jn_cnn *m, jn_cnn_work *w, const float *x, int n, float *logits);

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
