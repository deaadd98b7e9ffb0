"""What the fixture scripts for the frame classifier's front ends share (export_frames_frontends.py,
export_trimming_frontend.py): the 12-bit sensor's per-column gain and dark level that turn a digit scan's intensities
into raw counts, and export_digit_frames.py's classifier with its weights read from the exported file.
Imported by those scripts; run them from this directory."""
import onnx
import torch
import torch.nn.functional as F
from onnx import numpy_helper
from torch import nn

GAIN = torch.tensor([200.0 + 10 * j for j in range(8)])
DARK = torch.tensor([90.0 + 5 * j for j in range(8)])


class DigitFrames(nn.Module):
    """export_digit_frames.py's classifier, its weights read from the exported file."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv1d(8, 24, 3, padding=1)
        self.head = nn.Linear(24, 10)
        weights = {t.name: torch.tensor(numpy_helper.to_array(t)) for t in onnx.load("pytorch_digit_frames.onnx").graph.initializer}
        with torch.no_grad():
            for name, parameter in self.named_parameters():
                parameter.copy_(weights[name])

    def forward(self, rows):
        h = F.relu(self.conv(rows.transpose(1, 2) / 16.0))
        return self.head(h.mean(dim=2))
