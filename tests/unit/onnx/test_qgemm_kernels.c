/* test_qgemm_kernels.c — the integer product (kernels/gemm_u8s8.c) against a plain int32 triple loop written from
 * the definition (sum over k of (a - za) (b - zb), zero points applied the way jn_kernels.h tells callers to), bit
 * for bit, at every instruction-set level the CPU has (jn_k_isa_forced): odd M, N, K (1, 2, 3, 5, 7, 15, 17, 31,
 * 33, 63, 65, 97, 290: not multiples of the tile's rows, columns or k groups), K = 1, unsigned and signed
 * activations, signed and unsigned weights, transposed weights, zero points 0, 128, 255 (and -128, 127 for signed
 * types), full-range weights (-128 and 127 dense, where vpmaddubsw would saturate), extreme operands (all 255 x all
 * -128) and a row stride larger than K; a packed once as well (jn_k_qgemm_ap) must give the same sums. Outputs
 * are poisoned before each run so an element left unwritten fails. The 7-bit rows kernel (gemm_s7u8.c,
 * vpmaddubsw) against the definition and the widened kernel, at its saturation edge (255 x -64 and 255 x 64
 * everywhere, K = 4095 and 4097). The requantization kernel (jn_k_requant) against the definition written out
 * with nearbyint, and the quantization of floats (jn_k_quantize8: .5 quotients, infinities, NaN, odd lengths)
 * against QuantizeLinear's definition; the 8-bit 2x2 max pooling (jn_k_maxpool2_8) against a plain loop, and the
 * pooling of sums before requantizing (jn_k_qpool2_acc) against the definition and against pooling the bytes. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jn_kernels.h"
#include "test.h"

static unsigned rng = 12345;
static unsigned next(void)
{
    rng = rng * 1103515245u + 12345u;
    return rng >> 8;
}

/* 0: random; 1: extremes only (0/255 for a, -128/127 for b); 2: all at the maximum magnitude */
static uint8_t rand_byte(int mode, bool for_b)
{
    if (mode == 1)
        return (next() & 1) ? (for_b ? 0x80 : 0xff) : (for_b ? 0x7f : 0x00);
    if (mode == 2)
        return for_b ? 0x80 : 0xff;
    return (uint8_t)next();
}

static int32_t val(uint8_t byte, bool is_signed)
{
    return is_signed ? (int32_t)(int8_t)byte : (int32_t)byte;
}

static int run_case(int isa, int64_t M, int64_t N, int64_t K, bool a_signed, bool b_signed, bool trans, int mode,
                    int32_t za, int32_t zb)
{
    int64_t lda = K + (int64_t)(next() % 3);
    uint8_t *a = malloc((size_t)(M * lda + 1)), *b = malloc((size_t)(K * N + 1));
    for (int64_t i = 0; i < M * lda; i++)
        a[i] = rand_byte(mode, false);
    for (int64_t i = 0; i < K * N; i++)
        b[i] = rand_byte(mode, true);
    /* the reference, from the definition */
    int32_t *want = malloc((size_t)(M * N) * sizeof *want);
    for (int64_t m = 0; m < M; m++)
        for (int64_t n = 0; n < N; n++) {
            int32_t s = 0;
            for (int64_t k = 0; k < K; k++)
                s += (val(a[m * lda + k], a_signed) - za) * (val(b[trans ? n * K + k : k * N + n], b_signed) - zb);
            want[m * N + n] = s;
        }
    /* the kernel, with the zero-point corrections jn_kernels.h describes */
    void *bp = malloc(jn_k_qgemm_packed_bytes(isa, N, K) + 1);
    void *scratch = malloc(jn_k_qgemm_scratch_bytes(isa, K) + 1);
    int32_t *colsum = malloc((size_t)N * sizeof(int32_t) + 4), *rowsum = malloc((size_t)M * sizeof(int32_t) + 4);
    int64_t ldc = N + 3;
    int32_t *c = malloc((size_t)(M * ldc) * sizeof *c);
    for (int64_t i = 0; i < M * ldc; i++)
        c[i] = 0x5a5a5a5a;
    jn_k_qgemm_pack(isa, b, b_signed, K, N, trans, bp);
    jn_k_qgemm_colsums(b, b_signed, K, N, trans, colsum);
    jn_k_qgemm_rowsums(M, K, a, a_signed, lda, rowsum);
    jn_k_qgemm(isa, M, N, K, a, a_signed, lda, bp, c, ldc, scratch);
    /* the same raw sums with a packed too (jn_k_qgemm_apack / jn_k_qgemm_ap: a convolution's weights) */
    void *ap = malloc(jn_k_qgemm_apack_bytes(isa, M, K) + 1);
    int32_t *c2 = malloc((size_t)(M * N) * sizeof *c2 + 1);
    jn_k_qgemm_apack(isa, a, a_signed, lda, M, K, ap);
    jn_k_qgemm_ap(isa, M, N, K, ap, bp, c2, N);
    int raw_bad = 0;
    for (int64_t m = 0; m < M; m++)
        for (int64_t n = 0; n < N; n++)
            raw_bad += c2[m * N + n] != c[m * ldc + n];
    if (raw_bad)
        fprintf(stderr, "%s M=%lld N=%lld K=%lld: jn_k_qgemm_ap differs from jn_k_qgemm in %d sums\n",
                jn_k_qgemm_kernel(isa), (long long)M, (long long)N, (long long)K, raw_bad);
    free(ap), free(c2);
    int32_t zau = a_signed ? za + 128 : za, zbs = b_signed ? zb : zb - 128;
    int bad = raw_bad ? 1 : 0;
    for (int64_t m = 0; m < M && bad < 3; m++)
        for (int64_t n = 0; n < N && bad < 3; n++) {
            uint32_t got = (uint32_t)c[m * ldc + n] - (uint32_t)zau * (uint32_t)colsum[n] -
                           (uint32_t)zbs * (uint32_t)rowsum[m] + (uint32_t)K * (uint32_t)zau * (uint32_t)zbs;
            if ((int32_t)got != want[m * N + n]) {
                fprintf(stderr,
                        "%s M=%lld N=%lld K=%lld a_signed=%d b_signed=%d trans=%d mode=%d za=%d zb=%d: (%lld,%lld) "
                        "got %d want %d\n",
                        jn_k_qgemm_kernel(isa), (long long)M, (long long)N, (long long)K, a_signed, b_signed, trans,
                        mode, za, zb, (long long)m, (long long)n, (int32_t)got, want[m * N + n]);
                bad++;
            }
        }
    /* the padding between rows is left alone */
    for (int64_t m = 0; m < M && !bad; m++)
        for (int64_t n = N; n < ldc; n++)
            if (c[m * ldc + n] != 0x5a5a5a5a)
                bad++;
    free(a), free(b), free(want), free(bp), free(scratch), free(colsum), free(rowsum), free(c);
    return bad;
}

static void test_odd_shapes(void)
{
    static const int64_t dims[] = {1, 2, 3, 5, 7, 15, 17, 31, 33, 63, 65, 97, 290};
    enum { ND = sizeof dims / sizeof dims[0] };
    for (int isa = JN_K_SSE2; isa <= jn_k_isa_cpu(); isa++) {
        jn_k_isa_forced = isa;
        int ran = 0;
        for (int i = 0; i < 260; i++) {
            int64_t M = dims[next() % ND], N = dims[next() % ND], K = i % 7 == 0 ? 1 : dims[next() % ND];
            bool a_signed = next() & 1, b_signed = (next() % 4) != 0, trans = next() & 1;
            static const int32_t uz[] = {0, 128, 255, 3}, sz[] = {0, -128, 127, -5};
            int32_t za = a_signed ? sz[next() % 4] : uz[next() % 4];
            int32_t zb = next() % 3 ? 0 : (b_signed ? sz[next() % 4] : uz[next() % 4]);
            JN_CHECK_INT_EQ(run_case(isa, M, N, K, a_signed, b_signed, trans, (int)(next() % 3), za, zb), 0);
            ran++;
        }
        printf("  %s (level %s): %d cases\n", jn_k_qgemm_kernel(isa), jn_k_isa_name(isa), ran);
    }
    jn_k_isa_forced = 0;
}

/* The full-range case spelled out: 255 x -128 over K = 4096 (the saturating pair sum would be off at once). */
static void test_full_range(void)
{
    for (int isa = JN_K_SSE2; isa <= jn_k_isa_cpu(); isa++) {
        JN_CHECK_INT_EQ(run_case(isa, 9, 35, 4096, false, true, false, 2, 0, 0), 0);
        JN_CHECK_INT_EQ(run_case(isa, 9, 35, 4095, false, true, true, 1, 255, 0), 0);
        JN_CHECK_INT_EQ(run_case(isa, 1, 1, 1, false, true, false, 2, 128, 0), 0);
    }
}

/* The 7-bit rows path (gemm_s7u8.c, vpmaddubsw on AVX2): rows a whose values as the kernel sees them, minus 128,
 * lie in [-64, 64] (signed a in [-64, 64], unsigned a in [64, 192]); columns b row-major. mode 0: random within
 * the range; 1: extremes only (a at -64 or 64, b at its type's minimum or maximum); 2: all at the maximum magnitude
 * the pair sum can reach (b_u 255 x a_s -64 or 64, the saturation edge 255 * 64 * 2 = 32640). Against the
 * definition, the widened jn_k_qgemm_ap, and bsum against the column sums. */
static uint8_t rand_a7(int mode, bool a_signed, bool neg)
{
    int32_t v = mode == 0 ? (int32_t)(next() % 129) - 64 : mode == 1 ? ((next() & 1) ? 64 : -64) : (neg ? -64 : 64);
    return a_signed ? (uint8_t)(int8_t)v : (uint8_t)(v + 128);
}

static int run_case7(int isa, int64_t M, int64_t N, int64_t K, bool a_signed, bool b_signed, int mode, bool neg,
                     int32_t za, int32_t zb)
{
    int64_t lda = K + (int64_t)(next() % 3);
    uint8_t *a = malloc((size_t)(M * lda + 1)), *b = malloc((size_t)(K * N + 1));
    for (int64_t i = 0; i < M * lda; i++)
        a[i] = rand_a7(mode, a_signed, neg);
    for (int64_t i = 0; i < K * N; i++) /* b_u = 255 (unsigned 255, signed 127) in mode 2 */
        b[i] = mode == 2 ? (b_signed ? 0x7f : 0xff) : mode == 1 ? ((next() & 1) ? 0x80 : 0x7f) : (uint8_t)next();
    if (!jn_k_qgemm_rows_fit7(a, a_signed, lda, M, K)) {
        fprintf(stderr, "jn_k_qgemm_rows_fit7 refused 7-bit rows\n");
        free(a), free(b);
        return 1;
    }
    int32_t *want = malloc((size_t)(M * N) * sizeof *want + 1);
    for (int64_t m = 0; m < M; m++)
        for (int64_t n = 0; n < N; n++) {
            int32_t s = 0;
            for (int64_t k = 0; k < K; k++)
                s += (val(a[m * lda + k], a_signed) - za) * (val(b[k * N + n], b_signed) - zb);
            want[m * N + n] = s;
        }
    void *ap = malloc(jn_k_qgemm7_apack_bytes(M, K) + 1), *bp = malloc(jn_k_qgemm7_packed_bytes(N, K) + 1);
    void *ap16 = malloc(jn_k_qgemm_apack_bytes(isa, M, K) + 1), *bp16 = malloc(jn_k_qgemm_packed_bytes(isa, N, K) + 1);
    int64_t ldc = N + 2;
    int32_t *c = malloc((size_t)(M * ldc) * sizeof *c + 1), *c16 = malloc((size_t)(M * N) * sizeof *c16 + 1);
    int32_t *bsum = malloc((size_t)N * sizeof *bsum + 1), *colsum = malloc((size_t)N * sizeof *colsum + 1);
    int32_t *rowsum = malloc((size_t)M * sizeof *rowsum + 1);
    for (int64_t i = 0; i < M * ldc; i++)
        c[i] = 0x5a5a5a5a;
    jn_k_qgemm7_apack(a, a_signed, lda, M, K, ap);
    jn_k_qgemm7_pack(isa, b, b_signed, K, N, bp);
    jn_k_qgemm7_ap(isa, M, N, K, ap, bp, c, ldc, bsum);
    jn_k_qgemm_apack(isa, a, a_signed, lda, M, K, ap16);
    jn_k_qgemm_pack(isa, b, b_signed, K, N, false, bp16);
    jn_k_qgemm_ap(isa, M, N, K, ap16, bp16, c16, N);
    jn_k_qgemm_colsums(b, b_signed, K, N, false, colsum);
    jn_k_qgemm_rowsums(M, K, a, a_signed, lda, rowsum);
    int32_t zau = a_signed ? za + 128 : za, zbs = b_signed ? zb : zb - 128;
    int bad = 0;
    for (int64_t n = 0; n < N; n++)
        bad += bsum[n] != colsum[n];
    for (int64_t m = 0; m < M; m++)
        for (int64_t n = 0; n < N; n++) {
            int32_t raw = c[m * ldc + n];
            uint32_t got = (uint32_t)raw - (uint32_t)zau * (uint32_t)colsum[n] - (uint32_t)zbs * (uint32_t)rowsum[m] +
                           (uint32_t)K * (uint32_t)zau * (uint32_t)zbs;
            if ((raw != c16[m * N + n] || (int32_t)got != want[m * N + n]) && bad++ < 3)
                fprintf(stderr,
                        "7-bit %s M=%lld N=%lld K=%lld a_signed=%d b_signed=%d mode=%d: (%lld,%lld) raw %d widened %d "
                        "got %d want %d\n",
                        jn_k_isa_name(isa), (long long)M, (long long)N, (long long)K, a_signed, b_signed, mode,
                        (long long)m, (long long)n, raw, c16[m * N + n], (int32_t)got, want[m * N + n]);
        }
    for (int64_t m = 0; m < M; m++)
        for (int64_t n = N; n < ldc; n++)
            bad += c[m * ldc + n] != 0x5a5a5a5a;
    free(a), free(b), free(want), free(ap), free(bp), free(ap16), free(bp16), free(c), free(c16), free(bsum);
    free(colsum), free(rowsum);
    return bad;
}

static void test_seven_bit(void)
{
    static const int64_t dims[] = {1, 2, 3, 4, 5, 6, 7, 15, 16, 17, 31, 33, 63, 65, 97, 290};
    enum { ND = sizeof dims / sizeof dims[0] };
    for (int isa = JN_K_SSE2; isa <= jn_k_isa_cpu(); isa++) {
        int ran = 0;
        for (int i = 0; i < 260; i++) {
            int64_t M = dims[next() % ND], N = dims[next() % ND], K = i % 7 == 0 ? 1 : dims[next() % ND];
            bool a_signed = (next() % 4) != 0, b_signed = next() & 1;
            static const int32_t uz[] = {0, 128, 255, 3}, sz[] = {0, -128, 127, -5};
            int32_t za = next() % 3 ? 0 : (a_signed ? sz[next() % 4] : uz[next() % 4]);
            int32_t zb = b_signed ? sz[next() % 4] : uz[next() % 4];
            JN_CHECK_INT_EQ(run_case7(isa, M, N, K, a_signed, b_signed, (int)(next() % 3), next() & 1, za, zb), 0);
            ran++;
        }
        /* the saturation edge spelled out: 255 x 64 and 255 x -64 everywhere, K odd and long */
        JN_CHECK_INT_EQ(run_case7(isa, 11, 35, 4095, true, false, 2, false, 0, 0), 0);
        JN_CHECK_INT_EQ(run_case7(isa, 11, 35, 4095, true, false, 2, true, 0, 0), 0);
        JN_CHECK_INT_EQ(run_case7(isa, 6, 17, 4097, false, true, 2, true, 192, 127), 0);
        JN_CHECK_INT_EQ(run_case7(isa, 1, 1, 1, true, false, 2, true, 0, 255), 0);
        printf("  7-bit rows (level %s): %d cases + 4 extremes\n", jn_k_isa_name(isa), ran);
    }
    /* a value one step outside the range is refused */
    uint8_t w[6] = {0, 64, 0xc0, 65, 0, 0}; /* signed 65 */
    JN_CHECK(!jn_k_qgemm_rows_fit7(w, true, 3, 2, 3));
    JN_CHECK(jn_k_qgemm_rows_fit7(w, true, 3, 1, 3));
    uint8_t u[2] = {192, 63}; /* unsigned: 63 - 128 = -65 */
    JN_CHECK(!jn_k_qgemm_rows_fit7(u, false, 2, 1, 2));
    JN_CHECK(jn_k_qgemm_rows_fit7(u, false, 2, 1, 1));
}

/* jn_k_requant at every level against the definition written out here (double, round half to even by nearbyint),
 * on values that land exactly on .5 (half-even matters), far outside the range, and Relu's raised lower bound. */
static void test_requant(void)
{
    enum { N = 1037 };
    int32_t c[N], xs[N];
    uint8_t got[N];
    for (int isa = JN_K_SSE2; isa <= jn_k_isa_cpu(); isa++) {
        int bad = 0;
        for (int round = 0; round < 40; round++) {
            bool is_signed = round & 1;
            double mult = round % 3 == 0 ? 0.5 : round % 3 == 1 ? 0.25 : (double)(float)(0.0001 + 0.001 * round);
            double yz = is_signed ? (double)(int)(next() % 256) - 128 : (double)(next() % 256);
            double lo = is_signed ? -128 : 0, hi = is_signed ? 127 : 255;
            if (round % 4 == 2)
                lo = yz; /* a fused Relu */
            uint32_t za = next() % 256, cst = next();
            for (int i = 0; i < N; i++) {
                c[i] = (int32_t)(next() % 2 ? next() % 2000 : next() << 8) - 1000;
                xs[i] = (int32_t)(next() % 4096);
            }
            jn_k_requant(isa, N, c, xs, za, cst, mult, yz, lo, hi, is_signed, got);
            for (int i = 0; i < N; i++) {
                int32_t acc = (int32_t)((uint32_t)c[i] - za * (uint32_t)xs[i] + cst);
                double v = nearbyint((double)acc * mult + yz);
                v = v < lo ? lo : v > hi ? hi : v;
                uint8_t want = (uint8_t)(int32_t)v;
                if (got[i] != want && bad++ < 3)
                    fprintf(stderr, "requant %s: acc %d mult %g yz %g: got %u want %u\n", jn_k_isa_name(isa), acc,
                            mult, yz, got[i], want);
            }
        }
        JN_CHECK_INT_EQ(bad, 0);
    }
}

/* jn_k_quantize8 at every level against QuantizeLinear's definition written out here (FP32 quotient, NaN as 0,
 * nearbyint: half to even, plus the zero point, saturated): quotients exactly on .5 (a power-of-two scale),
 * random values around the range, infinities, NaN, signed zeros, denormals, FLT_MAX; odd lengths (the vector
 * loop's tail), unsigned and signed outputs with zero points at both ends of the range. */
static void test_quantize(void)
{
    enum { N = 1037 };
    float x[N];
    uint8_t got[N];
    static const float specials[] = {INFINITY, -INFINITY, NAN, -NAN, 0.0f, -0.0f, 1e-45f, -1e-45f, 3.4028235e38f,
                                     -3.4028235e38f, 1e30f, -1e30f, 0.5f, -0.5f, 1.5f, -2.5f};
    static const int32_t zps[2][3] = {{0, 128, 255}, {-128, 0, 127}};
    for (int isa = JN_K_SSE2; isa <= jn_k_isa_cpu(); isa++) {
        int bad = 0;
        for (int round = 0; round < 24; round++) {
            bool is_signed = round & 1;
            int32_t zp = zps[is_signed][round / 2 % 3];
            float scale = round % 4 < 2 ? 0.0078125f : (float)(1.0 / 255) * (float)(1 + round);
            for (int i = 0; i < N; i++) {
                int kind = (int)(next() % 8);
                if (kind == 0)
                    x[i] = specials[next() % (sizeof specials / sizeof specials[0])];
                else if (kind < 4) /* k + 0.5 steps: exact in FP32 with the power-of-two scale */
                    x[i] = ((float)((int)(next() % 800) - 400) + 0.5f) * scale;
                else
                    x[i] = ((float)(next() % 2000001) / 1000000.0f - 1.0f) * 300.0f * scale;
            }
            int64_t n = N - round % 5; /* 1033 .. 1037 */
            memset(got, 0xa5, sizeof got);
            jn_k_quantize8(isa, n, x, scale, zp, is_signed, got);
            for (int64_t i = 0; i < N; i++) {
                if (i >= n) {
                    if (got[i] != 0xa5 && bad++ < 3)
                        fprintf(stderr, "quantize %s: wrote past n at %lld\n", jn_k_isa_name(isa), (long long)i);
                    continue;
                }
                float q = x[i] / scale;
                double v = isnan(q) ? 0 : nearbyint((double)q);
                v += zp;
                double lo = is_signed ? -128 : 0, hi = is_signed ? 127 : 255;
                v = v < lo ? lo : v > hi ? hi : v;
                uint8_t want = (uint8_t)(int32_t)v;
                if (got[i] != want && bad++ < 3)
                    fprintf(stderr, "quantize %s: x %g scale %g zp %d: got %u want %u\n", jn_k_isa_name(isa),
                            (double)x[i], (double)scale, zp, got[i], want);
            }
        }
        JN_CHECK_INT_EQ(bad, 0);
    }
}

/* jn_k_maxpool2_8 against the definition: planes of odd and even sizes (the vector loop's eight outputs and its
 * tail), bytes drawn mostly from 0x00, 0x7f, 0x80, 0xff (where signed and unsigned order differ), both types. */
static void test_maxpool2(void)
{
    static const int64_t sizes[][2] = {{2, 2}, {3, 5}, {7, 37}, {28, 28}, {14, 14}, {5, 16}, {4, 33}, {1, 40}};
    static const uint8_t edges[] = {0x00, 0x7f, 0x80, 0xff, 0x01, 0xfe};
    int bad = 0;
    for (size_t t = 0; t < sizeof sizes / sizeof sizes[0]; t++)
        for (int is_signed = 0; is_signed < 2; is_signed++) {
            int64_t planes = 3, H = sizes[t][0], W = sizes[t][1], PH = H / 2, PW = W / 2;
            uint8_t *x = malloc((size_t)(planes * H * W)), *y = malloc((size_t)(planes * PH * PW) + 1);
            JN_REQUIRE(x && y);
            for (int64_t i = 0; i < planes * H * W; i++)
                x[i] = next() % 2 ? edges[next() % 6] : (uint8_t)next();
            memset(y, 0xa5, (size_t)(planes * PH * PW) + 1);
            jn_k_maxpool2_8(planes, H, W, is_signed, x, y);
            for (int64_t p = 0; p < planes; p++)
                for (int64_t i = 0; i < PH; i++)
                    for (int64_t j = 0; j < PW; j++) {
                        int best = -1000;
                        for (int a = 0; a < 2; a++)
                            for (int b = 0; b < 2; b++) {
                                uint8_t v = x[(p * H + 2 * i + a) * W + 2 * j + b];
                                int vv = is_signed ? (int)(int8_t)v : (int)v;
                                best = vv > best ? vv : best;
                            }
                        uint8_t got = y[(p * PH + i) * PW + j];
                        if (got != (uint8_t)best && bad++ < 3)
                            fprintf(stderr, "maxpool2 %lldx%lld %s at (%lld,%lld,%lld): got %u want %u\n",
                                    (long long)H, (long long)W, is_signed ? "s8" : "u8", (long long)p, (long long)i,
                                    (long long)j, got, (uint8_t)best);
                    }
            JN_CHECK_INT_EQ(y[planes * PH * PW], 0xa5);
            free(x), free(y);
        }
    JN_CHECK_INT_EQ(bad, 0);
}

/* jn_k_qpool2_acc at every level against the definition (the max of c - za * xsum + cst, wrapping, over each 2x2
 * window): plane sizes around the vector loop's 16 columns (odd ones drop their last row or column), sums that wrap
 * and sit at INT32_MIN / INT32_MAX; then the pooled-then-requantized bytes equal the requantized-then-pooled ones
 * (the monotonicity the fused convolution relies on), multipliers 0, tiny, 1 and large. */
static void test_qpool2_acc(void)
{
    static const int64_t sizes[][2] = {{2, 2}, {3, 5}, {7, 37}, {28, 28}, {14, 14}, {5, 16}, {4, 33}, {2, 48}};
    static const double mults[] = {0.0, 1e-7, 0.0123, 1.0, 3e5};
    int bad = 0;
    for (int isa = JN_K_SSE2; isa <= jn_k_isa_cpu(); isa++)
        for (size_t t = 0; t < sizeof sizes / sizeof sizes[0]; t++) {
            int64_t H = sizes[t][0], W = sizes[t][1], PH = H / 2, PW = W / 2;
            int32_t *c = malloc((size_t)(H * W) * 4), *xs = malloc((size_t)(H * W) * 4);
            int32_t *y = malloc(JN_K_QPOOL2_Y(H, W) * 4), *hm = malloc(JN_K_QPOOL2_HM(H, W) * 4);
            uint8_t *q = malloc((size_t)(H * W)), *qp = malloc((size_t)(PH * PW) + 1);
            uint8_t *pq = malloc((size_t)(PH * PW) + 1);
            JN_REQUIRE(c && xs && y && hm && q && qp && pq);
            for (int round = 0; round < 6; round++) {
                uint32_t za = round == 0 ? 0 : round == 1 ? 128 : next() % 256, cst = next();
                for (int64_t i = 0; i < H * W; i++) {
                    int kind = (int)(next() % 8);
                    c[i] = kind == 0 ? INT32_MAX : kind == 1 ? INT32_MIN : (int32_t)next();
                    xs[i] = round < 3 ? (int32_t)(next() % 30000) - 15000 : (int32_t)next();
                }
                jn_k_qpool2_acc(isa, H, W, c, xs, za, cst, hm, y);
                for (int64_t i = 0; i < PH; i++)
                    for (int64_t j = 0; j < PW; j++) {
                        int32_t best = INT32_MIN;
                        for (int a = 0; a < 2; a++)
                            for (int b = 0; b < 2; b++) {
                                int64_t k = (2 * i + a) * W + 2 * j + b;
                                int32_t acc = (int32_t)((uint32_t)c[k] - za * (uint32_t)xs[k] + cst);
                                best = acc > best ? acc : best;
                            }
                        if (y[i * PW + j] != best && bad++ < 3)
                            fprintf(stderr, "qpool2_acc %s %lldx%lld at (%lld,%lld): got %d want %d\n",
                                    jn_k_isa_name(isa), (long long)H, (long long)W, (long long)i, (long long)j,
                                    y[i * PW + j], best);
                    }
                for (size_t mi = 0; mi < sizeof mults / sizeof mults[0]; mi++) {
                    bool s8 = (round + mi) & 1;
                    double yz = s8 ? -3 : 7, lo = s8 ? -128 : 0, hi = s8 ? 127 : 255;
                    jn_k_requant(isa, H * W, c, xs, za, cst, mults[mi], yz, lo, hi, s8, q);
                    jn_k_maxpool2_8(1, H, W, s8, q, pq);
                    jn_k_requant(isa, PH * PW, y, y, 0, 0, mults[mi], yz, lo, hi, s8, qp);
                    if (memcmp(pq, qp, (size_t)(PH * PW)) != 0 && bad++ < 3)
                        fprintf(stderr, "qpool2_acc %s %lldx%lld: pooled then requantized differs (mult %g)\n",
                                jn_k_isa_name(isa), (long long)H, (long long)W, mults[mi]);
                }
            }
            free(c), free(xs), free(y), free(hm), free(q), free(qp), free(pq);
        }
    JN_CHECK_INT_EQ(bad, 0);
}

int main(void)
{
    JN_TEST_RUN(test_qpool2_acc);
    JN_TEST_RUN(test_maxpool2);
    JN_TEST_RUN(test_requant);
    JN_TEST_RUN(test_quantize);
    JN_TEST_RUN(test_odd_shapes);
    JN_TEST_RUN(test_full_range);
    JN_TEST_RUN(test_seven_bit);
    return JN_TEST_EXIT();
}
