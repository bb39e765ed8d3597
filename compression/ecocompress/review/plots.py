"""Accuracy-versus-cost chart: a pure ``tradeoff_info`` (tested on data) and a thin plotly builder.

Colours are Okabe-Ito (colour-blind safe); every axis names its unit.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import pandas as pd
import plotly.graph_objects as go

from ecocompress.core import units
from ecocompress.core.objectives import OBJECTIVES, TEST_ACCURACY
from ecocompress.core.objectives import quality_title as quality_axis_title
from ecocompress.core.pareto import pareto_mask
from ecocompress.core.records import change_words, floor_words
from ecocompress.review.tables import Records, layers_frame, records_frame

OKABE_ITO = {
    "blue": "#0072B2",
    "orange": "#E69F00",
    "green": "#009E73",
    "vermillion": "#D55E00",
    "sky": "#56B4E9",
    "purple": "#CC79A7",
    "yellow": "#F0E442",
    "black": "#000000",
    "grey": "#999999",
}

X_AXES = {key: (o.column, o.axis_title) for key, o in OBJECTIVES.items()}
X_AXIS_NAMES = {key: o.name for key, o in OBJECTIVES.items()}
# Only for records that carry ``modelled_wh_per_1k`` (ecocompress.measure.energy_model.with_modelled); never mixed
# with measured energy on one axis.
MODELLED_AXIS = ("modelled_wh_per_1k", "Modelled energy per 1,000 inferences on {profile} (Wh), not measured")
# The 95% interval of each cost column that has one (energy and latency come from paired windows).
INTERVALS = {
    "energy_wh_per_1k": ("energy_wh_per_1k_ci_low", "energy_wh_per_1k_ci_high"),
    "latency_ms_per_item_large_batch": ("latency_ci_low", "latency_ci_high"),
}


@dataclass(frozen=True)
class TradeoffInfo:
    """Everything the chart shows, as plain data."""

    points: pd.DataFrame
    front: pd.DataFrame
    baseline: pd.DataFrame
    current: pd.DataFrame
    x_column: str
    x_title: str
    y_title: str
    x_interval: tuple[str, str] | None = None  # columns of the x value's 95% interval, when it has one


def tradeoff_info(
    records: Records, x_axis: str = "energy", current_label: str | None = None, *, profile: str | None = None
) -> TradeoffInfo:
    """Split measured records into all points, the Pareto front, the baseline and the current point.

    ``x_axis="modelled"`` plots modelled energy on hardware ``profile`` (records must carry it).
    """
    if x_axis == "modelled":
        x_column, x_title = MODELLED_AXIS[0], MODELLED_AXIS[1].format(profile=profile or "target hardware")
    elif x_axis in X_AXES:
        x_column, x_title = X_AXES[x_axis]
    else:
        raise ValueError(f"x_axis must be one of {sorted([*X_AXES, 'modelled'])}, got {x_axis!r}")
    frame = records_frame(records)
    if frame.empty:
        empty = pd.DataFrame(columns=["label", "accuracy", x_column])
        return TradeoffInfo(empty, empty, empty, empty, x_column, x_title, "Test accuracy (%)")
    if "series" in frame and frame["series"].nunique() > 1:
        raise ValueError(f"points of different measurement series cannot share a chart: {sorted(frame['series'].unique())}")
    frame = frame.assign(accuracy_pct=frame["accuracy"] * 100.0)
    interval = INTERVALS.get(x_column)
    if interval is not None and not set(interval) <= set(frame.columns):
        interval = None
    low, high = (frame[interval[0]], frame[interval[1]]) if interval else (None, None)
    front = frame[pareto_mask(frame["accuracy"], frame[x_column], low, high)].sort_values(x_column)
    baseline = frame[frame["label"] == "fp32 baseline"]
    current = frame[frame["label"] == current_label] if current_label else frame.iloc[0:0]
    return TradeoffInfo(frame, front, baseline, current, x_column, x_title, quality_title(frame), interval)


def quality_title(frame: pd.DataFrame) -> str:
    """'Test accuracy (%)', or the points' own quality measure (the text model: agreement with the original)."""
    metrics = set(frame["quality_metric"]) if "quality_metric" in frame else {TEST_ACCURACY}
    return quality_axis_title(metrics)


def energy_verdict(r: Any) -> str:
    """The point's energy against its baseline in words, with its interval ('no measurable ...' inside it)."""
    if r.label == "fp32 baseline":
        return "uncompressed baseline"
    return change_words(r)


def _hover(frame: pd.DataFrame, energy: tuple[float, str]) -> list[str]:
    """Hover text; energy in the chart's one unit (``energy``: factor from Wh, unit)."""
    factor, unit = energy
    return [
        f"<b>{r.label}</b><br>runs as {r.runtime_format}<br>"
        f"{'accuracy' if getattr(r, 'quality_metric', 'test accuracy') == 'test accuracy' else 'agreement'} {r.accuracy * 100:.2f}%"
        f"<br>energy {units.number(r.energy_wh_per_1k * factor)} {unit} / 1,000 inferences "
        f"(95%: {units.number(r.energy_wh_per_1k_ci_low * factor)}-{units.number(r.energy_wh_per_1k_ci_high * factor)})"
        f"<br>{energy_verdict(r)}<br>{floor_words(r)}"
        f"<br>latency {units.latency_ms(r.latency_ms_per_item_large_batch)} per inference (batch {r.large_batch_size})"
        f"<br>stored {units.size(r.storage_bytes)} ({r.storage_format.split(',')[0]})"
        + (f"<br>modelled {units.number(r.modelled_wh_per_1k * factor)} {unit} / 1,000 (not measured)"
           if hasattr(r, "modelled_wh_per_1k") else "")
        for r in frame.itertuples()
    ]


def _x_view(info: TradeoffInfo) -> tuple[float, str]:
    """The chart's x scale and title: energy axes in µWh or mWh chosen by the points' magnitude."""
    if "(Wh)" not in info.x_title or info.points.empty:
        return 1.0, info.x_title
    factor, unit = units.energy_view(info.points[info.x_column])
    return factor, info.x_title.replace("(Wh)", f"({unit})")


def _y_range(info: TradeoffInfo) -> list[float] | None:
    """At least 5 points of accuracy tall, so a 0.3-point difference does not look like a cliff."""
    if info.points.empty:
        return None
    low, high = float(info.points["accuracy_pct"].min()), float(info.points["accuracy_pct"].max())
    span = max(5.0, (high - low) * 1.15)
    top = min(100.0, high + max(0.5, (span - (high - low)) / 2))
    return [max(0.0, top - span - 0.5), top + 0.5]


def _error_bars(info: TradeoffInfo, frame: pd.DataFrame, factor: float = 1.0) -> dict[str, Any] | None:
    """Horizontal 95% error bars on the cost axis, when the cost has an interval (in the axis's unit)."""
    if info.x_interval is None or frame.empty:
        return None
    low, high = info.x_interval
    return {"type": "data", "symmetric": False, "array": ((frame[high] - frame[info.x_column]) * factor).tolist(),
            "arrayminus": ((frame[info.x_column] - frame[low]) * factor).tolist(), "color": OKABE_ITO["blue"],
            "thickness": 1}


def _accuracy_bars(frame: pd.DataFrame) -> dict[str, Any] | None:
    """Vertical 95% intervals of accuracy (Wilson, on the test set), when the records carry them."""
    if frame.empty or not {"accuracy_ci_low", "accuracy_ci_high"} <= set(frame.columns):
        return None
    return {"type": "data", "symmetric": False, "array": ((frame["accuracy_ci_high"] - frame["accuracy"]) * 100).tolist(),
            "arrayminus": ((frame["accuracy"] - frame["accuracy_ci_low"]) * 100).tolist(), "color": OKABE_ITO["grey"],
            "thickness": 1}


def log_ticks(values: Any) -> dict[str, Any]:
    """Ticks for a log cost axis at 1-2-5 steps, each written out in full ('20 50 100 200'), where plotly's own
    read '5 10 2 5 100 2 5' (the 2s and 5s standing for 20, 50, 200...)."""
    finite = [float(v) for v in values if v is not None and math.isfinite(float(v)) and float(v) > 0]
    if not finite:
        return {}
    low, high = min(finite), max(finite)
    ticks = [m * 10.0 ** e for e in range(math.floor(math.log10(low)) - 1, math.ceil(math.log10(high)) + 2)
             for m in (1, 2, 5)]
    shown = [t for t in ticks if low / 2 <= t <= high * 2] or ticks
    return {"tickvals": shown, "ticktext": [units.number(t) for t in shown]}


def _cost_axis(values: Any, log_x: bool) -> dict[str, Any]:
    """The cost axis: linear from zero, or log with readable ticks; never '150µ' or '1e-4' on a tick."""
    axis: dict[str, Any] = {"type": "log" if log_x else "linear", "rangemode": "normal" if log_x else "tozero",
                            "exponentformat": "none"}
    return {**axis, **log_ticks(values)} if log_x else axis


def tradeoff_figure(
    info: TradeoffInfo, *, log_x: bool = False, title: str = "", current_name: str = "current setting"
) -> go.Figure:
    """A plotly figure of ``info``: points with both intervals, Pareto line, labelled baseline and current markers."""
    fig = go.Figure()
    x, y = info.x_column, "accuracy_pct"
    factor, x_title = _x_view(info)
    energy = units.energy_view(info.points["energy_wh_per_1k"]) if "energy_wh_per_1k" in info.points else (1e3, "mWh")
    if not info.points.empty:
        fig.add_trace(
            go.Scatter(
                x=info.points[x] * factor, y=info.points[y], mode="markers", name="measured points (95% intervals)",
                marker={"color": OKABE_ITO["sky"], "size": 9, "line": {"width": 1, "color": OKABE_ITO["blue"]}},
                error_x=_error_bars(info, info.points, factor), error_y=_accuracy_bars(info.points),
                hovertext=_hover(info.points, energy), hoverinfo="text",
            )
        )
        fig.add_trace(
            go.Scatter(
                x=info.front[x] * factor, y=info.front[y], mode="lines", name="Pareto front (best trade-offs)",
                line={"color": OKABE_ITO["blue"], "width": 2, "shape": "hv"}, hoverinfo="skip",
            )
        )
    for frame, name, marker, position in (
        (info.baseline, "uncompressed baseline", {"color": OKABE_ITO["black"], "size": 13, "symbol": "diamond"}, "top left"),
        (info.current, current_name, {"color": OKABE_ITO["vermillion"], "size": 16, "symbol": "star",
                                       "line": {"width": 1, "color": "black"}}, "bottom right"),
    ):
        if frame.empty:
            continue
        text = ["uncompressed"] if frame is info.baseline else list(frame["label"])
        fig.add_trace(
            go.Scatter(
                x=frame[x] * factor, y=frame[y], mode="markers+text", name=name, marker=marker, text=text,
                textposition=position, textfont={"size": 12}, hovertext=_hover(frame, energy), hoverinfo="text",
            )
        )
    fig.update_layout(
        title=title or None,
        xaxis={"title": x_title, **_cost_axis(info.points[x] * factor if not info.points.empty else [], log_x)},
        yaxis_title=info.y_title,
        yaxis_exponentformat="none",
        yaxis_range=_y_range(info),
        legend={"orientation": "h", "yanchor": "bottom", "y": 1.02, "x": 0},
        margin={"l": 60, "r": 20, "t": 60, "b": 60},
        height=440,
        template="plotly_white",
    )
    return fig


GROUP_COLOURS = [OKABE_ITO[c] for c in ("blue", "vermillion", "green", "orange", "purple", "sky", "yellow", "black")]
GROUP_SYMBOLS = ["circle", "square", "diamond", "triangle-up", "x", "star", "cross", "pentagon"]


def compare_info(records: Records, x_axis: str, group: str = "model") -> dict[str, TradeoffInfo]:
    """One ``TradeoffInfo`` per group (model or runtime format), for the comparison chart."""
    frame = records_frame(records)
    if frame.empty:
        return {}
    if group != "model" and frame["model"].nunique() > 1:  # a front never mixes models (their test sets differ)
        frame = frame.assign(**{group: frame["model"] + ": " + frame[group].astype(str)})
    return {str(name): tradeoff_info(part.to_dict("records"), x_axis) for name, part in frame.groupby(group, sort=True)}


def compare_figure(records: Records, x_axis: str, *, group: str = "model", log_x: bool = False) -> go.Figure:
    """Pareto front of each group on one chart, each group's uncompressed baseline marked; colour and marker
    shape both tell groups apart; energy in one unit for the whole chart."""
    fig = go.Figure()
    infos = compare_info(records, x_axis, group)
    x_title = X_AXES[x_axis][1]
    frame = records_frame(records)
    energy = units.energy_view(frame["energy_wh_per_1k"]) if "energy_wh_per_1k" in frame else (1e3, "mWh")
    factor = energy[0] if "(Wh)" in x_title else 1.0
    x_title = x_title.replace("(Wh)", f"({energy[1]})")
    for i, (name, info) in enumerate(infos.items()):
        colour, symbol = GROUP_COLOURS[i % len(GROUP_COLOURS)], GROUP_SYMBOLS[i % len(GROUP_SYMBOLS)]
        fig.add_trace(go.Scatter(
            x=info.points[info.x_column] * factor, y=info.points["accuracy_pct"], mode="markers",
            name=f"{name}: all points", marker={"color": colour, "symbol": symbol, "size": 7, "opacity": 0.35},
            error_x=_error_bars(info, info.points, factor), error_y=_accuracy_bars(info.points),
            hovertext=_hover(info.points, energy), hoverinfo="text", legendgroup=name, showlegend=False,
        ))
        fig.add_trace(go.Scatter(
            x=info.front[info.x_column] * factor, y=info.front["accuracy_pct"], mode="lines+markers", name=f"{name}",
            line={"color": colour, "width": 2, "shape": "hv"}, marker={"color": colour, "symbol": symbol, "size": 10},
            hovertext=_hover(info.front, energy), hoverinfo="text", legendgroup=name,
        ))
        if not info.baseline.empty:
            fig.add_trace(go.Scatter(
                x=info.baseline[info.x_column] * factor, y=info.baseline["accuracy_pct"], mode="markers+text",
                name=f"{name}: uncompressed", text=["uncompressed"], textposition="top left",
                marker={"color": colour, "symbol": "diamond-open", "size": 14, "line": {"width": 2, "color": colour}},
                hovertext=_hover(info.baseline, energy), hoverinfo="text", legendgroup=name, showlegend=False,
            ))
    fig.update_layout(
        xaxis={"title": x_title, **_cost_axis(frame[X_AXES[x_axis][0]] * factor, log_x)},
        yaxis_title="Test accuracy (%)", yaxis_exponentformat="none",
        legend={"title": {"text": "Pareto front of (open diamond: uncompressed; bars: 95% intervals)"}, "orientation": "h",
                "yanchor": "bottom", "y": 1.02, "x": 0},
        margin={"l": 60, "r": 20, "t": 60, "b": 60}, height=480, template="plotly_white",
    )
    return fig


def region_figure(regions: list, label: str) -> go.Figure:
    """Annual CO2e of one point on several grids: horizontal bars, lowest first, intensity in the hover."""
    fig = go.Figure(
        go.Bar(
            x=[r.kg_co2e_per_year for r in regions],
            y=[f"{r.country_name} ({r.year})" for r in regions],
            orientation="h",
            marker_color=OKABE_ITO["green"],
            name=f"{label}: kg CO2e per year",
            text=[f"{r.carbon_intensity_g_per_kwh:.0f} gCO2e/kWh" for r in regions],
            textposition="auto",
            hovertemplate="%{y}: %{x:,.3r} kg CO2e per year<br>%{text}<extra></extra>",
        )
    )
    fig.update_layout(
        xaxis_title=f"kg CO2e per year ({label})", yaxis={"autorange": "reversed"}, showlegend=True,
        xaxis_exponentformat="none",
        legend={"orientation": "h", "yanchor": "bottom", "y": 1.02, "x": 0},
        margin={"l": 60, "r": 20, "t": 40, "b": 60}, height=80 + 36 * len(regions), template="plotly_white",
    )
    return fig


def layers_figure(view) -> go.Figure:
    """Cost share (measured time, modelled energy) beside sensitivity, one row per layer: the layers that cost a
    lot and lose little when squeezed stand out."""
    from plotly.subplots import make_subplots

    frame = layers_frame(view)
    names = list(frame["layer"])
    fig = make_subplots(rows=1, cols=2, shared_yaxes=True, horizontal_spacing=0.08,
                        subplot_titles=("What each layer costs (share of the model, %)",
                                        "Accuracy change if only this layer is squeezed (points)"))
    for column, colour, label in (
        ("time share, measured (%)", OKABE_ITO["blue"], "time in onnxruntime (measured)"),
        ("modelled energy share, dense CPU (%)", OKABE_ITO["orange"], "energy on a dense CPU (modelled)"),
    ):
        fig.add_trace(go.Bar(y=names, x=frame[column], orientation="h", name=label, marker_color=colour,
                             hovertemplate="%{y}: %{x:.1f}%<extra>" + label + "</extra>"), row=1, col=1)
    for column, colour, label in (
        (frame.columns[6], OKABE_ITO["vermillion"], f"pruned to {view.sparsity:.0%}"),
        (frame.columns[7], OKABE_ITO["purple"], f"{view.bits}-bit weights"),
    ):
        fig.add_trace(go.Bar(y=names, x=frame[column].fillna(0.0), orientation="h", name=label, marker_color=colour,
                             hovertemplate="%{y}: %{x:+.2f} points<extra>" + label + "</extra>"), row=1, col=2)
    fig.update_layout(barmode="group", height=140 + 60 * len(names), template="plotly_white",
                      legend={"orientation": "h", "yanchor": "bottom", "y": 1.08, "x": 0},
                      margin={"l": 100, "r": 20, "t": 90, "b": 50}, xaxis_exponentformat="none",
                      xaxis2_exponentformat="none")
    fig.update_yaxes(autorange="reversed")
    fig.update_xaxes(title_text="% of the whole model", row=1, col=1)
    fig.update_xaxes(title_text="points of accuracy (negative = lost)", row=1, col=2)
    return fig


