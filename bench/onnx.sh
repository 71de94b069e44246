#!/usr/bin/env bash
# bench/onnx.sh — ONNX models through junction's adapter (in-process, bench_onnx) and through ONNX Runtime (npm
# onnxruntime-node, bench/onnx_ort.js), same machine, same run, one thread each: an MLP 784-256-10 and a small CNN
# (two conv+pool, one dense) on 1x28x28, at batch 1 and 64. Median latency per inference over ROUNDS alternating
# rounds of ITERS runs; the ratio is junction / ONNX Runtime. Then the conformance counts.
#
# usage: bench/onnx.sh   (env: BUILD=build-bench, ITERS=300, ROUNDS=3, ORT_DIR=.cache/ort/node_modules/onnxruntime-node)
set -euo pipefail
cd "$(dirname "$0")/.."
BENCH_KEEP=${BENCH_KEEP:-0}
# shellcheck source=bench/lib.sh
. bench/lib.sh

BUILD=${BUILD:-build-bench}
ITERS=${ITERS:-300}
ROUNDS=${ROUNDS:-3}
ORT_DIR=${ORT_DIR:-$PWD/.cache/ort/node_modules/onnxruntime-node}
[ -f "$ORT_DIR/package.json" ] || die "onnxruntime-node not found at $ORT_DIR (scripts/install-deps.sh --ort)"
if [ ! -x "$BUILD/bench/bench_onnx" ] || [ ! -x "$BUILD/tests/conformance/onnx_conformance" ]; then
    log "building $BUILD (Release)"
    cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Release >/dev/null
    cmake --build "$BUILD" -j"$(nproc)" --target bench_onnx onnx_conformance >/dev/null
fi
bench_tmpdir junction-onnx-bench
/usr/bin/python3 bench/make_onnx_models.py "$TMP"

median_of() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

printf '%-6s %5s %14s %14s %8s\n' model batch "junction µs" "ORT µs" ratio
for model in mlp cnn; do
    if [ "$model" = mlp ]; then shapes='{"x":[-1,784]}'; else shapes='{"x":[-1,1,28,28]}'; fi
    for batch in 1 64; do
        j=() o=()
        for _ in $(seq 1 "$ROUNDS"); do
            j+=("$("$BUILD/bench/bench_onnx" "$TMP/$model.onnx" "$batch" "$ITERS" | awk '{ print $2 }')")
            o+=("$(JN_BENCH_SHAPES=$shapes node bench/onnx_ort.js "$ORT_DIR" "$TMP/$model.onnx" "$batch" "$ITERS" |
                awk '{ print $2 }')")
        done
        jm=$(printf '%s\n' "${j[@]}" | median_of)
        om=$(printf '%s\n' "${o[@]}" | median_of)
        printf '%-6s %5d %14.1f %14.1f %8.2f\n' "$model" "$batch" "$jm" "$om" "$(awk -v a="$jm" -v b="$om" 'BEGIN { print a / b }')"
    done
done
echo
"$BUILD/tests/conformance/onnx_conformance" | grep -E '^(node|pytorch)|listed operators|failed across'
