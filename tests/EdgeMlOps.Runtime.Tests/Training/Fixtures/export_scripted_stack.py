#!/usr/bin/python3
"""Exports a scripted model that collects a value per step in a list and stacks it (Debian's python3-torch and
python3-onnx; scikit-learn's 8x8 digit scans in digits_tokens.csv):

  pytorch_scripted_stack.onnx   rows float [batch, 8, 8] (a scan's rows, intensities 0-16) -> logits float [batch, 10],
                                exported from torch.jit.script: for each row of rows.unbind(1) (SplitToSequence, a Loop
                                over its SequenceLength, SequenceAt in the body) h = tanh(Linear(8, 16) named step of the
                                row + Linear(16, 16) named carry of h), appended to a list (SequenceInsert), then
                                torch.stack(outs, 1) (ConcatFromSequence) and Linear(128, 10) named head. Trained
                                (Adam, 20 epochs of batches of 16) on scans of digits 0-4 among the first 1,400.
  scripted_stack_expected.json  six held-out scans: PyTorch's logits, the mean cross-entropy and its gradient of every
                                parameter by autograd.
  pytorch_scripted_stack_break.onnx  the same cell stopping at the first faint row (a break before the append): how
                                many states the list holds only the run knows; the mean of the stacked states, repeated
                                8 times, into the head (untrained weights).
  scripted_stack_break_expected.json  through it, two held-out scans whose rows grow faint at row 2, two at row 5, and
                                the six scans above (no row faint on average): PyTorch's logits, cross-entropy, every
                                parameter's gradient, and how many states the loop appended before the break.
Run from this directory: /usr/bin/python3 export_scripted_stack.py
"""
import json
from typing import List

import onnx
import torch
from torch import nn

from digit_fixtures import digits_0_to_4, gradient_record, load_digits, pretrain_in_batches


class ScriptedStack(nn.Module):
    def __init__(self):
        super().__init__()
        self.step = nn.Linear(8, 16)
        self.carry = nn.Linear(16, 16)
        self.head = nn.Linear(128, 10)

    def forward(self, rows):
        x = rows / 16.0
        h = torch.zeros(x.size(0), 16)
        outs: List[torch.Tensor] = []
        for row in x.unbind(1):
            h = torch.tanh(self.step(row) + self.carry(h))
            outs.append(h)
        return self.head(torch.stack(outs, 1).reshape(x.size(0), 128))


rows, digits = load_digits((-1, 8, 8))

torch.manual_seed(67)
model = ScriptedStack()
pretrain_in_batches(model, rows, digits, torch.nonzero(digits_0_to_4(digits))[:, 0], 20, 16)
with torch.no_grad():
    held = slice(1400, None)
    print("accuracy", round((model(rows[held]).argmax(1) == digits[held]).float().mean().item(), 3), "on the last 397 scans (all digits)")

torch.onnx.export(torch.jit.script(model), (rows[:2],), "pytorch_scripted_stack.onnx", input_names=["rows"], output_names=["logits"],
                  dynamic_axes={"rows": {0: "batch"}, "logits": {0: "batch"}}, opset_version=17, do_constant_folding=False)
exported = onnx.load("pytorch_scripted_stack.onnx")
onnx.checker.check_model(exported, full_check=True)

picked = [1400, 1411, 1433, 1502, 1650, 1790]
record = gradient_record(model, rows[picked], digits[picked])
with open("scripted_stack_expected.json", "w") as f:
    json.dump(record, f)
print("ops", sorted({n.op_type for n in exported.graph.node}), "loss", round(record["loss"], 5))


class ScriptedStackBreak(ScriptedStack):
    def forward(self, rows):
        x = rows / 16.0
        h = torch.zeros(x.size(0), 16)
        outs: List[torch.Tensor] = [h]
        for row in x.unbind(1):
            if bool(row.mean() < 0.1):  # a faint row ends the scan
                break
            h = torch.tanh(self.step(row) + self.carry(h))
            outs.append(h)
        return self.head(torch.stack(outs, 1).mean(1).repeat(1, 8))


    def appended(self, rows) -> int:
        count = 0
        for row in (rows / 16.0).unbind(1):
            if bool(row.mean() < 0.1):
                break
            count += 1
        return count


torch.manual_seed(68)
stack_break = ScriptedStackBreak()
torch.onnx.export(torch.jit.script(stack_break), (rows[:2],), "pytorch_scripted_stack_break.onnx", input_names=["rows"], output_names=["logits"],
                  dynamic_axes={"rows": {0: "batch"}, "logits": {0: "batch"}}, opset_version=17, do_constant_folding=False)
onnx.checker.check_model(onnx.load("pytorch_scripted_stack_break.onnx"), full_check=True)
break_records = {}
for name, batch in [("faint_row_2", [1420, 1489]), ("faint_row_5", [1406, 1444]), ("no_faint_row", picked)]:
    break_records[name] = gradient_record(stack_break, rows[batch], digits[batch])
    break_records[name]["appended"] = stack_break.appended(rows[batch])
    print("break,", name, "loss", round(break_records[name]["loss"], 5), "states appended", break_records[name]["appended"])
with open("scripted_stack_break_expected.json", "w") as f:
    json.dump(break_records, f)
