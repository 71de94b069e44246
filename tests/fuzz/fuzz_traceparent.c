/* Fuzz target: the W3C trace context parsers (broker/core/trace.h): traceparent and tracestate as they arrive in
 * gRPC metadata, HTTP headers or request parameters. The input is split at its first newline: the first part is a
 * traceparent, the rest a tracestate. Must never crash or read out of bounds; an accepted traceparent formats back
 * to the same 55 characters (version 00) and an accepted tracestate is within the spec's bounds. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "trace.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* Copies of exactly the given lengths, so a read past the end is seen by the sanitizers. */
    const uint8_t *nl = memchr(data, '\n', size);
    size_t tp_len = nl ? (size_t)(nl - data) : size;
    size_t ts_len = nl ? size - tp_len - 1 : 0;
    char *tp = malloc(tp_len ? tp_len : 1), *ts = malloc(ts_len ? ts_len : 1);
    if (!tp || !ts)
        abort();
    memcpy(tp, data, tp_len);
    if (ts_len)
        memcpy(ts, nl + 1, ts_len);
    jn_trace_ctx c;
    if (jn_traceparent_parse(tp, tp_len, &c) == 0) {
        if (!c.valid)
            abort();
        char out[JN_TRACEPARENT_LEN + 1];
        jn_traceparent_format(&c, out);
        if (tp_len == JN_TRACEPARENT_LEN && tp[0] == '0' && tp[1] == '0' && memcmp(out, tp, JN_TRACEPARENT_LEN) != 0)
            abort();
    } else if (c.valid) {
        abort();
    }
    if (jn_tracestate_valid(ts, ts_len) && ts_len > JN_TRACESTATE_MAX)
        abort();
    free(tp);
    free(ts);
    return 0;
}
