/* trainer.h — `junction train`: one command, one loop shape, a table of trainable built-in models.
 *
 * Every trainer follows the standard loop (load data -> init or load checkpoint -> for each epoch and batch:
 * forward -> cross-entropy loss -> backward -> optimizer step (optim.h) -> report progress -> validate -> save
 * checkpoint as safetensors + model card JSON). The command parses the common options into jn_train_options and
 * calls the trainer named by --model.
 */
#ifndef JN_TRAIN_TRAINER_H
#define JN_TRAIN_TRAINER_H

#include <stdbool.h>
#include <stdint.h>

#include "err.h"
#include "optim.h"

/* `junction prune`: what to prune before fine-tuning with the same loop (jn_train_options.prune). */
typedef struct jn_prune_options {
    double sparsity;      /* --sparsity: fraction of each weight tensor zeroed by magnitude (unstructured), 0 = none */
    double channels;      /* --channels: fraction of each conv's output channels removed (structured), 0 = none */
    int fine_tune_epochs; /* --fine-tune-epochs: epochs of the standard loop after pruning (0 = none) */
} jn_prune_options;

typedef struct jn_train_options {
    const char *data;       /* dataset: a JSONL file, or for Fashion-MNIST the directory with its IDX files */
    const char *test_data;  /* optional held-out set evaluated at the end */
    const char *out;        /* checkpoint path prefix: OUT.safetensors and OUT.json (model card) */
    const char *init;       /* optional checkpoint to start from (OUT.safetensors of an earlier run) */
    jn_optim_config optim;  /* --optimizer sgd|adam, --lr, --momentum, --weight-decay */
    int epochs;             /* --epochs */
    int batch_size;         /* --batch-size */
    uint64_t seed;          /* --seed: shuffling and init are reproducible */
    double validation_split; /* --validation-split: fraction of the training data held out per epoch report */
    long limit;             /* --limit N: use only the first N training examples (CI trains on small subsets) */
    int threads;            /* OpenBLAS threads (--threads), 0 = default */
    bool quiet;             /* no progress bar (tests) */
    const jn_prune_options *prune; /* `junction prune`: prune `init` (required then) and fine-tune; NULL = train */
} jn_train_options;

typedef int (*jn_trainer_fn)(const jn_train_options *opt, jn_err *err);

typedef struct jn_trainer {
    const char *model;   /* the --model name, e.g. "fashion-cnn", "spam-text" */
    jn_trainer_fn train;
    const char *summary; /* one line for --help */
    bool prune_weights;  /* `junction prune --sparsity` applies (the trainer honours jn_train_options.prune) */
    bool prune_channels; /* `junction prune --channels` applies (the model has convolutions) */
} jn_trainer;

/* NULL-terminated table (trainers.c). */
extern const jn_trainer jn_trainers[];

/* Progress bar on stderr: "epoch 2/10 [#####.....] 51% loss 0.4123 acc 0.861 1234 ex/s". */
void jn_train_progress(int epoch, int epochs, long done, long total, double loss, double acc, double ex_per_s,
                       bool quiet);
/* The bar itself, for any long loop (quantize's calibration too): "\r<head> [####......] 51% <tail>" on stderr, a
 * newline once done >= total. */
void jn_progress_bar(const char *head, long done, long total, const char *tail);



/* The trainers (each in its engine's folder). */
int jn_train_fashion_cnn(const jn_train_options *opt, jn_err *err); /* engines/vision/cnn_train.c */
int jn_train_spam_text(const jn_train_options *opt, jn_err *err);   /* engines/text/text_train.c */
#endif
