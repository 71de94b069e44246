/* junction — the broker's command line. */
#include <stdio.h>
#include <string.h>

#include "cli.h"

typedef struct command {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
} command;

static const command commands[] = {
    {"serve", jn_cmd_serve, "run the broker (gRPC: junction.v1.Broker, KServe v2, grpc.health.v1)"},
    {"models", jn_cmd_models, "list the models a running broker serves"},
    {"infer", jn_cmd_infer, "call a model on a running broker"},
    {"pipeline", jn_cmd_pipeline, "check a pipeline file and print its plan (pipeline check FILE)"},
    {"eval", jn_cmd_eval, "evaluate a model on a labelled test set (accuracy, P/R/F1, confusion, latency)"},
    {"train", jn_cmd_train, "train a built-in model (fashion-cnn, spam-text) and save a checkpoint"},
    {"prune", jn_cmd_prune, "prune a trained built-in model (channels or weights) and fine-tune it"},
    {"export", jn_cmd_export, "write a trained built-in model's checkpoint as an ONNX model"},
    {"quantize", jn_cmd_quantize, "post-training INT8 quantization of an ONNX model (QDQ or weights only)"},
    {"model", jn_cmd_model, "inspect an ONNX model without serving it; list the ONNX operators implemented"},
    {"perf", jn_cmd_perf, "measure a model on a KServe v2 server under load (like Triton's perf_analyzer)"},
    {NULL, NULL, NULL},
};

static void usage(FILE *to)
{
    fprintf(to, "usage: junction <command> [options]\n\ncommands:\n");
    for (const command *c = commands; c->name; c++)
        fprintf(to, "  %-9s %s\n", c->name, c->summary);
    fprintf(to, "\n'junction <command> --help' describes a command's options.\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return JN_CLI_EXIT_USAGE;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "help") == 0) {
        usage(stdout);
        return JN_CLI_EXIT_OK;
    }
    if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "version") == 0) {
        printf("junction %s\n", JUNCTION_VERSION);
        return JN_CLI_EXIT_OK;
    }
    for (const command *c = commands; c->name; c++)
        if (strcmp(argv[1], c->name) == 0)
            return c->run(argc - 1, argv + 1);
    fprintf(stderr, "junction: unknown command '%s'\n\n", argv[1]);
    usage(stderr);
    return JN_CLI_EXIT_USAGE;
}
