/* vmath.h — the recurrent layers' kernels besides cblas (vmath.c, built with -O3, -fno-trapping-math so the
 * selects vectorize, and per instruction set where OX_HOT or jn_k_isa allow).
 *
 * - Sigmoid and tanh over FP32 arrays, in place. Within a few float ulps of the correctly rounded result (exp:
 *   Cody-Waite reduction and a degree-7 Taylor polynomial; tanh: an odd Taylor polynomial below |x| 0.3,
 *   1 - 2/(e^2x + 1) above), far inside the ONNX suite's rtol 1e-3. NaN in gives NaN out.
 * - GELU's Erf form (ox_vgelu_erf, onnx_fuse_tf.c's fused node), through erfc's Chebyshev fit and the same exp.
 * - y [M, N] = x [M, K] . w^T for w [N, K] row-major (R, the recurrent weights), through a copy of w packed once
 *   into column panels (ox_panel_pack into ox_panel_floats(N, K) floats; the layout follows jn_k_isa, so pack
 *   and multiply in the same process): each tile reads w as one
 *   contiguous stream, with no per-call packing as cblas_sgemm does. Differs from sgemm by float rounding only.
 *
 * Thread-safe (no state). */
#ifndef JN_ONNX_VMATH_H
#define JN_ONNX_VMATH_H

#include <stddef.h>
#include <stdint.h>

void ox_vsigmoid(float *x, int64_t n);
void ox_vtanh(float *x, int64_t n);
/* y = x * 0.5 * (1 + erf(x * s)) (GELU's Erf form, s = 1/sqrt(2) in GELU; y may be x), through erfc's Chebyshev
 * fit: relative error within 2e-6 + 6e-7 z^2 (z = |x s|) of the exact value, the negative tail included (float's
 * rounding of x * s and of the exponent -z^2 is the z^2 term; the unfused graph's erff has it too). */
void ox_vgelu_erf(const float *x, float *y, int64_t n, float s);

size_t ox_panel_floats(int64_t N, int64_t K);
void ox_panel_pack(const float *w, int64_t N, int64_t K, float *wp);
void ox_panel_gemm(int64_t M, int64_t N, int64_t K, const float *x, const float *wp, float *y);

#endif
