/* direct_vec.h — the GCC vector types and lane-wise helpers the direct kernels (conv_direct.c, gemm_direct.c) are
 * written with: one float and one int32 type per register width (SSE2 16 bytes, AVX2 32, AVX-512 64). */
#ifndef JN_KERNELS_DIRECT_VEC_H
#define JN_KERNELS_DIRECT_VEC_H

#include <stdbool.h>
#include <stdint.h>

typedef float v16f __attribute__((vector_size(64)));
typedef int32_t v16i __attribute__((vector_size(64)));
typedef float v8f __attribute__((vector_size(32)));
typedef int32_t v8i __attribute__((vector_size(32)));
typedef float v4f __attribute__((vector_size(16)));
typedef int32_t v4i __attribute__((vector_size(16)));

/* max(v, 0) lane-wise, NaN -> 0 (as the fused Relu of the other kernels: v > 0 ? v : 0). */
#define RELU(VF, VI, v) ((VF)((VI)(v) & ((v) > (VF){0})))

/* HardSwish lane-wise: v * min(1, max(0, v / 6 + 1/2)), as the ONNX adapter's HardSwish operator computes it
 * (a NaN stays NaN: the clamp turns it into 0 and NaN * 0 is NaN). */
#define HSWISH(VF, VI, v)                                                                                      \
    ({                                                                                                         \
        VF t_ = RELU(VF, VI, (v) * (1.0f / 6.0f) + 0.5f), one_ = (VF){0} + 1.0f;                               \
        (v) * (VF)(((VI)t_ & ~(t_ > one_)) | ((VI)one_ & (t_ > one_)));                                        \
    })

#endif
