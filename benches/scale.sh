#!/usr/bin/env bash
# Benchmark 3: a generated pipeline of 10 accounts × 4 chained stages (40 stacks, 4 waves) against
# 1 account × 4 stages: wall time should follow the critical path (the waves), not the stage count.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
build_release
start_emulator 0
dir="$OUT/scale"; mkdir -p "$dir"
python3 benches/gen_scale.py "$dir" 10 >/dev/null
python3 benches/gen_scale.py "$dir/one" 1 >/dev/null
report="$OUT/scale.md"
{ echo "## Scale: chained stages per account, emulator at ${SCALE_DELAY_MS:-50} ms/resource"; echo; header; } >"$report"
for n in one ten; do
  f="$dir/pipeline.yml"; [ "$n" = one ] && f="$dir/one/pipeline.yml"
  hyperfine --style basic --runs "${SCALE_RUNS:-5}" --export-json "$OUT/scale-$n.json" \
    --prepare "curl -sf -XPOST $AWS_ENDPOINT_URL/moto-api/reset >/dev/null; tests/emulator/.venv/bin/python benches/gen_scale.py --seed-roles $AWS_ENDPOINT_URL $f; curl -sf -XPOST $AWS_ENDPOINT_URL/_emulator/config -H 'content-type: application/json' -d '{\"cfn_resource_delay_ms\": 0}' >/dev/null; $BIN bootstrap --trust 111111111111 --cloudformation-execution-policies $ADMIN -f $f >/dev/null 2>&1; curl -sf -XPOST $AWS_ENDPOINT_URL/_emulator/config -H 'content-type: application/json' -d '{\"cfn_resource_delay_ms\": ${SCALE_DELAY_MS:-50}}' >/dev/null" \
    "$BIN deploy --all --concurrency 40 -f $f --no-verify" >&2
  label="1 account × 4 stages"; [ "$n" = ten ] && label="10 accounts × 4 stages (40 stacks)"
  row "$label" "$OUT/scale-$n.json" >>"$report"
done
cat "$report"
