#!/usr/bin/env python3
"""Prints the held-out accuracy curves of the runs written by fl-experiments.sh as a Markdown table:
one row per run, accuracy after selected rounds (or FedBuff versions), the final accuracy, mean kB sent per
participant per round, the last round's notes (epsilon for DP) and the time to the target accuracy.

Run: python3 bench/scripts/fl-curves.py [results dir, default bench/results]
"""
import glob, json, os, sys

folder = sys.argv[1] if len(sys.argv) > 1 else "bench/results"
marks = [1, 2, 5, 10, 15, 20, 30, 40]
rows = []
for path in sorted(glob.glob(os.path.join(folder, "*.json"))):
    run = json.load(open(path))
    rounds = run["rounds"]
    acc = {i + 1: r["accuracy"] for i, r in enumerate(rounds)}
    curve = " · ".join(f"{m}: {acc[m]:.3f}" for m in marks if m in acc)
    participants = sum(r["participants"] for r in rounds) or 1
    kb = sum(r["bytesUp"] for r in rounds) / participants / 1e3
    last = rounds[-1] if rounds else {}
    eps = f"ε {last['dp.epsilon']:.2f}" if "dp.epsilon" in last else ""
    target = run["final"].get("secondsToTarget")
    rows.append((os.path.basename(path)[:-5], curve, run["final"]["accuracy"], kb, eps,
                 "" if target is None else f"{target:.1f} s"))

print("| run | accuracy after round | final | kB up per participant | notes | time to target |")
print("| --- | --- | ---: | ---: | --- | ---: |")
for name, curve, final, kb, eps, target in rows:
    print(f"| {name} | {curve} | {final:.4f} | {kb:.1f} | {eps} | {target} |")
