#!/usr/bin/python3
"""Exports three front ends for pytorch_digit_frames.onnx (made by export_digit_frames.py) that take scans of any number
of frames, as a device whose readings vary in length would run them (Debian's python3-torch and python3-onnx;
scikit-learn's 8x8 digit scans in digits_tokens.csv, as raw counts of a 12-bit sensor):

  pytorch_frames_calibration.onnx  scan float [batch, frames, 8] (raw counts: intensity x gain + dark, per column)
                                   -> rows float [batch, frames, 8]: (scan - dark) / gain clipped to 0-16, the
                                   calibration a sensor ships with. 'frames' is dynamic on both: it keeps the length,
                                   so the model behind it sees as many frames as the device read.
  pytorch_frames_resample.onnx     scan float [batch, readings, 8] -> rows float [batch, 8, 8]: the calibrated
                                   readings resampled to 8 frames (linear, corners aligned), so the model always sees
                                   one shape (its own 'frames' pinned at 8: --axis-lengths readings=6..8,frames=8).
  pytorch_frames_framing.onnx      signal float [batch, samples] (a scan's raw counts read as one signal of any length)
                                   -> rows float [batch, frames, 8]: frames of 8 samples every 8 (a Conv1d whose
                                   weights pick and calibrate each sample of a frame; what is left over is dropped), so
                                   48 to 64 samples make 6 to 8 frames: --axis-lengths samples=48..64,frames=8.
  frames_frontends_expected.json   the per-column gain and dark; six scans as raw counts at 8 frames and cut to their
                                   first 6; PyTorch's logits through each front end and the model, and for each the
                                   cross-entropy of the six and its gradient of every model parameter by autograd at
                                   both lengths (the front ends are frozen: they have no trained parameters); for the
                                   framing, signals of 64 and 53 samples (8 and 6 frames, 5 samples left over); and
                                   the calibration in front of pytorch_digit_frames_context.onnx (its frames through
                                   the front end, the scan's last row fed to 'last_row' as it is): the same at 8 and
                                   6 frames under "context".
Run from this directory: /usr/bin/python3 export_frames_frontends.py
"""
import json

import numpy as np
import onnx
import torch
import torch.nn.functional as F
from onnx import numpy_helper
from torch import nn

from digit_fixtures import load_digits
from frames_fixtures import DARK, GAIN, DigitFrames


class Calibration(nn.Module):
    def forward(self, scan):
        return torch.clamp((scan - DARK) / GAIN, 0.0, 16.0)


class Resample(nn.Module):
    def forward(self, scan):
        rows = torch.clamp((scan - DARK) / GAIN, 0.0, 16.0)
        return F.interpolate(rows.transpose(1, 2), size=8, mode="linear", align_corners=True).transpose(1, 2)


class Framing(nn.Module):
    def __init__(self):
        super().__init__()
        self.frame = nn.Conv1d(1, 8, 8, stride=8)
        with torch.no_grad():
            self.frame.weight.copy_(torch.diag(1.0 / GAIN).unsqueeze(1))
            self.frame.bias.copy_(-DARK / GAIN)

    def forward(self, signal):
        return torch.clamp(self.frame(signal.unsqueeze(1)), 0.0, 16.0).transpose(1, 2)


class DigitFramesContext(nn.Module):
    """export_digit_frames_context.py's classifier, its weights read from the exported file."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv1d(8, 24, 3, padding=1)
        self.context = nn.Linear(8, 8)
        self.head = nn.Linear(32, 10)
        weights = {t.name: torch.tensor(numpy_helper.to_array(t)) for t in onnx.load("pytorch_digit_frames_context.onnx").graph.initializer}
        with torch.no_grad():
            for name, parameter in self.named_parameters():
                parameter.copy_(weights[name])

    def forward(self, rows, last_row):
        h = F.relu(self.conv(rows.transpose(1, 2) / 16.0)).mean(dim=2)
        c = F.relu(self.context(last_row / 16.0))
        return self.head(torch.cat([h, c], dim=1))


rows, digits = load_digits((-1, 8, 8))
raw = rows * GAIN + DARK
for front, path in [(Calibration(), "pytorch_frames_calibration.onnx"), (Resample(), "pytorch_frames_resample.onnx")]:
    keeps = isinstance(front, Calibration)
    torch.onnx.export(front.eval(), (raw[:2],), path, input_names=["scan"], output_names=["rows"], opset_version=17,
                      dynamic_axes={"scan": {0: "batch", 1: "frames" if keeps else "readings"}, "rows": {0: "batch", 1: "frames"} if keeps else {0: "batch"}})
    onnx.checker.check_model(onnx.load(path), full_check=True)
    print(path, "nodes", [n.op_type for n in onnx.load(path).graph.node], "output",
          [d.dim_param or d.dim_value for d in onnx.load(path).graph.output[0].type.tensor_type.shape.dim])

framing = Framing().eval()
torch.onnx.export(framing, (raw[:2].reshape(2, -1),), "pytorch_frames_framing.onnx", input_names=["signal"], output_names=["rows"],
                  opset_version=17, dynamic_axes={"signal": {0: "batch", 1: "samples"}, "rows": {0: "batch", 1: "frames"}})
onnx.checker.check_model(onnx.load("pytorch_frames_framing.onnx"), full_check=True)
print("pytorch_frames_framing.onnx nodes", [n.op_type for n in onnx.load("pytorch_frames_framing.onnx").graph.node])

model = DigitFrames().eval()
picked = [0, 7, 33, 101, 250, 999]
expected = {"gain": GAIN.tolist(), "dark": DARK.tolist(), "digits": digits[picked].tolist(),
            "scans": raw[picked].flatten().tolist(), "short": raw[picked, :6, :].flatten().tolist()}
for front, key in [(Calibration(), "calibration"), (Resample(), "resample")]:
    for scans, suffix in [(raw[picked], ""), (raw[picked, :6, :], "Short")]:
        model.zero_grad()
        logits = model(front(scans))
        loss = F.cross_entropy(logits, digits[picked])
        loss.backward()
        expected[key + suffix] = {"logits": logits.detach().flatten().tolist(), "loss": loss.item(),
                                  "gradients": {n: p.grad.flatten().tolist() for n, p in model.named_parameters()}}
        print(key + suffix, "loss", round(loss.item(), 5))
signals = raw[picked].reshape(6, -1)
expected["signals"] = signals.flatten().tolist()
expected["shortSignals"] = signals[:, :53].flatten().tolist()
for scans, suffix in [(signals, ""), (signals[:, :53], "Short")]:
    model.zero_grad()
    with torch.no_grad():
        framed = framing(scans)
    logits = model(framed)
    loss = F.cross_entropy(logits, digits[picked])
    loss.backward()
    expected["framing" + suffix] = {"logits": logits.detach().flatten().tolist(), "loss": loss.item(), "frames": framed.shape[1],
                                    "gradients": {n: p.grad.flatten().tolist() for n, p in model.named_parameters()}}
    print("framing" + suffix, framed.shape[1], "frames, loss", round(loss.item(), 5))
withContext = DigitFramesContext().eval()
last = rows[picked, 7, :]
expected["context"] = {"lastRow": last.flatten().tolist()}
for scans, suffix in [(raw[picked], ""), (raw[picked, :6, :], "Short")]:
    withContext.zero_grad()
    logits = withContext(Calibration()(scans), last)
    loss = F.cross_entropy(logits, digits[picked])
    loss.backward()
    expected["context"]["whole" if suffix == "" else "short"] = {"logits": logits.detach().flatten().tolist(), "loss": loss.item(),
                                                                  "gradients": {n: p.grad.flatten().tolist() for n, p in withContext.named_parameters()}}
    print("context" + suffix, "loss", round(loss.item(), 5))
with open("frames_frontends_expected.json", "w") as f:
    json.dump(expected, f)
