/* quant_internal.h — the plan shared by quant_plan.c (what to quantize, calibration) and quant_write.c (the QDQ
 * model). Ownership and thread-safety as quantize.h says. */
#ifndef JN_QUANT_INTERNAL_H
#define JN_QUANT_INTERNAL_H

#include "onnx.pb-c.h"
#include "quantize.h"

enum { QK_CONV = 0, QK_MATMUL, QK_GEMM };

/* A value that gets a QuantizeLinear -> DequantizeLinear pair. */
typedef struct qval {
    const char *name; /* borrowed from the parsed model */
    int from;         /* the value whose scale and zero point it takes (scale-preserving producers), or -1 */
    bool is_input, is_output; /* a graph input / output */
    bool final; /* a quantized node's output no quantized node reads: calibrated by minmax whatever the method */
    jn_qstat st;
} qval;

/* A Conv / MatMul / Gemm to quantize. */
typedef struct qnode {
    size_t node;   /* index in graph->node */
    int kind;      /* QK_* */
    int act, out;  /* qval indices of the activation input and of the output (-1 in dynamic mode) */
    int axis;      /* the weight's output-channel axis (-1: per tensor only) */
    const Onnx__TensorProto *w, *b; /* b: an FP32 bias of one value per output channel, else NULL */
    bool has_bias; /* input 2 is present */
} qnode;

struct jn_quant_plan {
    Onnx__ModelProto *m;
    size_t bytes_in;
    jn_quant_options o;
    qval *v;
    size_t n_v;
    qnode *q;
    size_t n_q;
    const char **taps;
    size_t n_taps;
};

const Onnx__TensorProto *jn__quant_initializer(const Onnx__GraphProto *g, const char *name);
bool jn__quant_is_graph_output(const Onnx__GraphProto *g, const char *name);
const Onnx__AttributeProto *jn__quant_attr(const Onnx__NodeProto *n, const char *name);

#endif
