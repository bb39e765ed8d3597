"""One self-contained HTML report for a sustainability review, and a CSV of every point.

The report opens offline (images are embedded as PNG data, no scripts, no external files) and
prints cleanly. It holds the chart, the chosen point against the baseline, the projection to the
user's scale and regions, modelled energy on target hardware (labelled as such), every measured
point, the methods and caveats, and the environment the figures were measured in.
"""

from __future__ import annotations

import base64
import html
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable

from ecocompress.core.choice import DEFAULT_BUDGET_POINTS, recommend
from ecocompress.core.records import NOT_ENOUGH, MeasureSettings, energy_change_shown, floor_words, readable
from ecocompress.review.comparison import comparison
from ecocompress.core.settings import measure_defaults
from ecocompress.service.store import ResultsStore

from ecocompress.core import units
from ecocompress.measure.energy_model import PROFILES, SOURCE, EnergyTable, modelled_for_file
from ecocompress.measure.flips import NeighbourChanges, changes_from_dict
from ecocompress.review.footprint import FootprintInputs, footprint, notes, rows
from ecocompress.review.images import flipped_images, flips_png, regions_png, tradeoff_png
from ecocompress.models.registry import get_model
from ecocompress.review.tables import changes_frame, neighbours_frame, points_frame, points_sections
from ecocompress.core.points import STARTER_POINTS, CompressionPoint
from ecocompress.review.projection import (DEFAULT_REGIONS, EQUIVALENTS, Projection, Scale, payback, project,
                                           region_comparison)
from ecocompress.review.summary import changes_sentence, yearly_saving_text

Progress = Callable[[str, float], None]

METHODS = (
    ("accuracy", "top-1 on the model's test split, with a 95% Wilson interval"),
    ("size", "bytes of the runnable .onnx file on disk; stored size: k-bit codes, fp16 scales, a sparsity mask, LZMA"),
    ("latency", f"onnxruntime, 1 intra-op thread, median after warm-up, at batch 1 (per call) and at the batch its series names (per inference; {MeasureSettings.batch_words()}); "
                "per inference shown as the time ratio of the paired windows x the series' pooled baseline"),
    ("energy", "CodeCarbon OfflineEmissionsTracker (no network), process tracking, 0.5 s sampling, in pairs of 1.25 s "
               "windows alternating the point and its baseline, each pair in fresh onnxruntime sessions; ratio with a 95% t "
               "interval on the log ratios; absolute figure = ratio x the series' pooled baseline; the baseline against a "
               "copy of itself sets the measurement floor"),
    ("CO2e", "energy x the grid's carbon intensity from CodeCarbon's bundled data (country and year stated)"),
    ("projection", "Wh per 1,000 inferences / 1,000 x inferences per day x 365 x PUE = kWh per year; x grid intensity = "
                   "CO2e; x price = cost"),
    ("modelled energy", f"operation counts of the ONNX file x energy per operation and per bit moved ({SOURCE}); a model "
                        "of other hardware, never a measurement"),
)

CAVEATS = (
    "Without hardware energy counters (RAPL), CodeCarbon estimates CPU power from CPU load x TDP and adds a fixed RAM "
    "power: then the energy ratio of two variants follows the ratio of the CPU time they use.",
    "Process-level tracking counts the CPU time and memory of the measuring process and its children only: other "
    "programs on the machine are left out, and so is the machine's idle power. Its memory is counted while the "
    "model runs on a CPU, not while other programs have the cores.",
    "Energy is for inference only at the batch its series names, on this CPU; other hardware, batch sizes and thread counts give other figures.",
    "Small test sets give wide accuracy intervals (one digits test image is 0.28 points): read the interval, not only the value.",
    "Modelled energy assumes weights are read once per inference from DRAM and activations pass through SRAM; it shows "
    "what dedicated hardware could gain, not what this CPU does.",
)


@dataclass
class ReportData:
    """Everything the report shows, gathered once (and testable without HTML)."""

    model: str
    chosen: dict
    baseline: dict
    records: list[dict]
    scale: Scale
    regions: tuple[str, ...] = DEFAULT_REGIONS
    table: EnergyTable = field(default_factory=EnergyTable)
    provenance: dict[str, Any] = field(default_factory=dict)
    created_at: str = field(default_factory=lambda: datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"))
    recommendation: str = ""  # the one rule's answer for ``budget_points``, in one sentence
    budget_points: float | None = None
    footprint: FootprintInputs = field(default_factory=FootprintInputs)  # the review's declarations (R, factors)

    @property
    def projection(self) -> Projection:
        """Annual figures from the chosen point and the baseline measured in the same paired run."""
        return project(self.chosen["baseline_energy_wh_per_1k"], self.chosen["energy_wh_per_1k"], self.scale)


def _e(value: Any) -> str:
    return html.escape(str(value))


def _img(png: bytes, alt: str) -> str:
    return f'<img alt="{_e(alt)}" src="data:image/png;base64,{base64.b64encode(png).decode()}">'


def _table(rows: list[tuple], header: tuple) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{_e(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _changes_section(data: ReportData) -> str:
    """The answers that flipped between the baseline and the chosen point: counts, accuracy per class, a few examples."""
    raw = data.chosen.get("prediction_changes")
    if not raw or CompressionPoint.from_dict(data.chosen).is_baseline:
        return ""
    changes = changes_from_dict(raw)
    if isinstance(changes, NeighbourChanges):
        frame = neighbours_frame(changes, get_model(data.model).example_texts(), limit=8)
        return ("<h2>What changed: nearest neighbours</h2>"
                f"<p>{_e(changes_sentence(changes))}</p>"
                + _table([tuple(row) for row in frame.itertuples(index=False)], tuple(frame.columns)))
    frame = changes_frame(changes)
    images = flipped_images(get_model(data.model).dataset().x_test, changes, limit=8)
    return (
        "<h2>What changed: answers that flipped</h2>"
        f"<p>{_e(changes_sentence(changes))}</p>"
        + _table([tuple(row) for row in frame.itertuples(index=False)], tuple(frame.columns))
        + (_img(flips_png(images), "flipped test examples: true class, the original's answer, the chosen point's")
           if images else "")
    )


def _footprint_section(data: ReportData) -> str:
    """SCI, Scope 2 both ways, embodied, water and the rating: the rows the Review page and the CLI show."""
    f = footprint(data.chosen, data.baseline, data.scale, data.footprint)
    return ("<h2>For a sustainability review: SCI, Scope 2, embodied carbon, water, rating</h2>"
            "<p>SCI per the functional unit (ISO/IEC 21031:2024: (E x I + M) / R); Scope 2 location-based and "
            "market-based side by side (GHG Protocol), never mixed; 95% intervals from the measured energy.</p>"
            + _table(rows(f), ("", "uncompressed baseline", f"chosen: {data.chosen['label']}"))
            + f"<p class='note'>{_e(notes(f))}</p>")


def _projection_section(data: ReportData) -> str:
    p, s = data.projection, data.scale
    grid = s.grid
    shown = energy_change_shown(data.chosen)  # a saving is a figure only where the cards' words say so
    unclaimed = ("none (the baseline itself)" if CompressionPoint.from_dict(data.chosen).is_baseline
                 else "no saving claimed" if readable(data.chosen) else NOT_ENOUGH)
    rows = [
        ("energy per year", units.energy_kwh(p.baseline.kwh), units.energy_kwh(p.point.kwh),
         f"{units.energy_kwh(p.saved.kwh)} ({p.saved_fraction:.0%})" if shown else unclaimed),
        ("CO2e per year", units.co2e_kg(p.baseline.kg_co2e), units.co2e_kg(p.point.kg_co2e),
         units.co2e_kg(p.saved.kg_co2e) if shown else unclaimed),
        ("electricity cost per year", units.money(p.baseline.cost, s.currency), units.money(p.point.cost, s.currency),
         units.money(p.saved.cost, s.currency) if shown else unclaimed),
    ]
    equivalents = "" if not shown else "".join(
        f"<li>{units.number(eq.of(p.saved))} {eq.unit} of {_e(eq.name)} (factor {units.number(eq.factor, 4)} {eq.per.replace('_', ' ')} per "
        f"{eq.unit.rstrip('s')}; source: {_e(eq.source)})</li>"
        for eq in EQUIVALENTS
    )
    regions = region_comparison(data.chosen["energy_wh_per_1k"], s, data.regions)
    return (
        "<h2>Projection to your scale</h2>"
        f"<p>{s.inferences_per_day:,.0f} inferences per day, grid {_e(grid['country_name'])} ({_e(grid['iso_code'])}): "
        f"{grid['carbon_intensity_g_per_kwh']:.0f} gCO2e/kWh ({_e(grid['year'])}, {_e(grid['source'])}), electricity "
        f"{s.price_per_kwh:g} {_e(s.currency)}/kWh, PUE {s.pue:g}. Based on the energy measured on this machine "
        f"({_e(data.chosen['energy_method'])}).</p>"
        + _table(rows, ("", "uncompressed baseline", f"chosen: {data.chosen['label']}", "saved per year"))
        + (f"<p>The yearly saving is about the same as:</p><ul>{equivalents}</ul>" if equivalents else "")
        + "<h3>The same point on other grids</h3>"
        "<p>Where a model runs can matter as much as how it is compressed: the chosen point's energy per year on "
        "each grid (CodeCarbon's carbon intensity per country, year in brackets).</p>"
        + _img(regions_png(regions, data.chosen["label"]), "annual CO2e of the chosen point by region")
    )


def _modelled_section(data: ReportData) -> str:
    rows, details = [], []
    for key, profile in PROFILES.items():
        base = modelled_for_file(data.baseline["onnx_path"], data.baseline["bits"], key, data.table)
        chosen = modelled_for_file(data.chosen["onnx_path"], data.chosen["bits"], key, data.table)
        rows.append((profile.name, units.energy_wh(base.wh_per_1k), units.energy_wh(chosen.wh_per_1k),
                     units.ratio(chosen.total_pj / base.total_pj)))
        details.append(f"<details><summary>{_e(profile.name)}: the arithmetic for the chosen point</summary><pre>"
                       + _e("\n".join(chosen.lines)) + "</pre></details>")
    return (
        "<h2>Modelled energy on target hardware (not measured)</h2>"
        "<p>A dense CPU kernel multiplies every weight, zeros included, and cannot use 3- or 4-bit arithmetic, so the "
        "measured energy above cannot show what hardware built for sparsity and low bit-widths would gain; these "
        f"figures estimate it from the ONNX file's operation counts ({_e(SOURCE)}).</p>"
        + _table(rows, ("hardware profile", "baseline, Wh per 1,000 (modelled)", "chosen, Wh per 1,000 (modelled)",
                        "chosen vs baseline"))
        + "".join(details)
    )


def _environment_section(data: ReportData) -> str:
    env = data.provenance or {}
    c = data.chosen
    skip = {"energy_windows", "point", "settings", "energy_method", "measured_at", "code_version"}
    rows = [(k, v) for k, v in env.items() if k not in skip]
    rows += [
        ("onnxruntime threads", c["ort_threads"]),
        ("CodeCarbon mode", f"{c['energy_cpu_mode']}; CPU {c['cpu_power_w']:.1f} W, RAM {c['ram_power_w']:.1f} W"),
        ("energy method", c["energy_method"]),
        ("grid factor used for CO2e per 1,000", f"{c['country']}: {c['carbon_intensity_g_per_kwh']:.0f} gCO2e/kWh"),
        ("measured at", f"{c['measured_at']} UTC"),
        ("code version", c["code_version"]),
    ]
    return "<h2>Environment</h2>" + _table(rows, ("", ""))


STYLE = """
.recommendation { border: 2px solid #009E73; padding: 0 1em; margin: 1em 0; }
body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;max-width:960px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:0.6em 0;font-size:0.9em}td,th{border:1px solid #ccc;padding:0.3em 0.6em;text-align:left}
th{background:#f3f3f3}img{max-width:100%}pre{white-space:pre-wrap;background:#f7f7f7;padding:0.6em;font-size:0.85em}
.note{background:#fff4e0;border-left:4px solid #E69F00;padding:0.4em 0.8em}h1{margin-bottom:0.2em}
@media print{details{display:block}details>summary{display:none}h2,h3{break-after:avoid}table,img{break-inside:avoid}}
@page{size:A4;margin:14mm}
@media print{body{max-width:none;margin:0;font-size:10pt}table{width:100%;table-layout:fixed;font-size:8pt}
td,th{overflow-wrap:anywhere;word-break:break-word;padding:0.2em 0.3em}}
"""


def _recommendation_box(data: ReportData) -> str:
    """The answer first: the recommended point, the budget it was chosen under, why, and what it saves per year."""
    if not data.recommendation:
        return ""
    c = data.chosen
    return (
        "<div class='recommendation'><h2>Recommendation</h2>"
        f"<p><b>{_e(c['label'])}</b> within an accuracy budget of {data.budget_points:g} points: {_e(data.recommendation)}.</p>"
        f"<p><b>Per year at your volume.</b> {_e(yearly_saving_text(c, data.scale))}</p>"
        + ("" if CompressionPoint.from_dict(c).is_baseline else
           f"<p><b>What compressing cost.</b> {_e(payback(c, data.scale).words)}</p>")
        + f"<p>Measured in the series <i>{_e(c.get('series', ''))}</i>: energy and latency alternate with the baseline in "
        "one run, ratios with 95% intervals; a difference whose interval contains the baseline, or that lies within the "
        f"{_e(floor_words(c))}, is never called a saving.</p></div>"
    )


def render_html(data: ReportData) -> str:
    """The report as one HTML document (images inline, no scripts)."""
    spec = get_model(data.model)
    c = data.chosen
    chart = tradeoff_png(data.records, "energy",
                         f"Energy per 1,000 inferences ({{prefix}}Wh, {units.energy_basis(c['energy_estimated'])})", c["label"])
    table = "".join(f"<h3>{_e(title)}</h3>" + frame.to_html(index=False, float_format=units.number, border=0)
                    for title, frame in points_sections(data.records))
    estimated = units.energy_basis(c["energy_estimated"])
    parts = [
        f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>ecocompress report: {_e(data.model)}</title>"
        f"<style>{STYLE}</style></head><body>",
        f"<h1>ecocompress report: {_e(spec.title)}</h1>",
        _recommendation_box(data),
        f"<p>Model <code>{_e(data.model)}</code> ({_e(spec.task)}); chosen operating point <b>{_e(c['label'])}</b>. "
        f"Report created {_e(data.created_at)}.</p>",
        f"<p class='note'>Energy figures are <b>{estimated}</b>: {_e(c['energy_method'])}.</p>",
        "<h2>Chosen point against the uncompressed baseline</h2>",
        _table([(r.figure, r.value_with_interval, r.baseline, r.change, r.note) for r in comparison(c)],
               ("", f"chosen: {c['label']}", "baseline", "change", "how it was measured")),
        f"<p>What was done: {_e(c['technique_notes'] or 'nothing (the original model)')}. Runtime: {_e(c['runtime_reason'])}.</p>",
        _changes_section(data),
        "<h2>Accuracy versus energy, every measured point</h2>",
        _img(chart, "accuracy versus energy per 1,000 inferences, with the Pareto front"),
        _projection_section(data),
        _footprint_section(data),
        _modelled_section(data),
        "<h2>Every measured point</h2>",
        table,
        "<h2>How each figure was obtained</h2>",
        _table(list(METHODS), ("figure", "method")),
        "<h3>Caveats</h3><ul>" + "".join(f"<li>{_e(text)}</li>" for text in CAVEATS) + "</ul>",
        _environment_section(data),
        "<p>Made by ecocompress. Per-operation energies: M. Horowitz, ISSCC 2014. Grid data: CodeCarbon.</p>",
        "</body></html>",
    ]
    return "\n".join(parts)


def report_data(
    model: str,
    point: CompressionPoint | None = None,
    *,
    scale: Scale | None = None,
    settings: MeasureSettings | None = None,
    max_drop_points: float = DEFAULT_BUDGET_POINTS,
    regions: tuple[str, ...] = DEFAULT_REGIONS,
    table: EnergyTable | None = None,
    store: ResultsStore | None = None,
    progress: Progress | None = None,
    footprint: FootprintInputs | None = None,
) -> ReportData:
    """Gather a report for ``point`` on ``model`` (measured if needed).

    Without a point, the recommended one is chosen: the lowest measured energy within
    ``max_drop_points`` of the baseline's accuracy; when only the baseline has been measured,
    a couple of starter points are measured first so the chart has something to compare.
    """
    from ecocompress.service import api

    store = store or ResultsStore()
    settings = settings or measure_defaults()
    notify = progress or (lambda step, fraction: None)
    baseline = api.measure_point(model, CompressionPoint(), settings, store=store, progress=notify).to_dict()
    if point is not None:
        chosen = api.measure_point(model, point, settings, store=store, progress=notify).to_dict()
    elif len(api.measured_points(model, settings, store=store)) < 2:
        for starter in STARTER_POINTS[1:]:
            api.measure_point(model, starter, settings, store=store, progress=notify)
    records = api.measured_points(model, settings, store=store)
    best = recommend(records, max_drop_points)
    if point is not None:
        why = (best.reason if best and best.record.label == chosen["label"] else
               f"chosen by you; the rule would recommend {best.record.label if best else 'nothing yet'}"
               + (f" ({best.reason})" if best else ""))
    else:
        chosen = best.record.to_dict() if best and best.within_budget else baseline
        why = best.reason if best else "only the baseline is measured"
    spec = get_model(model)
    key = CompressionPoint.from_dict(chosen).key()
    return ReportData(
        model=model,
        chosen=chosen,
        baseline=baseline,
        records=[m.to_dict() for m in records],
        scale=scale or Scale(country=settings.country),
        regions=regions,
        table=table or EnergyTable(),
        provenance=store.latest_provenance(spec.content_hash, key, chosen["code_version"]) or {},
        recommendation=why,
        budget_points=max_drop_points,
        footprint=footprint or FootprintInputs(),
    )


def points_csv(records: list[dict]) -> str:
    """Every measured point with units in the column names."""
    return points_frame(records).to_csv(index=False)
