#!/usr/bin/python3
"""Exports a device-side preprocessing graph with Debian's python3-torch (torch.onnx.export): a log-mel front end.

  pytorch_mel_frontend.onnx  wave float [batch, 8192] (about 1 s of 8 kHz audio) -> features float [batch, 40, 32]:
                             32 frames of 256 samples, a Hann window, the power spectrum (a DFT as two MatMuls, 129
                             bins), 40 triangular mel filters and log(x + 1e-6), laid out as pytorch_kws_1d.onnx takes
                             its input (40 bins x 32 frames). Uploaded beside that model as ModelInterface:Preprocess.
  mel_frontend_expected.json PyTorch's features for two waves the tests compute from the same formula
                             (wave(n) = a sin(2 pi f1 n / 8000) + b sin(2 pi f2 n / 8000 + 0.3), in float64, stored as float32).
Run from this directory: /usr/bin/python3 export_mel_frontend.py
"""
import json

import numpy as np
import onnx
import torch
from torch import nn

RATE, SAMPLES, FRAME, MELS = 8000, 8192, 256, 40
FRAMES, BINS = SAMPLES // FRAME, FRAME // 2 + 1


def mel(hz):
    return 2595.0 * np.log10(1.0 + hz / 700.0)


def filterbank():
    edges = 700.0 * (10 ** (np.linspace(mel(0.0), mel(RATE / 2), MELS + 2) / 2595.0) - 1.0)
    freqs = np.linspace(0.0, RATE / 2, BINS)
    bank = np.zeros((BINS, MELS))
    for m in range(MELS):
        lo, mid, hi = edges[m], edges[m + 1], edges[m + 2]
        bank[:, m] = np.clip(np.minimum((freqs - lo) / (mid - lo), (hi - freqs) / (hi - mid)), 0.0, None)
    return bank


class MelFrontEnd(nn.Module):
    def __init__(self):
        super().__init__()
        n = np.arange(FRAME)[:, None]
        k = np.arange(BINS)[None, :]
        hann = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(FRAME) / FRAME)
        self.register_buffer("cos", torch.tensor(hann[:, None] * np.cos(2 * np.pi * n * k / FRAME), dtype=torch.float32))
        self.register_buffer("sin", torch.tensor(hann[:, None] * np.sin(2 * np.pi * n * k / FRAME), dtype=torch.float32))
        self.register_buffer("bank", torch.tensor(filterbank(), dtype=torch.float32))

    def forward(self, wave):
        frames = wave.reshape(-1, FRAMES, FRAME)
        power = (frames @ self.cos) ** 2 + (frames @ self.sin) ** 2
        return torch.log(power @ self.bank + 1e-6).transpose(1, 2)


def wave(a, f1, b, f2):
    n = np.arange(SAMPLES, dtype=np.float64)
    return (a * np.sin(2 * np.pi * f1 * n / RATE) + b * np.sin(2 * np.pi * f2 * n / RATE + 0.3)).astype(np.float32)


front = MelFrontEnd().eval()
torch.onnx.export(front, (torch.zeros(1, SAMPLES),), "pytorch_mel_frontend.onnx", input_names=["wave"],
                  output_names=["features"], dynamic_axes={"wave": {0: "batch"}, "features": {0: "batch"}}, opset_version=17)
onnx.checker.check_model(onnx.load("pytorch_mel_frontend.onnx"), full_check=True)
params = [(0.5, 440.0, 0.25, 1200.0), (0.1, 3000.0, 0.6, 250.0)]
waves = torch.tensor(np.stack([wave(*p) for p in params]))
with torch.no_grad():
    features = front(waves)
with open("mel_frontend_expected.json", "w") as f:
    json.dump({"waves": [list(p) for p in params], "features": features.reshape(2, -1).tolist()}, f)
print("features", tuple(features.shape), "range", float(features.min()), float(features.max()))
