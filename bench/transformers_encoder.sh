#!/usr/bin/env bash
# bench/transformers_encoder.sh — bench/transformers.sh's encoder rows (issue #19 item 2), in its table format
# `| what | junction | reference | ratio | target |`.
#
# Encoder row: a BERT-base shaped encoder (12 layers, hidden 768, 12 heads, FFN 3072, vocabulary 30522, sequence
# 128; random weights made here by tests/e2e/bert_onnx.py, never committed) at batch 1 and 8. Junction is measured
# end to end as a text model folder (model.onnx + a WordPiece tokenizer.json + config.json, text.max_length 128):
# `junction serve --models`, v2 REST with a BYTES [batch] tensor of texts of >= 128 tokens, so one request is one run
# of the graph at [batch, 128] plus tokenization, the head and HTTP; ONNX Runtime runs the graph alone on the same
# shape (tests/e2e/ort_text.js --bench, stepped). The two sides alternate, one junction request then one ORT run,
# ITERS times (batch 8: ITERS_B8), so the shared machine's changing load falls on both alike (one side's whole loop
# after the other's gave 0.79x-1.81x wall ratios minutes apart). Median wall time per request / run; the ratio is
# junction / ONNX Runtime (target issue #19: <= 1.3x). In () the median CPU time per request / run: junction's
# server process (/proc/PID/stat, 10 ms ticks: tokenizer, graph, head and HTTP), ONNX Runtime's node process.
# One thread each (junction: --workers 1, OpenBLAS 1 thread; ORT: one intra-op thread). bench/transformers.sh prints
# `uptime` before and after (the machine is shared: its load moves both columns).
#
# usage: bench/transformers_encoder.sh [BUILD_DIR]   (default build; needs its junction target)
# Environment: ITERS=10 (batch 1), ITERS_B8=5, ORT_DIR=.cache/onnxruntime/node_modules/onnxruntime-node, BENCH_KEEP=0
set -euo pipefail
cd "$(dirname "$0")/.."
BENCH_KEEP=${BENCH_KEEP:-0}
# shellcheck source=bench/lib.sh
. bench/lib.sh

BUILD=${1:-build}
ITERS=${ITERS:-10}
ITERS_B8=${ITERS_B8:-5}
ORT_DIR=${ORT_DIR:-$PWD/.cache/onnxruntime/node_modules/onnxruntime-node}
[ -f "$ORT_DIR/package.json" ] || die "onnxruntime-node not found at $ORT_DIR (scripts/install-deps.sh --ort)"
[ -x "$BUILD/junction" ] || die "$BUILD/junction is not built (cmake --build $BUILD --target junction)"
bench_tmpdir junction-transformers
SERVER_PID=
stop_servers() { stop_pid "$SERVER_PID"; }

# ---- encoder: BERT-base shape ----
log "making the BERT-base shaped encoder (random weights, ~440 MB) and its folder"
/usr/bin/python3 - "$TMP/models/bert" <<'PY'
import json, os, sys
sys.path.insert(0, "tests/e2e")
import bert_onnx
d = sys.argv[1]
os.makedirs(d)
with open(os.path.join(d, "model.onnx"), "wb") as f:
    f.write(bert_onnx.build(vocab=30522, hidden=768, layers=12, heads=12, labels=2, max_pos=512).SerializeToString())
vocab = bert_onnx.wordpiece_vocab(["the market opened lower today while the team won the match"])
with open(os.path.join(d, "tokenizer.json"), "w") as f:
    json.dump(bert_onnx.tokenizer_json(vocab), f)
with open(os.path.join(d, "config.json"), "w") as f:
    json.dump({"architectures": ["BertForSequenceClassification"], "id2label": {"0": "neg", "1": "pos"},
               "text": {"max_length": 128}}, f)
PY
"$BUILD/junction" serve --models "$TMP/models" --grpc-port 0 --http-port any --host 127.0.0.1 --state-dir none \
    --workers 1 >"$TMP/serve.out" 2>"$TMP/serve.err" &
SERVER_PID=$!
for _ in $(seq 1 600); do
    grep -q 'serving gRPC' "$TMP/serve.out" 2>/dev/null && break
    kill -0 "$SERVER_PID" 2>/dev/null || die "junction exited: $(cat "$TMP/serve.err")"
    sleep 0.1
done
HTTP=$(sed -n 's/^junction: serving HTTP on //p' "$TMP/serve.out")
[ -n "$HTTP" ] || die "no HTTP line from junction: $(cat "$TMP/serve.out" "$TMP/serve.err")"
for batch in 1 8; do
    iters=$ITERS
    [ "$batch" = 1 ] || iters=$ITERS_B8
    read -r jn jn_cpu ort ort_cpu < <(JUNCTION_ORT_NODE=$ORT_DIR /usr/bin/python3 - "$HTTP" "$batch" "$iters" \
                                     "$SERVER_PID" "$TMP/models/bert/model.onnx" <<'PY'
import json, os, statistics, subprocess, sys, time, urllib.request
addr, batch, iters, pid, model = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5]
text = " ".join(["the market opened lower today"] * 30)  # 150 words: truncated to 128 tokens
body = json.dumps({"inputs": [{"name": "text", "datatype": "BYTES", "shape": [batch], "data": [text] * batch}]})
def cpu_ms():  # the server's user + system time (all its threads), /proc/PID/stat fields 14 and 15
    f = open("/proc/%s/stat" % pid).read().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) * 1000.0 / os.sysconf("SC_CLK_TCK")
def once():
    req = urllib.request.Request("http://%s/v2/models/bert/infer" % addr, data=body.encode(),
                                 headers={"Content-Type": "application/json"})
    t, c = time.perf_counter(), cpu_ms()
    out = json.load(urllib.request.urlopen(req, timeout=600))
    assert out["outputs"][0]["shape"] == [batch, 2], out
    return (time.perf_counter() - t) * 1000, cpu_ms() - c
# ONNX Runtime stepped (ort_text.js --bench ... 0): one run per line, alternating with junction's requests so that
# a change in the machine's load falls on both sides alike.
ort = subprocess.Popen(["node", "tests/e2e/ort_text.js", "--bench", model, str(batch), "128", "0"],
                       stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
assert json.loads(ort.stdout.readline()).get("ready")
def ort_once():
    ort.stdin.write("run\n")
    ort.stdin.flush()
    r = json.loads(ort.stdout.readline())
    return r["ms"], r["cpu_ms"]
once()
jn, o = [], []
for _ in range(iters):
    jn.append(once())
    o.append(ort_once())
ort.stdin.close()
ort.wait()
med = lambda xs, i: statistics.median(x[i] for x in xs)
print("%.1f %.1f %.1f %.1f" % (med(jn, 0), med(jn, 1), med(o, 0), med(o, 1)))
PY
)
    what="BERT-base encoder, batch $batch, seq 128 (ms: junction text -> label over v2 REST; ORT the graph; CPU in ())"
    printf '| %s | %s (%s) | %s (%s) | %.2fx (CPU %.2fx) | <= 1.3x |\n' "$what" \
        "$jn" "$jn_cpu" "$ort" "$ort_cpu" "$(echo "$jn $ort" | awk '{print $1 / $2}')" \
        "$(echo "$jn_cpu $ort_cpu" | awk '{print $1 / $2}')"
done
