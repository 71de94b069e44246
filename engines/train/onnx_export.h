/* onnx_export.h — writes trained built-in models as ONNX files (ModelProto built with protobuf-c from Debian's
 * onnx.proto), so that any ONNX runtime can run what `junction train` produced.
 *
 * Format: IR version 8, default-domain opset 13 (ONNX 1.10+, every current runtime), weights as FP32
 * initializers in raw_data, batch dimension symbolic ("N"). Metadata (ModelProto.metadata_props): "labels" (a JSON
 * array, class order = output column order), "preprocessing" (what turns raw data into the input), "source" (the
 * junction model name). Only standard operators whose semantics match junction's computation exactly are used, so
 * a runtime reproduces junction's scores up to float rounding.
 *
 *   CNN (cnn.h):   input "input" FP32 [N, C, H, W] (NCHW: for fashion-cnn [N, 1, 28, 28], the gray 28x28 image
 *                  resized as engines/vision/preprocess.h does, x/255, no mean/std) -> Conv -> Relu -> MaxPool ->
 *                  Conv -> Relu -> MaxPool -> Flatten -> Gemm -> Relu -> Gemm -> Softmax -> "scores" FP32
 *                  [N, classes]. junction's OHWI conv weights are transposed to ONNX's OIHW, and fc1's columns are
 *                  permuted from junction's NHWC flattening to the NCHW flattening that Flatten produces.
 *   text linear (text.h): input "features" FP32 [N, 2^dim_bits] (the hashed n-gram vector of jn_text_features,
 *                  densified; hashing is not expressible in ONNX and stays outside) -> Gemm (W [D, K], b) ->
 *                  Softmax -> "scores" FP32 [N, K]. The hash configuration is in the metadata.
 *
 * The file is written to a temporary name next to `path`, flushed and renamed over `path`: a reader never sees a
 * half-written model. Errors (JN_EIO naming the path and the system's reason, JN_ENOMEM) leave no file behind.
 *
 * Ownership: the exporters only read the model; everything they allocate is freed before they return.
 * Thread-safety: reentrant.
 */
#ifndef JN_TRAIN_ONNX_EXPORT_H
#define JN_TRAIN_ONNX_EXPORT_H

#include "err.h"
#include "text/text.h"
#include "vision/cnn.h"

#define JN_ONNX_EXPORT_OPSET 13
#define JN_ONNX_EXPORT_IR_VERSION 8

/* Writes the CNN with its class labels (n_labels == m->a.classes) and a one-line description of the preprocessing
 * that produces its input. `source` names the junction model (e.g. "fashion-cnn"). */
int jn_onnx_export_cnn(const jn_cnn *m, const char *const *labels, int n_labels, const char *source,
                       const char *preprocessing, const char *path, jn_err *err);

/* Writes the text classifier's linear softmax head (its labels and hash configuration go into the metadata). */
int jn_onnx_export_text_linear(const jn_text_model *m, const char *source, const char *path, jn_err *err);

#endif
