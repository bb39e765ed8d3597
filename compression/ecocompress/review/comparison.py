"""A point against its baseline, figure by figure: the one presenter the Explore cards, the CLI's table, the HTML
report and the model card all render, so the four never say different things about one record.

Every change comes from the record itself: accuracy and sizes from the baseline figures stored with it, time and
energy from the ratios of its paired windows (with their 95% intervals and the machine's floor, ``change_words``).
A figure that was not measured against the baseline in the same windows (the other batch size's latency) gets no
baseline and no change: a ratio of two runs' timings has no interval and would contradict the paired one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ecocompress.core import units
from ecocompress.core.objectives import quality_name
from ecocompress.core.records import Measurement, floor_words, paired_latency_field, readable


@dataclass(frozen=True)
class Row:
    """One figure. ``value`` with its unit, ``interval`` its 95% interval in words ('' where none), ``baseline`` the
    uncompressed model's figure ('' where none is comparable), ``change`` the change in words, ``delta`` the same
    change short and signed for a card's arrow (None: no arrow), ``delta_color`` how an arrow reads (Streamlit's
    vocabulary: 'normal' up is good, 'inverse' down is good, 'off' neither), ``note`` how the figure was obtained,
    ``compared`` False for a figure not measured against the baseline (no baseline, no change)."""

    figure: str
    value: str
    interval: str
    baseline: str
    change: str
    delta: str | None
    delta_color: str
    note: str
    compared: bool = True

    @property
    def value_with_interval(self) -> str:
        return f"{self.value} (95%: {self.interval})" if self.interval else self.value


def size_change(ratio: float) -> str:
    """'3.6x smaller', '1.2x larger' or 'same size' (``ratio``: baseline bytes over the point's)."""
    if round(ratio, 2) == 1.0:
        return "same size"
    return f"{units.ratio(ratio)} smaller" if ratio > 1 else f"{units.ratio(1 / ratio)} larger"


def _delta(base: bool, change: str) -> str | None:
    """A size change as a card's arrow: none for the baseline or where nothing changed."""
    return None if base or change == "same size" else change


def comparison(record: Measurement | dict[str, Any]) -> list[Row]:
    """The record's figures against its baseline, in the order every surface shows them."""
    m = record if isinstance(record, Measurement) else Measurement.from_dict(record)
    base = m.is_baseline
    paired = paired_latency_field(m)
    other = "latency_ms_per_item_large_batch" if paired == "latency_ms_batch1" else "latency_ms_batch1"
    arrow = "inverse" if readable(m) else "off"  # 'not enough measurements yet' is neither good nor bad
    energy_change = (f"+/- {m.energy_ratio_half_width:.0%} (95%) in its own run" if base else m.change()) + f"; {floor_words(m)}"
    baseline_co2e = m.baseline_energy_wh_per_1k / 1000.0 * m.carbon_intensity_g_per_kwh
    paired_ms = getattr(m, paired)
    baseline_ms = paired_ms / m.latency_ratio if not base and m.latency_ratio > 0 else None
    return [
        Row(quality_name(m.quality_metric), units.percent(m.accuracy),
            f"{units.percent(m.accuracy_ci_low, 1)} to {units.percent(m.accuracy_ci_high, 1)}",
            "" if base else units.percent(m.baseline_accuracy),
            "" if base else units.points_change(m.accuracy_change_points),
            None if base else units.points_change(m.accuracy_change_points), "normal",
            f"{m.test_examples:,} test examples (95% Wilson interval)"),
        Row("stored size (compressed)", units.size(m.storage_bytes), "",
            "" if base else units.size(m.baseline_storage_bytes), "" if base else size_change(m.storage_ratio),
            _delta(base, size_change(m.storage_ratio)), "normal" if m.storage_ratio >= 1 else "inverse",
            m.storage_format),
        Row("size on disk (runnable ONNX)", units.size(m.size_bytes), "",
            "" if base else units.size(m.baseline_size_bytes), "" if base else size_change(m.compression_ratio),
            _delta(base, size_change(m.compression_ratio)), "normal" if m.compression_ratio >= 1 else "inverse",
            f"runs as {m.runtime_format}; {m.params:,} parameters"),
        Row("latency per inference", units.latency_ms(paired_ms), "",
            "" if baseline_ms is None else units.latency_ms(baseline_ms), "" if base else m.change("time"),
            None if base else m.change("time", signed=True), arrow,
            f"at batch {m.energy_batch_size}, onnxruntime {m.ort_threads} thread; the change comes from the paired "
            f"windows against the baseline; {units.ratio(m.speedup_theoretical)} speed-up on paper (operation counts)"
            + (", a gain only on paper" if m.gain_only_on_paper else "")),
        Row(f"latency, batch {m.large_batch_size if other != 'latency_ms_batch1' else 1} (this run only)",
            units.latency_ms(getattr(m, other)), "", "", "", None, "off",
            ("per call" if other == "latency_ms_batch1" else "per inference")
            + ", median; not paired with the baseline, so no change is claimed", compared=False),
        Row("energy per 1,000 inferences", units.energy_wh(m.energy_wh_per_1k),
            f"{units.energy_wh(m.energy_wh_per_1k_ci_low)} to {units.energy_wh(m.energy_wh_per_1k_ci_high)}",
            "" if base else units.energy_wh(m.baseline_energy_wh_per_1k), energy_change,
            None if base else m.change(signed=True), arrow,
            f"{m.energy_method}; measured on {m.hardware or 'this machine'}; {m.energy_pairs} pairs of "
            f"{m.energy_window_s:.1f} s windows alternating with the baseline at batch {m.energy_batch_size}"),
        Row("CO2e per 1,000 inferences", units.mass_g(m.emissions_g_per_1k), "",
            "" if base else units.mass_g(baseline_co2e), "" if base else m.change("CO2e"),
            None if base else m.change("CO2e", signed=True), arrow,
            f"energy x grid {m.country}, {m.carbon_intensity_g_per_kwh:.0f} gCO2e/kWh"),
    ]
