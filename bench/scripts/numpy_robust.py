#!/usr/bin/env python3
"""Baseline: numpy's coordinate-wise median and trimmed mean over 1,000 updates of 101,770 parameters
(an MLP 784-128-10), the same shape as RobustAggregationBenchmarks. Prints parameters per second
(1,000 x 101,770 / seconds), best of 3.

Run: python3 bench/scripts/numpy_robust.py   (Debian's python3-numpy)
"""
import time
import numpy as np

updates, params, trim = 1000, 101_770, 100
rows = (np.random.default_rng(1).random((updates, params), dtype=np.float32) - 0.5) * 0.01

def best(f):
    times = []
    for _ in range(3):
        t = time.perf_counter(); f(); times.append(time.perf_counter() - t)
    return min(times)

def trimmed():
    part = np.partition(rows, [trim, updates - trim - 1], axis=0)
    return part[trim:updates - trim].mean(axis=0)

for name, f in [("median", lambda: np.median(rows, axis=0)), ("trimmed mean (beta=0.1)", trimmed), ("mean", lambda: rows.mean(axis=0))]:
    s = best(f)
    print(f"numpy {name}: {s:.3f} s = {updates * params / s:.3g} params/s")
