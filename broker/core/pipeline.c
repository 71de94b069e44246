/* pipeline.c — compiling a pipeline spec into an engine, and running it.
 *
 * Compile: resolve each step's engine, bind each engine input to its source (pipeline input or step output),
 * type-check every binding (inserting conversions from convert.c), order the steps topologically (a cycle is an
 * error naming its steps), type the pipeline's outputs from their producers.
 * Run: only the steps the requested outputs need; inputs handed over by reference; ready steps run by the calling
 * thread, extra ready steps offered to the worker pool (a pool job that finds nothing left to do just returns, so
 * nobody ever waits on a step that has not started). */
#include "pipeline.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "convert.h"
#include "executor.h"
#include "metrics.h"
#include "workpool.h"

typedef struct step_input {
    const jn_port *port; /* the engine's input (borrowed from the engine) */
    int src_step;        /* -1: a pipeline input */
    const char *src_port; /* pipeline input name or the producer's output name (borrowed) */
    const jn_port *src;   /* the source's port */
    jn_convert_step chain[JN_CONVERT_MAX_CHAIN];
    int n_chain;
} step_input;

/* Does every value of port `src` already satisfy port `port` (no conversion, no dimension the source leaves open
 * that the consumer fixes)? Then the tensor, checked against `src` when it was produced or received, needs no
 * second check at this hop. */
static bool source_covers(const jn_port *port, const jn_port *src)
{
    if (port->dtype != src->dtype || port->ndim != src->ndim || (port->kind == JN_KIND_TEXT && src->kind != JN_KIND_TEXT))
        return false;
    for (int i = 0; i < port->ndim; i++)
        if (port->shape[i] != -1 && port->shape[i] != src->shape[i])
            return false;
    return true;
}

typedef struct pstep {
    char *id;
    char *label; /* "step 'b' (model 'burn')" */
    jn_engine *engine;
    step_input *ins;
    size_t n_ins;
    int *deps; /* distinct producer steps */
    size_t n_deps;
    int *users; /* distinct consumer steps */
    size_t n_users;
    bool check_inputs; /* some input is not guaranteed to fit by its source's own check (see source_covers) */
    /* Metrics, looked up by the step's first run (exec_step) rather than at compile time, so pipelines that are
     * only checked (or fuzzed) add nothing to the process-wide registry. The one field written after compile. */
    _Atomic(jn_step_stats *) stats;
} pstep;

typedef struct pout {
    char *name;
    int step;
    const char *port; /* producer output name (borrowed) */
} pout;

typedef struct pipe {
    jn_pipeline_spec spec; /* a copy, for ListPipelines and plans */
    pstep *steps;
    size_t n_steps;
    int *order; /* topological */
    pout *outs;
    size_t n_outs;
    int stream_step; /* -1: none */
    bool all_inline;
    int depth; /* 1 + the deepest pipeline among the steps' engines */
} pipe;

static const jn_engine_vtable pipeline_vtable;

/* ---- spec copy ---- */

static int spec_copy(jn_pipeline_spec *dst, const jn_pipeline_spec *src)
{
    jn_pipeline_spec_init(dst);
    if (jn_pipeline_spec_set_name(dst, src->name, src->description))
        return JN_ENOMEM;
    for (size_t i = 0; i < src->inputs.n_inputs; i++) {
        const jn_port *p = &src->inputs.inputs[i];
        if (jn_signature_add_input(&dst->inputs, p->name, p->kind, p->dtype, p->ndim, p->shape, NULL) ||
            jn_port_set_labels(&dst->inputs.inputs[i], (const char *const *)p->labels, p->n_labels, NULL))
            return JN_ENOMEM;
    }
    for (size_t i = 0; i < src->n_steps; i++) {
        const jn_step_spec *s = &src->steps[i];
        jn_step_spec *d = jn_pipeline_spec_add_step(dst, s->id, s->model, s->version);
        if (!d)
            return JN_ENOMEM;
        for (size_t k = 0; k < s->n_inputs; k++) {
            jn_binding *b = jn_step_spec_bind(d, s->inputs[k].port, s->inputs[k].from);
            if (!b)
                return JN_ENOMEM;
            b->cast = s->inputs[k].cast;
            b->has_scale = s->inputs[k].has_scale;
            b->scale = s->inputs[k].scale;
            b->offset = s->inputs[k].offset;
        }
    }
    for (size_t i = 0; i < src->n_outputs; i++)
        if (jn_pipeline_spec_add_output(dst, src->outputs[i].name, src->outputs[i].from))
            return JN_ENOMEM;
    return 0;
}

/* ---- compile ---- */

static void pipe_free(pipe *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < p->n_steps; i++) {
        free(p->steps[i].id);
        free(p->steps[i].label);
        jn_engine_unref(p->steps[i].engine);
        free(p->steps[i].ins);
        free(p->steps[i].deps);
        free(p->steps[i].users);
    }
    free(p->steps);
    free(p->order);
    for (size_t i = 0; i < p->n_outs; i++)
        free(p->outs[i].name);
    free(p->outs);
    jn_pipeline_spec_free(&p->spec);
    free(p);
}

static int find_step(const pipe *p, const char *id, size_t id_len)
{
    for (size_t i = 0; i < p->n_steps; i++)
        if (strlen(p->steps[i].id) == id_len && strncmp(p->steps[i].id, id, id_len) == 0)
            return (int)i;
    return -1;
}

static void port_names(const jn_port *ports, size_t n, char *buf, size_t cap)
{
    size_t used = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < n && used < cap; i++)
        used += (size_t)snprintf(buf + used, cap - used, "%s'%s'", i ? ", " : "", ports[i].name);
    if (!n)
        snprintf(buf, cap, "none");
}

static char *port_type(char *buf, size_t n, const jn_port *p)
{
    char t[160];
    snprintf(buf, n, "%s %s", jn_kind_name(p->kind), jn_format_type(t, sizeof t, p->dtype, p->ndim, p->shape));
    return buf;
}

static bool add_unique(int **list, size_t *n, int v)
{
    for (size_t i = 0; i < *n; i++)
        if ((*list)[i] == v)
            return true;
    int *grown = realloc(*list, (*n + 1) * sizeof *grown);
    if (!grown)
        return false;
    grown[(*n)++] = v;
    *list = grown;
    return true;
}

/* Resolves "x" or "step.port" into a source; 0 or an error naming `what`. */
static int resolve_source(const pipe *p, const char *name, const char *from, const char *what, int *step,
                          const char **port_name, const jn_port **port, jn_err *err)
{
    const char *dot = strrchr(from, '.');
    if (!*from)
        return jn_err_set(err, JN_EINVAL, "pipeline '%s': %s is bound to nothing", name, what);
    if (!dot) {
        const jn_port *in = jn_signature_find_input(&p->spec.inputs, from);
        if (!in)
            return jn_err_set(err, JN_EINVAL,
                              "pipeline '%s': %s comes from '%s', which is neither a pipeline input nor a step "
                              "output ('step.port')",
                              name, what, from);
        *step = -1;
        *port_name = in->name;
        *port = in;
        return 0;
    }
    int s = find_step(p, from, (size_t)(dot - from));
    if (s < 0)
        return jn_err_set(err, JN_EINVAL, "pipeline '%s': %s comes from '%s', but there is no step '%.*s'", name,
                          what, from, (int)(dot - from), from);
    const jn_port *out = jn_engine_find_output(p->steps[s].engine, dot + 1);
    if (!out) {
        char outs[512];
        port_names(p->steps[s].engine->sig.outputs, p->steps[s].engine->sig.n_outputs, outs, sizeof outs);
        return jn_err_set(err, JN_EINVAL,
                          "pipeline '%s': %s comes from '%s', but step '%s' (model '%s') has no output '%s' (its "
                          "outputs are %s)",
                          name, what, from, p->steps[s].id, p->steps[s].engine->name, dot + 1, outs);
    }
    *step = s;
    *port_name = out->name;
    *port = out;
    return 0;
}

static int bind_step(pipe *p, size_t si, const jn_step_spec *ss, jn_err *err)
{
    const char *name = p->spec.name;
    pstep *st = &p->steps[si];
    const jn_signature *sig = &st->engine->sig;
    st->ins = calloc(sig->n_inputs ? sig->n_inputs : 1, sizeof *st->ins);
    if (!st->ins)
        return jn_err_set(err, JN_ENOMEM, "out of memory");
    st->n_ins = sig->n_inputs;
    for (size_t k = 0; k < ss->n_inputs; k++) {
        const jn_binding *b = &ss->inputs[k];
        const jn_port *port = jn_signature_find_input(sig, b->port);
        if (!port) {
            char ins[512];
            port_names(sig->inputs, sig->n_inputs, ins, sizeof ins);
            return jn_err_set(err, JN_EINVAL,
                              "pipeline '%s': step '%s': binds input '%s', which model '%s' does not have (its "
                              "inputs are %s)",
                              name, st->id, b->port, st->engine->name, ins);
        }
        for (size_t j = 0; j < k; j++)
            if (strcmp(ss->inputs[j].port, b->port) == 0)
                return jn_err_set(err, JN_EINVAL, "pipeline '%s': step '%s': input '%s' is bound twice", name,
                                  st->id, b->port);
        step_input *in = &st->ins[port - sig->inputs];
        in->port = port;
        char what[300];
        snprintf(what, sizeof what, "step '%s': input '%s'", st->id, b->port);
        int rc = resolve_source(p, name, b->from, what, &in->src_step, &in->src_port, &in->src, err);
        if (rc)
            return rc;
        if (in->src_step == (int)si)
            return jn_err_set(err, JN_EINVAL, "pipeline '%s': steps '%s' -> '%s' form a cycle", name, st->id,
                              st->id);
        in->n_chain = jn_convert_plan(in->src, port, b, in->chain);
        if (in->n_chain < 0) {
            char want[200], got[200], why[256];
            jn_port_fits(port, in->src, why, sizeof why);
            return jn_err_set(err, JN_EINVAL,
                              "pipeline '%s': step '%s': input '%s' expects %s, got %s from '%s' (%s, and no "
                              "conversion applies%s)",
                              name, st->id, b->port, port_type(want, sizeof want, port),
                              port_type(got, sizeof got, in->src), b->from, why,
                              b->cast != JN_DTYPE_INVALID || b->has_scale || b->offset != 0.0 ? " to the declared cast"
                                                                         : "; declare a cast to accept a lossy one");
        }
        if (in->n_chain > 0 || !source_covers(port, in->src))
            st->check_inputs = true;
        if (in->src_step >= 0 && (!add_unique(&st->deps, &st->n_deps, in->src_step) ||
                                  !add_unique(&p->steps[in->src_step].users, &p->steps[in->src_step].n_users,
                                              (int)si)))
            return jn_err_set(err, JN_ENOMEM, "out of memory");
    }
    for (size_t k = 0; k < sig->n_inputs; k++) {
        if (!st->ins[k].port) {
            char want[200];
            return jn_err_set(err, JN_EINVAL, "pipeline '%s': step '%s': input '%s' is not bound (expects %s)",
                              name, st->id, sig->inputs[k].name, port_type(want, sizeof want, &sig->inputs[k]));
        }
    }
    return 0;
}

/* Kahn's algorithm; on a cycle, names the steps on one. */
static int order_steps(pipe *p, jn_err *err)
{
    size_t n = p->n_steps;
    int *indeg = calloc(n ? n : 1, sizeof *indeg);
    p->order = calloc(n ? n : 1, sizeof *p->order);
    if (!indeg || !p->order) {
        free(indeg);
        return jn_err_set(err, JN_ENOMEM, "out of memory");
    }
    for (size_t i = 0; i < n; i++)
        indeg[i] = (int)p->steps[i].n_deps;
    size_t head = 0, tail = 0;
    for (size_t i = 0; i < n; i++)
        if (!indeg[i])
            p->order[tail++] = (int)i;
    while (head < tail) {
        pstep *s = &p->steps[p->order[head++]];
        for (size_t u = 0; u < s->n_users; u++)
            if (--indeg[s->users[u]] == 0)
                p->order[tail++] = s->users[u];
    }
    if (tail == n) {
        free(indeg);
        return 0;
    }
    /* Walk back along unfinished producers until a step repeats: that loop is a cycle. */
    int start = -1;
    for (size_t i = 0; i < n && start < 0; i++)
        if (indeg[i] > 0)
            start = (int)i;
    int *seen = calloc(n, sizeof *seen), cur = start, pos = 1;
    while (seen && !seen[cur]) {
        seen[cur] = pos++;
        int next = -1;
        for (size_t d = 0; d < p->steps[cur].n_deps && next < 0; d++)
            if (indeg[p->steps[cur].deps[d]] > 0)
                next = p->steps[cur].deps[d];
        cur = next;
    }
    char path[768];
    size_t used = 0;
    path[0] = '\0';
    if (seen) { /* cur is on the cycle; print it in data-flow order */
        int loop[64], k = 0, c = cur;
        do {
            loop[k++] = c;
            int next = -1;
            for (size_t d = 0; d < p->steps[c].n_deps && next < 0; d++)
                if (indeg[p->steps[c].deps[d]] > 0 && seen[p->steps[c].deps[d]])
                    next = p->steps[c].deps[d];
            c = next;
        } while (c != cur && c >= 0 && k < 64);
        for (int i = k - 1; i >= 0 && used < sizeof path; i--)
            used += (size_t)snprintf(path + used, sizeof path - used, "'%s' -> ", p->steps[loop[i]].id);
        if (used < sizeof path)
            snprintf(path + used, sizeof path - used, "'%s'", p->steps[loop[k - 1]].id);
    }
    free(seen);
    free(indeg);
    return jn_err_set(err, JN_EINVAL, "pipeline '%s': steps %s form a cycle", p->spec.name, path);
}

static int check_names(const jn_pipeline_spec *spec, jn_err *err)
{
    if (!spec->name || !*spec->name)
        return jn_err_set(err, JN_EINVAL, "pipeline has no name");
    const char *name = spec->name;
    if (spec->n_steps == 0)
        return jn_err_set(err, JN_EINVAL, "pipeline '%s' has no steps", name);
    if (spec->n_outputs == 0)
        return jn_err_set(err, JN_EINVAL, "pipeline '%s' has no outputs", name);
    for (size_t i = 0; i < spec->inputs.n_inputs; i++)
        if (strchr(spec->inputs.inputs[i].name, '.'))
            return jn_err_set(err, JN_EINVAL, "pipeline '%s': input name '%s' may not contain '.'", name,
                              spec->inputs.inputs[i].name);
    for (size_t i = 0; i < spec->n_steps; i++) {
        const char *id = spec->steps[i].id;
        if (!*id || strchr(id, '.'))
            return jn_err_set(err, JN_EINVAL, "pipeline '%s': step #%zu has an empty id or one containing '.' ('%s')",
                              name, i, id);
        for (size_t j = 0; j < i; j++)
            if (strcmp(spec->steps[j].id, id) == 0)
                return jn_err_set(err, JN_EINVAL, "pipeline '%s': step id '%s' is used twice", name, id);
    }
    for (size_t i = 0; i < spec->n_outputs; i++) {
        if (!*spec->outputs[i].name)
            return jn_err_set(err, JN_EINVAL, "pipeline '%s': output #%zu has no name", name, i);
        for (size_t j = 0; j < i; j++)
            if (strcmp(spec->outputs[j].name, spec->outputs[i].name) == 0)
                return jn_err_set(err, JN_EINVAL, "pipeline '%s': output '%s' is declared twice", name,
                                  spec->outputs[i].name);
    }
    return 0;
}

static int type_outputs(pipe *p, jn_engine *e, jn_err *err)
{
    const char *name = p->spec.name;
    p->outs = calloc(p->spec.n_outputs, sizeof *p->outs);
    if (!p->outs)
        return jn_err_set(err, JN_ENOMEM, "out of memory");
    for (size_t i = 0; i < p->spec.n_outputs; i++) {
        const jn_output_spec *o = &p->spec.outputs[i];
        char what[300];
        snprintf(what, sizeof what, "output '%s'", o->name);
        int step;
        const char *port_name;
        const jn_port *port;
        int rc = resolve_source(p, name, o->from, what, &step, &port_name, &port, err);
        if (rc)
            return rc;
        if (step < 0)
            return jn_err_set(err, JN_EINVAL,
                              "pipeline '%s': output '%s' comes from pipeline input '%s'; outputs come from steps "
                              "('step.port')",
                              name, o->name, o->from);
        if (!(p->outs[i].name = strdup(o->name)))
            return jn_err_set(err, JN_ENOMEM, "out of memory");
        p->n_outs++;
        p->outs[i].step = step;
        p->outs[i].port = port_name;
        rc = jn_signature_add_output(&e->sig, o->name, port->kind, port->dtype, port->ndim, port->shape, err);
        if (!rc && port->n_labels)
            rc = jn_port_set_labels(&e->sig.outputs[e->sig.n_outputs - 1], (const char *const *)port->labels,
                                    port->n_labels, err);
        if (rc)
            return rc;
    }
    return 0;
}

static int check_inputs_used(const pipe *p, jn_err *err)
{
    for (size_t i = 0; i < p->spec.inputs.n_inputs; i++) {
        const char *in = p->spec.inputs.inputs[i].name;
        bool used = false;
        for (size_t s = 0; s < p->n_steps && !used; s++)
            for (size_t k = 0; k < p->steps[s].n_ins && !used; k++)
                used = p->steps[s].ins[k].src_step < 0 && strcmp(p->steps[s].ins[k].src_port, in) == 0;
        if (!used)
            return jn_err_set(err, JN_EINVAL, "pipeline '%s': input '%s' is not used by any step", p->spec.name, in);
    }
    return 0;
}

jn_engine *jn_pipeline_compile(const jn_pipeline_spec *spec, jn_registry *reg, jn_err *err)
{
    int rc = check_names(spec, err);
    if (rc)
        return NULL;
    if (spec->n_steps > JN_PIPELINE_MAX_STEPS) {
        jn_err_set(err, JN_EINVAL, "pipeline '%s': %zu steps; at most %d", spec->name, spec->n_steps,
                   JN_PIPELINE_MAX_STEPS);
        return NULL;
    }
    pipe *p = calloc(1, sizeof *p);
    if (!p || spec_copy(&p->spec, spec) ||
        !(p->steps = calloc(spec->n_steps, sizeof *p->steps))) {
        pipe_free(p);
        jn_err_set(err, JN_ENOMEM, "out of memory");
        return NULL;
    }
    const char *name = p->spec.name;
    p->stream_step = -1;
    p->all_inline = true;
    p->depth = 1;
    for (size_t i = 0; i < spec->n_steps; i++) {
        const jn_step_spec *ss = &p->spec.steps[i];
        pstep *st = &p->steps[i];
        p->n_steps++;
        st->id = strdup(ss->id);
        jn_err lookup;
        st->engine = jn_registry_get(reg, ss->model, ss->version, &lookup);
        if (!st->id) {
            rc = jn_err_set(err, JN_ENOMEM, "out of memory");
            goto fail;
        }
        if (!st->engine) {
            rc = jn_err_set(err, lookup.code, "pipeline '%s': step '%s': %s", name, ss->id, lookup.msg);
            goto fail;
        }
        size_t n = strlen(ss->id) + strlen(ss->model) + 32;
        if (!(st->label = malloc(n))) {
            rc = jn_err_set(err, JN_ENOMEM, "out of memory");
            goto fail;
        }
        snprintf(st->label, n, "step '%s' (model '%s')", ss->id, ss->model);
        if (jn_engine_is_pipeline(st->engine)) {
            const pipe *inner = st->engine->ctx;
            if (inner->depth + 1 > p->depth)
                p->depth = inner->depth + 1;
            if (p->depth > JN_PIPELINE_MAX_DEPTH) {
                rc = jn_err_set(err, JN_EINVAL,
                                "pipeline '%s': step '%s' uses pipeline '%s', which nests %d deep; pipelines may nest "
                                "at most %d deep",
                                name, ss->id, ss->model, inner->depth, JN_PIPELINE_MAX_DEPTH);
                goto fail;
            }
        }
        if (st->engine->flags & JN_ENGINE_STREAMS) {
            if (p->stream_step >= 0) {
                rc = jn_err_set(err, JN_EINVAL,
                                "pipeline '%s': steps '%s' and '%s' both stream; a pipeline may have one streaming "
                                "step",
                                name, p->steps[p->stream_step].id, ss->id);
                goto fail;
            }
            p->stream_step = (int)i;
        }
        if (!jn_engine_is_inline(st->engine))
            p->all_inline = false;
    }
    for (size_t i = 0; i < p->n_steps; i++)
        if ((rc = bind_step(p, i, &p->spec.steps[i], err)))
            goto fail;
    if ((rc = order_steps(p, err)) || (rc = check_inputs_used(p, err)))
        goto fail;

    jn_engine *e = jn_engine_create(&pipeline_vtable, name, "1", p->spec.description, NULL, err);
    if (!e)
        goto fail;
    e->ctx = p;
    for (size_t i = 0; i < p->spec.inputs.n_inputs && !rc; i++) {
        const jn_port *in = &p->spec.inputs.inputs[i];
        rc = jn_signature_add_input(&e->sig, in->name, in->kind, in->dtype, in->ndim, in->shape, err);
        if (!rc && in->n_labels)
            rc = jn_port_set_labels(&e->sig.inputs[i], (const char *const *)in->labels, in->n_labels, err);
    }
    if (!rc)
        rc = type_outputs(p, e, err);
    if (rc) {
        jn_engine_unref(e); /* destroy frees p */
        return NULL;
    }
    if (p->all_inline && p->stream_step < 0)
        e->flags |= JN_ENGINE_INLINE;
    if (p->stream_step >= 0)
        e->flags |= JN_ENGINE_STREAMS;
    return e;
fail:
    (void)rc;
    pipe_free(p);
    return NULL;
}

/* ---- run ---- */

enum { S_SKIP, S_WAIT, S_READY, S_RUNNING, S_DONE };
enum { STEP_INPUT_SLOTS = 8 };

/* One call of a pipeline. Made in one allocation sized for the pipeline (run_create), so a call costs one
 * malloc however many steps it has. Two ways to run it:
 *   - in order on the calling thread (run_in_order), when every step is inline or there is no pool: no lock, no
 *     shared state, nothing to wait for;
 *   - concurrently (run_concurrent): the caller and pool jobs take ready steps under `mu`; `refs` keeps the run
 *     alive for pool jobs that start after the caller has left. */
typedef struct run {
    atomic_int refs;
    bool concurrent; /* mu and cv are initialised */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    const pipe *p;
    const jn_infer_ctx *ctx;
    const jn_tensor_list *inputs;
    jn_tensor_list *outs; /* per step, over slots in this allocation */
    int *missing;         /* per step: producers not yet done */
    unsigned char *state; /* per step: S_* */
    bool *wanted;         /* per step: needed for the requested outputs */
    bool *after;          /* per step: downstream of the streaming step (streaming calls) */
    int n_todo, n_done, running, offered;
    int rc;
    jn_err *first_err; /* the caller's: receives the first failure (concurrent runs; may be NULL) */
} run;

static size_t align8(size_t n)
{
    return (n + 7) & ~(size_t)7;
}

static run *run_create(const pipe *p, const jn_infer_ctx *ctx, const jn_tensor_list *inputs)
{
    size_t n = p->n_steps, slots = 0;
    for (size_t i = 0; i < n; i++)
        slots += p->steps[i].engine->sig.n_outputs;
    size_t at_outs = align8(sizeof(run)), at_slots = at_outs + n * sizeof(jn_tensor_list),
           at_missing = at_slots + slots * sizeof(jn_tensor *), at_state = at_missing + n * sizeof(int),
           at_wanted = at_state + n, at_after = at_wanted + n, size = at_after + n;
    char *block = malloc(size);
    if (!block)
        return NULL;
    run *r = (run *)block;
    memset(r, 0, sizeof *r);
    atomic_init(&r->refs, 1);
    r->p = p;
    r->ctx = ctx;
    r->inputs = inputs;
    r->outs = (jn_tensor_list *)(block + at_outs);
    r->missing = (int *)(block + at_missing);
    r->state = (unsigned char *)(block + at_state);
    r->wanted = (bool *)(block + at_wanted);
    r->after = (bool *)(block + at_after);
    jn_tensor **slot = (jn_tensor **)(block + at_slots);
    for (size_t i = 0; i < n; i++) {
        size_t k = p->steps[i].engine->sig.n_outputs;
        jn_tensor_list_init_on(&r->outs[i], slot, k);
        slot += k;
    }
    memset(r->wanted, 0, n);
    memset(r->after, 0, n);
    return r;
}

static void run_unref(run *r)
{
    if (atomic_fetch_sub(&r->refs, 1) != 1)
        return;
    for (size_t i = 0; i < r->p->n_steps; i++)
        jn_tensor_list_clear(&r->outs[i]);
    if (r->concurrent) {
        pthread_mutex_destroy(&r->mu);
        pthread_cond_destroy(&r->cv);
    }
    free(r);
}

static const jn_tensor *source_tensor(const run *r, const step_input *in)
{
    if (in->src_step < 0)
        return jn_tensor_list_find(r->inputs, in->src_port);
    return jn_tensor_list_find(&r->outs[in->src_step], in->src_port);
}

/* One run of step s, from `started` (exec_step, or the streaming step in pipeline_infer_stream). Returns when it
 * ended, which is also when the next step of an in-order run starts: one clock read per step. */
static int64_t record_step(const pipe *p, int s, int rc, int64_t started)
{
    int64_t ended = jn_now_ns();
    jn_step_stats *stats = atomic_load_explicit(&p->steps[s].stats, memory_order_acquire);
    if (!stats) { /* racing first runs find the same object */
        stats = jn_metrics_step(p->spec.name, p->steps[s].id);
        atomic_store_explicit(&p->steps[s].stats, stats, memory_order_release);
    }
    jn_metrics_step_record(stats, rc == 0, ended - started);
    return ended;
}

/* Step st's inputs, shared from their sources (no copy) under the engine's port names and converted where the
 * compiler inserted a conversion, then checked where their sources do not already guarantee the port's type. */
static int build_step_inputs(const run *r, const pstep *st, jn_tensor_list *ins, jn_err *err)
{
    int rc = 0;
    for (size_t k = 0; k < st->n_ins && !rc; k++) {
        const step_input *in = &st->ins[k];
        const jn_tensor *src = source_tensor(r, in);
        jn_tensor *t = src ? jn_tensor_share(src, in->port->name, err) : NULL;
        if (!src)
            rc = jn_err_set(err, JN_EINTERNAL, "source '%s' missing", in->src_port);
        else if (!t)
            rc = err->code;
        else if (in->n_chain)
            rc = jn_convert_apply(in->chain, in->n_chain, t, &t, err);
        if (!rc && jn_tensor_list_push(ins, t))
            rc = jn_err_set(err, JN_ENOMEM, "out of memory");
    }
    if (!rc && st->check_inputs)
        rc = jn_signature_validate_inputs(&st->engine->sig, st->engine->name, ins, err);
    return rc;
}

static jn_infer_ctx step_ctx(const jn_infer_ctx *call, const pstep *st)
{
    jn_infer_ctx ctx = *call;
    ctx.model = st->engine->name;
    ctx.outputs = NULL;
    ctx.n_outputs = 0;
    return ctx;
}

/* Runs step s into r->outs[s] (empty before). Runs without r->mu. A step refused before it starts (deadline,
 * cancellation) is not a run; anything after that is one, counted with its duration. *clock_ns is when the step
 * starts (0: read the clock) and becomes when it ended. */
static int exec_step(run *r, int s, int64_t *clock_ns, jn_err *err)
{
    const pipe *p = r->p;
    const pstep *st = &p->steps[s];
    jn_infer_ctx ctx = step_ctx(r->ctx, st);
    int rc = jn_infer_ctx_check(&ctx, err);
    if (rc) {
        jn_err_set(err, rc, "pipeline '%s': %s before %s", p->spec.name,
                   rc == JN_EDEADLINE ? "deadline exceeded" : "call cancelled", st->label);
        return rc;
    }
    int64_t started = *clock_ns ? *clock_ns : jn_now_ns();
    jn_tensor *slots[STEP_INPUT_SLOTS];
    jn_tensor_list ins;
    jn_tensor_list_init_on(&ins, slots, STEP_INPUT_SLOTS);
    rc = build_step_inputs(r, st, &ins, err);
    if (!rc)
        rc = jn_exec_engine(st->engine, &ctx, &ins, &r->outs[s], err); /* all or nothing */
    jn_tensor_list_clear(&ins);
    *clock_ns = record_step(p, s, rc, started);
    if (rc)
        jn_err_prefix(err, "pipeline '%s': %s", p->spec.name, st->label);
    return rc;
}

/* Marks the steps needed for the r->wanted producer steps (closing r->wanted over their producers) as waiting or
 * ready, and every other step (and every step in `exclude`) as skipped. */
static void plan_needed(run *r, const bool *exclude)
{
    const pipe *p = r->p;
    for (size_t i = p->n_steps; i-- > 0;) { /* reverse topological: consumers before producers */
        int s = p->order[i];
        if (!r->wanted[s])
            continue;
        for (size_t d = 0; d < p->steps[s].n_deps; d++)
            r->wanted[p->steps[s].deps[d]] = true;
    }
    r->n_todo = 0;
    r->n_done = 0;
    for (size_t s = 0; s < p->n_steps; s++) {
        if (!r->wanted[s] || (exclude && exclude[s])) {
            r->state[s] = S_SKIP;
            continue;
        }
        r->n_todo++;
        r->missing[s] = 0;
        for (size_t d = 0; d < p->steps[s].n_deps; d++)
            r->missing[s] += !(exclude && exclude[p->steps[s].deps[d]]);
        r->state[s] = r->missing[s] ? S_WAIT : S_READY;
    }
}

/* The planned steps one after the other in topological order, on this thread. */
static int run_in_order(run *r, jn_err *err)
{
    int64_t clock_ns = 0;
    for (size_t i = 0; i < r->p->n_steps; i++) {
        int s = r->p->order[i];
        if (r->state[s] == S_SKIP || r->state[s] == S_DONE)
            continue;
        int rc = exec_step(r, s, &clock_ns, err);
        if (rc)
            return rc;
        r->state[s] = S_DONE;
    }
    return 0;
}

/* -- concurrent runs: everything below holds r->mu unless it says otherwise -- */

static int take_ready(run *r)
{
    for (size_t i = 0; i < r->p->n_steps; i++) {
        int s = r->p->order[i];
        if (r->state[s] == S_READY) {
            r->state[s] = S_RUNNING;
            r->running++;
            return s;
        }
    }
    return -1;
}

static int count_ready(const run *r)
{
    int n = 0;
    for (size_t i = 0; i < r->p->n_steps; i++)
        n += r->state[i] == S_READY;
    return n;
}

static void pool_job(void *arg);

/* Offers ready steps nobody has taken to the pool. */
static void offer_ready(run *r)
{
    if (r->rc)
        return;
    int want = count_ready(r) - r->offered;
    for (int i = 0; i < want; i++) {
        atomic_fetch_add(&r->refs, 1);
        if (jn_workpool_submit(r->ctx->pool, pool_job, r) != 0) {
            atomic_fetch_sub(&r->refs, 1);
            break;
        }
        r->offered++;
    }
}

static void finish_step(run *r, int s, int rc, const jn_err *err)
{
    r->running--;
    r->state[s] = S_DONE;
    r->n_done++;
    if (rc) {
        if (!r->rc) {
            r->rc = rc;
            if (r->first_err) /* the caller waits for every running step before it reads this */
                *r->first_err = *err;
        }
    } else {
        const pstep *st = &r->p->steps[s];
        for (size_t u = 0; u < st->n_users; u++) {
            int c = st->users[u];
            if (r->state[c] == S_WAIT && --r->missing[c] == 0)
                r->state[c] = S_READY;
        }
    }
    pthread_cond_broadcast(&r->cv);
}

/* Runs ready steps until none is left; returns holding r->mu. */
static void work(run *r)
{
    for (;;) {
        if (r->rc)
            return;
        int s = take_ready(r);
        if (s < 0)
            return;
        offer_ready(r);
        pthread_mutex_unlock(&r->mu);
        jn_err err;
        jn_err_clear(&err);
        int64_t clock_ns = 0;
        int rc = exec_step(r, s, &clock_ns, &err);
        pthread_mutex_lock(&r->mu);
        finish_step(r, s, rc, &err);
    }
}

static void pool_job(void *arg)
{
    run *r = arg;
    pthread_mutex_lock(&r->mu);
    r->offered--;
    work(r);
    pthread_mutex_unlock(&r->mu);
    run_unref(r);
}

/* The planned steps to completion on this thread plus whatever pool jobs join in. Takes r->mu itself. */
static int run_concurrent(run *r, jn_err *err)
{
    pthread_mutex_lock(&r->mu);
    r->first_err = err;
    for (;;) {
        work(r);
        if (r->rc || r->n_done == r->n_todo)
            break;
        pthread_cond_wait(&r->cv, &r->mu); /* a step another thread runs */
    }
    while (r->running > 0) /* a failure: let the steps already running end */
        pthread_cond_wait(&r->cv, &r->mu);
    r->first_err = NULL;
    int rc = r->rc;
    pthread_mutex_unlock(&r->mu);
    return rc;
}

static int run_planned(run *r, jn_err *err)
{
    if (r->p->all_inline || !r->ctx->pool)
        return run_in_order(r, err);
    if (!r->concurrent) {
        pthread_mutex_init(&r->mu, NULL);
        pthread_cond_init(&r->cv, NULL);
        r->concurrent = true;
    }
    return run_concurrent(r, err);
}

/* Which step produces requested output `name` (a pipeline output or "step.port"); -1 if none. */
static int producer_of(const pipe *p, const char *name, const char **port)
{
    for (size_t i = 0; i < p->n_outs; i++) {
        if (strcmp(p->outs[i].name, name) == 0) {
            *port = p->outs[i].port;
            return p->outs[i].step;
        }
    }
    const char *dot = strrchr(name, '.');
    if (!dot)
        return -1;
    int s = find_step(p, name, (size_t)(dot - name));
    if (s >= 0)
        *port = dot + 1;
    return s;
}

static size_t wanted_count(const jn_engine *self, const jn_infer_ctx *ctx)
{
    return ctx->n_outputs ? ctx->n_outputs : self->sig.n_outputs;
}

static const char *wanted_name(const jn_engine *self, const jn_infer_ctx *ctx, size_t i)
{
    return ctx->n_outputs ? ctx->outputs[i] : self->sig.outputs[i].name;
}

/* Marks the producers of the requested outputs in r->wanted. */
static void want_requested(run *r, const jn_engine *self)
{
    for (size_t i = 0; i < wanted_count(self, r->ctx); i++) {
        const char *port;
        int s = producer_of(r->p, wanted_name(self, r->ctx, i), &port);
        if (s >= 0)
            r->wanted[s] = true;
    }
}

static int collect_outputs(const run *r, const jn_engine *self, jn_tensor_list *outputs, jn_err *err)
{
    for (size_t i = 0; i < wanted_count(self, r->ctx); i++) {
        const char *name = wanted_name(self, r->ctx, i), *port = NULL;
        int s = producer_of(r->p, name, &port);
        const jn_tensor *t = s >= 0 ? jn_tensor_list_find(&r->outs[s], port) : NULL;
        if (!t)
            return jn_err_set(err, JN_EINTERNAL, "pipeline '%s': output '%s' was not produced", r->p->spec.name,
                              name);
        jn_tensor *shared = jn_tensor_share(t, name, err);
        if (!shared || jn_tensor_list_push(outputs, shared))
            return jn_err_set(err, JN_ENOMEM, "out of memory");
    }
    return 0;
}

static int pipeline_infer(jn_engine *self, const jn_infer_ctx *ctx, const jn_tensor_list *inputs,
                          jn_tensor_list *outputs, jn_err *err)
{
    run *r = run_create(self->ctx, ctx, inputs);
    if (!r)
        return jn_err_set(err, JN_ENOMEM, "out of memory");
    want_requested(r, self);
    plan_needed(r, NULL);
    int rc = run_planned(r, err);
    if (!rc)
        rc = collect_outputs(r, self, outputs, err);
    run_unref(r);
    return rc;
}

/* ---- streaming: steps before the streaming step run once; it and the steps after it run per partial ---- */

typedef struct stream_run {
    run *r;
    const jn_engine *self;
    jn_emit_fn emit;
    void *emit_arg;
} stream_run;

static int on_partial(void *arg, jn_tensor_list *partial, jn_err *err)
{
    stream_run *sr = arg;
    run *r = sr->r;
    const pipe *p = r->p;
    int s = p->stream_step;
    jn_tensor_list_clear(&r->outs[s]);
    r->outs[s] = *partial;
    jn_tensor_list_init(partial);
    int rc = 0;
    int64_t clock_ns = 0;
    for (size_t i = 0; i < p->n_steps && !rc; i++) { /* downstream steps, in order, on this thread */
        int d = p->order[i];
        if (!r->after[d] || !r->wanted[d] || d == s)
            continue;
        jn_tensor_list_clear(&r->outs[d]);
        rc = exec_step(r, d, &clock_ns, err);
    }
    jn_tensor_list out;
    jn_tensor_list_init(&out);
    if (!rc)
        rc = collect_outputs(r, sr->self, &out, err);
    if (!rc)
        rc = sr->emit(sr->emit_arg, &out, err);
    jn_tensor_list_clear(&out);
    return rc;
}

/* Runs the streaming step s: its inputs are ready; every partial it emits goes through on_partial. */
static int stream_step(run *r, const jn_engine *self, jn_emit_fn emit, void *emit_arg, jn_err *err)
{
    const pipe *p = r->p;
    int s = p->stream_step;
    const pstep *st = &p->steps[s];
    jn_infer_ctx sctx = step_ctx(r->ctx, st);
    int64_t started = jn_now_ns(); /* the streaming step's run: it lasts until its last partial is handed on */
    jn_tensor *slots[STEP_INPUT_SLOTS];
    jn_tensor_list ins;
    jn_tensor_list_init_on(&ins, slots, STEP_INPUT_SLOTS);
    int rc = build_step_inputs(r, st, &ins, err);
    stream_run sr = {r, self, emit, emit_arg};
    if (!rc)
        rc = jn_exec_engine_stream(st->engine, &sctx, &ins, on_partial, &sr, err);
    jn_tensor_list_clear(&ins);
    record_step(p, s, rc, started);
    if (rc && err && !strstr(err->msg, "pipeline '"))
        jn_err_prefix(err, "pipeline '%s': %s", p->spec.name, st->label);
    return rc;
}

static int pipeline_infer_stream(jn_engine *self, const jn_infer_ctx *ctx, const jn_tensor_list *inputs,
                                 jn_emit_fn emit, void *emit_arg, jn_err *err)
{
    const pipe *p = self->ctx;
    int s = p->stream_step;
    run *r = run_create(p, ctx, inputs);
    if (!r)
        return jn_err_set(err, JN_ENOMEM, "out of memory");
    r->after[s] = true;
    for (size_t i = 0; i < p->n_steps; i++) { /* topological order: producers first */
        int c = p->order[i];
        for (size_t d = 0; d < p->steps[c].n_deps; d++)
            if (r->after[p->steps[c].deps[d]])
                r->after[c] = true;
    }
    want_requested(r, self);
    plan_needed(r, NULL); /* closes `wanted` over producers */
    int rc;
    if (!r->wanted[s]) { /* the streaming step is not needed: one whole answer */
        jn_tensor_list out;
        jn_tensor_list_init(&out);
        rc = run_planned(r, err);
        if (!rc)
            rc = collect_outputs(r, self, &out, err);
        if (!rc)
            rc = emit(emit_arg, &out, err);
        jn_tensor_list_clear(&out);
    } else {
        plan_needed(r, r->after); /* the steps before the streaming one, once */
        rc = run_planned(r, err);
        if (!rc)
            rc = stream_step(r, self, emit, emit_arg, err);
    }
    run_unref(r);
    return rc;
}

static const jn_port *pipeline_find_output(const jn_engine *self, const char *name)
{
    const pipe *p = self->ctx;
    const char *dot = strrchr(name, '.');
    if (!dot)
        return NULL;
    int s = find_step(p, name, (size_t)(dot - name));
    return s >= 0 ? jn_engine_find_output(p->steps[s].engine, dot + 1) : NULL;
}

static void pipeline_destroy(jn_engine *self)
{
    pipe_free(self->ctx);
}

static const jn_engine_vtable pipeline_vtable = {
    .abi_version = JN_ENGINE_ABI_VERSION,
    .platform = "junction_pipeline",
    .model_type = "pipeline",
    .infer = pipeline_infer,
    .infer_stream = pipeline_infer_stream,
    .find_output = pipeline_find_output,
    .destroy = pipeline_destroy,
};

bool jn_engine_is_pipeline(const jn_engine *e)
{
    return e && e->vt == &pipeline_vtable;
}

const jn_pipeline_spec *jn_pipeline_spec_of(const jn_engine *e)
{
    return jn_engine_is_pipeline(e) ? &((const pipe *)e->ctx)->spec : NULL;
}

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
        append(&t, "  input  %s: %s\n", e->sig.inputs[i].name, port_type(a, sizeof a, &e->sig.inputs[i]));
    for (size_t i = 0; i < p->n_steps; i++) {
        const pstep *st = &p->steps[p->order[i]];
        append(&t, "  %zu. %s%s%s\n", i + 1, st->label, jn_engine_is_inline(st->engine) ? " inline" : " pooled",
               st->engine->flags & JN_ENGINE_STREAMS ? " streams" : "");
        for (size_t k = 0; k < st->n_ins; k++) {
            const step_input *in = &st->ins[k];
            append(&t, "       %s <- %s%s%s", in->port->name, in->src_step >= 0 ? p->steps[in->src_step].id : "",
                   in->src_step >= 0 ? "." : "", in->src_port);
            for (int c = 0; c < in->n_chain; c++) {
                const jn_convert_step *cs = &in->chain[c];
                append(&t, " | %s to %s", cs->conv->name, port_type(b, sizeof b, &cs->result));
                if (cs->scale != 1.0 || cs->offset != 0.0)
                    append(&t, " (x * %.9g + %.9g)", cs->scale, cs->offset);
            }
            append(&t, "\n");
        }
    }
    for (size_t i = 0; i < p->n_outs; i++)
        append(&t, "  output %s <- %s.%s: %s\n", p->outs[i].name, p->steps[p->outs[i].step].id, p->outs[i].port,
               port_type(a, sizeof a, &e->sig.outputs[i]));
    if (t.oom) {
        free(t.buf);
        return NULL;
    }
    return t.buf;
}

/* ---- registration ---- */

static int replace_only_pipelines(const jn_engine *existing, void *arg, jn_err *err)
{
    if (jn_engine_is_pipeline(existing))
        return 0;
    return jn_err_set(err, JN_EEXIST, "model '%s' is an engine, not a pipeline; choose another name",
                      existing->name);
}

int jn_pipeline_register(jn_registry *reg, jn_engine *pipeline, bool *replaced, jn_err *err)
{
    return jn_registry_put(reg, pipeline, NULL, replace_only_pipelines, NULL, replaced, err);
}

static int remove_only_pipelines(const jn_engine *existing, void *arg, jn_err *err)
{
    if (jn_engine_is_pipeline(existing))
        return 0;
    return jn_err_set(err, JN_EINVAL, "model '%s' is an engine, not a pipeline", existing->name);
}

int jn_pipeline_unregister(jn_registry *reg, const char *name, jn_err *err)
{
    return jn_registry_remove_if(reg, name, remove_only_pipelines, NULL, err);
}
