#!/usr/bin/env bash
# bench/batching.sh — dynamic batching and the response cache under load (issue #16), same machine, same run.
#
# `junction perf --concurrency-range 64` (gRPC, one-row requests, random inputs) against a junction serving
#   - the ONNX MLP (784-256-10) and CNN (2 conv + pool, dense) of bench/make_onnx_models.py,
#   - the built-in fashion-cnn (an encoded PNG per request: tests/data/ankle-boot.png),
# once with batching off (no config) and once with it on (`"dynamic_batching": {"max_batch_size": 64,
# "max_queue_delay_us": 200}` in the model repository's config.json, and `--model-config fashion-cnn=...`), in
# alternating rounds. Per row: throughput, p50/p99 client latency, the mean batch size (rows / executions from the
# statistics extension over the measurement) and the on/off throughput ratio. Targets: MLP >= 3x, CNN and fashion-cnn
# >= 1.5x, p99 no worse than without plus the queue delay.
# Then the cache: `identity` asked the same request over and over, cached (`"response_cache": true`, --cache-mb 64)
# vs not cached; target: the cached rate >= 0.9 x identity's own.
#
# usage: bench/batching.sh   (env: BUILD=build, MEASURE_MS=3000 per window, ROUNDS=2, CONCURRENCY=64)
set -euo pipefail
cd "$(dirname "$0")/.."
BENCH_KEEP=${BENCH_KEEP:-0}
# shellcheck source=bench/lib.sh
. bench/lib.sh

BUILD=${BUILD:-build}
JUNCTION=$BUILD/junction
MEASURE_MS=${MEASURE_MS:-3000}
ROUNDS=${ROUNDS:-2}
CONCURRENCY=${CONCURRENCY:-64}
[ -x "$JUNCTION" ] || die "no $JUNCTION: build first (cmake --build $BUILD --target junction)"
"$JUNCTION" perf --help >/dev/null 2>&1 || die "$JUNCTION has no perf command"
bench_tmpdir junction-batching-bench

SERVER_PID=
stop_servers() { stop_pid "$SERVER_PID"; SERVER_PID=; }

/usr/bin/python3 bench/make_onnx_models.py "$TMP/onnx" >/dev/null 2>&1 || {
    mkdir -p "$TMP/onnx" && /usr/bin/python3 bench/make_onnx_models.py "$TMP/onnx"; }
for side in off on; do
    for m in mlp cnn; do
        mkdir -p "$TMP/$side/$m"
        cp "$TMP/onnx/$m.onnx" "$TMP/$side/$m/model.onnx"
    done
done
BATCHING='{"dynamic_batching": {"max_batch_size": 64, "max_queue_delay_us": 200}}'
for m in mlp cnn; do echo "$BATCHING" >"$TMP/on/$m/config.json"; done
echo "$BATCHING" >"$TMP/fashion_on.json"
echo '{"response_cache": true}' >"$TMP/identity_cache.json"
IMG_B64=$(base64 -w0 tests/data/ankle-boot.png)
echo "{\"data\": [{\"image\": {\"b64\": \"$IMG_B64\"}}]}" >"$TMP/fashion_data.json"
echo '{"data": [{"input": {"content": [0.5,1.5,2.5,3.5,4.5,5.5,6.5,7.5,8.5,9.5,10.5,11.5,12.5,13.5,14.5,15.5], "shape": [1, 16]}}]}' \
    >"$TMP/identity_data.json"

# start_server ARGS...: sets GRPC and HTTP.
start_server() {
    "$JUNCTION" serve --host 127.0.0.1 --grpc-port 0 --http-port any --state-dir none "$@" >"$TMP/server.out" \
        2>"$TMP/server.err" &
    SERVER_PID=$!
    GRPC=
    for _ in $(seq 1 200); do
        GRPC=$(sed -n 's/^junction: serving gRPC on 127\.0\.0\.1:\([0-9]*\)$/\1/p' "$TMP/server.out")
        [ -n "$GRPC" ] && break
        sleep 0.05
    done
    [ -n "$GRPC" ] || { cat "$TMP/server.err" >&2; die "junction did not start"; }
    HTTP=$(sed -n 's/^junction: serving HTTP on 127\.0\.0\.1:\([0-9]*\)$/\1/p' "$TMP/server.out")
}

# cpu_ticks: the server's user+system CPU time so far, in clock ticks.
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$SERVER_PID/stat"; }

# counts MODEL: "inference_count execution_count success_count" from the statistics extension.
counts() {
    curl -s "http://127.0.0.1:$HTTP/v2/models/$1/stats" |
        /usr/bin/python3 -c 'import json,sys; s=json.load(sys.stdin)["model_stats"][0]; print(s["inference_count"], s["execution_count"], s["inference_stats"]["success"]["count"])'
}

# measure LABEL MODEL PERF_ARGS...: appends "LABEL throughput p50 p99 mean_batch" to $TMP/rows.
measure() {
    local label=$1 model=$2
    shift 2
    read -r i0 e0 s0 < <(counts "$model")
    c0=$(cpu_ticks)
    "$JUNCTION" perf -m "$model" -u "127.0.0.1:$GRPC" --concurrency-range "$CONCURRENCY" -p "$MEASURE_MS" \
        -f "$TMP/one.csv" "$@" >"$TMP/perf.out" 2>&1 || { cat "$TMP/perf.out" >&2; die "perf failed on $model"; }
    c1=$(cpu_ticks)
    read -r i1 e1 s1 < <(counts "$model")
    /usr/bin/python3 - "$TMP/one.csv" "$label" "$((i1 - i0))" "$((e1 - e0))" "$((c1 - c0))" "$(getconf CLK_TCK)" "$((s1 - s0))" \
        >>"$TMP/rows" <<'EOF'
import csv, sys
row = next(csv.DictReader(open(sys.argv[1])))
rows, execs, ticks, hz, served = (int(a) for a in sys.argv[3:8])
# the server's CPU time per answered request over the whole perf run (warm-up and every window), microseconds
print(sys.argv[2], row["throughput_infer_per_sec"], row["client_p50_us"], row["client_p99_us"],
      "%.1f" % (rows / execs) if execs else "-", "%.1f" % (ticks * 1e6 / hz / max(served, 1)))
EOF
}

: >"$TMP/rows"
for round in $(seq 1 "$ROUNDS"); do
    for side in off on; do
        log "round $round: batching $side"
        if [ "$side" = on ]; then
            start_server --models "$TMP/on" --model-config "fashion-cnn=$TMP/fashion_on.json"
        else
            start_server --models "$TMP/off"
        fi
        measure "mlp/$side" mlp --shape x:1,784
        measure "cnn/$side" cnn --shape x:1,1,28,28
        measure "fashion-cnn/$side" fashion-cnn --input-data "$TMP/fashion_data.json"
        stop_servers
    done
    for side in plain cached; do
        log "round $round: identity $side"
        if [ "$side" = cached ]; then
            start_server --model-config "identity=$TMP/identity_cache.json" --cache-mb 64
        else
            start_server
        fi
        measure "identity/$side" identity --input-data "$TMP/identity_data.json"
        stop_servers
    done
done

/usr/bin/python3 - "$TMP/rows" "$CONCURRENCY" <<'EOF'
import collections, statistics, sys
rows = collections.defaultdict(list)
for line in open(sys.argv[1]):
    label, thr, p50, p99, mb, cpu = line.split()
    rows[label].append((float(thr), float(p50), float(p99), mb, float(cpu)))
def med(label, k):
    return statistics.median(r[k] for r in rows[label])
print("concurrency %s, one-row requests, gRPC (junction perf), medians over rounds" % sys.argv[2])
print("| model | batching | infer/s | p50 us | p99 us | mean batch | server CPU us/infer | on/off infer/s |")
print("|---|---|---:|---:|---:|---:|---:|---:|")
for m in ("mlp", "cnn", "fashion-cnn"):
    for side in ("off", "on"):
        lab = "%s/%s" % (m, side)
        ratio = "%.2f" % (med(lab, 0) / med(m + "/off", 0)) if side == "on" else ""
        print("| %s | %s | %.0f | %.0f | %.0f | %s | %.1f | %s |" % (m, side, med(lab, 0), med(lab, 1), med(lab, 2),
                                                                 rows[lab][-1][3], med(lab, 4), ratio))
c, p = med("identity/cached", 0), med("identity/plain", 0)
print("| identity, the same request | cache off | %.0f | %.0f | %.0f | | %.1f | |"
      % (p, med("identity/plain", 1), med("identity/plain", 2), med("identity/plain", 4)))
print("| identity, the same request | cache on | %.0f | %.0f | %.0f | | %.1f | %.2f |"
      % (c, med("identity/cached", 1), med("identity/cached", 2), med("identity/cached", 4), c / p))
EOF
