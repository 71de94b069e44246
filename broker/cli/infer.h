/* infer.h — private to `junction infer` (infer_input.c, infer_cmd.c): the parsed command line and the input specs
 * built into junction.v1 Values.
 *
 * Ownership: everything here lives in the command's arena (values.h), except infer_opts.params (jn_params_clear).
 * Thread-safety: the command runs on one thread.
 */
#ifndef JN_CLI_INFER_H
#define JN_CLI_INFER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "junction/v1/broker.pb-c.h"
#include "params.h"
#include "rpc_client.h"
#include "tensor.h"
#include "values.h"

typedef enum spec_form {
    SPEC_EXPLICIT, /* NAME:DTYPE[dims]=values */
    SPEC_VALUES,   /* NAME=values or NAME=text: typed by the signature */
    SPEC_FILE,     /* NAME=@FILE */
} spec_form;

typedef struct input_spec {
    const char *arg; /* the whole --input argument, for messages */
    char *name;
    spec_form form;
    jn_dtype dtype; /* SPEC_EXPLICIT */
    int64_t *shape; /* SPEC_EXPLICIT; NULL = 1-D of the value count */
    size_t ndim;
    bool has_shape;
    const char *rhs;            /* values, text, or the file path */
    Junction__V1__Value *value; /* SPEC_EXPLICIT: built before connecting */
} input_spec;

typedef struct infer_opts {
    jn_cli_common_opts c;
    const char *model;
    const char *version;
    const char *id;
    input_spec *inputs;
    size_t n_inputs;
    const char **outputs;
    size_t n_outputs;
    jn_params params; /* freed with jn_params_clear */
} infer_opts;

/* A malformed --input / --param value: the message names it; the full usage would bury it. Returns
 * JN_CLI_EXIT_USAGE. */
int jn__infer_value_error(const char *cmd);
/* Checks the syntax of one --input SPEC (no server needed). Returns 0, or -1 after a message. */
int jn__infer_parse_input_spec(const char *cmd, const char *arg, input_spec *s, jn_cli_arena *a);
/* Parses --param KEY=VALUE into params. Returns 0, or -1 after a message (malformed, or KEY given twice). */
int jn__infer_parse_param(const char *cmd, const char *arg, jn_cli_arena *a, jn_params *params);
/* The Value of a SPEC_EXPLICIT input; NULL after a message when its values do not fit its type. */
Junction__V1__Value *jn__infer_build_explicit(const char *cmd, const input_spec *s, jn_cli_arena *a);
/* A NAME=values / NAME=text / NAME=@FILE input, typed by the model's signature. Returns 0 with *out set, or after a
 * message JN_CLI_EXIT_USAGE (the SPEC does not fit the signature) or JN_CLI_EXIT_FAIL (unreadable file). */
int jn__infer_build_from_signature(const char *cmd, const input_spec *s, const Junction__V1__ModelInfo *info,
                                   jn_cli_arena *a, Junction__V1__Value **out);

#endif
