/* audio.c — audio decoding from memory (libsndfile virtual I/O), down-mix, resampling (libsoxr SOXR_HQ). */
#include "audio.h"

#include <math.h>
#include <pthread.h>
#include <sndfile.h>
#include <soxr.h>
#include <stdbool.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static _Atomic double max_seconds = JN_AUDIO_DEFAULT_MAX_SECONDS;

void jn_audio_set_max_seconds(double seconds)
{
    atomic_store_explicit(&max_seconds, seconds > 0 ? seconds : JN_AUDIO_DEFAULT_MAX_SECONDS, memory_order_relaxed);
}

double jn_audio_max_seconds(void)
{
    return atomic_load_explicit(&max_seconds, memory_order_relaxed);
}

/* ---- libsndfile reading from a memory buffer ---- */

typedef struct mem_file {
    const uint8_t *data;
    sf_count_t len, pos;
} mem_file;

static sf_count_t mem_len(void *u)
{
    return ((mem_file *)u)->len;
}

static sf_count_t mem_seek(sf_count_t off, int whence, void *u)
{
    mem_file *m = u;
    sf_count_t base = whence == SEEK_SET ? 0 : whence == SEEK_CUR ? m->pos : m->len;
    sf_count_t to = base + off;
    if (to < 0 || to > m->len)
        return -1;
    m->pos = to;
    return to;
}

static sf_count_t mem_read(void *ptr, sf_count_t n, void *u)
{
    mem_file *m = u;
    sf_count_t left = m->len - m->pos;
    if (n > left)
        n = left;
    if (n > 0) {
        memcpy(ptr, m->data + m->pos, (size_t)n);
        m->pos += n;
    }
    return n > 0 ? n : 0;
}

static sf_count_t mem_write(const void *ptr, sf_count_t n, void *u)
{
    (void)ptr, (void)n, (void)u;
    return 0; /* read-only */
}

static sf_count_t mem_tell(void *u)
{
    return ((mem_file *)u)->pos;
}

static const char *format_name(int format)
{
    switch (format & SF_FORMAT_TYPEMASK) {
    case SF_FORMAT_WAV:
    case SF_FORMAT_WAVEX:
    case SF_FORMAT_RF64:
        return "WAV";
    case SF_FORMAT_FLAC:
        return "FLAC";
    case SF_FORMAT_OGG:
        return "OGG";
    case SF_FORMAT_MPEG:
        return "MP3";
    default:
        return NULL; /* libsndfile reads more (AIFF, AU, ...), but the contract names these four */
    }
}

/* Reads the 16-bit channel count of a RIFF/WAVE "fmt " chunk: libsndfile refuses 0 channels with a generic
 * message, and the caller deserves the precise one. -1 when this is not a WAV with a fmt chunk. */
static int wav_declared_channels(const uint8_t *d, size_t len)
{
    if (len < 12 || memcmp(d, "RIFF", 4) != 0 || memcmp(d + 8, "WAVE", 4) != 0)
        return -1;
    size_t p = 12;
    while (p + 8 <= len) {
        uint32_t size = (uint32_t)d[p + 4] | (uint32_t)d[p + 5] << 8 | (uint32_t)d[p + 6] << 16 |
                        (uint32_t)d[p + 7] << 24;
        if (memcmp(d + p, "fmt ", 4) == 0)
            return p + 12 <= len ? (int)(d[p + 10] | d[p + 11] << 8) : -1;
        if (size > len - p - 8)
            return -1;
        p += 8 + size + (size & 1);
    }
    return -1;
}

/* How many bytes a WAV's data chunk declares beyond the end of the buffer (libsndfile silently shortens it):
 * 0 when it fits, when the size is a streaming placeholder (0 or 0xFFFFFFFF) or this is no RIFF/WAVE. */
static int64_t wav_shortfall(const uint8_t *d, size_t len)
{
    if (len < 12 || memcmp(d, "RIFF", 4) != 0 || memcmp(d + 8, "WAVE", 4) != 0)
        return 0;
    size_t p = 12;
    while (p + 8 <= len) {
        uint32_t size = (uint32_t)d[p + 4] | (uint32_t)d[p + 5] << 8 | (uint32_t)d[p + 6] << 16 |
                        (uint32_t)d[p + 7] << 24;
        if (memcmp(d + p, "data", 4) == 0)
            return size == 0 || size == 0xFFFFFFFFu || size <= len - p - 8 ? 0
                                                                            : (int64_t)size - (int64_t)(len - p - 8);
        if (size > len - p - 8)
            return 0;
        p += 8 + size + (size & 1);
    }
    return 0;
}

/* ---- Ogg: the page structure, checked before libsndfile sees it ----
 * libvorbisfile leaks on some malformed streams that fail to open (xiph/vorbis#125: ~6 KB per call, found by
 * fuzz_audio), a per-request leak a caller could repeat. A valid Ogg file is a run of pages back to back, each
 * "OggS", version 0, its CRC right, of one logical stream (we take one: chained or multiplexed Ogg is refused), the
 * first flagged beginning-of-stream, page sequence numbers counting up from 0. Anything else is refused here with
 * the byte offset, so libvorbisfile only sees well-formed pages. */

static uint32_t ogg_crc_table[256];

static void ogg_crc_init(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t r = i << 24;
        for (int k = 0; k < 8; k++)
            r = r & 0x80000000u ? (r << 1) ^ 0x04c11db7u : r << 1;
        ogg_crc_table[i] = r;
    }
}

static uint32_t le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* 0 when d is a well-formed single-stream Ogg; else JN_EINVAL naming the offset and the fault. */
static int ogg_check(const uint8_t *d, size_t len, const char *what, jn_err *err)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, ogg_crc_init);
    size_t p = 0;
    uint32_t serial = 0, seq = 0;
    while (p < len) {
        if (len - p < 27 || memcmp(d + p, "OggS", 4) != 0 || d[p + 4] != 0)
            return jn_err_set(err, JN_EINVAL, "input '%s': Ogg stream is %s at byte %zu", what,
                              len - p < 27 ? "truncated (a partial page header)" : "corrupt (no page header)", p);
        size_t nseg = d[p + 26], body = 0;
        if (len - p < 27 + nseg)
            return jn_err_set(err, JN_EINVAL, "input '%s': Ogg stream is truncated at byte %zu (a partial page)",
                              what, p);
        for (size_t i = 0; i < nseg; i++)
            body += d[p + 27 + i];
        size_t size = 27 + nseg + body;
        if (len - p < size)
            return jn_err_set(err, JN_EINVAL, "input '%s': Ogg stream is truncated at byte %zu (a page of %zu bytes, "
                                              "%zu left)", what, p, size, len - p);
        uint32_t crc = 0;
        for (size_t i = 0; i < size; i++) {
            uint8_t b = i >= 22 && i < 26 ? 0 : d[p + i]; /* the CRC field counts as zeros */
            crc = (crc << 8) ^ ogg_crc_table[((crc >> 24) & 0xff) ^ b];
        }
        if (crc != le32(d + p + 22))
            return jn_err_set(err, JN_EINVAL, "input '%s': Ogg stream is corrupt at byte %zu (page checksum)", what,
                              p);
        bool bos = d[p + 5] & 2;
        if (p == 0) {
            if (!bos)
                return jn_err_set(err, JN_EINVAL, "input '%s': Ogg stream is corrupt (its first page does not begin "
                                                  "a stream)", what);
            serial = le32(d + p + 14);
        } else if (bos || le32(d + p + 14) != serial) {
            return jn_err_set(err, JN_EINVAL, "input '%s': Ogg with several logical streams (chained or multiplexed, "
                                              "at byte %zu) is not supported", what, p);
        }
        if (le32(d + p + 18) != seq)
            return jn_err_set(err, JN_EINVAL, "input '%s': Ogg stream is corrupt at byte %zu (page %u where %u was "
                                              "due: pages missing)", what, p, le32(d + p + 18), seq);
        seq++;
        p += size;
    }
    return 0;
}

/* Opens the stream and checks the limits; *sf is open on success. */
static int open_checked(mem_file *m, SF_VIRTUAL_IO *vio, const char *what, SNDFILE **sf, jn_audio_info *info,
                        jn_err *err)
{
    if (m->len == 0)
        return jn_err_set(err, JN_EINVAL, "input '%s': the audio is empty (0 bytes)", what);
    if (wav_declared_channels(m->data, (size_t)m->len) == 0)
        return jn_err_set(err, JN_EINVAL, "input '%s': the audio declares zero channels", what);
    if (m->len >= 4 && memcmp(m->data, "OggS", 4) == 0) {
        int rc = ogg_check(m->data, (size_t)m->len, what, err);
        if (rc)
            return rc;
    }
    vio->get_filelen = mem_len;
    vio->seek = mem_seek;
    vio->read = mem_read;
    vio->write = mem_write;
    vio->tell = mem_tell;
    SF_INFO si;
    memset(&si, 0, sizeof si);
    *sf = sf_open_virtual(vio, SFM_READ, &si, m);
    if (!*sf)
        return jn_err_set(err, JN_EINVAL,
                          "input '%s': audio in an unsupported container or with a corrupt header (%zu bytes; WAV, "
                          "FLAC, Ogg/Vorbis and MP3 are read; libsndfile: %s)",
                          what, (size_t)m->len, sf_strerror(NULL));
    const char *fmt = format_name(si.format);
    int rc = 0;
    double limit = jn_audio_max_seconds();
    SF_FORMAT_INFO fi = {.format = si.format & SF_FORMAT_TYPEMASK};
    if (!fmt && sf_command(*sf, SFC_GET_FORMAT_INFO, &fi, sizeof fi) != 0)
        fi.name = "unknown";
    int64_t short_by = wav_shortfall(m->data, (size_t)m->len);
    if (!fmt)
        rc = jn_err_set(err, JN_EINVAL, "input '%s': unsupported container %s (WAV, FLAC, Ogg/Vorbis and MP3 are "
                                        "read)", what, fi.name ? fi.name : "unknown");
    else if (short_by > 0)
        rc = jn_err_set(err, JN_EINVAL, "input '%s': WAV is truncated (its data chunk declares %lld more bytes than "
                                        "the file holds)", what, (long long)short_by);
    else if (si.channels <= 0)
        rc = jn_err_set(err, JN_EINVAL, "input '%s': the audio declares zero channels", what);
    else if (si.channels > JN_AUDIO_MAX_CHANNELS)
        rc = jn_err_set(err, JN_EINVAL, "input '%s': %d channels (at most %d)", what, si.channels,
                        JN_AUDIO_MAX_CHANNELS);
    else if (si.samplerate <= 0 || si.samplerate > JN_AUDIO_MAX_RATE)
        rc = jn_err_set(err, JN_EINVAL, "input '%s': sample rate %d Hz is outside 1..%d Hz", what, si.samplerate,
                        JN_AUDIO_MAX_RATE);
    else if (si.frames < 0 || (double)si.frames / si.samplerate > (double)m->len)
        rc = jn_err_set(err, JN_EINVAL, "input '%s': %s stream is truncated or corrupt (its length reads as %.3g s in "
                                        "%zu bytes)", what, fmt, (double)si.frames / si.samplerate, (size_t)m->len);
    else if ((double)si.frames / si.samplerate > limit)
        rc = jn_err_set(err, JN_EINVAL, "input '%s': the audio is %.1f s long, longer than the limit of %g s "
                                        "(--max-audio-seconds)", what, (double)si.frames / si.samplerate, limit);
    if (rc) {
        sf_close(*sf);
        *sf = NULL;
        return rc;
    }
    info->rate = si.samplerate;
    info->channels = si.channels;
    info->frames = si.frames;
    snprintf(info->format, sizeof info->format, "%s", fmt);
    return 0;
}

int jn_audio_probe(const uint8_t *data, size_t len, const char *what, jn_audio_info *info, jn_err *err)
{
    mem_file m = {data, (sf_count_t)len, 0};
    SF_VIRTUAL_IO vio;
    SNDFILE *sf = NULL;
    int rc = open_checked(&m, &vio, what ? what : "audio", &sf, info, err);
    if (sf)
        sf_close(sf);
    return rc;
}

/* Interleaved in -> interleaved out at another rate. */
static int resample_interleaved(const float *in, int64_t frames, int channels, int in_rate, int out_rate,
                                const char *what, float **out, int64_t *out_frames, jn_err *err)
{
    double ratio = (double)out_rate / in_rate;
    int64_t want = (int64_t)ceil((double)frames * ratio);
    float *o = malloc((size_t)(want ? want : 1) * (size_t)channels * sizeof *o);
    if (!o)
        return jn_err_set(err, JN_ENOMEM, "input '%s': out of memory for %lld resampled frames", what,
                          (long long)want);
    soxr_io_spec_t io = soxr_io_spec(SOXR_FLOAT32_I, SOXR_FLOAT32_I);
    soxr_quality_spec_t q = soxr_quality_spec(SOXR_HQ, 0);
    size_t idone = 0, odone = 0;
    soxr_error_t e = soxr_oneshot(in_rate, out_rate, (unsigned)channels, in, (size_t)frames, &idone, o,
                                  (size_t)want, &odone, &io, &q, NULL);
    if (e) {
        free(o);
        return jn_err_set(err, JN_EINTERNAL, "input '%s': resampling %d -> %d Hz failed (libsoxr: %s)", what,
                          in_rate, out_rate, e);
    }
    *out = o;
    *out_frames = (int64_t)odone;
    return 0;
}

int jn_audio_decode(const uint8_t *data, size_t len, int want_channels, int want_rate, const char *what,
                    float **out, int64_t *frames_out, int *channels_out, int *rate_out, jn_err *err)
{
    what = what ? what : "audio";
    *out = NULL;
    if (want_rate < 0 || want_rate > JN_AUDIO_MAX_RATE)
        return jn_err_set(err, JN_EINVAL, "input '%s': target rate %d Hz is outside 1..%d Hz", what, want_rate,
                          JN_AUDIO_MAX_RATE);
    mem_file m = {data, (sf_count_t)len, 0};
    SF_VIRTUAL_IO vio;
    SNDFILE *sf = NULL;
    jn_audio_info info;
    int rc = open_checked(&m, &vio, what, &sf, &info, err);
    if (rc)
        return rc;
    int ch = info.channels;
    if (want_channels != 0 && want_channels != 1 && want_channels != ch) {
        sf_close(sf);
        return jn_err_set(err, JN_EINVAL, "input '%s': has %d channels, cannot give %d (1 = down-mix, or the same)",
                          what, ch, want_channels);
    }
    /* The header's count bounds the allocation (checked against the duration limit above); MP3 headers give an
     * estimate, so reading goes on in blocks until the decoder stops. */
    size_t cap = (size_t)(info.frames > 0 ? info.frames : 4096), n = 0;
    float *buf = malloc(cap * (size_t)ch * sizeof *buf);
    int64_t limit_frames = (int64_t)(jn_audio_max_seconds() * info.rate) + 1;
    while (buf) {
        if (n == cap) {
            if ((int64_t)cap >= limit_frames)
                break;
            size_t ncap = cap * 2;
            float *g = realloc(buf, ncap * (size_t)ch * sizeof *g);
            if (!g) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = g, cap = ncap;
        }
        sf_count_t got = sf_readf_float(sf, buf + n * (size_t)ch, (sf_count_t)(cap - n));
        if (got <= 0)
            break;
        n += (size_t)got;
    }
    int sferr = sf_error(sf);
    char sfmsg[160];
    snprintf(sfmsg, sizeof sfmsg, "%s", sf_strerror(sf));
    sf_close(sf);
    if (!buf)
        return jn_err_set(err, JN_ENOMEM, "input '%s': out of memory for %lld frames", what, (long long)info.frames);
    if ((int64_t)n >= limit_frames) {
        free(buf);
        return jn_err_set(err, JN_EINVAL, "input '%s': longer than the limit of %g s (--max-audio-seconds)", what,
                          jn_audio_max_seconds());
    }
    /* An MP3's length is the encoder's Info/Xing count or an estimate from the bitrate: a shortfall of more than
     * 2% (and two MPEG frames) means the stream was cut. */
    bool mp3 = strcmp(info.format, "MP3") == 0;
    int64_t slack = mp3 ? (info.frames / 50 > 2304 ? info.frames / 50 : 2304) : 0;
    if (sferr != SF_ERR_NO_ERROR || n == 0 || (int64_t)n + slack < info.frames) {
        free(buf);
        if (n == 0 && sferr == SF_ERR_NO_ERROR)
            return jn_err_set(err, JN_EINVAL, "input '%s': %s stream holds no samples (truncated?)", what,
                              info.format);
        return jn_err_set(err, JN_EINVAL, "input '%s': %s stream is truncated or corrupt (%zu of %lld frames "
                                          "decoded; libsndfile: %s)",
                          what, info.format, n, (long long)info.frames, sferr ? sfmsg : "short read");
    }
    /* Float files may hold NaN or infinities (found by fuzz_audio): no model should see them, and the resampler would
     * smear one over its whole filter length. */
    for (size_t i = 0; i < n * (size_t)ch; i++)
        if (!isfinite(buf[i])) {
            const char *kind = isnan(buf[i]) ? "NaN" : "infinite";
            free(buf);
            return jn_err_set(err, JN_EINVAL, "input '%s': %s sample %zu of channel %zu is %s (float samples must be "
                                              "finite)", what, info.format, i / (size_t)ch, i % (size_t)ch, kind);
        } else if (buf[i] > 1.0f || buf[i] < -1.0f) { /* before the down-mix sums them (a broken MP3 frame decodes
                                                          * to huge values: summed they overflow, and the resampler
                                                          * turns inf - inf into NaN; found by fuzz_audio) */
            buf[i] = buf[i] > 1.0f ? 1.0f : -1.0f;
        }
    /* Down-mix in place: the mean of the channels. */
    if (want_channels == 1 && ch > 1) {
        for (size_t i = 0; i < n; i++) {
            float s = 0;
            for (int c = 0; c < ch; c++)
                s += buf[i * (size_t)ch + (size_t)c];
            buf[i] = s / (float)ch;
        }
        ch = 1;
    }
    int rate = info.rate;
    int64_t frames = (int64_t)n;
    if (want_rate && want_rate != rate) {
        float *r = NULL;
        rc = resample_interleaved(buf, frames, ch, rate, want_rate, what, &r, &frames, err);
        free(buf);
        if (rc)
            return rc;
        buf = r;
        rate = want_rate;
        if (frames == 0) { /* found by fuzz_audio: a few frames resampled down give none */
            free(buf);
            return jn_err_set(err, JN_EINVAL, "input '%s': %zu frames at %d Hz are too short to give a sample at %d "
                                              "Hz", what, n, info.rate, want_rate);
        }
    }
    /* Interleaved -> planar, clamped to [-1, 1] (float files and the resampler's ringing may overshoot). */
    float *planar = malloc((size_t)(frames ? frames : 1) * (size_t)ch * sizeof *planar);
    if (!planar) {
        free(buf);
        return jn_err_set(err, JN_ENOMEM, "input '%s': out of memory", what);
    }
    for (int c = 0; c < ch; c++)
        for (int64_t i = 0; i < frames; i++) {
            float s = buf[(size_t)i * (size_t)ch + (size_t)c];
            planar[(size_t)c * (size_t)frames + (size_t)i] = s > 1.0f ? 1.0f : s < -1.0f ? -1.0f : s;
        }
    free(buf);
    *out = planar;
    *frames_out = frames;
    *channels_out = ch;
    *rate_out = rate;
    return 0;
}
