/* pipeline/internal.h — what the pipeline module's files share: the compiled form of a pipeline (`pipe`, the
 * engine's ctx) and the few helpers more than one file uses. Private to broker/core/pipeline/.
 *
 * Ownership: a pipe is made by jn_pipeline_compile (compile.c) and freed by the engine's destroy (run.c) through
 * jn__pipe_free; everything in it is read-only after compile except pstep.stats (set once, atomically).
 * Thread-safety: a compiled pipe is shared by concurrent calls; run.c keeps per-call state in its own `run`. */
#ifndef JN_PIPELINE_INTERNAL_H
#define JN_PIPELINE_INTERNAL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

#include "condition.h"
#include "convert.h"
#include "metrics.h"
#include "pipeline.h"
#include "route.h"

typedef struct step_input {
    const jn_port *port; /* the engine's input (borrowed from the engine) */
    int src_step;        /* -1: a pipeline input */
    const char *src_port; /* pipeline input name or the producer's output name (borrowed) */
    const jn_port *src;   /* the source's port */
    jn_convert_step chain[JN_CONVERT_MAX_CHAIN];
    int n_chain;
} step_input;

typedef struct pstep {
    char *id;
    char *label; /* "step 'b' (model 'burn')" */
    jn_engine *engine;
    /* The registry entry the step resolved to (held): a model served with its own queue (dynamic batching,
     * instances) runs the step's calls there, batched with the model's other callers. */
    jn_model *model;
    struct jn_batcher *queue; /* the pipeline's own queue for this step ("models" in its JSON), or NULL (borrowed) */
    step_input *ins;
    size_t n_ins;
    int *deps; /* distinct producer steps */
    size_t n_deps;
    int *users; /* distinct consumer steps */
    size_t n_users;
    bool check_inputs; /* some input is not guaranteed to fit by its source's own check (see source_covers) */
    cond *when;        /* bound condition (owned), or NULL: always runs */
    route *route;      /* a split / sticky / mirror (owned), or NULL; engine and model are then its first candidate's */
    bool may_skip;     /* has a condition or needs a step that may be skipped: check before running */
    jn_params params;  /* the step's own parameters ("parameters" in its JSON), laid over the call's */
    /* engine is the step's own, made by the model's for_step slot (engine.h), not the registry's: the model's queue
     * (which runs the registry's engine) is not used for it */
    bool own_engine;
    /* Metrics, looked up by the step's first run (exec_step) rather than at compile time, so pipelines that are
     * only checked (or fuzzed) add nothing to the process-wide registry. The one field written after compile. */
    _Atomic(jn_step_stats *) stats;
} pstep;

typedef struct pout {
    char *name;
    int step;
    const char *port; /* producer output name (borrowed) */
    /* All sources in order (the first is step/port): the answer takes the first produced. */
    int *src_steps;
    const char **src_ports;
    size_t n_src;
    bool optional;
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
    struct jn_batcher **queues; /* the "models" section's queues (owned) */
    const jn_engine **queue_engines; /* the engine each runs */
    size_t n_queues;
    bool has_when; /* some step has a condition */
} pipe;

/* The pipeline engine's vtable (run.c); jn_pipeline_compile creates engines with it. */
extern const jn_engine_vtable jn__pipeline_vtable;

/* Frees a compiled pipe and everything it holds (NULL is fine). */
void jn__pipe_free(pipe *p);
/* The index of the step with id `id` (id_len bytes, not NUL-terminated), or -1. */
int jn__pipe_find_step(const pipe *p, const char *id, size_t id_len);
/* compile.c: resolves "x" or "step.port" into (step, port name, port), or an error naming the pipeline and `what`;
 * adds v to a list of distinct ints (false: out of memory). */
int jn__resolve_source(const pipe *p, const char *name, const char *from, const char *what, int *step,
                       const char **port_name, const jn_port **port, jn_err *err);
bool jn__add_unique(int **list, size_t *n, int v);
/* decide.c: binds step si's condition (its sources become dependencies); then, once the steps are ordered and the
 * outputs typed, sets may_skip and refuses steps that can never run and outputs that may be missing. */
int jn__bind_when(pipe *p, size_t si, jn_err *err);
int jn__check_decisions(pipe *p, jn_err *err);
/* "TENSOR FP32[1,3]" for a port, into buf; returns buf. */
char *jn__port_type(char *buf, size_t n, const jn_port *p);

#endif
