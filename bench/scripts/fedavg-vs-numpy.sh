#!/usr/bin/env bash
# Runs the simulator's 20-round MNIST IID experiment and the plain-numpy baseline back to back,
# so both figures come from one run on the same machine.
set -euo pipefail
cd "$(dirname "$0")/../.."
if ! /usr/bin/python3 -c "import numpy" 2>/dev/null; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-numpy >/dev/null
fi
dotnet build simulator -c Release -nologo -v q >/dev/null
dotnet run --project simulator -c Release --no-build -- --dataset mnist --partition iid --devices 100 --rounds 20 --seed 1 --out results-iid.json | tail -n 2
# OPENBLAS_CORETYPE/OPENBLAS_L2_SIZE slow numpy on this machine kind; unset them for the baseline only.
env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE /usr/bin/python3 bench/scripts/numpy_fedavg.py
