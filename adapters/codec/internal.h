/* internal.h — what png.c, jpeg.c and codec.c share: the per-format decoders into 8-bit pixels and the channel
 * conversion to what the caller asked for.
 *
 * Ownership: the decoders return a malloc'd pixel block (*pixels, row-major, *channels per pixel) that the caller
 * frees. Reentrant.
 */
#ifndef JN_ADAPTERS_CODEC_INTERNAL_H
#define JN_ADAPTERS_CODEC_INTERNAL_H

#include "codec.h"

/* Decodes to 8-bit samples with 1 (gray), 2 (gray+alpha), 3 (RGB) or 4 (RGBA) channels. 0 or JN_EINVAL/JN_ENOMEM
 * with err set ("image '<what>': ..."). */
int jn__png_decode(const uint8_t *data, size_t len, uint64_t max_pixels, const char *what, uint8_t **pixels,
                   int *width, int *height, int *channels, jn_err *err);
/* JPEG: 1 (gray) or 3 (RGB) channels; want_gray asks libjpeg for grayscale output. */
int jn__jpeg_decode(const uint8_t *data, size_t len, uint64_t max_pixels, const char *what, int want_gray,
                    uint8_t **pixels, int *width, int *height, int *channels, jn_err *err);

#endif
