"""Review: project a chosen point's savings to your scale, compare regions, model target hardware, export."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pandas as pd
import streamlit as st

from ecocompress.service import api

from ecocompress.review import plots, summary

from ecocompress.core import units
from ecocompress.review.artifacts import card_markdown, model_card
from ecocompress.core.grid import country_choices
from ecocompress.core.errors import EcoCompressError
from ecocompress.measure.energy_model import PROFILES, SOURCE, EnergyTable, modelled_for_file, with_modelled
from ecocompress.models.registry import get_model
from ecocompress.core.choice import recommend
from ecocompress.core.points import STARTER_POINTS, CompressionPoint
from ecocompress.core.records import NOT_ENOUGH, Measurement, energy_change_shown, floor_words, readable
from ecocompress.review.footprint import FootprintInputs
from ecocompress.review.projection import EQUIVALENTS, payback, project, region_comparison
from ecocompress.review.report import ReportData, points_csv, render_html
from pages.ui import footprint_view, state, widgets

state.init()
widgets.measurement_sidebar()

st.title("Review: savings at your scale, and a report to take away")
st.write(
    "Pick the operating point, say how much and where the model runs, and see what choosing it saves per year in "
    "energy, CO2e and money. Then download the report, the points, and the compressed model itself."
)

names = state.model_titles()
st.selectbox("Model", list(names), key=state.MODEL, format_func=lambda n: f"{names[n]} ({n})")
model = st.session_state[state.MODEL]


def _label_of(record: Measurement) -> str:
    return f"{record.label}  ({units.percent(record.accuracy)}, {units.energy_wh(record.energy_wh_per_1k)} / 1,000)"


records: list[Measurement] = []
with widgets.plain_errors():
    records = api.measured_points(model, state.settings())
baseline = next((r for r in records if r.label == "fp32 baseline"), None)
if baseline is None or len(records) < 2:
    st.info(
        "This page reviews points already measured. Measure the uncompressed model and at least one compressed "
        "setting on **Explore** or **Sweep** first (or run `ecocompress report --model "
        f"{model} --out report.html`, which measures two starter points)."
    )
    st.page_link("pages/views/explore.py", label="Go to Explore", icon=":material/tune:")
    if st.button("Measure the baseline and two starter points now", key="measure_starters"):
        with widgets.plain_errors(), st.status("Measuring the starter points...", expanded=True) as status:
            bar = st.progress(0.0, text="starting")
            for point in STARTER_POINTS:
                api.measure_point(model, point, state.settings(), session=state.session_id(),
                                  progress=lambda step, f, p=point: bar.progress(min(1.0, f), text=f"{p.label()}: {step}"))
            status.update(label="Measured; the review is below.", state="complete", expanded=False)
        st.rerun()
    st.stop()

# ---- the operating point ---------------------------------------------------------------------------------------
st.subheader("1. The operating point")
c1, c2 = st.columns([1, 2])
c1.number_input(
    "Accuracy budget (points of accuracy you accept to lose)", min_value=0.0, max_value=20.0, step=0.5,
    key=state.REVIEW_BUDGET, help="The recommended point is the lowest energy among points whose saving lies beyond "
    "its 95% interval and whose accuracy is within this budget.",
)
rec = recommend(records, float(st.session_state[state.REVIEW_BUDGET]))
recommended = rec.record if rec is not None and rec.within_budget else baseline
by_label = {r.label: r for r in records}
if st.session_state.get(state.REVIEW_POINT) not in by_label:
    st.session_state[state.REVIEW_POINT] = recommended.label
c2.selectbox(
    "Chosen point", list(by_label), key=state.REVIEW_POINT, format_func=lambda label: _label_of(by_label[label]),
    help="Every point measured for this model; the recommended one is preselected.",
)
c2.caption(summary.recommendation_text(rec))
chosen = by_label[st.session_state[state.REVIEW_POINT]]

# ---- target-hardware power: re-measure with CodeCarbon's overrides -------------------------------------------------
with st.expander("Target hardware power (optional): re-measure with your CPU's and RAM's wattage"):
    st.write(
        "On this machine CodeCarbon estimates power from CPU load x TDP. If you know the power of the CPU and RAM "
        "you will deploy on, enter it: the baseline and the chosen point are re-measured with CodeCarbon's "
        "`force_cpu_power` / `force_ram_power`, and the projection uses those figures. 0 = not set."
    )
    p1, p2 = st.columns(2)
    p1.number_input("CPU power (W)", min_value=0.0, max_value=2000.0, step=5.0, key=state.CPU_POWER)
    p2.number_input("RAM power (W)", min_value=0.0, max_value=2000.0, step=1.0, key=state.RAM_POWER)
    with widgets.plain_errors():
        powered = state.settings(with_power=True)
        if powered.force_cpu_power_w or powered.force_ram_power_w:
            point = chosen.point
            found = [api.lookup(model, p, powered) for p in (CompressionPoint(), point)]
            if all(found):
                baseline, chosen = found[0], found[1]
                st.success(f"Using figures measured with CPU {chosen.cpu_power_w:.0f} W, RAM {chosen.ram_power_w:.0f} W.")
            elif st.button("Re-measure the baseline and the chosen point with these powers", key="remeasure"):
                with st.status("Re-measuring with CodeCarbon's power overrides...", expanded=True) as status:
                    bar = st.progress(0.0, text="starting")
                    result = api.measure_point(
                        model, point, powered, progress=lambda step, f: bar.progress(min(1.0, f), text=step)
                    )
                    status.update(label="Re-measured", state="complete", expanded=False)
                baseline, chosen = api.lookup(model, CompressionPoint(), powered), result
            else:
                st.caption("Not measured with these powers yet; the projection below uses the measured figures.")

# ---- projection ------------------------------------------------------------------------------------------------
st.subheader("2. Your scale")
codes = [code for code, _ in country_choices()]
country_names = dict(country_choices())
s1, s2, s3, s4, s5 = st.columns([2, 2, 1, 1, 1])
s1.number_input("Inferences per day", min_value=0, max_value=10**15, step=1_000_000, key=state.PER_DAY,
                help="Enter your real volume: the default, 10 million a day, is a mid-size web service; every "
                     "figure below scales with it.")
s2.selectbox("Deployment region", codes, key=state.DEPLOY_COUNTRY, format_func=lambda c: f"{country_names[c]} ({c})")
s3.number_input("Price per kWh", min_value=0.0, max_value=100.0, step=0.01, key=state.PRICE, format="%.3f")
s4.text_input("Currency", key=state.CURRENCY, max_chars=8)
s5.number_input("PUE", min_value=1.0, max_value=5.0, step=0.05, key=state.PUE,
                help="Power usage effectiveness of the data centre: 1.0 = no cooling or facility overhead; "
                     "large data centres report about 1.1-1.6.")

try:
    scale = state.scale()
except EcoCompressError as exc:  # e.g. an empty currency label: say so, keep everything else as it was
    st.error(widgets.literal(exc))
    st.stop()
with widgets.plain_errors():
    st.info(f"**{chosen.label}**, per year at your volume: {summary.yearly_saving_text(chosen.to_dict(), scale)}",
            icon=":material/savings:")
    grid = scale.grid
    st.caption(
        f"Grid: {grid['carbon_intensity_g_per_kwh']:.0f} gCO2e/kWh in {grid['country_name']} ({grid['year']}; "
        f"{grid['source']}). Energy basis: {chosen.energy_method}."
    )
    projection = project(chosen.baseline_energy_wh_per_1k, chosen.energy_wh_per_1k, scale)  # same paired run
    cols = st.columns(3)
    for col, title, key, fmt in (
        (cols[0], "Energy per year", "kwh", units.energy_kwh),
        (cols[1], "CO2e per year", "kg_co2e", units.co2e_kg),
        (cols[2], "Electricity cost per year", "cost", lambda v: units.money(v, scale.currency)),
    ):
        saved = getattr(projection.saved, key)
        measurable = chosen.is_baseline or energy_change_shown(chosen)  # the one rule every surface reads
        col.metric(
            title, fmt(getattr(projection.point, key)),
            (f"{'saves' if saved >= 0 else 'costs'} {fmt(abs(saved))} vs baseline" if measurable
             else "no measurable difference vs baseline" if readable(chosen) else NOT_ENOUGH),
            delta_color=("normal" if saved >= 0 else "inverse") if measurable else "off",
            help=f"Baseline: {fmt(getattr(projection.baseline, key))} per year. A change is shown only when the 95% "
                 f"interval of the energy ratio excludes no change and the change exceeds the {floor_words(chosen)}.",
            border=True,
        )
        col.caption(f"baseline {fmt(getattr(projection.baseline, key))}; "
                    + ("estimated" if chosen.energy_estimated else "measured") + " energy")
    if not chosen.is_baseline:
        per_million = chosen.baseline_energy_wh_per_1k * 1000  # Wh per million requests, uncompressed
        low, high = (1 - chosen.energy_ratio_ci_high) * per_million, (1 - chosen.energy_ratio_ci_low) * per_million
        st.markdown(
            f"**Per million requests** {chosen.label} uses {units.energy_wh(chosen.energy_wh_per_1k * 1000)} instead "
            f"of {units.energy_wh(per_million)}: "
            + (f"{units.energy_wh((1 - chosen.energy_ratio) * per_million)} saved (95%: {units.energy_wh(low)} to "
               f"{units.energy_wh(high)})." if chosen.saves_energy else f"no measurable saving ({chosen.change()}).")
        )
        st.markdown(f"**What compressing cost.** {payback(chosen.to_dict(), scale).words}")
    if not chosen.is_baseline and energy_change_shown(chosen):  # equivalents of a saving that is a figure only
        st.markdown(
            "The yearly saving is about the same as: "
            + "; ".join(f"**{units.number(eq.of(projection.saved))} {eq.unit}** of {eq.name}" for eq in EQUIVALENTS) + "."
        )
        st.caption("Sources: " + " | ".join(eq.source for eq in EQUIVALENTS))

    st.subheader("3. The same point on other grids")
    st.multiselect("Regions", codes, key=state.REGIONS, format_func=lambda c: f"{country_names[c]} ({c})")
    regions = region_comparison(chosen.energy_wh_per_1k, scale, st.session_state[state.REGIONS])
    if regions:
        st.plotly_chart(plots.region_figure(regions, chosen.label), width="stretch", key="region_chart")
        st.caption("Same energy per year on every grid; CO2e differs only by the grid's carbon intensity (CodeCarbon data).")

# ---- the review's shapes: SCI, Scope 2, embodied, water, rating ----------------------------------------------------
st.subheader("4. For a sustainability review: SCI, Scope 2, embodied carbon, water, rating")
declared = footprint_view.footprint_section(chosen, baseline, scale)

# ---- modelled energy -------------------------------------------------------------------------------------------
st.subheader("5. Measured here, or modelled on target hardware")
st.write(
    "A dense CPU kernel multiplies every weight, zeros included, and has no 3- or 4-bit arithmetic, so measured "
    "energy cannot show what sparsity and low bit-widths would buy on hardware built for them; the modelled view "
    f"estimates that from the ONNX file's operation counts ({SOURCE})."
)
m1, m2 = st.columns([1, 2])
m1.radio("Energy axis", ["measured", "modelled"], key=state.ENERGY_BASIS,
         format_func=lambda b: {"measured": f"{units.energy_basis(chosen.energy_estimated)} on this machine (CodeCarbon)",
                                "modelled": "modelled (not measured)"}[b])
m2.selectbox("Hardware profile (modelled)", list(PROFILES), key=state.PROFILE, format_func=lambda k: PROFILES[k].name,
             help="; ".join(f"{p.name}: {p.description}" for p in PROFILES.values()))
with st.expander("Energy per operation (pJ), editable: Horowitz, ISSCC 2014, 45 nm"):
    defaults = dataclasses.asdict(EnergyTable())
    edited = st.data_editor(
        pd.DataFrame({"parameter": list(defaults), "value": [float(v) for v in defaults.values()]}),
        hide_index=True, disabled=["parameter"], key="energy_table", width="stretch",
    )
table = EnergyTable()
with widgets.plain_errors():
    values = dict(zip(edited["parameter"], edited["value"]))
    values["sparse_index_bits"] = int(values["sparse_index_bits"])
    table = EnergyTable(**values)
with widgets.plain_errors():
    profile = PROFILES[st.session_state[state.PROFILE]]
    if st.session_state[state.ENERGY_BASIS] == "modelled":
        shown = with_modelled([r.to_dict() for r in records], profile.key, table)
        info = plots.tradeoff_info(shown, "modelled", current_label=chosen.label, profile=profile.name)
    else:
        info = plots.tradeoff_info(records, "energy", current_label=chosen.label)
    st.plotly_chart(plots.tradeoff_figure(info), width="stretch", key="review_chart")
    m_base = modelled_for_file(baseline.onnx_path, baseline.bits, profile.key, table)
    m_point = modelled_for_file(chosen.onnx_path, chosen.bits, profile.key, table)
    st.caption(
        f"Modelled on {profile.name}: baseline {units.energy_wh(m_base.wh_per_1k)}, chosen "
        f"{units.energy_wh(m_point.wh_per_1k)} per 1,000 inferences ({units.ratio(m_point.total_pj / m_base.total_pj)}); "
        f"{units.energy_basis(chosen.energy_estimated)} here: {units.energy_wh(baseline.energy_wh_per_1k)} and {units.energy_wh(chosen.energy_wh_per_1k)} "
        f"({units.ratio(chosen.energy_wh_per_1k / baseline.energy_wh_per_1k)})."
    )
    with st.expander("The modelled arithmetic for the chosen point"):
        st.code("\n".join(m_point.lines), language=None)

# ---- take-aways --------------------------------------------------------------------------------------------------
st.subheader("6. Take it away")
with widgets.plain_errors():
    data = ReportData(model=model, chosen=chosen.to_dict(), baseline=baseline.to_dict(), records=[r.to_dict() for r in records], scale=scale,
                      recommendation=rec.reason if rec else "", budget_points=float(st.session_state[state.REVIEW_BUDGET]),
                      regions=tuple(st.session_state[state.REGIONS]) or ("USA",), table=table,
                      footprint=declared or FootprintInputs())
    d1, d2, d3 = st.columns(3)
    if d1.button("Build the report (PDF and HTML)", key="build_report", type="primary"):
        from ecocompress.review.pdf import PdfUnavailable, html_to_pdf

        with st.spinner("Drawing the charts and printing the report..."):
            html = render_html(data)
            st.session_state[state.REPORT_HTML] = (chosen.label, html)
            try:
                st.session_state[state.REPORT_PDF] = (chosen.label, html_to_pdf(html))
            except PdfUnavailable as exc:  # no Chromium here: the HTML still comes, with what to do
                st.session_state[state.REPORT_PDF] = None
                d1.info(widgets.literal(exc))
    built = st.session_state.get(state.REPORT_HTML)
    if built and built[0] == chosen.label:
        d1.download_button("Download the report", built[1].encode(), file_name=f"ecocompress-{model}-report.html",
                           mime="text/html", key="download_report")
        d1.caption("One file, opens offline in any browser.")
        pdf = st.session_state.get(state.REPORT_PDF)
        if pdf and pdf[0] == chosen.label:
            d1.download_button("Download the report (PDF)", pdf[1], file_name=f"ecocompress-{model}-report.pdf",
                               mime="application/pdf", key="download_pdf")
    d2.download_button("All points (CSV)", points_csv(records).encode(), file_name=f"ecocompress-{model}-points.csv",
                       mime="text/csv", key="download_points")
    card = model_card(chosen.to_dict())
    d2.download_button("Model card (Markdown)", card_markdown(card).encode(), file_name=f"{card['files']['runnable'][:-5]}.card.md",
                       mime="text/markdown", key="download_card_md")
    d2.download_button("Model card (JSON)", json.dumps(card, indent=2).encode(), file_name=f"{card['files']['runnable'][:-5]}.card.json",
                       mime="application/json", key="download_card_json")
    d3.download_button(f"Compressed model (ONNX, {units.size(chosen.size_bytes)})", Path(chosen.onnx_path).read_bytes(),
                       file_name=card["files"]["runnable"], mime="application/octet-stream", key="download_onnx")
    d3.caption(f"Runs in plain onnxruntime as {chosen.runtime_format}.")
    if chosen.storage_path and Path(chosen.storage_path).is_file():
        d3.download_button(f"Compressed storage file ({units.size(chosen.storage_bytes)})",
                           Path(chosen.storage_path).read_bytes(), file_name=card["files"]["storage"],
                           mime="application/octet-stream", key="download_storage")
        d3.caption(f"{chosen.storage_format}; the model card explains how to turn it back into a runnable model.")
st.caption(f"Base model: {widgets.literal(get_model(model).title)}.")
