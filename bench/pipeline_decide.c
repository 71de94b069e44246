/* pipeline_decide: the in-process CPU cost of a pipeline's decisions (issue #20), without gRPC, through the executor
 * (jn_exec_run, what the RPC layer calls), one thread, CPU time of the thread (CLOCK_THREAD_CPUTIME_ID):
 *   - a false `when`: chain-4 plus a fifth identity step behind a condition that is false (when-off), against the
 *     same chain with the same inputs and no such step (when-base); the target: <= 0.2 us per call;
 *   - a split step: one identity step routed 90/10 over two identity engines (split), and the same sticky on a
 *     request parameter (split-sticky), against one plain identity step (plain); target: <= 0.3 us per call.
 * Pairs are measured alternately in rounds (so drifting machine load hits both alike); medians over rounds.
 * Prints a Markdown table. Not a test; bench/pipelines.sh runs it (see bench/README.md, section "Pipelines").
 *
 * usage: bench_pipeline_decide [calls-per-round (100000)] [rounds (15)]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "builtin.h"
#include "executor.h"
#include "pipeline.h"

#define IN_X "{\"name\": \"input\", \"kind\": \"TENSOR\", \"datatype\": \"FP32\", \"shape\": [-1, -1]}"
#define IN_G "{\"name\": \"g\", \"kind\": \"TENSOR\", \"datatype\": \"FP32\", \"shape\": [1, 1]}"
#define CHAIN4                                                                                                         \
    "{\"id\": \"s1\", \"model\": \"identity\", \"inputs\": {\"input\": \"input\"}},"                                  \
    "{\"id\": \"s2\", \"model\": \"identity\", \"inputs\": {\"input\": \"s1.output\"}},"                              \
    "{\"id\": \"s3\", \"model\": \"identity\", \"inputs\": {\"input\": \"s2.output\"}},"                              \
    "{\"id\": \"s4\", \"model\": \"identity\", \"inputs\": {\"input\": \"s3.output\"}},"

static const char *const specs[][2] = {
    {"when-base", "{\"name\": \"when-base\", \"inputs\": [" IN_X ", " IN_G "], \"steps\": [" CHAIN4
                  "{\"id\": \"on\", \"model\": \"identity\", \"inputs\": {\"input\": \"g\"}}],"
                  "\"outputs\": [{\"name\": \"output\", \"from\": \"s4.output\"}]}"},
    {"when-off", "{\"name\": \"when-off\", \"inputs\": [" IN_X ", " IN_G "], \"steps\": [" CHAIN4
                 "{\"id\": \"off\", \"model\": \"identity\", \"inputs\": {\"input\": \"input\"}, \"when\": "
                 "{\"from\": \"g\", \"above\": 0.5}}],"
                 "\"outputs\": [{\"name\": \"output\", \"from\": \"s4.output\"}, {\"name\": \"skipped\", \"from\": "
                 "\"off.output\", \"optional\": true}]}"},
    {"plain", "{\"name\": \"plain\", \"inputs\": [" IN_X ", " IN_G "], \"steps\": ["
              "{\"id\": \"m\", \"model\": \"identity\", \"inputs\": {\"input\": \"input\"}},"
              "{\"id\": \"on\", \"model\": \"identity\", \"inputs\": {\"input\": \"g\"}}],"
              "\"outputs\": [{\"name\": \"output\", \"from\": \"m.output\"}]}"},
    {"split", "{\"name\": \"split\", \"inputs\": [" IN_X ", " IN_G "], \"steps\": ["
              "{\"id\": \"m\", \"route\": {\"split\": [{\"model\": \"identity\", \"weight\": 90}, {\"model\": "
              "\"identity-b\", \"weight\": 10}]}, \"inputs\": {\"input\": \"input\"}},"
              "{\"id\": \"on\", \"model\": \"identity\", \"inputs\": {\"input\": \"g\"}}],"
              "\"outputs\": [{\"name\": \"output\", \"from\": \"m.output\"}]}"},
    {"split-sticky", "{\"name\": \"split-sticky\", \"inputs\": [" IN_X ", " IN_G "], \"steps\": ["
                     "{\"id\": \"m\", \"route\": {\"split\": [{\"model\": \"identity\", \"weight\": 90}, {\"model\": "
                     "\"identity-b\", \"weight\": 10}], \"sticky\": \"user_id\"}, \"inputs\": {\"input\": \"input\"}},"
                     "{\"id\": \"on\", \"model\": \"identity\", \"inputs\": {\"input\": \"g\"}}],"
                     "\"outputs\": [{\"name\": \"output\", \"from\": \"m.output\"}]}"},
};
enum { N_SPECS = sizeof specs / sizeof specs[0] };

static double cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

/* CPU ns per call over `calls` calls of e with the same request (input [1,16], g = 0, user_id = "user-42"). */
static double measure(jn_engine *e, long calls)
{
    jn_request req;
    jn_request_init(&req);
    jn_err err;
    jn_err_clear(&err);
    const int64_t shape[2] = {1, 16}, one[2] = {1, 1};
    jn_tensor *in = jn_tensor_create("input", JN_DTYPE_FP32, 2, shape, &err);
    jn_tensor *g = jn_tensor_create("g", JN_DTYPE_FP32, 2, one, &err);
    if (!in || !g || jn_request_set_target(&req, e->name, "", "") || jn_tensor_list_push(&req.inputs, in) ||
        jn_tensor_list_push(&req.inputs, g) || jn_params_set_string(&req.params, "user_id", "user-42")) {
        fprintf(stderr, "setup failed\n");
        exit(1);
    }
    double t0 = cpu_ns();
    for (long i = 0; i < calls; i++) {
        jn_tensor_list out;
        jn_tensor_list_init(&out);
        if (jn_exec_run(e, &req, NULL, NULL, &out, &err) || out.count != 1) {
            fprintf(stderr, "%s: %s\n", e->name, err.msg);
            exit(1);
        }
        jn_tensor_list_clear(&out);
    }
    double ns = (cpu_ns() - t0) / (double)calls;
    jn_request_clear(&req);
    return ns;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

int main(int argc, char **argv)
{
    long calls = argc > 1 ? atol(argv[1]) : 100000;
    int rounds = argc > 2 ? atoi(argv[2]) : 15;
    if (calls <= 0 || rounds <= 0 || rounds > 1000) {
        fprintf(stderr, "usage: %s [calls-per-round > 0] [rounds 1..1000]\n", argv[0]);
        return 2;
    }
    jn_err err;
    jn_err_clear(&err);
    jn_registry *reg = jn_registry_create();
    jn_builtin_options opt = {0};
    jn_engine *a = jn_identity_create("identity", &opt, &err), *b = jn_identity_create("identity-b", &opt, &err);
    if (!reg || !a || !b || jn_registry_add(reg, a, &err) || jn_registry_add(reg, b, &err)) {
        fprintf(stderr, "setup: %s\n", err.msg);
        return 1;
    }
    jn_engine *e[N_SPECS];
    for (int i = 0; i < N_SPECS; i++) {
        jn_pipeline_spec spec;
        e[i] = NULL;
        if (jn_pipeline_spec_from_json(specs[i][1], strlen(specs[i][1]), &spec, &err) == 0)
            e[i] = jn_pipeline_compile(&spec, reg, &err);
        jn_pipeline_spec_free(&spec);
        if (!e[i]) {
            fprintf(stderr, "%s: %s\n", specs[i][0], err.msg);
            return 1;
        }
    }
    double *ns = calloc((size_t)N_SPECS * (size_t)rounds, sizeof *ns), med[N_SPECS];
    double *diff_when = calloc((size_t)rounds, sizeof *diff_when), *diff_split = calloc((size_t)rounds, sizeof *diff_split),
           *diff_sticky = calloc((size_t)rounds, sizeof *diff_sticky);
    if (!ns || !diff_when || !diff_split || !diff_sticky)
        return 1;
    for (int i = 0; i < N_SPECS; i++) /* warm-up */
        measure(e[i], calls / 10 + 1);
    for (int r = 0; r < rounds; r++) {
        for (int i = 0; i < N_SPECS; i++)
            ns[i * rounds + r] = measure(e[i], calls);
        diff_when[r] = ns[1 * rounds + r] - ns[0 * rounds + r];
        diff_split[r] = ns[3 * rounds + r] - ns[2 * rounds + r];
        diff_sticky[r] = ns[4 * rounds + r] - ns[2 * rounds + r];
    }
    for (int i = 0; i < N_SPECS; i++)
        med[i] = median(ns + i * rounds, rounds);
    printf("In process, one thread, CPU time per call through jn_exec_run; %ld calls x %d rounds, medians:\n\n", calls,
           rounds);
    printf("| pipeline | CPU ns/call |\n|---|---:|\n");
    for (int i = 0; i < N_SPECS; i++)
        printf("| `%s` | %.0f |\n", specs[i][0], med[i]);
    double dw = median(diff_when, rounds), ds = median(diff_split, rounds), dk = median(diff_sticky, rounds);
    printf("\n| decision | added CPU per call (median of per-round differences) | target | met |\n|---|---:|---:|---|\n");
    printf("| a false `when` (`when-off` - `when-base`) | %+.0f ns | <= 200 ns | %s |\n", dw, dw <= 200 ? "yes" : "**NO**");
    printf("| a split step (`split` - `plain`) | %+.0f ns | <= 300 ns | %s |\n", ds, ds <= 300 ? "yes" : "**NO**");
    printf("| a sticky split step (`split-sticky` - `plain`) | %+.0f ns | <= 300 ns | %s |\n", dk,
           dk <= 300 ? "yes" : "**NO**");
    for (int i = 0; i < N_SPECS; i++)
        jn_engine_unref(e[i]);
    free(ns);
    free(diff_when);
    free(diff_split);
    free(diff_sticky);
    jn_registry_destroy(reg);
    return 0;
}
