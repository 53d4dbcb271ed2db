#!/usr/bin/env bash
# YAML alias expansion: `list` of tests/corpus/template-alias-bomb (a 35 KB template, 1,500 keys
# under one anchor referenced 1,500 times: 2.25 million map entries once expanded), timed with
# /usr/bin/time (seconds, max RSS). Before the node budget (source/limits.rs) this parsed the whole
# expansion; now it is refused after counting the budget. BIN=path times a given binary.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
build_release
file=tests/corpus/template-alias-bomb/pipeline.yml
code=0
AWS_REGION=ap-northeast-1 /usr/bin/time -o "$OUT/yaml-bomb.time" -f '%e s, max RSS %M KB' \
  "$BIN" list -f "$file" > /dev/null 2> "$OUT/yaml-bomb.stderr" || code=$?
result=$(cat "$OUT/yaml-bomb.time")
tail -n 3 "$OUT/yaml-bomb.stderr" >&2
echo "exit $code: $result" >&2
{
  echo "## YAML alias bomb (list)"
  echo
  echo "\`$BIN list -f $file\`: exit $code, $result"
} > "$OUT/yaml-bomb.md"
