#!/usr/bin/env bash
# A fuzzing campaign (issue #9), not a CI step: every libFuzzer target for SECONDS each under ASan+UBSan, JOBS at a
# time, each starting from a copy of its committed seed corpus. Prints one line per target: runs, corpus growth, and
# whether it stopped on a finding (crash-*, leak-*, timeout-* files are kept in the work dir to add to the corpus).
#
# usage: tests/fuzz/campaign.sh [SECONDS (600)] [JOBS (2)] [TARGET...]
# Needs the clang build: cmake -S . -B build-fuzz -DCMAKE_C_COMPILER=clang -DJUNCTION_FUZZ=ON \
#                          -DJUNCTION_SANITIZE=address,undefined && cmake --build build-fuzz
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
secs=${1:-600}
jobs=${2:-2}
shift $(($# > 2 ? 2 : $#))
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  targets=(infer_decode pipeline_json rest_v2 png jpeg state_file http_framing onnx_load onnx_run)
fi
work=${FUZZ_WORK:-$(mktemp -d /tmp/junction-fuzz.XXXXXX)}
echo "fuzz campaign: ${#targets[@]} targets, ${secs} s each, ${jobs} at a time; work dir $work"

run_one() {
  local t=$1 bin=$root/build-fuzz/tests/fuzz/fuzz_${1}_fuzzer
  [ -x "$bin" ] || { echo "$t: $bin missing (build-fuzz)"; return 1; }
  mkdir -p "$work/$t/corpus" "$work/$t/artifacts"
  cp -r "$root/tests/fuzz/corpus/$t/." "$work/$t/corpus/" 2>/dev/null || true
  local seeds
  seeds=$(find "$work/$t/corpus" -type f | wc -l)
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    "$bin" -max_total_time="$secs" -timeout=25 -rss_limit_mb=4096 -print_final_stats=1 \
    -artifact_prefix="$work/$t/artifacts/" "$work/$t/corpus" >"$work/$t/log" 2>&1 || true
  local runs found corpus
  runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$work/$t/log" | grep -o '[0-9]*$' || echo "?")
  corpus=$(find "$work/$t/corpus" -type f | wc -l)
  found=$(find "$work/$t/artifacts" -type f | wc -l)
  printf '%-14s runs %-10s corpus %4s -> %-5s findings %s%s\n' "$t" "$runs" "$seeds" "$corpus" "$found" \
    "$([ "$found" -gt 0 ] && echo " (see $work/$t/artifacts and $work/$t/log)")"
}

running=0
for t in "${targets[@]}"; do
  run_one "$t" &
  running=$((running + 1))
  if [ "$running" -ge "$jobs" ]; then
    wait -n
    running=$((running - 1))
  fi
done
wait
