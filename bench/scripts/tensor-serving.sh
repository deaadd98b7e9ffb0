#!/usr/bin/env bash
# Serves ML.NET's pretrained ResNet18 (NuGet Microsoft.ML.DnnImageFeaturizer.ResNet18: batch fixed at 1, a 224x224
# RGB image in, a 512-value embedding out) by tensor names (Aggregator:ModelInterface:Kind=tensors) with the
# native-AOT agent, and measures: the agent's peak RSS serving it, its in-agent ONNX Runtime time per image (p50 of
# the serving health), and the end-to-end time of POST /v1/infer/bin over loopback HTTP (602 kB body) — the ratio is
# what the local API adds to the model run.
# With EMBEDDING=VALUE the fleet declares that value of the graph as the embedding monitoring sketches
# (ModelInterface:Embedding), so the cost of reading it beside the output shows against a run without.
#   bash bench/scripts/tensor-serving.sh [REQUESTS]      (AGENT_AOT=DIR: an agent already published there)
#   EMBEDDING=ReLU393_Output_0 bash bench/scripts/tensor-serving.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
requests=${1:-50}
work=$(mktemp -d)
aot="${AGENT_AOT:-$work/agent-aot}"
mqtt=$((20000 + RANDOM % 10000)); http=$((mqtt + 1)); api=$((mqtt + 2))
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
fail() { echo "FAILED: $*" >&2; for f in "$work"/*.log; do echo "--- $f" >&2; tail -n 20 "$f" >&2; done; exit 1; }

model=$(ls "${NUGET_PACKAGES:-$HOME/.nuget/packages}"/microsoft.ml.dnnimagefeaturizer.resnet18/*/tools/DnnImageModels/ResNet18Onnx/ResNet18.onnx 2>/dev/null | head -1)
[ -n "$model" ] || fail "ResNet18.onnx is not in the NuGet cache (dotnet restore tests/EdgeMlOps.Runtime.Tests fetches it)"
[ -n "${AGENT_AOT:-}" ] || dotnet publish agent/EdgeMlOps.Agent.Host -c Release -r linux-x64 -o "$aot" -nologo -v q >/dev/null
dotnet build aggregator/EdgeMlOps.Aggregator.Host -c Release -nologo -v q >/dev/null
dotnet aggregator/EdgeMlOps.Aggregator.Host/bin/Release/net10.0/edgemlops-aggregator.dll \
  --Aggregator:DataDirectory="$work/agg" --Aggregator:EmbeddedBrokerPort=$mqtt --Aggregator:HttpUrl=https://127.0.0.1:$http \
  --Aggregator:Model=onnx:"$model" --Aggregator:ModelInterface:Kind=tensors --Aggregator:ModelName=resnet18 \
  ${EMBEDDING:+--Aggregator:ModelInterface:Embedding=$EMBEDDING} > "$work/aggregator.log" 2>&1 &
pids+=($!)
for _ in $(seq 300); do [ -f "$work/agg/keys/root.pub" ] && grep -q "Aggregator for fleet" "$work/aggregator.log" && break; sleep 0.1; done
grep -q "Aggregator for fleet" "$work/aggregator.log" || fail "aggregator did not start"
"$aot/edgemlops-agent" --Agent:DeviceId=camera-1 --Agent:Broker=mqtts://127.0.0.1:$mqtt --Agent:DataDirectory="$work/agent" \
  --Agent:FleetCaFile="$work/agg/pki/ca.crt" --Agent:Enrollment:Url=https://127.0.0.1:$http/ --Agent:Enrollment:TokenFile="$work/agg/pki/enrollment-token" \
  --Agent:Http=http://127.0.0.1:$api/ --Agent:TrustedRootFile="$work/agg/keys/root.pub" > "$work/agent.log" 2>&1 &
agent=$!; pids+=($agent)
for _ in $(seq 600); do curl -sf "http://127.0.0.1:$api/v1/model" >/dev/null 2>&1 && break; sleep 0.1; done
input=$(curl -sf "http://127.0.0.1:$api/v1/model" | python3 -c 'import json,sys; print(json.load(sys.stdin)["interface"]["tensors"]["inputs"][0]["name"])') || fail "the agent did not install the model"

# One 224x224 RGB image as the EMT1 body: magic, no session, one input, rank 4, dims, float32 pixels.
python3 - "$input" "$work/image.bin" <<'PY'
import random, struct, sys
name, path = sys.argv[1].encode(), sys.argv[2]
random.seed(1)
with open(path, "wb") as f:
    f.write(b"EMT1" + struct.pack("<H", 0) + struct.pack("<H", 1) + struct.pack("<H", len(name)) + name + struct.pack("<B", 4))
    f.write(struct.pack("<4q", 1, 3, 224, 224))
    f.write(struct.pack("<%df" % (3 * 224 * 224), *[random.random() for _ in range(3 * 224 * 224)]))
PY
infer() { curl -sf -o /dev/null -w '%{time_total}\n' -X POST --data-binary @"$work/image.bin" "http://127.0.0.1:$api/v1/infer/bin"; }
for _ in 1 2 3; do infer >/dev/null || fail "inference"; done   # warm-up
times=$(for _ in $(seq "$requests"); do infer || fail "inference"; done | sort -n)
e2e=$(echo "$times" | awk '{a[NR]=$1} END {printf "%.1f", a[int((NR+1)/2)] * 1000}')
health=$(curl -sf "http://127.0.0.1:$api/v1/health")
run=$(echo "$health" | python3 -c 'import json,sys; print("%.1f" % json.load(sys.stdin)["latencyP50Ms"])')
peak_kb=$(awk '/VmHWM/ {print $2}' /proc/$agent/status)
echo "ResNet18 by tensor names${EMBEDDING:+, embedding $EMBEDDING sketched}, native-AOT agent, $requests requests of $(stat -c %s "$work/image.bin") bytes over loopback HTTP:"
echo "  in-agent ONNX Runtime run p50: ${run} ms; end-to-end POST /v1/infer/bin p50: ${e2e} ms; ratio $(python3 -c "print('%.2f' % ($e2e / $run))")"
echo "  agent peak RSS: $((peak_kb / 1024)) MB (model file $(($(stat -c %s "$model") / 1024 / 1024)) MB)"
