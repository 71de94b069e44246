/* signature.h — what an engine takes and gives: named ports with a kind, a dtype and a shape (-1 = any size),
 * and the validation of a request's tensors against them.
 *
 * A kind is a convention over tensors (see proto/junction/v1/contract.proto): TEXT, IMAGE and AUDIO are BYTES tensors,
 * CLASSIFICATION is FP32 scores whose last dimension follows the port's labels, EMBEDDING is FP32 vectors.
 *
 * Ownership: a jn_signature owns its ports, every string in them (copied on add) and an input's default tensor
 * (jn_port_set_default takes it); jn_signature_free releases all of it. Signatures are immutable once their engine is registered, so they are read without locks.
 */
#ifndef JN_SIGNATURE_H
#define JN_SIGNATURE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "tensor.h"

/* Values match junction.v1.Kind. */
typedef enum jn_kind {
    JN_KIND_INVALID = 0,
    JN_KIND_TENSOR,
    JN_KIND_TEXT,
    JN_KIND_IMAGE,
    JN_KIND_IMAGE_TENSOR,
    JN_KIND_CLASSIFICATION,
    JN_KIND_EMBEDDING,
    JN_KIND_AUDIO,        /* BYTES: encoded audio (WAV, FLAC, Ogg/Vorbis, MP3) */
    JN_KIND_AUDIO_TENSOR, /* FP32 samples in [-1, 1]: [-1, samples] or [-1, channels, samples]; sample_rate */
    JN_KIND_COUNT
} jn_kind;

const char *jn_kind_name(jn_kind kind);
jn_kind jn_kind_from_name(const char *name);

typedef struct jn_port {
    char *name;
    jn_kind kind;
    jn_dtype dtype;
    int ndim;
    int64_t shape[JN_MAX_DIMS]; /* -1 = any size */
    char **labels;              /* CLASSIFICATION: one per score along the last dim */
    size_t n_labels;
    char *description; /* may be NULL */
    bool optional;     /* an output the engine may leave out of an answer (a pipeline's "optional" output) */
    int sample_rate;   /* AUDIO_TENSOR: Hz of the samples (0 = any) */
    jn_tensor *default_value; /* an input callers may leave out: this tensor is given in its place (owned) */
} jn_port;

typedef struct jn_signature {
    jn_port *inputs;
    size_t n_inputs;
    jn_port *outputs;
    size_t n_outputs;
} jn_signature;

void jn_signature_init(jn_signature *sig);
void jn_signature_free(jn_signature *sig);

/* Appends a port (name and shape are copied). Returns 0, JN_EEXIST for a duplicate name, JN_EINVAL for a bad
 * rank or a dtype that contradicts the kind (TEXT/IMAGE must be BYTES). */
int jn_signature_add_input(jn_signature *sig, const char *name, jn_kind kind, jn_dtype dtype, int ndim,
                           const int64_t *shape, jn_err *err);
int jn_signature_add_output(jn_signature *sig, const char *name, jn_kind kind, jn_dtype dtype, int ndim,
                            const int64_t *shape, jn_err *err);
/* Sets the labels of a CLASSIFICATION port (copied). */
int jn_port_set_labels(jn_port *port, const char *const *labels, size_t n, jn_err *err);

/* Gives an input a default (config.json "default"): callers may leave it out and the executor passes `t` (taken,
 * also on failure; renamed to the port) instead. JN_EINVAL when t does not fit the port. */
int jn_port_set_default(jn_port *port, jn_tensor *t, jn_err *err);

/* Is `kind` carried as BYTES (TEXT, IMAGE, AUDIO)? */
bool jn_kind_is_bytes(jn_kind kind);

/* A check of one encoded element of a BYTES kind (AUDIO: the header's container, rate, channels and duration),
 * run by jn_port_check_tensor before any engine runs. jn_core cannot decode audio itself (it does not link the
 * codecs): engines/builtin.c registers the audio probe at startup. `what` names the value (the port); the message
 * says why. Registering replaces the previous check; NULL removes it. */
typedef int (*jn_kind_check_fn)(const uint8_t *data, size_t len, const char *what, jn_err *err);
void jn_kind_set_check(jn_kind kind, jn_kind_check_fn fn);
jn_kind_check_fn jn_kind_get_check(jn_kind kind);

const jn_port *jn_signature_find_input(const jn_signature *sig, const char *name);
const jn_port *jn_signature_find_output(const jn_signature *sig, const char *name);

/* Does a tensor fit a port? Checks dtype, rank, each fixed dim, payload size against shape, and for TEXT ports
 * that every element is valid UTF-8. The message names model, port, expected and got. */
int jn_port_check_tensor(const char *model, const char *direction, const jn_port *port, const jn_tensor *t,
                         jn_err *err);

/* Validates a request's inputs against the signature before anything runs: every input declared and given once,
 * no unknown or duplicate input, each tensor fitting its port. JN_EINVAL with a precise message otherwise. */
int jn_signature_validate_inputs(const jn_signature *sig, const char *model, const jn_tensor_list *inputs,
                                 jn_err *err);

/* Is the first dimension of every port (at least one) a free one (-1)? The shape a batching engine has
 * (JN_ENGINE_BATCHES, engine.h); an engine declares the flag itself, knowing its rows are independent. */
bool jn_signature_batches(const jn_signature *sig);

/* Validates requested output names (may be empty = all). JN_EINVAL naming the unknown or repeated output
 * otherwise. */
int jn_signature_validate_outputs(const jn_signature *sig, const char *model, const char *const *names,
                                  size_t n, jn_err *err);

/* Is [s, s+n) valid UTF-8 (no overlongs, no surrogates, <= U+10FFFF)? On failure *bad_offset is the offset of
 * the first invalid byte. */
bool jn_utf8_valid(const uint8_t *s, size_t n, size_t *bad_offset);

#endif
