#!/usr/bin/python3
"""Exports a multi-label classifier trained by PyTorch on scikit-learn's handwritten digits (1,797 real 8x8 scans,
shipped with python3-sklearn), for federated fine-tuning: four attributes of the digit drawn, any number of them true.

  digit_attributes.csv               64 feature columns (pixel intensities / 16, 0-1), then four 0/1 label columns:
                                     even, five or more, prime, has a closed loop (0, 6, 8, 9) — one scan per row, in
                                     scikit-learn's order.
  pytorch_digit_attributes.onnx      pixels float [batch, 64] -> attributes float [batch, 4], sigmoid probabilities:
                                     Linear(64, 32) named hidden, ReLU, Linear(32, 4) named head, Sigmoid. Trained (Adam,
                                     200 epochs, binary cross-entropy) only on the scans of digits 0-4 among the first
                                     1,400 rows: the fleet's devices, which see every digit, fine-tune it; rows
                                     1,400-1,796 are held out.
  digit_attributes_expected.json     six rows, their labels, the probabilities PyTorch computes, the binary
                                     cross-entropy over them as one batch (mean over rows and labels) and every
                                     parameter's gradient of it by PyTorch's autograd.
Run from this directory: /usr/bin/python3 export_digit_attributes.py
"""
import json

import numpy as np
import onnx
import torch
from sklearn.datasets import load_digits
from torch import nn

data = load_digits()
x = (data.data / 16.0).astype(np.float32)
d = data.target
y = np.stack([d % 2 == 0, d >= 5, np.isin(d, [2, 3, 5, 7]), np.isin(d, [0, 6, 8, 9])], axis=1).astype(np.float32)
with open("digit_attributes.csv", "w") as f:
    for row, labels in zip(x, y):
        f.write(",".join(repr(float(v)) for v in row) + "," + ",".join(str(int(v)) for v in labels) + "\n")


class Attributes(nn.Module):
    def __init__(self):
        super().__init__()
        self.hidden = nn.Linear(64, 32)
        self.head = nn.Linear(32, 4)

    def logits(self, pixels):
        return self.head(torch.relu(self.hidden(pixels)))

    def forward(self, pixels):
        return torch.sigmoid(self.logits(pixels))


def hamming_accuracy(model, xs, ys):
    with torch.no_grad():
        return ((model(xs) > 0.5).float() == ys).float().mean().item()


torch.manual_seed(4)
model = Attributes()
train = [i for i in range(1400) if d[i] <= 4]
xs, ys = torch.tensor(x[train]), torch.tensor(y[train])
optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
for _ in range(200):
    optimizer.zero_grad()
    loss = nn.functional.binary_cross_entropy_with_logits(model.logits(xs), ys)
    loss.backward()
    optimizer.step()
model.eval()
held_out = torch.tensor(x[1400:]), torch.tensor(y[1400:])
print("trained on", len(train), "rows; label accuracy on them", round(hamming_accuracy(model, xs, ys), 4),
      "held out", round(hamming_accuracy(model, *held_out), 4))

rows = torch.tensor(x[:6])
torch.onnx.export(model, (rows,), "pytorch_digit_attributes.onnx", input_names=["pixels"], output_names=["attributes"],
                  dynamic_axes={"pixels": {0: "batch"}, "attributes": {0: "batch"}}, opset_version=17)
onnx.checker.check_model(onnx.load("pytorch_digit_attributes.onnx"), full_check=True)

labels = torch.tensor(y[:6])
with torch.no_grad():
    probabilities = model(rows)
model.zero_grad()
loss = nn.functional.binary_cross_entropy_with_logits(model.logits(rows), labels)
loss.backward()
gradients = {name: p.grad.flatten().tolist() for name, p in model.named_parameters()}
with open("digit_attributes_expected.json", "w") as f:
    json.dump({"rows": rows.flatten().tolist(), "labels": labels.flatten().tolist(),
               "probabilities": probabilities.flatten().tolist(), "loss": loss.item(), "gradients": gradients}, f)
print("probabilities", [round(p, 4) for p in probabilities.flatten().tolist()[:8]], "loss", round(loss.item(), 5))
