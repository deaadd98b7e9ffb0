#!/usr/bin/python3
"""Exports a small text classifier over token ids (Debian's python3-torch and python3-onnx): the int64-input case.

  pytorch_text_ids.onnx  tokens int64 [batch, 12] -> Embedding(50, 8) -> mean over the tokens -> Linear(8, 3) named
                         head -> logits float [batch, 3] (no softmax: the device applies it). Opset 17, dynamic batch.
pytorch_text_expected.json holds probe token rows, PyTorch's softmax of the logits, and PyTorch's gradients (autograd)
of the mean cross-entropy against fixed labels for every parameter.
Run from this directory: /usr/bin/python3 export_pytorch_text.py
"""
import json

import onnx
import torch
from torch import nn


class TextClassifier(nn.Module):
    def __init__(self):
        super().__init__()
        self.embedding = nn.Embedding(50, 8)
        self.head = nn.Linear(8, 3)

    def forward(self, tokens):
        return self.head(self.embedding(tokens).mean(dim=1))


torch.manual_seed(11)
model = TextClassifier().eval()
tokens = torch.randint(0, 50, (6, 12))
labels = torch.tensor([0, 1, 2, 1, 0, 2])
torch.onnx.export(model, tokens[:2], "pytorch_text_ids.onnx", input_names=["tokens"], output_names=["logits"],
                  dynamic_axes={"tokens": {0: "batch"}, "logits": {0: "batch"}}, opset_version=17)
onnx.checker.check_model(onnx.load("pytorch_text_ids.onnx"), full_check=True)

logits = model(tokens)
loss = nn.functional.cross_entropy(logits, labels)
loss.backward()
expected = {
    "tokens": tokens.flatten().tolist(),
    "shape": list(tokens.shape),
    "labels": labels.tolist(),
    "probabilities": torch.softmax(logits, dim=1).detach().flatten().tolist(),
    "loss": loss.item(),
    "gradients": {name: p.grad.flatten().tolist() for name, p in model.named_parameters()},
}
with open("pytorch_text_expected.json", "w") as f:
    json.dump(expected, f)
print("wrote pytorch_text_ids.onnx and pytorch_text_expected.json; loss", round(loss.item(), 4))
