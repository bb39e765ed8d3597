"""Every page through Streamlit's AppTest: renders, widgets drive results, errors are sentences."""

from pathlib import Path

from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parent.parent
APP = str(ROOT / "app.py")
TIMEOUT = 180


def _app(page: str | None = None) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.run()
    if page:
        at.switch_page(page)
        at.run()
    return at


def _metric(at: AppTest, label: str) -> str:
    return next(m.value for m in at.metric if m.label == label)


def test_home_renders_without_exception():
    at = _app()
    assert not at.exception
    assert at.title[0].value == "ecocompress"
    assert any("Nothing measured yet" in i.value for i in at.info)


def test_explore_measures_and_bits_slider_changes_the_result():
    at = _app("pages/explore.py")
    at.number_input(key="repeats").set_value(1).run()
    assert not at.exception and not at.error
    assert at.subheader[0].value.startswith("fp32 baseline")
    base_size = _metric(at, "Size on disk")
    assert base_size.endswith("kB")
    assert len(at.get("plotly_chart")) == 1

    at.select_slider(key="bits").set_value(8).run()
    assert not at.exception and not at.error
    assert at.subheader[0].value.startswith("8-bit")
    assert _metric(at, "Size on disk") != base_size
    for label in ("Accuracy (test set)", "Latency per inference", "Energy per 1,000 inferences", "CO2e per 1,000 inferences"):
        assert _metric(at, label)
    # Two points measured now: the table lists both, and returning to 32 bits is served from the store.
    assert len(at.dataframe[0].value) == 2
    at.select_slider(key="bits").set_value(32).run()
    assert not at.status or all("Measuring" not in s.label for s in at.status)
    assert _metric(at, "Size on disk") == base_size

    # The home page now shows the best trade-off instead of the empty-state hint.
    at.switch_page("pages/home.py").run()
    assert not at.exception
    assert any(m.label == "Energy per 1,000 inferences" for m in at.metric)


def test_explore_axis_and_log_toggles_redraw_the_chart():
    at = _app("pages/explore.py")
    at.number_input(key="repeats").set_value(1).run()
    first = at.get("plotly_chart")[0].proto.spec
    at.radio(key="x_axis").set_value("size").run()
    second = at.get("plotly_chart")[0].proto.spec
    assert "Model size on disk" in second and second != first
    at.toggle(key="log_x").set_value(True).run()
    assert '"type":"log"' in at.get("plotly_chart")[0].proto.spec.replace(" ", "")


def test_backend_error_shows_one_sentence_not_a_traceback(tmp_path, monkeypatch):
    monkeypatch.setenv("ECOCOMPRESS_DB", str(tmp_path))  # a folder cannot be opened as a database
    for page in (None, "pages/explore.py"):
        at = _app(page)
        assert not at.exception
        assert any(e.value.startswith("Cannot open the results database") for e in at.error)
