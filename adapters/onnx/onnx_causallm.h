/* onnx_causallm.h — an ONNX causal language model run one step at a time with its KV cache (issue #19 item 3): the
 * layout of Hugging Face's GPT-2 / Llama-family exports (optimum "text-generation-with-past"):
 *   inputs  input_ids INT64 [batch, seq], attention_mask INT64 [batch, past + seq], position_ids INT64 [batch, seq]
 *           (optional), past_key_values.{i}.key / .value [batch, heads, past, head_dim] (FP32);
 *   outputs logits [batch, seq, vocab] (FP32), present.{i}.key / .value [batch, heads, past + seq, head_dim].
 * The first step runs the prompt with empty past tensors (past length 0); each later step feeds one token and the
 * previous step's present.* as past_key_values.*: the prefix is never recomputed. Batch 1.
 *
 * This is also the one place that says whether a model folder's ONNX is a causal LM (jn_onnx_is_causal_lm): the text
 * model folders (encoders, issue #19 item 2) and generation both ask it.
 *
 * Ownership: jn_onnx_lm_open takes over the model (also on failure) and jn_onnx_lm_free frees it. A jn_onnx_lm_cache
 * is one generation's state (its past tensors), owned by whoever runs that generation.
 * Thread-safety: one jn_onnx_lm may step many caches from many threads at once (jn_onnx_run is thread-safe); a cache
 * belongs to one thread at a time.
 */
#ifndef JN_ADAPTERS_ONNX_CAUSALLM_H
#define JN_ADAPTERS_ONNX_CAUSALLM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "engine.h"
#include "err.h"
#include "onnx.h"
#include "tensor.h"

/* True when the graph has an input `input_ids`, at least one input named past_key_values.*, and an output `logits`:
 * a causal LM with a KV cache (whether it is one this module runs is jn_onnx_lm_open's question). */
bool jn_onnx_is_causal_lm(const jn_onnx_model *model);

typedef struct jn_onnx_lm jn_onnx_lm;

/* Checks the layout (every past_key_values.{i}.key/value has its present.{i}.key/value, rank 4, FP32, heads and
 * head_dim declared; input_ids and attention_mask INT64 [batch, seq]; logits FP32 rank 3) and raises the model's plan
 * cache to `context` + 8 shape sets (one per past length of a one-token step). JN_EUNIMPL / JN_EINVAL naming the
 * input or output otherwise. */
jn_onnx_lm *jn_onnx_lm_open(jn_onnx_model *model, int64_t context, jn_err *err);
void jn_onnx_lm_free(jn_onnx_lm *lm);
size_t jn_onnx_lm_layers(const jn_onnx_lm *lm);

typedef struct jn_onnx_lm_cache {
    jn_tensor_list past; /* past_key_values.* of the next step */
    int64_t length;      /* tokens in the cache */
    jn_tensor *logits;   /* the last step's logits output */
} jn_onnx_lm_cache;

/* An empty cache (past length 0). */
int jn_onnx_lm_cache_init(const jn_onnx_lm *lm, jn_onnx_lm_cache *c, jn_err *err);
void jn_onnx_lm_cache_clear(jn_onnx_lm_cache *c);

/* Runs ids[0..n) after the cache's tokens; the cache then holds them too. *last gets the vocabulary's logits for
 * the position after the last id (borrowed from the cache until its next step), *vocab their count. */
int jn_onnx_lm_step(jn_onnx_lm *lm, jn_onnx_lm_cache *c, const int64_t *ids, size_t n, const jn_infer_ctx *ctx,
                    const float **last, size_t *vocab, jn_err *err);

#endif
