#!/usr/bin/env bash
# Installs what is missing, builds, and runs the broker on its embedded defaults (gRPC on 127.0.0.1:8001).
# Extra arguments go to `junction serve` (e.g. scripts/run.sh --grpc-port 9001).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$(nproc)"
exec ./build/junction serve "$@"
