/* pipeline_overhead: the in-process cost of a pipeline hop, without gRPC. Runs the bare `identity` engine and
 * identity chains of 1, 2, 4 and 8 steps through the executor (jn_exec_run, exactly what the RPC layer calls) on
 * 1..N threads at once, and prints ns per call and per extra step, side by side with the bare engine in the same run.
 * Not a test; see bench/README.md, section "Pipelines".
 *
 * usage: bench_pipeline_overhead [calls-per-thread (200000)] [threads (2)]
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "builtin.h"
#include "executor.h"
#include "pipeline.h"

typedef struct job {
    jn_engine *engine;
    long calls;
    int failed;
} job;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void *caller(void *arg)
{
    job *j = arg;
    jn_request req;
    jn_request_init(&req);
    jn_err err;
    jn_err_clear(&err);
    const int64_t shape[2] = {1, 16};
    jn_tensor *in = jn_tensor_create("input", JN_DTYPE_FP32, 2, shape, &err);
    if (!in || jn_request_set_target(&req, j->engine->name, "", "") || jn_tensor_list_push(&req.inputs, in)) {
        j->failed = 1;
        return NULL;
    }
    memset(in->data, 0, in->byte_size);
    for (long i = 0; i < j->calls; i++) {
        jn_tensor_list out;
        jn_tensor_list_init(&out);
        if (jn_exec_run(j->engine, &req, NULL, NULL, &out, &err)) {
            fprintf(stderr, "%s: %s\n", j->engine->name, err.msg);
            j->failed = 1;
        }
        jn_tensor_list_clear(&out);
    }
    jn_request_clear(&req);
    return NULL;
}

/* ns per call with `threads` callers running `engine` at once (each on its own core when threads <= cores). */
static double measure(jn_engine *engine, long calls, int threads)
{
    pthread_t tid[64];
    job jobs[64];
    double t0 = now_s();
    for (int t = 0; t < threads; t++) {
        jobs[t] = (job){engine, calls, 0};
        pthread_create(&tid[t], NULL, caller, &jobs[t]);
    }
    int failed = 0;
    for (int t = 0; t < threads; t++) {
        pthread_join(tid[t], NULL);
        failed |= jobs[t].failed;
    }
    if (failed)
        exit(1);
    return (now_s() - t0) * 1e9 / (double)calls; /* each caller's wall time per call */
}

static jn_engine *chain(jn_registry *reg, int steps)
{
    char json[4096], name[32];
    snprintf(name, sizeof name, "chain-%d", steps);
    size_t used = (size_t)snprintf(json, sizeof json,
                                   "{\"name\": \"%s\", \"inputs\": [{\"name\": \"input\", \"kind\": \"TENSOR\", "
                                   "\"datatype\": \"FP32\", \"shape\": [-1, -1]}], \"steps\": [",
                                   name);
    for (int i = 0; i < steps; i++) {
        char from[32];
        if (i)
            snprintf(from, sizeof from, "s%d.output", i - 1);
        else
            snprintf(from, sizeof from, "input");
        used += (size_t)snprintf(json + used, sizeof json - used,
                                 "%s{\"id\": \"s%d\", \"model\": \"identity\", \"inputs\": {\"input\": \"%s\"}}",
                                 i ? ", " : "", i, from);
    }
    snprintf(json + used, sizeof json - used, "], \"outputs\": [{\"name\": \"output\", \"from\": \"s%d.output\"}]}",
             steps - 1);
    jn_pipeline_spec spec;
    jn_pipeline_spec_init(&spec);
    jn_err err;
    jn_err_clear(&err);
    jn_engine *e = NULL;
    if (jn_pipeline_spec_from_json(json, strlen(json), &spec, &err) == 0)
        e = jn_pipeline_compile(&spec, reg, &err);
    jn_pipeline_spec_free(&spec);
    if (!e) {
        fprintf(stderr, "%s: %s\n", name, err.msg);
        exit(1);
    }
    return e;
}

int main(int argc, char **argv)
{
    long calls = argc > 1 ? atol(argv[1]) : 200000;
    int threads = argc > 2 ? atoi(argv[2]) : 2;
    if (calls <= 0 || threads <= 0 || threads > 64) {
        fprintf(stderr, "usage: %s [calls-per-thread > 0] [threads 1..64]\n", argv[0]);
        return 2;
    }
    jn_err err;
    jn_err_clear(&err);
    jn_registry *reg = jn_registry_create();
    jn_builtin_options opt = {0};
    jn_engine *identity = jn_identity_create("identity", &opt, &err);
    if (!reg || !identity || jn_registry_add(reg, identity, &err)) {
        fprintf(stderr, "setup: %s\n", err.msg);
        return 1;
    }
    const int lengths[] = {1, 2, 4, 8};
    jn_engine *chains[4];
    for (int i = 0; i < 4; i++)
        chains[i] = chain(reg, lengths[i]);

    measure(identity, calls / 10 + 1, threads); /* warm-up */
    double base = measure(identity, calls, threads);
    printf("%-10s %10s %12s %14s\n", "target", "ns/call", "x identity", "ns/extra step");
    printf("%-10s %10.0f %12.2f %14s\n", "identity", base, 1.0, "-");
    for (int i = 0; i < 4; i++) {
        double ns = measure(chains[i], calls, threads);
        printf("%-10s %10.0f %12.2f %14.0f\n", chains[i]->name, ns, ns / base, (ns - base) / lengths[i]);
    }
    for (int i = 0; i < 4; i++)
        jn_engine_unref(chains[i]);
    jn_registry_destroy(reg);
    return 0;
}
