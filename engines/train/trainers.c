/* trainers.c — the table of trainable built-in models and the shared progress bar. */
#include <stdio.h>

#include "trainer.h"

const jn_trainer jn_trainers[] = {
    {"fashion-cnn", jn_train_fashion_cnn, "CNN image classifier (Fashion-MNIST IDX directory or JSONL of images)", true,
     true},
    {"spam-text", jn_train_spam_text, "linear text classifier on hashed word and character n-grams (JSONL)", true,
     false},
    {"fashion-text", jn_train_spam_text, "the same text classifier, for product titles (the demo's text half)", true,
     false},
    {NULL, NULL, NULL, false, false},
};

void jn_train_progress(int epoch, int epochs, long done, long total, double loss, double acc, double ex_per_s,
                       bool quiet)
{
    if (quiet)
        return;
    char head[64], tail[96];
    snprintf(head, sizeof head, "epoch %d/%d", epoch, epochs);
    snprintf(tail, sizeof tail, "loss %.4f acc %.3f %.0f ex/s", loss, acc, ex_per_s);
    jn_progress_bar(head, done, total, tail);
}

void jn_progress_bar(const char *head, long done, long total, const char *tail)
{
    int width = 30, filled = total > 0 ? (int)((double)done / (double)total * width) : 0;
    char bar[64];
    for (int i = 0; i < width; i++)
        bar[i] = i < filled ? '#' : '.';
    bar[width] = '\0';
    fprintf(stderr, "\r%s [%s] %3d%% %s", head, bar, total > 0 ? (int)(100.0 * (double)done / (double)total) : 0,
            tail);
    if (done >= total)
        fputc('\n', stderr);
    fflush(stderr);
}
