#!/usr/bin/env bash
# bench/qkernels.sh — INT8 execution (issue #23 item 2): QDQ CNNs fused into the integer kernels
# (adapters/onnx/onnx_qfuse.c, kernels/gemm_u8s8.c) against the same models in FP32 and against ONNX Runtime (npm
# onnxruntime-node, default optimizations: it fuses the same QDQ patterns into its own integer kernels) on the same
# QDQ file. One thread each, batch 64 (BATCH), the models of bench/make_qdq_models.py: bench/onnx.sh's CNN and a
# fashion-cnn-shaped CNN (5x5 convolutions, a hidden dense layer), each in FP32 and as QDQ (UINT8 activations, INT8
# per-channel weights). Median wall time and median CPU time per batch, each the median of ROUNDS alternating rounds
# of ITERS runs. Columns: junction FP32, junction INT8 (fusion on), ONNX Runtime FP32, ONNX Runtime INT8 (same QDQ
# file); "int8 x" = junction's FP32 time / its INT8 time (the throughput gain, target >= 1.8), "vs ORT" = junction's
# INT8 time / ONNX Runtime's INT8 time (target <= 1.0). CPU time is the figure to read on a shared machine.
# The unfused QDQ graph (JUNCTION_QDQ_FUSION=off: the float operators between QuantizeLinear/DequantizeLinear) is
# timed once per model, for scale. ISAS as in bench/onnx.sh (JUNCTION_ISA per level; "native" by default).
# WEIGHT_RANGE=reduced (the default: 7-bit weights, `junction quantize`'s default, which junction runs on its
# vpmaddubsw kernel, gemm_s7u8.c) or full ([-127, 127]: the exact widened kernel). JUNCTION_QGEMM_7BIT=off in the
# environment keeps junction on the widened kernel for 7-bit weights too (to compare the two).
#
# usage: bench/qkernels.sh   (env: BUILD=build-bench, BATCH=64, ITERS=100, ROUNDS=3, ISAS=native,
#                             WEIGHT_RANGE=reduced, ORT_DIR=.cache/onnxruntime/node_modules/onnxruntime-node)
set -euo pipefail
cd "$(dirname "$0")/.."
BENCH_KEEP=${BENCH_KEEP:-0}
# shellcheck source=bench/lib.sh
. bench/lib.sh

BUILD=${BUILD:-build-bench}
BATCH=${BATCH:-64}
ITERS=${ITERS:-100}
ROUNDS=${ROUNDS:-3}
ORT_DIR=${ORT_DIR:-$PWD/.cache/onnxruntime/node_modules/onnxruntime-node}
[ -f "$ORT_DIR/package.json" ] || die "onnxruntime-node not found at $ORT_DIR (scripts/install-deps.sh --ort)"
if [ ! -x "$BUILD/bench/bench_onnx" ]; then
    log "building $BUILD (Release)"
    cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DJUNCTION_BENCH=ON >/dev/null
    cmake --build "$BUILD" -j"$(nproc)" --target bench_onnx >/dev/null
fi
bench_tmpdir junction-qkernels-bench
WEIGHT_RANGE=${WEIGHT_RANGE:-reduced}
/usr/bin/python3 bench/make_qdq_models.py "$TMP" --weight-range "$WEIGHT_RANGE"

median_of() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
shapes='{"x":[-1,1,28,28]}'

# jn FILE -> "wall cpu"; ort FILE -> "wall cpu"
jn() { "$BUILD/bench/bench_onnx" "$1" "$BATCH" "$ITERS" | awk '{ print $2, $6 }'; }
ort() { JN_BENCH_SHAPES=$shapes node bench/onnx_ort.js "$ORT_DIR" "$1" "$BATCH" "$ITERS" | awk '{ print $2, $6 }'; }

ISAS=${ISAS:-native}
cpu_model=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)
echo "CPU: $cpu_model ($(nproc) cores); batch $BATCH, $ROUNDS rounds of $ITERS runs; times in µs per batch;" \
    "weights $WEIGHT_RANGE${JUNCTION_QGEMM_7BIT:+ (JUNCTION_QGEMM_7BIT=$JUNCTION_QGEMM_7BIT)}"
for level in $ISAS; do
    if [ "$level" = native ]; then unset JUNCTION_ISA; else export JUNCTION_ISA=$level; fi
    ran=$("$BUILD/bench/bench_onnx" "$TMP/cnn.onnx" 1 1 | sed -n 's/.* isa //p')
    echo "junction kernels: $ran${JUNCTION_ISA:+ (JUNCTION_ISA=$JUNCTION_ISA)}; ONNX Runtime: its own best level"
    printf '%-12s %-5s %10s %10s %8s %10s %10s %8s\n' model time "jn FP32" "jn INT8" "int8 x" "ORT FP32" "ORT INT8" "vs ORT"
    for model in cnn fashion_cnn; do
        jw=() jc=() qw=() qc=() ow=() oc=() pw=() pc=()
        for _ in $(seq 1 "$ROUNDS"); do
            read -r w c < <(jn "$TMP/$model.onnx"); jw+=("$w") jc+=("$c")
            read -r w c < <(jn "$TMP/${model}_qdq.onnx"); qw+=("$w") qc+=("$c")
            read -r w c < <(ort "$TMP/$model.onnx"); ow+=("$w") oc+=("$c")
            read -r w c < <(ort "$TMP/${model}_qdq.onnx"); pw+=("$w") pc+=("$c")
        done
        for kind in wall cpu; do
            if [ $kind = wall ]; then a=("${jw[@]}") b=("${qw[@]}") c=("${ow[@]}") d=("${pw[@]}")
            else a=("${jc[@]}") b=("${qc[@]}") c=("${oc[@]}") d=("${pc[@]}"); fi
            A=$(printf '%s\n' "${a[@]}" | median_of) B=$(printf '%s\n' "${b[@]}" | median_of)
            C=$(printf '%s\n' "${c[@]}" | median_of) D=$(printf '%s\n' "${d[@]}" | median_of)
            printf '%-12s %-5s %10.0f %10.0f %8.2f %10.0f %10.0f %8.2f\n' "$model" "$kind" "$A" "$B" \
                "$(awk -v a="$A" -v b="$B" 'BEGIN { print a / b }')" "$C" "$D" \
                "$(awk -v a="$B" -v b="$D" 'BEGIN { print a / b }')"
        done
        read -r w c < <(JUNCTION_QDQ_FUSION=off ITERS=10 "$BUILD/bench/bench_onnx" "$TMP/${model}_qdq.onnx" "$BATCH" 10 |
            awk '{ print $2, $6 }')
        printf '%-12s unfused QDQ graph (JUNCTION_QDQ_FUSION=off): wall %.0f, cpu %.0f; file %d -> %d bytes\n' \
            "$model" "$w" "$c" "$(stat -c %s "$TMP/$model.onnx")" "$(stat -c %s "$TMP/${model}_qdq.onnx")"
    done
    echo
done
unset JUNCTION_ISA
