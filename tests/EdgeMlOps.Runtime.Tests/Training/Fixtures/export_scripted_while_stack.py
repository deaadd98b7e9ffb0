#!/usr/bin/python3
"""Exports a scripted model whose while loop, ended by the data, keeps every refinement in a list it stacks (Debian's
python3-torch and python3-onnx; scikit-learn's 8x8 digit scans in digits_tokens.csv):

  pytorch_scripted_while_stack.onnx  pixels float [batch, 64] (intensities 0-16) -> logits float [batch, 10], exported
                                     from torch.jit.script: Linear(64, 32) named trunk; `states = [h]`, then
                                     `while h.abs().max() > 2:` — h = h / 2 + tanh(refine(h)) / 4, Linear(32, 32) named
                                     refine, each h appended to states — as often as the data needs; then the mean of
                                     torch.stack(states) (as many as the run made) into Linear(32, 10) named head. The
                                     exporter writes a Loop with no useful trip count, the condition computed in its
                                     body and the list carried through it (SequenceInsert), then a ConcatFromSequence.
                                     Trained (Adam, 20 epochs of batches of 16) on scans of digits 0-4 among the first 1,400.
  scripted_while_stack_expected.json six held-out scans: PyTorch's logits, the cross-entropy and every parameter's
                                     gradient of it, and how many times the loop ran on them.
Run from this directory: /usr/bin/python3 export_scripted_while_stack.py
"""
import json
from typing import List

import onnx
import torch
from torch import nn

from digit_fixtures import digits_0_to_4, gradient_record, load_digits, pretrain_in_batches

pixels, digits = load_digits((-1, 64))


class ScriptedWhileStack(nn.Module):
    def __init__(self):
        super().__init__()
        self.trunk = nn.Linear(64, 32)
        self.refine = nn.Linear(32, 32)
        self.head = nn.Linear(32, 10)

    def forward(self, pixels):
        h = self.trunk(pixels / 4.0)
        states: List[torch.Tensor] = [h]
        while bool(h.abs().max() > 2.0):  # the data decides how many refinements, and so how many states are stacked
            h = h / 2 + torch.tanh(self.refine(h)) / 4
            states.append(h)
        return self.head(torch.stack(states).mean(0))

    def trips(self, pixels) -> int:
        h = self.trunk(pixels / 4.0)
        count = 0
        while bool(h.abs().max() > 2.0):
            h = h / 2 + torch.tanh(self.refine(h)) / 4
            count += 1
        return count


torch.manual_seed(71)
model = ScriptedWhileStack()
train = torch.nonzero(digits_0_to_4(digits))[:, 0]
pretrain_in_batches(model, pixels, digits, train, 20, 16)

torch.onnx.export(torch.jit.script(model), (pixels[:2],), "pytorch_scripted_while_stack.onnx", input_names=["pixels"], output_names=["logits"],
                  dynamic_axes={"pixels": {0: "batch"}, "logits": {0: "batch"}}, opset_version=17, do_constant_folding=False)
exported = onnx.load("pytorch_scripted_while_stack.onnx")
onnx.checker.check_model(exported, full_check=True)

rows = [1400, 1450, 1500, 1550, 1600, 1650]
with torch.no_grad():
    trips = model.trips(pixels[rows])
    whole = [model.trips(pixels[i:i + 1]) for i in range(1400, len(digits))]
expected = gradient_record(model, pixels[rows], digits[rows])
expected["trips"] = trips
with open("scripted_while_stack_expected.json", "w") as f:
    json.dump(expected, f)
print("ops", sorted({n.op_type for n in exported.graph.node}), "loss", round(expected["loss"], 5), "trips on the batch", trips,
      "trips per held-out scan", min(whole), "to", max(whole))
