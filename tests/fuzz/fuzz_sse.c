/* Fuzz target: the Server-Sent Events parser (broker/remote/sse.h) that reads OpenAI-compatible servers' streamed
 * answers. Must never crash, leak or hang, and must not depend on how the bytes were split: the input is parsed
 * once whole and once in pieces whose sizes come from its first bytes, and both must give the same events (and the
 * same outcome). Events never hold a line end other than the '\n' joining data lines. (Found by the first run: data
 * may hold NUL bytes, so consumers must go by the length: openai_client.c compares [DONE] by length.) */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct events {
    char *text; /* events joined, each followed by a 0 byte */
    size_t len, cap;
    size_t count;
} events;

static int collect(void *arg, const char *d, size_t n)
{
    events *ev = arg;
    if (d[n] != '\0' || memchr(d, '\r', n))
        abort(); /* NUL-terminated at n (a NUL may also come inside), no CR inside */
    if (ev->len + n + 1 > ev->cap) {
        size_t cap = (ev->len + n + 1) * 2;
        char *t = realloc(ev->text, cap);
        if (!t)
            return JN_ENOMEM;
        ev->text = t;
        ev->cap = cap;
    }
    memcpy(ev->text + ev->len, d, n + 1);
    ev->len += n + 1;
    ev->count++;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    size_t max_event = 64 + data[0] * 16u; /* small limits reach the JN_ERANGE paths */
    uint8_t step_seed = data[1];
    data += 2;
    size -= 2;
    events whole = {0}, pieces = {0};
    jn_sse a, b;
    jn_err err;
    jn_sse_init(&a, max_event);
    jn_sse_init(&b, max_event);
    int rc_whole = jn_sse_feed(&a, (const char *)data, size, collect, &whole, &err);
    int rc_pieces = 0;
    size_t pos = 0, k = 0;
    while (pos < size && !rc_pieces) {
        size_t step = 1 + (size_t)((step_seed + k * 7) % 13);
        k++;
        if (step > size - pos)
            step = size - pos;
        rc_pieces = jn_sse_feed(&b, (const char *)data + pos, step, collect, &pieces, &err);
        pos += step;
    }
    if (rc_whole != rc_pieces || whole.count != pieces.count || whole.len != pieces.len ||
        (whole.len && memcmp(whole.text, pieces.text, whole.len) != 0)) {
        fprintf(stderr, "split-dependent parse: rc %d/%d, %zu/%zu events\n", rc_whole, rc_pieces, whole.count,
                pieces.count);
        abort();
    }
    jn_sse_free(&a);
    jn_sse_free(&b);
    free(whole.text);
    free(pieces.text);
    return 0;
}
