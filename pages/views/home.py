"""Landing page: what the tool does, and the best trade-off measured so far for the default model."""

from __future__ import annotations

import streamlit as st

from ecocompress.service import api

from ecocompress.core import units
from ecocompress.core.choice import recommend
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
    rec = recommend(api.measured_points(spec.name), 1.0)
    if rec is None:
        st.info("Nothing measured yet for this model. Open Explore to measure the first point.")
    elif not rec.within_budget:
        st.info(f"No point measured so far keeps accuracy within 1 point of the baseline's; closest: {rec.record.label}.")
    else:
        best = rec.record
        cols = st.columns(3)
        cols[0].metric("Setting", best.label, help=f"Runs as {best.runtime_format}.", border=True)
        cols[1].metric(
            "Energy per 1,000 inferences",
            units.energy_wh(best.energy_wh_per_1k),
            f"{(best.energy_ratio - 1) * 100:+.0f}% vs baseline",
            delta_color="inverse",
            border=True,
        )
        cols[2].metric(
            "Accuracy (test set)",
            units.percent(best.accuracy),
            units.points_change(-best.accuracy_drop_points),
            border=True,
        )
        st.caption(
            "The lowest-energy point measured within 1 percentage point of the baseline's accuracy. "
            f"Energy {best.energy_method}."
        )
st.page_link("pages/views/explore.py", label="Explore settings", icon=":material/tune:")
