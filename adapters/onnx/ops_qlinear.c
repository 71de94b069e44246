/* ops_qlinear.c — the quantized products of ops_quant.c on the integer kernel (kernels/gemm_u8s8.c, see
 * ops_qlinear.h): MatMul through jn_k_qgemm on the rows of A; convolutions through im2col (the input copied once
 * per image and group into a buffer padded with the zero point's byte, so padding contributes (zp - zp) w = 0 as
 * in the scalar definition) and jn_k_qgemm_ap with the output channels as rows (packed once) and the pixels as
 * columns; on AVX2, weights that all fit 7 bits run on jn_k_qgemm7_ap (gemm_s7u8.c, vpmaddubsw), the same sums.
 *
 * Zero points are applied after the kernel, on the int32 sums (the kernel takes none):
 *   sum (a - za)(b - zb) = sum ab - za colsum(b) - zb rowsum(a) + K za zb
 * in uint32 arithmetic (wrapping exactly like the int32 accumulation of the definition). Requantization
 * (jn_k_requant) rounds half to even in double after clamping to the output range (the clamp bounds are integers,
 * so clamping first changes nothing). A convolution with a fused 2x2/2 MaxPool pools the corrected sums first
 * (jn_k_qpool2_acc) and requantizes a quarter of them: requantization is monotone, so the same bytes. */
#include <stdlib.h>
#include <string.h>

#include "jn_kernels.h"
#include "ops_qlinear.h"

typedef struct qpack {
    int isa;
    const void *src;           /* the constant packed from */
    int64_t groups, K, N;      /* N: output channels per group */
    bool as_rows;              /* a convolution's weights packed as the product's rows (jn_k_qgemm_apack) */
    bool ones_row;             /* as_rows: a row of ones after them (qpack_make_rows) */
    bool seven;                /* as_rows: every weight 7-bit, packed for jn_k_qgemm7_ap (vpmaddubsw) */
    size_t gbytes;             /* packed bytes per group */
    int32_t *colsum;           /* groups * N sums over K (as the kernel sees the values), inside this allocation */
    unsigned char data[];
} qpack;

static qpack *qpack_make(int isa, const void *src, bool b_signed, int64_t groups, int64_t K, int64_t N, bool trans)
{
    size_t gb = (jn_k_qgemm_packed_bytes(isa, N, K) + 63) / 64 * 64;
    qpack *p = malloc(sizeof *p + gb * (size_t)groups + (size_t)(groups * N) * sizeof(int32_t) + 64);
    if (!p)
        return NULL;
    p->isa = isa, p->src = src, p->groups = groups, p->K = K, p->N = N, p->gbytes = gb, p->as_rows = false;
    p->ones_row = false, p->seven = false;
    p->colsum = (int32_t *)(p->data + gb * (size_t)groups);
    for (int64_t g = 0; g < groups; g++) {
        const unsigned char *b = (const unsigned char *)src + g * K * N;
        jn_k_qgemm_pack(isa, b, b_signed, K, N, trans, p->data + gb * (size_t)g);
        jn_k_qgemm_colsums(b, b_signed, K, N, trans, p->colsum + g * N);
    }
    return p;
}

/* A convolution's weights [groups * N, K] as rows of the product, per group. When the last row tile has room, a
 * row of ones goes after the weights (ones_row): the product's row N is then the column sums of the im2col as the
 * kernel sees it, which the zero-point correction needs, computed by the tile that ran anyway. */
static qpack *qpack_make_rows(int isa, const void *src, bool w_signed, int64_t groups, int64_t K, int64_t N)
{
    /* every weight within 7 bits (checked once, here) and the AVX2 kernel (not VNNI's vpdpbusd, not the scalar
     * level): the vpmaddubsw kernel, exact on them; JUNCTION_QGEMM_7BIT=off keeps the widened one (bench/qkernels.sh
     * compares both) */
    const char *env = getenv("JUNCTION_QGEMM_7BIT");
    if (!(env && strcmp(env, "off") == 0) && strcmp(jn_k_qgemm_kernel(isa), "avx2") == 0 &&
        jn_k_qgemm_rows_fit7(src, w_signed, K, groups * N, K)) {
        size_t gb = (jn_k_qgemm7_apack_bytes(N, K) + 63) / 64 * 64;
        qpack *p = malloc(sizeof *p + gb * (size_t)groups + (size_t)(groups * N) * sizeof(int32_t) + 64);
        if (!p)
            return NULL;
        p->isa = isa, p->src = src, p->groups = groups, p->K = K, p->N = N, p->gbytes = gb, p->as_rows = true;
        p->ones_row = false, p->seven = true;
        p->colsum = (int32_t *)(p->data + gb * (size_t)groups);
        for (int64_t g = 0; g < groups; g++) {
            const uint8_t *w = (const uint8_t *)src + g * K * N;
            jn_k_qgemm7_apack(w, w_signed, K, N, K, p->data + gb * (size_t)g);
            jn_k_qgemm_rowsums(N, K, w, w_signed, K, p->colsum + g * N);
        }
        return p;
    }
    bool ones = jn_k_qgemm_apack_bytes(isa, N + 1, K) == jn_k_qgemm_apack_bytes(isa, N, K);
    size_t gb = (jn_k_qgemm_apack_bytes(isa, N, K) + 63) / 64 * 64;
    qpack *p = malloc(sizeof *p + gb * (size_t)groups + (size_t)(groups * N) * sizeof(int32_t) + 64);
    uint8_t *rows = ones ? malloc((size_t)((N + 1) * K) + 1) : NULL;
    if (!p || (ones && !rows)) {
        free(p), free(rows);
        return NULL;
    }
    p->isa = isa, p->src = src, p->groups = groups, p->K = K, p->N = N, p->gbytes = gb, p->as_rows = true;
    p->ones_row = ones, p->seven = false;
    p->colsum = (int32_t *)(p->data + gb * (size_t)groups);
    for (int64_t g = 0; g < groups; g++) {
        const uint8_t *w = (const uint8_t *)src + g * K * N;
        if (ones) {
            memcpy(rows, w, (size_t)(N * K));
            memset(rows + N * K, w_signed ? 0x81 : 0x01, (size_t)K); /* 1 as the kernel sees it */
            jn_k_qgemm_apack(isa, rows, w_signed, K, N + 1, K, p->data + gb * (size_t)g);
        } else {
            jn_k_qgemm_apack(isa, w, w_signed, K, N, K, p->data + gb * (size_t)g);
        }
        jn_k_qgemm_rowsums(N, K, w, w_signed, K, p->colsum + g * N);
    }
    free(rows);
    return p;
}

static const qpack *qpack_for(const ox_node *n, const void *src, int isa, int64_t groups, int64_t K, int64_t N,
                              bool as_rows)
{
    const qpack *p = n->params;
    return p && p->src == src && p->isa == isa && p->groups == groups && p->K == K && p->N == N &&
                   p->as_rows == as_rows
               ? p
               : NULL;
}

static int set_params(ox_node *n, qpack *p, jn_err *err)
{
    if (!p)
        return jn_err_set(err, JN_ENOMEM, "node '%s' (%s): out of memory packing the weights", n->name, n->op_type);
    free(n->params);
    n->params = p;
    return 0;
}

int ox_q_pack_matmul(ox_model *m, ox_node *n, int b_index, jn_err *err)
{
    const ox_tensor *b = ox_in_const(m, n, b_index);
    if (!b || b->ndim != 2 || (b->dtype != JN_DTYPE_INT8 && b->dtype != JN_DTYPE_UINT8))
        return 0;
    return set_params(n, qpack_make(jn_k_isa(), b->data, b->dtype == JN_DTYPE_INT8, 1, b->shape[0], b->shape[1], false),
                      err);
}

int ox_q_pack_conv(ox_model *m, ox_node *n, int w_index, int64_t group, jn_err *err)
{
    const ox_tensor *w = ox_in_const(m, n, w_index);
    if (!w || w->ndim < 3 || (w->dtype != JN_DTYPE_INT8 && w->dtype != JN_DTYPE_UINT8) || group < 1 ||
        w->shape[0] % group)
        return 0;
    int64_t Mg = w->shape[0] / group, Kd = w->shape[0] ? ox_count(w) / w->shape[0] : 0;
    return set_params(n, qpack_make_rows(jn_k_isa(), w->data, w->dtype == JN_DTYPE_INT8, group, Kd, Mg), err);
}

static inline int32_t zp_at(ox_q_zp z, int64_t i)
{
    if (!z.t || ox_count(z.t) == 0)
        return 0;
    return (int32_t)ox_load_i64(z.t->data, z.t->dtype, ox_count(z.t) == 1 ? 0 : i);
}

/* The corrected sums c [M][N] (ldc apart) of columns col0.. into y: element (i, j) at y + yo + i * rs + j * cs. */
typedef struct finish_args {
    const int32_t *c;
    int64_t ldc, M, N, K, col0;
    ox_q_zp azp, bzp;
    bool a_signed, b_signed;
    const int32_t *colsum, *rowsum; /* rowsum NULL: every shifted b zero point is 0 */
    const ox_q_out *q;
    ox_tensor *y;
    int64_t yo, rs, cs;
} finish_args;

/* Requantizes one value (see ox_q_out): clamp to [lo, hi] (integers), round half to even. */
static inline uint8_t requant(int32_t acc, double mult, double yz, double lo, double hi)
{
    const double magic = 6755399441055744.0; /* 2^52 + 2^51: adding and subtracting it rounds half to even */
    double v = (double)acc * mult + yz;
    v = v > lo ? v : lo; /* maxsd, minsd: no branch (with the Relu, half the values clamp) */
    v = v < hi ? v : hi;
    return (uint8_t)(int32_t)((v + magic) - magic); /* an INT8 output stored as its bit pattern */
}

/* Everything is copied into locals first: the byte stores may alias anything, and the compiler would reload every
 * field through f per element otherwise (measured: half the time of the QDQ CNN went here before). */
static int finish(const finish_args *f)
{
    int64_t N = f->N, M = f->M, ldc = f->ldc, rs = f->rs, cs = f->cs;
    int32_t *zbs = malloc((size_t)N * sizeof *zbs + 1);
    uint32_t *off = malloc((size_t)N * sizeof *off + 1);
    double *mult = malloc((size_t)N * sizeof *mult + 1);
    uint32_t *zau = malloc((size_t)M * sizeof *zau + 1), *rsum = malloc((size_t)M * sizeof *rsum + 1);
    if (!zbs || !off || !mult || !zau || !rsum) {
        free(zbs), free(off), free(mult), free(zau), free(rsum);
        return JN_ENOMEM;
    }
    const ox_q_out *q = f->q;
    bool i32 = q->dtype == JN_DTYPE_INT32;
    bool a_per_row = f->azp.t && ox_count(f->azp.t) > 1;
    uint32_t K = (uint32_t)f->K, za0 = (uint32_t)(zp_at(f->azp, 0) + (f->a_signed ? 128 : 0));
    for (int64_t j = 0; j < N; j++) {
        zbs[j] = zp_at(f->bzp, f->col0 + j) - (f->b_signed ? 0 : 128);
        mult[j] = i32 ? 0 : (double)q->mult[q->n_mult == 1 ? 0 : f->col0 + j];
        /* the column's share of the correction with the first row's a zero point, plus the bias */
        off[j] = (uint32_t)(q->bias && !i32 ? q->bias[f->col0 + j] : 0) - za0 * (uint32_t)f->colsum[j] +
                 K * za0 * (uint32_t)zbs[j];
    }
    for (int64_t i = 0; i < M; i++) {
        zau[i] = a_per_row ? (uint32_t)(zp_at(f->azp, i) + (f->a_signed ? 128 : 0)) : za0;
        rsum[i] = f->rowsum ? (uint32_t)f->rowsum[i] : 0;
    }
    double lo = q->dtype == JN_DTYPE_INT8 ? -128 : 0, hi = q->dtype == JN_DTYPE_INT8 ? 127 : 255, yz = q->yz;
    if (q->relu && yz > lo)
        lo = yz; /* a Relu on the real value: at least the zero point (an integer) */
    const int32_t *c = f->c;
    const int32_t *colsum = f->colsum;
    if (a_per_row) { /* MatMulInteger / QLinearMatMul with a zero point per row of A: not the fast path */
        for (int64_t i = 0; i < M; i++)
            for (int64_t j = 0; j < N; j++) {
                uint32_t o = off[j] + za0 * (uint32_t)colsum[j] - K * za0 * (uint32_t)zbs[j];
                int32_t acc = (int32_t)((uint32_t)c[i * ldc + j] + o - zau[i] * (uint32_t)colsum[j] -
                                        (uint32_t)zbs[j] * rsum[i] + K * zau[i] * (uint32_t)zbs[j]);
                int64_t at = f->yo + i * rs + j * cs;
                if (i32)
                    ((int32_t *)f->y->data)[at] = acc;
                else
                    ((uint8_t *)f->y->data)[at] = requant(acc, mult[j], yz, lo, hi);
            }
    } else if (i32) {
        int32_t *y = (int32_t *)f->y->data + f->yo;
        for (int64_t i = 0; i < M; i++)
            for (int64_t j = 0; j < N; j++)
                y[i * rs + j * cs] = (int32_t)((uint32_t)c[i * ldc + j] + off[j] - (uint32_t)zbs[j] * rsum[i]);
    } else if (rs == 1) { /* a convolution: output planes, one per column */
        uint8_t *y = (uint8_t *)f->y->data + f->yo;
        for (int64_t j = 0; j < N; j++) {
            uint32_t o = off[j], zb = (uint32_t)zbs[j];
            double mj = mult[j];
            uint8_t *yj = y + j * cs;
            for (int64_t i = 0; i < M; i++)
                yj[i] = requant((int32_t)((uint32_t)c[i * ldc + j] + o - zb * rsum[i]), mj, yz, lo, hi);
        }
    } else {
        uint8_t *y = (uint8_t *)f->y->data + f->yo;
        for (int64_t i = 0; i < M; i++) {
            uint32_t r = rsum[i];
            const int32_t *ci = c + i * ldc;
            uint8_t *yi = y + i * rs;
            for (int64_t j = 0; j < N; j++)
                yi[j * cs] = requant((int32_t)((uint32_t)ci[j] + off[j] - (uint32_t)zbs[j] * r), mult[j], yz, lo, hi);
        }
    }
    free(zbs), free(off), free(mult), free(zau), free(rsum);
    return 0;
}

static bool any_shifted_zp(ox_q_zp bzp, bool b_signed, int64_t col0, int64_t N)
{
    if (!b_signed)
        return true; /* unsigned b: shifted by -128, only a zero point of exactly 128 cancels it */
    for (int64_t j = 0; j < N; j++)
        if (zp_at(bzp, col0 + j) != 0)
            return true;
    return false;
}

int ox_q_matmul(const ox_node *n, const ox_tensor *a, int64_t ao, const ox_tensor *b, int64_t bo, int b_index,
                int64_t M, int64_t N, int64_t K, ox_q_zp azp, ox_q_zp bzp, const ox_q_out *q, ox_tensor *y,
                int64_t yo, jn_err *err)
{
    (void)b_index;
    int isa = jn_k_isa();
    bool a_signed = a->dtype == JN_DTYPE_INT8, b_signed = b->dtype == JN_DTYPE_INT8;
    const qpack *p = bo == 0 ? qpack_for(n, b->data, isa, 1, K, N, false) : NULL;
    qpack *own = NULL;
    if (!p) {
        p = own = qpack_make(isa, (const unsigned char *)b->data + bo, b_signed, 1, K, N, false);
        if (!own)
            return OX_ERR(n, err, JN_ENOMEM, "out of memory");
    }
    bool need_rows = any_shifted_zp(bzp, b_signed, 0, N);
    void *scratch = malloc(jn_k_qgemm_scratch_bytes(isa, K) + 1);
    int32_t *c = malloc((size_t)(M * N) * sizeof *c + 1), *rowsum = need_rows ? malloc((size_t)M * 4 + 1) : NULL;
    int rc = 0;
    if (!scratch || !c || (need_rows && !rowsum)) {
        rc = OX_ERR(n, err, JN_ENOMEM, "out of memory");
    } else {
        const uint8_t *ad = (const uint8_t *)a->data + ao;
        jn_k_qgemm(isa, M, N, K, ad, a_signed, K, p->data, c, N, scratch);
        if (rowsum)
            jn_k_qgemm_rowsums(M, K, ad, a_signed, K, rowsum);
        finish_args f = {.c = c, .ldc = N, .M = M, .N = N, .K = K, .col0 = 0, .azp = azp, .bzp = bzp,
                         .a_signed = a_signed, .b_signed = b_signed, .colsum = p->colsum, .rowsum = rowsum, .q = q,
                         .y = y, .yo = yo, .rs = N, .cs = 1};
        if (finish(&f))
            rc = OX_ERR(n, err, JN_ENOMEM, "out of memory");
    }
    free(scratch), free(c), free(rowsum), free(own);
    return rc;
}

/* The requantized (or INT32) planes of one image and group: y [Mg][osz] from c [Mg][osz] (see the file comment;
 * here the weights are the rows, so their zero point is per row and the input's per column). With a fused 2x2/2
 * MaxPool (pooled set; 8-bit output only) y [Mg][OH/2][OW/2]: the sums are pooled first (jn_k_qpool2_acc) and a
 * quarter of them requantized, which is exact because requantization with a multiplier >= 0 is monotone; a
 * channel whose multiplier is not (NaN, negative: never from the QDQ fusion) is requantized whole into `plane`
 * and pooled as bytes. */
typedef struct conv_finish {
    const int32_t *c, *wsum, *xsum; /* wsum per row (channel), xsum per column (pixel), as the kernel sees them */
    int64_t Mg, osz, K, ch0, OH, OW;
    ox_q_zp xzp, wzp;
    bool x_signed, w_signed;
    const ox_q_out *q;
    void *y;
    int32_t *pooled; /* jn_k_qpool2_acc's scratch and output (JN_K_QPOOL2_HM + _Y), NULL without pooling */
    uint8_t *plane;  /* [osz] scratch with pooling */
    int isa;
} conv_finish;

static void finish_conv(const conv_finish *f)
{
    const ox_q_out *q = f->q;
    bool i32 = q->dtype == JN_DTYPE_INT32;
    double lo = q->dtype == JN_DTYPE_INT8 ? -128 : 0, hi = q->dtype == JN_DTYPE_INT8 ? 127 : 255, yz = q->yz;
    if (q->relu && yz > lo)
        lo = yz;
    int64_t osz = f->osz;
    uint32_t K = (uint32_t)f->K, zb = (uint32_t)(zp_at(f->xzp, 0) - (f->x_signed ? 0 : 128));
    const uint32_t *xsum = (const uint32_t *)f->xsum;
    for (int64_t m = 0; m < f->Mg; m++) {
        int64_t ch = f->ch0 + m;
        uint32_t za = (uint32_t)(zp_at(f->wzp, ch) + (f->w_signed ? 128 : 0));
        uint32_t cst = (uint32_t)(q->bias && !i32 ? q->bias[ch] : 0) - zb * (uint32_t)f->wsum[m] + K * za * zb;
        const uint32_t *c = (const uint32_t *)f->c + m * osz;
        if (i32) {
            int32_t *y = (int32_t *)f->y + m * osz;
            for (int64_t i = 0; i < osz; i++)
                y[i] = (int32_t)(c[i] - za * xsum[i] + cst);
            continue;
        }
        double mult = q->mult[q->n_mult == 1 ? 0 : ch];
        bool s8 = q->dtype == JN_DTYPE_INT8;
        if (f->pooled) {
            int64_t psz = (f->OH / 2) * (f->OW / 2);
            uint8_t *y = (uint8_t *)f->y + m * psz;
            if (mult >= 0) {
                int32_t *hm = f->pooled, *sums = hm + JN_K_QPOOL2_HM(f->OH, f->OW);
                jn_k_qpool2_acc(f->isa, f->OH, f->OW, (const int32_t *)c, (const int32_t *)xsum, za, cst, hm, sums);
                jn_k_requant(f->isa, psz, sums, sums, 0, 0, mult, yz, lo, hi, s8, y);
            } else {
                jn_k_requant(f->isa, osz, (const int32_t *)c, (const int32_t *)xsum, za, cst, mult, yz, lo, hi, s8,
                             f->plane);
                jn_k_maxpool2_8(1, f->OH, f->OW, s8, f->plane, y);
            }
            continue;
        }
        jn_k_requant(f->isa, osz, (const int32_t *)c, (const int32_t *)xsum, za, cst, mult, yz, lo, hi, s8,
                     (uint8_t *)f->y + m * osz);
    }
}

/* n bytes as 16-byte pieces, the last one running up to 15 bytes past n in both buffers (both allocated with
 * ROW_SLACK bytes to spare; the next row's copy overwrites what ran over): an output row of 14 or 28 pixels is one
 * or two loads and stores, no branch on its length. A memcpy call per row was a tenth of the bench CNN's time, and
 * exact-length pieces (8 + 8 overlapping for 14) a fifth of fashion-cnn's convolution outside the product. */
enum { ROW_SLACK = 16 };

static inline void copy_row(uint8_t *dst, const uint8_t *src, int64_t n)
{
    for (int64_t i = 0; i < n; i += 16)
        memcpy(dst + i, src + i, 16);
}

int ox_q_conv(const ox_node *n, const ox_tensor *x, const ox_tensor *w, int w_index, int64_t G, const ox_win *g,
              ox_q_zp xzp, ox_q_zp wzp, const ox_q_out *q, ox_tensor *y, jn_err *err)
{
    (void)w_index;
    int isa = jn_k_isa();
    bool x_signed = x->dtype == JN_DTYPE_INT8, w_signed = w->dtype == JN_DTYPE_INT8;
    int64_t Nb = x->shape[0], C = x->shape[1], M = w->shape[0], Cg = C / G, Mg = M / G;
    int64_t I[3] = {1, 1, 1}, O[3] = {1, 1, 1}, Kk[3] = {1, 1, 1}, S[3] = {1, 1, 1}, D[3] = {1, 1, 1}, P[3] = {0};
    int64_t IP[3];
    for (int i = 0; i < g->sd; i++) {
        int j = 3 - g->sd + i;
        I[j] = g->in[i], O[j] = g->out[i], Kk[j] = g->k[i], S[j] = g->s[i], D[j] = g->d[i], P[j] = g->pb[i];
    }
    for (int j = 0; j < 3; j++) {
        int64_t need = (O[j] - 1) * S[j] + (Kk[j] - 1) * D[j] + 1;
        IP[j] = I[j] + P[j] > need ? I[j] + P[j] : need;
    }
    int64_t isz = I[0] * I[1] * I[2], osz = O[0] * O[1] * O[2], ksz = Kk[0] * Kk[1] * Kk[2], Kd = Cg * ksz;
    int64_t psz = IP[0] * IP[1] * IP[2];
    const qpack *p = qpack_for(n, w->data, isa, G, Kd, Mg, true);
    qpack *own = NULL;
    if (!p) {
        p = own = qpack_make_rows(isa, w->data, w_signed, G, Kd, Mg);
        if (!own)
            return OX_ERR(n, err, JN_ENOMEM, "out of memory");
    }
    uint8_t xbyte = (uint8_t)zp_at(xzp, 0);
    bool pool = n->maxpool2_after;
    size_t ysz = q->dtype == JN_DTYPE_INT32 ? 4 : 1;
    uint8_t *pad = malloc((size_t)(Cg * psz) + ROW_SLACK), *col = malloc((size_t)(Kd * osz) + ROW_SLACK);
    void *bp = malloc((p->seven ? jn_k_qgemm7_packed_bytes(osz, Kd) : jn_k_qgemm_packed_bytes(isa, osz, Kd)) + 1);
    int32_t *c = malloc((size_t)((Mg + 1) * osz) * sizeof *c + 1), *xsum = malloc((size_t)osz * sizeof *xsum + 1);
    uint8_t *plane = pool ? malloc((size_t)osz + 1) : NULL;
    int32_t *pooled = pool ? malloc((JN_K_QPOOL2_HM(O[1], O[2]) + JN_K_QPOOL2_Y(O[1], O[2])) * sizeof *pooled) : NULL;
    int rc = 0;
    if (!pad || !col || !bp || !c || !xsum || (pool && (!plane || !pooled))) {
        rc = OX_ERR(n, err, JN_ENOMEM, "out of memory");
        goto done;
    }
    memset(pad, xbyte, (size_t)(Cg * psz) + ROW_SLACK);
    for (int64_t b = 0; b < Nb; b++)
        for (int64_t grp = 0; grp < G; grp++) {
            /* the group's channels into the padded buffer (its border keeps the zero point's byte) */
            for (int64_t ch = 0; ch < Cg; ch++) {
                const uint8_t *src = (const uint8_t *)x->data + (b * C + grp * Cg + ch) * isz;
                for (int64_t ia = 0; ia < I[0]; ia++)
                    for (int64_t ib = 0; ib < I[1]; ib++)
                        memcpy(pad + ch * psz + ((ia + P[0]) * IP[1] + ib + P[1]) * IP[2] + P[2],
                               src + (ia * I[1] + ib) * I[2], (size_t)I[2]);
            }
            /* im2col [Kd][osz]: row (channel, ka, kb, kc) like w's columns, one output row at a time */
            uint8_t *dst = col;
            for (int64_t ch = 0; ch < Cg; ch++)
                for (int64_t ka = 0; ka < Kk[0]; ka++)
                    for (int64_t kb = 0; kb < Kk[1]; kb++)
                        for (int64_t kc = 0; kc < Kk[2]; kc++)
                            for (int64_t oa = 0; oa < O[0]; oa++)
                                for (int64_t ob = 0; ob < O[1]; ob++, dst += O[2]) {
                                    const uint8_t *s = pad + ch * psz +
                                                       ((oa * S[0] + ka * D[0]) * IP[1] + ob * S[1] + kb * D[1]) *
                                                           IP[2] +
                                                       kc * D[2];
                                    if (S[2] == 1)
                                        copy_row(dst, s, O[2]);
                                    else
                                        for (int64_t oc = 0; oc < O[2]; oc++)
                                            dst[oc] = s[oc * S[2]];
                                }
            /* the columns' sums as the kernel sees them (unsigned x shifted by -128): the ones row's products, or
             * (7-bit) the sums the packing computed */
            uint32_t *xs = p->ones_row ? (uint32_t *)c + Mg * osz : (uint32_t *)xsum;
            if (p->seven) {
                jn_k_qgemm7_pack(isa, col, x_signed, Kd, osz, bp);
                jn_k_qgemm7_ap(isa, Mg, osz, Kd, p->data + p->gbytes * (size_t)grp, bp, c, osz, xsum);
            } else {
                jn_k_qgemm_pack(isa, col, x_signed, Kd, osz, false, bp);
                jn_k_qgemm_ap(isa, Mg + p->ones_row, osz, Kd, p->data + p->gbytes * (size_t)grp, bp, c, osz);
            }
            if (!p->ones_row && !p->seven)
                memset(xs, 0, (size_t)osz * sizeof *xs);
            for (int64_t k = 0; k < Kd && !p->ones_row && !p->seven; k++) {
                const uint8_t *row = col + k * osz;
                if (x_signed)
                    for (int64_t i = 0; i < osz; i++)
                        xs[i] += (uint32_t)(int32_t)(int8_t)row[i];
                else
                    for (int64_t i = 0; i < osz; i++)
                        xs[i] += row[i];
            }
            if (!x_signed && !p->ones_row && !p->seven)
                for (int64_t i = 0; i < osz; i++)
                    xs[i] -= 128u * (uint32_t)Kd;
            int64_t per_ch = pool ? (O[1] / 2) * (O[2] / 2) : osz; /* output values per channel */
            unsigned char *yg = (unsigned char *)y->data + (size_t)((b * M + grp * Mg) * per_ch) * ysz;
            conv_finish f = {.c = c, .wsum = p->colsum + grp * Mg, .xsum = (const int32_t *)xs, .Mg = Mg,
                             .osz = osz, .K = Kd,
                             .ch0 = grp * Mg, .xzp = xzp, .wzp = wzp, .x_signed = x_signed, .w_signed = w_signed,
                             .q = q, .y = yg, .OH = O[1], .OW = O[2], .pooled = pooled, .plane = plane,
                             .isa = isa};
            finish_conv(&f);
        }
done:
    free(pad), free(col), free(bp), free(c), free(xsum), free(own), free(plane), free(pooled);
    return rc;
}
