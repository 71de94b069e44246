/* Fuzz target: bytes -> `junction quantize`'s plan (engines/quantize: ModelProto parse, the nodes and values picked,
 * initializer decoding) under two option sets taken from the input's size, calibration statistics fed from a fixed
 * spread of values, and the QDQ model written to a temporary file, which the ONNX adapter must load whenever it
 * loads the source model. Must never crash, leak or hang; every refusal must carry a code and a message. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "onnx.h"
#include "quantize.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_refusal(int rc, const jn_err *err, const char *what)
{
    if (rc && err->msg[0] == '\0') {
        fprintf(stderr, "%s failed (%d) without a message\n", what, rc);
        abort();
    }
}

static void one(const uint8_t *data, size_t size, unsigned flags)
{
    jn_quant_options o = {.method = (jn_quant_method)(flags % 3), .per_channel = (flags >> 2) & 1,
                          .dynamic = (flags >> 3) & 1, .act_int8 = (flags >> 4) & 1, .full_range = (flags >> 5) & 1};
    jn_err err;
    jn_err_clear(&err);
    jn_quant_plan *p = NULL;
    int rc = jn_quant_plan_create(data, size, "fuzz", &o, &p, &err);
    check_refusal(rc, &err, "plan");
    if (rc)
        return;
    static const float spread[8] = {-3.5f, -1.0f, 0.0f, 0.0f, 0.25f, 1.0f, 2.0f, 7.0f};
    for (int pass = 0; pass < jn_quant_passes(p); pass++)
        for (size_t i = 0; i < jn_quant_n_calibrated(p); i++)
            if (jn_quant_observe(p, i, pass, spread, 8, &err)) {
                fprintf(stderr, "observe failed: %s\n", err.msg);
                abort();
            }
    char path[] = "/tmp/fuzz-quantize-XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0)
        abort();
    close(fd);
    jn_quant_summary sum;
    rc = jn_quant_write(p, path, "fuzz", &sum, &err);
    check_refusal(rc, &err, "write");
    jn_quant_plan_free(p);
    if (!rc) {
        jn_onnx_model *src = jn_onnx_load_bytes(data, size, "source", &err);
        jn_onnx_model *q = src ? jn_onnx_load_file(path, &err) : NULL;
        if (src && !q) {
            fprintf(stderr, "the source model loads, its quantized version does not: %s\n", err.msg);
            abort();
        }
        jn_onnx_free(q);
        jn_onnx_free(src);
    }
    unlink(path);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* Options from the size (a model's bytes stay a model), and their complement: static and dynamic, per tensor
     * and per channel, each method, both activation types and weight ranges over the corpus. */
    unsigned flags = (unsigned)((size * 2654435761u) >> 7);
    one(data, size, flags);
    one(data, size, ~flags);
    return 0;
}
