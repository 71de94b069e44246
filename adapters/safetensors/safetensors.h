/* safetensors.h — named tensors in the safetensors format (8-byte little-endian header length, a JSON header
 * {"name": {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__": {...}}, then the data, little-endian).
 * The trainer's checkpoints and foreign weights both use it.
 *
 * Ownership: jn_safetensors_read appends new tensors to `out` (the caller owns them; their bytes live in one shared
 * buffer) and, when metadata is non-NULL, sets *metadata to a malloc'd JSON object text or NULL.
 * Errors (truncated file, header not JSON, overlapping or out-of-range offsets, unknown dtype, shape x dtype not
 * matching the byte range) are JN_EINVAL naming the file and the tensor.
 */
#ifndef JN_ADAPTERS_SAFETENSORS_H
#define JN_ADAPTERS_SAFETENSORS_H

#include "err.h"
#include "tensor.h"

int jn_safetensors_read(const char *path, jn_tensor_list *out, char **metadata, jn_err *err);
/* metadata: a JSON object text of string values, or NULL. Written atomically (temp file + rename). */
int jn_safetensors_write(const char *path, const jn_tensor_list *tensors, const char *metadata, jn_err *err);
/* The same from/to memory. */
int jn_safetensors_parse(const uint8_t *data, size_t len, const char *what, jn_tensor_list *out, char **metadata,
                         jn_err *err);

#endif
