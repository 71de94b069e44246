/* Fuzz target: the bytes of a state directory's state.json (header, length, checksum, JSON body, records). Must never
 * crash, leak or hang; a rejection must say why. The checksum makes most mutations stop at the header check, so the
 * target also checks the body with a header recomputed for it: both the framing and the record parser are reached. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "state.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint32_t crc32_ieee(const uint8_t *p, size_t n)
{
    uint32_t crc = 0xFFFFFFFFu;
    for (size_t i = 0; i < n; i++) {
        crc ^= p[i];
        for (int k = 0; k < 8; k++)
            crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1u)));
    }
    return ~crc;
}

static void check(const char *bytes, size_t len)
{
    char why[512];
    why[0] = '\0';
    long n = jn_state_check_bytes(bytes, len, why, sizeof why);
    if (n < 0 && n != -4 /* JN_ENOMEM */ && why[0] == '\0') {
        fprintf(stderr, "state file rejected without a reason (rc %ld)\n", n);
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    check((const char *)data, size);
    /* The input as a body, framed correctly. */
    char header[64];
    int hl = snprintf(header, sizeof header, "junction-state 1 %zu %08x\n", size, (unsigned)crc32_ieee(data, size));
    char *framed = malloc((size_t)hl + size + 1);
    if (!framed)
        return 0;
    memcpy(framed, header, (size_t)hl);
    if (size)
        memcpy(framed + hl, data, size);
    check(framed, (size_t)hl + size);
    free(framed);
    return 0;
}
