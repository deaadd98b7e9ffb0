"""The tiny transformer classifier both transformer fixtures export (export_pytorch_transformer.py,
train_transformer_digits.py): token ids and a padding mask -> Embedding(vocab, 16) plus a learned position table named
position, one pre-norm single-head self-attention block (LayerNorm, Linear q/k/v/out, scores / 4 with padding masked by
-10000, Softmax, residual) and a GELU feed-forward block (LayerNorm, Linear(16, 32), exact GELU as Erf, Linear(32, 16),
residual), then the first position's vector h[:, 0] (Gather on axis 1) or the mean over positions, LayerNorm and
Linear(16, classes) named head -> logits.
"""
import math

import torch
from torch import nn


class TinyTransformer(nn.Module):
    def __init__(self, vocab, length, classes, pool):
        super().__init__()
        self.pool = pool  # "first" or "mean"
        self.embedding = nn.Embedding(vocab, 16)
        self.position = nn.Parameter(torch.randn(length, 16) * 0.1)
        self.norm1 = nn.LayerNorm(16)
        self.q = nn.Linear(16, 16)
        self.k = nn.Linear(16, 16)
        self.v = nn.Linear(16, 16)
        self.out = nn.Linear(16, 16)
        self.norm2 = nn.LayerNorm(16)
        self.up = nn.Linear(16, 32)
        self.down = nn.Linear(32, 16)
        self.norm3 = nn.LayerNorm(16)
        self.head = nn.Linear(16, classes)

    def forward(self, tokens, mask):
        h = self.embedding(tokens) + self.position
        x = self.norm1(h)
        scores = torch.matmul(self.q(x), self.k(x).transpose(1, 2)) / math.sqrt(16)
        scores = scores + (1.0 - mask).unsqueeze(1) * -10000.0
        h = h + self.out(torch.matmul(torch.softmax(scores, dim=-1), self.v(x)))
        h = h + self.down(nn.functional.gelu(self.up(self.norm2(h))))
        return self.head(self.norm3(h[:, 0] if self.pool == "first" else h.mean(dim=1)))
