#!/usr/bin/env bash
# bench/quantize.sh — issue #23's benchmark: what INT8 quantization (`junction quantize`) buys, same machine, same
# run. Two models: fashion-cnn (the shipped checkpoint, exported as `junction export` does) and the bench/onnx.sh
# CNN (bench/make_onnx_models.py: random weights, so its accuracy is chance and only its FP32 -> INT8 agreement
# means anything). Each is quantized (static QDQ, minmax, per tensor, UINT8 activations, 7-bit weights; calibrated
# on the first 1000 Fashion-MNIST training images) and measured at batch 64, one thread:
#   - time per batch: FP32 in junction, INT8 (the QDQ file) in junction, the QDQ file in ONNX Runtime (npm
#     onnxruntime-node, which fuses it into its integer kernels), each the median of ROUNDS rounds of ITERS runs
#     (bench_onnx / bench/onnx_ort.js, as bench/onnx.sh measures; CPU time unless TIME=wall); throughput ratio
#     INT8 / FP32 (target >= 1.8x), INT8 junction / ORT time (target <= 1.0x);
#   - accuracy on the Fashion-MNIST test set (LIMIT images): junction serving each file (`serve --models`) and
#     `junction eval --server` (FP32 and INT8; drop target <= 0.5 points), and ORT's accuracy on the QDQ file;
#   - file sizes (target <= 0.3x).
# Until the int8 kernels merge (issue #23 item 2, wip/qkernels) junction runs QDQ files through its float
# QuantizeLinear / DequantizeLinear operators (exact, slower than FP32): the INT8 time is then expected to be worse.
# Pruning (bench/prune.sh, issue #23 item 3) adds its rows below when it exists.
#
# usage: bench/quantize.sh   (env: BUILD=build-bench, ITERS=100, ROUNDS=3, LIMIT=10000, TIME=cpu|wall,
#                             BENCH_PRUNE=0 skips prune.sh,
#                             ORT_DIR=.cache/onnxruntime/node_modules/onnxruntime-node)
set -euo pipefail
cd "$(dirname "$0")/.."
BENCH_KEEP=${BENCH_KEEP:-0}
# shellcheck source=bench/lib.sh
. bench/lib.sh

BUILD=${BUILD:-build-bench}
ITERS=${ITERS:-100}
ROUNDS=${ROUNDS:-3}
LIMIT=${LIMIT:-10000}
DATA=/usr/share/datasets/fashion-mnist
ORT_DIR=${ORT_DIR:-$PWD/.cache/onnxruntime/node_modules/onnxruntime-node}
[ -f "$ORT_DIR/package.json" ] || die "onnxruntime-node not found at $ORT_DIR (scripts/install-deps.sh --ort)"
[ -f "$DATA/t10k-images-idx3-ubyte.gz" ] || die "$DATA missing (Debian's dataset-fashion-mnist)"
if [ ! -x "$BUILD/bench/bench_onnx" ] || [ ! -x "$BUILD/junction" ]; then
    log "building $BUILD (Release)"
    cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Release >/dev/null
    cmake --build "$BUILD" -j"$(nproc)" --target bench_onnx junction >/dev/null
fi
JUNCTION=$BUILD/junction
bench_tmpdir junction-quantize-bench
SERVER_PID=
stop_servers() { stop_pid "$SERVER_PID"; }

M=$TMP/models
mkdir -p "$M/fashion_fp32" "$M/fashion_int8" "$M/cnn_fp32" "$M/cnn_int8"
"$JUNCTION" export --model fashion-cnn --checkpoint engines/vision/models/fashion-cnn.safetensors \
    --out "$M/fashion_fp32/model.onnx" >/dev/null
/usr/bin/python3 bench/make_onnx_models.py "$TMP" >/dev/null
cp "$TMP/cnn.onnx" "$M/cnn_fp32/model.onnx"
for m in fashion cnn; do
    "$JUNCTION" quantize --quiet --model "$M/${m}_fp32/model.onnx" --calibration "$DATA" \
        --out "$M/${m}_int8/model.onnx" >&2
done
# Labels make the output a CLASSIFICATION, which `junction eval` scores.
labels='["T-shirt/top","Trouser","Pullover","Dress","Coat","Sandal","Shirt","Sneaker","Bag","Ankle boot"]'
for d in fashion_fp32 fashion_int8; do
    echo "{\"outputs\": {\"scores\": {\"labels\": $labels}}}" >"$M/$d/config.json"
done
for d in cnn_fp32 cnn_int8; do
    echo "{\"outputs\": {\"y\": {\"labels\": $labels}}}" >"$M/$d/config.json"
done

median_of() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
# times MODEL_FILE SHAPES: "junction_us ort_us", medians of ROUNDS alternating rounds at batch 64: the median CPU
# time per batch of each round (TIME=cpu, the default: the figure to read on a shared machine, as bench/qkernels.sh
# does) or its median wall time (TIME=wall).
TIME=${TIME:-cpu}
field=6
[ "$TIME" = wall ] && field=2
times() {
    local file=$1 shapes=$2 jw=() ow=() w
    for _ in $(seq 1 "$ROUNDS"); do
        w=$("$BUILD/bench/bench_onnx" "$file" 64 "$ITERS" | awk -v f=$field '{ print $f }')
        jw+=("$w")
        w=$(JN_BENCH_SHAPES=$shapes node bench/onnx_ort.js "$ORT_DIR" "$file" 64 "$ITERS" |
            awk -v f=$field '{ print $f }')
        ow+=("$w")
    done
    echo "$(printf '%s\n' "${jw[@]}" | median_of) $(printf '%s\n' "${ow[@]}" | median_of)"
}

# ORT's accuracy on the QDQ file over the test set (x/255, NCHW).
/usr/bin/python3 - "$DATA" "$LIMIT" "$TMP" <<'EOF'
import gzip, sys
import numpy as np
data, n, tmp = sys.argv[1], int(sys.argv[2]), sys.argv[3]
with gzip.open(data + "/t10k-images-idx3-ubyte.gz") as f:
    f.read(16)
    x = np.frombuffer(f.read(n * 784), dtype=np.uint8).reshape(n, 1, 28, 28).astype(np.float32) / np.float32(255)
with gzip.open(data + "/t10k-labels-idx1-ubyte.gz") as f:
    f.read(8)
    np.frombuffer(f.read(n), dtype=np.uint8).astype(np.int64).tofile(tmp + "/labels.i64")
x.astype("<f4").tofile(tmp + "/test.f32")
EOF
ort_accuracy() {
    node tests/e2e/ort_run.js "$1" "$TMP/test.f32" "$LIMIT,1,28,28" "$TMP/ort.f32" 500 >/dev/null
    /usr/bin/python3 -c 'import numpy as np, sys
y = np.fromfile(sys.argv[1] + "/ort.f32", dtype="<f4").reshape(int(sys.argv[2]), -1).argmax(1)
print("%.4f" % (y == np.fromfile(sys.argv[1] + "/labels.i64", dtype=np.int64)).mean())' "$TMP" "$LIMIT"
}

"$JUNCTION" serve --host 127.0.0.1 --grpc-port 0 --http-port 0 --state-dir none --models "$M" \
    >"$TMP/server.out" 2>"$TMP/server.err" &
SERVER_PID=$!
GRPC=
for _ in $(seq 1 200); do
    GRPC=$(sed -n 's/^junction: serving gRPC on 127\.0\.0\.1:\([0-9]*\)$/\1/p' "$TMP/server.out")
    [ -n "$GRPC" ] && break
    sleep 0.05
done
[ -n "$GRPC" ] || { cat "$TMP/server.err" >&2; die "junction did not start"; }
accuracy() {
    "$JUNCTION" eval --server "127.0.0.1:$GRPC" --model "$1" --data "$DATA/t10k-images-idx3-ubyte.gz" \
        --limit "$LIMIT" --json | /usr/bin/python3 -c 'import json, sys; print("%.4f" % json.load(sys.stdin)["accuracy"])'
}

cpu_model=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)
echo "CPU: $cpu_model ($(nproc) cores); batch 64, one thread, $TIME time;" \
    "accuracy on $LIMIT Fashion-MNIST test images"
printf '%-12s %10s %10s %10s %8s %8s %8s %8s %8s %8s %8s\n' model "FP32 µs" "INT8 µs" "ORT INT8" "thr x" \
    "vs ORT" "acc FP32" "acc INT8" "acc ORT" "drop pt" "size x"
for m in fashion cnn; do
    shapes='{"input":[-1,1,28,28]}'
    [ "$m" = cnn ] && shapes='{"x":[-1,1,28,28]}'
    read -r f32 _ < <(times "$M/${m}_fp32/model.onnx" "$shapes")
    read -r i8 ort < <(times "$M/${m}_int8/model.onnx" "$shapes")
    af=$(accuracy "${m}_fp32") ai=$(accuracy "${m}_int8") ao=$(ort_accuracy "$M/${m}_int8/model.onnx")
    sf=$(stat -c %s "$M/${m}_fp32/model.onnx") si=$(stat -c %s "$M/${m}_int8/model.onnx")
    printf '%-12s %10.1f %10.1f %10.1f %8.2f %8.2f %8s %8s %8s %8.2f %8.3f\n' "$m" "$f32" "$i8" "$ort" \
        "$(awk -v a="$f32" -v b="$i8" 'BEGIN { print a / b }')" "$(awk -v a="$i8" -v b="$ort" 'BEGIN { print a / b }')" \
        "$af" "$ai" "$ao" "$(awk -v a="$af" -v b="$ai" 'BEGIN { print 100 * (a - b) }')" \
        "$(awk -v a="$si" -v b="$sf" 'BEGIN { print a / b }')"
done
stop_servers
SERVER_PID=

# Pruning's rows (issue #23 item 3) go here.
# bench/prune.sh: 50 % channel-pruned fashion-cnn vs the unpruned one (fine-tunes: minutes; PRUNE_EPOCHS, PRUNE_*).
if [ "${BENCH_PRUNE:-1}" != 0 ]; then
    echo
    echo "## Pruning (bench/prune.sh)"
    BUILD_DIR=$PWD/$BUILD bench/prune.sh
fi
