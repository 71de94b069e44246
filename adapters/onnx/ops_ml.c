/* ops_ml.c */
#include "onnx_internal.h"
