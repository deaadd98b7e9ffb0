#!/usr/bin/python3
"""Exports a colour-image scorer whose input normalization lives outside the graph, as torchvision pipelines put it.

  pytorch_color_scorer.onnx  image float [batch, 3, 16, 16] (already normalized) -> score float [batch, 1]: a
                             convolution, a global average pool and a linear head with a sigmoid.
color_scorer_expected.json  raw images in [0, 1], the ImageNet channel means and deviations the training pipeline
                            normalized with (torchvision.transforms.Normalize), and PyTorch's score for the raw images
                            normalized that way: what a device declaring that scaling must answer for the raw images.
Run from this directory: /usr/bin/python3 export_color_scorer.py
"""
import json

import onnx
import torch
from torch import nn

MEAN = [0.485, 0.456, 0.406]
STD = [0.229, 0.224, 0.225]


class ColorScorer(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 6, 3)
        self.head = nn.Linear(6, 1)

    def forward(self, image):
        pooled = torch.relu(self.conv(image)).mean(dim=(2, 3))
        return torch.sigmoid(self.head(pooled))


torch.manual_seed(33)
scorer = ColorScorer().eval()
raw = torch.rand(2, 3, 16, 16)
normalized = (raw - torch.tensor(MEAN).view(1, 3, 1, 1)) / torch.tensor(STD).view(1, 3, 1, 1)
torch.onnx.export(scorer, (normalized,), "pytorch_color_scorer.onnx", input_names=["image"], output_names=["score"],
                  dynamic_axes={"image": {0: "batch"}, "score": {0: "batch"}}, opset_version=17)
onnx.checker.check_model(onnx.load("pytorch_color_scorer.onnx"), full_check=True)
with torch.no_grad():
    score = scorer(normalized)
    unnormalized = scorer(raw)

json.dump({
    "mean": MEAN,
    "std": STD,
    "images": raw.reshape(-1).tolist(),
    "score": score.reshape(-1).tolist(),
    "scoreWithoutScaling": unnormalized.reshape(-1).tolist(),
}, open("color_scorer_expected.json", "w"), indent=1)
print(score.reshape(-1).tolist(), unnormalized.reshape(-1).tolist())
