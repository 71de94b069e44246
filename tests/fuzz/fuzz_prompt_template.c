/* Fuzz target: prompt templates (engines/text/template.c) and their rendering by the prompt-template engine over
 * parameters. The input is the template; the parameters a (text), n (a number), b (a boolean) are given. Must never
 * crash, leak or hang; a template that parses renders or is refused with a message naming the placeholder. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "builtin.h"
#include "executor.h"
#include "text/template.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static jn_engine *e;
    jn_err err;
    jn_err_clear(&err);
    if (!e && !(e = jn_prompt_template_create("prompt-template", NULL, &err)))
        abort();
    jn_template t;
    int rc = jn_template_parse((const char *)data, size, &t, &err);
    if (rc && (err.code != rc || !strstr(err.msg, "template: character ")))
        abort();
    size_t literal = 0;
    for (size_t i = 0; !rc && i < t.n; i++) {
        if ((t.parts[i].is_name && strlen(t.parts[i].text) != t.parts[i].len) || t.parts[i].offset > size ||
            t.parts[i].text[t.parts[i].len] != '\0')
            abort(); /* names are NUL-free; literal text holds what the template held (NULs too) */
        if (!t.parts[i].is_name)
            literal += t.parts[i].len;
    }
    if (!rc && literal > size)
        abort(); /* escapes only shorten the text */
    jn_template_free(&t);

    char *text = malloc(size + 1);
    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    jn_params p;
    jn_params_init(&p);
    jn_params_set_string(&p, "template", text);
    jn_params_set_string(&p, "a", "alpha");
    jn_params_set_double(&p, "n", 0.1);
    jn_params_set_bool(&p, "b", false);
    jn_infer_ctx ctx = {.model = "prompt-template", .request_id = "", .params = &p};
    jn_tensor_list none, outs;
    jn_tensor_list_init(&none);
    jn_tensor_list_init(&outs);
    jn_err_clear(&err);
    rc = jn_exec_engine(e, &ctx, &none, &outs, &err);
    if (rc && (err.code != rc || !strstr(err.msg, "model 'prompt-template'")))
        abort();
    if (!rc && outs.count != 2)
        abort(); /* text and messages */
    jn_tensor_list_clear(&outs);
    jn_params_clear(&p);
    free(text);
    return 0;
}
