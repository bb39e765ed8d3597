"""Energy of a workload, measured with CodeCarbon's offline tracker (no network).

The loop follows optimum-benchmark's: warm up, then run the workload inside one tracker
window until both a minimum time and a minimum count are reached, divide by the count, and
repeat to report the spread. A fresh tracker is used per window because one tracker's totals
accumulate across start/stop cycles. Machine-level tracking is used because CodeCarbon's
process mode was seen to double its readings on this kind of machine; the price is that
another job running at the same time would be counted too (so measurements are serialised).
"""

from __future__ import annotations

import collections
import functools
import logging
import statistics
import threading
import time
from dataclasses import asdict, dataclass
from typing import Any, Callable

from ecocompress.core.errors import MeasurementError
from ecocompress.core.grid import DEFAULT_COUNTRY
from ecocompress.core.records import MeasureSettings

MEASURE_POWER_SECS = 0.5
MIN_WINDOW_SECONDS = 2.0

# One energy window at a time in this process: overlapping machine-level windows count each other.
_WINDOW_LOCK = threading.Lock()
# (start, end) of recent energy windows on the monotonic clock, so benchmarks can check that no
# window overlapped other compute work (bench/workshop.py); bounded, in memory only.
WINDOWS: collections.deque[tuple[float, float]] = collections.deque(maxlen=10_000)

METHOD_TEXT = {
    "intel_rapl": "measured by RAPL (CPU package energy counters)",
    "windows_emi": "measured by Windows Energy Meter Interface",
    "intel_power_gadget": "measured by Intel Power Gadget",
    "apple_powermetrics": "measured by Apple powermetrics",
    "cpu_load": "estimated by CodeCarbon from CPU load x TDP",
    "constant": "estimated by CodeCarbon as a constant share of TDP",
}
MEASURED_MODES = {"intel_rapl", "windows_emi", "intel_power_gadget", "apple_powermetrics"}


@dataclass(frozen=True)
class EnergyMethod:
    """How CodeCarbon arrived at its figure, read from the tracker (defaults to 'unknown')."""

    cpu_mode: str
    estimated: bool
    description: str
    cpu_tdp_w: float | None
    generic_tdp: bool | None
    cpu_model: str
    tracking_mode: str
    codecarbon_version: str


@dataclass(frozen=True)
class EnergyWindow:
    """One tracker window: energy, time and how many inferences ran inside it."""

    energy_kwh: float
    emissions_kg: float
    seconds: float
    inferences: int
    cpu_power_w: float
    ram_power_w: float

    @property
    def wh_per_1k(self) -> float:
        return self.energy_kwh * 1000.0 / self.inferences * 1000.0

    @property
    def g_co2e_per_1k(self) -> float:
        return self.emissions_kg * 1000.0 / self.inferences * 1000.0


@dataclass(frozen=True)
class EnergyResult:
    """Median and spread of energy per 1,000 inferences over repeated windows."""

    wh_per_1k: float
    wh_per_1k_spread: float
    wh_per_1k_cv: float
    g_co2e_per_1k: float
    carbon_intensity_g_per_kwh: float
    country_iso_code: str
    cpu_power_w: float
    ram_power_w: float
    batch_size: int
    window_seconds: float
    repeats: int
    method: EnergyMethod
    windows: tuple[EnergyWindow, ...]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _tracker(country_iso_code: str, force_cpu_power: float | None, force_ram_power: float | None):
    from codecarbon import OfflineEmissionsTracker

    logging.getLogger("codecarbon").setLevel(logging.ERROR)
    kwargs: dict[str, Any] = {}
    if force_cpu_power is not None:
        kwargs["force_cpu_power"] = force_cpu_power
    if force_ram_power is not None:
        kwargs["force_ram_power"] = force_ram_power
    return OfflineEmissionsTracker(
        country_iso_code=country_iso_code,
        measure_power_secs=MEASURE_POWER_SECS,
        save_to_file=False,
        log_level="error",
        tracking_mode="machine",
        allow_multiple_runs=True,
        **kwargs,
    )


def read_method(tracker: Any) -> EnergyMethod:
    """What CodeCarbon actually did, read defensively: private attributes may change."""
    import codecarbon

    cpu = next((h for h in getattr(tracker, "_hardware", []) if type(h).__name__ == "CPU"), None)
    mode = str(getattr(cpu, "_mode", "unknown"))
    tdp = getattr(cpu, "_tdp", None)
    description = METHOD_TEXT.get(mode, f"CodeCarbon mode {mode!r} (method unknown)")
    if mode == "cpu_load" and tdp is not None:
        description += f" ({float(tdp):g} W TDP) plus a fixed RAM power"
    elif mode in MEASURED_MODES:
        description += "; RAM power is still modelled by CodeCarbon (a fixed share), not metered"
    conf = getattr(tracker, "_conf", {}) or {}
    return EnergyMethod(
        cpu_mode=mode,
        estimated=mode not in MEASURED_MODES,
        description=description,
        cpu_tdp_w=float(tdp) if tdp is not None else None,
        generic_tdp=getattr(cpu, "_is_generic_tdp", None),
        cpu_model=str(conf.get("cpu_model", "unknown")),
        tracking_mode=str(conf.get("tracking_mode", "unknown")),
        codecarbon_version=str(getattr(codecarbon, "__version__", "unknown")),
    )


@functools.lru_cache(maxsize=None)
def warm_up_codecarbon(country_iso_code: str = DEFAULT_COUNTRY) -> None:
    """Pay CodeCarbon's one-off hardware detection (1.5-3 s) once per process, outside any window."""
    tracker = _tracker(country_iso_code, None, None)
    tracker.start()
    tracker.stop()


def measure_window(
    workload: Callable[[], int],
    *,
    country_iso_code: str = DEFAULT_COUNTRY,
    min_seconds: float = MIN_WINDOW_SECONDS,
    min_inferences: int = 1000,
    force_cpu_power: float | None = None,
    force_ram_power: float | None = None,
) -> tuple[EnergyWindow, EnergyMethod]:
    """Run ``workload`` (returns inferences done per call) in one window of at least ``min_seconds``."""
    tracker = _tracker(country_iso_code, force_cpu_power, force_ram_power)
    with _WINDOW_LOCK:
        tracker.start()
        started, opened = time.perf_counter(), time.monotonic()
        count = 0
        try:
            while count < min_inferences or time.perf_counter() - started < min_seconds:
                count += workload()
        finally:
            seconds = time.perf_counter() - started
            tracker.stop()
            WINDOWS.append((opened, time.monotonic()))
    data = getattr(tracker, "final_emissions_data", None)
    if data is None or not data.energy_consumed or data.energy_consumed <= 0:
        raise MeasurementError(
            "CodeCarbon returned no energy reading for this window; "
            "retry, or check that the tracker can read CPU load on this machine."
        )
    window = EnergyWindow(
        energy_kwh=float(data.energy_consumed),
        emissions_kg=float(data.emissions),
        seconds=seconds,
        inferences=count,
        cpu_power_w=float(data.cpu_power or 0.0),
        ram_power_w=float(data.ram_power or 0.0),
    )
    return window, read_method(tracker)


def measure_energy(
    workload: Callable[[], int],
    *,
    batch_size: int,
    settings: MeasureSettings | None = None,
    min_inferences: int = 1000,
) -> EnergyResult:
    """Median and spread of Wh and gCO2e per 1,000 inferences over ``settings.repeats`` windows.

    ``settings`` says the grid, the window length, the repeat count and any forced CPU/RAM power.
    """
    settings = settings or MeasureSettings()
    warm_up_codecarbon(settings.country)
    windows, methods = [], []
    for _ in range(settings.repeats):
        window, method = measure_window(
            workload,
            country_iso_code=settings.country,
            min_seconds=settings.energy_window_s,
            min_inferences=min_inferences,
            force_cpu_power=settings.force_cpu_power_w,
            force_ram_power=settings.force_ram_power_w,
        )
        windows.append(window)
        methods.append(method)
    per_1k = [w.wh_per_1k for w in windows]
    mean = statistics.fmean(per_1k)
    total_kwh = sum(w.energy_kwh for w in windows)
    return EnergyResult(
        wh_per_1k=statistics.median(per_1k),
        wh_per_1k_spread=max(per_1k) - min(per_1k),
        wh_per_1k_cv=(statistics.stdev(per_1k) / mean) if len(per_1k) > 1 and mean else 0.0,
        g_co2e_per_1k=statistics.median(w.g_co2e_per_1k for w in windows),
        carbon_intensity_g_per_kwh=sum(w.emissions_kg for w in windows) * 1000.0 / total_kwh,
        country_iso_code=settings.country,
        cpu_power_w=statistics.median(w.cpu_power_w for w in windows),
        ram_power_w=statistics.median(w.ram_power_w for w in windows),
        batch_size=batch_size,
        window_seconds=statistics.median(w.seconds for w in windows),
        repeats=settings.repeats,
        method=methods[-1],
        windows=tuple(windows),
    )
