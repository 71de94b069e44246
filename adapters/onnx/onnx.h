/* onnx.h — ONNX model files as engines. A `.onnx` (ModelProto, read with protobuf-c from Debian's onnx.proto) is
 * parsed, checked and planned at load; every operator, attribute value and dtype the executor cannot compute
 * exactly is rejected then (JN_EUNIMPL naming op type, node and reason), never at request time.
 *
 * Ownership:
 * - jn_onnx_load_* return a model the caller frees with jn_onnx_free. It owns its constants; the file bytes are
 *   not kept.
 * - jn_onnx_run borrows the inputs and appends new output tensors (owned by the caller) to `outputs`.
 * - jn_onnx_engine_create takes over a loaded model (also on failure: it is freed) and returns an engine with one
 *   reference.
 *
 * Thread-safety: jn_onnx_run may be called from several threads on one model; plans (buffer layouts keyed by the
 * input shapes) are cached under a lock, and every run has its own arena.
 */
#ifndef JN_ADAPTERS_ONNX_H
#define JN_ADAPTERS_ONNX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "engine.h"
#include "err.h"
#include "model_records.h"
#include "registry.h"
#include "signature.h"
#include "tensor.h"

typedef struct ox_model jn_onnx_model;

/* `what` names the model in messages (a path, a test name). JN_EINVAL for a malformed file, JN_EUNIMPL for a
 * valid model this adapter does not compute, JN_EIO when the file cannot be read. */
jn_onnx_model *jn_onnx_load_bytes(const uint8_t *data, size_t size, const char *what, jn_err *err);
jn_onnx_model *jn_onnx_load_file(const char *path, jn_err *err);
/* Test entry (the conformance runner's): with JN_ONNX_LOAD_SEQUENCE_IO, graph inputs and outputs may also be
 * sequences and optionals, which no signature port can carry. jn_onnx_run then takes and gives such a value
 * flattened into plain tensors: a sequence `s` as "s[0]", "s[1]", ... in order; an optional tensor `o` as "o" when
 * it holds one; an optional sequence as its items; an optional that holds nothing as no tensor at all (so an
 * optional holding an empty sequence reads as one holding nothing). jn_onnx_signature lists such a port under its
 * name with the element dtype and any shape. Not for serving. */
#define JN_ONNX_LOAD_SEQUENCE_IO 1u
jn_onnx_model *jn_onnx_load_bytes_flags(const uint8_t *data, size_t size, const char *what, unsigned flags,
                                        jn_err *err);
void jn_onnx_free(jn_onnx_model *model);

/* Calibration entry (`junction quantize`, broker/cli/quantize_cmd.c): loads like jn_onnx_load_bytes and also makes
 * the `n_taps` named intermediate values extra graph outputs, after the declared ones and in the order given, so
 * jn_onnx_run appends them (under their value names) to the declared outputs. A tapped value is never fused away
 * (the load-time fusions keep graph outputs), so it holds what the unfused graph computes; the fusions that would
 * have absorbed it do not happen, which makes such a model slower: not for serving. JN_EINVAL naming a tap the
 * graph has no value for, one that is already a graph output, listed twice, a constant, a graph input or not a
 * tensor. */
jn_onnx_model *jn_onnx_load_bytes_tapped(const uint8_t *data, size_t size, const char *what,
                                         const char *const *taps, size_t n_taps, jn_err *err);

/* A serialized TensorProto (an ONNX test vector's input_0.pb) as a new tensor named after it (or `fallback_name`
 * when it has none). NULL with err set for a malformed message or an unsupported dtype. */
jn_tensor *jn_onnx_tensor_parse(const uint8_t *data, size_t size, const char *fallback_name, jn_err *err);

/* The largest tensor a run may create (default JN_ONNX_MAX_TENSOR_BYTES): shapes that come from request data
 * (a Reshape or ConstantOfShape fed from outside, a huge batch) fail with JN_ERESOURCE instead of exhausting
 * memory. Call before the model is shared between threads. */
#define JN_ONNX_MAX_TENSOR_BYTES ((size_t)2 << 30)
void jn_onnx_set_max_tensor_bytes(jn_onnx_model *model, size_t bytes);

/* The most Loop / Scan / SequenceMap iterations one call may run, across all its nodes and nesting (default
 * JN_ONNX_MAX_LOOP_ITERATIONS): a loop whose trip count and condition come from the request would otherwise run
 * until the call's deadline, or forever without one. Past it the call fails with JN_ERESOURCE. Call before the
 * model is shared between threads. */
#define JN_ONNX_MAX_LOOP_ITERATIONS ((int64_t)1 << 24)
void jn_onnx_set_max_loop_iterations(jn_onnx_model *model, int64_t iterations);

/* How many input-shape sets keep their plan (default JN_ONNX_MAX_PLANS; beyond it, new shape sets run unplanned:
 * shapes inferred and intermediates allocated every run). A causal language model raises it to its context length,
 * so every decode step (one token after a past of length p) finds its plan from the second request on. Call before
 * the model is shared between threads. */
#define JN_ONNX_MAX_PLANS 32
void jn_onnx_set_max_plans(jn_onnx_model *model, size_t plans);

/* Adds one port per runtime graph input (initializers excluded) and per graph output; symbolic dims are -1. */
int jn_onnx_signature(const jn_onnx_model *model, jn_signature *sig, jn_err *err);

/* Runs the graph on `inputs` (matched by name; every graph input must be present, with the declared dtype and
 * rank). Outputs are appended in graph order under their graph names. */
int jn_onnx_run(jn_onnx_model *model, const jn_tensor_list *inputs, jn_tensor_list *outputs, jn_err *err);
/* The same under a call's context: its deadline and cancellation are checked between nodes (ctx may be NULL). */
int jn_onnx_run_ctx(jn_onnx_model *model, const jn_tensor_list *inputs, jn_tensor_list *outputs,
                    const jn_infer_ctx *ctx, jn_err *err);

/* Inspection (`junction model inspect`, onnx_inspect.c): what loading `data` would do, without keeping the model.
 * Every node is checked and every refusal recorded (not only the first); a node reading a refused node's output is
 * checked for domain, operator, arity and attributes, then listed as unchecked (its input dtypes are unknown). */
typedef struct jn_onnx_opset {
    char *domain; /* "" = the default ONNX domain */
    int64_t version;
} jn_onnx_opset;

typedef struct jn_onnx_op_count {
    char *domain; /* "" = the default ONNX domain */
    char *op_type;
    size_t count;
} jn_onnx_op_count;

typedef struct jn_onnx_refusal {
    char *op_type; /* NULL when the whole model is refused (an opset, a graph input, a malformed graph) */
    char *domain;  /* "" = the default ONNX domain; NULL with op_type */
    char *node;    /* the node's name, or "#<index in the file's node list>" when it has none; NULL with op_type */
    char *reason;
} jn_onnx_refusal;

typedef struct jn_onnx_report {
    bool loads;       /* the model would be served */
    int64_t ir_version; /* 0 when absent */
    char *producer;   /* "name version", "" when absent */
    /* As served when it loads (jn_onnx_signature); else the graph's declared inputs (initializers excluded) and
     * outputs, those with a dtype junction has no name for left out. */
    jn_signature sig;
    jn_onnx_opset *opsets;
    size_t n_opsets;
    size_t n_nodes;
    jn_onnx_op_count *ops; /* first-appearance order */
    size_t n_ops;
    jn_onnx_refusal *refused;
    size_t n_refused;
    jn_onnx_refusal *unchecked; /* downstream of a refused node; reason says which input is unknown */
    size_t n_unchecked;
} jn_onnx_report;

/* Fills `rep` (free it with jn_onnx_report_free, also after a failure). Returns 0 when the bytes parse as a
 * ModelProto with a graph (rep->loads says whether the model would load), JN_EINVAL naming `what` when they do
 * not, JN_ENOMEM. */
int jn_onnx_inspect(const uint8_t *data, size_t size, const char *what, jn_onnx_report *rep, jn_err *err);
void jn_onnx_report_free(jn_onnx_report *rep);

/* The operators the adapter implements: calls fn once per (domain, op_type), domains in turn ("" = default, then
 * the others by name), op types sorted within each. Returns how many. */
size_t jn_onnx_operators(void (*fn)(void *ctx, const char *domain, const char *op_type), void *ctx);

#define JN_ONNX_PLATFORM "onnx"

/* An engine named `name` (platform JN_ONNX_PLATFORM), not inline: requests run on the worker pool. */
jn_engine *jn_onnx_engine_create(const char *name, const char *version, jn_onnx_model *model, jn_err *err);

/* Model repository: registers DIR/<name>/model.onnx and DIR/<name>.onnx under <name>. Next to model.onnx an
 * optional config.json sets the version, the description and labels of outputs:
 *   {"version": "2", "description": "...", "outputs": {"probs": {"labels": ["cat", "dog"]}}}
 * (an output with labels becomes a CLASSIFICATION port), and how it is served: "dynamic_batching", "instances",
 * "response_cache" (broker/core/model_config.h). With a tokenizer.json beside model.onnx the folder is a text model
 * (onnx_text.h: text in, label or embedding out; config.json may then be Hugging Face's). A model that fails to
 * load, or whose config does not check, is reported on stderr and skipped. Returns the number registered, or a JN_E* code when DIR cannot be
 * read. */
int jn_onnx_register_dir(jn_registry *reg, const char *dir, jn_err *err);

/* A folder whose model.onnx is a causal language model (jn_onnx_is_causal_lm, onnx_causallm.h) and which holds a
 * tokenizer.json is served by this loader instead of as a plain ONNX engine: it takes over the loaded model (also on
 * failure) and returns an engine or NULL with err set. Set once at start-up, before models load (broker/cli/serve.c
 * sets the generate engine's, engines/generate/causallm.h); unset, such folders load as plain ONNX models. */
typedef jn_engine *(*jn_onnx_folder_fn)(jn_onnx_model *model, const char *dir, const char *name, const char *version,
                                        jn_err *err);
void jn_onnx_set_causal_lm_loader(jn_onnx_folder_fn fn);

/* Triton's repository layout (issue #20): DIR/<name>/<version>/model.onnx, numbered version directories. */
typedef struct jn_onnx_versions {
    char **names; /* ascending (jn_version_cmp) */
    size_t n;
} jn_onnx_versions;
/* Every version directory of DIR/<name> holding a model.onnx (none: n = 0, not an error). */
int jn_onnx_repository_versions(const char *dir, const char *name, jn_onnx_versions *vs, jn_err *err);
/* Those its config.json's version_policy serves ({"latest": {"num_versions": N}} by default with N = 1, {"all": {}},
 * {"specific": {"versions": [...]}}); JN_EINVAL naming the file for a bad policy, JN_ENOTFOUND for a version it
 * names that is not there or when there is none. */
int jn_onnx_policy_versions(const char *dir, const char *name, jn_onnx_versions *vs, jn_err *err);
void jn_onnx_versions_free(jn_onnx_versions *vs);
/* jn_model_records' repository functions (model_records.h) over a models directory (the arg; NULL: none). */
long jn_onnx_repo_versions(void *models_dir, const char *name, char ***versions, jn_err *err);
long jn_onnx_repo_index(void *models_dir, jn_repo_item **items, jn_err *err);

/* Admin.LoadModel's loader (a jn_model_loader_fn, see broker/core/model_records.h): an engine from the ONNX bytes, or,
 * when bytes is NULL, from the model repository `models_dir` (a const char *; NULL = none): <dir>/<name>/model.onnx,
 * then <dir>/<name>.onnx. Messages are prefixed with the model's name. */
jn_engine *jn_onnx_model_loader(void *models_dir, const char *name, const char *version, const uint8_t *bytes,
                                size_t n, jn_model_config *serving, jn_err *err);

#endif
