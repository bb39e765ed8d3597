"""End to end with real parts: export, onnxruntime, CodeCarbon, SQLite."""

from dataclasses import replace
from pathlib import Path

import pytest

from ecocompress.measure.flips import PredictionChanges
from ecocompress.service.api import lookup, measure_point
from ecocompress.core.points import CompressionPoint
from ecocompress.service.store import ResultsStore


@pytest.mark.slow
def test_baseline_then_int8_end_to_end_and_cache(fast_settings, tmp_path):
    steps: list[str] = []
    m = measure_point("digits-cnn", CompressionPoint(bits=8), fast_settings, progress=lambda s, f: steps.append(s))
    assert not m.cached
    assert any("baseline" in s for s in steps) and any("energy" in s for s in steps)
    # The runnable format is the fastest faithful one timed side by side on this CPU: static int8 on CPUs with
    # fast int8 dot products, fp32 where int8 is slower (an AVX2 CPU without VNNI timed it at 1.05-1.08x).
    assert m.runtime_format.startswith(("onnxruntime static QDQ int8", "onnxruntime fp32"))
    assert "static QDQ int8" in m.runtime_reason and "timed side by side" in m.runtime_reason
    assert m.size_bytes == Path(m.onnx_path).stat().st_size
    assert m.compression_ratio == pytest.approx(m.baseline_size_bytes / m.size_bytes)
    assert m.storage_ratio > 3  # 8-bit codes, whatever format runs
    if m.runtime_format.startswith("onnxruntime static QDQ int8"):
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
    beyond_floor = abs(m.energy_ratio - 1.0) > m.measurement_floor  # the floor: the baseline against a copy of itself
    assert m.energy_difference_significant == (not m.energy_ratio_ci_low <= 1.0 <= m.energy_ratio_ci_high and beyond_floor)
    baseline = lookup("digits-cnn", CompressionPoint(), fast_settings)
    assert m.measurement_floor == baseline.measurement_floor >= 0.0 and not baseline.energy_difference_significant
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


@pytest.mark.slow
def test_a_first_answer_job_stores_the_quick_version_first_and_keeps_it_out_of_the_chart(fast_settings):
    """One job per setting: its post-training version with two energy pairs (same series), then the point."""
    from ecocompress.service.api import measured_points, quick_version, request_point

    point, settings = CompressionPoint(sparsity=0.5, bits=8), replace(fast_settings, energy_budget_s=4)
    quick_point, quick_settings = quick_version("digits-cnn", point, settings)
    assert quick_point == point.quick and quick_settings.repeats == 2 and quick_settings.energy_budget_s == 3
    assert quick_settings.energy_window_s == min(settings.energy_window_s, 0.75)
    assert quick_settings.series() == settings.series()
    ticket = request_point("digits-cnn", point, settings, session="test", first_answer=True)
    seen_first_while_running = False
    while not ticket.wait(0.1):
        seen_first_while_running |= lookup("digits-cnn", quick_point, quick_settings) is not None
    result = ticket.result()
    assert seen_first_while_running and result.label == "50% sparse, 8-bit" and result.fine_tuned
    first = lookup("digits-cnn", quick_point, quick_settings)
    assert first.label == "50% sparse, 8-bit, before fine-tuning" and not first.fine_tuned
    assert "not fine-tuned" in first.technique_notes and "fine-tuned" in result.technique_notes
    assert first.energy_ratio_ci_low <= first.energy_ratio <= first.energy_ratio_ci_high
    # one job for the setting (the baseline it needed first measured once, inside it, and reused by the point)
    assert sorted(job["label"] for job in ResultsStore().jobs()) == ["50% sparse, 8-bit", "fp32 baseline"]
    assert [m.label for m in measured_points("digits-cnn", settings)] == ["fp32 baseline", "50% sparse, 8-bit"]

    # What changed, answer by answer: the flips add up to the accuracy change (the baseline has none).
    changes = PredictionChanges.from_dict(result.prediction_changes)
    assert changes.examples == result.test_examples == 360
    assert changes.wrong_to_right - changes.right_to_wrong == round((result.accuracy - result.baseline_accuracy) * 360)
    assert sum(c.point_correct for c in changes.per_class) == round(result.accuracy * 360)
    assert len(changes.flipped) == min(24, changes.right_to_wrong + changes.wrong_to_right)
    assert measured_points("digits-cnn", settings)[0].prediction_changes is None  # the baseline's
