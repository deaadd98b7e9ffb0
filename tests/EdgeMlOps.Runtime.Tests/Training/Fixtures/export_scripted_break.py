#!/usr/bin/python3
"""Exports a scripted model whose loop stops when the data says so (Debian's python3-torch and python3-onnx;
scikit-learn's 8x8 digit scans in digits_tokens.csv):

  pytorch_scripted_break.onnx   pixels float [batch, 8, 8] -> logits float [batch, 10], exported from torch.jit.script:
                                a recurrent cell over the rows written as a Python for loop with a break (a Loop whose
                                body computes its condition): Linear(8, 16) named cell and Linear(16, 16) named recur,
                                tanh; after a row whose mean intensity over the batch is below 3.0 — the faint rows of a
                                scan — it stops; Linear(16, 10) named head. Trained (Adam, 150 epochs, batches
                                of 32) on scans of digits 0-4 among the first 1,400.
  scripted_break_expected.json  two batches of six scans, one that stops before its last row and one that reads all
                                eight: PyTorch's logits, how many rows it read, the cross-entropy and every parameter's
                                gradient of it.
Run from this directory: /usr/bin/python3 export_scripted_break.py
"""
import json

import onnx
import torch
import torch.nn.functional as F
from torch import nn

from digit_fixtures import digits_0_to_4, load_digits, pretrain_in_batches


class ScriptedBreak(nn.Module):
    def __init__(self):
        super().__init__()
        self.cell = nn.Linear(8, 16)
        self.recur = nn.Linear(16, 16)
        self.head = nn.Linear(16, 10)

    def forward(self, pixels):
        x = pixels / 16.0
        h = torch.zeros(x.shape[0], 16)
        for i in range(x.shape[1]):  # a Loop over the rows ...
            h = torch.tanh(self.cell(x[:, i]) + self.recur(h))
            if bool(pixels[:, i].mean() < 3.0):  # ... that stops after a faint row: a condition the body computes
                break
        return self.head(h)


def rows_read(x):
    for i in range(x.shape[1]):
        if bool(x[:, i].mean() < 3.0):
            return i + 1
    return x.shape[1]


pixels, digits = load_digits((-1, 8, 8))

torch.manual_seed(73)
model = ScriptedBreak()
pretrain_in_batches(model, pixels, digits, torch.nonzero(digits_0_to_4(digits))[:, 0], 150, 32, shuffle=False)

torch.onnx.export(torch.jit.script(model), (pixels[:2],), "pytorch_scripted_break.onnx", input_names=["pixels"], output_names=["logits"],
                  dynamic_axes={"pixels": {0: "batch"}, "logits": {0: "batch"}}, opset_version=17, do_constant_folding=False)
exported = onnx.load("pytorch_scripted_break.onnx")
onnx.checker.check_model(exported, full_check=True)

held = torch.arange(1400, len(digits))
early = next(held[i:i + 6] for i in range(0, len(held) - 6) if rows_read(pixels[held[i:i + 6]]) < 8)
full = next(held[i:i + 6] for i in range(0, len(held) - 6) if rows_read(pixels[held[i:i + 6]]) == 8)
expected = {}
for name, rows in (("early", early), ("full", full)):
    model.zero_grad()
    logits = model(pixels[rows])
    loss = F.cross_entropy(logits, digits[rows])
    loss.backward()
    expected[name] = {
        "pixels": pixels[rows].flatten().tolist(),
        "digits": digits[rows].tolist(),
        "rowsRead": rows_read(pixels[rows]),
        "logits": logits.detach().flatten().tolist(),
        "loss": loss.item(),
        "gradients": {n: p.grad.flatten().tolist() for n, p in model.named_parameters()},
    }
with open("scripted_break_expected.json", "w") as f:
    json.dump(expected, f)
print("ops", sorted({n.op_type for n in exported.graph.node}), "rows read", expected["early"]["rowsRead"], expected["full"]["rowsRead"],
      "losses", round(expected["early"]["loss"], 5), round(expected["full"]["loss"], 5))
