#!/usr/bin/python3
"""The multi-task reference for pytorch_digit_completion.onnx (export_digit_completion.py): its weights read back from
the ONNX file into the PyTorch module, and one batch's loss over both outputs at once — softmax cross-entropy of the
digit on 'digit' plus half the mean squared error of the lower half on 'bottom' — with its gradient of every parameter
by PyTorch's autograd (the trunk's from both heads).

  digit_multitask_expected.json   six scans (upper halves), their digits and lower halves, the weighted loss, each
                                  term, and the gradients of trunk, classify and complete.
Run from this directory: /usr/bin/python3 export_digit_multitask.py
"""
import json

import numpy as np
import onnx
import torch
import torch.nn.functional as F
from onnx import numpy_helper
from torch import nn


class DigitCompletion(nn.Module):
    def __init__(self):
        super().__init__()
        self.trunk = nn.Linear(32, 64)
        self.classify = nn.Linear(64, 10)
        self.complete = nn.Linear(64, 32)

    def forward(self, top):
        h = F.relu(self.trunk(torch.flatten(top, 1) / 16.0))
        return self.classify(h), (self.complete(h) * 16.0).reshape(-1, 4, 8)


model = DigitCompletion()
weights = {t.name: torch.tensor(numpy_helper.to_array(t).copy()) for t in onnx.load("pytorch_digit_completion.onnx").graph.initializer}
model.load_state_dict({name: weights[name] for name, _ in model.named_parameters()})

scans = np.loadtxt("digits_tokens.csv", delimiter=",", dtype=np.int64)
pixels = torch.tensor(scans[:, :64], dtype=torch.float32).reshape(-1, 8, 8)
rows = [0, 7, 33, 101, 250, 999, 1450, 1700]
tops, bottoms, digits = pixels[rows, :4, :], pixels[rows, 4:, :], torch.tensor(scans[rows, 64])
logits, bottom = model(tops)
classes = F.cross_entropy(logits, digits)
completion = F.mse_loss(bottom, bottoms)
loss = classes + 0.5 * completion
loss.backward()
with open("digit_multitask_expected.json", "w") as f:
    json.dump({
        "top": tops.flatten().tolist(),
        "digits": digits.tolist(),
        "bottoms": bottoms.flatten().tolist(),
        "digit": logits.detach().flatten().tolist(),
        "bottom": bottom.detach().flatten().tolist(),
        "loss": loss.item(), "crossEntropy": classes.item(), "mse": completion.item(),
        "gradients": {n: p.grad.flatten().tolist() for n, p in model.named_parameters()},
    }, f)
print("loss", round(loss.item(), 5), "cross-entropy", round(classes.item(), 5), "mse", round(completion.item(), 5))
