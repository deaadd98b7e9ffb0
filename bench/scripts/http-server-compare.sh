#!/usr/bin/env bash
# The agent's own HTTP/1.1 server against Kestrel, both published native AOT around the same prediction work
# (bench/HttpServers: parse 784 features, run the ONNX Runtime session of an MLP 784-128-10, write the probabilities):
# binary and folder size, time from exec to the first answered prediction, req/s over loopback with keep-alive
# (wrk -t2 -c16), and resident memory after the first prediction (idle), after the load (VmRSS) and at its peak (VmHWM). Rounds alternate the two
# servers so machine load falls on both alike. Both run the agent's garbage collector settings (workstation GC; the Web
# SDK would give Kestrel server GC with DATAS) unless PROBE_ENV says otherwise, e.g. PROBE_ENV="DOTNET_gcServer=1".
# Needs wrk (apt-get install wrk).
#   bash bench/scripts/http-server-compare.sh [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/../.."
rounds="${1:-3}"
work=$(mktemp -d)
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
command -v wrk >/dev/null || { echo "needs wrk (apt-get install wrk)" >&2; exit 1; }

for server in own kestrel; do
  dotnet publish "bench/HttpServers/EdgeMlOps.HttpProbe.${server^}" -c Release -r linux-x64 -o "$work/$server" -nologo -v q >/dev/null
  rm -f "$work/$server"/*.dbg "$work/$server"/*.pdb "$work/$server"/onnxruntime*.dll
done

features=$(printf '0.1,%.0s' $(seq 784)); features=${features%,}
cat > "$work/post.lua" <<LUA
wrk.method = "POST"
wrk.body = '{"features":[$features]}'
wrk.headers["Content-Type"] = "application/json"
LUA

echo "uptime before: $(uptime); environment: DOTNET_gcServer=0 ${PROBE_ENV:-}"
printf '%-8s %12s %12s\n' server "binary (B)" "folder (B)"
for server in own kestrel; do
  printf '%-8s %12d %12d\n' "$server" "$(stat -c %s "$work/$server/httpprobe-$server")" "$(du -sb "$work/$server" | cut -f1)"
done

printf '%-6s %-8s %10s %12s %10s %12s %12s\n' round server "start ms" "idle RSS KB" "req/s" "VmRSS KB" "VmHWM KB"
for round in $(seq "$rounds"); do
  for server in own kestrel; do
    port=$((30000 + RANDOM % 10000))
    start=$(date +%s%3N)
    env DOTNET_gcServer=0 ${PROBE_ENV:-} "$work/$server/httpprobe-$server" "$port" > "$work/$server.log" 2>&1 &
    pid=$!
    until curl -sf --max-time 2 -X POST -H 'Content-Type: application/json' -d "{\"features\":[$features]}" "http://127.0.0.1:$port/v1/predict" >/dev/null; do
      kill -0 "$pid" 2>/dev/null || { cat "$work/$server.log" >&2; exit 1; }
      sleep 0.005
    done
    first=$(( $(date +%s%3N) - start ))
    idle=$(awk '/VmRSS/ {print $2}' "/proc/$pid/status")
    rps=$(wrk -t2 -c16 -d10s -s "$work/post.lua" "http://127.0.0.1:$port/v1/predict" | awk '/Requests\/sec/ {print $2}')
    rss=$(awk '/VmRSS/ {print $2}' "/proc/$pid/status"); hwm=$(awk '/VmHWM/ {print $2}' "/proc/$pid/status")
    printf '%-6s %-8s %10d %12d %10s %12d %12d\n' "$round" "$server" "$first" "$idle" "$rps" "$rss" "$hwm"
    kill "$pid"; wait "$pid" 2>/dev/null || true; pid=
  done
done
echo "uptime after: $(uptime)"
