#!/usr/bin/env bash
# Every benchmark; results as Markdown in bench-results/ (BENCH_RUNS=N for more repetitions;
# BIN=path to time a given binary instead of building the release one).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
./startup.sh
./pipeline.sh
./scale.sh
./yaml-bomb.sh
[ -x ./assets.sh ] && ./assets.sh || true
cat ../bench-results/*.md
