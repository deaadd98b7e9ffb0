#!/usr/bin/python3
"""Exports an image scorer whose monitoring watches a declared embedding (Debian's python3-torch).

  pytorch_image_scorer.onnx  image float [batch, 1, 28, 28] -> score float [batch, 1]: two convolutions, a global
                             average pool to a 16-value embedding, a linear head and a sigmoid. The embedding is an
                             intermediate value of the exported graph, not an output; its ONNX name is written below.
image_scorer_expected.json   the embedding's name, two probe images, and what PyTorch computes for them: the score
                             and the 16-value embedding (what a device exposing the embedding must read).
Run from this directory: /usr/bin/python3 export_image_scorer.py
"""
import json

import onnx
import torch
from torch import nn


class ImageScorer(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(1, 8, 3), nn.ReLU(), nn.Conv2d(8, 16, 3, stride=2), nn.ReLU(),
                                      nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.head = nn.Linear(16, 1)

    def forward(self, image):
        return torch.sigmoid(self.head(self.features(image)))


torch.manual_seed(21)
scorer = ImageScorer().eval()
images = torch.rand(2, 1, 28, 28)
torch.onnx.export(scorer, (images,), "pytorch_image_scorer.onnx", input_names=["image"], output_names=["score"],
                  dynamic_axes={"image": {0: "batch"}, "score": {0: "batch"}}, opset_version=17)
model = onnx.load("pytorch_image_scorer.onnx")
onnx.checker.check_model(model, full_check=True)
flatten = [n for n in model.graph.node if n.op_type == "Flatten"]
assert len(flatten) == 1, [n.op_type for n in model.graph.node]
with torch.no_grad():
    embedding = scorer.features(images)
    score = scorer(images)

json.dump({
    "embedding": flatten[0].output[0],
    "images": images.reshape(-1).tolist(),
    "score": score.reshape(-1).tolist(),
    "embeddingValues": embedding.reshape(-1).tolist(),
}, open("image_scorer_expected.json", "w"), indent=1)
print("embedding value:", flatten[0].output[0])
