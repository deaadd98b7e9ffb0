#!/usr/bin/python3
"""Exports a regressor trained by PyTorch on scikit-learn's diabetes data (442 real patients, shipped with
python3-sklearn: 10 standardized baseline variables, disease progression one year later), for federated fine-tuning.

  diabetes.csv                       the data as scikit-learn ships it: 10 feature columns, then the target divided by
                                     100 (progression in hundreds, 0.25-3.46), one patient per row, in scikit-learn's order.
  pytorch_diabetes_regressor.onnx    features float [batch, 10] -> progression float [batch, 1]: Linear(10, 16) named
                                     hidden, ReLU, Linear(16, 1) named head. Trained (Adam, 300 epochs, MSE) only on the
                                     patients of one sex (column 1 > 0) among the first 332 rows: the fleet's devices,
                                     which see both, fine-tune it; rows 332-441 are held out.
  diabetes_regressor_expected.json   six rows, their targets, the predictions PyTorch computes, the mean squared error
                                     over them as one batch and every parameter's gradient of it by PyTorch's autograd.
Run from this directory: /usr/bin/python3 export_diabetes_regressor.py
"""
import json

import numpy as np
import onnx
import torch
from sklearn.datasets import load_diabetes
from torch import nn

data = load_diabetes()
x = data.data.astype(np.float32)
y = (data.target / 100.0).astype(np.float32)
with open("diabetes.csv", "w") as f:
    for row, target in zip(x, y):
        f.write(",".join(repr(float(v)) for v in row) + "," + repr(float(target)) + "\n")


class Regressor(nn.Module):
    def __init__(self):
        super().__init__()
        self.hidden = nn.Linear(10, 16)
        self.head = nn.Linear(16, 1)

    def forward(self, features):
        return self.head(torch.relu(self.hidden(features)))


torch.manual_seed(10)
model = Regressor()
train = [i for i in range(332) if x[i, 1] > 0]
xs, ys = torch.tensor(x[train]), torch.tensor(y[train]).unsqueeze(1)
optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
for _ in range(300):
    optimizer.zero_grad()
    loss = nn.functional.mse_loss(model(xs), ys)
    loss.backward()
    optimizer.step()
model.eval()
held_out = torch.tensor(x[332:]), torch.tensor(y[332:]).unsqueeze(1)
with torch.no_grad():
    print("trained on", len(train), "rows; train MSE", round(loss.item(), 4),
          "held-out MSE", round(nn.functional.mse_loss(model(held_out[0]), held_out[1]).item(), 4))

rows = torch.tensor(x[:6])
torch.onnx.export(model, (rows,), "pytorch_diabetes_regressor.onnx", input_names=["features"], output_names=["progression"],
                  dynamic_axes={"features": {0: "batch"}, "progression": {0: "batch"}}, opset_version=17)
onnx.checker.check_model(onnx.load("pytorch_diabetes_regressor.onnx"), full_check=True)

targets = torch.tensor(y[:6]).unsqueeze(1)
with torch.no_grad():
    predictions = model(rows)
model.zero_grad()
loss = nn.functional.mse_loss(model(rows), targets)
loss.backward()
gradients = {name: p.grad.flatten().tolist() for name, p in model.named_parameters()}
with open("diabetes_regressor_expected.json", "w") as f:
    json.dump({"rows": rows.flatten().tolist(), "targets": targets.flatten().tolist(),
               "predictions": predictions.flatten().tolist(), "loss": loss.item(), "gradients": gradients}, f)
print("predictions", [round(p, 4) for p in predictions.flatten().tolist()], "loss", round(loss.item(), 5))
