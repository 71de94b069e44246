/* vmath.c — see vmath.h. Branch-free per element (selects, not ifs) so each loop vectorizes. */
#include <stdint.h>
#include <string.h>

#include "direct_vec.h"
#include "onnx_internal.h"
#include "vmath.h"

/* e^x for x in [-87.3, 88.3] (clamped there: the callers only need e^x's saturation, not its overflow). */
static inline float exp_core(float x)
{
    const float log2e = 1.44269504088896341f, ln2_hi = 0.693359375f, ln2_lo = -2.12194440e-4f;
    x = x > -87.3f ? x : -87.3f; /* NaN lands here too (the callers return the NaN itself) */
    x = x < 88.3f ? x : 88.3f;
    float fn = (x * log2e + 12582912.0f) - 12582912.0f; /* round to nearest (1.5 * 2^23 shifts the fraction out) */
    float r = x - fn * ln2_hi - fn * ln2_lo; /* |r| <= ln2 / 2 */
    /* Taylor to r^7: the next term is below 6e-9 relative there */
    float p = 1.0f / 5040.0f;
    p = p * r + 1.0f / 720.0f;
    p = p * r + 1.0f / 120.0f;
    p = p * r + 1.0f / 24.0f;
    p = p * r + 1.0f / 6.0f;
    p = p * r + 0.5f;
    p = p * r + 1.0f;
    p = p * r + 1.0f;
    uint32_t bits = (uint32_t)((int32_t)fn + 127) << 23; /* 2^n, n in [-126, 127]: a normal float */
    float scale;
    memcpy(&scale, &bits, sizeof scale);
    return p * scale;
}

static inline float sigmoid_1(float v)
{
    float s = 1.0f / (1.0f + exp_core(-v));
    return v != v ? v : s;
}

static inline float tanh_1(float v)
{
    float a = v < 0 ? -v : v;
    /* small |x|: tanh x = x - x^3/3 + 2x^5/15 - 17x^7/315 + 62x^9/2835 - 1382x^11/155925 + 21844x^13/6081075 */
    float z = v * v;
    float p = 21844.0f / 6081075.0f;
    p = p * z - 1382.0f / 155925.0f;
    p = p * z + 62.0f / 2835.0f;
    p = p * z - 17.0f / 315.0f;
    p = p * z + 2.0f / 15.0f;
    p = p * z - 1.0f / 3.0f;
    float small = v + v * z * p;
    float big = 1.0f - 2.0f / (exp_core(2.0f * a) + 1.0f);
    big = v < 0 ? -big : big;
    float t = a < 0.3f ? small : big;
    return v != v ? v : t;
}

/* erfc(z) for z >= 0 with a relative error below 1.2e-7 (in exact arithmetic; float evaluation adds a few ulp and
 * about z^2 * 6e-8 in the exponent's rounding): the Chebyshev fit of Press et al., Numerical Recipes 2nd ed.
 * section 6.2, erfc(z) = t exp(-z^2 + P(t)), t = 1 / (1 + z / 2). A bound on the relative error of erfc, not an
 * absolute one on erf: 1 + erf(x) = erfc(-x) stays accurate where it is tiny (GELU's negative tail). */
static inline float erfc_pos(float z)
{
    float t = 1.0f / (1.0f + 0.5f * z);
    float p = 0.17087277f;
    p = p * t - 0.82215223f;
    p = p * t + 1.48851587f;
    p = p * t - 1.13520398f;
    p = p * t + 0.27886807f;
    p = p * t - 0.18628806f;
    p = p * t + 0.09678418f;
    p = p * t + 0.37409196f;
    p = p * t + 1.00002368f;
    p = p * t - 1.26551223f;
    return t * exp_core(p - z * z);
}

/* GELU's Erf form, h * 0.5 * (1 + erf(h * s)): with e = erfc(|h s|), 1 + erf(h s) is 2 - e for h >= 0, else e. A
 * NaN h gives t, and so the result, NaN; h = +inf gives +inf and -inf NaN (-inf * 0), as the unfused graph does. */
static inline float gelu_erf_1(float h, float s)
{
    float u = h * s, z = u < 0 ? -u : u;
    float e = erfc_pos(z);
    float w = u >= 0 ? 2.0f - e : e;
    return 0.5f * h * w;
}

/* One instantiation per instruction set, picked by jn_k_isa (target_clones' AVX2 clone would leave out FMA,
 * which the polynomials are made of). */
#define ACT_FNS(isa, target)                                                                                     \
    target static void sigmoid_##isa(float *x, int64_t n)                                                       \
    {                                                                                                            \
        for (int64_t i = 0; i < n; i++)                                                                          \
            x[i] = sigmoid_1(x[i]);                                                                              \
    }                                                                                                            \
    target static void tanh_##isa(float *x, int64_t n)                                                          \
    {                                                                                                            \
        for (int64_t i = 0; i < n; i++)                                                                          \
            x[i] = tanh_1(x[i]);                                                                                 \
    }                                                                                                            \
    target static void gelu_erf_##isa(const float *x, float *y, int64_t n, float s)                             \
    {                                                                                                            \
        for (int64_t i = 0; i < n; i++)                                                                          \
            y[i] = gelu_erf_1(x[i], s);                                                                          \
    }

ACT_FNS(sse2, )
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
ACT_FNS(avx2, __attribute__((target("avx2,fma"))))
ACT_FNS(avx512, __attribute__((target("avx512f"))))
#endif

void ox_vsigmoid(float *x, int64_t n)
{
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
    int isa = jn_k_isa();
    if (isa >= 3) {
        sigmoid_avx512(x, n);
        return;
    }
    if (isa == 2) {
        sigmoid_avx2(x, n);
        return;
    }
#endif
    sigmoid_sse2(x, n);
}

void ox_vtanh(float *x, int64_t n)
{
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
    int isa = jn_k_isa();
    if (isa >= 3) {
        tanh_avx512(x, n);
        return;
    }
    if (isa == 2) {
        tanh_avx2(x, n);
        return;
    }
#endif
    tanh_sse2(x, n);
}

void ox_vgelu_erf(const float *x, float *y, int64_t n, float s)
{
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
    int isa = jn_k_isa();
    if (isa >= 3) {
        gelu_erf_avx512(x, y, n, s);
        return;
    }
    if (isa == 2) {
        gelu_erf_avx2(x, y, n, s);
        return;
    }
#endif
    gelu_erf_sse2(x, y, n, s);
}

/* ---- Products against a matrix packed in column panels (ox_panel_pack) ----
 * One instantiation per instruction set (vmath_panel.inc), as the direct kernels (direct_vec.h). A panel holds K
 * rows of 16 floats back to back, so a tile walks w as one contiguous stream. */
/* Panel width: two vectors of the instruction set the kernels run with (fixed for the process: jn_k_isa). */
static int64_t panel_width(void)
{
    int isa = jn_k_isa();
    return isa >= 3 ? 32 : isa == 2 ? 16 : 8;
}

size_t ox_panel_floats(int64_t N, int64_t K)
{
    int64_t pw = panel_width();
    return (size_t)((N + pw - 1) / pw * K * pw);
}

void ox_panel_pack(const float *w, int64_t N, int64_t K, float *wp)
{
    int64_t pw = panel_width();
    for (int64_t p = 0; p < (N + pw - 1) / pw; p++)
        for (int64_t k = 0; k < K; k++)
            for (int64_t j = 0; j < pw; j++) {
                int64_t n = p * pw + j;
                wp[(p * K + k) * pw + j] = n < N ? w[n * K + k] : 0.0f;
            }
}

#define PANEL_FN panel_sse2
#define PANEL_TARGET
#define VF v4f
#define VL 4
#define TR 3
#include "vmath_panel.inc"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define PANEL_FN panel_avx2
#define PANEL_TARGET __attribute__((target("avx2,fma")))
#define VF v8f
#define VL 8
#define TR 6
#include "vmath_panel.inc"

#define PANEL_FN panel_avx512
#define PANEL_TARGET __attribute__((target("avx512f")))
#define VF v16f
#define VL 16
#define TR 8
#include "vmath_panel.inc"
#endif

void ox_panel_gemm(int64_t M, int64_t N, int64_t K, const float *x, const float *wp, float *y)
{
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
    int isa = jn_k_isa();
    if (isa >= 3) {
        panel_avx512(M, N, K, x, wp, y);
        return;
    }
    if (isa == 2) {
        panel_avx2(M, N, K, x, wp, y);
        return;
    }
#endif
    panel_sse2(M, N, K, x, wp, y);
}
