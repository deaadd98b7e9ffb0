#!/usr/bin/python3
"""Exports a classifier whose input has a free axis besides the batch, as exporters write models over frames of any
length (Debian's python3-torch and python3-onnx; scikit-learn's 8x8 digit scans in digits_tokens.csv):

  pytorch_digit_frames.onnx    rows float [batch, frames, 8] (a scan read as frames of 8 intensities, 0-16; 'frames'
                               is a dynamic axis: the exporter declares it symbolic) -> logits float [batch, 10].
                               Conv1d(8, 24, 3, padding 1) named conv over the frames, ReLU, the mean over the frames,
                               Linear(24, 10) named head. Trained (Adam, 200 epochs) on scans of digits 0-4 among the
                               first 1,400, every scan's 8 rows: the fleet pins 'frames' at 8 and fine-tunes it.
  digit_frames_expected.json   six scans at 8 frames and the same six at their first 6 frames: PyTorch's logits, and
                               the cross-entropy of each batch and its gradient of every parameter by autograd (a fleet
                               whose samples run from 6 to 8 frames trains batches of each length).
Run from this directory: /usr/bin/python3 export_digit_frames.py
"""
import json

import numpy as np
import onnx
import torch
import torch.nn.functional as F
from torch import nn


class DigitFrames(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv1d(8, 24, 3, padding=1)
        self.head = nn.Linear(24, 10)

    def forward(self, rows):
        h = F.relu(self.conv(rows.transpose(1, 2) / 16.0))
        return self.head(h.mean(dim=2))


scans = np.loadtxt("digits_tokens.csv", delimiter=",", dtype=np.int64)
rows = torch.tensor(scans[:, :64], dtype=torch.float32).reshape(-1, 8, 8)
digits = torch.tensor(scans[:, 64])

torch.manual_seed(43)
model = DigitFrames()
optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
train = (torch.arange(len(scans)) < 1400) & (digits <= 4)
for _ in range(200):
    optimizer.zero_grad()
    loss = F.cross_entropy(model(rows[train]), digits[train])
    loss.backward()
    optimizer.step()
model.eval()
with torch.no_grad():
    held = slice(1400, None)
    print("accuracy", round((model(rows[train]).argmax(1) == digits[train]).float().mean().item(), 3), "on its training scans of digits 0-4;",
          round((model(rows[held]).argmax(1) == digits[held]).float().mean().item(), 3), "on the last 397 scans (all digits)")

torch.onnx.export(model, (rows[:2],), "pytorch_digit_frames.onnx", input_names=["rows"], output_names=["logits"],
                  dynamic_axes={"rows": {0: "batch", 1: "frames"}, "logits": {0: "batch"}}, opset_version=17)
onnx.checker.check_model(onnx.load("pytorch_digit_frames.onnx"), full_check=True)

picked = [0, 7, 33, 101, 250, 999]
model.zero_grad()
logits = model(rows[picked])
loss = F.cross_entropy(logits, digits[picked])
loss.backward()
gradients = {n: p.grad.flatten().tolist() for n, p in model.named_parameters()}
with torch.no_grad():
    short = model(rows[picked, :6, :])
model.zero_grad()
short_loss = F.cross_entropy(model(rows[picked, :6, :]), digits[picked])
short_loss.backward()
with open("digit_frames_expected.json", "w") as f:
    json.dump({
        "rows": rows[picked].flatten().tolist(),
        "digits": digits[picked].tolist(),
        "logits": logits.detach().flatten().tolist(),
        "short": rows[picked, :6, :].flatten().tolist(),
        "shortLogits": short.flatten().tolist(),
        "loss": loss.item(),
        "gradients": gradients,
        "shortLoss": short_loss.item(),
        "shortGradients": {n: p.grad.flatten().tolist() for n, p in model.named_parameters()},
    }, f)
print("inputs", [(i.name, [d.dim_param or d.dim_value for d in i.type.tensor_type.shape.dim]) for i in onnx.load("pytorch_digit_frames.onnx").graph.input],
      "ops", sorted({n.op_type for n in onnx.load("pytorch_digit_frames.onnx").graph.node}), "loss", round(loss.item(), 4))
