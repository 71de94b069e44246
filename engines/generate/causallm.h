/* causallm.h — a generate engine (broker/core/generate.h) over an ONNX causal language model and its
 * tokenizer.json (issue #19 item 3): a model folder models/<name>/ holding model.onnx in Hugging Face's GPT-2 /
 * Llama export layout (adapters/onnx/onnx_causallm.h: past_key_values.* in, logits and present.* out),
 * tokenizer.json and an optional config.json (Hugging Face's, read for):
 *   n_positions | max_position_embeddings | n_ctx   the context: prompt + generated tokens never exceed it; a prompt
 *                                                    that leaves no room is refused naming its length;
 *   eos_token_id (an id or a list)                   generation stops there (finish_reason "stop");
 *   chat_template (chat_template.h)                  the engine then takes `messages` (OpenAI chat; completions
 *                                                    reach it as one user message); without it, `prompt`.
 * Sampling: the generate parameters (max_tokens, temperature (default 1, OpenAI's; 0 = greedy), top_p, seed, stop,
 * n, presence_penalty, frequency_penalty) and two more: top_k (int >= 0, 0 = off) and repetition_penalty ((0, 10],
 * 1 = off). max_tokens defaults to what the context leaves (256 when the config gives no context). Each step after
 * the prompt feeds one token and the KV cache (no prefix recompute); text is streamed as it is produced, held back
 * only while it is an incomplete UTF-8 sequence or could still be the start of a stop sequence.
 *
 * Ownership: jn_causallm_load returns an engine with one reference. Thread-safety: concurrent generations share the
 * model and tokenizer (both immutable once loaded) and each has its own cache and sampler.
 */
#ifndef JN_GENERATE_CAUSALLM_H
#define JN_GENERATE_CAUSALLM_H

#include <stdbool.h>

#include "engine.h"
#include "err.h"

struct ox_model;

/* The engine named `name` over `model` (loaded from dir/model.onnx, jn_onnx_is_causal_lm true; taken over, also on
 * failure) with dir/tokenizer.json and dir/config.json (optional); version NULL = config.json "version" or "1".
 * JN_EINVAL / JN_EUNIMPL naming the file and field otherwise. Its signature is jn_onnx_folder_fn's
 * (adapters/onnx/onnx.h): the model repository calls it for such folders once it is set as the causal LM loader. */
jn_engine *jn_causallm_create(struct ox_model *model, const char *dir, const char *name, const char *version,
                              jn_err *err);

#define JN_CAUSALLM_PLATFORM "onnx_causal_lm"

#endif
