#!/usr/bin/python3
"""Exports a binary classifier with one sigmoid score per row, as anomaly and wake-word detectors are (python3-torch).

  pytorch_binary_detector.onnx  features float [batch, 8] -> score float [batch, 1]: Linear(8, 16) named hidden, ReLU,
                                Linear(16, 1) named head, Sigmoid. Seeded initial weights, not trained: the fleet's
                                federated fine-tuning starts near chance.
  pytorch_binary_logit.onnx     the same weights without the Sigmoid: score is the logit.
  binary_detector_expected.json six probe rows and their labels (0/1); the scores PyTorch computes for them; and every
                                parameter's gradient of the mean binary cross-entropy over the six rows as one batch, by
                                PyTorch's autograd — what a device's generated train step must follow from the same rows.
Run from this directory: /usr/bin/python3 export_binary_detector.py
"""
import json

import onnx
import torch
from torch import nn


class Detector(nn.Module):
    def __init__(self, sigmoid):
        super().__init__()
        self.hidden = nn.Linear(8, 16)
        self.head = nn.Linear(16, 1)
        self.sigmoid = sigmoid

    def forward(self, features):
        z = self.head(torch.relu(self.hidden(features)))
        return torch.sigmoid(z) if self.sigmoid else z


torch.manual_seed(8)
detector = Detector(sigmoid=True).eval()
logit = Detector(sigmoid=False).eval()
logit.load_state_dict(detector.state_dict())
rows = torch.randn(6, 8)
labels = torch.tensor([0, 1, 1, 0, 1, 0])
for model, name in ((detector, "pytorch_binary_detector.onnx"), (logit, "pytorch_binary_logit.onnx")):
    torch.onnx.export(model, (rows,), name, input_names=["features"], output_names=["score"],
                      dynamic_axes={"features": {0: "batch"}, "score": {0: "batch"}}, opset_version=17)
    onnx.checker.check_model(onnx.load(name), full_check=True)

with torch.no_grad():
    scores = detector(rows)
    logits = logit(rows)
trained = Detector(sigmoid=False)
trained.load_state_dict(detector.state_dict())
loss = nn.functional.binary_cross_entropy_with_logits(trained(rows), labels.float().unsqueeze(1))
loss.backward()
gradients = {name: p.grad.flatten().tolist() for name, p in trained.named_parameters()}
with open("binary_detector_expected.json", "w") as f:
    json.dump({"rows": rows.flatten().tolist(), "labels": labels.tolist(), "scores": scores.flatten().tolist(),
               "logits": logits.flatten().tolist(), "loss": loss.item(), "gradients": gradients}, f)
print("scores", [round(s, 4) for s in scores.flatten().tolist()], "loss", round(loss.item(), 5))
