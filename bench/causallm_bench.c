/* causallm_bench.c — per-token decode time of an ONNX causal LM through the adapter's KV-cached step
 * (adapters/onnx/onnx_causallm.c), in-process, one thread: the Junction side of bench/causallm.sh, which runs the same
 * greedy loop in ONNX Runtime (tests/e2e/ort_causallm.js --time) beside it.
 *
 *   bench_causallm MODEL.onnx PROMPTS.json NEW_TOKENS CONTEXT
 *
 * PROMPTS.json: a JSON list of prompts (lists of token ids). For each: the prompt's step, then NEW_TOKENS - 1
 * one-token steps, argmax each time (no EOS). Prints one JSON line: {"tokens": [[...], ...], "decode_ms_per_token"}
 * (the mean of the one-token steps' wall time, the prompt's steps excluded), so the script can check both loops
 * produced the same tokens before it compares their times. One thread (OpenBLAS too). */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "onnx.h"
#include "onnx_causallm.h"

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

int main(int argc, char **argv)
{
    if (argc != 5) {
        fprintf(stderr, "usage: bench_causallm MODEL.onnx PROMPTS.json NEW_TOKENS CONTEXT\n");
        return 2;
    }
    openblas_set_num_threads(1); /* one thread, as ONNX Runtime runs beside it */
    jn_err err;
    jn_err_clear(&err);
    jn_onnx_model *m = jn_onnx_load_file(argv[1], &err);
    jn_onnx_lm *lm = m ? jn_onnx_lm_open(m, atol(argv[4]), &err) : NULL;
    json_error_t jerr;
    json_t *prompts = json_load_file(argv[2], 0, &jerr);
    if (!lm || !json_is_array(prompts)) {
        fprintf(stderr, "bench_causallm: %s\n", lm ? jerr.text : err.msg);
        return 1;
    }
    long new_tokens = atol(argv[3]);
    double decode_ms = 0;
    long decode_steps = 0;
    json_t *all = json_array();
    size_t pi;
    json_t *p;
    json_array_foreach(prompts, pi, p) {
        size_t n = json_array_size(p);
        int64_t *ids = malloc((n + 1) * sizeof *ids);
        for (size_t i = 0; i < n; i++)
            ids[i] = json_integer_value(json_array_get(p, i));
        jn_onnx_lm_cache c;
        if (jn_onnx_lm_cache_init(lm, &c, &err))
            goto fail;
        json_t *gen = json_array();
        const float *logits;
        size_t vocab;
        int64_t tok = 0;
        for (long step = 0; step < new_tokens; step++) {
            double t0 = now_ms();
            int rc = step == 0 ? jn_onnx_lm_step(lm, &c, ids, n, NULL, &logits, &vocab, &err)
                               : jn_onnx_lm_step(lm, &c, &tok, 1, NULL, &logits, &vocab, &err);
            double t1 = now_ms();
            if (rc)
                goto fail;
            if (step > 0) {
                decode_ms += t1 - t0;
                decode_steps++;
            }
            tok = 0;
            for (size_t k = 1; k < vocab; k++)
                if (logits[k] > logits[tok])
                    tok = (int64_t)k;
            json_array_append_new(gen, json_integer(tok));
        }
        json_array_append_new(all, gen);
        jn_onnx_lm_cache_clear(&c);
        free(ids);
    }
    json_t *out = json_pack("{s:o,s:f}", "tokens", all, "decode_ms_per_token",
                            decode_steps ? decode_ms / (double)decode_steps : 0.0);
    char *s = json_dumps(out, JSON_COMPACT);
    printf("%s\n", s);
    free(s);
    json_decref(out);
    json_decref(prompts);
    jn_onnx_lm_free(lm);
    return 0;
fail:
    fprintf(stderr, "bench_causallm: %s\n", err.msg);
    return 1;
}
