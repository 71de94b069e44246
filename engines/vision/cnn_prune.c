/* cnn_prune.c — structured channel pruning and unstructured magnitude pruning of the CNN (cnn_prune.h). */
#include "cnn_prune.h"
#include "../train/prune_magnitude.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

int jn_cnn_prune_keep(int n, double ratio)
{
    int drop = (int)lround((double)n * ratio);
    int keep = n - drop;
    return keep < 1 ? 1 : keep > n ? n : keep;
}

typedef struct ranked {
    double v;
    size_t i;
} ranked;

static int ranked_cmp(const void *a, const void *b)
{
    const ranked *x = a, *y = b;
    if (x->v != y->v)
        return x->v < y->v ? -1 : 1;
    return x->i < y->i ? -1 : x->i > y->i;
}

/* keep[o] = 1 for the `n_keep` output channels of w [cout][per] with the largest L1 norms (ties: the earlier one). */
static int choose_channels(const float *w, int cout, size_t per, int n_keep, uint8_t *keep)
{
    ranked *r = malloc((size_t)cout * sizeof *r);
    if (!r)
        return -1;
    for (int o = 0; o < cout; o++) {
        double s = 0.0;
        for (size_t j = 0; j < per; j++)
            s += fabs((double)w[(size_t)o * per + j]);
        r[o].v = s;
        r[o].i = (size_t)(cout - 1 - o); /* ties: the later channel goes first, the earlier is kept */
    }
    qsort(r, (size_t)cout, sizeof *r, ranked_cmp);
    memset(keep, 1, (size_t)cout);
    for (int q = 0; q < cout - n_keep; q++)
        keep[cout - 1 - r[q].i] = 0;
    free(r);
    return 0;
}

int jn_cnn_prune_channels(const jn_cnn *m, double ratio, jn_cnn *out, jn_err *err)
{
    if (!(ratio > 0.0 && ratio < 1.0))
        return jn_err_set(err, JN_EINVAL, "CNN channel pruning: the ratio must be in (0, 1), got %g", ratio);
    const jn_cnn_arch *a = &m->a;
    jn_cnn_arch b = *a;
    b.c1 = jn_cnn_prune_keep(a->c1, ratio);
    b.c2 = jn_cnn_prune_keep(a->c2, ratio);
    int kk = a->k * a->k;
    uint8_t *k1 = malloc((size_t)a->c1), *k2 = malloc((size_t)a->c2);
    int rc = 0;
    if (!k1 || !k2 || choose_channels(m->p[0], a->c1, (size_t)kk * a->c, b.c1, k1) ||
        choose_channels(m->p[2], a->c2, (size_t)kk * a->c1, b.c2, k2)) {
        rc = jn_err_set(err, JN_ENOMEM, "CNN channel pruning: out of memory");
        goto done;
    }
    if ((rc = jn_cnn_init(out, &b, 1, err)))
        goto done;
    /* conv1: OHWI [c1][k][k][c], whole filters kept or dropped; bias likewise. */
    for (int o = 0, n = 0; o < a->c1; o++) {
        if (!k1[o])
            continue;
        memcpy(out->p[0] + (size_t)n * kk * a->c, m->p[0] + (size_t)o * kk * a->c, (size_t)kk * a->c * sizeof(float));
        out->p[1][n++] = m->p[1][o];
    }
    /* conv2: OHWI [c2][k][k][c1]: kept filters, and within each the kept input channels. */
    for (int o = 0, n = 0; o < a->c2; o++) {
        if (!k2[o])
            continue;
        const float *src = m->p[2] + (size_t)o * kk * a->c1;
        float *dst = out->p[2] + (size_t)n * kk * b.c1;
        for (int t = 0; t < kk; t++)
            for (int i = 0, j = 0; i < a->c1; i++)
                if (k1[i])
                    dst[(size_t)t * b.c1 + j++] = src[(size_t)t * a->c1 + i];
        out->p[3][n++] = m->p[3][o];
    }
    /* fc1: [hidden][h4 * w4 * c2] in NHWC order (y, x, c): the columns of the kept maps. */
    size_t cells = (size_t)(a->h / 4) * (a->w / 4), in_a = cells * a->c2, in_b = cells * b.c2;
    for (int r = 0; r < a->hidden; r++)
        for (size_t cell = 0; cell < cells; cell++)
            for (int c = 0, j = 0; c < a->c2; c++)
                if (k2[c])
                    out->p[4][r * in_b + cell * b.c2 + j++] = m->p[4][r * in_a + cell * a->c2 + c];
    memcpy(out->p[5], m->p[5], (size_t)a->hidden * sizeof(float));
    memcpy(out->p[6], m->p[6], m->len[6] * sizeof(float));
    memcpy(out->p[7], m->p[7], m->len[7] * sizeof(float));
done:
    free(k1);
    free(k2);
    return rc;
}

int jn_cnn_prune_magnitude(jn_cnn *m, double sparsity, jn_cnn_mask *mask, jn_err *err)
{
    memset(mask, 0, sizeof *mask);
    if (!(sparsity > 0.0 && sparsity < 1.0))
        return jn_err_set(err, JN_EINVAL, "CNN magnitude pruning: the sparsity must be in (0, 1), got %g", sparsity);
    mask->keep = malloc(m->n_params);
    if (!mask->keep)
        return jn_err_set(err, JN_ENOMEM, "CNN magnitude pruning: out of memory");
    memset(mask->keep, 1, m->n_params);
    mask->n_params = m->n_params;
    for (int p = 0; p < JN_CNN_N_PARAMS; p += 2) { /* the weights; biases are kept */
        int64_t dropped = jn_prune_magnitude(m->p[p], m->len[p], sparsity, mask->keep + (m->p[p] - m->params));
        if (dropped < 0) { /* earlier tensors stay pruned: the caller drops the model on an error */
            jn_cnn_mask_free(mask);
            return jn_err_set(err, JN_ENOMEM, "CNN magnitude pruning: out of memory");
        }
        mask->zeroed += (size_t)dropped;
        mask->weights += m->len[p];
    }
    return 0;
}

void jn_cnn_mask_apply(jn_cnn *m, const jn_cnn_mask *mask)
{
    if (!mask || !mask->keep)
        return;
    for (size_t i = 0; i < m->n_params; i++)
        if (!mask->keep[i])
            m->params[i] = 0.0f;
}

void jn_cnn_mask_free(jn_cnn_mask *mask)
{
    free(mask->keep);
    memset(mask, 0, sizeof *mask);
}

size_t jn_cnn_nonzero(const jn_cnn *m)
{
    size_t n = 0;
    for (size_t i = 0; i < m->n_params; i++)
        n += m->params[i] != 0.0f;
    return n;
}
