/* bench/audio.sh's C side (issue #17): junction's audio code timed in-process, one thread, after a warm-up:
 *   decode   jn_audio_decode of a WAV file's bytes to 16 kHz mono (libsndfile from memory, down-mix, libsoxr HQ)
 *   logmel   jn_logmel (engines/audio/logmel.c, FFTW3) of 10 s of 16 kHz mono with the log-mel engine's defaults
 * usage: bench_audio FILE.wav SECONDS   -> one line per figure: "<name> <median ms> <runs> <cpu ms per run>" */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "audio.h"
#include "audio/logmel.h"

static double now_ms(clockid_t c)
{
    struct timespec ts;
    clock_gettime(c, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

typedef struct job {
    const uint8_t *wav;
    size_t len;
    const float *pcm;
    int64_t n;
    float *mel;
} job;

static void run_decode(job *j)
{
    jn_err err;
    float *out;
    int64_t frames;
    int ch, rate;
    if (jn_audio_decode(j->wav, j->len, 1, 16000, "bench", &out, &frames, &ch, &rate, &err)) {
        fprintf(stderr, "bench_audio: %s\n", err.msg);
        exit(1);
    }
    free(out);
}

static void run_logmel(job *j)
{
    jn_err err;
    jn_logmel_config c;
    jn_logmel_config_default(&c);
    if (jn_logmel(&c, j->pcm, j->n, j->mel, &err)) {
        fprintf(stderr, "bench_audio: %s\n", err.msg);
        exit(1);
    }
}

static void measure(const char *name, void (*fn)(job *), job *j, double seconds)
{
    for (double t0 = now_ms(CLOCK_MONOTONIC); now_ms(CLOCK_MONOTONIC) - t0 < 300;) /* warm-up (plans, caches) */
        fn(j);
    double *ms = malloc(sizeof *ms * 100000);
    int n = 0;
    double cpu0 = now_ms(CLOCK_PROCESS_CPUTIME_ID), start = now_ms(CLOCK_MONOTONIC);
    while (n < 100000 && (now_ms(CLOCK_MONOTONIC) - start < seconds * 1e3 || n < 5)) {
        double t = now_ms(CLOCK_MONOTONIC);
        fn(j);
        ms[n++] = now_ms(CLOCK_MONOTONIC) - t;
    }
    double cpu = (now_ms(CLOCK_PROCESS_CPUTIME_ID) - cpu0) / n;
    qsort(ms, (size_t)n, sizeof *ms, cmp);
    printf("%s %.4f %d %.4f\n", name, ms[n / 2], n, cpu);
    free(ms);
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: bench_audio FILE.wav SECONDS\n");
        return 2;
    }
    FILE *f = fopen(argv[1], "rb");
    if (!f)
        return perror(argv[1]), 1;
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *wav = malloc((size_t)len);
    if (fread(wav, 1, (size_t)len, f) != (size_t)len)
        return perror(argv[1]), 1;
    fclose(f);
    job j = {wav, (size_t)len, NULL, 0, NULL};
    float *pcm;
    int64_t frames;
    int ch, rate;
    jn_err err;
    if (jn_audio_decode(wav, (size_t)len, 1, 16000, "bench", &pcm, &frames, &ch, &rate, &err))
        return fprintf(stderr, "bench_audio: %s\n", err.msg), 1;
    jn_logmel_config c;
    jn_logmel_config_default(&c);
    j.pcm = pcm, j.n = frames;
    j.mel = malloc(sizeof(float) * (size_t)(c.n_mels * jn_logmel_frames(&c, frames)));
    double secs = atof(argv[2]);
    measure("decode", run_decode, &j, secs);
    measure("logmel", run_logmel, &j, secs);
    free(j.mel);
    free(pcm);
    free(wav);
    return 0;
}
