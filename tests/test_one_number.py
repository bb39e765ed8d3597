"""One baseline figure per series: every surface shows absolute energy = paired ratio x the pooled baseline.

Three points are measured for real (CodeCarbon, onnxruntime) while a script makes each run's machine slower
or faster (both sides of a run run their batch 1, 2 or 3 times per reported call, as load would slow them
alike; the jobs run in the test's process for it): each run's own baseline then differs by up to 3x while its
paired ratio does not. Every surface must
show the same baseline and figures that agree with their ratios: the API, Explore, Review, Compare, the CSV,
the HTML and PDF reports and the CLI.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from ecocompress.core import units
from ecocompress.core.points import CompressionPoint
from ecocompress.core.records import MeasureSettings
from ecocompress.measure import session
from ecocompress.sandbox import limits
from ecocompress.service import api
from ecocompress.service.store import ResultsStore

from pdf_text import pdf_pages, require_chromium

ROOT = Path(__file__).resolve().parent.parent
SETTINGS = MeasureSettings(repeats=2, energy_budget_s=1.0)  # what the pages' sidebar is set to below
LOADS = {CompressionPoint(): 1, CompressionPoint(bits=8): 2, CompressionPoint(bits=16): 3, CompressionPoint(sparsity=0.1): 1}


@pytest.fixture(autouse=True)
def eco_home(module_home):
    return module_home


@pytest.fixture(scope="module")
def measured(module_home) -> dict[CompressionPoint, api.Measurement]:
    load = {"calls": 1}
    original = session.session_workload

    def loaded(sess, x, batch_size):
        work = original(sess, x, batch_size)

        def run() -> int:
            for _ in range(load["calls"]):
                work()
            return batch_size

        return run

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(session, "session_workload", loaded)
        mp.setattr(limits, "inside_worker", lambda: True)  # jobs run here, where the script can slow them
        for point, calls in LOADS.items():
            load["calls"] = calls
            api.measure_point("digits-cnn", point, SETTINGS)
    return {point: api.lookup("digits-cnn", point, SETTINGS) for point in LOADS}


@pytest.mark.slow
def test_the_runs_saw_different_baselines_and_every_record_shows_one(measured):
    raw = [row["baseline_energy_wh_per_1k"] for row in ResultsStore().results("digits-cnn")]
    assert len(raw) >= 4 and max(raw) / min(raw) > 1.8, raw  # the script really moved each run's own baseline
    points = api.measured_points("digits-cnn", SETTINGS)
    baselines = {m.baseline_energy_wh_per_1k for m in points} | {m.baseline_energy_wh_per_1k for m in measured.values()}
    assert len(baselines) == 1, baselines
    (base,) = baselines
    assert min(raw) < base < max(raw)
    for m in points:
        assert m.energy_wh_per_1k == pytest.approx(m.energy_ratio * base, rel=1e-9), m.label
        assert m.energy_wh_per_1k_ci_low <= m.energy_wh_per_1k <= m.energy_wh_per_1k_ci_high
        assert m.energy_wh_per_1k == pytest.approx(measured[m.point].energy_wh_per_1k, rel=1e-12)  # lookup agrees
    baseline = measured[CompressionPoint()]
    assert baseline.energy_wh_per_1k == base and baseline.energy_ratio == 1.0
    for m in points:  # time per inference: the same one baseline, and the figure agrees with its ratio
        assert m.latency_ms_per_item_large_batch == pytest.approx(
            m.latency_ratio * baseline.latency_ms_per_item_large_batch, rel=1e-9), m.label


def test_the_csv_and_the_html_report_show_the_same_figures(measured):
    from ecocompress.review.report import points_csv, render_html, report_data

    base = measured[CompressionPoint()].energy_wh_per_1k
    table = pd.read_csv(io.StringIO(points_csv([m.to_dict() for m in api.measured_points("digits-cnn", SETTINGS)])))
    energy = next(c for c in table.columns if c.startswith("energy (") and "Wh / 1,000" in c)
    base_row = table[table["setting"] == "fp32 baseline"].iloc[0]
    for _, row in table.iterrows():  # rounded to 3-4 significant digits: agreement within rounding
        assert row[energy] == pytest.approx(row["energy vs baseline (x)"] * base_row[energy], rel=0.01), row["setting"]
    html = render_html(report_data("digits-cnn", CompressionPoint(bits=8), settings=SETTINGS))
    figures = (units.energy_wh(base), units.energy_wh(measured[CompressionPoint(bits=8)].energy_wh_per_1k))
    assert all(figure in html for figure in figures)
    from ecocompress.review.pdf import html_to_pdf

    require_chromium()
    printed = " ".join(pdf_pages(html_to_pdf(html)))
    assert all(figure in printed for figure in figures), (figures, printed[:500])  # the PDF prints the same figures


def test_the_cli_prints_the_same_figures(measured, capsys):
    from ecocompress.cli import main

    assert main(["run", "--model", "digits-cnn", "--bits", "16", "--repeats", "2", "--energy-budget", "1", "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    m = measured[CompressionPoint(bits=16)]
    assert printed["energy_wh_per_1k"] == pytest.approx(m.energy_wh_per_1k, rel=1e-12)
    assert printed["baseline_energy_wh_per_1k"] == pytest.approx(measured[CompressionPoint()].energy_wh_per_1k, rel=1e-12)


def _page(page: str) -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=240)
    at.run()
    at.switch_page(page)
    at.run()
    at.number_input(key="repeats").set_value(2)
    at.number_input(key="energy_budget").set_value(1)
    return at.run()


@pytest.mark.slow
def test_explore_review_and_compare_show_the_same_figures(measured):
    """The pages measure what their first render asks for (the baseline at the sidebar's defaults), which adds a
    run to the series: the figures they show are compared with the API's after that, all on one pooled baseline."""
    explore = _page("pages/views/explore.py")
    explore.select_slider(key="bits").set_value(8).run()
    assert not explore.exception and not explore.error
    review = _page("pages/views/review.py")
    review.radio(key="energy_basis").set_value("modelled").run()  # its caption puts the measured figures beside
    assert not review.exception
    point, base = (api.lookup("digits-cnn", p, SETTINGS) for p in (CompressionPoint(bits=8), CompressionPoint()))
    card = next(m for m in explore.metric if m.label == "Energy per 1,000 inferences")
    assert card.value == units.energy_wh(point.energy_wh_per_1k)
    latency = next(m for m in explore.metric if m.label == "Latency per inference")
    assert latency.value == units.latency_ms(point.latency_ratio * base.latency_ms_per_item_large_batch)
    assert point.energy_wh_per_1k == pytest.approx(point.energy_ratio * base.energy_wh_per_1k, rel=1e-12)
    text = " ".join(c.value for c in review.caption)
    assert f"here: {units.energy_wh(base.energy_wh_per_1k)} and " in text, text
    compare = _page("pages/views/compare.py")
    assert not compare.exception
    table = compare.dataframe[0].value
    energy = next(c for c in table.columns if c.startswith("energy (") and "Wh / 1,000" in c)
    factor = 1e6 if "µWh" in energy else 1e3
    shown = dict(zip(table["setting"], table[energy]))
    assert shown["8-bit"] == pytest.approx(point.energy_wh_per_1k * factor, rel=0.01)
    assert shown["fp32 baseline"] == pytest.approx(base.energy_wh_per_1k * factor, rel=0.01)


def test_what_the_words_call_not_enough_is_never_recommended_as_a_saving(measured):
    """A significant interval on too few pairs, or too wide to show, says "not enough measurements yet" on every
    surface, so the recommendation rule (Home, Review, the report, search) must not call it a saving either."""
    from dataclasses import replace

    from ecocompress.core.choice import recommend
    from ecocompress.core.records import NOT_ENOUGH, READABLE_MIN_PAIRS

    base, point = measured[CompressionPoint()], measured[CompressionPoint(bits=8)]
    clear = replace(point, energy_ratio=0.5, energy_ratio_ci_low=0.45, energy_ratio_ci_high=0.55, energy_ratio_half_width=0.1,
                    energy_difference_significant=True, energy_pairs=READABLE_MIN_PAIRS, accuracy_drop_points=0.0,
                    measurement_floor=0.05)
    few = replace(clear, energy_pairs=READABLE_MIN_PAIRS - 1)
    wide = replace(clear, energy_ratio_ci_low=0.2, energy_ratio_ci_high=0.9, energy_ratio_half_width=0.7)
    assert clear.saves_energy and recommend([base, clear], 1.0).record is clear
    for unreadable in (few, wide):
        assert unreadable.change(signed=True) == NOT_ENOUGH and not unreadable.saves_energy
        rec = recommend([base, unreadable], 1.0)
        assert rec.record is base and not rec.measurable_saving


@pytest.mark.slow
def test_one_recommendation_whichever_surface_asks(measured):
    """Home, Review, the report and a search on one store and budget name the same point. The 8-bit point is
    measured again with enough pairs to be readable, so the answer is a saving where the machine allows one."""
    from ecocompress.core.choice import DEFAULT_BUDGET_POINTS, recommend
    from ecocompress.review.report import report_data
    from ecocompress.review.summary import recommendation_text
    from ecocompress.service.search import run_search

    api.measure_point("digits-cnn", CompressionPoint(bits=8), MeasureSettings(repeats=4, energy_budget_s=15.0,
                                                                              target_half_width=0.1))
    expected = recommend(api.measured_points("digits-cnn", SETTINGS), DEFAULT_BUDGET_POINTS)
    print(f"\nrecommended: {expected.record.label} ({expected.reason})")
    space = {"sparsity": [0.0], "bits": [16, 8], "student_width": [1.0], "structured": [False], "rank_ratio": [1.0]}
    search = run_search("digits-cnn", trials=2, settings=SETTINGS, space=space, study_name="one-answer")
    assert search.recommendation.record.label == expected.record.label, search.recommendation.reason
    assert report_data("digits-cnn", settings=SETTINGS).chosen["label"] == expected.record.label
    sentence = recommendation_text(expected)
    home = AppTest.from_file(str(ROOT / "app.py"), default_timeout=240).run()  # Home: no sidebar, it measures nothing
    assert not home.exception
    assert sentence in " ".join(md.value for md in home.markdown)
    review = _page("pages/views/review.py")
    assert review.selectbox(key="review_point").value == expected.record.label
    assert sentence in " ".join(c.value for c in review.caption)
