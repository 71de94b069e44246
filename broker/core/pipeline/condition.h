/* pipeline/condition.h — a step's `when` (issue #20): parsed from JSON, bound to the ports it reads, evaluated per
 * call, and reasoned about at registration (which steps may be skipped, which outputs may be missing).
 * Private to broker/core/pipeline/.
 *
 * JSON form (one object per condition):
 *   CLASSIFICATION  {"from": "c.scores", "label": ["spam"], "score_above": 0.9, "score_below": 1.0}
 *                   the top label (highest score) is one of `label`, and its score is > score_above / < score_below;
 *   TEXT            {"from": "t.text", "equals": ["yes", "y"]}  or  {"from": "t.text", "matches": "^re:"}
 *                   the text equals one of the strings / matches the POSIX extended regex (regcomp REG_EXTENDED);
 *   scalar TENSOR   {"from": "s.y", "above": 0.5, "below": 2, "equals": 1}   (numbers: > above, < below, == equals)
 *   combinations    {"all": [c, ...]}, {"any": [c, ...]}, {"not": c}
 * A leaf reads one item: one row of scores, one string, one number (more at run time is an error naming the
 * condition). "from" is a pipeline input or a step output ("step.port"): that step becomes a dependency.
 *
 * Ownership: jn__cond_parse fills a caller-provided cond and jn__cond_free releases what it holds (not the struct
 * itself); a bound cond borrows its source port from the engines the pipeline holds.
 * Thread-safety: a bound cond is read-only; jn__cond_eval may run on many threads at once (regexec is reentrant). */
#ifndef JN_PIPELINE_CONDITION_H
#define JN_PIPELINE_CONDITION_H

#include <jansson.h>
#include <regex.h>
#include <stdbool.h>
#include <stddef.h>

#include "err.h"
#include "signature.h"
#include "tensor.h"

/* Conditions nest at most this deep and hold at most this many leaves (a step's condition); registration reasons over
 * every true/false assignment of the distinct leaves of a pipeline, so their number is bounded too. */
#define JN_COND_MAX_DEPTH 8
#define JN_COND_MAX_LEAVES 16
#define JN_COND_MAX_PIPELINE_LEAVES 12

typedef enum { COND_CLASS, COND_TEXT, COND_SCALAR, COND_ALL, COND_ANY, COND_NOT } cond_op;

typedef struct cond {
    cond_op op;
    struct cond *subs; /* ALL / ANY: n_subs >= 1; NOT: 1 */
    size_t n_subs;
    /* leaves */
    char *from;
    char *text; /* the leaf as compact JSON, for messages and to tell distinct leaves apart */
    char **strs; /* CLASSIFICATION: labels; TEXT: equals */
    size_t n_strs;
    bool has_above, has_below, has_equals, has_re;
    double above, below, equals; /* CLASSIFICATION: score_above / score_below */
    regex_t re;
    /* bound (jn__cond_bind) */
    int src_step; /* -1: a pipeline input */
    const char *src_port;
    const jn_port *src;
    int *label_idx; /* CLASSIFICATION with labels: their indices in the port's labels */
    int var; /* index of the distinct leaf in the pipeline (registration reasoning) */
} cond;

/* Parses and checks the shape of a condition (fields, types, regex); errors are JN_EINVAL naming the JSON path. */
int jn__cond_parse(const json_t *v, const char *path, int depth, cond *out, jn_err *err);
void jn__cond_free(cond *c);
/* json_dumps with numbers in their shortest form (0.9, not 0.90000000000000002); malloc'd. */
char *jn__cond_dumps(const json_t *v, size_t flags);

/* Resolves a source ("x" or "step.port") to (step, port name, port); 0 or JN_EINVAL naming `what`. */
typedef int (*jn__cond_resolve_fn)(void *arg, const char *from, const char *what, int *step, const char **port_name,
                                   const jn_port **port, jn_err *err);
/* Binds every leaf to its source and checks its kind against the port (`where` prefixes messages). */
int jn__cond_bind(cond *c, jn__cond_resolve_fn resolve, void *arg, const char *where, jn_err *err);
/* Calls fn for every leaf. */
void jn__cond_leaves(cond *c, void (*fn)(cond *leaf, void *arg), void *arg);

/* Per call: the tensor a bound leaf reads (NULL if absent). */
typedef const jn_tensor *(*jn__cond_lookup_fn)(const void *arg, int step, const char *port);
/* 1 true, 0 false, or a negative JN_E* with err naming the condition. */
int jn__cond_eval(const cond *c, jn__cond_lookup_fn lookup, const void *arg, jn_err *err);
/* The value under an assignment of the distinct leaves (bit `var` of `vars`). */
bool jn__cond_eval_vars(const cond *c, unsigned vars);

#endif
