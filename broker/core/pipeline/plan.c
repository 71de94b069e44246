/* pipeline/plan.c — the human-readable plan of a compiled pipeline (jn_pipeline_plan_text): order of steps,
 * their bindings and the conversions inserted. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "executor.h"
#include "internal.h"

/* ---- plan text ---- */

typedef struct text {
    char *buf;
    size_t len, cap;
    bool oom;
} text;

static void append(text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void append(text *t, const char *fmt, ...)
{
    if (t->oom)
        return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(t->buf + t->len, t->cap - t->len, fmt, ap);
        va_end(ap);
        if (n < 0) {
            t->oom = true;
            return;
        }
        if ((size_t)n < t->cap - t->len) {
            t->len += (size_t)n;
            return;
        }
        size_t cap = t->cap * 2 + (size_t)n + 64;
        char *grown = realloc(t->buf, cap);
        if (!grown) {
            t->oom = true;
            return;
        }
        t->buf = grown;
        t->cap = cap;
    }
}

char *jn_pipeline_plan_text(const jn_engine *e)
{
    if (!jn_engine_is_pipeline(e))
        return NULL;
    const pipe *p = e->ctx;
    text t = {malloc(256), 0, 256, false};
    if (!t.buf)
        return NULL;
    t.buf[0] = '\0';
    char a[200], b[200];
    append(&t, "pipeline '%s'%s\n", p->spec.name, e->flags & JN_ENGINE_STREAMS ? " (streams)" : "");
    for (size_t i = 0; i < e->sig.n_inputs; i++)
        append(&t, "  input  %s: %s\n", e->sig.inputs[i].name, jn__port_type(a, sizeof a, &e->sig.inputs[i]));
    for (size_t i = 0; i < p->n_steps; i++) {
        const pstep *st = &p->steps[p->order[i]];
        append(&t, "  %zu. %s%s%s\n", i + 1, st->label, jn_engine_is_inline(st->engine) ? " inline" : " pooled",
               st->engine->flags & JN_ENGINE_STREAMS ? " streams" : "");
        if (p->spec.steps[p->order[i]].route)
            append(&t, "       route %s\n", p->spec.steps[p->order[i]].route);
        if (p->spec.steps[p->order[i]].when)
            append(&t, "       when %s\n", p->spec.steps[p->order[i]].when);
        for (size_t k = 0; k < st->n_ins; k++) {
            const step_input *in = &st->ins[k];
            append(&t, "       %s <- %s%s%s", in->port->name, in->src_step >= 0 ? p->steps[in->src_step].id : "",
                   in->src_step >= 0 ? "." : "", in->src_port);
            for (int c = 0; c < in->n_chain; c++) {
                const jn_convert_step *cs = &in->chain[c];
                append(&t, " | %s to %s", cs->conv->name, jn__port_type(b, sizeof b, &cs->result));
                if (cs->scale != 1.0 || cs->offset != 0.0)
                    append(&t, " (x * %.9g + %.9g)", cs->scale, cs->offset);
            }
            append(&t, "\n");
        }
    }
    for (size_t i = 0; i < p->n_outs; i++) {
        const pout *o = &p->outs[i];
        append(&t, "  output %s <- ", o->name);
        for (size_t k = 0; k < o->n_src; k++) /* the first produced */
            append(&t, "%s%s.%s", k ? " | " : "", p->steps[o->src_steps[k]].id, o->src_ports[k]);
        append(&t, ": %s%s\n", jn__port_type(a, sizeof a, &e->sig.outputs[i]), o->optional ? " (optional)" : "");
    }
    if (t.oom) {
        free(t.buf);
        return NULL;
    }
    return t.buf;
}
