"""Shared view pieces: the measurement sidebar, metric cards, method badge, errors."""

from __future__ import annotations

import contextlib
from typing import Iterator

import streamlit as st

from compression import units
from compression.energy import country_choices, country_grid
from compression.errors import EcoCompressError
from compression.results import Measurement
from pages import state


def measurement_sidebar() -> None:
    """Grid region and repeat count: they change the measurement, so they live beside it."""
    with st.sidebar:
        st.subheader("Measurement settings")
        codes = [code for code, _ in country_choices()]
        names = dict(country_choices())
        st.selectbox(
            "Grid region (for CO2e)",
            codes,
            key=state.COUNTRY,
            format_func=lambda c: f"{names[c]} ({c})",
            help="Carbon intensity of electricity from CodeCarbon's bundled data; changes CO2e, not energy.",
        )
        grid = country_grid(st.session_state[state.COUNTRY])
        st.caption(f"{grid['carbon_intensity_g_per_kwh']:.0f} gCO2e/kWh ({grid['year']}, {grid['source']}).")
        st.number_input(
            "Energy repeats",
            min_value=1,
            max_value=10,
            step=1,
            key=state.REPEATS,
            help="How many 2-second CodeCarbon windows to take; the median is shown, the spread is reported.",
        )


@contextlib.contextmanager
def plain_errors() -> Iterator[None]:
    """Show back-end errors as one sentence, never a traceback; nothing stored is touched."""
    try:
        yield
    except EcoCompressError as exc:
        st.error(str(exc))
    except Exception as exc:  # a bug of ours: still one sentence for the user
        st.error(
            f"Something went wrong inside ecocompress ({type(exc).__name__}: {exc}). "
            "Results measured before are safe; try again, or report this."
        )


def method_badge(m: Measurement) -> None:
    """Say how the energy figure was obtained, next to it."""
    if m.energy_estimated:
        st.badge(f"Energy {m.energy_method}", icon=":material/info:", color="orange")
    else:
        st.badge(f"Energy {m.energy_method}", icon=":material/bolt:", color="green")


def _pct_change(value: float, base: float) -> str | None:
    if not base:
        return None
    return f"{(value / base - 1) * 100:+.0f}% vs baseline"


def metric_cards(m: Measurement) -> None:
    """The point against the baseline: each figure with its unit and its change."""
    cols = st.columns(5)
    cols[0].metric(
        "Accuracy (test set)",
        units.percent(m.accuracy),
        units.points_change(-m.accuracy_drop_points),
        help=f"95% Wilson interval {units.percent(m.accuracy_ci_low, 1)} to {units.percent(m.accuracy_ci_high, 1)} "
        f"on {m.test_examples:,} test examples. Baseline {units.percent(m.baseline_accuracy)}.",
        border=True,
    )
    cols[1].metric(
        "Size on disk",
        units.size(m.size_bytes),
        _pct_change(m.size_bytes, m.baseline_size_bytes),
        delta_color="inverse",
        help=f"Bytes of the ONNX file we hand out; {units.ratio(m.compression_ratio)} smaller than the baseline "
        f"({units.size(m.baseline_size_bytes)}). {m.params:,} parameters.",
        border=True,
    )
    cols[2].metric(
        "Latency per inference",
        units.latency_ms(m.latency_ms_per_item_large_batch),
        f"{units.ratio(m.speedup_measured)} speed-up",
        delta_color="off",
        help=f"Median per item at batch {m.large_batch_size} in onnxruntime ({m.ort_threads} thread); "
        f"batch 1: {units.latency_ms(m.latency_ms_batch1)} per call.",
        border=True,
    )
    cols[3].metric(
        "Energy per 1,000 inferences",
        units.energy_wh(m.energy_wh_per_1k),
        _pct_change(m.energy_wh_per_1k, m.baseline_energy_wh_per_1k),
        delta_color="inverse",
        help=f"Median of {m.energy_repeats} CodeCarbon windows of {m.energy_window_s:.1f} s at batch {m.energy_batch_size}; "
        f"spread {units.energy_wh(m.energy_wh_per_1k_spread)}. {m.energy_method}.",
        border=True,
    )
    cols[4].metric(
        "CO2e per 1,000 inferences",
        units.mass_g(m.emissions_g_per_1k),
        _pct_change(m.energy_wh_per_1k, m.baseline_energy_wh_per_1k),
        delta_color="inverse",
        help=f"Energy x grid intensity of {m.country}: {m.carbon_intensity_g_per_kwh:.0f} gCO2e/kWh (CodeCarbon data).",
        border=True,
    )
