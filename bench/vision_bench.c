/* vision_bench.c — in-process timings of junction's vision code for bench/vision.sh (not a test).
 *
 *   bench_vision preprocess FILE LABEL SECONDS   decode + resize + normalize FILE (PNG or JPEG) over and over, as
 *                                                image-preprocess does (256x256 RGB, center crop, ImageNet mean/std)
 *                                                and as fashion-cnn does (28x28 gray, x/255)
 *   bench_vision cnn CKPT BATCH THREADS SECONDS  fashion-cnn forward + softmax on BATCH images at a time
 *                                                (OpenBLAS limited to THREADS threads)
 *
 * Each prints one JSON line per measurement: {"side": "junction", "what": ..., "images_per_s": ...}. The clock
 * runs only around the work loop (after one untimed warm-up second), never around process start-up or file I/O.
 */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "jn_kernels.h"
#include "vision/cnn.h"
#include "vision/preprocess.h"
#include "safetensors.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static double cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int read_file(const char *path, uint8_t **data, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return -1;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    *data = malloc(n > 0 ? (size_t)n : 1);
    int ok = *data && n > 0 && fread(*data, 1, (size_t)n, f) == (size_t)n;
    fclose(f);
    if (!ok) {
        free(*data);
        return -1;
    }
    *len = (size_t)n;
    return 0;
}

/* Runs preprocess on the encoded image for `seconds` (after a one-second warm-up); returns images/s or -1 and
 * images per CPU second in *per_cpu_s. */
static double time_preprocess(const uint8_t *img, size_t len, const jn_preprocess_config *cfg, double seconds,
                              double *per_cpu_s)
{
    float *out = malloc((size_t)cfg->channels * cfg->width * cfg->height * sizeof(float));
    if (!out)
        return -1;
    jn_err err = {0};
    double rate = -1;
    for (int phase = 0; phase < 2; phase++) {
        double budget = phase == 0 ? 1.0 : seconds, t0 = now_s(), t = t0, c0 = cpu_s();
        long n = 0;
        while (t - t0 < budget) {
            for (int i = 0; i < 16; i++, n++)
                if (jn_image_to_nchw(img, len, cfg, out, &err) != 0) {
                    fprintf(stderr, "bench_vision: %s\n", err.msg);
                    free(out);
                    return -1;
                }
            t = now_s();
        }
        rate = (double)n / (t - t0);
        *per_cpu_s = (double)n / (cpu_s() - c0);
    }
    free(out);
    return rate;
}

static int cmd_preprocess(const char *path, const char *label, double seconds)
{
    uint8_t *img;
    size_t len;
    if (read_file(path, &img, &len) != 0) {
        fprintf(stderr, "bench_vision: cannot read '%s'\n", path);
        return 1;
    }
    jn_preprocess_config imagenet, fashion = {.width = 28, .height = 28, .channels = 1, .mean = {0, 0, 0},
                                               .std = {1, 1, 1}, .crop = false};
    jn_preprocess_config_default(&imagenet);
    double c1 = 0, c2 = 0;
    double r1 = time_preprocess(img, len, &imagenet, seconds, &c1);
    double r2 = time_preprocess(img, len, &fashion, seconds, &c2);
    free(img);
    if (r1 < 0 || r2 < 0)
        return 1;
    printf("{\"side\": \"junction\", \"what\": \"preprocess %s -> 3x256x256 imagenet\", \"images_per_s\": %.1f, "
           "\"images_per_cpu_s\": %.1f}\n",
           label, r1, c1);
    printf("{\"side\": \"junction\", \"what\": \"preprocess %s -> 1x28x28 fashion\", \"images_per_s\": %.1f, "
           "\"images_per_cpu_s\": %.1f}\n",
           label, r2, c2);
    return 0;
}

static int cmd_cnn(const char *ckpt, int batch, int threads, double seconds)
{
    jn_err err = {0};
    jn_tensor_list ts;
    jn_tensor_list_init(&ts);
    jn_cnn m;
    int rc = jn_safetensors_read(ckpt, &ts, NULL, &err);
    if (!rc)
        rc = jn_cnn_from_tensors(&m, &ts, 28, 28, 1, ckpt, &err);
    jn_tensor_list_clear(&ts);
    if (rc) {
        fprintf(stderr, "bench_vision: %s\n", err.msg);
        return 1;
    }
    openblas_set_num_threads(threads);
    size_t pix = (size_t)m.a.h * m.a.w * m.a.c;
    float *x = malloc((size_t)batch * pix * sizeof(float));
    float *logits = malloc((size_t)batch * m.a.classes * sizeof(float));
    jn_cnn_work *w = jn_cnn_work_create_infer(&m.a, batch);
    jn_cnn_packed *pk = jn_cnn_pack(&m); /* as the fashion-cnn engine does at load */
    if (!x || !logits || !w || !pk) {
        fprintf(stderr, "bench_vision: out of memory\n");
        return 1;
    }
    uint64_t s = 12345;
    for (size_t i = 0; i < (size_t)batch * pix; i++) {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        x[i] = (float)(s >> 40) / (float)(1 << 24);
    }
    double rate = 0, per_cpu = 0;
    for (int phase = 0; phase < 2; phase++) {
        double budget = phase == 0 ? 1.0 : seconds, t0 = now_s(), t = t0, c0 = cpu_s();
        long n = 0;
        while (t - t0 < budget) {
            jn_cnn_infer(pk, w, x, batch, logits);
            jn_cnn_softmax(logits, batch, m.a.classes);
            n += batch;
            t = now_s();
        }
        rate = (double)n / (t - t0);
        per_cpu = (double)n / (cpu_s() - c0);
    }
    printf("{\"side\": \"junction\", \"what\": \"cnn batch %d\", \"threads\": %d, \"isa\": \"%s\", "
           "\"images_per_s\": %.1f, \"images_per_cpu_s\": %.1f}\n",
           batch, threads, jn_k_isa_name(pk->isa), rate, per_cpu);
    free(x);
    free(logits);
    jn_cnn_work_destroy(w);
    jn_cnn_packed_free(pk);
    jn_cnn_free(&m);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 5 && strcmp(argv[1], "preprocess") == 0)
        return cmd_preprocess(argv[2], argv[3], atof(argv[4]));
    if (argc == 6 && strcmp(argv[1], "cnn") == 0)
        return cmd_cnn(argv[2], atoi(argv[3]), atoi(argv[4]), atof(argv[5]));
    fprintf(stderr, "usage: bench_vision preprocess FILE LABEL SECONDS\n"
                    "       bench_vision cnn CKPT BATCH THREADS SECONDS\n");
    return 2;
}
