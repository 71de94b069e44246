/* template.c — parsing prompt templates (template.h has the syntax). */
#include "template.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

void jn_template_free(jn_template *t)
{
    if (!t)
        return;
    for (size_t i = 0; i < t->n; i++)
        free(t->parts[i].text);
    free(t->parts);
    t->parts = NULL;
    t->n = 0;
}

static int push(jn_template *t, size_t *cap, bool is_name, const char *s, size_t n, jn_tmpl_field field,
                size_t offset)
{
    if (t->n == *cap) {
        size_t c = *cap ? *cap * 2 : 8;
        jn_tmpl_part *grown = realloc(t->parts, c * sizeof *grown);
        if (!grown)
            return JN_ENOMEM;
        t->parts = grown;
        *cap = c;
    }
    char *copy = malloc(n + 1);
    if (!copy)
        return JN_ENOMEM;
    memcpy(copy, s, n);
    copy[n] = '\0';
    t->parts[t->n++] = (jn_tmpl_part){.is_name = is_name, .text = copy, .len = n, .field = field, .offset = offset};
    return 0;
}

/* Appends literal text to the last part when it is literal too ("\{{" splits a literal run). */
static int literal(jn_template *t, size_t *cap, const char *s, size_t n, size_t offset)
{
    if (!n)
        return 0;
    jn_tmpl_part *last = t->n ? &t->parts[t->n - 1] : NULL;
    if (!last || last->is_name)
        return push(t, cap, false, s, n, JN_TMPL_VALUE, offset);
    char *grown = realloc(last->text, last->len + n + 1);
    if (!grown)
        return JN_ENOMEM;
    memcpy(grown + last->len, s, n);
    last->len += n;
    grown[last->len] = '\0';
    last->text = grown;
    return 0;
}

static bool name_char(char c)
{
    return isalnum((unsigned char)c) || c == '_' || c == '-';
}

int jn_template_parse(const char *text, size_t n, jn_template *t, jn_err *err)
{
    memset(t, 0, sizeof *t);
    size_t cap = 0, run = 0; /* run: where the current literal text starts */
    int rc = 0;
    for (size_t i = 0; i < n && !rc;) {
        if (text[i] == '\\' && i + 2 < n && text[i + 1] == '{' && text[i + 2] == '{') {
            rc = literal(t, &cap, text + run, i - run, run);
            if (!rc)
                rc = literal(t, &cap, "{{", 2, i);
            i += 3;
            run = i;
            continue;
        }
        if (!(text[i] == '{' && i + 1 < n && text[i + 1] == '{')) {
            i++;
            continue;
        }
        size_t open = i, close = open + 2;
        while (close + 1 < n && !(text[close] == '}' && text[close + 1] == '}'))
            close++;
        if (close + 1 >= n) {
            rc = jn_err_set(err, JN_EINVAL, "template: character %zu: '{{' is not closed with '}}' (write '\\{{' for "
                            "a literal '{{')", open);
            break;
        }
        const char *s = text + open + 2, *e = text + close;
        while (s < e && isspace((unsigned char)*s))
            s++;
        while (e > s && isspace((unsigned char)e[-1]))
            e--;
        const char *dot = memchr(s, '.', (size_t)(e - s));
        const char *name_end = dot ? dot : e;
        jn_tmpl_field field = JN_TMPL_VALUE;
        bool ok = name_end > s;
        for (const char *c = s; ok && c < name_end; c++)
            ok = name_char(*c);
        if (!ok) {
            rc = jn_err_set(err, JN_EINVAL, "template: character %zu: '{{%.*s}}' is not a placeholder (a name of "
                            "letters, digits, '_' and '-', then optionally .label or .score)", open,
                            (int)(close - open - 2 > 80 ? 80 : close - open - 2), text + open + 2);
            break;
        }
        if (dot) {
            size_t fn = (size_t)(e - dot - 1);
            if (fn == 5 && memcmp(dot + 1, "label", 5) == 0)
                field = JN_TMPL_LABEL;
            else if (fn == 5 && memcmp(dot + 1, "score", 5) == 0)
                field = JN_TMPL_SCORE;
            else {
                rc = jn_err_set(err, JN_EINVAL, "template: character %zu: '{{%.*s}}': field '%.*s' is not label or "
                                "score", open, (int)(e - s > 80 ? 80 : e - s), s, (int)(fn > 40 ? 40 : fn), dot + 1);
                break;
            }
        }
        rc = literal(t, &cap, text + run, open - run, run);
        if (!rc)
            rc = push(t, &cap, true, s, (size_t)(name_end - s), field, open) ? JN_ENOMEM : 0;
        i = run = close + 2;
    }
    if (!rc)
        rc = literal(t, &cap, text + run, n - run, run);
    if (rc) {
        if (rc == JN_ENOMEM)
            jn_err_set(err, JN_ENOMEM, "out of memory");
        jn_template_free(t);
    }
    return rc;
}

bool jn_template_reads(const jn_template *t, const char *name, unsigned *field_mask)
{
    *field_mask = 0;
    for (size_t i = 0; i < t->n; i++)
        if (t->parts[i].is_name && strcmp(t->parts[i].text, name) == 0)
            *field_mask |= 1u << t->parts[i].field;
    return *field_mask != 0;
}
