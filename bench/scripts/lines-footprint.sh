#!/usr/bin/env bash
# The native-AOT agent's memory with one model and with a second one, a model line (a PyTorch CNN, 784 → 10): peak
# and current RSS (/proc VmHWM, VmRSS) after both models are installed and have served 200 predictions each.
#   bash bench/scripts/lines-footprint.sh            (publishes the agent; AGENT_AOT=DIR measures one published to DIR)
set -euo pipefail
cd "$(dirname "$0")/../.."
work=$(mktemp -d)
aot="${AGENT_AOT:-$work/agent-aot}"
mqtt=$((20000 + RANDOM % 10000)); http=$((mqtt + 1)); line=$((mqtt + 2)); api=$((mqtt + 3))
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
fail() { echo "FAILED: $*" >&2; tail -n 20 "$work"/*.log >&2; exit 1; }

[ -n "${AGENT_AOT:-}" ] || dotnet publish agent/EdgeMlOps.Agent.Host -c Release -r linux-x64 -o "$aot" -nologo -v q >/dev/null
dotnet build aggregator/EdgeMlOps.Aggregator.Host -c Release -nologo -v q >/dev/null
dotnet aggregator/EdgeMlOps.Aggregator.Host/bin/Release/net10.0/edgemlops-aggregator.dll \
  --Aggregator:DataDirectory="$work/agg" --Aggregator:EmbeddedBrokerPort=$mqtt --Aggregator:HttpUrl=https://127.0.0.1:$http \
  --Aggregator:Model=mlp-784-128-10 --Aggregator:Rounds:MaxRounds=0 \
  --Aggregator:Lines:cnn:Model=onnx:tests/EdgeMlOps.Runtime.Tests/Training/Fixtures/pytorch_cnn_digits04.onnx \
  --Aggregator:Lines:cnn:ModelInterface:Trainable=last:1 --Aggregator:Lines:cnn:HttpUrl=https://127.0.0.1:$line \
  --Aggregator:Lines:cnn:Cohort:camera=yes > "$work/aggregator.log" 2>&1 &
pids+=($!)
for _ in $(seq 150); do [ -f "$work/agg/pki/ca.crt" ] && curl -sf --cacert "$work/agg/pki/ca.crt" "https://127.0.0.1:$http/healthz" >/dev/null && break; sleep 0.1; done

features=$(printf '0.1,%.0s' $(seq 784)); features=${features%,}
measure() { # tag value, models expected to run
  local dir="$work/agent-$1"
  "$aot/edgemlops-agent" --Agent:DeviceId="dev-$1" --Agent:Broker=mqtts://127.0.0.1:$mqtt --Agent:DataDirectory="$dir" \
    --Agent:FleetCaFile="$work/agg/pki/ca.crt" --Agent:Enrollment:Url=https://127.0.0.1:$http/ --Agent:Enrollment:TokenFile="$work/agg/pki/enrollment-token" \
    --Agent:Http=http://127.0.0.1:$api/ --Agent:TrustedRootFile="$work/agg/keys/root.pub" --Agent:Tags:camera="$1" > "$work/agent-$1.log" 2>&1 &
  local pid=$!; pids+=($pid)
  for _ in $(seq 300); do [ "$(curl -sf "http://127.0.0.1:$api/v1/models" | grep -o '"version":1' | wc -l)" -ge "$2" ] && break; sleep 0.1; done
  [ "$(curl -sf "http://127.0.0.1:$api/v1/models" | grep -o '"version":1' | wc -l)" -ge "$2" ] || fail "agent $1: $2 models not installed"
  for _ in $(seq 200); do
    curl -sf -d "{\"features\":[$features]}" "http://127.0.0.1:$api/v1/predict" >/dev/null
    [ "$2" -lt 2 ] || curl -sf -d "{\"features\":[$features]}" "http://127.0.0.1:$api/v1/models/cnn/predict" >/dev/null
  done
  echo "$3: peak RSS $(awk '/VmHWM/ {printf "%.1f", $2/1024}' /proc/$pid/status) MB, now $(awk '/VmRSS/ {printf "%.1f", $2/1024}' /proc/$pid/status) MB ($(curl -sf "http://127.0.0.1:$api/v1/models"))"
  kill "$pid"; wait "$pid" 2>/dev/null || true
}
measure no 1 "first model only (mlp-784-128-10)"
measure yes 2 "with the cnn line (PyTorch CNN)"
