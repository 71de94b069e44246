/* train_cmd.c — `junction train --model NAME --data PATH --out PREFIX [options]`: parses the common training
 * options into jn_train_options and runs the trainer the jn_trainers table names (engines/train/trainers.c).
 * `junction prune --model NAME --checkpoint CKPT (--channels X | --sparsity X) --data PATH --out PREFIX` takes the
 * same options (--fine-tune-epochs instead of --epochs, --checkpoint instead of --init) and runs the same trainer
 * with jn_train_options.prune set: prune, then fine-tune with the standard loop. */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "trainer.h"

static void train_usage(FILE *to)
{
    fprintf(to,
            "usage: junction train --model NAME --data PATH --out PREFIX [options]\n"
            "\n"
            "Trains a built-in model with the standard loop (forward, cross-entropy, backward, optimizer step,\n"
            "validation each epoch) and writes PREFIX.safetensors (weights) and PREFIX.json (model card);\n"
            "with --onnx also an ONNX model.\n"
            "\n"
            "models:\n");
    for (const jn_trainer *t = jn_trainers; t->model; t++)
        fprintf(to, "  %-12s %s\n", t->model, t->summary);
    fprintf(to,
            "\n"
            "options:\n"
            "  --model NAME             the model to train (above)\n"
            "  --data PATH              training data: a JSONL file, or for fashion-cnn an IDX directory\n"
            "                           (/usr/share/datasets/fashion-mnist from Debian's dataset-fashion-mnist)\n"
            "  --out PREFIX             checkpoint prefix: PREFIX.safetensors and PREFIX.json\n"
            "  --test-data PATH         held-out set evaluated at the end\n"
            "  --init CKPT              start from an earlier checkpoint (.safetensors)\n"
            "  --onnx FILE              also write the trained model as ONNX (as `junction export` does)\n"
            "  --optimizer sgd|adam     default adam\n"
            "  --lr X                   learning rate (default: sgd 0.01, adam 0.001)\n"
            "  --momentum X             SGD momentum (default 0.9)\n"
            "  --weight-decay X         L2 weight decay (default 0)\n"
            "  --epochs N               passes over the training data (default: the model's)\n"
            "  --batch-size N           examples per step (default: the model's)\n"
            "  --seed N                 shuffling and initialisation seed (default 1)\n"
            "  --validation-split X     fraction held out for per-epoch validation (default 0.1)\n"
            "  --limit N                use only the first N training examples\n"
            "  --threads N              BLAS threads (default: OpenBLAS's choice)\n"
            "  --quiet                  no progress output\n"
            "  -h, --help               this text\n"
            "\n"
            "Exit status: 0 trained and saved, 1 training failed (the reason on stderr), 2 bad usage.\n");
}

static void prune_usage(FILE *to)
{
    fprintf(to,
            "usage: junction prune --model NAME --checkpoint CKPT --data PATH --out PREFIX\n"
            "                      (--channels X | --sparsity X) [--fine-tune-epochs N] [train options]\n"
            "\n"
            "Prunes a trained built-in model, then fine-tunes it with the standard training loop (the options and\n"
            "progress bar of `junction train`), and writes PREFIX.safetensors and PREFIX.json (the model card's\n"
            "\"pruning\" object: method, ratios, channel counts before/after, epochs, test accuracy before, right\n"
            "after pruning and after fine-tuning); with --onnx also an ONNX model. The result is served, evaluated\n"
            "and exported like any trained checkpoint.\n"
            "\n"
            "models:\n");
    for (const jn_trainer *t = jn_trainers; t->model; t++)
        if (t->prune_weights || t->prune_channels)
            fprintf(to, "  %-12s %s%s\n", t->model, t->prune_channels ? "--channels or --sparsity" : "--sparsity",
                    t->prune_channels ? "" : " (no convolutions)");
    fprintf(to,
            "\n"
            "options:\n"
            "  --model NAME             the model kind (above)\n"
            "  --checkpoint CKPT        the trained checkpoint to prune (.safetensors)\n"
            "  --channels X             structured: remove the fraction X in (0, 1) of each convolution's output\n"
            "                           channels (smallest L1 norm first) and the next layer's matching inputs:\n"
            "                           a smaller, faster model\n"
            "  --sparsity X             unstructured: zero the fraction X in (0, 1) of each weight tensor (smallest\n"
            "                           magnitude first), kept at zero while fine-tuning\n"
            "  --fine-tune-epochs N     epochs of training after pruning (default 1; 0 = none)\n"
            "  --data, --test-data, --out, --onnx, --optimizer, --lr, --momentum, --weight-decay, --batch-size,\n"
            "  --seed, --validation-split, --limit, --threads, --quiet   as for `junction train`\n"
            "  -h, --help               this text\n"
            "\n"
            "Exit status: 0 pruned and saved, 1 failed (the reason on stderr), 2 bad usage.\n");
}

#define usage_error(...)                                                                                           \
    jn_cli_usage_error(prune ? "junction prune" : "junction train", prune ? prune_usage : train_usage, __VA_ARGS__)

static int parse_double(const char *s, double lo, double hi, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !isfinite(v) || v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

static int parse_long(const char *s, long lo, long hi, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

enum {
    OPT_MODEL = 256,
    OPT_DATA,
    OPT_OUT,
    OPT_TEST,
    OPT_INIT,
    OPT_OPTIMIZER,
    OPT_LR,
    OPT_MOMENTUM,
    OPT_WD,
    OPT_EPOCHS,
    OPT_BATCH,
    OPT_SEED,
    OPT_VSPLIT,
    OPT_LIMIT,
    OPT_THREADS,
    OPT_QUIET,
    OPT_ONNX,
    OPT_CHECKPOINT,
    OPT_CHANNELS,
    OPT_SPARSITY,
    OPT_FT_EPOCHS,
};

/* `junction train` (prune false) or `junction prune` (true). */
static int train_or_prune(int argc, char **argv, bool prune)
{
    static const struct option longopts[] = {
        {"model", required_argument, NULL, OPT_MODEL},
        {"data", required_argument, NULL, OPT_DATA},
        {"out", required_argument, NULL, OPT_OUT},
        {"test-data", required_argument, NULL, OPT_TEST},
        {"init", required_argument, NULL, OPT_INIT},
        {"optimizer", required_argument, NULL, OPT_OPTIMIZER},
        {"lr", required_argument, NULL, OPT_LR},
        {"momentum", required_argument, NULL, OPT_MOMENTUM},
        {"weight-decay", required_argument, NULL, OPT_WD},
        {"epochs", required_argument, NULL, OPT_EPOCHS},
        {"batch-size", required_argument, NULL, OPT_BATCH},
        {"seed", required_argument, NULL, OPT_SEED},
        {"validation-split", required_argument, NULL, OPT_VSPLIT},
        {"limit", required_argument, NULL, OPT_LIMIT},
        {"threads", required_argument, NULL, OPT_THREADS},
        {"quiet", no_argument, NULL, OPT_QUIET},
        {"onnx", required_argument, NULL, OPT_ONNX},
        {"checkpoint", required_argument, NULL, OPT_CHECKPOINT},
        {"channels", required_argument, NULL, OPT_CHANNELS},
        {"sparsity", required_argument, NULL, OPT_SPARSITY},
        {"fine-tune-epochs", required_argument, NULL, OPT_FT_EPOCHS},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *model = NULL, *optimizer = "adam", *onnx = NULL;
    double lr = -1, momentum = -1, wd = 0, vsplit = 0.1;
    long epochs = 0, batch = 0, seed = 1, limit = 0, threads = 0;
    bool quiet = false;
    jn_train_options o = {0};
    jn_prune_options pr = {.fine_tune_epochs = 1};
    const char *prune_only = NULL, *train_only = NULL; /* an option given to the wrong command */

    optind = 1;
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
        switch (c) {
        case OPT_MODEL: model = optarg; break;
        case OPT_DATA: o.data = optarg; break;
        case OPT_OUT: o.out = optarg; break;
        case OPT_TEST: o.test_data = optarg; break;
        case OPT_INIT: o.init = optarg; train_only = "--init (prune takes --checkpoint)"; break;
        case OPT_CHECKPOINT: o.init = optarg; prune_only = "--checkpoint (train takes --init)"; break;
        case OPT_CHANNELS:
            if (parse_double(optarg, -1e300, 1e300, &pr.channels) || !(pr.channels > 0 && pr.channels < 1))
                return usage_error("--channels wants a fraction in (0, 1) of the channels to remove, got '%s'",
                                   optarg);
            prune_only = "--channels";
            break;
        case OPT_SPARSITY:
            if (parse_double(optarg, -1e300, 1e300, &pr.sparsity) || !(pr.sparsity > 0 && pr.sparsity < 1))
                return usage_error("--sparsity wants a fraction in (0, 1) of the weights to zero, got '%s'", optarg);
            prune_only = "--sparsity";
            break;
        case OPT_FT_EPOCHS: {
            long ft;
            if (parse_long(optarg, 0, 100000, &ft))
                return usage_error("--fine-tune-epochs wants an integer >= 0, got '%s'", optarg);
            pr.fine_tune_epochs = (int)ft;
            prune_only = "--fine-tune-epochs";
            break;
        }
        case OPT_OPTIMIZER: optimizer = optarg; break;
        case OPT_LR:
            if (parse_double(optarg, 1e-12, 100, &lr))
                return usage_error("--lr wants a positive number, got '%s'", optarg);
            break;
        case OPT_MOMENTUM:
            if (parse_double(optarg, 0, 0.999999, &momentum))
                return usage_error("--momentum wants a number in [0, 1), got '%s'", optarg);
            break;
        case OPT_WD:
            if (parse_double(optarg, 0, 10, &wd))
                return usage_error("--weight-decay wants a number >= 0, got '%s'", optarg);
            break;
        case OPT_EPOCHS:
            if (parse_long(optarg, 1, 100000, &epochs))
                return usage_error("--epochs wants a positive integer, got '%s'", optarg);
            train_only = "--epochs (prune takes --fine-tune-epochs)";
            break;
        case OPT_BATCH:
            if (parse_long(optarg, 1, 65536, &batch))
                return usage_error("--batch-size wants an integer in 1..65536, got '%s'", optarg);
            break;
        case OPT_SEED:
            if (parse_long(optarg, 0, __LONG_MAX__, &seed))
                return usage_error("--seed wants a non-negative integer, got '%s'", optarg);
            break;
        case OPT_VSPLIT:
            if (parse_double(optarg, 0, 0.9, &vsplit))
                return usage_error("--validation-split wants a number in [0, 0.9], got '%s'", optarg);
            break;
        case OPT_LIMIT:
            if (parse_long(optarg, 1, __LONG_MAX__, &limit))
                return usage_error("--limit wants a positive integer, got '%s'", optarg);
            break;
        case OPT_THREADS:
            if (parse_long(optarg, 1, 1024, &threads))
                return usage_error("--threads wants an integer in 1..1024, got '%s'", optarg);
            break;
        case OPT_QUIET: quiet = true; break;
        case OPT_ONNX: onnx = optarg; break;
        case 'h': (prune ? prune_usage : train_usage)(stdout); return JN_CLI_EXIT_OK;
        case ':': return usage_error("option '%s' needs a value", argv[optind - 1]);
        default: return usage_error("unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind < argc)
        return usage_error("unexpected argument '%s'", argv[optind]);
    if (prune && train_only)
        return usage_error("%s is not an option of junction prune", train_only);
    if (!prune && prune_only)
        return usage_error("%s is an option of junction prune, not of junction train", prune_only);
    if (!model)
        return usage_error("--model is required");
    if (!o.data)
        return usage_error("--data is required");
    if (!o.out)
        return usage_error("--out is required");
    const jn_trainer *t = NULL;
    for (const jn_trainer *k = jn_trainers; k->model; k++)
        if (strcmp(k->model, model) == 0)
            t = k;
    if (!t && prune)
        return usage_error("--model: '%s' cannot be pruned (prunable: fashion-cnn, spam-text, fashion-text)", model);
    if (!t)
        return usage_error("unknown model '%s'", model);
    if (prune) {
        if (!t->prune_weights && !t->prune_channels)
            return usage_error("--model: '%s' cannot be pruned", model);
        if (!o.init)
            return usage_error("--checkpoint is required (the trained model to prune)");
        if (pr.channels == 0 && pr.sparsity == 0)
            return usage_error("give --channels X (structured) or --sparsity X (unstructured): nothing to prune");
        if (pr.channels > 0 && !t->prune_channels)
            return usage_error("--channels: model '%s' has no convolutions to prune channels of (use --sparsity)",
                               model);
        o.prune = &pr;
    }
    if (onnx && !jn_cli_can_export_onnx(model))
        return usage_error("--onnx: model '%s' has no ONNX export", model);
    if (onnx && !jn_cli_dir_writable(onnx)) {
        fprintf(stderr, "%s: --onnx '%s': cannot create a file there: %s\n",
                prune ? "junction prune" : "junction train", onnx, strerror(errno));
        return JN_CLI_EXIT_FAIL;
    }
    int kind = jn_optim_kind_from_name(optimizer);
    if (kind < 0)
        return usage_error("--optimizer wants sgd or adam, got '%s'", optimizer);

    o.optim = jn_optim_defaults((jn_optim_kind)kind);
    if (lr > 0)
        o.optim.lr = (float)lr;
    if (momentum >= 0)
        o.optim.momentum = (float)momentum;
    o.optim.weight_decay = (float)wd;
    o.epochs = (int)epochs;
    o.batch_size = (int)batch;
    o.seed = (uint64_t)seed;
    o.validation_split = vsplit;
    o.limit = limit;
    o.threads = (int)threads;
    o.quiet = quiet;

    jn_err err = {0};
    const char *cmd = prune ? "junction prune" : "junction train";
    int rc = t->train(&o, &err);
    if (rc) {
        fprintf(stderr, "%s: %s\n", cmd, err.msg[0] ? err.msg : jn_strerror(rc));
        return JN_CLI_EXIT_FAIL;
    }
    if (onnx) {
        char ckpt[4096];
        snprintf(ckpt, sizeof ckpt, "%s.safetensors", o.out);
        rc = jn_cli_export_onnx(model, ckpt, onnx, &err);
        if (rc) {
            fprintf(stderr, "%s: %s\n", cmd, err.msg[0] ? err.msg : jn_strerror(rc));
            return JN_CLI_EXIT_FAIL;
        }
        printf("saved %s\n", onnx);
    }
    return JN_CLI_EXIT_OK;
}

int jn_cmd_train(int argc, char **argv)
{
    return train_or_prune(argc, argv, false);
}

int jn_cmd_prune(int argc, char **argv)
{
    return train_or_prune(argc, argv, true);
}
