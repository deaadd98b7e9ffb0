#!/usr/bin/env bash
# Publishes the native-AOT agent and measures it against a running aggregator:
# binary size, deployable folder size, time from process start to first prediction (cold: model
# fetched over the network; warm: model already installed on disk), peak RSS while serving
# predictions and running one training round, and predict throughput over loopback HTTP with
# keep-alive (wrk, if installed). Also the CI smoke test of the AOT binary: exits non-zero if the
# agent does not connect, receive the model, serve, train and publish an update.
#   bash bench/scripts/agent-footprint.sh [--no-wrk]
# AGENT_ENV="NAME=VALUE ..." sets environment variables for the agent; AGENT_CGROUP=/sys/fs/cgroup/memory/NAME starts
# it inside that (existing) memory cgroup, to see how it runs under a memory limit. AGENT_AOT=DIR measures an agent
# already published to DIR instead of publishing one (for alternating runs of two builds). AGENT_PEAK_RSS_BUDGET_MB=N fails
# the run when the peak RSS while serving and training passes N MB, AGENT_BINARY_BUDGET_MB=N when the binary does (CI's
# guards against the footprint creeping up).
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$(pwd)
work=$(mktemp -d)
aot="${AGENT_AOT:-$work/agent-aot}"
mqtt=$((20000 + RANDOM % 10000)); http=$((mqtt + 1)); api=$((mqtt + 2))
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
fail() { echo "SMOKE FAILED: $*" >&2; for f in "$work"/*.log; do echo "--- $f" >&2; tail -n 20 "$f" >&2; done; exit 1; }
ms() { date +%s%3N; }

[ -n "${AGENT_AOT:-}" ] || dotnet publish agent/EdgeMlOps.Agent.Host -c Release -r linux-x64 -o "$aot" -nologo -v q >/dev/null
[ -x "$aot/edgemlops-agent" ] || fail "no AOT binary"
ls "$aot"/onnxruntime*.dll >/dev/null 2>&1 && fail "stray Windows DLLs in the output"
rm -f "$aot"/*.dbg "$aot"/*.pdb "$aot"/*.xml

dotnet build aggregator/EdgeMlOps.Aggregator.Host -c Release -nologo -v q >/dev/null
dotnet aggregator/EdgeMlOps.Aggregator.Host/bin/Release/net10.0/edgemlops-aggregator.dll \
  --Aggregator:DataDirectory="$work/agg" --Aggregator:EmbeddedBrokerPort=$mqtt --Aggregator:HttpUrl=https://127.0.0.1:$http \
  --Aggregator:Model=mlp-784-128-10 --Aggregator:Rounds:ClientsPerRound=1 --Aggregator:Rounds:MinDevices=1 \
  --Aggregator:Rounds:ReportDeadlineSeconds=30 --Aggregator:Rounds:LocalEpochs=1 --Aggregator:Rounds:IntervalSeconds=1 \
  > "$work/aggregator.log" 2>&1 &
pids+=($!)
# HTTPS with a certificate from the fleet CA the aggregator writes on first start: curl trusts only that CA.
healthz() { [ -f "$work/agg/pki/ca.crt" ] && curl -sf --cacert "$work/agg/pki/ca.crt" "https://127.0.0.1:$http/healthz" >/dev/null; }
for _ in $(seq 100); do healthz && break; sleep 0.1; done
healthz || fail "aggregator did not start"

if [ -n "${AGENT_CGROUP:-}" ]; then
  # Publishing just wrote the agent's libraries through the page cache, charged to this shell's cgroup; drop them so the
  # agent's own page faults bring its code in, charged to its cgroup like on a device that boots it.
  sync; echo 3 > /proc/sys/vm/drop_caches || echo "could not drop the page cache (needs root): cached code is not charged to $AGENT_CGROUP" >&2
  echo 0 > "$AGENT_CGROUP/memory.max_usage_in_bytes" 2>/dev/null || true
fi

features=$(printf '0.1,%.0s' $(seq 784)); features=${features%,}
predict() { curl -sf -X POST -H 'Content-Type: application/json' -d "{\"features\":[$features]}" "http://127.0.0.1:$api/v1/predict"; }

start_agent() { # log file name
  log="$work/$1"
  local cg=()
  [ -n "${AGENT_CGROUP:-}" ] && cg=(sh -c 'echo $$ > "$0/cgroup.procs" && exec "$@"' "$AGENT_CGROUP")
  env ${AGENT_ENV:-} "${cg[@]}" "$aot/edgemlops-agent" --Agent:DeviceId=smoke-1 --Agent:Broker=mqtts://127.0.0.1:$mqtt --Agent:DataDirectory="$work/agent" \
    --Agent:FleetCaFile="$work/agg/pki/ca.crt" --Agent:Enrollment:Url=https://127.0.0.1:$http/ --Agent:Enrollment:TokenFile="$work/agg/pki/enrollment-token" \
    --Agent:Http=http://127.0.0.1:$api/ --Agent:StatusIntervalSeconds=5 --Agent:TrustedRootFile="$work/agg/keys/root.pub" > "$log" 2>&1 &
  agent=$!; pids+=($agent)
}
first_prediction_ms() {
  local t0=$1
  for _ in $(seq 3000); do predict >/dev/null 2>&1 && { echo $(( $(ms) - t0 )); return; }; sleep 0.005; done
  fail "no prediction"
}

t0=$(ms); start_agent agent-cold.log
cold=$(first_prediction_ms "$t0")
for i in $(seq 64); do
  curl -sf -X POST -H 'Content-Type: application/json' -d "{\"features\":[$features],\"label\":$((i % 10))}" "http://127.0.0.1:$api/v1/feedback" >/dev/null || fail "feedback"
done
for _ in $(seq 600); do
  v=$(curl -sf "http://127.0.0.1:$api/v1/model" | sed -n 's/.*"version":\([0-9]*\).*/\1/p')
  [ "${v:-0}" -ge 2 ] && break; sleep 0.1
done
[ "${v:-0}" -ge 2 ] || fail "the agent never trained, published and installed version 2"
grep -q "published v2 from 1 devices" "$work/aggregator.log" || fail "aggregator did not aggregate the agent's update"
for _ in $(seq 200); do predict >/dev/null; done
peak_kb=$(awk '/VmHWM/ {print $2}' /proc/$agent/status)
load_peak_kb=""

rps="n/a"
if [ "${1:-}" != "--no-wrk" ] && command -v wrk >/dev/null 2>&1; then
  printf 'wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\nwrk.body = [[{"features":[%s]}]]\n' "$features" > "$work/post.lua"
  rps=$(wrk -t2 -c16 -d10s -s "$work/post.lua" "http://127.0.0.1:$api/v1/predict" | awk '/Requests\/sec/ {print $2}')
  load_peak_kb=$(awk '/VmHWM/ {print $2}' /proc/$agent/status)
fi

kill -TERM "$agent"; wait "$agent" 2>/dev/null || true
t0=$(ms); start_agent agent-warm.log
warm=$(first_prediction_ms "$t0")

binary=$(stat -c %s "$aot/edgemlops-agent")
folder=$(du -sb "$aot" | cut -f1)
echo "AOT agent smoke test: passed (connected, received v1, served, trained, published, installed v2)"
mb() { awk -v b="$1" 'BEGIN { printf "%.1f", b / 1048576 }'; }
echo "binary (edgemlops-agent, no native libs): $(mb "$binary") MB"
echo "deployable folder: $(mb "$folder") MB"
echo "process start to first prediction: warm ${warm} ms (model on disk), cold ${cold} ms (connect + download + load)"
echo "peak RSS (serving + training rounds): $(mb $((peak_kb * 1024))) MB"
[ -n "$load_peak_kb" ] && echo "peak RSS after the load test (16 keep-alive connections): $(mb $((load_peak_kb * 1024))) MB"
echo "predict throughput (wrk -t2 -c16, keep-alive, 784 features): ${rps} req/s"
if [ -n "${AGENT_PEAK_RSS_BUDGET_MB:-}" ] && [ "$peak_kb" -gt $((AGENT_PEAK_RSS_BUDGET_MB * 1024)) ]; then
  fail "peak RSS $(mb $((peak_kb * 1024))) MB is over the budget of $AGENT_PEAK_RSS_BUDGET_MB MB (AGENT_PEAK_RSS_BUDGET_MB)"
fi
if [ -n "${AGENT_BINARY_BUDGET_MB:-}" ] && [ "$binary" -gt $((AGENT_BINARY_BUDGET_MB * 1048576)) ]; then
  fail "the binary's $(mb "$binary") MB are over the budget of $AGENT_BINARY_BUDGET_MB MB (AGENT_BINARY_BUDGET_MB)"
fi
if [ -n "${AGENT_CGROUP:-}" ]; then
  echo "cgroup $AGENT_CGROUP: limit $(mb "$(cat "$AGENT_CGROUP/memory.limit_in_bytes")") MB, max usage $(mb "$(cat "$AGENT_CGROUP/memory.max_usage_in_bytes")") MB"
fi
