#!/usr/bin/env bash
# A stateful stream's per-chunk cost vs the same model called stateless with the state sent by the caller (issue #17:
# ratio <= 1.1). Same run, same client; see bench/sequence_client.py for what is measured.
#
# usage: bench/sequence.sh [JUNCTION]   (default build/junction)
# Environment: SEQ_CHUNKS chunks per round [2000], SEQ_ROUNDS rounds [3], SEQ_HIDDEN LSTM hidden size [64]
# Not a test (not registered with CTest). Needs /usr/bin/python3 with python3-onnx, python3-grpcio, grpc_tools.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$HERE")
BIN=${1:-$ROOT/build/junction}
uptime
/usr/bin/python3 "$HERE/sequence_client.py" "$BIN" --chunks "${SEQ_CHUNKS:-2000}" --rounds "${SEQ_ROUNDS:-3}" \
    --hidden "${SEQ_HIDDEN:-64}"
uptime
