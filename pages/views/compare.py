"""Compare: Pareto fronts of several models (or runtimes) on one chart, and every point in a table."""

from __future__ import annotations

import streamlit as st

from ecocompress.service import api

from ecocompress.review import plots, tables
from pages.ui import state, widgets

state.init()
widgets.measurement_sidebar()

st.title("Compare models and runtimes")
st.write("Each line is the Pareto front of one group: the settings no other setting beats on both accuracy and cost.")

names = state.model_titles()
st.session_state.setdefault(state.COMPARE_MODELS, list(names))
st.session_state[state.COMPARE_MODELS] = [n for n in st.session_state[state.COMPARE_MODELS] if n in names]
chosen = st.multiselect("Models", list(names), key=state.COMPARE_MODELS, format_func=lambda n: f"{names[n]} ({n})")
c1, c2, c3 = st.columns(3)
x_axis = c1.radio("x axis", list(plots.X_AXES), key="compare_x", horizontal=True, format_func=lambda k: plots.X_AXIS_NAMES[k])
group = c2.radio("One front per", ["model", "runtime_format"], key="compare_group", horizontal=True,
                 format_func=lambda g: {"model": "model", "runtime_format": "runtime format"}[g])
log_x = c3.toggle("Log scale", key="compare_log", value=True)

with widgets.plain_errors():
    records = [r for name in chosen for r in api.measured_points(name, state.settings())]
    if not records:
        st.info("No measured points for these models yet: measure some on Explore or Sweep.")
    else:
        st.plotly_chart(plots.compare_figure(records, x_axis, group=group, log_x=log_x), width="stretch", key="compare_chart")
        table = tables.points_frame(records)
        st.dataframe(table, hide_index=True, width="stretch")
        st.download_button(
            "Download all points (CSV)", table.to_csv(index=False).encode(), file_name="ecocompress-points.csv",
            mime="text/csv", key="download_csv",
        )
