"""Every page through Streamlit's AppTest: renders, widgets drive results, errors are sentences."""

import io
import re
import time
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from choice_checks import hand_made_choice
from ecocompress.service import jobs

ROOT = Path(__file__).resolve().parent.parent
APP = str(ROOT / "app.py")
TIMEOUT = 240


@pytest.fixture(autouse=True)
def eco_home(module_home):  # overrides conftest's per-test home for this module
    return module_home


def _app(page: str | None = None, *, fast: bool = False) -> AppTest:
    """The app on ``page``; ``fast``: two energy pairs within a second per point, from the first run on (the page
    measures its default point at once), which keeps the suite quick. The figures are still real readings."""
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    if fast:
        at.session_state["repeats"], at.session_state["energy_budget"] = 2, 1
    at.run()
    if page:
        at.switch_page(page)
        at.run()
    return at


def _shown(element) -> str:
    """An error's text as the user reads it (the page escapes Markdown so file names stay literal)."""
    return re.sub(r"\\(.)", r"\1", element.value)


def _x_title(chart) -> str:
    """A plotly chart's x-axis title as a reader sees it."""
    import json

    return json.loads(chart.proto.spec)["layout"]["xaxis"]["title"]["text"]


def _metrics(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def _finished(job):
    """Wait (bounded) for a background sweep or search job to end."""
    deadline = time.time() + TIMEOUT
    while job.active and time.time() < deadline:
        time.sleep(0.5)
    return job


def _ok(at: AppTest) -> None:
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]


def test_home_renders_without_exception():
    at = _app()
    _ok(at)
    assert at.title[0].value == "ecocompress"
    assert [m.value for m in at.markdown if m.value.startswith("**Step")][:3] == [
        "**Step 1.** Choose a model: a built-in sample or your own ONNX file.",
        "**Step 2.** Move the knobs: sparsity, bit-width, student size. Each setting is measured for real.",
        "**Step 3.** Review the savings at your scale and take away the report and the compressed model.",
    ]
    assert any("Nothing measured yet" in c.value for c in at.caption)


@pytest.fixture(scope="module")
def explore(module_home) -> AppTest:
    at = _app("pages/views/explore.py", fast=True)
    _ok(at)
    return at


def test_explore_starts_on_the_measured_baseline(explore):
    assert explore.subheader[0].value.startswith("fp32 baseline")
    options = explore.selectbox(key="model").options
    for sample in ("digits-cnn", "mnist-lenet300", "mnist-lenet5", "mnist-resnet18", "minilm-l6", "minilm-topics"):
        assert any(f"({sample})" in option for option in options), options
    metrics = _metrics(explore)
    for label in ("Accuracy (test set)", "Stored size (compressed)", "Size on disk (runnable ONNX)",
                  "Latency per inference", "Energy per 1,000 inferences", "CO2e per 1,000 inferences"):
        assert metrics[label], label
    assert metrics["Size on disk (runnable ONNX)"].endswith("kB")
    assert len(explore.get("plotly_chart")) == 1
    # st.badge renders as Markdown: the method CodeCarbon used is written beside the energy figure
    method = [md.value for md in explore.markdown if "CodeCarbon" in md.value]
    assert method and ("estimated by CodeCarbon" in method[0] or "measured by" in method[0]), method


@pytest.mark.parametrize(
    ("widget", "key", "value", "label"),
    [
        ("slider", "sparsity", 0.5, "50% sparse"),
        ("select_slider", "bits", 8, "8-bit"),
        ("select_slider", "student", 0.5, "student x0.5"),
        ("select_slider", "rank", 0.5, "rank 0.5"),
    ],
)
@pytest.mark.slow
def test_each_knob_changes_the_setting_and_the_result(explore, widget, key, value, label):
    before = _metrics(explore)
    default = explore.session_state[key]
    getattr(explore, widget)(key=key).set_value(value).run()
    _ok(explore)
    assert explore.subheader[0].value.startswith(label)
    after = _metrics(explore)
    assert after != before
    assert after["Stored size (compressed)"] != before["Stored size (compressed)"]
    # Going back is served from the store at once: no new run, the same figures, except that the baseline's energy
    # (and CO2e) is pooled over every run of the series, one more now (docs/design.md: one baseline per series).
    from ecocompress.service.store import ResultsStore

    runs = ResultsStore().count()
    getattr(explore, widget)(key=key).set_value(default).run()
    _ok(explore)
    assert ResultsStore().count() == runs
    pooled = ("Energy per 1,000 inferences", "CO2e per 1,000 inferences")
    assert {k: v for k, v in _metrics(explore).items() if k not in pooled} == {k: v for k, v in before.items() if k not in pooled}


@pytest.mark.slow  # reads what the (slow) knob test above measured
def test_each_new_setting_got_a_quick_first_answer_before_the_full_one(explore):
    """Measured in the knob test above: the post-training version first, then the fine-tuned point."""
    from ecocompress.service.store import ResultsStore

    labels = [r["label"] for r in ResultsStore().results("digits-cnn")]
    for quick, full in (("50% sparse, before fine-tuning", "50% sparse"),
                        ("student x0.5, after one short training epoch", "student x0.5")):
        assert labels.index(quick) < labels.index(full), labels


def test_explore_shows_what_changed_answer_by_answer(explore):
    explore.slider(key="sparsity").set_value(0.5).run()  # measured in the knob test: served from the store
    _ok(explore)
    assert any(s.value == "What changed: answers that flipped" for s in explore.subheader)
    assert any(m.value.startswith("Of 360 test examples: ") for m in explore.markdown)
    table = next(d.value for d in explore.dataframe if "change (points)" in d.value.columns)
    assert table["class"].tolist() == list(range(10)) and table["test examples"].sum() == 360
    explore.slider(key="sparsity").set_value(0.0).run()
    _ok(explore)
    assert not any(s.value == "What changed: answers that flipped" for s in explore.subheader)  # the baseline


def test_structured_toggle_changes_the_setting(explore):
    explore.slider(key="sparsity").set_value(0.5).run()
    explore.toggle(key="structured").set_value(True).run()
    _ok(explore)
    assert explore.subheader[0].value.startswith("50% structured sparse")
    explore.toggle(key="structured").set_value(False).run()
    explore.slider(key="sparsity").set_value(0.0).run()
    _ok(explore)


def test_axis_and_log_toggles_redraw_the_chart(explore):
    first = explore.get("plotly_chart")[0].proto.spec
    explore.radio(key="x_axis").set_value("size").run()
    second = explore.get("plotly_chart")[0].proto.spec
    assert "Stored size" in second and second != first
    explore.toggle(key="log_x").set_value(True).run()
    assert '"type":"log"' in explore.get("plotly_chart")[0].proto.spec.replace(" ", "")
    explore.radio(key="x_axis").set_value("energy").run()
    explore.toggle(key="log_x").set_value(False).run()


def test_home_then_shows_the_best_tradeoff(explore):
    explore.switch_page("pages/views/home.py").run()
    _ok(explore)
    assert "Energy per 1,000 inferences" in _metrics(explore)
    explore.switch_page("pages/views/explore.py").run()


def test_sweep_runs_in_the_background_and_compare_shows_it():
    at = _app("pages/views/sweep.py", fast=True)
    _ok(at)
    at.multiselect(key="sweep_sparsity").set_value([0.0]).run()
    at.multiselect(key="sweep_bits").set_value([32, 8]).run()
    assert any("2 settings" in i.value for i in at.info)
    at.button(key="start_sweep").click().run()
    _ok(at)
    job = _finished(jobs.get_job(at.session_state["sweep_job"], at.session_state["session_id"]))
    assert job.state == "finished" and len(job.done) == 2
    at.run()
    _ok(at)
    assert any("All 2 points measured" in s.value for s in at.success)
    assert len(at.get("plotly_chart")) == 1

    at.switch_page("pages/views/compare.py").run()
    _ok(at)
    assert len(at.get("plotly_chart")) == 1
    assert len(at.dataframe[0].value) >= 2
    assert at.get("download_button")


def test_review_projects_models_and_exports(module_home):
    from ecocompress.core.points import CompressionPoint
    from ecocompress.core.records import MeasureSettings
    from ecocompress.service.api import measure_point

    for point in (CompressionPoint(), CompressionPoint(bits=8)):  # what it reviews (served from the store if the
        measure_point("digits-cnn", point, MeasureSettings(repeats=2, energy_budget_s=1.0))  # tests above measured it)
    at = _app("pages/views/review.py")
    _ok(at)
    before = _metrics(at)
    assert {"Energy per year", "CO2e per year", "Electricity cost per year"} <= set(before)
    sci = next(label for label in before if label.startswith("SCI per inference"))  # the review's card
    assert before[sci].endswith("g CO2e") and before["Energy rating"][0] in "ABCDEFG"
    at.selectbox(key="functional_unit").set_value("requests").run()
    at.number_input(key="market_factor").set_value(120.0).run()
    _ok(at)
    assert any(label.startswith("SCI per 1,000 requests") for label in _metrics(at))
    table = next(d.value for d in at.dataframe if "figure" in d.value.columns)
    assert "Scope 2, market-based, per year (120 gCO2e/kWh, supplier-specific)" in set(table["figure"])
    assert "Review figures (JSON, SCI and GHG Protocol terms)" in [b.proto.label for b in at.get("download_button")]
    at.number_input(key="latency_target").set_value(0.001).run()  # 1 µs: no model answers a request that fast
    _ok(at)
    table = next(d.value for d in at.dataframe if "figure" in d.value.columns)
    fleet = table[table["figure"].str.startswith("Machines needed")].iloc[0]
    assert fleet["figure"].endswith("within 0.001 ms") and "misses the target" in fleet["chosen"]
    assert any("per year at your volume: At 10,000,000 inferences a day" in i.value for i in at.info)
    at.number_input(key="per_day").set_value(1_000_000_000).run()
    _ok(at)
    assert _metrics(at)["Energy per year"] != before["Energy per year"]  # the scale drives the projection
    assert any("per year at your volume: At 1,000,000,000 inferences a day" in i.value for i in at.info)
    at.selectbox(key="deploy_country").set_value("SWE").run()
    assert any("Sweden" in c.value for c in at.caption)
    assert "Sweden" in at.get("plotly_chart")[0].proto.spec  # region comparison chart

    measured_axis = _x_title(at.get("plotly_chart")[1])  # the spec is JSON: "µ" may arrive as \u00b5
    assert re.search(r"Energy per 1,000 inferences \((µ|m)Wh\)", measured_axis)  # one unit for the chart, by magnitude
    at.radio(key="energy_basis").set_value("modelled").run()
    _ok(at)
    modelled_axis = _x_title(at.get("plotly_chart")[1])
    assert "not measured" in modelled_axis and not re.search(r"Energy per 1,000 inferences \((µ|m)?Wh\)", modelled_axis)

    at.button(key="build_report").click().run()  # one click: the HTML and, where Chromium is, the PDF
    _ok(at)
    labels = [b.proto.label for b in at.get("download_button")]
    assert "Download the report" in labels and any(label.startswith("Compressed model (ONNX") for label in labels)
    from ecocompress.review.pdf import chromium

    if chromium() is not None:  # the PDF comes from Chromium's print-to-PDF (tested for content in test_report.py)
        assert "Download the report (PDF)" in labels

    at.text_input(key="currency").set_value("").run()  # bad input: one sentence, nothing lost
    assert not at.exception
    assert any(_shown(e).startswith("The 'currency' parameter must be") for e in at.error)


def test_review_without_points_says_what_to_do_and_can_measure_starters(tmp_path, monkeypatch):
    """The button measures the starter points (two here: the browser test measures the real three from Home)."""
    from ecocompress.core import points

    monkeypatch.setattr(points, "STARTER_POINTS", points.STARTER_POINTS[:2])
    monkeypatch.setenv("ECOCOMPRESS_HOME", str(tmp_path))
    at = _app("pages/views/review.py", fast=True)
    _ok(at)
    assert any("Explore" in i.value for i in at.info)
    at.button(key="measure_starters").click().run()
    _ok(at)
    assert {"Energy per year", "CO2e per year", "Electricity cost per year", "Energy rating"} <= set(_metrics(at))


@pytest.fixture(scope="module")
def tiny_upload(tmp_path_factory):
    """A small ONNX classifier (4 features, 3 classes) and 300 labeled rows as CSV."""
    import numpy as np
    import pandas as pd
    import torch
    from torch import nn

    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Linear(16, 3)).eval()
    path = tmp_path_factory.mktemp("upload") / "tiny.onnx"
    torch.onnx.export(model, (torch.zeros(2, 4),), str(path), input_names=["x"], external_data=False,
                      dynamic_shapes={"input": {0: torch.export.Dim("batch")}})
    x = np.random.default_rng(0).normal(size=(300, 4)).astype(np.float32)
    y = model(torch.from_numpy(x)).argmax(1).numpy()
    csv = pd.DataFrame(x, columns=list("abcd")).assign(label=y).to_csv(index=False).encode()
    return path.read_bytes(), csv


def _upload(at: AppTest, model: tuple, data: tuple) -> AppTest:
    at.file_uploader(key="upload_model").set_value(model)
    at.file_uploader(key="upload_data").set_value(data)
    at.run()
    return at.button(key="upload_add").click().run()


def test_upload_bad_files_are_one_sentence_and_keep_the_store(tiny_upload, module_home):
    from ecocompress.service.store import ResultsStore

    model, csv = tiny_upload
    before = ResultsStore().count()
    at = _app("pages/views/upload.py")
    _ok(at)
    import pandas as pd

    from bad_uploads import bad_data, bad_models

    frame = pd.read_csv(io.BytesIO(csv))
    good_model, good_data = ("tiny.onnx", model, "application/octet-stream"), ("d.csv", csv, "text/csv")
    cases = [((name, content, "application/octet-stream"), good_data, message)
             for name, content, message in bad_models(model) if not name.endswith(".pt")]  # the uploader takes .onnx only
    cases += [(good_model, (name, content, "text/csv"), message) for name, content, message in bad_data(frame, classes=3)]
    for model_file, data_file, message in cases:
        _upload(at, model_file, data_file)
        assert not at.exception
        assert [e for e in at.error if message in _shown(e)], (message, [_shown(e) for e in at.error])
    assert ResultsStore().count() == before


@pytest.mark.slow
def test_upload_adds_the_model_to_every_page(tiny_upload):
    model, csv = tiny_upload
    at = _app("pages/views/upload.py", fast=True)
    _upload(at, ("tiny.onnx", model, "application/octet-stream"), ("tiny.csv", csv, "text/csv"))
    _ok(at)
    assert any("Added" in s.value for s in at.success)
    assert any("not to be trusted" in w.value for w in at.warning)  # 210 training rows: the student warning
    name = at.session_state["uploaded"]
    assert at.session_state["model"] == name
    at.switch_page("pages/views/explore.py").run()
    _ok(at)
    assert any(f"({name})" in option for option in at.selectbox(key="model").options)
    assert at.subheader[0].value.startswith("fp32 baseline")  # measured, in onnxruntime, like a sample
    fresh = _app("pages/views/explore.py")  # another browser session does not see this upload
    assert not any(f"({name})" in option for option in fresh.selectbox(key="model").options)


def test_find_best_runs_a_search_and_highlights_the_recommendation():
    at = _app("pages/views/sweep.py", fast=True)
    at.number_input(key="search_trials").set_value(1).run()
    at.button(key="find_best").click().run()
    _ok(at)
    job = _finished(jobs.get_job(at.session_state["search_job"], at.session_state["session_id"]))
    assert job.state == "finished", job.error
    at.run()
    _ok(at)
    message = next(_shown(m) for m in [*at.success, *at.warning] if "Recommended" in m.value or "Closest" in m.value)
    assert job.recommendation.record.label in message and re.search(r"within [0-9.]+ points?\b", message), message
    assert any('"name":"recommended"' in c.proto.spec.replace(" ", "") for c in at.get("plotly_chart"))


def test_sweep_needs_a_value_for_every_knob():
    at = _app("pages/views/sweep.py")
    at.multiselect(key="sweep_bits").set_value([]).run()
    assert not at.exception
    assert any("at least one value" in _shown(e) for e in at.error)


def test_backend_error_shows_one_sentence_not_a_traceback(tmp_path, monkeypatch):
    monkeypatch.setenv("ECOCOMPRESS_DB", str(tmp_path))  # a folder cannot be opened as a database
    pages = ("explore", "sweep", "compare", "review")  # the upload page reads no stored result
    for page in (None, *(f"pages/views/{p}.py" for p in pages)):
        at = _app(page)
        assert not at.exception
        assert any(_shown(e).startswith("Cannot open the results database") for e in at.error), page


def _accuracy(at: AppTest) -> float:
    shown = next(value for label, value in _metrics(at).items() if "accuracy" in label.lower())
    return float(shown.rstrip("%"))


def test_two_sessions_uploading_one_model_with_other_data_keep_their_own_results(tiny_upload):
    """Session B uploads A's .onnx with other data: each session keeps its own model, data and accuracy."""
    import pandas as pd

    model, csv = tiny_upload
    frame = pd.read_csv(io.BytesIO(csv))
    shifted = frame.assign(label=(frame["label"] + 1) % 3).to_csv(index=False).encode()  # every label now wrong
    a, b = _app("pages/views/upload.py", fast=True), _app("pages/views/upload.py", fast=True)
    _upload(a, ("same.onnx", model, "application/octet-stream"), ("a.csv", csv, "text/csv"))
    _upload(b, ("same.onnx", model, "application/octet-stream"), ("b.csv", shifted, "text/csv"))
    name_a, name_b = a.session_state["model"], b.session_state["model"]
    assert name_a != name_b
    for at in (a, b):
        at.switch_page("pages/views/explore.py").run()
        _ok(at)
    assert _accuracy(a) > 90 and _accuracy(b) < 10
    assert not any(f"({name_a})" in option for option in b.selectbox(key="model").options)
    a.run()  # after B's upload and measurement, A still sees its own model and accuracy
    assert a.session_state["model"] == name_a and _accuracy(a) > 90


def test_explore_shows_where_the_energy_goes_per_layer(explore):
    explore.button(key="analyse_layers").click().run()
    _ok(explore)
    assert any("What each layer costs" in chart.proto.spec for chart in explore.get("plotly_chart"))
    table = next(d.value for d in explore.dataframe if "layer" in d.value.columns)
    assert list(table["layer"]) == ["features.0", "features.2", "classifier.1", "classifier.3"]


@pytest.mark.slow
def test_explore_per_layer_toggle_chooses_then_measures_a_per_layer_point(explore, fake_allocation):
    """The user path: toggle, choose (a choice made by hand, ``hand_made_choice``), then fine-tune and measure for real."""
    calls = fake_allocation(hand_made_choice("size", 2.0))
    explore.toggle(key="per_layer").set_value(True).run()
    _ok(explore)
    assert explore.slider(key="sparsity").disabled and explore.select_slider(key="bits").disabled
    explore.select_slider(key="per_layer_budget").set_value(2.0).run()
    assert any("have not been chosen for this model yet" in i.value for i in explore.info)
    explore.button(key="choose_per_layer").click().run()
    _ok(explore)
    assert any(_shown(c).startswith("Chosen per layer: features.0 ") for c in explore.caption)
    deadline = time.time() + TIMEOUT
    while not explore.subheader[0].value.startswith("per layer: ") and time.time() < deadline:
        time.sleep(1)
        explore.run()
    _ok(explore)
    assert explore.subheader[0].value.startswith("per layer: ")
    assert _metrics(explore)["Stored size (compressed)"]
    explore.toggle(key="per_layer").set_value(False).run()
    _ok(explore)
    assert not explore.subheader[0].value.startswith("per layer: ")
    assert calls == [("size", 2.0)]


def test_explore_per_layer_for_energy_keeps_fewer_channels_and_measures_them(explore, fake_allocation):
    """The energy aim: the choice says what each layer keeps, and the measured point is structurally smaller."""
    calls = fake_allocation(hand_made_choice("energy", 2.0))
    explore.toggle(key="per_layer").set_value(True).run()
    explore.radio(key="per_layer_objective").set_value("energy").run()
    explore.select_slider(key="per_layer_budget").set_value(2.0).run()
    _ok(explore)
    assert any("for the least energy within a 2-point budget" in i.value for i in explore.info)
    explore.button(key="choose_per_layer").click().run()
    _ok(explore)
    caption = next(_shown(c) for c in explore.caption if _shown(c).startswith("Chosen per layer: "))
    assert "of the multiply-accumulates" in caption
    deadline = time.time() + TIMEOUT
    while "structured" not in explore.subheader[0].value and time.time() < deadline:
        time.sleep(1)
        explore.run()
    _ok(explore)
    assert explore.subheader[0].value.startswith("per layer: ") and "structured" in explore.subheader[0].value
    assert calls == [("energy", 2.0)]


def test_the_per_layer_toggle_turns_off_for_a_model_that_cannot_take_it(explore, monkeypatch):
    """With the toggle on, a model without training code (an upload, the text model) shows its own knobs."""
    from ecocompress.models.registry import get_model

    spec = get_model("digits-cnn")
    monkeypatch.setattr(type(spec), "per_layer_allocation", False)
    explore.session_state["per_layer"] = True
    explore.run()
    _ok(explore)
    assert explore.session_state["per_layer"] is False and explore.toggle(key="per_layer").disabled
    assert not explore.slider(key="sparsity").disabled
