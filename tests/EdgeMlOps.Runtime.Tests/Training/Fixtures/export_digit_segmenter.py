#!/usr/bin/python3
"""Exports a per-pixel classifier (a segmenter) over scikit-learn's 8x8 digit scans (digits_tokens.csv; Debian's
python3-torch and python3-onnx), for federated fine-tuning with a class id per position:

  pytorch_digit_segmenter.onnx    pixels float [batch, 1, 8, 8] (intensities 0-16) -> segments float [batch, 11, 8, 8],
                                  logits of 11 classes at every pixel: 0 background (intensity below 4), 1 + the digit
                                  where there is ink. Conv2d(1, 8, 3) named enc1, ReLU, Conv2d(8, 16, 3) named enc2,
                                  ReLU; per pixel Conv2d(16, 11, 1) named head, plus the scan's context: the features
                                  flattened, Linear(1024, 11) named context, added at every pixel (PyTorch's layout
                                  for a per-pixel cross-entropy, classes on axis 1). Trained (Adam, 150 epochs) on scans of
                                  digits 0-4 among the first 1,400: ink of 5-9 it has never labelled.
  digit_segmenter_expected.json   six scans, their per-pixel classes, the logits PyTorch computes, the cross-entropy
                                  over every pixel of them as one batch and every parameter's gradient of it.
Run from this directory: /usr/bin/python3 export_digit_segmenter.py
"""
import json

import numpy as np
import onnx
import torch
import torch.nn.functional as F
from torch import nn


class DigitSegmenter(nn.Module):
    def __init__(self):
        super().__init__()
        self.enc1 = nn.Conv2d(1, 8, 3, padding=1)
        self.enc2 = nn.Conv2d(8, 16, 3, padding=1)
        self.head = nn.Conv2d(16, 11, 1)
        self.context = nn.Linear(16 * 64, 11)

    def forward(self, pixels):
        h = F.relu(self.enc2(F.relu(self.enc1(pixels / 16.0))))
        return self.head(h) + self.context(torch.flatten(h, 1)).reshape(-1, 11, 1, 1)


scans = np.loadtxt("digits_tokens.csv", delimiter=",", dtype=np.int64)
pixels = torch.tensor(scans[:, :64], dtype=torch.float32).reshape(-1, 1, 8, 8)
digits = torch.tensor(scans[:, 64])
classes = torch.where(pixels[:, 0] >= 4, digits[:, None, None] + 1, torch.zeros_like(digits)[:, None, None])

torch.manual_seed(51)
model = DigitSegmenter()
optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
train = (torch.arange(len(scans)) < 1400) & (digits <= 4)
for _ in range(150):
    optimizer.zero_grad()
    loss = F.cross_entropy(model(pixels[train]), classes[train])
    loss.backward()
    optimizer.step()
model.eval()
with torch.no_grad():
    held = slice(1400, None)
    accuracy = (model(pixels[held]).argmax(1) == classes[held]).float().mean().item()
    print("pixel cross-entropy", round(loss.item(), 3), "on its", int(train.sum()), "training scans of digits 0-4;",
          "pixel accuracy", round(accuracy, 3), "on the last 397 scans (all digits)")

torch.onnx.export(model, (pixels[:2],), "pytorch_digit_segmenter.onnx", input_names=["pixels"], output_names=["segments"],
                  dynamic_axes={"pixels": {0: "batch"}, "segments": {0: "batch"}}, opset_version=17)
onnx.checker.check_model(onnx.load("pytorch_digit_segmenter.onnx"), full_check=True)

rows = [0, 7, 33, 101, 250, 999]
model.zero_grad()
logits = model(pixels[rows])
loss = F.cross_entropy(logits, classes[rows])
loss.backward()
with open("digit_segmenter_expected.json", "w") as f:
    json.dump({
        "pixels": pixels[rows].flatten().tolist(),
        "classes": classes[rows].flatten().tolist(),
        "segments": logits.detach().flatten().tolist(),
        "loss": loss.item(),
        "gradients": {n: p.grad.flatten().tolist() for n, p in model.named_parameters()},
    }, f)
print("ops", sorted({n.op_type for n in onnx.load("pytorch_digit_segmenter.onnx").graph.node}), "loss", round(loss.item(), 4))
