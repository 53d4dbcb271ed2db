#!/usr/bin/env bash
# Benchmark 6: start-up time and peak memory of commands that make no AWS call.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
build_release
report="$OUT/startup.md"
{ echo "## Start-up (no AWS call)"; echo; header; } >"$report"
hyperfine --style basic -N --warmup 5 --runs 50 --export-json "$OUT/help.json" "$BIN --help" >&2
row "pipeline-run --help" "$OUT/help.json" >>"$report"
hyperfine --style basic -N --warmup 5 --runs 50 --export-json "$OUT/list.json" "$BIN list -f $FILE" >&2
row "pipeline-run list (parse + validate the reference pipeline)" "$OUT/list.json" >>"$report"
{
  echo
  echo "| peak memory (max RSS) | KiB |"
  echo "|---|---|"
  for args in "--help" "list -f $FILE"; do
    kb=$(/usr/bin/time -f '%M' "$BIN" $args 2>&1 >/dev/null | tail -1)
    echo "| pipeline-run $args | $kb |"
  done
  echo "| binary size | $(du -k "$BIN" | cut -f1) KiB |"
} >>"$report"
cat "$report"
