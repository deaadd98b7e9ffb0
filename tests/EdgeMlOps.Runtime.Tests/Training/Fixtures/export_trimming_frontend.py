#!/usr/bin/python3
"""Exports a front end whose frame count the data decides, for pytorch_digit_frames.onnx (made by
export_digit_frames.py): a scan's silent frames are dropped, as a voice-activity front end drops silence before a
keyword spotter (Debian's python3-torch and python3-onnx; scikit-learn's 8x8 digit scans in digits_tokens.csv, as the
raw counts of a 12-bit sensor, intensity x gain + dark per column, as export_frames_frontends.py makes them):

  pytorch_frames_trimming.onnx     scan float [1, readings, 8] (one scan of any number of frames: exported for one
                                   sample, its batch fixed at 1) -> rows float [1, frames, 8]: the calibrated frames
                                   (scan - dark) / gain clipped to 0-16 whose energy (mean square) is at least half the
                                   scan's loudest frame's, in their order (NonZero and GatherND: how many is known only
                                   from the values). 8 readings keep 1 to 8 frames: --axis-lengths readings=6..8,frames=1..8.
  trimming_frontend_expected.json  six scans as raw counts at 8 readings and cut to their first 6, the frames each keeps
                                   and PyTorch's logits for each through the front end and the model, one scan at a
                                   time; and "group": four scans that keep the same number of frames, with the
                                   cross-entropy of the four and its gradient of every model parameter by autograd (the
                                   front end is frozen: it has no trained parameters).
Run from this directory: /usr/bin/python3 export_trimming_frontend.py
"""
import json

import onnx
import torch
import torch.nn.functional as F
from torch import nn

from digit_fixtures import load_digits
from frames_fixtures import DARK, GAIN, DigitFrames


class Trimming(nn.Module):
    def forward(self, scan):
        rows = torch.clamp((scan[0] - DARK) / GAIN, 0.0, 16.0)
        energy = (rows * rows).mean(dim=1)
        return rows[energy >= 0.5 * energy.max()].unsqueeze(0)


def main():
    rows, digits = load_digits((-1, 8, 8))
    raw = rows * GAIN + DARK
    trimming = Trimming().eval()
    torch.onnx.export(trimming, (raw[:1],), "pytorch_frames_trimming.onnx", input_names=["scan"], output_names=["rows"],
                      opset_version=17, dynamic_axes={"scan": {1: "readings"}, "rows": {1: "frames"}})
    onnx.checker.check_model(onnx.load("pytorch_frames_trimming.onnx"), full_check=True)
    print("pytorch_frames_trimming.onnx nodes", [n.op_type for n in onnx.load("pytorch_frames_trimming.onnx").graph.node])

    model = DigitFrames().eval()
    picked = [0, 4, 7, 33, 101, 250]
    expected = {"digits": digits[picked].tolist(), "scans": raw[picked].flatten().tolist(), "short": raw[picked, :6, :].flatten().tolist()}
    with torch.no_grad():
        for scans, key in [(raw[picked], "whole"), (raw[picked, :6, :], "cut")]:
            made = [trimming(scans[i:i + 1]) for i in range(len(picked))]
            expected[key] = {"kept": [m.shape[1] for m in made], "logits": torch.cat([model(m) for m in made]).flatten().tolist()}
            print(key, "kept", expected[key]["kept"])
        counts = [trimming(raw[i:i + 1]).shape[1] for i in range(len(raw))]
        print("kept of all 8-reading scans:", {k: counts.count(k) for k in sorted(set(counts))})
    group = [i for i in range(len(raw)) if counts[i] == 4][:4]
    model.zero_grad()
    with torch.no_grad():
        made = torch.cat([trimming(raw[i:i + 1]) for i in group])
    logits = model(made)
    loss = F.cross_entropy(logits, digits[group])
    loss.backward()
    expected["group"] = {"scans": raw[group].flatten().tolist(), "digits": digits[group].tolist(), "kept": 4, "loss": loss.item(),
                         "gradients": {n: p.grad.flatten().tolist() for n, p in model.named_parameters()}}
    print("group", group, "loss", round(loss.item(), 5))
    with open("trimming_frontend_expected.json", "w") as f:
        json.dump(expected, f)


if __name__ == "__main__":
    main()
