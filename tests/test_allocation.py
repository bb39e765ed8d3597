"""Per-layer settings (issue 19): the point that carries them, the pipeline steps that apply them, the
sensitivity-based choice (``compressor.allocation``) and ``ecocompress run --per-layer auto``.

The choice runs on digits-cnn's teacher (seconds); what it picks is checked against what it measured, never
against a fixed number: the joint post-training drop stays within the allowance, and a wider budget never
gives a larger file.
"""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch

from choice_checks import HAND_MADE_BITS, HAND_MADE_SPARSITY, assert_cheapest_fitting, hand_made_choice
from ecocompress.compressor import allocation as alloc
from ecocompress.compressor.pipeline import build_artifact
from ecocompress.compressor.storage import pack, unpack
from ecocompress.compressor.techniques.kbit import integer_codes, quantize_weights
from ecocompress.compressor.techniques.layers import weight_layers
from ecocompress.compressor.techniques.pruning import magnitude_prune
from ecocompress.compressor.training import TrainConfig
from ecocompress.cli import main
from ecocompress.core.errors import InvalidParameterError
from ecocompress.core.points import CompressionPoint
from ecocompress.core.records import Measurement
from ecocompress.models.registry import get_model
from ecocompress.service import layers as layer_service

SPEC = get_model("digits-cnn")
NAMES = [name for name, _ in weight_layers(SPEC.load())]
PER_LAYER = tuple((name, s, b) for name, s, b in zip(NAMES, HAND_MADE_SPARSITY, HAND_MADE_BITS))


def test_a_per_layer_point_validates_summarises_and_round_trips():
    point = CompressionPoint(sparsity=0.7, bits=8, layer_settings=[list(x) for x in PER_LAYER])
    assert point.layer_settings == PER_LAYER and point.involves_training
    assert point.label() == "per layer: 70% sparse (0%-80%), 3-8-bit"
    assert "layer_settings" in point.key() and "layer_settings" not in CompressionPoint(bits=8).key()
    assert CompressionPoint.from_dict(json.loads(json.dumps(point.to_dict()))) == point
    assert point.quick.layer_settings == PER_LAYER and point.quick.key() != point.key()
    for bad in (
        dict(sparsity=0.5, bits=6, layer_settings=PER_LAYER),  # bits must be the widest layer's
        dict(sparsity=0.5, bits=8, layer_settings=(("a", 1.2, 8),)),
        dict(sparsity=0.5, bits=8, layer_settings=(("a", 0.5, 8), ("a", 0.5, 8))),
        dict(sparsity=0.5, bits=8, layer_settings=(("a", 0.5, 16),)),
        dict(sparsity=0.5, bits=8, layer_settings=()),
        dict(sparsity=0.5, bits=8, student_width=0.5, layer_settings=(("a", 0.5, 8),)),
    ):
        with pytest.raises(InvalidParameterError, match="parameter must be"):
            CompressionPoint(**bad)


def test_each_layer_is_pruned_and_quantized_to_its_own_setting():
    teacher, data = SPEC.load(), SPEC.dataset()
    rates = {name: s for name, s, _ in PER_LAYER}
    pruned = magnitude_prune(teacher, rates, data.x_train, data.y_train, TrainConfig(epochs=0))
    for name, module in weight_layers(pruned):
        zeros = 1 - int(torch.count_nonzero(module.weight)) / module.weight.numel()
        assert zeros == pytest.approx(rates[name], abs=1.5 / module.weight.numel() + 1e-9)
    widths = {name: b for name, _, b in PER_LAYER}
    quantized = quantize_weights(pruned, widths)
    for name, module in weight_layers(quantized):
        codes = integer_codes(module)
        assert int(module.weight_bits) == widths[name]
        assert np.abs(codes).max() <= 2 ** (widths[name] - 1) - 1
        pruned_zeros = dict(weight_layers(pruned))[name].weight == 0
        assert not bool((module.weight[pruned_zeros] != 0).any())  # pruned weights stay zero
    restored = unpack(pack(quantized).data)
    for name, module in weight_layers(quantized):
        assert np.array_equal(restored[f"{name}.weight"], module.weight.detach().numpy())
    with pytest.raises(ValueError, match="no weighted layer named"):
        magnitude_prune(teacher, {"nope": 0.5}, data.x_train, data.y_train, TrainConfig(epochs=0))
    with pytest.raises(ValueError, match="every weighted layer"):
        quantize_weights(teacher, {NAMES[0]: 4})


def test_the_pipeline_builds_a_per_layer_artifact_with_its_settings_in_the_notes(tmp_path):
    spec = dataclasses.replace(SPEC, finetune_epochs=1)
    point = CompressionPoint(sparsity=0.6, bits=8, layer_settings=PER_LAYER)
    artifact = build_artifact(spec, point, tmp_path / "per-layer.onnx")
    assert artifact.onnx_path.is_file() and artifact.storage_path.is_file()
    notes = " ".join(artifact.notes)
    assert "magnitude pruning per layer" in notes and f"{NAMES[2]} 3-bit" in notes
    assert artifact.effective_macs < artifact.macs
    import onnx

    metadata = {e.key: e.value for e in onnx.load(str(artifact.onnx_path)).metadata_props}
    assert json.loads(metadata["ecocompress.layer_settings"]) == [list(x) for x in PER_LAYER]


def test_stored_size_estimate_follows_the_packer():
    """The estimate the choice minimises is close to the bytes the real packer writes for the same layer."""
    torch.manual_seed(0)
    layer = torch.nn.Linear(400, 120)
    model = torch.nn.Sequential(layer)
    for sparsity, bits in ((0.0, 8), (0.9, 4), (0.97, 3)):
        rates = {"0": sparsity}
        pruned = magnitude_prune(model, rates, np.zeros((1, 400), np.float32), np.zeros(1, np.int64), TrainConfig(epochs=0))
        real = pack(quantize_weights(pruned, {"0": bits})).size_bytes - 120 * 4  # less the fp32 biases
        estimate = alloc.stored_bytes(layer.weight.numel(), 120, sparsity, bits)
        assert 0.6 * estimate <= real <= 1.6 * estimate + 200, (sparsity, bits, real, estimate)


@pytest.fixture(scope="module")
def choices():
    teacher, data = SPEC.load(), SPEC.dataset()
    return {drop: alloc.allocate(teacher, data.x_train, data.y_train, max_accuracy_drop=drop, tune=SPEC.finetune_config())
            for drop in (3.0,)}  # one budget: each choice trains dozens of short fine-tunes (CI time)


def test_the_choice_is_the_smallest_probed_candidate_within_the_budget(choices):
    for chosen in choices.values():
        assert [name for name, _, _ in chosen.layers] == NAMES
        assert len(chosen.options) == len(NAMES) * len(alloc.SPARSITIES) * len(alloc.BITS)
        assert set(chosen.layers) <= {(o.layer, o.sparsity, o.bits) for o in chosen.options}
        assert chosen.estimated_bytes < chosen.dense_fp32_bytes
        if chosen.layers == tuple((name, 0.0, 8) for name in NAMES):  # nothing probed fitted: 8-bit, dense
            assert all(p.drop_points > chosen.allowance_points for p in chosen.probes)
            continue
        assert_cheapest_fitting(chosen, chosen.probes, settings=lambda x: x.layers, cost=lambda p: p.estimated_bytes,
                                chosen_cost=chosen.estimated_bytes)
    loose = choices[3.0]
    point = loose.point()
    assert point.layer_settings == loose.layers and point.bits == max(b for _, _, b in loose.layers)
    assert point.sparsity == pytest.approx(loose.sparsity, abs=1e-4)
    assert alloc.Allocation.from_dict(json.loads(json.dumps(loose.to_dict()))) == loose


def test_candidates_get_smaller_as_accuracy_gets_cheaper(choices):
    ranked = alloc.candidates(list(choices[3.0].options))
    sizes = [sum(o.stored_bytes for o in combo) for combo in ranked]
    assert sizes == sorted(sizes) and len(ranked) >= 5
    gentlest = ranked[-1]
    assert all(o.drop_points <= min(x.drop_points for x in choices[3.0].options if x.layer == o.layer) + 1e-9
               for o in gentlest)  # at the highest price every layer takes its least harmful option


def test_allocate_point_is_computed_once_then_read(fake_allocation, choices):
    calls = fake_allocation(choices[3.0])
    first, _ = layer_service.allocate_point("digits-cnn", max_accuracy_drop=3.0)
    second, _ = layer_service.allocate_point("digits-cnn", max_accuracy_drop=3.0)
    assert first == second == choices[3.0].point() and calls == [("size", 3.0)]
    for kwargs, message in (
        (dict(max_accuracy_drop=-1), "'max_accuracy_drop' parameter must be"),
        (dict(max_accuracy_drop=1, objective="latency"), "'objective' parameter must be one of {size, energy}"),
    ):
        with pytest.raises(InvalidParameterError, match=message):
            layer_service.allocate_point("digits-cnn", **kwargs)


def test_kinds_without_training_code_refuse_per_layer_settings_in_one_sentence():
    point = CompressionPoint(sparsity=0.5, bits=4, layer_settings=(("fc", 0.5, 4),))
    from ecocompress.compressor.onnx_pipeline import check_point

    with pytest.raises(InvalidParameterError, match="Per-layer settings are fine-tuned"):
        check_point(point)


def test_a_measurement_record_carries_the_per_layer_settings():
    fields = {f.name: None for f in dataclasses.fields(Measurement)}
    point = CompressionPoint(sparsity=0.6, bits=8, layer_settings=PER_LAYER)
    record = Measurement.from_dict({**fields, **json.loads(json.dumps(point.to_dict()))})
    assert record.point == point


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["run", "--model", "digits-cnn", "--per-layer", "auto", "--bits", "4"], "leave out --student, --sparsity, --rank, --bits and --structured."),
        (["run", "--model", "digits-cnn", "--per-layer", "auto", "--max-accuracy-drop", "x"],
         "The 'max_accuracy_drop' parameter must be a number. Got 'x' instead."),
        (["run", "--model", "digits-cnn", "--per-layer", "auto", "--objective", "latency"], "invalid choice"),
    ],
)
def test_per_layer_flags_are_checked_in_one_sentence(args, message, capsys):
    assert main(args) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


@pytest.mark.slow
def test_run_per_layer_auto_end_to_end_writes_a_record_an_artifact_and_a_card(tmp_path, capsys, fake_allocation, choices):
    """The CLI path the issue names, on digits-cnn with a loose budget: choice, full fine-tune, real measurement.

    The choice is the one the ``choices`` fixture computed with the same call the service makes (replayed, not
    computed twice); the point it names is fine-tuned and measured for real.
    """
    from ecocompress.review.artifacts import export_artifacts

    calls = fake_allocation(choices[3.0])
    assert main(["run", "--model", "digits-cnn", "--per-layer", "auto", "--max-accuracy-drop", "3", "--repeats", "2",
                 "--energy-budget", "1", "--json", "--out", str(tmp_path / "out")]) == 0
    captured = capsys.readouterr()
    record = json.loads(captured.out)
    assert "per-layer settings: features.0 " in captured.err and "held-out training images lost" in captured.err
    layers = [tuple(x) for x in record["layer_settings"]]
    assert [name for name, _, _ in layers] == NAMES and record["bits"] == max(b for _, _, b in layers)
    assert record["label"].startswith("per layer: ") and record["storage_ratio"] > 1 and record["cached"] is False
    files = export_artifacts(record, tmp_path / "card")
    card = json.loads(next(p for p in files if p.name.endswith(".card.json")).read_text())
    assert [(x["layer"], x["sparsity"], x["bits"]) for x in card["compression"]["per_layer"]] == layers
    assert f"`{NAMES[0]}` {layers[0][1]:.0%} sparse, {layers[0][2]}-bit" in next(p for p in files if p.name.endswith(".card.md")).read_text()
    assert calls == [("size", 3.0)] and layers == list(choices[3.0].layers)


@pytest.mark.slow
def test_search_and_sweep_try_the_per_layer_point(monkeypatch, fast_settings, capsys):
    """``search --per-layer auto`` tries the per-layer point first; ``sweep --per-layer auto`` adds it to the grid.

    The choice itself is replaced by one made by hand here (it is tested above and end to end); the point
    is built and measured for real.
    """
    from ecocompress.service.search import run_search

    chosen = hand_made_choice("size", 3.0)
    point = chosen.point()
    assert point.layer_settings == PER_LAYER
    monkeypatch.setattr(layer_service, "allocate_point", lambda model, **kwargs: (point, chosen))
    monkeypatch.setattr(layer_service, "cached_allocation", lambda model, **kwargs: None)
    space = {"sparsity": [0.0], "bits": [32], "student_width": [1.0], "structured": [False], "rank_ratio": [1.0]}
    result = run_search("digits-cnn", max_drop_points=3.0, trials=1, settings=fast_settings, space=space, per_layer=True)
    assert [t.label for t in result.trials] == [point.label()]
    assert result.study_name.endswith("-per-layer")

    assert main(["sweep", "--model", "digits-cnn", "--bits", "32", "--per-layer", "auto", "--repeats", "2",
                 "--energy-budget", "1", "--json"]) == 0
    labels = [p["label"] for p in json.loads(capsys.readouterr().out)["points"]]
    assert labels == ["fp32 baseline", point.label()]  # the per-layer point came from the store: measured above
