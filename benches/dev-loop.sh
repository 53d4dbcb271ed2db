#!/usr/bin/env bash
# The development loop, timed as whole commands (hyperfine): how long a developer waits.
#
#   benches/dev-loop.sh [CHECKOUT]     # default: this checkout; CHECKOUT may be another worktree
#
#   test-relink  touch src/lib.rs, then `cargo test --no-run`: recompile the crate and link every
#                test binary (the cost the single integration-test binary cuts)
#   test-warm    `scripts/test` with nothing to rebuild: pytest + every Rust test (one run:
#                it takes minutes; BENCH_TEST_RUNS to repeat)
#
# A clean `.ci/run` (fresh clone, no target dir, new virtualenv) is measured by hand, as README's
# Development section says. Results land in bench-results/dev-loop-*.json.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
OUT="${BENCH_OUT:-$HERE/../bench-results}"
mkdir -p "$OUT"
CHECKOUT="$(cd "${1:-$HERE/..}" && pwd)"
command -v hyperfine >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq hyperfine; }
cd "$CHECKOUT"
tag="$(git rev-parse --short HEAD)"
cargo test --no-run --quiet 2>/dev/null   # warm: everything built once
hyperfine --runs "${BENCH_RELINK_RUNS:-3}" --prepare 'touch src/lib.rs' \
  --export-json "$OUT/dev-loop-relink-$tag.json" -n "test-relink $tag" 'cargo test --no-run --quiet'
hyperfine --runs "${BENCH_TEST_RUNS:-1}" \
  --export-json "$OUT/dev-loop-test-$tag.json" -n "test-warm $tag" 'scripts/test >/dev/null 2>&1'
