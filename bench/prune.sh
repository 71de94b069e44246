#!/usr/bin/env bash
# Pruning benchmark (issue #23, item 3): the 50 % channel-pruned fashion-cnn against the unpruned one.
#   1. `junction prune --model fashion-cnn --channels 0.5 --fine-tune-epochs N` on the shipped weights with the whole
#      Fashion-MNIST training set (Debian's dataset-fashion-mnist); the accuracy before and after comes from the
#      model card (both on the 10,000 test images): the drop in points (target <= 1).
#   2. Inference throughput at batch 64 (bench_vision cnn: jn_cnn_infer + softmax on the shared kernels, weights
#      packed once as the fashion-cnn engine does, one BLAS thread as the engine uses), unpruned and pruned
#      alternating over the rounds: images/s medians and the median of the per-round ratios (target >= 1.6x).
#   3. Sizes on disk of the two checkpoints.
# Not a test (not registered with CTest). bench/quantize.sh runs it for its pruning row (PRUNE_ROW=1 prints only
# the markdown table row). See bench/README.md, section "Pruning".
#
# Environment (defaults in brackets):
#   BUILD_DIR          CMake build dir (Release, -DJUNCTION_BENCH=ON)                     [<repo>/build-bench]
#   BENCH_BUILD        1 = configure if needed and (re)build junction and bench_vision    [1]
#   BENCH_SECONDS      measured seconds per figure and round                              [2]
#   BENCH_ROUNDS       rounds                                                             [5]
#   PRUNE_EPOCHS       fine-tuning epochs                                                 [6]
#   PRUNE_LR           fine-tuning learning rate (Adam, cosine decay)                     [0.001]
#   PRUNE_THREADS      BLAS threads for fine-tuning                                       [2]
#   PRUNE_CHECKPOINT   an already pruned checkpoint (skips step 1; its card must be beside it)  [none]
#   PRUNE_ROW          1 = print only the markdown row                                    [0]
#   BENCH_KEEP         1 = keep the temp dir                                              [0]
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$HERE")
PY=/usr/bin/python3
export PYTHONDONTWRITEBYTECODE=1

BUILD_DIR=${BUILD_DIR:-$ROOT/build-bench}
BENCH_BUILD=${BENCH_BUILD:-1}
BENCH_SECONDS=${BENCH_SECONDS:-2}
BENCH_ROUNDS=${BENCH_ROUNDS:-5}
BENCH_KEEP=${BENCH_KEEP:-0}
PRUNE_EPOCHS=${PRUNE_EPOCHS:-6}
PRUNE_LR=${PRUNE_LR:-0.001}
PRUNE_THREADS=${PRUNE_THREADS:-2}
PRUNE_CHECKPOINT=${PRUNE_CHECKPOINT:-}
PRUNE_ROW=${PRUNE_ROW:-0}
DATA=/usr/share/datasets/fashion-mnist
WEIGHTS=$ROOT/engines/vision/models/fashion-cnn.safetensors

# shellcheck source=bench/lib.sh
. "$HERE/lib.sh"
bench_tmpdir junction-prune
RESULTS=$TMP/results.jsonl

[ -x "$PY" ] || die "$PY not found"
[ -f "$DATA/train-images-idx3-ubyte.gz" ] ||
    die "$DATA not found (Debian dataset-fashion-mnist: scripts/install-deps.sh)"
if [ "$BENCH_BUILD" = 1 ]; then
    log "building junction and bench_vision in $BUILD_DIR (Release)"
    if [ ! -f "$BUILD_DIR/CMakeCache.txt" ]; then
        cmake -S "$ROOT" -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release -DJUNCTION_BENCH=ON >"$TMP/cmake.log" 2>&1 ||
            { tail -n 20 "$TMP/cmake.log" >&2; die "cmake configure failed"; }
    fi
    cmake --build "$BUILD_DIR" -j2 --target junction bench_vision >>"$TMP/cmake.log" 2>&1 ||
        { tail -n 20 "$TMP/cmake.log" >&2; die "cannot build junction and bench_vision"; }
fi
JUNCTION=$BUILD_DIR/junction
BENCH=$BUILD_DIR/bench/bench_vision
[ -x "$JUNCTION" ] || die "$JUNCTION not found"
[ -x "$BENCH" ] || die "$BENCH not found (configure with -DJUNCTION_BENCH=ON)"

# ---- 1. prune + fine-tune ----------------------------------------------------------------------------------------
if [ -n "$PRUNE_CHECKPOINT" ]; then
    PRUNED=${PRUNE_CHECKPOINT%.safetensors}
else
    PRUNED=$TMP/pruned
    log "pruning 50 % of the channels, fine-tuning $PRUNE_EPOCHS epochs on the full training set (minutes)"
    start=$(date +%s)
    "$JUNCTION" prune --model fashion-cnn --checkpoint "$WEIGHTS" --channels 0.5 --fine-tune-epochs "$PRUNE_EPOCHS" \
        --lr "$PRUNE_LR" --data "$DATA" --threads "$PRUNE_THREADS" --seed 1 --out "$PRUNED" --quiet \
        >"$TMP/prune.log" 2>&1 || { cat "$TMP/prune.log" >&2; die "junction prune failed"; }
    log "pruned and fine-tuned in $(( $(date +%s) - start )) s"
fi
[ -f "$PRUNED.json" ] || die "$PRUNED.json (the model card) not found"

# ---- 2. throughput at batch 64, alternating ----------------------------------------------------------------------
for r in $(seq 1 "$BENCH_ROUNDS"); do
    log "round $r/$BENCH_ROUNDS"
    "$BENCH" cnn "$WEIGHTS" 64 1 "$BENCH_SECONDS" | sed 's/^{/{"model": "unpruned", /' >>"$RESULTS"
    "$BENCH" cnn "$PRUNED.safetensors" 64 1 "$BENCH_SECONDS" | sed 's/^{/{"model": "pruned", /' >>"$RESULTS"
done

# ---- 3. the table ------------------------------------------------------------------------------------------------
"$PY" - "$RESULTS" "$PRUNED.json" "$WEIGHTS" "$PRUNED.safetensors" "$PRUNE_ROW" <<'EOF'
import json, os, statistics, sys
results, card_path, w0, w1, row_only = sys.argv[1:6]
rows = [json.loads(l) for l in open(results)]
base = [r["images_per_s"] for r in rows if r["model"] == "unpruned"]
pr = [r["images_per_s"] for r in rows if r["model"] == "pruned"]
ratio = statistics.median(p / b for b, p in zip(base, pr))
card = json.load(open(card_path))["pruning"]
acc0, acc1 = card["test_accuracy"]["before"], card["test_accuracy"]["after_fine_tuning"]
drop = (acc0 - acc1) * 100
size = os.path.getsize(w1) / os.path.getsize(w0)
c0, c1 = card["channels_before"], card["channels_after"]
row = ("| fashion-cnn, 50 %% channels pruned (conv %d/%d -> %d/%d), %d epochs fine-tuning | %.0f -> %.0f img/s "
       "(**%.2fx**, target >= 1.6x) | %.4f -> %.4f (**%+.2f points**, target drop <= 1) | %.2fx (%d -> %d bytes) |"
       % (c0["conv1"], c0["conv2"], c1["conv1"], c1["conv2"], card["fine_tune_epochs"], statistics.median(base),
          statistics.median(pr), ratio, acc0, acc1, -drop, size, os.path.getsize(w0), os.path.getsize(w1)))
if row_only == "1":
    print(row)
    sys.exit(0)
isa = rows[0].get("isa", "?")
print("fashion-cnn at batch 64, one thread, kernels at %s; %d rounds, medians; accuracy on the 10,000 test images"
      % (isa, len(base)))
print()
print("| model | throughput (unpruned -> pruned) | test accuracy (before -> after fine-tuning) | size |")
print("|---|---|---|---|")
print(row)
EOF
