#!/usr/bin/python3
"""Exports two models that are not classifiers, served by devices through /v1/infer (tensors by name).

  pytorch_gru_keyword.onnx  a stateful keyword scorer (Debian's python3-torch): frames float [1, frames, 8] and the
                            GRU state h_in float [1, 1, 16] -> score float [1, 1] (sigmoid of the last step) and
                            h_out float [1, 1, 16]. The frame axis is dynamic; the state passes between calls.
  pytorch_gru_keyword_v2.onnx  the same scorer "retrained" (other weights, the same interface): a second version.
  mixed_inputs_regressor.onnx  built with python3-onnx: reading float [batch, 3], site string [batch, 1] and
                            count int64 [batch, 1] -> site_code int64 [batch, 1] (ai.onnx.ml CategoryMapper) and
                            value float [batch, 1] (a linear regression over the reading, the count and the site).
  typed_passthrough.onnx  built with python3-onnx: flag bool [n] -> not_flag (Not), x double [n] -> twice (x * 2),
                         k int32 [n] -> next (k + 1): every element type devices move besides float, int64 and string.
tensor_models_expected.json holds a 12-frame sequence and PyTorch's score and state after all of it (what a device
fed the same frames in chunks, carrying the state, must answer), and the regressor's probe rows with the values numpy
computes from its weights.
Run from this directory: /usr/bin/python3 export_tensor_models.py
"""
import json

import numpy as np
import onnx
import torch
from onnx import TensorProto, helper
from torch import nn


class KeywordScorer(nn.Module):
    def __init__(self):
        super().__init__()
        self.gru = nn.GRU(8, 16, batch_first=True)
        self.head = nn.Linear(16, 1)

    def forward(self, frames, h_in):
        out, h_out = self.gru(frames, h_in)
        return torch.sigmoid(self.head(out[:, -1, :])), h_out


torch.manual_seed(5)
scorer = KeywordScorer().eval()
frames = torch.randn(1, 12, 8)
h0 = torch.zeros(1, 1, 16)
torch.onnx.export(scorer, (frames[:, :4], h0), "pytorch_gru_keyword.onnx", input_names=["frames", "h_in"],
                  output_names=["score", "h_out"], dynamic_axes={"frames": {1: "frames"}}, opset_version=17)
onnx.checker.check_model(onnx.load("pytorch_gru_keyword.onnx"), full_check=True)
with torch.no_grad():
    score, h_end = scorer(frames, h0)

torch.manual_seed(6)
retrained = KeywordScorer().eval()
torch.onnx.export(retrained, (frames[:, :4], h0), "pytorch_gru_keyword_v2.onnx", input_names=["frames", "h_in"],
                  output_names=["score", "h_out"], dynamic_axes={"frames": {1: "frames"}}, opset_version=17)
with torch.no_grad():
    score_v2, _ = retrained(frames, h0)

# The regressor: value = reading . w + count * c + site_weight[code] + b, code from a CategoryMapper.
w = np.array([[0.5], [-1.25], [2.0]], dtype=np.float32)
sites = ["north", "south", "east"]
site_weight = np.array([[0.25], [-0.75], [1.5], [0.0]], dtype=np.float32)  # index 3: an unknown site (default_int64)
graph = helper.make_graph(
    [
        helper.make_node("CategoryMapper", ["site"], ["site_code"], domain="ai.onnx.ml", cats_strings=sites,
                         cats_int64s=[0, 1, 2], default_int64=3),
        helper.make_node("Gather", ["site_weight", "site_code"], ["site_term3"], axis=0),
        helper.make_node("Squeeze", ["site_term3", "axis1"], ["site_term"]),
        helper.make_node("MatMul", ["reading", "w"], ["linear"]),
        helper.make_node("Cast", ["count"], ["count_f"], to=TensorProto.FLOAT),
        helper.make_node("Mul", ["count_f", "c"], ["count_term"]),
        helper.make_node("Add", ["linear", "count_term"], ["partial"]),
        helper.make_node("Add", ["partial", "site_term"], ["partial2"]),
        helper.make_node("Add", ["partial2", "b"], ["value"]),
    ],
    "mixed_inputs_regressor",
    [
        helper.make_tensor_value_info("reading", TensorProto.FLOAT, ["batch", 3]),
        helper.make_tensor_value_info("site", TensorProto.STRING, ["batch", 1]),
        helper.make_tensor_value_info("count", TensorProto.INT64, ["batch", 1]),
    ],
    [
        helper.make_tensor_value_info("value", TensorProto.FLOAT, ["batch", 1]),
        helper.make_tensor_value_info("site_code", TensorProto.INT64, ["batch", 1]),
    ],
    [
        helper.make_tensor("w", TensorProto.FLOAT, [3, 1], w.flatten()),
        helper.make_tensor("c", TensorProto.FLOAT, [1], [0.125]),
        helper.make_tensor("b", TensorProto.FLOAT, [1], [-0.5]),
        helper.make_tensor("site_weight", TensorProto.FLOAT, [4, 1], site_weight.flatten()),
        helper.make_tensor("axis1", TensorProto.INT64, [1], [1]),
    ],
)
regressor = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("ai.onnx.ml", 3)],
                              producer_name="export_tensor_models.py")
regressor.ir_version = 8
onnx.checker.check_model(regressor, full_check=True)
onnx.save(regressor, "mixed_inputs_regressor.onnx")
typed = helper.make_model(helper.make_graph(
    [
        helper.make_node("Not", ["flag"], ["not_flag"]),
        helper.make_node("Mul", ["x", "two"], ["twice"]),
        helper.make_node("Add", ["k", "one"], ["next"]),
    ],
    "typed_passthrough",
    [
        helper.make_tensor_value_info("flag", TensorProto.BOOL, ["n"]),
        helper.make_tensor_value_info("x", TensorProto.DOUBLE, ["n"]),
        helper.make_tensor_value_info("k", TensorProto.INT32, ["n"]),
    ],
    [
        helper.make_tensor_value_info("not_flag", TensorProto.BOOL, ["n"]),
        helper.make_tensor_value_info("twice", TensorProto.DOUBLE, ["n"]),
        helper.make_tensor_value_info("next", TensorProto.INT32, ["n"]),
    ],
    [helper.make_tensor("two", TensorProto.DOUBLE, [], [2.0]), helper.make_tensor("one", TensorProto.INT32, [], [1])],
), opset_imports=[helper.make_opsetid("", 17)], producer_name="export_tensor_models.py")
typed.ir_version = 8
onnx.checker.check_model(typed, full_check=True)
onnx.save(typed, "typed_passthrough.onnx")

reading = np.array([[1.0, 2.0, 3.0], [-0.5, 0.25, 4.0], [0.0, 0.0, 0.0]], dtype=np.float32)
site = ["south", "west", "east"]
count = np.array([[4], [0], [7]], dtype=np.int64)
codes = [sites.index(s) if s in sites else 3 for s in site]
value = reading @ w + count.astype(np.float32) * 0.125 + site_weight[codes] - 0.5

expected = {
    "frames": frames.flatten().tolist(),
    "score": score.flatten().tolist(),
    "h_out": h_end.flatten().tolist(),
    "score_v2": score_v2.flatten().tolist(),
    "reading": reading.flatten().tolist(),
    "site": site,
    "count": count.flatten().tolist(),
    "site_code": codes,
    "value": value.flatten().tolist(),
}
with open("tensor_models_expected.json", "w") as f:
    json.dump(expected, f)
print("wrote pytorch_gru_keyword.onnx, mixed_inputs_regressor.onnx and tensor_models_expected.json; score",
      round(score.item(), 5), "values", value.flatten().round(4).tolist())
