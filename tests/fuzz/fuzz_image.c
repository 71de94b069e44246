/* Fuzz target: image decoding (adapters/codec: PNG and JPEG, sniffed) and the resample + normalize core behind it
 * (image-preprocess). The png and jpeg targets share this source and differ by corpus.
 * The input is the file itself, so the seed corpus is plain images (make_image_seeds.py). Must never crash, leak or
 * hang; every rejection must be JN_EINVAL/JN_ENOMEM with a message. The pixel limit is kept small (1 Mpx) so a
 * header promising a big image is refused rather than allocated. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "codec.h"
#include "vision/preprocess.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const int want[3] = {0, 1, 3};
    jn_err err;
    jn_err_clear(&err);
    jn_tensor *t = NULL;
    int rc = jn_image_decode(data, size, want[size % 3], 1u << 20, "image", &t, &err);
    if (rc) {
        if (err.code != rc || err.msg[0] == '\0' || (rc != JN_EINVAL && rc != JN_ENOMEM) || t) {
            fprintf(stderr, "rejection without a matching code and message: rc=%d code=%d msg='%s'\n", rc, err.code,
                    err.msg);
            abort();
        }
        return 0;
    }
    if (t->ndim != 3 || t->dtype != JN_DTYPE_UINT8 || t->byte_size != (size_t)(t->shape[0] * t->shape[1] * t->shape[2]))
        abort();
    int c = (int)t->shape[2];
    if (t->shape[0] > 0 && t->shape[1] > 0) {
        /* odd sizes both ways: shrink with crop, enlarge without */
        jn_preprocess_config cfg = {.width = 5, .height = 3, .channels = c, .mean = {0.5f, 0.5f, 0.5f},
                                    .std = {0.25f, 0.25f, 0.25f}, .crop = (size & 4) != 0};
        float out[3 * 5 * 3];
        if (jn_pixels_to_nchw(t->data, (int)t->shape[1], (int)t->shape[0], &cfg, out, &err))
            abort();
        for (size_t i = 0; i < (size_t)c * 15; i++)
            if (!(out[i] >= -2.0f && out[i] <= 2.0f)) { /* (x/255 - .5)/.25 stays within [-2, 2] */
                fprintf(stderr, "preprocess value %g out of [-2, 2]\n", out[i]);
                abort();
            }
    }
    jn_tensor_free(t);
    return 0;
}
