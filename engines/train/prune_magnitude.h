/* prune_magnitude.h — unstructured magnitude pruning of one weight tensor, shared by `junction prune --sparsity` on
 * the CNN (engines/vision/cnn_prune.c) and on the text models (engines/text/text_train.c).
 *
 * Ownership: the caller's arrays; nothing is kept. Thread-safety: reentrant (touches only its arguments).
 */
#ifndef JN_TRAIN_PRUNE_MAGNITUDE_H
#define JN_TRAIN_PRUNE_MAGNITUDE_H

#include <stddef.h>
#include <stdint.h>

/* Zeroes round(n * sparsity) of the n weights w with the smallest magnitude (ties: the earlier position goes first)
 * and clears their entries of keep[n] (1 = kept; the others are set to 1). Returns how many were zeroed, or -1 out of
 * memory (nothing changed then). */
int64_t jn_prune_magnitude(float *w, size_t n, double sparsity, uint8_t *keep);

#endif
