"""The one point-vs-baseline presenter: sizes that grew say so, unpaired figures claim no change, energy carries
the floor, and too few pairs are never read as a change."""

from __future__ import annotations

import dataclasses
import typing

from ecocompress.cli.commands import format_measurement
from ecocompress.core.records import NOT_ENOUGH, Measurement
from ecocompress.review.comparison import comparison, size_change


def _record(**given) -> Measurement:
    """A complete record: plausible values for every field, then ``given``."""
    hints = typing.get_type_hints(Measurement)
    filler = {str: "x", int: 8, float: 1.0, bool: False}
    values = {f.name: filler.get(hints[f.name], None) for f in dataclasses.fields(Measurement)
              if f.default is dataclasses.MISSING}
    values.update(model="digits-cnn", label="8-bit", sparsity=0.0, bits=8, student_width=1.0, rank_ratio=None,
                  accuracy=0.97, accuracy_ci_low=0.95, accuracy_ci_high=0.98, baseline_accuracy=0.975,
                  accuracy_change_points=-0.5, accuracy_drop_points=0.5, size_bytes=100_000, baseline_size_bytes=400_000,
                  compression_ratio=4.0, storage_bytes=50_000, baseline_storage_bytes=400_000, storage_ratio=8.0,
                  latency_ms_batch1=0.02, latency_ms_per_item_large_batch=0.004, large_batch_size=256,
                  energy_batch_size=256, latency_ratio=0.5, latency_ratio_ci_low=0.45, latency_ratio_ci_high=0.55,
                  energy_wh_per_1k=2e-5, energy_wh_per_1k_ci_low=1.8e-5, energy_wh_per_1k_ci_high=2.2e-5,
                  baseline_energy_wh_per_1k=4e-5, energy_ratio=0.5, energy_ratio_ci_low=0.45, energy_ratio_ci_high=0.55,
                  energy_ratio_half_width=0.05, energy_pairs=8, measurement_floor=0.03, carbon_intensity_g_per_kwh=400.0,
                  emissions_g_per_1k=8e-6, speedup_theoretical=4.0, test_examples=360, quality_metric="test accuracy")
    values.update(given)
    return Measurement(**values)


def _row(record: Measurement, start: str):
    return next(r for r in comparison(record) if r.figure.startswith(start))


def test_a_point_reads_its_changes_from_its_own_baseline_figures_and_paired_ratios():
    m = _record()
    assert _row(m, "stored size").change == "8x smaller" and _row(m, "size on disk").change == "4x smaller"
    assert _row(m, "Accuracy (test set)").change == "-0.50 points"
    latency = _row(m, "latency per inference")
    assert latency.change == m.change("time") and latency.baseline == "8 µs"  # 4 µs / 0.5: the paired baseline
    energy = _row(m, "energy per 1,000")
    assert energy.change.startswith("50% less energy") and "measurement floor on this machine: ±3%" in energy.change
    assert "measured on this machine" in energy.note  # a record from before classes were kept
    assert "measured on edge-arm64;" in _row(_record(hardware="edge-arm64"), "energy per 1,000").note


def test_a_file_that_grew_says_larger_on_every_surface():
    m = _record(storage_bytes=500_000, storage_ratio=0.8, size_bytes=480_000, compression_ratio=400 / 480)
    assert size_change(0.8) == "1.25x larger" and size_change(1.0) == "same size"
    assert _row(m, "stored size").change == "1.25x larger" and _row(m, "stored size").delta_color == "inverse"
    assert "smaller" not in format_measurement(m).split("\n")[3]  # the CLI used to print '0.8x smaller'


def test_the_unpaired_latency_claims_no_change_and_too_few_pairs_are_not_read():
    m = _record(energy_pairs=2)
    unpaired = next(r for r in comparison(m) if not r.compared)
    assert unpaired.figure == "latency, batch 1 (this run only)" and unpaired.baseline == unpaired.change == ""
    assert _row(m, "energy per 1,000").delta == NOT_ENOUGH and _row(m, "energy per 1,000").delta_color == "off"


def test_the_baseline_has_no_change_to_show():
    m = _record(label="fp32 baseline", bits=32)
    assert m.is_baseline
    assert all(r.baseline == "" and r.delta is None for r in comparison(m))
    assert _row(m, "energy per 1,000").change.startswith("+/- 5% (95%) in its own run; measurement floor")


def test_no_arrow_for_a_size_that_did_not_change_and_no_nan_baseline():
    m = _record(storage_bytes=400_000, storage_ratio=1.0, latency_ratio=0.0)
    assert _row(m, "stored size").change == "same size" and _row(m, "stored size").delta is None
    assert _row(m, "latency per inference").baseline == ""
