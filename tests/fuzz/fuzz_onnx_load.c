/* Fuzz target: bytes -> ONNX loader (ModelProto parse, opset and initializer decoding, per-node checks, planning
 * marks) -> signature. Must never crash, leak or hang; every rejection must carry its code and a message. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "onnx.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    jn_err err;
    jn_err_clear(&err);
    jn_onnx_model *m = jn_onnx_load_bytes(data, size, "fuzz", &err);
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
