/* template.h — the prompt-template engine's template text (issue #18 item 4), parsed once into parts:
 *
 *   "Answer in {{lang}}. The photo shows a {{category.label}} ({{category.score}}). {{question}}"
 *
 * A placeholder is "{{" name ["." field] "}}", blanks around the name allowed; a name is letters, digits, '_' and
 * '-'; the field is `label` or `score` (a CLASSIFICATION's top-1). Everything else is literal text. The one escape:
 * "\{{" is a literal "{{" (a backslash anywhere else is itself; "}}" outside a placeholder is itself). A "{{" that
 * is not closed, an empty or malformed name, or another field is refused with the character offset.
 *
 * Ownership: a jn_template owns its parts and their text (jn_template_free). Thread-safety: read-only after parse.
 */
#ifndef JN_ENGINES_TEXT_TEMPLATE_H
#define JN_ENGINES_TEXT_TEMPLATE_H

#include <stdbool.h>
#include <stddef.h>

#include "../../broker/core/err.h"

typedef enum jn_tmpl_field {
    JN_TMPL_VALUE, /* {{x}}: the value (a CLASSIFICATION's top-1 label) */
    JN_TMPL_LABEL, /* {{x.label}} */
    JN_TMPL_SCORE, /* {{x.score}} */
} jn_tmpl_field;

typedef struct jn_tmpl_part {
    bool is_name;       /* a placeholder (text = its name) or literal text */
    char *text;         /* NUL-terminated; literal text holds NULs only if the template did (a parameter never does) */
    size_t len;
    jn_tmpl_field field;
    size_t offset; /* of the part in the template, for messages */
} jn_tmpl_part;

typedef struct jn_template {
    jn_tmpl_part *parts;
    size_t n;
} jn_template;

/* Parses [text, text+n). 0, or JN_EINVAL with err saying what and where ("template: character 12: ...") / JN_ENOMEM;
 * *t is empty (and freeable) on failure. */
int jn_template_parse(const char *text, size_t n, jn_template *t, jn_err *err);
void jn_template_free(jn_template *t);
/* Does the template read `name`? *field_mask gets a bit (1 << jn_tmpl_field) per way it is read. */
bool jn_template_reads(const jn_template *t, const char *name, unsigned *field_mask);

#endif
