#!/usr/bin/python3
"""Exports small classifiers built from the blocks of widely used architectures (Debian's python3-torch and
python3-onnx), over scikit-learn's 8x8 digit scans (digits_tokens.csv; intensities 0-16, divided by 16 inside), for
gradient checks of every parameter against PyTorch's autograd. Untrained weights, eval mode, opset 17, dynamic batch,
exported without constant folding so every parameter keeps its PyTorch name.

  pytorch_block_resnet.onnx       pixels [batch, 1, 8, 8]: a ResNet basic block that downsamples — Conv2d stride 2
                                  with padding 1 on the even 8x8 input, ReLU, Conv2d, a 1x1 stride-2 shortcut, the
                                  residual sum, ReLU — then AdaptiveAvgPool2d and Linear named head -> logits [batch, 10].
  pytorch_block_convnext.onnx     pixels [batch, 1, 8, 8]: a ConvNeXt block — a 1x1 stem, 7x7 depthwise Conv2d,
                                  channels-last permute, LayerNorm, Linear, GELU, Linear, a learned layer scale,
                                  permute back, residual — then mean pooling and Linear named head.
  pytorch_block_tcn.onnx          pixels [batch, 8, 8] read as 8 channels over 8 time steps: a temporal convolution
                                  block — causal padding on the left (F.pad), dilated Conv1d (dilation 2), ReLU, a
                                  second causal dilated Conv1d, a 1x1 residual projection — then the last step and
                                  Linear named head.
  pytorch_block_attention.onnx    pixels [batch, 8, 8] read as 8 tokens of 8 values: a Linear embedding and
                                  nn.TransformerEncoderLayer(16, 2 heads, feed-forward 32, batch_first) — PyTorch's own
                                  multi-head attention — then mean pooling and Linear named head.
  pytorch_block_groupnorm.onnx    pixels [batch, 1, 8, 8]: Conv2d, GroupNorm (2 groups of 4 channels: the exporter
                                  writes Reshape, InstanceNormalization, Reshape, Mul, Add), SiLU, Conv2d, InstanceNorm2d
                                  with affine parameters, mean pooling and Linear named head.
  pytorch_block_unet.onnx         pixels [batch, 1, 8, 8]: a U-Net level — Conv2d, ReLU, MaxPool2d, Conv2d, ReLU,
                                  nn.Upsample(scale_factor=2, nearest) (Resize), the skip connection concatenated,
                                  Conv2d, ReLU — then mean pooling and Linear named head.
  pytorch_block_pyramid.onnx      pixels [batch, 1, 8, 8]: a feature-pyramid / segmentation-decoder level — Conv2d, a
                                  stride-2 Conv2d, F.interpolate back up by 2 (bilinear, align_corners=False: Resize
                                  linear, half_pixel), AvgPool2d to 2x2 and F.interpolate up by 4 (bicubic,
                                  align_corners=True: Resize cubic), the three concatenated, Conv2d, ReLU, and
                                  F.interpolate to size 5x5 (bilinear: Resize to sizes built from the input's shape, a
                                  fractional scale) — then mean pooling and Linear named head.
  pytorch_block_subpixel.onnx     pixels [batch, 1, 8, 8]: a sub-pixel (super-resolution) block — a stride-2 Conv2d,
                                  nn.PixelShuffle(2) (DepthToSpace, CRD), Conv2d, a strided slice x[:, :, ::2, 1::2],
                                  torch.flip (a slice with step -1), F.pixel_unshuffle (Reshape, Transpose, Reshape)
                                  and Mish (Softplus, Tanh, Mul) — then mean pooling and Linear named head.
  pytorch_block_embedding.onnx    pixels [batch, 8, 8] read as 8 tokens of 8 values: a metric-learning embedding —
                                  a Linear, attention written with torch.einsum, torch.cumsum over the tokens,
                                  torch.topk and torch.gather of token vectors, F.normalize (ReduceL2), x.repeat
                                  (Tile), torch.logsumexp and torch.sin — then Linear named head.
  pytorch_block_reflect.onnx      pixels [batch, 1, 8, 8]: an image-to-image style block — nn.ReflectionPad2d (Pad
                                  reflect), Conv2d, Softshrink (Where, Less, Greater), replicate padding (Pad edge), Conv2d, mean
                                  pooling, a mixing matrix kept lower-triangular by torch.tril (Trilu) and an index
                                  assignment h[:, 0] = ... (ScatterND) — then Linear named head.
  pytorch_block_angles.onnx       pixels [batch, 1, 8, 8]: orientation-style features — Conv2d, nn.LPPool2d (the
                                  exporter writes Pow, AveragePool, Sign, Relu, Abs), torch.prod over positions
                                  (ReduceProd), torch.atan, torch.asin of a tanh, torch.tan and a phase wrapped by
                                  torch.fmod (Mod) — then Linear named head.
  pytorch_block_scripted.onnx     pixels [batch, 8, 8] read as 8 rows of 8 values, exported from torch.jit.script: a
                                  recurrent cell written as a Python for loop over the rows (a Loop whose trip count
                                  comes from the input's shape and whose body reads the Linear weights from the
                                  enclosing graph) and an if on the number of rows (an If) choosing a residual
                                  Linear+ReLU — then Linear named head.
  pytorch_block_pyramid_opset11.onnx, pytorch_block_subpixel_opset11.onnx
                                  the same two blocks (same weights) exported at opset 11, as older exporters write
                                  them (Resize of opset 11; Pad with its pads as an input).
  pytorch_blocks_expected.json    for each file: six scans, labels, PyTorch's logits, the mean cross-entropy and its
                                  gradients (autograd) for every parameter.
Run from this directory: /usr/bin/python3 export_pytorch_blocks.py
"""
import json

import numpy as np
import onnx
import torch
from torch import nn
from torch.nn import functional as F


class ResNetBlock(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 8, 3, stride=2, padding=1)
        self.conv2 = nn.Conv2d(8, 8, 3, padding=1)
        self.shortcut = nn.Conv2d(1, 8, 1, stride=2)
        self.head = nn.Linear(8, 10)

    def forward(self, pixels):
        x = pixels / 16.0
        y = F.relu(self.conv2(F.relu(self.conv1(x))) + self.shortcut(x))
        return self.head(torch.flatten(F.adaptive_avg_pool2d(y, 1), 1))


class ConvNeXtBlock(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(1, 8, 1)
        self.depthwise = nn.Conv2d(8, 8, 7, padding=3, groups=8)
        self.norm = nn.LayerNorm(8)
        self.up = nn.Linear(8, 16)
        self.down = nn.Linear(16, 8)
        self.scale = nn.Parameter(torch.full((8,), 0.5))
        self.head = nn.Linear(8, 10)

    def forward(self, pixels):
        x = self.stem(pixels / 16.0)
        y = self.depthwise(x).permute(0, 2, 3, 1)
        y = self.scale * self.down(F.gelu(self.up(self.norm(y))))
        x = x + y.permute(0, 3, 1, 2)
        return self.head(x.mean(dim=(2, 3)))


class TemporalBlock(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv1d(8, 12, 3, dilation=2)
        self.conv2 = nn.Conv1d(12, 12, 3, dilation=2)
        self.residual = nn.Conv1d(8, 12, 1)
        self.head = nn.Linear(12, 10)

    def forward(self, pixels):
        x = (pixels / 16.0).transpose(1, 2)  # [batch, 8 channels, 8 steps]
        y = F.relu(self.conv1(F.pad(x, (4, 0))))
        y = self.conv2(F.pad(y, (4, 0)))
        y = F.relu(y + self.residual(x))
        return self.head(y[:, :, -1])


class GroupNormBlock(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 8, 3, padding=1)
        self.group = nn.GroupNorm(2, 8)
        self.conv2 = nn.Conv2d(8, 8, 3, padding=1)
        self.instance = nn.InstanceNorm2d(8, affine=True)
        self.head = nn.Linear(8, 10)

    def forward(self, pixels):
        x = F.silu(self.group(self.conv1(pixels / 16.0)))
        x = self.instance(self.conv2(x))
        return self.head(x.mean(dim=(2, 3)))


class UNetLevel(nn.Module):
    def __init__(self):
        super().__init__()
        self.down = nn.Conv2d(1, 4, 3, padding=1)
        self.inner = nn.Conv2d(4, 8, 3, padding=1)
        self.up = nn.Upsample(scale_factor=2, mode="nearest")
        self.merge = nn.Conv2d(12, 4, 3, padding=1)
        self.head = nn.Linear(4, 10)

    def forward(self, pixels):
        skip = F.relu(self.down(pixels / 16.0))
        inner = self.up(F.relu(self.inner(F.max_pool2d(skip, 2))))
        x = F.relu(self.merge(torch.cat([skip, inner], dim=1)))
        return self.head(x.mean(dim=(2, 3)))


class PyramidLevel(nn.Module):
    def __init__(self):
        super().__init__()
        self.fine = nn.Conv2d(1, 4, 3, padding=1)
        self.coarse = nn.Conv2d(4, 6, 3, stride=2, padding=1)
        self.merge = nn.Conv2d(16, 6, 3, padding=1)
        self.head = nn.Linear(6, 10)

    def forward(self, pixels):
        fine = F.relu(self.fine(pixels / 16.0))
        coarse = F.relu(self.coarse(fine))
        up = F.interpolate(coarse, scale_factor=2, mode="bilinear", align_corners=False)
        pooled = F.interpolate(F.avg_pool2d(coarse, 2), scale_factor=4, mode="bicubic", align_corners=True)
        x = F.relu(self.merge(torch.cat([fine, up, pooled], dim=1)))
        x = F.interpolate(x, size=(5, 5), mode="bilinear", align_corners=False)
        return self.head(x.mean(dim=(2, 3)))


class SubPixelBlock(nn.Module):
    def __init__(self):
        super().__init__()
        self.down = nn.Conv2d(1, 8, 3, stride=2, padding=1)
        self.shuffle = nn.PixelShuffle(2)
        self.conv = nn.Conv2d(2, 6, 3, padding=1)
        self.head = nn.Linear(24, 10)

    def forward(self, pixels):
        x = self.conv(self.shuffle(self.down(pixels / 16.0)))
        x = torch.flip(x[:, :, ::2, 1::2], dims=[3])
        x = F.mish(F.pixel_unshuffle(x, 2))
        return self.head(x.mean(dim=(2, 3)))


class MetricEmbedding(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Linear(8, 16)
        self.query = nn.Linear(16, 16)
        self.key = nn.Linear(16, 16)
        self.head = nn.Linear(48, 10)
        self.register_buffer("picked", torch.tensor([[0, 7], [3, 3]]).repeat(1, 8)[:, :16].reshape(1, 2, 16))

    def forward(self, pixels):
        h = self.embed(pixels / 16.0)
        attention = torch.softmax(torch.einsum("bid,bjd->bij", self.query(h), self.key(h)) / 4.0, dim=-1)
        h = torch.cumsum(torch.einsum("bij,bjd->bid", attention, h), dim=1) / torch.arange(1.0, 9.0).reshape(1, 8, 1)  # a running mean
        top = torch.topk(h, 3, dim=1).values
        picked = torch.gather(h, 1, self.picked.expand(h.shape[0], -1, -1))
        z = F.normalize(torch.cat([top, picked], dim=1).mean(dim=1), dim=1).repeat(1, 2)
        return self.head(torch.cat([z, torch.sin(torch.logsumexp(h, dim=1))], dim=1))


class ReflectBlock(nn.Module):
    def __init__(self):
        super().__init__()
        self.pad = nn.ReflectionPad2d(1)
        self.conv1 = nn.Conv2d(1, 6, 3)
        self.conv2 = nn.Conv2d(6, 4, 3)
        self.mix = nn.Parameter(torch.zeros(4, 4))
        self.head = nn.Linear(4, 10)

    def forward(self, pixels):
        x = F.softshrink(self.conv1(self.pad(pixels / 16.0)), 0.1)
        x = self.conv2(F.pad(x, (2, 0, 0, 1), mode="replicate"))
        pooled = x.mean(dim=(2, 3))
        h = pooled @ torch.tril(self.mix).t()
        h[:, 0] = pooled[:, 0] * 2.0
        return self.head(h)


class AngleBlock(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3, padding=1)
        self.pool = nn.LPPool2d(2, 2)
        self.head = nn.Linear(12, 10)

    def forward(self, pixels):
        x = self.conv(pixels / 16.0)
        energy = self.pool(x).mean(dim=(2, 3))
        g = torch.prod(torch.sigmoid(x).flatten(2)[:, :, :5] + 0.5, dim=2)
        angles = torch.atan(g) + torch.asin(torch.tanh(g)) + torch.tan(g * 0.3) + torch.fmod(g * 3.0, 1.7)
        return self.head(torch.cat([energy, g, angles], dim=1))


class ScriptedLoop(nn.Module):
    def __init__(self):
        super().__init__()
        self.cell = nn.Linear(8, 16)
        self.recur = nn.Linear(16, 16)
        self.wide = nn.Linear(16, 16)
        self.head = nn.Linear(16, 10)

    def forward(self, pixels):
        x = pixels / 16.0
        h = torch.zeros(x.shape[0], 16)
        for i in range(x.shape[1]):  # scripted: a Loop over the rows, its trip count from the input's shape
            h = torch.tanh(self.cell(x[:, i]) + self.recur(h))
        if x.shape[1] > 4:  # scripted: an If on a shape
            h = h + torch.relu(self.wide(h))
        else:
            h = h * 2.0
        return self.head(h)


class AttentionBlock(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Linear(8, 16)
        self.encoder = nn.TransformerEncoderLayer(16, 2, dim_feedforward=32, dropout=0.0, batch_first=True)
        self.head = nn.Linear(16, 10)

    def forward(self, pixels):
        return self.head(self.encoder(self.embed(pixels / 16.0)).mean(dim=1))


def main():
    scans = np.loadtxt("digits_tokens.csv", delimiter=",", dtype=np.int64)
    pixels_all = torch.tensor(scans[:, :64], dtype=torch.float32)
    digits = torch.tensor(scans[:, 64])
    rows = [0, 7, 33, 101, 250, 999]
    expected = {}
    for seed, (key, model, shape) in enumerate([("resnet", ResNetBlock(), (1, 8, 8)), ("convnext", ConvNeXtBlock(), (1, 8, 8)),
                                                ("tcn", TemporalBlock(), (8, 8)), ("attention", AttentionBlock(), (8, 8)),
                                                ("groupnorm", GroupNormBlock(), (1, 8, 8)), ("unet", UNetLevel(), (1, 8, 8)),
                                                ("pyramid", PyramidLevel(), (1, 8, 8)), ("subpixel", SubPixelBlock(), (1, 8, 8)),
                                                ("embedding", MetricEmbedding(), (8, 8)), ("reflect", ReflectBlock(), (1, 8, 8)),
                                                ("angles", AngleBlock(), (1, 8, 8)), ("scripted", ScriptedLoop(), (8, 8))]):
        torch.manual_seed(40 + seed)
        for p in model.parameters():  # fresh, seeded weights per block (the constructors above ran before the seed)
            with torch.no_grad():
                p.copy_(torch.randn_like(p) * (0.3 if p.dim() > 1 else 0.1))
        model.eval()
        pixels = pixels_all.reshape(-1, *shape)
        name = f"pytorch_block_{key}.onnx"
        exported = torch.jit.script(model) if key == "scripted" else model  # scripting keeps loops and branches as Loop and If
        torch.onnx.export(exported, (pixels[:2],), name, input_names=["pixels"], output_names=["logits"],
                          dynamic_axes={"pixels": {0: "batch"}, "logits": {0: "batch"}}, opset_version=17, do_constant_folding=False)
        onnx.checker.check_model(onnx.load(name), full_check=True)
        if key in ("pyramid", "subpixel"):  # also as older exporters write them: opset 11, lifted for the train step
            older = f"pytorch_block_{key}_opset11.onnx"
            torch.onnx.export(model, (pixels[:2],), older, input_names=["pixels"], output_names=["logits"],
                              dynamic_axes={"pixels": {0: "batch"}, "logits": {0: "batch"}}, opset_version=11, do_constant_folding=False)
            onnx.checker.check_model(onnx.load(older), full_check=True)
        model.zero_grad()
        logits = model(pixels[rows])
        loss = F.cross_entropy(logits, digits[rows])
        loss.backward()
        expected[key] = {
            "pixels": pixels[rows].flatten().tolist(),
            "labels": digits[rows].tolist(),
            "logits": logits.detach().flatten().tolist(),
            "loss": loss.item(),
            "gradients": {n: p.grad.flatten().tolist() for n, p in model.named_parameters()},
        }
        print(name, len(list(model.parameters())), "tensors, ops", sorted({n.op_type for n in onnx.load(name).graph.node}))
    with open("pytorch_blocks_expected.json", "w") as f:
        json.dump(expected, f)


if __name__ == "__main__":
    main()
