/* eval_compare.h — private to `junction eval` (eval_cmd.c, eval_compare.c): models given as files, and the side by
 * side report of `eval --model A --compare B`.
 *
 * A model argument ending in .onnx is an ONNX file (the ONNX adapter; a quantized QDQ file too), one ending in
 * .safetensors a fashion-cnn checkpoint (`junction train` / `junction prune` output, any channel counts); anything
 * else names a built-in model or pipeline. A file is registered in the command's own registry under its argument.
 *
 * Ownership: the registry takes the engines; reports are the caller's. Thread-safety: the command's one thread.
 */
#ifndef JN_CLI_EVAL_COMPARE_H
#define JN_CLI_EVAL_COMPARE_H

#include <stdbool.h>

#include "evaluate.h"
#include "registry.h"

/* Is `arg` a model file (by its ending)? */
bool jn__eval_is_file(const char *arg);

/* Registers the model file `arg` in reg under the name `arg`. An ONNX file's classification output has no labels in
 * the graph: its single FP32 output [.., K] gets `fallback` (K labels, e.g. the other model's) when given with K
 * labels, else "0".."K-1" (an IDX label k then reads as "k"). 0, or JN_CLI_EXIT_FAIL after a message. */
int jn__eval_register_file(jn_registry *reg, const char *arg, const jn_port *fallback);

/* The size of the model file `arg` in bytes; -1 for a name. */
long long jn__eval_size_on_disk(const char *arg);

/* The side by side report: a table (or one JSON object {"a": report, "b": report, "difference": {...}}) of
 * accuracy, macro F1, latency p50 / p99 per example, throughput, size on disk and B - A (size: B / A). */
int jn__eval_compare_print(const char *a, const char *b, const jn_eval_report *ra, const jn_eval_report *rb,
                           long long size_a, long long size_b, bool json);

#endif
