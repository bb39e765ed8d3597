"""Landing page: what the tool does, three steps, and a live answer for the default model without a click.

On a store where the default model has not been explored, its starter points (baseline, 8-bit, 90%
sparse at 4 bits) are measured in the background (``service.jobs.ensure_starters``, once per server);
the chart and the recommendation fill in as they arrive.
"""

from __future__ import annotations

import streamlit as st

from ecocompress.core import units
from ecocompress.core.choice import DEFAULT_BUDGET_POINTS, recommend
from ecocompress.core.records import floor_words
from ecocompress.core.settings import settings as server_settings
from ecocompress.models.registry import DEFAULT_MODEL, get_model
from ecocompress.review import glossary, plots, summary
from ecocompress.service import api, jobs
from pages.ui import state, widgets

state.init()

st.title("ecocompress")
st.write(
    "ecocompress shrinks neural networks (pruning, quantization, distillation, low-rank factorization) and measures, "
    "on the compressed model running in onnxruntime, what that buys in energy, CO2e, size and speed, and what it "
    "costs in accuracy, so you can pick the setting that fits your budget."
)
steps = st.columns(3)
for column, (number, text, page, icon) in zip(steps, [
    (1, "Choose a model: a built-in sample or your own ONNX file.", "pages/views/explore.py", ":material/tune:"),
    (2, "Move the knobs: sparsity, bit-width, student size. Each setting is measured for real.",
     "pages/views/explore.py", ":material/tune:"),
    (3, "Review the savings at your scale and take away the report and the compressed model.",
     "pages/views/review.py", ":material/summarize:"),
]):
    with column.container(border=True):
        st.markdown(f"**Step {number}.** {text}")
        st.page_link(page, label=["Explore", "Explore", "Review & report"][number - 1], icon=icon)

spec = get_model(DEFAULT_MODEL)
settings = state.settings()
st.subheader(f"What compression buys on {spec.title}")
starters = None
with widgets.plain_errors():
    if server_settings().starters:
        starters = jobs.ensure_starters(DEFAULT_MODEL, settings)
running = starters is not None and starters.active


@st.fragment(run_every=2.0 if running else None)
def live_answer() -> None:
    """Re-drawn every 2 s while the starter points are measured; a full rerun when they are done."""
    with widgets.plain_errors():
        if starters is not None and starters.active:
            st.info(f"Measuring the first settings in the background ({len(starters.done)} of {starters.total} done; "
                    f"{starters.step}). The chart and the answer fill in as they arrive.", icon=":material/hourglass_top:")
        elif starters is not None and starters.state == "failed":
            st.error(widgets.literal(starters.error or "The starter measurements failed."))
        if running and not starters.active:
            st.rerun()  # done: one full run draws the final state and stops the timer
        records = api.measured_points(DEFAULT_MODEL, settings)
        if len(records) < 2:  # a recommendation needs the baseline and at least one compressed setting
            st.caption(f"Measured so far: {summary.headline(records[0])}." if records else
                       "Nothing measured yet for this model.")
            return
        rec = recommend(records, DEFAULT_BUDGET_POINTS)
        st.markdown(f"**{summary.recommendation_text(rec)}**")
        best = rec.record
        cols = st.columns(3)
        cols[0].metric(
            "Energy per 1,000 inferences", units.energy_wh(best.energy_wh_per_1k),
            None if best.is_baseline else best.change(signed=True),
            delta_color="inverse", border=True, help="Measured with CodeCarbon while the model ran in onnxruntime, "
            "in windows alternating with the uncompressed model; the change carries its 95% interval.",
        )
        cols[0].caption(floor_words(best))
        cols[1].metric("Accuracy (test set)", units.percent(best.accuracy), units.points_change(best.accuracy_change_points),
                       border=True, help="Share of held-out test examples classified correctly.")
        cols[2].metric("Stored size", units.size(best.storage_bytes),
                       None if best.is_baseline else f"{units.ratio(best.storage_ratio)} smaller", border=True,
                       help="Bytes of the compressed file you would ship.")
        info = plots.tradeoff_info(records, "energy", current_label=best.label)
        st.plotly_chart(plots.tradeoff_figure(info, current_name="recommended"), width="stretch", key="home_chart")
        st.caption(
            "The recommendation is the lowest-energy setting whose saving lies beyond its 95% interval and whose "
            f"accuracy is within 1 percentage point of the uncompressed model's; {len(records)} settings measured; "
            f"series: {best.series}. Energy {best.energy_method}."
        )


live_answer()

with st.expander("What the words mean (glossary)"):
    st.markdown(glossary.markdown())
