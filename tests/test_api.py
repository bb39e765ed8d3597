"""End to end with real parts: export, onnxruntime, CodeCarbon, SQLite."""

from pathlib import Path

import pytest

from ecocompress.service.api import lookup, measure_point
from ecocompress.core.points import CompressionPoint
from ecocompress.service.store import ResultsStore


def test_baseline_then_int8_end_to_end_and_cache(fast_settings, tmp_path):
    steps: list[str] = []
    m = measure_point("digits-cnn", CompressionPoint(bits=8), fast_settings, progress=lambda s, f: steps.append(s))
    assert not m.cached
    assert any("baseline" in s for s in steps) and any("energy" in s for s in steps)
    assert m.runtime_format.startswith("onnxruntime static QDQ int8")
    assert m.size_bytes == Path(m.onnx_path).stat().st_size
    assert m.compression_ratio == pytest.approx(m.baseline_size_bytes / m.size_bytes)
    assert m.compression_ratio > 3
    assert m.accuracy_ci_low <= m.accuracy <= m.accuracy_ci_high
    assert m.test_examples == 360
    assert m.energy_wh_per_1k > 0 and m.emissions_g_per_1k > 0
    assert m.energy_ratio == pytest.approx(m.energy_wh_per_1k / m.baseline_energy_wh_per_1k)
    assert m.ort_threads == 1 and m.energy_repeats == 1

    store = ResultsStore()
    assert store.count() == 2  # the baseline and the point
    again = measure_point("digits-cnn", CompressionPoint(bits=8), fast_settings)
    assert again.cached and again.energy_wh_per_1k == m.energy_wh_per_1k
    assert store.count() == 2

    fresh = measure_point("digits-cnn", CompressionPoint(bits=8), fast_settings, fresh=True)
    assert not fresh.cached and fresh.measured_at >= m.measured_at
    assert store.count() == 2

    out = measure_point("digits-cnn", CompressionPoint(bits=8), fast_settings, out_dir=tmp_path / "out")
    assert out.cached and Path(out.onnx_path).parent == tmp_path / "out" and Path(out.onnx_path).is_file()


def test_missing_artifact_means_remeasure_not_stale_hit(fast_settings):
    m = measure_point("digits-cnn", CompressionPoint(), fast_settings)
    Path(m.onnx_path).unlink()
    assert lookup("digits-cnn", CompressionPoint(), fast_settings) is None
    again = measure_point("digits-cnn", CompressionPoint(), fast_settings)
    assert not again.cached and Path(again.onnx_path).is_file()


def test_a_waiting_request_says_so_and_is_then_served(fast_settings):
    import threading

    from ecocompress.service.compute_queue import compute_queue

    measure_point("digits-cnn", CompressionPoint(), fast_settings)
    steps: list[str] = []
    release = threading.Event()
    blocker = compute_queue().submit("blocker", "another job", lambda progress: release.wait(60), session="other")
    try:
        waiter = threading.Thread(
            target=lambda: steps.append(measure_point("digits-cnn", CompressionPoint(), fast_settings, fresh=True,
                                                      progress=lambda s, f: steps.append(s)).label)
        )
        waiter.start()
        waiter.join(timeout=2)
        assert waiter.is_alive()  # it waits its turn...
        assert steps and steps[0].startswith("waiting: 1 job ahead of you")  # ...and says so
    finally:
        release.set()
    blocker.result()
    waiter.join(timeout=120)
    assert steps[-1] == "fp32 baseline"
