/* generate.h — the generate signature (issue #18): what an engine that writes text (a language model, local or
 * remote) takes and gives, so front ends (/openai/v1, v2 generate, InferStream) and pipelines can drive any of them
 * without asking which engine it is.
 *
 * The signature:
 *   input   `prompt`   TEXT [-1]  one element: the text to continue (OpenAI's completions), or
 *           `messages` TEXT [-1]  one element: the conversation as JSON, OpenAI's chat format
 *                                 ([{"role": "system"|"user"|"assistant"|..., "content": "..." or [parts]}, ...]);
 *   outputs `text`              TEXT  [-1]  one element per choice (the `n` parameter; 1 by default);
 *           `finish_reason`     TEXT  [-1]  one per choice: "stop", "length", "content_filter", ... (optional port);
 *           `prompt_tokens`     INT64 [1]   usage (optional port: left out when the model does not count);
 *           `completion_tokens` INT64 [1]   usage (optional port).
 *   Exactly one of the two inputs; the engine streams (JN_ENGINE_STREAMS, infer_stream set). Besides it, any
 *   number of IMAGE BYTES [-1] inputs (a pipeline that looks at a photo before it asks a model: README
 *   "prompt-template"): the OpenAI door fills them, in order, from the chat's image_url parts (fetched under
 *   --fetch-allow, or data: URIs).
 * A unary answer carries the whole text per choice and, when known, finish_reason and usage. A streamed answer is a
 * sequence of partials, each with a `text` delta (one element per choice, "" for a choice with nothing new), and
 * the last one (its text deltas may be empty) carries finish_reason and the usage counts.
 *
 * Sampling: request parameters (jn_params) with OpenAI's names and meanings: max_tokens (int >= 1), temperature
 * ([0, 2]), top_p ([0, 1]), seed (int), n (1..128), presence_penalty and frequency_penalty ([-2, 2]), stop (a string,
 * or a JSON list of up to 4 strings as text: "[\"\\n\", \"END\"]"). Numbers may come as int, double or decimal text
 * (v2 parameters are often strings). An engine passes on those it understands and ignores the others; a parameter
 * of the wrong type or out of range is refused by jn_generate_sampling_read, naming it.
 *
 * Ownership: plain values; jn_generate_sampling owns its stop strings (jn_generate_sampling_clear frees them).
 * Thread-safety: no shared state.
 */
#ifndef JN_GENERATE_H
#define JN_GENERATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "engine.h"
#include "err.h"
#include "params.h"
#include "signature.h"
#include "tensor.h"

#define JN_GENERATE_PROMPT "prompt"
#define JN_GENERATE_MESSAGES "messages"
#define JN_GENERATE_TEXT "text"
#define JN_GENERATE_FINISH_REASON "finish_reason"
#define JN_GENERATE_PROMPT_TOKENS "prompt_tokens"
#define JN_GENERATE_COMPLETION_TOKENS "completion_tokens"

/* The request parameter names. */
#define JN_GENERATE_P_MAX_TOKENS "max_tokens"
#define JN_GENERATE_P_TEMPERATURE "temperature"
#define JN_GENERATE_P_TOP_P "top_p"
#define JN_GENERATE_P_SEED "seed"
#define JN_GENERATE_P_N "n"
#define JN_GENERATE_P_STOP "stop"
#define JN_GENERATE_P_PRESENCE_PENALTY "presence_penalty"
#define JN_GENERATE_P_FREQUENCY_PENALTY "frequency_penalty"

#define JN_GENERATE_MAX_N 128
#define JN_GENERATE_MAX_STOP 4

typedef enum jn_generate_input {
    JN_GENERATE_IN_NONE = 0, /* not a generate engine */
    JN_GENERATE_IN_PROMPT,
    JN_GENERATE_IN_MESSAGES,
} jn_generate_input;

/* Adds the generate signature (one input of the given form, the four outputs, the last three optional) to an empty
 * signature. 0 or the JN_E* code of jn_signature_add_*. The engine sets JN_ENGINE_STREAMS itself. */
int jn_generate_signature(jn_signature *sig, jn_generate_input in, jn_err *err);

/* Which input form the engine's signature has: IN_NONE unless it is a generate signature (one TEXT input named
 * prompt or messages, a TEXT output `text`, any other output among finish_reason / prompt_tokens /
 * completion_tokens with their types) and the engine streams. */
jn_generate_input jn_generate_input_of(const jn_engine *e);
/* How many IMAGE inputs the engine has (a generate engine's images; 0 for most). */
size_t jn_generate_images(const jn_engine *e);
/* jn_generate_input_of(e) != JN_GENERATE_IN_NONE. */
bool jn_generate_is(const jn_engine *e);

/* The sampling parameters of a request; `has_*` say which were given. */
typedef struct jn_generate_sampling {
    bool has_max_tokens, has_temperature, has_top_p, has_seed, has_n, has_presence_penalty, has_frequency_penalty;
    int64_t max_tokens, seed;
    int n; /* 1 when not given */
    double temperature, top_p, presence_penalty, frequency_penalty;
    char *stop[JN_GENERATE_MAX_STOP]; /* malloc'd */
    size_t n_stop;
} jn_generate_sampling;

/* Reads and checks the sampling parameters (p may be NULL: all defaults). JN_EINVAL naming the parameter ("parameter
 * 'temperature': 3 is not in [0, 2]"); on error nothing is left to free. */
int jn_generate_sampling_read(const jn_params *p, jn_generate_sampling *out, jn_err *err);
void jn_generate_sampling_clear(jn_generate_sampling *s);

/* The one element of a generate input (prompt or messages) as a borrowed (pointer, length), checked: the tensor is
 * there and holds exactly one element. For messages, also that it is a JSON list of objects each with a string
 * "role" (the message names the index). JN_EINVAL naming the input otherwise. */
int jn_generate_input_text(const jn_tensor_list *inputs, jn_generate_input in, const char **text, size_t *len,
                           jn_err *err);

/* Appends a `text` tensor of n elements (a whole answer or one partial's deltas). */
int jn_generate_push_text(jn_tensor_list *out, const char *const *texts, const size_t *lens, size_t n, jn_err *err);
/* Appends finish_reason (n elements; a NULL entry becomes "") and, when >= 0, prompt_tokens / completion_tokens. */
int jn_generate_push_final(jn_tensor_list *out, const char *const *finish_reasons, size_t n, int64_t prompt_tokens,
                           int64_t completion_tokens, jn_err *err);

#endif
