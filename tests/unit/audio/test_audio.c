/* adapters/codec/audio + engines/audio: WAV bytes built here decode to the exact samples, down-mix, libsoxr
 * resampling against an analytic sine, every limit with its message; log-mel against a direct DFT in double written
 * here; the AUDIO check, the defaults and the AUDIO_TENSOR conversion in the executor. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audio.h"
#include "audio/audio_engines.h"
#include "audio/logmel.h"
#include "builtin.h"
#include "executor.h"
#include "test.h"

#define CHECK_ERR(call, err, want)                                                                             \
    do {                                                                                                       \
        jn_err_clear(&(err));                                                                                  \
        JN_CHECK_ERR(call, err, want);                                                                         \
    } while (0)

static void put16(uint8_t *p, unsigned v)
{
    p[0] = (uint8_t)v, p[1] = (uint8_t)(v >> 8);
}

static void put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v, p[1] = (uint8_t)(v >> 8), p[2] = (uint8_t)(v >> 16), p[3] = (uint8_t)(v >> 24);
}

/* A 16-bit PCM RIFF/WAVE of `frames` interleaved samples. *len gets its size; caller frees. */
static uint8_t *make_wav(int channels, int rate, const int16_t *samples, size_t frames, size_t *len)
{
    size_t data = frames * (size_t)channels * 2;
    uint8_t *w = calloc(1, 44 + data);
    memcpy(w, "RIFF", 4);
    put32(w + 4, (uint32_t)(36 + data));
    memcpy(w + 8, "WAVEfmt ", 8);
    put32(w + 16, 16);
    put16(w + 20, 1);
    put16(w + 22, (unsigned)channels);
    put32(w + 24, (uint32_t)rate);
    put32(w + 28, (uint32_t)(rate * channels * 2));
    put16(w + 32, (unsigned)(channels * 2));
    put16(w + 34, 16);
    memcpy(w + 36, "data", 4);
    put32(w + 40, (uint32_t)data);
    for (size_t i = 0; i < frames * (size_t)channels; i++)
        put16(w + 44 + 2 * i, (uint16_t)samples[i]);
    *len = 44 + data;
    return w;
}

static void test_exact_and_downmix(void)
{
    enum { N = 1000 };
    int16_t s[2 * N];
    for (int i = 0; i < 2 * N; i++)
        s[i] = (int16_t)((i * 7919) % 65536 - 32768);
    size_t len;
    uint8_t *wav = make_wav(2, 8000, s, N, &len);
    jn_err err;
    float *out = NULL;
    int64_t frames;
    int ch, rate;
    CHECK_ERR(jn_audio_decode(wav, len, 0, 0, "x", &out, &frames, &ch, &rate, &err), err, 0);
    JN_CHECK_INT_EQ(frames, N);
    JN_CHECK_INT_EQ(ch, 2);
    JN_CHECK_INT_EQ(rate, 8000);
    int bad = 0;
    for (int i = 0; out && i < N; i++)
        bad += out[i] != s[2 * i] / 32768.0f || out[N + i] != s[2 * i + 1] / 32768.0f;
    JN_CHECK_INT_EQ(bad, 0); /* planar, exactly int16 / 32768 */
    free(out);
    CHECK_ERR(jn_audio_decode(wav, len, 1, 0, "x", &out, &frames, &ch, &rate, &err), err, 0);
    JN_CHECK_INT_EQ(ch, 1);
    bad = 0;
    for (int i = 0; out && i < N; i++) {
        float l = s[2 * i] / 32768.0f, r = s[2 * i + 1] / 32768.0f;
        bad += fabsf(out[i] - (l + r) / 2) > 1e-7f;
    }
    JN_CHECK_INT_EQ(bad, 0); /* the mean of the channels */
    free(out);
    CHECK_ERR(jn_audio_decode(wav, len, 3, 0, "x", &out, &frames, &ch, &rate, &err), err, JN_EINVAL);
    JN_CHECK_STR_CONTAINS(err.msg, "has 2 channels, cannot give 3");
    jn_audio_info info;
    CHECK_ERR(jn_audio_probe(wav, len, "x", &info, &err), err, 0);
    JN_CHECK_STR_EQ(info.format, "WAV");
    JN_CHECK_INT_EQ(info.frames, N);
    free(wav);
}

static void test_resample_sine(void)
{
    enum { RATE = 48000, N = 48000 };
    int16_t *s = malloc(sizeof *s * N);
    for (int i = 0; i < N; i++)
        s[i] = (int16_t)lrint(16000.0 * sin(2 * M_PI * 1000.0 * i / RATE));
    size_t len;
    uint8_t *wav = make_wav(1, RATE, s, N, &len);
    jn_err err;
    float *out = NULL;
    int64_t frames;
    int ch, rate;
    CHECK_ERR(jn_audio_decode(wav, len, 1, 16000, "x", &out, &frames, &ch, &rate, &err), err, 0);
    JN_CHECK_INT_EQ(rate, 16000);
    JN_CHECK_INT_EQ(frames, N / 3);
    /* against the analytic sine at 16 kHz (away from the edges): the 16-bit source limits this to ~90 dB */
    double sig = 0, noise = 0;
    for (int64_t i = 200; out && i < frames - 200; i++) {
        double want = 16000.0 / 32768.0 * sin(2 * M_PI * 1000.0 * (double)i / 16000);
        sig += want * want;
        noise += (out[i] - want) * (out[i] - want);
    }
    double snr = 10 * log10(sig / noise);
    printf("     48 kHz -> 16 kHz 1 kHz sine: SNR %.1f dB\n", snr);
    JN_CHECK(snr > 80);
    free(out);
    free(wav);
    free(s);
}

static void test_limits(void)
{
    int16_t s[4000] = {0};
    size_t len;
    uint8_t *wav = make_wav(1, 8000, s, 4000, &len);
    jn_err err;
    float *out = NULL;
    int64_t frames;
    int ch, rate;
    jn_audio_info info;
    CHECK_ERR(jn_audio_probe(wav, 0, "a", &info, &err), err, JN_EINVAL);
    JN_CHECK_STR_CONTAINS(err.msg, "input 'a': the audio is empty");
    const uint8_t junk[64] = "this is not audio at all, not even close to a header of one";
    CHECK_ERR(jn_audio_probe(junk, sizeof junk, "a", &info, &err), err, JN_EINVAL);
    JN_CHECK_STR_CONTAINS(err.msg, "unsupported container or with a corrupt header");
    uint8_t *w2 = malloc(len);
    memcpy(w2, wav, len);
    put16(w2 + 22, 0);
    CHECK_ERR(jn_audio_probe(w2, len, "a", &info, &err), err, JN_EINVAL);
    JN_CHECK_STR_CONTAINS(err.msg, "declares zero channels");
    memcpy(w2, wav, len);
    put32(w2 + 24, 400000);
    CHECK_ERR(jn_audio_probe(w2, len, "a", &info, &err), err, JN_EINVAL);
    JN_CHECK_STR_CONTAINS(err.msg, "sample rate 400000 Hz is outside 1..384000 Hz");
    CHECK_ERR(jn_audio_decode(wav, len / 2, 0, 0, "a", &out, &frames, &ch, &rate, &err), err, JN_EINVAL);
    JN_CHECK_STR_CONTAINS(err.msg, "WAV is truncated");
    jn_audio_set_max_seconds(0.25); /* the file holds 0.5 s */
    CHECK_ERR(jn_audio_decode(wav, len, 0, 0, "a", &out, &frames, &ch, &rate, &err), err, JN_EINVAL);
    JN_CHECK_STR_CONTAINS(err.msg, "0.5 s long, longer than the limit of 0.25 s");
    jn_audio_set_max_seconds(JN_AUDIO_DEFAULT_MAX_SECONDS);
    CHECK_ERR(jn_audio_decode(wav, len, 0, 500000, "a", &out, &frames, &ch, &rate, &err), err, JN_EINVAL);
    JN_CHECK_STR_CONTAINS(err.msg, "target rate 500000 Hz");
    CHECK_ERR(jn_audio_decode(wav, len, 0, 0, "a", &out, &frames, &ch, &rate, &err), err, 0);
    free(out);
    free(w2);
    free(wav);
}

/* The definition of logmel.h, computed here with a direct DFT in double. */
static double ref_mel(double f)
{
    return 2595.0 * log10(1.0 + f / 700.0);
}

static void ref_logmel(const jn_logmel_config *c, const float *x, int64_t S, double *out)
{
    int N = c->n_fft, K = N / 2 + 1, M = c->n_mels;
    int64_t T = 1 + (S - N) / c->hop;
    double f[1026];
    for (int i = 0; i < M + 2; i++) {
        double m = ref_mel(c->fmin) + (ref_mel(c->fmax) - ref_mel(c->fmin)) * i / (M + 1);
        f[i] = 700.0 * (pow(10.0, m / 2595.0) - 1.0);
    }
    double *p = malloc(sizeof *p * (size_t)K);
    for (int64_t t = 0; t < T; t++) {
        for (int k = 0; k < K; k++) {
            double re = 0, im = 0;
            for (int n = 0; n < N; n++) {
                double w = c->hann ? 0.5 - 0.5 * cos(2 * M_PI * n / N) : 1.0;
                double v = w * x[t * c->hop + n];
                re += v * cos(2 * M_PI * k * n / N);
                im -= v * sin(2 * M_PI * k * n / N);
            }
            p[k] = pow(re * re + im * im, c->power / 2);
        }
        for (int m = 0; m < M; m++) {
            double s = 0;
            for (int k = 0; k < K; k++) {
                double fk = (double)k * c->sample_rate / N;
                double w = fmin((fk - f[m]) / (f[m + 1] - f[m]), (f[m + 2] - fk) / (f[m + 2] - f[m + 1]));
                if (w > 0)
                    s += w * p[k];
            }
            out[m * T + t] = log(fmax(s, c->log_floor));
        }
    }
    free(p);
}

static void test_logmel_direct_dft(void)
{
    enum { S = 1200 };
    float x[S];
    unsigned seed = 12345;
    for (int i = 0; i < S; i++) {
        seed = seed * 1103515245u + 12345u;
        x[i] = (float)(0.3 * sin(2 * M_PI * 440.0 * i / 8000) + ((seed >> 16) % 2000 - 1000) / 20000.0);
    }
    jn_logmel_config c = {.sample_rate = 8000, .n_fft = 64, .hop = 24, .n_mels = 10, .fmin = 100, .fmax = 3800,
                          .power = 2, .log_floor = 1e-10, .hann = true};
    for (int round = 0; round < 2; round++) {
        int64_t T = jn_logmel_frames(&c, S);
        JN_CHECK_INT_EQ(T, 1 + (S - c.n_fft) / c.hop);
        float *got = malloc(sizeof *got * (size_t)(T * c.n_mels));
        double *want = malloc(sizeof *want * (size_t)(T * c.n_mels));
        jn_err err;
        CHECK_ERR(jn_logmel(&c, x, S, got, &err), err, 0);
        ref_logmel(&c, x, S, want);
        double worst = 0;
        for (int64_t i = 0; i < T * c.n_mels; i++)
            worst = fmax(worst, fabs(got[i] - want[i]));
        printf("     log-mel (%s, power %g) vs direct DFT: max |diff| %.2e\n", c.hann ? "hann" : "rect", c.power,
               worst);
        JN_CHECK(worst < 1e-3);
        free(got);
        free(want);
        c.hann = false, c.power = 1, c.n_mels = 7;
    }
    jn_err err;
    float y[8];
    c.n_fft = 8;
    CHECK_ERR(jn_logmel(&c, x, S, y, &err), err, JN_EINVAL);
    JN_CHECK_STR_CONTAINS(err.msg, "n_fft 8 is outside 16..65536");
    c.n_fft = 64, c.fmax = 5000;
    CHECK_ERR(jn_logmel(&c, x, S, y, &err), err, JN_EINVAL);
    JN_CHECK_STR_CONTAINS(err.msg, "fmax 5000");
    c.fmax = 3800;
    CHECK_ERR(jn_logmel(&c, x, 10, y, &err), err, JN_EINVAL);
    JN_CHECK_STR_CONTAINS(err.msg, "fewer than n_fft 64");
}

/* The executor converts encoded audio for an AUDIO_TENSOR port and gives an unbound input its default. */
static void test_executor_audio_and_default(void)
{
    jn_err err;
    jn_err_clear(&err);
    JN_REQUIRE(jn_audio_register(&err) == 0);
    JN_CHECK(jn_kind_get_check(JN_KIND_AUDIO) != NULL);
    jn_engine *mel = jn_logmel_create("log-mel", NULL, &err);
    JN_REQUIRE(mel);
    enum { N = 16000 };
    int16_t *s = malloc(sizeof *s * N);
    for (int i = 0; i < N; i++)
        s[i] = (int16_t)lrint(8000.0 * sin(2 * M_PI * 700.0 * i / 16000));
    size_t len;
    uint8_t *wav = make_wav(1, 16000, s, N, &len);
    const int64_t one[1] = {1};
    const char *elems[1] = {(const char *)wav};
    size_t lens[1] = {len};
    jn_tensor *in = jn_tensor_from_strings("samples", 1, one, elems, lens, 1, &err);
    jn_tensor_list ins, outs;
    jn_tensor_list_init(&ins);
    jn_tensor_list_init(&outs);
    jn_tensor_list_push(&ins, in);
    CHECK_ERR(jn_signature_validate_inputs(&mel->sig, "log-mel", &ins, &err), err, 0);
    jn_infer_ctx ctx = {.model = "log-mel", .request_id = ""};
    CHECK_ERR(jn_exec_engine(mel, &ctx, &ins, &outs, &err), err, 0);
    const jn_tensor *m = jn_tensor_list_find(&outs, "mel");
    JN_REQUIRE(m);
    JN_CHECK_INT_EQ(m->shape[0], 1);
    JN_CHECK_INT_EQ(m->shape[1], 80);
    JN_CHECK_INT_EQ(m->shape[2], 1 + (N - 400) / 160);
    /* the same samples given as a tensor give the same spectrogram */
    jn_tensor *pcm = jn_tensor_create("samples", JN_DTYPE_FP32, 2, (int64_t[]){1, N}, &err);
    for (int i = 0; i < N; i++)
        ((float *)pcm->data)[i] = s[i] / 32768.0f;
    jn_tensor_list ins2, outs2;
    jn_tensor_list_init(&ins2);
    jn_tensor_list_init(&outs2);
    jn_tensor_list_push(&ins2, pcm);
    CHECK_ERR(jn_exec_engine(mel, &ctx, &ins2, &outs2, &err), err, 0);
    const jn_tensor *m2 = jn_tensor_list_find(&outs2, "mel");
    JN_CHECK(m2 && m2->byte_size == m->byte_size && memcmp(m2->data, m->data, m->byte_size) == 0);
    /* junk for the AUDIO_TENSOR port: refused by validation, naming the port */
    jn_tensor *bad = jn_tensor_from_strings("samples", 1, one, (const char *[]){"nope"}, (size_t[]){4}, 1, &err);
    jn_tensor_list ins3;
    jn_tensor_list_init(&ins3);
    jn_tensor_list_push(&ins3, bad);
    CHECK_ERR(jn_signature_validate_inputs(&mel->sig, "log-mel", &ins3, &err), err, JN_EINVAL);
    JN_CHECK_STR_CONTAINS(err.msg, "model 'log-mel': input 'samples'");
    /* a default: the input may be left out */
    jn_tensor *def = jn_tensor_create("samples", JN_DTYPE_FP32, 2, (int64_t[]){1, 800}, &err);
    memset(def->data, 0, def->byte_size);
    CHECK_ERR(jn_port_set_default(&mel->sig.inputs[0], def, &err), err, 0);
    jn_tensor_list none, outs4;
    jn_tensor_list_init(&none);
    jn_tensor_list_init(&outs4);
    CHECK_ERR(jn_signature_validate_inputs(&mel->sig, "log-mel", &none, &err), err, 0);
    CHECK_ERR(jn_exec_engine(mel, &ctx, &none, &outs4, &err), err, 0);
    const jn_tensor *m4 = jn_tensor_list_find(&outs4, "mel");
    JN_CHECK(m4 && m4->shape[2] == 1 + (800 - 400) / 160 && ((const float *)m4->data)[0] == logf(1e-10f));
    jn_tensor *wrong = jn_tensor_create("samples", JN_DTYPE_INT64, 1, one, &err);
    CHECK_ERR(jn_port_set_default(&mel->sig.inputs[0], wrong, &err), err, JN_EINVAL);
    JN_CHECK_STR_CONTAINS(err.msg, "input 'samples': default INT64[1] does not fit FP32[-1,-1]");
    jn_tensor_list_clear(&ins);
    jn_tensor_list_clear(&outs);
    jn_tensor_list_clear(&ins2);
    jn_tensor_list_clear(&outs2);
    jn_tensor_list_clear(&ins3);
    jn_tensor_list_clear(&outs4);
    jn_engine_unref(mel);
    free(wav);
    free(s);
}

int main(void)
{
    JN_TEST_RUN(test_exact_and_downmix);
    JN_TEST_RUN(test_resample_sine);
    JN_TEST_RUN(test_limits);
    JN_TEST_RUN(test_logmel_direct_dft);
    JN_TEST_RUN(test_executor_audio_and_default);
    return JN_TEST_EXIT();
}
