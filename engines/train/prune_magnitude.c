/* prune_magnitude.c — the smallest |w| of a tensor set to zero (prune_magnitude.h). */
#include "prune_magnitude.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct ranked {
    float v;
    size_t i;
} ranked;

static int ranked_cmp(const void *a, const void *b)
{
    const ranked *x = a, *y = b;
    if (x->v != y->v)
        return x->v < y->v ? -1 : 1;
    return x->i < y->i ? -1 : x->i > y->i;
}

int64_t jn_prune_magnitude(float *w, size_t n, double sparsity, uint8_t *keep)
{
    ranked *r = malloc((n ? n : 1) * sizeof *r);
    if (!r)
        return -1;
    for (size_t i = 0; i < n; i++) {
        r[i].v = fabsf(w[i]);
        r[i].i = i;
    }
    qsort(r, n, sizeof *r, ranked_cmp);
    memset(keep, 1, n);
    size_t drop = (size_t)llround((double)n * sparsity);
    for (size_t q = 0; q < drop && q < n; q++) {
        keep[r[q].i] = 0;
        w[r[q].i] = 0.0f;
    }
    free(r);
    return (int64_t)(drop < n ? drop : n);
}
