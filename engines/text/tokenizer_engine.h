/* tokenizer_engine.h — a tokenizer.json served as a model: `text` TEXT BYTES[-1] -> `input_ids`, `attention_mask`
 * (and `token_type_ids` when the post-processor makes type ids) INT64[-1,-1], every row padded to the longest in the
 * request (pad id and side from tokenizer.json "padding", else 0 on the right). Request parameter
 * `add_special_tokens` (bool, or the string "false"/"true"; default true) turns the template's special tokens off.
 * Not the built-in `tokenize` engine (engines/text/tokenize.c, junction's own word splitter): this one is the
 * Hugging Face format.
 *
 * Bad input: a request without texts, an empty text or invalid UTF-8 is INVALID_ARGUMENT naming the input and the
 * element ("input 'text'[3]: invalid UTF-8 at byte 7"). Text longer than tokenizer.json's truncation max_length is
 * truncated to it (special tokens counted), as the tokenizers library does; without truncation it is kept whole.
 *
 * Ownership: jn_tokenizer_engine_create returns one engine reference; the engine owns its tokenizer.
 * Thread-safety: infer runs concurrently; the tokenizer is immutable.
 */
#ifndef JN_TOKENIZER_ENGINE_H
#define JN_TOKENIZER_ENGINE_H

#include "engine.h"
#include "registry.h"

/* Loads path (a tokenizer.json) and makes the engine `name`. NULL with err set (naming the file and JSON path). */
jn_engine *jn_tokenizer_engine_create(const char *name, const char *path, jn_err *err);

/* Registers DIR/<name>/tokenizer.json as model <name> for every folder of dir that holds a tokenizer.json but no
 * model.onnx (a folder with both is a text model, not a bare tokenizer). A folder whose tokenizer.json is refused
 * is skipped with a message on stderr naming the folder and the JSON path. Returns how many were registered, or a
 * negative JN_E* code when dir cannot be read. */
int jn_tokenizer_register_dir(jn_registry *reg, const char *dir, jn_err *err);

#endif
