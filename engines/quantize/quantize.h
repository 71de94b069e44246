/* quantize.h — post-training INT8 quantization of ONNX models (`junction quantize`, issue #23 item 1).
 *
 * Static mode writes a QDQ model, as ONNX Runtime's quantizer does:
 *   - every Conv, MatMul and Gemm whose weight (input 1) is an FP32 initializer is quantized: its activation input
 *     and its output (or, when a Relu alone reads that output, the Relu's output) get a QuantizeLinear ->
 *     DequantizeLinear pair with a calibrated scale and zero point (UINT8 asymmetric by default, INT8 asymmetric
 *     with JN_QUANT_ACT_INT8); all readers of such a value read the DequantizeLinear's output instead;
 *   - the weight becomes an INT8 initializer (symmetric, [-64, 64] by default or [-127, 127] with full_range,
 *     zero point 0) read through a
 *     DequantizeLinear: per tensor, or per channel (axis 0 for Conv's [M, C/g, kh, kw]; for MatMul's [K, N] axis 1;
 *     for Gemm axis 1, or 0 with transB = 1: always the output-channel axis);
 *   - the bias is INT32 with scale = activation scale x weight scale (per channel like the weight) and zero point
 *     0, read through a DequantizeLinear, as ORT's QDQ quantizer writes it (so integer kernels add it to their
 *     int32 accumulators unchanged). Kept FP32 when it does not fit that form (Gemm with alpha or beta != 1, a bias
 *     that is not one value per output channel, or one past the INT32 range at that scale);
 *   - a value produced by a scale-preserving operator (MaxPool, Flatten, Reshape, Transpose, Squeeze, Unsqueeze,
 *     Identity) from a quantized value takes that value's scale and zero point, so the pair after it is exact.
 * Dynamic mode (JN_QUANT_DYNAMIC) quantizes weights only: MatMul and Gemm weights become INT8 initializers read
 * through a DequantizeLinear (no calibration, activations stay FP32). See DECISIONS.md "Quantization".
 *
 * Ranges (calibration): minmax (the observed extremes), percentile (the given percentile of |x| as a symmetric
 * clip, within the observed extremes) or entropy (the clip of |x|'s 2048-bin histogram whose 128-level
 * quantization has the least KL divergence from the clipped distribution, as TensorRT and ORT calibrate). The
 * clipping methods apply to intermediate values only: a quantized output no other quantized node reads (the
 * logits before a Softmax, a graph output) keeps its observed extremes, since clipping it changes which class
 * wins (measured: entropy on fashion-cnn's logits cost 14 points of accuracy).
 * Percentile and entropy need two passes over the data: extremes first, then histograms over them.
 *
 * Use: jn_quant_plan_create, then for each pass (jn_quant_passes) feed every calibrated value
 * (jn_quant_n_calibrated / jn_quant_calibrated_name) its tensors with jn_quant_observe, then jn_quant_write.
 * The model's values to run with (jn_onnx_load_bytes_tapped) are jn_quant_taps: the calibrated values that are
 * neither graph inputs nor graph outputs (those the caller has anyway).
 *
 * Ownership: a plan owns a parsed copy of the model bytes and its statistics; jn_quant_plan_free releases them.
 * Thread-safety: a plan is used by one thread at a time.
 */
#ifndef JN_QUANTIZE_H
#define JN_QUANTIZE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"

typedef enum jn_quant_method { JN_QUANT_MINMAX = 0, JN_QUANT_PERCENTILE, JN_QUANT_ENTROPY } jn_quant_method;

#define JN_QUANT_DEFAULT_PERCENTILE 99.999
#define JN_QUANT_HIST_BINS 2048
#define JN_QUANT_ENTROPY_LEVELS 128

typedef struct jn_quant_options {
    jn_quant_method method;
    double percentile; /* percentile's clip, in (0, 100]; 0 = JN_QUANT_DEFAULT_PERCENTILE */
    bool per_channel;
    bool dynamic;
    bool act_int8; /* INT8 activations (default UINT8) */
    /* INT8 weights over the full [-127, 127]; by default they take 7 bits, [-64, 64] ("reduced range", ORT's
     * reduce_range): on x86 without VNNI, u8 x s8 kernels (ORT's among them) sum pairs of products into 16 bits
     * with saturation (vpmaddubsw), which 255 x 64 x 2 cannot reach and 255 x 127 x 2 can. */
    bool full_range;
} jn_quant_options;

/* What jn_quant_write did (for the command's summary). */
typedef struct jn_quant_summary {
    size_t nodes;        /* Conv / MatMul / Gemm nodes quantized */
    size_t activations;  /* QuantizeLinear -> DequantizeLinear pairs */
    size_t weights;      /* INT8 weight initializers */
    size_t int32_biases; /* biases written INT32 */
    size_t fp32_biases;  /* biases kept FP32 */
    size_t bytes_in, bytes_out; /* serialized model sizes */
    float last_scale;    /* the scale of the last quantized output in node order (0 when none) */
} jn_quant_summary;

typedef struct jn_quant_plan jn_quant_plan;

/* Parses the model and picks what to quantize. JN_EINVAL naming `what` for bytes that are not an ONNX model, a
 * model with nothing to quantize, an opset too old (10 for QDQ, 13 for per-channel) or weights in external files;
 * JN_ENOMEM. */
int jn_quant_plan_create(const uint8_t *bytes, size_t size, const char *what, const jn_quant_options *o,
                         jn_quant_plan **out, jn_err *err);
void jn_quant_plan_free(jn_quant_plan *p);

/* Calibration passes the method needs: 0 (dynamic), 1 (minmax) or 2. */
int jn_quant_passes(const jn_quant_plan *p);
size_t jn_quant_n_calibrated(const jn_quant_plan *p);
const char *jn_quant_calibrated_name(const jn_quant_plan *p, size_t i);
/* The calibrated values to tap (names borrowed from the plan; *names may be NULL when n is 0). */
size_t jn_quant_taps(const jn_quant_plan *p, const char *const **names);
/* Feeds n values of calibrated value i in pass 0 or 1 (non-finite values are ignored). JN_ENOMEM. */
int jn_quant_observe(jn_quant_plan *p, size_t i, int pass, const float *x, size_t n, jn_err *err);
/* Calibrated value i's range after the passes (for messages and tests). */
void jn_quant_range(const jn_quant_plan *p, size_t i, double *lo, double *hi);

/* Writes the quantized model to `path` (a temporary file renamed over it: nothing half-written is left; JN_EIO
 * naming the path). `note` goes into the metadata ("quantization" key, a JSON object) with the options. */
int jn_quant_write(jn_quant_plan *p, const char *path, const char *note, jn_quant_summary *sum, jn_err *err);

/* The arithmetic, exposed for unit tests (quant_calib.c). */
typedef struct jn_qstat {
    double min, max; /* pass 0; min > max while nothing seen */
    double *hist;    /* pass 1: |x| over [0, absmax] in JN_QUANT_HIST_BINS bins (malloc'd on first use) */
    double absmax;
} jn_qstat;
void jn_qstat_init(jn_qstat *s);
void jn_qstat_free(jn_qstat *s);
void jn_qstat_observe(jn_qstat *s, const float *x, size_t n);
int jn_qstat_observe_hist(jn_qstat *s, const float *x, size_t n);
/* The range [lo, hi] the method picks (minmax without a histogram). */
void jn_qstat_range(const jn_qstat *s, jn_quant_method m, double percentile, double *lo, double *hi);
/* ORT's scale and zero point for [lo, hi] (widened to hold 0) on [qmin, qmax]; symmetric: zero point at the middle
 * and the range +-max(|lo|, |hi|). A zero range gives scale 1. */
void jn_quant_params(double lo, double hi, int qmin, int qmax, bool symmetric, float *scale, int32_t *zero_point);
/* The clip threshold of |x|'s histogram (bins of width absmax / n) by KL divergence with `levels` levels. */
double jn_quant_entropy_threshold(const double *hist, size_t n, double absmax, int levels);

#endif
