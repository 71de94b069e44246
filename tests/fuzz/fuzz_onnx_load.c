/* Fuzz target: bytes -> ONNX loader (ModelProto parse, opset and initializer decoding, per-node checks, planning
 * marks) -> signature; and the same bytes through jn_onnx_inspect (`junction model inspect`), which must agree with
 * the loader: it says the model loads exactly when the loader returns one, and otherwise names at least one
 * refusal, each with a reason, the first being the one the loader stopped at. Must never crash, leak or hang; every rejection must carry its code and a message. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "onnx.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The inspection of the same bytes: must not contradict the loader (`loaded`). */
static void check_inspect(const uint8_t *data, size_t size, bool loaded, const char *load_msg)
{
    jn_onnx_report rep;
    jn_err err;
    jn_err_clear(&err);
    int rc = jn_onnx_inspect(data, size, "fuzz", &rep, &err);
    if (rc) {
        if (loaded || err.msg[0] == '\0' || (rc != JN_EINVAL && rc != JN_ENOMEM)) {
            fprintf(stderr, "inspect failed (%d: %s) on a model the loader %s\n", rc, err.msg,
                    loaded ? "loads" : "refuses");
            abort();
        }
        jn_onnx_report_free(&rep);
        return;
    }
    if (rep.loads != loaded || (!loaded && rep.n_refused == 0)) {
        fprintf(stderr, "inspect says loads=%d with %zu refusals, the loader %s\n", rep.loads, rep.n_refused,
                loaded ? "loads" : "refuses");
        abort();
    }
    /* Its first refusal is the one the loader stopped at (compared on the reason's start: names and lengths of
     * the prefixes differ, and long messages are cut). */
    if (!loaded) {
        char start[65];
        snprintf(start, sizeof start, "%s", rep.refused[0].reason);
        if (!strstr(load_msg, start)) {
            fprintf(stderr, "inspect's first refusal '%s' is not the loader's '%s'\n", rep.refused[0].reason,
                    load_msg);
            abort();
        }
    }
    for (size_t i = 0; i < rep.n_refused; i++)
        if (!rep.refused[i].reason || !rep.refused[i].reason[0] || (rep.refused[i].op_type && !rep.refused[i].node))
            abort();
    size_t counted = 0;
    for (size_t i = 0; i < rep.n_ops; i++)
        counted += rep.ops[i].count;
    if (counted != rep.n_nodes)
        abort();
    jn_onnx_report_free(&rep);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    jn_err err;
    jn_err_clear(&err);
    jn_onnx_model *m = jn_onnx_load_bytes(data, size, "fuzz", &err);
    check_inspect(data, size, m != NULL, err.msg);
    if (!m) {
        if (err.code == 0 || err.msg[0] == '\0') {
            fprintf(stderr, "rejection without a code and message\n");
            abort();
        }
        return 0;
    }
    jn_signature sig;
    jn_signature_init(&sig);
    jn_err_clear(&err);
    if (jn_onnx_signature(m, &sig, &err) && err.msg[0] == '\0')
        abort();
    jn_signature_free(&sig);
    jn_onnx_free(m);
    return 0;
}
