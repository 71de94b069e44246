/* grow.h — the one growth rule of the project's append buffers: capacity doubles from a first size until it holds
 * what is asked for, so appending n bytes one piece at a time costs O(n) copies in all.
 *
 * Ownership: p is a malloc'd block (or NULL) owned by the caller; on success the caller owns the returned block
 * instead (p may have moved); on failure p is untouched and still the caller's. Thread-safety: none needed (the
 * caller's buffer, the caller's thread).
 */
#ifndef JN_GROW_H
#define JN_GROW_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

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

#endif
