/* builtin.h — the table of engines compiled into the junction binary and how `serve` registers them.
 *
 * Ownership: each factory returns a new engine with one reference (handed to the registry by
 * jn_builtin_register_all).
 */
#ifndef JN_ENGINES_BUILTIN_H
#define JN_ENGINES_BUILTIN_H

#include "../broker/core/engine.h"
#include "../broker/core/registry.h"

/* Settings the built-in engines read at creation. */
typedef struct jn_builtin_options {
    double burn_default_ms; /* burn: how long a request burns when it names no burn_ms */
} jn_builtin_options;

typedef jn_engine *(*jn_engine_factory)(const char *name, const jn_builtin_options *opt, jn_err *err);

typedef struct jn_builtin_engine {
    const char *name;
    jn_engine_factory create;
    const char *summary;
} jn_builtin_engine;

/* NULL-terminated (name == NULL) table. */
extern const jn_builtin_engine jn_builtin_engines[];

/* Creates and registers every built-in engine. 0, or the first error. */
int jn_builtin_register_all(jn_registry *reg, const jn_builtin_options *opt, jn_err *err);

/* Parses, compiles and registers the demo pipelines (demo_pipelines.c: demo-chain, demo-fanout, demo-tokens) over
 * the built-in engines, which must be registered first. All or nothing: 0, or the first error (naming the
 * pipeline) with none of them registered. */
int jn_builtin_register_pipelines(jn_registry *reg, jn_err *err);

/* engines/util */
jn_engine *jn_identity_create(const char *name, const jn_builtin_options *opt, jn_err *err);
jn_engine *jn_burn_create(const char *name, const jn_builtin_options *opt, jn_err *err);

/* engines/text */
jn_engine *jn_tokenize_create(const char *name, const jn_builtin_options *opt, jn_err *err);
jn_engine *jn_spam_text_create(const char *name, const jn_builtin_options *opt, jn_err *err);
jn_engine *jn_fashion_text_create(const char *name, const jn_builtin_options *opt, jn_err *err);
/* prompt-template (text/prompt_template.c): a template over inputs and parameters -> one TEXT */
jn_engine *jn_prompt_template_create(const char *name, const jn_builtin_options *opt, jn_err *err);

/* engines/fusion: late fusion over one label set; the demo's instance covers the Fashion-MNIST categories. */
jn_engine *jn_fusion_create_for(const char *name, const char *const *labels, size_t n_labels, jn_err *err);
jn_engine *jn_fashion_fusion_create(const char *name, const jn_builtin_options *opt, jn_err *err);
jn_engine *jn_embed_create(const char *name, const jn_builtin_options *opt, jn_err *err);
jn_engine *jn_similarity_create(const char *name, const jn_builtin_options *opt, jn_err *err);

/* engines/vision */
jn_engine *jn_preprocess_create(const char *name, const jn_builtin_options *opt, jn_err *err);

/* engines/audio (issue #17) */
jn_engine *jn_audio_decode_create(const char *name, const jn_builtin_options *opt, jn_err *err);
jn_engine *jn_logmel_create(const char *name, const jn_builtin_options *opt, jn_err *err);

/* engines/vision */
jn_engine *jn_fashion_cnn_create(const char *name, const jn_builtin_options *opt, jn_err *err);
/* The shipped fashion-cnn weights' path into buf ($JUNCTION_MODELS_DIR, else <exe dir>/../engines/vision/models,
 * <exe dir>/../../engines/vision/models, the source tree's): 0, or JN_ENOTFOUND saying where it looked
 * (`junction quantize --model fashion-cnn` exports them). */
int jn_fashion_cnn_weights_path(char *buf, size_t n, jn_err *err);
/* The same engine with the weights of the checkpoint at `path` (any conv channel counts: a pruned one too), e.g.
 * for `junction eval --model CKPT.safetensors`; labels from the model card beside it (CKPT.json). */
jn_engine *jn_fashion_cnn_create_from(const char *name, const char *path, jn_err *err);

#endif
