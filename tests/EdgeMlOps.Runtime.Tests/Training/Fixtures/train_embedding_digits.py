#!/usr/bin/python3
"""Trains and exports the metric-learning embedding block of export_pytorch_blocks.py (einsum attention, cumsum, topk,
gather, F.normalize, repeat, logsumexp, sin) as a digit classifier over scikit-learn's 8x8 scans read as 8 tokens of 8
pixels (digits_tokens.csv), for federated fine-tuning by the fleet.

  pytorch_embedding_digits04.onnx   pixels float [batch, 8, 8] -> logits float [batch, 10]; trained (Adam, 200
                                    epochs) only on the scans of digits 0-4 among the first 1,400 rows: the fleet's
                                    devices, which see every digit, fine-tune it; rows 1,400-1,796 are held out.
                                    Exported without constant folding (names kept).
Run from this directory: /usr/bin/python3 train_embedding_digits.py
"""
import numpy as np
import onnx
import torch
from torch.nn import functional as F

from export_pytorch_blocks import MetricEmbedding

scans = np.loadtxt("digits_tokens.csv", delimiter=",", dtype=np.int64)
pixels = torch.tensor(scans[:, :64], dtype=torch.float32).reshape(-1, 8, 8)
digits = torch.tensor(scans[:, 64])
torch.manual_seed(21)
model = MetricEmbedding()
train = [i for i in range(1400) if digits[i] <= 4]
optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
for _ in range(200):
    optimizer.zero_grad()
    loss = F.cross_entropy(model(pixels[train]), digits[train])
    loss.backward()
    optimizer.step()
model.eval()
with torch.no_grad():
    accuracy = (model(pixels[1400:]).argmax(1) == digits[1400:]).float().mean().item()
print("trained on", len(train), "scans of digits 0-4; train loss", round(loss.item(), 4), "held-out accuracy on 0-9", round(accuracy, 4))
name = "pytorch_embedding_digits04.onnx"
torch.onnx.export(model, (pixels[:2],), name, input_names=["pixels"], output_names=["logits"],
                  dynamic_axes={"pixels": {0: "batch"}, "logits": {0: "batch"}}, opset_version=17, do_constant_folding=False)
onnx.checker.check_model(onnx.load(name), full_check=True)
