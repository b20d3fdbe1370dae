#!/usr/bin/env bash
# Installs the Debian 12 packages pg2bq needs to build, test and run its quick start.
# Idempotent: installs only what is missing. Needs root (or sudo).
set -euo pipefail

PACKAGES=(
  build-essential cmake ninja-build pkg-config ccache clang libclang-rt-14-dev
  libpq-dev postgresql-15 postgresql-contrib
  libprotobuf-dev protobuf-compiler libgrpc++-dev protobuf-compiler-grpc
  libzstd-dev zstd libspdlog-dev libfmt-dev libboost-program-options-dev
  libgtest-dev libgmock-dev libbenchmark-dev libgoogle-perftools-dev
  libsqlite3-dev sqlite3 nlohmann-json3-dev libcpp-httplib-dev libssl-dev
  util-linux procps
)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#PACKAGES[@]} packages present"
else
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
  echo "install-deps: installing ${missing[*]}"
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q "${missing[@]}"
fi
# The Debian package may start a default cluster; pg2bq's tests and quick start run their own.
if ! command -v node >/dev/null 2>&1; then
  echo "install-deps: note: Node.js 20 is needed for the conformance tests (npm registry)" >&2
fi
