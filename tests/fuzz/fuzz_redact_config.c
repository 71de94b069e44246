/* Fuzz target: the request log's redaction rules (broker/core/redact.h: `serve --redact FILE`). Must never crash,
 * leak or hang; every refusal carries its code and a message naming the file; rules that parse mask text. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "redact.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    jn_err err;
    jn_err_clear(&err);
    jn_redact *r = jn_redact_parse((const char *)data, size, "fuzz.json", &err);
    if (!r) {
        if (!err.code || !strstr(err.msg, "fuzz.json")) {
            fprintf(stderr, "refusal without its code or the file's name: %d %s\n", err.code, err.msg);
            abort();
        }
        return 0;
    }
    static const char text[] = "mail bob@example.com, call +1 555-123-4567, card 4111 1111 1111 1111, "
                               "iban DE89 3704 0044 0532 0130 00, password hunter2";
    size_t n;
    char *m = jn_redact_mask(r, text, sizeof text - 1, &n);
    if (!m || strlen(m) > n)
        abort();
    (void)jn_redact_port(r, "password");
    free(m);
    jn_redact_free(r);
    return 0;
}
