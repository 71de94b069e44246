/* pipeline/decide.c — registration of a pipeline's decisions (issue #20): binding each step's `when` to the ports
 * it reads (those steps become dependencies), and reasoning over every true/false assignment of the pipeline's
 * distinct tests to refuse steps that can never run and outputs that may be missing. Called by compile.c. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"


static int resolve_for_cond(void *arg, const char *from, const char *what, int *step, const char **port_name,
                            const jn_port **port, jn_err *err)
{
    const pipe *p = arg;
    return jn__resolve_source(p, p->spec.name, from, what, step, port_name, port, err);
}

typedef struct leaf_set {
    cond *leaves[JN_COND_MAX_PIPELINE_LEAVES + 1];
    int n;
} leaf_set;

static void add_leaf(cond *leaf, void *arg)
{
    leaf_set *ls = arg;
    for (int i = 0; i < ls->n; i++)
        if (strcmp(ls->leaves[i]->text, leaf->text) == 0) {
            leaf->var = i;
            return;
        }
    leaf->var = ls->n;
    if (ls->n <= JN_COND_MAX_PIPELINE_LEAVES)
        ls->leaves[ls->n] = leaf;
    ls->n++;
}

static void add_leaf_dep(cond *leaf, void *arg)
{
    pstep *st = ((void **)arg)[0];
    pipe *p = ((void **)arg)[1];
    bool *ok = ((void **)arg)[2];
    if (leaf->src_step >= 0 &&
        (!jn__add_unique(&st->deps, &st->n_deps, leaf->src_step) ||
         !jn__add_unique(&p->steps[leaf->src_step].users, &p->steps[leaf->src_step].n_users, (int)(st - p->steps))))
        *ok = false;
}

/* Parses and binds step si's condition; the steps it reads become the step's dependencies. */
int jn__bind_when(pipe *p, size_t si, jn_err *err)
{
    const char *name = p->spec.name, *text = p->spec.steps[si].when;
    pstep *st = &p->steps[si];
    if (!text)
        return 0;
    p->has_when = true;
    char where[300];
    snprintf(where, sizeof where, "step '%s': when", st->id);
    json_error_t jerr;
    json_t *v = json_loads(text, JSON_REJECT_DUPLICATES, &jerr);
    if (!v)
        return jn_err_set(err, JN_EINVAL, "pipeline '%s': %s: %s", name, where, jerr.text);
    if (!(st->when = calloc(1, sizeof *st->when))) {
        json_decref(v);
        return jn_err_set(err, JN_ENOMEM, "out of memory");
    }
    int rc = jn__cond_parse(v, where, 0, st->when, err);
    json_decref(v);
    if (!rc)
        rc = jn__cond_bind(st->when, resolve_for_cond, p, where, err);
    if (rc) {
        if (strncmp(err->msg, "pipeline '", 10) != 0)
            jn_err_prefix(err, "pipeline '%s'", name);
        return rc;
    }
    bool ok = true;
    void *args[3] = {st, p, &ok};
    jn__cond_leaves(st->when, add_leaf_dep, args);
    if (!ok)
        return jn_err_set(err, JN_ENOMEM, "out of memory");
    for (size_t d = 0; d < st->n_deps; d++)
        if (st->deps[d] == (int)si)
            return jn_err_set(err, JN_EINVAL, "pipeline '%s': step '%s': its condition reads its own output", name,
                              st->id);
    return 0;
}

/* "{leaf} is true, {leaf} is false" for an assignment. */
static void describe_vars(const leaf_set *ls, unsigned vars, char *buf, size_t cap)
{
    size_t used = 0;
    buf[0] = '\0';
    for (int i = 0; i < ls->n && used < cap; i++)
        used += (size_t)snprintf(buf + used, cap - used, "%s%s is %s", i ? " and " : "", ls->leaves[i]->text,
                                 (vars >> i) & 1u ? "true" : "false");
}

/* Registration's reasoning about decisions: over every true/false assignment of the pipeline's distinct condition
 * tests, which steps run (a step runs when every step it needs runs and its own condition holds). Refuses a step
 * that can never run and an output (not "optional") that some assignment leaves with no source. Tests are treated as
 * independent: write the opposite of a test as {"not": test}, not as another threshold. */
int jn__check_decisions(pipe *p, jn_err *err)
{
    const char *name = p->spec.name;
    for (size_t i = 0; i < p->n_steps; i++) { /* topological: producers first */
        pstep *st = &p->steps[p->order[i]];
        st->may_skip = st->when != NULL;
        for (size_t d = 0; d < st->n_deps; d++)
            st->may_skip |= p->steps[st->deps[d]].may_skip;
    }
    if (!p->has_when)
        return 0;
    if (p->stream_step >= 0)
        for (size_t i = 0; i < p->n_steps; i++)
            if (p->steps[i].when)
                return jn_err_set(err, JN_EINVAL,
                                  "pipeline '%s': step '%s' has a condition, but the pipeline streams (step '%s'); "
                                  "conditions are not supported in streaming pipelines",
                                  name, p->steps[i].id, p->steps[p->stream_step].id);
    leaf_set ls = {.n = 0};
    for (size_t i = 0; i < p->n_steps; i++)
        if (p->steps[i].when)
            jn__cond_leaves(p->steps[i].when, add_leaf, &ls);
    if (ls.n > JN_COND_MAX_PIPELINE_LEAVES)
        return jn_err_set(err, JN_EINVAL,
                          "pipeline '%s': %d distinct condition tests; at most %d can be checked at registration",
                          name, ls.n, JN_COND_MAX_PIPELINE_LEAVES);
    bool *runs = calloc(p->n_steps, sizeof *runs), *ever = calloc(p->n_steps, sizeof *ever);
    if (!runs || !ever) {
        free(runs);
        free(ever);
        return jn_err_set(err, JN_ENOMEM, "out of memory");
    }
    int rc = 0;
    for (unsigned vars = 0; vars < (1u << ls.n) && !rc; vars++) {
        for (size_t i = 0; i < p->n_steps; i++) {
            int s = p->order[i];
            const pstep *st = &p->steps[s];
            bool r = !st->when || jn__cond_eval_vars(st->when, vars);
            for (size_t d = 0; d < st->n_deps && r; d++)
                r = runs[st->deps[d]];
            runs[s] = r;
            ever[s] |= r;
        }
        for (size_t o = 0; o < p->n_outs && !rc; o++) {
            const pout *po = &p->outs[o];
            bool produced = po->optional;
            for (size_t k = 0; k < po->n_src && !produced; k++)
                produced = runs[po->src_steps[k]];
            if (produced)
                continue;
            char when[600], srcs[300];
            describe_vars(&ls, vars, when, sizeof when);
            size_t used = 0;
            srcs[0] = '\0';
            for (size_t k = 0; k < po->n_src && used < sizeof srcs; k++)
                used += (size_t)snprintf(srcs + used, sizeof srcs - used, "%s'%s.%s'", k ? ", " : "",
                                         p->steps[po->src_steps[k]].id, po->src_ports[k]);
            rc = jn_err_set(err, JN_EINVAL,
                            "pipeline '%s': output '%s' may be missing: when %s, none of its sources (%s) runs; add "
                            "a source that runs then (\"from\": [...]) or declare it \"optional\": true",
                            name, po->name, when, srcs);
        }
    }
    for (size_t i = 0; i < p->n_steps && !rc; i++)
        if (!ever[i])
            rc = jn_err_set(err, JN_EINVAL,
                            "pipeline '%s': step '%s' can never run: its condition is false whenever the steps it "
                            "needs run",
                            name, p->steps[i].id);
    free(runs);
    free(ever);
    return rc;
}

