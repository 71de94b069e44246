/* Fuzz target: `junction perf --input-data FILE.json` (perf_analyzer's data format) against a fixed model of three
 * inputs (FP32 [-1, 4], BYTES [-1], INT64 [2, 2]). Must never crash, leak or hang; every refusal carries a message.
 * The input goes through a file, as perf reads it. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "perf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char path[64];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!path[0]) {
        snprintf(path, sizeof path, "/tmp/jn-fuzz-perf-data-%d.json", (int)getpid());
    }
    FILE *f = fopen(path, "wb");
    if (!f)
        abort();
    if (size && fwrite(data, 1, size, f) != size)
        abort();
    fclose(f);
    perf_model m;
    memset(&m, 0, sizeof m);
    snprintf(m.name, sizeof m.name, "fuzz");
    m.n_inputs = 3;
    const struct { const char *name, *dt; int ndim; int64_t d0, d1; } ins[3] = {
        {"x", "FP32", 2, -1, 4}, {"s", "BYTES", 1, -1, 0}, {"i", "INT64", 2, 2, 2}};
    for (int i = 0; i < 3; i++) {
        snprintf(m.inputs[i].name, sizeof m.inputs[i].name, "%s", ins[i].name);
        snprintf(m.inputs[i].datatype, sizeof m.inputs[i].datatype, "%s", ins[i].dt);
        m.inputs[i].ndim = ins[i].ndim;
        m.inputs[i].shape[0] = ins[i].d0;
        m.inputs[i].shape[1] = ins[i].d1;
    }
    perf_opts o;
    memset(&o, 0, sizeof o);
    o.model = "fuzz";
    o.data_kind = PERF_DATA_FILE;
    o.data_file = path;
    o.batch = 1;
    perf_data d;
    char msg[PERF_MSG];
    msg[0] = '\0';
    int rc = jn__perf_data_build(&o, &m, &d, msg, sizeof msg);
    if (rc && !msg[0]) {
        fprintf(stderr, "refused without a message\n");
        abort();
    }
    jn__perf_data_free(&d);
    unlink(path);
    return 0;
}
