/* chat_template.c — chat messages -> prompt (see chat_template.h). */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chat_template.h"
#include "grow.h"

struct jn_chat_template {
    char **roles, **fmts;
    size_t n;
    char *generation_prompt;
};

void jn_chat_template_free(jn_chat_template *t)
{
    if (!t)
        return;
    for (size_t i = 0; i < t->n; i++) {
        free(t->roles[i]);
        free(t->fmts[i]);
    }
    free(t->roles);
    free(t->fmts);
    free(t->generation_prompt);
    free(t);
}

jn_chat_template *jn_chat_template_parse(const json_t *v, const char *path, jn_err *err)
{
    if (json_is_string(v)) {
        jn_err_set(err, JN_EINVAL, "%s: chat_template: a Jinja template (a string) is not read; give an object of "
                                   "role templates, e.g. {\"user\": \"User: {content}\\n\", \"generation_prompt\": "
                                   "\"Assistant:\"}", path);
        return NULL;
    }
    if (!json_is_object(v)) {
        jn_err_set(err, JN_EINVAL, "%s: chat_template must be an object of role templates", path);
        return NULL;
    }
    jn_chat_template *t = calloc(1, sizeof *t);
    size_t n = json_object_size(v);
    if (t) {
        t->roles = calloc(n + 1, sizeof *t->roles);
        t->fmts = calloc(n + 1, sizeof *t->fmts);
    }
    if (!t || !t->roles || !t->fmts) {
        jn_chat_template_free(t);
        jn_err_set(err, JN_ENOMEM, "out of memory");
        return NULL;
    }
    const char *key;
    json_t *f;
    json_object_foreach((json_t *)v, key, f) {
        if (!json_is_string(f)) {
            jn_err_set(err, JN_EINVAL, "%s: chat_template.%s must be a string", path, key);
            jn_chat_template_free(t);
            return NULL;
        }
        char *s = strdup(json_string_value(f));
        if (s && strcmp(key, "generation_prompt") == 0) {
            t->generation_prompt = s;
            continue;
        }
        char *k = strdup(key);
        if (!s || !k) {
            free(s);
            free(k);
            jn_chat_template_free(t);
            jn_err_set(err, JN_ENOMEM, "out of memory");
            return NULL;
        }
        if (!strstr(s, "{content}")) {
            jn_err_set(err, JN_EINVAL, "%s: chat_template.%s has no {content}", path, key);
            free(s);
            free(k);
            jn_chat_template_free(t);
            return NULL;
        }
        t->roles[t->n] = k;
        t->fmts[t->n++] = s;
    }
    if (!t->n) {
        jn_err_set(err, JN_EINVAL, "%s: chat_template names no role (e.g. \"user\": \"User: {content}\\n\")", path);
        jn_chat_template_free(t);
        return NULL;
    }
    return t;
}

/* The message's content into b: a string, or the text parts of a list. */
static int put_content(jn_text *b, const json_t *c, size_t i, jn_err *err)
{
    if (json_is_string(c)) {
        jn_text_add(b, json_string_value(c), json_string_length(c));
        return 0;
    }
    if (json_is_null(c))
        return 0;
    if (!json_is_array(c))
        return jn_err_set(err, JN_EINVAL, "messages[%zu].content must be a string or a list of parts", i);
    size_t k;
    const json_t *part;
    json_array_foreach(c, k, part) {
        const char *type = json_string_value(json_object_get(part, "type"));
        const json_t *text = json_object_get(part, "text");
        if (!type || strcmp(type, "text") != 0 || !json_is_string(text))
            return jn_err_set(err, JN_EINVAL, "messages[%zu].content[%zu]: this model reads text parts only "
                                              "({\"type\": \"text\", \"text\": \"...\"})", i, k);
        jn_text_add(b, json_string_value(text), json_string_length(text));
    }
    return 0;
}

int jn_chat_template_render(const jn_chat_template *t, const char *messages, size_t len, char **out, size_t *out_len,
                            jn_err *err)
{
    json_error_t jerr;
    json_t *msgs = json_loadb(messages, len, 0, &jerr);
    if (!json_is_array(msgs)) {
        json_decref(msgs);
        return jn_err_set(err, JN_EINVAL, "messages: not a JSON list (%s)", jerr.text);
    }
    jn_text b = {0};
    jn_text_add(&b, "", 0);
    int rc = 0;
    size_t i;
    const json_t *m;
    json_array_foreach(msgs, i, m) {
        const char *role = json_string_value(json_object_get(m, "role"));
        const char *fmt = NULL;
        for (size_t r = 0; role && r < t->n && !fmt; r++)
            if (strcmp(t->roles[r], role) == 0)
                fmt = t->fmts[r];
        if (!fmt) {
            char have[256] = "";
            for (size_t r = 0; r < t->n; r++) {
                size_t l = strlen(have);
                snprintf(have + l, sizeof have - l, "%s%s", r ? ", " : "", t->roles[r]);
            }
            rc = jn_err_set(err, JN_EINVAL, "messages[%zu]: role '%s' has no template in the model's chat_template "
                                            "(it has: %s)", i, role ? role : "", have);
            break;
        }
        const char *at;
        while ((at = strstr(fmt, "{content}")) != NULL) {
            jn_text_add(&b, fmt, (size_t)(at - fmt));
            if ((rc = put_content(&b, json_object_get(m, "content"), i, err)))
                break;
            fmt = at + strlen("{content}");
        }
        if (rc)
            break;
        jn_text_add(&b, fmt, strlen(fmt));
    }
    json_decref(msgs);
    if (!rc && t->generation_prompt)
        jn_text_add(&b, t->generation_prompt, strlen(t->generation_prompt));
    if (!rc && b.failed)
        rc = jn_err_set(err, JN_ENOMEM, "out of memory");
    if (rc) {
        free(b.p);
        return rc;
    }
    *out = b.p;
    *out_len = b.len;
    return 0;
}
