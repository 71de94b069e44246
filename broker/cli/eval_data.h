/* eval_data.h — private to `junction eval` (eval_cmd.c, eval_data.c) and `junction quantize`'s calibration (quantize_cmd.c): a labelled data set read into memory, each
 * example's inputs typed by the model's signature.
 *
 * Ownership: a dataset owns its examples and their payloads (malloc'd); jn__eval_dataset_free releases them.
 * Thread-safety: the command runs on one thread.
 */
#ifndef JN_CLI_EVAL_DATA_H
#define JN_CLI_EVAL_DATA_H

#include <stddef.h>
#include <stdint.h>

#include "signature.h"
#include "tensor.h"

/* One input of one example: TEXT and IMAGE carry bytes, TENSOR FP32 values. */
typedef struct ex_input {
    const char *port; /* borrowed from the signature */
    jn_kind form;     /* JN_KIND_TEXT, JN_KIND_IMAGE or JN_KIND_TENSOR */
    uint8_t *bytes;   /* NUL-terminated for TEXT */
    size_t len;
    float *vals;
    int ndim;
    int64_t shape[JN_MAX_DIMS];
} ex_input;

typedef struct example {
    ex_input in[8];
    size_t n_in;
    char *label;
} example;

typedef struct dataset {
    example *ex;
    size_t n, cap;
} dataset;

/* Reads the data set at path (IDX when it starts with the IDX images magic, else JSONL; labels_path: the IDX labels
 * file, NULL = found by the usual name), at most `limit` examples (0 = all), each input typed by sig and the label
 * checked against the target output. target NULL: unlabelled use (`junction quantize`'s calibration): JSONL lines
 * need no "label", an IDX file no labels file (one given is still checked), and labels are not kept. 0, or JN_CLI_EXIT_FAIL after a message naming the file and line or item. */
int jn__eval_dataset_load(const char *path, const char *labels_path, long limit, const jn_signature *sig,
                          const jn_port *target, dataset *d);
void jn__eval_dataset_free(dataset *d);

/* "junction eval: <message>" on stderr; returns JN_CLI_EXIT_FAIL. */
int jn__eval_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* The command named in jn__eval_fail's messages (default "junction eval"; `junction quantize` sets its own). */
void jn__eval_set_command(const char *name);

#endif
