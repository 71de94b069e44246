/* onnx_internal.h — state shared by the ONNX adapter's modules: the loaded graph (values, nodes, parsed
 * attributes), the operator table and the kernels' calling convention.
 *
 * Ownership: an ox_model owns every value, node, attribute and constant tensor in it (ox_model_free releases
 * them). Run-time tensors (ox_tensor) never own their data: it points into a constant, a caller's input, the
 * run's arena or an output buffer. Kernels write only into their outputs.
 *
 * Thread-safety: after loading, the graph is read-only; the plan cache has its own lock (onnx_plan.c).
 */
#ifndef JN_ONNX_INTERNAL_H
#define JN_ONNX_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "jn_kernels.h"
#include "tensor.h"

/* The hot FP32 loops (elementwise, pooling, the Conv epilogue) are also compiled for AVX2 and AVX-512 and picked
 * at run time (GCC's target_clones, through an ifunc): the binary still runs on any x86-64. Not in sanitizer
 * builds: the ifunc resolvers run while the dynamic loader relocates, before the sanitizer's runtime is up, and an
 * instrumented resolver crashes there (ThreadSanitizer: SIGSEGV before main). */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && !defined(__SANITIZE_ADDRESS__) && \
    !defined(__SANITIZE_THREAD__)
#define OX_HOT __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define OX_HOT
#endif

/* Most inputs or outputs a node may have (Concat, Split). */
#define OX_MAX_IO 64

/* A tensor as the kernels see it: a dense row-major view. */
typedef struct ox_tensor {
    jn_dtype dtype;
    int ndim;
    int64_t shape[JN_MAX_DIMS];
    void *data;
    size_t nbytes;
} ox_tensor;

int64_t ox_count(const ox_tensor *t);
/* ONNX TensorProto.DataType -> junction dtype (STRING -> BYTES); INVALID for types junction has no dtype for. */
jn_dtype ox_dtype_from_onnx(int64_t t);
/* The products of t's dimensions before `axis` (outer) and after it (inner): the loop bounds of an op along one
 * axis (Concat, Split, Gather, ArgMax, Softmax). */
void ox_around_axis(const ox_tensor *t, int axis, int64_t *outer, int64_t *inner);
/* Sets dtype and shape and nbytes (data untouched). JN_EINVAL when the rank exceeds JN_MAX_DIMS or the size
 * overflows. */
int ox_set_shape(ox_tensor *t, jn_dtype dtype, int ndim, const int64_t *shape, jn_err *err);

typedef enum ox_attr_type {
    OX_ATTR_FLOAT = 1,
    OX_ATTR_INT,
    OX_ATTR_STRING,
    OX_ATTR_TENSOR,
    OX_ATTR_FLOATS,
    OX_ATTR_INTS,
    OX_ATTR_OTHER, /* graphs, strings lists, sparse tensors, types: no listed operator takes one */
} ox_attr_type;

typedef struct ox_attr {
    char *name;
    ox_attr_type type;
    float f;
    int64_t i;
    char *s;
    float *floats;
    int64_t *ints;
    size_t n; /* of floats / ints */
    ox_tensor *t; /* owned, data malloc'd with it */
} ox_attr;

struct ox_op;

typedef struct ox_node {
    const struct ox_op *op;
    char *op_type;
    char *name; /* the node's name, or "#<index>" when it has none */
    int n_in, n_out;
    int *in;  /* value indices; -1 = optional input left out */
    int *out; /* value indices; -1 = optional output left out */
    ox_attr *attrs;
    size_t n_attrs;
    int opset;    /* the default domain's version the model imports */
    void *params; /* op-specific, filled by the op's check (freed with free) */
    bool relu_after; /* a Relu reading only this node's output was fused into it (onnx_fuse.c) */
    /* Conv only: a MaxPool (2x2 window, stride 2, no padding, floor) reading only the fused Relu's output was
     * fused too: the node's output is the pooled tensor (onnx_fuse.c, conv_direct.c). */
    bool maxpool2_after;
} ox_node;

typedef struct ox_value {
    char *name;
    jn_dtype dtype;   /* known at load for every value */
    ox_tensor *konst; /* initializer or folded Constant (owned, data allocated with the struct); else NULL */
    int producer;     /* node index, or -1 (graph input or constant) */
    int graph_input;  /* index among the graph's runtime inputs, or -1 */
    bool graph_output;
    bool shape_data; /* its values decide some tensor's shape (Reshape's shape, Slice's starts, ...) */
    int last_use;    /* last node index reading it; -1 if none */
} ox_value;

struct ox_plan;

typedef struct ox_model {
    ox_value *values;
    size_t n_values, cap_values;
    ox_node *nodes; /* topological order */
    size_t n_nodes;
    int *inputs; /* value index of each runtime graph input (not initializers) */
    size_t n_inputs;
    int *outputs;
    size_t n_outputs;
    /* The declared shapes of inputs and outputs (-1 = symbolic or unknown), for the signature. */
    int *in_ndim, *out_ndim;
    int64_t (*in_shape)[JN_MAX_DIMS];
    int64_t (*out_shape)[JN_MAX_DIMS];
    int64_t opset;
    size_t max_tensor_bytes; /* a run whose inferred tensor would be larger fails (JN_ERESOURCE) */
    pthread_mutex_t plan_lock;
    struct ox_plan *plans;
    size_t n_plans;
} ox_model;

/* Appends a value (dtype unknown, no producer); its index, or a JN_E* code. May move m->values. */
int ox_value_add(ox_model *m, const char *name, jn_err *err);

/* Attribute look-up (NULL when absent) and typed getters with defaults. */
const ox_attr *ox_attr_find(const ox_node *n, const char *name);
int64_t ox_attr_int(const ox_node *n, const char *name, int64_t dflt);
float ox_attr_float(const ox_node *n, const char *name, float dflt);
const char *ox_attr_str(const ox_node *n, const char *name, const char *dflt);
/* The ints of an INTS attribute (*count set), or NULL with *count 0 when absent. */
const int64_t *ox_attr_ints(const ox_node *n, const char *name, size_t *count);

/* Load-time checking context: dtypes of a node's inputs, and the place to declare its outputs'. */
jn_dtype ox_in_dtype(const ox_model *m, const ox_node *n, int i);
/* The constant behind input i (initializer / folded Constant), or NULL. */
const ox_tensor *ox_in_const(const ox_model *m, const ox_node *n, int i);
bool ox_has_in(const ox_node *n, int i);
/* The rank of input i when known at load (a constant's, a graph input's declared rank), else -1. */
int ox_in_rank(const ox_model *m, const ox_node *n, int i);
void ox_set_out_dtype(ox_model *m, ox_node *n, int i, jn_dtype dtype);
/* Rejects a node: JN_EUNIMPL naming op type, node and reason. Returns the code. */
int ox_reject(const ox_node *n, jn_err *err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

typedef struct ox_op {
    const char *op_type;
    int min_in, max_in;   /* input count bounds */
    int min_out, max_out; /* output count bounds */
    const char *const *attrs; /* accepted attribute names, NULL-terminated; anything else is rejected */
    unsigned shape_inputs;    /* bit i: input i's values decide output shapes */
    /* Load time: validates attributes and input dtypes, declares output dtypes. */
    int (*check)(ox_model *m, ox_node *n, jn_err *err);
    /* First run of an input-shape set: sets every present output's dtype and shape from the inputs. */
    int (*shape)(const ox_node *n, ox_tensor *const *in, ox_tensor *const *out, jn_err *err);
    /* Computes the outputs into their (already sized) buffers. */
    int (*run)(const ox_node *n, ox_tensor *const *in, ox_tensor *const *out, jn_err *err);
} ox_op;

/* The operator table: NULL when op_type is not implemented. */
const ox_op *ox_op_find(const char *op_type);

/* Per-family tables (ops_*.c), each NULL-terminated. */
extern const ox_op *const ox_ops_math[];
extern const ox_op *const ox_ops_nn[];
extern const ox_op *const ox_ops_shape[];
extern const ox_op *const ox_ops_reduce[];

/* Element access across dtypes (kernels' slow generic paths). */
double ox_load_f64(const void *data, jn_dtype dtype, int64_t i);
int64_t ox_load_i64(const void *data, jn_dtype dtype, int64_t i);
void ox_store_f64(void *data, jn_dtype dtype, int64_t i, double v);
void ox_store_i64(void *data, jn_dtype dtype, int64_t i, int64_t v);
bool ox_dtype_is_float(jn_dtype dtype);
bool ox_dtype_is_int(jn_dtype dtype); /* signed or unsigned integer (not bool) */
/* Dtypes a model may carry: FP32, FP64, BOOL and the integers, which kernels compute with, plus FP16 and BF16,
 * which only Cast converts and the data-movement operators copy (every other kernel's check rejects them). */
bool ox_dtype_supported(jn_dtype dtype);

/* Normalizes an axis in [-rank, rank) to [0, rank); -1 when out of range. */
int ox_axis(int64_t axis, int rank);
/* Numpy (multidirectional) broadcast of two shapes into out; JN_EINVAL naming the node when incompatible. */
int ox_broadcast_shape(const ox_node *n, const ox_tensor *a, const ox_tensor *b, int *ndim, int64_t *shape,
                       jn_err *err);
/* Strides (in elements) of `t` seen through an output of rank `ndim`/`shape`, 0 where t is broadcast. */
void ox_broadcast_strides(const ox_tensor *t, int ndim, const int64_t *shape, int64_t *strides);

/* The direct Conv and MatMul/Gemm kernels live in the shared kernel library (kernels/jn_kernels.h). Test hooks:
 * false makes Conv take the generic im2col + sgemm path (and MaxPool fused into Conv run as a separate pass), and
 * MatMul/Gemm always cblas_sgemm, so tests can compare the two. Not for concurrent use with running models. */
extern bool ox_conv_direct_enabled;
extern bool ox_gemm_direct_enabled;

/* onnx_fuse.c: load-time fusions (Relu into Conv/Gemm/MatMul, a bias Add into MatMul); keeps the order. */
void ox_fuse(ox_model *m);

/* onnx_plan.c: runs the graph. inputs[i] is the tensor for model->inputs[i]; outputs get one new tensor per
 * graph output (caller owns them). */
struct jn_infer_ctx;
/* `ctx` (may be NULL) is checked between nodes: a call past its deadline or cancelled stops there. */
int ox_model_run(ox_model *m, const ox_tensor *inputs, jn_tensor **outputs, const struct jn_infer_ctx *ctx,
                 jn_err *err);
void ox_plans_free(ox_model *m);

#endif
