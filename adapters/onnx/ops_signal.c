/* ops_signal.c */
#include "onnx_internal.h"

const ox_op *const ox_ops_signal[] = {NULL};
