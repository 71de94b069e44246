#!/usr/bin/env bash
# Pipeline benchmark (issue #3): one junction serving --pipelines with identity chains of 1, 2, 4, 8 steps and two
# pipelines of 4 CPU-bound burn steps (par4: fanned out from the input; seq4: in a chain), and (issue #20) a chain-4
# without and with a fifth step behind a false `when` (when-base / when-off). In the same run:
#   - h2load at 64 concurrent streams on the bare identity engine and on each chain (the same 64-byte FP32 payload,
#     only the model name differs): req/s and the ratio to bare identity (target: chain-8 >= 0.9 x identity); also
#     the bare burn engine with burn_ms=0, which runs on the worker pool like a pipeline does (a reference);
#   - sequential unary calls alternating par4/seq4 (burn_mode=cpu): median latency and the ratio par4/seq4
#     (target: <= 0.6 on a 2-core machine).
# Not a test (not registered with CTest). See bench/README.md, section "Pipelines".
#
# Environment (defaults in brackets):
#   JUNCTION             junction binary                      [$BUILD_DIR/junction]
#   JUNCTION_ARGS        extra args for `junction serve`      []
#   BUILD_DIR            CMake build dir (Release)            [<repo>/build-bench]
#   BENCH_BUILD          1 = configure if needed and (re)build junction in BUILD_DIR (incremental) [1]
#   BENCH_DURATION       measured seconds per target and round [6]
#   BENCH_WARMUP         warm-up seconds per target (separate h2load run, not measured) [2]
#   BENCH_CONNECTIONS    h2load connections (-c)              [4]
#   BENCH_STREAMS        concurrent streams per connection (-m) [16]  (4 x 16 = 64 concurrent streams)
#   BENCH_ROUNDS         rounds; each round loads every target in turn, the table shows medians [3]
#   BENCH_CHAINS         chain lengths                        [1 2 4 8]
#   BENCH_PTARGETS       bare-engine targets loaded besides the chains [identity burn0]
#   BENCH_WHEN_TARGETS   decision targets (issue #20): a chain-4 with an input g, and the same plus a step behind a
#                        false `when`; their server CPU per call is compared [when-base when-off]
#   LAT_CALLS            sequential calls per pipeline for par4/seq4 [30]
#   LAT_WARMUP           unmeasured calls per pipeline first  [3]
#   BURN_MS              burn_ms of every par4/seq4 step (burn_mode=cpu) [20]
#   BENCH_KEEP           1 = keep the temp dir (logs, payloads, pipelines) [0]
#   BENCH_REV            what the report calls the junction build [the source tree's commit, "+changes" if dirty]
#   BENCH_DECIDE         in-process decision benchmark (a false `when`, a split step) [$BUILD_DIR/bench/bench_pipeline_decide]
#   DECIDE_CALLS, DECIDE_ROUNDS   its calls per round and rounds [100000, 15]
#   BENCH_TRACE          1 = the tracing row (issue #22): chain-8 on three servers started in turn, each round:
#                        no tracing, --otlp-endpoint to a live receiver (tests/e2e/otlp_receiver.js --discard, which
#                        answers every export without decoding it) at 100 % sampling, and --trace-sample-ratio 0;
#                        req/s and server CPU per call (medians), their ratios to no tracing (targets: >= 0.9 x and no
#                        measurable cost), and the share of spans that reached the receiver [1]
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$HERE")
PY=/usr/bin/python3
CLIENT="$HERE/bench_client.py"
PCLIENT="$HERE/pipelines_client.py"
export PYTHONDONTWRITEBYTECODE=1

BUILD_DIR=${BUILD_DIR:-$ROOT/build-bench}
JUNCTION=${JUNCTION:-$BUILD_DIR/junction}
JUNCTION_ARGS=${JUNCTION_ARGS:-}
BENCH_BUILD=${BENCH_BUILD:-1}
BENCH_DURATION=${BENCH_DURATION:-6}
BENCH_WARMUP=${BENCH_WARMUP:-2}
BENCH_CONNECTIONS=${BENCH_CONNECTIONS:-4}
BENCH_STREAMS=${BENCH_STREAMS:-16}
BENCH_ROUNDS=${BENCH_ROUNDS:-3}
BENCH_CHAINS=${BENCH_CHAINS:-1 2 4 8}
LAT_CALLS=${LAT_CALLS:-30}
LAT_WARMUP=${LAT_WARMUP:-3}
BURN_MS=${BURN_MS:-20}
BENCH_KEEP=${BENCH_KEEP:-0}

METHOD=/junction.v1.Broker/Infer

# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"
bench_tmpdir junction-pbench
RESULTS=$TMP/results.jsonl
SERVER_PID=""

stop_server() {
    local pid=$SERVER_PID
    SERVER_PID=""
    stop_pid "$pid"
}
stop_servers() { stop_server; }

# ---- binary -----------------------------------------------------------------------------------------------------
command -v h2load >/dev/null || die "h2load not found (Debian nghttp2-client; scripts/install-deps.sh)"
[ -x "$PY" ] || die "$PY not found"
if [ "$BENCH_BUILD" = 1 ] && [ "$JUNCTION" = "$BUILD_DIR/junction" ]; then
    # Always (incrementally) rebuilt: a junction from before pipelines would not know --pipelines.
    log "building junction in $BUILD_DIR (Release)"
    if [ ! -f "$BUILD_DIR/CMakeCache.txt" ]; then
        cmake -S "$ROOT" -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release >"$TMP/cmake.log" 2>&1 ||
            { tail -n 20 "$TMP/cmake.log" >&2; die "cmake configure failed"; }
    fi
    cmake --build "$BUILD_DIR" -j2 --target junction bench_pipeline_decide >>"$TMP/cmake.log" 2>&1 ||
        { tail -n 20 "$TMP/cmake.log" >&2; die "cannot build junction"; }
fi
[ -x "$JUNCTION" ] || die "junction binary $JUNCTION not found"

# ---- stubs, pipelines, payloads ---------------------------------------------------------------------------------
PROTOS=(junction/v1/tensor.proto junction/v1/contract.proto junction/v1/broker.proto inference/grpc_service.proto)
STUBS=$TMP/stubs
mkdir -p "$STUBS"
stubs_import() { PYTHONPATH=$STUBS "$PY" -c 'import junction.v1.broker_pb2, inference.grpc_service_pb2' 2>/dev/null; }
if ! { "$PY" -m grpc_tools.protoc -I"$ROOT/proto" --python_out="$STUBS" --grpc_python_out="$STUBS" \
        "${PROTOS[@]}" 2>"$TMP/protoc.err" && stubs_import; }; then
    log "grpc_tools.protoc stubs unusable; using protoc + grpc_python_plugin"
    rm -rf "$STUBS" && mkdir -p "$STUBS"
    protoc -I"$ROOT/proto" --python_out="$STUBS" --grpc_python_out="$STUBS" \
        --plugin=protoc-gen-grpc_python=/usr/bin/grpc_python_plugin "${PROTOS[@]}" || die "protoc failed"
    stubs_import || die "generated Python stubs do not import"
fi
CHAINS_CSV=$(echo "$BENCH_CHAINS" | tr -s ' ' ',')
"$PY" "$PCLIENT" setup --stubs "$STUBS" --out "$TMP" --chains "$CHAINS_CSV" >&2
# burn0 (the burn engine with burn_ms=0) is a reference: a bare engine that, like a pipeline, runs on the worker pool.
TARGETS=${BENCH_PTARGETS:-identity burn0}
for n in $BENCH_CHAINS; do TARGETS="$TARGETS chain-$n"; done
# Issue #20: the same 4-step chain without and with a fifth step behind a false `when` (server CPU per call compared).
TARGETS="$TARGETS ${BENCH_WHEN_TARGETS-when-base when-off}"

# ---- server -----------------------------------------------------------------------------------------------------
# HTTP off where the binary has it (its default port is fixed, 8000); older binaries have no --http-port.
HTTP_OFF=()
if "$JUNCTION" serve --help 2>&1 | grep -q -- '--http-port'; then HTTP_OFF=(--http-port 0); fi

start_server() {
    local out=$TMP/junction.out err=$TMP/junction.err
    : >"$out" # a restarted server: not the previous one's ready line
    # shellcheck disable=SC2086
    "$JUNCTION" serve --grpc-port 0 --host 127.0.0.1 "${HTTP_OFF[@]}" --pipelines "$TMP/pipelines" $JUNCTION_ARGS \
        >"$out" 2>"$err" &
    SERVER_PID=$!
    SERVER_PORT=""
    for _ in $(seq 1 200); do
        SERVER_PORT=$(sed -n -E 's/.*serving gRPC on 127\.0\.0\.1:([0-9]+).*/\1/p' "$out" | head -n 1)
        [ -n "$SERVER_PORT" ] && return 0
        if ! kill -0 "$SERVER_PID" 2>/dev/null; then
            log "junction exited before it was ready:"; tail -n 20 "$err" >&2
            SERVER_PID=""
            return 1
        fi
        sleep 0.05
    done
    log "junction printed no ready line within 10 s"
    stop_server
    return 1
}

H2LOAD_COMMON=(-c "$BENCH_CONNECTIONS" -m "$BENCH_STREAMS" -t 1
    -H 'content-type: application/grpc' -H 'te: trailers')
CONCURRENCY=$((BENCH_CONNECTIONS * BENCH_STREAMS))
LOAD_DESC="h2load -c $BENCH_CONNECTIONS -m $BENCH_STREAMS -t 1 ($CONCURRENCY concurrent streams)"
LOAD_DESC="$LOAD_DESC, ${BENCH_DURATION} s per target after ${BENCH_WARMUP} s warm-up, one junction for all targets"
printf '{"kind":"meta","load":"%s","rounds":%s,"machine":"%s","date":"%s","junction":"%s"}\n' \
    "$LOAD_DESC" "$BENCH_ROUNDS" \
    "$(nproc) cores, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1), $(uname -sr)" \
    "$(date -u '+%Y-%m-%d %H:%M UTC')" \
    "${BENCH_REV:-$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')$(git -C "$ROOT" diff --quiet \
        2>/dev/null || echo '+changes')}" \
    >"$RESULTS"

start_server || die "cannot start junction with the benchmark pipelines"
log "junction pid $SERVER_PID on 127.0.0.1:$SERVER_PORT; targets: $TARGETS"

# CPU time (user + system, clock ticks) the server has used so far: fields 14 and 15 of /proc/PID/stat (the command
# name, field 2, has no spaces here).
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

run_target() {
    local key=$1 round=$2 payload=$TMP/payload-$1.bin url cpu0 cpu1
    url="http://127.0.0.1:$SERVER_PORT$METHOD"
    # h2load sees only HTTP 200; one real call proves grpc-status OK and output == input.
    "$PY" "$CLIENT" check --addr "127.0.0.1:$SERVER_PORT" --method "$METHOD" --payload "$payload" --expect v1 \
        --stubs "$STUBS" >&2 || die "$key does not answer the payload correctly"
    if [ "$BENCH_WARMUP" != 0 ]; then
        timeout $((BENCH_WARMUP + 60)) h2load "${H2LOAD_COMMON[@]}" -D "$BENCH_WARMUP" -d "$payload" "$url" \
            >"$TMP/$key.$round.warmup" 2>&1 || die "h2load warm-up failed for $key: $(tail -n 3 "$TMP/$key.$round.warmup")"
    fi
    cpu0=$(cpu_ticks "$SERVER_PID")
    timeout $((BENCH_DURATION + 60)) h2load "${H2LOAD_COMMON[@]}" -D "$BENCH_DURATION" -d "$payload" \
        --log-file "$TMP/$key.$round.log" "$url" >"$TMP/$key.$round.h2load" 2>&1 ||
        die "h2load failed for $key: $(tail -n 5 "$TMP/$key.$round.h2load")"
    cpu1=$(cpu_ticks "$SERVER_PID")
    "$PY" "$CLIENT" check --addr "127.0.0.1:$SERVER_PORT" --method "$METHOD" --payload "$payload" --expect v1 \
        --stubs "$STUBS" >/dev/null || die "$key answers wrongly after the load"
    "$PY" "$CLIENT" h2load --target "$key" --stdout "$TMP/$key.$round.h2load" --log "$TMP/$key.$round.log" \
        --set round="$round" --set cpu_ticks=$((cpu1 - cpu0)) --set clk_tck="$(getconf CLK_TCK)" >>"$RESULTS"
    rm -f "$TMP/$key.$round.log"
    log "  round $round $key: $(tail -n 1 "$RESULTS")"
}

for round in $(seq 1 "$BENCH_ROUNDS"); do
    for key in $TARGETS; do
        run_target "$key" "$round"
    done
done

# ---- issue #22: the cost of tracing on chain-8 ---------------------------------------------------------------------
# One server per configuration (the flags are the server's), started in turn within each round so the machine's
# load changes alike for all three.
trace_rps() { # config-name extra-args...: one h2load run on chain-8; "name req/s cpu-us-per-call spans-sent spans-lost"
    local name=$1 payload=$TMP/payload-chain-8.bin
    shift
    JUNCTION_ARGS="$JUNCTION_ARGS --http-port any $*" start_server || die "cannot start junction for the tracing row ($name)"
    local url="http://127.0.0.1:$SERVER_PORT$METHOD" http_port cpu0 cpu1 metrics
    http_port=$(sed -n -E 's/.*serving HTTP on 127\.0\.0\.1:([0-9]+).*/\1/p' "$TMP/junction.out" | head -n 1)
    "$PY" "$CLIENT" check --addr "127.0.0.1:$SERVER_PORT" --method "$METHOD" --payload "$payload" --expect v1 \
        --stubs "$STUBS" >&2 || die "chain-8 does not answer correctly ($name)"
    timeout $((BENCH_WARMUP + 60)) h2load "${H2LOAD_COMMON[@]}" -D "$BENCH_WARMUP" -d "$payload" "$url" >/dev/null 2>&1 ||
        die "h2load warm-up failed ($name)"
    cpu0=$(cpu_ticks "$SERVER_PID")
    timeout $((BENCH_DURATION + 60)) h2load "${H2LOAD_COMMON[@]}" -D "$BENCH_DURATION" -d "$payload" "$url" \
        >"$TMP/trace-$name.h2load" 2>&1 || die "h2load failed ($name)"
    cpu1=$(cpu_ticks "$SERVER_PID")
    metrics=$(curl -s "http://127.0.0.1:$http_port/metrics" || true)
    stop_server
    local rps done_ sent lost
    rps=$(sed -n -E 's/^finished in .*, ([0-9.]+) req\/s.*/\1/p' "$TMP/trace-$name.h2load" | head -n 1)
    done_=$(sed -n -E 's/^requests: ([0-9]+) total.*/\1/p' "$TMP/trace-$name.h2load" | head -n 1)
    sent=$(echo "$metrics" | awk '/^junction_trace_spans_exported_total/ {print $2}')
    lost=$(echo "$metrics" | awk '/^junction_trace_spans_dropped_total/ {s += $2} END {print s + 0}')
    echo "$name $rps $(( (cpu1 - cpu0) * 1000000 / $(getconf CLK_TCK) / (done_ > 0 ? done_ : 1) )) ${sent:-0} ${lost:-0}" \
        >>"$TMP/trace.txt"
    log "  tracing row $name: $rps req/s, $(tail -n 1 "$TMP/trace.txt")"
}
if [ "${BENCH_TRACE:-1}" = 1 ] && [[ " $TARGETS " == *" chain-8 "* ]]; then
    stop_server
    RECV_OUT=$TMP/otlp-receiver.out
    NODE_PATH=$ROOT/.cache/otel/node_modules node "$ROOT/tests/e2e/otlp_receiver.js" --discard >"$RECV_OUT" \
        2>"$TMP/otlp-receiver.err" &
    RECV_PID=$!
    for _ in $(seq 1 100); do grep -q '^listening ' "$RECV_OUT" 2>/dev/null && break; sleep 0.05; done
    RECV_PORT=$(sed -n 's/^listening //p' "$RECV_OUT")
    [ -n "$RECV_PORT" ] || die "the OTLP receiver did not start (scripts/install-deps.sh installs its npm package)"
    log "tracing row: chain-8, no tracing / 100 % sampled to the receiver on port $RECV_PORT / ratio 0"
    for round in $(seq 1 "$BENCH_ROUNDS"); do
        trace_rps off
        trace_rps traced --otlp-endpoint "http://127.0.0.1:$RECV_PORT" --trace-sample-ratio 1
        trace_rps ratio0 --otlp-endpoint "http://127.0.0.1:$RECV_PORT" --trace-sample-ratio 0
    done
    kill "$RECV_PID" 2>/dev/null; wait "$RECV_PID" 2>/dev/null || true
    start_server || die "cannot restart junction"
    echo
    echo "Tracing (issue #22): chain-8, median req/s of $BENCH_ROUNDS rounds; load: $(uptime | sed 's/.*load/load/')"
    "$PY" - "$TMP/trace.txt" <<'PYEOF'
import statistics, sys
runs = {}
for line in open(sys.argv[1]):
    name, rps, cpu, sent, lost = line.split()
    runs.setdefault(name, []).append((float(rps), float(cpu), int(sent), int(lost)))
med = lambda name, k: statistics.median(r[k] for r in runs[name])
base, base_cpu = med("off", 0), med("off", 1)
print("%-30s %9s %7s %12s %9s %14s" % ("configuration", "req/s", "ratio", "CPU us/call", "ratio", "spans sent"))
for name, desc in (("off", "no tracing"), ("traced", "100 % sampled, live receiver"), ("ratio0", "--trace-sample-ratio 0")):
    sent = sum(r[2] for r in runs[name]); lost = sum(r[3] for r in runs[name])
    share = "%d%% of %d" % (round(100 * sent / (sent + lost)), sent + lost) if sent + lost else "-"
    print("%-30s %9.0f %6.3fx %12.1f %8.3fx %14s   (req/s per round: %s)" % (
        desc, med(name, 0), med(name, 0) / base, med(name, 1), med(name, 1) / base_cpu, share,
        ", ".join("%.0f" % r[0] for r in runs[name])))
PYEOF
fi

log "latency: $LAT_CALLS sequential calls each, par4 / seq4 alternating (burn_mode=cpu burn_ms=$BURN_MS)"
"$PY" "$PCLIENT" latency --stubs "$STUBS" --addr "127.0.0.1:$SERVER_PORT" --n "$LAT_CALLS" --warmup "$LAT_WARMUP" \
    --burn-ms "$BURN_MS" --models par4,seq4 >>"$RESULTS" || die "par4/seq4 latency run failed"
kill -0 "$SERVER_PID" 2>/dev/null || die "junction died during the run: $(tail -n 5 "$TMP/junction.err")"
stop_server

echo
"$PY" "$PCLIENT" report --results "$RESULTS"

# Issue #20: the CPU a false `when` and a split step add per call, in process (the h2load figures above carry the
# whole gRPC stack, whose noise is larger than these costs).
DECIDE=${BENCH_DECIDE:-$BUILD_DIR/bench/bench_pipeline_decide}
if [ -x "$DECIDE" ]; then
    echo
    "$DECIDE" "${DECIDE_CALLS:-100000}" "${DECIDE_ROUNDS:-15}" || die "bench_pipeline_decide failed"
else
    log "no $DECIDE (cmake --build $BUILD_DIR --target bench_pipeline_decide): in-process decision costs not measured"
fi
