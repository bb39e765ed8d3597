"""Per-layer structured pruning for energy (issue 19, ``--objective energy``): the point that carries the kept
widths, the technique that removes channels and input features, their storage and ONNX export, and the
sensitivity-based choice (``compressor.width_allocation``) on digits-cnn's teacher (seconds).

The choice is checked against what it measured, never against a fixed number.
"""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import onnx
import pytest
import torch

from choice_checks import assert_cheapest_fitting
from ecocompress.compressor import width_allocation as widths
from ecocompress.compressor.architectures import LeNet5, LeNet300
from ecocompress.compressor.export import export_onnx
from ecocompress.compressor.pipeline import build_artifact
from ecocompress.compressor.storage import pack, unpack
from ecocompress.compressor.techniques.layers import SelectInputs, conform_to_state_dict, count_macs, weight_layers
from ecocompress.compressor.techniques.pruning import INPUTS, prune_widths, select_inputs
from ecocompress.compressor.training import TrainConfig
from ecocompress.core.errors import InvalidParameterError
from ecocompress.core.points import CompressionPoint
from ecocompress.core.records import Measurement
from ecocompress.measure.session import open_session
from ecocompress.models.registry import get_model
from ecocompress.service import layers as layer_service

MNIST_SHAPE = (1, 28, 28)
KEPT_300 = {INPUTS: 312, "classifier.1": 96, "classifier.3": 40}
NO_TUNE = TrainConfig(epochs=0)


def images_with_a_dead_border(n: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """Random 28x28 images whose outer 4 pixels are zero in every image, as MNIST's border nearly is."""
    x = np.zeros((n, *MNIST_SHAPE), np.float32)
    x[:, :, 4:24, 4:24] = np.random.default_rng(0).random((n, 1, 20, 20), dtype=np.float32)
    return x, np.random.default_rng(1).integers(0, 10, n)


def test_a_point_with_kept_units_validates_summarises_and_round_trips():
    kept = tuple(KEPT_300.items())
    point = CompressionPoint(sparsity=0.87, bits=8, structured=True, kept_units=[list(x) for x in kept])
    assert point.kept_units == kept and point.involves_training
    assert point.label() == "per layer: 87% structured (312 inputs, 96/40 units), 8-bit"
    assert "kept_units" in point.key() and "kept_units" not in CompressionPoint(sparsity=0.5, structured=True).key()
    assert CompressionPoint.from_dict(json.loads(json.dumps(point.to_dict()))) == point
    fields = {f.name: None for f in dataclasses.fields(Measurement)}
    assert Measurement.from_dict({**fields, **json.loads(json.dumps(point.to_dict()))}).point == point
    for bad in (
        dict(sparsity=0.5, bits=8, kept_units=kept),  # not structured
        dict(sparsity=0.0, bits=8, structured=True, kept_units=kept),  # removes nothing
        dict(sparsity=0.5, structured=True, kept_units=(("a", 0),)),
        dict(sparsity=0.5, structured=True, kept_units=(("a", 8), ("a", 8))),
        dict(sparsity=0.5, structured=True, kept_units=()),
        dict(sparsity=0.5, structured=True, student_width=0.5, kept_units=kept),
    ):
        with pytest.raises(InvalidParameterError, match="parameter must be"):
            CompressionPoint(**bad)


def test_dead_input_features_go_first_and_the_rest_compute_the_same():
    x, _ = images_with_a_dead_border()
    model = LeNet300().eval()
    selected = select_inputs(model, 400, x)
    kept = selected.classifier[0].indices.numpy()
    rows, cols = np.divmod(kept, 28)
    assert len(kept) == 400 and ((rows >= 4) & (rows < 24) & (cols >= 4) & (cols < 24)).all()  # the 400 live pixels
    inputs = torch.from_numpy(x)
    assert torch.allclose(selected(inputs), model(inputs), atol=1e-5)  # dead pixels multiplied zeros
    with pytest.raises(ValueError, match="flattens its input into a linear layer"):
        select_inputs(LeNet5(), 100, x)


@pytest.mark.parametrize(("architecture", "kept"), [
    (LeNet300, KEPT_300),
    (LeNet5, {"features.0": 8, "features.2": 24, "classifier.1": 128}),
])
def test_each_layer_keeps_exactly_its_width_and_the_cost_model_counts_it(architecture, kept):
    x, y = images_with_a_dead_border()
    model = architecture().eval()
    narrowed = prune_widths(model, kept, MNIST_SHAPE, x, y, NO_TUNE)
    layers = dict(weight_layers(narrowed))
    for name, count in kept.items():
        if name == INPUTS:
            assert layers["classifier.1"].in_features == count
        else:
            assert layers[name].weight.shape[0] == count
    assert list(layers.values())[-1].weight.shape[0] == 10  # the output layer stays whole
    shape = widths.Shape.of(model, MNIST_SHAPE)
    assert shape.macs_of(kept) == count_macs(narrowed, MNIST_SHAPE)
    assert shape.macs_of({}) == count_macs(model, MNIST_SHAPE)
    removed = 1 - sum(m.weight.numel() for m in layers.values()) / sum(m.weight.numel() for _, m in weight_layers(model))
    assert shape.removed_share(kept) == pytest.approx(removed)
    with pytest.raises(ValueError, match="cannot narrow"):
        prune_widths(model, {list(layers)[-1]: 5}, MNIST_SHAPE, x, y, NO_TUNE)


def test_a_narrowed_model_stores_restores_and_exports_to_onnx(tmp_path):
    x, y = images_with_a_dead_border()
    narrowed = prune_widths(LeNet300().eval(), KEPT_300, MNIST_SHAPE, x, y, NO_TUNE)
    restored = unpack(pack(narrowed).data)
    assert np.array_equal(restored["classifier.0.indices"], narrowed.classifier[0].indices.numpy())
    rebuilt = conform_to_state_dict(LeNet300(), {k: torch.from_numpy(v) for k, v in restored.items()})
    assert isinstance(rebuilt.classifier[0], SelectInputs)
    inputs = torch.from_numpy(x)
    assert torch.equal(rebuilt(inputs), narrowed(inputs))
    path = export_onnx(narrowed, MNIST_SHAPE, tmp_path / "narrow.onnx")
    assert "Gather" in {node.op_type for node in onnx.load(str(path)).graph.node}
    logits = open_session(path).run(None, {"input": x})[0]
    assert np.allclose(logits, narrowed(inputs).detach().numpy(), atol=1e-4)


def test_the_pipeline_builds_a_narrowed_artifact_with_its_widths_in_the_file(tmp_path):
    spec = dataclasses.replace(get_model("digits-cnn"), finetune_epochs=1)
    kept = (("features.0", 16), ("classifier.1", 64))
    point = CompressionPoint(sparsity=0.5, bits=8, structured=True, kept_units=kept)
    artifact = build_artifact(spec, point, tmp_path / "narrow.onnx")
    assert "structured pruning per layer (features.0 16, classifier.1 64 kept)" in " ".join(artifact.notes)
    assert artifact.effective_macs < artifact.macs
    metadata = {e.key: e.value for e in onnx.load(str(artifact.onnx_path)).metadata_props}
    assert json.loads(metadata["ecocompress.kept_units"]) == [list(x) for x in kept]


@pytest.fixture(scope="module")
def choices():
    spec = get_model("digits-cnn")
    teacher, data = spec.load(), spec.dataset()
    return {drop: widths.allocate_widths(teacher, data.x_train, data.y_train, data.input_shape, max_accuracy_drop=drop,
                                         tune=spec.finetune_config())
            for drop in (3.0,)}  # one budget: each choice trains dozens of short fine-tunes (CI time)


def test_the_choice_is_the_cheapest_probed_front_point_within_the_budget(choices):
    for chosen in choices.values():
        assert chosen.dense_macs == get_model("digits-cnn").baseline_macs
        assert {o.dimension for o in chosen.options} == {"features.0", "features.2", "classifier.1"}  # a CNN: no input pick
        if not chosen.kept:  # nothing probed fitted: the plain 8-bit point
            assert chosen.point() == CompressionPoint(bits=8)
            assert all(p.drop_points > chosen.allowance_points for p in chosen.probes)
            continue
        assert_cheapest_fitting(chosen, chosen.probes, settings=lambda x: x.kept, cost=lambda p: p.macs,
                                chosen_cost=chosen.macs)
        point = chosen.point()
        assert point.kept_units == chosen.kept and point.structured and point.bits == widths.BITS
        assert point.sparsity == pytest.approx(chosen.removed_share, abs=1e-4)
    loose = choices[3.0]
    assert widths.WidthAllocation.from_dict(json.loads(json.dumps(loose.to_dict()))) == loose


def test_candidates_form_a_front_fewest_macs_first(choices):
    options = list(choices[3.0].options)
    shape = widths.Shape.of(get_model("digits-cnn").load(), (1, 8, 8))
    ranked = widths.candidates(options, shape)
    macs = [m for _, m in ranked]
    assert macs == sorted(macs) and len(set(macs)) == len(macs) and macs[-1] <= shape.macs_of({})
    drops = {(o.dimension, o.kept): max(0.0, o.drop_points) for o in options}
    summed = [sum(drops[(d, c)] for d, c in kept.items()) for kept, _ in ranked]
    assert summed == sorted(summed, reverse=True)  # each cheaper combination is estimated to lose more
    assert summed[-1] == 0.0  # the gentlest loses nothing alone (at worst, every dimension whole)


def test_the_service_offers_the_energy_objective_and_reads_it_back(fake_allocation, choices):
    calls = fake_allocation(choices[3.0])
    first, found = layer_service.allocate_point("digits-cnn", objective="energy", max_accuracy_drop=3.0)
    again = layer_service.cached_allocation("digits-cnn", objective="energy", max_accuracy_drop=3.0)
    assert first == choices[3.0].point() and again == found == choices[3.0] and calls == [("energy", 3.0)]
    assert layer_service.cached_allocation("digits-cnn", objective="size", max_accuracy_drop=3.0) is None


def test_kinds_without_training_code_refuse_kept_units_in_one_sentence():
    from ecocompress.compressor.onnx_pipeline import check_point

    point = CompressionPoint(sparsity=0.5, bits=8, structured=True, kept_units=(("fc", 8),))
    with pytest.raises(InvalidParameterError, match="Structured pruning needs the model's training code"):
        check_point(point)
