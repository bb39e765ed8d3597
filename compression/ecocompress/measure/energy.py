"""One energy window of a workload, metered by CodeCarbon's offline tracker (no network).

The window follows optimum-benchmark's loop: run the warmed-up workload inside one tracker window
until both a minimum time and a minimum count are reached, and divide by the count; ``measure.paired``
alternates such windows between a point and its baseline. A fresh tracker is used per window because one tracker's totals
accumulate across start/stop cycles.

Process-level tracking (``TRACKING_MODE``): without RAPL, CodeCarbon's machine-level estimate is
TDP x (0.1 + 0.9 x machine load^3), so on a shared two-core machine another program's bursts moved a
window's power between 21.7 and 28.1 W and the power ratio within one pair by 12% (standard deviation of
its log over 200 pairs), more than any other source; process-level counts the CPU time of this process
and its children (TDP x its share of the cores) and the memory it holds, which put that spread at 0.5%.
With RAPL counters the CPU figure is the package's whatever the mode. Measurements are still serialised.

RAM energy counted while the workload is on a CPU (``EnergyWindow.on_cpu_share``): process-level, CodeCarbon
bills the memory a process holds for the window's wall time, so when other programs take turns on the cores,
the wall time a window needs (and with it about 80% of a window's energy, 10 W of RAM against 2-3 W of CPU)
grows with their load, not with the model. Beside a test run and a bursty process (load average 2.3-2.9 on
two cores) that put the sd of the 8-bit point's log energy ratio per pair at 0.15-0.17. Here the RAM share is
counted over the time the workload's own thread(s) ran, the rule CodeCarbon's process mode already applies
to the CPU (TDP x its share of CPU time): the same windows gave 0.02-0.03 (docs/benchmarks.md). On a machine
with nothing else to run the share is 1 and the figure is CodeCarbon's; ``codecarbon_kwh`` keeps its own.
"""

from __future__ import annotations

import collections
import functools
import logging
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, TypeVar

from ecocompress.core.errors import MeasurementError
from ecocompress.core.grid import DEFAULT_COUNTRY

MEASURE_POWER_SECS = 0.5
TRACKING_MODE = "process"  # what a window counts: this process and its children (see the module's docstring)
MIN_WINDOW_SECONDS = 2.0

# One energy window at a time in this process: two windows in one process would count each other.
_WINDOW_LOCK = threading.Lock()
T = TypeVar("T")
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
RAM_RULE = "; RAM counted while the workload runs on a CPU"  # the rule in this module's docstring
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
    codecarbon_kwh: float = 0.0  # CodeCarbon's own reading, RAM billed for the whole wall time
    on_cpu_share: float = 1.0  # share of the wall time the workload's thread(s) ran (see the module docstring)

    @property
    def busy_seconds(self) -> float:
        """The wall time the workload spent on a CPU: what its energy is drawn over."""
        return self.seconds * self.on_cpu_share

    @property
    def wh_per_1k(self) -> float:
        return self.energy_kwh * 1000.0 / self.inferences * 1000.0

    @property
    def g_co2e_per_1k(self) -> float:
        return self.emissions_kg * 1000.0 / self.inferences * 1000.0


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
        tracking_mode=TRACKING_MODE,
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
    description += RAM_RULE
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
    threads: int = 1,
) -> tuple[EnergyWindow, EnergyMethod]:
    """Run ``workload`` (returns inferences done per call) in one window of at least ``min_seconds``.

    ``threads``: the onnxruntime threads the workload runs on. With one, onnxruntime computes on the calling
    thread, whose CPU clock excludes this process's other threads (a server's, CodeCarbon's sampler).
    """
    tracker = _tracker(country_iso_code, force_cpu_power, force_ram_power)
    cpu_clock = time.thread_time if threads == 1 else time.process_time
    with _WINDOW_LOCK:
        tracker.start()
        started, opened, cpu_started = time.perf_counter(), time.monotonic(), cpu_clock()
        count = 0
        try:
            while count < min_inferences or time.perf_counter() - started < min_seconds:
                count += workload()
        finally:
            seconds, cpu_seconds = time.perf_counter() - started, cpu_clock() - cpu_started
            tracker.stop()
            WINDOWS.append((opened, time.monotonic()))
    data = getattr(tracker, "final_emissions_data", None)
    if data is None or not data.energy_consumed or data.energy_consumed <= 0:
        raise MeasurementError(
            "CodeCarbon returned no energy reading for this window; "
            "retry, or check that the tracker can read CPU load on this machine."
        )
    share = min(1.0, cpu_seconds / threads / seconds) if seconds > 0 else 1.0
    reading = float(data.energy_consumed)
    energy = reading - float(data.ram_energy or 0.0) * (1.0 - share)
    window = EnergyWindow(
        energy_kwh=energy,
        emissions_kg=float(data.emissions) * energy / reading,
        seconds=seconds,
        inferences=count,
        cpu_power_w=float(data.cpu_power or 0.0),
        ram_power_w=float(data.ram_power or 0.0),
        codecarbon_kwh=reading,
        on_cpu_share=share,
    )
    return window, read_method(tracker)


def energy_of(
    work: Callable[[], T],
    *,
    country_iso_code: str = DEFAULT_COUNTRY,
    force_cpu_power: float | None = None,
    force_ram_power: float | None = None,
) -> tuple[T, float | None]:
    """``work()`` and the energy CodeCarbon read while it ran, in Wh (None when it read nothing).

    What compressing costs (fine-tuning, distillation, calibration, export) is paid once; the report sets it
    against the saving per inference. Process-level, like the windows: work of this process and its children.
    """
    tracker = _tracker(country_iso_code, force_cpu_power, force_ram_power)
    tracker.start()  # no window lock: a build can take minutes, and the compute queue runs one job at a time
    try:
        result = work()
    finally:
        tracker.stop()
    data = getattr(tracker, "final_emissions_data", None)
    energy = float(data.energy_consumed) if data is not None and data.energy_consumed else 0.0
    return result, energy * 1000.0 if energy > 0 else None
