#!/usr/bin/python3
"""Trains and exports a tiny transformer over scikit-learn's handwritten digits read as token sequences (1,797 real
8x8 scans shipped with python3-sklearn: each pixel's intensity 0-16 is a token id, 64 tokens per scan), for federated
fine-tuning of its head.

  digits_tokens.csv                 64 token columns (pixel intensities 0-16), then the digit — one scan per row, in
                                    scikit-learn's order.
  pytorch_transformer_digits04.onnx tokens int64 [batch, 64] and mask float [batch, 64] -> logits float [batch, 10]:
                                    Embedding(17, 16) plus a learned position table, one pre-norm single-head
                                    self-attention block and a GELU feed-forward block (tiny_transformer.py),
                                    the mean over positions (ReduceMean), LayerNorm and Linear(16, 10) named head. Trained (Adam, 150 epochs) only on the scans of digits 0-4 among the
                                    first 1,400 rows: the fleet's devices, which see every digit, fine-tune it;
                                    rows 1,400-1,796 are held out. Exported without constant folding (names kept).
Run from this directory: /usr/bin/python3 train_transformer_digits.py
"""
import numpy as np
import onnx
import torch
from sklearn.datasets import load_digits
from torch import nn

from tiny_transformer import TinyTransformer

data = load_digits()
tokens_all = data.data.astype(np.int64)
digits = data.target.astype(np.int64)
with open("digits_tokens.csv", "w") as f:
    for row, digit in zip(tokens_all, digits):
        f.write(",".join(str(int(v)) for v in row) + "," + str(int(digit)) + "\n")


torch.manual_seed(13)
model = TinyTransformer(17, 64, 10, "mean")
train = [i for i in range(1400) if digits[i] <= 4]
xs, ys = torch.tensor(tokens_all[train]), torch.tensor(digits[train])
ones = torch.ones(len(train), 64)
optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
for _ in range(150):
    optimizer.zero_grad()
    loss = nn.functional.cross_entropy(model(xs, ones), ys)
    loss.backward()
    optimizer.step()
model.eval()
with torch.no_grad():
    held = torch.tensor(tokens_all[1400:])
    accuracy = (model(held, torch.ones(len(held), 64)).argmax(1) == torch.tensor(digits[1400:])).float().mean().item()
    print("trained on", len(train), "scans of digits 0-4; train loss", round(loss.item(), 4), "held-out accuracy on 0-9", round(accuracy, 4))

torch.onnx.export(model, (xs[:2], ones[:2]), "pytorch_transformer_digits04.onnx", input_names=["tokens", "mask"], output_names=["logits"],
                  dynamic_axes={"tokens": {0: "batch"}, "mask": {0: "batch"}, "logits": {0: "batch"}}, opset_version=17,
                  do_constant_folding=False)
onnx.checker.check_model(onnx.load("pytorch_transformer_digits04.onnx"), full_check=True)
