#!/usr/bin/env bash
# bench/causallm.sh — per-token decode time of a GPT-2-small-shaped causal LM (12 layers, hidden 768, 12 heads,
# vocabulary 50257, context 1024; random weights made here by tests/e2e/make_causallm.py, nothing committed or
# downloaded) with its KV cache: Junction's adapter step (bench_causallm, in-process, adapters/onnx/onnx_causallm.c)
# vs ONNX Runtime (npm onnxruntime-node, tests/e2e/ort_causallm.js --time) running the same greedy loop, same run, one
# thread each. Both loops must produce the same tokens (checked) before their times are compared. Target (issue #19):
# Junction <= 1.3x ONNX Runtime's time per decoded token.
#
# usage: bench/causallm.sh   (env: BUILD=build-bench, NEW=64 tokens per prompt, PROMPTS=3, PROMPT_LEN=16,
#                             ROUNDS=2; LAYERS/HIDDEN/HEADS to shrink the model; ROW=1 prints only the row of
#                             bench/transformers.sh's table)
# Not a test (not registered with CTest). Needs /usr/bin/python3 with python3-onnx and numpy, node with
# onnxruntime-node (scripts/install-deps.sh --onnxruntime), and `cmake --build $BUILD --target bench_causallm`.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$HERE")
BUILD=${BUILD:-$ROOT/build-bench}
NEW=${NEW:-64}
ROUNDS=${ROUNDS:-2}
WORK=$(mktemp -d /tmp/junction-causallm-bench.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
if [ ! -x "$BUILD/bench/bench_causallm" ]; then
    cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DJUNCTION_BENCH=ON >/dev/null
    cmake --build "$BUILD" -j2 --target bench_causallm >/dev/null
fi
[ -n "${ROW:-}" ] || uptime
/usr/bin/python3 "$ROOT/tests/e2e/make_causallm.py" "$WORK/gpt2" --no-tokenizer --vocab 50257 --positions 1024 \
    --layers "${LAYERS:-12}" --hidden "${HIDDEN:-768}" --heads "${HEADS:-12}" >/dev/null
/usr/bin/python3 - "$WORK/prompts.json" "${PROMPTS:-3}" "${PROMPT_LEN:-16}" <<'PY'
import json, random, sys
r = random.Random(19)
n, length = int(sys.argv[2]), int(sys.argv[3])
json.dump([[r.randrange(50256) for _ in range(length)] for _ in range(n)], open(sys.argv[1], "w"))
PY
for round in $(seq "$ROUNDS"); do
    "$BUILD/bench/bench_causallm" "$WORK/gpt2/model.onnx" "$WORK/prompts.json" "$NEW" 1024 >"$WORK/jn.$round.json"
    node "$ROOT/tests/e2e/ort_causallm.js" "$WORK/gpt2/model.onnx" "$WORK/prompts.json" "$NEW" -1 --time \
        >"$WORK/ort.$round.json"
done
/usr/bin/python3 - "$WORK" "$ROUNDS" "$NEW" "${ROW:-}" <<'PY'
import json, statistics, sys
work, rounds, new, row = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
jn = [json.load(open("%s/jn.%d.json" % (work, i))) for i in range(1, rounds + 1)]
ort = [json.load(open("%s/ort.%d.json" % (work, i))) for i in range(1, rounds + 1)]
same = all(j["tokens"] == o["tokens"] for j, o in zip(jn, ort))
mj = statistics.median(j["decode_ms_per_token"] for j in jn)
mo = statistics.median(o["decode_ms_per_token"] for o in ort)
if row:
    print("| GPT-2-small decoder, KV cache, ms per decoded token (%s tokens; same tokens: %s) | %.2f | %.2f | %.2fx "
          "| <= 1.3x |" % (new, "yes" if same else "NO", mj, mo, mj / mo))
    sys.exit(0 if same else 1)
print("GPT-2-small-shaped decoder (12 x 768, 12 heads, vocab 50257), KV cache, %s tokens per prompt, %d rounds"
      % (new, rounds))
print("| loop | ms per decoded token (median of rounds) |")
print("|---|---|")
print("| Junction (adapters/onnx, KV cache) | %.2f |" % mj)
print("| ONNX Runtime %s (1 thread) | %.2f |" % (ort[0]["ort_version"], mo))
print("| ratio Junction / ORT (target <= 1.3) | %.2f |" % (mj / mo))
print("same tokens in both loops: %s" % ("yes" if same else "NO"))
sys.exit(0 if same else 1)
PY
[ -n "${ROW:-}" ] || uptime
