#!/usr/bin/env bash
# A/B: the CPU time one junction spends per call, for two builds side by side, interleaved, same machine, same run.
# CPU per call (user + system time of the junction process over a fixed number of identity calls, from
# /proc/PID/stat) moves far less than req/s when the machine is shared: it is the figure to compare when a change
# touches the request path (issue #14 compared the one dispatch path with what it replaced).
#
# usage: bench/ab_cpu.sh JUNCTION_A JUNCTION_B
# Environment: AB_REQUESTS calls per door and run [60000], AB_ROUNDS rounds (A, B, A, B, ...) [3],
#              AB_DOORS which doors [v1 v2 rest predict]
# Not a test (not registered with CTest). Needs h2load (Debian nghttp2-client) and /usr/bin/python3 with grpc_tools.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$HERE")
PY=/usr/bin/python3
A=${1:?usage: bench/ab_cpu.sh JUNCTION_A JUNCTION_B}
B=${2:?usage: bench/ab_cpu.sh JUNCTION_A JUNCTION_B}
AB_REQUESTS=${AB_REQUESTS:-60000}
AB_ROUNDS=${AB_ROUNDS:-3}
AB_DOORS=${AB_DOORS:-v1 v2 rest predict}
TMP=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$TMP"' EXIT

PROTOS=(junction/v1/tensor.proto junction/v1/contract.proto junction/v1/broker.proto inference/grpc_service.proto)
mkdir -p "$TMP/stubs"
"$PY" -m grpc_tools.protoc -I"$ROOT/proto" --python_out="$TMP/stubs" --grpc_python_out="$TMP/stubs" "${PROTOS[@]}"
"$PY" "$HERE/bench_client.py" payloads --stubs "$TMP/stubs" --out "$TMP" >/dev/null
printf '{"inputs":[{"name":"input","shape":[1,4],"datatype":"FP32","data":[1,2,3,4]}]}' >"$TMP/rest.json"
printf '{"input":[[1,2,3,4]]}' >"$TMP/predict.json"

cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }

# run BIN DOOR: prints the microseconds of junction CPU per call
run() {
    local bin=$1 door=$2 out=$TMP/serve.out
    "$bin" serve --grpc-port 0 --http-port any >"$out" 2>"$TMP/serve.err" &
    local pid=$! gport="" hport=""
    for _ in $(seq 1 200); do
        gport=$(sed -n -E 's/.*serving gRPC on 127\.0\.0\.1:([0-9]+).*/\1/p' "$out" | head -n 1)
        hport=$(sed -n -E 's/.*serving HTTP on 127\.0\.0\.1:([0-9]+).*/\1/p' "$out" | head -n 1)
        [ -n "$gport" ] && break
        sleep 0.05
    done
    local args
    case $door in
    v1) args=(-c 4 -m 16 -t 1 -H 'content-type: application/grpc' -H 'te: trailers' -d "$TMP/v1.bin"
              "http://127.0.0.1:$gport/junction.v1.Broker/Infer") ;;
    v2) args=(-c 4 -m 16 -t 1 -H 'content-type: application/grpc' -H 'te: trailers' -d "$TMP/v2.bin"
              "http://127.0.0.1:$gport/inference.GRPCInferenceService/ModelInfer") ;;
    rest) args=(--h1 -c 16 -t 1 -H 'content-type: application/json' -d "$TMP/rest.json"
                "http://127.0.0.1:$hport/v2/models/identity/infer") ;;
    predict) args=(--h1 -c 16 -t 1 -H 'content-type: application/json' -d "$TMP/predict.json"
                   "http://127.0.0.1:$hport/v1/models/identity:predict") ;;
    esac
    h2load -n 2000 "${args[@]}" >/dev/null 2>&1 # warm-up
    local t0 t1
    t0=$(cpu_ticks $pid)
    h2load -n "$AB_REQUESTS" "${args[@]}" >"$TMP/h2load.out" 2>&1
    t1=$(cpu_ticks $pid)
    grep -q "succeeded, 0 failed" "$TMP/h2load.out" ||
        grep -q " 0 failed" "$TMP/h2load.out" || { echo "h2load failures:" >&2; tail -5 "$TMP/h2load.out" >&2; }
    kill $pid; wait $pid 2>/dev/null || true
    awk -v t="$((t1 - t0))" -v n="$AB_REQUESTS" -v hz="$(getconf CLK_TCK)" 'BEGIN { printf "%.2f", t / hz * 1e6 / n }'
}

echo "CPU microseconds per call of the junction process ($AB_REQUESTS identity calls per door and run)"
echo "A = $A"
echo "B = $B"
echo "Machine: $(nproc) cores, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1); $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "| door | A (runs) | B (runs) | B / A (medians) |"
echo "|---|---|---|---:|"
for door in $AB_DOORS; do
    as=() bs=()
    for _ in $(seq 1 "$AB_ROUNDS"); do
        as+=("$(run "$A" "$door")")
        bs+=("$(run "$B" "$door")")
    done
    ma=$(printf '%s\n' "${as[@]}" | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }')
    mb=$(printf '%s\n' "${bs[@]}" | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }')
    echo "| $door | ${as[*]} | ${bs[*]} | $(awk -v a="$ma" -v b="$mb" 'BEGIN { printf "%.2f", b / a }') |"
done
