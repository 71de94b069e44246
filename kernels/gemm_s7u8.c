/* gemm_s7u8.c — the integer product for rows of 7-bit weights (jn_kernels.h, "7-bit rows"): a convolution's
 * weights packed once as the rows, each value a_s in [-64, 64] as the kernel sees it (signed weights as they are,
 * unsigned ones minus 128: `junction quantize`'s default --weight-range reduced); its im2col packed per call as the
 * columns, as unsigned bytes b_u (unsigned activations as they are, signed ones plus 128, x ^ 0x80).
 *
 * vpmaddubsw (u8 x s8 pairs summed into int16) cannot saturate here: |255 * 64 * 2| = 32640 <= 32767, so its sums
 * are exact, and vpmaddwd with ones widens the int16 pairs into int32 lanes: four products per lane for two
 * multiply instructions, where the widened path of gemm_u8s8.c needs two vpmaddwd and twice the weight bytes for the
 * same four (and two broadcasts of a for one). Called by ops_qlinear.c only when every weight fits (checked once at
 * load, jn_k_qgemm_rows_fit7); the widened path stays for full-range weights.
 *
 * The result is what jn_k_qgemm_ap returns, bit for bit (a' = a_s + 128 unsigned, b' = b_u - 128 signed):
 *   sum a' b' = sum a_s b_u + 128 colsum(b_u) - 128 rowsum(a_s) - 16384 K   (mod 2^32)
 * rowsum(a_s) is stored with the packed rows, colsum(b_u) with the packed columns (computed while packing); the
 * epilogue adds both terms to the tile's accumulators. Layout: rows in tiles of 4 (16 and 32 channels divide
 * evenly; 5 rows wasted a fifth of a 16-channel convolution's tiles) x groups of 4 k (one int32 per row and
 * group, broadcast), columns in panels of 16 x groups of 4 k (64 bytes per group: two ymm of 8 columns x 4 k).
 * K is zero-padded to a multiple of 4 on both sides, so padding contributes 0. Stateless; thread-safe. */
#include <string.h>

#include "jn_kernels.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#define JN_S7X86 1
#endif

enum { TR7 = 4, NR7 = 16 };

static inline int64_t k4_of(int64_t K)
{
    return (K + 3) / 4;
}

/* a's value as the 7-bit kernel sees it: a' - 128, a' the unsigned form the other paths use. */
static inline int32_t a_s_at(const uint8_t *a, bool a_signed, int64_t lda, int64_t m, int64_t k)
{
    return (int32_t)(uint8_t)(a[m * lda + k] ^ (a_signed ? 0x80 : 0)) - 128;
}

bool jn_k_qgemm_rows_fit7(const uint8_t *a, bool a_signed, int64_t lda, int64_t M, int64_t K)
{
    for (int64_t m = 0; m < M; m++)
        for (int64_t k = 0; k < K; k++) {
            int32_t v = a_s_at(a, a_signed, lda, m, k);
            if (v < -64 || v > 64)
                return false;
        }
    return true;
}

size_t jn_k_qgemm7_apack_bytes(int64_t M, int64_t K)
{
    int64_t mp = (M + TR7 - 1) / TR7 * TR7;
    return (size_t)(mp * k4_of(K) + mp) * sizeof(int32_t);
}

void jn_k_qgemm7_apack(const uint8_t *a, bool a_signed, int64_t lda, int64_t M, int64_t K, void *ap)
{
    int64_t mp = (M + TR7 - 1) / TR7 * TR7, K4 = k4_of(K);
    int8_t *d = ap;
    int32_t *rs = (int32_t *)ap + mp * K4;
    for (int64_t m = 0; m < mp; m++) {
        uint32_t s = 0;
        int8_t *row = d + m * K4 * 4;
        for (int64_t k = 0; k < K4 * 4; k++) {
            int32_t v = m < M && k < K ? a_s_at(a, a_signed, lda, m, k) : 0;
            row[k] = (int8_t)v;
            s += (uint32_t)v;
        }
        rs[m] = (int32_t)s;
    }
}

size_t jn_k_qgemm7_packed_bytes(int64_t N, int64_t K)
{
    int64_t np = (N + NR7 - 1) / NR7 * NR7;
    return (size_t)(np * k4_of(K) * 4) + (size_t)np * sizeof(int32_t);
}

/* One panel group q of 16 full columns from four full rows (SSE2: the x86-64 baseline). */
static inline void pack_quad16(const uint8_t *r0, int64_t N, uint8_t flip, uint8_t *d)
{
#ifdef JN_S7X86
    __m128i f = _mm_set1_epi8((char)flip);
    __m128i x0 = _mm_xor_si128(_mm_loadu_si128((const __m128i *)r0), f);
    __m128i x1 = _mm_xor_si128(_mm_loadu_si128((const __m128i *)(r0 + N)), f);
    __m128i x2 = _mm_xor_si128(_mm_loadu_si128((const __m128i *)(r0 + 2 * N)), f);
    __m128i x3 = _mm_xor_si128(_mm_loadu_si128((const __m128i *)(r0 + 3 * N)), f);
    __m128i lo01 = _mm_unpacklo_epi8(x0, x1), hi01 = _mm_unpackhi_epi8(x0, x1);
    __m128i lo23 = _mm_unpacklo_epi8(x2, x3), hi23 = _mm_unpackhi_epi8(x2, x3);
    _mm_storeu_si128((__m128i *)d, _mm_unpacklo_epi16(lo01, lo23));
    _mm_storeu_si128((__m128i *)(d + 16), _mm_unpackhi_epi16(lo01, lo23));
    _mm_storeu_si128((__m128i *)(d + 32), _mm_unpacklo_epi16(hi01, hi23));
    _mm_storeu_si128((__m128i *)(d + 48), _mm_unpackhi_epi16(hi01, hi23));
#else
    for (int j = 0; j < NR7; j++)
        for (int t = 0; t < 4; t++)
            d[4 * j + t] = (uint8_t)(r0[t * N + j] ^ flip);
#endif
}

/* colsum(b_u) of one packed panel (K4 groups of 64 bytes) into cs[0..16). */
static void panel_sums(const uint8_t *p, int64_t K4, int32_t *cs)
{
    uint32_t s[NR7] = {0};
    for (int64_t q = 0; q < K4; q++, p += 4 * NR7)
        for (int j = 0; j < NR7; j++)
            s[j] += (uint32_t)p[4 * j] + p[4 * j + 1] + p[4 * j + 2] + p[4 * j + 3];
    for (int j = 0; j < NR7; j++)
        cs[j] = (int32_t)s[j];
}

#ifdef JN_S7X86
/* The same with vpmaddubsw against ones (u8 x 1 pairs: <= 510, exact) and vpmaddwd against ones. */
__attribute__((target("avx2"))) static void panel_sums_avx2(const uint8_t *p, int64_t K4, int32_t *cs)
{
    const __m256i ones8 = _mm256_set1_epi8(1), ones16 = _mm256_set1_epi16(1);
    __m256i s0 = _mm256_setzero_si256(), s1 = s0;
    for (int64_t q = 0; q < K4; q++, p += 4 * NR7) {
        __m256i x0 = _mm256_loadu_si256((const __m256i *)p), x1 = _mm256_loadu_si256((const __m256i *)(p + 32));
        s0 = _mm256_add_epi32(s0, _mm256_madd_epi16(_mm256_maddubs_epi16(x0, ones8), ones16));
        s1 = _mm256_add_epi32(s1, _mm256_madd_epi16(_mm256_maddubs_epi16(x1, ones8), ones16));
    }
    _mm256_storeu_si256((__m256i *)cs, s0);
    _mm256_storeu_si256((__m256i *)(cs + 8), s1);
}
#endif

void jn_k_qgemm7_pack(int isa, const uint8_t *b, bool b_signed, int64_t K, int64_t N, void *bp)
{
    int64_t np = (N + NR7 - 1) / NR7 * NR7, K4 = k4_of(K);
    uint8_t flip = b_signed ? 0x80 : 0;
    uint8_t *d = bp;
    int32_t *cs = (int32_t *)((uint8_t *)bp + np * K4 * 4);
    for (int64_t n0 = 0; n0 < np; n0 += NR7) {
        int64_t w = N - n0 < NR7 ? N - n0 : NR7;
        uint8_t *panel = d;
        for (int64_t q = 0; q < K4; q++, d += 4 * NR7) {
            const uint8_t *r0 = b + 4 * q * N + n0;
            if (w == NR7 && 4 * q + 3 < K) {
                pack_quad16(r0, N, flip, d);
                continue;
            }
            for (int64_t j = 0; j < NR7; j++)
                for (int64_t t = 0; t < 4; t++)
                    d[4 * j + t] = j < w && 4 * q + t < K ? (uint8_t)(r0[t * N + j] ^ flip) : 0;
        }
        /* colsum(b_u) per column, from the panel just packed (still in L1; the padding is 0) */
#ifdef JN_S7X86
        if (isa >= JN_K_AVX2) {
            panel_sums_avx2(panel, K4, cs + n0);
            continue;
        }
#endif
        panel_sums(panel, K4, cs + n0);
    }
    (void)isa;
}

/* The tile's epilogue, one value: sum a_s b_u + 128 colsum(b_u) - (128 rowsum(a_s) + 16384 K), wrapping. */
static inline int32_t fix(uint32_t s, int32_t cs, uint32_t rowc)
{
    return (int32_t)(s + 128u * (uint32_t)cs - rowc);
}

static void tile_scalar7(int64_t K4, const int8_t *arows, const uint8_t *panel, const int32_t *cs,
                         const uint32_t *rowc, int32_t out[TR7][NR7])
{
    for (int r = 0; r < TR7; r++) {
        uint32_t s[NR7] = {0};
        const int8_t *ar = arows + r * K4 * 4;
        for (int64_t q = 0; q < K4; q++)
            for (int j = 0; j < NR7; j++)
                for (int t = 0; t < 4; t++)
                    s[j] += (uint32_t)(ar[4 * q + t] * (int32_t)panel[q * 4 * NR7 + 4 * j + t]);
        for (int j = 0; j < NR7; j++)
            out[r][j] = fix(s[j], cs[j], rowc[r]);
    }
}

#ifdef JN_S7X86
__attribute__((target("avx2"))) static void tile_avx2_7(int64_t K4, const int8_t *arows, const uint8_t *panel,
                                                        const int32_t *cs, const uint32_t *rowc, int32_t *out,
                                                        int64_t ldo)
{
    __m256i c00 = _mm256_setzero_si256(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00;
    __m256i c30 = c00, c31 = c00;
    const __m256i ones = _mm256_set1_epi16(1);
    const int32_t *a0 = (const int32_t *)arows, *a1 = a0 + K4, *a2 = a0 + 2 * K4, *a3 = a0 + 3 * K4;
    for (int64_t q = 0; q < K4; q++) {
        __m256i w0 = _mm256_loadu_si256((const __m256i *)(panel + q * 64));
        __m256i w1 = _mm256_loadu_si256((const __m256i *)(panel + q * 64 + 32));
        __m256i a, t;
#define ROW7(cr0, cr1, ar)                                                                                         \
    a = _mm256_set1_epi32(ar[q]);                                                                                  \
    t = _mm256_madd_epi16(_mm256_maddubs_epi16(w0, a), ones);                                                      \
    cr0 = _mm256_add_epi32(cr0, t);                                                                                \
    t = _mm256_madd_epi16(_mm256_maddubs_epi16(w1, a), ones);                                                      \
    cr1 = _mm256_add_epi32(cr1, t);
        ROW7(c00, c01, a0)
        ROW7(c10, c11, a1)
        ROW7(c20, c21, a2)
        ROW7(c30, c31, a3)
#undef ROW7
        /* keeps the accumulators in registers (see gemm_u8s8.c's tile_avx2) */
        __asm__("" : "+x"(c00), "+x"(c01), "+x"(c10), "+x"(c11), "+x"(c20), "+x"(c21), "+x"(c30), "+x"(c31));
    }
    _Static_assert(TR7 == 4, "tile_avx2_7 has four rows");
    __m256i cs0 = _mm256_slli_epi32(_mm256_loadu_si256((const __m256i *)cs), 7);
    __m256i cs1 = _mm256_slli_epi32(_mm256_loadu_si256((const __m256i *)(cs + 8)), 7);
#define OUT7(cr0, cr1, r)                                                                                          \
    {                                                                                                              \
        __m256i rc = _mm256_set1_epi32((int)rowc[r]);                                                             \
        _mm256_storeu_si256((__m256i *)(out + (r) * ldo), _mm256_sub_epi32(_mm256_add_epi32(cr0, cs0), rc));       \
        _mm256_storeu_si256((__m256i *)(out + (r) * ldo + 8), _mm256_sub_epi32(_mm256_add_epi32(cr1, cs1), rc));   \
    }
    OUT7(c00, c01, 0)
    OUT7(c10, c11, 1)
    OUT7(c20, c21, 2)
    OUT7(c30, c31, 3)
#undef OUT7
}
#endif

void jn_k_qgemm7_ap(int isa, int64_t M, int64_t N, int64_t K, const void *ap, const void *bp, int32_t *c,
                    int64_t ldc, int32_t *bsum)
{
    int64_t mp = (M + TR7 - 1) / TR7 * TR7, np = (N + NR7 - 1) / NR7 * NR7, K4 = k4_of(K);
    const int32_t *rs = (const int32_t *)ap + mp * K4;
    const int32_t *cs = (const int32_t *)((const uint8_t *)bp + np * K4 * 4);
    if (bsum) /* sum b' = colsum(b_u) - 128 K: what a row of ones gives on the other paths */
        for (int64_t n = 0; n < N; n++)
            bsum[n] = (int32_t)((uint32_t)cs[n] - 128u * (uint32_t)K);
    if (M <= 0)
        return;
    (void)isa;
    int32_t acc[TR7][NR7];
    for (int64_t r0 = 0; r0 < M; r0 += TR7) {
        int64_t rows = M - r0 < TR7 ? M - r0 : TR7;
        uint32_t rowc[TR7];
        for (int r = 0; r < TR7; r++)
            rowc[r] = 128u * (uint32_t)rs[r0 + r] + 16384u * (uint32_t)K;
        const int8_t *arows = (const int8_t *)ap + r0 * K4 * 4;
        for (int64_t n0 = 0; n0 < N; n0 += NR7) {
            const uint8_t *panel = (const uint8_t *)bp + n0 * K4 * 4;
            int64_t cols = N - n0 < NR7 ? N - n0 : NR7;
#ifdef JN_S7X86
            if (isa >= JN_K_AVX2) {
                if (rows == TR7 && cols == NR7) { /* a whole tile: straight into c */
                    tile_avx2_7(K4, arows, panel, cs + n0, rowc, c + r0 * ldc + n0, ldc);
                    continue;
                }
                tile_avx2_7(K4, arows, panel, cs + n0, rowc, &acc[0][0], NR7);
            } else
#endif
                tile_scalar7(K4, arows, panel, cs + n0, rowc, acc);
            for (int64_t r = 0; r < rows; r++)
                memcpy(c + (r0 + r) * ldc + n0, acc[r], (size_t)cols * sizeof(int32_t));
        }
    }
}
