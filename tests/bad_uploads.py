"""Bad uploads shared by the CLI and dashboard tests: (file name, bytes, the sentence's telling part)."""

from __future__ import annotations

import pandas as pd
from onnx import TensorProto, helper


def _two_inputs() -> bytes:
    graph = helper.make_graph(
        [helper.make_node("Add", ["a", "b"], ["y"])], "g",
        [helper.make_tensor_value_info("a", TensorProto.FLOAT, ["n", 3]), helper.make_tensor_value_info("b", TensorProto.FLOAT, ["n", 3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", 3])],
    )
    return helper.make_model(graph).SerializeToString()


def _not_a_classifier() -> bytes:
    graph = helper.make_graph(
        [helper.make_node("Relu", ["x"], ["y"])], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 4, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", 4, 4])],
    )
    return helper.make_model(graph).SerializeToString()


MARKER = "ecocompress-marker.bin"  # a file a hostile model names as its external data, relative to the server's cwd


def external_data_in_a_subgraph(location: str = MARKER) -> bytes:
    """A classifier whose If branch holds a Constant with external data at a plain relative path
    (the red-team's file read: onnxruntime would read that file, and its bytes would shape the output)."""
    secret = TensorProto(name="secret", data_type=TensorProto.FLOAT, dims=[4], data_location=TensorProto.EXTERNAL)
    secret.external_data.add(key="location", value=location)
    then = helper.make_graph([helper.make_node("Constant", [], ["t"], value=secret)], "then", [],
                             [helper.make_tensor_value_info("t", TensorProto.FLOAT, [4])])
    other = helper.make_graph([helper.make_node("Constant", [], ["e"], value=helper.make_tensor("e", TensorProto.FLOAT, [4], [0.0] * 4))],
                              "else", [], [helper.make_tensor_value_info("e", TensorProto.FLOAT, [4])])
    nodes = [
        helper.make_node("Constant", [], ["c"], value=helper.make_tensor("c", TensorProto.BOOL, [], [True])),
        helper.make_node("If", ["c"], ["bias"], then_branch=then, else_branch=other),
        helper.make_node("MatMul", ["x", "w"], ["xw"]),
        helper.make_node("Add", ["xw", "bias"], ["scores"]),
    ]
    graph = helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 4])],
        [helper.make_tensor_value_info("scores", TensorProto.FLOAT, ["n", 4])],
        [helper.make_tensor("w", TensorProto.FLOAT, [4, 4], [0.1] * 16)],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)]).SerializeToString()


def bad_models(model: bytes) -> list[tuple[str, bytes, str]]:
    return [
        ("empty.onnx", b"", "is empty"),
        ("corrupt.onnx", b"\x00not onnx at all" * 50, "is not a readable ONNX model"),
        ("truncated.onnx", model[: len(model) // 2], "is not a readable ONNX model"),
        ("two.onnx", _two_inputs(), "has 2 inputs (a, b)"),
        ("relu.onnx", _not_a_classifier(), "has no output of class scores shaped [batch, classes]"),
        ("model.pt", model, "is a pickle-based file"),
        ("evil.onnx", b"\x80\x04\x95 a pickle stream", "is a pickle-based file"),
        ("subgraph.onnx", external_data_in_a_subgraph(), "keeps its weights in a separate file"),
    ]


def _csv(frame: pd.DataFrame) -> bytes:
    return frame.to_csv(index=False).encode()


def _edited(frame: pd.DataFrame, column: str, row: int, value) -> bytes:
    edited = frame.copy()
    edited[column] = edited[column].astype(object)
    edited.loc[row, column] = value
    return _csv(edited)


def bad_data(frame: pd.DataFrame, classes: int) -> list[tuple[str, bytes, str]]:
    """``frame``: numeric feature columns and a 'label' column that fit the model."""
    features = [c for c in frame.columns if c != "label"]
    return [
        ("nolabel.csv", _csv(frame.drop(columns=["label"])), "has no 'label' column"),
        ("nan.csv", _edited(frame, features[3], 4, float("nan")), "has a missing value in row 6"),
        ("text.csv", _edited(frame, features[2], 2, "abc"), "holds text (row 4: 'abc')"),
        ("narrow.csv", _csv(frame.drop(columns=features[:2])), f"The model expects {len(features)} features per example"),
        ("labels.csv", _edited(frame, "label", 0, classes + 4),
         f"Label {classes + 4} in 'labels.csv' is outside the model's classes 0-{classes - 1}"),
        ("header.csv", _csv(frame.iloc[:0]), "has a header but no rows"),
        ("empty.csv", b"", "is empty"),
        ("overflow.csv", _edited(frame, features[1], 3, 3.5e38), "has a value too large for float32 in row 5"),
        ("huge-label.csv", _edited(frame, "label", 1, 1e30), "must be whole-number class indices; row 3 has '1e+30'"),
        ("![t](https://example.invalid/?leak).csv", _csv(frame.drop(columns=["label"])), "has no 'label' column"),
    ]


def classifier_around(nodes: list, extra_inits: list | None = None) -> bytes:
    """x [n, 4] -> scores [n, 3] = x @ w + bias, where ``nodes`` compute ``bias`` (shape [3]) the hostile way."""
    graph = helper.make_graph(
        [*nodes, helper.make_node("MatMul", ["x", "w"], ["xw"]), helper.make_node("Add", ["xw", "bias"], ["scores"])],
        "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 4])],
        [helper.make_tensor_value_info("scores", TensorProto.FLOAT, ["n", 3])],
        [helper.make_tensor("w", TensorProto.FLOAT, [4, 3], [0.1] * 12), *(extra_inits or [])],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)]).SerializeToString()


def add_one_loop_body():
    """A Loop body that keeps going and adds 1 to a [3] accumulator: as many iterations as the trip count says."""
    return helper.make_graph(
        [helper.make_node("Identity", ["cond_in"], ["cond_out"]), helper.make_node("Add", ["acc_in", "one"], ["acc_out"])],
        "body",
        [helper.make_tensor_value_info("i", TensorProto.INT64, []), helper.make_tensor_value_info("cond_in", TensorProto.BOOL, []),
         helper.make_tensor_value_info("acc_in", TensorProto.FLOAT, [3])],
        [helper.make_tensor_value_info("cond_out", TensorProto.BOOL, []), helper.make_tensor_value_info("acc_out", TensorProto.FLOAT, [3])],
        [helper.make_tensor("one", TensorProto.FLOAT, [3], [1.0] * 3)],
    )
