/* pipeline.h — typed multi-model DAGs. A pipeline spec (from JSON or junction.v1.PipelineSpec) is compiled
 * against the registry into an engine: checked once at registration (unknown engine, unbound input, type
 * mismatch, duplicate step, cycle, dangling output all rejected with a message naming the step and port, expected
 * and got), then run with zero-copy hand-off between steps and independent branches in parallel. Because the result
 * is an engine, a pipeline is listed, described and called like any model, and can be a step of another pipeline.
 *
 * Binding: steps are bound to the engines registered when the pipeline is compiled (each step holds a reference),
 * so a pipeline never changes under a running request; re-put a pipeline to pick up a replaced inner one.
 *
 * Ownership: a jn_pipeline_spec owns every string and array in it; jn_pipeline_spec_free releases them. The
 * builder functions copy their arguments. jn_pipeline_compile does not keep the spec (it copies what it needs) and
 * returns a new engine with one reference.
 * Thread-safety: specs are plain data (one thread at a time); a compiled pipeline runs concurrently.
 */
#ifndef JN_PIPELINE_H
#define JN_PIPELINE_H

#include <stdbool.h>
#include <stddef.h>

#include "engine.h"
#include "registry.h"
#include "signature.h"

/* One engine input bound to its source: a pipeline input ("x") or a step's output ("a.output"). An optional
 * declared conversion turns a lossy cast into an accepted one: out = in * scale + offset, cast to `cast`. */
typedef struct jn_binding {
    char *port; /* the step engine's input */
    char *from;
    jn_dtype cast; /* JN_DTYPE_INVALID = none declared */
    bool has_scale;
    double scale;
    double offset;
} jn_binding;

typedef struct jn_step_spec {
    char *id;
    char *model;
    char *version; /* "" = current */
    jn_binding *inputs;
    size_t n_inputs;
    /* The step's `when` (issue #20) as compact JSON (pipeline/condition.h has the form), or NULL: the step always
     * runs. A step whose condition is false, or that needs a step that was skipped, is skipped: never started. JSON
     * only (PutPipeline's message has no such field). */
    char *when;
    /* The step's route (issue #20: split / sticky / mirror; pipeline/route.h has the form) as compact JSON, or NULL.
     * With a route, `model` is its first candidate. JSON only. */
    char *route;
    /* The step's own request parameters (issue #18: a prompt-template's "template") as a compact JSON object of
     * strings, numbers and booleans, or NULL. At run time they are laid over the call's parameters for this step
     * (a key in both: the step's wins); at compile time an engine with a for_step slot sees them (engine.h).
     * PipelineStep.parameters_json in the protobuf form. */
    char *params;
} jn_step_spec;

typedef struct jn_output_spec {
    char *name;
    char *from; /* "step.port": the first source */
    /* Further sources, in order: the output is the first source that was produced (issue #20). JSON only. */
    char **more_from;
    size_t n_more_from;
    bool optional; /* may be missing from the answer (every source skipped); otherwise registration proves it is not */
} jn_output_spec;

/* The JSON's "models" section: how one step (key = its id) or every step calling one model (key = the model's name)
 * is served inside this pipeline: a queue of the pipeline's own (dynamic_batching, instances; model_config.h) over
 * the step's engine, instead of the model's. The JSON text is kept to write the spec back. */
typedef struct jn_step_serving {
    char *key;
    char *json; /* the object, compact */
} jn_step_serving;

typedef struct jn_pipeline_spec {
    char *name;
    char *description; /* may be NULL */
    jn_signature inputs; /* only its inputs are used: the pipeline's named inputs */
    jn_step_spec *steps;
    size_t n_steps;
    jn_output_spec *outputs;
    size_t n_outputs;
    jn_step_serving *models; /* JSON only (PutPipeline's message has no such field) */
    size_t n_models;
} jn_pipeline_spec;

void jn_pipeline_spec_init(jn_pipeline_spec *spec);
void jn_pipeline_spec_free(jn_pipeline_spec *spec);
/* Builders (copy their arguments). NULL / JN_ENOMEM only on out of memory; structure is checked by the compiler. */
int jn_pipeline_spec_set_name(jn_pipeline_spec *spec, const char *name, const char *description);
jn_step_spec *jn_pipeline_spec_add_step(jn_pipeline_spec *spec, const char *id, const char *model,
                                        const char *version);
jn_binding *jn_step_spec_bind(jn_step_spec *step, const char *port, const char *from);
int jn_pipeline_spec_add_output(jn_pipeline_spec *spec, const char *name, const char *from);
int jn_pipeline_spec_add_serving(jn_pipeline_spec *spec, const char *key, const char *json);
/* A step's condition (JSON text, copied; NULL clears it), and a further source of the last output added. */
int jn_step_spec_set_when(jn_step_spec *step, const char *json);
int jn_step_spec_set_route(jn_step_spec *step, const char *json);
int jn_step_spec_set_params(jn_step_spec *step, const char *json);
/* A step's "parameters" JSON text (an object of strings, numbers, booleans) into params. JN_EINVAL naming `what` and
 * the key otherwise. */
int jn_step_params_parse(const char *json, const char *what, jn_params *params, jn_err *err);
/* The same from text that is checked first as the JSON parser checks "when" / "route" (pipeline/json.c): JN_EINVAL
 * with a message prefixed by `what` on a bad one. A route also sets the step's model to its first candidate. */
int jn_step_spec_when_from_text(jn_step_spec *step, const char *text, const char *what, jn_err *err);
int jn_step_spec_route_from_text(jn_step_spec *step, const char *text, const char *what, jn_err *err);
int jn_step_spec_params_from_text(jn_step_spec *step, const char *text, const char *what, jn_err *err);
int jn_pipeline_spec_add_output_source(jn_pipeline_spec *spec, const char *from);
/* Pipeline inputs are added with jn_signature_add_input(&spec->inputs, ...). */

/* Limits checked at compile time: steps per pipeline, and how deep pipelines may be used as steps of pipelines (a
 * pipeline with no pipeline step has depth 1). */
#define JN_PIPELINE_MAX_STEPS 256
#define JN_PIPELINE_MAX_DEPTH 8

/* Compiles and type-checks. NULL with JN_EINVAL (or JN_ENOTFOUND for an unknown engine) and a message naming the
 * pipeline, step and port otherwise. The engine's model_type is "pipeline". */
jn_engine *jn_pipeline_compile(const jn_pipeline_spec *spec, jn_registry *reg, jn_err *err);

/* True for engines made by jn_pipeline_compile. */
bool jn_engine_is_pipeline(const jn_engine *e);
/* The spec a pipeline was compiled from (borrowed; lives as long as the engine), or NULL. */
const jn_pipeline_spec *jn_pipeline_spec_of(const jn_engine *e);
/* A human-readable plan: order of steps, their bindings and the conversions inserted. malloc'd; NULL if e is not a
 * pipeline or memory runs out. */
char *jn_pipeline_plan_text(const jn_engine *e);

/* Registers a compiled pipeline, replacing a pipeline of the same name atomically (requests already running keep
 * the old one). Refuses (JN_EEXIST) to replace an engine that is not a pipeline. Takes the caller's reference, on
 * failure too (the engine is then released). */
int jn_pipeline_register(jn_registry *reg, jn_engine *pipeline, bool *replaced, jn_err *err);
/* Unregisters a pipeline; JN_ENOTFOUND if absent, JN_EINVAL if the name is an engine that is not a pipeline. */
int jn_pipeline_unregister(jn_registry *reg, const char *name, jn_err *err);

/* JSON form (pipeline/json.c): the shape of issue #3 —
 *   {"name", "description"?, "inputs": [{"name","kind","datatype","shape","labels"?}],
 *    "steps": [{"id","model" | "route","version"?,"inputs": {"port": "source" | {"from","cast"?,"scale"?,"offset"?}},
 *               "when"?: condition, "parameters"?: {"key": string | number | boolean}}],
 *    "outputs": [{"name","from": "step.port" | ["step.port", ...],"optional"?}], "models"?: {...}}
 * (conditions: pipeline/condition.h; several sources: the first produced.)
 * Parse errors name the field ("steps[1].inputs.input: expected a string or an object"). */
int jn_pipeline_spec_from_json(const char *text, size_t len, jn_pipeline_spec *spec, jn_err *err);
/* (It initialises *spec itself and leaves it empty on failure, so jn_pipeline_spec_free is always safe.) */
/* malloc'd JSON text of a spec (pretty when `pretty`); NULL on out of memory. */
char *jn_pipeline_spec_to_json(const jn_pipeline_spec *spec, bool pretty);

/* The whole of a pipeline file ("-" = stdin), NUL-terminated, in *text (malloc'd); at most 16 MiB. Messages do not
 * name the file: the caller prefixes it. */
int jn_pipeline_read_file(const char *path, char **text, size_t *len, jn_err *err);

/* Loads every DIR/\*.json (sorted by file name; a pipeline may use one defined in another file): parses, compiles
 * and registers each. All or nothing: on the first file that cannot be loaded, returns its error (naming the file)
 * and unregisters what this call registered. */
int jn_pipelines_load_dir(const char *dir, jn_registry *reg, jn_err *err);

#endif
