#!/usr/bin/env bash
# bench/reqlog.sh — what the request log costs (issue #22): `identity` over gRPC under `junction perf
# --concurrency-range 64`, a junction with the request log off, on (--request-log FILE, no payloads) and on with
# payloads and every redaction pattern, servers started in alternating order in each round of the same run. Per row:
# throughput, p50/p99 client latency, the server's CPU time per answered request, the lines written and dropped
# (/metrics), and the ratio to "off" of the same run. Target: log on (no payloads) >= 0.9 x off.
# The machine is shared: only the ratios of one run compare; the script prints `uptime` before and after.
#
# usage: bench/reqlog.sh   (env: BUILD=build, MEASURE_MS=3000 per window, ROUNDS=3, CONCURRENCY=64)
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
"$JUNCTION" perf --help >/dev/null 2>&1 || die "$JUNCTION has no perf command"
bench_tmpdir junction-reqlog-bench

SERVER_PID=
stop_servers() { stop_pid "$SERVER_PID"; SERVER_PID=; }

echo '{"data": [{"input": {"content": [0.5,1.5,2.5,3.5,4.5,5.5,6.5,7.5,8.5,9.5,10.5,11.5,12.5,13.5,14.5,15.5], "shape": [1, 16]}}]}' \
    >"$TMP/identity_data.json"
echo '{"ports": ["password"], "patterns": ["email", "phone", "card", "iban"], "regex": ["ACME-[0-9]{6}"]}' \
    >"$TMP/redact.json"

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

cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$SERVER_PID/stat"; }
metric() { curl -s "http://127.0.0.1:$HTTP/metrics" | awk -v n="$1" '$1 == n { print $2 }'; }
served() {
    curl -s "http://127.0.0.1:$HTTP/v2/models/identity/stats" |
        /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["model_stats"][0]["inference_stats"]["success"]["count"])'
}

# measure LABEL: appends "LABEL throughput p50 p99 cpu_us lines dropped" to $TMP/rows.
measure() {
    local label=$1 s0 s1 c0 c1
    s0=$(served)
    c0=$(cpu_ticks)
    "$JUNCTION" perf -m identity -u "127.0.0.1:$GRPC" --concurrency-range "$CONCURRENCY" -p "$MEASURE_MS" \
        -f "$TMP/one.csv" --input-data "$TMP/identity_data.json" >"$TMP/perf.out" 2>&1 ||
        { cat "$TMP/perf.out" >&2; die "perf failed ($label)"; }
    c1=$(cpu_ticks)
    s1=$(served)
    sleep 0.3 # the writer catches up before the counters are read
    lines=$(metric junction_request_log_lines_total)
    dropped=$(metric junction_request_log_dropped_total)
    /usr/bin/python3 - "$TMP/one.csv" "$label" "$((c1 - c0))" "$(getconf CLK_TCK)" "$((s1 - s0))" \
        "${lines:--}" "${dropped:--}" >>"$TMP/rows" <<'PY'
import csv, sys
row = next(csv.DictReader(open(sys.argv[1])))
ticks, hz, served = int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
print(sys.argv[2], row["throughput_infer_per_sec"], row["client_p50_us"], row["client_p99_us"],
      "%.1f" % (ticks * 1e6 / hz / max(served, 1)), sys.argv[6], sys.argv[7])
PY
}

log "uptime before: $(uptime)"
: >"$TMP/rows"
for round in $(seq 1 "$ROUNDS"); do
    order="off on payloads"
    [ $((round % 2)) -eq 0 ] && order="payloads on off"
    for side in $order; do
        log "round $round: request log $side"
        rm -f "$TMP"/requests.jsonl*
        case $side in
        off) start_server ;;
        on) start_server --request-log "$TMP/requests.jsonl" ;;
        payloads) start_server --request-log "$TMP/requests.jsonl" --request-log-payloads --redact "$TMP/redact.json" ;;
        esac
        measure "$side"
        stop_servers
    done
done
log "uptime after: $(uptime)"

/usr/bin/python3 - "$TMP/rows" "$CONCURRENCY" "$ROUNDS" <<'PY'
import collections, statistics, sys
rows = collections.defaultdict(list)
for line in open(sys.argv[1]):
    label, thr, p50, p99, cpu, lines, dropped = line.split()
    rows[label].append((float(thr), float(p50), float(p99), float(cpu), lines, dropped))
med = lambda label, k: statistics.median(r[k] for r in rows[label])
print("identity [1,16] FP32, gRPC v1, junction perf concurrency %s, medians over %s rounds" % (sys.argv[2], sys.argv[3]))
print("| request log | infer/s | p50 us | p99 us | server CPU us/infer | lines written (last round) | dropped | x off |")
print("|---|---:|---:|---:|---:|---:|---:|---:|")
names = {"off": "off", "on": "on, no payloads", "payloads": "on, payloads + redaction"}
for side in ("off", "on", "payloads"):
    r = rows[side]
    print("| %s | %.0f | %.0f | %.0f | %.1f | %s | %s | %.2f |" % (names[side], med(side, 0), med(side, 1), med(side, 2),
          med(side, 3), r[-1][4], r[-1][5], med(side, 0) / med("off", 0)))
print("per-round ratios on/off: " + ", ".join("%.2f" % (a[0] / b[0]) for a, b in zip(rows["on"], rows["off"])))
PY
