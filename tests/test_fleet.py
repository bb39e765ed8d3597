"""Measurement workers of two hardware classes against one PostgreSQL store (issue 33), end to end through the CLI:
each point asked for a class is measured by that class's worker, stored once per class and read per class; a worker
killed mid-job leaves a failed job, and the other worker goes on."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ecocompress.core.provenance import machine
from ecocompress.service.fleet import INTERRUPTED, fleet_app, status

FAST = ["--repeats", "2", "--energy-budget", "1"]
USAGE = Path(__file__).resolve().parents[1] / "docs" / "usage.md"
USAGE_URL, USAGE_LABEL = "postgresql://user:password@db-host/ecocompress", "edge-arm64"


def _readme_command(verb: str, url: str, label: str) -> list[str]:
    """The usage guide's ``ecocompress <verb>`` line ("Several machines, one store"), with this test's store and class."""
    line = next(line for line in USAGE.read_text().splitlines() if line.startswith(f"ecocompress {verb} ") and " --store " in line)
    words = line.replace(USAGE_URL, url).split()
    words = [label if word == USAGE_LABEL else word for word in words]
    return [sys.executable, "-m", "ecocompress.cli", *words[1:]]


def _worker(url: str, label: str, home: Path) -> subprocess.Popen:
    """The usage guide's worker command in a process group of its own (its sandboxed children die with it)."""
    env = {**os.environ, "ECOCOMPRESS_HOME": str(home)}
    env.pop("ECOCOMPRESS_STORE_URL", None)
    return subprocess.Popen(_readme_command("worker", url, label), env=env, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _request(url: str, label: str, home: Path, *point: str) -> subprocess.Popen:
    """The usage guide's request, with ``point`` in place of its ``--bits 8`` and fast measurement settings."""
    command = _readme_command("run", url, label)
    at = command.index("--bits")
    command[at:at + 2] = [*point, *FAST, "--json"]
    return subprocess.Popen(command, env={**os.environ, "ECOCOMPRESS_HOME": str(home)}, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def _points(url: str) -> list[tuple[str, str]]:
    import psycopg

    with psycopg.connect(url) as conn:
        return sorted(conn.execute("SELECT hardware, point_key FROM points").fetchall())


@pytest.mark.slow
def test_two_hardware_classes_measure_their_own_points_and_a_killed_worker_fails_its_job(pg_url, tmp_path):
    workers = {label: _worker(pg_url, label, tmp_path / f"worker-{label}") for label in ("A", "B")}
    try:
        asked = {label: _request(pg_url, label, tmp_path / "app", "--bits", "8") for label in workers}
        records = {}
        for label, request in asked.items():
            out, err = request.communicate(timeout=400)
            assert request.returncode == 0, err[-2000:]
            records[label] = json.loads(out)
        for label, record in records.items():  # measured by that class's worker, in its home
            assert record["label"] == "8-bit" and record["onnx_path"].startswith(str(tmp_path / f"worker-{label}"))
            assert record["hardware"] == label  # the record names the class that measured it
        stored = _points(pg_url)
        assert [hw for hw, key in stored if '"bits": 8' in key] == ["A", "B"]  # once per class, side by side
        assert [hw for hw, _ in stored].count("A") == [hw for hw, _ in stored].count("B") == 2  # baseline + 8-bit

        again = _request(pg_url, "A", tmp_path / "app", "--bits", "8")  # served from the store, not measured again
        out, err = again.communicate(timeout=120)
        assert again.returncode == 0 and json.loads(out)["cached"], err[-2000:]
        assert _points(pg_url) == stored

        alive = {c.label: c for c in status(pg_url)}  # fleet status: both alive, on this machine, nothing waiting
        assert sorted(alive) == ["A", "B"] and all(len(c.alive) == 1 and c.queued == c.running == 0 for c in alive.values())
        assert alive["A"].alive[0]["cpu_model"] == machine()["cpu_model"] and alive["A"].seconds_per_point > 0

        # A dies mid-job: its request fails with one sentence and a failed job record; B goes on measuring.
        doomed = _request(pg_url, "A", tmp_path / "app", "--sparsity", "0.5")
        app = fleet_app(pg_url)
        with app.open():
            deadline = time.monotonic() + 120
            while not any(j.status == "doing" for j in app.job_manager.list_jobs(queue="hardware:A")):
                assert time.monotonic() < deadline, "worker A never started the job"
                time.sleep(0.2)
        os.killpg(workers["A"].pid, signal.SIGKILL)
        out, err = doomed.communicate(timeout=120)
        assert doomed.returncode != 0 and "The A worker stopped while measuring 50% sparse" in err, err[-2000:]
        import psycopg

        with psycopg.connect(pg_url) as conn:
            states = conn.execute("SELECT state, reason FROM jobs WHERE label = '50% sparse'").fetchall()
        assert states and all(state == "failed" and reason == INTERRUPTED for state, reason in states)
        assert not any('"sparsity": 0.5' in key for _, key in _points(pg_url))  # no half-written point

        other = _request(pg_url, "B", tmp_path / "app", "--bits", "16")
        out, err = other.communicate(timeout=400)
        assert other.returncode == 0 and json.loads(out)["label"] == "16-bit", err[-2000:]
        after = {c.label: c for c in status(pg_url)}
        assert not after["A"].alive and after["A"].wait_s is None and len(after["B"].alive) == 1
        shown = subprocess.run([sys.executable, "-m", "ecocompress.cli", "fleet", "--store", pg_url], capture_output=True,
                               text=True, timeout=120)
        assert "A: 0 workers alive" in shown.stdout and "a new point waits until a worker of this class starts" in \
            shown.stdout and "B: 1 worker alive on " in shown.stdout and "a new point: about " in shown.stdout, shown
    finally:
        for worker in workers.values():
            if worker.poll() is None:
                os.killpg(worker.pid, signal.SIGKILL)
            worker.wait(30)
