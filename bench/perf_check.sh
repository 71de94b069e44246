#!/usr/bin/env bash
# Is `junction perf` fast enough to never be the limit (issue #16 item 5)? It loads junction's `identity` model
# through KServe v2 REST infer (`junction perf --protocol http`) and h2load (Debian nghttp2-client, `h2load --h1`)
# sends the very same JSON request to the same server, same concurrency, both with one thread, in alternating rounds
# of the same run. Prints both throughputs (medians over the rounds) and their ratio; the issue wants perf within
# 10 % of h2load (ratio >= 0.90). Both share the machine's cores with the server, so it also prints each tool's CPU
# time (user + sys) per request, medians over the rounds: the figure that noise from other processes moves least.
# Not a test (not registered with CTest). See bench/README.md, "junction perf".
#
# Environment (defaults in brackets):
#   JUNCTION          junction binary                                        [<repo>/build/junction]
#   BENCH_CONCURRENCY concurrency levels (requests outstanding)              [1 16]
#   BENCH_SECONDS     measured seconds per tool, level and round             [3]
#   BENCH_ROUNDS      rounds; each round runs h2load then perf               [3]
#   BENCH_HTTP_CLIENT junction perf --http-client: wire or curl              [wire]
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$HERE")
JUNCTION=${JUNCTION:-$ROOT/build/junction}
BENCH_CONCURRENCY=${BENCH_CONCURRENCY:-1 16}
BENCH_SECONDS=${BENCH_SECONDS:-3}
BENCH_ROUNDS=${BENCH_ROUNDS:-3}
BENCH_HTTP_CLIENT=${BENCH_HTTP_CLIENT:-wire}

command -v h2load >/dev/null || { echo "perf_check: h2load not found (Debian nghttp2-client)" >&2; exit 1; }
[ -x "$JUNCTION" ] || { echo "perf_check: no junction binary at $JUNCTION (build it or set JUNCTION)" >&2; exit 1; }

TMP=$(mktemp -d /tmp/junction-perf-check.XXXXXX)
SERVER_PID=
cleanup() {
    [ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null && wait "$SERVER_PID" 2>/dev/null
    rm -rf "$TMP"
}
trap cleanup EXIT

"$JUNCTION" serve --host 127.0.0.1 --grpc-port 0 --http-port any --state-dir "$TMP/state" >"$TMP/server.out" \
    2>"$TMP/server.err" &
SERVER_PID=$!
PORT=
for _ in $(seq 100); do
    PORT=$(sed -n 's/^junction: serving HTTP on 127\.0\.0\.1:\([0-9]*\)$/\1/p' "$TMP/server.out")
    [ -n "$PORT" ] && break
    sleep 0.1
done
[ -n "$PORT" ] || { echo "perf_check: junction did not start:" >&2; cat "$TMP/server.err" >&2; exit 1; }
URL=http://127.0.0.1:$PORT/v2/models/identity/infer

# One request, the same for both tools: identity's input as [1, 16] FP32; perf gets it as a data file and sends it
# as {"inputs":[{"name":"input","shape":[1,16],"datatype":"FP32","data":[...]}]}, h2load posts that same body.
VALUES="0.5,1.5,2.5,3.5,4.5,5.5,6.5,7.5,8.5,9.5,10.5,11.5,12.5,13.5,14.5,15.5"
echo "{\"data\": [{\"input\": {\"content\": [$VALUES], \"shape\": [1, 16]}}]}" >"$TMP/data.json"
printf '{"inputs":[{"name":"input","shape":[1,16],"datatype":"FP32","data":[%s]}]}' "$VALUES" >"$TMP/body.json"

median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

echo "perf_check: junction $("$JUNCTION" --version | cut -d' ' -f2) on 127.0.0.1:$PORT, identity [1,16] FP32 over REST;" \
    "$BENCH_ROUNDS rounds of ${BENCH_SECONDS} s per tool and level; $(nproc) cores; load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "perf_check: junction perf --http-client $BENCH_HTTP_CLIENT"
printf '%12s %14s %14s %8s %16s %16s\n' concurrency "h2load req/s" "perf infer/s" ratio "h2load cpu us/req" \
    "perf cpu us/req"
status=0
for c in $BENCH_CONCURRENCY; do
    : >"$TMP/h2" && : >"$TMP/perf" && : >"$TMP/h2cpu" && : >"$TMP/perfcpu"
    for _ in $(seq "$BENCH_ROUNDS"); do
        /usr/bin/time -f "%U %S" -o "$TMP/h2.time" h2load --h1 -t 1 -c "$c" -m 1 \
            -D "$BENCH_SECONDS" -d "$TMP/body.json" -H 'Content-Type: application/json' "$URL" >"$TMP/h2.out" 2>&1
        grep -q " 0 failed, 0 errored" "$TMP/h2.out" || { echo "perf_check: h2load had failures:" >&2; cat "$TMP/h2.out" >&2; exit 1; }
        sed -n 's/^finished in [0-9.]*s, \([0-9.]*\) req\/s.*/\1/p' "$TMP/h2.out" >>"$TMP/h2"
        n=$(sed -n 's/^requests: \([0-9]*\) total.*/\1/p' "$TMP/h2.out")
        awk -v n="$n" '{ printf "%.1f\n", ($1 + $2) * 1e6 / n }' "$TMP/h2.time" >>"$TMP/h2cpu"
        # -s 1000 -r 3: exactly three windows, so perf measures BENCH_SECONDS like h2load does.
        /usr/bin/time -f "%U %S" -o "$TMP/perf.time" "$JUNCTION" perf -m identity --protocol http \
            --http-client "$BENCH_HTTP_CLIENT" -u "127.0.0.1:$PORT" --threads 1 --concurrency-range "$c" \
            --input-data "$TMP/data.json" -p $((BENCH_SECONDS * 1000 / 3)) -s 1000 -r 3 -f "$TMP/perf.csv" \
            >"$TMP/perf.out" 2>&1 || { echo "perf_check: junction perf failed:" >&2; cat "$TMP/perf.out" >&2; exit 1; }
        awk -F, 'NR == 2 { if ($11 != 0) exit 1; print $3 }' "$TMP/perf.csv" >>"$TMP/perf" ||
            { echo "perf_check: junction perf counted errors:" >&2; cat "$TMP/perf.out" >&2; exit 1; }
        n=$(awk -F, 'NR == 2 { print $10 }' "$TMP/perf.csv")
        awk -v n="$n" '{ printf "%.1f\n", ($1 + $2) * 1e6 / n }' "$TMP/perf.time" >>"$TMP/perfcpu"
    done
    h=$(median <"$TMP/h2")
    p=$(median <"$TMP/perf")
    ratio=$(awk -v p="$p" -v h="$h" 'BEGIN { printf "%.3f", p / h }')
    printf '%12s %14.0f %14.0f %8s %16s %16s   (h2load: %s; perf: %s)\n' "$c" "$h" "$p" "$ratio" \
        "$(median <"$TMP/h2cpu")" "$(median <"$TMP/perfcpu")" "$(paste -sd' ' "$TMP/h2")" "$(paste -sd' ' "$TMP/perf")"
    awk -v r="$ratio" 'BEGIN { exit !(r < 0.90) }' && status=2
done
[ "$status" = 0 ] && echo "perf_check: perf within 10 % of h2load at every level" ||
    echo "perf_check: perf below 0.90 x h2load at some level"
exit "$status"
