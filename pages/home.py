"""Landing page: what the tool does, and the best trade-off measured so far for the default model."""

from __future__ import annotations

import streamlit as st

from compression import api, units
from compression.models import DEFAULT_MODEL, get_model
from compression.pareto import pareto_front
from pages import state, widgets

import pandas as pd

state.init()

st.title("ecocompress")
st.write(
    "ecocompress shrinks neural networks (quantization today; pruning, distillation and low-rank factorization "
    "next) and measures, on the compressed model running in onnxruntime, what that buys in energy, CO2e, size "
    "and speed and what it costs in accuracy. Pick a model on the Explore page, move the knobs, and compare "
    "every measured point on an accuracy-versus-energy chart."
)

spec = get_model(DEFAULT_MODEL)
st.subheader(f"Best trade-off so far for {spec.title} ({spec.name})")
with widgets.plain_errors():
    records = api.measured_points(spec.name, state.settings())
    if not records:
        st.info("Nothing measured yet for this model with the current settings. Open Explore to measure the first point.")
    else:
        frame = pd.DataFrame.from_records(records)
        baseline = frame[frame["label"] == "fp32 baseline"]
        base_acc = float(baseline["accuracy"].iloc[0]) if not baseline.empty else float(frame["accuracy"].max())
        within = frame[frame["accuracy"] >= base_acc - 0.01]
        best = pareto_front(within, "accuracy", "energy_wh_per_1k").iloc[0]
        cols = st.columns(3)
        cols[0].metric("Setting", best["label"], help=f"Runs as {best['runtime_format']}.", border=True)
        cols[1].metric(
            "Energy per 1,000 inferences",
            units.energy_wh(best["energy_wh_per_1k"]),
            f"{(best['energy_ratio'] - 1) * 100:+.0f}% vs baseline",
            delta_color="inverse",
            border=True,
        )
        cols[2].metric(
            "Accuracy (test set)",
            units.percent(best["accuracy"]),
            units.points_change(-best["accuracy_drop_points"]),
            border=True,
        )
        st.caption(
            "The lowest-energy point measured within 1 percentage point of the baseline's accuracy. "
            f"Energy {best['energy_method']}."
        )
st.page_link("pages/explore.py", label="Explore settings", icon=":material/tune:")
