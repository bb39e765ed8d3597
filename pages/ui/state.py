"""The one module that owns st.session_state keys, so pages never disagree about names."""

from __future__ import annotations

import streamlit as st

from compression.energy import DEFAULT_COUNTRY
from compression.models import DEFAULT_MODEL
from compression.points import CompressionPoint
from compression.results import MeasureSettings

MODEL = "model"
SPARSITY = "sparsity"
BITS = "bits"
STUDENT = "student"
STRUCTURED = "structured"
RANK = "rank"
COUNTRY = "country"
REPEATS = "repeats"
X_AXIS = "x_axis"
LOG_X = "log_x"

SWEEP_JOB = "sweep_job"
COMPARE_MODELS = "compare_models"

DEFAULTS = {
    MODEL: DEFAULT_MODEL,
    SPARSITY: 0.0,
    BITS: 32,
    STUDENT: 1.0,
    STRUCTURED: False,
    RANK: 1.0,
    COUNTRY: DEFAULT_COUNTRY,
    REPEATS: 3,
    X_AXIS: "energy",
    LOG_X: False,
}


def init() -> None:
    """Give every key its default once per browser session (widgets then own their keys)."""
    for key, value in DEFAULTS.items():
        st.session_state.setdefault(key, value)


def point() -> CompressionPoint:
    """The compression point the Explore knobs describe (validated: bad state raises a sentence)."""
    return CompressionPoint(
        sparsity=float(st.session_state[SPARSITY]),
        bits=int(st.session_state[BITS]),
        student_width=float(st.session_state[STUDENT]),
        structured=bool(st.session_state[STRUCTURED]) and float(st.session_state[SPARSITY]) > 0,
        rank_ratio=float(st.session_state[RANK]),
    )


def settings() -> MeasureSettings:
    """Measurement settings chosen in the sidebar."""
    return MeasureSettings(country=st.session_state[COUNTRY], repeats=int(st.session_state[REPEATS]))
