#!/usr/bin/env bash
# Why the simulator removes its device directories four at a time (SimulationRunner.TryDelete): builds N directories
# shaped like a simulated device's (3 small files and 2 model versions of 4 KB under models/), then times removing them
# one tree at a time (rm -rf) and four at a time (xargs -P 4). Usage: bash bench/scripts/parallel-delete.sh [N=20000]
set -euo pipefail
n=${1:-20000}
root=$(mktemp -d "${TMPDIR:-/tmp}/edgemlops-delete-XXXXXX")
trap 'rm -rf "$root"' EXIT
make() {
  python3 - "$root/devices" "$n" <<'PY'
import os, sys
root, n = sys.argv[1], int(sys.argv[2])
for i in range(n):
    models = f"{root}/dev-{i:05d}/models"
    os.makedirs(f"{models}/versions")
    for name in ("boot", "state", "trust.pb"): open(f"{models}/{name}", "wb").write(b"x" * 100)
    for name in ("1.pb", "2.pb"): open(f"{models}/versions/{name}", "wb").write(b"x" * 4000)
PY
  sync
}
uptime
make; start=$(date +%s.%N); rm -rf "$root/devices"; end=$(date +%s.%N)
echo "one at a time:  $(python3 -c "print(f'{$end - $start:.1f}')") s for $n device directories"
make; start=$(date +%s.%N); find "$root/devices" -mindepth 1 -maxdepth 1 -print0 | xargs -0 -P 4 -n 500 rm -rf; end=$(date +%s.%N)
echo "four at a time: $(python3 -c "print(f'{$end - $start:.1f}')") s for $n device directories"
