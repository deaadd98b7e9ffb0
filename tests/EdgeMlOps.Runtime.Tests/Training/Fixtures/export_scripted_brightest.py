#!/usr/bin/python3
"""Exports a scripted model that reads its list of states at a position the data decides (Debian's python3-torch and
python3-onnx; scikit-learn's 8x8 digit scans in digits_tokens.csv):

  pytorch_scripted_brightest.onnx  rows float [batch, 8, 8] (a scan's rows, intensities 0-16) -> logits float
                                [batch, 10], exported from torch.jit.script: for each row of rows.unbind(1)
                                h = tanh(Linear(8, 16) named step of the row + Linear(16, 16) named carry of h), appended
                                to a list; then the state after the batch's brightest row, outs[brightest] with brightest
                                read from the data (SequenceAt at a position only the run knows), into Linear(16, 10) named
                                head. Trained (Adam, 20 epochs of batches of 16) on scans of digits 0-4 among the first
                                1,400.
  scripted_brightest_expected.json  six held-out scans brightest near the top and six brightest near the bottom
                                (each batch reads another state): PyTorch's logits, the cross-entropy and its gradient of
                                every parameter, and the position each batch read.
Run from this directory: /usr/bin/python3 export_scripted_brightest.py
"""
import json
from typing import List

import onnx
import torch
from torch import nn

from digit_fixtures import digits_0_to_4, gradient_record, load_digits, pretrain_in_batches


class ScriptedBrightest(nn.Module):
    def __init__(self):
        super().__init__()
        self.step = nn.Linear(8, 16)
        self.carry = nn.Linear(16, 16)
        self.head = nn.Linear(16, 10)

    def forward(self, rows):
        x = rows / 16.0
        h = torch.zeros(x.size(0), 16)
        outs: List[torch.Tensor] = []
        for row in x.unbind(1):
            h = torch.tanh(self.step(row) + self.carry(h))
            outs.append(h)
        brightest = int(rows.sum(2).mean(0).argmax())  # the batch's brightest row: only the data knows it
        return self.head(outs[brightest].reshape(x.size(0), 16))  # the list forgets its states' shape: say it


def brightest_row(batch):
    return int(batch.sum(2).mean(0).argmax())


rows, digits = load_digits((-1, 8, 8))

torch.manual_seed(71)
model = ScriptedBrightest()
pretrain_in_batches(model, rows, digits, torch.nonzero(digits_0_to_4(digits))[:, 0], 20, 16)

torch.onnx.export(torch.jit.script(model), (rows[:2],), "pytorch_scripted_brightest.onnx", input_names=["rows"], output_names=["logits"],
                  dynamic_axes={"rows": {0: "batch"}, "logits": {0: "batch"}}, opset_version=17, do_constant_folding=False)
exported = onnx.load("pytorch_scripted_brightest.onnx")
onnx.checker.check_model(exported, full_check=True)

held = torch.arange(len(digits)) >= 1400
own = rows.sum(2).argmax(1)  # each scan's brightest row
expected = {}
for name, mask in (("top", held & (own <= 2)), ("bottom", held & (own >= 5))):
    picked = [int(i) for i in torch.nonzero(mask)[:6, 0]]
    record = gradient_record(model, rows[picked], digits[picked])
    record["brightest"] = brightest_row(rows[picked])
    expected[name] = record
with open("scripted_brightest_expected.json", "w") as f:
    json.dump(expected, f)
print("ops", sorted({n.op_type for n in exported.graph.node}), "brightest rows", expected["top"]["brightest"], expected["bottom"]["brightest"],
      "losses", round(expected["top"]["loss"], 5), round(expected["bottom"]["loss"], 5))
