"""Landing page: what the tool does, and the best trade-off measured so far for the default model."""

from __future__ import annotations

import streamlit as st

from ecocompress.service import api

from ecocompress.core import units
from ecocompress.core.choice import recommend
from ecocompress.review import summary
from ecocompress.models.registry import DEFAULT_MODEL, get_model
from pages.ui import state, widgets

state.init()

st.title("ecocompress")
st.write(
    "ecocompress shrinks neural networks by pruning, quantization, distillation and low-rank factorization, and "
    "measures on the compressed model, running in onnxruntime, what that buys in energy, CO2e, size and speed. "
    "It also shows what it costs in accuracy, so you can pick the operating point that fits your budget."
)

spec = get_model(DEFAULT_MODEL)
st.subheader(f"Best trade-off so far for {spec.title} ({spec.name})")
with widgets.plain_errors():
    records = api.measured_points(spec.name, state.settings())
    rec = recommend(records, 1.0)
    if rec is None:
        st.info("Nothing measured yet for this model. Open Explore to measure the first point.")
    else:
        st.markdown(f"**{summary.recommendation_text(rec)}**")
        best = rec.record
        cols = st.columns(3)
        cols[0].metric("Setting", best.label, help=f"Runs as {best.runtime_format}.", border=True)
        cols[1].metric(
            "Energy per 1,000 inferences",
            units.energy_wh(best.energy_wh_per_1k),
            None if best.is_baseline else units.signed_interval(best.energy_ratio, best.energy_ratio_ci_low,
                                                                 best.energy_ratio_ci_high, "energy"),
            delta_color="inverse",
            border=True,
        )
        cols[2].metric(
            "Accuracy (test set)",
            units.percent(best.accuracy),
            units.points_change(best.accuracy_change_points),
            border=True,
        )
        st.caption(
            "The lowest-energy point whose saving lies beyond its 95% interval and whose accuracy is within 1 percentage "
            f"point of the baseline's; {len(records)} points measured in the series {best.series}. "
            f"Energy {best.energy_method}."
        )
st.page_link("pages/views/explore.py", label="Explore settings", icon=":material/tune:")
