#!/usr/bin/python3
"""Exports a two-headed model whose second head classifies every pixel, to be trained as a multi-task model with a
per-position task (Debian's python3-torch and python3-onnx; scikit-learn's 8x8 digit scans in digits_tokens.csv):

  pytorch_digit_segment_task.onnx  pixels float [batch, 1, 8, 8] (intensities 0-16) -> digit float [batch, 10] (logits)
                                   and segments float [batch, 11, 8, 8] (logits of 11 classes at every pixel: 0
                                   background where the intensity is below 4, 1 + the digit where there is ink; classes on
                                   axis 1, PyTorch's layout for a per-pixel cross-entropy). Conv2d(1, 8, 3) named enc1,
                                   ReLU, Conv2d(8, 16, 3) named enc2, ReLU: a trunk both heads share; Linear(1024, 10)
                                   named classify on it flattened; per pixel Conv2d(16, 11, 1) named head plus
                                   Linear(1024, 11) named context added at every pixel. Trained (Adam, 150 epochs) on
                                   scans of digits 0-4 among the first 1,400 with both losses.
  digit_segment_task_expected.json six scans, their digits and per-pixel classes, both outputs as PyTorch computes them,
                                   the loss cross-entropy(digit) + 0.5 x per-pixel cross-entropy(segments) of the six as
                                   one batch, and every parameter's gradient of it by autograd.
Run from this directory: /usr/bin/python3 export_digit_segment_task.py
"""
import json

import numpy as np
import onnx
import torch
import torch.nn.functional as F
from torch import nn


class DigitSegmentTask(nn.Module):
    def __init__(self):
        super().__init__()
        self.enc1 = nn.Conv2d(1, 8, 3, padding=1)
        self.enc2 = nn.Conv2d(8, 16, 3, padding=1)
        self.classify = nn.Linear(16 * 64, 10)
        self.head = nn.Conv2d(16, 11, 1)
        self.context = nn.Linear(16 * 64, 11)

    def forward(self, pixels):
        h = F.relu(self.enc2(F.relu(self.enc1(pixels / 16.0))))
        flat = torch.flatten(h, 1)
        return self.classify(flat), self.head(h) + self.context(flat).reshape(-1, 11, 1, 1)


def loss_of(model, x, digit, segments):
    d, s = model(x)
    return F.cross_entropy(d, digit) + 0.5 * F.cross_entropy(s, segments)


scans = np.loadtxt("digits_tokens.csv", delimiter=",", dtype=np.int64)
pixels = torch.tensor(scans[:, :64], dtype=torch.float32).reshape(-1, 1, 8, 8)
digits = torch.tensor(scans[:, 64])
segments = torch.where(pixels[:, 0] >= 4, digits.reshape(-1, 1, 1) + 1, torch.zeros_like(digits).reshape(-1, 1, 1))

torch.manual_seed(53)
model = DigitSegmentTask()
optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
train = (torch.arange(len(scans)) < 1400) & (digits <= 4)
for _ in range(150):
    optimizer.zero_grad()
    loss_of(model, pixels[train], digits[train], segments[train]).backward()
    optimizer.step()
model.eval()
with torch.no_grad():
    held = slice(1400, None)
    d, s = model(pixels[held])
    print("held-out (all digits): digit accuracy", round((d.argmax(1) == digits[held]).float().mean().item(), 3),
          "pixel accuracy", round((s.argmax(1) == segments[held]).float().mean().item(), 3))

torch.onnx.export(model, (pixels[:2],), "pytorch_digit_segment_task.onnx", input_names=["pixels"], output_names=["digit", "segments"],
                  dynamic_axes={"pixels": {0: "batch"}, "digit": {0: "batch"}, "segments": {0: "batch"}}, opset_version=17)
onnx.checker.check_model(onnx.load("pytorch_digit_segment_task.onnx"), full_check=True)

picked = [0, 7, 33, 101, 250, 999]
model.zero_grad()
loss = loss_of(model, pixels[picked], digits[picked], segments[picked])
loss.backward()
with torch.no_grad():
    d, s = model(pixels[picked])
with open("digit_segment_task_expected.json", "w") as f:
    json.dump({
        "pixels": pixels[picked].flatten().tolist(),
        "digits": digits[picked].tolist(),
        "segments": segments[picked].flatten().tolist(),
        "digit": d.flatten().tolist(),
        "segmentLogits": s.flatten().tolist(),
        "loss": loss.item(),
        "gradients": {n: p.grad.flatten().tolist() for n, p in model.named_parameters()},
    }, f)
print("outputs", [(o.name, [x.dim_param or x.dim_value for x in o.type.tensor_type.shape.dim]) for o in onnx.load("pytorch_digit_segment_task.onnx").graph.output],
      "loss", round(loss.item(), 5))
