#!/usr/bin/env bash
# Benchmarks 1, 2 and 4: the reference pipeline fresh (instant and asynchronous emulator), an
# unchanged re-deploy, and API calls / noticing latency per stack.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
build_release
start_emulator 0
report="$OUT/pipeline.md"
{
  echo "## Reference pipeline (4 stacks, 29 resources, 2 accounts) — $(date -u +%F), $(nproc) cores"
  echo
  header
} >"$report"

# 1. Fresh deploy. Each run starts from an empty, bootstrapped AWS (the preparation is not timed).
for delay in 0 100; do
  hyperfine --style basic --runs "$RUNS" --export-json "$OUT/fresh-$delay.json" \
    --prepare "curl -sf -XPOST $AWS_ENDPOINT_URL/moto-api/reset >/dev/null; curl -sf -XPOST $AWS_ENDPOINT_URL/_emulator/config -H 'content-type: application/json' -d '{\"cfn_resource_delay_ms\": $delay}' >/dev/null; $BIN bootstrap --trust 111111111111 --cloudformation-execution-policies $ADMIN -f $FILE >/dev/null 2>&1" \
    "$BIN deploy --all -f $FILE --no-verify" >&2
  row "fresh deploy, emulator ${delay} ms/resource" "$OUT/fresh-$delay.json" >>"$report"
done

# 2. Unchanged re-deploy: skipped before any change set, nothing uploaded.
set_delay 0
"$BIN" deploy --all -f "$FILE" --no-verify >/dev/null 2>&1
hyperfine --style basic --warmup 2 --runs "$RUNS" --export-json "$OUT/unchanged.json" "$BIN deploy --all -f $FILE --no-verify" >&2
row "unchanged re-deploy (no change set)" "$OUT/unchanged.json" >>"$report"
hyperfine --style basic --warmup 1 --runs "$RUNS" --export-json "$OUT/verify.json" "$BIN verify -f $FILE" >&2 || true
row "verify (6 checks: static + SSM ping)" "$OUT/verify.json" >>"$report"

# 4. API calls per stack deploy, counted from the emulator's request log, and how long after the
#    last resource pipeline-run notices the final state (async mode: ideal = resources × delay).
reset_aws; bootstrap_ref
before=$(grep -c '" 200 \|" 400 \|" 404 ' "$EMU_LOG" || true)
"$BIN" deploy VpcA -f "$FILE" --no-verify >/dev/null 2>&1
after=$(grep -c '" 200 \|" 400 \|" 404 ' "$EMU_LOG" || true)
calls_fresh=$((after - before))
before=$after
"$BIN" deploy VpcA -f "$FILE" --no-verify >/dev/null 2>&1
after=$(grep -c '" 200 \|" 400 \|" 404 ' "$EMU_LOG" || true)
calls_unchanged=$((after - before))

delay=200
reset_aws; bootstrap_ref; set_delay "$delay"
"$BIN" deploy VpcA -f "$FILE" --no-verify >/dev/null 2>&1
done_at=$(date +%s.%N)
# When CloudFormation (the emulator) recorded the stack's final state, from its own events.
final_at=$(tests/emulator/.venv/bin/python - "$AWS_ENDPOINT_URL" <<'PY'
import sys, boto3
cfn = boto3.client("cloudformation", endpoint_url=sys.argv[1], region_name="ap-northeast-1",
                   aws_access_key_id="AKIAPIPELINECI111111",
                   aws_secret_access_key="pipelineRunCiSecretAccessKey000000000001")
events = cfn.describe_stack_events(StackName="VpcA")["StackEvents"]
final = [e for e in events if e["LogicalResourceId"] == "VpcA" and e["ResourceStatus"] == "CREATE_COMPLETE"]
print(final[0]["Timestamp"].timestamp())
PY
)
noticed=$(python3 -c "print(round(($done_at - $final_at) * 1000))")
{
  echo
  echo "| per stack (VpcA, 17 resources) | value |"
  echo "|---|---|"
  echo "| HTTP requests, first deploy (AssumeRole, bootstrap version, change set, events, outputs) | $calls_fresh |"
  echo "| HTTP requests, unchanged re-deploy | $calls_unchanged |"
  echo "| from the stack's final event to pipeline-run having read the outputs and exited (${delay} ms/resource) | ${noticed} ms |"
} >>"$report"
cat "$report"
