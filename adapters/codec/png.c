/* png.c — PNG through libpng: every bit depth and color type to 8-bit samples, and 8-bit gray/RGB encoding.
 *
 * libpng reports errors by longjmp; each call owns its png_struct and jmp_buf, so decoding is reentrant. The IHDR
 * is read and width x height checked against max_pixels before any row is allocated.
 */
#include <png.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

typedef struct png_io {
    const uint8_t *data;
    size_t len, pos;
    int truncated;
    char msg[200]; /* libpng's error text */
} png_io;

static void png_on_error(png_structp png, png_const_charp msg)
{
    png_io *io = png_get_error_ptr(png);
    snprintf(io->msg, sizeof io->msg, "%s", msg ? msg : "unknown error");
    png_longjmp(png, 1);
}

static void png_on_warning(png_structp png, png_const_charp msg)
{
    (void)png;
    (void)msg;
}

static void png_read_mem(png_structp png, png_bytep out, size_t n)
{
    png_io *io = png_get_io_ptr(png);
    if (n > io->len - io->pos) {
        io->truncated = 1;
        png_error(png, "truncated");
    }
    memcpy(out, io->data + io->pos, n);
    io->pos += n;
}

int jn__png_decode(const uint8_t *data, size_t len, uint64_t max_pixels, const char *what, uint8_t **pixels_out,
                   int *width_out, int *height_out, int *channels_out, jn_err *err)
{
    /* IHDR must be the first chunk: check its size before libpng reads on (and allocates) past it. */
    if (len >= 24 && memcmp(data + 12, "IHDR", 4) == 0) {
        uint64_t w = (uint64_t)data[16] << 24 | (uint64_t)data[17] << 16 | (uint64_t)data[18] << 8 | data[19];
        uint64_t h = (uint64_t)data[20] << 24 | (uint64_t)data[21] << 16 | (uint64_t)data[22] << 8 | data[23];
        if (w * h > max_pixels)
            return jn_err_set(err, JN_EINVAL, "image '%s': PNG header promises %llux%llu pixels, over the limit of %llu",
                              what, (unsigned long long)w, (unsigned long long)h, (unsigned long long)max_pixels);
    }
    /* Every chunk must fit in the file: libpng would otherwise allocate what a damaged length field claims (up to
     * 2 GiB for a text chunk) before noticing the data is not there. */
    for (size_t pos = 8; pos + 8 <= len;) {
        uint32_t n = (uint32_t)data[pos] << 24 | (uint32_t)data[pos + 1] << 16 | (uint32_t)data[pos + 2] << 8 |
                     data[pos + 3];
        if ((uint64_t)n + 12 > len - pos) {
            char type[5] = {0};
            for (int i = 0; i < 4; i++)
                type[i] = data[pos + 4 + i] >= 0x20 && data[pos + 4 + i] < 0x7f ? (char)data[pos + 4 + i] : '?';
            return jn_err_set(err, JN_EINVAL, "image '%s': PNG is truncated (chunk '%s' at byte %zu claims %u bytes, "
                              "%zu left)", what, type, pos, (unsigned)n, len - pos - 8);
        }
        if (memcmp(data + pos + 4, "IEND", 4) == 0)
            break;
        pos += (size_t)n + 12;
    }
    png_io io = {.data = data, .len = len};
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &io, png_on_error, png_on_warning);
    if (!png)
        return jn_err_set(err, JN_ENOMEM, "image '%s': out of memory", what);
    png_infop info = png_create_info_struct(png);
    /* Modified after setjmp, read after longjmp: volatile. */
    uint8_t *volatile pixels = NULL;
    png_bytep *volatile rows = NULL;
    volatile int rc = 0;
    if (!info) {
        png_destroy_read_struct(&png, NULL, NULL);
        return jn_err_set(err, JN_ENOMEM, "image '%s': out of memory", what);
    }
    if (setjmp(png_jmpbuf(png))) {
        if (rc == 0) {
            if (io.truncated)
                rc = jn_err_set(err, JN_EINVAL, "image '%s': PNG is truncated (%zu bytes)", what, len);
            else
                rc = jn_err_set(err, JN_EINVAL, "image '%s': corrupt PNG (%s)", what, io.msg);
        }
        free(pixels);
        free(rows);
        png_destroy_read_struct(&png, &info, NULL);
        return rc;
    }
    png_set_read_fn(png, &io, png_read_mem);
    png_set_user_limits(png, 0x7fffffff, 0x7fffffff); /* our own pixel limit below is the one that counts */
    png_set_chunk_malloc_max(png, 8u << 20);
    png_read_info(png, info);
    png_uint_32 w = png_get_image_width(png, info), h = png_get_image_height(png, info);
    if ((uint64_t)w * h > max_pixels) {
        rc = jn_err_set(err, JN_EINVAL, "image '%s': PNG header promises %ux%u pixels, over the limit of %llu",
                        what, (unsigned)w, (unsigned)h, (unsigned long long)max_pixels);
        png_longjmp(png, 1);
    }
    int color = png_get_color_type(png, info), depth = png_get_bit_depth(png, info);
    if (color == PNG_COLOR_TYPE_PALETTE)
        png_set_palette_to_rgb(png);
    if (color == PNG_COLOR_TYPE_GRAY && depth < 8)
        png_set_expand_gray_1_2_4_to_8(png);
    if (png_get_valid(png, info, PNG_INFO_tRNS))
        png_set_tRNS_to_alpha(png);
    if (depth == 16)
        png_set_scale_16(png);
    png_set_interlace_handling(png);
    png_read_update_info(png, info);
    int channels = png_get_channels(png, info);
    size_t rowbytes = png_get_rowbytes(png, info);
    if (channels < 1 || channels > 4 || png_get_bit_depth(png, info) != 8 || rowbytes != (size_t)w * channels) {
        snprintf(io.msg, sizeof io.msg, "unsupported layout: %d channels of %d bits", channels,
                 png_get_bit_depth(png, info));
        png_longjmp(png, 1);
    }
    size_t total = rowbytes * h;
    pixels = malloc(total ? total : 1);
    rows = malloc((h ? h : 1) * sizeof *rows);
    if (!pixels || !rows) {
        rc = jn_err_set(err, JN_ENOMEM, "image '%s': out of memory for %ux%u pixels", what, (unsigned)w,
                        (unsigned)h);
        png_longjmp(png, 1);
    }
    for (png_uint_32 y = 0; y < h; y++)
        rows[y] = pixels + (size_t)y * rowbytes;
    png_read_image(png, rows);
    png_read_end(png, NULL);
    free(rows);
    png_destroy_read_struct(&png, &info, NULL);
    *pixels_out = pixels;
    *width_out = (int)w;
    *height_out = (int)h;
    *channels_out = channels;
    return 0;
}

/* ---- encoding ---- */

typedef struct png_sink {
    uint8_t *buf;
    size_t len, cap;
    int oom;
} png_sink;

static void png_write_mem(png_structp png, png_bytep data, size_t n)
{
    png_sink *s = png_get_io_ptr(png);
    if (s->len + n > s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 4096;
        while (cap < s->len + n)
            cap *= 2;
        uint8_t *nb = realloc(s->buf, cap);
        if (!nb) {
            s->oom = 1;
            png_error(png, "out of memory");
        }
        s->buf = nb;
        s->cap = cap;
    }
    memcpy(s->buf + s->len, data, n);
    s->len += n;
}

static void png_flush_mem(png_structp png)
{
    (void)png;
}

int jn_png_encode(int width, int height, int channels, const uint8_t *pixels, uint8_t **out, size_t *out_len,
                  jn_err *err)
{
    if (width <= 0 || height <= 0 || (channels != 1 && channels != 3) || !pixels)
        return jn_err_set(err, JN_EINVAL, "PNG encode: need width, height > 0 and 1 or 3 channels, got %dx%dx%d",
                          width, height, channels);
    png_io io = {0};
    png_sink sink = {0};
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, &io, png_on_error, png_on_warning);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    if (!info) {
        png_destroy_write_struct(&png, NULL);
        return jn_err_set(err, JN_ENOMEM, "PNG encode: out of memory");
    }
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_write_struct(&png, &info);
        free(sink.buf);
        return jn_err_set(err, sink.oom ? JN_ENOMEM : JN_EINTERNAL, "PNG encode: %s", io.msg);
    }
    png_set_write_fn(png, &sink, png_write_mem, png_flush_mem);
    png_set_IHDR(png, info, (png_uint_32)width, (png_uint_32)height, 8,
                 channels == 1 ? PNG_COLOR_TYPE_GRAY : PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);
    for (int y = 0; y < height; y++)
        png_write_row(png, (png_const_bytep)(pixels + (size_t)y * width * channels));
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    *out = sink.buf;
    *out_len = sink.len;
    return 0;
}

int jn_png_write_file(const char *path, int width, int height, int channels, const uint8_t *pixels, jn_err *err)
{
    uint8_t *buf;
    size_t n;
    int rc = jn_png_encode(width, height, channels, pixels, &buf, &n, err);
    if (rc)
        return rc;
    FILE *f = fopen(path, "wb");
    if (!f) {
        free(buf);
        return jn_err_set(err, JN_EIO, "cannot write '%s'", path);
    }
    size_t wrote = fwrite(buf, 1, n, f);
    free(buf);
    if (fclose(f) != 0 || wrote != n)
        return jn_err_set(err, JN_EIO, "cannot write '%s'", path);
    return 0;
}
