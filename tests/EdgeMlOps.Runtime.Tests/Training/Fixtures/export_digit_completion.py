#!/usr/bin/python3
"""Exports a two-headed model over scikit-learn's 8x8 digit scans (digits_tokens.csv; Debian's python3-torch and
python3-onnx) whose trained output has more than one axis, for federated fine-tuning of one output among several:

  pytorch_digit_completion.onnx     top float [batch, 4, 8] (the scan's upper four rows, intensities 0-16)
                                    -> digit float [batch, 10] (logits of the digit, a second head)
                                    -> bottom float [batch, 4, 8] (the lower four rows it predicts: image completion).
                                    Flatten, Linear(32, 64) named trunk, ReLU; Linear(64, 10) named classify;
                                    Linear(64, 32) named complete, reshaped to [batch, 4, 8]. Trained (Adam, 300 epochs,
                                    MSE on the lower half plus cross-entropy on the digit) on scans of digits 0-4 among
                                    the first 1,400: the fleet's devices, which see every digit, fine-tune the completion.
  pytorch_digit_completion_flat.onnx  the same weights with the lower half flat, bottom float [batch, 32]: the same
                                    values in another interface, which a fleet serving the first refuses as a version.
  digit_completion_expected.json    six scans, the outputs PyTorch computes, the mean squared error of 'bottom' over
                                    them as one batch and its gradient of complete.weight, complete.bias, trunk.weight,
                                    trunk.bias by PyTorch's autograd.
Run from this directory: /usr/bin/python3 export_digit_completion.py
"""
import json

import numpy as np
import onnx
import torch
import torch.nn.functional as F
from torch import nn


class DigitCompletion(nn.Module):
    def __init__(self):
        super().__init__()
        self.trunk = nn.Linear(32, 64)
        self.classify = nn.Linear(64, 10)
        self.complete = nn.Linear(64, 32)
        self.flat = False

    def forward(self, top):
        h = F.relu(self.trunk(torch.flatten(top, 1) / 16.0))
        bottom = self.complete(h) * 16.0
        return self.classify(h), bottom if self.flat else bottom.reshape(-1, 4, 8)


scans = np.loadtxt("digits_tokens.csv", delimiter=",", dtype=np.int64)
pixels = torch.tensor(scans[:, :64], dtype=torch.float32).reshape(-1, 8, 8)
tops, bottoms = pixels[:, :4, :], pixels[:, 4:, :]
digits = torch.tensor(scans[:, 64])

torch.manual_seed(41)
model = DigitCompletion()
optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
train = (torch.arange(len(scans)) < 1400) & (digits <= 4)
for _ in range(300):
    optimizer.zero_grad()
    logits, bottom = model(tops[train])
    loss = F.mse_loss(bottom, bottoms[train]) + F.cross_entropy(logits, digits[train])
    loss.backward()
    optimizer.step()
model.eval()
with torch.no_grad():
    held = slice(1400, None)
    print("completion MSE", round(F.mse_loss(model(tops[train])[1], bottoms[train]).item(), 3), "on its", int(train.sum()),
          "training scans of digits 0-4;", round(F.mse_loss(model(tops[held])[1], bottoms[held]).item(), 3),
          "on the last 397 scans (all digits)")

torch.onnx.export(model, (tops[:2],), "pytorch_digit_completion.onnx", input_names=["top"], output_names=["digit", "bottom"],
                  dynamic_axes={"top": {0: "batch"}, "digit": {0: "batch"}, "bottom": {0: "batch"}}, opset_version=17)
onnx.checker.check_model(onnx.load("pytorch_digit_completion.onnx"), full_check=True)
model.flat = True
torch.onnx.export(model, (tops[:2],), "pytorch_digit_completion_flat.onnx", input_names=["top"], output_names=["digit", "bottom"],
                  dynamic_axes={"top": {0: "batch"}, "digit": {0: "batch"}, "bottom": {0: "batch"}}, opset_version=17)
model.flat = False

rows = [0, 7, 33, 101, 250, 999]
model.zero_grad()
logits, bottom = model(tops[rows])
loss = F.mse_loss(bottom, bottoms[rows])
loss.backward()
with open("digit_completion_expected.json", "w") as f:
    json.dump({
        "top": tops[rows].flatten().tolist(),
        "targets": bottoms[rows].flatten().tolist(),
        "digit": logits.detach().flatten().tolist(),
        "bottom": bottom.detach().flatten().tolist(),
        "loss": loss.item(),
        "gradients": {n: p.grad.flatten().tolist() for n, p in model.named_parameters() if p.grad is not None and n.startswith(("complete", "trunk"))},
    }, f)
print("ops", sorted({n.op_type for n in onnx.load("pytorch_digit_completion.onnx").graph.node}), "loss", round(loss.item(), 4))
