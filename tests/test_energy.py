"""Real CodeCarbon readings (no mock) plus the defensive paths around the tracker."""

import hashlib
import time

import pytest

from ecocompress.measure import energy
from ecocompress.core import grid as grids
from ecocompress.core.errors import InvalidParameterError, MeasurementError
from ecocompress.core.records import MeasureSettings
from ecocompress.measure.paired import measure_paired


def _busy(seconds: float = 0.01) -> int:
    end = time.perf_counter() + seconds
    x = 0
    while time.perf_counter() < end:
        x += 1
    return 10


def test_real_codecarbon_windows_through_the_paired_meter():
    """Real CodeCarbon readings: plausible power, the grid's factor, a method we can name."""
    settings = MeasureSettings(repeats=2, energy_window_s=0.6, energy_budget_s=0.5, country="FRA")
    result = measure_paired(lambda: _busy, None, batch_size=10, settings=settings)
    assert result.pairs + result.discarded == 2 and result.pairs >= 1
    for window, _ in result.windows:
        assert window.seconds >= 0.6
        assert window.inferences >= 10
        watts = window.energy_kwh * 3.6e6 / window.seconds
        assert 0.5 < watts < 2000, watts  # a physically plausible average machine power
        # CodeCarbon's France factor comes from its own table; emissions follow energy by it.
        grid = grids.country_grid("FRA")
        assert window.emissions_kg / window.energy_kwh * 1000 == pytest.approx(grid["carbon_intensity_g_per_kwh"], rel=1e-6)
    assert result.baseline_wh_per_1k.value > 0
    method = result.method
    assert method.cpu_mode in energy.METHOD_TEXT, method.cpu_mode  # a mode we can name, never 'unknown'
    assert method.estimated == (method.cpu_mode not in energy.MEASURED_MODES)
    assert method.description and method.codecarbon_version != "unknown"
    assert method.tracking_mode == energy.TRACKING_MODE  # read back from the tracker


def test_unknown_country_is_a_plain_error():
    with pytest.raises(InvalidParameterError, match="3-letter ISO code"):
        grids.country_grid("XXX")


def test_repeats_validated():
    with pytest.raises(InvalidParameterError, match="'repeats'"):
        MeasureSettings(repeats=1)  # a ratio needs at least two pairs for an interval


class _SilentTracker:
    """Stands in for a tracker whose stop() yields no data (CodeCarbon can return None)."""

    final_emissions_data = None
    _hardware: list = []
    _conf: dict = {}

    def start(self):
        pass

    def stop(self):
        return None


def test_missing_reading_raises_instead_of_zero(monkeypatch):
    monkeypatch.setattr(energy, "_tracker", lambda *args: _SilentTracker())
    with pytest.raises(MeasurementError, match="no energy reading"):
        energy.measure_window(_busy, min_seconds=0.0, min_inferences=1)


def test_read_method_defaults_to_unknown():
    method = energy.read_method(object())
    assert method.cpu_mode == "unknown"
    assert method.estimated is True
    assert "unknown" in method.description


_DATA = bytes(4_000_000)


def _fixed_work() -> int:
    """The same CPU work every call, on this thread with the GIL released, as onnxruntime computes (a pure-Python
    loop holds the GIL and delays CodeCarbon's sampling thread, which then mis-times its readings)."""
    hashlib.sha256(_DATA).digest()
    return 10


def _fixed_work_then_wait() -> int:
    """The same work, then about as long again off the CPU: what a window sees when other programs take turns."""
    hashlib.sha256(_DATA).digest()
    time.sleep(0.003)
    return 10


def test_time_off_the_cpu_costs_no_ram_energy():
    """RAM is billed over the time the workload ran, not the wall time: a point that only waits longer (as when
    a co-tenant takes the core) is slower but uses the same energy; CodeCarbon's own reading would bill it."""
    settings = MeasureSettings(repeats=4, energy_window_s=0.6, energy_budget_s=6.0)
    result = measure_paired(lambda: _fixed_work, lambda: _fixed_work_then_wait, batch_size=10, settings=settings)
    assert result.latency_ratio.value > 1.3  # the waits are there...
    assert 0.8 < result.energy_ratio.value < 1.25, result.energy_ratio  # ...and cost no energy
    for base, point in result.windows:
        assert point.on_cpu_share < 0.85 and point.energy_kwh < point.codecarbon_kwh
        assert 0 < base.on_cpu_share <= 1.0 and base.energy_kwh <= base.codecarbon_kwh
