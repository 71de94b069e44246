#!/usr/bin/env bash
# Installs every Debian package Junction needs to build, test and benchmark.
# Idempotent: packages already present are skipped; apt-get update runs only when something is missing.
set -euo pipefail

packages=(
  build-essential cmake pkg-config
  libgrpc-dev protobuf-compiler-grpc libprotobuf-c-dev protobuf-c-compiler protobuf-compiler
  libuv1-dev libopenblas-dev libpng-dev libjpeg62-turbo-dev libjansson-dev
  python3 python3-grpcio python3-grpc-tools python3-numpy python3-protobuf
  curl nghttp2-client procps
  libhttp-parser-dev
  prometheus
)

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
