#!/usr/bin/env python3
"""How far runs stay behind a reference run, round by round (docs/BENCHMARKS.md, "Why Krum lags"). Single rounds'
held-out accuracy moves by about a point from round to round, so it prints, in points, the mean gap from the first
full window on, the worst gap averaged over a sliding window of rounds, and how many single rounds are more than
3 points behind.

Run: python3 bench/scripts/fl-gap.py REFERENCE.json RUN.json [RUN.json ...] [--window 10]
"""
import json, os, sys

args = sys.argv[1:]
window = 10
if "--window" in args:
    i = args.index("--window")
    window = int(args[i + 1])
    del args[i:i + 2]
if len(args) < 2:
    sys.exit(__doc__)


def accuracy(path):
    return [r["accuracy"] for r in json.load(open(path))["rounds"]]


reference = accuracy(args[0])
print(f"| run | rounds | mean gap (from round {window}) | worst {window}-round mean gap | single rounds > 3 points behind |")
print("| --- | ---: | ---: | ---: | ---: |")
for path in args[1:]:
    run = accuracy(path)
    n = min(len(run), len(reference))
    if n < window:
        sys.exit(f"{path}: {n} rounds, fewer than the window of {window}")
    gaps = [reference[i] - run[i] for i in range(n)]
    means = [sum(gaps[i - window + 1:i + 1]) / window for i in range(window - 1, n)]
    worst = max(range(len(means)), key=means.__getitem__)
    tail = gaps[window - 1:]
    print(f"| {os.path.basename(path)[:-5]} | {n} | {100 * sum(tail) / len(tail):.2f} | "
          f"{100 * means[worst]:.2f} (rounds {worst + 1}–{worst + window}) | {sum(g > 0.03 for g in tail)} of {len(tail)} |")
