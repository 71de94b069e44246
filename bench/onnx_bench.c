/* onnx_bench — latency of one ONNX model through the adapter in-process, one thread (OpenBLAS too).
 * usage: onnx_bench MODEL.onnx BATCH [ITERATIONS [SEQ]]
 * Every graph input gets random FP32 values (INT64 inputs zeros) with its first symbolic dim set to BATCH and any
 * later symbolic dim to SEQ. SEQ defaults to BATCH (what the vision and MLP models, with one symbolic dim, never
 * notice), and a model with a later symbolic dim and no SEQ is warned about: a BERT export's [batch, sequence]
 * inputs at "BATCH 1" ran at sequence 1 (38-90 ms for BERT-base, the weights read once per token, not the
 * [1, 128] run one meant). Prints
 * "median_us MEDIAN mean_us MEAN cpu_us CPU" per inference after a warm-up (CPU: the median of the calling
 * thread's CPU time per run, which moves less than wall time on a busy machine). */
#include <cblas.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "jn_kernels.h"
#include "onnx.h"

static double clock_us(clockid_t clock)
{
    struct timespec ts;
    clock_gettime(clock, &ts);
    return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: onnx_bench MODEL.onnx BATCH [ITERATIONS [SEQ]]\n");
        return 2;
    }
    long batch = strtol(argv[2], NULL, 10), iters = argc > 3 ? strtol(argv[3], NULL, 10) : 200;
    long seq = argc > 4 ? strtol(argv[4], NULL, 10) : batch;
    if (batch < 1 || iters < 1 || seq < 1) {
        fprintf(stderr, "onnx_bench: BATCH, ITERATIONS and SEQ must be positive integers\n");
        return 2;
    }
    openblas_set_num_threads(1);
    jn_err err;
    jn_err_clear(&err);
    jn_onnx_model *m = jn_onnx_load_file(argv[1], &err);
    if (!m) {
        fprintf(stderr, "onnx_bench: %s\n", err.msg);
        return 1;
    }
    jn_signature sig;
    jn_signature_init(&sig);
    jn_tensor_list in, out;
    jn_tensor_list_init(&in);
    jn_tensor_list_init(&out);
    if (jn_onnx_signature(m, &sig, &err))
        return 1;
    srand(1);
    for (size_t i = 0; i < sig.n_inputs; i++) {
        const jn_port *p = &sig.inputs[i];
        int64_t shape[JN_MAX_DIMS];
        bool first = true;
        for (int d = 0; d < p->ndim; d++) {
            shape[d] = p->shape[d] >= 0 ? p->shape[d] : first ? batch : seq;
            if (p->shape[d] < 0 && !first && argc <= 4)
                fprintf(stderr, "onnx_bench: input '%s' dim %d is symbolic too: set to %ld (pass SEQ to choose)\n",
                        p->name, d, seq);
            first = first && p->shape[d] >= 0;
        }
        jn_tensor *t = jn_tensor_create(p->name, p->dtype, p->ndim, shape, &err);
        if (!t)
            return 1;
        if (p->dtype == JN_DTYPE_FP32)
            for (int64_t k = 0; k < jn_tensor_element_count(t); k++)
                ((float *)t->data)[k] = (float)rand() / (float)RAND_MAX - 0.5f;
        jn_tensor_list_push(&in, t);
    }
    for (int w = 0; w < (iters < 20 ? 2 : 20); w++) { /* big models (vision) run few iterations */
        if (jn_onnx_run(m, &in, &out, &err)) {
            fprintf(stderr, "onnx_bench: %s\n", err.msg);
            return 1;
        }
        jn_tensor_list_clear(&out);
    }
    double *t = malloc((size_t)iters * sizeof *t), *cpu = malloc((size_t)iters * sizeof *cpu), sum = 0;
    for (long k = 0; k < iters; k++) {
        double t0 = clock_us(CLOCK_MONOTONIC), c0 = clock_us(CLOCK_THREAD_CPUTIME_ID);
        jn_onnx_run(m, &in, &out, &err);
        cpu[k] = clock_us(CLOCK_THREAD_CPUTIME_ID) - c0;
        t[k] = clock_us(CLOCK_MONOTONIC) - t0;
        sum += t[k];
        jn_tensor_list_clear(&out);
    }
    qsort(t, (size_t)iters, sizeof *t, cmp_double);
    qsort(cpu, (size_t)iters, sizeof *cpu, cmp_double);
    printf("median_us %.2f mean_us %.2f cpu_us %.2f isa %s\n", t[iters / 2], sum / (double)iters, cpu[iters / 2],
           jn_k_isa_name(jn_k_isa()));
    free(t);
    free(cpu);
    jn_tensor_list_clear(&in);
    jn_signature_free(&sig);
    jn_onnx_free(m);
    return 0;
}
