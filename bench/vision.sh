#!/usr/bin/env bash
# Vision benchmark (issue #6), side by side in one run:
#   (a) per-image preprocessing of a 256x256 PNG and a 256x256 JPEG (a photo: the centre of scikit-learn's
#       china.jpg, from Debian's python3-sklearn): decode + resize + normalize to image-preprocess's output
#       (3x256x256, center crop, ImageNet mean/std) and to fashion-cnn's input (1x28x28 gray, x/255).
#       junction's C code (bench_vision, in-process) vs Pillow + numpy doing the same work (vision_pil.py,
#       in-process): images/s and the ratio (target >= 2x).
#   (b) fashion-cnn inference, images/s at batch 1 and 32: junction's CNN engine code (bench_vision: jn_cnn_infer +
#       softmax on the shared kernels, weights packed once as the engine does) vs ONNX Runtime (npm onnxruntime-node, vision_ort.js) on the ONNX export of the same
#       weights (`junction export`), both limited to the same number of threads (target >= 1.0x, issue #25).
# Every measurement runs in-process after an untimed warm-up second (no process start-up in the figures); rounds
# alternate the sides; the table shows each figure's median over the rounds, and as ratios the medians of the
# per-round ratios (the two sides of a pair ran back to back, under the same load). Each side also reports images per
# CPU second of its own process (CLOCK_PROCESS_CPUTIME_ID, time.process_time, process.cpuUsage): on a shared
# machine that ratio is less disturbed by the neighbours than the wall-clock one, which is the headline figure. Not a test (not registered with
# CTest). See bench/README.md, section "Vision".
#
# Environment (defaults in brackets):
#   BUILD_DIR       CMake build dir (Release)                          [<repo>/build-bench]
#   BENCH_BUILD     1 = configure if needed and (re)build junction and bench_vision in BUILD_DIR [1]
#   BENCH_SECONDS   measured seconds per figure and round              [2]
#   BENCH_ROUNDS    rounds                                             [5]
#   BENCH_THREADS   threads for the CNN on both sides (OpenBLAS threads / ORT intraOpNumThreads) [1 = what the
#                   fashion-cnn engine uses: one BLAS thread per request, requests run in parallel on the pool]
#   BENCH_ISAS      instruction-set levels of junction's kernels for the CNN, each forced through JUNCTION_ISA
#                   (sse2 | avx2 | avx512; kernels/jn_kernels.h), e.g. "avx2 sse2" for both side by side; the
#                   table names the level each row ran at (a level above the CPU's runs at the CPU's). ONNX
#                   Runtime always runs at its own best level                           [native]
#   BENCH_KEEP      1 = keep the temp dir                              [0]
#   BENCH_REV       what the report calls the junction build           [the commit, "+changes" if dirty]
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$HERE")
PY=/usr/bin/python3
export PYTHONDONTWRITEBYTECODE=1

BUILD_DIR=${BUILD_DIR:-$ROOT/build-bench}
BENCH_BUILD=${BENCH_BUILD:-1}
BENCH_SECONDS=${BENCH_SECONDS:-2}
BENCH_ROUNDS=${BENCH_ROUNDS:-5}
BENCH_THREADS=${BENCH_THREADS:-1}
BENCH_KEEP=${BENCH_KEEP:-0}
BENCH_ISAS=${BENCH_ISAS:-native}
PHOTO=/usr/lib/python3/dist-packages/sklearn/datasets/images/china.jpg
WEIGHTS=$ROOT/engines/vision/models/fashion-cnn.safetensors

# shellcheck source=bench/lib.sh
. "$HERE/lib.sh"
bench_tmpdir junction-vbench
RESULTS=$TMP/results.jsonl

# ---- tools ------------------------------------------------------------------------------------------------------
[ -x "$PY" ] || die "$PY not found"
"$PY" -c 'import PIL, numpy' 2>/dev/null || die "python3-pil and python3-numpy are needed (scripts/install-deps.sh)"
[ -f "$PHOTO" ] || die "$PHOTO not found (Debian python3-sklearn; scripts/install-deps.sh)"
command -v node >/dev/null || die "node not found (scripts/install-deps.sh --onnxruntime)"
ORT_DIR=${JUNCTION_ORT_NODE:-$ROOT/.cache/onnxruntime/node_modules/onnxruntime-node}
[ -f "$ORT_DIR/package.json" ] || die "onnxruntime-node not in $ORT_DIR (scripts/install-deps.sh --onnxruntime)"
if [ "$BENCH_BUILD" = 1 ]; then
    log "building junction and bench_vision in $BUILD_DIR (Release)"
    if [ ! -f "$BUILD_DIR/CMakeCache.txt" ]; then
        cmake -S "$ROOT" -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release >"$TMP/cmake.log" 2>&1 ||
            { tail -n 20 "$TMP/cmake.log" >&2; die "cmake configure failed"; }
    fi
    cmake --build "$BUILD_DIR" -j2 --target junction bench_vision >>"$TMP/cmake.log" 2>&1 ||
        { tail -n 20 "$TMP/cmake.log" >&2; die "cannot build junction and bench_vision"; }
fi
JUNCTION=$BUILD_DIR/junction
BENCH=$BUILD_DIR/bench/bench_vision
[ -x "$BENCH" ] || die "$BENCH not found (configure with -DJUNCTION_BENCH=ON)"

# ---- inputs -----------------------------------------------------------------------------------------------------
"$PY" - "$PHOTO" "$TMP" <<'EOF'
import sys
from PIL import Image
im = Image.open(sys.argv[1]).convert("RGB")
w, h = im.size
s = min(w, h)
im = im.crop(((w - s) // 2, (h - s) // 2, (w - s) // 2 + s, (h - s) // 2 + s)).resize((256, 256), Image.BILINEAR)
im.save(sys.argv[2] + "/photo.png")
im.save(sys.argv[2] + "/photo.jpg", quality=90)
EOF
"$JUNCTION" export --model fashion-cnn --checkpoint "$WEIGHTS" --out "$TMP/fashion-cnn.onnx" >/dev/null ||
    die "junction export failed"

printf '{"kind":"meta","machine":"%s","date":"%s","junction":"%s","ort":"%s","node":"%s","threads":%s,"seconds":%s,"rounds":%s,"png_bytes":%s,"jpeg_bytes":%s}\n' \
    "$(nproc) cores, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1), $(uname -sr)" \
    "$(date -u '+%Y-%m-%d %H:%M UTC')" \
    "${BENCH_REV:-$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')$(git -C "$ROOT" diff --quiet \
        2>/dev/null || echo '+changes')}" \
    "$(node -p "require('$ORT_DIR/package.json').version")" "$(node --version)" "$BENCH_THREADS" \
    "$BENCH_SECONDS" "$BENCH_ROUNDS" "$(stat -c %s "$TMP/photo.png")" "$(stat -c %s "$TMP/photo.jpg")" >"$RESULTS"

# ---- rounds -----------------------------------------------------------------------------------------------------
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
for r in $(seq 1 "$BENCH_ROUNDS"); do
    log "round $r/$BENCH_ROUNDS"
    for f in png:PNG jpg:JPEG; do
        "$BENCH" preprocess "$TMP/photo.${f%%:*}" "${f##*:}" "$BENCH_SECONDS" >>"$RESULTS"
        "$PY" "$HERE/vision_pil.py" "$TMP/photo.${f%%:*}" "${f##*:}" "$BENCH_SECONDS" >>"$RESULTS"
    done
    for b in 1 32; do
        for lv in $BENCH_ISAS; do
            if [ "$lv" = native ]; then
                "$BENCH" cnn "$WEIGHTS" "$b" "$BENCH_THREADS" "$BENCH_SECONDS" >>"$RESULTS"
            else
                JUNCTION_ISA=$lv "$BENCH" cnn "$WEIGHTS" "$b" "$BENCH_THREADS" "$BENCH_SECONDS" >>"$RESULTS"
            fi
        done
        node "$HERE/vision_ort.js" "$TMP/fashion-cnn.onnx" "$b" "$BENCH_THREADS" "$BENCH_SECONDS" >>"$RESULTS"
    done
done

# ---- table ------------------------------------------------------------------------------------------------------
"$PY" - "$RESULTS" "$LOAD_BEFORE" "$(cut -d' ' -f1-3 /proc/loadavg)" <<'EOF'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
meta = rows[0]
figs, cpu = {}, {}
for r in rows[1:]:
    base = r["what"]
    if "isa" in r:  # junction's CNN rows name the kernels' level; paired with the ORT row of the same batch
        r["what"] = "%s (junction kernels: %s)" % (base, r["isa"])
        r["vs"] = base
    figs.setdefault((r["what"], r["side"]), []).append(r["images_per_s"])
    cpu.setdefault((r["what"], r["side"]), []).append(r["images_per_cpu_s"])
med = {k: statistics.median(v) for k, v in figs.items()}
med_cpu = {k: statistics.median(v) for k, v in cpu.items()}
print("vision benchmark: %s, %s, junction %s, onnxruntime-node %s (node %s)" % (
    meta["date"], meta["machine"], meta["junction"], meta["ort"], meta["node"]))
print("%d rounds x %g s per figure, medians; CNN threads: %d on both sides; photo 256x256: PNG %d bytes, JPEG %d "
      "bytes (quality 90)" % (meta["rounds"], meta["seconds"], meta["threads"], meta["png_bytes"], meta["jpeg_bytes"]))
print("load average (1, 5, 15 min) before: %s, after: %s" % (sys.argv[2], sys.argv[3]))
print()
print("| what | junction img/s | vs | their img/s | junction / them | per CPU-second: junction / them | target (wall / CPU) |")
print("|---|---|---|---|---|---|---|")
whats, vs = [], {}
for r in rows[1:]:
    if r["side"] == "junction" and r["what"] not in whats:
        whats.append(r["what"])
        vs[r["what"]] = r.get("vs", r["what"])
for w in whats:
    other = "pillow" if w.startswith("preprocess") else "onnxruntime"
    v = vs[w]
    j, o = med.get((w, "junction")), med.get((v, other))
    jc, oc = med_cpu.get((w, "junction")), med_cpu.get((v, other))
    target = 2.0 if other == "pillow" else 1.0
    # Ratios are medians of the per-round ratios: each round measures the two sides back to back, so a pair shares
    # the machine's load of that moment (a ratio of medians would mix moments).
    pairs = list(zip(figs.get((w, "junction"), []), figs.get((v, other), [])))
    pairs_cpu = list(zip(cpu.get((w, "junction"), []), cpu.get((v, other), [])))
    ratio = statistics.median(a / b for a, b in pairs) if pairs else float("nan")
    ratio_cpu = statistics.median(a / b for a, b in pairs_cpu) if pairs_cpu else float("nan")
    name = "Pillow + numpy" if other == "pillow" else "ONNX Runtime"
    verdict = lambda r: "met" if r >= target else "MISSED"
    print("| %s | %.0f | %s | %.0f | **%.2f x** | %.2f x (%.0f / %.0f) | >= %.1f x: %s / %s |" % (
        w, j, name, o, ratio, ratio_cpu, jc, oc, target, verdict(ratio), verdict(ratio_cpu)))
EOF
