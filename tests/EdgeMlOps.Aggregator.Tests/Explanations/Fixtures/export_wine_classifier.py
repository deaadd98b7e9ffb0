#!/usr/bin/python3
"""Trains and exports the classifier the explanation tests use, with reference explanations from scikit-learn.

Real data: scikit-learn's bundled UCI wine set (178 wines, 13 chemical measurements, 3 cultivars), standardised.
A 13-16-3 dense classifier is trained with PyTorch (Debian's python3-torch) and exported with torch.onnx.export,
weights laid out as EdgeMlOps names them (layer{l}.weight [in, out], layer{l}.bias [out]), 'edgemlops.spec' added.

wine_reference.json holds, computed here independently of EdgeMlOps:
  rows, labels           the standardised data
  pdp                    scikit-learn 1.2 partial_dependence (brute, grid_resolution 20) for every input: grid + averages
  importance             scikit-learn permutation_importance (accuracy, 30 repeats): mean and std per input
  subgroups              per group (alcohol above/below the median; cultivar): accuracy, scikit-learn's macro precision
                         and recall (zero_division=0) over the classes present, and expected calibration error
                         (10 equal-width confidence bins)
  shapley                exact Shapley values (all 8192 coalitions, interventional over 10 background rows) of row 0,
                         by the textbook formula with itertools
Run from this directory: /usr/bin/python3 export_wine_classifier.py
"""
import itertools
import json
import math

import numpy as np
import onnx
import torch
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.datasets import load_wine
from sklearn.inspection import partial_dependence, permutation_importance
from torch import nn


class Dense(nn.Module):
    def __init__(self, inputs, outputs):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(inputs, outputs) * (2.0 / inputs) ** 0.5)
        self.bias = nn.Parameter(torch.zeros(outputs))

    def forward(self, x):
        return x @ self.weight + self.bias


class Classifier(nn.Module):
    def __init__(self):
        super().__init__()
        self.layer0 = Dense(13, 16)
        self.layer1 = Dense(16, 3)

    def logits(self, features):
        return self.layer1(torch.relu(self.layer0(features)))

    def forward(self, features):
        logits = self.logits(features)
        return torch.softmax(logits, dim=1), torch.argmax(logits, dim=1)


class TorchEstimator(BaseEstimator, ClassifierMixin):
    """scikit-learn's view of the trained network (already fitted)."""

    def __init__(self, model=None):
        self.model = model
        self.classes_ = np.arange(3)

    def fit(self, X, y):
        return self

    def predict_proba(self, X):
        with torch.no_grad():
            return self.model(torch.tensor(np.asarray(X), dtype=torch.float32))[0].numpy().astype(np.float64)

    def predict(self, X):
        return self.predict_proba(X).argmax(axis=1)


wine = load_wine()
x = ((wine.data - wine.data.mean(axis=0)) / wine.data.std(axis=0)).astype(np.float32)
y = wine.target.astype(np.int64)

torch.manual_seed(11)
model = Classifier()
optimizer = torch.optim.SGD(model.parameters(), lr=0.05)
# Trained on every other wine only, so the explanations and subgroup metrics are measured on rows it partly never saw.
features, labels = torch.tensor(x[::2]), torch.tensor(y[::2])
for epoch in range(12):
    for start in range(0, len(x), 16):
        optimizer.zero_grad()
        loss = nn.functional.cross_entropy(model.logits(features[start:start + 16]), labels[start:start + 16])
        loss.backward()
        optimizer.step()
model.eval()

torch.onnx.export(
    model, torch.randn(2, 13), "wine_mlp.onnx", input_names=["features"], output_names=["probabilities", "label"],
    dynamic_axes={"features": {0: "batch"}, "probabilities": {0: "batch"}, "label": {0: "batch"}}, opset_version=17)
graph = onnx.load("wine_mlp.onnx")
graph.metadata_props.add(key="edgemlops.spec", value="mlp-13-16-3")
onnx.checker.check_model(graph)
onnx.save(graph, "wine_mlp.onnx")

estimator = TorchEstimator(model)
pdp = []
for feature in range(13):
    result = partial_dependence(estimator, x, [feature], kind="average", method="brute", grid_resolution=20)
    pdp.append({"feature": feature, "grid": result["values"][0].tolist(), "average": result["average"].T.tolist()})

importance = permutation_importance(estimator, x, y, scoring="accuracy", n_repeats=30, random_state=0)

background = x[1:11]


def value(coalition):
    rows = background.copy()
    rows[:, list(coalition)] = x[0, list(coalition)]
    return estimator.predict_proba(rows).mean(axis=0)


values = {c: value(c) for size in range(14) for c in itertools.combinations(range(13), size)}
shapley = np.zeros((3, 13))
for i in range(13):
    others = [j for j in range(13) if j != i]
    for size in range(13):
        weight = math.factorial(size) * math.factorial(12 - size) / math.factorial(13)
        for c in itertools.combinations(others, size):
            shapley[:, i] += weight * (values[tuple(sorted(c + (i,)))] - values[c])

from sklearn.metrics import accuracy_score, precision_score, recall_score

probabilities = estimator.predict_proba(x)
predicted = probabilities.argmax(axis=1)
median = np.median(x[:, 0])
groups = [["alcohol=high" if row[0] > median else "alcohol=low", "class=%d" % label] for row, label in zip(x, y)]
subgroups = {}
for name in sorted({g for gs in groups for g in gs}):
    mask = np.array([name in gs for gs in groups])
    t, p, conf = y[mask], predicted[mask], probabilities[mask].max(axis=1)
    present = sorted(set(t) | set(p))
    bins = np.minimum((conf * 10).astype(int), 9)
    ece = sum(abs((p[bins == b] == t[bins == b]).mean() - conf[bins == b].mean()) * (bins == b).sum() for b in range(10) if (bins == b).any()) / len(t)
    subgroups[name] = {
        "samples": int(mask.sum()), "accuracy": accuracy_score(t, p),
        "precision": precision_score(t, p, labels=present, average="macro", zero_division=0),
        "recall": recall_score(t, p, labels=present, average="macro", zero_division=0), "ece": float(ece)}

with open("wine_reference.json", "w") as f:
    json.dump({
        "rows": x.flatten().tolist(), "labels": y.tolist(), "accuracy": float((estimator.predict(x) == y).mean()),
        "pdp": pdp, "groups": groups, "subgroups": subgroups,
        "importance": {"mean": importance.importances_mean.tolist(), "std": importance.importances_std.tolist()},
        "shapley": {"row": 0, "background": [1, 11], "base": values[()].tolist(), "output": values[tuple(range(13))].tolist(), "values": shapley.tolist()},
    }, f)
print("accuracy", (estimator.predict(x) == y).mean(), "importance", np.round(importance.importances_mean, 3))
