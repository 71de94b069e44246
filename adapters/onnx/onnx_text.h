/* onnx_text.h — text model folders (issue #19 item 2): DIR/<name>/model.onnx + tokenizer.json (+ config.json as
 * Hugging Face's exports write it) served as TEXT -> CLASSIFICATION or TEXT -> EMBEDDING. Junction builds the
 * pipeline tokenizer -> model -> head itself:
 *
 *   text TEXT[-1] --tokenizer.json--> input_ids, attention_mask, token_type_ids (INT64 [batch, longest])
 *        --model.onnx--> logits [batch, labels]            --softmax--> label CLASSIFICATION FP32[-1, labels]
 *                     or last_hidden_state [batch, seq, h] --mean over the attention mask (L2 normalized when
 *                                                            asked)--> embedding EMBEDDING FP32[-1, h]
 *
 * The model's inputs are fed by name: input_ids (required), attention_mask, token_type_ids (each only when the
 * graph has it); any other graph input is refused at load, naming it. config.json (optional):
 *   - Hugging Face's keys: id2label {"0": "neg", ...} (the labels; without it LABEL_0.. as Transformers names them),
 *     label2id, architectures (a name ending in "Model", e.g. "BertModel", means a bare encoder: embeddings),
 *     max_position_embeddings (the length bound when tokenizer.json sets no truncation); every other key of theirs
 *     is ignored;
 *   - junction's own key "text" (validated; DECISIONS.md):
 *       {"task": "classification" | "embedding", "normalize": true, "max_length": 128,
 *        "overflow": "truncate" | "refuse", "output": "<graph output>"}
 *     task overrides the guess from architectures; normalize (embedding only, default false) L2-normalizes;
 *     max_length bounds the tokens with the special ones (default: tokenizer.json's truncation.max_length, else
 *     max_position_embeddings, else none); overflow "truncate" (the default, as Transformers' pipelines do with
 *     truncation=True) cuts longer text, "refuse" fails the request with INVALID_ARGUMENT naming the lengths;
 *     output picks the graph output the head reads (default: "logits" / "last_hidden_state", else the first).
 *
 * Ownership: jn_onnx_text_engine_create takes over `model` (also on failure) and returns one engine reference.
 * Thread-safety: the engine is immutable after creation; infer runs concurrently.
 */
#ifndef JN_ONNX_TEXT_H
#define JN_ONNX_TEXT_H

#include <stdbool.h>

#include "engine.h"
#include "err.h"
#include "onnx.h"

struct json_t;

/* Is this one of the keys a text model folder's config.json may hold that junction reads (id2label, label2id,
 * architectures, max_position_embeddings, text)? */
bool jn_onnx_text_config_key(const char *key);

/* The engine of a text model folder: `model` loaded from model.onnx, the tokenizer at tok_path, `cfg` the parsed
 * config.json (NULL = none) read from cfg_path (named in messages). */
jn_engine *jn_onnx_text_engine_create(const char *name, const char *version, jn_onnx_model *model,
                                      const char *tok_path, const struct json_t *cfg, const char *cfg_path,
                                      jn_err *err);

/* The pipeline a text engine built, one step per line ("tokenizer: ...", "model: ...", "head: ..."), for
 * `junction model inspect DIR`; NULL when `e` is not a text engine. Borrowed from the engine. */
const char *jn_onnx_text_describe(const jn_engine *e);

#endif
