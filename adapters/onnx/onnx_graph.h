/* onnx_graph.h — what control flow and sequences add to the adapter: run-time sequence/optional values (boxes),
 * the calling convention of dynamic operators (exec), and subgraphs (If/Loop/Scan bodies) loaded and run as
 * graphs of their own.
 *
 * Ownership:
 * - An ox_box is refcounted (ox_box_ref/ox_box_unref); its items' data are malloc'd and owned by it. A box is never
 *   changed once another value refers to it: sequence operators build new boxes.
 * - ox_val: a tensor view with the jn_buffer that owns it (NULL = borrowed), or a box reference.
 * - A subgraph is an ox_model owned by the node params that hold it (ox_subgraph_free), registered in the enclosing
 *   model's subs (not owning).
 *
 * Thread-safety: boxes are shared between runs only through a caller's inputs; their refcount is atomic. A
 * subgraph's plan cache has its own lock, as any model's. */
#ifndef JN_ONNX_GRAPH_H
#define JN_ONNX_GRAPH_H

#include "engine.h"
#include "onnx.pb-c.h"
#include "onnx_internal.h"

/* Deepest nesting of subgraphs a model may have (a fuzzed file could nest until the stack gives out). */
#define OX_MAX_GRAPH_DEPTH 16

typedef struct ox_box {
    int refs; /* atomic */
    bool none; /* an optional holding nothing */
    jn_dtype dtype; /* of the items */
    size_t n, cap;
    ox_tensor *items; /* a sequence's tensors, or an optional tensor's one */
    size_t bytes;     /* of all items' data (a box counts against max_tensor_bytes as one tensor would) */
} ox_box;

ox_box *ox_box_new(jn_dtype dtype, jn_err *err);
ox_box *ox_box_ref(ox_box *b);
void ox_box_unref(ox_box *b);
/* Inserts a copy of t at position `at` (<= n). */
int ox_box_insert(ox_box *b, size_t at, const ox_tensor *t, jn_err *err);
/* A new box with copies of b's items (none flag copied). */
ox_box *ox_box_copy(const ox_box *b, jn_err *err);

typedef struct ox_val {
    ox_tensor t;
    jn_buffer *buf;
    ox_box *box;
} ox_val;

/* Runs graph m on inputs (one per m->inputs, tensors or boxes as each value's kind says; borrowed); fills
 * outputs (one per m->outputs: a tensor with its owning buffer, or a box reference), which the caller releases
 * with ox_val_release. Plans are cached per input-shape set, as for the main graph; ctx is checked between nodes. */
int ox_graph_run(ox_model *m, const ox_val *inputs, ox_val *outputs, const jn_infer_ctx *ctx, jn_err *err);
void ox_val_release(ox_val *v);

/* ---- Dynamic operators (OX_OP_DYNAMIC): exec reads its inputs and sets its outputs through these. ---- */
typedef struct ox_exec ox_exec;
/* Input i as a value (borrowed: tensor view, or box). A left-out input gives a zeroed ox_val with kind -1. */
ox_val ox_exec_in(ox_exec *x, const ox_node *n, int i);
bool ox_exec_has_in(const ox_node *n, int i);
ox_kind ox_exec_in_kind(ox_exec *x, const ox_node *n, int i);
/* Output i gets a new buffer of that shape (JN_ERESOURCE past the model's max_tensor_bytes); *t is its view. */
int ox_exec_new_out(ox_exec *x, const ox_node *n, int i, jn_dtype dtype, int ndim, const int64_t *shape,
                    ox_tensor **t, jn_err *err);
/* Output i takes over v (its buffer or box reference; v is emptied). A borrowed tensor (buf NULL) is copied. A
 * tensor or box larger than the model's max_tensor_bytes fails with JN_ERESOURCE. */
int ox_exec_set_out(ox_exec *x, const ox_node *n, int i, ox_val *v, jn_err *err);
const jn_infer_ctx *ox_exec_ctx(ox_exec *x);
/* Before each iteration of a Loop, Scan or SequenceMap: the call's deadline and cancellation, and the call's
 * iteration budget (the top model's max_loop_iterations, shared by every subgraph run in the call). */
int ox_exec_iteration(ox_exec *x, const ox_node *n, jn_err *err);
/* Runs subgraph g inside this call (its budget and context): as ox_graph_run. */
int ox_exec_run_sub(ox_exec *x, ox_model *g, const ox_val *inputs, ox_val *outputs, jn_err *err);
size_t ox_exec_max_bytes(ox_exec *x);

/* ---- Subgraphs (onnx_subgraph.c) ---- */
/* Loads the GRAPH attribute `attr` of node n (held by model m) as a subgraph whose first n_given inputs have the
 * given kinds and dtypes (JN_DTYPE_INVALID: any). The outer values it reads are appended to n's inputs; *cap_in
 * (malloc'd, one per sg->outer_vals entry) gives their positions there. JN_EUNIMPL/JN_EINVAL naming the node. */
int ox_subgraph_load(ox_model *m, ox_node *n, const char *attr, size_t n_given, const ox_kind *kinds,
                     const jn_dtype *dtypes, ox_model **sg, int **cap_in, jn_err *err);
/* Loader hooks: a name a subgraph reads from an enclosing graph becomes one of its inputs (*v its value, -1 when
 * no enclosing graph has it); the names a node's subgraphs read (for the topological order; *names malloc'd,
 * borrowed strings); dynamic marks; an operator's variant that accepts sequences and optionals (NULL: none). */
int ox_capture(ox_model *m, const char *name, int *v, jn_err *err);
size_t ox_subgraph_refs(const Onnx__NodeProto *p, const char ***names);
void ox_mark_dynamic(ox_model *m);
const ox_op *ox_op_any_kind(const ox_op *op);
/* onnx_load.c: the graph-building steps for the main graph and subgraphs alike. */
int ox_graph_load(ox_model *m, const Onnx__GraphProto *g, const ox_kind *kinds, const jn_dtype *dtypes,
                  size_t n_given, jn_err *err);

/* onnx_seqio.c: jn_onnx_run for a model loaded with JN_ONNX_LOAD_SEQUENCE_IO. */
int ox_seqio_run(ox_model *m, const jn_tensor_list *inputs, jn_tensor_list *outputs, const jn_infer_ctx *ctx,
                 jn_err *err);

#endif
