/* audio_engines.h — audio (issue #17): the AUDIO -> AUDIO_TENSOR conversion, the AUDIO check, and the built-in
 * engines audio-decode and log-mel (their factories are declared in engines/builtin.h).
 *
 * Thread-safety: jn_audio_register is idempotent and runs at startup, before pipelines are compiled.
 */
#ifndef JN_ENGINES_AUDIO_ENGINES_H
#define JN_ENGINES_AUDIO_ENGINES_H

#include "../../broker/core/convert.h"
#include "../../broker/core/err.h"

/* The pipeline conversion AUDIO -> AUDIO_TENSOR / TENSOR FP32 ("decode-audio"): decode, down-mix when the port is
 * mono, resample to the port's sample_rate (libsoxr SOXR_HQ), samples in [-1, 1]. */
extern const jn_conversion jn_decode_audio_conversion;

/* Registers the conversion and the AUDIO value check (jn_kind_set_check: the header is probed — container, rate,
 * channels, duration — before any engine runs). */
int jn_audio_register(jn_err *err);

#endif
