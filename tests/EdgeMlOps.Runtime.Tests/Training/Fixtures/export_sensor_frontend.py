#!/usr/bin/python3
"""Exports a sensor front end with Debian's python3-torch (torch.onnx.export), for a classifier the fleet trains.

  pytorch_sensor_frontend.onnx  reading float [batch, 8] -> features float [batch, 8]: 2 tanh(reading / 2), a soft
                                clip that keeps a stuck or spiking sensor from swamping the model, exported on its own
                                so devices run it in front of pytorch_binary_detector.onnx (whose input is 'features')
                                when serving and before every train step (ModelInterface:Preprocess / --preprocess-file).
Run from this directory: /usr/bin/python3 export_sensor_frontend.py
"""
import onnx
import torch
from torch import nn


class SoftClip(nn.Module):
    def forward(self, reading):
        return 2.0 * torch.tanh(reading / 2.0)


torch.onnx.export(SoftClip().eval(), (torch.zeros(1, 8),), "pytorch_sensor_frontend.onnx", input_names=["reading"],
                  output_names=["features"], dynamic_axes={"reading": {0: "batch"}, "features": {0: "batch"}}, opset_version=17)
onnx.checker.check_model(onnx.load("pytorch_sensor_frontend.onnx"), full_check=True)
print("nodes", [n.op_type for n in onnx.load("pytorch_sensor_frontend.onnx").graph.node])
