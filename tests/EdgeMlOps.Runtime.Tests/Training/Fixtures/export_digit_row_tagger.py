#!/usr/bin/python3
"""Exports a sequence tagger over scikit-learn's 8x8 digit scans read row by row (digits_tokens.csv; Debian's
python3-torch and python3-onnx), its classes on the last axis as taggers write them, for federated fine-tuning with a
class id per step:

  pytorch_digit_row_tagger.onnx    rows float [batch, 8, 8] (a scan's eight rows as eight steps, intensities 0-16)
                                   -> tags float [batch, 8, 11], logits of 11 classes at every row: 0 for a row without
                                   ink (no pixel of 8 or more), else 1 + the digit. A bidirectional GRU(8, 16) named
                                   gru, then Linear(32, 11) named tag at every step. Trained (Adam, 200 epochs) on scans
                                   of digits 0-4 among the first 1,400.
  digit_row_tagger_expected.json   six scans, their row classes, the logits PyTorch computes, the cross-entropy over
                                   every row of them as one batch and every parameter's gradient of it.
Run from this directory: /usr/bin/python3 export_digit_row_tagger.py
"""
import json

import numpy as np
import onnx
import torch
import torch.nn.functional as F
from torch import nn


class RowTagger(nn.Module):
    def __init__(self):
        super().__init__()
        self.gru = nn.GRU(8, 16, batch_first=True, bidirectional=True)
        self.tag = nn.Linear(32, 11)

    def forward(self, rows):
        states, _ = self.gru(rows / 16.0)
        return self.tag(states)


scans = np.loadtxt("digits_tokens.csv", delimiter=",", dtype=np.int64)
rows = torch.tensor(scans[:, :64], dtype=torch.float32).reshape(-1, 8, 8)
digits = torch.tensor(scans[:, 64])
tags = torch.where(rows.max(dim=2).values >= 8, digits[:, None] + 1, torch.zeros_like(digits)[:, None])

torch.manual_seed(61)
model = RowTagger()
optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
train = (torch.arange(len(scans)) < 1400) & (digits <= 4)
for _ in range(200):
    optimizer.zero_grad()
    loss = F.cross_entropy(model(rows[train]).transpose(1, 2), tags[train])
    loss.backward()
    optimizer.step()
model.eval()
with torch.no_grad():
    held = slice(1400, None)
    accuracy = (model(rows[held]).argmax(2) == tags[held]).float().mean().item()
    print("row cross-entropy", round(loss.item(), 3), "on its", int(train.sum()), "training scans of digits 0-4;",
          "row accuracy", round(accuracy, 3), "on the last 397 scans (all digits)")

torch.onnx.export(model, (rows[:2],), "pytorch_digit_row_tagger.onnx", input_names=["rows"], output_names=["tags"],
                  dynamic_axes={"rows": {0: "batch"}, "tags": {0: "batch"}}, opset_version=17, do_constant_folding=False)
onnx.checker.check_model(onnx.load("pytorch_digit_row_tagger.onnx"), full_check=True)

picked = [0, 7, 33, 101, 250, 999]
model.zero_grad()
logits = model(rows[picked])
loss = F.cross_entropy(logits.transpose(1, 2), tags[picked])
loss.backward()
with open("digit_row_tagger_expected.json", "w") as f:
    json.dump({
        "rows": rows[picked].flatten().tolist(),
        "classes": tags[picked].flatten().tolist(),
        "tags": logits.detach().flatten().tolist(),
        "loss": loss.item(),
        "gradients": {n: p.grad.flatten().tolist() for n, p in model.named_parameters()},
    }, f)
print("ops", sorted({n.op_type for n in onnx.load("pytorch_digit_row_tagger.onnx").graph.node}), "loss", round(loss.item(), 4))
