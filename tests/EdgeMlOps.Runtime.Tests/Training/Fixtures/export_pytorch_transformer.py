#!/usr/bin/python3
"""Exports a tiny transformer text classifier (tiny_transformer.py; Debian's python3-torch and python3-onnx): what exporters emit for small
transformers, with a padding mask as a second input.

  pytorch_transformer_cls.onnx  tokens int64 [batch, 12] and mask float [batch, 12] (1: a token, 0: padding) ->
                                Embedding(40, 16) named embedding plus a learned position table named position, one
                                pre-norm single-head self-attention block (LayerNorm, Linear q/k/v/out, scores / 4
                                with padding masked by -10000, Softmax, residual) and a GELU feed-forward block
                                (LayerNorm, Linear(16, 32), exact GELU as Erf, Linear(32, 16), residual), then the
                                first token's vector h[:, 0] (Gather on axis 1), LayerNorm and Linear(16, 3) named head
                                -> logits float [batch, 3]. Opset 17, dynamic batch, exported without constant
                                folding so every parameter keeps its PyTorch name.
  pytorch_transformer_expected.json  six rows of tokens and masks, PyTorch's softmax of the logits, and PyTorch's
                                gradients (autograd) of the mean cross-entropy against fixed labels for every parameter.
Run from this directory: /usr/bin/python3 export_pytorch_transformer.py
"""
import json

import onnx
import torch
from torch import nn

from tiny_transformer import TinyTransformer


torch.manual_seed(12)
model = TinyTransformer(40, 12, 3, "first").eval()
with torch.no_grad():  # as after training: LayerNorms that differ (identical ones the exporter would share as one initializer)
    for norm in (model.norm1, model.norm2, model.norm3):
        norm.weight.uniform_(0.8, 1.2)
        norm.bias.normal_(0.0, 0.05)
tokens = torch.randint(1, 40, (6, 12))
lengths = [12, 9, 5, 12, 7, 3]
mask = torch.tensor([[1.0] * n + [0.0] * (12 - n) for n in lengths])
tokens = tokens * mask.long()  # padding is token 0
labels = torch.tensor([0, 1, 2, 1, 0, 2])
torch.onnx.export(model, (tokens[:2], mask[:2]), "pytorch_transformer_cls.onnx", input_names=["tokens", "mask"], output_names=["logits"],
                  dynamic_axes={"tokens": {0: "batch"}, "mask": {0: "batch"}, "logits": {0: "batch"}}, opset_version=17,
                  do_constant_folding=False)  # keeps each Linear's weight under its own name (folding writes its transpose as onnx::MatMul_N)
onnx.checker.check_model(onnx.load("pytorch_transformer_cls.onnx"), full_check=True)

logits = model(tokens, mask)
loss = nn.functional.cross_entropy(logits, labels)
loss.backward()
expected = {
    "tokens": tokens.flatten().tolist(),
    "mask": mask.flatten().tolist(),
    "labels": labels.tolist(),
    "probabilities": torch.softmax(logits, dim=1).detach().flatten().tolist(),
    "loss": loss.item(),
    "gradients": {name: p.grad.flatten().tolist() for name, p in model.named_parameters()},
}
with open("pytorch_transformer_expected.json", "w") as f:
    json.dump(expected, f)
ops = sorted({n.op_type for n in onnx.load("pytorch_transformer_cls.onnx").graph.node})
print("wrote pytorch_transformer_cls.onnx and pytorch_transformer_expected.json; loss", round(loss.item(), 4), "ops", ops)
