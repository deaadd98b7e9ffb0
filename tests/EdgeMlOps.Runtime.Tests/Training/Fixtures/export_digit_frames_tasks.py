#!/usr/bin/python3
"""Exports a two-task model over frames of any length (Debian's python3-torch and python3-onnx; scikit-learn's 8x8
digit scans in digits_tokens.csv):

  pytorch_digit_frames_tasks.onnx   rows float [batch, frames, 8] (a scan read as frames of 8 intensities, 0-16;
                               'frames' a dynamic axis) -> digit float [batch, 10] (logits) and ink float [batch, 1] (the
                               whole scan's mean intensity divided by 16, which a clip of its first frames must
                               estimate). Conv1d(8, 24, 3, padding 1) named conv over the frames, ReLU, the mean over
                               the frames, then Linear(24, 10) named classify and Linear(24, 1) named measure. Trained
                               (Adam, 200 epochs, cross-entropy plus the squared error) on scans of digits 0-4 among the
                               first 1,400, every scan's 8 rows.
  digit_frames_tasks_expected.json  six scans at 8 frames and the same six at their first 6 frames: PyTorch's digit
                               logits and ink, and the loss — cross-entropy of the digit plus the mean squared error of
                               the ink — of each batch with its gradient of every parameter by autograd.
Run from this directory: /usr/bin/python3 export_digit_frames_tasks.py
"""
import json

import numpy as np
import onnx
import torch
import torch.nn.functional as F
from torch import nn


class DigitFramesTasks(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv1d(8, 24, 3, padding=1)
        self.classify = nn.Linear(24, 10)
        self.measure = nn.Linear(24, 1)

    def forward(self, rows):
        h = F.relu(self.conv(rows.transpose(1, 2) / 16.0)).mean(dim=2)
        return self.classify(h), self.measure(h)


scans = np.loadtxt("digits_tokens.csv", delimiter=",", dtype=np.int64)
rows = torch.tensor(scans[:, :64], dtype=torch.float32).reshape(-1, 8, 8)
ink = rows.mean(dim=(1, 2)).unsqueeze(1) / 16.0
digits = torch.tensor(scans[:, 64])


def loss_of(digit, measured, picked_digits, picked_ink):
    return F.cross_entropy(digit, picked_digits) + F.mse_loss(measured, picked_ink)


torch.manual_seed(53)
model = DigitFramesTasks()
optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
train = (torch.arange(len(scans)) < 1400) & (digits <= 4)
for _ in range(200):
    optimizer.zero_grad()
    loss = loss_of(*model(rows[train]), digits[train], ink[train])
    loss.backward()
    optimizer.step()
model.eval()
with torch.no_grad():
    held = slice(1400, None)
    digit, measured = model(rows[held])
    print("held-out digit accuracy", round((digit.argmax(1) == digits[held]).float().mean().item(), 3),
          "ink mean squared error", round(F.mse_loss(measured, ink[held]).item(), 5))

torch.onnx.export(model, (rows[:2],), "pytorch_digit_frames_tasks.onnx", input_names=["rows"], output_names=["digit", "ink"],
                  dynamic_axes={"rows": {0: "batch", 1: "frames"}, "digit": {0: "batch"}, "ink": {0: "batch"}}, opset_version=17)
onnx.checker.check_model(onnx.load("pytorch_digit_frames_tasks.onnx"), full_check=True)


def record(frames, picked):
    model.zero_grad()
    digit, measured = model(rows[picked, :frames, :])
    loss = loss_of(digit, measured, digits[picked], ink[picked])
    loss.backward()
    return {
        "rows": rows[picked, :frames, :].flatten().tolist(),
        "digits": digits[picked].tolist(),
        "ink": ink[picked].flatten().tolist(),
        "digit": digit.detach().flatten().tolist(),
        "measured": measured.detach().flatten().tolist(),
        "loss": loss.item(),
        "gradients": {n: p.grad.flatten().tolist() for n, p in model.named_parameters()},
    }


picked = [0, 7, 33, 101, 250, 999]
expected = {"whole": record(8, picked), "short": record(6, picked)}
with open("digit_frames_tasks_expected.json", "w") as f:
    json.dump(expected, f)
print("loss at 8 frames", round(expected["whole"]["loss"], 4), "at 6", round(expected["short"]["loss"], 4))
