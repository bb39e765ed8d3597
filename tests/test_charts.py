"""Charts people read: full numbers on log ticks, 95% error bars on Compare, and no front that mixes models."""

from __future__ import annotations

from ecocompress.core import units
from ecocompress.review.plots import compare_figure, compare_info, log_ticks


def _record(model: str, runtime: str, energy: float, accuracy: float, label: str) -> dict:
    return {"model": model, "runtime_format": runtime, "label": label, "energy_wh_per_1k": energy,
            "energy_wh_per_1k_ci_low": energy * 0.95, "energy_wh_per_1k_ci_high": energy * 1.05,
            "accuracy": accuracy, "accuracy_ci_low": accuracy - 0.01, "accuracy_ci_high": accuracy + 0.01,
            "storage_bytes": 1000, "size_bytes": 1000, "latency_ms_per_item_large_batch": 0.03, "large_batch_size": 256,
            "storage_format": "fp32", "energy_ratio": 1.0, "energy_ratio_ci_low": 0.95, "energy_ratio_ci_high": 1.05,
            "sparsity": 0.0, "bits": 32 if label == "fp32 baseline" else 8, "student_width": 1.0, "structured": False,
            "rank_ratio": None, "energy_pairs": 8, "energy_ratio_half_width": 0.05, "measurement_floor": 0.03,
            "energy_difference_significant": False, "quality_metric": "test accuracy"}


def test_log_ticks_are_written_out_at_one_two_five_steps():
    ticks = log_ticks([30.0, 1800.0])
    assert ticks["ticktext"] == [units.number(v) for v in ticks["tickvals"]]
    assert "20" in ticks["ticktext"] and "50" in ticks["ticktext"] and "1,000" in ticks["ticktext"]
    assert "2" not in ticks["ticktext"] and "5" not in ticks["ticktext"]  # never a bare 2 standing for 2,000
    assert log_ticks([]) == {}


def test_compare_never_draws_one_front_across_models_and_shows_intervals():
    records = [
        _record("mnist-lenet5", "onnxruntime fp32", 2e-3, 0.99, "fp32 baseline"),
        _record("mnist-lenet5", "onnxruntime static QDQ int8", 1e-3, 0.985, "8-bit"),
        _record("digits-cnn", "onnxruntime fp32", 2e-4, 0.97, "fp32 baseline"),
        _record("digits-cnn", "onnxruntime static QDQ int8", 1e-4, 0.96, "8-bit"),
    ]
    groups = compare_info(records, "energy", group="runtime_format")
    assert sorted(groups) == ["digits-cnn: onnxruntime fp32", "digits-cnn: onnxruntime static QDQ int8",
                              "mnist-lenet5: onnxruntime fp32", "mnist-lenet5: onnxruntime static QDQ int8"]
    figure = compare_figure(records, "energy", group="runtime_format", log_x=True).to_dict()
    points = [t for t in figure["data"] if t["name"].endswith(": all points")]
    assert points and all(t.get("error_x") and t.get("error_y") for t in points)
    assert figure["layout"]["xaxis"]["type"] == "log" and figure["layout"]["xaxis"]["ticktext"]
