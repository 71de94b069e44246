#!/usr/bin/env bash
# Junction's HTTP/1.1 front end under load (issue #7): wrk POSTs a KServe v2 REST infer request for `identity`
# (a [1, 16] FP32 tensor in JSON) to `junction serve`, and the very same request to nginx, which answers it with a
# static file holding the exact response body junction gives (the HTTP/1.1 limit on this machine). Same run,
# alternating rounds, medians. Not a test (not registered with CTest). See bench/README.md, section "HTTP".
#
# Environment (defaults in brackets):
#   JUNCTION          junction binary                                    [$BUILD_DIR/junction]
#   JUNCTION_ARGS     extra args for every `junction serve`              []
#   BUILD_DIR         CMake build dir (Release)                          [<repo>/build-bench]
#   BENCH_BUILD       when JUNCTION is the default: 1 = configure if needed and build junction in BUILD_DIR if it is
#                     missing or predates the HTTP front end; always = (re)build it first (incremental); 0 = never [1]
#   BENCH_INSTALL     1 = run scripts/install-deps.sh --bench first (wrk, nginx) [1]
#   NGINX             nginx binary                                       [nginx on PATH, else /usr/sbin/nginx]
#   BENCH_DURATION    measured seconds per target and round (wrk -d)     [10]
#   BENCH_WARMUP      warm-up seconds per target and round (a separate, unmeasured wrk run; 0 = none) [2]
#   BENCH_CONNECTIONS wrk -c: connections, one request in flight on each [64]
#   BENCH_THREADS     wrk -t                                             [1]
#   BENCH_ROUNDS      rounds; each round loads every target in turn, the table shows medians [3]
#   BENCH_TARGETS     targets to load, in this order within a round      [junction_t1 nginx junction nginx_auto nginx_get]
#                       junction_t1  `junction serve --http-threads 1` (one HTTP loop thread), POST infer
#                       nginx        nginx, worker_processes 1, the same POST (answered from the file, see README)
#                       junction     `junction serve` (default --http-threads = cores, default --workers), POST infer
#                       nginx_auto   a second nginx, worker_processes auto, the same POST
#                       nginx_get    the same nginx as `nginx`, GET of the same URL (reference: the cheapest static
#                                    answer)
#                       junction_w1  (not in the default list) `junction serve --workers 1`, POST infer
#   BENCH_REV         what the report calls the junction build [the source tree's commit, "+changes" if dirty; the
#                     report adds the binary's build time either way]
#   BENCH_KEEP        1 = keep the temp dir (wrk output, nginx.conf, logs, bodies) [0]
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$HERE")
PY=/usr/bin/python3
WRK_SCRIPT=$HERE/wrk_post.lua

BUILD_DIR=${BUILD_DIR:-$ROOT/build-bench}
JUNCTION=${JUNCTION:-$BUILD_DIR/junction}
JUNCTION_ARGS=${JUNCTION_ARGS:-}
BENCH_BUILD=${BENCH_BUILD:-1}
BENCH_INSTALL=${BENCH_INSTALL:-1}
BENCH_DURATION=${BENCH_DURATION:-10}
BENCH_WARMUP=${BENCH_WARMUP:-2}
BENCH_CONNECTIONS=${BENCH_CONNECTIONS:-64}
BENCH_THREADS=${BENCH_THREADS:-1}
BENCH_ROUNDS=${BENCH_ROUNDS:-3}
BENCH_TARGETS=${BENCH_TARGETS:-junction_t1 nginx junction nginx_auto nginx_get}
BENCH_KEEP=${BENCH_KEEP:-0}
INFER_PATH=/v2/models/identity/infer

# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"
bench_tmpdir junction-http-bench
RESULTS=$TMP/results.jsonl
declare -A PID=()  # server name -> pid (junction, or the nginx master)
declare -A PORT=() # server name -> HTTP port

stop_servers() {
    local name
    for name in "${!PID[@]}"; do
        stop_pid "${PID[$name]}"
        unset "PID[$name]"
    done
}

# ---- tools and binary -------------------------------------------------------------------------------------------
if [ "$BENCH_INSTALL" = 1 ]; then
    "$ROOT/scripts/install-deps.sh" --bench >&2 || die "scripts/install-deps.sh --bench failed"
fi
command -v wrk >/dev/null || die "wrk not found (scripts/install-deps.sh --bench)"
command -v curl >/dev/null || die "curl not found (scripts/install-deps.sh)"
command -v pgrep >/dev/null || die "pgrep not found (Debian procps)"
[ -x "$PY" ] || die "$PY not found"
NGINX=${NGINX:-$(command -v nginx || echo /usr/sbin/nginx)}
[ -x "$NGINX" ] || die "nginx not found (scripts/install-deps.sh --bench)"

has_http() { [ -x "$JUNCTION" ] && "$JUNCTION" serve --help 2>/dev/null | grep -q -- --http-port; }
if [ "$JUNCTION" = "$BUILD_DIR/junction" ] &&
    { [ "$BENCH_BUILD" = always ] || { [ "$BENCH_BUILD" = 1 ] && ! has_http; }; }; then
    log "building junction in $BUILD_DIR (Release)"
    if [ ! -f "$BUILD_DIR/CMakeCache.txt" ]; then
        cmake -S "$ROOT" -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release >"$TMP/cmake.log" 2>&1 ||
            { tail -n 20 "$TMP/cmake.log" >&2; die "cmake configure failed"; }
    fi
    cmake --build "$BUILD_DIR" -j2 --target junction >>"$TMP/cmake.log" 2>&1 ||
        { tail -n 20 "$TMP/cmake.log" >&2; die "cannot build junction"; }
fi
[ -x "$JUNCTION" ] || die "junction binary $JUNCTION not found"
has_http || die "$JUNCTION has no HTTP front end (serve --http-port): rebuild it (BENCH_BUILD=always)"

# ---- request ----------------------------------------------------------------------------------------------------
REQ=$TMP/request.json
printf '%s' '{"inputs":[{"name":"input","shape":[1,16],"datatype":"FP32","data":[0.5,-1.25,2,3.75,-4.5,5.125,6,-7.875,8.25,9.5,-10,11.0625,12.5,-13.75,14,15.5]}]}' >"$REQ"
RESP=$TMP/response.json # junction's exact answer; nginx serves this file

# post URL OUT HEADERS: curl POST of the request; prints the HTTP status.
post() {
    curl -sS --max-time 10 -o "$2" -D "$3" -w '%{http_code}' -X POST -H 'Content-Type: application/json' \
        --data-binary "@$REQ" "$1"
}

# check_identity_answer FILE: the v2 answer carries output == input (FP32, [1, 16]).
check_identity_answer() {
    "$PY" - "$REQ" "$1" <<'PY'
import json, sys
req = json.load(open(sys.argv[1]))["inputs"][0]
resp = json.load(open(sys.argv[2]))
outs = resp.get("outputs") or []
ok = (resp.get("model_name") == "identity" and len(outs) == 1 and outs[0].get("datatype") == "FP32"
      and outs[0].get("shape") == [1, 16] and [float(x) for x in outs[0].get("data", [])] == [float(x) for x in req["data"]])
sys.exit(0 if ok else 1)
PY
}

# ---- servers ----------------------------------------------------------------------------------------------------
# start_junction NAME ARGS...: `junction serve` with HTTP on a free loopback port and gRPC on port 0.
start_junction() {
    local name=$1
    shift
    local out=$TMP/$name.out
    # shellcheck disable=SC2086
    "$JUNCTION" serve --host 127.0.0.1 --http-port any --grpc-port 0 $JUNCTION_ARGS "$@" >"$out" 2>"$TMP/$name.err" &
    PID[$name]=$!
    for _ in $(seq 1 200); do
        if grep -q 'serving gRPC on' "$out"; then # printed after the HTTP line
            PORT[$name]=$(sed -n -E 's/^junction: serving HTTP on 127\.0\.0\.1:([0-9]+)$/\1/p' "$out")
            [ -n "${PORT[$name]}" ] || die "$name printed no HTTP line: $(cat "$out")"
            return 0
        fi
        kill -0 "${PID[$name]}" 2>/dev/null || die "$name exited before it was ready: $(tail -n 5 "$TMP/$name.err")"
        sleep 0.05
    done
    die "$name printed no ready line within 10 s"
}

free_port() { "$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# start_nginx NAME WORKERS: nginx as the current user with its own config in $TMP/NAME, serving $RESP for POST and
# GET on $INFER_PATH.
start_nginx() {
    local name=$1 workers=$2 dir=$TMP/$1 port user_line=""
    mkdir -p "$dir"
    # Worker processes of a root master switch to `user` (nobody by default); keep them the current user.
    [ "$(id -u)" != 0 ] || user_line="user $(id -un) $(id -gn);"
    for _ in 1 2 3 4 5; do
        port=$(free_port)
        cat >"$dir/nginx.conf" <<EOF
daemon off;
master_process on;
worker_processes $workers;
$user_line
pid $dir/nginx.pid;
error_log $dir/error.log warn;
events {
    worker_connections 1024;
}
http {
    access_log off;
    keepalive_requests 100000;
    client_body_temp_path $dir/client_body;
    proxy_temp_path $dir/proxy;
    fastcgi_temp_path $dir/fastcgi;
    uwsgi_temp_path $dir/uwsgi;
    scgi_temp_path $dir/scgi;
    server {
        listen 127.0.0.1:$port;
        location = $INFER_PATH {
            types { }
            default_type application/json;
            alias $RESP;
            # The static handler answers POST with 405; this redirects that internally to a GET of the same
            # file, answered 200: nginx reads (and drops) the same request body junction gets.
            error_page 405 =200 \$uri;
        }
    }
}
EOF
        "$NGINX" -p "$dir/" -c "$dir/nginx.conf" -e "$dir/error.log" >"$dir/stdout" 2>&1 &
        PID[$name]=$!
        for _ in $(seq 1 100); do
            if [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port$INFER_PATH")" = 200 ]; then
                PORT[$name]=$port
                return 0
            fi
            kill -0 "${PID[$name]}" 2>/dev/null || break
            sleep 0.05
        done
        if grep -q 'Address already in use' "$dir/error.log" "$dir/stdout" 2>/dev/null; then
            stop_pid "${PID[$name]}"
            unset "PID[$name]"
            continue
        fi
        die "$name did not start: $(tail -n 5 "$dir/error.log" "$dir/stdout" 2>/dev/null)"
    done
    die "$name: no free port after 5 tries"
}

# check_server NAME: one POST; junction: 200 and output == input (the first answer becomes $RESP), later the same
# bytes; nginx: 200 and exactly $RESP.
check_server() {
    local name=$1 code
    code=$(post "http://127.0.0.1:${PORT[$name]}$INFER_PATH" "$TMP/check.body" "$TMP/check.head") ||
        die "$name: curl failed"
    [ "$code" = 200 ] || die "$name answered HTTP $code: $(head -c 300 "$TMP/check.body")"
    if [ ! -f "$RESP" ]; then
        check_identity_answer "$TMP/check.body" || die "$name: wrong identity answer: $(cat "$TMP/check.body")"
        cp "$TMP/check.body" "$RESP"
        cp "$TMP/check.head" "$TMP/junction.head"
    fi
    cmp -s "$TMP/check.body" "$RESP" || die "$name: answer differs from junction's first: $(cat "$TMP/check.body")"
    [[ $name != nginx* ]] || cp "$TMP/check.head" "$TMP/nginx.head"
}

# server_of TARGET -> the server it loads
server_of() {
    case $1 in
    junction | junction_t1 | junction_w1 | nginx_auto) echo "$1" ;;
    nginx | nginx_get) echo nginx ;;
    *) die "unknown target '$1' (BENCH_TARGETS)" ;;
    esac
}

# cpu_ticks PID...: user + system clock ticks of those processes (all their threads).
cpu_ticks() {
    local t=0 p
    for p in "$@"; do
        [ -r "/proc/$p/stat" ] || continue
        t=$((t + $(sed 's/^.*) //' "/proc/$p/stat" | awk '{print $12 + $13}')))
    done
    echo "$t"
}

# ---- load -------------------------------------------------------------------------------------------------------
# run_target TARGET ROUND
run_target() {
    local target=$1 round=$2 server method=POST pids before after out=$TMP/$1.$2
    server=$(server_of "$target")
    [ "$target" != nginx_get ] || method=GET
    local url="http://127.0.0.1:${PORT[$server]}$INFER_PATH"
    local wrk_args=(-t "$BENCH_THREADS" -c "$BENCH_CONNECTIONS" --latency -s "$WRK_SCRIPT")
    log "round $round: $target ($method $url)"
    if [ "$BENCH_WARMUP" != 0 ]; then
        WRK_BODY=$REQ WRK_METHOD=$method timeout $((BENCH_WARMUP + 60)) wrk "${wrk_args[@]}" -d "${BENCH_WARMUP}s" \
            "$url" >"$out.warmup" 2>&1 || die "wrk warm-up failed for $target: $(tail -n 3 "$out.warmup")"
    fi
    # shellcheck disable=SC2086
    pids="${PID[$server]} $(pgrep -P "${PID[$server]}" | tr '\n' ' ' || true)" # nginx: master and workers
    # shellcheck disable=SC2086
    before=$(cpu_ticks $pids)
    local TIMEFORMAT='%3U %3S %3R'
    if ! { time WRK_BODY=$REQ WRK_METHOD=$method timeout $((BENCH_DURATION + 60)) wrk "${wrk_args[@]}" \
        -d "${BENCH_DURATION}s" "$url" >"$out.wrk" 2>&1; } 2>"$out.time"; then
        die "wrk failed for $target: $(tail -n 5 "$out.wrk")"
    fi
    # shellcheck disable=SC2086
    after=$(cpu_ticks $pids)
    local res
    res=$(sed -n 's/^WRK_RESULT //p' "$out.wrk")
    [ -n "$res" ] || die "no WRK_RESULT from wrk for $target: $(tail -n 5 "$out.wrk")"
    local wu ws wr
    read -r wu ws wr <"$out.time"
    printf '{"kind":"run","target":"%s","round":%s,"server_cpu_s":%s,"wrk_cpu_s":%s,"wrk_wall_s":%s,"wrk":%s}\n' \
        "$target" "$round" "$(awk -v t=$((after - before)) -v hz="$(getconf CLK_TCK)" 'BEGIN {print t / hz}')" \
        "$(awk -v u="$wu" -v s="$ws" 'BEGIN {print u + s}')" "$wr" "$res" >>"$RESULTS"
    log "  $(sed -n -E 's/^Requests\/sec: *//p' "$out.wrk") req/s$(grep -E 'Non-2xx|Socket errors' "$out.wrk" |
        tr -s ' ' | sed 's/^/;/' | tr -d '\n' || true)"
}

# ---- run --------------------------------------------------------------------------------------------------------
servers=()
for t in $BENCH_TARGETS; do
    s=$(server_of "$t")
    [[ " ${servers[*]} " == *" $s "* ]] || servers+=("$s")
done
# junction first: its answer is the file nginx serves.
start_junction junction
check_server junction
log "junction (pid ${PID[junction]}) on 127.0.0.1:${PORT[junction]}: $(wc -c <"$RESP") byte answer, output == input"
for s in "${servers[@]}"; do
    case $s in
    junction) continue ;;
    junction_w1) start_junction junction_w1 --workers 1 ;;
    junction_t1) start_junction junction_t1 --http-threads 1 ;;
    nginx) start_nginx nginx 1 ;;
    nginx_auto) start_nginx nginx_auto auto ;;
    esac
    check_server "$s"
    log "$s (pid ${PID[$s]}) on 127.0.0.1:${PORT[$s]}"
done

hdr_bytes() { [ -f "$1" ] && wc -c <"$1" || echo 0; }
printf '{"kind":"meta","load":"%s","rounds":%s,"machine":"%s","date":"%s","loadavg":"%s","junction":"%s","nginx":"%s","wrk":"%s","request_bytes":%s,"body_bytes":%s,"junction_head_bytes":%s,"nginx_head_bytes":%s}\n' \
    "wrk -t$BENCH_THREADS -c$BENCH_CONNECTIONS -d${BENCH_DURATION}s --latency ($BENCH_CONNECTIONS connections, one request in flight on each), ${BENCH_WARMUP} s warm-up per target and round" \
    "$BENCH_ROUNDS" \
    "$(nproc) cores, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1), $(uname -sr)" \
    "$(date -u '+%Y-%m-%d %H:%M UTC')" "$(cut -d' ' -f1-3 /proc/loadavg)" \
    "${BENCH_REV:-$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')$(git -C "$ROOT" diff --quiet \
        2>/dev/null || echo '+changes')}, binary built $(date -u -r "$JUNCTION" '+%Y-%m-%d %H:%M UTC') (JUNCTION_ARGS: ${JUNCTION_ARGS:-none})" \
    "$("$NGINX" -v 2>&1 | sed 's/^nginx version: //')" "$(wrk -v 2>&1 | head -n 1 | cut -d' ' -f1-2)" \
    "$(wc -c <"$REQ")" "$(wc -c <"$RESP")" "$(hdr_bytes "$TMP/junction.head")" "$(hdr_bytes "$TMP/nginx.head")" \
    >"$RESULTS"

for round in $(seq 1 "$BENCH_ROUNDS"); do
    for t in $BENCH_TARGETS; do
        run_target "$t" "$round"
    done
done

# Every server still answers right after all that.
for s in "${servers[@]}"; do
    check_server "$s"
done
log "all servers still answer correctly; load average now $(cut -d' ' -f1-3 /proc/loadavg)"

echo
"$PY" - "$RESULTS" <<'PY'
import json, statistics, sys

rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
meta = next(r for r in rows if r["kind"] == "meta")
runs = [r for r in rows if r["kind"] == "run"]
WHAT = {
    "junction": "`junction serve` (--http-threads = cores), POST v2 infer `identity`",
    "junction_t1": "`junction serve --http-threads 1`, POST v2 infer `identity`",
    "nginx": "nginx, worker_processes 1, the same POST answered from the file",
    "nginx_get": "the same nginx, GET (no request body)",
    "junction_w1": "`junction serve --workers 1`, POST v2 infer",
    "nginx_auto": "nginx, worker_processes auto, the same POST",
}
order = []
for r in runs:
    if r["target"] not in order:
        order.append(r["target"])

def med(xs):
    return statistics.median(xs) if xs else float("nan")

stat = {}
for t in order:
    rs = [r for r in runs if r["target"] == t]
    w = [r["wrk"] for r in rs]
    rps = [x["requests"] / (x["duration_us"] / 1e6) for x in w]
    stat[t] = {
        "rps": med(rps),
        "rounds": rps,
        "p50": med([x["p50_us"] / 1000 for x in w]),
        "p99": med([x["p99_us"] / 1000 for x in w]),
        "max": max(x["max_us"] / 1000 for x in w),
        "cpu": med([r["server_cpu_s"] * 1e6 / max(r["wrk"]["requests"], 1) for r in rs]),
        "wrk_cpu": med([100 * r["wrk_cpu_s"] / r["wrk_wall_s"] for r in rs if r["wrk_wall_s"] > 0]),
        "non2xx": sum(x["status"] for x in w),
        "sock": sum(x["connect"] + x["read"] + x["write"] + x["timeout"] for x in w),
    }

base = stat.get("nginx")
print(f"Load: {meta['load']}; rounds: {meta['rounds']} (figures are medians over rounds; max is the max)")
print(f"Machine: {meta['machine']}; date: {meta['date']}; load average at the start: {meta['loadavg']}")
print(f"junction: {meta['junction']}; {meta['nginx']}; {meta['wrk']}")
print(f"Request: {meta['request_bytes']} byte JSON body; response: {meta['body_bytes']} byte body "
      f"(+ {meta['junction_head_bytes']} bytes of status line and headers from junction, "
      f"{meta['nginx_head_bytes']} from nginx)")
print()
print("| target | what | req/s | req/s per round | p50 ms | p99 ms | max ms | x nginx | server CPU us/req "
      "| x nginx by CPU | wrk CPU % | non-2xx | socket errors |")
print("|---|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
for t in order:
    s = stat[t]
    ratio = f"{s['rps'] / base['rps']:.2f}" if base else "-"
    by_cpu = f"{base['cpu'] / s['cpu']:.2f}" if base and s["cpu"] > 0 else "-"
    print(f"| {t} | {WHAT.get(t, t)} | {s['rps']:.0f} | {' / '.join(f'{x:.0f}' for x in s['rounds'])} "
          f"| {s['p50']:.2f} | {s['p99']:.2f} | {s['max']:.1f} | {ratio} | {s['cpu']:.1f} | {by_cpu} "
          f"| {s['wrk_cpu']:.0f} | {s['non2xx']} | {s['sock']} |")
print()
def target_row(what, t, ref):
    if t not in stat or ref not in stat:
        return
    r = stat[t]["rps"] / stat[ref]["rps"]
    c = stat[ref]["cpu"] / stat[t]["cpu"] if stat[t]["cpu"] > 0 else float("nan")
    print(f"| {what} | {r:.2f} x | {'yes' if r >= 0.5 else '**NO**'} | {c:.2f} x |")

if base and any(t.startswith("junction") for t in stat):
    print("| target: junction req/s >= 0.5 x nginx's | req/s ratio | met | CPU per request ratio (nginx's / junction's) |")
    print("|---|---|---|---|")
    target_row("like for like: `junction_t1` (1 HTTP loop thread) vs `nginx` (worker_processes 1)", "junction_t1", "nginx")
    target_row("defaults: `junction` (loop threads = cores) vs `nginx_auto` (worker_processes auto)", "junction", "nginx_auto")
    target_row("`junction` (loop threads = cores) vs `nginx` (worker_processes 1)", "junction", "nginx")
    target_row("`junction_w1` (--workers 1) vs `nginx` (worker_processes 1)", "junction_w1", "nginx")
    target_row("(reference) `junction_t1` vs nginx answering GET", "junction_t1", "nginx_get")
    errs = sum(s["non2xx"] + s["sock"] for s in stat.values())
    print(f"| no non-2xx answers and no socket errors, all targets | {errs} | {'yes' if errs == 0 else '**NO**'} | |")
PY
