#!/usr/bin/python3
"""Exports recurrent digit classifiers (Debian's python3-torch and python3-onnx) over scikit-learn's 8x8 digit scans read
as sequences: 8 steps (the rows of a scan), each 8 pixel intensities 0-16 (divided by 16 inside the model, so a device
feeds a scan's values as they are). digits_tokens.csv holds the scans.

  pytorch_gru_digits04.onnx   pixels float [batch, 8, 8] -> GRU(8, 32, batch_first) named rnn, the last step's state,
                              Linear(32, 10) named head -> logits float [batch, 10]. Trained (Adam, 150 epochs) only on
                              the scans of digits 0-4 among the first 1,400 rows: the fleet's devices, which see every
                              digit, fine-tune it; rows 1,400-1,796 are held out.
  pytorch_lstm_bidirectional.onnx  the same interface through a two-layer bidirectional LSTM(8, 8) (untrained weights):
                              the second layer reads the first's outputs reshaped by the exporter.
  pytorch_recurrent_expected.json  for each file: six scans, labels, PyTorch's softmax of the logits, the mean
                              cross-entropy and PyTorch's gradients (autograd) of it for every parameter.
Both are exported at opset 17 with a dynamic batch and a fixed number of steps, without constant folding so every
parameter keeps its PyTorch name (the exporter reorders PyTorch's gates into ONNX's order with Slice/Concat nodes).
Run from this directory: /usr/bin/python3 export_pytorch_recurrent.py
"""
import json

import numpy as np
import onnx
import torch
from torch import nn


class Recurrent(nn.Module):
    def __init__(self, cell, hidden, bidirectional=False, layers=1):
        super().__init__()
        self.rnn = cell(8, hidden, num_layers=layers, batch_first=True, bidirectional=bidirectional)
        self.head = nn.Linear(hidden * (2 if bidirectional else 1), 10)

    def forward(self, pixels):
        out, _ = self.rnn(pixels / 16.0)
        return self.head(out[:, -1])


scans = np.loadtxt("digits_tokens.csv", delimiter=",", dtype=np.int64)
pixels_all = torch.tensor(scans[:, :64], dtype=torch.float32).reshape(-1, 8, 8)
digits = torch.tensor(scans[:, 64])


def export(model, name):
    torch.onnx.export(model, (pixels_all[:2],), name, input_names=["pixels"], output_names=["logits"],
                      dynamic_axes={"pixels": {0: "batch"}, "logits": {0: "batch"}}, opset_version=17, do_constant_folding=False)
    onnx.checker.check_model(onnx.load(name), full_check=True)


def expected(model, rows):
    model.zero_grad()
    pixels, labels = pixels_all[rows], digits[rows]
    logits = model(pixels)
    loss = nn.functional.cross_entropy(logits, labels)
    loss.backward()
    return {
        "pixels": pixels.flatten().tolist(),
        "labels": labels.tolist(),
        "probabilities": torch.softmax(logits, dim=1).detach().flatten().tolist(),
        "loss": loss.item(),
        "gradients": {n: p.grad.flatten().tolist() for n, p in model.named_parameters()},
    }


torch.manual_seed(21)
gru = Recurrent(nn.GRU, 32)
train = [i for i in range(1400) if digits[i] <= 4]
optimizer = torch.optim.Adam(gru.parameters(), lr=0.01)
for _ in range(150):
    optimizer.zero_grad()
    loss = nn.functional.cross_entropy(gru(pixels_all[train]), digits[train])
    loss.backward()
    optimizer.step()
gru.eval()
with torch.no_grad():
    accuracy = (gru(pixels_all[1400:]).argmax(1) == digits[1400:]).float().mean().item()
print("GRU trained on", len(train), "scans of digits 0-4; train loss", round(loss.item(), 4), "held-out accuracy on 0-9", round(accuracy, 4))
export(gru, "pytorch_gru_digits04.onnx")

torch.manual_seed(22)
lstm = Recurrent(nn.LSTM, 8, bidirectional=True, layers=2).eval()
export(lstm, "pytorch_lstm_bidirectional.onnx")

rows = [0, 7, 33, 101, 250, 999]
with open("pytorch_recurrent_expected.json", "w") as f:
    json.dump({"gru": expected(gru, rows), "lstm": expected(lstm, rows)}, f)
for name in ("pytorch_gru_digits04.onnx", "pytorch_lstm_bidirectional.onnx"):
    print(name, "ops", sorted({n.op_type for n in onnx.load(name).graph.node}))
