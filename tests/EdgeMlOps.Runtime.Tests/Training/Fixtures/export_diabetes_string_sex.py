#!/usr/bin/python3
"""Makes the two-input diabetes regressor (export_diabetes_two_inputs.py) into one whose categorical column is a
string, as scikit-learn-to-ONNX converters write categorical columns: the sex column arrives as the dataset's own codes
"1" and "2" (strings), an ai.onnx.ml OneHotEncoder (cats_strings ["1", "2"], zeros=1: an unknown string is all
zeros) turns it into [batch, 1, 2], a Flatten into [batch, 2], and a MatMul with PyTorch's embedding table
(sex_embedding.weight, [2, 4]) replaces the Gather — the same function of the same weights, so the six rows, targets,
predictions, loss and gradients of diabetes_two_inputs_expected.json hold for it (row value 0 is "1", 1 is "2").

  pytorch_diabetes_string_sex.onnx   measurements float [batch, 9] and sex string [batch, 1] -> progression [batch, 1]
Run from this directory: /usr/bin/python3 export_diabetes_string_sex.py
"""
import onnx
from onnx import TensorProto, helper

model = onnx.load("pytorch_diabetes_two_inputs.onnx")
graph = model.graph
sex = next(i for i in graph.input if i.name == "sex")
sex.type.tensor_type.elem_type = TensorProto.STRING
gather = next(n for n in graph.node if n.op_type == "Gather")
flatten = next(n for n in graph.node if n.op_type == "Flatten" and n.input[0] == gather.output[0])
position = list(graph.node).index(gather)
nodes = [
    helper.make_node("OneHotEncoder", ["sex"], ["sex_onehot"], domain="ai.onnx.ml", cats_strings=["1", "2"], zeros=1, name="sex_encoder"),
    helper.make_node("Flatten", ["sex_onehot"], ["sex_columns"], axis=1, name="sex_columns"),
    helper.make_node("MatMul", ["sex_columns", "sex_embedding.weight"], [flatten.output[0]], name="sex_embedding"),
]
graph.node.remove(flatten)
graph.node.remove(gather)
for offset, node in enumerate(nodes):
    graph.node.insert(position + offset, node)
graph.value_info.append(helper.make_tensor_value_info("sex_onehot", TensorProto.FLOAT, ["batch", 1, 2]))  # ONNX infers no type for OneHotEncoder
model.opset_import.append(helper.make_opsetid("ai.onnx.ml", 1))
onnx.checker.check_model(model, full_check=True)
onnx.save(model, "pytorch_diabetes_string_sex.onnx")
print([n.op_type for n in model.graph.node])
