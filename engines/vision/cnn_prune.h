/* cnn_prune.h — pruning the CNN of cnn.h (`junction prune --model fashion-cnn`).
 *
 * Structured (jn_cnn_prune_channels): each convolution loses the given fraction of its output channels, those with
 * the smallest L1 norm of their weights; the next layer loses the matching inputs (conv2's input channels for
 * conv1, fc1's columns of the removed maps for conv2). The result is a smaller architecture (c1, c2 shrink) that the
 * forward, backward, serving and export paths run as they run any other: really fewer FLOPs and bytes.
 * Unstructured (jn_cnn_prune_magnitude): the given fraction of each weight tensor (biases kept), smallest |w|
 * first, is set to zero; the mask keeps them zero while fine-tuning (jn_cnn_mask_apply after each optimizer step).
 * The shapes stay the same: the checkpoint is as large as before (it only compresses better).
 *
 * Ownership: the caller owns both models; a mask is malloc'd (jn_cnn_mask_free). Thread-safety: none needed (one
 * thread, the trainer's).
 */
#ifndef JN_VISION_CNN_PRUNE_H
#define JN_VISION_CNN_PRUNE_H

#include <stddef.h>
#include <stdint.h>

#include "cnn.h"
#include "err.h"

/* How many of n channels a ratio keeps: n - round(n * ratio), at least 1. */
int jn_cnn_prune_keep(int n, double ratio);

/* out (initialised on success only) = m with round(c1 * ratio) of conv1's and round(c2 * ratio) of conv2's output
 * channels removed (at least one kept in each), the kept ones in their original order. ratio in (0, 1). */
int jn_cnn_prune_channels(const jn_cnn *m, double ratio, jn_cnn *out, jn_err *err);

/* Weight mask: one byte per parameter of m (1 = kept), biases always kept. */
typedef struct jn_cnn_mask {
    uint8_t *keep;   /* m->n_params */
    size_t n_params;
    size_t zeroed;   /* weights set to zero */
    size_t weights;  /* weights considered (the four weight tensors) */
} jn_cnn_mask;

/* Zeroes the `sparsity` fraction (in (0, 1)) of smallest-magnitude weights of each of the four weight tensors of m
 * and fills mask. Ties at the threshold are broken by position (exactly round(len * sparsity) per tensor). */
int jn_cnn_prune_magnitude(jn_cnn *m, double sparsity, jn_cnn_mask *mask, jn_err *err);
/* Re-zeroes the masked weights (after an optimizer step moved them). */
void jn_cnn_mask_apply(jn_cnn *m, const jn_cnn_mask *mask);
void jn_cnn_mask_free(jn_cnn_mask *mask);

/* Parameters of m that are not zero. */
size_t jn_cnn_nonzero(const jn_cnn *m);

#endif
