#!/usr/bin/env bash
# Language models (issue #18): what junction's OpenAI-compatible door costs in front of an OpenAI-compatible server.
# The test upstream (tests/e2e/openai_upstream.py, Python) is registered as an `openai` remote `chat`; the same load
# client (bench/llm_client.js, node:http with keep-alive) then runs
#   direct   client -> upstream          POST /v1/chat/completions, model test-chat, "stream": true
#   junction client -> junction -> upstream  POST /openai/v1/chat/completions, model chat (the remote), "stream": true
# with LLM_STREAMS concurrent streams of LLM_TOKENS tokens (the upstream sleeps LLM_TOKEN_DELAY_MS between tokens, as
# a model generating ~1/delay tokens a second per stream would), LLM_ROUNDS times, alternating direct and junction
# runs. Reported: time to the first token at p50 for each and junction's addition, and tokens/s with the ratio
# junction / direct (the issue's targets: <= 1 ms added at p50, >= 0.95x).
# Then embeddings: the built-in `embed` engine through POST /openai/v1/embeddings and through v2 REST
# POST /v2/models/embed/infer, the same 4 strings per request, EMB_CONCURRENCY callers for EMB_SECONDS each
# (target: >= 0.9x). Both servers share the machine's cores with the client; uptime is printed with the numbers.
# Not a test. See bench/README.md, "Language models".
#
# Environment (defaults in brackets):
#   JUNCTION            junction binary                           [$BUILD_DIR/junction]
#   BUILD_DIR           CMake build dir (Release)                 [<repo>/build-bench]
#   LLM_STREAMS         concurrent streams                        [64]
#   LLM_TOKENS          tokens per stream                         [256]
#   LLM_TOKEN_DELAY_MS  the upstream's pause between tokens       [2]
#   LLM_ROUNDS          rounds of (direct, junction)              [3]
#   EMB_CONCURRENCY     embeddings callers                        [16]
#   EMB_SECONDS         measured seconds per embeddings target    [5]
#   BENCH_KEEP          1 = keep the temp dir                     [0]
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$HERE")
PY=/usr/bin/python3
BUILD_DIR=${BUILD_DIR:-$ROOT/build-bench}
JUNCTION=${JUNCTION:-$BUILD_DIR/junction}
LLM_STREAMS=${LLM_STREAMS:-64}
LLM_TOKENS=${LLM_TOKENS:-256}
LLM_TOKEN_DELAY_MS=${LLM_TOKEN_DELAY_MS:-2}
LLM_ROUNDS=${LLM_ROUNDS:-3}
EMB_CONCURRENCY=${EMB_CONCURRENCY:-16}
EMB_SECONDS=${EMB_SECONDS:-5}
BENCH_KEEP=${BENCH_KEEP:-0}

# shellcheck source=bench/lib.sh
. "$HERE/lib.sh"
bench_tmpdir junction-llm-bench
UP_PID="" J_PID=""
stop_servers() {
    stop_pid "$J_PID"
    stop_pid "$UP_PID"
    J_PID="" UP_PID=""
}

command -v node >/dev/null || die "node not found (scripts/install-deps.sh)"
if [ ! -x "$JUNCTION" ]; then
    log "building junction in $BUILD_DIR (Release)"
    cmake -S "$ROOT" -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release >"$TMP/cmake.log" 2>&1 &&
        cmake --build "$BUILD_DIR" -j2 --target junction >>"$TMP/cmake.log" 2>&1 || die "cannot build junction"
fi

# wait_line FILE REGEX: the first match's group 1 (a port), waiting up to 20 s.
wait_port() {
    local file=$1 re=$2 port=""
    for _ in $(seq 1 200); do
        port=$(sed -n -E "s/.*$re.*/\1/p" "$file" | head -1)
        [ -n "$port" ] && { echo "$port"; return 0; }
        sleep 0.1
    done
    die "no ready line in $file: $(tail -3 "$file")"
}

"$PY" "$ROOT/tests/e2e/openai_upstream.py" --port 0 --token-delay-ms "$LLM_TOKEN_DELAY_MS" >"$TMP/upstream.log" 2>&1 &
UP_PID=$!
UP_PORT=$(wait_port "$TMP/upstream.log" 'serving on 127\.0\.0\.1:([0-9]+)')
cat >"$TMP/remotes.json" <<JSON
[{"name": "chat", "endpoint": "http://127.0.0.1:$UP_PORT/v1", "protocol": "openai", "model": "test-chat",
  "options": {"max_concurrency": "256", "max_queue": "1024", "timeout_ms": "120000"}}]
JSON
"$JUNCTION" serve --grpc-port 0 --http-port any --host 127.0.0.1 --state-dir none --console off \
    --remotes "$TMP/remotes.json" >"$TMP/junction.log" 2>&1 &
J_PID=$!
J_PORT=$(wait_port "$TMP/junction.log" 'serving HTTP on 127\.0\.0\.1:([0-9]+)')
sleep 0.5 # the remote's first health check
log "upstream on $UP_PORT (token delay $LLM_TOKEN_DELAY_MS ms), junction on $J_PORT; $(uptime)"

# cpu_ticks PID: user + system CPU time of a process so far, in clock ticks (/proc/PID/stat fields 14 and 15).
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
# ctx_switches PID: voluntary + involuntary context switches of the process's threads so far (threads that ended
# meanwhile are not counted: junction's pools and pumps live as long as it does).
ctx_switches() {
    cat /proc/"$1"/task/*/status 2>/dev/null | awk '/^(non)?voluntary_ctxt_switches/ { s += $2 } END { print s + 0 }'
}
TICK=$(getconf CLK_TCK)

CLIENT=(node "$HERE/llm_client.js")
DIRECT=http://127.0.0.1:$UP_PORT/v1/chat/completions
VIA=http://127.0.0.1:$J_PORT/openai/v1/chat/completions
: >"$TMP/stream.jsonl"
for r in $(seq 1 "$LLM_ROUNDS"); do
    for target in direct junction; do
        if [ $target = direct ]; then url=$DIRECT model=test-chat; else url=$VIA model=chat; fi
        j0=$(cpu_ticks "$J_PID") u0=$(cpu_ticks "$UP_PID") s0=$(ctx_switches "$J_PID")
        out=$("${CLIENT[@]}" stream "$url" "$model" "$LLM_STREAMS" "$LLM_TOKENS" 1) || die "$target stream run failed"
        j1=$(cpu_ticks "$J_PID") u1=$(cpu_ticks "$UP_PID") s1=$(ctx_switches "$J_PID")
        printf '{"round": %d, "target": "%s", "r": %s, "junction_cs": %d, ' "$r" "$target" "$out" $((s1 - s0)) \
            >>"$TMP/stream.jsonl"
        printf '"junction_cpu_s": %s, "upstream_cpu_s": %s}\n' \
            "$(awk -v a="$j0" -v b="$j1" -v t="$TICK" 'BEGIN { printf "%.3f", (b - a) / t }')" \
            "$(awk -v a="$u0" -v b="$u1" -v t="$TICK" 'BEGIN { printf "%.3f", (b - a) / t }')" >>"$TMP/stream.jsonl"
        log "round $r $target: $(printf '%s' "$out" | "$PY" -c 'import json,sys; d=json.load(sys.stdin); print("%.0f tokens/s" % d["tokens_per_s"])')"
    done
done

# The door alone: the same streamed answers (jn_http_stream_*) from a local streaming engine, `tokenize` (one event
# per word), through Triton's generate_stream on the same junction: what junction's HTTP streaming costs without the
# remote engine's hops.
j0=$(cpu_ticks "$J_PID")
door=$("${CLIENT[@]}" door "http://127.0.0.1:$J_PORT/v2/models/tokenize/generate_stream" "$LLM_STREAMS" "$LLM_TOKENS") ||
    die "door run failed"
j1=$(cpu_ticks "$J_PID")
printf '{"r": %s, "junction_cpu_s": %s}\n' "$door" "$(awk -v a="$j0" -v b="$j1" -v t="$TICK" 'BEGIN { printf "%.3f", (b - a) / t }')" \
    >"$TMP/door.json"

EMB_BODY_OAI='{"model": "embed", "input": ["the quick brown fox", "jumps over", "the lazy dog", "junction"]}'
EMB_BODY_V2='{"inputs": [{"name": "text", "datatype": "BYTES", "shape": [4], "data": ["the quick brown fox", "jumps over", "the lazy dog", "junction"]}]}'
: >"$TMP/emb.jsonl"
for target in v2 openai v2 openai; do
    if [ $target = v2 ]; then
        out=$("${CLIENT[@]}" post "http://127.0.0.1:$J_PORT/v2/models/embed/infer" "$EMB_BODY_V2" "$EMB_CONCURRENCY" "$EMB_SECONDS")
    else
        out=$("${CLIENT[@]}" post "http://127.0.0.1:$J_PORT/openai/v1/embeddings" "$EMB_BODY_OAI" "$EMB_CONCURRENCY" "$EMB_SECONDS")
    fi
    printf '{"target": "%s", "r": %s}\n' "$target" "$out" >>"$TMP/emb.jsonl"
done
UPTIME=$(uptime)
stop_servers

"$PY" - "$TMP/stream.jsonl" "$TMP/emb.jsonl" "$LLM_STREAMS" "$LLM_TOKENS" "$LLM_TOKEN_DELAY_MS" "$UPTIME" "$TMP/door.json" <<'PY'
import json, statistics, sys
stream = [json.loads(l) for l in open(sys.argv[1])]
emb = [json.loads(l) for l in open(sys.argv[2])]
door = json.load(open(sys.argv[7]))
streams, tokens, delay, up = sys.argv[3], sys.argv[4], sys.argv[5], sys.argv[6]
def p50(xs):
    return statistics.median(xs)
ttft = {t: p50([x for s in stream if s["target"] == t for x in s["r"]["ttft_ms"]]) for t in ("direct", "junction")}
tps = {t: p50([s["r"]["tokens_per_s"] for s in stream if s["target"] == t]) for t in ("direct", "junction")}
rps = {t: p50([e["r"]["rps"] for e in emb if e["target"] == t]) for t in ("v2", "openai")}
print("\n## Language models: %s streams x %s tokens (upstream token delay %s ms), %d rounds" %
      (streams, tokens, delay, len(stream) // 2))
print("| | direct to the upstream | through junction /openai/v1 | junction's share |")
print("|---|---|---|---|")
print("| time to first token, p50 | %.2f ms | %.2f ms | %+.2f ms |" % (ttft["direct"], ttft["junction"],
                                                                      ttft["junction"] - ttft["direct"]))
print("| tokens/s (all streams) | %.0f | %.0f | %.3fx |" % (tps["direct"], tps["junction"], tps["junction"] / tps["direct"]))
cpu = {t: p50([s["junction_cpu_s"] * 1e6 / s["r"]["tokens"] for s in stream if s["target"] == t]) for t in ("direct", "junction")}
ucpu = {t: p50([s["upstream_cpu_s"] * 1e6 / s["r"]["tokens"] for s in stream if s["target"] == t]) for t in ("direct", "junction")}
print("| CPU per token: junction | - | %.1f us | |" % cpu["junction"])
cs = p50([s["junction_cs"] / s["r"]["tokens"] for s in stream if s["target"] == "junction"])
print("| context switches per token: junction's threads | - | %.2f | |" % cs)
print("| CPU per token: the Python upstream | %.1f us | %.1f us | |" % (ucpu["direct"], ucpu["junction"]))
print("\n## The streaming door alone: generate_stream on the local `tokenize` engine, %s streams x %s events" %
      (streams, tokens))
print("| events/s | time to first event, p50 | junction CPU per event |")
print("|---|---|---|")
print("| %.0f | %.2f ms | %.1f us |" % (door["r"]["tokens_per_s"], p50(door["r"]["ttft_ms"]),
                                     door["junction_cpu_s"] * 1e6 / door["r"]["tokens"]))
print("\n## Embeddings: built-in embed, 4 strings per request")
print("| v2 REST /v2/models/embed/infer | /openai/v1/embeddings | ratio |")
print("|---|---|---|")
print("| %.0f req/s (p50 %.2f ms) | %.0f req/s (p50 %.2f ms) | %.3fx |" % (
    rps["v2"], p50([e["r"]["p50_ms"] for e in emb if e["target"] == "v2"]), rps["openai"],
    p50([e["r"]["p50_ms"] for e in emb if e["target"] == "openai"]), rps["openai"] / rps["v2"]))
print("\nuptime at the end: %s" % up.strip())
PY
