#!/usr/bin/python3
"""Trains a random forest with Debian's python3-sklearn on the wine data sklearn ships, and converts it to an
ONNX ai.onnx.ml TreeEnsembleClassifier with the small converter below (no skl2onnx here).

  sklearn_forest_wine.onnx   'features' float [batch, 13] -> 'label' int64 [batch], 'probabilities' float [batch, 3]
                             (the mean of the trees' leaf class frequencies, as RandomForestClassifier.predict_proba).
  sklearn_forest_wine_v2.onnx  a second version with the same interface: the forest retrained (16 trees, another seed),
                             as a data scientist registers a retrained serve-only model.
  sklearn_forest_expected.json  held-out rows with sklearn's own probabilities and labels (and the second version's).
Run from this directory: /usr/bin/python3 convert_sklearn_forest.py
"""
import json

import numpy as np
import onnx
from onnx import TensorProto, helper
from sklearn.datasets import load_wine
from sklearn.ensemble import RandomForestClassifier
from sklearn.model_selection import train_test_split


def float32_at_most(threshold):
    """The largest float32 not above sklearn's float64 threshold. sklearn compares float32 features against float64
    thresholds (midpoints between two float32 values); the nearest float32 can round up onto the upper value and send
    that value left where sklearn sends it right. For a float32 x, x <= threshold exactly when x <= this value."""
    value = np.float32(threshold)
    if float(value) > float(threshold):
        value = np.nextafter(value, np.float32(-np.inf))
    return float(value)


def convert(forest, features):
    """One TreeEnsembleClassifier node: every tree's split nodes (x[f] <= t goes to the left child, as in sklearn)
    and, per leaf, each class's share of the leaf's training samples divided by the number of trees."""
    attrs = {k: [] for k in ("nodes_treeids", "nodes_nodeids", "nodes_featureids", "nodes_modes", "nodes_values",
                             "nodes_truenodeids", "nodes_falsenodeids", "nodes_missing_value_tracks_true",
                             "nodes_hitrates", "class_treeids", "class_nodeids", "class_ids", "class_weights")}
    trees = len(forest.estimators_)
    for t, estimator in enumerate(forest.estimators_):
        tree = estimator.tree_
        for n in range(tree.node_count):
            leaf = tree.children_left[n] == -1
            attrs["nodes_treeids"].append(t)
            attrs["nodes_nodeids"].append(n)
            attrs["nodes_featureids"].append(0 if leaf else int(tree.feature[n]))
            attrs["nodes_modes"].append("LEAF" if leaf else "BRANCH_LEQ")
            attrs["nodes_values"].append(0.0 if leaf else float32_at_most(tree.threshold[n]))
            attrs["nodes_truenodeids"].append(0 if leaf else int(tree.children_left[n]))
            attrs["nodes_falsenodeids"].append(0 if leaf else int(tree.children_right[n]))
            attrs["nodes_missing_value_tracks_true"].append(0)
            attrs["nodes_hitrates"].append(1.0)
            if leaf:
                counts = tree.value[n][0]
                for c, share in enumerate(counts / counts.sum()):
                    attrs["class_treeids"].append(t)
                    attrs["class_nodeids"].append(n)
                    attrs["class_ids"].append(c)
                    attrs["class_weights"].append(float(share) / trees)
    node = helper.make_node("TreeEnsembleClassifier", ["features"], ["label", "probabilities"], domain="ai.onnx.ml",
                            classlabels_int64s=[int(c) for c in forest.classes_], post_transform="NONE", **attrs)
    graph = helper.make_graph(
        [node], "sklearn_random_forest",
        [helper.make_tensor_value_info("features", TensorProto.FLOAT, ["batch", features])],
        [helper.make_tensor_value_info("label", TensorProto.INT64, ["batch"]),
         helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["batch", len(forest.classes_)])])
    model = helper.make_model(graph, producer_name="edgemlops-sklearn-converter",
                              opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("ai.onnx.ml", 3)])
    model.ir_version = 8
    onnx.checker.check_model(model, full_check=True)
    return model


x, y = load_wine(return_X_y=True)
x = x.astype(np.float32)
train_x, test_x, train_y, test_y = train_test_split(x, y, test_size=0.3, random_state=4, stratify=y)
forest = RandomForestClassifier(n_estimators=8, max_depth=5, random_state=4).fit(train_x, train_y)
onnx.save(convert(forest, x.shape[1]), "sklearn_forest_wine.onnx")
retrained = RandomForestClassifier(n_estimators=16, max_depth=5, random_state=7).fit(train_x, train_y)
onnx.save(convert(retrained, x.shape[1]), "sklearn_forest_wine_v2.onnx")
with open("sklearn_forest_expected.json", "w") as f:
    json.dump({"features": test_x.flatten().tolist(), "rows": len(test_y), "labels": test_y.tolist(),
               "probabilities": forest.predict_proba(test_x).flatten().tolist(),
               "predicted": forest.predict(test_x).tolist(), "accuracy": float(forest.score(test_x, test_y)),
               "probabilities_v2": retrained.predict_proba(test_x).flatten().tolist(),
               "predicted_v2": retrained.predict(test_x).tolist(), "accuracy_v2": float(retrained.score(test_x, test_y))}, f)
print(f"held-out accuracy {forest.score(test_x, test_y):.3f} on {len(test_y)} rows")
