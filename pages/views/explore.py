"""Explore: pick a model, move the knobs, see the measured point against the baseline."""

from __future__ import annotations

import dataclasses

import streamlit as st

from ecocompress.core import knobs
from ecocompress.core.errors import InvalidParameterError
from ecocompress.models.registry import get_model
from ecocompress.review import summary
from pages.ui import state, widgets

state.init()
widgets.measurement_sidebar()

st.title("Explore a compression setting")
st.write(
    "Choose a model and move the knobs. ecocompress re-runs the compression for real, runs the compressed model "
    "in onnxruntime and measures accuracy, size, latency and energy. Points measured before appear instantly."
)

names = state.model_titles()
st.selectbox(
    "Model",
    list(names),
    key=state.MODEL,
    format_func=lambda n: f"{names[n]} ({n})",
    help="Built-in sample models, trained by the project on data that ships with it, and the models you uploaded.",
)
spec = get_model(st.session_state[state.MODEL])

if spec.summary():
    st.caption(widgets.literal(spec.summary()))
for warning in spec.warnings:
    st.warning(widgets.literal(warning))

if not spec.per_layer_allocation:  # e.g. switched to an upload with the toggle on: it cannot apply, so it is off
    st.session_state[state.PER_LAYER] = False
per_layer = bool(st.session_state[state.PER_LAYER])


def refusal(**change) -> str | None:
    """Why this model refuses the knobs' point with ``change`` (None: it can do it), asked before anything is
    queued, so a control it cannot use is greyed out with the reason instead of failing after a click."""
    try:
        point = dataclasses.replace(state.point(), **change)
    except InvalidParameterError:
        return None  # the knobs themselves are wrong: the page below says so, in its own sentence
    try:
        spec.check_point(point)
    except InvalidParameterError as exc:
        return str(exc)
    return None


# Greyed out, and switched off, where the model cannot use them (an uploaded ONNX file at full width, the text
# model): each knob asked with structured pruning off, then structured pruning asked with the refused knobs off, so
# each shows its own reason and a knob another one blocks keeps its value.
def knob_refusal(knob: knobs.Knob) -> str | None:
    """Why the model refuses ``knob`` moved (None: it can do it). Only the knob's own reason counts: when the point is
    refused with the knob off as well, another knob is the cause, and this one keeps its value."""
    reason = refusal(**{knob.field: knob.example}, structured=False)
    return reason if reason and refusal(**{knob.field: knob.default}, structured=False) is None else None


refused = {knob.name: knob_refusal(knob) for knob in knobs.KNOBS}
for knob in knobs.KNOBS:
    if refused[knob.name]:
        st.session_state[knob.name] = knob.default
structured_refused = refusal(structured=True, sparsity=max(0.5, float(st.session_state[state.SPARSITY])))
if structured_refused:
    st.session_state[state.STRUCTURED] = False
for knob, column in zip(knobs.KNOBS, st.columns(len(knobs.KNOBS))):
    reason = refused[knob.name]
    shared = dict(key=knob.name, disabled=per_layer or reason is not None,
                  help=widgets.literal(reason) if reason else knob.help)
    with column:
        if knob.slider:
            st.slider(knob.label, min_value=knob.values[0], max_value=knob.values[-1],
                      step=knob.values[1] - knob.values[0], format="%.2f", **shared)
        else:
            st.select_slider(knob.label, options=knob.values, format_func=knob.show, **shared)
        if knob.caption:
            st.caption(knob.caption)
        if knob is knobs.SPARSITY:
            st.toggle(
                "Structured pruning",  # the column is narrow: the help says what it removes
                key=state.STRUCTURED,
                disabled=per_layer or structured_refused is not None,
                help=widgets.literal(structured_refused) if structured_refused else
                "Removes whole channels/neurons so the network itself gets smaller and faster, at more accuracy risk.",
            )

per_layer_row = st.columns([1, 2])
with per_layer_row[0]:
    st.toggle(
        "Per layer, chosen automatically",
        key=state.PER_LAYER,
        disabled=not spec.per_layer_allocation,
        help="Each layer gets its own setting: ecocompress measures how much accuracy each layer loses when squeezed, "
        "then picks the smallest file (each layer's sparsity and bit-width, as Deep Compression did) or the least "
        "energy (how many channels, neurons and input pixels each layer keeps) whose accuracy loss stays within the "
        "budget. The knobs above are not used while this is on." if spec.per_layer_allocation else
        "Needs a model ecocompress can train: the built-in image models, your own PyTorch model, or an upload that "
        "converts to PyTorch.",
    )
with per_layer_row[1]:
    if per_layer:
        st.radio(
            "Per-layer choice aims for",
            options=["size", "energy"],
            format_func=lambda o: {"size": "the smallest file", "energy": "the least energy"}[o],
            key=state.PER_LAYER_OBJECTIVE,
            horizontal=True,
            help="Smallest file: zeros and low-bit codes per layer (the file shrinks, a CPU runs it as before). Least "
            "energy: whole channels, neurons and unused input pixels removed per layer, so there is less to compute.",
        )
        st.select_slider(
            "Accuracy budget for the per-layer choice (points)",
            options=[0.1, 0.2, 0.5, 1.0, 2.0],
            key=state.PER_LAYER_BUDGET,
            help="The most test accuracy, in percentage points, the chosen settings may lose (estimated on held-out "
            "training images while choosing; the measured loss is shown with the result).",
        )

model = st.session_state[state.MODEL]
result = None
with widgets.plain_errors():
    settings = state.settings()
    point = (widgets.per_layer_point(model, st.session_state[state.PER_LAYER_OBJECTIVE],
                                     float(st.session_state[state.PER_LAYER_BUDGET])) if per_layer else state.point())
    if point is not None:
        result = widgets.measured_or_queued(model, point, settings)

if result is not None:
    st.subheader(f"{result.label}: stored as {result.storage_format.split(',')[0]}, runs as {result.runtime_format}",
                 help="Stored: how the compressed file you would ship packs the weights. Runs as: the number format "
                 "onnxruntime runs it in, the fastest of those timed side by side (int8 = 8-bit integers; fp32 = "
                 "32-bit floats). The glossary on Home explains every term.")
    st.markdown(f"**{summary.headline(result)}**")
    widgets.metric_cards(result)
    widgets.method_badge(result)
    widgets.point_details(result)
    widgets.tradeoff_chart(model, current_label=result.label)
    widgets.changes_section(model, result)
    widgets.layer_section(model, point, settings)
