"""Review's section for a sustainability review: SCI per functional unit, Scope 2 both ways, embodied carbon, water
and the energy rating (the figures come from ``review.footprint``; this module only asks and shows)."""

from __future__ import annotations

import json

import pandas as pd
import streamlit as st

from ecocompress.core import units
from ecocompress.core.records import Measurement
from ecocompress.review.footprint import (
    HARDWARE, MARKET_KINDS, UNIT_KINDS, WUE_SOURCE, FootprintInputs, footprint, functional_unit_of, notes, rows, shown, with_hardware,
)
from ecocompress.review.projection import Scale
from pages.ui import state, widgets


def _inputs() -> FootprintInputs:
    """The declarations, asked in one row plus an expander for the hardware's own figures."""
    c1, c2, c3, c4 = st.columns([2, 1, 2, 1])
    c1.selectbox("Functional unit R (SCI is per this)", list(UNIT_KINDS), key=state.FUNCTIONAL_UNIT,
                 format_func=lambda k: UNIT_KINDS[k][2])
    kind = st.session_state[state.FUNCTIONAL_UNIT]
    c2.number_input("N", min_value=1, max_value=10**12, step=1, key=state.FUNCTIONAL_UNIT_COUNT,
                    disabled=kind == "inference", help="Inferences in one functional unit.")
    c3.number_input("Market-based factor (gCO2e/kWh), from your contract; empty = none", min_value=0.0,
                    max_value=2000.0, step=10.0, key=state.MARKET_FACTOR, placeholder="not given",
                    help="A supplier-specific factor or the residual mix of your market. The location-based figure "
                         "never changes with it; the two are shown side by side.")
    c4.radio("It is", MARKET_KINDS, key=state.MARKET_KIND)
    h1, h2, h3 = st.columns([2, 1, 1])
    h1.selectbox("Hardware class (embodied carbon, machines needed)", list(HARDWARE), key=state.HARDWARE,
                 format_func=lambda k: HARDWARE[k].name)
    h2.number_input("On-site WUE (L/kWh)", min_value=0.0, max_value=20.0, step=0.1, key=state.WUE,
                    help=f"Water the data centre's cooling uses per kWh of computing. Default: {WUE_SOURCE}.")
    h3.number_input("Latency target per request (ms); empty = none", min_value=0.001, max_value=1e6, step=1.0,
                    key=state.LATENCY_TARGET, placeholder="none",
                    help="With a target, requests are served one at a time and the machines needed are sized by "
                         "the time one request takes alone; without, by throughput at the series' batch.")
    hw = HARDWARE[st.session_state[state.HARDWARE]]
    with st.expander(f"The {hw.name}'s embodied emissions, lifetime and cores (editable)"):
        e1, e2, e3 = st.columns(3)
        embodied = e1.number_input("Embodied emissions (kgCO2e)", min_value=0.0, max_value=1e6, value=hw.embodied_kg,
                                   key=f"embodied_kg_{hw.key}")
        lifetime = e2.number_input("Lifetime (years)", min_value=0.5, max_value=30.0, value=hw.lifetime_years,
                                   key=f"lifetime_{hw.key}")
        cores = e3.number_input("Cores", min_value=1, max_value=4096, value=hw.cores, key=f"cores_{hw.key}",
                                help=hw.cores_note)
        st.caption(f"Source: {hw.source}.")
    edits = {"lifetime_years": float(lifetime), "cores": int(cores)}
    if embodied != hw.embodied_kg:  # the user's own figure: its range is itself
        edits["embodied_kg"] = float(embodied)
    inputs = FootprintInputs(
        unit=functional_unit_of(kind, float(st.session_state[state.FUNCTIONAL_UNIT_COUNT])),
        market_factor_g_per_kwh=st.session_state[state.MARKET_FACTOR],
        market_factor_kind=st.session_state[state.MARKET_KIND],
        wue_l_per_kwh=float(st.session_state[state.WUE]),
        latency_target_ms=st.session_state[state.LATENCY_TARGET],
    )
    return with_hardware(inputs, hw.key, **edits)


def footprint_section(chosen: Measurement, baseline: Measurement, scale: Scale) -> FootprintInputs | None:
    """Ask the review's declarations and show SCI, Scope 2, embodied, water and the rating for the chosen point;
    returns the declarations (for the report), None when one was refused."""
    st.write("The figures a sustainability review files, each with its 95% interval from the measured energy "
             "(SCI: ISO/IEC 21031:2024; Scope 2: GHG Protocol). Factors you did not enter are never guessed.")
    with widgets.plain_errors():
        inputs = _inputs()
        f = footprint(chosen.to_dict(), baseline.to_dict(), scale, inputs)
        p, b = f.point, f.baseline
        with st.container(border=True, key="sci_card"):
            k1, k2 = st.columns([3, 1])
            k1.metric(f"SCI per {f.unit.name} (chosen point)", units.mass_g(p.sci_g_per_unit.value) + " CO2e",
                      help=f"(E x I + M) / R. {shown(p.sci_g_per_unit, units.mass_g)}. Baseline: "
                           f"{units.mass_g(b.sci_g_per_unit.value)}. I = {f.carbon_intensity_g_per_kwh:.0f} gCO2e/kWh, "
                           "location-based.")
            k1.caption(f"95%: {units.mass_g(p.sci_g_per_unit.low)} to {units.mass_g(p.sci_g_per_unit.high)}; baseline "
                       f"{units.mass_g(b.sci_g_per_unit.value)}")
            k2.metric("Energy rating", p.rating.label, help=p.rating.rule)
            k2.caption("interval straddles a band boundary" if p.rating.straddles else f"baseline {b.rating.label}")
        st.dataframe(pd.DataFrame(rows(f), columns=["figure", "baseline", "chosen"]), hide_index=True, width="stretch")
        st.caption(notes(f))
        st.download_button("Review figures (JSON, SCI and GHG Protocol terms)", json.dumps(f.to_dict(), indent=2),
                           file_name=f"ecocompress-{chosen.model}-{units.slug(chosen.label)}-sci.json",
                           mime="application/json", key="download_footprint")
        return inputs
    return None
