/* codec.h — encoded images (PNG via libpng, JPEG via libjpeg-turbo) to and from pixels.
 *
 * Decoding checks the declared width x height against max_pixels BEFORE allocating anything, and reports a
 * truncated or corrupt file as JN_EINVAL naming the problem ("image 'image': PNG is truncated (...)").
 * Ownership: jn_image_decode returns a new UINT8 [height, width, channels] tensor owned by the caller.
 * Thread-safety: reentrant (no global state; libjpeg/libpng errors are caught per call).
 */
#ifndef JN_ADAPTERS_CODEC_H
#define JN_ADAPTERS_CODEC_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "tensor.h"

#define JN_IMAGE_DEFAULT_MAX_PIXELS (64ull * 1024 * 1024)

typedef enum jn_image_format { JN_IMAGE_UNKNOWN = 0, JN_IMAGE_PNG, JN_IMAGE_JPEG } jn_image_format;

/* Sniffs the magic bytes. */
jn_image_format jn_image_detect(const uint8_t *data, size_t len);

/* Decodes PNG (8/16-bit, gray, gray+alpha, palette, RGB, RGBA) or JPEG into UINT8 HWC. want_channels: 1 (gray),
 * 3 (RGB), or 0 = 1 for gray images and 3 otherwise. Alpha is composited over white. 16-bit samples are scaled to
 * 8 bits. `what` names the value in messages. */
int jn_image_decode(const uint8_t *data, size_t len, int want_channels, uint64_t max_pixels, const char *what,
                    jn_tensor **out, jn_err *err);

/* Writes 8-bit gray (channels 1) or RGB (3) pixels, row-major HWC, as a PNG file. */
int jn_png_write_file(const char *path, int width, int height, int channels, const uint8_t *pixels, jn_err *err);
/* The same into memory: *out malloc'd, caller frees. */
int jn_png_encode(int width, int height, int channels, const uint8_t *pixels, uint8_t **out, size_t *out_len,
                  jn_err *err);

#endif
