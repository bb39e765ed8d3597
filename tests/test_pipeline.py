"""The compression pipeline: steps cached by content (memory and disk), and the built artifact.

Every test runs under its own ECOCOMPRESS_HOME (the autouse ``eco_home`` fixture), so each
starts with an empty model cache. The distillation test uses digits-cnn with shortened
epoch budgets (the caching logic does not depend on them); the others use the registry's.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import onnx
import pytest
import torch

import ecocompress.compressor.pipeline as pipeline
from ecocompress.compressor.techniques import kbit, pruning
from ecocompress.compressor.architectures import count_parameters
from ecocompress.measure.session import measure_accuracy, open_session
from ecocompress.models.registry import get_model
from ecocompress.compressor.pipeline import build_artifact, compress_model
from ecocompress.core.points import CompressionPoint
from ecocompress.compressor.storage import unpack
from ecocompress.compressor.techniques.layers import weight_density, weight_layers

SPEC = get_model("digits-cnn")
QUICK_SPEC = dataclasses.replace(SPEC, finetune_epochs=3, distill_epochs=4)


def compress(spec, point):
    steps: list[str] = []
    model, notes = compress_model(spec, point, progress=lambda step, _fraction: steps.append(step))
    return model, notes, steps


def same_weights(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def test_baseline_and_fp16_points_do_no_training():
    teacher = SPEC.load()
    model, notes, steps = compress(SPEC, CompressionPoint())
    assert steps == [] and notes == [] and same_weights(model, teacher)
    model, notes, steps = compress(SPEC, CompressionPoint(bits=16))
    assert steps == [] and notes == ["weights rounded to fp16"]
    for (_, got), (_, ref) in zip(weight_layers(model), weight_layers(teacher)):
        assert torch.equal(got.weight, ref.weight.half().float())


def test_same_point_twice_is_served_from_memory_then_from_disk(eco_home, monkeypatch):
    point = CompressionPoint(sparsity=0.5, bits=8)
    first, notes, steps = compress(SPEC, point)
    assert steps == ["pruning and fine-tuning", "quantizing weights"]
    assert weight_density(first) <= 0.5 + 0.002

    again, again_notes, again_steps = compress(SPEC, point)
    assert again_steps == []
    assert again_notes == notes and same_weights(again, first)

    assert any((eco_home / "cache" / "models").glob("*.npz"))
    monkeypatch.setattr(pipeline, "_CACHE", None)  # a new process: only the disk cache is left
    from_disk, disk_notes, disk_steps = compress(SPEC, point)
    assert disk_steps == []
    assert from_disk is not first
    assert disk_notes == notes and same_weights(from_disk, first)
    x = torch.from_numpy(SPEC.dataset().x_test[:100])
    with torch.no_grad():
        assert torch.equal(from_disk(x), first(x))


def test_distilled_student_is_reused_across_sparsities_and_bits(monkeypatch):
    _, notes, steps = compress(QUICK_SPEC, CompressionPoint(student_width=0.5, bits=8))
    assert steps == ["distilling a student", "quantizing weights"]
    assert notes[0].startswith("student x0.5: ")

    pruned, pruned_notes, steps = compress(QUICK_SPEC, CompressionPoint(student_width=0.5, sparsity=0.5, bits=8))
    assert "distilling a student" not in steps
    assert steps == ["pruning and fine-tuning", "quantizing weights"]
    assert pruned_notes[0] == notes[0]
    assert count_parameters(pruned) == count_parameters(QUICK_SPEC.build(0.5))

    # The pruned student is reused across bit-widths, from disk as well.
    monkeypatch.setattr(pipeline, "_CACHE", None)
    _, _, steps = compress(QUICK_SPEC, CompressionPoint(student_width=0.5, sparsity=0.5, bits=4))
    assert steps == ["quantization-aware fine-tuning"]


def test_build_artifact_writes_onnx_and_storage_file(tmp_path):
    steps: list[str] = []
    point = CompressionPoint(sparsity=0.5, bits=4)
    artifact = build_artifact(SPEC, point, tmp_path / "out" / "a.onnx", progress=lambda s, _f: steps.append(s))
    assert "pruning and fine-tuning" in steps and "quantization-aware fine-tuning" in steps
    assert artifact.onnx_path == tmp_path / "out" / "a.onnx" and artifact.onnx_path.is_file()
    onnx.checker.check_model(str(artifact.onnx_path))
    assert artifact.storage_path == tmp_path / "out" / "a.ecz"
    assert artifact.storage_path.stat().st_size == artifact.storage_bytes
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a.ecz", "a.onnx"]  # no work files left behind
    assert artifact.runtime_format.startswith("onnxruntime ")
    assert artifact.runtime_reason.strip() and "fp32 1.00x" in artifact.runtime_reason
    assert "4-bit" in artifact.storage_format and "bitmask" in artifact.storage_format
    notes = " ".join(artifact.notes)
    assert "pruning" in notes and "4-bit" in notes
    assert artifact.macs == 1330432 and 0 < artifact.effective_macs < artifact.macs

    # The storage file holds exactly the compressed model's weights (served from the cache).
    model, cached_notes, again = compress(SPEC, point)
    assert again == [] and tuple(cached_notes) == artifact.notes
    assert artifact.params == count_parameters(model)
    stored = unpack(artifact.storage_path.read_bytes())
    for name, module in weight_layers(model):
        assert np.array_equal(stored[f"{name}.weight"], module.weight.detach().numpy()), name

    data = SPEC.dataset()
    acc = measure_accuracy(open_session(artifact.onnx_path), data.x_test, data.y_test).accuracy
    assert acc > 0.9


def test_the_quick_version_prunes_and_rounds_without_training_and_is_cached_apart(monkeypatch):
    trained = []
    monkeypatch.setattr(pruning, "magnitude_prune", _recording(pruning.magnitude_prune, trained))
    monkeypatch.setattr(kbit, "quantize_weights", _recording(kbit.quantize_weights, trained))
    point = CompressionPoint(sparsity=0.5, bits=4)
    quick, notes, steps = compress(QUICK_SPEC, point.quick)
    assert steps == ["pruning", "quantizing weights"]  # no fine-tuning; rounding, not quantization-aware training
    assert notes == ["global magnitude pruning to 50% zeros in 3 stages, not fine-tuned",
                     "weights on a per-channel 4-bit grid (post-training rounding)"]
    assert [config.epochs if config else None for config in trained] == [0, None]  # no epoch of training
    assert weight_density(quick) <= 0.5 + 0.002
    _, _, steps = compress(QUICK_SPEC, point)  # the fine-tuned point never reuses the quick steps
    assert steps == ["pruning and fine-tuning", "quantization-aware fine-tuning"]
    assert [config.epochs for config in trained[2:]] == [QUICK_SPEC.finetune_epochs] * 2


def _recording(function, calls):
    def wrapped(model, setting, x, y, config=None, **kwargs):
        calls.append(config)
        return function(model, setting, x, y, config, **kwargs)

    return wrapped


@pytest.mark.parametrize("bad", [dict(sparsity=1.5), dict(bits=1), dict(student_width=0.3)])
def test_invalid_points_fail_before_any_work(bad):
    with pytest.raises(ValueError):
        compress(SPEC, CompressionPoint(**bad))
