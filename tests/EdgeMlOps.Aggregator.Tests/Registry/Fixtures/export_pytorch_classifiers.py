#!/usr/bin/python3
"""Exports the PyTorch classifiers the upload tests use (Debian's python3-torch 1.13 and python3-onnx).

Both are a 4-3-2 dense classifier written the way a data scientist would, with the weights laid out
as EdgeMlOps names them (layer{l}.weight [in, out], layer{l}.bias [out]) and the 'edgemlops.spec'
metadata added after export:

  pytorch_mlp.onnx            Linear, ReLU, Linear: the same function as the graph EdgeMlOps serves
                              (exported as MatMul + Add, not Gemm), so it is admitted.
  pytorch_mlp_layernorm.onnx  Linear, LayerNorm, ReLU, Linear: a different function; serving the
                              rebuilt dense graph would drop the LayerNorm, so it is refused.

pytorch_expected.json holds probe rows and PyTorch's own probabilities for pytorch_mlp.onnx.
Run from this directory: /usr/bin/python3 export_pytorch_classifiers.py
"""
import json

import onnx
import torch
from torch import nn


class Dense(nn.Module):
    def __init__(self, inputs, outputs):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(inputs, outputs) * 0.8)
        self.bias = nn.Parameter(torch.randn(outputs) * 0.2)

    def forward(self, x):
        return x @ self.weight + self.bias


class Classifier(nn.Module):
    def __init__(self, layer_norm):
        super().__init__()
        self.layer0 = Dense(4, 3)
        self.norm = nn.LayerNorm(3) if layer_norm else nn.Identity()
        if layer_norm:
            with torch.no_grad():
                self.norm.weight.copy_(torch.tensor([1.5, 0.7, 2.0]))
                self.norm.bias.copy_(torch.tensor([0.3, -0.4, 0.1]))
        self.layer1 = Dense(3, 2)

    def forward(self, features):
        logits = self.layer1(torch.relu(self.norm(self.layer0(features))))
        return torch.softmax(logits, dim=1), torch.argmax(logits, dim=1)


def export(model, path):
    model.eval()
    torch.onnx.export(
        model, torch.randn(2, 4), path, input_names=["features"], output_names=["probabilities", "label"],
        dynamic_axes={"features": {0: "batch"}, "probabilities": {0: "batch"}, "label": {0: "batch"}}, opset_version=17)
    graph = onnx.load(path)
    graph.metadata_props.add(key="edgemlops.spec", value="mlp-4-3-2")
    onnx.checker.check_model(graph)
    onnx.save(graph, path)


torch.manual_seed(7)
plain = Classifier(layer_norm=False)
export(plain, "pytorch_mlp.onnx")
export(Classifier(layer_norm=True), "pytorch_mlp_layernorm.onnx")

rows = torch.randn(5, 4)
with torch.no_grad():
    probabilities, _ = plain(rows)
with open("pytorch_expected.json", "w") as f:
    json.dump({"features": rows.flatten().tolist(), "probabilities": probabilities.flatten().tolist()}, f, indent=1)
