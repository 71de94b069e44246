/* float_text.c — FP32 -> JSON number text without printf (float_text.h).
 *
 * A finite normal float is v = m * 2^e with 2^23 <= m < 2^24. Rounding v to p significant digits means finding the
 * integer nearest to v * 10^s, s = p - 1 - X, X = floor(log10 v). That product is a fraction with a power-of-two
 * denominator (s >= 0: m * 5^s / 2^-(e+s)) or a power-of-ten one (s < 0: m * 2^e / 10^-s), both exact in 128 bits
 * for the range covered, so the quotient, the remainder (which decides the rounding and exact ties) and the
 * distance to v are all exact. The decimal reads back as v when that distance is below half the gap to the
 * neighbouring float (at most half, with ties going to the even mantissa, as strtod rounds), scaled the same way.
 */
#include "float_text.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

__extension__ typedef unsigned __int128 u128;

static const uint64_t POW5[28] = {
    1u, 5u, 25u, 125u, 625u, 3125u, 15625u, 78125u, 390625u, 1953125u, 9765625u, 48828125u, 244140625u,
    1220703125u, 6103515625u, 30517578125u, 152587890625u, 762939453125u, 3814697265625u, 19073486328125u,
    95367431640625u, 476837158203125u, 2384185791015625u, 11920928955078125u, 59604644775390625u,
    298023223876953125u, 1490116119384765625u, 7450580596923828125u,
};

static const uint64_t POW10[20] = {
    1u, 10u, 100u, 1000u, 10000u, 100000u, 1000000u, 10000000u, 100000000u, 1000000000u, 10000000000u,
    100000000000u, 1000000000000u, 10000000000000u, 100000000000000u, 1000000000000000u, 10000000000000000u,
    100000000000000000u, 1000000000000000000u, 10000000000000000000u,
};

/* Largest s for which m * 5^s fits (m < 2^24, 5^44 < 2^102.2); smaller values use the printf path. */
#define MAX_POW5 44
/* Largest power of ten a divisor may be (10^38 < 2^127); FLT_MAX needs 10^33 at most. */
#define MAX_POW10 38

static u128 pow5(int k) /* k <= 54 */
{
    return (u128)POW5[k < 27 ? k : 27] * POW5[k < 27 ? 0 : k - 27];
}

static u128 pow10(int k) /* k <= 38 */
{
    return (u128)POW10[k < 19 ? k : 19] * POW10[k < 19 ? 0 : k - 19];
}

/* Rounds v = m * 2^e to p significant digits (half to even): *digits in [10^(p-1), 10^p), *exp10 the decimal
 * exponent of its first digit. x is a guess of floor(log10 v), off by at most one. `low_gap_half`: v is a power of
 * two above the smallest normal, so the float below it is only half as far as the one above. Returns 1 when the
 * decimal reads back as v, 0 when it does not, -1 when v is out of the exact range (the caller falls back). */
static int round_to_digits(uint32_t m, int e, bool low_gap_half, int p, int x, uint64_t *digits, int *exp10)
{
    const uint64_t lo = POW10[p - 1], hi = POW10[p];
    for (int tries = 0; tries < 4; tries++) {
        int s = p - 1 - x;
        /* v * 10^s = q + rem / den; `gap` = the distance from v to the next float above, in units of 1 / den,
         * times 10^s (so a decimal reads back when 2 * distance < gap). */
        u128 q, rem, den, gap;
        if (s >= 0) {
            if (s > MAX_POW5)
                return -1;
            u128 a = (u128)m * pow5(s);
            int k = e + s;
            if (k >= 0) {
                if (k > 64)
                    return -1;
                q = a << k; /* an integer: the decimal is exact */
                rem = 0;
                den = 1;
                gap = 0;
            } else {
                int r = -k;
                if (r > 120)
                    return -1;
                den = (u128)1 << r;
                q = a >> r;
                rem = a & (den - 1);
                gap = pow5(s);
            }
        } else {
            int t = -s;
            if (t > MAX_POW10)
                return -1;
            u128 num;
            if (e >= 0) {
                num = (u128)m << e;
                den = pow10(t);
                gap = (u128)1 << e;
            } else {
                if (-e > 60)
                    return -1;
                num = m;
                den = pow10(t) << -e;
                gap = 1;
            }
            q = num / den;
            rem = num % den;
        }
        if (q < lo) {
            x--;
            continue;
        }
        if (q >= hi) {
            x++;
            continue;
        }
        bool up = rem != 0 && (2 * rem > den || (2 * rem == den && (q & 1)));
        bool reads_back;
        if (rem == 0) {
            reads_back = true;
        } else if (up) {
            u128 dist = den - rem;
            reads_back = 2 * dist < gap || (2 * dist == gap && !(m & 1));
        } else if (low_gap_half) {
            reads_back = 4 * rem <= gap; /* m is even here: the tie goes to v */
        } else {
            reads_back = 2 * rem < gap || (2 * rem == gap && !(m & 1));
        }
        uint64_t n = (uint64_t)q + (up ? 1 : 0);
        if (n == hi) { /* 9.9999995 -> 10.000000 */
            n = lo;
            x++;
        }
        *digits = n;
        *exp10 = x;
        return reads_back ? 1 : 0;
    }
    return -1;
}

/* digits (p of them, trailing zeros dropped here) times 10^(exp10 - p + 1), laid out like "%.9g" + jansson. */
static size_t layout(bool negative, uint64_t digits, int p, int exp10, char *out)
{
    char dg[10];
    for (int i = p - 1; i >= 0; i--) {
        dg[i] = (char)('0' + digits % 10);
        digits /= 10;
    }
    int nd = p;
    while (nd > 1 && dg[nd - 1] == '0')
        nd--;
    char *o = out;
    if (negative)
        *o++ = '-';
    if (exp10 < -4 || exp10 >= 9) {
        *o++ = dg[0];
        if (nd > 1) {
            *o++ = '.';
            memcpy(o, dg + 1, (size_t)nd - 1);
            o += nd - 1;
        }
        *o++ = 'e';
        int ax = exp10;
        if (ax < 0) {
            *o++ = '-';
            ax = -ax;
        }
        if (ax >= 10)
            *o++ = (char)('0' + ax / 10);
        *o++ = (char)('0' + ax % 10);
    } else if (exp10 >= 0) {
        int int_digits = exp10 + 1;
        for (int i = 0; i < int_digits; i++)
            *o++ = i < nd ? dg[i] : '0';
        *o++ = '.';
        if (nd > int_digits) {
            memcpy(o, dg + int_digits, (size_t)(nd - int_digits));
            o += nd - int_digits;
        } else {
            *o++ = '0';
        }
    } else {
        *o++ = '0';
        *o++ = '.';
        for (int i = 0; i < -exp10 - 1; i++)
            *o++ = '0';
        memcpy(o, dg, (size_t)nd);
        o += nd;
    }
    return (size_t)(o - out);
}

size_t jn_float32_text(float value, char *out)
{
    uint32_t bits;
    memcpy(&bits, &value, sizeof bits);
    bool negative = bits >> 31;
    uint32_t exp_bits = bits >> 23 & 0xffu, frac = bits & 0x7fffffu;
    if (exp_bits == 0 && frac == 0) {
        memcpy(out, negative ? "-0.0" : "0.0", negative ? 4 : 3);
        return negative ? 4 : 3;
    }
    if (exp_bits == 0 || exp_bits == 0xff) /* subnormal (or not finite: unspecified, but defined) */
        return jn__float32_text_printf(value, out);
    uint32_t m = frac | 0x800000u;
    int e = (int)exp_bits - 150;
    bool low_gap_half = frac == 0 && exp_bits > 1;
    /* floor(log10(2^k)) for v in [2^k, 2^(k+1)): X itself or one less; round_to_digits corrects it
     * (78913 / 2^18 is log10(2) to 6 digits, exact enough for |k| <= 127). */
    int k = (int)exp_bits - 127;
    int x = k >= 0 ? (k * 78913) >> 18 : -((-k * 78913 + 262143) >> 18);
    for (int p = 6; p <= 9; p++) {
        uint64_t digits;
        int exp10;
        int rc = round_to_digits(m, e, low_gap_half, p, x, &digits, &exp10);
        if (rc < 0)
            break;
        if (rc == 1 || p == 9)
            return layout(negative, digits, p, exp10, out);
    }
    return jn__float32_text_printf(value, out);
}

size_t jn__float32_text_printf(float value, char *out)
{
    char buf[48];
    double d = (double)value;
    for (int p = 6; p < 9; p++) {
        snprintf(buf, sizeof buf, "%.*g", p, (double)value);
        double back = strtod(buf, NULL);
        if ((float)back == value) {
            d = back;
            break;
        }
    }
    /* What jansson's dtostr makes of it with precision 9. */
    int n = snprintf(buf, sizeof buf, "%.9g", d);
    size_t len = n > 0 ? (size_t)n : 0;
    if (!strchr(buf, '.') && !strchr(buf, 'e')) {
        buf[len++] = '.';
        buf[len++] = '0';
        buf[len] = '\0';
    }
    char *start = strchr(buf, 'e');
    if (start) {
        start++;
        char *end = start + 1;
        if (*start == '-')
            start++;
        while (*end == '0')
            end++;
        if (end != start) {
            memmove(start, end, len - (size_t)(end - buf) + 1);
            len -= (size_t)(end - start);
        }
    }
    if (len > JN_FLOAT32_TEXT_MAX)
        len = JN_FLOAT32_TEXT_MAX; /* not reached: "%.9g" of a float is at most 16 characters */
    memcpy(out, buf, len);
    return len;
}
