#!/usr/bin/python3
"""Exports a classifier the way torch.onnx.export writes it when no dynamic_axes are given — its batch fixed at the
example's 1 (Debian's python3-torch and python3-onnx; scikit-learn's 8x8 digit scans in digits_tokens.csv):

  pytorch_digit_batch_one.onnx   scan float [1, 1, 8, 8] (intensities 0-16) -> logits float [1, 10]. Conv2d(1, 8, 3,
                                 padding 1) named conv, ReLU, MaxPool 2, h.view(h.size(0), -1), Linear(128, 10) named
                                 head. Trained (Adam, 150 epochs) on scans of digits 0-4 among the first 1,400: the
                                 fleet fine-tunes it on every digit, one row at a time.
  digit_batch_one_expected.json  six scans: PyTorch's logits, the mean cross-entropy of the six as one batch and its
                                 gradient of every parameter by autograd, every parameter after two full-batch steps of
                                 torch.optim.SGD with momentum 0.9 at lr 0.05, and every parameter after three full-batch
                                 steps of torch.optim.Adam at lr 0.01 from the uploaded weights.
Run from this directory: /usr/bin/python3 export_digit_batch_one.py
"""
import json

import onnx
from onnx import numpy_helper
import torch
import torch.nn.functional as F
from torch import nn

from digit_fixtures import digits_0_to_4, load_digits, pretrain_full_batch


class DigitCnn(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 8, 3, padding=1)
        self.head = nn.Linear(128, 10)

    def forward(self, scan):
        h = F.max_pool2d(F.relu(self.conv(scan / 16.0)), 2)
        return self.head(h.view(h.size(0), -1))


images, digits = load_digits((-1, 1, 8, 8))

torch.manual_seed(47)
model = DigitCnn()
train = digits_0_to_4(digits)
pretrain_full_batch(model, images[train], digits[train], 150)
with torch.no_grad():
    held = slice(1400, None)
    print("accuracy", round((model(images[train]).argmax(1) == digits[train]).float().mean().item(), 3), "on its training scans of digits 0-4;",
          round((model(images[held]).argmax(1) == digits[held]).float().mean().item(), 3), "on the last 397 scans (all digits)")

# No dynamic_axes: the exporter fixes every axis at the example's, the batch at 1.
torch.onnx.export(model, (images[:1],), "pytorch_digit_batch_one.onnx", input_names=["scan"], output_names=["logits"], opset_version=17)
exported = onnx.load("pytorch_digit_batch_one.onnx")
onnx.checker.check_model(exported, full_check=True)

picked = [0, 7, 33, 101, 250, 999]
model.zero_grad()
logits = model(images[picked])
loss = F.cross_entropy(logits, digits[picked])
loss.backward()
gradients = {n: p.grad.flatten().tolist() for n, p in model.named_parameters()}

uploaded = {n: p.detach().clone() for n, p in model.named_parameters()}
momentum = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
for _ in range(2):
    momentum.zero_grad()
    F.cross_entropy(model(images[picked]), digits[picked]).backward()
    momentum.step()
momentumWeights = {n: p.detach().flatten().tolist() for n, p in model.named_parameters()}

with torch.no_grad():
    for n, p in model.named_parameters():
        p.copy_(uploaded[n])
adam = torch.optim.Adam(model.parameters(), lr=0.01)
for _ in range(3):
    adam.zero_grad()
    F.cross_entropy(model(images[picked]), digits[picked]).backward()
    adam.step()

with open("digit_batch_one_expected.json", "w") as f:
    json.dump({
        "scans": images[picked].flatten().tolist(),
        "digits": digits[picked].tolist(),
        "logits": logits.detach().flatten().tolist(),
        "loss": loss.item(),
        "gradients": gradients,
        "momentumWeights": momentumWeights,
        "adamWeights": {n: p.detach().flatten().tolist() for n, p in model.named_parameters()},
    }, f)
print("inputs", [(i.name, [d.dim_param or d.dim_value for d in i.type.tensor_type.shape.dim]) for i in exported.graph.input],
      "outputs", [(o.name, [d.dim_param or d.dim_value for d in o.type.tensor_type.shape.dim]) for o in exported.graph.output],
      "ops", [n.op_type for n in exported.graph.node], "loss", round(loss.item(), 4))
print("reshape shapes", [numpy_helper.to_array(t).tolist() for t in exported.graph.initializer if t.data_type == onnx.TensorProto.INT64]
      + [numpy_helper.to_array(a.t).tolist() for n in exported.graph.node if n.op_type == "Constant" for a in n.attribute])
