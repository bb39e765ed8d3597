import json
import multiprocessing as mp
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ecocompress.core.errors import StoreError
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


# ---- the same store on PostgreSQL (ECOCOMPRESS_STORE_URL): several app replicas and the CLI share it ------------

@pytest.fixture(params=["sqlite", "postgresql"])
def location(request, tmp_path):
    return str(tmp_path / "r.sqlite") if request.param == "sqlite" else request.getfixturevalue("pg_url")


def test_both_stores_keep_points_revisions_and_jobs_alike(location):
    store = ResultsStore(location)
    assert store.get("h", "p1", "s", "v1") is None and store.version("m") == 0
    _put(store, 1, value=0.5)
    _put(store, 1, value=0.7)  # the same key: replaced, and the revision moves on
    _put(store, 2, model="other")
    again = ResultsStore(location)  # another process's view: opening an existing store changes nothing
    assert again.get("h", "p1", "s", "v1") == {"model": "m", "i": 1, "accuracy": 0.7}
    assert again.provenance("h", "p1", "s", "v1") == {"who": "test"}
    assert (again.count(), again.version("m"), [r["i"] for r in again.results("m")]) == (2, 2, [1])
    assert again.latest_provenance("h", "p2", "v1") == {"who": "test"}
    assert again.identity() == store.identity()
    job = store.start_job("m", "8-bit", owner="cli", key="k")
    assert again.last_job("k")["state"] == "running" and again.last_job("k")["host"] == socket.gethostname()
    store.finish_job(job, "failed", "over a limit", failure="LimitExceeded")
    assert [(j["id"], j["state"], j["failure"]) for j in again.jobs("failed")] == [(job, "failed", "LimitExceeded")]


def test_a_store_made_anew_at_the_same_place_is_another_store(tmp_path):
    path = tmp_path / "r.sqlite"
    first = ResultsStore(path).identity()
    path.rename(tmp_path / "aside.sqlite")
    assert ResultsStore(path).identity() != first  # readers' caches keyed by revision never serve the old rows


def test_only_this_machines_dead_jobs_are_recovered(location):
    """A shared store holds other machines' jobs: their process ids mean nothing here, so they are left alone."""
    store = ResultsStore(location)
    mine = store.start_job("m", "a")
    with store._connect() as conn:
        dead = subprocess.Popen(["true"])
        dead.wait()
        conn.execute("UPDATE jobs SET pid=? WHERE id=?", (dead.pid, mine))
        conn.execute("INSERT INTO jobs (model, label, state, pid, started_at, host) "
                     "VALUES ('m', 'b', 'running', ?, 'now', 'another-machine')", (dead.pid,))
    assert store.recover_interrupted() == 1
    assert {j["label"]: j["state"] for j in store.jobs()} == {"a": "failed", "b": "running"}


def test_a_shared_store_keeps_each_hardware_class_apart(pg_url, monkeypatch):
    """Figures measured on another kind of machine are other figures: never served, listed or charted here, and
    never replaced by this machine's measurement of the same point."""
    import ecocompress.service.store as store_module

    store = ResultsStore(pg_url)
    monkeypatch.setattr(store_module, "hardware", lambda: "Other CPU, 64 logical cores")
    _put(store, 1, value=0.9)
    monkeypatch.undo()
    assert store.get("h", "p1", "s", "v1") is None and store.results() == [] and store.count() == 0
    _put(store, 1, value=0.5)
    assert store.get("h", "p1", "s", "v1")["accuracy"] == 0.5 and store.count() == 1
    monkeypatch.setattr(store_module, "hardware", lambda: "Other CPU, 64 logical cores")
    assert store.get("h", "p1", "s", "v1")["accuracy"] == 0.9  # the other machine's figure, untouched


def test_concurrent_writers_from_two_processes(location):
    ResultsStore(location)
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(location, k * 1000, 40)) for k in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    store = ResultsStore(location)
    assert store.count() == 80
    assert {r["i"] for r in store.results()} == set(range(40)) | set(range(1000, 1040))


def test_an_unreachable_store_is_one_sentence_without_the_password():
    with pytest.raises(StoreError) as info:
        ResultsStore("postgresql://user:s3cret@127.0.0.1:1/nowhere")
    assert "s3cret" not in str(info.value) and "postgresql://user@127.0.0.1:1/nowhere" in str(info.value)
    assert str(info.value).startswith("Cannot reach the results store")


@pytest.mark.slow
def test_two_app_homes_share_points_through_one_postgres_store(pg_url, tmp_path, monkeypatch, capsys):
    """Two replicas (their own homes, one ECOCOMPRESS_STORE_URL): a point one measured, the other's process is
    served from the store; neither writes a SQLite file."""
    from ecocompress.cli import main

    args = ["run", "--model", "digits-cnn", "--bits", "8", "--repeats", "2", "--energy-budget", "1", "--json"]
    monkeypatch.setenv("ECOCOMPRESS_STORE_URL", pg_url)
    monkeypatch.setenv("ECOCOMPRESS_HOME", str(tmp_path / "a"))
    assert main(args) == 0
    first = json.loads(capsys.readouterr().out)
    other = subprocess.run([sys.executable, "-m", "ecocompress.cli", *args], capture_output=True, text=True, timeout=300,
                           env={**os.environ, "ECOCOMPRESS_HOME": str(tmp_path / "b")})
    assert other.returncode == 0, other.stderr[-2000:]
    second = json.loads(other.stdout)
    assert second["cached"] and not first["cached"]
    assert (second["energy_ratio"], second["accuracy"], second["model_hash"]) == \
        (first["energy_ratio"], first["accuracy"], first["model_hash"])
    assert not (tmp_path / "a" / "results.sqlite").exists() and not (tmp_path / "b" / "results.sqlite").exists()
    jobs = ResultsStore(pg_url).jobs()  # the measuring replica's jobs (baseline, point) are in the shared store too
    assert len(jobs) >= 2 and {j["state"] for j in jobs} == {"done"}
