/* preprocess.h — encoded image (PNG/JPEG) to a normalized planar FP32 tensor: decode, resize (bilinear,
 * antialiased when shrinking), optional center crop, (x/255 - mean) / std, CHW.
 *
 * The resize is PIL's BILINEAR resampling: a triangle filter whose support is scaled by the shrink factor, so
 * shrinking averages every source pixel under an output pixel instead of skipping most of them. With crop, the
 * image is scaled so it covers width x height (the shorter side fits) and the centre is cut out — computed
 * directly for the kept pixels only.
 *
 * Ownership: jn_image_to_nchw writes into the caller's buffer; nothing is kept. Reentrant.
 */
#ifndef JN_ENGINES_VISION_PREPROCESS_H
#define JN_ENGINES_VISION_PREPROCESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../../broker/core/convert.h"
#include "../../broker/core/err.h"

typedef struct jn_preprocess_config {
    int width, height; /* output size */
    int channels;      /* 1 (gray) or 3 (RGB) */
    float mean[3], std[3];
    bool crop;             /* true: scale the shorter side to fit, then center crop; false: plain resize */
    uint64_t max_pixels;   /* decode limit; 0 = JN_IMAGE_DEFAULT_MAX_PIXELS */
} jn_preprocess_config;

/* ImageNet: 256 x 256, RGB, mean (0.485, 0.456, 0.406), std (0.229, 0.224, 0.225), crop. */
void jn_preprocess_config_default(jn_preprocess_config *cfg);

/* Decodes one PNG or JPEG and writes channels x height x width floats to out. JN_EINVAL naming the problem for
 * a bad image or config. `what` (may be NULL = "image") names the value in messages. */
int jn_image_to_nchw_named(const uint8_t *encoded, size_t len, const jn_preprocess_config *cfg, const char *what,
                           float *out, jn_err *err);
int jn_image_to_nchw(const uint8_t *encoded, size_t len, const jn_preprocess_config *cfg, float *out, jn_err *err);

/* Resizes 8-bit HWC pixels (channels 1 or 3, matching cfg->channels) and normalizes into out (C x H x W). The
 * resampling core, for callers that already hold pixels. */
int jn_pixels_to_nchw(const uint8_t *pixels, int width, int height, const jn_preprocess_config *cfg, float *out,
                      jn_err *err);

/* The pipeline conversion IMAGE -> IMAGE_TENSOR / TENSOR FP32 [N, C, H, W] or [C, H, W] ("decode-image"):
 * plain resize to H x W, x/255 (mean 0, std 1). engines/builtin.c registers it with jn_convert_register. */
extern const jn_conversion jn_decode_image_conversion;

#endif
