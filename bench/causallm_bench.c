/* causallm_bench.c — per-token decode time of an ONNX causal LM through the adapter's KV-cached step
 * (adapters/onnx/onnx_causallm.c), in-process, one thread: the Junction side of bench/causallm.sh, which runs the same
 * greedy loop in ONNX Runtime (tests/e2e/ort_causallm.js --time) beside it.
 *
 *   bench_causallm MODEL.onnx PROMPTS.json NEW_TOKENS CONTEXT
 *
 * PROMPTS.json: a JSON list of prompts (lists of token ids). For each: the prompt's step, then NEW_TOKENS - 1
 * one-token steps, argmax each time (no EOS). Prints one JSON line: {"tokens": [[...], ...], "decode_ms_per_token"
 * (the mean of the one-token steps' wall time, the prompt's steps excluded), "decode_ms_median",
 * "decode_cpu_ms_median" (the median wall and thread CPU time of one such step: on a shared machine the median
 * drops the steps that waited for a core), "first_prompt_cpu_ms_median" (the first prompt's alone: each of its
 * steps meets a past length for the first time and plans it, as a server does once per length)}, so the script
 * can check both loops produced the same tokens before it compares their times. One thread (OpenBLAS too). */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "onnx.h"
#include "onnx_causallm.h"

static double now_ms(clockid_t clock)
{
    struct timespec ts;
    clock_gettime(clock, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, size_t n)
{
    if (!n)
        return 0;
    qsort(v, n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
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
    size_t cap = json_array_size(prompts) * (size_t)(new_tokens > 0 ? new_tokens : 0) + 1, first_steps = 0;
    double *wall = malloc(cap * sizeof *wall), *cpu = malloc(cap * sizeof *cpu);
    if (!wall || !cpu)
        return 1;
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
            double t0 = now_ms(CLOCK_MONOTONIC), c0 = now_ms(CLOCK_THREAD_CPUTIME_ID);
            int rc = step == 0 ? jn_onnx_lm_step(lm, &c, ids, n, NULL, &logits, &vocab, &err)
                               : jn_onnx_lm_step(lm, &c, &tok, 1, NULL, &logits, &vocab, &err);
            double t1 = now_ms(CLOCK_MONOTONIC), c1 = now_ms(CLOCK_THREAD_CPUTIME_ID);
            if (rc)
                goto fail;
            if (step > 0) {
                decode_ms += t1 - t0;
                wall[decode_steps] = t1 - t0;
                cpu[decode_steps] = c1 - c0;
                decode_steps++;
                if (pi == 0)
                    first_steps++;
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
    double mean = decode_steps ? decode_ms / (double)decode_steps : 0.0;
    double med_wall = median(wall, (size_t)decode_steps);
    double med_cpu_first = median(memcpy(wall, cpu, first_steps * sizeof *cpu), first_steps); /* wall: spent */
    double med_cpu = median(cpu, (size_t)decode_steps);
    free(wall);
    free(cpu);
    json_t *out = json_pack("{s:o,s:f,s:f,s:f,s:f}", "tokens", all, "decode_ms_per_token", mean, "decode_ms_median",
                            med_wall, "decode_cpu_ms_median", med_cpu, "first_prompt_cpu_ms_median", med_cpu_first);
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
