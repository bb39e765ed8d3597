"""Compute jobs run in a limited worker process: limits stop runaway work with one sentence, Cancel kills it fast."""

from __future__ import annotations

import os
import time

import pytest
from onnx import TensorProto, helper

from bad_uploads import add_one_loop_body, classifier_around
from ecocompress.sandbox.limits import LimitExceeded, Limits, Worker
from ecocompress.core.points import CompressionPoint
from ecocompress.service.store import ResultsStore


# module-level, so the spawned worker can import them by name
def _sleep(seconds: float, *, progress) -> str:
    progress("sleeping", 0.5)
    time.sleep(seconds)
    return "woke"


def _spin(*, progress) -> None:
    while True:
        pass


def _hog(*, progress) -> int:
    return len(bytearray(8 * 10**9))


def _pid(*, progress) -> int:
    return os.getpid()


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def test_a_worker_serves_calls_in_its_own_process_and_relays_progress():
    worker = Worker(memory_mb=2000)
    steps = []
    try:
        assert worker.call(_sleep, 0.1, limits=Limits(2000, 10, 30), what="sleep", progress=lambda s, f: steps.append(s)) == "woke"
        first = worker.call(_pid, limits=Limits(2000, 10, 30), what="pid")
        assert first != os.getpid() and worker.call(_pid, limits=Limits(2000, 10, 30), what="pid") == first  # long-lived
    finally:
        worker.stop()
    assert steps == ["sleeping"]


@pytest.mark.parametrize(
    ("function", "args", "limits", "message"),
    [
        (_sleep, (60,), Limits(2000, 60, 1.5), "did not finish within 1.5 s"),
        (_spin, (), Limits(2000, 1, 30), "used more than 1 s of CPU"),
        (_hog, (), Limits(1500, 60, 60), "needed more than 1,500 MB of memory"),
    ],
    ids=["wall", "cpu", "memory"],
)
def test_a_call_over_a_limit_fails_with_one_sentence_and_a_fresh_worker_goes_on(function, args, limits, message):
    worker = Worker(memory_mb=limits.memory_mb)
    roomy = Limits(limits.memory_mb, 60, 120)  # starting a worker takes seconds on a busy machine
    try:
        before = worker.call(_pid, limits=roomy, what="pid")
        started = time.monotonic()
        with pytest.raises(LimitExceeded, match=message):
            worker.call(function, *args, limits=limits, what="The job")
        assert time.monotonic() - started < limits.wall_seconds + 5
        after = worker.call(_pid, limits=roomy, what="pid")
        assert after != before and _gone(before)  # the runaway child is gone; the next call got a new one
    finally:
        worker.stop()


def test_a_cancel_kills_the_call_within_the_poll_interval():
    worker = Worker(memory_mb=2000)
    cancel_at = time.monotonic() + 2.0

    def check() -> None:
        if time.monotonic() > cancel_at:
            raise KeyboardInterrupt("cancelled")

    try:
        pid = worker.call(_pid, limits=Limits(2000, 60, 60), what="pid")
        with pytest.raises(KeyboardInterrupt):
            worker.call(_sleep, 60, limits=Limits(2000, 60, 60), what="sleep", check=check)
        assert time.monotonic() - cancel_at < 1.0 and _gone(pid)
    finally:
        worker.stop()


def test_a_running_measurement_is_cancelled_within_2_s_and_stores_nothing(fast_settings):
    from dataclasses import replace

    from ecocompress.service import compute_queue as queue
    from ecocompress.service.api import lookup, request_point

    settings = replace(fast_settings, repeats=20, energy_window_s=2.0, energy_budget_s=60.0)  # long enough to catch
    ticket = request_point("digits-cnn", CompressionPoint(bits=8), settings, session="canceller")
    deadline = time.monotonic() + 120
    while "energy" not in ticket.job.step and not ticket.done and time.monotonic() < deadline:
        time.sleep(0.05)
    assert "energy" in ticket.job.step, ticket.job.step  # inside a measurement, in the worker process
    worker_pid = queue._WORKER.pid
    assert worker_pid is not None and worker_pid != os.getpid()
    started = time.monotonic()
    ticket.cancel()
    assert ticket.wait(2.0), "the job was still running 2 s after Cancel"
    assert time.monotonic() - started < 2.0 and ticket.job.state == "cancelled"
    assert _gone(worker_pid)
    assert lookup("digits-cnn", CompressionPoint(bits=8), settings) is None
    assert not ResultsStore().jobs("running")  # no job left "running" by the killed worker


def _data_dependent_loop() -> bytes:
    """Scores = x @ w + bias, where bias comes from a Loop of max(x) x 10^12 iterations: all-zero rows pass the
    two-row upload check; the first non-zero row never returns."""
    return classifier_around(
        [helper.make_node("ReduceMax", ["x"], ["top"], keepdims=0),
         helper.make_node("Mul", ["top", "scale"], ["scaled"]),
         helper.make_node("Cast", ["scaled"], ["trips"], to=TensorProto.INT64),
         helper.make_node("Loop", ["trips", "keep_going", "start"], ["bias"], body=add_one_loop_body())],
        [helper.make_tensor("scale", TensorProto.FLOAT, [], [1e12]), helper.make_tensor("keep_going", TensorProto.BOOL, [], [True]),
         helper.make_tensor("start", TensorProto.FLOAT, [3], [0.0] * 3)],
    )


def test_an_upload_that_loops_forever_on_real_data_fails_its_job_and_frees_the_queue(fast_settings, monkeypatch):
    from ecocompress.models.uploads import load_upload
    from ecocompress.service import compute_queue as queue
    from ecocompress.service.api import measure_point

    rows = ["0,0,0,0,0", "0,0,0,0,1"] + [f"{i % 5},{i % 7},{i % 3},{i % 2},{i % 3}" for i in range(2, 60)]
    # converting it to PyTorch runs it on real rows too, and is stopped at its CPU limit: kept short here
    monkeypatch.setenv("ECOCOMPRESS_CHECK_CPU_S", "6")
    spec = load_upload(_data_dependent_loop(), "loop.onnx", ("a,b,c,d,label\n" + "\n".join(rows)).encode(), "data.csv",
                       register=False)  # the two-row check passes: its rows are all zero
    assert not spec.converts and "went over its limits" in spec.conversion.reason
    monkeypatch.setenv("ECOCOMPRESS_JOB_WALL_S", "8")
    started = time.monotonic()
    with pytest.raises(LimitExceeded, match="did not finish within 8 s"):
        measure_point(spec, CompressionPoint(), fast_settings, session="looper")
    assert time.monotonic() - started < 8 + 15  # the limit, plus starting a worker; never "forever"
    assert queue.compute_queue().submit("after", "after", lambda progress: "next job ran", session="other").result() == "next job ran"
    assert ResultsStore().count() == 0 and ResultsStore().jobs("failed")
    from ecocompress.service.api import over_limits

    remembered = over_limits(spec, CompressionPoint(), fast_settings)  # a page offers it again only on request
    assert remembered is not None and "did not finish within 8 s" in remembered.sentence and remembered.seconds >= 7
    assert over_limits(spec, CompressionPoint(bits=8), fast_settings) is None  # another point: nothing remembered


def _burn(seconds: float, *, progress) -> float:
    """Spend ``seconds`` of CPU (not wall time) and say how much this process has used in all."""
    started = time.process_time()
    while time.process_time() - started < seconds:
        pass
    return time.process_time()


def test_a_long_lived_workers_cpu_limit_is_per_call_not_a_lifetime_total():
    """Five calls of 0.8 s of CPU under a 2 s limit each: 4 s in all, more than one call's limit, all served."""
    worker = Worker(memory_mb=2000)
    try:
        used = [worker.call(_burn, 0.8, limits=Limits(2000, 2, 60), what="burn") for _ in range(5)]
    finally:
        worker.stop()
    assert used[-1] > 4.0  # the worker's lifetime CPU went past one call's limit twice over
