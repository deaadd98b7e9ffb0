#!/usr/bin/python3
"""Exports a two-headed model over scikit-learn's handwritten digits (digit_attributes.csv: 64 intensities / 16, then
four 0/1 attributes — even, five or more, prime, a closed loop) for a multi-task fleet whose tasks are a classifier and
a multi-label classifier (Debian's python3-torch and python3-onnx):

  pytorch_digit_two_heads.onnx    pixels float [batch, 64] -> digit float [batch, 10] (logits) and attributes float
                                  [batch, 4] (sigmoid probabilities). Linear(64, 32) named trunk, ReLU; Linear(32, 10)
                                  named classify; Linear(32, 4) named describe, Sigmoid. Trained (Adam, 200 epochs,
                                  cross-entropy on the digit plus binary cross-entropy on the attributes) on scans of
                                  digits 0-4 among the first 1,400.
  digit_two_heads_expected.json   eight scans, their digits and attributes, both outputs as PyTorch computes them, and
                                  one batch's cross-entropy on 'digit' plus half the binary cross-entropy on
                                  'attributes' with its gradient of every parameter by autograd.
Run from this directory: /usr/bin/python3 export_digit_multilabel_task.py
"""
import json

import numpy as np
import onnx
import torch
import torch.nn.functional as F
from torch import nn


class DigitTwoHeads(nn.Module):
    def __init__(self):
        super().__init__()
        self.trunk = nn.Linear(64, 32)
        self.classify = nn.Linear(32, 10)
        self.describe = nn.Linear(32, 4)

    def forward(self, pixels):
        h = F.relu(self.trunk(pixels))
        return self.classify(h), torch.sigmoid(self.describe(h))


table = np.loadtxt("digit_attributes.csv", delimiter=",", dtype=np.float32)
pixels, attributes = torch.tensor(table[:, :64]), torch.tensor(table[:, 64:])
digits = torch.tensor(np.loadtxt("digits_tokens.csv", delimiter=",", dtype=np.int64)[:, 64])

torch.manual_seed(47)
model = DigitTwoHeads()
optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
train = (torch.arange(len(table)) < 1400) & (digits <= 4)
for _ in range(200):
    optimizer.zero_grad()
    logits, probabilities = model(pixels[train])
    loss = F.cross_entropy(logits, digits[train]) + F.binary_cross_entropy(probabilities, attributes[train])
    loss.backward()
    optimizer.step()
model.eval()

torch.onnx.export(model, (pixels[:2],), "pytorch_digit_two_heads.onnx", input_names=["pixels"], output_names=["digit", "attributes"],
                  dynamic_axes={"pixels": {0: "batch"}, "digit": {0: "batch"}, "attributes": {0: "batch"}}, opset_version=17)
onnx.checker.check_model(onnx.load("pytorch_digit_two_heads.onnx"), full_check=True)

rows = [0, 7, 33, 101, 250, 999, 1450, 1700]
model.zero_grad()
logits, probabilities = model(pixels[rows])
classes = F.cross_entropy(logits, digits[rows])
labels = F.binary_cross_entropy(probabilities, attributes[rows])
loss = classes + 0.5 * labels
loss.backward()
with open("digit_two_heads_expected.json", "w") as f:
    json.dump({
        "pixels": pixels[rows].flatten().tolist(),
        "digits": digits[rows].tolist(),
        "attributes": attributes[rows].flatten().tolist(),
        "digit": logits.detach().flatten().tolist(),
        "probabilities": probabilities.detach().flatten().tolist(),
        "loss": loss.item(), "crossEntropy": classes.item(), "binaryCrossEntropy": labels.item(),
        "gradients": {n: p.grad.flatten().tolist() for n, p in model.named_parameters()},
    }, f)
print("ops", sorted({n.op_type for n in onnx.load("pytorch_digit_two_heads.onnx").graph.node}), "loss", round(loss.item(), 5))
