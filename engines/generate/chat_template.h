/* chat_template.h — chat messages -> one prompt for a local language model, by the small template format of a model
 * folder's config.json (issue #19 item 3):
 *
 *   "chat_template": {"system": "<|system|>\n{content}</s>\n", "user": "<|user|>\n{content}</s>\n",
 *                     "assistant": "<|assistant|>\n{content}</s>\n", "generation_prompt": "<|assistant|>\n"}
 *
 * Each key but generation_prompt is a role; its value is the text one message of that role becomes, every
 * "{content}" replaced by the message's content (a string, or OpenAI's list of parts of which the "text" ones are
 * joined). The prompt is the messages' texts in order, then generation_prompt (may be absent: ""). Nothing else is
 * interpreted (no loops, no conditions, no escapes): what Hugging Face's Jinja chat templates do for the common
 * role-tagged formats (ChatML, Llama-2/Zephyr-style tags), without a template language in the broker. A message whose
 * role has no entry is refused, naming it.
 *
 * Ownership: jn_chat_template_parse returns a template freed with jn_chat_template_free; render returns a malloc'd
 * NUL-terminated string. Thread-safety: immutable after parse.
 */
#ifndef JN_GENERATE_CHAT_TEMPLATE_H
#define JN_GENERATE_CHAT_TEMPLATE_H

#include <jansson.h>
#include <stddef.h>

#include "err.h"

typedef struct jn_chat_template jn_chat_template;

/* `v` is config.json's chat_template value; `path` names the file in messages. JN_EINVAL naming the field. */
jn_chat_template *jn_chat_template_parse(const json_t *v, const char *path, jn_err *err);
void jn_chat_template_free(jn_chat_template *t);
/* messages: OpenAI's chat list as JSON text (checked by jn_generate_input_text). JN_EINVAL naming the message. */
int jn_chat_template_render(const jn_chat_template *t, const char *messages, size_t len, char **out, size_t *out_len,
                            jn_err *err);

#endif
