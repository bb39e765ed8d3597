"""A server a workshop shares (issue 29): each test builds the hostile input itself.

No upload reads a server file (external data wherever the schema lets a tensor sit; children in empty
private folders), no session sees or starves another (ownership, round-robin, per-session shares), limits
compose with the environment's, settings are validated, and parsing and CLI paths are bounded.
"""

from __future__ import annotations

import io
import json
import os
import re
import sqlite3
import subprocess
import sys
import threading
import time
import zipfile
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from bad_uploads import MARKER, classifier_around
from test_queue import gate as _gate
from test_queue import picked_up as _running
from ecocompress.core.errors import EcoCompressError, MeasurementError, ServerBusyError
from ecocompress.models.uploads import UploadError, load_upload, read_labeled, read_onnx
from ecocompress.models.uploads.onnx_file import _repeated

ROOT = Path(__file__).resolve().parent.parent
LINK = "[x](evil.example)![i](evil.example?i.png)"  # Markdown a hostile file or node name carries (no "/": names are base names)


def _bias(value: float = 0.0) -> bytes:
    return classifier_around([], [helper.make_tensor("bias", TensorProto.FLOAT, [3], [value] * 3)])


def _csv(rows: int = 40, classes: int = 3) -> bytes:
    body = "\n".join(f"{i % 5},{i % 7},{i % 3},{i % 2},{i % classes}" for i in range(rows))
    return ("a,b,c,d,label\n" + body).encode()


def _unescaped_markdown(text: str) -> bool:
    """A link or image that a Markdown renderer would draw (escaped text has a backslash before ``]`` and ``(``)."""
    return re.search(r"(?<!\\)\]\(", text) is not None


# ---- 1. no upload reads a file of the server -----------------------------------------------------------------------

def _tensor_places() -> list[tuple[str, ...]]:
    """Every path of fields from ModelProto to a TensorProto field, read from onnx's descriptors here (not from the
    code under test); each (message, field) at most once per path, so the recursion through subgraphs ends."""
    tensor = TensorProto.DESCRIPTOR.full_name
    places: list[tuple[str, ...]] = []

    def walk(descriptor, path: tuple[str, ...], used: frozenset) -> None:
        for field in descriptor.fields:
            step = (descriptor.full_name, field.name)
            if field.message_type is None or step in used:
                continue
            if field.message_type.full_name == tensor:
                places.append((*path, field.name))
            else:
                walk(field.message_type, (*path, field.name), used | {step})

    walk(onnx.ModelProto.DESCRIPTOR, (), frozenset())
    return places


def _model_with_external_tensor(place: tuple[str, ...]) -> bytes:
    model = onnx.ModelProto(ir_version=8, opset_import=[helper.make_opsetid("", 18)])
    message = model
    for name in place:
        container = getattr(message, name)
        if _repeated(message.DESCRIPTOR.fields_by_name[name]):
            message = container.add()
        else:
            container.SetInParent()
            message = container
    message.data_type, message.data_location = TensorProto.FLOAT, TensorProto.EXTERNAL
    message.dims.append(4)
    message.external_data.add(key="location", value=MARKER)
    return model.SerializeToString()


def test_external_data_is_refused_wherever_the_schema_lets_a_tensor_sit():
    places = _tensor_places()
    dotted = {".".join(p) for p in places}
    # the places the red team used and the ones a hand-written walk missed are among them
    assert {"functions.attribute_proto.t", "training_info.initialization.initializer", "graph.initializer",
            "graph.node.attribute.g.initializer", "graph.sparse_initializer.values"} <= dotted
    missed = []
    for place in places:
        try:
            read_onnx(_model_with_external_tensor(place), "place.onnx")
        except UploadError as exc:
            if "keeps its weights in a separate file" in str(exc):
                continue
        missed.append(".".join(place))
    assert not missed, f"{len(missed)} of {len(places)} places not refused: {missed[:10]}"


def _where_am_i(progress=None) -> tuple[str, list[str], list[str]]:
    """The child's folder, what is in it, and every file it holds open (for the tests below)."""
    fds = "/proc/self/fd"
    held = []
    for fd in os.listdir(fds):
        try:
            held.append(os.readlink(f"{fds}/{fd}"))
        except OSError:
            pass
    return os.getcwd(), sorted(os.listdir(".")), held


def test_limited_children_start_in_an_empty_private_folder_holding_no_server_file(tmp_path, monkeypatch):
    from ecocompress.sandbox.limits import Limits, Worker, call_with_limits

    (tmp_path / MARKER).write_bytes(b"TOP-SECRET")
    monkeypatch.chdir(tmp_path)  # the server's folder, where a relative external-data path would point
    secret = open(tmp_path / MARKER, "rb")  # a file the server holds open while the child runs
    worker = Worker(2000)
    try:
        for folder, listing, held in (
            call_with_limits(_where_am_i, limits=Limits(1500, 30, 60), what="check"),
            worker.call(_where_am_i, limits=Limits(2000, 30, 60), what="job"),
        ):
            assert Path(folder).resolve() != tmp_path.resolve() and listing == []
            assert not [path for path in held if MARKER in path or path.startswith(str(tmp_path))], held
    finally:
        worker.close()
        secret.close()


# ---- 2. sessions never see into each other ----------------------------------------------------------------------

APP = str(ROOT / "app.py")


def _sweep_page():
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(APP, default_timeout=120)
    at.run()
    at.switch_page("pages/views/sweep.py").run()
    assert not at.exception, at.exception
    return at


@pytest.fixture
def held_sweeps(monkeypatch):
    """Sweeps that run until the test releases them (or fail with ``failure``), so sessions can be tried on them."""
    from ecocompress.service import jobs

    release, failure = threading.Event(), []

    def sweep(model, points, settings=None, *, progress=None, should_stop=lambda: False, session="cli"):
        progress(0, len(points), points[0], "measuring (held by the test)")
        while not release.wait(0.02) and not should_stop():
            pass
        if failure:
            raise failure[0]
        yield from ()

    monkeypatch.setattr(jobs, "run_sweep", sweep)
    yield release, failure
    release.set()


def test_a_session_cannot_see_follow_or_stop_another_sessions_sweep(held_sweeps):
    from ecocompress.service import jobs

    release, _ = held_sweeps
    a = _sweep_page()
    a.button(key="start_sweep").click().run()
    mine = a.session_state["sweep_job"]
    job = jobs.get_job(mine, a.session_state["session_id"])
    assert job is not None and job.active
    assert any(b.key == f"stop_{mine}" for b in a.button)  # its owner sees it and can stop it

    b = _sweep_page()
    page = " ".join(str(e.value) for e in [*b.caption, *b.markdown, *b.subheader, *b.info, *b.text])
    assert mine not in page and not [s for s in b.selectbox if s.key == "follow_job"]
    b.session_state["sweep_job"] = mine  # B names A's job outright
    b.run()
    assert not b.exception
    assert not [x for x in b.button if x.key == f"stop_{mine}"] and not b.get("plotly_chart")
    assert jobs.get_job(mine, b.session_state["session_id"]) is None
    assert jobs.list_jobs(b.session_state["session_id"]) == []
    assert job.active  # nothing B did touched it
    release.set()


@pytest.mark.parametrize(
    ("failure", "shown"),
    [(MeasurementError(f"node {LINK} failed"), LINK),  # ours: shown whole, as the characters it is
     (RuntimeError(f"[ONNXRuntimeError] node {LINK} failed"), "RuntimeError")],  # a library's: its kind only
    ids=["ecocompress error", "library error"],
)
def test_a_failed_jobs_text_is_shown_as_text(held_sweeps, failure, shown):
    from ecocompress.service import jobs

    release, failures = held_sweeps
    failures.append(failure)
    a = _sweep_page()
    a.button(key="start_sweep").click().run()
    release.set()
    job = jobs.get_job(a.session_state["sweep_job"], a.session_state["session_id"])
    deadline = time.time() + 30
    while job.active and time.time() < deadline:
        time.sleep(0.05)
    a.run()
    errors = [re.sub(r"\\(.)", r"\1", e.value) for e in a.error if "It stopped" in e.value]
    assert errors and shown in errors[0], errors
    assert isinstance(failure, EcoCompressError) or "evil.example" not in errors[0]
    assert not any(_unescaped_markdown(e.value) for e in a.error)


@pytest.mark.slow
def test_an_uploads_title_is_text_on_every_page():
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(APP, default_timeout=240)
    at.session_state["repeats"], at.session_state["energy_budget"] = 2, 1
    at.run()
    at.switch_page("pages/views/upload.py").run()
    at.file_uploader(key="upload_model").set_value((f"{LINK}.onnx", _bias(), "application/octet-stream"))
    at.file_uploader(key="upload_data").set_value(("d.csv", _csv(60), "text/csv"))
    at.run()
    at.button(key="upload_add").click().run()
    assert not at.exception and any("Added" in s.value for s in at.success), [e.value for e in at.error]
    at.switch_page("pages/views/review.py").run()
    at.button(key="measure_starters").click().run()  # real points, so every page has the upload's figures to show
    assert not at.exception and not at.error, [e.value for e in at.error]
    for page in ("review", "explore", "sweep", "compare", "upload"):
        at.switch_page(f"pages/views/{page}.py").run()
        assert not at.exception, (page, at.exception)
        shown = [str(e.value) for kind in ("markdown", "caption", "error", "warning", "info", "success", "subheader")
                 for e in getattr(at, kind)]
        assert not [t for t in shown if _unescaped_markdown(t)], (page, [t for t in shown if _unescaped_markdown(t)])
    at.switch_page("pages/views/review.py").run()
    assert any(LINK in re.sub(r"\\(.)", r"\1", c.value) for c in at.caption)  # Review names the base model, as text


# ---- 3. no session starves another ------------------------------------------------------------------------------

def test_the_queue_takes_turns_between_sessions():
    from ecocompress.service.compute_queue import ComputeQueue

    q = ComputeQueue()
    release, blocker = _gate()
    _running(q.submit("gate", "gate", blocker, session="x"))
    started = []

    def job(name):
        return lambda progress: started.append(name)

    a = [q.submit(f"a{i}", f"a{i}", job(f"a{i}"), session="alice") for i in range(3)]
    b = q.submit("b0", "b0", job("b0"), session="bob")
    assert b.position() == 2 and [t.position() for t in a] == [1, 3, 4]
    release.set()
    for ticket in [*a, b]:
        ticket.result()
    assert started == ["a0", "b0", "a1", "a2"]


def test_a_job_several_sessions_wait_for_takes_the_turn_of_the_most_patient():
    from ecocompress.service.compute_queue import ComputeQueue

    q = ComputeQueue()
    release, blocker = _gate()
    _running(q.submit("gate", "gate", blocker, session="x"))
    a1, a2 = (q.submit(k, k, lambda p: 1, session="alice") for k in ("a1", "a2"))
    b1 = q.submit("b1", "b1", lambda p: 1, session="bob")
    assert [a1.position(), b1.position(), a2.position()] == [1, 2, 3]
    q.submit("a2", "a2", lambda p: 1, session="carol")  # carol wants alice's second point too, and has had no turn
    assert [a1.position(), a2.position(), b1.position()] == [1, 2, 3]
    release.set()


def test_running_work_counts_toward_a_sessions_cap():
    from ecocompress.service.compute_queue import ComputeQueue

    q = ComputeQueue(max_per_session=2)
    release, blocker = _gate()
    _running(q.submit("mine-running", "running", blocker, session="alice"))
    q.submit("mine-queued", "queued", lambda p: 1, session="alice")
    with pytest.raises(ServerBusyError, match="You already have 2 measurements waiting or running"):
        q.submit("one-more", "one more", lambda p: 1, session="alice")
    q.submit("bobs", "bob's", lambda p: 1, session="bob").cancel()  # another session is not counted with alice
    release.set()


def test_background_work_waits_for_room_instead_of_failing():
    """A session's sweep or search at the session's cap waits for one of its jobs to end (never refused)."""
    from ecocompress.service.compute_queue import ComputeQueue

    q = ComputeQueue(max_per_session=1)
    release, blocker = _gate()
    _running(q.submit("mine", "running", blocker, session="alice"))
    later = []
    waiter = threading.Thread(target=lambda: later.append(q.run("next", "next", lambda p: "ran", session="alice",
                                                                wait_for_room=True)))
    waiter.start()
    time.sleep(0.3)
    assert waiter.is_alive() and not later  # waiting for room, not refused
    release.set()
    waiter.join(10)
    assert later == ["ran"]


def test_a_sessions_sweep_and_search_wait_their_turn_behind_another_sessions_point(monkeypatch, fast_settings):
    """Alice has a sweep and a search running and asks Explore for a point; Bob asks for one point. Bob's runs
    before Alice's Explore point, and Alice's fourth request is refused: her sweep and search count."""
    from ecocompress.core.points import CompressionPoint
    from ecocompress.service import api, jobs
    from ecocompress.service.compute_queue import compute_queue

    started, release = [], threading.Event()

    def held_job(spec, point, settings, store, fresh, *, first_answer=False, owner="cli"):
        def work(progress):
            started.append((owner, point.label()))
            release.wait(30)
            raise MeasurementError("held by the test")
        return work

    monkeypatch.setattr(api, "_job", held_job)
    queue = compute_queue()
    gate, blocker = _gate()
    _running(queue.submit("gate-for-turns", "gate", blocker, session="someone"))
    sweep = jobs.start_sweep("digits-cnn", [CompressionPoint(sparsity=0.5)], fast_settings, session="alice")
    search = jobs.start_search("digits-cnn", 2, 1.0, "energy", fast_settings, session="alice")  # its first trial: 8-bit
    deadline = time.time() + 30
    while time.time() < deadline:
        with queue._lock:
            if queue.jobs_of("alice") >= 2:
                break
        time.sleep(0.02)
    alice = api.request_point("digits-cnn", CompressionPoint(bits=16), fast_settings, session="alice")
    bob = api.request_point("digits-cnn", CompressionPoint(bits=6), fast_settings, session="bob")
    with pytest.raises(ServerBusyError):
        api.request_point("digits-cnn", CompressionPoint(bits=4), fast_settings, session="alice")
    assert bob.position() < alice.position()
    gate.set()
    release.set()
    for ticket in (alice, bob):
        with pytest.raises(EcoCompressError):
            ticket.result()
    order = [owner for owner, _ in started]
    assert order.index("bob") < [i for i, (owner, label) in enumerate(started) if label == "16-bit"][0], started
    assert order[:2] == ["alice", "bob"], started
    for job in (sweep, search):
        deadline = time.time() + 30
        while job.active and time.time() < deadline:
            time.sleep(0.05)


def test_a_search_stops_after_repeated_limit_failures(monkeypatch, fast_settings):
    from ecocompress.sandbox.limits import LimitExceeded
    from ecocompress.service import api
    from ecocompress.service.search import MAX_LIMIT_FAILURES, run_search

    calls = []

    def over_the_limit(*args, **kwargs):
        calls.append(1)
        raise LimitExceeded("The job for this point went over its limits and was stopped.")

    monkeypatch.setattr(api, "measure_point", over_the_limit)
    with pytest.raises(LimitExceeded, match=f"stopped: {MAX_LIMIT_FAILURES} trials in a row went over the job limits"):
        run_search("digits-cnn", trials=12, settings=fast_settings, study_name="limits")
    assert len(calls) == MAX_LIMIT_FAILURES


def test_upload_checks_share_a_bounded_pool(monkeypatch):
    from ecocompress.sandbox.limits import CHECKS

    monkeypatch.setenv("ECOCOMPRESS_CHECK_CONCURRENCY", "1")
    monkeypatch.setenv("ECOCOMPRESS_CHECK_WALL_S", "2")
    heard = []
    with CHECKS.slot(1000, wait_s=5):  # another session's check holds the only slot
        started = time.monotonic()
        with pytest.raises(ServerBusyError, match="checking 1 other uploads"):
            load_upload(_bias(), "m.onnx", _csv(), "d.csv", register=False, on_wait=heard.append)
        assert time.monotonic() - started < 10
    assert heard and "Waiting for a free upload check" in heard[0]
    monkeypatch.setenv("ECOCOMPRESS_CHECK_CONCURRENCY", "4")
    monkeypatch.setenv("ECOCOMPRESS_CHECKS_MEMORY_MB", "2500")
    monkeypatch.setenv("ECOCOMPRESS_CHECK_MEMORY_MB", "1500")
    with CHECKS.slot(1500, wait_s=5):  # four slots, but the memory of two checks does not fit the total
        with pytest.raises(ServerBusyError):
            load_upload(_bias(), "m.onnx", _csv(), "d.csv", register=False)
    assert load_upload(_bias(), "m.onnx", _csv(), "d.csv", register=False).info.classes == 3  # and free again


def test_a_session_holds_uploads_within_its_share(monkeypatch):
    first = load_upload(_bias(0.0), "a.onnx", _csv(), "a.csv", session="tab-1")
    monkeypatch.setenv("ECOCOMPRESS_SESSION_UPLOADS_MB", str(first.held_bytes * 1.5 / 1e6))
    with pytest.raises(UploadError.__mro__[1], match="one session may hold"):
        load_upload(_bias(1.0), "b.onnx", _csv(), "b.csv", session="tab-1")
    other = load_upload(_bias(1.0), "b.onnx", _csv(), "b.csv", session="tab-2")  # another session still can
    assert other.name != first.name


def test_a_zero_filled_npz_is_refused_before_it_is_held():
    buffer = io.BytesIO()
    np.savez_compressed(buffer, x=np.zeros((20_000, 4), np.float32), y=np.zeros(20_000, np.int64))
    data = buffer.getvalue()
    assert len(data) < 20_000  # a few kB on the wire, 480 kB in memory
    with pytest.raises(UploadError, match="more than 100 times its size"):
        load_upload(_bias(), "m.onnx", data, "zeros.npz", session="tab")


# ---- 4. limits that compose with the environment's; settings validated once ------------------------------------

def _mlp_upload(folder: Path) -> tuple[Path, Path]:
    """A two-layer MLP (MatMul, Relu, MatMul) as ONNX and a CSV of 300 labelled rows."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, 8)).astype(np.float32)
    w1, w2 = rng.normal(size=(8, 16)).astype(np.float32), rng.normal(size=(16, 3)).astype(np.float32)
    y = (np.maximum(x @ w1, 0) @ w2).argmax(1)
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w1"], ["h"]), helper.make_node("Relu", ["h"], ["r"]),
         helper.make_node("MatMul", ["r", "w2"], ["scores"])], "mlp",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 8])],
        [helper.make_tensor_value_info("scores", TensorProto.FLOAT, ["n", 3])],
        [helper.make_tensor("w1", TensorProto.FLOAT, [8, 16], w1.ravel()),
         helper.make_tensor("w2", TensorProto.FLOAT, [16, 3], w2.ravel())])
    model = folder / "mlp.onnx"
    model.write_bytes(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)]).SerializeToString())
    data = folder / "mlp.csv"
    rows = "\n".join(",".join(f"{v:.5f}" for v in row) + f",{label}" for row, label in zip(x, y))
    data.write_text(",".join(f"f{i}" for i in range(8)) + ",label\n" + rows)
    return model, data


@pytest.mark.slow
def test_a_point_is_measured_under_an_inherited_address_space_limit(tmp_path):
    """The issue's check: `ulimit -v 4000000; ecocompress run --model mlp.onnx --data mlp.csv --json`."""
    model, data = _mlp_upload(tmp_path)
    command = (f"ulimit -v 4000000; exec {sys.executable} -m ecocompress.cli run --model {model} --data {data} "
               "--bits 8 --repeats 2 --energy-budget 1 --json")
    done = subprocess.run(["bash", "-c", command], capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    record = json.loads(done.stdout)
    assert record["bits"] == 8 and record["energy_wh_per_1k"] > 0 and record["energy_pairs"] >= 2


HOG = """
import sys
from ecocompress.sandbox.limits import LimitExceeded, Limits, Worker
def hog(progress=None):
    blocks = []
    while True:
        blocks.append(bytearray(100_000_000))
worker = Worker(6000)
try:
    worker.call(hog, limits=Limits.for_jobs(), what="The job")
except LimitExceeded as exc:
    print(exc)
finally:
    worker.close()
"""


def test_a_job_over_an_inherited_limit_names_it(tmp_path):
    script = tmp_path / "hog.py"
    script.write_text(HOG)
    done = subprocess.run(["bash", "-c", f"ulimit -v 2500000; exec {sys.executable} {script}"], capture_output=True,
                          text=True, timeout=300, cwd=tmp_path)
    assert "the limit this server inherited from its environment (ulimit -v" in done.stdout, (done.stdout, done.stderr)
    assert "ECOCOMPRESS_JOB_MEMORY_MB asks for 6,000 MB" in done.stdout


@pytest.mark.parametrize(
    ("variable", "value"),
    [("ECOCOMPRESS_CHECK_MEMORY_MB", "nan"), ("ECOCOMPRESS_JOB_WALL_S", "inf"), ("ECOCOMPRESS_MAX_UPLOAD_MB", "-5"),
     ("ECOCOMPRESS_MAX_JOBS_PER_SESSION", "two"), ("ECOCOMPRESS_ENERGY_PAIRS", "2.5"), ("ECOCOMPRESS_STARTERS", "maybe"),
     ("ECOCOMPRESS_HOME", " ")],
)
def test_a_bad_setting_stops_the_cli_with_one_sentence(variable, value, capsys, monkeypatch):
    from ecocompress.cli import main
    from ecocompress.core.settings import specs

    monkeypatch.setenv(variable, value)
    assert main(["models"]) == 2
    message = capsys.readouterr().err.strip()
    assert message.startswith(f"ecocompress: {variable} must be ") and "\n" not in message
    assert specs()[variable][1].range_text() in message


def test_a_bad_setting_stops_the_app_with_one_sentence(monkeypatch):
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("ECOCOMPRESS_MAX_RSS_MB", "nan")
    at = AppTest.from_file(APP, default_timeout=60).run()
    assert not at.exception
    assert [e.value for e in at.error] and "ECOCOMPRESS\\_MAX\\_RSS\\_MB must be a number" in at.error[0].value


def test_the_limits_page_lists_every_setting_with_its_range():
    from ecocompress.core.settings import markdown_table

    limits = (ROOT / "docs" / "limits.md").read_text()
    assert markdown_table() in limits, "run `python -m ecocompress.core.settings` and paste its table into docs/limits.md"
    assert "docs/limits.md" in (ROOT / "README.md").read_text()  # the README points there


def test_the_pages_the_cli_and_the_api_measure_with_the_same_defaults(monkeypatch):
    """ECOCOMPRESS_ENERGY_BUDGET_S and _PAIRS set where every entry point starts: a point asked for without settings
    lands in the series the pages' sidebar shows by default."""
    from ecocompress.cli import build_parser
    from ecocompress.cli.arguments import measure_settings
    from ecocompress.core.points import CompressionPoint
    from ecocompress.core.records import MeasureSettings
    from ecocompress.core.settings import measure_defaults
    from ecocompress.service import api

    monkeypatch.setenv("ECOCOMPRESS_ENERGY_BUDGET_S", "7")
    monkeypatch.setenv("ECOCOMPRESS_ENERGY_PAIRS", "3")
    expected = MeasureSettings(repeats=3, energy_budget_s=7.0)
    assert measure_defaults() == expected
    assert measure_settings(build_parser().parse_args(["run", "--model", "digits-cnn"])) == expected
    asked = []
    monkeypatch.setattr(api, "cache_key", lambda spec, point, settings: asked.append(settings) or ("", "", "", ""))
    api.lookup("digits-cnn", CompressionPoint())
    assert asked == [expected]


def test_only_the_settings_module_reads_settings_from_the_environment():
    offenders = []
    for path in [*(ROOT / "compression").rglob("*.py"), *(ROOT / "pages").rglob("*.py"), ROOT / "app.py"]:
        if path.name == "settings.py":
            continue
        if re.search(r"environ(\.get)?\(?\[?[\"']ECOCOMPRESS_|getenv\([\"']ECOCOMPRESS_", path.read_text()):
            offenders.append(str(path.relative_to(ROOT)))
    assert not offenders


# ---- 5. parsing limits that cannot be walked around; the CLI's own paths ----------------------------------------

def test_csv_rows_are_counted_the_way_the_parser_splits_them(monkeypatch):
    monkeypatch.setenv("ECOCOMPRESS_MAX_CSV_CELLS", "1000")
    rows = "\r".join(",".join(["1"] * 5) for _ in range(5_000))  # old Mac line endings: 5,000 rows, not 1
    with pytest.raises(UploadError, match="has about 5,001 rows x 5 columns; the limit is 1,000 values"):
        read_labeled(("a,b,c,d,label\n" + rows).encode(), "cr.csv")


def test_an_npz_with_two_arrays_of_one_name_is_refused():
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, array in (("x.npy", np.ones((2, 4), np.float32)), ("x", np.ones((50_000, 4), np.float32)),
                            ("y.npy", np.zeros(2, np.int64))):
            member = io.BytesIO()
            np.lib.format.write_array(member, array)
            archive.writestr(name, member.getvalue())
    with pytest.raises(UploadError, match="holds two arrays named 'x'"):
        read_labeled(buffer.getvalue(), "twins.npz")


def _with_input(dims: list) -> bytes:
    graph = helper.make_graph([helper.make_node("Identity", ["x"], ["scores"])], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, dims)],
                              [helper.make_tensor_value_info("scores", TensorProto.FLOAT, ["n", 3])])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)]).SerializeToString()


@pytest.mark.parametrize(("dims", "message"), [(["n", *[2] * 69], "has 70 dimensions"),
                                               (["n", 2**62 + 1, 4], "numbers"),
                                               (["n", 2**31, 2**31, 2**31], "numbers")])
def test_huge_or_deep_inputs_are_one_sentence(dims, message):
    with pytest.raises(UploadError, match=message) as caught:
        read_onnx(_with_input(dims), "deep.onnx")
    assert len(str(caught.value)) < 400


def _nan_scores() -> bytes:
    """A classifier whose scores are 0 x log(-1): NaN for every input."""
    return classifier_around([helper.make_node("Log", ["minus"], ["nan"]), helper.make_node("Mul", ["zero", "nan"], ["bias"])],
                             [helper.make_tensor("minus", TensorProto.FLOAT, [3], [-1.0] * 3),
                              helper.make_tensor("zero", TensorProto.FLOAT, [3], [0.0] * 3)])


def test_a_model_that_outputs_nan_is_refused_at_the_check():
    with pytest.raises(UploadError, match="returned NaN or infinite class scores"):
        load_upload(_nan_scores(), "nan.onnx", _csv(), "d.csv", register=False)


def test_non_finite_scores_found_later_stop_the_measurement():
    from ecocompress.measure.session import accuracy_of

    scores = np.zeros((5, 3), np.float32)
    scores[3, 1] = np.inf
    with pytest.raises(MeasurementError, match="NaN or infinite scores for 1 of 5 test examples"):
        accuracy_of(scores, np.zeros(5, np.int64))


@pytest.mark.parametrize("header", ["c" * 10_000_000 + ",d", ",".join(f"column-{i:07d}" for i in range(700_000))],
                         ids=["one 10 MB column name", "700,000 columns"])
def test_a_ten_megabyte_csv_header_is_a_short_sentence(header):
    columns = header.count(",") + 1
    with pytest.raises(UploadError) as caught:  # no label column: the message lists some of the columns
        read_labeled((header + "\n" + ",".join(["1"] * columns) + "\n").encode(), "wide.csv")
    assert "has no 'label' column" in str(caught.value) and len(str(caught.value)) < 600


def test_cli_inputs_must_be_regular_files(tmp_path, capsys):
    from ecocompress.cli import main

    model = tmp_path / "m.onnx"
    model.write_bytes(_bias())
    fifo = tmp_path / "fifo.csv"
    os.mkfifo(fifo)
    loop = tmp_path / "loop.csv"
    loop.symlink_to(loop)
    for data, message in (("/dev/zero", "is not a regular file"), (str(fifo), "is not a regular file"),
                          (str(loop), "Cannot read the data file")):
        started = time.monotonic()
        assert main(["run", "--model", str(model), "--data", data]) == 2
        err = capsys.readouterr().err
        assert message in err and "Traceback" not in err and err.count("\n") == 1, err
        assert time.monotonic() - started < 30


def test_cli_outputs_never_follow_a_planted_link(tmp_path, capsys):
    from ecocompress.cli import main
    from ecocompress.core.files import copy_file, write_file

    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    link = tmp_path / "report.html"
    link.symlink_to(victim)
    assert main(["report", "--model", "digits-cnn", "--out", str(link)]) == 2
    assert "is a symbolic link" in capsys.readouterr().err and victim.read_text() == "precious"
    loop = tmp_path / "loop.html"
    loop.symlink_to(loop)
    assert main(["report", "--model", "digits-cnn", "--out", str(loop)]) == 2
    assert "Traceback" not in capsys.readouterr().err
    # a link planted after the check (between check and write) is replaced, never written through
    artifact = tmp_path / "digits-cnn-8-bit.onnx"
    artifact.symlink_to(victim)
    source = tmp_path / "source.onnx"
    source.write_bytes(b"onnx bytes")
    copy_file(source, artifact)
    write_file(link, "<html>")
    assert victim.read_text() == "precious"
    assert artifact.read_bytes() == b"onnx bytes" and not artifact.is_symlink() and not link.is_symlink()


def test_a_damaged_store_is_one_sentence_and_keeps_what_decodes(tmp_path, monkeypatch, capsys):
    from ecocompress.cli import main
    from ecocompress.core.errors import StoreError
    from ecocompress.service.store import ResultsStore

    store = ResultsStore(tmp_path / "good.sqlite")
    for i, result in enumerate(('{"label": "kept"}', "{not json", '"a string"')):
        store.put(model="m", model_hash="h", point_key=f"p{i}", settings_key="s", code_version="c",
                  result={"label": "placeholder"}, provenance={})
        with sqlite3.connect(store.path) as conn:
            conn.execute("UPDATE points SET result_json=? WHERE point_key=?", (result, f"p{i}"))
    assert [r["label"] for r in store.results("m")] == ["kept"] and store.skipped_rows == 2
    assert store.get("h", "p1", "s", "c") is None

    garbage = tmp_path / "garbage.sqlite"
    garbage.write_bytes(b"this is not a database" * 100)
    half = tmp_path / "half.sqlite"
    half.write_bytes(store.path.read_bytes()[: len(store.path.read_bytes()) // 2 + 100])
    for path in (garbage, half):
        before = path.read_bytes()
        monkeypatch.setenv("ECOCOMPRESS_DB", str(path))
        with pytest.raises(StoreError):
            ResultsStore().results()
        assert main(["report", "--model", "digits-cnn", "--out", str(tmp_path / "r.html")]) == 2
        err = capsys.readouterr().err
        assert "ecocompress: " in err and "internal error" not in err and err.count("\n") == 1, err
        assert path.read_bytes() == before  # never rewritten


def test_ended_jobs_are_forgotten_oldest_first_and_running_ones_never(monkeypatch):
    """A server that runs through a workshop keeps each session's latest ended sweeps and searches, not all of them."""
    from ecocompress.core.records import MeasureSettings
    from ecocompress.service import jobs

    table: dict = {}
    monkeypatch.setattr(jobs, "_JOBS", table)
    monkeypatch.setattr(jobs, "ENDED_KEPT", 15)

    def job(name: str, owner: str, started: float, state: str = "finished"):
        table[name] = jobs.SweepJob(id=name, model="digits-cnn", points=[], settings=MeasureSettings(), owner=owner,
                                    state=state, started_at=started)

    job("old-running", "a", 0.0, state="running")
    for i in range(12):
        job(f"a-{i}", "a", 1.0 + i)
    for i in range(8):
        job(f"b-{i}", "b", 100.0 + i)
    with jobs._LOCK:
        jobs._forget_old_ended()
    assert "old-running" in table  # running: kept, however old
    assert {n for n in table if n.startswith("a-")} == {f"a-{i}" for i in range(5, 12)}  # 15 in all: b's 8, a's 7
    assert {n for n in table if n.startswith("b-")} == {f"b-{i}" for i in range(8)}
    monkeypatch.setattr(jobs, "ENDED_KEPT", 500)
    for i in range(12):
        job(f"c-{i}", "c", 200.0 + i)
    with jobs._LOCK:
        jobs._forget_old_ended()
    assert {n for n in table if n.startswith("c-")} == {f"c-{i}" for i in range(2, 12)}  # 10 per session
    assert jobs.get_job("c-11", "c") is table["c-11"] and jobs.get_job("c-0", "c") is None
