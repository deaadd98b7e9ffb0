#!/usr/bin/python3
"""Exports two models over scikit-learn's 8x8 digit scans (digits_tokens.csv; Debian's python3-torch and python3-onnx)
built from the layers mobile and anomaly-detection models use beyond plain CNNs, for gradient checks against PyTorch.

  pytorch_mobile_digits.onnx  pixels float [batch, 1, 8, 8] (intensities 0-16, divided by 16 inside) -> F.pad, Conv2d,
                              Hardswish, depthwise Conv2d, PReLU per channel, a squeeze-and-excitation gate
                              (mean, 1x1 Conv, ReLU, 1x1 Conv, Hardsigmoid, multiply), torch.chunk and torch.cat (Split,
                              Concat), 1x1 Conv, ELU, amax over the image (ReduceMax), torch.where leaky gate, Linear
                              named head -> logits float [batch, 10]. Untrained weights (no BatchNorm: the exporter
                              folds it into the Conv under a generated name, which export_pytorch_cnns.py covers).
  pytorch_conv_autoencoder.onnx  pixels float [batch, 1, 8, 8] -> Conv2d stride 2, ELU, Conv2d stride 2, ReLU,
                              ConvTranspose2d stride 2 (output_padding 1), ELU, ConvTranspose2d -> reconstruction
                              float [batch, 64] in intensity units: an anomaly detector's autoencoder, trained (Adam,
                              200 epochs) to reconstruct the scans of digits 0-4 among the first 1,400 (what is normal
                              where it was made); the fleet's devices, which see every digit, fine-tune it.
  pytorch_mobile_expected.json  for each file: six scans, PyTorch's outputs, its loss (mean cross-entropy against the
                              digits; mean squared reconstruction error against the scan itself) and its gradients
                              (autograd) for every parameter.
Exported at opset 17 with a dynamic batch, without constant folding so every parameter keeps its PyTorch name.
Run from this directory: /usr/bin/python3 export_pytorch_mobile.py
"""
import json

import numpy as np
import onnx
import torch
from torch import nn
from torch.nn import functional as F


class MobileBlock(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(1, 8, 3)
        self.depthwise = nn.Conv2d(8, 8, 3, padding=1, groups=8)
        self.prelu = nn.PReLU(8)
        self.squeeze = nn.Conv2d(8, 4, 1)
        self.excite = nn.Conv2d(4, 8, 1)
        self.expand = nn.Conv2d(8, 16, 1)
        self.head = nn.Linear(16, 10)

    def forward(self, pixels):
        x = F.pad(pixels / 16.0, (1, 1, 1, 1))
        x = F.hardswish(self.stem(x))
        x = self.prelu(self.depthwise(x))
        gate = F.hardsigmoid(self.excite(F.relu(self.squeeze(x.mean(dim=(2, 3), keepdim=True)))))
        x = x * gate
        a, b = torch.chunk(x, 2, dim=1)
        x = F.elu(self.expand(torch.cat([b, a], dim=1)))
        x = torch.amax(x, dim=(2, 3))
        x = torch.where(x > 0, x, 0.1 * x)
        return self.head(x)


class ConvAutoencoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.enc1 = nn.Conv2d(1, 4, 3, stride=2, padding=1)
        self.enc2 = nn.Conv2d(4, 8, 3, stride=2, padding=1)
        self.dec1 = nn.ConvTranspose2d(8, 4, 3, stride=2, padding=1, output_padding=1)
        self.dec2 = nn.ConvTranspose2d(4, 1, 3, stride=2, padding=1, output_padding=1)

    def forward(self, pixels):
        x = F.relu(self.enc2(F.elu(self.enc1(pixels / 16.0))))
        x = self.dec2(F.elu(self.dec1(x)))
        return torch.flatten(x, 1) * 16.0


scans = np.loadtxt("digits_tokens.csv", delimiter=",", dtype=np.int64)
pixels_all = torch.tensor(scans[:, :64], dtype=torch.float32).reshape(-1, 1, 8, 8)
digits = torch.tensor(scans[:, 64])
rows = [0, 7, 33, 101, 250, 999]


def export(model, name, output):
    torch.onnx.export(model, (pixels_all[:2],), name, input_names=["pixels"], output_names=[output],
                      dynamic_axes={"pixels": {0: "batch"}, output: {0: "batch"}}, opset_version=17, do_constant_folding=False)
    onnx.checker.check_model(onnx.load(name), full_check=True)


def expected(model, loss_of):
    model.zero_grad()
    out = model(pixels_all[rows])
    loss = loss_of(out)
    loss.backward()
    return {
        "pixels": pixels_all[rows].flatten().tolist(),
        "labels": digits[rows].tolist(),
        "outputs": out.detach().flatten().tolist(),
        "loss": loss.item(),
        "gradients": {n: p.grad.flatten().tolist() for n, p in model.named_parameters()},
    }


torch.manual_seed(31)
mobile = MobileBlock()
with torch.no_grad():
    mobile.prelu.weight.uniform_(0.1, 0.4)
mobile.eval()
export(mobile, "pytorch_mobile_digits.onnx", "logits")

torch.manual_seed(32)
autoencoder = ConvAutoencoder()
optimizer = torch.optim.Adam(autoencoder.parameters(), lr=0.01)
train = pixels_all[:1400][digits[:1400] <= 4]
for _ in range(200):
    optimizer.zero_grad()
    loss = F.mse_loss(autoencoder(train), train.flatten(1))
    loss.backward()
    optimizer.step()
autoencoder.eval()
with torch.no_grad():
    held = pixels_all[1400:]
    print("autoencoder: reconstruction MSE", round(loss.item(), 3), "on its", len(train), "training scans of digits 0-4;",
          round(F.mse_loss(autoencoder(held), held.flatten(1)).item(), 3), "on the last 397 scans (all digits)")
export(autoencoder, "pytorch_conv_autoencoder.onnx", "reconstruction")

with open("pytorch_mobile_expected.json", "w") as f:
    json.dump({
        "mobile": expected(mobile, lambda out: F.cross_entropy(out, digits[rows])),
        "autoencoder": expected(autoencoder, lambda out: F.mse_loss(out, pixels_all[rows].flatten(1))),
    }, f)
for name in ("pytorch_mobile_digits.onnx", "pytorch_conv_autoencoder.onnx"):
    print(name, "ops", sorted({n.op_type for n in onnx.load(name).graph.node}))
