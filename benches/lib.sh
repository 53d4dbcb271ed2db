# Shared by the benchmark scripts: build, start/stop the local AWS, environment for the CI identity.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
OUT="${BENCH_OUT:-$ROOT/bench-results}"
mkdir -p "$OUT"
RUNS="${BENCH_RUNS:-10}"

need() {
  local missing=()
  for tool in "$@"; do command -v "$tool" >/dev/null || missing+=("$tool"); done
  if [ ${#missing[@]} -gt 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
  fi
}
need hyperfine curl jq
[ -x /usr/bin/time ] || need time

build_release() {
  if [ -z "${BIN:-}" ]; then
    echo "building the release binary (opt-level z, thin LTO; first time ~10 min)" >&2
    cargo build --release --quiet
    # Wherever cargo puts it: CARGO_TARGET_DIR, build.target-dir of a cargo config, or target/.
    BIN="$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')/release/pipeline-run"
  fi
  export BIN
}

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# start_emulator [delay_ms] — exports AWS_ENDPOINT_URL, EMU_PID, EMU_LOG
start_emulator() {
  tests/emulator/setup-venv
  local port; port=$(free_port)
  EMU_LOG="$OUT/emulator-$port.log"
  EMULATOR_CFN_RESOURCE_DELAY_MS="${1:-0}" tests/emulator/start --port "$port" >"$EMU_LOG" 2>&1 &
  EMU_PID=$!
  for _ in $(seq 1 600); do curl -sf "http://127.0.0.1:$port/moto-api/" >/dev/null && break; sleep 0.1; done
  export AWS_ENDPOINT_URL="http://127.0.0.1:$port"
  trap stop_emulator EXIT
}

stop_emulator() { [ -n "${EMU_PID:-}" ] && kill "$EMU_PID" 2>/dev/null && wait "$EMU_PID" 2>/dev/null || true; EMU_PID=; }

set_delay() { curl -sf -XPOST "$AWS_ENDPOINT_URL/_emulator/config" -H 'content-type: application/json' -d "{\"cfn_resource_delay_ms\": $1}" >/dev/null; }
reset_aws() { curl -sf -XPOST "$AWS_ENDPOINT_URL/moto-api/reset" >/dev/null; }

export AWS_CONFIG_FILE="$ROOT/tests/emulator/aws/config"
export AWS_SHARED_CREDENTIALS_FILE="$ROOT/tests/emulator/aws/credentials"
export AWS_PROFILE=ci
export AWS_EC2_METADATA_DISABLED=true
export NO_COLOR=1
FILE=pipelines/vpc-peering.yml
ADMIN=arn:aws:iam::aws:policy/AdministratorAccess

bootstrap_ref() { "$BIN" bootstrap --trust 111111111111 --cloudformation-execution-policies "$ADMIN" -f "${1:-$FILE}" >/dev/null 2>&1; }

# Median and spread of a hyperfine JSON export, as a Markdown row.
row() { # name json
  jq -r --arg n "$1" '.results[0] | "| \($n) | \(.median*1000|floor) ms | \(.min*1000|floor)–\(.max*1000|floor) ms | \(.stddev*1000|floor) ms | \(.times|length) |"' "$2"
}
header() { printf '| benchmark | median | min–max | σ | runs |\n|---|---|---|---|---|\n'; }
