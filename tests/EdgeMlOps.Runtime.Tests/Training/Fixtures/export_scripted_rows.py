#!/usr/bin/python3
"""Exports a scripted model whose control flow is decided by a free axis (Debian's python3-torch and python3-onnx;
scikit-learn's 8x8 digit scans in digits_tokens.csv):

  pytorch_scripted_rows.onnx   pixels float [batch, rows, 8] -> logits float [batch, 10], exported from torch.jit.script
                               with 'rows' a dynamic axis: a recurrent cell written as a Python for loop over the rows (a
                               Loop whose trip count is Shape(pixels)[1], known only once 'rows' is), then an If on
                               rows > 4 (Linear(16, 16) named wide with a ReLU, else h doubled), Linear(16, 10) named head.
                               Trained (Adam, 150 epochs) on scans of digits 0-4 among the first 1,400, every scan's 8 rows.
  scripted_rows_expected.json  six scans at 8 rows and the same six at their first 3 rows (the If's other branch):
                               PyTorch's logits, the cross-entropy of the 8-row batch and every parameter's gradient of it.
Run from this directory: /usr/bin/python3 export_scripted_rows.py
"""
import json

import onnx
import torch
import torch.nn.functional as F
from torch import nn

from digit_fixtures import digits_0_to_4, load_digits, pretrain_full_batch


class ScriptedRows(nn.Module):
    def __init__(self):
        super().__init__()
        self.cell = nn.Linear(8, 16)
        self.recur = nn.Linear(16, 16)
        self.wide = nn.Linear(16, 16)
        self.head = nn.Linear(16, 10)

    def forward(self, pixels):
        x = pixels / 16.0
        h = torch.zeros(x.shape[0], 16)
        for i in range(x.shape[1]):  # a Loop over the rows: its trip count from the input's shape
            h = torch.tanh(self.cell(x[:, i]) + self.recur(h))
        if x.shape[1] > 4:  # an If on the number of rows
            h = h + torch.relu(self.wide(h))
        else:
            h = h * 2.0
        return self.head(h)


pixels, digits = load_digits((-1, 8, 8))

torch.manual_seed(59)
model = ScriptedRows()
train = digits_0_to_4(digits)
pretrain_full_batch(model, pixels[train], digits[train], 150)
with torch.no_grad():
    held = slice(1400, None)
    print("held-out accuracy (all digits)", round((model(pixels[held]).argmax(1) == digits[held]).float().mean().item(), 3))

torch.onnx.export(torch.jit.script(model), (pixels[:2],), "pytorch_scripted_rows.onnx", input_names=["pixels"], output_names=["logits"],
                  dynamic_axes={"pixels": {0: "batch", 1: "rows"}, "logits": {0: "batch"}}, opset_version=17, do_constant_folding=False)
exported = onnx.load("pytorch_scripted_rows.onnx")
onnx.checker.check_model(exported, full_check=True)

picked = [0, 7, 33, 101, 250, 999]
model.zero_grad()
logits = model(pixels[picked])
loss = F.cross_entropy(logits, digits[picked])
loss.backward()
with torch.no_grad():
    short = model(pixels[picked, :3, :])
with open("scripted_rows_expected.json", "w") as f:
    json.dump({
        "pixels": pixels[picked].flatten().tolist(),
        "digits": digits[picked].tolist(),
        "logits": logits.detach().flatten().tolist(),
        "short": pixels[picked, :3, :].flatten().tolist(),
        "shortLogits": short.flatten().tolist(),
        "loss": loss.item(),
        "gradients": {n: p.grad.flatten().tolist() for n, p in model.named_parameters()},
    }, f)
print("inputs", [(i.name, [d.dim_param or d.dim_value for d in i.type.tensor_type.shape.dim]) for i in exported.graph.input],
      "ops", sorted({n.op_type for n in exported.graph.node}), "loss", round(loss.item(), 5))
