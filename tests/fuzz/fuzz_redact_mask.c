/* Fuzz target: the request log's masker (broker/core/redact.h jn_redact_mask) over arbitrary text, every built-in
 * detector and a user expression on. Must never crash, read out of bounds or hang (the scanners are linear); the
 * result is NUL-terminated at its length, and the rules' absence copies the text unchanged. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "redact.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static jn_redact *all, *builtin;
    if (!all) {
        static const char rules[] = "{\"patterns\": [\"email\", \"phone\", \"card\", \"iban\"], "
                                    "\"regex\": [\"ACME-[0-9]{6}\", \"(sec|tok)[a-z]+\"]}";
        static const char rules2[] = "{\"patterns\": [\"email\", \"phone\", \"card\", \"iban\"]}";
        jn_err err;
        all = jn_redact_parse(rules, sizeof rules - 1, "rules", &err);
        builtin = jn_redact_parse(rules2, sizeof rules2 - 1, "rules", &err);
        if (!all || !builtin)
            abort();
    }
    const char *s = (const char *)data;
    size_t n;
    char *m = jn_redact_mask(size && (data[0] & 1) ? all : builtin, s, size, &n);
    if (!m || m[n] != '\0')
        abort();
    free(m);
    m = jn_redact_mask(NULL, s, size, &n);
    if (!m || n != size || memcmp(m, s, size) != 0)
        abort();
    free(m);
    return 0;
}
