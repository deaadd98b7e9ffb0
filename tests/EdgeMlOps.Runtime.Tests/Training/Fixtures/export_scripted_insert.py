#!/usr/bin/python3
"""Exports a scripted model that inserts each step's state into its list at a position the data decides (Debian's
python3-torch and python3-onnx; scikit-learn's 8x8 digit scans in digits_tokens.csv):

  pytorch_scripted_insert.onnx  rows float [batch, 8, 8] (a scan's rows, intensities 0-16) -> logits float [batch, 10],
                                exported from torch.jit.script: for each row i, h = tanh(Linear(8, 16) named step of the
                                row + Linear(16, 16) named carry of h), then outs.insert(p, h) with p = int(10 × the
                                batch's mean of that row) modulo (len(outs) + 1) — a position only the run knows (the
                                exporter writes a SequenceInsert whose position is computed in the Loop's body) — and
                                torch.stack(outs, 1) into Linear(128, 10) named head. Trained (Adam, 20 epochs of
                                batches of 16) on scans of digits 0-4 among the first 1,400.
  scripted_insert_expected.json six held-out scans: PyTorch's logits, the cross-entropy and every parameter's gradient
                                of it, and the order the states were stacked in.
Run from this directory: /usr/bin/python3 export_scripted_insert.py
"""
import json
from typing import List

import onnx
import torch
from torch import nn

from digit_fixtures import digits_0_to_4, gradient_record, load_digits, pretrain_in_batches


class ScriptedInsert(nn.Module):
    def __init__(self):
        super().__init__()
        self.step = nn.Linear(8, 16)
        self.carry = nn.Linear(16, 16)
        self.head = nn.Linear(128, 10)

    def forward(self, rows):
        x = rows / 16.0
        h = torch.zeros(x.size(0), 16)
        outs: List[torch.Tensor] = []
        for i in range(8):
            h = torch.tanh(self.step(x[:, i]) + self.carry(h))
            at = (x[:, i].mean() * 10.0).long() % (len(outs) + 1)
            outs.insert(int(at), h)  # where the data says
        return self.head(torch.stack(outs, 1).reshape(x.size(0), 128))

    def order(self, rows) -> List[int]:
        x = rows / 16.0
        order: List[int] = []
        for i in range(8):
            at = (x[:, i].mean() * 10.0).long() % (len(order) + 1)
            order.insert(int(at), i)
        return order


rows, digits = load_digits((-1, 8, 8))
torch.manual_seed(61)
model = ScriptedInsert()
pretrain_in_batches(model, rows, digits, torch.nonzero(digits_0_to_4(digits))[:, 0], 20, 16)
torch.onnx.export(torch.jit.script(model), (rows[:2],), "pytorch_scripted_insert.onnx", input_names=["rows"], output_names=["logits"],
                  dynamic_axes={"rows": {0: "batch"}, "logits": {0: "batch"}}, opset_version=17, do_constant_folding=False)
exported = onnx.load("pytorch_scripted_insert.onnx")
onnx.checker.check_model(exported, full_check=True)

picked = [1400, 1411, 1433, 1502, 1650, 1790]
expected = gradient_record(model, rows[picked], digits[picked])
expected["order"] = model.order(rows[picked])
with open("scripted_insert_expected.json", "w") as f:
    json.dump(expected, f)
with torch.no_grad():
    held = slice(1400, None)
    print("ops", sorted({n.op_type for n in exported.graph.node}), "loss", round(expected["loss"], 5), "order", expected["order"],
          "held-out accuracy", round((model(rows[held]).argmax(1) == digits[held]).float().mean().item(), 3))
