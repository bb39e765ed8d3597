"""The measured record of one compression point: flat, frozen, units in the field names."""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass
from typing import Any, Sequence

from ecocompress.core import units
from ecocompress.core.grid import DEFAULT_COUNTRY, country_grid
from ecocompress.core.intervals import geometric_interval, log_spread
from ecocompress.core.errors import invalid_parameter
from ecocompress.core.points import CompressionPoint


SCENARIOS = {
    "online": "online: one request at a time (batch 1)",
    "batch": "batch: requests grouped into batches",
}
TEXT_BATCH = 32  # sentences per call in the text models' batch scenario (256 of 32 tokens take seconds on one thread)


@dataclass(frozen=True)
class MeasureSettings:
    """How a point is measured. Everything but ``country`` is part of the cache key.

    Energy and latency are measured in pairs of windows, the point against its baseline in the same
    run (B P, P B, ...), at least ``repeats`` pairs of ``energy_window_s`` seconds each, then more pairs
    until the 95% interval of the energy ratio is within +/- ``target_half_width`` or
    ``energy_budget_s`` seconds have passed. ``country`` only chooses the grid for CO2e, which is
    energy x grid intensity computed when a figure is shown: changing it never re-measures.
    """

    country: str = DEFAULT_COUNTRY
    repeats: int = 4
    energy_window_s: float = 1.25  # not a multiple of CodeCarbon's 0.5 s sampling: see measure.paired
    energy_budget_s: float = 45.0
    target_half_width: float = 0.05
    scenario: str = "batch"
    batch_size: int = 256
    ort_threads: int = 1
    force_cpu_power_w: float | None = None
    force_ram_power_w: float | None = None
    seeds: int = 1

    def __post_init__(self) -> None:
        object.__setattr__(self, "country", country_grid(self.country)["iso_code"])  # fails early, plainly
        number = (int, float)
        checks = [
            ("repeats", isinstance(self.repeats, int) and 2 <= self.repeats <= 50, "an int in the range [2, 50] (pairs)"),
            ("energy_window_s", isinstance(self.energy_window_s, number) and 0.25 <= self.energy_window_s <= 60,
             "a float in the range [0.25, 60] seconds"),
            ("energy_budget_s", isinstance(self.energy_budget_s, number) and 0.5 <= self.energy_budget_s <= 600,
             "a float in the range [0.5, 600] seconds"),
            ("target_half_width", isinstance(self.target_half_width, number) and 0 < self.target_half_width <= 0.5,
             "a float in the range (0, 0.5]"),
            ("scenario", self.scenario in SCENARIOS, f"one of {sorted(SCENARIOS)}"),
            ("batch_size", isinstance(self.batch_size, int) and 1 <= self.batch_size <= 4096, "an int in the range [1, 4096]"),
            ("ort_threads", isinstance(self.ort_threads, int) and 1 <= self.ort_threads <= 64, "an int in the range [1, 64]"),
            ("seeds", isinstance(self.seeds, int) and 1 <= self.seeds <= 10, "an int in the range [1, 10]"),
        ]
        for name, ok, allowed in checks:
            if not ok or isinstance(getattr(self, name), bool):
                raise invalid_parameter(name, allowed, getattr(self, name))
        for name in ("force_cpu_power_w", "force_ram_power_w"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, number) or isinstance(value, bool) or not 0 < value <= 2000):
                raise invalid_parameter(name, "None or a power in watts in the range (0, 2000]", value)

    def key(self) -> str:
        """The measurement part of the cache key: the grid region is left out (CO2e is computed on display)."""
        return json.dumps({k: v for k, v in dataclasses.asdict(self).items() if k != "country"}, sort_keys=True)

    @property
    def workload_batch(self) -> int:
        """Inferences per onnxruntime call in the energy and latency windows."""
        return 1 if self.scenario == "online" else self.batch_size

    @classmethod
    def batch_words(cls) -> str:
        """The batch scenario's size per call as every help text says it."""
        return f"{cls.batch_size} per call; {TEXT_BATCH} sentences for the text models"

    def series(self, batch: int | None = None) -> str:
        """The settings that change a figure's expected value; only points of one series are compared.

        ``batch``: the kind's own batch when it differs (the text model runs 32 sentences per call).
        """
        batch = self.workload_batch if batch is None else batch
        text = f"{self.scenario} (batch {batch}), {self.ort_threads} thread{'s' if self.ort_threads > 1 else ''}"
        forced = [f"{name} forced to {value:g} W" for name, value in
                  (("CPU", self.force_cpu_power_w), ("RAM", self.force_ram_power_w)) if value]
        return text + (", " + ", ".join(forced) if forced else "")


READABLE_MIN_PAIRS = 4  # fewer pairs than this (a first answer has 2): no interval is shown, only...
READABLE_MAX_HALF_WIDTH = 0.25  # ...and the same when the interval is wider than +/- this share of the ratio
NOT_ENOUGH = "not enough measurements yet"


def beyond_noise(ratio: float, low: float, high: float, floor: float | None) -> bool:
    """The one rule for calling a difference measurable: its 95% interval excludes 1 and it exceeds the floor."""
    return not low <= 1.0 <= high and abs(ratio - 1.0) > (floor or 0.0)


def _field(record: Any, name: str) -> Any:
    """A field of a ``Measurement``, a table row or a stored dict alike (None where an older row lacks it)."""
    return record.get(name) if isinstance(record, dict) else getattr(record, name, None)


def readable(record: Any) -> bool:
    """Whether the energy and time changes rest on enough pairs, narrow enough, to be shown as figures."""
    return (_field(record, "energy_pairs") >= READABLE_MIN_PAIRS
            and _field(record, "energy_ratio_half_width") <= READABLE_MAX_HALF_WIDTH)


def energy_change_shown(record: Any) -> bool:
    """Whether the energy change is a figure every surface may state (a saving, a cost, a yearly projection, a
    payback): enough pairs to read and beyond the interval and the floor (``Measurement``, row or dict alike)."""
    return readable(record) and bool(_field(record, "energy_difference_significant"))


def change_words(record: Any, what: str = "energy", *, signed: bool = False) -> str:
    """The point's energy (or ``what="time"``, or ``"CO2e"``) against its baseline, the same words on every surface.

    '58% less energy (95%: 55-61% less)', or with ``signed`` a card's '-58% energy (95%: -61% to -55%)';
    'no measurable ... difference' inside the interval or within the machine's measurement floor;
    'not enough measurements yet' while the interval rests on too few pairs or is too wide to read.
    """
    prefix = "latency" if what == "time" else "energy"  # CO2e is energy x the grid: it reads the energy ratio
    ratio, low, high = (_field(record, f"{prefix}_ratio{end}") for end in ("", "_ci_low", "_ci_high"))
    if not readable(record):
        return NOT_ENOUGH if signed else f"{what} change: {NOT_ENOUGH} ({_field(record, 'energy_pairs')} pairs)"
    floor = _floor(record)
    if not low <= 1.0 <= high and not beyond_noise(ratio, low, high, floor):
        inside = f"no measurable {what} difference"
        return inside if signed else f"{inside} ({(ratio - 1) * 100:+.0f}%, within this machine's floor of {_share(floor)})"
    return (units.signed_interval if signed else units.change_with_interval)(ratio, low, high, what)


def _floor(record: Any) -> float | None:
    """The record's floor; None where it predates floors (NaN in a table that mixes old and new rows)."""
    floor = _field(record, "measurement_floor")
    return None if floor is None or floor != floor else float(floor)


def _share(floor: float) -> str:
    """'±7%', or '±0.4%' where a whole percent would round a small floor to nothing."""
    return f"±{units.percent(floor, 1 if floor < 0.02 else 0)}"


def floor_words(record: Any) -> str:
    """What goes beside every energy figure: the smallest difference this machine can tell from noise."""
    floor = _floor(record)
    if floor is None:
        return "measurement floor on this machine: not measured (the baseline predates it; re-measure it)"
    if floor > READABLE_MAX_HALF_WIDTH:  # an A/A run with too few pairs: no more a figure than a point's would be
        return f"measurement floor on this machine: {NOT_ENOUGH} (the baseline against its copy: {_share(floor)})"
    return f"measurement floor on this machine: {_share(floor)}"


@dataclass(frozen=True)
class Measurement:
    """Everything measured for one point on its ONNX artifact in onnxruntime."""

    model: str
    label: str
    sparsity: float
    bits: int
    student_width: float
    structured: bool
    rank_ratio: float | None
    runtime_format: str
    runtime_reason: str
    technique_notes: str
    accuracy: float
    accuracy_ci_low: float
    accuracy_ci_high: float
    test_examples: int
    baseline_accuracy: float
    accuracy_drop_points: float  # baseline minus point: what the accuracy budget limits
    accuracy_change_points: float  # point minus baseline, signed: negative = accuracy lost
    size_bytes: int
    baseline_size_bytes: int
    compression_ratio: float
    storage_bytes: int
    baseline_storage_bytes: int
    storage_ratio: float
    storage_format: str
    storage_path: str
    params: int
    macs: int
    effective_macs: int
    latency_ms_batch1: float
    latency_ms_batch1_p90: float
    latency_ms_per_item_large_batch: float
    latency_ms_per_item_large_batch_p90: float
    large_batch_size: int
    speedup_measured: float  # 1 / latency_ratio: baseline time per inference over the point's, same run
    speedup_theoretical: float
    gain_only_on_paper: bool
    latency_ratio: float  # point / baseline time per inference in the paired windows (median of pairs)
    latency_ratio_ci_low: float
    latency_ratio_ci_high: float
    energy_wh_per_1k: float  # stored: energy_ratio x its run's baseline; shown: x the series' pooled baseline
    energy_wh_per_1k_ci_low: float
    energy_wh_per_1k_ci_high: float
    baseline_energy_wh_per_1k: float  # stored: the baseline in the same run; shown: the series' pooled baseline
    energy_ratio: float  # point / baseline energy per inference, median of the per-pair ratios
    energy_ratio_ci_low: float  # 95% interval (t on the log ratios)
    energy_ratio_ci_high: float
    energy_ratio_half_width: float  # half the interval's width relative to the ratio (0.05 = +/- 5%)
    energy_difference_significant: bool  # False when the ratio's interval contains 1 or the change is within the floor
    energy_pairs: int  # pairs of windows the figures rest on
    energy_pairs_discarded: int  # pairs set aside as meter glitches (a window far from its model's usual power)
    energy_seconds: float
    scenario: str
    series: str  # the settings that change the figures: points of one series only are compared
    emissions_g_per_1k: float  # energy x carbon_intensity of ``country``: computed when shown
    carbon_intensity_g_per_kwh: float
    country: str
    energy_method: str
    energy_estimated: bool
    energy_cpu_mode: str
    cpu_power_w: float
    ram_power_w: float
    energy_batch_size: int
    energy_window_s: float
    ort_threads: int
    onnx_path: str
    model_hash: str
    code_version: str
    measured_at: str
    seeds: int = 1
    accuracy_seed_mean: float | None = None
    accuracy_seed_std: float | None = None
    cached: bool = False
    quality_metric: str = "test accuracy"  # the text model: agreement with the original model
    fidelity_cosine: float | None = None  # the text model: mean cosine similarity to the original's embeddings
    fidelity_top1: float | None = None  # the text model: top-1 nearest-neighbour agreement
    fine_tuned: bool = True  # False: the quick post-training version measured first ("before fine-tuning")
    prediction_changes: dict | None = None  # measure.flips.PredictionChanges as a dict: flips against the baseline
    layer_settings: tuple | None = None  # per layer (name, sparsity, bits) when each layer got its own setting
    kept_units: tuple | None = None  # per layer (name or "input", units kept) after per-layer structured pruning
    measurement_floor: float | None = None  # from the baseline's A/A run (against a copy of itself): +/- share
    build_energy_wh: float | None = None  # compressing it (training, calibration, export), CodeCarbon, process-level
    measuring_energy_wh: float | None = None  # the energy windows that measured it, both sides
    hardware: str | None = None  # the hardware class that measured it (``core.provenance.hardware``); None: before kept

    def change(self, what: str = "energy", *, signed: bool = False) -> str:
        """``change_words`` for this point."""
        return change_words(self, what, signed=signed)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Measurement":
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})

    @property
    def point(self) -> CompressionPoint:
        """The setting this record measured."""
        return CompressionPoint(**{f.name: getattr(self, f.name) for f in dataclasses.fields(CompressionPoint)})

    @property
    def is_baseline(self) -> bool:
        return self.point.is_baseline

    @property
    def saves_energy(self) -> bool:
        """A saving only when the whole 95% interval of the energy ratio is below 1 (and beyond the floor), on
        enough pairs to be shown: what the words say ('not enough measurements yet') is never recommended."""
        return energy_change_shown(self) and self.energy_ratio_ci_high < 1.0

    @property
    def saves_time(self) -> bool:
        """The same rule for the time per inference (its ratio comes from the same paired windows)."""
        return (readable(self) and self.latency_ratio_ci_high < 1.0 and beyond_noise(
            self.latency_ratio, self.latency_ratio_ci_low, self.latency_ratio_ci_high, self.measurement_floor))

    def in_region(self, country: str) -> "Measurement":
        """The same measurement with CO2e on ``country``'s grid (energy never changes with the grid)."""
        grid = country_grid(country)
        intensity = grid["carbon_intensity_g_per_kwh"]
        return dataclasses.replace(self, country=grid["iso_code"], carbon_intensity_g_per_kwh=intensity,
                                   emissions_g_per_1k=self.energy_wh_per_1k / 1000.0 * intensity)


@dataclass(frozen=True)
class PooledBaseline:
    """The baseline's figures in one series, pooled over the runs that measured it.

    ``value``/``low``/``high``: energy per 1,000 inferences with its 95% interval; ``latency_ms``: time per
    inference at the paired windows' batch (None before a baseline run is stored).
    """

    value: float
    low: float
    high: float
    runs: int
    latency_ms: float | None = None


def paired_latency_field(record: Measurement) -> str:
    """The latency figure measured at the batch the paired windows ran (the one ``latency_ratio`` compares)."""
    return "latency_ms_batch1" if record.energy_batch_size == 1 else "latency_ms_per_item_large_batch"


def pooled_baseline(runs: Sequence[Measurement]) -> PooledBaseline | None:
    """One baseline figure per series: the geometric mean of every run's baseline (each point's paired run
    measured the baseline in its own windows), with a 95% t interval over the runs.

    Load moves a run's absolute figures (1.6x between runs on a busy machine) but not its paired ratio, so
    absolute figures are ratio x this pooled figure: one baseline for every page, chart, table and report.
    With one run, that run's own interval. Latency likewise, from the runs that measured the baseline itself.
    """
    values = [r.baseline_energy_wh_per_1k for r in runs if r.baseline_energy_wh_per_1k > 0
              and math.isfinite(r.baseline_energy_wh_per_1k)]
    if not values:
        return None
    latencies = [v for v in (getattr(r, paired_latency_field(r)) for r in runs if r.is_baseline) if v > 0 and math.isfinite(v)]
    latency = geometric_interval(latencies)[0] if latencies else None
    if len(values) == 1:
        own = next((r for r in runs if r.is_baseline), None)
        low, high = (own.energy_wh_per_1k_ci_low, own.energy_wh_per_1k_ci_high) if own else (values[0], values[0])
        return PooledBaseline(values[0], min(low, values[0]), max(high, values[0]), 1, latency)
    return PooledBaseline(*geometric_interval(values), len(values), latency)


def on_baseline(record: Measurement, base: PooledBaseline | None) -> Measurement:
    """``record`` with its absolute energy = its paired ratio x ``base``, the interval carrying both (in logs),
    and its time per inference at the paired batch = its latency ratio x the pooled baseline's.

    The same record always gives the same figures for the same ``base``, whichever surface asks.
    """
    if base is None:
        return record
    record = _on_baseline_latency(record, base.latency_ms)
    if record.is_baseline:
        return dataclasses.replace(record, energy_wh_per_1k=base.value, energy_wh_per_1k_ci_low=base.low,
                                   energy_wh_per_1k_ci_high=base.high, baseline_energy_wh_per_1k=base.value)
    value = record.energy_ratio * base.value
    base_down, base_up = log_spread(base.value, base.low, base.high)
    ratio_down, ratio_up = log_spread(record.energy_ratio, record.energy_ratio_ci_low, record.energy_ratio_ci_high)
    return dataclasses.replace(record, energy_wh_per_1k=value, baseline_energy_wh_per_1k=base.value,
                               energy_wh_per_1k_ci_low=value * math.exp(-math.hypot(base_down, ratio_down)),
                               energy_wh_per_1k_ci_high=value * math.exp(math.hypot(base_up, ratio_up)))


def _on_baseline_latency(record: Measurement, base_ms: float | None) -> Measurement:
    """The paired-batch latency (and its p90, by the same factor) as latency ratio x the pooled baseline's."""
    name = paired_latency_field(record)
    own = getattr(record, name)
    if base_ms is None or not own > 0:
        return record
    shown = base_ms * (1.0 if record.is_baseline else record.latency_ratio)
    return dataclasses.replace(record, **{name: shown, f"{name}_p90": getattr(record, f"{name}_p90") * shown / own})
