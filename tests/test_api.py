"""End to end with real parts: export, onnxruntime, CodeCarbon, SQLite."""

from dataclasses import replace
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
    assert m.ort_threads == 1 and m.energy_pairs >= fast_settings.repeats
    # paired figures: every ratio and absolute energy inside its own 95% interval, significance from the interval
    assert m.energy_ratio_ci_low <= m.energy_ratio <= m.energy_ratio_ci_high
    assert m.energy_wh_per_1k_ci_low <= m.energy_wh_per_1k <= m.energy_wh_per_1k_ci_high
    assert m.latency_ratio_ci_low <= m.latency_ratio <= m.latency_ratio_ci_high
    assert m.energy_difference_significant == (not m.energy_ratio_ci_low <= 1.0 <= m.energy_ratio_ci_high)
    assert m.accuracy_change_points == pytest.approx(-m.accuracy_drop_points)
    assert m.series == "batch (batch 256), 1 thread" and m.scenario == "batch"

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


def test_another_grid_is_served_from_the_store_with_its_own_co2e(fast_settings):
    """CO2e is energy x grid, computed when shown: a new --country never re-measures."""
    usa = measure_point("digits-cnn", CompressionPoint(), fast_settings)
    fra = measure_point("digits-cnn", CompressionPoint(), replace(fast_settings, country="FRA"))
    assert fra.cached and fra.energy_wh_per_1k == usa.energy_wh_per_1k and fra.measured_at == usa.measured_at
    assert fra.country == "FRA" and fra.carbon_intensity_g_per_kwh < usa.carbon_intensity_g_per_kwh
    assert fra.emissions_g_per_1k == pytest.approx(fra.energy_wh_per_1k / 1000 * fra.carbon_intensity_g_per_kwh)
    assert ResultsStore().count() == 1


def test_points_of_other_series_never_share_a_chart(fast_settings):
    """A forced-power or online-scenario measurement is a series of its own: never mixed into the default one."""
    from ecocompress.review.plots import tradeoff_info
    from ecocompress.service.api import measured_points

    measure_point("digits-cnn", CompressionPoint(), fast_settings)
    online = replace(fast_settings, scenario="online")
    forced = replace(fast_settings, force_cpu_power_w=65.0)
    measure_point("digits-cnn", CompressionPoint(), online)
    measure_point("digits-cnn", CompressionPoint(), forced)
    assert ResultsStore().count() == 3
    for settings in (fast_settings, online, forced):
        (record,) = measured_points("digits-cnn", settings)
        assert record.series == settings.series()
    assert measured_points("digits-cnn", online)[0].energy_batch_size == 1
    assert "CPU forced to 65 W" in measured_points("digits-cnn", forced)[0].series
    mixed = [*measured_points("digits-cnn", fast_settings), *measured_points("digits-cnn", online)]
    with pytest.raises(ValueError, match="different measurement series"):
        tradeoff_info(mixed, "energy")
