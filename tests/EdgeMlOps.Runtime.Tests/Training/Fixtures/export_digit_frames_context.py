#!/usr/bin/python3
"""Exports a classifier over frames of any length with a context input beside them (Debian's python3-torch and
python3-onnx; scikit-learn's 8x8 digit scans in digits_tokens.csv):

  pytorch_digit_frames_context.onnx  rows float [batch, frames, 8] (a scan read as frames of 8 intensities, 0-16;
                               'frames' a dynamic axis) and last_row float [batch, 8] (the scan's last row, a second
                               sensor's reading of what a short clip may miss) -> logits float [batch, 10].
                               Conv1d(8, 24, 3, padding 1) named conv over the frames, ReLU, the mean over the frames;
                               Linear(8, 8) named context of last_row, ReLU; the two concatenated into Linear(32, 10)
                               named head. Trained (Adam, 200 epochs) on scans of digits 0-4 among the first 1,400,
                               every scan's 8 rows.
  digit_frames_context_expected.json  six scans at 8 frames and the same six at their first 6 frames, each with its
                               last row as context: PyTorch's logits, and the cross-entropy of each batch and its
                               gradient of every parameter by autograd.
Run from this directory: /usr/bin/python3 export_digit_frames_context.py
"""
import json

import numpy as np
import onnx
import torch
import torch.nn.functional as F
from torch import nn


class DigitFramesContext(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv1d(8, 24, 3, padding=1)
        self.context = nn.Linear(8, 8)
        self.head = nn.Linear(32, 10)

    def forward(self, rows, last_row):
        h = F.relu(self.conv(rows.transpose(1, 2) / 16.0)).mean(dim=2)
        c = F.relu(self.context(last_row / 16.0))
        return self.head(torch.cat([h, c], dim=1))


scans = np.loadtxt("digits_tokens.csv", delimiter=",", dtype=np.int64)
rows = torch.tensor(scans[:, :64], dtype=torch.float32).reshape(-1, 8, 8)
last = rows[:, 7, :].clone()
digits = torch.tensor(scans[:, 64])

torch.manual_seed(47)
model = DigitFramesContext()
optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
train = (torch.arange(len(scans)) < 1400) & (digits <= 4)
for _ in range(200):
    optimizer.zero_grad()
    loss = F.cross_entropy(model(rows[train], last[train]), digits[train])
    loss.backward()
    optimizer.step()
model.eval()
with torch.no_grad():
    held = slice(1400, None)
    print("accuracy", round((model(rows[train], last[train]).argmax(1) == digits[train]).float().mean().item(), 3), "on its training scans of digits 0-4;",
          round((model(rows[held], last[held]).argmax(1) == digits[held]).float().mean().item(), 3), "on the last 397 scans (all digits)")

torch.onnx.export(model, (rows[:2], last[:2]), "pytorch_digit_frames_context.onnx", input_names=["rows", "last_row"], output_names=["logits"],
                  dynamic_axes={"rows": {0: "batch", 1: "frames"}, "last_row": {0: "batch"}, "logits": {0: "batch"}}, opset_version=17)
onnx.checker.check_model(onnx.load("pytorch_digit_frames_context.onnx"), full_check=True)


def record(frames, picked):
    model.zero_grad()
    logits = model(rows[picked, :frames, :], last[picked])
    loss = F.cross_entropy(logits, digits[picked])
    loss.backward()
    return {
        "rows": rows[picked, :frames, :].flatten().tolist(),
        "context": last[picked].flatten().tolist(),
        "digits": digits[picked].tolist(),
        "logits": logits.detach().flatten().tolist(),
        "loss": loss.item(),
        "gradients": {n: p.grad.flatten().tolist() for n, p in model.named_parameters()},
    }


picked = [0, 7, 33, 101, 250, 999]
expected = {"whole": record(8, picked), "short": record(6, picked)}
with open("digit_frames_context_expected.json", "w") as f:
    json.dump(expected, f)
print("inputs", [(i.name, [d.dim_param or d.dim_value for d in i.type.tensor_type.shape.dim]) for i in onnx.load("pytorch_digit_frames_context.onnx").graph.input],
      "loss at 8 frames", round(expected["whole"]["loss"], 4), "at 6", round(expected["short"]["loss"], 4))
