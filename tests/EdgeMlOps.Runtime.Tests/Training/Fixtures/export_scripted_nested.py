#!/usr/bin/python3
"""Exports a scripted model with control flow nested in a loop (Debian's python3-torch and python3-onnx; scikit-learn's
8x8 digit scans in digits_tokens.csv):

  pytorch_scripted_nested.onnx   pixels float [batch, 8, 8] -> logits float [batch, 10], exported from torch.jit.script:
                                 a recurrent cell over the rows written as a Python for loop (a Loop) whose body holds an
                                 if on the row's index (an If inside the Loop's body) — the first row through
                                 Linear(8, 16) named cell alone, every later one with Linear(16, 16) named recur of the
                                 state too —, Linear(16, 10) named head. Trained (Adam, 150 epochs) on scans of digits
                                 0-4 among the first 1,400.
  scripted_nested_expected.json  six scans: PyTorch's logits, their cross-entropy and every parameter's gradient of it.
Run from this directory: /usr/bin/python3 export_scripted_nested.py
"""
import json

import onnx
import torch
from torch import nn

from digit_fixtures import digits_0_to_4, gradient_record, load_digits, pretrain_full_batch


class ScriptedNested(nn.Module):
    def __init__(self):
        super().__init__()
        self.cell = nn.Linear(8, 16)
        self.recur = nn.Linear(16, 16)
        self.head = nn.Linear(16, 10)

    def forward(self, pixels):
        x = pixels / 16.0
        h = torch.zeros(x.shape[0], 16)
        for i in range(x.shape[1]):  # a Loop over the rows
            if i == 0:  # an If inside its body, on the row's index
                h = torch.tanh(self.cell(x[:, i]))
            else:
                h = torch.tanh(self.cell(x[:, i]) + self.recur(h))
        return self.head(h)


pixels, digits = load_digits((-1, 8, 8))

torch.manual_seed(67)
model = ScriptedNested()
train = digits_0_to_4(digits)
pretrain_full_batch(model, pixels[train], digits[train], 150)

torch.onnx.export(torch.jit.script(model), (pixels[:2],), "pytorch_scripted_nested.onnx", input_names=["pixels"], output_names=["logits"],
                  dynamic_axes={"pixels": {0: "batch"}, "logits": {0: "batch"}}, opset_version=17, do_constant_folding=False)
exported = onnx.load("pytorch_scripted_nested.onnx")
onnx.checker.check_model(exported, full_check=True)

picked = [0, 7, 33, 101, 250, 999]
record = gradient_record(model, pixels[picked], digits[picked])
with open("scripted_nested_expected.json", "w") as f:
    json.dump(record, f)
loop = next(n for n in exported.graph.node if n.op_type == "Loop")
print("ops", sorted({n.op_type for n in exported.graph.node}), "in the loop's body", sorted({n.op_type for n in loop.attribute[0].g.node}), "loss", round(record["loss"], 5))
