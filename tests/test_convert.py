"""Uploaded ONNX graphs as trainable torch modules (``compressor.convert``): faithful, prunable, re-exportable, and a graph
that does not convert names its operator and nothing else from the file."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from torch import nn

from ecocompress.compressor.architectures import ResNet
from ecocompress.compressor.convert import TOLERANCE, ConversionError, check, convert, scores
from ecocompress.compressor.export import export_onnx
from ecocompress.compressor.techniques.layers import conform_to_state_dict, count_macs
from ecocompress.compressor.techniques.pruning import narrow, structured_prune
from ecocompress.core.recipes import TrainConfig

SHAPE = (1, 16, 16)


@pytest.fixture(scope="module")
def resnet_files(tmp_path_factory) -> dict[str, bytes]:
    """The same tiny ResNet (trained BatchNorm statistics) as torch's two exporters write it: the default one folds
    BatchNorm into the convolutions and pools with ReduceMean; the legacy one, asked to keep training ops, keeps
    BatchNormalization and GlobalAveragePool."""
    torch.manual_seed(0)
    net = ResNet(stages=((16, 1), (32, 1), (64, 1)), large_stem=False)
    for layer in net.modules():
        if isinstance(layer, nn.BatchNorm2d):
            layer.running_mean.normal_()
            layer.running_var.uniform_(0.5, 2.0)
            layer.weight.data.uniform_(0.5, 1.5)
    net.eval()
    folder = tmp_path_factory.mktemp("resnet")
    folded = export_onnx(net, SHAPE, folder / "folded.onnx").read_bytes()
    torch.onnx.export(net, (torch.zeros(2, *SHAPE),), str(folder / "bn.onnx"), dynamo=False,
                      training=torch.onnx.TrainingMode.PRESERVE, do_constant_folding=False, input_names=["input"],
                      dynamic_axes={"input": {0: "batch"}})
    return {"folded": folded, "batchnorm": (folder / "bn.onnx").read_bytes()}


def _data(n: int = 256) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    return rng.standard_normal((n, *SHAPE)).astype(np.float32), rng.integers(0, 10, n)


def _ops(data: bytes) -> set[str]:
    return {node.op_type for node in onnx.load_from_string(data).graph.node}


@pytest.mark.parametrize("kind", ["folded", "batchnorm"])
def test_a_resnet_converts_within_tolerance_prunes_structurally_and_exports_again(resnet_files, kind, tmp_path):
    data = resnet_files[kind]
    assert ("BatchNormalization" in _ops(data)) == (kind == "batchnorm")
    x, y = _data()
    conversion = check(data, onnx.load_from_string(data).graph.input[0].name, x)
    assert conversion.converts, conversion.reason
    assert conversion.examples == len(x) and conversion.max_difference <= TOLERANCE * max(1.0, conversion.scale)

    module = convert(data)
    assert {name.split(".")[-1] for name, _ in module.named_modules()} >= {"conv0"}  # named by operator, not the file
    pruned = structured_prune(module, 0.5, SHAPE, x, y, TrainConfig(epochs=1, batch_size=64, lr=1e-3))
    before, after = (sum(p.numel() for p in m.parameters()) for m in (module, pruned))
    assert after < 0.4 * before  # half the channels of each layer: about a quarter of the weights
    exported = export_onnx(pruned, SHAPE, tmp_path / "pruned.onnx")
    session = ort.InferenceSession(str(exported), providers=["CPUExecutionProvider"])
    runs = session.run(None, {session.get_inputs()[0].name: x[:16]})[0]
    np.testing.assert_allclose(runs, scores(pruned, x[:16]), atol=1e-4)
    # the model cache rebuilds a pruned module from plain arrays on a fresh conversion (BatchNorm included)
    rebuilt = conform_to_state_dict(convert(data), pruned.state_dict())
    np.testing.assert_array_equal(scores(rebuilt, x[:16]), scores(pruned, x[:16]))


def test_a_converted_network_narrows_into_a_student_of_its_own_family(resnet_files):
    """A converted upload's student x0.5 (``UploadedModel.build``) is the file's own network at half the channels:
    the same operations, about a quarter of the multiply-accumulates (a parameter-sized stand-in network can cost
    more work than a ResNet that downsamples early), started from the teacher's strongest channels."""
    module = convert(resnet_files["folded"])
    student = narrow(module, 0.5, SHAPE)
    kinds = [type(m).__name__ for m in module.modules()]
    assert [type(m).__name__ for m in student.modules()] == kinds
    assert 0.2 < count_macs(student, SHAPE) / count_macs(module, SHAPE) < 0.35
    x, _ = _data(16)
    assert scores(student, x).shape == scores(module, x).shape
    assert not np.allclose(scores(student, x), scores(module, x))  # narrower, so not the teacher any more
    assert narrow(module, 1.0, SHAPE) is not module  # full width: a copy, the cached conversion stays untouched


def _with_node(node: onnx.NodeProto, domain: str) -> bytes:
    """A one-layer classifier whose first operation is ``node`` (from ``domain``)."""
    from onnx import TensorProto, helper, numpy_helper

    weight = numpy_helper.from_array(np.ones((4, 3), dtype=np.float32), "weight")
    graph = helper.make_graph(
        [node, helper.make_node("Gemm", ["scaled", "weight"], ["scores"])], "g",
        [helper.make_tensor_value_info("features", TensorProto.FLOAT, ["batch", 4])],
        [helper.make_tensor_value_info("scores", TensorProto.FLOAT, ["batch", 3])], [weight])
    imports = [helper.make_opsetid("", 17)] + ([helper.make_opsetid(domain, 1)] if domain else [])
    return helper.make_model(graph, opset_imports=imports).SerializeToString()


def test_an_operator_without_a_conversion_is_named():
    from onnx import helper

    scaler = helper.make_node("Scaler", ["features"], ["scaled"], domain="ai.onnx.ml", offset=[0.0] * 4, scale=[2.0] * 4)
    data = _with_node(scaler, "ai.onnx.ml")
    with pytest.raises(ConversionError, match="the operator Scaler has no conversion to PyTorch") as caught:
        convert(data)
    assert caught.value.operator == "Scaler"
    conversion = check(data, "features", np.ones((8, 4), dtype=np.float32))
    assert not conversion.converts and conversion.operator == "Scaler" and "Scaler" in conversion.reason


def test_an_operator_type_that_is_free_text_is_never_quoted():
    """A custom domain's operator type is whatever the file says: messages name no such text."""
    from onnx import helper

    hostile = "<script>alert(1)</script>" + "x" * 200
    data = _with_node(helper.make_node(hostile, ["features"], ["scaled"], domain="evil.domain"), "evil.domain")
    with pytest.raises(ConversionError) as caught:
        convert(data)
    assert caught.value.operator is None and "script" not in str(caught.value)
    assert str(caught.value) == "the graph has no conversion to PyTorch"


def test_the_converted_sample_reproduces_its_file(tmp_path):
    """The digits sample exported as a user would: conversion, structured pruning and export keep it consistent."""
    from ecocompress.models.registry import get_model

    spec = get_model("digits-cnn")
    data = spec.dataset()
    path = export_onnx(spec.load(), data.input_shape, tmp_path / "digits.onnx")
    conversion = check(path.read_bytes(), onnx.load(path).graph.input[0].name, data.x_test)
    assert conversion.converts and conversion.max_difference <= TOLERANCE * max(1.0, conversion.scale)
