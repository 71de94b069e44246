/* file_read.c — a whole file, bounded (file_read.h). */
#include "file_read.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

int jn_read_file(const char *path, size_t max, void **out, size_t *len)
{
    *out = NULL;
    *len = 0;
    FILE *f = fopen(path, "rb");
    if (!f)
        return errno ? errno : ENOENT;
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap + 1);
    int e = buf ? 0 : ENOMEM;
    while (!e) {
        if (n == cap) {
            if (cap >= max) {
                e = EFBIG;
                break;
            }
            char *grown = realloc(buf, cap * 2 + 1);
            if (!grown) {
                e = ENOMEM;
                break;
            }
            buf = grown;
            cap *= 2;
        }
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (got == 0) {
            e = ferror(f) ? EIO : 0;
            break;
        }
    }
    fclose(f);
    if (e) {
        free(buf);
        return e;
    }
    buf[n] = '\0';
    *out = buf;
    *len = n;
    return 0;
}
