/* onnx_build.h — small ONNX models built in memory for the ONNX adapter's unit tests (test_onnx.c,
 * test_onnx_fuse_tf.c, test_onnx_qfuse.c), with protobuf-c over the same onnx.proto the loader reads, so each test
 * states exactly the graph it feeds.
 *
 * Offers: a model importing one operator set (ob_init); graph inputs and outputs, tensors of any ONNX element type
 * whose negative dimensions are the symbolic "N" (ob_input, ob_output); initializers in raw_data, float_data or
 * int64_data (ob_init_raw, ob_init_f32, ob_init_i64); nodes with one output and up to OB_MAX_NODE_INPUTS inputs
 * (ob_node, ob_node_n); INT, INTS, FLOAT and STRING attributes (ob_attr_*); the model packed to bytes (ob_pack) or
 * loaded through jn_onnx_load_bytes (ob_load); an FP32 input for the loaded model (ob_push_f32). The fields of ob_model are the messages themselves: a test may set
 * what no helper covers (a node's domain, say) on the structs the helpers return.
 *
 * Ownership: every message the builder allocates, and its copies of the dims, values and attribute lists passed in
 * (so those may be temporaries), belong to the ob_model and are released by ob_free. Strings (graph, node, value and
 * operator names, domains, STRING attribute values) are borrowed: they must outlive the builder's last use (string
 * literals in practice). ob_pack's buffer is the caller's to free; ob_load's model is the caller's to jn_onnx_free and
 * keeps nothing of the builder, so ob_free may follow at once. ob_push_f32's tensor belongs to the list.
 *
 * Limits: OB_MAX_NODES nodes, OB_MAX_IO graph inputs and as many outputs, OB_MAX_INITS initializers. Going past one,
 * or running out of memory, prints which limit or allocation failed and ends the test program with status 1, as
 * JN_REQUIRE does, but without counting as one of the test's checks (test.h's counters are per test program). Only
 * ob_push_f32 returns its failure, so that the test's JN_REQUIRE on it stays one of its checks.
 *
 * Thread-safety: none; a builder belongs to the thread that builds with it. Models loaded from it are as
 * thread-safe as any jn_onnx_model. */
#ifndef JN_TEST_ONNX_BUILD_H
#define JN_TEST_ONNX_BUILD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "onnx.h"
#include "onnx.pb-c.h"

enum { OB_MAX_NODES = 32, OB_MAX_IO = 8, OB_MAX_INITS = 32, OB_MAX_NODE_INPUTS = 5 };

typedef struct ob_model {
    Onnx__ModelProto model; /* imports opset, holds graph */
    Onnx__GraphProto graph; /* node, input, output and initializer point at the arrays below */
    Onnx__OperatorSetIdProto opset, *opsets[1];
    Onnx__NodeProto *nodes[OB_MAX_NODES];
    Onnx__ValueInfoProto *inputs[OB_MAX_IO], *outputs[OB_MAX_IO];
    Onnx__TensorProto *inits[OB_MAX_INITS];
    void **owned; /* every allocation above, freed by ob_free */
    size_t n_owned, cap_owned;
} ob_model;

/* An empty model (IR version 8) named graph_name, importing version `opset` of `domain` ("" = the default ONNX
 * operator set). */
void ob_init(ob_model *b, const char *graph_name, int64_t opset, const char *domain);
void ob_free(ob_model *b);

/* A graph input or output: a tensor of ONNX element type elem (1 FLOAT, 7 INT64, 10 FLOAT16, ...), ndim dims, a
 * negative dim being the symbolic "N". */
void ob_input(ob_model *b, const char *name, int32_t elem, int ndim, const int64_t *dims);
void ob_output(ob_model *b, const char *name, int32_t elem, int ndim, const int64_t *dims);

/* Initializers; ndim 0 is a scalar. Each returns its name, to be written where a node takes it. */
/* Of ONNX type `type`, the elements (elem_size bytes each) in raw_data. */
const char *ob_init_raw(ob_model *b, const char *name, int32_t type, size_t elem_size, int ndim, const int64_t *dims,
                        const void *v);
/* FLOAT, in raw_data (raw) or float_data. */
const char *ob_init_f32(ob_model *b, const char *name, int ndim, const int64_t *dims, const float *v, bool raw);
/* INT64, in int64_data. */
const char *ob_init_i64(ob_model *b, const char *name, int ndim, const int64_t *dims, const int64_t *v);

/* A node of operator op writing out, named name (NULL: named after out). ob_node's inputs are the leading non-NULL
 * ones of in0, in1, in2; ob_node_n's a NULL-terminated list. */
Onnx__NodeProto *ob_node(ob_model *b, const char *op, const char *name, const char *in0, const char *in1,
                         const char *in2, const char *out);
Onnx__NodeProto *ob_node_n(ob_model *b, const char *op, const char *name, const char *const *ins, const char *out);

/* Attributes, appended to the node's list. */
void ob_attr_int(ob_model *b, Onnx__NodeProto *n, const char *name, int64_t value);
void ob_attr_ints(ob_model *b, Onnx__NodeProto *n, const char *name, size_t count, const int64_t *values);
void ob_attr_float(ob_model *b, Onnx__NodeProto *n, const char *name, float value);
void ob_attr_str(ob_model *b, Onnx__NodeProto *n, const char *name, const char *value);

/* The model as ONNX bytes (*len of them), malloc'd: the caller frees it. */
uint8_t *ob_pack(ob_model *b, size_t *len);
/* jn_onnx_load_bytes on ob_pack's bytes, `what` naming them in its errors; err is cleared first. NULL with err
 * filled when the adapter refuses the model. */
jn_onnx_model *ob_load(ob_model *b, const char *what, jn_err *err);

/* Appends to list an FP32 tensor `name` of the given shape holding a copy of v (as many floats as the shape holds).
 * Returns the tensor (owned by the list), or NULL when it could not be made or appended: callers JN_REQUIRE it. */
jn_tensor *ob_push_f32(jn_tensor_list *list, const char *name, int ndim, const int64_t *shape, const float *v);

#endif
