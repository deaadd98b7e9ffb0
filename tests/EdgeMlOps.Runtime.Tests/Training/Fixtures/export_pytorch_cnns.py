#!/usr/bin/python3
"""Exports the PyTorch models the train-step generator is checked on (Debian's python3-torch and python3-onnx).

  pytorch_cnn_mnist.onnx   an image classifier as a data scientist writes it for 28x28 digits: Conv2d, BatchNorm2d,
                           ReLU, MaxPool2d, Conv2d, ReLU, AdaptiveAvgPool2d, Flatten, Linear, Softmax; plus argmax.
  pytorch_kws_1d.onnx      a keyword-spotting-style 1-D CNN over 40 x 32 feature frames: Conv1d, BatchNorm1d, ReLU,
                           MaxPool1d, Conv1d (stride 2), ReLU, AdaptiveAvgPool1d, Flatten, Linear, LayerNorm, GELU, Linear.

Both are exported in eval mode (BatchNorm statistics frozen) at opset 17 with a dynamic batch axis, from fixed
seeds with non-trivial BatchNorm statistics. pytorch_expected.json holds probe inputs, PyTorch's outputs and
PyTorch's own gradients (autograd) of the mean cross-entropy against fixed labels, for every parameter, the
folded Conv's under the names the exporter gave it (computed on the model with the same fold).
Run from this directory: /usr/bin/python3 export_pytorch_cnns.py
"""
import copy as copy_module
import json

import onnx
from onnx import numpy_helper
import torch
from torch import nn


class DigitCnn(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 6, 3, padding=1), nn.BatchNorm2d(6), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(6, 8, 3, stride=2), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.head = nn.Linear(8, 10)

    def forward(self, x):
        logits = self.head(self.features(x))
        return torch.softmax(logits, dim=1), torch.argmax(logits, dim=1)


class KeywordCnn(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv1d(40, 16, 3, padding=1), nn.BatchNorm1d(16), nn.ReLU(), nn.MaxPool1d(2),
            nn.Conv1d(16, 16, 3, stride=2), nn.ReLU(), nn.AdaptiveAvgPool1d(1), nn.Flatten(),
            nn.Linear(16, 12), nn.LayerNorm(12), nn.GELU())
        self.head = nn.Linear(12, 5)

    def forward(self, x):
        logits = self.head(self.features(x))
        return torch.softmax(logits, dim=1), torch.argmax(logits, dim=1)


def settle_batch_norm(model, shape):
    """A few training-mode passes give the running statistics non-trivial values, then eval mode freezes them."""
    model.train()
    with torch.no_grad():
        for _ in range(5):
            model(torch.randn(*shape) * 2 + 0.5)
    model.eval()


def export(model, path, shape):
    torch.onnx.export(
        model, torch.randn(2, *shape[1:]), path, input_names=["features"], output_names=["probabilities", "label"],
        dynamic_axes={"features": {0: "batch"}, "probabilities": {0: "batch"}, "label": {0: "batch"}}, opset_version=17)
    onnx.checker.check_model(onnx.load(path), full_check=True)


def folded(model, path):
    """The model as the exporter wrote it: eval-mode BatchNorm folded into the Conv before it. Returns it and
    the ONNX initializer names of the folded Conv's weight and bias (found by value in the exported file)."""
    copy = copy_module.deepcopy(model)
    conv = torch.nn.utils.fusion.fuse_conv_bn_eval(copy.features[0], copy.features[1])
    copy.features[0], copy.features[1] = conv, nn.Identity()
    initializers = {t.name: numpy_helper.to_array(t) for t in onnx.load(path).graph.initializer}
    names = {}
    for field in ("weight", "bias"):
        value = getattr(conv, field).detach().numpy()
        names[field] = next(n for n, a in initializers.items() if a.shape == value.shape and abs(a - value).max() < 1e-6)
    return copy, names


def reference(model, path, shape, classes):
    x = torch.randn(*shape)
    labels = torch.arange(shape[0]) % classes
    fused, conv_names = folded(model, path)
    gradients = {}
    for net in (model, fused):
        probabilities, _ = net(x)
        loss = nn.functional.nll_loss(torch.log(probabilities), labels)
        net.zero_grad()
        loss.backward()
        for name, p in net.named_parameters():
            if name.startswith("features.0."):
                name = conv_names[name.split(".")[-1]] if net is fused else None
            if name is not None and name not in gradients:
                gradients[name] = p.grad.flatten().tolist()
    return {
        "features": x.flatten().tolist(), "shape": list(shape), "labels": labels.tolist(),
        "probabilities": probabilities.detach().flatten().tolist(), "loss": loss.item(),
        "gradients": gradients,
    }


torch.manual_seed(11)
expected = {}
for name, model, shape, classes in [
        ("pytorch_cnn_mnist", DigitCnn(), (4, 1, 28, 28), 10),
        ("pytorch_kws_1d", KeywordCnn(), (4, 40, 32), 5)]:
    settle_batch_norm(model, shape)
    export(model, name + ".onnx", shape)
    expected[name] = reference(model, name + ".onnx", shape, classes)

with open("pytorch_expected.json", "w") as f:
    json.dump(expected, f)
