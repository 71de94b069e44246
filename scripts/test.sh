#!/usr/bin/env bash
# Installs what is missing, checks the include rules (docs/ARCHITECTURE.md), builds, and runs every test: the whole
# suite on a release build (warnings are errors), then the unit, end-to-end and ONNX conformance suites again on an
# address+undefined sanitizer build, then the concurrency unit tests (label tsan) on a ThreadSanitizer build.
set -euo pipefail
cd "$(dirname "$0")/.."
# --onnxruntime: npm onnxruntime-node into .cache/ for the ONNX export check (tests/e2e/test_onnx_export.py).
scripts/install-deps.sh --onnxruntime

echo "== include rules (docs/ARCHITECTURE.md)"
/usr/bin/python3 scripts/check-includes.py

jobs=$(nproc)
echo "== release build"
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DJUNCTION_WERROR=ON >/dev/null
cmake --build build -j"$jobs"
ctest --test-dir build --output-on-failure -j"$jobs"

echo "== address+undefined sanitizer build"
# -O1, as AddressSanitizer's documentation advises for speed: at -O0 the training tests (fashion-cnn on thousands of
# images) ran 37x slower than Release (e2e_prune 758 s, 240 s at -O1).
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug "-DCMAKE_C_FLAGS_DEBUG=-g -O1" -DJUNCTION_WERROR=ON \
  -DJUNCTION_SANITIZE=address,undefined \
  -DJUNCTION_BENCH=OFF >/dev/null
cmake --build build-asan -j"$jobs"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  ctest --test-dir build-asan --output-on-failure -j"$jobs" -L 'unit|e2e|conformance'

echo "== thread sanitizer build (concurrency unit tests, and some e2e tests against a TSan junction)"
# gRPC and Abseil are not built with ThreadSanitizer: their own synchronisation is invisible to it, so
# tests/tsan.supp leaves out races inside them, and broker/core/tsan.h tells it the order a completion queue gives.
# See DECISIONS.md "Sanitizers".
cmake -S . -B build-tsan -DCMAKE_BUILD_TYPE=Debug -DJUNCTION_WERROR=ON -DJUNCTION_SANITIZE=thread \
  -DJUNCTION_BENCH=OFF >/dev/null
tsan_units=$(ctest --test-dir build-tsan -N -L '^tsan$' | awk '/Test +#/ { print $3 }')
# shellcheck disable=SC2086
cmake --build build-tsan -j"$jobs" --target junction $tsan_units
TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1:suppressions=$PWD/tests/tsan.supp" \
  ctest --test-dir build-tsan --output-on-failure -j"$jobs" -L 'tsan'

