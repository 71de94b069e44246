/* pem.c — see pem.h. */
#include "pem.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

char *jn_pem_read(const char *path, const char *flag, jn_err *err)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        jn_err_set(err, JN_EINVAL, "%s '%s': %s", flag, path, strerror(errno));
        return NULL;
    }
    char *buf = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        if (len + 4096 + 1 > cap) {
            cap = cap ? cap * 2 : 8192;
            char *grown = cap <= (1u << 24) ? realloc(buf, cap) : NULL;
            if (!grown) {
                free(buf);
                fclose(f);
                jn_err_set(err, JN_EINVAL, "%s '%s': too large for a PEM file", flag, path);
                return NULL;
            }
            buf = grown;
        }
        size_t n = fread(buf + len, 1, 4096, f);
        len += n;
        if (n < 4096)
            break;
    }
    fclose(f);
    buf[len] = '\0';
    if (!strstr(buf, "-----BEGIN ")) {
        free(buf);
        jn_err_set(err, JN_EINVAL, "%s '%s': not a PEM file (no -----BEGIN line)", flag, path);
        return NULL;
    }
    return buf;
}

void jn_pem_free(char *pem)
{
    if (!pem)
        return;
    volatile char *v = pem;
    for (size_t i = 0; pem[i]; i++)
        v[i] = 0;
    free(pem);
}
