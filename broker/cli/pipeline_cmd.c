/* pipeline_cmd.c — `junction pipeline check FILE [--pipelines DIR]`: compiles a pipeline the way `serve` would
 * (against the built-in engines, the demo pipelines and DIR's pipelines) and prints its plan. No server, no gRPC. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../engines/builtin.h"
#include "cli.h"
#include "pipeline.h"
#include "registry.h"


static void pipeline_usage(FILE *to)
{
    fprintf(to,
            "usage: junction pipeline check FILE [--pipelines DIR]\n"
            "\n"
            "Checks a pipeline written in JSON (the form `junction serve --pipelines DIR` loads) without serving it:\n"
            "parses it, compiles it against the built-in engines and demo pipelines (and the pipelines of DIR), and\n"
            "prints the plan: the order of the steps, their bindings and the conversions inserted. FILE '-' reads\n"
            "standard input.\n"
            "\n"
            "options:\n"
            "  --pipelines DIR  load DIR/*.json first, as `serve --pipelines DIR` does, so FILE may use them\n"
            "  -h, --help       this text\n"
            "\n"
            "Exit status: 0 the pipeline checks, 1 it does not (the reason on stderr), 2 bad usage.\n");
}

#define usage_error(...) jn_cli_usage_error("junction pipeline", pipeline_usage, __VA_ARGS__)

/* Parses, compiles and (in the throw-away registry, as serve would) registers FILE; prints its plan. */
static int check_file(const char *file, const char *dir)
{
    int status = JN_CLI_EXIT_FAIL;
    jn_err err;
    jn_err_clear(&err);
    jn_builtin_options engines = {.burn_default_ms = 10.0};
    jn_registry *reg = jn_registry_create();
    jn_engine *p = NULL;
    char *text = NULL, *plan = NULL;
    size_t len;
    jn_pipeline_spec spec;
    jn_pipeline_spec_init(&spec);
    if (!reg) {
        fprintf(stderr, "junction pipeline check: out of memory\n");
        goto out;
    }
    if (jn_builtin_register_all(reg, &engines, &err) || jn_builtin_register_pipelines(reg, &err)) {
        fprintf(stderr, "junction pipeline check: cannot register the built-in engines and pipelines: %s\n",
                err.msg);
        goto out;
    }
    if (dir && jn_pipelines_load_dir(dir, reg, &err)) {
        fprintf(stderr, "junction pipeline check: %s\n", err.msg);
        goto out;
    }
    if (jn_pipeline_read_file(file, &text, &len, &err) || jn_pipeline_spec_from_json(text, len, &spec, &err) ||
        !(p = jn_pipeline_compile(&spec, reg, &err)) ||
        jn_pipeline_register(reg, jn_engine_ref(p), NULL, &err)) {
        fprintf(stderr, "junction pipeline check: %s: %s\n", file, err.msg[0] ? err.msg : "does not compile");
        goto out;
    }
    if (!(plan = jn_pipeline_plan_text(p))) {
        fprintf(stderr, "junction pipeline check: out of memory\n");
        goto out;
    }
    size_t plen = strlen(plan);
    fputs(plan, stdout);
    if (plen == 0 || plan[plen - 1] != '\n')
        fputc('\n', stdout);
    if (fflush(stdout) != 0 || ferror(stdout)) {
        fprintf(stderr, "junction pipeline check: cannot write the plan: %s\n", strerror(errno));
        goto out;
    }
    status = JN_CLI_EXIT_OK;
out:
    free(plan);
    free(text);
    jn_pipeline_spec_free(&spec);
    jn_engine_unref(p);
    if (reg)
        jn_registry_destroy(reg);
    return status;
}

static int cmd_check(int argc, char **argv)
{
    enum { O_PIPELINES = 1000 };
    static const struct option options[] = {
        {"pipelines", required_argument, NULL, O_PIPELINES},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *dir = NULL;
    optind = 1;
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, ":h", options, NULL)) != -1) {
        switch (c) {
        case 'h':
            pipeline_usage(stdout);
            return JN_CLI_EXIT_OK;
        case O_PIPELINES:
            dir = optarg;
            break;
        case ':':
            return usage_error("%s needs a value", argv[optind - 1]);
        default:
            return usage_error("unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind == argc)
        return usage_error("check needs a FILE");
    if (argc - optind > 1)
        return usage_error("unexpected argument '%s'", argv[optind + 1]);
    return check_file(argv[optind], dir);
}

int jn_cmd_pipeline(int argc, char **argv)
{
    if (argc < 2)
        return usage_error("missing sub-command (check)");
    const char *sub = argv[1];
    if (strcmp(sub, "--help") == 0 || strcmp(sub, "-h") == 0 || strcmp(sub, "help") == 0) {
        pipeline_usage(stdout);
        return JN_CLI_EXIT_OK;
    }
    if (strcmp(sub, "check") == 0)
        return cmd_check(argc - 1, argv + 1);
    return usage_error("unknown sub-command '%s'", sub);
}
