#!/usr/bin/env bash
# Remote engines (issue #5): the cost of one hop through the broker. The same h2load load goes to
#   direct          client -> remote junction, v2 ModelInfer "identity"
#   via_kserve      client -> broker junction, v2 ModelInfer "rid-v2"     -> (KServe v2 ModelInfer)   -> remote identity
#   via_native      client -> broker junction, v2 ModelInfer "rid-native" -> (junction.v1.Engine/InferStream messages,
#                   multiplexed: issue #24) -> remote identity
#   via_native_unary  the same with the option "multiplex": "false" (one Engine/Infer call per brokered call, as
#                   before issue #24; endpoint "localhost:PORT" so that it is an endpoint of its own)
#   via_kserve_t2, via_native_t2: the same through a second broker run with --threads 2 (two gRPC pump threads; the
#                   first broker runs with the default, which for a broker started with --remotes and no --models is
#                   one pump since issue #24, two before)
# in one run, each at two loads: throughput (h2load -c 4 -m 16: 64 concurrent streams) and latency (-c 1 -m 1: one
# call at a time, so the p50 difference is the hop's own cost). Under the throughput load it also reads the CPU time
# the broker and the remote spent (/proc/PID/stat) and reports it per request. Both junctions (and h2load) share the
# machine's cores. Not a test. See bench/README.md, "Remote engines".
#
# Environment (defaults in brackets):
#   JUNCTION        junction binary                         [$BUILD_DIR/junction]
#   BUILD_DIR       CMake build dir (Release)               [<repo>/build-bench]
#   BENCH_DURATION  measured seconds per target and load    [6]
#   BENCH_WARMUP    warm-up seconds per target and load     [2]
#   BENCH_ROUNDS    rounds (the table shows medians)        [3]
#   BENCH_KEEP      1 = keep the temp dir                   [0]
#   REMOTE_OPTIONS  the remote engines' options (JSON object) [{"max_queue": 1024}]
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$HERE")
PY=/usr/bin/python3
CLIENT="$HERE/bench_client.py"
BUILD_DIR=${BUILD_DIR:-$ROOT/build-bench}
JUNCTION=${JUNCTION:-$BUILD_DIR/junction}
BENCH_DURATION=${BENCH_DURATION:-6}
BENCH_WARMUP=${BENCH_WARMUP:-2}
BENCH_ROUNDS=${BENCH_ROUNDS:-3}
BENCH_KEEP=${BENCH_KEEP:-0}
REMOTE_OPTIONS=${REMOTE_OPTIONS:-'{"max_queue": 1024}'}
V2_METHOD=/inference.GRPCInferenceService/ModelInfer

# shellcheck source=bench/lib.sh
. "$HERE/lib.sh"
bench_tmpdir junction-remote-bench
RESULTS=$TMP/results.jsonl
REMOTE_PID="" BROKER_PID="" BROKER1_PID=""
stop_servers() {
    stop_pid "$BROKER_PID"
    stop_pid "$BROKER1_PID"
    stop_pid "$REMOTE_PID"
    BROKER_PID="" BROKER1_PID="" REMOTE_PID=""
}

command -v h2load >/dev/null || die "h2load not found (Debian nghttp2-client; scripts/install-deps.sh)"
if [ ! -x "$JUNCTION" ]; then
    log "building junction in $BUILD_DIR (Release)"
    cmake -S "$ROOT" -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release >"$TMP/cmake.log" 2>&1 &&
        cmake --build "$BUILD_DIR" -j2 --target junction >>"$TMP/cmake.log" 2>&1 || die "cannot build junction"
fi

# ---- stubs and payloads -----------------------------------------------------------------------------------------
PROTOS=(junction/v1/tensor.proto junction/v1/contract.proto junction/v1/broker.proto inference/grpc_service.proto)
STUBS=$TMP/stubs
mkdir -p "$STUBS"
stubs_import() { PYTHONPATH=$STUBS "$PY" -c 'import junction.v1.broker_pb2, inference.grpc_service_pb2' 2>/dev/null; }
if ! { "$PY" -m grpc_tools.protoc -I"$ROOT/proto" --python_out="$STUBS" --grpc_python_out="$STUBS" \
        "${PROTOS[@]}" 2>"$TMP/protoc.err" && stubs_import; }; then
    rm -rf "$STUBS" && mkdir -p "$STUBS"
    protoc -I"$ROOT/proto" --python_out="$STUBS" --grpc_python_out="$STUBS" \
        --plugin=protoc-gen-grpc_python=/usr/bin/grpc_python_plugin "${PROTOS[@]}" || die "protoc failed"
    stubs_import || die "generated Python stubs do not import"
fi
for m in identity rid-v2 rid-native rid-native-unary; do
    "$PY" "$CLIENT" payloads --stubs "$STUBS" --out "$TMP/$m" --model "$m" >/dev/null
done

# ---- servers ----------------------------------------------------------------------------------------------------
# start NAME CMD...: prints the gRPC port once the ready line is there; the pid goes to $TMP/NAME.pid.
start() {
    local name=$1 port=""
    shift
    "$@" >"$TMP/$name.out" 2>"$TMP/$name.err" &
    echo $! >"$TMP/$name.pid"
    for _ in $(seq 1 200); do
        port=$(sed -n -E 's/^junction: serving gRPC on 127\.0\.0\.1:([0-9]+)$/\1/p' "$TMP/$name.out")
        [ -n "$port" ] && { echo "$port"; return 0; }
        kill -0 "$(cat "$TMP/$name.pid")" 2>/dev/null || { tail -n 5 "$TMP/$name.err" >&2; return 1; }
        sleep 0.05
    done
    return 1
}

REMOTE_PORT=$(start remote "$JUNCTION" serve --grpc-port 0 --http-port 0 --host 127.0.0.1) || die "remote did not start"
REMOTE_PID=$(cat "$TMP/remote.pid")
cat >"$TMP/remotes.json" <<JSON
[{"name": "rid-v2", "endpoint": "127.0.0.1:$REMOTE_PORT", "protocol": "kserve_v2", "model": "identity",
  "options": $REMOTE_OPTIONS},
 {"name": "rid-native", "endpoint": "127.0.0.1:$REMOTE_PORT", "protocol": "native", "model": "identity",
  "options": $REMOTE_OPTIONS},
 {"name": "rid-native-unary", "endpoint": "localhost:$REMOTE_PORT", "protocol": "native", "model": "identity",
  "options": $("$PY" -c 'import json, sys; o = json.loads(sys.argv[1]); o["multiplex"] = "false"; print(json.dumps(o))' "$REMOTE_OPTIONS")}]
JSON
BROKER_PORT=$(start broker "$JUNCTION" serve --grpc-port 0 --http-port 0 --host 127.0.0.1 --remotes "$TMP/remotes.json") ||
    die "broker did not start"
BROKER_PID=$(cat "$TMP/broker.pid")
BROKER1_PORT=$(start broker1 "$JUNCTION" serve --grpc-port 0 --http-port 0 --host 127.0.0.1 --threads 2 \
    --remotes "$TMP/remotes.json") || die "broker (--threads 2) did not start"
BROKER1_PID=$(cat "$TMP/broker1.pid")

TARGETS=(direct via_kserve via_native via_native_unary via_kserve_t2 via_native_t2)
target_addr() {
    case $1 in
    direct) echo "127.0.0.1:$REMOTE_PORT" ;;
    *_t2) echo "127.0.0.1:$BROKER1_PORT" ;;
    *) echo "127.0.0.1:$BROKER_PORT" ;;
    esac
}
target_model() {
    case $1 in
    direct) echo identity ;; via_kserve*) echo rid-v2 ;; via_native_unary) echo rid-native-unary ;;
    via_native*) echo rid-native ;;
    esac
}
target_broker_pid() { case $1 in direct) echo "" ;; *_t2) echo "$BROKER1_PID" ;; *) echo "$BROKER_PID" ;; esac; }
# CPU time (user + system) of a process, in clock ticks.
cpu_ticks() { [ -n "$1" ] && awk '{ print $14 + $15 }' "/proc/$1/stat" || echo 0; }

for t in "${TARGETS[@]}"; do
    "$PY" "$CLIENT" check --addr "$(target_addr $t)" --method "$V2_METHOD" --payload "$TMP/$(target_model $t)/v2.bin" \
        --expect v2 --stubs "$STUBS" >&2 || die "$t does not answer correctly"
done

printf '{"kind":"meta","machine":"%s","date":"%s","rounds":%s,"duration":%s}\n' \
    "$(nproc) cores, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1), $(uname -sr)" \
    "$(date -u '+%Y-%m-%d %H:%M UTC')" "$BENCH_ROUNDS" "$BENCH_DURATION" >"$RESULTS"

# run TARGET LOAD ROUND
run() {
    local t=$1 load=$2 round=$3 c m
    case $load in throughput) c=4 m=16 ;; latency) c=1 m=1 ;; esac
    local url="http://$(target_addr "$t")$V2_METHOD" payload="$TMP/$(target_model "$t")/v2.bin"
    local broker_pid
    broker_pid=$(target_broker_pid "$t")
    local args=(-c "$c" -m "$m" -t 1 -H 'content-type: application/grpc' -H 'te: trailers' -d "$payload")
    h2load "${args[@]}" -D "$BENCH_WARMUP" "$url" >"$TMP/warm" 2>&1 || die "h2load warm-up failed for $t"
    rm -f "$TMP/log" # h2load appends to an existing log
    local r0 b0 r1 b1
    r0=$(cpu_ticks "$REMOTE_PID") b0=$(cpu_ticks "$broker_pid")
    h2load "${args[@]}" -D "$BENCH_DURATION" --log-file "$TMP/log" "$url" >"$TMP/out" 2>&1 || die "h2load failed for $t"
    r1=$(cpu_ticks "$REMOTE_PID") b1=$(cpu_ticks "$broker_pid")
    "$PY" "$CLIENT" h2load --target "$t" --stdout "$TMP/out" --log "$TMP/log" --set round="$round" \
        --set remote_ticks=$((r1 - r0)) --set broker_ticks=$((b1 - b0)) --set hz="$(getconf CLK_TCK)" \
        | sed "s/^{/{\"load\":\"$load\",/" >>"$RESULTS"
    log "round $round $load $t: $(tail -n 1 "$RESULTS")"
}

for round in $(seq 1 "$BENCH_ROUNDS"); do
    for load in throughput latency; do
        for t in "${TARGETS[@]}"; do run "$t" "$load" "$round"; done
    done
done
for t in "${TARGETS[@]}"; do # still right after the load
    "$PY" "$CLIENT" check --addr "$(target_addr $t)" --method "$V2_METHOD" --payload "$TMP/$(target_model $t)/v2.bin" \
        --expect v2 --stubs "$STUBS" >/dev/null || die "$t answers wrongly after the load"
done

echo
"$PY" - "$RESULTS" <<'PYEOF'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
meta = rows[0]
print(f"Remote engines: {meta['machine']}, {meta['date']}; medians of {meta['rounds']} rounds of {meta['duration']} s.\n")
names = {"direct": "client → remote junction (direct)", "via_kserve": "client → junction → remote (KServe v2 hop)",
         "via_native": "client → junction → remote (junction.v1.Engine hop, multiplexed)",
         "via_native_unary": "the junction.v1.Engine hop, one unary call each (multiplex false)",
         "via_kserve_t2": "the KServe v2 hop, broker --threads 2", "via_native_t2": "the junction.v1.Engine hop (multiplexed), broker --threads 2"}
for load, desc in (("throughput", "64 concurrent streams (h2load -c 4 -m 16)"), ("latency", "one call at a time (h2load -c 1 -m 1)")):
    print(f"**{load}**: {desc}\n")
    cpu = load == "throughput"
    print("| path | req/s | p50 ms | p99 ms | req/s vs direct | p50 added µs | failed |" +
          (" broker CPU µs/req | remote CPU µs/req |" if cpu else ""))
    print("|---|---:|---:|---:|---:|---:|---:|" + ("---:|---:|" if cpu else ""))
    med = {}
    for t in names:
        rs = [r for r in rows if r.get("load") == load and r.get("target") == t]
        if not rs:
            continue
        med[t] = {k: statistics.median(r[k] for r in rs) for k in ("rps", "p50_ms", "p99_ms")}
        med[t]["failed"] = sum(r["failed"] + r["non200"] for r in rs)
        for who in ("broker", "remote"):
            med[t][who] = statistics.median(r[who + "_ticks"] / r["hz"] * 1e6 / max(r["succeeded"], 1) for r in rs)
    d = med.get("direct")
    for t, v in med.items():
        ratio = "1.00" if t == "direct" else f"{v['rps'] / d['rps']:.2f}"
        added = "" if t == "direct" else f"{(v['p50_ms'] - d['p50_ms']) * 1000:.0f}"
        line = f"| {names[t]} | {v['rps']:.0f} | {v['p50_ms']:.3f} | {v['p99_ms']:.3f} | {ratio} | {added} | {v['failed']} |"
        if cpu:
            line += (" |" if t == "direct" else f" {v['broker']:.0f} |") + f" {v['remote']:.0f} |"
        print(line)
    print()
PYEOF
