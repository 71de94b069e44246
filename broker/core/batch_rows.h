/* batch_rows.h — the dynamic batcher's row work (batcher.h): which waiting requests may share one execution, a
 * request's rows, the batch's inputs concatenated along the first dimension (one copy) and each request's rows of
 * every output as tensors over the batch's buffers (no copy).
 *
 * Ownership: gather appends new tensors (owning a fresh buffer each) to `ins`; split initialises mine[k] for the k-th
 * request of the chain and appends tensors that hold references on the outputs' buffers (the caller may then clear
 * `outs`). Thread-safety: pure functions of their arguments.
 */
#ifndef JN_BATCH_ROWS_H
#define JN_BATCH_ROWS_H

#include <stdbool.h>
#include <stdint.h>

#include "batcher.h"

/* May a and b share a batch? Both batchable (rows > 0), the same inputs by name, dtype and shape beyond the first
 * dimension, the same requested outputs in the same order, the same parameters but `priority` and `timeout`. */
bool jn_batch_compatible(const jn_batch_item *a, const jn_batch_item *b);
/* The request's rows: its inputs' shared first dimension, or 0 when they share none (it cannot join a batch). */
int64_t jn_batch_rows_of(const jn_tensor_list *inputs);
/* The batch (a chain through next) as one set of inputs of `total` rows, in the first request's input order. */
int jn_batch_gather(const jn_batch_item *batch, int64_t total, jn_tensor_list *ins, jn_err *err);
/* Every output of the batch split back into mine[0..]: JN_EINTERNAL naming `model` and the output when an output
 * does not have `total` rows. */
int jn_batch_split(const char *model, jn_batch_item *batch, int64_t total, jn_tensor_list *outs, jn_tensor_list *mine,
                   jn_err *err);

#endif
