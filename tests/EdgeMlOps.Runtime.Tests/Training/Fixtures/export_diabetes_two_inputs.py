#!/usr/bin/python3
"""Exports a regressor with two inputs, trained by PyTorch on scikit-learn's diabetes data (diabetes.csv, written by
export_diabetes_regressor.py): nine standardized measurements as floats and the patient's sex as a category id into
an embedding — the shape of most tabular models with a categorical column — for federated fine-tuning.

  pytorch_diabetes_two_inputs.onnx        measurements float [batch, 9] (the ten columns without sex) and sex int64
                                          [batch, 1] (0: column 1 <= 0, 1: above) -> progression float [batch, 1]:
                                          Linear(9, 16) named hidden and ReLU, Embedding(2, 4) named sex_embedding,
                                          concatenated into Linear(20, 1) named head. Trained (Adam, 300 epochs, MSE)
                                          only on the patients with sex id 1 among the first 332 rows, so the embedding
                                          of id 0 is still its random start: the fleet's devices, which see both, learn it.
  diabetes_two_inputs.csv                 the same patients as a device keeps them: 9 measurements, the sex id, then
                                          the target (progression / 100), in scikit-learn's order.
  diabetes_two_inputs_expected.json       six rows as a device keeps them (9 measurements then the sex id), their
                                          targets, PyTorch's predictions, the MSE over them as one batch and every
                                          parameter's gradient of it by PyTorch's autograd.
Run from this directory: /usr/bin/python3 export_diabetes_two_inputs.py
"""
import json

import numpy as np
import onnx
import torch
from torch import nn

data = np.loadtxt("diabetes.csv", delimiter=",", dtype=np.float32)
x, y = data[:, :10], data[:, 10]
measurements = np.delete(x, 1, axis=1)
sex = (x[:, 1] > 0).astype(np.int64).reshape(-1, 1)
with open("diabetes_two_inputs.csv", "w") as f:
    for row, s, target in zip(measurements, sex[:, 0], y):
        f.write(",".join(repr(float(v)) for v in row) + "," + str(int(s)) + "," + repr(float(target)) + "\n")


class TwoInputRegressor(nn.Module):
    def __init__(self):
        super().__init__()
        self.hidden = nn.Linear(9, 16)
        self.sex_embedding = nn.Embedding(2, 4)
        self.head = nn.Linear(20, 1)

    def forward(self, measurements, sex):
        h = torch.relu(self.hidden(measurements))
        e = torch.flatten(self.sex_embedding(sex), 1)
        return self.head(torch.cat([h, e], dim=1))


torch.manual_seed(10)
model = TwoInputRegressor()
train = [i for i in range(332) if sex[i, 0] == 1]
ms, ss, ys = torch.tensor(measurements[train]), torch.tensor(sex[train]), torch.tensor(y[train]).unsqueeze(1)
optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
for _ in range(300):
    optimizer.zero_grad()
    loss = nn.functional.mse_loss(model(ms, ss), ys)
    loss.backward()
    optimizer.step()
model.eval()
with torch.no_grad():
    held = nn.functional.mse_loss(model(torch.tensor(measurements[332:]), torch.tensor(sex[332:])), torch.tensor(y[332:]).unsqueeze(1))
    print("trained on", len(train), "rows; train MSE", round(loss.item(), 4), "held-out MSE", round(held.item(), 4))

rows_m, rows_s = torch.tensor(measurements[:6]), torch.tensor(sex[:6])
torch.onnx.export(model, (rows_m, rows_s), "pytorch_diabetes_two_inputs.onnx", input_names=["measurements", "sex"],
                  output_names=["progression"],
                  dynamic_axes={"measurements": {0: "batch"}, "sex": {0: "batch"}, "progression": {0: "batch"}},
                  opset_version=17)
onnx.checker.check_model(onnx.load("pytorch_diabetes_two_inputs.onnx"), full_check=True)

targets = torch.tensor(y[:6]).unsqueeze(1)
with torch.no_grad():
    predictions = model(rows_m, rows_s)
model.zero_grad()
loss = nn.functional.mse_loss(model(rows_m, rows_s), targets)
loss.backward()
gradients = {name: p.grad.flatten().tolist() for name, p in model.named_parameters()}
rows = np.concatenate([measurements[:6], sex[:6].astype(np.float32)], axis=1)
with open("diabetes_two_inputs_expected.json", "w") as f:
    json.dump({"rows": rows.flatten().tolist(), "targets": targets.flatten().tolist(), "heldOutMse": held.item(),
               "predictions": predictions.flatten().tolist(), "loss": loss.item(), "gradients": gradients}, f)
print("sex ids", sex[:6].flatten().tolist(), "predictions", [round(p, 4) for p in predictions.flatten().tolist()], "loss", round(loss.item(), 5))
