"""The one module that owns st.session_state keys, so pages never disagree about names."""

from __future__ import annotations

import streamlit as st

from compression.energy import DEFAULT_COUNTRY
from compression.models import DEFAULT_MODEL
from compression.results import MeasureSettings

MODEL = "model"
BITS = "bits"
COUNTRY = "country"
REPEATS = "repeats"
X_AXIS = "x_axis"
LOG_X = "log_x"

DEFAULTS = {MODEL: DEFAULT_MODEL, BITS: 32, COUNTRY: DEFAULT_COUNTRY, REPEATS: 3, X_AXIS: "energy", LOG_X: False}


def init() -> None:
    """Give every key its default once per browser session (widgets then own their keys)."""
    for key, value in DEFAULTS.items():
        st.session_state.setdefault(key, value)


def settings() -> MeasureSettings:
    """Measurement settings chosen in the sidebar."""
    return MeasureSettings(country=st.session_state[COUNTRY], repeats=int(st.session_state[REPEATS]))
