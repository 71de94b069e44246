/* Unit tests for broker/core/half.h: FP16 and BF16 against a reference built from the definition (every finite
 * half value computed with ldexp, nearest chosen by search, ties to the even one), plus the edges by hand. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "half.h"
#include "test.h"

static double half_value(uint16_t h) /* the definition, independent of half.h */
{
    int e = (h >> 10) & 0x1f, m = h & 0x3ff;
    double v = e == 31 ? INFINITY : e == 0 ? ldexp(m, -24) : ldexp(1024 + m, e - 25);
    return (h & 0x8000) ? -v : v;
}

static uint16_t reference_fp16(double d)
{
    uint16_t sign = signbit(d) ? 0x8000 : 0;
    double a = fabs(d);
    if (a >= 65520.0) /* half way between the largest finite (65504) and the next step (65536) */
        return sign | 0x7c00;
    uint16_t lo = 0, hi = 0x7bff;
    while (lo < hi) { /* largest k with value(k) <= a */
        uint16_t mid = (uint16_t)((lo + hi + 1) / 2);
        if (half_value(mid) <= a)
            lo = mid;
        else
            hi = (uint16_t)(mid - 1);
    }
    if (lo == 0x7bff)
        return sign | lo;
    double below = a - half_value(lo), above = half_value((uint16_t)(lo + 1)) - a;
    uint16_t k = below < above ? lo : above < below ? (uint16_t)(lo + 1) : (lo & 1) ? (uint16_t)(lo + 1) : lo;
    return sign | k;
}

static void test_fp16_widening_is_exact(void)
{
    int bad = 0;
    for (uint32_t h = 0; h < 0x10000; h++) {
        int e = (h >> 10) & 0x1f;
        float f = jn_fp16_to_float((uint16_t)h);
        if (e == 31 && (h & 0x3ff)) {
            bad += !isnan(f) || (signbit(f) != 0) != ((h & 0x8000) != 0);
        } else {
            bad += (double)f != half_value((uint16_t)h) || (signbit(f) != 0) != ((h & 0x8000) != 0);
            bad += jn_fp16_from_double(f) != h; /* and back */
        }
    }
    JN_CHECK_INT_EQ(bad, 0);
}

static void test_fp16_rounding(void)
{
    JN_CHECK_INT_EQ(jn_fp16_from_double(1.0), 0x3c00);
    JN_CHECK_INT_EQ(jn_fp16_from_double(1.0 + ldexp(1, -11)), 0x3c00);     /* tie -> even */
    JN_CHECK_INT_EQ(jn_fp16_from_double(1.0 + 3 * ldexp(1, -11)), 0x3c02); /* tie -> even, upwards */
    /* One rounding from the double: just above the tie goes up (through FP32 it would be the tie, and go down). */
    JN_CHECK_INT_EQ(jn_fp16_from_double(1.0 + ldexp(1, -11) + ldexp(1, -40)), 0x3c01);
    JN_CHECK_INT_EQ(jn_fp16_from_double(65504.0), 0x7bff);
    JN_CHECK_INT_EQ(jn_fp16_from_double(65519.99), 0x7bff);
    JN_CHECK_INT_EQ(jn_fp16_from_double(65520.0), 0x7c00);
    JN_CHECK_INT_EQ(jn_fp16_from_double(-1e300), 0xfc00);
    JN_CHECK_INT_EQ(jn_fp16_from_double(-INFINITY), 0xfc00);
    JN_CHECK_INT_EQ(jn_fp16_from_double(ldexp(1, -24)), 0x0001);    /* smallest subnormal */
    JN_CHECK_INT_EQ(jn_fp16_from_double(ldexp(1, -25)), 0x0000);    /* tie with zero -> zero */
    JN_CHECK_INT_EQ(jn_fp16_from_double(ldexp(3, -26)), 0x0001);    /* above the tie */
    JN_CHECK_INT_EQ(jn_fp16_from_double(ldexp(1023.5, -24)), 0x0400); /* largest subnormal + tie -> smallest normal */
    JN_CHECK_INT_EQ(jn_fp16_from_double(-0.0), 0x8000);
    JN_CHECK_INT_EQ(jn_fp16_from_double(5e-324), 0x0000);
    JN_CHECK_INT_EQ(jn_fp16_from_double(NAN) & 0x7e00, 0x7e00); /* quiet NaN */
}

static void test_fp16_against_reference(void)
{
    srand(7);
    int bad = 0;
    for (int i = 0; i < 200000; i++) {
        double m = (double)rand() / RAND_MAX + (double)rand() / RAND_MAX * ldexp(1, -31);
        double d = ldexp(m, rand() % 48 - 30) * (rand() & 1 ? -1 : 1);
        if (jn_fp16_from_double(d) != reference_fp16(d) && bad++ < 5)
            JN_CHECK_INT_EQ(jn_fp16_from_double(d), reference_fp16(d));
    }
    for (uint16_t h = 0; h < 0x7bff; h++) { /* every tie between neighbours */
        double mid = (half_value(h) + half_value((uint16_t)(h + 1))) / 2;
        bad += jn_fp16_from_double(mid) != reference_fp16(mid);
    }
    JN_CHECK_INT_EQ(bad, 0);
}

static void test_bf16(void)
{
    JN_CHECK_INT_EQ(jn_bf16_from_float(1.0f), 0x3f80);
    JN_CHECK_INT_EQ(jn_bf16_from_float(1.0f + 0x1p-8f), 0x3f80);     /* tie -> even */
    JN_CHECK_INT_EQ(jn_bf16_from_float(1.0f + 3 * 0x1p-8f), 0x3f82); /* tie -> even, upwards */
    JN_CHECK_INT_EQ(jn_bf16_from_float(1.0f + 0x1p-8f + 0x1p-20f), 0x3f81);
    JN_CHECK_INT_EQ(jn_bf16_from_float_truncated(1.0f + 0x1p-7f - 0x1p-20f), 0x3f80);
    JN_CHECK_INT_EQ(jn_bf16_from_float(-INFINITY), 0xff80);
    uint32_t nan_bits = 0x7f800001u; /* a NaN whose payload is all in the low half stays a NaN */
    float nan;
    memcpy(&nan, &nan_bits, sizeof nan);
    JN_CHECK(isnan(jn_bf16_to_float(jn_bf16_from_float(nan))));
    int bad = 0;
    for (uint32_t b = 0; b < 0x10000; b++) {
        float f = jn_bf16_to_float((uint16_t)b);
        uint32_t bits;
        memcpy(&bits, &f, sizeof bits);
        bad += bits != b << 16;
        if (!isnan(f))
            bad += jn_bf16_from_float(f) != b || jn_bf16_from_float_truncated(f) != b;
    }
    JN_CHECK_INT_EQ(bad, 0);
}

int main(void)
{
    JN_TEST_RUN(test_fp16_widening_is_exact);
    JN_TEST_RUN(test_fp16_rounding);
    JN_TEST_RUN(test_fp16_against_reference);
    JN_TEST_RUN(test_bf16);
    return JN_TEST_EXIT();
}
