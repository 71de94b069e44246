#!/usr/bin/env bash
# bench/remote_batching.sh — batching toward a remote (issue #24 item 3), same machine, same run.
#
# A remote junction serves the ONNX CNN and MLP of bench/make_onnx_models.py with no batching. A broker junction
# registers them as native remote engines (`--remotes`: rcnn, rmlp) with `"dynamic_batching": {"max_batch_size": 64,
# "max_queue_delay_us": 200}` in their options, so rows of different callers travel in one remote request.
# `junction perf --concurrency-range 64` (gRPC, one-row requests) then calls, in alternating order within each round,
#   direct   the remote's model itself (no batching: one remote request per caller), and
#   brokered the broker's remote engine (batched toward the remote).
# Per row: throughput, client p50/p99, the CPU time per answered request of the broker and of the remote (/proc),
# and brokered / direct. Target (issue #24): brokered >= 1.0 x direct for the CNN.
#
# usage: bench/remote_batching.sh   (env: BUILD=build, MEASURE_MS=3000 per window, ROUNDS=3, CONCURRENCY=64)
set -euo pipefail
cd "$(dirname "$0")/.."
BENCH_KEEP=${BENCH_KEEP:-0}
# shellcheck source=bench/lib.sh
. bench/lib.sh

BUILD=${BUILD:-build}
JUNCTION=$BUILD/junction
MEASURE_MS=${MEASURE_MS:-3000}
ROUNDS=${ROUNDS:-3}
CONCURRENCY=${CONCURRENCY:-64}
[ -x "$JUNCTION" ] || die "no $JUNCTION: build first (cmake --build $BUILD --target junction)"
bench_tmpdir junction-remote-batching-bench

REMOTE_PID= BROKER_PID=
stop_servers() { stop_pid "$BROKER_PID"; stop_pid "$REMOTE_PID"; BROKER_PID= REMOTE_PID=; }

/usr/bin/python3 bench/make_onnx_models.py "$TMP/onnx" >/dev/null 2>&1 || {
    mkdir -p "$TMP/onnx" && /usr/bin/python3 bench/make_onnx_models.py "$TMP/onnx"; }
for m in mlp cnn; do
    mkdir -p "$TMP/models/$m"
    cp "$TMP/onnx/$m.onnx" "$TMP/models/$m/model.onnx"
done

# start NAME ARGS...: starts a junction, prints its gRPC port; its pid goes to $TMP/NAME.pid.
start() {
    local name=$1 port=
    shift
    "$JUNCTION" serve --host 127.0.0.1 --grpc-port 0 --http-port any --state-dir none "$@" >"$TMP/$name.out" \
        2>"$TMP/$name.err" &
    echo $! >"$TMP/$name.pid"
    for _ in $(seq 1 200); do
        port=$(sed -n 's/^junction: serving gRPC on 127\.0\.0\.1:\([0-9]*\)$/\1/p' "$TMP/$name.out")
        [ -n "$port" ] && { echo "$port"; return 0; }
        sleep 0.05
    done
    cat "$TMP/$name.err" >&2
    return 1
}

REMOTE=$(start remote --models "$TMP/models") || die "the remote did not start"
REMOTE_PID=$(cat "$TMP/remote.pid")
# as JSON text (RegisterEngine's form; a --remotes file also takes the object since issue #24, older builds do not)
BATCHING='"{\"max_batch_size\": 64, \"max_queue_delay_us\": 200}"'
cat >"$TMP/remotes.json" <<JSON
[{"name": "rcnn", "endpoint": "127.0.0.1:$REMOTE", "protocol": "native", "model": "cnn",
  "options": {"max_queue": 1024, "dynamic_batching": $BATCHING}},
 {"name": "rmlp", "endpoint": "127.0.0.1:$REMOTE", "protocol": "native", "model": "mlp",
  "options": {"max_queue": 1024, "dynamic_batching": $BATCHING}}]
JSON
BROKER=$(start broker --remotes "$TMP/remotes.json") || die "the broker did not start"
BROKER_PID=$(cat "$TMP/broker.pid")

REMOTE_HTTP=$(sed -n 's/^junction: serving HTTP on 127\.0\.0\.1:\([0-9]*\)$/\1/p' "$TMP/remote.out")
BROKER_HTTP=$(sed -n 's/^junction: serving HTTP on 127\.0\.0\.1:\([0-9]*\)$/\1/p' "$TMP/broker.out")
ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
# answered HTTP_PORT MODEL: the model's successful requests so far (statistics extension).
answered() {
    curl -s "http://127.0.0.1:$1/v2/models/$2/stats" |
        /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["model_stats"][0]["inference_stats"]["success"]["count"])'
}

# measure LABEL PORT MODEL PERF_ARGS...: appends "LABEL throughput p50 p99 broker_us remote_us" to $TMP/rows.
measure() {
    local label=$1 port=$2 model=$3 http
    shift 3
    case $port in "$REMOTE") http=$REMOTE_HTTP ;; *) http=$BROKER_HTTP ;; esac
    local b0 r0 b1 r1 n0 n1
    n0=$(answered "$http" "$model")
    b0=$(ticks "$BROKER_PID") r0=$(ticks "$REMOTE_PID")
    "$JUNCTION" perf -m "$model" -u "127.0.0.1:$port" --concurrency-range "$CONCURRENCY" -p "$MEASURE_MS" \
        -f "$TMP/one.csv" "$@" >"$TMP/perf.out" 2>&1 || { cat "$TMP/perf.out" >&2; die "perf failed on $model"; }
    b1=$(ticks "$BROKER_PID") r1=$(ticks "$REMOTE_PID")
    n1=$(answered "$http" "$model")
    /usr/bin/python3 - "$TMP/one.csv" "$label" "$((b1 - b0))" "$((r1 - r0))" "$(getconf CLK_TCK)" "$((n1 - n0))" \
        >>"$TMP/rows" <<'PY'
import csv, sys
row = next(csv.DictReader(open(sys.argv[1])))
bt, rt, hz, n = (int(a) for a in sys.argv[3:7])
print(sys.argv[2], row["throughput_infer_per_sec"], row["client_p50_us"], row["client_p99_us"], bt, rt, hz, n)
PY
    log "$label: $(tail -n 1 "$TMP/rows")"
}

: >"$TMP/rows"
for round in $(seq 1 "$ROUNDS"); do
    order="direct brokered"
    [ $((round % 2)) -eq 0 ] && order="brokered direct"
    for m in cnn mlp; do
        case $m in cnn) shape=x:1,1,28,28 ;; mlp) shape=x:1,784 ;; esac
        for side in $order; do
            if [ "$side" = direct ]; then
                measure "$m/direct" "$REMOTE" "$m" --shape "$shape"
            else
                measure "$m/brokered" "$BROKER" "r$m" --shape "$shape"
            fi
        done
    done
done
stop_servers

echo
echo "Batching toward a remote: $(nproc) cores, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1), $(date -u '+%Y-%m-%d %H:%M UTC'), load $(cut -d' ' -f1-3 /proc/loadavg); concurrency $CONCURRENCY, medians of $ROUNDS rounds"
/usr/bin/python3 - "$TMP/rows" <<'PY'
import collections, statistics, sys
rows = collections.defaultdict(list)
for line in open(sys.argv[1]):
    label, thr, p50, p99, bt, rt, hz, n = line.split()
    n = max(int(n), 1)  # answered over the whole perf run (warm-up and every window), as the CPU ticks
    rows[label].append((float(thr), float(p50), float(p99), int(bt) * 1e6 / int(hz) / n, int(rt) * 1e6 / int(hz) / n))
def med(label, k):
    return statistics.median(r[k] for r in rows[label])
print("| model | path | infer/s | p50 us | p99 us | broker CPU us/infer | remote CPU us/infer | brokered / direct |")
print("|---|---|---:|---:|---:|---:|---:|---:|")
for m in ("cnn", "mlp"):
    for side in ("direct", "brokered"):
        lab = "%s/%s" % (m, side)
        ratio = "%.2f" % (med(lab, 0) / med(m + "/direct", 0)) if side == "brokered" else ""
        what = "client -> remote (no batching)" if side == "direct" else "client -> broker -> remote (batched toward it)"
        broker = "" if side == "direct" else "%.1f" % med(lab, 3)
        print("| %s | %s | %.0f | %.0f | %.0f | %s | %.1f | %s |" % (m, what, med(lab, 0), med(lab, 1), med(lab, 2),
                                                            broker, med(lab, 4), ratio))
PY
