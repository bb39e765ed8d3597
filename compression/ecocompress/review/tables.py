"""Measured records as tables people read: one row per point, units in the headers, meaningful digits only;
the per-layer view and the answers that changed, likewise. The pages, the CSV and the report read these."""

from __future__ import annotations

from typing import Any, Sequence

import pandas as pd

from ecocompress.core import units
from ecocompress.core.records import NOT_ENOUGH, Measurement, energy_change_shown, readable

Records = Sequence["Measurement | dict[str, Any]"]


TABLE_COLUMNS = {
    "label": "setting",
    "energy_wh_per_1k": "energy (Wh / 1,000 inferences)",
    "accuracy_pct": "accuracy (%)",
    "energy_ratio": "energy vs baseline (x)",
    "accuracy_change_points": "accuracy change (points, negative = lost)",
    "storage_bytes": "stored size (kB)",
    "model": "model",
    "energy_wh_per_1k_ci_low": "energy 95% low (Wh / 1,000)",
    "energy_wh_per_1k_ci_high": "energy 95% high (Wh / 1,000)",
    "energy_ratio_ci_low": "energy ratio 95% low (x)",
    "energy_ratio_ci_high": "energy ratio 95% high (x)",
    "energy_difference_significant": "energy difference measurable",
    "measurement_floor": "measurement floor on this machine (± share)",
    "size_bytes": "runnable ONNX (kB)",
    "runtime_format": "runs as",
    "latency_ms_per_item_large_batch": "latency (s / inference, at the series' batch)",  # s, g: prefixed per column below
    "latency_ratio": "latency vs baseline (x)",
    "latency_ratio_ci_low": "latency ratio 95% low (x)",
    "latency_ratio_ci_high": "latency ratio 95% high (x)",
    "speedup_theoretical": "speed-up on paper (x)",
    "emissions_g_per_1k": "CO2e (g / 1,000 inferences)",
    "country": "grid region",
    "series": "measurement series",
    "energy_method": "energy method",
    "measured_at": "measured at (UTC)",
}


# The printed report splits the table into these sections, each led by the setting, so no column is squeezed
# to a few characters on A4; every column of TABLE_COLUMNS is in exactly one (tests/test_report.py checks it).
TABLE_SECTIONS = {
    "Energy": ["energy_wh_per_1k", "energy_wh_per_1k_ci_low", "energy_wh_per_1k_ci_high", "energy_ratio",
               "energy_ratio_ci_low", "energy_ratio_ci_high", "energy_difference_significant"],
    "Accuracy and size": ["accuracy_pct", "accuracy_change_points", "storage_bytes", "size_bytes", "runtime_format"],
    "Time and CO2e": ["latency_ms_per_item_large_batch", "latency_ratio", "latency_ratio_ci_low", "latency_ratio_ci_high",
                      "speedup_theoretical", "emissions_g_per_1k", "country"],
    "How it was measured": ["model", "measurement_floor", "series", "energy_method", "measured_at"],
}


def records_frame(records: Records) -> pd.DataFrame:
    """Measurement records (or their dicts) as a data frame, one row per point, with latency intervals
    (the paired ratio's interval carried over to the absolute latency)."""
    frame = pd.DataFrame.from_records([r.to_dict() if isinstance(r, Measurement) else r for r in records])
    if not frame.empty and "latency_ratio" in frame:
        per_ratio = frame["latency_ms_per_item_large_batch"] / frame["latency_ratio"]
        frame = frame.assign(latency_ci_low=per_ratio * frame["latency_ratio_ci_low"],
                             latency_ci_high=per_ratio * frame["latency_ratio_ci_high"])
    return frame


ENERGY_COLUMNS = ("energy_wh_per_1k", "energy_wh_per_1k_ci_low", "energy_wh_per_1k_ci_high")


SIZE_COLUMNS = ("storage_bytes", "size_bytes")


def _readable(value: float) -> float:
    """A plain float with meaningful digits: four significant digits from 10 up (99.44%), three below."""
    if pd.isna(value):
        return value
    return float(units.number(float(value), 4 if abs(value) >= 10 else 3).replace(",", ""))


def points_frame(records: Records) -> pd.DataFrame:
    """Measured records as a table people read: energy and accuracy first, energy in one unit for the whole
    table (µWh or mWh per 1,000 inferences, named in the header), sizes in kB, meaningful digits only."""
    frame, names = _readable_points(records)
    return frame[[c for c in TABLE_COLUMNS if c in frame.columns]].rename(columns=names)


def points_sections(records: Records) -> list[tuple[str, pd.DataFrame]]:
    """``points_frame`` in ``TABLE_SECTIONS``, each led by the setting: what a printed page can hold."""
    frame, names = _readable_points(records)
    if frame.empty:
        return []
    return [(title, frame[["label", *(c for c in keys if c in frame.columns)]].rename(columns=names))
            for title, keys in TABLE_SECTIONS.items()]


def _readable_points(records: Records) -> tuple[pd.DataFrame, dict[str, str]]:
    """The records with every table column scaled and rounded, and the column names with their units."""
    frame = records_frame(records)
    if frame.empty:
        return frame, dict(TABLE_COLUMNS)
    factor, unit = units.energy_view(frame["energy_wh_per_1k"]) if "energy_wh_per_1k" in frame else (1.0, "Wh")
    frame = frame.assign(accuracy_pct=frame["accuracy"] * 100.0)
    seconds, seconds_unit = units.si_view(frame.get("latency_ms_per_item_large_batch", pd.Series(dtype=float)) / 1e3, "s")
    grams, grams_unit = units.si_view(frame.get("emissions_g_per_1k", pd.Series(dtype=float)), "g")
    scales = {**dict.fromkeys(ENERGY_COLUMNS, factor), **dict.fromkeys(SIZE_COLUMNS, 1e-3),
              "latency_ms_per_item_large_batch": seconds / 1e3, "emissions_g_per_1k": grams}
    if "energy_difference_significant" in frame:  # the same answer as the cards' words and the recommendation
        frame["energy_difference_significant"] = [
            ("yes" if energy_change_shown(row) else "no") if readable(row) else NOT_ENOUGH
            for row in frame.to_dict("records")]
    for column in TABLE_COLUMNS:
        if column in frame and column not in ("label", "model", "runtime_format", "country", "series", "energy_method",
                                              "measured_at", "energy_difference_significant"):
            values = pd.to_numeric(frame[column], errors="coerce") * scales.get(column, 1.0)
            frame[column] = values.map(_readable)
    names = {**TABLE_COLUMNS, **{c: TABLE_COLUMNS[c].replace("Wh", unit) for c in ENERGY_COLUMNS},
             "latency_ms_per_item_large_batch": TABLE_COLUMNS["latency_ms_per_item_large_batch"].replace("(s ", f"({seconds_unit} "),
             "emissions_g_per_1k": TABLE_COLUMNS["emissions_g_per_1k"].replace("(g ", f"({grams_unit} ")}
    return frame, names


def layers_frame(view) -> pd.DataFrame:
    """The per-layer view (``service.layers.LayerView``) as a table people read, units in the headers."""
    modelled = sum(r.modelled_energy_pj["dense_cpu"] for r in view.rows) or 1.0
    return pd.DataFrame([{
        "layer": r.name,
        "type": r.op_type,
        "parameters": r.params,
        "MACs per inference": r.macs,
        "time share, measured (%)": round(r.time_share * 100, 1),
        "modelled energy share, dense CPU (%)": round(r.modelled_energy_pj["dense_cpu"] / modelled * 100, 1),
        f"change if only this layer is pruned to {view.sparsity:.0%} (points)": _points(r.sensitivity_points.get("prune")),
        f"change if only this layer is {view.bits}-bit (points)": _points(r.sensitivity_points.get("quantize")),
    } for r in view.rows])


def _points(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


def changes_frame(changes) -> pd.DataFrame:
    """Accuracy per class before and after (``measure.flips.PredictionChanges``) and the change in points,
    as a table people read."""
    return pd.DataFrame([{
        "class": c.label,
        "test examples": c.examples,
        "original accuracy (%)": round(c.baseline_accuracy * 100, 2),
        "compressed accuracy (%)": round(c.point_accuracy * 100, 2),
        "change (points)": round(c.change_points, 2),
    } for c in changes.per_class])


def neighbours_frame(changes, texts: list[str], limit: int | None = None) -> pd.DataFrame:
    """Held-out sentences whose nearest neighbour moved (``measure.flips.NeighbourChanges``): the sentence, its
    nearest neighbour by the original model, and by the compressed one."""
    return pd.DataFrame([{
        "sentence": texts[x.index],
        "nearest, original model": texts[x.baseline_neighbour],
        "nearest, this setting": texts[x.point_neighbour],
    } for x in changes.lost[:limit]], columns=["sentence", "nearest, original model", "nearest, this setting"])
