/* Fuzz target: an OpenAI request body (chat/completions, completions or embeddings; byte 0 picks which) through
 * jn_oai_parse (openai_request.c), then what the door builds from an accepted one: the rendered prompt, an error
 * body, and the streamed chunks and whole answers for its text. Must never crash, leak or hang; every rejection
 * names a status and carries a message. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "openai.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    jn_oai_kind kind = (jn_oai_kind)(data[0] % 3);
    jn_oai_request r;
    jn_oai_error e;
    int rc = jn_oai_parse(kind, data + 1, size - 1, &r, &e);
    if (rc) {
        if (e.status < 400 || !e.err.msg[0])
            abort(); /* a rejection always says why */
        size_t len;
        free(jn_oai_error_json(&e, &len));
        return 0;
    }
    if (!r.model || r.n < 1 || r.n > JN_OAI_MAX_N)
        abort();
    if (kind == JN_OAI_EMBEDDINGS && (!r.n_inputs || !r.inputs[0]))
        abort();
    if (kind != JN_OAI_EMBEDDINGS) {
        if (!r.prompt)
            abort();
        jn_oai_choice ch = {.text = NULL};
        size_t n = strlen(r.prompt);
        ch.text = malloc(n + 1);
        memcpy(ch.text, r.prompt, n + 1);
        ch.text_len = n;
        json_t *doc = kind == JN_OAI_CHAT ? jn_oai_chat_completion("id", 1, r.model, &ch, 1, 1, 1)
                                          : jn_oai_text_completion("id", 1, r.model, &ch, 1, 1, 1);
        size_t len;
        free(jn_oai_sse(doc, &len));
        char *chunk = jn_oai_chunk_sse(kind, "id", 1, r.model, 0, "assistant", ch.text, ch.text_len, NULL,
                                       r.include_usage, &len);
        json_t *back = json_loadb(chunk + 6, len - 8, 0, NULL); /* the chunk is "data: " + JSON + "\n\n" */
        if (!back)
            abort();
        json_decref(back);
        free(chunk);
        free(ch.text);
    }
    jn_oai_request_clear(&r);
    return 0;
}
