#!/usr/bin/python3
"""Exports a streaming classifier (Debian's python3-torch and python3-onnx) over scikit-learn's 8x8 digit scans
(digits_tokens.csv; intensities 0-16, divided by 16 inside) read two rows per call, its state passing between calls
as an input and an output, batch first — the way a streaming keyword spotter carries its recurrent state:

  pytorch_streaming_digits.onnx   rows float [batch, 2, 8] (two rows of a scan) and h_in float [batch, 16] -> logits
                                  float [batch, 10] (Linear named head over the state) and h_out float [batch, 16]
                                  (nn.GRU named cell, the state after the two rows; exported without constant folding, so
                                  every parameter keeps its PyTorch name). Trained by PyTorch (Adam, 15
                                  epochs) on digits 0-4 only, with truncated back-propagation through time: each scan
                                  is four calls, the state detached between them, the digit the label of every call.
  streaming_digits_expected.json  six scans fed in four calls each: PyTorch's logits and state after every call; and
                                  one SGD step on the last call of the six — each row as a device keeps it (the two
                                  rows' 16 values, then the 16 state values the call started from) — with its mean
                                  cross-entropy and every parameter's gradient by autograd (the state detached).
Run from this directory: /usr/bin/python3 export_pytorch_streaming.py
"""
import json

import numpy as np
import onnx
import torch
from torch import nn
from torch.nn import functional as F


class Streaming(nn.Module):
    def __init__(self):
        super().__init__()
        self.cell = nn.GRU(8, 16, batch_first=True)
        self.head = nn.Linear(16, 10)

    def forward(self, rows, h_in):
        _, h = self.cell(rows / 16.0, h_in.unsqueeze(0))
        h_out = h.squeeze(0)
        return self.head(h_out), h_out


def chunks(pixels):
    """[n, 64] -> four [n, 2, 8] calls."""
    scans = pixels.reshape(-1, 8, 8)
    return [scans[:, 2 * k:2 * k + 2, :] for k in range(4)]


def main():
    scans = np.loadtxt("digits_tokens.csv", delimiter=",", dtype=np.int64)
    pixels = torch.tensor(scans[:, :64], dtype=torch.float32)
    digits = torch.tensor(scans[:, 64])
    torch.manual_seed(31)
    model = Streaming()
    seen = (digits < 5).nonzero().flatten()[:800]
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    for _ in range(15):
        for batch in seen[torch.randperm(len(seen))].split(32):
            h = torch.zeros(len(batch), 16)
            for rows in chunks(pixels[batch]):
                optimizer.zero_grad()
                logits, h_next = model(rows, h.detach())
                F.cross_entropy(logits, digits[batch]).backward()
                optimizer.step()
                h = h_next
    model.eval()

    rows_example = torch.zeros(2, 2, 8)
    torch.onnx.export(model, (rows_example, torch.zeros(2, 16)), "pytorch_streaming_digits.onnx", input_names=["rows", "h_in"],
                      output_names=["logits", "h_out"], dynamic_axes={n: {0: "batch"} for n in ["rows", "h_in", "logits", "h_out"]},
                      opset_version=17, do_constant_folding=False)  # every parameter keeps its PyTorch name
    onnx.checker.check_model(onnx.load("pytorch_streaming_digits.onnx"), full_check=True)

    picked = [0, 7, 33, 101, 250, 999]
    h = torch.zeros(len(picked), 16)
    logits_by_call, states_by_call, started = [], [], []
    with torch.no_grad():
        for rows in chunks(pixels[picked]):
            started.append(h)
            logits, h = model(rows, h)
            logits_by_call.append(logits.flatten().tolist())
            states_by_call.append(h.flatten().tolist())
    last = chunks(pixels[picked])[3]
    model.zero_grad()
    logits, _ = model(last, started[3])
    loss = F.cross_entropy(logits, digits[picked])
    loss.backward()
    device_rows = torch.cat([last.reshape(len(picked), 16), started[3]], dim=1)
    with open("streaming_digits_expected.json", "w") as f:
        json.dump({"pixels": pixels[picked].flatten().tolist(), "labels": digits[picked].tolist(),
                   "logitsByCall": logits_by_call, "statesByCall": states_by_call,
                   "rows": device_rows.flatten().tolist(), "loss": loss.item(),
                   "gradients": {n: p.grad.flatten().tolist() for n, p in model.named_parameters()}}, f)
    with torch.no_grad():
        test = (digits >= 0).nonzero().flatten()[1000:1400]
        h = torch.zeros(len(test), 16)
        for rows in chunks(pixels[test]):
            logits, h = model(rows, h)
        correct = logits.argmax(1) == digits[test]
        print("accuracy after four calls on 400 held-out scans: digits 0-4", round(correct[digits[test] < 5].float().mean().item(), 3),
              "all", round(correct.float().mean().item(), 3))


if __name__ == "__main__":
    main()
