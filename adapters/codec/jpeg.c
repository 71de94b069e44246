/* jpeg.c — JPEG through libjpeg-turbo to 8-bit gray or RGB.
 *
 * libjpeg's error_exit is replaced by a longjmp back into jn__jpeg_decode (per call, so reentrant). Warnings that
 * mean the data is damaged (premature end, bad Huffman code, corrupt segment) fail the decode too: a truncated
 * file must not come back as a half-grey image. The header's width x height is checked before
 * jpeg_start_decompress allocates anything, and a progress monitor caps the number of progressive scans (a
 * small file with thousands of scans would otherwise take seconds).
 */
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h>
#include <jerror.h>

#include "internal.h"

#define JPEG_MAX_SCANS 500

typedef struct jpeg_guard {
    struct jpeg_error_mgr pub; /* first: libjpeg casts cinfo->err to this */
    struct jpeg_progress_mgr progress;
    jmp_buf jmp;
    int truncated;
    char msg[JMSG_LENGTH_MAX + 32];
} jpeg_guard;

static void jpeg_on_error(j_common_ptr cinfo)
{
    jpeg_guard *g = (jpeg_guard *)cinfo->err;
    cinfo->err->format_message(cinfo, g->msg);
    longjmp(g->jmp, 1);
}

static void jpeg_on_message(j_common_ptr cinfo, int level)
{
    if (level >= 0)
        return; /* trace messages */
    jpeg_guard *g = (jpeg_guard *)cinfo->err;
    int code = cinfo->err->msg_code;
    if (code == JWRN_JPEG_EOF) {
        g->truncated = 1;
        longjmp(g->jmp, 1);
    }
    if (code == JWRN_HIT_MARKER || code == JWRN_HUFF_BAD_CODE || code == JWRN_MUST_RESYNC ||
        code == JWRN_NOT_SEQUENTIAL || code == JWRN_BOGUS_PROGRESSION) {
        cinfo->err->format_message(cinfo, g->msg);
        longjmp(g->jmp, 1);
    }
    /* others (extraneous bytes between markers, odd APP markers) are harmless */
}

static void jpeg_on_progress(j_common_ptr cinfo)
{
    if (!cinfo->is_decompressor)
        return;
    j_decompress_ptr d = (j_decompress_ptr)cinfo;
    if (d->input_scan_number > JPEG_MAX_SCANS) {
        jpeg_guard *g = (jpeg_guard *)cinfo->err;
        snprintf(g->msg, sizeof g->msg, "more than %d progressive scans", JPEG_MAX_SCANS);
        longjmp(g->jmp, 1);
    }
}

int jn__jpeg_decode(const uint8_t *data, size_t len, uint64_t max_pixels, const char *what, int want_gray,
                    uint8_t **pixels_out, int *width_out, int *height_out, int *channels_out, jn_err *err)
{
    struct jpeg_decompress_struct cinfo;
    jpeg_guard g;
    memset(&g, 0, sizeof g);
    uint8_t *volatile pixels = NULL;
    volatile int rc = 0;
    cinfo.err = jpeg_std_error(&g.pub);
    g.pub.error_exit = jpeg_on_error;
    g.pub.emit_message = jpeg_on_message;
    if (setjmp(g.jmp)) {
        if (rc == 0) {
            if (g.truncated)
                rc = jn_err_set(err, JN_EINVAL, "image '%s': JPEG is truncated (%zu bytes)", what, len);
            else
                rc = jn_err_set(err, JN_EINVAL, "image '%s': corrupt or unsupported JPEG (%s)", what, g.msg);
        }
        free(pixels);
        jpeg_destroy_decompress(&cinfo);
        return rc;
    }
    jpeg_create_decompress(&cinfo);
    g.progress.progress_monitor = jpeg_on_progress;
    cinfo.progress = &g.progress;
    jpeg_mem_src(&cinfo, data, (unsigned long)len);
    jpeg_read_header(&cinfo, TRUE);
    uint64_t w = cinfo.image_width, h = cinfo.image_height;
    if (w * h > max_pixels) {
        rc = jn_err_set(err, JN_EINVAL, "image '%s': JPEG header promises %llux%llu pixels, over the limit of %llu",
                        what, (unsigned long long)w, (unsigned long long)h, (unsigned long long)max_pixels);
        longjmp(g.jmp, 1);
    }
    cinfo.out_color_space = want_gray || cinfo.num_components == 1 ? JCS_GRAYSCALE : JCS_RGB;
    cinfo.dct_method = JDCT_ISLOW; /* the accurate one: results match other decoders within a level or two */
    jpeg_start_decompress(&cinfo);
    int channels = cinfo.output_components;
    if (channels != 1 && channels != 3) {
        snprintf(g.msg, sizeof g.msg, "%d output components", channels);
        longjmp(g.jmp, 1);
    }
    size_t stride = (size_t)cinfo.output_width * channels;
    size_t total = stride * cinfo.output_height;
    pixels = malloc(total ? total : 1);
    if (!pixels) {
        rc = jn_err_set(err, JN_ENOMEM, "image '%s': out of memory for %llux%llu pixels", what,
                        (unsigned long long)w, (unsigned long long)h);
        longjmp(g.jmp, 1);
    }
    while (cinfo.output_scanline < cinfo.output_height) {
        JSAMPROW row = pixels + (size_t)cinfo.output_scanline * stride;
        jpeg_read_scanlines(&cinfo, &row, 1);
    }
    jpeg_finish_decompress(&cinfo);
    *width_out = (int)cinfo.output_width;
    *height_out = (int)cinfo.output_height;
    *channels_out = channels;
    *pixels_out = pixels;
    jpeg_destroy_decompress(&cinfo);
    return 0;
}
