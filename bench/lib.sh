# shellcheck shell=bash
# bench/lib.sh — what the benchmark scripts share (sourced, not run): messages, stopping a server, the temp dir.
# Each script sets BENCH_KEEP before sourcing it and may define stop_servers (called first on exit).

log() { printf 'bench: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

# stop_pid PID: SIGTERM, up to 5 s, then SIGKILL; children (an nginx master's workers) are killed too if left.
stop_pid() {
    local pid=$1 children
    [ -n "$pid" ] || return 0
    children=$(pgrep -P "$pid" 2>/dev/null || true)
    if kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid" 2>/dev/null || true
        for _ in $(seq 1 50); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        if kill -0 "$pid" 2>/dev/null; then
            log "process $pid ignored SIGTERM for 5 s; killing it"
            kill -KILL "$pid" 2>/dev/null || true
        fi
    fi
    wait "$pid" 2>/dev/null || true
    for c in $children; do
        if kill -0 "$c" 2>/dev/null; then kill -KILL "$c" 2>/dev/null || true; fi
    done
}

# bench_tmpdir PREFIX: makes $TMP and arranges for it (and the servers) to go on exit.
bench_tmpdir() {
    TMP=$(mktemp -d "/tmp/$1.XXXXXX")
    trap bench_cleanup EXIT
    trap 'exit 130' INT TERM
}

bench_cleanup() {
    if declare -F stop_servers >/dev/null; then stop_servers; fi
    if [ "${BENCH_KEEP:-0}" = 1 ]; then log "kept $TMP"; else rm -rf "$TMP"; fi
}
