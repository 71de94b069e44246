/* wire.h — tensors from and to the pieces protobuf-c decodes, shared by the junction.v1 and v2 codecs.
 *
 * Ownership: tensors made here are new (the caller owns them). Those made from a held message share its bytes
 * through the holder (zero-copy); BYTES tensors from separate strings are copied into the v2 raw layout.
 * jn_wire_strings_view returns a malloc'd array whose entries point INTO the tensor: free the array only, and
 * only after the message that uses it has been packed.
 */
#ifndef JN_PB_WIRE_H
#define JN_PB_WIRE_H

#include <protobuf-c/protobuf-c.h>

#include "pb.h"
#include "tensor.h"

/* A tensor over `len` bytes at `data` inside the held message. `what` names the input in messages. */
int jn_wire_tensor_held(const char *name, jn_dtype dtype, size_t n_shape, const int64_t *shape, void *data,
                        size_t len, jn_pb_holder *holder, jn_tensor **out, jn_err *err);

/* A BYTES tensor from n separate strings. */
int jn_wire_tensor_strings(const char *name, size_t n_shape, const int64_t *shape, const ProtobufCBinaryData *strs,
                           size_t n, jn_tensor **out, jn_err *err);

/* Views of a BYTES tensor's elements; NULL with *n = 0 for an empty tensor or on out of memory (*oom set). */
ProtobufCBinaryData *jn_wire_strings_view(const jn_tensor *t, size_t *n, int *oom);

#endif
