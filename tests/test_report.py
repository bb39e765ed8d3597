"""The report, the CSV and the exported artifacts, end to end through the CLI with real measurements."""

import base64
import json
import re

import numpy as np
import onnxruntime as ort
import pytest

from ecocompress.cli import main
from ecocompress.core.points import CompressionPoint
from ecocompress.core.records import NOT_ENOUGH, MeasureSettings
from ecocompress.models.registry import get_model
from ecocompress.review.projection import Scale, project
from ecocompress.review.tables import TABLE_SECTIONS
from ecocompress.review.report import METHODS
from ecocompress.service.api import lookup, measured_points
from ecocompress.service.store import ResultsStore

from pdf_text import pdf_pages, require_chromium


SETTINGS = MeasureSettings(repeats=2, energy_budget_s=1.0)  # what the report fixture's command measures with
FOOTPRINT_FLAGS = ["--functional-unit", "1000 requests", "--market-factor", "120"]  # the review's declarations


def _footprint_rows():
    """The review rows recomputed from the stored records, as every surface must show them."""
    from ecocompress.review.footprint import FootprintInputs, footprint, functional_unit, rows

    point, baseline = (lookup("digits-cnn", p, SETTINGS).to_dict() for p in (CompressionPoint(bits=8), CompressionPoint()))
    inputs = FootprintInputs(unit=functional_unit("1000 requests"), market_factor_g_per_kwh=120.0)
    return rows(footprint(point, baseline, Scale(), inputs))


@pytest.fixture(scope="module")
def home(module_home):
    return module_home


@pytest.fixture(autouse=True)
def eco_home(home):  # one store for the module: measure once, report several ways
    return home


@pytest.fixture(scope="module")
def report(home):
    out = home / "out"
    code = main(["report", "--model", "digits-cnn", "--bits", "8", "--repeats", "2", "--energy-budget", "1", "--out", str(out / "report.html"),
                 "--csv", str(out / "points.csv"), "--artifacts", str(out / "model"), *FOOTPRINT_FLAGS])
    assert code == 0
    return out


def test_report_holds_the_chart_the_point_and_the_methods(report):
    html = (report / "report.html").read_text()
    images = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', html)
    flipped = 'alt="flipped test examples' in html
    assert len(images) == 2 + flipped  # Pareto chart and region comparison (and the flipped examples, if any)
    assert "<h2>What changed: answers that flipped</h2><p>Of 360 test examples: " in html
    assert all(base64.b64decode(i).startswith(b"\x89PNG") for i in images)
    assert "chosen operating point <b>8-bit</b>" in html
    for figure, method in METHODS:
        assert method.split(";")[0].replace("'", "&#x27;") in html, figure
    assert "Modelled energy on target hardware (not measured)" in html
    assert "codecarbon" in html and "onnxruntime threads" in html  # environment
    assert "<script" not in html and "http://" not in html.replace("http://www.w3.org", "")  # offline


def test_the_report_shows_the_review_figures_the_cli_and_page_compute(report):
    import html as html_lib

    html = (report / "report.html").read_text()
    assert "For a sustainability review: SCI, Scope 2, embodied carbon, water, rating" in html
    for figure, base, point in _footprint_rows():  # the same strings, from the same records and declarations
        assert f"<td>{html_lib.escape(figure)}</td><td>{html_lib.escape(base)}</td><td>{html_lib.escape(point)}</td>" in html
    assert "Scope 2, market-based, per year (120 gCO2e/kWh, supplier-specific)" in html


def test_the_recommendation_box_comes_first_with_the_yearly_saving_at_the_users_volume(report):
    html = (report / "report.html").read_text()
    box = html[html.index("<div class='recommendation'>"):]
    box = box[:box.index("</div>")]
    assert html.index("<div class='recommendation'>") < html.index("<h2>Chosen point against")
    assert "Per year at your volume.</b> At 10,000,000 inferences a day" in box
    assert re.search(r"(saves|costs) [\d.,]+ [kMGmµ]?Wh a year \(95%: [\d.,]+ [kMGmµ]?Wh to [\d.,]+ [kMGmµ]?Wh\)", box) or \
        "no measurable change in energy" in box or f"{NOT_ENOUGH} for a yearly figure" in box, box  # 2 pairs: the last


def test_exported_onnx_reproduces_the_reported_accuracy(report):
    card = json.loads((report / "model" / "digits-cnn-8-bit.card.json").read_text())
    session = ort.InferenceSession(str(report / "model" / card["files"]["runnable"]))  # plain onnxruntime
    data = get_model("digits-cnn").dataset()
    logits = session.run(None, {card["input"]["name"]: data.x_test.astype(np.float32)})[0]
    accuracy = float((logits.argmax(1) == data.y_test).mean())
    assert accuracy == card["measured"]["accuracy"]
    assert f"{accuracy * 100:.2f}%" in (report / "report.html").read_text()
    assert (report / "model" / "digits-cnn-8-bit.ecz").stat().st_size == card["measured"]["storage_bytes"]
    assert "onnxruntime" in (report / "model" / "digits-cnn-8-bit.card.md").read_text()


def test_the_model_card_carries_the_rating_the_report_shows(report):
    card = json.loads((report / "model" / "digits-cnn-8-bit.card.json").read_text())
    shown = dict((figure, point) for figure, _, point in _footprint_rows())["Energy rating"]
    assert card["energy_rating"]["label"] == shown and card["energy_rating"]["rule"].startswith("ecocompress energy bands")
    assert f"| energy rating | {shown} (" in (report / "model" / "digits-cnn-8-bit.card.md").read_text()


def test_csv_has_every_point_with_units(report):
    lines = (report / "points.csv").read_text().splitlines()
    assert re.search(r"energy \((µ|m)?Wh / 1,000 inferences\)", lines[0])  # the unit of the whole table, named
    assert len(lines) == 1 + 2  # baseline and the 8-bit point


def test_project_json_matches_the_arithmetic(report, capsys):
    assert main(["project", "--model", "digits-cnn", "--bits", "8", "--repeats", "2", "--energy-budget", "1", "--country", "FRA",
                 "--inferences-per-day", "1e8", "--price", "0.2", "--pue", "1.2", "--functional-unit", "1000 requests",
                 "--market-factor", "120", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    records = {r["label"]: r for r in ResultsStore().results("digits-cnn")}
    assert "fp32 baseline" in records
    assert "8-bit" in records
    # the point's paired ratio x its series' pooled baseline: the figures every surface shows (test_one_number.py)
    point = lookup("digits-cnn", CompressionPoint(bits=8), SETTINGS)
    assert point.energy_wh_per_1k == pytest.approx(point.energy_ratio * point.baseline_energy_wh_per_1k)
    expected = project(point.baseline_energy_wh_per_1k, point.energy_wh_per_1k,
                       Scale(inferences_per_day=1e8, country="FRA", price_per_kwh=0.2, pue=1.2))
    assert out["projection"]["saved"]["kwh"] == pytest.approx(expected.saved.kwh)
    assert out["projection"]["grid"]["iso_code"] == "FRA"
    assert set(out["modelled_wh_per_1k"]) == {"dense_cpu", "int8_accelerator", "sparse_accelerator"}
    # SCI per 1,000 requests by hand from the record: (E x I + M) / R, E with PUE, I the location-based grid
    sci, grid = out["footprint"], out["projection"]["grid"]
    baseline = lookup("digits-cnn", CompressionPoint(), SETTINGS)
    e = point.energy_wh_per_1k * 1.2 / 1000  # kWh per 1,000 requests
    hw = sci["hardware"]
    m = (hw["embodied_kg"] * 1000 * baseline.latency_ms_per_item_large_batch * point.latency_ratio  # ms per inference
         / (hw["lifetime_years"] * 365 * 24 * 3600) / hw["cores"])  # x 1,000 inferences / 1,000 ms per s
    assert sci["R"]["inferences"] == 1000 and sci["point"]["I_g_per_kwh"] == grid["carbon_intensity_g_per_kwh"]
    assert sci["point"]["SCI_g_per_R"]["value"] == pytest.approx(e * grid["carbon_intensity_g_per_kwh"] + m)
    assert sci["point"]["SCI_g_per_R"]["low"] <= sci["point"]["SCI_g_per_R"]["value"] <= sci["point"]["SCI_g_per_R"]["high"]
    kwh_year = expected.point.kwh
    assert sci["point"]["scope2_location_based_kg_per_year"]["value"] == pytest.approx(expected.point.kg_co2e)
    assert sci["point"]["scope2_market_based_kg_per_year"]["value"] == pytest.approx(kwh_year * 120 / 1000)
    assert sci["scope2_market_factor"] == {"g_per_kwh": 120.0, "kind": "supplier-specific", "entered_by": "user"}
    assert sci["point"]["water_offsite_l_per_year"] is None  # no sourced figure for France: not available
    assert sci["point"]["rating"]["label"][0] in "ABCDEFG"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["report", "--model", "digits-cnn", "--out", "r.pdf"], "The 'out' parameter must be an .html file path"),
        (["project", "--model", "digits-cnn", "--pue", "9"], "The 'pue' parameter must be a power usage effectiveness"),
        (["project", "--model", "digits-cnn", "--inferences-per-day", "lots"], "The 'inferences_per_day' parameter must be"),
        (["project", "--model", "digits-cnn", "--cpu-power", "-5"], "The 'force_cpu_power_w' parameter must be"),
        (["project", "--model", "digits-cnn", "--functional-unit", "per fortnight"], "The 'functional_unit' parameter must be"),
        (["project", "--model", "digits-cnn", "--market-factor", "-3"], "The 'market_factor_g_per_kwh' parameter must be"),
        (["project", "--model", "digits-cnn", "--latency-target-ms", "0"], "The 'latency_target_ms' parameter must be"),
    ],
)
def test_bad_input_exits_2_and_keeps_the_store(report, capsys, argv, message):
    before = ResultsStore().count()
    assert main(argv) == 2
    assert message in capsys.readouterr().err
    assert ResultsStore().count() == before


def test_report_prints_to_an_a4_pdf_without_scientific_notation(report):
    from ecocompress.review.pdf import html_to_pdf

    html = (report / "report.html").read_text()
    text = re.sub(r"<[^>]+>", " ", re.sub(r'src="data:[^"]+"|<style>.*?</style>', "", html, flags=re.S))
    scientific = re.compile(r"(?<![0-9A-Za-z.])\d+(?:\.\d+)?e[+-]?\d+(?![0-9A-Za-z])")  # not inside hashes or hex
    assert not scientific.search(text), text[max(0, scientific.search(text).start() - 60):][:100]
    assert "table-layout:fixed" in html and "size:A4" in html  # tables wrap at A4 width when printed
    require_chromium()
    pdf = html_to_pdf(html)
    assert pdf.startswith(b"%PDF") and re.search(rb"/MediaBox \[0 0 59[45]\.\d+ 84[12]\.\d+\]", pdf)  # A4 in points
    pages = pdf_pages(pdf)
    assert 2 <= len(pages) <= 8, len(pages)  # the points table no longer runs over five pages of squeezed columns
    text = " ".join(pages)
    assert "Recommendation" in pages[0] and "Per year at your volume" in pages[0]  # the answer on the first page
    flat = " ".join(text.split())
    sci = _footprint_rows()[0]
    assert "SCI, CO2e per 1,000 requests" in flat and sci[2].split(" (")[0] in flat  # the report's PDF, same figure
    for title in TABLE_SECTIONS:
        assert title in text, title


def test_the_points_table_is_printed_in_sections_that_fit_a_page(report):
    """Every column of the table in exactly one section, none with more than 8 columns (A4 at 8 pt)."""
    from ecocompress.review.tables import TABLE_COLUMNS, points_frame, points_sections

    listed = [key for keys in TABLE_SECTIONS.values() for key in keys]
    assert sorted(listed) == sorted(set(TABLE_COLUMNS) - {"label"}), "a column is missing or in two sections"
    records = [m.to_dict() for m in measured_points("digits-cnn", SETTINGS)]
    sections = points_sections(records)
    assert [title for title, _ in sections] == list(TABLE_SECTIONS)
    whole = points_frame(records)
    for _, frame in sections:
        assert frame.columns[0] == "setting" and len(frame.columns) <= 8
        assert frame.equals(whole[frame.columns])  # the same figures as the CSV, split, not recomputed


def test_the_cli_writes_the_pdf_in_the_same_command(report, capsys):
    require_chromium()
    out = report / "with-pdf"
    code = main(["report", "--model", "digits-cnn", "--bits", "8", "--repeats", "2", "--energy-budget", "1",
                 "--out", str(out / "report.html"), "--pdf", str(out / "report.pdf")])
    assert code == 0 and (out / "report.pdf").read_bytes().startswith(b"%PDF") and (out / "report.html").is_file()
    assert "report as PDF:" in capsys.readouterr().out
    assert main(["report", "--model", "digits-cnn", "--out", str(out / "r.html"), "--pdf", str(out / "r.txt")]) == 2


def test_the_report_the_card_and_the_cli_show_the_same_rows_against_the_baseline(report, capsys):
    """One presenter (``review.comparison``): every figure, baseline and change reads the same on each surface."""
    from html import escape

    from ecocompress.cli.commands import format_measurement
    from ecocompress.review.comparison import comparison

    point = lookup("digits-cnn", CompressionPoint(bits=8), SETTINGS)
    html = (report / "report.html").read_text()
    card = (report / "model" / "digits-cnn-8-bit.card.md").read_text()
    cli = format_measurement(point)
    for row in comparison(point):
        for cell in (row.figure, row.value_with_interval, row.baseline, row.change):
            assert escape(cell, quote=False) in html and cell in card and cell in cli, (row.figure, cell)
