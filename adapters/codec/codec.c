/* codec.c — format sniffing and the channel conversion shared by the PNG and JPEG decoders. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

jn_image_format jn_image_detect(const uint8_t *data, size_t len)
{
    static const uint8_t png_sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
    if (data && len >= 8 && memcmp(data, png_sig, 8) == 0)
        return JN_IMAGE_PNG;
    if (data && len >= 3 && data[0] == 0xFF && data[1] == 0xD8 && data[2] == 0xFF)
        return JN_IMAGE_JPEG;
    return JN_IMAGE_UNKNOWN;
}

/* Alpha over white, rounded: c*a/255 + 255*(255-a)/255. */
static uint8_t over_white(unsigned c, unsigned a)
{
    return (uint8_t)((c * a + 255u * (255u - a) + 127u) / 255u);
}

/* ITU-R BT.601 luma, as PIL's convert("L") computes it. */
static uint8_t luma(unsigned r, unsigned g, unsigned b)
{
    return (uint8_t)((r * 19595u + g * 38470u + b * 7471u + 0x8000u) >> 16);
}

/* src has `sc` channels (1 gray, 2 gray+alpha, 3 RGB, 4 RGBA); dst gets `dc` (1 or 3). */
static void convert_pixels(const uint8_t *src, int sc, uint8_t *dst, int dc, size_t n)
{
    for (size_t i = 0; i < n; i++, src += sc, dst += dc) {
        unsigned r, g, b;
        switch (sc) {
        case 1:
            r = g = b = src[0];
            break;
        case 2:
            r = g = b = over_white(src[0], src[1]);
            break;
        case 3:
            r = src[0], g = src[1], b = src[2];
            break;
        default:
            r = over_white(src[0], src[3]), g = over_white(src[1], src[3]), b = over_white(src[2], src[3]);
            break;
        }
        if (dc == 1) {
            dst[0] = sc <= 2 ? (uint8_t)r : luma(r, g, b);
        } else {
            dst[0] = (uint8_t)r;
            dst[1] = (uint8_t)g;
            dst[2] = (uint8_t)b;
        }
    }
}

int jn_image_decode(const uint8_t *data, size_t len, int want_channels, uint64_t max_pixels, const char *what,
                    jn_tensor **out, jn_err *err)
{
    if (!what)
        what = "image";
    if (want_channels != 0 && want_channels != 1 && want_channels != 3)
        return jn_err_set(err, JN_EINVAL, "image '%s': cannot decode to %d channels (1 or 3)", what, want_channels);
    uint8_t *pixels = NULL;
    int w = 0, h = 0, c = 0, rc;
    switch (jn_image_detect(data, len)) {
    case JN_IMAGE_PNG:
        rc = jn__png_decode(data, len, max_pixels, what, &pixels, &w, &h, &c, err);
        break;
    case JN_IMAGE_JPEG:
        rc = jn__jpeg_decode(data, len, max_pixels, what, want_channels == 1, &pixels, &w, &h, &c, err);
        break;
    default: {
        char hex[3 * 4 + 1] = "";
        size_t k = len < 4 ? len : 4, pos = 0;
        for (size_t i = 0; i < k; i++)
            pos += (size_t)snprintf(hex + pos, sizeof hex - pos, i ? " %02x" : "%02x", data[i]);
        if (len == 0)
            return jn_err_set(err, JN_EINVAL, "image '%s': empty, not a PNG or JPEG", what);
        return jn_err_set(err, JN_EINVAL, "image '%s': not a PNG or JPEG (starts with %s)", what, hex);
    }
    }
    if (rc)
        return rc;
    int dc = want_channels ? want_channels : (c <= 2 ? 1 : 3);
    int64_t shape[3] = {h, w, dc};
    jn_tensor *t = jn_tensor_create("image", JN_DTYPE_UINT8, 3, shape, err);
    if (!t) {
        free(pixels);
        return err ? err->code : JN_ENOMEM;
    }
    if (dc == c)
        memcpy(t->data, pixels, (size_t)w * h * c);
    else
        convert_pixels(pixels, c, t->data, dc, (size_t)w * h);
    free(pixels);
    *out = t;
    return 0;
}
