#!/usr/bin/python3
"""The centralized reference for the fleet behind PyTorch's trimming front end (docs/BENCHMARKS.md, issue #18):
pytorch_frames_trimming.onnx's function (a raw scan's frames kept when their energy is at least half the loudest's)
applied to the 1,797 digit scans as raw counts, and the uploaded frame classifier trained by PyTorch's own Adam
(lr 0.01, batches of up to 32 scans that keep as many frames) on the first 1,400, scored on the other 397 after 10, 20,
30 and 40 epochs. Run from the repository root: /usr/bin/python3 bench/scripts/trimming_central.py
"""
import os
import sys
from collections import defaultdict

FIXTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests", "EdgeMlOps.Runtime.Tests", "Training", "Fixtures")
os.chdir(FIXTURES)
sys.path.insert(0, FIXTURES)

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from digit_fixtures import load_digits  # noqa: E402
from export_trimming_frontend import Trimming  # noqa: E402
from frames_fixtures import DARK, GAIN, DigitFrames  # noqa: E402

torch.manual_seed(0)
rows, digits = load_digits((-1, 8, 8))
raw = rows * GAIN + DARK
trimming = Trimming()
with torch.no_grad():
    made = [trimming(raw[i:i + 1]) for i in range(len(raw))]
model = DigitFrames()


def accuracy(indices):
    with torch.no_grad():
        return sum(int(model(made[i]).argmax(1).item() == digits[i].item()) for i in indices) / len(indices)


train, test = range(1400), range(1400, len(raw))
print(f"uploaded file: held-out accuracy {accuracy(test):.4f}")
optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
for epoch in range(1, 41):
    groups = defaultdict(list)
    for i in train:
        groups[made[i].shape[1]].append(i)
    for indices in groups.values():
        for start in range(0, len(indices), 32):
            batch = indices[start:start + 32]
            optimizer.zero_grad()
            F.cross_entropy(model(torch.cat([made[i] for i in batch])), digits[batch]).backward()
            optimizer.step()
    if epoch % 10 == 0:
        print(f"{epoch} epochs: held-out accuracy {accuracy(test):.4f}")
