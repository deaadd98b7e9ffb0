#!/usr/bin/python3
"""Exports a classifier with a bool context input (Debian's python3-torch and python3-onnx): sensor readings and a mask
saying which readings are valid, as a device with flaky sensors sends them.

  pytorch_masked_readings.onnx   readings float [batch, 8] and valid bool [batch, 8] -> torch.where(valid, readings, 0),
                                 Linear(8, 16) named hidden, ReLU, Linear(16, 3) named head -> logits float [batch, 3].
                                 Untrained weights; opset 17, dynamic batch, no constant folding (names kept).
  masked_readings_expected.json  six rows of readings (row 4 of six digit scans, intensities 0-16) and random masks,
                                 labels, PyTorch's softmax of the logits, the mean cross-entropy and its gradients
                                 (autograd) for every parameter.
Run from this directory: /usr/bin/python3 export_masked_readings.py
"""
import json

import numpy as np
import onnx
import torch
from torch import nn


class MaskedReadings(nn.Module):
    def __init__(self):
        super().__init__()
        self.hidden = nn.Linear(8, 16)
        self.head = nn.Linear(16, 3)

    def forward(self, readings, valid):
        x = torch.where(valid, readings, torch.zeros_like(readings))
        return self.head(torch.relu(self.hidden(x / 16.0)))


torch.manual_seed(51)
model = MaskedReadings().eval()
scans = np.loadtxt("digits_tokens.csv", delimiter=",", dtype=np.int64)
rows = [0, 7, 33, 101, 250, 999]
readings = torch.tensor(scans[rows, 32:40], dtype=torch.float32)
valid = torch.rand(6, 8) > 0.3
labels = torch.tensor([0, 1, 2, 1, 0, 2])
torch.onnx.export(model, (readings[:2], valid[:2]), "pytorch_masked_readings.onnx", input_names=["readings", "valid"], output_names=["logits"],
                  dynamic_axes={"readings": {0: "batch"}, "valid": {0: "batch"}, "logits": {0: "batch"}}, opset_version=17, do_constant_folding=False)
onnx.checker.check_model(onnx.load("pytorch_masked_readings.onnx"), full_check=True)
logits = model(readings, valid)
loss = nn.functional.cross_entropy(logits, labels)
loss.backward()
with open("masked_readings_expected.json", "w") as f:
    json.dump({
        "readings": readings.flatten().tolist(),
        "valid": [1.0 if v else 0.0 for v in valid.flatten().tolist()],
        "labels": labels.tolist(),
        "probabilities": torch.softmax(logits, dim=1).detach().flatten().tolist(),
        "loss": loss.item(),
        "gradients": {n: p.grad.flatten().tolist() for n, p in model.named_parameters()},
    }, f)
m = onnx.load("pytorch_masked_readings.onnx")
print("inputs", [(i.name, i.type.tensor_type.elem_type) for i in m.graph.input], "ops", sorted({n.op_type for n in m.graph.node}))
