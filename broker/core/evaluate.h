/* evaluate.h — classification metrics from (true label, predicted label, latency) records: accuracy, per-class
 * precision / recall / F1 / support, macro / weighted / micro averages, the confusion matrix, latency percentiles
 * and throughput; rendered as JSON, as a text table, and as heat-map pixels. Pure: no engines, no I/O.
 *
 * Conventions (sklearn's, so the numbers compare with sklearn.metrics on the same predictions):
 * - The classes reported are the labels that occur as a truth or a prediction (sklearn's default `labels`),
 *   ordered by the `declared` list given to jn_eval_init (a CLASSIFICATION port's labels) and then the others in
 *   byte order (sklearn sorts; for ASCII labels without declared order the orders agree).
 * - A ratio whose denominator is 0 is 0 (zero_division=0).
 * - Confusion rows are true labels, columns predicted labels.
 * - Latency percentiles use linear interpolation between closest ranks (numpy.percentile's default "linear").
 *
 * Ownership: jn_eval owns copies of every label and its records; jn_eval_free releases them. A jn_eval_report is
 * owned by its caller (jn_eval_report_free); its label strings are copies. jn_eval_report_json returns a new
 * jansson reference; jn_eval_report_table and jn_eval_heatmap_rgb return malloc'd memory the caller frees.
 * Thread-safety: none inside; one jn_eval per thread (or a caller's lock).
 */
#ifndef JN_EVALUATE_H
#define JN_EVALUATE_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "engine.h"
#include "err.h"
#include "executor.h"

typedef struct jn_eval {
    char **declared; /* label order hint (copies) */
    size_t n_declared;
    char **labels; /* every label seen, in first-seen order (copies) */
    size_t n_labels, cap_labels;
    size_t *truth, *pred; /* indexes into labels */
    double *latency_ms;
    size_t n, cap;
    size_t n_failed;     /* examples whose inference failed (not in the records) */
    double wall_seconds; /* set by the caller: elapsed time of the whole run, for throughput */
} jn_eval;

/* `declared` (may be NULL) orders the classes in reports; copied. 0 or JN_ENOMEM. */
int jn_eval_init(jn_eval *ev, const char *const *declared, size_t n_declared);
void jn_eval_free(jn_eval *ev);
/* Records one example. 0 or JN_ENOMEM. */
int jn_eval_add(jn_eval *ev, const char *truth, const char *pred, double latency_ms);

typedef struct jn_eval_class {
    double precision, recall, f1;
    int64_t support; /* true examples of the class */
    int64_t predicted;
} jn_eval_class;

typedef struct jn_eval_avg {
    double precision, recall, f1;
} jn_eval_avg;

typedef struct jn_eval_report {
    size_t n_labels;
    char **labels;            /* n_labels, report order */
    int64_t *confusion;       /* n_labels x n_labels, row-major, rows = truth */
    jn_eval_class *per_class; /* n_labels */
    int64_t examples;
    int64_t failed;
    double accuracy;
    jn_eval_avg macro, micro, weighted;
    double latency_p50, latency_p99, latency_mean, latency_max; /* ms; 0 without records */
    double throughput; /* examples per second (wall_seconds > 0), else 0 */
} jn_eval_report;

/* Computes every metric. 0 or JN_ENOMEM (err set). */
int jn_eval_compute(const jn_eval *ev, jn_eval_report *r, jn_err *err);
void jn_eval_report_free(jn_eval_report *r);

/* numpy.percentile(values, q) with the default linear interpolation; `values` is sorted in place. 0 for n == 0. */
double jn_eval_percentile(double *values, size_t n, double q);

/* {"examples", "failed", "accuracy", "macro": {"precision","recall","f1"}, "micro": {...}, "weighted": {...},
 *  "labels": [...], "per_class": {label: {"precision","recall","f1","support"}}, "confusion": [[...]...],
 *  "latency_ms": {"p50","p99","mean","max"}, "throughput"}. NULL on out of memory. */
json_t *jn_eval_report_json(const jn_eval_report *r);

/* A fixed-width text report: the summary, the per-class table and the confusion matrix. NULL on OOM. */
char *jn_eval_report_table(const jn_eval_report *r);

/* The confusion matrix as RGB pixels: cell_px x cell_px squares, shaded white (0) to dark blue (1) by the count
 * divided by its row's total (rows without examples stay white). *width = *height = n_labels * cell_px.
 * NULL on OOM or with no labels. */
uint8_t *jn_eval_heatmap_rgb(const jn_eval_report *r, int cell_px, int *width, int *height);

/* Predictions ---------------------------------------------------------------------------------------------------- */

/* The output an evaluation reads: the first CLASSIFICATION output with labels, else the first TEXT output; NULL
 * when the signature has neither. Borrowed from sig. */
const jn_port *jn_eval_target_port(const jn_signature *sig);

/* The prediction in a tensor of `port`: CLASSIFICATION -> the label of the highest score of the first row (the
 * first of equal maxima, like numpy.argmax); TEXT -> its elements joined by single spaces. *out is malloc'd. */
int jn_eval_prediction(const jn_port *port, const jn_tensor *t, char **out, jn_err *err);

/* Runs one example: `req` carries model, version and inputs (the target output is added to it); resolves,
 * validates and runs it (jn_exec_prepare + jn_exec_run) and reads the prediction. *latency_ms is the wall time of
 * prepare + run. *pred is malloc'd. Thread-safe like the executor. */
int jn_eval_run_example(jn_registry *reg, jn_request *req, const atomic_int *cancelled, jn_workpool *pool,
                        char **pred, double *latency_ms, jn_err *err);

#endif
