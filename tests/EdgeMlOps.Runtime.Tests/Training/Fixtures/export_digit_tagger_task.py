#!/usr/bin/python3
"""Exports a two-headed model whose second head tags every row in a tagger's layout (classes last), to be trained as a
multi-task model with a per-position task (Debian's python3-torch and python3-onnx; scikit-learn's 8x8 digit scans in
digits_tokens.csv):

  pytorch_digit_tagger_task.onnx  rows float [batch, 8, 8] (a scan's rows of 8 intensities, 0-16) -> digit float
                                  [batch, 10] (logits) and tags float [batch, 8, 11] (logits of 11 classes for every row,
                                  the classes last as nn.Linear writes them: 0 for a row without ink — no intensity of 4 or
                                  more —, 1 + the digit for a row with ink). Linear(8, 24) named rowwise with a ReLU on
                                  every row: a trunk both heads share; Linear(192, 10) named classify on it flattened; per
                                  row Linear(24, 11) named tag plus Linear(192, 11) named context added to every row.
                                  Trained (Adam, 150 epochs) on scans of digits 0-4 among the first 1,400 with both losses.
  digit_tagger_task_expected.json six scans, their digits and row tags, both outputs as PyTorch computes them, the loss
                                  cross-entropy(digit) + 0.5 x per-row cross-entropy(tags) of the six as one batch, and
                                  every parameter's gradient of it by autograd (a row-wise Linear's weight also under the
                                  name the exporter gave its transpose, onnx::MatMul_N).
Run from this directory: /usr/bin/python3 export_digit_tagger_task.py
"""
import json

import numpy as np
import onnx
from onnx import numpy_helper
import torch
import torch.nn.functional as F
from torch import nn


class DigitTaggerTask(nn.Module):
    def __init__(self):
        super().__init__()
        self.rowwise = nn.Linear(8, 24)
        self.classify = nn.Linear(192, 10)
        self.tag = nn.Linear(24, 11)
        self.context = nn.Linear(192, 11)

    def forward(self, rows):
        h = F.relu(self.rowwise(rows / 16.0))
        flat = torch.flatten(h, 1)
        return self.classify(flat), self.tag(h) + self.context(flat).unsqueeze(1)


def loss_of(model, x, digit, tags):
    d, t = model(x)
    return F.cross_entropy(d, digit) + 0.5 * F.cross_entropy(t.transpose(1, 2), tags)


scans = np.loadtxt("digits_tokens.csv", delimiter=",", dtype=np.int64)
rows = torch.tensor(scans[:, :64], dtype=torch.float32).reshape(-1, 8, 8)
digits = torch.tensor(scans[:, 64])
tags = torch.where(rows.max(dim=2).values >= 4, digits.reshape(-1, 1) + 1, torch.zeros_like(digits).reshape(-1, 1))

torch.manual_seed(71)
model = DigitTaggerTask()
optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
train = (torch.arange(len(scans)) < 1400) & (digits <= 4)
for _ in range(150):
    optimizer.zero_grad()
    loss_of(model, rows[train], digits[train], tags[train]).backward()
    optimizer.step()
model.eval()
with torch.no_grad():
    held = slice(1400, None)
    d, t = model(rows[held])
    print("held-out (all digits): digit accuracy", round((d.argmax(1) == digits[held]).float().mean().item(), 3),
          "row accuracy", round((t.argmax(2) == tags[held]).float().mean().item(), 3))

torch.onnx.export(model, (rows[:2],), "pytorch_digit_tagger_task.onnx", input_names=["rows"], output_names=["digit", "tags"],
                  dynamic_axes={"rows": {0: "batch"}, "digit": {0: "batch"}, "tags": {0: "batch"}}, opset_version=17)
onnx.checker.check_model(onnx.load("pytorch_digit_tagger_task.onnx"), full_check=True)

picked = [0, 7, 33, 101, 250, 999]
model.zero_grad()
loss = loss_of(model, rows[picked], digits[picked], tags[picked])
loss.backward()
with torch.no_grad():
    d, t = model(rows[picked])
# The exporter stores a Linear applied to every row as MatMul by its weight transposed, named onnx::MatMul_N: that
# initializer's gradient is the weight's transposed.
gradients = {n: p.grad.flatten().tolist() for n, p in model.named_parameters()}
for tensor in onnx.load("pytorch_digit_tagger_task.onnx").graph.initializer:
    if tensor.name.startswith("onnx::MatMul"):
        value = torch.tensor(numpy_helper.to_array(tensor))
        weight = next(p for n, p in model.named_parameters() if p.dim() == 2 and p.T.shape == value.shape and torch.equal(p.T.detach(), value))
        gradients[tensor.name] = weight.grad.T.flatten().tolist()
with open("digit_tagger_task_expected.json", "w") as f:
    json.dump({
        "rows": rows[picked].flatten().tolist(),
        "digits": digits[picked].tolist(),
        "tags": tags[picked].flatten().tolist(),
        "digit": d.flatten().tolist(),
        "tagLogits": t.flatten().tolist(),
        "loss": loss.item(),
        "gradients": gradients,
    }, f)
print("outputs", [(o.name, [x.dim_param or x.dim_value for x in o.type.tensor_type.shape.dim]) for o in onnx.load("pytorch_digit_tagger_task.onnx").graph.output],
      "loss", round(loss.item(), 5))
