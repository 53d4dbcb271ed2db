#!/usr/bin/env bash
# Asset packaging throughput: SHA-256 of a large file and the deterministic zip of a directory,
# on generated data (examples/hash_throughput.rs, release build). No AWS involved.
# ASSETS_ARGS overrides the sizes, e.g. ASSETS_ARGS="--mib 128 --dir-mib 32 --files 500 --runs 3".
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
OUT="${BENCH_OUT:-$ROOT/bench-results}"
mkdir -p "$OUT"
echo "building examples/hash_throughput (release)" >&2
cargo build --release --quiet --example hash_throughput
target_dir="$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')"
# shellcheck disable=SC2086
result="$("$target_dir/release/examples/hash_throughput" ${ASSETS_ARGS:-})"
echo "$result" >&2
{
  echo "## Asset packaging throughput"
  echo
  echo '```'
  echo "$result"
  echo '```'
} >"$OUT/assets.md"
