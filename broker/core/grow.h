/* grow.h — the one growth rule of the project's append buffers: capacity doubles from a first size until it holds
 * what is asked for, so appending n bytes one piece at a time costs O(n) copies in all.
 *
 * Ownership: p is a malloc'd block (or NULL) owned by the caller; on success the caller owns the returned block
 * instead (p may have moved); on failure p is untouched and still the caller's. Thread-safety: none needed (the
 * caller's buffer, the caller's thread).
 */
#ifndef JN_GROW_H
#define JN_GROW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Returns a block of at least need bytes holding p's contents: p itself when *cap already suffices, else p grown to
 * first_cap doubled as often as needed (*cap updated). NULL when memory runs out or the size overflows. */
static inline void *jn_grow(void *p, size_t *cap, size_t need, size_t first_cap)
{
    if (need <= *cap)
        return p;
    size_t c = *cap ? *cap : (first_cap ? first_cap : 64);
    while (c < need) {
        if (c > SIZE_MAX / 2)
            return NULL;
        c *= 2;
    }
    void *q = realloc(p, c);
    if (q)
        *cap = c;
    return q;
}

/* A growing NUL-terminated text: jn_text_add appends n bytes (n may be 0: the block is allocated then too, so p is
 * never NULL after one successful add). On out of memory `failed` is set and later adds do nothing; p stays the
 * caller's to free either way. Start from {0}. */
typedef struct jn_text {
    char *p;
    size_t len, cap;
    bool failed;
} jn_text;

static inline void jn_text_add(jn_text *b, const char *s, size_t n)
{
    if (b->failed)
        return;
    char *p = jn_grow(b->p, &b->cap, b->len + n + 1, 64);
    if (!p) {
        b->failed = true;
        return;
    }
    b->p = p;
    if (n)
        memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

#endif
