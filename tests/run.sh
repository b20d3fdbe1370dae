#!/usr/bin/env bash
# The whole test suite: installs what is missing, builds (build/), runs every test with CTest.
# Usage: ./tests/run.sh            (extra args are passed to ctest, e.g. -L unit)
set -euo pipefail
cd "$(dirname "$0")/.."
bash deploy/install-deps.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j2
ctest --test-dir build --output-on-failure -j2 "$@"
