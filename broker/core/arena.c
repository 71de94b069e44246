/* arena.c — recorded allocations released together (arena.h). */
#include "arena.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void *jn_arena_alloc(jn_arena *a, size_t size)
{
    if (a->oom)
        return NULL;
    if (a->n == a->cap) {
        size_t cap = a->cap ? a->cap * 2 : 64;
        void **grown = realloc(a->p, cap * sizeof *grown);
        if (!grown) {
            a->oom = true;
            return NULL;
        }
        a->p = grown;
        a->cap = cap;
    }
    void *m = calloc(1, size ? size : 1);
    if (!m) {
        a->oom = true;
        return NULL;
    }
    a->p[a->n++] = m;
    return m;
}

char *jn_arena_strdup(jn_arena *a, const char *s)
{
    if (!s) {
        a->oom = true;
        return NULL;
    }
    size_t n = strlen(s) + 1;
    char *p = jn_arena_alloc(a, n);
    if (p)
        memcpy(p, s, n);
    return p;
}

char *jn_arena_printf(jn_arena *a, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    char *s = n >= 0 ? jn_arena_alloc(a, (size_t)n + 1) : NULL;
    if (s) {
        va_start(ap, fmt);
        vsnprintf(s, (size_t)n + 1, fmt, ap);
        va_end(ap);
    }
    return s;
}

void jn_arena_free(jn_arena *a)
{
    for (size_t i = 0; i < a->n; i++)
        free(a->p[i]);
    free(a->p);
    memset(a, 0, sizeof *a);
}
