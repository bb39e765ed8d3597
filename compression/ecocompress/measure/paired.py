"""Energy and latency of a point against its baseline, measured in alternating windows of one run.

A shared machine drifts by tens of percent within minutes, so a point measured after its baseline
differs from it by the drift as much as by the compression. Here each pair of CodeCarbon windows runs
the baseline and the point back to back (B P, then P B, so a steady drift hits both alike); the ratio
of each pair cancels what the two windows shared. A pair's second window can also run differently from
its first whatever it holds (caches, frequency): with the same graph on both sides this order effect
alone once gave "1.05x (95%: 1.007-1.096)", because the median of ratios that alternate between 1.05
and 1/1.05 is one of the two. So the two orders are estimated apart and weighed equally: the reported
ratio is the mean of the B-first and P-first medians (in logs), its 95% interval a t interval on the
log ratios with the spread measured within each order (widened to contain the reported ratio); pairs are
added until the interval is within +/- the target half-width or another pair would overrun the time budget. Absolute
figures are the ratio times the baseline measured in the same windows, with an interval that carries
both uncertainties.

A window whose average power is far from the other windows of the same model is a meter glitch, not
a workload change (seen here: CodeCarbon now and then counts a sampling interval twice, 41.8 W in a
run of 21.7 W windows, mostly when a window ends on one of its 0.5 s sampling ticks, which is why
windows default to 1.25 s): such pairs are set aside, counted, and the run goes on until enough
pairs are kept.
"""

from __future__ import annotations

import math
import random
import statistics
import time
from dataclasses import dataclass
from typing import Callable, Sequence

from ecocompress.core.intervals import log_se, t_quantile
from ecocompress.core.progress import Progress, no_progress
from ecocompress.core.records import MeasureSettings, beyond_noise
from ecocompress.measure.energy import EnergyMethod, EnergyWindow, measure_window, warm_up_codecarbon

Workload = Callable[[], int]  # runs one onnxruntime call, returns the inferences it did
Opener = Callable[[], Workload]  # opens a fresh session (and input buffers), returns its warmed-up workload

MAX_PAIRS = 200
GLITCH_POWER = 0.2  # a window this far (relative) from its model's median power is a meter glitch


@dataclass(frozen=True)
class Interval:
    """A positive quantity (a ratio or an energy) with its 95% interval."""

    value: float
    low: float
    high: float

    @property
    def half_width(self) -> float:
        """Half the interval's width relative to the value (0.05 = +/- 5%)."""
        return (self.high - self.low) / 2.0 / self.value if self.value else math.inf

    @property
    def contains_one(self) -> bool:
        return self.low <= 1.0 <= self.high


ONE = Interval(1.0, 1.0, 1.0)  # the baseline's ratio to itself

@dataclass(frozen=True)
class _LogEstimate:
    """A ratio estimated from per-pair ratios in logs: robust centre, mean, standard error, degrees of freedom."""

    centre: float
    mean: float
    se: float
    df: int


def _log_estimate(ratios: Sequence[float], point_first: Sequence[bool] | None) -> _LogEstimate:
    """Each order (baseline first, point first) estimated apart and weighed equally, when both occur."""
    logs = [math.log(r) for r in ratios]
    orders = [[x for x, first in zip(logs, point_first) if first is f] for f in (False, True)] if point_first else []
    if len(orders) < 2 or not all(orders) or len(logs) < 3:
        return _LogEstimate(statistics.median(logs), statistics.fmean(logs), log_se(ratios), len(logs) - 1)
    means = [statistics.fmean(group) for group in orders]
    within = sum((x - m) ** 2 for group, m in zip(orders, means) for x in group) / (len(logs) - 2)
    se = math.sqrt(within * sum(1 / len(group) for group in orders)) / 2
    return _LogEstimate(statistics.fmean(statistics.median(g) for g in orders), statistics.fmean(means), se,
                        len(logs) - 2)


def ratio_interval(ratios: Sequence[float], point_first: Sequence[bool] | None = None) -> Interval:
    """The ratio with a 95% t interval on the log ratios (never excluding the reported value).

    Without ``point_first`` the value is the median of ``ratios``; with it (which pairs ran the point's window
    first), the mean of the two orders' medians, so an order effect cancels instead of picking a side.
    """
    estimate = _log_estimate(ratios, point_first)
    centre = math.exp(estimate.centre)
    if estimate.df < 1 or not math.isfinite(estimate.se):
        return Interval(centre, 0.0, math.inf)
    half = t_quantile(estimate.df) * estimate.se
    return Interval(centre, min(centre, math.exp(estimate.mean - half)), max(centre, math.exp(estimate.mean + half)))


def scaled_interval(base_values: Sequence[float], ratios: Sequence[float] | None,
                    point_first: Sequence[bool] | None = None) -> Interval:
    """The baseline's median times the ratio, with a t interval combining both log standard errors."""
    base = statistics.median(base_values)
    if ratios is None:  # the baseline itself
        value, se, df = base, log_se(base_values), len(base_values) - 1
    else:
        estimate = _log_estimate(ratios, point_first)
        value = base * math.exp(estimate.centre)
        se = math.hypot(log_se(base_values), estimate.se)
        df = min(len(base_values) - 1, estimate.df)
    if not math.isfinite(se):
        return Interval(value, 0.0, math.inf)
    half = t_quantile(df) * se
    return Interval(value, min(value, value * math.exp(-half)), max(value, value * math.exp(half)))


@dataclass(frozen=True)
class PairedResult:
    """What one paired run found: ratios with intervals, absolute figures scaled from the same run."""

    energy_ratio: Interval
    latency_ratio: Interval
    baseline_wh_per_1k: Interval
    point_wh_per_1k: Interval
    pairs: int
    discarded: int  # pairs set aside as meter glitches
    seconds: float
    batch_size: int
    window_seconds: float
    cpu_power_w: float
    ram_power_w: float
    method: EnergyMethod
    windows: tuple[tuple[EnergyWindow, EnergyWindow | None], ...]

    @property
    def energy_wh(self) -> float:
        """What the windows themselves used, both sides, in Wh: part of what measuring a point costs."""
        return sum(w.energy_kwh for pair in self.windows for w in pair if w is not None) * 1000.0

    @property
    def significant(self) -> bool:
        """False when the energy ratio's interval contains 1: no measurable difference."""
        return not self.energy_ratio.contains_one


def null_floor(identical: Interval) -> float:
    """The measurement floor from an A/A run (a model against a fresh copy of itself): how far from 1 the
    95% interval of a difference that does not exist reached. Smaller differences are never called measurable."""
    return max(identical.high - 1.0, 1.0 - identical.low, 0.0)


def measurable(ratio: Interval, floor: float | None) -> bool:
    """A difference the product may report (``core.records.beyond_noise``)."""
    return beyond_noise(ratio.value, ratio.low, ratio.high, floor)


def _seconds_per_inference(window: EnergyWindow) -> float:
    return window.seconds / window.inferences


def measure_paired(
    baseline: Opener,
    point: Opener | None,
    *,
    batch_size: int,
    settings: MeasureSettings,
    progress: Progress = no_progress,
    clock: Callable[[], float] = time.perf_counter,
    rng: random.Random | None = None,
) -> PairedResult:
    """Alternate baseline and point windows until the energy ratio is known to ``settings.target_half_width``.

    ``baseline`` and ``point`` open a fresh session each call and return its workload (one call, the
    inferences done); every pair gets sessions of its own. With ``point=None`` the baseline is measured on its
    own (its ratio is 1 by definition; its interval is that of its windows).
    """
    rng = rng or random.Random()
    warm_up_codecarbon(settings.country)
    progress("measuring energy in pairs with the baseline", 0.0)
    started = clock()
    windows: list[tuple[EnergyWindow, EnergyWindow | None]] = []
    method: EnergyMethod | None = None

    def window(workload: Callable[[], int]) -> EnergyWindow:
        nonlocal method
        win, method = measure_window(
            workload, country_iso_code=settings.country, min_seconds=settings.energy_window_s,
            min_inferences=batch_size, force_cpu_power=settings.force_cpu_power_w,
            force_ram_power=settings.force_ram_power_w, threads=settings.ort_threads,
        )
        return win

    while len(windows) < MAX_PAIRS:
        base_work = point_work = None  # the last pair's sessions go before this pair's open
        base_work, point_work = _open_pair(baseline, point, rng)
        if point_work is None:
            windows.append((window(base_work), None))
        elif not point_first(len(windows)):
            b = window(base_work)
            windows.append((b, window(point_work)))
        else:
            p = window(point_work)
            windows.append((window(base_work), p))
        result = _summarise(windows, batch_size, clock() - started, method)
        reached = result.energy_ratio.half_width if point is not None else result.baseline_wh_per_1k.half_width
        elapsed = clock() - started
        progress(f"measuring energy in pairs with the baseline: {len(windows)} pairs, +/- {min(reached, 9.99):.0%}",
                 min(1.0, elapsed / settings.energy_budget_s))
        out_of_time = elapsed + elapsed / len(windows) > settings.energy_budget_s  # another pair would overrun it
        if result.pairs >= settings.repeats and (reached <= settings.target_half_width or out_of_time):
            return result
        # glitches keep eating pairs: stop, and say how many were kept; never before two (one pair has no interval:
        # a model whose windows outlast a short budget, MiniLM at 1 s, got an infinite one)
        if elapsed >= 3 * settings.energy_budget_s and result.pairs >= 2:
            return result
    return result


def _open_pair(baseline: Opener, point: Opener | None, rng: random.Random) -> tuple[Workload, Workload | None]:
    """Fresh sessions for one pair, the two sides opened in random order (neither always gets the fresher heap)."""
    if point is None:
        return baseline(), None
    if rng.random() < 0.5:
        base_work = baseline()
        return base_work, point()
    point_work = point()
    return baseline(), point_work


def point_first(pair: int) -> bool:
    """Whether pair number ``pair`` runs the point's window first (every other pair: B P, P B, B P, ...)."""
    return pair % 2 == 1


def _power(window: EnergyWindow) -> float:
    """Watts over the time the workload ran: steady whatever share of the cores other programs took."""
    return window.energy_kwh * 3.6e6 / window.busy_seconds


def _glitch_free(windows: list[tuple[EnergyWindow, EnergyWindow | None]]) -> list[int]:
    """Indices of the pairs whose windows both draw about their model's median power (all when too few to judge)."""
    if len(windows) < 3:
        return list(range(len(windows)))
    typical = [statistics.median(_power(w[i]) for w in windows) for i in (0, 1) if windows[0][i] is not None]

    def normal(pair: tuple[EnergyWindow, EnergyWindow | None]) -> bool:
        return all(abs(_power(w) / typical[i] - 1.0) <= GLITCH_POWER for i, w in enumerate(pair) if w is not None)

    kept = [index for index, pair in enumerate(windows) if normal(pair)]
    return kept if len(kept) >= 2 else list(range(len(windows)))


def _summarise(
    measured: list[tuple[EnergyWindow, EnergyWindow | None]], batch_size: int, seconds: float, method: EnergyMethod | None,
) -> PairedResult:
    kept = _glitch_free(measured)
    windows = [measured[i] for i in kept]
    first = [point_first(i) for i in kept]
    base_wh = [b.wh_per_1k for b, _ in windows]
    shown = [p if p is not None else b for b, p in windows]
    base = scaled_interval(base_wh, None)
    if windows[0][1] is None:  # the baseline on its own: it is its own point, at ratio 1
        energy_ratio = latency_ratio = ONE
        point = base
    else:
        energy = [p.wh_per_1k / b.wh_per_1k for b, p in windows]
        latency = [_seconds_per_inference(p) / _seconds_per_inference(b) for b, p in windows]
        energy_ratio, latency_ratio = ratio_interval(energy, first), ratio_interval(latency, first)
        point = scaled_interval(base_wh, energy, first)
    return PairedResult(
        energy_ratio=energy_ratio,
        latency_ratio=latency_ratio,
        baseline_wh_per_1k=base,
        point_wh_per_1k=point,
        pairs=len(windows),
        discarded=len(measured) - len(windows),
        seconds=seconds,
        batch_size=batch_size,
        window_seconds=statistics.median(w.seconds for w in shown),
        cpu_power_w=statistics.median(w.cpu_power_w for w in shown),
        ram_power_w=statistics.median(w.ram_power_w for w in shown),
        method=method,
        windows=tuple(measured),
    )
