/* half.h — IEEE half precision (FP16) and bfloat16 (BF16) <-> single/double precision, the one home of these
 * conversions (tensor casts in convert.c, the JSON tensor codec, the CLI's value parser, the ONNX adapter's Cast).
 *
 * Narrowing rounds to nearest, ties to even, in one step from the value given (a double is not rounded to FP32
 * first); values past the largest finite number round to infinity; NaN stays NaN (sign kept, quiet). Widening is
 * exact. Pure functions: no state, any thread.
 */
#ifndef JN_HALF_H
#define JN_HALF_H

#include <stdint.h>
#include <string.h>

/* FP16 from a double (an FP32 converts exactly to double, so this serves floats too). */
static inline uint16_t jn_fp16_from_double(double d)
{
    uint64_t x;
    memcpy(&x, &d, sizeof x);
    uint16_t sign = (uint16_t)((x >> 48) & 0x8000u);
    int32_t biased = (int32_t)((x >> 52) & 0x7ffu);
    uint64_t mant = x & 0xfffffffffffffull; /* 52 bits */
    if (biased == 0x7ff)
        return (uint16_t)(sign | 0x7c00u | (mant ? 0x200u : 0));
    int32_t e = biased - 1023 + 15;
    if (e >= 31)
        return (uint16_t)(sign | 0x7c00u);
    if (e <= 0) { /* subnormal half: units of 2^-24 */
        if (e < -10)
            return sign;
        mant |= 1ull << 52;
        uint32_t shift = (uint32_t)(43 - e);
        uint64_t h = mant >> shift, rem = mant & ((1ull << shift) - 1), halfway = 1ull << (shift - 1);
        if (rem > halfway || (rem == halfway && (h & 1)))
            h++;
        return (uint16_t)(sign | h);
    }
    uint64_t h = sign | ((uint64_t)e << 10) | (mant >> 42), rem = mant & ((1ull << 42) - 1);
    if (rem > (1ull << 41) || (rem == (1ull << 41) && (h & 1)))
        h++; /* a carry into the exponent is the correct rounding (up to infinity too) */
    return (uint16_t)h;
}

static inline float jn_fp16_to_float(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16, exp = (h >> 10) & 0x1fu, mant = h & 0x3ffu, bits;
    if (exp == 0) {
        if (mant == 0) {
            bits = sign;
        } else { /* subnormal: normalise */
            exp = 127 - 15 + 1;
            while (!(mant & 0x400u)) {
                mant <<= 1;
                exp--;
            }
            bits = sign | exp << 23 | (mant & 0x3ffu) << 13;
        }
    } else if (exp == 31) {
        bits = sign | 0x7f800000u | mant << 13;
    } else {
        bits = sign | (exp - 15 + 127) << 23 | mant << 13;
    }
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

/* BF16 from an FP32, rounded to nearest even. */
static inline uint16_t jn_bf16_from_float(float f)
{
    uint32_t x;
    memcpy(&x, &f, sizeof x);
    if ((x & 0x7fffffffu) > 0x7f800000u)
        return (uint16_t)((x >> 16) | 0x40u); /* quiet NaN */
    x += 0x7fffu + ((x >> 16) & 1u);
    return (uint16_t)(x >> 16);
}

/* BF16 from an FP32 by dropping the low half (truncation): what the ONNX reference's Cast does. */
static inline uint16_t jn_bf16_from_float_truncated(float f)
{
    uint32_t x;
    memcpy(&x, &f, sizeof x);
    return (uint16_t)(x >> 16);
}

static inline float jn_bf16_to_float(uint16_t b)
{
    uint32_t x = (uint32_t)b << 16;
    float f;
    memcpy(&f, &x, sizeof f);
    return f;
}

#endif
