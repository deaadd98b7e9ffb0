#!/usr/bin/python3
"""Exports a classifier that reads determinants of matrices it computes (Debian's python3-torch and python3-onnx;
scikit-learn's 8x8 digit scans in digits_tokens.csv):

  pytorch_digit_determinants.onnx  pixels float [batch, 64] (intensities 0-16) -> logits float [batch, 10]. Linear(64, 32)
                                   named trunk, ReLU; Linear(32, 36) named shape, read as four 3x3 matrices per scan,
                                   and their determinants (torch.det, exported as ONNX's Det) — a volume-like feature of
                                   the scan, as flows and geometric models use; the trunk's 32 values and the 4
                                   determinants into Linear(36, 10) named head. Trained (Adam, 20 epochs of batches of
                                   16) on scans of digits 0-4 among the first 1,400.
  digit_determinants_expected.json six held-out scans: PyTorch's logits, the cross-entropy and every parameter's
                                   gradient of it by autograd (through the determinants' cofactors).
Run from this directory: /usr/bin/python3 export_digit_determinants.py
"""
import json

import onnx
import torch
from torch import nn
import torch.nn.functional as F

from digit_fixtures import digits_0_to_4, gradient_record, load_digits, pretrain_in_batches

pixels, digits = load_digits((-1, 64))


class DigitDeterminants(nn.Module):
    def __init__(self):
        super().__init__()
        self.trunk = nn.Linear(64, 32)
        self.shape = nn.Linear(32, 36)
        self.head = nn.Linear(36, 10)

    def forward(self, pixels):
        h = F.relu(self.trunk(pixels / 16.0))
        volumes = torch.det(self.shape(h).reshape(-1, 4, 3, 3))
        return self.head(torch.cat([h, volumes], dim=1))


torch.manual_seed(59)
model = DigitDeterminants()
pretrain_in_batches(model, pixels, digits, torch.nonzero(digits_0_to_4(digits))[:, 0], 20, 16)
torch.onnx.export(model, (pixels[:2],), "pytorch_digit_determinants.onnx", input_names=["pixels"], output_names=["logits"],
                  dynamic_axes={"pixels": {0: "batch"}, "logits": {0: "batch"}}, opset_version=17)
exported = onnx.load("pytorch_digit_determinants.onnx")
onnx.checker.check_model(exported, full_check=True)
rows = [1400, 1450, 1500, 1550, 1600, 1650]
expected = gradient_record(model, pixels[rows], digits[rows])
with open("digit_determinants_expected.json", "w") as f:
    json.dump(expected, f)
with torch.no_grad():
    held = slice(1400, None)
    print("ops", sorted({n.op_type for n in exported.graph.node}), "loss", round(expected["loss"], 5),
          "held-out accuracy", round((model(pixels[held]).argmax(1) == digits[held]).float().mean().item(), 3))
