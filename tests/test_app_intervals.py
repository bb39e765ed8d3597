"""Pages show energy with its interval: error bars, "no measurable difference", and no saving inside the noise.

The baseline is measured for real; beside it the store holds a hand-made record of a point whose energy
interval contains the baseline's (what a no-op setting measures), so what the pages do with such a point
is tested deterministically. The measurement itself is tested on real runs in tests/test_paired.py.
"""

from __future__ import annotations

import json
import sys
from dataclasses import replace
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from conftest import PAGE_SETTINGS  # what _fast() below sets in the sidebar; the baseline fixture's

from ecocompress.core.points import CompressionPoint
from ecocompress.core.provenance import code_version
from ecocompress.service.store import ResultsStore

ROOT = Path(__file__).resolve().parent.parent
NO_OP = CompressionPoint(sparsity=0.1)
EARLY = CompressionPoint(sparsity=0.2)


@pytest.fixture
def seeded(measured_baseline):
    base = measured_baseline
    e = base.energy_wh_per_1k
    noop = replace(
        base, label=NO_OP.label(), sparsity=NO_OP.sparsity, cached=False,
        energy_wh_per_1k=e * 1.01, energy_wh_per_1k_ci_low=e * 0.96, energy_wh_per_1k_ci_high=e * 1.06,
        energy_ratio=1.01, energy_ratio_ci_low=0.97, energy_ratio_ci_high=1.05, energy_difference_significant=False,
        energy_pairs=8, energy_ratio_half_width=0.04,
    )
    # two pairs and an interval of -60% to +150%: what a first answer's two short windows can give on a busy machine
    early = replace(
        base, label=EARLY.label(), sparsity=EARLY.sparsity, cached=False, energy_wh_per_1k=e * 0.9,
        energy_wh_per_1k_ci_low=e * 0.4, energy_wh_per_1k_ci_high=e * 2.5, energy_ratio=0.9, energy_ratio_ci_low=0.4,
        energy_ratio_ci_high=2.5, energy_difference_significant=False, energy_pairs=2, energy_ratio_half_width=1.17,
    )
    for point, record in ((NO_OP, noop), (EARLY, early)):
        ResultsStore().put(model="digits-cnn", model_hash=base.model_hash, point_key=point.key(),
                           settings_key=PAGE_SETTINGS.key(), code_version=code_version(), result=record.to_dict(),
                           provenance={})
    return base


def _fast(at: AppTest) -> AppTest:
    at.number_input(key="repeats").set_value(2)
    at.number_input(key="energy_budget").set_value(1)
    return at.run()


def _page(page: str) -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=240)
    at.run()
    at.switch_page(page)
    return at.run()


def test_explore_labels_a_difference_inside_the_interval_and_draws_error_bars(seeded):
    at = _fast(_page("pages/views/explore.py"))
    at.slider(key="sparsity").set_value(0.1).run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    energy = next(m for m in at.metric if m.label == "Energy per 1,000 inferences")
    assert "no measurable energy difference" in str(energy.proto.delta)
    assert any("no measurable energy difference" in md.value for md in at.markdown)  # the headline says so too
    figure = json.loads(at.get("plotly_chart")[0].proto.spec)
    bars = [trace.get("error_x") for trace in figure["data"] if trace.get("error_x")]
    assert bars and all(len(b["array"]) == len(b["arrayminus"]) >= 2 for b in bars)


def test_home_never_recommends_a_saving_inside_the_noise(seeded):
    at = _page("pages/views/home.py")
    assert not at.exception and not at.error
    text = " ".join(md.value for md in at.markdown)
    assert "Keep the uncompressed model" in text, text
    energy = next(m for m in at.metric if m.label == "Energy per 1,000 inferences")
    assert not energy.delta  # the baseline itself: no saving shown
    assert '"recommended"' in at.get("plotly_chart")[0].proto.spec and '"fp32 baseline"' in at.get("plotly_chart")[0].proto.spec


def test_explore_says_not_enough_measurements_yet_instead_of_a_two_pair_interval(seeded):
    at = _fast(_page("pages/views/explore.py"))
    at.slider(key="sparsity").set_value(0.2).run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    for label in ("Energy per 1,000 inferences", "Latency per inference", "CO2e per 1,000 inferences"):
        card = next(m for m in at.metric if m.label == label)
        assert card.proto.delta == "not enough measurements yet", (label, card.proto.delta)
    text = " ".join(md.value for md in at.markdown)
    assert "energy change: not enough measurements yet (2 pairs)" in text and "250%" not in text
    assert "measurement floor on this machine: " in " ".join(c.value for c in at.caption)  # beside the energy card


def _first_answer_page() -> None:
    import streamlit as st

    from ecocompress.core.points import CompressionPoint
    from ecocompress.core.records import MeasureSettings
    from ecocompress.service.api import lookup
    from pages.ui.widgets import _first_answer

    early = lookup("digits-cnn", CompressionPoint(sparsity=0.2), MeasureSettings(repeats=2, energy_budget_s=1.0))
    _first_answer(st.empty(), early, CompressionPoint(sparsity=0.2))


def test_a_two_pair_first_answer_says_not_enough_measurements_yet(seeded, monkeypatch):
    # AppTest.from_function makes its temporary script the process's __main__, which every spawned or fork-server
    # child then imports: once the script is gone, later upload checks die at start. Put __main__ back after.
    monkeypatch.setitem(sys.modules, "__main__", sys.modules["__main__"])
    at = AppTest.from_function(_first_answer_page, default_timeout=60).run()
    assert not at.exception, at.exception
    text = " ".join(md.value for md in at.markdown)
    assert "energy from 2 pairs of windows: not enough measurements yet for an interval" in text, text
    assert next(m for m in at.metric if m.label == "Energy per 1,000 inferences").proto.delta == "not enough measurements yet"


def test_a_point_that_went_over_the_job_limits_is_measured_again_only_on_request(seeded):
    """A revisit shows why the last try stopped and how long it ran, and queues nothing until asked."""
    from ecocompress.service import api

    point = CompressionPoint(bits=16)
    store = ResultsStore()
    job = store.start_job("digits-cnn", point.label(), key=api._request_key(api.resolve("digits-cnn"), point, PAGE_SETTINGS))
    store.finish_job(job, "failed", "The job for 16-bit on digits-cnn went over its limits (6,000 MB of memory) and "
                     "was stopped; nothing it computed was kept.", failure="LimitExceeded")
    at = _fast(_page("pages/views/explore.py"))
    jobs = len(store.jobs())  # the page's first render may have measured the baseline at the sidebar's defaults
    at.select_slider(key="bits").set_value(16).run()
    assert not at.exception
    assert any("went over its limits" in w.value and "may be stopped again" in w.value for w in at.warning)
    assert len(store.jobs()) == jobs and api.lookup("digits-cnn", point, PAGE_SETTINGS) is None  # nothing queued
    at.button(key="retry_over_limits").click().run()
    assert not at.exception and not any("went over its limits" in w.value for w in at.warning), [w.value for w in at.warning]
    assert api.lookup("digits-cnn", point, PAGE_SETTINGS) is not None and api.over_limits("digits-cnn", point, PAGE_SETTINGS) is None
