/* gemm_u8s8.c — the integer product c [M, N] (int32) = a [M, K] (8-bit) . b [K, N] (8-bit), b packed once
 * (jn_kernels.h, "integer product"): the ONNX adapter's QLinearConv, QLinearMatMul, MatMulInteger, ConvInteger and
 * the QDQ patterns fused into them (onnx_fuse.c) all run on it.
 *
 * Exactness: every level returns the same int32 sums as the scalar loop, bit for bit (the products are exact in
 * int32 and the additions wrap modulo 2^32 at every level alike). Signed activations are made unsigned by adding
 * 128 (x ^ 0x80), unsigned weights signed by subtracting 128; the caller moves its zero points the same way, so
 * (a - za) (b - zb) is unchanged. The levels:
 *   AVX-512 VNNI: vpdpbusd (u8 x s8, four products summed into an int32 lane without saturation), weights in
 *     panels of 32 columns x groups of 4 k, tiles of 8 rows x 32 columns (16 zmm accumulators).
 *   AVX2 (and AVX-512 without VNNI): a and b widened to int16 and vpmaddwd (two int16 products summed into int32,
 *     exact). vpmaddubsw would do twice the products per instruction but saturates its int16 pair sum
 *     (255 * 127 * 2 > 32767), which full-range int8 weights reach; DECISIONS.md has the measurement and why the
 *     exact form was kept here (convolution weights that fit 7 bits run on vpmaddubsw in gemm_s7u8.c).
 *     Weights in panels of 16 columns x pairs of k as int16, tiles of 5 rows x 16 columns
 *     (10 ymm accumulators, held in registers by an empty asm: GCC 12 otherwise carried some through the stack).
 *   Baseline: the AVX2 layout computed in plain C.
 * Rows of a are converted per tile (TR rows at a time) into the scratch buffer (pairs or quads of k packed into
 * one int32 each, zero-padded), so the tile's broadcasts are single 32-bit loads and K needs no tail code.
 * Around the product, the same bits at every level: requantization of the sums (jn_k_requant), QuantizeLinear of
 * floats (jn_k_quantize8), 2x2/2 max pooling of the sums before requantizing (jn_k_qpool2_acc) or of 8-bit values
 * (jn_k_maxpool2_8). */
#include <math.h>
#include <pthread.h>
#include <string.h>

#include "jn_kernels.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#define JN_QX86 1
#endif

enum { NR16 = 16, TR16 = 5, NRV = 32, TRV = 8 };

static pthread_once_t vnni_once = PTHREAD_ONCE_INIT;
static bool cpu_vnni;

static void probe_vnni(void)
{
#ifdef JN_QX86
    __builtin_cpu_init();
    cpu_vnni = __builtin_cpu_supports("avx512vnni") && __builtin_cpu_supports("avx512bw");
#endif
}

/* Whether the VNNI kernel runs at `isa` (cpuid read once per process). */
static bool use_vnni(int isa)
{
    if (isa < JN_K_AVX512)
        return false;
    pthread_once(&vnni_once, probe_vnni);
    return cpu_vnni;
}

const char *jn_k_qgemm_kernel(int isa)
{
    return use_vnni(isa) ? "avx512vnni" : isa >= JN_K_AVX2 ? "avx2" : "scalar";
}

size_t jn_k_qgemm_packed_bytes(int isa, int64_t N, int64_t K)
{
    if (use_vnni(isa))
        return (size_t)((N + NRV - 1) / NRV * NRV) * (size_t)((K + 3) / 4 * 4);
    return (size_t)((N + NR16 - 1) / NR16 * NR16) * (size_t)((K + 1) / 2 * 2) * sizeof(int16_t);
}

/* b's element (k, n) as a signed value (unsigned b shifted by -128). */
static inline int32_t b_at(const void *b, bool b_signed, bool trans, int64_t K, int64_t N, int64_t k, int64_t n)
{
    int64_t i = trans ? n * K + k : k * N + n;
    return b_signed ? (int32_t)((const int8_t *)b)[i] : (int32_t)((const uint8_t *)b)[i] - 128;
}

void jn_k_qgemm_pack(int isa, const void *b, bool b_signed, int64_t K, int64_t N, bool trans, void *bp)
{
    if (use_vnni(isa)) {
        int8_t *d = bp;
        int64_t K4 = (K + 3) / 4, panels = (N + NRV - 1) / NRV;
        for (int64_t p = 0; p < panels; p++)
            for (int64_t q = 0; q < K4; q++)
                for (int64_t j = 0; j < NRV; j++)
                    for (int64_t t = 0; t < 4; t++) {
                        int64_t n = p * NRV + j, k = q * 4 + t;
                        *d++ = (int8_t)(n < N && k < K ? b_at(b, b_signed, trans, K, N, k, n) : 0);
                    }
        return;
    }
    int16_t *d = bp;
    int64_t K2 = (K + 1) / 2, panels = (N + NR16 - 1) / NR16;
    if (!trans) { /* row-major [K, N] (a convolution's im2col, packed per call): two rows interleaved */
        int16_t shift = b_signed ? 0 : 128;
        for (int64_t p = 0; p < panels; p++) {
            int64_t n0 = p * NR16, w = N - n0 < NR16 ? N - n0 : NR16;
            for (int64_t q = 0; q < K2; q++, d += 2 * NR16) {
                const uint8_t *r0 = (const uint8_t *)b + 2 * q * N + n0;
                const uint8_t *r1 = 2 * q + 1 < K ? r0 + N : NULL;
                if (w == NR16 && r1) {
#ifdef JN_QX86
                    /* SSE2 (the x86-64 baseline): the two rows' bytes interleaved, sign-extended to int16 */
                    __m128i x0 = _mm_loadu_si128((const __m128i *)r0), x1 = _mm_loadu_si128((const __m128i *)r1);
                    if (!b_signed) {
                        __m128i flip = _mm_set1_epi8((char)0x80); /* b - 128 as int8 */
                        x0 = _mm_xor_si128(x0, flip), x1 = _mm_xor_si128(x1, flip);
                    }
                    __m128i lo = _mm_unpacklo_epi8(x0, x1), hi = _mm_unpackhi_epi8(x0, x1);
                    _mm_storeu_si128((__m128i *)d, _mm_srai_epi16(_mm_unpacklo_epi8(lo, lo), 8));
                    _mm_storeu_si128((__m128i *)(d + 8), _mm_srai_epi16(_mm_unpackhi_epi8(lo, lo), 8));
                    _mm_storeu_si128((__m128i *)(d + 16), _mm_srai_epi16(_mm_unpacklo_epi8(hi, hi), 8));
                    _mm_storeu_si128((__m128i *)(d + 24), _mm_srai_epi16(_mm_unpackhi_epi8(hi, hi), 8));
                    continue;
#endif
                    if (b_signed)
                        for (int64_t j = 0; j < NR16; j++) {
                            d[2 * j] = (int8_t)r0[j];
                            d[2 * j + 1] = (int8_t)r1[j];
                        }
                    else
                        for (int64_t j = 0; j < NR16; j++) {
                            d[2 * j] = (int16_t)(r0[j] - shift);
                            d[2 * j + 1] = (int16_t)(r1[j] - shift);
                        }
                    continue;
                }
                for (int64_t j = 0; j < NR16; j++) {
                    d[2 * j] = (int16_t)(j < w ? (b_signed ? (int8_t)r0[j] : r0[j] - shift) : 0);
                    d[2 * j + 1] = (int16_t)(j < w && r1 ? (b_signed ? (int8_t)r1[j] : r1[j] - shift) : 0);
                }
            }
        }
        return;
    }
    for (int64_t p = 0; p < panels; p++)
        for (int64_t q = 0; q < K2; q++)
            for (int64_t j = 0; j < NR16; j++)
                for (int64_t t = 0; t < 2; t++) {
                    int64_t n = p * NR16 + j, k = q * 2 + t;
                    *d++ = (int16_t)(n < N && k < K ? b_at(b, b_signed, trans, K, N, k, n) : 0);
                }
}

void jn_k_qgemm_colsums(const void *b, bool b_signed, int64_t K, int64_t N, bool trans, int32_t *sums)
{
    for (int64_t n = 0; n < N; n++) {
        uint32_t s = 0;
        for (int64_t k = 0; k < K; k++)
            s += (uint32_t)b_at(b, b_signed, trans, K, N, k, n);
        sums[n] = (int32_t)s;
    }
}

size_t jn_k_qgemm_scratch_bytes(int isa, int64_t K)
{
    (void)isa;
    return (size_t)(TRV > TR16 ? TRV : TR16) * (size_t)((K + 1) / 2) * sizeof(uint32_t);
}

/* Row r of a (lda apart) as unsigned bytes. */
static inline uint32_t a_at(const uint8_t *a, bool a_signed, int64_t lda, int64_t r, int64_t k)
{
    return (uint32_t)(uint8_t)(a[r * lda + k] ^ (a_signed ? 0x80 : 0));
}

/* rows (<= tr) rows of a from row r0 into tr rows of `per` int32 words, `group` k (2 or 4) per word, zero-padded. */
static void convert_rows(const uint8_t *a, bool a_signed, int64_t lda, int64_t r0, int64_t rows, int64_t tr,
                         int64_t K, int group, uint32_t *s)
{
    int64_t per = (K + group - 1) / group;
    for (int64_t r = 0; r < tr; r++) {
        uint32_t *row = s + r * per;
        if (r >= rows) {
            memset(row, 0, (size_t)per * sizeof *row);
            continue;
        }
        if (group == 4) {
            uint8_t *bytes = (uint8_t *)row;
            const uint8_t *src = a + (r0 + r) * lda;
            if (a_signed)
                for (int64_t k = 0; k < K; k++)
                    bytes[k] = src[k] ^ 0x80;
            else
                memcpy(bytes, src, (size_t)K);
            for (int64_t k = K; k < per * 4; k++)
                bytes[k] = 0;
        } else {
            /* pairs of k as int16 (vpmaddwd's pair q is int16 elements 2q and 2q+1): a widening copy */
            uint16_t *half = (uint16_t *)row;
            const uint8_t *src = a + (r0 + r) * lda;
            uint8_t flip = a_signed ? 0x80 : 0;
            for (int64_t k = 0; k < K; k++)
                half[k] = (uint16_t)(src[k] ^ flip);
            if (K & 1)
                half[K] = 0;
        }
    }
}

/* Stores a tile's rows x cols (<= its size) from acc [tr][nr] into c. */
static inline void store_tile(const int32_t *acc, int64_t nr, int64_t rows, int64_t cols, int32_t *c, int64_t ldc)
{
    for (int64_t r = 0; r < rows; r++)
        memcpy(c + r * ldc, acc + r * nr, (size_t)cols * sizeof(int32_t));
}

static void tile_scalar(int64_t K2, const uint32_t *s, const int16_t *panel, int32_t acc[TR16][NR16])
{
    for (int r = 0; r < TR16; r++) {
        uint32_t sum[NR16] = {0};
        for (int64_t q = 0; q < K2; q++) {
            const uint16_t *pair = (const uint16_t *)(s + r * K2 + q);
            int32_t lo = pair[0], hi = pair[1];
            const int16_t *w = panel + q * NR16 * 2;
            for (int j = 0; j < NR16; j++)
                sum[j] += (uint32_t)(lo * w[2 * j] + hi * w[2 * j + 1]);
        }
        for (int j = 0; j < NR16; j++)
            acc[r][j] = (int32_t)sum[j];
    }
}

#ifdef JN_QX86
/* Named accumulators: with an array GCC kept half of them on the stack (a store and a reload per product). */
__attribute__((target("avx2"))) static void tile_avx2(int64_t K2, const uint32_t *s, const int16_t *panel,
                                                      int32_t *out, int64_t ldo)
{
    __m256i c00 = _mm256_setzero_si256(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00;
    __m256i c30 = c00, c31 = c00, c40 = c00, c41 = c00;
    const uint32_t *s0 = s, *s1 = s + K2, *s2 = s + 2 * K2, *s3 = s + 3 * K2, *s4 = s + 4 * K2;
    for (int64_t q = 0; q < K2; q++) {
        __m256i w0 = _mm256_loadu_si256((const __m256i *)(panel + q * 32));
        __m256i w1 = _mm256_loadu_si256((const __m256i *)(panel + q * 32 + 16));
        __m256i a;
#define ROW(cr0, cr1, sr)                                                                                          \
    a = _mm256_set1_epi32((int)sr[q]);                                                                             \
    cr0 = _mm256_add_epi32(cr0, _mm256_madd_epi16(a, w0));                                                         \
    cr1 = _mm256_add_epi32(cr1, _mm256_madd_epi16(a, w1));
        ROW(c00, c01, s0)
        ROW(c10, c11, s1)
        ROW(c20, c21, s2)
        ROW(c30, c31, s3)
        ROW(c40, c41, s4)
#undef ROW
        /* keeps the accumulators in registers: without it GCC 12 carried one through the stack (a store-to-load
         * chain per iteration, half the tile's time) */
        __asm__("" : "+x"(c00), "+x"(c01), "+x"(c10), "+x"(c11), "+x"(c20), "+x"(c21), "+x"(c30), "+x"(c31),
                "+x"(c40), "+x"(c41));
    }
    _Static_assert(TR16 == 5, "tile_avx2 has five rows");
    _mm256_storeu_si256((__m256i *)out, c00), _mm256_storeu_si256((__m256i *)(out + 8), c01);
    _mm256_storeu_si256((__m256i *)(out + ldo), c10), _mm256_storeu_si256((__m256i *)(out + ldo + 8), c11);
    _mm256_storeu_si256((__m256i *)(out + 2 * ldo), c20), _mm256_storeu_si256((__m256i *)(out + 2 * ldo + 8), c21);
    _mm256_storeu_si256((__m256i *)(out + 3 * ldo), c30), _mm256_storeu_si256((__m256i *)(out + 3 * ldo + 8), c31);
    _mm256_storeu_si256((__m256i *)(out + 4 * ldo), c40), _mm256_storeu_si256((__m256i *)(out + 4 * ldo + 8), c41);
}

__attribute__((target("avx512f,avx512bw,avx512vnni"))) static void tile_vnni(int64_t K4, const uint32_t *s,
                                                                             const int8_t *panel,
                                                                             int32_t acc[TRV][NRV])
{
    __m512i c[TRV][2];
    for (int r = 0; r < TRV; r++)
        c[r][0] = c[r][1] = _mm512_setzero_si512();
    for (int64_t q = 0; q < K4; q++) {
        __m512i w0 = _mm512_loadu_si512((const void *)(panel + q * 128));
        __m512i w1 = _mm512_loadu_si512((const void *)(panel + q * 128 + 64));
        for (int r = 0; r < TRV; r++) {
            __m512i av = _mm512_set1_epi32((int)s[r * K4 + q]);
            c[r][0] = _mm512_dpbusd_epi32(c[r][0], av, w0);
            c[r][1] = _mm512_dpbusd_epi32(c[r][1], av, w1);
        }
    }
    for (int r = 0; r < TRV; r++) {
        _mm512_storeu_si512((void *)acc[r], c[r][0]);
        _mm512_storeu_si512((void *)(acc[r] + 16), c[r][1]);
    }
}
#endif

void jn_k_qgemm(int isa, int64_t M, int64_t N, int64_t K, const uint8_t *a, bool a_signed, int64_t lda,
                const void *bp, int32_t *c, int64_t ldc, void *scratch)
{
    uint32_t *s = scratch;
    if (K <= 0) {
        for (int64_t r = 0; r < M; r++)
            memset(c + r * ldc, 0, (size_t)N * sizeof *c);
        return;
    }
#ifdef JN_QX86
    if (use_vnni(isa)) {
        int64_t K4 = (K + 3) / 4;
        int32_t acc[TRV][NRV];
        for (int64_t r0 = 0; r0 < M; r0 += TRV) {
            int64_t rows = M - r0 < TRV ? M - r0 : TRV;
            convert_rows(a, a_signed, lda, r0, rows, TRV, K, 4, s);
            for (int64_t n0 = 0; n0 < N; n0 += NRV) {
                tile_vnni(K4, s, (const int8_t *)bp + n0 * K4 * 4, acc);
                store_tile(&acc[0][0], NRV, rows, N - n0 < NRV ? N - n0 : NRV, c + r0 * ldc + n0, ldc);
            }
        }
        return;
    }
#endif
    int64_t K2 = (K + 1) / 2;
    int32_t acc[TR16][NR16];
    for (int64_t r0 = 0; r0 < M; r0 += TR16) {
        int64_t rows = M - r0 < TR16 ? M - r0 : TR16;
        convert_rows(a, a_signed, lda, r0, rows, TR16, K, 2, s);
        for (int64_t n0 = 0; n0 < N; n0 += NR16) {
            const int16_t *panel = (const int16_t *)bp + n0 * K2 * 2;
#ifdef JN_QX86
            if (isa >= JN_K_AVX2) {
                if (rows == TR16 && N - n0 >= NR16) { /* a whole tile: straight into c */
                    tile_avx2(K2, s, panel, c + r0 * ldc + n0, ldc);
                    continue;
                }
                tile_avx2(K2, s, panel, &acc[0][0], NR16);
            } else
#endif
                tile_scalar(K2, s, panel, acc);
            store_tile(&acc[0][0], NR16, rows, N - n0 < NR16 ? N - n0 : NR16, c + r0 * ldc + n0, ldc);
        }
    }
}

size_t jn_k_qgemm_apack_bytes(int isa, int64_t M, int64_t K)
{
    bool v = use_vnni(isa);
    int64_t tr = v ? TRV : TR16, per = v ? (K + 3) / 4 : (K + 1) / 2;
    return (size_t)((M + tr - 1) / tr * tr * per) * sizeof(uint32_t);
}

void jn_k_qgemm_apack(int isa, const uint8_t *a, bool a_signed, int64_t lda, int64_t M, int64_t K, void *ap)
{
    bool v = use_vnni(isa);
    int64_t tr = v ? TRV : TR16, per = v ? (K + 3) / 4 : (K + 1) / 2;
    for (int64_t r0 = 0, t = 0; r0 < M; r0 += tr, t++)
        convert_rows(a, a_signed, lda, r0, M - r0 < tr ? M - r0 : tr, tr, K, v ? 4 : 2, (uint32_t *)ap + t * tr * per);
}

void jn_k_qgemm_ap(int isa, int64_t M, int64_t N, int64_t K, const void *ap, const void *bp, int32_t *c, int64_t ldc)
{
    if (K <= 0) {
        for (int64_t r = 0; r < M; r++)
            memset(c + r * ldc, 0, (size_t)N * sizeof *c);
        return;
    }
#ifdef JN_QX86
    if (use_vnni(isa)) {
        int64_t K4 = (K + 3) / 4;
        int32_t acc[TRV][NRV];
        for (int64_t r0 = 0, t = 0; r0 < M; r0 += TRV, t++) {
            int64_t rows = M - r0 < TRV ? M - r0 : TRV;
            const uint32_t *s = (const uint32_t *)ap + t * TRV * K4;
            for (int64_t n0 = 0; n0 < N; n0 += NRV) {
                tile_vnni(K4, s, (const int8_t *)bp + n0 * K4 * 4, acc);
                store_tile(&acc[0][0], NRV, rows, N - n0 < NRV ? N - n0 : NRV, c + r0 * ldc + n0, ldc);
            }
        }
        return;
    }
#endif
    int64_t K2 = (K + 1) / 2;
    int32_t acc[TR16][NR16];
    for (int64_t r0 = 0, t = 0; r0 < M; r0 += TR16, t++) {
        int64_t rows = M - r0 < TR16 ? M - r0 : TR16;
        const uint32_t *s = (const uint32_t *)ap + t * TR16 * K2;
        for (int64_t n0 = 0; n0 < N; n0 += NR16) {
            const int16_t *panel = (const int16_t *)bp + n0 * K2 * 2;
#ifdef JN_QX86
            if (isa >= JN_K_AVX2) {
                if (rows == TR16 && N - n0 >= NR16) { /* a whole tile: straight into c */
                    tile_avx2(K2, s, panel, c + r0 * ldc + n0, ldc);
                    continue;
                }
                tile_avx2(K2, s, panel, &acc[0][0], NR16);
            } else
#endif
                tile_scalar(K2, s, panel, acc);
            store_tile(&acc[0][0], NR16, rows, N - n0 < NR16 ? N - n0 : NR16, c + r0 * ldc + n0, ldc);
        }
    }
}

void jn_k_qgemm_rowsums(int64_t M, int64_t K, const uint8_t *a, bool a_signed, int64_t lda, int32_t *sums)
{
    for (int64_t r = 0; r < M; r++) {
        uint32_t s = 0;
        for (int64_t k = 0; k < K; k++)
            s += a_at(a, a_signed, lda, r, k);
        sums[r] = (int32_t)s;
    }
}

/* One requantized value: acc * mult + yz in double, clamped to [lo, hi], rounded half to even (1.5 * 2^52). */
static inline uint8_t requant1(int32_t acc, double mult, double yz, double lo, double hi)
{
    const double magic = 6755399441055744.0;
    double v = (double)acc * mult + yz;
    v = v > lo ? v : lo;
    v = v < hi ? v : hi;
    return (uint8_t)(int32_t)((v + magic) - magic);
}

#ifdef JN_QX86
/* Eight at a time: the same operations in the same order (no FMA), so the same bits. */
__attribute__((target("avx2"))) static void requant_avx2(int64_t n, const int32_t *c, const int32_t *xsum,
                                                         uint32_t za, uint32_t cst, double mult, double yz, double lo,
                                                         double hi, bool is_signed, uint8_t *y, int64_t *done)
{
    const __m256d vm = _mm256_set1_pd(mult), vz = _mm256_set1_pd(yz), vlo = _mm256_set1_pd(lo),
                  vhi = _mm256_set1_pd(hi);
    const __m256i vza = _mm256_set1_epi32((int)za), vcst = _mm256_set1_epi32((int)cst);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256i acc = _mm256_loadu_si256((const __m256i *)(c + i));
        __m256i xs = _mm256_loadu_si256((const __m256i *)(xsum + i));
        acc = _mm256_add_epi32(_mm256_sub_epi32(acc, _mm256_mullo_epi32(vza, xs)), vcst);
        __m256d d0 = _mm256_cvtepi32_pd(_mm256_castsi256_si128(acc));
        __m256d d1 = _mm256_cvtepi32_pd(_mm256_extracti128_si256(acc, 1));
        d0 = _mm256_add_pd(_mm256_mul_pd(d0, vm), vz);
        d1 = _mm256_add_pd(_mm256_mul_pd(d1, vm), vz);
        d0 = _mm256_min_pd(_mm256_max_pd(d0, vlo), vhi);
        d1 = _mm256_min_pd(_mm256_max_pd(d1, vlo), vhi);
        /* the conversion rounds as the current rounding mode says, to nearest even by default: what the scalar
         * loop's 1.5 * 2^52 addition does in that same mode */
        __m128i i0 = _mm256_cvtpd_epi32(d0), i1 = _mm256_cvtpd_epi32(d1);
        __m128i w = _mm_packs_epi32(i0, i1);
        __m128i b = is_signed ? _mm_packs_epi16(w, w) : _mm_packus_epi16(w, w);
        _mm_storel_epi64((__m128i *)(y + i), b);
    }
    *done = i;
}
#endif

void jn_k_requant(int isa, int64_t n, const int32_t *c, const int32_t *xsum, uint32_t za, uint32_t cst,
                  double mult, double yz, double lo, double hi, bool is_signed, uint8_t *y)
{
    int64_t i = 0;
#ifdef JN_QX86
    if (isa >= JN_K_AVX2)
        requant_avx2(n, c, xsum, za, cst, mult, yz, lo, hi, is_signed, y, &i);
#else
    (void)isa, (void)is_signed;
#endif
    for (; i < n; i++)
        y[i] = requant1((int32_t)((uint32_t)c[i] - za * (uint32_t)xsum[i] + cst), mult, yz, lo, hi);
}

/* One quantized value: x / scale in FP32 (NaN -> 0), rounded half to even, plus zp, saturated to [lo, hi]. */
static inline uint8_t quantize1(float x, float scale, float zp, float lo, float hi)
{
    float q = x / scale;
    q = q == q ? nearbyintf(q) : 0; /* default rounding mode: to nearest even */
    q += zp; /* exact below 2^24; above, any rounding stays beyond the bounds */
    q = q > lo ? q : lo;
    q = q < hi ? q : hi;
    return (uint8_t)(int32_t)q;
}

#ifdef JN_QX86
/* Sixteen at a time: the same division, rounding and saturation, so the same bits. */
__attribute__((target("avx2"))) static void quantize_avx2(int64_t n, const float *x, float scale, float zp,
                                                          float lo, float hi, bool is_signed, uint8_t *y,
                                                          int64_t *done)
{
    const __m256 vs = _mm256_set1_ps(scale), vz = _mm256_set1_ps(zp), vlo = _mm256_set1_ps(lo),
                 vhi = _mm256_set1_ps(hi);
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m256 q0 = _mm256_div_ps(_mm256_loadu_ps(x + i), vs), q1 = _mm256_div_ps(_mm256_loadu_ps(x + i + 8), vs);
        q0 = _mm256_and_ps(q0, _mm256_cmp_ps(q0, q0, _CMP_ORD_Q)); /* NaN -> 0 */
        q1 = _mm256_and_ps(q1, _mm256_cmp_ps(q1, q1, _CMP_ORD_Q));
        q0 = _mm256_add_ps(_mm256_round_ps(q0, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC), vz);
        q1 = _mm256_add_ps(_mm256_round_ps(q1, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC), vz);
        q0 = _mm256_min_ps(_mm256_max_ps(q0, vlo), vhi);
        q1 = _mm256_min_ps(_mm256_max_ps(q1, vlo), vhi);
        __m256i w = _mm256_packs_epi32(_mm256_cvtps_epi32(q0), _mm256_cvtps_epi32(q1)); /* lanes 0 2 1 3 */
        __m128i lo16 = _mm256_castsi256_si128(w), hi16 = _mm256_extracti128_si256(w, 1);
        __m128i b = is_signed ? _mm_packs_epi16(lo16, hi16) : _mm_packus_epi16(lo16, hi16);
        _mm_storeu_si128((__m128i *)(y + i), _mm_shuffle_epi32(b, _MM_SHUFFLE(3, 1, 2, 0)));
    }
    *done = i;
}
#endif

void jn_k_quantize8(int isa, int64_t n, const float *x, float scale, int32_t zp, bool is_signed, uint8_t *y)
{
    float lo = is_signed ? -128.0f : 0.0f, hi = is_signed ? 127.0f : 255.0f, z = (float)zp;
    int64_t i = 0;
#ifdef JN_QX86
    if (isa >= JN_K_AVX2)
        quantize_avx2(n, x, scale, z, lo, hi, is_signed, y, &i);
#else
    (void)isa;
#endif
    for (; i < n; i++)
        y[i] = quantize1(x[i], scale, z, lo, hi);
}

static inline int32_t acc_at(const int32_t *c, const int32_t *xsum, uint32_t za, uint32_t cst, int64_t i)
{
    return (int32_t)((uint32_t)c[i] - za * (uint32_t)xsum[i] + cst);
}

#ifdef JN_QX86
/* Even W: hm[k] = max(acc(2k), acc(2k + 1)) for k < n (the rows' pairs, flat across the plane), eight at a time. */
__attribute__((target("avx2"))) static void qpool2_pairs_avx2(int64_t n, const int32_t *c, const int32_t *x,
                                                              uint32_t za, uint32_t cst, int32_t *hm, int64_t *done)
{
    const __m256i vza = _mm256_set1_epi32((int)za), vcst = _mm256_set1_epi32((int)cst);
    int64_t k = 0;
    for (; k + 8 <= n; k += 8) {
        const int32_t *c0 = c + 2 * k, *x0 = x + 2 * k;
        __m256i a0 = _mm256_sub_epi32(_mm256_loadu_si256((const __m256i *)c0),
                                      _mm256_mullo_epi32(vza, _mm256_loadu_si256((const __m256i *)x0)));
        __m256i a1 = _mm256_sub_epi32(_mm256_loadu_si256((const __m256i *)(c0 + 8)),
                                      _mm256_mullo_epi32(vza, _mm256_loadu_si256((const __m256i *)(x0 + 8))));
        __m256 f0 = _mm256_castsi256_ps(_mm256_add_epi32(a0, vcst));
        __m256 f1 = _mm256_castsi256_ps(_mm256_add_epi32(a1, vcst));
        __m256i ev = _mm256_castps_si256(_mm256_shuffle_ps(f0, f1, _MM_SHUFFLE(2, 0, 2, 0)));
        __m256i od = _mm256_castps_si256(_mm256_shuffle_ps(f0, f1, _MM_SHUFFLE(3, 1, 3, 1)));
        __m256i r = _mm256_max_epi32(ev, od); /* pairs 0 1 4 5 | 2 3 6 7 */
        _mm256_storeu_si256((__m256i *)(hm + k), _mm256_permute4x64_epi64(r, _MM_SHUFFLE(3, 1, 2, 0)));
    }
    *done = k;
}

/* y[ph][0..PW) = max(hm[2ph][..], hm[2ph + 1][..]), eight at a time, running up to 7 past each row (the next row
 * overwrites it; hm and y have 8 to spare at the end). */
__attribute__((target("avx2"))) static void qpool2_rows_avx2(int64_t PH, int64_t PW, const int32_t *hm, int32_t *y)
{
    for (int64_t ph = 0; ph < PH; ph++) {
        const int32_t *h0 = hm + 2 * ph * PW, *h1 = h0 + PW;
        for (int64_t pw = 0; pw < PW; pw += 8)
            _mm256_storeu_si256((__m256i *)(y + ph * PW + pw),
                                _mm256_max_epi32(_mm256_loadu_si256((const __m256i *)(h0 + pw)),
                                                 _mm256_loadu_si256((const __m256i *)(h1 + pw))));
    }
}
#endif

void jn_k_qpool2_acc(int isa, int64_t H, int64_t W, const int32_t *c, const int32_t *xsum, uint32_t za, uint32_t cst,
                     int32_t *hm, int32_t *y)
{
    int64_t PH = H / 2, PW = W / 2;
    if (W % 2 == 0) { /* pairs never straddle two rows: pairs first, flat, then the rows */
        int64_t n = PH * W, k = 0;
#ifdef JN_QX86
        if (isa >= JN_K_AVX2) {
            qpool2_pairs_avx2(n, c, xsum, za, cst, hm, &k);
            for (; k < n; k++) {
                int32_t a = acc_at(c, xsum, za, cst, 2 * k), b = acc_at(c, xsum, za, cst, 2 * k + 1);
                hm[k] = a > b ? a : b;
            }
            qpool2_rows_avx2(PH, PW, hm, y);
            return;
        }
#endif
        for (; k < n; k++) {
            int32_t a = acc_at(c, xsum, za, cst, 2 * k), b = acc_at(c, xsum, za, cst, 2 * k + 1);
            hm[k] = a > b ? a : b;
        }
        for (int64_t ph = 0; ph < PH; ph++)
            for (int64_t pw = 0; pw < PW; pw++) {
                int32_t a = hm[2 * ph * PW + pw], b = hm[(2 * ph + 1) * PW + pw];
                y[ph * PW + pw] = a > b ? a : b;
            }
        return;
    }
    (void)isa;
    for (int64_t ph = 0; ph < PH; ph++)
        for (int64_t pw = 0; pw < PW; pw++) {
            int64_t r0 = 2 * ph * W + 2 * pw, r1 = r0 + W;
            int32_t a = acc_at(c, xsum, za, cst, r0), b = acc_at(c, xsum, za, cst, r0 + 1);
            int32_t e = acc_at(c, xsum, za, cst, r1), f = acc_at(c, xsum, za, cst, r1 + 1);
            int32_t m0 = a > b ? a : b, m1 = e > f ? e : f;
            y[ph * PW + pw] = m0 > m1 ? m0 : m1;
        }
}

void jn_k_maxpool2_8(int64_t planes, int64_t H, int64_t W, bool is_signed, const uint8_t *x, uint8_t *y)
{
    int64_t PH = H / 2, PW = W / 2;
    uint8_t flip = is_signed ? 0x80 : 0; /* signed bytes compare as unsigned once their top bit is flipped */
    for (int64_t p = 0; p < planes; p++)
        for (int64_t ph = 0; ph < PH; ph++) {
            const uint8_t *r0 = x + (p * H + 2 * ph) * W, *r1 = r0 + W;
            uint8_t *d = y + (p * PH + ph) * PW;
            int64_t pw = 0;
#ifdef JN_QX86
            /* eight outputs from 16 bytes of each row: the rows' max, then each pair's (SSE2, the x86-64 base) */
            const __m128i vf = _mm_set1_epi8((char)flip), low = _mm_set1_epi16(0x00ff);
            for (; pw + 8 <= PW; pw += 8) {
                __m128i a = _mm_xor_si128(_mm_loadu_si128((const __m128i *)(r0 + 2 * pw)), vf);
                __m128i b = _mm_xor_si128(_mm_loadu_si128((const __m128i *)(r1 + 2 * pw)), vf);
                __m128i m = _mm_max_epu8(a, b);
                m = _mm_and_si128(_mm_max_epu8(m, _mm_srli_epi16(m, 8)), low);
                _mm_storel_epi64((__m128i *)(d + pw), _mm_xor_si128(_mm_packus_epi16(m, m), vf));
            }
#endif
            for (; pw < PW; pw++) {
                uint8_t a0 = r0[2 * pw] ^ flip, a1 = r0[2 * pw + 1] ^ flip;
                uint8_t b0 = r1[2 * pw] ^ flip, b1 = r1[2 * pw + 1] ^ flip;
                uint8_t m0 = a0 > a1 ? a0 : a1, m1 = b0 > b1 ? b0 : b1;
                d[pw] = (uint8_t)((m0 > m1 ? m0 : m1) ^ flip);
            }
        }
}
