/* pipeline/compile.c — compiling a pipeline spec into an engine, and registering it.
 *
 * Compile: resolve each step's engine, bind each engine input to its source (pipeline input or step output),
 * type-check every binding (inserting conversions from convert.c), order the steps topologically (a cycle is an
 * error naming its steps), type the pipeline's outputs from their producers. Running is run.c's, the plan text
 * plan.c's. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "batcher.h"
#include "executor.h"
#include "internal.h"
#include "model_config.h"
#include "sequence.h"

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
        if (!d || jn_step_spec_set_when(d, s->when) || jn_step_spec_set_route(d, s->route) ||
            jn_step_spec_set_params(d, s->params))
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
    for (size_t i = 0; i < src->n_outputs; i++) {
        if (jn_pipeline_spec_add_output(dst, src->outputs[i].name, src->outputs[i].from))
            return JN_ENOMEM;
        for (size_t k = 0; k < src->outputs[i].n_more_from; k++)
            if (jn_pipeline_spec_add_output_source(dst, src->outputs[i].more_from[k]))
                return JN_ENOMEM;
        dst->outputs[i].optional = src->outputs[i].optional;
    }
    for (size_t i = 0; i < src->n_models; i++)
        if (jn_pipeline_spec_add_serving(dst, src->models[i].key, src->models[i].json))
            return JN_ENOMEM;
    return 0;
}

/* The engine queue b runs. */
static const jn_engine *b_engine(const pipe *p, const jn_batcher *b)
{
    for (size_t i = 0; i < p->n_queues; i++)
        if (p->queues[i] == b)
            return p->queue_engines[i];
    return NULL;
}

/* The "models" section: each entry a queue of the pipeline's own over the steps it names (one step by id, or every
 * step calling a model by name). */
static int make_step_queues(pipe *p, jn_err *err)
{
    const char *name = p->spec.name;
    if (!p->spec.n_models)
        return 0;
    p->queues = calloc(p->spec.n_models, sizeof *p->queues);
    p->queue_engines = calloc(p->spec.n_models, sizeof *p->queue_engines);
    if (!p->queues || !p->queue_engines)
        return jn_err_set(err, JN_ENOMEM, "out of memory");
    for (size_t i = 0; i < p->spec.n_models; i++) {
        const jn_step_serving *m = &p->spec.models[i];
        char where[300];
        snprintf(where, sizeof where, "pipeline '%s': models.%s", name, m->key);
        jn_model_config cfg;
        int rc = jn_model_config_parse_text(m->json, strlen(m->json), where, &cfg, err);
        if (rc)
            return rc;
        jn_batcher *b = NULL;
        for (size_t s = 0; s < p->n_steps; s++) {
            pstep *st = &p->steps[s];
            if (strcmp(p->spec.steps[s].id, m->key) != 0 && strcmp(p->spec.steps[s].model, m->key) != 0)
                continue;
            if (st->queue)
                return jn_err_set(err, JN_EINVAL, "%s: step '%s' is already named by another entry of models", where,
                                  st->id);
            if (st->route)
                return jn_err_set(err, JN_EINVAL, "%s: step '%s' is routed: its candidates are served by their own "
                                  "queues", where, st->id);
            if (!b) {
                if ((rc = jn_model_config_check(&cfg, st->engine, err))) {
                    jn_err_prefix(err, "%s", where);
                    return rc;
                }
                if (!(b = jn_batcher_create(st->engine, &cfg, NULL, err)))
                    return err->code;
                p->queues[p->n_queues] = b;
                p->queue_engines[p->n_queues++] = st->engine;
            }
            if (st->engine != b_engine(p, b) || (st->engine->flags & JN_ENGINE_STREAMS))
                return jn_err_set(err, JN_EINVAL, "%s: step '%s' %s", where, st->id,
                                  st->engine->flags & JN_ENGINE_STREAMS ? "streams: its calls cannot wait in a queue"
                                                                        : "calls another version of the model");
            st->queue = b;
        }
        if (!b)
            return jn_err_set(err, JN_EINVAL, "%s: names no step id and no model of a step", where);
    }
    return 0;
}

/* ---- compile ---- */

void jn__pipe_free(pipe *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < p->n_queues; i++) /* before the steps' engines they run */
        jn_batcher_destroy(p->queues[i]);
    free(p->queues);
    free(p->queue_engines);
    for (size_t i = 0; i < p->n_steps; i++) {
        free(p->steps[i].id);
        free(p->steps[i].label);
        jn_engine_unref(p->steps[i].engine);
        jn_model_unref(p->steps[i].model);
        free(p->steps[i].ins);
        free(p->steps[i].deps);
        free(p->steps[i].users);
        jn__cond_free(p->steps[i].when);
        free(p->steps[i].when);
        jn__route_free(p->steps[i].route);
        jn_params_clear(&p->steps[i].params);
    }
    free(p->steps);
    free(p->order);
    for (size_t i = 0; i < p->n_outs; i++) {
        free(p->outs[i].name);
        free(p->outs[i].src_steps);
        free(p->outs[i].src_ports);
    }
    free(p->outs);
    jn_pipeline_spec_free(&p->spec);
    free(p);
}

int jn__pipe_find_step(const pipe *p, const char *id, size_t id_len)
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

char *jn__port_type(char *buf, size_t n, const jn_port *p)
{
    char t[160];
    snprintf(buf, n, "%s %s", jn_kind_name(p->kind), jn_format_type(t, sizeof t, p->dtype, p->ndim, p->shape));
    return buf;
}

bool jn__add_unique(int **list, size_t *n, int v)
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
int jn__resolve_source(const pipe *p, const char *name, const char *from, const char *what, int *step,
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
    int s = jn__pipe_find_step(p, from, (size_t)(dot - from));
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

/* The step's parameters, and the step's own engine when its model makes one per step (for_step: the sources bound
 * to the step's inputs decide its ports). Before the step is bound. */
static int step_engine(pipe *p, size_t si, const jn_step_spec *ss, jn_err *err)
{
    const char *name = p->spec.name;
    pstep *st = &p->steps[si];
    char what[300];
    snprintf(what, sizeof what, "pipeline '%s': step '%s'", name, st->id);
    jn_params_init(&st->params);
    int rc = ss->params ? jn_step_params_parse(ss->params, what, &st->params, err) : 0;
    jn_engine *(*for_step)(jn_engine *, const jn_params *, const jn_step_source *, size_t, jn_err *) =
        jn_engine_for_step_slot(st->engine);
    if (rc || !for_step)
        return rc;
    if (st->route)
        return jn_err_set(err, JN_EINVAL, "%s: model '%s' makes an engine per step and cannot be routed", what,
                          st->engine->name);
    jn_step_source *sources = calloc(ss->n_inputs ? ss->n_inputs : 1, sizeof *sources);
    if (!sources)
        return jn_err_set(err, JN_ENOMEM, "out of memory");
    for (size_t k = 0; k < ss->n_inputs && !rc; k++) {
        char in[300];
        snprintf(in, sizeof in, "step '%s': input '%s'", st->id, ss->inputs[k].port);
        int src_step;
        const char *src_port;
        sources[k].name = ss->inputs[k].port;
        rc = jn__resolve_source(p, name, ss->inputs[k].from, in, &src_step, &src_port, &sources[k].src, err);
    }
    jn_engine *own = rc ? NULL : for_step(st->engine, &st->params, sources, ss->n_inputs, err);
    free(sources);
    if (rc)
        return rc;
    if (!own) {
        jn_err_prefix(err, "%s", what);
        return err->code ? err->code : JN_EINVAL;
    }
    jn_engine_unref(st->engine);
    st->engine = own;
    st->own_engine = true;
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
        int rc = jn__resolve_source(p, name, b->from, what, &in->src_step, &in->src_port, &in->src, err);
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
                              name, st->id, b->port, jn__port_type(want, sizeof want, port),
                              jn__port_type(got, sizeof got, in->src), b->from, why,
                              b->cast != JN_DTYPE_INVALID || b->has_scale || b->offset != 0.0 ? " to the declared cast"
                                                                         : "; declare a cast to accept a lossy one");
        }
        if (in->n_chain > 0 || !source_covers(port, in->src))
            st->check_inputs = true;
        if (in->src_step >= 0 && (!jn__add_unique(&st->deps, &st->n_deps, in->src_step) ||
                                  !jn__add_unique(&p->steps[in->src_step].users, &p->steps[in->src_step].n_users,
                                              (int)si)))
            return jn_err_set(err, JN_ENOMEM, "out of memory");
    }
    for (size_t k = 0; k < sig->n_inputs; k++) {
        if (!st->ins[k].port && !sig->inputs[k].default_value) {
            char want[200];
            return jn_err_set(err, JN_EINVAL, "pipeline '%s': step '%s': input '%s' is not bound (expects %s)",
                              name, st->id, sig->inputs[k].name,
                              jn__port_type(want, sizeof want, &sig->inputs[k]));
        }
    }
    /* An unbound input with a default (config.json "default") is left to the executor, which gives the default:
     * the bound inputs close up so that every entry of st->ins has a source. */
    size_t kept = 0;
    for (size_t k = 0; k < sig->n_inputs; k++) {
        if (!st->ins[k].port)
            continue;
        if (kept != k)
            st->ins[kept] = st->ins[k];
        kept++;
    }
    st->n_ins = kept;
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

static bool same_labels(const jn_port *a, const jn_port *b)
{
    if (a->n_labels != b->n_labels)
        return false;
    for (size_t i = 0; i < a->n_labels; i++)
        if (strcmp(a->labels[i], b->labels[i]) != 0)
            return false;
    return true;
}

/* Output i's sources: all from steps, all of one kind, datatype, rank and labels; its shape keeps the dimensions they
 * agree on (-1 elsewhere). */
static int type_output(pipe *p, size_t i, jn_engine *e, jn_err *err)
{
    const char *name = p->spec.name;
    const jn_output_spec *o = &p->spec.outputs[i];
    pout *po = &p->outs[i];
    size_t n = 1 + o->n_more_from;
    po->src_steps = calloc(n, sizeof *po->src_steps);
    po->src_ports = calloc(n, sizeof *po->src_ports);
    if (!po->src_steps || !po->src_ports)
        return jn_err_set(err, JN_ENOMEM, "out of memory");
    po->optional = o->optional;
    const jn_port *first = NULL;
    int64_t shape[JN_MAX_DIMS];
    for (size_t k = 0; k < n; k++) {
        const char *from = k ? o->more_from[k - 1] : o->from;
        char what[300];
        snprintf(what, sizeof what, "output '%s'", o->name);
        int step;
        const char *port_name;
        const jn_port *port;
        int rc = jn__resolve_source(p, name, from, what, &step, &port_name, &port, err);
        if (rc)
            return rc;
        if (step < 0)
            return jn_err_set(err, JN_EINVAL,
                              "pipeline '%s': output '%s' comes from pipeline input '%s'; outputs come from steps "
                              "('step.port')",
                              name, o->name, from);
        for (size_t j = 0; j < k; j++)
            if (po->src_steps[j] == step && strcmp(po->src_ports[j], port_name) == 0)
                return jn_err_set(err, JN_EINVAL, "pipeline '%s': output '%s' names source '%s' twice", name, o->name,
                                  from);
        if (!first) {
            first = port;
            memcpy(shape, port->shape, sizeof(int64_t) * (size_t)port->ndim);
        } else if (port->kind != first->kind || port->dtype != first->dtype || port->ndim != first->ndim ||
                   !same_labels(port, first)) {
            char a[200], b[200];
            return jn_err_set(err, JN_EINVAL,
                              "pipeline '%s': output '%s': source '%s' is %s%s, but the first source '%s' is %s; "
                              "every source of an output has one type",
                              name, o->name, from, jn__port_type(a, sizeof a, port),
                              same_labels(port, first) ? "" : " (other labels)", o->from,
                              jn__port_type(b, sizeof b, first));
        } else {
            for (int d = 0; d < port->ndim; d++)
                if (shape[d] != port->shape[d])
                    shape[d] = -1;
        }
        po->src_steps[k] = step;
        po->src_ports[k] = port_name;
        po->n_src++;
        if (k == 0) {
            po->step = step;
            po->port = port_name;
        }
    }
    int rc = jn_signature_add_output(&e->sig, o->name, first->kind, first->dtype, first->ndim, shape, err);
    if (!rc)
        e->sig.outputs[e->sig.n_outputs - 1].optional = o->optional;
    if (!rc && first->n_labels)
        rc = jn_port_set_labels(&e->sig.outputs[e->sig.n_outputs - 1], (const char *const *)first->labels,
                                first->n_labels, err);
    return rc;
}

static int type_outputs(pipe *p, jn_engine *e, jn_err *err)
{
    p->outs = calloc(p->spec.n_outputs, sizeof *p->outs);
    if (!p->outs)
        return jn_err_set(err, JN_ENOMEM, "out of memory");
    for (size_t i = 0; i < p->spec.n_outputs; i++) {
        if (!(p->outs[i].name = strdup(p->spec.outputs[i].name)))
            return jn_err_set(err, JN_ENOMEM, "out of memory");
        p->n_outs++;
        int rc = type_output(p, i, e, err);
        if (rc)
            return rc;
    }
    return 0;
}

typedef struct input_use {
    const char *name;
    bool used;
} input_use;

static void leaf_uses(cond *leaf, void *arg)
{
    input_use *u = arg;
    if (leaf->src_step < 0 && strcmp(leaf->src_port, u->name) == 0)
        u->used = true;
}

static int check_inputs_used(const pipe *p, jn_err *err)
{
    for (size_t i = 0; i < p->spec.inputs.n_inputs; i++) {
        const char *in = p->spec.inputs.inputs[i].name;
        bool used = false;
        for (size_t s = 0; s < p->n_steps && !used; s++) {
            for (size_t k = 0; k < p->steps[s].n_ins && !used; k++)
                used = p->steps[s].ins[k].src_step < 0 && strcmp(p->steps[s].ins[k].src_port, in) == 0;
            if (!used && p->steps[s].when) { /* a condition reading the input uses it too */
                input_use u = {in, false};
                jn__cond_leaves(p->steps[s].when, leaf_uses, &u);
                used = u.used;
            }
        }
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
        jn__pipe_free(p);
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
        jn_err_clear(&lookup);
        if (ss->route) { /* typed by its first candidate; the others are checked compatible */
            st->route = jn__route_compile(ss->route, name, ss->id, reg, err);
            if (!st->route) {
                rc = err->code;
                goto fail;
            }
            st->model = jn_model_ref(st->route->cands[0].model);
        } else {
            st->model = jn_registry_resolve(reg, ss->model, ss->version, &lookup);
        }
        st->engine = st->model ? jn_engine_ref(st->model->engine) : NULL;
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
        if (ss->route)
            snprintf(st->label, n, "step '%s' (routed)", ss->id);
        else
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
        if (!jn_engine_is_inline(st->engine) || st->model->batcher) /* a queued step waits for its batch */
            p->all_inline = false;
        for (size_t k = 0; st->route && k < st->route->n; k++)
            if (!jn_engine_is_inline(st->route->cands[k].engine) || st->route->cands[k].model->batcher)
                p->all_inline = false;
    }
    for (size_t i = 0; i < p->n_steps; i++)
        if ((rc = step_engine(p, i, &p->spec.steps[i], err)))
            goto fail;
    if ((rc = make_step_queues(p, err)))
        goto fail;
    if (p->n_queues) /* a queued step waits for its batch: never on a pump thread */
        p->all_inline = false;
    for (size_t i = 0; i < p->n_steps; i++)
        if ((rc = bind_step(p, i, &p->spec.steps[i], err)) || (rc = jn__bind_when(p, i, err)))
            goto fail;
    if ((rc = order_steps(p, err)) || (rc = check_inputs_used(p, err)))
        goto fail;

    jn_engine *e = jn_engine_create(&jn__pipeline_vtable, name, "1", p->spec.description, NULL, err);
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
    if (!rc)
        rc = jn__check_decisions(p, err);
    if (rc) {
        jn_engine_unref(e); /* destroy frees p */
        return NULL;
    }
    if (p->all_inline && p->stream_step < 0)
        e->flags |= JN_ENGINE_INLINE;
    if (p->stream_step >= 0)
        e->flags |= JN_ENGINE_STREAMS;
    for (size_t i = 0; i < p->n_steps; i++) { /* its answer is only as repeatable as its steps' */
        if (p->steps[i].engine->flags & JN_ENGINE_VOLATILE)
            e->flags |= JN_ENGINE_VOLATILE;
        if (jn_sequence_table(p->steps[i].engine) || (p->steps[i].engine->flags & JN_ENGINE_STATEFUL))
            e->flags |= JN_ENGINE_STATEFUL | JN_ENGINE_VOLATILE; /* its steps keep per-stream state */
        for (size_t k = 0; p->steps[i].route && k < p->steps[i].route->n; k++) /* and its split's draws */
            if (p->steps[i].route->n > 1 || (p->steps[i].route->cands[k].engine->flags & JN_ENGINE_VOLATILE))
                e->flags |= JN_ENGINE_VOLATILE;
    }
    return e;
fail:
    (void)rc;
    jn__pipe_free(p);
    return NULL;
}

bool jn_engine_is_pipeline(const jn_engine *e)
{
    return e && e->vt == &jn__pipeline_vtable;
}

const jn_pipeline_spec *jn_pipeline_spec_of(const jn_engine *e)
{
    return jn_engine_is_pipeline(e) ? &((const pipe *)e->ctx)->spec : NULL;
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
