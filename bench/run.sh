#!/usr/bin/env bash
# Junction throughput/latency/memory benchmark: junction (v1 Broker/Infer and v2 ModelInfer) side by side with the
# thinnest gRPC C-core echo server and a Python grpcio echo server, all driven by the same h2load load in one run.
# Not a test (not registered with CTest). See bench/README.md for what each figure means.
#
# Environment (defaults in brackets):
#   JUNCTION             junction binary                      [$BUILD_DIR/junction]
#   JUNCTION_ARGS        extra args for `junction serve`      []
#   ECHO_SERVER          bench_echo_server binary             [$BUILD_DIR/bench/bench_echo_server]
#   BUILD_DIR            CMake build dir (Release)            [<repo>/build-bench]
#   BENCH_BUILD          1 = configure/build missing binaries [1]
#   BENCH_DURATION       measured seconds per target and round [6]
#   BENCH_REQUESTS       fixed request count instead of BENCH_DURATION when set
#   BENCH_WARMUP         warm-up seconds per target (separate h2load run, not measured) [2]
#   BENCH_CONNECTIONS    h2load connections (-c)              [4]
#   BENCH_STREAMS        concurrent streams per connection (-m) [16]  (4 x 16 = 64 concurrent streams)
#   BENCH_ROUNDS         rounds; each round loads every target in turn, the table shows medians [3]
#   BENCH_TARGETS        which targets to load                [junction_v1 junction_v2 echo python]
#   BENCH_OPEN_STREAMS   InferStreams held open for the memory test (0 = skip) [1000]
#   BENCH_STREAM_CHANNELS connections those streams are spread over [1]
#   ECHO_THREADS         bench_echo_server --threads          [2]
#   PY_WORKERS           Python server ThreadPoolExecutor size [10]
#   BENCH_KEEP           1 = keep the temp dir (logs, payloads) [0]
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$HERE")
PY=/usr/bin/python3
CLIENT="$HERE/bench_client.py"

BUILD_DIR=${BUILD_DIR:-$ROOT/build-bench}
JUNCTION=${JUNCTION:-$BUILD_DIR/junction}
JUNCTION_ARGS=${JUNCTION_ARGS:-}
ECHO_SERVER=${ECHO_SERVER:-$BUILD_DIR/bench/bench_echo_server}
BENCH_BUILD=${BENCH_BUILD:-1}
BENCH_DURATION=${BENCH_DURATION:-6}
BENCH_REQUESTS=${BENCH_REQUESTS:-}
BENCH_WARMUP=${BENCH_WARMUP:-2}
BENCH_CONNECTIONS=${BENCH_CONNECTIONS:-4}
BENCH_STREAMS=${BENCH_STREAMS:-16}
BENCH_ROUNDS=${BENCH_ROUNDS:-3}
BENCH_TARGETS=${BENCH_TARGETS:-junction_v1 junction_v2 echo python}
BENCH_OPEN_STREAMS=${BENCH_OPEN_STREAMS:-1000}
BENCH_STREAM_CHANNELS=${BENCH_STREAM_CHANNELS:-1}
ECHO_THREADS=${ECHO_THREADS:-2}
PY_WORKERS=${PY_WORKERS:-10}
BENCH_KEEP=${BENCH_KEEP:-0}
SETTLE=0.5 # seconds between "ready" and the idle RSS reading

V1_METHOD=/junction.v1.Broker/Infer
V2_METHOD=/inference.GRPCInferenceService/ModelInfer

# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"
bench_tmpdir junction-bench
RESULTS=$TMP/results.jsonl
SERVER_PID=""

stop_server() {
    local pid=$SERVER_PID
    SERVER_PID=""
    stop_pid "$pid"
}
stop_servers() { stop_server; }

# ---- binaries ---------------------------------------------------------------------------------------------------
command -v h2load >/dev/null || die "h2load not found (Debian nghttp2-client; scripts/install-deps.sh)"
[ -x "$PY" ] || die "$PY not found"

if [ "$BENCH_BUILD" = 1 ] && { [ ! -x "$ECHO_SERVER" ] || [ ! -x "$JUNCTION" ]; }; then
    log "building in $BUILD_DIR (Release)"
    if cmake -S "$ROOT" -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release >"$TMP/cmake.log" 2>&1; then
        [ -x "$ECHO_SERVER" ] || cmake --build "$BUILD_DIR" -j2 --target bench_echo_server >>"$TMP/cmake.log" 2>&1 ||
            log "could not build bench_echo_server (see below)"
        if [ "$JUNCTION" = "$BUILD_DIR/junction" ] && [ ! -x "$JUNCTION" ]; then
            cmake --build "$BUILD_DIR" -j2 --target junction >>"$TMP/cmake.log" 2>&1 || log "could not build junction"
        fi
    else
        log "cmake configure failed:"; tail -n 20 "$TMP/cmake.log" >&2
    fi
fi
if [ ! -x "$ECHO_SERVER" ]; then
    # The echo server needs nothing from the project: build it alone if the tree does not configure.
    log "building bench_echo_server directly"
    ECHO_SERVER=$TMP/bench_echo_server
    # shellcheck disable=SC2046
    cc -std=c11 -O2 -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE -Wall -Wextra -Werror "$HERE/echo_server.c" \
        $(pkg-config --cflags --libs grpc gpr) -lpthread -o "$ECHO_SERVER" || die "cannot build bench_echo_server"
fi
HAVE_JUNCTION=1
if [ ! -x "$JUNCTION" ]; then
    log "junction binary $JUNCTION not found: junction targets are skipped"
    HAVE_JUNCTION=0
fi

# ---- stubs and payloads -----------------------------------------------------------------------------------------
PROTOS=(junction/v1/tensor.proto junction/v1/contract.proto junction/v1/broker.proto inference/grpc_service.proto)
STUBS=$TMP/stubs
mkdir -p "$STUBS"
stubs_import() { PYTHONPATH=$STUBS "$PY" -c 'import junction.v1.broker_pb2, inference.grpc_service_pb2' 2>/dev/null; }
if ! { "$PY" -m grpc_tools.protoc -I"$ROOT/proto" --python_out="$STUBS" --grpc_python_out="$STUBS" \
        "${PROTOS[@]}" 2>"$TMP/protoc.err" && stubs_import; }; then
    # grpc_tools' bundled protoc can be older than the protobuf runtime; Debian's protoc matches it.
    log "grpc_tools.protoc stubs unusable; using protoc + grpc_python_plugin"
    rm -rf "$STUBS" && mkdir -p "$STUBS"
    protoc -I"$ROOT/proto" --python_out="$STUBS" --grpc_python_out="$STUBS" \
        --plugin=protoc-gen-grpc_python=/usr/bin/grpc_python_plugin "${PROTOS[@]}" || die "protoc failed"
    stubs_import || die "generated Python stubs do not import"
fi
"$PY" "$CLIENT" payloads --stubs "$STUBS" --out "$TMP" >&2
V1_PAYLOAD=$TMP/v1.bin
V2_PAYLOAD=$TMP/v2.bin

# ---- servers ----------------------------------------------------------------------------------------------------
SERVER_PORT=""
# start_server NAME CMD...: starts CMD, waits for its "... 127.0.0.1:PORT" ready line, sets SERVER_PID/SERVER_PORT.
start_server() {
    local name=$1
    shift
    local out=$TMP/$name.out err=$TMP/$name.err
    "$@" >"$out" 2>"$err" &
    SERVER_PID=$!
    SERVER_PORT=""
    for _ in $(seq 1 200); do
        SERVER_PORT=$(sed -n -E 's/.*(listening on|serving gRPC on) 127\.0\.0\.1:([0-9]+).*/\2/p' "$out" | head -n 1)
        [ -n "$SERVER_PORT" ] && return 0
        if ! kill -0 "$SERVER_PID" 2>/dev/null; then
            log "$name exited before it was ready:"; tail -n 20 "$err" >&2
            SERVER_PID=""
            return 1
        fi
        sleep 0.05
    done
    log "$name printed no ready line within 10 s"
    stop_server
    return 1
}

start_target_server() {
    case $1 in
    junction_*)
        # shellcheck disable=SC2086
        start_server "$1" "$JUNCTION" serve --grpc-port 0 --host 127.0.0.1 $JUNCTION_ARGS ;;
    echo) start_server echo "$ECHO_SERVER" --port 0 --threads "$ECHO_THREADS" ;;
    python) start_server python "$PY" "$HERE/py_echo_server.py" --port 0 --workers "$PY_WORKERS" ;;
    esac
}

rss_kb() { awk '/^VmRSS:/ {r = $2} /^VmHWM:/ {h = $2} END {print r, h}' "/proc/$1/status"; }

# ---- load -------------------------------------------------------------------------------------------------------
H2LOAD_COMMON=(-c "$BENCH_CONNECTIONS" -m "$BENCH_STREAMS" -t 1
    -H 'content-type: application/grpc' -H 'te: trailers')
if [ -n "$BENCH_REQUESTS" ]; then
    MEASURE=(-n "$BENCH_REQUESTS")
    LOAD_DESC="$BENCH_REQUESTS requests"
    H2_TIMEOUT=300
else
    MEASURE=(-D "$BENCH_DURATION")
    LOAD_DESC="${BENCH_DURATION} s"
    H2_TIMEOUT=$((BENCH_DURATION + 60))
fi
CONCURRENCY=$((BENCH_CONNECTIONS * BENCH_STREAMS))
LOAD_DESC="h2load -c $BENCH_CONNECTIONS -m $BENCH_STREAMS -t 1 ($CONCURRENCY concurrent streams), $LOAD_DESC per target after ${BENCH_WARMUP} s warm-up"

# run_target KEY ROUND: one target, one round.
run_target() {
    local key=$1 round=$2 method payload expect
    case $key in
    junction_v1) method=$V1_METHOD payload=$V1_PAYLOAD expect=v1 ;;
    junction_v2) method=$V2_METHOD payload=$V2_PAYLOAD expect=v2 ;;
    echo | python) method=$V1_METHOD payload=$V1_PAYLOAD expect=echo ;;
    *) die "unknown target $key" ;;
    esac
    if [[ $key == junction_* ]] && [ "$HAVE_JUNCTION" = 0 ]; then return 0; fi

    log "round $round: $key"
    start_target_server "$key" || die "cannot start $key"
    sleep "$SETTLE"
    local idle
    read -r idle _ < <(rss_kb "$SERVER_PID")
    if [ "$key" = junction_v1 ] && [ "$round" = 1 ]; then
        printf '{"kind":"meta","junction_idle_rss_kb":%s}\n' "$idle" >>"$RESULTS"
    fi

    # h2load sees only HTTP 200; one real gRPC call proves the payload gets grpc-status OK and the right answer.
    "$PY" "$CLIENT" check --addr "127.0.0.1:$SERVER_PORT" --method "$method" --payload "$payload" \
        --expect "$expect" --stubs "$STUBS" >&2 || die "$key does not answer the payload correctly"

    local url="http://127.0.0.1:$SERVER_PORT$method"
    if [ "$BENCH_WARMUP" != 0 ]; then
        timeout $((BENCH_WARMUP + 60)) h2load "${H2LOAD_COMMON[@]}" -D "$BENCH_WARMUP" -d "$payload" "$url" \
            >"$TMP/$key.$round.warmup" 2>&1 || die "h2load warm-up failed for $key: $(tail -n 3 "$TMP/$key.$round.warmup")"
    fi
    timeout "$H2_TIMEOUT" h2load "${H2LOAD_COMMON[@]}" "${MEASURE[@]}" -d "$payload" \
        --log-file "$TMP/$key.$round.log" "$url" >"$TMP/$key.$round.h2load" 2>&1 ||
        die "h2load failed for $key: $(tail -n 5 "$TMP/$key.$round.h2load")"
    local after after_hwm
    read -r after after_hwm < <(rss_kb "$SERVER_PID")
    # ... and is still answering correctly after the load.
    "$PY" "$CLIENT" check --addr "127.0.0.1:$SERVER_PORT" --method "$method" --payload "$payload" \
        --expect "$expect" --stubs "$STUBS" >/dev/null || die "$key answers wrongly after the load"
    stop_server

    "$PY" "$CLIENT" h2load --target "$key" --stdout "$TMP/$key.$round.h2load" --log "$TMP/$key.$round.log" \
        --set round="$round" --set idle_rss_kb="$idle" --set after_rss_kb="$after" --set after_hwm_kb="$after_hwm" \
        >>"$RESULTS"
    rm -f "$TMP/$key.$round.log" # can be tens of MB
    log "  $(tail -n 1 "$RESULTS")"
}

printf '{"kind":"meta","load":"%s","rounds":%s,"machine":"%s","date":"%s"}\n' \
    "$LOAD_DESC" "$BENCH_ROUNDS" \
    "$(nproc) cores, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1), $(uname -sr)" \
    "$(date -u '+%Y-%m-%d %H:%M UTC')" >"$RESULTS"

for round in $(seq 1 "$BENCH_ROUNDS"); do
    for key in $BENCH_TARGETS; do
        run_target "$key" "$round"
    done
done

# ---- 1000 open InferStreams -------------------------------------------------------------------------------------
if [ "$HAVE_JUNCTION" = 1 ] && [ "$BENCH_OPEN_STREAMS" != 0 ]; then
    log "junction holding $BENCH_OPEN_STREAMS open InferStreams"
    start_target_server junction_streams || die "cannot start junction"
    sleep "$SETTLE"
    read -r idle _ < <(rss_kb "$SERVER_PID")
    if ! grep -q junction_idle_rss_kb "$RESULTS"; then
        printf '{"kind":"meta","junction_idle_rss_kb":%s}\n' "$idle" >>"$RESULTS"
    fi
    if "$PY" "$CLIENT" streams --stubs "$STUBS" --addr "127.0.0.1:$SERVER_PORT" --pid "$SERVER_PID" \
        --n "$BENCH_OPEN_STREAMS" --channels "$BENCH_STREAM_CHANNELS" >"$TMP/streams.json" 2>"$TMP/streams.err"; then
        printf '{"kind":"streams",%s\n' "$(tail -n 1 "$TMP/streams.json" | sed 's/^{//')" >>"$RESULTS"
    else
        err=$(tail -n 1 "$TMP/streams.err" | tr -d "\"\\\\")
        log "stream test failed: $err"
        printf '{"kind":"streams","error":"failed: %s"}\n' "$err" >>"$RESULTS"
    fi
    stop_server
fi

echo
"$PY" "$CLIENT" report --results "$RESULTS"
