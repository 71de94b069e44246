#!/usr/bin/env bash
# bench/onnx.sh — ONNX models through junction's adapter (in-process, bench_onnx) and through ONNX Runtime (npm
# onnxruntime-node, bench/onnx_ort.js), same machine, same run, one thread each: an MLP 784-256-10 and a small CNN
# (two conv+pool, one dense) on 1x28x28, at batch 1 and 64. Median latency (wall) and median CPU time per
# inference, each the median of ROUNDS alternating rounds of ITERS runs; the ratios are junction / ONNX Runtime.
# Then the conformance counts.
#
# On the adapter's side the MLP is one fused MatMul+Add+Relu (kernels/gemm_direct.c at batch 64, sgemv at batch 1)
# and one Gemm (OpenBLAS); the CNN is two fused Conv+Relu+MaxPool nodes (kernels/conv_direct.c), Flatten and the
# Gemm. Targets (issue #25): MLP and CNN <= 1.0x ONNX Runtime's time at both batch sizes, at the AVX2 level. The
# machine the numbers in bench/README.md come from is a shared 2-core VM: use ROUNDS=5 or more there.
#
# Then the vision models (bench/make_onnx_vision_models.py): a MobileNetV3-Small at 224x224 (batch 1 and 8) and a
# DBNet-style text detector at 640x640 (batch 1), ITERS_VISION runs per round (target issue #15: <= 1.3x). On the
# adapter's side their depthwise convolutions run on kernels/conv_dw.c (adapters/onnx/ops_conv.c), the strided and
# stride-1 3x3 ones on kernels/conv_direct.c (column-phase planes at stride 2), with the Relu or HardSwish after a
# Conv fused into it; the 1x1 convolutions are one sgemm per image straight from the input (squeeze-excite's on
# pooled channels one product over the batch), the classifier head at batch 1 an sgemv, ConvTranspose sgemm + col2im.
#
# Then a 2-layer bidirectional LSTM (input and hidden 128, 100 steps; bench/make_onnx_models.py) at batch 1 and 16,
# ITERS_LSTM runs per round (target issue #15: <= 1.3x): adapters/onnx/ops_rnn.c, one sgemm for all steps' input
# projections, the per-step product on R packed once into panels (vmath.c).
#
# The header names the CPU and the instruction-set level junction's kernels ran at (kernels/jn_kernels.h). ISAS
# lists the levels to run, each forced through JUNCTION_ISA (sse2, avx2, avx512; a level above the CPU's runs at
# the CPU's, and the table says so): ISAS="avx512 avx2 sse2" shows every level side by side on one machine. ONNX
# Runtime always runs at its own best level (it has no such switch), so each table is junction at that level vs
# the same ORT.
#
# usage: bench/onnx.sh   (env: BUILD=build-bench, ITERS=300, ITERS_VISION=10, ITERS_LSTM=30, ROUNDS=3, ISAS=native,
#                         ORT_DIR=.cache/onnxruntime/node_modules/onnxruntime-node;
#                         from a git worktree without its own .cache, point ORT_DIR at the main checkout's)
set -euo pipefail
cd "$(dirname "$0")/.."
BENCH_KEEP=${BENCH_KEEP:-0}
# shellcheck source=bench/lib.sh
. bench/lib.sh

BUILD=${BUILD:-build-bench}
ITERS=${ITERS:-300}
ROUNDS=${ROUNDS:-3}
ITERS_VISION=${ITERS_VISION:-10}
ITERS_LSTM=${ITERS_LSTM:-30}
ORT_DIR=${ORT_DIR:-$PWD/.cache/onnxruntime/node_modules/onnxruntime-node}
[ -f "$ORT_DIR/package.json" ] || die "onnxruntime-node not found at $ORT_DIR (scripts/install-deps.sh --ort)"
if [ ! -x "$BUILD/bench/bench_onnx" ] || [ ! -x "$BUILD/tests/conformance/onnx_conformance" ]; then
    log "building $BUILD (Release)"
    cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Release >/dev/null
    cmake --build "$BUILD" -j"$(nproc)" --target bench_onnx onnx_conformance >/dev/null
fi
bench_tmpdir junction-onnx-bench
/usr/bin/python3 bench/make_onnx_models.py "$TMP"
/usr/bin/python3 bench/make_onnx_vision_models.py "$TMP"

median_of() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

# row MODEL BATCH ITERS SHAPES: one table row, the medians of ROUNDS alternating rounds.
row() {
    local model=$1 batch=$2 iters=$3 shapes=$4 jw=() ow=() jc=() oc=() w c
    for _ in $(seq 1 "$ROUNDS"); do
        read -r _ w _ _ _ c _ < <("$BUILD/bench/bench_onnx" "$TMP/$model.onnx" "$batch" "$iters")
        jw+=("$w") jc+=("$c")
        read -r _ w _ _ _ c < <(JN_BENCH_SHAPES=$shapes node bench/onnx_ort.js "$ORT_DIR" "$TMP/$model.onnx" \
            "$batch" "$iters")
        ow+=("$w") oc+=("$c")
    done
    a=$(printf '%s\n' "${jw[@]}" | median_of) b=$(printf '%s\n' "${ow[@]}" | median_of)
    c=$(printf '%s\n' "${jc[@]}" | median_of) d=$(printf '%s\n' "${oc[@]}" | median_of)
    printf '%-11s %5d %12.1f %12.1f %7.2f %12.1f %12.1f %7.2f\n' "$model" "$batch" "$a" "$b" \
        "$(awk -v a="$a" -v b="$b" 'BEGIN { print a / b }')" "$c" "$d" "$(awk -v a="$c" -v b="$d" 'BEGIN { print a / b }')"
}

ISAS=${ISAS:-native}
cpu_model=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)
cpu_best=$(grep -m1 -ow avx512f /proc/cpuinfo || grep -m1 -ow avx2 /proc/cpuinfo || echo sse2)
echo "CPU: $cpu_model ($(nproc) cores; best vector extension: $cpu_best)"
for level in $ISAS; do
    if [ "$level" = native ]; then unset JUNCTION_ISA; else export JUNCTION_ISA=$level; fi
    ran=$("$BUILD/bench/bench_onnx" "$TMP/mlp.onnx" 1 1 | sed -n 's/.* isa //p')
    echo "junction kernels: $ran${JUNCTION_ISA:+ (JUNCTION_ISA=$JUNCTION_ISA)}; ONNX Runtime: its own best level"
    printf '%-11s %5s %12s %12s %7s %12s %12s %7s\n' model batch "junction µs" "ORT µs" ratio "junction CPU" "ORT CPU" ratio
    for model in mlp cnn; do
        if [ "$model" = mlp ]; then shapes='{"x":[-1,784]}'; else shapes='{"x":[-1,1,28,28]}'; fi
        for batch in 1 64; do
            row "$model" "$batch" "$ITERS" "$shapes"
        done
    done
    for batch in 1 8; do
        row mobilenetv3 "$batch" "$ITERS_VISION" '{"image":[-1,3,224,224]}'
    done
    row dbnet 1 "$ITERS_VISION" '{"image":[-1,3,640,640]}'
    for batch in 1 16; do
        row lstm "$batch" "$ITERS_LSTM" '{"x":[100,-1,128]}'
    done
    echo
done
unset JUNCTION_ISA
"$BUILD/tests/conformance/onnx_conformance" | grep -E '^(node|pytorch)|listed operators|failed across'
