"""The compute queue: order, shared identical requests, cancel, caps, faults, and a restart after a kill."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time

import pytest

from ecocompress.service.api import measure_point, measured_points
from ecocompress.service.compute_queue import ComputeQueue, JobCancelled, MemoryCeilingError, ServerBusyError
from ecocompress.core.points import CompressionPoint
from ecocompress.service.store import INTERRUPTED, ResultsStore


def gate() -> tuple[threading.Event, callable]:
    """A job that runs until released, so tests control what is running."""
    release = threading.Event()
    return release, lambda progress: "released" if release.wait(30) else "timed out"


def picked_up(ticket):
    """Wait until the worker has picked ``ticket``'s job up."""
    deadline = time.time() + 10
    while ticket.job.state != "running" and time.time() < deadline:
        time.sleep(0.005)
    return ticket


def test_jobs_run_one_at_a_time_in_submission_order():
    q = ComputeQueue()
    release, blocker = gate()
    order: list[str] = []
    running = []

    def job(name):
        def work(progress):
            running.append(name)
            assert len(running) == 1, running  # never two at once
            order.append(name)
            time.sleep(0.02)
            running.remove(name)
            return name
        return work

    first = picked_up(q.submit("block", "block", blocker, session="s0"))
    tickets = [q.submit(f"k{i}", f"job {i}", job(f"job {i}"), session=f"s{i}") for i in range(1, 5)]
    assert [t.position() for t in tickets] == [1, 2, 3, 4]
    assert tickets[1].describe().startswith("waiting: 2 jobs ahead of you")
    release.set()
    assert [t.result() for t in tickets] == ["job 1", "job 2", "job 3", "job 4"]
    assert order == ["job 1", "job 2", "job 3", "job 4"] and first.result() == "released"


def test_identical_requests_are_computed_once_and_shared():
    q = ComputeQueue()
    release, blocker = gate()
    picked_up(q.submit("block", "block", blocker, session="x"))
    calls = []
    a = q.submit("same", "point", lambda p: calls.append(1) or "measured", session="alice")
    b = q.submit("same", "point", lambda p: calls.append(1) or "measured again", session="bob")
    assert a.job is b.job
    release.set()
    assert a.result() == b.result() == "measured" and len(calls) == 1


def test_cancel_drops_a_queued_job_only_when_nobody_waits():
    q = ComputeQueue()
    release, blocker = gate()
    picked_up(q.submit("block", "block", blocker, session="x"))
    ran = []
    a = q.submit("p", "point", lambda p: ran.append(1) or "ok", session="alice")
    b = q.submit("p", "point", lambda p: ran.append(1) or "ok", session="bob")
    a.cancel()  # bob still waits: the job stays
    assert b.position() == 1
    b.cancel()  # nobody waits: dropped
    assert b.position() == 0 and b.done
    with pytest.raises(JobCancelled, match="cancelled; nothing was stored"):
        b.result()
    release.set()
    time.sleep(0.2)
    assert not ran


def test_cancelling_a_running_job_stops_it_at_its_next_step():
    q = ComputeQueue()
    started, steps = threading.Event(), []

    def work(progress):
        started.set()
        for i in range(100):
            progress(f"step {i}", i / 100)
            steps.append(i)
            time.sleep(0.01)
        return "finished"

    ticket = q.submit("long", "long", work, session="alice")
    started.wait(5)
    ticket.cancel()
    with pytest.raises(JobCancelled):
        ticket.result()
    assert len(steps) < 100


def test_caps_turn_overload_into_a_sentence():
    q = ComputeQueue(max_per_session=2, max_total=3)
    release, blocker = gate()
    picked_up(q.submit("block", "block", blocker, session="x"))
    q.submit("a", "a", lambda p: 1, session="alice")
    q.submit("b", "b", lambda p: 1, session="alice")
    with pytest.raises(ServerBusyError, match="You already have 2 measurements waiting"):
        q.submit("c", "c", lambda p: 1, session="alice")
    q.submit("d", "d", lambda p: 1, session="bob")
    with pytest.raises(ServerBusyError, match=r"The server is busy: 3 measurements are waiting; try again in about \d+ s"):
        q.submit("e", "e", lambda p: 1, session="carol")
    release.set()


def test_a_failing_job_reports_to_every_waiter_and_the_queue_goes_on():
    q = ComputeQueue()
    bad = q.submit("bad", "bad", lambda p: 1 / 0, session="alice")
    good = q.submit("good", "good", lambda p: "ok", session="bob")
    with pytest.raises(ZeroDivisionError):
        bad.result()
    assert good.result() == "ok"


def test_nested_work_on_the_worker_runs_inline():
    q = ComputeQueue()
    outer = q.submit("outer", "outer", lambda p: q.run("inner", "inner", lambda p2: "inner done", session="w"), session="s")
    assert outer.result() == "inner done"


def test_memory_ceiling_refuses_new_work_with_a_sentence():
    q = ComputeQueue(memory_ceiling_mb=1.0)
    with pytest.raises(MemoryCeilingError, match="above its 1 MB ceiling"):
        q.submit("m", "m", lambda p: 1, session="s").result()


def test_a_failed_measurement_leaves_a_failed_record_and_no_point(fast_settings, monkeypatch, caplog):
    """A library's exception reaches the user as a fixed sentence (its kind only: the text can quote an upload's
    node names); the whole exception is in the server's log."""
    from ecocompress.core.errors import JobFailed
    from ecocompress.service import api

    def broken(*args, **kwargs):
        raise RuntimeError("the exporter fell over at node [x](https://example.invalid)")

    monkeypatch.setattr(api, "_compute", broken)
    with pytest.raises(JobFailed) as caught:
        measure_point("digits-cnn", CompressionPoint(bits=8), fast_settings)
    assert "RuntimeError" in str(caught.value) and "example.invalid" not in str(caught.value)
    store = ResultsStore()
    assert store.count() == 0
    failed = store.jobs("failed")
    assert failed and "RuntimeError" in failed[-1]["reason"] and "example.invalid" not in failed[-1]["reason"]
    assert failed[-1]["owner"].startswith("call-")  # the job record names the session that asked (here an API call)
    assert "the exporter fell over" in caplog.text  # the operator still finds what happened


KILLED_RUN = textwrap.dedent("""
    import sys
    from ecocompress.service.api import measure_point
    from ecocompress.core.points import CompressionPoint
    from ecocompress.core.records import MeasureSettings
    settings = MeasureSettings(repeats=20, energy_window_s=5.0)   # long enough to be killed inside a window
    def progress(step, fraction):
        if "energy" in step:
            print("MEASURING", flush=True)
    measure_point("digits-cnn", CompressionPoint(), settings, progress=progress)
""")


@pytest.mark.slow
def test_a_killed_measurement_leaves_the_store_consistent_and_a_restart_finds_every_point(fast_settings, eco_home):
    done = [measure_point("digits-cnn", p, fast_settings) for p in (CompressionPoint(), CompressionPoint(bits=16))]
    process = subprocess.Popen([sys.executable, "-c", KILLED_RUN], stdout=subprocess.PIPE, text=True,
                               env={**os.environ, "ECOCOMPRESS_HOME": str(eco_home)})
    for line in process.stdout:  # wait until it is inside an energy window, then kill it hard
        if "MEASURING" in line:
            break
    os.kill(process.pid, signal.SIGKILL)
    process.wait(30)

    store = ResultsStore()  # "restart": a fresh process would open the same file
    with sqlite3.connect(store.path) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert store.count() == 2  # nothing half-written
    assert {r.label for r in measured_points("digits-cnn")} == {m.label for m in done}
    killed = store.jobs()[-1]
    assert (killed["label"], killed["state"]) == ("fp32 baseline", "running")  # as the kill left it
    assert store.recover_interrupted() == 1
    killed = store.jobs()[-1]
    assert killed["state"] == "failed" and killed["reason"] == INTERRUPTED
    again = measure_point("digits-cnn", CompressionPoint(bits=16), fast_settings)
    assert again.cached  # completed points are served after the restart
