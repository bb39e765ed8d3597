import multiprocessing as mp
import os
import signal
import sqlite3
import time
from pathlib import Path

from ecocompress.service.store import ResultsStore


def _put(store: ResultsStore, i: int, model: str = "m", value: float = 0.5, settings: str = "s") -> None:
    store.put(
        model=model,
        model_hash="h",
        point_key=f"p{i}",
        settings_key=settings,
        code_version="v1",
        result={"model": model, "i": i, "accuracy": value},
        provenance={"who": "test"},
    )


def test_round_trip_and_cache_hit(tmp_path: Path):
    store = ResultsStore(tmp_path / "r.sqlite")
    assert store.get("h", "p1", "s", "v1") is None
    _put(store, 1)
    assert store.get("h", "p1", "s", "v1") == {"model": "m", "i": 1, "accuracy": 0.5}
    assert store.provenance("h", "p1", "s", "v1") == {"who": "test"}
    # A different code version or measurement setting is a miss, not a stale hit.
    assert store.get("h", "p1", "s", "v2") is None
    assert store.get("h", "p1", "other", "v1") is None


def test_same_key_replaces_instead_of_duplicating(tmp_path: Path):
    store = ResultsStore(tmp_path / "r.sqlite")
    _put(store, 1, value=0.5)
    _put(store, 1, value=0.7)
    assert store.count() == 1
    assert store.get("h", "p1", "s", "v1")["accuracy"] == 0.7


def test_results_filter_by_model(tmp_path: Path):
    store = ResultsStore(tmp_path / "r.sqlite")
    _put(store, 1, model="a")
    _put(store, 2, model="b")
    assert [r["i"] for r in store.results("a")] == [1]
    assert len(store.results()) == 2


def test_default_location_follows_environment(eco_home: Path):
    store = ResultsStore()
    assert store.path == eco_home / "results.sqlite"
    assert store.path.is_file()


def test_wal_mode(tmp_path: Path):
    store = ResultsStore(tmp_path / "r.sqlite")
    with sqlite3.connect(store.path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def _writer(path: str, offset: int, n: int) -> None:
    store = ResultsStore(path)
    for i in range(n):
        _put(store, offset + i)


def test_concurrent_writers_from_two_processes(tmp_path: Path):
    path = str(tmp_path / "r.sqlite")
    ResultsStore(path)
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(path, k * 1000, 60)) for k in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    store = ResultsStore(path)
    assert store.count() == 120
    assert {r["i"] for r in store.results()} == set(range(60)) | set(range(1000, 1060))


def _die_mid_write(path: str, ready) -> None:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("BEGIN IMMEDIATE")
    conn.execute(
        "INSERT INTO points (model, model_hash, point_key, settings_key, code_version, created_at, result_json, provenance_json)"
        " VALUES ('m', 'h', 'half', 's', 'v1', 'now', '{\"i\": -1}', '{}')"
    )
    ready.set()
    time.sleep(60)  # killed here, before COMMIT


def test_killed_writer_leaves_earlier_rows_intact(tmp_path: Path):
    path = str(tmp_path / "r.sqlite")
    store = ResultsStore(path)
    for i in range(5):
        _put(store, i)
    ctx = mp.get_context("spawn")
    ready = ctx.Event()
    proc = ctx.Process(target=_die_mid_write, args=(path, ready))
    proc.start()
    assert ready.wait(60)
    os.kill(proc.pid, signal.SIGKILL)
    proc.join(30)
    reopened = ResultsStore(path)
    assert reopened.count() == 5
    assert reopened.get("h", "half", "s", "v1") is None
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    _put(reopened, 99)  # and the store still takes writes
    assert reopened.count() == 6


def test_the_store_version_changes_with_every_write_of_a_models_points(tmp_path):
    """What the series cache (``api._series_runs``) is keyed by: an insert and a replacement each change it."""
    store = ResultsStore(tmp_path / "r.sqlite")
    empty = store.version("m")
    row = dict(model="m", model_hash="h", point_key="p", settings_key="s", code_version="c", result={"x": 1}, provenance={})
    store.put(**row)
    first = store.version("m")
    store.put(**{**row, "result": {"x": 2}})  # the same key again: replaced
    second = store.version("m")
    assert (empty, first, second) == (0, 1, 2) and store.version("other") == 0
