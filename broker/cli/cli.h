/* cli.h — the junction command line: one function per sub-command, dispatched from a table in main.c.
 *
 * Each command gets argv starting at its own name (argv[0] = "serve"), returns the process exit status:
 * 0 success, 1 failure at run time, 2 bad usage (after printing usage to stderr).
 */
#ifndef JN_CLI_H
#define JN_CLI_H

#include <stdbool.h>
#include <stdio.h>

#include "err.h"

#define JN_CLI_EXIT_OK 0
#define JN_CLI_EXIT_FAIL 1
#define JN_CLI_EXIT_USAGE 2

#define JN_DEFAULT_HOST "127.0.0.1"
#define JN_DEFAULT_GRPC_PORT 8001

int jn_cmd_serve(int argc, char **argv);    /* serve.c */
int jn_cmd_models(int argc, char **argv);   /* models_cmd.c */
int jn_cmd_infer(int argc, char **argv);    /* infer_cmd.c */
int jn_cmd_pipeline(int argc, char **argv); /* pipeline_cmd.c */
int jn_cmd_eval(int argc, char **argv);     /* eval_cmd.c */
int jn_cmd_train(int argc, char **argv);    /* train_cmd.c */
int jn_cmd_prune(int argc, char **argv);    /* train_cmd.c */
int jn_cmd_export(int argc, char **argv);   /* export_cmd.c */
int jn_cmd_quantize(int argc, char **argv); /* quantize_cmd.c */
int jn_cmd_model(int argc, char **argv);    /* model_cmd.c */
int jn_cmd_perf(int argc, char **argv);     /* perf.c */

/* Bad usage: "COMMAND: <message>", a blank line and the command's usage on stderr; returns JN_CLI_EXIT_USAGE
 * (cli.c). */
int jn_cli_usage_error(const char *command, void (*usage)(FILE *to), const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Whether a file can be created at path: its directory exists and is writable (cli.c). Checked before long work
 * (training, calibration) so that a typo in an output path does not cost the run. */
bool jn_cli_dir_writable(const char *path);

/* ONNX export of a checkpoint of a built-in model (export_cmd.c; `junction train --onnx` uses it too). */
bool jn_cli_can_export_onnx(const char *model);
int jn_cli_export_onnx(const char *model, const char *checkpoint, const char *out, jn_err *err);

#endif
