#!/usr/bin/env bash
# Runs one conformance script with Google's official Node clients, installed
# (pinned by package-lock.json) into WORK_DIR, not into the source tree.
# usage: run.sh WORK_DIR SCRIPT.js [args...]
set -euo pipefail
src_dir="$(cd "$(dirname "$0")" && pwd)"
work_dir="$1"
script="$2"
shift 2
mkdir -p "$work_dir"
# Reinstall only when the pinned versions changed; flock keeps parallel ctest
# runs from installing (or copying the scripts) into the same folder at once.
(
  flock -w 600 9 || { echo "timed out waiting for npm install lock" >&2; exit 1; }
  if ! cmp -s "$src_dir/package-lock.json" "$work_dir/package-lock.json" ||
     [ ! -d "$work_dir/node_modules" ]; then
    cp "$src_dir/package.json" "$src_dir/package-lock.json" "$work_dir/"
    (cd "$work_dir" && timeout 600 npm ci --no-audit --no-fund --loglevel=error)
  fi
  # Under the lock too: two scripts copying the same new files at once race (cp: File exists).
  cp "$src_dir"/*.js "$work_dir/"
) 9>"$work_dir/.npm-install.lock"
cd "$work_dir"
exec timeout 600 node "$work_dir/$(basename "$script")" "$@"
