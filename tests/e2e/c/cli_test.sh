#!/usr/bin/env bash
# cli_test.sh — end to end: `junction models` and `junction infer` against a real `junction serve`.
#
#   bash cli_test.sh /path/to/junction
#
# Starts the server on a free loopback port (port read from its ready line), runs the CLI against it, checks output,
# exit codes and error messages, then stops the server with SIGTERM (expecting exit 0). Prints one line per check and
# `N passed, M failed`; exits non-zero on any failure. The server and the temporary directory are always cleaned up.
set -u

JUNCTION=${1:?usage: cli_test.sh /path/to/junction}
PYTHON=/usr/bin/python3

tmp=$(mktemp -d)
server_pid=""
passed=0
failed=0

cleanup() {
    if [[ -n $server_pid ]] && kill -0 "$server_pid" 2>/dev/null; then
        kill -KILL "$server_pid" 2>/dev/null
        wait "$server_pid" 2>/dev/null
    fi
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

ok() {
    passed=$((passed + 1))
    echo "ok   $1"
}

fail() {
    failed=$((failed + 1))
    echo "FAIL $1"
    shift
    local line
    for line in "$@"; do
        echo "     $line"
    done
}

summary() {
    echo "$passed passed, $failed failed"
    [[ $failed -eq 0 ]]
}

# run CMD...: sets $rc, $out, $err.
run() {
    "$@" >"$tmp/out" 2>"$tmp/err"
    rc=$?
    out=$(cat "$tmp/out")
    err=$(cat "$tmp/err")
}

# expect NAME WANT_RC: the last run's exit code; prints its output when it differs.
expect_rc() {
    if [[ $rc -eq $2 ]]; then
        ok "$1: exit $rc"
        return 0
    fi
    fail "$1: exit $rc, want $2" "stdout: $out" "stderr: $err"
    return 1
}

# --- server ---------------------------------------------------------------------------------------------------------
: >"$tmp/serve.out" # exists before the background job opens it, so the loop below can always read it
"$JUNCTION" serve --grpc-port 0 --http-port 0 --host 127.0.0.1 --state-dir none >"$tmp/serve.out" 2>"$tmp/serve.err" &
server_pid=$!
for _ in $(seq 300); do
    [[ $(wc -l <"$tmp/serve.out") -ge 1 ]] && break # the ready line is complete
    kill -0 "$server_pid" 2>/dev/null || break
    sleep 0.1
done
ready=$(head -n1 "$tmp/serve.out")
if [[ $ready =~ ^junction:\ serving\ gRPC\ on\ 127\.0\.0\.1:([0-9]+)$ ]]; then
    port=${BASH_REMATCH[1]}
    ok "server ready line: $ready"
else
    fail "server ready line: '$ready'" "stderr: $(tail -n 5 "$tmp/serve.err")"
    summary
    exit 1
fi
server="127.0.0.1:$port"

# --- junction models --------------------------------------------------------------------------------------------------
run "$JUNCTION" models --server "$server"
if expect_rc "models" 0; then
    sig='input:TENSOR FP32[-1,-1] -> output:TENSOR FP32[-1,-1]'
    for m in identity burn; do
        line=$(grep -E "^$m " <<<"$out")
        if [[ -n $line && $line == *" ready "* && $line == *"$sig" ]]; then
            ok "models lists $m: $line"
        else
            fail "models lists $m as ready with signature '$sig'" "stdout: $out"
        fi
    done
fi

run "$JUNCTION" models --server "$server" --json
if expect_rc "models --json" 0; then
    if "$PYTHON" -c '
import json, sys
models = {m["name"]: m for m in json.loads(sys.stdin.read())}
m = models["identity"]
assert m["ready"] is True, m
assert m["signature"]["inputs"][0] == {"name": "input", "kind": "TENSOR", "datatype": "FP32", "shape": [-1, -1]}, m
assert "burn" in models, list(models)
' <<<"$out" 2>"$tmp/py.err"; then
        ok "models --json parses and describes identity"
    else
        fail "models --json parses and describes identity" "stdout: $out" "python: $(cat "$tmp/py.err")"
    fi
fi

# --- junction infer ---------------------------------------------------------------------------------------------------
run "$JUNCTION" infer --server "$server" --model identity --input 'input:FP32[2,2]=1,2,3,4'
if expect_rc "infer explicit FP32[2,2]" 0; then
    if [[ $out == "output FP32[2,2] = [1, 2, 3, 4]" ]]; then
        ok "infer explicit FP32[2,2]: $out"
    else
        fail "infer explicit FP32[2,2]: want 'output FP32[2,2] = [1, 2, 3, 4]'" "stdout: $out"
    fi
fi

run "$JUNCTION" infer --server "$server" --model identity --input input=1.5,2.5
if expect_rc "infer signature-typed input=1.5,2.5" 0; then
    if [[ $out == "output FP32[1,2] = [1.5, 2.5]" ]]; then
        ok "infer signature-typed input=1.5,2.5: $out"
    else
        fail "infer signature-typed input=1.5,2.5: want 'output FP32[1,2] = [1.5, 2.5]'" "stdout: $out"
    fi
fi

run "$JUNCTION" infer --server "$server" --model identity --id cli-42 --input 'input:FP32[2,2]=1,2,3,4.5' --json
if expect_rc "infer --json" 0; then
    if "$PYTHON" -c '
import json, sys
d = json.loads(sys.stdin.read())
assert d["model"] == "identity", d
assert d["id"] == "cli-42", d
assert len(d["outputs"]) == 1, d
o = d["outputs"][0]
assert o["name"] == "output" and o["datatype"] == "FP32", o
assert o["shape"] == [2, 2], o
assert o["data"] == [1, 2, 3, 4.5], o
' <<<"$out" 2>"$tmp/py.err"; then
        ok "infer --json parses: $out"
    else
        fail "infer --json parses with model, id, shape and data" "stdout: $out" "python: $(cat "$tmp/py.err")"
    fi
fi

run "$JUNCTION" infer --server "$server" --model burn --input input=7,8,9 --param burn_ms=5 --param burn_mode=sleep
if expect_rc "infer burn with --param" 0; then
    if [[ $out == "output FP32[1,3] = [7, 8, 9]" ]]; then
        ok "infer burn with --param: $out"
    else
        fail "infer burn with --param: want 'output FP32[1,3] = [7, 8, 9]'" "stdout: $out"
    fi
fi

# --- errors -----------------------------------------------------------------------------------------------------------
run "$JUNCTION" infer --server "$server" --model nope --input 'input:FP32[1,1]=1'
if expect_rc "infer unknown model (explicit input)" 1; then
    if [[ $err == "junction infer: NOT_FOUND: "*nope* ]]; then
        ok "infer unknown model: $err"
    else
        fail "infer unknown model: want 'junction infer: NOT_FOUND: ...nope...'" "stderr: $err"
    fi
fi

run "$JUNCTION" infer --server "$server" --model nope --input input=1
if expect_rc "infer unknown model (signature-typed input)" 1; then
    if [[ $err == "junction infer: NOT_FOUND: "*nope* ]]; then
        ok "infer unknown model via GetModel: $err"
    else
        fail "infer unknown model via GetModel: want 'junction infer: NOT_FOUND: ...nope...'" "stderr: $err"
    fi
fi

run "$JUNCTION" infer --server "$server" --model identity --input 'input:INT32[1,2]=1,2'
if expect_rc "infer wrong datatype" 1; then
    if [[ $err == "junction infer: INVALID_ARGUMENT: "*identity*input* ]]; then
        ok "infer wrong datatype: $err"
    else
        fail "infer wrong datatype: want 'junction infer: INVALID_ARGUMENT: ...identity...input...'" "stderr: $err"
    fi
fi

run "$JUNCTION" infer --server "$server" --model identity --bogus-flag
if expect_rc "infer bad flag" 2; then
    if [[ $err == *"--bogus-flag"* && $err == *usage:* && -z $out ]]; then
        ok "infer bad flag names it and prints usage to stderr"
    else
        fail "infer bad flag names it and prints usage to stderr" "stdout: $out" "stderr: $err"
    fi
fi

run "$JUNCTION" infer --server "$server" --model identity --input 'input:FP32[2,2]=1,2,3'
expect_rc "infer value count not matching the shape" 2

run "$JUNCTION" infer --help
if expect_rc "infer --help" 0; then
    if [[ $out == usage:* ]]; then ok "infer --help prints usage to stdout"; else fail "infer --help prints usage to stdout" "stdout: $out"; fi
fi

# --- shutdown ---------------------------------------------------------------------------------------------------------
kill -TERM "$server_pid"
for _ in $(seq 200); do
    kill -0 "$server_pid" 2>/dev/null || break
    sleep 0.1
done
if kill -0 "$server_pid" 2>/dev/null; then
    fail "server exits within 20 s of SIGTERM"
else
    wait "$server_pid"
    status=$?
    server_pid=""
    if [[ $status -eq 0 ]]; then
        ok "server exit status 0 after SIGTERM"
    else
        fail "server exit status $status after SIGTERM, want 0" "stderr: $(tail -n 5 "$tmp/serve.err")"
    fi
fi

summary
