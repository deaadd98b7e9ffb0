#!/usr/bin/python3
"""Exports a spatial transformer network — PyTorch's tutorial architecture (Jaderberg et al. 2015) at the size of
scikit-learn's 8x8 digit scans in digits_tokens.csv (Debian's python3-torch and python3-onnx):

  pytorch_spatial_transformer.onnx  scan float [batch, 1, 8, 8] (intensities 0-16) -> logits float [batch, 10]. A
                                    localization net — Conv2d(1, 4, 3, padding 1) named loc_conv, ReLU, Linear(256, 6)
                                    named loc_fc, starting at the identity transform — predicts an affine transform;
                                    its sampling grid (the base grid times the transform, as F.affine_grid computes it
                                    with align_corners=False; this PyTorch cannot export affine_grid) resamples the scan
                                    with F.grid_sample (GridSample, bilinear, zeros padding); then Conv2d(1, 8, 3,
                                    padding 1) named conv, ReLU, MaxPool 2, Linear(128, 10) named head. Trained (Adam,
                                    150 epochs) on scans of digits 0-4 among the first 1,400: the fleet fine-tunes it on
                                    every digit. The localization net's gradient reaches it only through the grid.
  spatial_transformer_expected.json six scans: PyTorch's logits, the mean cross-entropy and its gradient of every
                                    parameter by autograd.
Run from this directory: /usr/bin/python3 export_spatial_transformer.py
"""
import json

import onnx
import torch
import torch.nn.functional as F
from torch import nn

from digit_fixtures import digits_0_to_4, gradient_record, load_digits, pretrain_full_batch


class SpatialTransformer(nn.Module):
    def __init__(self):
        super().__init__()
        self.loc_conv = nn.Conv2d(1, 4, 3, padding=1)
        self.loc_fc = nn.Linear(64, 6)
        with torch.no_grad():
            self.loc_fc.weight.zero_()
            self.loc_fc.bias.zero_()
        centres = (torch.arange(8, dtype=torch.float32) * 2 + 1) / 8 - 1  # pixel centres in [-1, 1]: align_corners=False
        ys, xs = torch.meshgrid(centres, centres, indexing="ij")
        self.register_buffer("identity", torch.tensor([1.0, 0, 0, 0, 1, 0]))
        self.register_buffer("base", torch.stack([xs, ys, torch.ones_like(xs)], -1).view(64, 3))
        self.conv = nn.Conv2d(1, 8, 3, padding=1)
        self.head = nn.Linear(128, 10)

    def forward(self, scan):
        x = scan / 16.0
        offset = torch.tanh(self.loc_fc(F.max_pool2d(F.relu(self.loc_conv(x)), 2).view(x.size(0), -1)))
        theta = (self.identity + 0.25 * offset).view(-1, 2, 3)  # a transform within ±0.25 of the identity
        grid = torch.matmul(self.base, theta.transpose(1, 2)).view(-1, 8, 8, 2)  # F.affine_grid(theta, x.size())
        x = F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
        h = F.max_pool2d(F.relu(self.conv(x)), 2)
        return self.head(h.view(h.size(0), -1))


images, digits = load_digits((-1, 1, 8, 8))

torch.manual_seed(53)
model = SpatialTransformer()
with torch.no_grad():  # the identity grid resamples a scan unchanged, as F.affine_grid's would
    assert torch.allclose(F.grid_sample(images[:4] / 16, torch.matmul(model.base, torch.eye(3)[:2].t()).view(-1, 8, 8, 2).expand(4, 8, 8, 2), align_corners=False), images[:4] / 16, atol=1e-6)
train = digits_0_to_4(digits)
pretrain_full_batch(model, images[train], digits[train], 60, weight_decay=1e-3)
with torch.no_grad():
    held = slice(1400, None)
    print("accuracy", round((model(images[train]).argmax(1) == digits[train]).float().mean().item(), 3), "on its training scans of digits 0-4;",
          round((model(images[held]).argmax(1) == digits[held]).float().mean().item(), 3), "on the last 397 scans (all digits)")

torch.onnx.export(model, (images[:2],), "pytorch_spatial_transformer.onnx", input_names=["scan"], output_names=["logits"],
                  dynamic_axes={"scan": {0: "batch"}, "logits": {0: "batch"}}, opset_version=17)
exported = onnx.load("pytorch_spatial_transformer.onnx")
onnx.checker.check_model(exported, full_check=True)

picked = [1400, 1407, 1433, 1501, 1650, 1790]
record = gradient_record(model, images[picked], digits[picked])
with open("spatial_transformer_expected.json", "w") as f:
    json.dump(record, f)
print("ops", sorted({n.op_type for n in exported.graph.node}), "loss", round(record["loss"], 5),
      "largest loc_fc gradient", float(model.loc_fc.weight.grad.abs().max()))
