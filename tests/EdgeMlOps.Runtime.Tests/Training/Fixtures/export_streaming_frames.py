#!/usr/bin/python3
"""Exports a streaming classifier whose calls bring chunks of any length (Debian's python3-torch and python3-onnx;
scikit-learn's 8x8 digit scans in digits_tokens.csv, read as frames of 8 intensities, 0-16):

  pytorch_streaming_frames.onnx   rows float [batch, frames, 8] ('frames' a dynamic axis: a chunk of 2 or 3 rows of a
                                  scan) and h_in float [batch, 16] -> logits float [batch, 10] and h_out float
                                  [batch, 16]. Conv1d(8, 16, 3, padding 1) named conv over the chunk's frames, ReLU,
                                  their mean; h_out = tanh(Linear(16, 16) named carry of h_in + that mean); Linear(16, 10)
                                  named head of h_out. Non-recurrent within a call, so a call of any length trains as
                                  one graph; the state passes between calls as an input and an output, batch first.
                                  Trained (Adam, 15 epochs) on digits 0-4 only, each scan three calls of 3, 3 and 2
                                  rows with the state detached between them (truncated back-propagation through time).
  streaming_frames_expected.json  six scans in three calls each (3, 3, then 2 rows): PyTorch's logits and state after
                                  every call; and one SGD step on the second call (3 rows) and one on the third (2
                                  rows) — each row as a device keeps it (the chunk's values, then the 16 state values
                                  the call started from) — with the mean cross-entropy and every parameter's gradient.
Run from this directory: /usr/bin/python3 export_streaming_frames.py
"""
import json

import numpy as np
import onnx
import torch
from torch import nn
from torch.nn import functional as F

CHUNKS = [(0, 3), (3, 6), (6, 8)]


class StreamingFrames(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv1d(8, 16, 3, padding=1)
        self.carry = nn.Linear(16, 16)
        self.head = nn.Linear(16, 10)

    def forward(self, rows, h_in):
        x = F.relu(self.conv(rows.transpose(1, 2) / 16.0)).mean(dim=2)
        h_out = torch.tanh(self.carry(h_in) + x)
        return self.head(h_out), h_out


def chunks(pixels):
    scans = pixels.reshape(-1, 8, 8)
    return [scans[:, a:b, :] for a, b in CHUNKS]


def main():
    scans = np.loadtxt("digits_tokens.csv", delimiter=",", dtype=np.int64)
    pixels = torch.tensor(scans[:, :64], dtype=torch.float32)
    digits = torch.tensor(scans[:, 64])
    torch.manual_seed(37)
    model = StreamingFrames()
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

    torch.onnx.export(model, (torch.zeros(2, 3, 8), torch.zeros(2, 16)), "pytorch_streaming_frames.onnx", input_names=["rows", "h_in"],
                      output_names=["logits", "h_out"], dynamic_axes={"rows": {0: "batch", 1: "frames"}, "h_in": {0: "batch"}, "logits": {0: "batch"}, "h_out": {0: "batch"}},
                      opset_version=17, do_constant_folding=False)
    onnx.checker.check_model(onnx.load("pytorch_streaming_frames.onnx"), full_check=True)

    picked = [0, 7, 33, 101, 250, 999]
    h = torch.zeros(len(picked), 16)
    logits_by_call, states_by_call, started = [], [], []
    with torch.no_grad():
        for rows in chunks(pixels[picked]):
            started.append(h)
            logits, h = model(rows, h)
            logits_by_call.append(logits.flatten().tolist())
            states_by_call.append(h.flatten().tolist())
    steps = {}
    for call in (1, 2):
        rows = chunks(pixels[picked])[call]
        model.zero_grad()
        logits, _ = model(rows, started[call])
        loss = F.cross_entropy(logits, digits[picked])
        loss.backward()
        steps[f"call{call}"] = {"rows": torch.cat([rows.reshape(len(picked), -1), started[call]], dim=1).flatten().tolist(), "digits": digits[picked].tolist(),
                                "loss": loss.item(), "gradients": {n: p.grad.flatten().tolist() for n, p in model.named_parameters()}}
    with open("streaming_frames_expected.json", "w") as f:
        json.dump({"pixels": pixels[picked].flatten().tolist(), "labels": digits[picked].tolist(), "chunks": CHUNKS,
                   "logitsByCall": logits_by_call, "statesByCall": states_by_call, **steps}, f)
    with torch.no_grad():
        test = torch.arange(1400, len(digits))
        h = torch.zeros(len(test), 16)
        for rows in chunks(pixels[test]):
            logits, h = model(rows, h)
        print("accuracy after three calls on the last 397 scans", round((logits.argmax(1) == digits[test]).float().mean().item(), 3),
              "loss of the step on call 2", round(steps["call2"]["loss"], 4))


if __name__ == "__main__":
    main()
