/* Fuzz target: audio decoding (adapters/codec/audio: WAV, FLAC, Ogg/Vorbis, MP3 through libsndfile from memory, the
 * WAV header checks of our own, down-mix and libsoxr resampling) and the log-mel core on what it decodes.
 * The input is the file itself, so the seed corpus is small audio files (make_audio_seeds.sh). Must never crash,
 * leak or hang; every rejection must be JN_EINVAL/JN_ENOMEM with a message. The duration limit is kept small
 * (2 s) so a header promising hours is refused rather than allocated. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "audio.h"
#include "audio/logmel.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const int rates[4] = {0, 16000, 8000, 44100};
    jn_audio_set_max_seconds(2.0);
    jn_err err;
    jn_err_clear(&err);
    float *out = NULL;
    int64_t frames = 0;
    int ch = 0, rate = 0;
    int rc = jn_audio_decode(data, size, size % 2 ? 1 : 0, rates[(size / 2) % 4], "audio", &out, &frames, &ch, &rate,
                             &err);
    if (rc) {
        if (err.code != rc || err.msg[0] == '\0' || (rc != JN_EINVAL && rc != JN_ENOMEM) || out) {
            fprintf(stderr, "rejection without a matching code and message: rc=%d code=%d msg='%s'\n", rc, err.code,
                    err.msg);
            abort();
        }
        return 0;
    }
    if (ch < 1 || rate < 1 || frames < 1 || !out)
        abort();
    for (int64_t i = 0; i < frames * ch; i++)
        if (!(out[i] >= -1.0f && out[i] <= 1.0f)) {
            fprintf(stderr, "sample %g out of [-1, 1]\n", out[i]);
            abort();
        }
    jn_logmel_config c;
    jn_logmel_config_default(&c);
    c.sample_rate = rate;
    c.n_fft = 64, c.hop = 32, c.n_mels = 8, c.fmax = rate / 2.0;
    int64_t T = jn_logmel_frames(&c, frames);
    if (T > 0) {
        float *mel = malloc(sizeof *mel * (size_t)(T * c.n_mels));
        if (!mel || jn_logmel(&c, out, frames, mel, &err))
            abort();
        for (int64_t i = 0; i < T * c.n_mels; i++)
            if (!isfinite(mel[i]))
                abort();
        free(mel);
    }
    free(out);
    return 0;
}
