/* onnx_proto.h — conversions from the protobuf-c messages of onnx.proto (onnx_proto.c), shared by the graph loader
 * (onnx_load.c) and the subgraph loader (onnx_subgraph.c).
 *
 * Ownership: returned tensors are one malloc block (header and data) the caller frees with free(); ox_attr_copy
 * fills an attribute whose memory node_free releases; a GRAPH attribute only borrows the message, which lives
 * until loading ends. */
#ifndef JN_ONNX_PROTO_H
#define JN_ONNX_PROTO_H

#include "onnx.pb-c.h"
#include "onnx_internal.h"

const char *ox_onnx_type_name(int32_t t);
/* A zero-filled tensor of that shape; NULL with err set. */
ox_tensor *ox_tensor_new(jn_dtype dtype, int ndim, const int64_t *shape, jn_err *err);
/* `what` names the tensor in messages ("initializer 'w'"). */
ox_tensor *ox_tensor_from_proto(const Onnx__TensorProto *p, const char *what, jn_err *err);
/* A tensor, sequence-of-tensor, optional-tensor or optional-sequence type: 0, with -1 dims where not fixed and
 * *ndim -1 when the shape is not given; -1 for any other type, -2 for a rank past JN_MAX_DIMS. */
int ox_type_proto(const Onnx__TypeProto *tp, ox_kind *kind, jn_dtype *dtype, int *ndim, int64_t *shape);
/* A graph input's or output's declared type; only tensors unless any_kind. JN_EUNIMPL naming `what` and the value
 * for anything else or an unsupported dtype. */
int ox_value_info_type(const Onnx__ValueInfoProto *vi, const char *what, bool any_kind, ox_kind *kind,
                       jn_dtype *dtype, int *ndim, int64_t *shape, jn_err *err);
int ox_attr_copy(ox_attr *a, const Onnx__AttributeProto *p, const char *what, jn_err *err);

#endif
