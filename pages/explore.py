"""Explore: pick a model, move the knobs, see the measured point against the baseline."""

from __future__ import annotations

import time

import pandas as pd
import streamlit as st

from compression import api, plots, units
from compression.models import get_model, list_models
from compression.points import CompressionPoint
from pages import state, widgets

state.init()
widgets.measurement_sidebar()

st.title("Explore a compression setting")
st.write(
    "Choose a model and a setting. ecocompress builds the compressed ONNX model for real, runs it in "
    "onnxruntime and measures accuracy, size, latency and energy. Points measured before appear instantly."
)

names = {m.name: m.title for m in list_models()}
left, right = st.columns([1, 2])
with left:
    st.selectbox(
        "Model",
        list(names),
        key=state.MODEL,
        format_func=lambda n: f"{names[n]} ({n})",
        help="Built-in sample models trained by sample_models/train.py on data that ships with the project.",
    )
    card = get_model(st.session_state[state.MODEL]).card()
    if card:
        st.caption(f"{card['dataset']}; {card['params']:,} parameters.")
with right:
    st.select_slider(
        "Bit-width (bits per weight)",
        options=[32, 8],
        key=state.BITS,
        format_func=lambda b: "32 bits (float, uncompressed)" if b == 32 else "8 bits (int8)",
        help="32 is the original float model; 8 quantizes weights and activations to int8 with onnxruntime's "
        "static quantizer, calibrated on training data.",
    )
    st.caption("Fewer bits per weight: a smaller file and integer kernels, at a small risk to accuracy.")
    st.caption(
        "This version measures the fp32 baseline and 8-bit quantization; sparsity and student-size knobs "
        "appear here when the compression engine ships them."
    )

model = st.session_state[state.MODEL]
point = CompressionPoint(bits=st.session_state[state.BITS])
result = None
with widgets.plain_errors():
    settings = state.settings()
    result = api.lookup(model, point, settings)
    if result is None:
        started = time.perf_counter()
        with st.status(f"Measuring {point.label()} on {model}...", expanded=True) as status:
            bar = st.progress(0.0, text="starting")
            result = api.measure_point(
                model, point, settings, progress=lambda step, fraction: bar.progress(min(1.0, fraction), text=step)
            )
            status.update(
                label=f"Measured {point.label()} on {model} in {time.perf_counter() - started:.0f} s",
                state="complete",
                expanded=False,
            )

if result is not None:
    st.subheader(f"{result.label} — runs as {result.runtime_format}")
    widgets.metric_cards(result)
    widgets.method_badge(result)
    st.caption(
        f"Energy: median of {result.energy_repeats} CodeCarbon windows at batch {result.energy_batch_size}, "
        f"{result.ort_threads} onnxruntime thread, spread {units.energy_wh(result.energy_wh_per_1k_spread)} "
        f"per 1,000 inferences. Measured {result.measured_at}" + (" (served from the results store)." if result.cached else ".")
    )

    st.subheader("Accuracy versus cost, every measured point")
    c1, c2 = st.columns([3, 1])
    with c1:
        st.radio(
            "x axis",
            list(plots.X_AXES),
            key=state.X_AXIS,
            horizontal=True,
            format_func=lambda k: {"energy": "Energy", "latency": "Latency", "size": "Size"}[k],
        )
    with c2:
        st.toggle("Log scale", key=state.LOG_X)
    with widgets.plain_errors():
        records = api.measured_points(model, settings)
        info = plots.tradeoff_info(records, st.session_state[state.X_AXIS], current_label=result.label)
        st.plotly_chart(
            plots.tradeoff_figure(info, log_x=st.session_state[state.LOG_X]), width="stretch", key="tradeoff_chart"
        )
        table = pd.DataFrame.from_records(records)
        if not table.empty:
            st.dataframe(
                table[["label", "runtime_format", "accuracy", "size_bytes", "latency_ms_per_item_large_batch",
                       "energy_wh_per_1k", "emissions_g_per_1k", "measured_at"]].rename(
                    columns={
                        "label": "setting",
                        "runtime_format": "runs as",
                        "accuracy": "accuracy (fraction)",
                        "size_bytes": "size (bytes)",
                        "latency_ms_per_item_large_batch": "latency (ms / inference, batch 256)",
                        "energy_wh_per_1k": "energy (Wh / 1,000 inferences)",
                        "emissions_g_per_1k": "CO2e (g / 1,000 inferences)",
                        "measured_at": "measured at (UTC)",
                    }
                ),
                hide_index=True,
                width="stretch",
            )
