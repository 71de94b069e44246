/* adapters/codec + engines/vision/preprocess: every PNG color type and bit depth and the JPEG flavours decode to
 * the pixels make_fixtures.py computed independently; limits, damaged files and their messages; the resize +
 * normalization against PIL's float resize; the decode-image conversion and the image-preprocess engine. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "builtin.h"
#include "codec.h"
#include "convert.h"
#include "pipeline.h"
#include "registry.h"
#include "test.h"
#include "vision/preprocess.h"

/* Calls fill err only on failure: start each checked call from a clear record. */
#define CHECK_ERR(call, err, want)                                                                             \
    do {                                                                                                       \
        jn_err_clear(&(err));                                                                                  \
        JN_CHECK_ERR(call, err, want);                                                                         \
    } while (0)

static uint8_t *slurp(const char *name, size_t *len)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", JN_CODEC_FIXTURES, name);
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "cannot open %s\n", path);
        exit(1);
    }
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *buf = malloc(n > 0 ? (size_t)n : 1);
    JN_REQUIRE(buf && fread(buf, 1, (size_t)n, f) == (size_t)n);
    fclose(f);
    *len = (size_t)n;
    return buf;
}

/* Max |a - b| over n bytes. */
static int max_diff(const uint8_t *a, const uint8_t *b, size_t n)
{
    int m = 0;
    for (size_t i = 0; i < n; i++) {
        int d = abs((int)a[i] - (int)b[i]);
        m = d > m ? d : m;
    }
    return m;
}

static void check_fixture(const char *file, const char *expect, int native_channels, int tol, int gray_tol)
{
    size_t len, elen;
    uint8_t *data = slurp(file, &len), *exp = slurp(expect, &elen);
    JN_REQUIRE(elen == 7 * 5 * 3);
    jn_err err;
    jn_tensor *t = NULL;
    /* as RGB */
    jn_err_clear(&err);
    int rc = jn_image_decode(data, len, 3, JN_IMAGE_DEFAULT_MAX_PIXELS, "image", &t, &err);
    JN_CHECK_ERR(rc, err, 0);
    if (!rc) {
        JN_CHECK_INT_EQ(t->dtype, JN_DTYPE_UINT8);
        JN_CHECK_INT_EQ(t->ndim, 3);
        JN_CHECK_INT_EQ(t->shape[0], 5);
        JN_CHECK_INT_EQ(t->shape[1], 7);
        JN_CHECK_INT_EQ(t->shape[2], 3);
        int d = max_diff(t->data, exp, elen);
        if (d > tol)
            fprintf(stderr, "%s: max difference %d\n", file, d);
        JN_CHECK_INT_OP(d, <=, tol);
        jn_tensor_free(t);
    }
    /* native channel count */
    jn_err_clear(&err);
    rc = jn_image_decode(data, len, 0, JN_IMAGE_DEFAULT_MAX_PIXELS, "image", &t, &err);
    JN_CHECK_ERR(rc, err, 0);
    if (!rc) {
        JN_CHECK_INT_EQ(t->shape[2], native_channels);
        if (native_channels == 1) { /* gray: the expected RGB has r == g == b */
            uint8_t g[35];
            for (int i = 0; i < 35; i++)
                g[i] = exp[3 * i];
            JN_CHECK_INT_OP(max_diff(t->data, g, 35), <=, tol);
        }
        jn_tensor_free(t);
    }
    /* as gray: luma of the RGB pixels, within a level of rounding */
    jn_err_clear(&err);
    rc = jn_image_decode(data, len, 1, JN_IMAGE_DEFAULT_MAX_PIXELS, "image", &t, &err);
    JN_CHECK_ERR(rc, err, 0);
    if (!rc) {
        JN_CHECK_INT_EQ(t->shape[2], 1);
        uint8_t g[35];
        for (int i = 0; i < 35; i++)
            g[i] = (uint8_t)lround(0.299 * exp[3 * i] + 0.587 * exp[3 * i + 1] + 0.114 * exp[3 * i + 2]);
        JN_CHECK_INT_OP(max_diff(t->data, g, 35), <=, gray_tol);
        jn_tensor_free(t);
    }
    free(data);
    free(exp);
}

static void test_png_color_types(void)
{
    check_fixture("gray8.png", "gray8.rgb", 1, 0, 1);
    check_fixture("graya8.png", "graya8.rgb", 1, 0, 1);
    check_fixture("gray1.png", "gray1.rgb", 1, 0, 1);
    check_fixture("gray16.png", "gray16.rgb", 1, 0, 1);
    check_fixture("rgb8.png", "rgb8.rgb", 3, 0, 1);
    check_fixture("rgba8.png", "rgba8.rgb", 3, 0, 1);
    check_fixture("rgb16.png", "rgb16.rgb", 3, 0, 1);
    check_fixture("rgba16.png", "rgba16.rgb", 3, 0, 1);
    check_fixture("palette.png", "palette.rgb", 3, 0, 1);
    check_fixture("palette_pil.png", "palette_pil.rgb", 3, 0, 1);
}

static void test_jpeg(void)
{
    check_fixture("baseline.jpg", "baseline.rgb", 3, 2, 8);
    check_fixture("progressive.jpg", "progressive.rgb", 3, 2, 8);
    check_fixture("grayjpeg.jpg", "grayjpeg.rgb", 1, 2, 8);
}

static void expect_error(const char *file, uint64_t limit, const char *needle)
{
    size_t len;
    uint8_t *data = slurp(file, &len);
    jn_err err;
    jn_err_clear(&err);
    jn_tensor *t = NULL;
    int rc = jn_image_decode(data, len, 3, limit, "image", &t, &err);
    JN_CHECK_ERR(rc, err, JN_EINVAL);
    JN_CHECK_STR_CONTAINS(err.msg, needle);
    JN_CHECK(t == NULL);
    free(data);
}

static void test_damaged(void)
{
    expect_error("truncated_png.bin", JN_IMAGE_DEFAULT_MAX_PIXELS, "image 'image': PNG is truncated");
    expect_error("truncated_jpg.bin", JN_IMAGE_DEFAULT_MAX_PIXELS, "image 'image': JPEG is truncated");
    expect_error("corrupt_png.bin", JN_IMAGE_DEFAULT_MAX_PIXELS, "image 'image': corrupt PNG (");
    expect_error("huge_png.bin", JN_IMAGE_DEFAULT_MAX_PIXELS,
                 "PNG header promises 70000x70000 pixels, over the limit of 67108864");
    expect_error("huge_jpg.bin", JN_IMAGE_DEFAULT_MAX_PIXELS,
                 "JPEG header promises 60000x60000 pixels, over the limit of 67108864");
    expect_error("gif.bin", JN_IMAGE_DEFAULT_MAX_PIXELS, "not a PNG or JPEG (starts with 47 49 46 38)");
    /* the limit is the caller's: 7 x 5 = 35 pixels */
    expect_error("rgb8.png", 34, "PNG header promises 7x5 pixels, over the limit of 34");
    expect_error("baseline.jpg", 34, "JPEG header promises 7x5 pixels, over the limit of 34");
    jn_err err;
    jn_tensor *t = NULL;
    CHECK_ERR(jn_image_decode((const uint8_t *)"", 0, 0, 100, "x", &t, &err), err, JN_EINVAL);
    JN_CHECK_STR_CONTAINS(err.msg, "image 'x': empty");
    /* every prefix of a good file fails cleanly (no crash, a message) */
    size_t len;
    uint8_t *data = slurp("rgba16.png", &len);
    for (size_t n = 0; n < len; n++) {
        jn_err_clear(&err);
        int rc = jn_image_decode(data, n, 3, 1000, "image", &t, &err);
        JN_CHECK_ERR(rc, err, JN_EINVAL);
    }
    free(data);
    data = slurp("progressive.jpg", &len);
    for (size_t n = 0; n + 2 < len; n++) { /* all but the last EOI marker */
        jn_err_clear(&err);
        int rc = jn_image_decode(data, n, 3, 1000, "image", &t, &err);
        JN_CHECK_ERR(rc, err, JN_EINVAL);
        if (rc == 0)
            jn_tensor_free(t);
    }
    free(data);
}

static void test_png_encode_roundtrip(void)
{
    uint8_t px[4 * 3 * 3];
    for (size_t i = 0; i < sizeof px; i++)
        px[i] = (uint8_t)(i * 7);
    uint8_t *buf = NULL;
    size_t n = 0;
    jn_err err;
    CHECK_ERR(jn_png_encode(4, 3, 3, px, &buf, &n, &err), err, 0);
    JN_CHECK_INT_EQ(jn_image_detect(buf, n), JN_IMAGE_PNG);
    jn_tensor *t = NULL;
    CHECK_ERR(jn_image_decode(buf, n, 0, 100, "image", &t, &err), err, 0);
    if (t) {
        JN_CHECK_INT_EQ(t->shape[0], 3);
        JN_CHECK_INT_EQ(t->shape[1], 4);
        JN_CHECK_INT_EQ(memcmp(t->data, px, sizeof px), 0);
        jn_tensor_free(t);
    }
    free(buf);
    CHECK_ERR(jn_png_encode(0, 3, 3, px, &buf, &n, &err), err, JN_EINVAL);
}

static float max_fdiff(const float *a, const float *b, size_t n)
{
    float m = 0;
    for (size_t i = 0; i < n; i++) {
        float d = fabsf(a[i] - b[i]);
        m = d > m || d != d ? d : m;
    }
    return m;
}

static void check_preprocess(const char *name, const jn_preprocess_config *cfg)
{
    char file[64];
    size_t len, elen;
    snprintf(file, sizeof file, "%s.png", name);
    uint8_t *data = slurp(file, &len);
    snprintf(file, sizeof file, "%s.f32", name);
    float *exp = (float *)slurp(file, &elen);
    size_t n = (size_t)cfg->channels * cfg->width * cfg->height;
    JN_REQUIRE(elen == n * sizeof(float));
    float *out = calloc(n, sizeof *out);
    jn_err err;
    CHECK_ERR(jn_image_to_nchw(data, len, cfg, out, &err), err, 0);
    float d = max_fdiff(out, exp, n);
    if (!(d <= 1e-4f))
        fprintf(stderr, "%s: max difference %g\n", name, d);
    JN_CHECK(d <= 1e-4f);
    free(out);
    free(exp);
    free(data);
}

static void test_preprocess_against_pil(void)
{
    jn_preprocess_config cfg;
    jn_preprocess_config_default(&cfg);
    cfg.width = cfg.height = 16; /* 37x23 -> shorter side 16 (26x16), centre 16x16, ImageNet */
    check_preprocess("pre_crop", &cfg);
    jn_preprocess_config fashion = {.width = 28, .height = 28, .channels = 1, .mean = {0}, .std = {1}};
    check_preprocess("pre_gray28", &fashion);
    jn_preprocess_config up = {.width = 12, .height = 9, .channels = 3, .mean = {0, 0, 0}, .std = {1, 1, 1}};
    check_preprocess("pre_up", &up);
}

static void test_resample_by_hand(void)
{
    jn_err err;
    jn_preprocess_config cfg = {.width = 1, .height = 1, .channels = 1, .mean = {0}, .std = {1}};
    /* 2x2 -> 1x1 is the mean of the four (antialiasing: the triangle widens to cover them all) */
    const uint8_t px[4] = {0, 51, 102, 255};
    float out[12];
    CHECK_ERR(jn_pixels_to_nchw(px, 2, 2, &cfg, out, &err), err, 0);
    JN_CHECK(fabsf(out[0] - (0 + 51 + 102 + 255) / 4.0f / 255.0f) < 1e-6f);
    /* 4x1 -> 2x1: each output averages its pair with weights 3/8,3/8 (inner) 1/8,... PIL's triangle of width 2 */
    const uint8_t row[4] = {0, 255, 0, 255};
    cfg.width = 2;
    CHECK_ERR(jn_pixels_to_nchw(row, 4, 1, &cfg, out, &err), err, 0);
    /* centre 1.0, taps x=0..2 at distances 0.5,0.5,1.5 -> weights .75,.75,.25 over 1.75 */
    JN_CHECK(fabsf(out[0] - (0.75f * 0 + 0.75f * 1 + 0.25f * 0) / 1.75f) < 1e-6f);
    /* a constant image stays constant whatever the size */
    uint8_t flat[9 * 3];
    memset(flat, 200, sizeof flat);
    cfg = (jn_preprocess_config){.width = 2, .height = 2, .channels = 3, .mean = {0.5f, 0.5f, 0.5f},
                                 .std = {0.25f, 0.25f, 0.25f}, .crop = true};
    CHECK_ERR(jn_pixels_to_nchw(flat, 3, 3, &cfg, out, &err), err, 0);
    float want = (200.0f / 255.0f - 0.5f) / 0.25f, got[12];
    CHECK_ERR(jn_pixels_to_nchw(flat, 3, 3, &cfg, got, &err), err, 0);
    for (int i = 0; i < 12; i++)
        JN_CHECK(fabsf(got[i] - want) < 1e-5f);
    cfg.std[1] = 0;
    CHECK_ERR(jn_pixels_to_nchw(flat, 3, 3, &cfg, got, &err), err, JN_EINVAL);
}

static jn_tensor *bytes_tensor(const char *name, const char *const *files, size_t n)
{
    const char *strs[4] = {0};
    size_t lens[4] = {0};
    uint8_t *bufs[4] = {0};
    for (size_t i = 0; i < n; i++) {
        bufs[i] = slurp(files[i], &lens[i]);
        strs[i] = (const char *)bufs[i];
    }
    int64_t shape[1] = {(int64_t)n};
    jn_err err;
    jn_tensor *t = jn_tensor_from_strings(name, 1, shape, strs, lens, n, &err);
    for (size_t i = 0; i < n; i++)
        free(bufs[i]);
    JN_REQUIRE(t);
    return t;
}

static void test_engine(void)
{
    jn_err err;
    jn_engine *e = jn_preprocess_create("image-preprocess", NULL, &err);
    JN_REQUIRE(e);
    const char *files[2] = {"pre_crop.png", "baseline.jpg"};
    jn_tensor_list in, out;
    jn_tensor_list_init(&in);
    jn_tensor_list_init(&out);
    jn_tensor_list_push(&in, bytes_tensor("image", files, 2));
    CHECK_ERR(jn_signature_validate_inputs(&e->sig, "image-preprocess", &in, &err), err, 0);
    jn_infer_ctx ctx = {.model = "image-preprocess", .request_id = ""};
    CHECK_ERR(e->vt->infer(e, &ctx, &in, &out, &err), err, 0);
    jn_tensor *t = jn_tensor_list_find(&out, "tensor");
    JN_REQUIRE(t);
    JN_CHECK_INT_EQ(t->ndim, 4);
    JN_CHECK_INT_EQ(t->shape[0], 2);
    JN_CHECK_INT_EQ(t->shape[1], 3);
    JN_CHECK_INT_EQ(t->shape[2], 256);
    JN_CHECK_INT_EQ(t->shape[3], 256);
    CHECK_ERR(jn_port_check_tensor("image-preprocess", "output", &e->sig.outputs[0], t, &err), err, 0);
    jn_tensor_list_clear(&out);
    jn_tensor_list_clear(&in);
    /* a bad element is named by its index */
    const char *bad[2] = {"rgb8.png", "truncated_png.bin"};
    jn_tensor_list_push(&in, bytes_tensor("image", bad, 2));
    CHECK_ERR(e->vt->infer(e, &ctx, &in, &out, &err), err, JN_EINVAL);
    JN_CHECK_STR_CONTAINS(err.msg, "image 'image[1]': PNG is truncated");
    jn_tensor_list_clear(&in);
    jn_engine_unref(e);
}

static void test_conversion(void)
{
    JN_CHECK_INT_EQ(jn_convert_register(&jn_decode_image_conversion), 0);
    JN_CHECK_INT_EQ(jn_convert_register(&jn_decode_image_conversion), 0); /* idempotent */
    const int64_t any[1] = {-1}, nchw[4] = {-1, 1, 28, 28}, chw[3] = {3, 4, 5}, bad[4] = {-1, 2, 28, 28};
    jn_port from = {.name = "image", .kind = JN_KIND_IMAGE, .dtype = JN_DTYPE_BYTES, .ndim = 1, .shape = {-1}};
    (void)any;
    jn_port to = {.name = "input", .kind = JN_KIND_TENSOR, .dtype = JN_DTYPE_FP32, .ndim = 4};
    memcpy(to.shape, nchw, sizeof nchw);
    jn_convert_step chain[JN_CONVERT_MAX_CHAIN];
    JN_CHECK_INT_EQ(jn_convert_plan(&from, &to, NULL, chain), 1);
    JN_CHECK_STR_EQ(chain[0].conv->name, "decode-image");
    const char *files[2] = {"pre_gray28.png", "rgba8.png"};
    jn_tensor *out = NULL;
    jn_err err;
    CHECK_ERR(jn_convert_apply(chain, 1, bytes_tensor("input", files, 2), &out, &err), err, 0);
    if (out) {
        JN_CHECK_STR_EQ(out->name, "input");
        JN_CHECK_INT_EQ(out->shape[0], 2);
        JN_CHECK_INT_EQ(out->shape[1], 1);
        /* plain resize 40x40 -> 28x28, x/255: the first image equals the fashion config's output */
        size_t len;
        float *exp = (float *)slurp("pre_gray28.f32", &len);
        JN_CHECK(max_fdiff(out->data, exp, 28 * 28) <= 1e-4f);
        free(exp);
        const float *f = out->data;
        for (size_t i = 0; i < 2 * 28 * 28; i++)
            JN_CHECK(f[i] >= 0.0f && f[i] <= 1.0f);
        jn_tensor_free(out);
    }
    /* rank 3: one image */
    to.ndim = 3;
    memcpy(to.shape, chw, sizeof chw);
    to.kind = JN_KIND_IMAGE_TENSOR;
    JN_CHECK_INT_EQ(jn_convert_plan(&from, &to, NULL, chain), 1);
    const char *one[1] = {"rgb8.png"};
    CHECK_ERR(jn_convert_apply(chain, 1, bytes_tensor("input", one, 1), &out, &err), err, 0);
    if (out) {
        JN_CHECK_INT_EQ(out->ndim, 3);
        JN_CHECK_INT_EQ(out->shape[2], 5);
        jn_tensor_free(out);
    }
    CHECK_ERR(jn_convert_apply(chain, 1, bytes_tensor("input", files, 2), &out, &err), err, JN_EINVAL);
    /* no plan for 2 channels, or to a non-float */
    to.ndim = 4;
    memcpy(to.shape, bad, sizeof bad);
    JN_CHECK_INT_EQ(jn_convert_plan(&from, &to, NULL, chain), -1);
    memcpy(to.shape, nchw, sizeof nchw);
    to.dtype = JN_DTYPE_UINT8;
    JN_CHECK_INT_EQ(jn_convert_plan(&from, &to, NULL, chain), -1);
}

/* A model that takes FP32 [N,1,4,4] and returns it: what a pipeline feeds it shows the conversion's work. */
static int echo_infer(jn_engine *self, const jn_infer_ctx *ctx, const jn_tensor_list *inputs, jn_tensor_list *outputs,
                      jn_err *err)
{
    jn_tensor *t = jn_tensor_share(jn_tensor_list_find(inputs, "input"), "output", err);
    return !t ? err->code : jn_tensor_list_push(outputs, t) ? JN_ENOMEM : 0;
}

static const jn_engine_vtable echo_vtable = {.abi_version = JN_ENGINE_ABI_VERSION, .platform = "test",
                                             .infer = echo_infer};

static void test_pipeline_inserts_decode(void)
{
    jn_err err;
    jn_registry *reg = jn_registry_create();
    JN_REQUIRE(reg);
    CHECK_ERR(jn_builtin_register_all(reg, NULL, &err), err, 0); /* registers decode-image */
    jn_engine *echo = jn_engine_create(&echo_vtable, "nchw-echo", "1", NULL, NULL, &err);
    JN_REQUIRE(echo);
    const int64_t shape[4] = {-1, 1, 4, 4};
    JN_REQUIRE(jn_signature_add_input(&echo->sig, "input", JN_KIND_IMAGE_TENSOR, JN_DTYPE_FP32, 4, shape, &err) == 0);
    JN_REQUIRE(jn_signature_add_output(&echo->sig, "output", JN_KIND_IMAGE_TENSOR, JN_DTYPE_FP32, 4, shape, &err) == 0);
    CHECK_ERR(jn_registry_add(reg, echo, &err), err, 0);
    static const char json[] =
        "{\"name\": \"img-pipe\", \"inputs\": [{\"name\": \"img\", \"kind\": \"IMAGE\", \"datatype\": \"BYTES\", "
        "\"shape\": [-1]}], \"steps\": [{\"id\": \"m\", \"model\": \"nchw-echo\", \"inputs\": {\"input\": \"img\"}}], "
        "\"outputs\": [{\"name\": \"x\", \"from\": \"m.output\"}]}";
    jn_pipeline_spec spec;
    CHECK_ERR(jn_pipeline_spec_from_json(json, sizeof json - 1, &spec, &err), err, 0);
    jn_engine *p = jn_pipeline_compile(&spec, reg, &err);
    jn_pipeline_spec_free(&spec);
    JN_CHECK(p != NULL);
    if (!p) {
        fprintf(stderr, "compile: %s\n", err.msg);
        jn_registry_destroy(reg);
        return;
    }
    char *plan = jn_pipeline_plan_text(p);
    JN_CHECK_STR_CONTAINS(plan, "decode-image");
    free(plan);
    const char *files[1] = {"pre_crop.png"};
    jn_tensor_list in, out;
    jn_tensor_list_init(&in);
    jn_tensor_list_init(&out);
    jn_tensor_list_push(&in, bytes_tensor("img", files, 1));
    jn_infer_ctx ctx = {.model = "img-pipe", .request_id = ""};
    CHECK_ERR(p->vt->infer(p, &ctx, &in, &out, &err), err, 0);
    jn_tensor *x = jn_tensor_list_find(&out, "x");
    JN_CHECK(x != NULL);
    if (x) {
        JN_CHECK_INT_EQ(x->ndim, 4);
        JN_CHECK_INT_EQ(x->shape[0], 1);
        JN_CHECK_INT_EQ(x->shape[1], 1);
        JN_CHECK_INT_EQ(x->shape[3], 4);
        size_t len;
        uint8_t *png = slurp("pre_crop.png", &len);
        jn_preprocess_config cfg = {.width = 4, .height = 4, .channels = 1, .mean = {0}, .std = {1}};
        float want[16];
        CHECK_ERR(jn_image_to_nchw(png, len, &cfg, want, &err), err, 0);
        JN_CHECK(max_fdiff(x->data, want, 16) == 0.0f);
        free(png);
    }
    jn_tensor_list_clear(&out);
    jn_tensor_list_clear(&in);
    jn_engine_unref(p);
    jn_registry_destroy(reg);
}

int main(void)
{
    JN_TEST_RUN(test_png_color_types);
    JN_TEST_RUN(test_jpeg);
    JN_TEST_RUN(test_damaged);
    JN_TEST_RUN(test_png_encode_roundtrip);
    JN_TEST_RUN(test_preprocess_against_pil);
    JN_TEST_RUN(test_resample_by_hand);
    JN_TEST_RUN(test_engine);
    JN_TEST_RUN(test_conversion);
    JN_TEST_RUN(test_pipeline_inserts_decode);
    return JN_TEST_EXIT();
}
