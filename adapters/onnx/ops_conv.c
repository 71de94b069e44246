/* ops_conv.c — Conv's depthwise path (group > 1 with one input channel per group: MobileNet's and most mobile
 * detectors' 3x3 and 5x5 layers, stride 1 or 2), on the direct kernel of kernels/conv_dw.c. ops_nn.c's Conv decides
 * (ox_conv_dw_fits) and hands the convolution here; everything else stays there (the direct kernel of conv_direct.c at
 * any stride, im2col + sgemm).
 *
 * Weights are not packed: each output channel's kh*kw taps are adjacent in the OIHW initializer already, which is
 * the layout the kernel reads. Per image and group the input plane is copied once into the kernel's zero-padded
 * column-phase buffer, then every output channel of that group (the channel multiplier, usually 1) is computed from
 * it with its bias and the fused Relu or HardSwish. FP32 only (Conv's check refuses other dtypes; FP16 comes through
 * the FP32 kernels, onnx_half.c). Reentrant: the buffer is allocated per call. */
#include <stdlib.h>

#include "onnx_internal.h"

/* The depthwise kernel's description of convolution c (geometry and fused activation). */
static jn_k_dw dw_of(const ox_conv2d *c)
{
    return (jn_k_dw){.isa = jn_k_isa(),
                 .H = c->H,
                 .W = c->W,
                 .kh = c->kh,
                 .kw = c->kw,
                 .sh = c->sh,
                 .sw = c->sw,
                 .dh = c->dh,
                 .dw = c->dw,
                 .pt = c->pt,
                 .pl = c->pl,
                 .pb = c->pb,
                 .pr = c->pr,
                 .OH = c->OH,
                 .OW = c->OW,
                      .relu = c->relu,
                      .hswish = c->hswish};
}

bool ox_conv_dw_fits(const ox_conv2d *c)
{
    if (!ox_conv_direct_enabled || c->group < 2 || c->C != c->group)
        return false;
    jn_k_dw d = dw_of(c);
    return jn_k_dw_valid(&d);
}

int ox_conv_dw_run(const ox_node *n, const ox_conv2d *c, const float *x, const float *w, const float *bias,
                   float *y, jn_err *err)
{
    jn_k_dw d = dw_of(c);
    float *buf = calloc(jn_k_dw_scratch_floats(&d), sizeof(float));
    if (!buf)
        return jn_err_set(err, JN_ENOMEM, "node '%s' (Conv): out of memory for the depthwise buffer", n->name);
    const int64_t mult = c->M / c->group, taps = c->kh * c->kw, in_plane = c->H * c->W, out_plane = c->OH * c->OW;
    int32_t offs[JN_K_DW_MAX_TAPS];
    jn_k_dw_taps(&d, offs);
    for (int64_t b = 0; b < c->N; b++)
        for (int64_t g = 0; g < c->group; g++) {
            jn_k_dw_pad(&d, x + (b * c->group + g) * in_plane, buf);
            for (int64_t j = 0; j < mult; j++) {
                int64_t m = g * mult + j;
                jn_k_dw_run(&d, buf, offs, w + m * taps, bias ? bias[m] : 0.0f, y + (b * c->M + m) * out_plane);
            }
        }
    free(buf);
    return 0;
}
