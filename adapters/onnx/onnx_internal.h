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
    OX_ATTR_STRINGS, /* ai.onnx.ml's class labels and tree node modes; the recurrent layers' activations */
    OX_ATTR_OTHER,   /* lists of tensors or graphs, sparse tensors, other types: no listed operator takes one */
    OX_ATTR_GRAPH,   /* a subgraph (If, Loop, Scan, SequenceMap): see onnx_graph.h */
    OX_ATTR_TYPE,    /* a TypeProto (Optional): i = its ox_kind, n = its element dtype */
} ox_attr_type;

typedef struct ox_attr {
    char *name;
    ox_attr_type type;
    float f;
    int64_t i;
    char *s;
    float *floats;
    int64_t *ints;
    char **strs;
    size_t n; /* of floats / ints / strs */
    ox_tensor *t; /* owned, data malloc'd with it */
    const void *graph; /* GRAPH: the Onnx__GraphProto, borrowed from the file's message: valid only while loading */
} ox_attr;

struct ox_op;
struct ox_exec;

typedef struct ox_node {
    const struct ox_op *op;
    const struct ox_op_ext *ext; /* NULL for most operators */
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
    bool hswish_after; /* Conv only: a HardSwish likewise (onnx_fuse.c; never with relu_after) */
    /* Conv only: a MaxPool (2x2 window, stride 2, no padding, floor) reading only the fused Relu's output was
     * fused too: the node's output is the pooled tensor (onnx_fuse.c, conv_direct.c). */
    bool maxpool2_after;
    /* Gemm only: a Flatten (axis 1) whose output only this Gemm read was fused: in[0] is the Flatten's input, read
     * as [shape[0], the product of the rest] in place (onnx_fuse.c), without the copy. */
    bool flatten_a;
    /* Its outputs' shapes are known only by running it: a control-flow or sequence node, or one reading such a
     * node's output. The planner infers such nodes every run and keeps their outputs out of the arena. */
    bool dynamic;
    /* FP16 or BF16 when the op computes this node's half inputs on FP32 copies (onnx_half.c); else INVALID. */
    jn_dtype half_via_f32;
} ox_node;

/* What a value holds: a tensor, or (onnx_graph.h) a sequence or optional of them, the element dtype in dtype. */
typedef enum ox_kind { OX_KIND_TENSOR = 0, OX_KIND_SEQ, OX_KIND_OPT_TENSOR, OX_KIND_OPT_SEQ } ox_kind;

typedef struct ox_value {
    char *name;
    jn_dtype dtype;   /* known at load for every value */
    ox_kind kind;
    ox_tensor *konst; /* initializer or folded Constant (owned, data allocated with the struct); else NULL */
    int producer;     /* node index, or -1 (graph input or constant) */
    int graph_input;  /* index among the graph's runtime inputs, or -1 */
    bool graph_output;
    bool shape_data; /* its values decide some tensor's shape (Reshape's shape, Slice's starts, ...) */
    int last_use;    /* last node index reading it; -1 if none */
    bool konst_shared; /* konst belongs to an enclosing graph (a subgraph's view of an outer constant) */
    bool refused;    /* inspecting only: made by a refused node, its dtype unknown (onnx_inspect.c) */
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
    int64_t max_loop_iterations; /* Loop, Scan and SequenceMap iterations one call may run, all nodes together */
    pthread_mutex_t plan_lock;
    struct ox_plan *plans;
    size_t n_plans;
    size_t max_plans; /* shape sets cached at most (JN_ONNX_MAX_PLANS unless jn_onnx_set_max_plans) */
    /* Subgraphs (onnx_subgraph.c). For a subgraph: its enclosing graph, its nesting depth, and the outer values it
     * reads, which became its runtime inputs n_formal.. (outer_vals[k] for inputs[n_formal + k]). For any graph:
     * the subgraphs its nodes hold (owned by those nodes' params). */
    struct ox_model *outer;
    int depth;
    size_t n_formal;
    int *outer_vals;
    struct ox_model **subs;
    size_t n_subs;
    bool seq_io; /* graph inputs and outputs may be sequences and optionals (JN_ONNX_LOAD_SEQUENCE_IO) */
    /* jn_onnx_load_bytes_tapped: intermediate values made extra graph outputs (the main graph only; borrowed from
     * the caller while loading, NULL after). */
    const char *const *taps;
    size_t n_taps;
    bool has_dynamic; /* some node is dynamic (see ox_node) */
    struct ox_inspect *inspect; /* jn_onnx_inspect's collector while it loads the model; else NULL */
} ox_model;

/* Appends a value (dtype unknown, no producer); its index, or a JN_E* code. May move m->values. (onnx_util.c) */
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
/* Rejects a node whose operator first appeared in a later opset than the model imports (ox_reject's message). */
int ox_need_opset(const ox_node *n, int since, jn_err *err);

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

/* What some operators need beyond shape + run (control flow, sequences, the recurrent layers' optional Y), kept
 * beside the table so its rows stay as they are: found by ox_op_ext_find (onnx_subgraph.c) and kept in the node. */
typedef struct ox_op_ext {
    const ox_op *op;
    unsigned flags; /* OX_OP_* */
    /* OX_OP_DYNAMIC operators run through exec instead of shape + run: they size and fill their outputs
     * themselves (onnx_graph.h), and may read and write sequences and optionals. */
    int (*exec)(struct ox_exec *x, const ox_node *n, jn_err *err);
    void (*free_params)(void *params); /* NULL: free() */
} ox_op_ext;

#define OX_OP_DYNAMIC 1u     /* output shapes depend on input values (exec is set) */
#define OX_OP_OPT_OUT0 2u    /* output 0 may be left out (the recurrent layers' Y) */
#define OX_OP_ANY_KIND 4u    /* inputs may be sequences and optionals (else only tensors are accepted) */
const ox_op_ext *ox_op_ext_find(const ox_op *op); /* NULL for plain operators */

/* The operator table: NULL for an op_type the adapter does not have. */
const ox_op *ox_op_find(const char *op_type);
/* The table's i-th operator (in table order), NULL past the end: `junction model operators` lists them. */
const ox_op *ox_op_nth(size_t i);
/* The ai.onnx.ml domain's operators (ops_ml.c), NULL for one the adapter does not have; ox_domain_is_ml says
 * whether a node's domain is that one. */
const ox_op *ox_op_find_ml(const char *op_type);
bool ox_domain_is_ml(const char *domain);
/* The ai.onnx.ml table's i-th operator, NULL past the end (ops_ml.c; `junction model operators`). */
const ox_op *ox_op_nth_ml(size_t i);

/* Per-family tables (ops_*.c), each NULL-terminated. */
extern const ox_op *const ox_ops_math[];
extern const ox_op *const ox_ops_nn[];
extern const ox_op *const ox_ops_shape[];
extern const ox_op *const ox_ops_reduce[];
extern const ox_op *const ox_ops_rnn[];
extern const ox_op *const ox_ops_control[];
extern const ox_op *const ox_ops_seq[];
extern const ox_op_ext *const ox_exts_rnn[];
extern const ox_op_ext *const ox_exts_control[];
extern const ox_op_ext *const ox_exts_seq[];
extern const ox_op *const ox_ops_act[];   /* ops_act.c */
extern const ox_op *const ox_ops_logic[]; /* ops_logic.c */
extern const ox_op *const ox_ops_index[];   /* ops_index.c */
extern const ox_op *const ox_ops_tensor2[]; /* ops_tensor2.c */
extern const ox_op *const ox_ops_loss[];    /* ops_loss.c */
extern const ox_op *const ox_ops_resize[]; /* ops_resize.c: Resize, Upsample */
extern const ox_op *const ox_ops_vision[]; /* ops_vision.c, ops_pool.c, ops_detect.c */
extern const ox_op *const ox_ops_signal[]; /* ops_signal.c: DFT, STFT, windows, MelWeightMatrix */
extern const ox_op *const ox_ops_quant[];  /* ops_quant.c: (De)QuantizeLinear, *Integer, QLinear* */
/* MaxPool with its Indices output (ops_pool.c; ops_nn.c's MaxPool hands such nodes over). */
int ox_maxpool_indices_run(const ox_node *n, ox_tensor *const *in, ox_tensor *const *out, jn_err *err);

/* Element access across dtypes (kernels' slow generic paths). */
double ox_load_f64(const void *data, jn_dtype dtype, int64_t i);
int64_t ox_load_i64(const void *data, jn_dtype dtype, int64_t i);
void ox_store_f64(void *data, jn_dtype dtype, int64_t i, double v);
void ox_store_i64(void *data, jn_dtype dtype, int64_t i, int64_t v);
bool ox_dtype_is_float(jn_dtype dtype);
/* FP16/BF16 load as double through ox_load_f64 and store rounded to nearest even through ox_store_f64 (the
 * conversions are broker/core/half.h's). */
bool ox_dtype_is_half(jn_dtype dtype); /* FP16 or BF16 */
bool ox_dtype_is_int(jn_dtype dtype); /* signed or unsigned integer (not bool) */
/* Dtypes a model may carry: FP32, FP64, BOOL and the integers, which kernels compute with, plus FP16 and BF16,
 * which Cast converts, the data-movement operators copy and every other kernel computes on FP32 copies
 * (onnx_half.c). */
bool ox_dtype_supported(jn_dtype dtype);

/* Normalizes an axis in [-rank, rank) to [0, rank); -1 when out of range. */
int ox_axis(int64_t axis, int rank);
/* Numpy (multidirectional) broadcast of two shapes into out; JN_EINVAL naming the node when incompatible. */
int ox_broadcast_shape(const ox_node *n, const ox_tensor *a, const ox_tensor *b, int *ndim, int64_t *shape,
                       jn_err *err);
/* Opset < 7 binary operators broadcast only B onto A, aligned at `axis` (default: trailing), and only with
 * broadcast=1 (else the shapes must be equal): *view is B as numpy broadcasting should see it (from opset 7, B
 * itself). JN_EINVAL naming the node when B does not fit. */
int ox_legacy_view(const ox_node *n, const ox_tensor *a, const ox_tensor *b, ox_tensor *view, jn_err *err);
/* Strides (in elements) of `t` seen through an output of rank `ndim`/`shape`, 0 where t is broadcast. */
void ox_broadcast_strides(const ox_tensor *t, int ndim, const int64_t *shape, int64_t *strides);

/* The direct Conv and MatMul/Gemm kernels live in the shared kernel library (kernels/jn_kernels.h). Test hooks:
 * false makes Conv take the generic im2col + sgemm path (and MaxPool fused into Conv run as a separate pass), and
 * MatMul/Gemm always cblas_sgemm, so tests can compare the two. Not for concurrent use with running models. */
extern bool ox_conv_direct_enabled;
extern bool ox_gemm_direct_enabled;

/* ops_conv.c: Conv's depthwise path (kernels/conv_dw.c), called by ops_nn.c's Conv. One 2-D convolution's geometry (a
 * 1-D one as H = 1, kh = 1): N images of C channels [H][W], M output channels [OH][OW], `group` groups, kernel,
 * strides, dilations, pads (top, left, bottom, right) and the fused Relu or HardSwish. ox_conv_dw_fits: a depthwise
 * convolution (group > 1, one input channel per group) the kernel takes (and ox_conv_direct_enabled); ox_conv_dw_run
 * computes y [N][M][OH][OW] from x, OIHW weights and bias (NULL: zeros). */
typedef struct ox_conv2d {
    int64_t N, C, M, group, H, W, kh, kw, sh, sw, dh, dw, pt, pl, pb, pr, OH, OW;
    bool relu, hswish;
} ox_conv2d;
bool ox_conv_dw_fits(const ox_conv2d *c);
int ox_conv_dw_run(const ox_node *n, const ox_conv2d *c, const float *x, const float *w, const float *bias,
                   float *y, jn_err *err);

/* onnx_half.c: FP16/BF16 through the FP32 kernels. ox_half_check runs the op's check and, when it refuses a half
 * input, again with those inputs seen as FP32 (marking the node); the planner then calls ox_half_shape and
 * ox_half_run instead of the op's shape and run for marked nodes. */
int ox_half_check(ox_model *m, ox_node *n, jn_err *err);
int ox_half_shape(const ox_node *n, ox_tensor *const *in, ox_tensor *const *out, jn_err *err);
int ox_half_run(const ox_node *n, ox_tensor *const *in, ox_tensor *const *out, jn_err *err);

/* onnx_load.c: jn_onnx_load_bytes, and with `inspect` (onnx_inspect.c) set, a load that records every refused
 * node instead of stopping at the first (the model is then not returned). */
struct ox_inspect;
ox_model *ox_load_bytes(const uint8_t *data, size_t size, const char *what, struct ox_inspect *inspect,
                       jn_err *err);
/* onnx_inspect.c, the loader's hooks (no-ops unless m->inspect is set): a node failed with rc (its name, domain
 * and output names from the NodeProto, `position` its index in the file): records it, marks its outputs refused
 * and returns 0; else returns rc. */
int ox_inspect_node_failed(ox_model *m, const ox_node *n, const char *name, size_t position, const char *domain,
                           const char *const *outputs, size_t n_outputs, int rc, jn_err *err);
/* Whether n reads a value a refused node makes (then its dtype checks cannot run). */
bool ox_inspect_reads_refused(const ox_model *m, const ox_node *n);
/* n was checked as far as its unknown inputs allow: noted as unchecked; returns a code for node_failed. */
int ox_inspect_unchecked(ox_model *m, const ox_node *n, jn_err *err);
/* After the nodes: JN_EUNIMPL when something was recorded (the load stops), else 0. */
int ox_inspect_found(const ox_model *m, jn_err *err);

/* onnx_fuse.c: load-time fusions (Relu into Conv/Gemm/MatMul, a bias Add into MatMul); keeps the order. */
void ox_fuse(ox_model *m);
/* onnx_fuse.c: the node alone reading value v, or -1 (none, several, read twice, or a graph output). */
int ox_fuse_sole_reader(const ox_model *m, int v);
/* onnx_fuse.c: the live node writing value v, or -1 (values[].producer is stale while the fusions run: an absorbing
 * node takes over its victim's output). */
int ox_fuse_producer(const ox_model *m, int v);
/* onnx_fuse.c: attribute `name` of n is absent (absent_ok) or 2 values (or 4 when v is 0: pads) all equal to v. */
bool ox_fuse_ints_are(const ox_node *n, const char *name, int64_t v, bool absent_ok);
/* onnx_fuse_tf.c: the transformer fusions (GELU's Erf form), run by ox_fuse before it compacts the nodes. */
void ox_fuse_transformer(ox_model *m);
/* onnx_qfuse.c: QDQ Conv/MatMul/Gemm into integer operators (called first by ox_fuse). ox_qdq_fuse_enabled is a
 * test hook (default on; JUNCTION_QDQ_FUSION=off in the environment also turns the fusion off). */
void ox_fuse_qdq(ox_model *m);
extern bool ox_qdq_fuse_enabled;

/* onnx_plan.c: runs the graph. inputs[i] is the tensor for model->inputs[i]; outputs get one new tensor per
 * graph output (caller owns them). */
struct jn_infer_ctx;
/* `ctx` (may be NULL) is checked between nodes: a call past its deadline or cancelled stops there. */
int ox_model_run(ox_model *m, const ox_tensor *inputs, jn_tensor **outputs, const struct jn_infer_ctx *ctx,
                 jn_err *err);
void ox_plans_free(ox_model *m);

/* config.json "inputs" (onnx_inputs.c, issue #17): sets the kind, sample_rate and default of e's input ports from
 * `inputs` (a JSON object); JN_EINVAL naming `path` and the field. */
struct jn_engine;
struct json_t;
int jn__onnx_apply_input_config(struct jn_engine *e, const struct json_t *inputs, const char *path, jn_err *err);

#endif
