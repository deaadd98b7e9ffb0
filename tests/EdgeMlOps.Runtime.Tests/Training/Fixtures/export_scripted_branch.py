#!/usr/bin/python3
"""Exports a scripted model with a branch the data decides (Debian's python3-torch and python3-onnx; scikit-learn's 8x8
digit scans in digits_tokens.csv):

  pytorch_scripted_branch.onnx   pixels float [batch, 64] (intensities 0-16) -> logits float [batch, 10], exported from
                                 torch.jit.script: Linear(64, 32) named trunk with a ReLU, then an If on the batch's mean
                                 intensity — above THRESHOLD (the median scan's mean) Linear(32, 32) named bright with a
                                 ReLU, else Linear(32, 32) named dim with a tanh —, Linear(32, 10) named head. Trained
                                 (Adam, 20 epochs of batches of 16) on the first 1,400 scans.
  scripted_branch_expected.json  a bright batch and a dim batch of six held-out scans each: PyTorch's logits, the cross-entropy
                                 of each batch and every parameter's gradient of it (the branch not taken: zero).
Run from this directory: /usr/bin/python3 export_scripted_branch.py
"""
import json

import onnx
import torch
from torch import nn

from digit_fixtures import gradient_record, load_digits, pretrain_in_batches

pixels, digits = load_digits((-1, 64))
THRESHOLD = float(pixels.mean(dim=1).median())


class ScriptedBranch(nn.Module):
    def __init__(self, threshold: float):
        super().__init__()
        self.threshold = threshold
        self.trunk = nn.Linear(64, 32)
        self.bright = nn.Linear(32, 32)
        self.dim = nn.Linear(32, 32)
        self.head = nn.Linear(32, 10)

    def forward(self, pixels):
        h = torch.relu(self.trunk(pixels / 16.0))
        if bool(pixels.mean() > self.threshold):  # an If the data decides, batch by batch
            h = torch.relu(self.bright(h))
        else:
            h = torch.tanh(self.dim(h))
        return self.head(h)


torch.manual_seed(61)
model = ScriptedBranch(THRESHOLD)
pretrain_in_batches(model, pixels, digits, torch.arange(1400), 20, 16)

torch.onnx.export(torch.jit.script(model), (pixels[:2],), "pytorch_scripted_branch.onnx", input_names=["pixels"], output_names=["logits"],
                  dynamic_axes={"pixels": {0: "batch"}, "logits": {0: "batch"}}, opset_version=17, do_constant_folding=False)
exported = onnx.load("pytorch_scripted_branch.onnx")
onnx.checker.check_model(exported, full_check=True)

means = pixels.mean(dim=1)
expected = {"threshold": THRESHOLD}
held = torch.arange(len(digits)) >= 1400  # scans it did not train on: a loss worth differentiating
for name, rows in (("bright", [int(i) for i in torch.nonzero(held & (means > THRESHOLD + 0.5))[:6, 0]]),
                   ("dim", [int(i) for i in torch.nonzero(held & (means < THRESHOLD - 0.5))[:6, 0]])):
    expected[name] = gradient_record(model, pixels[rows], digits[rows])
with open("scripted_branch_expected.json", "w") as f:
    json.dump(expected, f)
print("threshold", THRESHOLD, "ops", sorted({n.op_type for n in exported.graph.node}),
      "losses", round(expected["bright"]["loss"], 5), round(expected["dim"]["loss"], 5))
