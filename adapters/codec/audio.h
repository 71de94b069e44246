/* audio.h — encoded audio (WAV, FLAC, Ogg/Vorbis, MP3 via Debian's libsndfile, read from memory with
 * sf_open_virtual) to FP32 samples in [-1, 1], optionally down-mixed to mono and resampled with libsoxr (SOXR_HQ).
 *
 * Limits are checked from the header BEFORE any sample is decoded: a rate above JN_AUDIO_MAX_RATE (384 kHz), zero
 * channels, more than jn_audio_max_seconds() of audio, an unknown container, a WAV whose data chunk runs past the
 * end, an Ogg whose pages are not well formed (CRC, one logical stream: libvorbis leaks on some malformed ones), and
 * (while decoding) a truncated or corrupt stream or a NaN / infinite float sample all give JN_EINVAL naming the value
 * (`what`) and the reason. Samples are clamped to [-1, 1] as read and after resampling.
 *
 * Ownership: jn_audio_decode returns a malloc'd planar buffer (channel-major: channel c's samples at
 * out + c * frames) the caller frees with free(). Nothing else is kept.
 * Thread-safety: reentrant; the duration limit is one process-wide atomic set at startup (`serve
 * --max-audio-seconds`).
 */
#ifndef JN_ADAPTERS_CODEC_AUDIO_H
#define JN_ADAPTERS_CODEC_AUDIO_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

#define JN_AUDIO_MAX_RATE 384000
#define JN_AUDIO_MAX_CHANNELS 64
#define JN_AUDIO_DEFAULT_MAX_SECONDS 600.0

/* The longest audio accepted, in seconds (default 600). Set once at startup; read with relaxed atomics. */
void jn_audio_set_max_seconds(double seconds);
double jn_audio_max_seconds(void);

typedef struct jn_audio_info {
    int rate;          /* Hz */
    int channels;
    int64_t frames;    /* samples per channel, as the header declares */
    char format[16];   /* "WAV", "FLAC", "OGG", "MP3", ... */
} jn_audio_info;

/* Reads the header only and checks the limits above. */
int jn_audio_probe(const uint8_t *data, size_t len, const char *what, jn_audio_info *info, jn_err *err);

/* Decodes the whole stream. want_channels: 0 = as encoded, 1 = mean of all channels (down-mix), or the encoded
 * count (anything else is JN_EINVAL). want_rate: 0 = as encoded, else resampled with libsoxr's high-quality
 * (SOXR_HQ) filter. *out gets channels x frames floats (planar), and frames, channels, rate what they hold. */
int jn_audio_decode(const uint8_t *data, size_t len, int want_channels, int want_rate, const char *what,
                    float **out, int64_t *frames, int *channels, int *rate, jn_err *err);

#endif
