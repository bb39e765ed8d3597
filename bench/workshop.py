"""A workshop on one instance: N browser sessions at once, cached and new points, nothing lost.

    python bench/workshop.py [--sessions 20] [--model digits-cnn] [--max-minutes 15]

Each session is a Streamlit AppTest of the real app (app.py, Explore page) in its own thread, all
in this one server process, as a workshop's browsers would share one `streamlit run`. After a
warm-up that measures the baseline and a few points, every session makes the same kind of
requests a participant would: moving the knobs to points measured before (cached) and to new
points (several sessions ask for the same new points at nearly the same time). The script stops by
itself after --max-minutes. It prints requests served, failures, p50/p95 time to result for cached
and new points, peak server memory, and whether any energy window overlapped another compute job.
Energy is measured in 2 pairs of windows per point (the sidebar's minimum) to keep the run short.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "compression"))

from ecocompress.measure import energy  # noqa: E402
from ecocompress.service.api import lookup, measure_point  # noqa: E402
from ecocompress.service.compute_queue import compute_queue, rss_mb  # noqa: E402
from ecocompress.core.points import CompressionPoint  # noqa: E402
from ecocompress.core.records import MeasureSettings  # noqa: E402

SETTINGS = MeasureSettings(repeats=2)  # the fewest pairs a point may have (the sidebar minimum)
WARM = [CompressionPoint(), CompressionPoint(bits=8), CompressionPoint(bits=16), CompressionPoint(sparsity=0.5, bits=8)]
NEW = [CompressionPoint(bits=6), CompressionPoint(sparsity=0.8, bits=8), CompressionPoint(student_width=0.5, bits=8),
       CompressionPoint(sparsity=0.5, bits=16), CompressionPoint(bits=4)]
KNOBS = [("slider", "sparsity", "sparsity"), ("select_slider", "bits", "bits"), ("select_slider", "student", "student_width")]


def share_one_runtime() -> None:
    """Let AppTests run at the same time, in threads, as sessions of one server would.

    AppTest installs a mock Streamlit Runtime as a process-wide singleton for each run and removes it
    when the run ends, which breaks runs that overlap in other threads ("Runtime hasn't been
    created"). A real server has one Runtime for all sessions; so here the first mock seen is kept
    and served whenever another thread's run has just removed its own. Only this benchmark does this.
    """
    from streamlit.runtime import Runtime

    seen: list = []

    def instance(cls):
        if cls._instance is not None:
            seen[:] = [cls._instance]
            return cls._instance
        if seen:
            return seen[0]
        raise RuntimeError("Runtime hasn't been created!")

    Runtime.instance = classmethod(instance)
    Runtime.exists = classmethod(lambda cls: cls._instance is not None or bool(seen))


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


class Session(threading.Thread):
    """One participant: an AppTest of the app, a seeded list of requests, timings per request."""

    def __init__(self, index: int, model: str, deadline: float) -> None:
        super().__init__(name=f"session-{index}", daemon=True)
        rng = random.Random(index)
        self.requests = rng.sample(WARM, 3) + rng.sample(NEW, 2)
        rng.shuffle(self.requests)
        self.model, self.deadline = model, deadline
        self.timings: list[tuple[str, float]] = []  # ("cached" | "new", seconds)
        self.failures: list[str] = []

    def run(self) -> None:
        from streamlit.testing.v1 import AppTest

        try:
            at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=900)
            at.run()
            at.switch_page("pages/views/explore.py").run()
            at.number_input(key="repeats").set_value(SETTINGS.repeats).run()
            for point in self.requests:
                if time.monotonic() > self.deadline:
                    break
                kind = "cached" if lookup(self.model, point, SETTINGS) is not None else "new"
                started = time.perf_counter()
                for widget, key, field in KNOBS:
                    getattr(at, widget)(key=key).set_value(getattr(point, field))
                at.run()
                seconds = time.perf_counter() - started
                shown = at.subheader[0].value if at.subheader else ""
                if at.exception or at.error or not shown.startswith(point.label()):
                    self.failures.append(f"{point.label()}: {[e.value for e in at.error] or at.exception or shown}")
                else:
                    self.timings.append((kind, seconds))
        except Exception as exc:  # a crashed session is a failure, reported, not a crashed benchmark
            self.failures.append(f"session crashed: {type(exc).__name__}: {exc}")


def overlapping_windows(since: float) -> int:
    """Energy windows that overlapped a compute job other than the one they ran in."""
    jobs = [(start, end) for _id, _label, start, end, _state in compute_queue().log if end >= since]
    bad = 0
    for w_start, w_end in (w for w in energy.WINDOWS if w[0] >= since):
        inside = [j for j in jobs if j[0] <= w_start and w_end <= j[1]]
        others = [j for j in jobs if j not in inside[:1] and j[0] < w_end and w_start < j[1]]
        bad += bool(others) or not inside
    return bad


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=20)
    parser.add_argument("--model", default="digits-cnn")
    parser.add_argument("--max-minutes", type=float, default=15.0)
    args = parser.parse_args()
    os.environ.setdefault("ECOCOMPRESS_HOME", tempfile.mkdtemp(prefix="ecocompress-workshop-"))
    print(f"results store: {os.environ['ECOCOMPRESS_HOME']}", file=sys.stderr)
    started = time.perf_counter()
    for point in WARM:
        measure_point(args.model, point, SETTINGS)
    print(f"warm-up: {len(WARM)} points in {time.perf_counter() - started:.0f} s", file=sys.stderr)

    peak = [rss_mb()]
    stop = threading.Event()

    def watch_memory() -> None:
        while not stop.wait(0.2):
            peak[0] = max(peak[0], rss_mb())

    threading.Thread(target=watch_memory, daemon=True).start()
    share_one_runtime()
    since = time.monotonic()
    deadline = since + args.max_minutes * 60
    sessions = [Session(i, args.model, deadline) for i in range(args.sessions)]
    for session in sessions:
        session.start()
    for session in sessions:
        session.join(timeout=max(1.0, deadline - time.monotonic() + 60))
    stop.set()
    elapsed = time.monotonic() - since

    cached = [s for session in sessions for kind, s in session.timings if kind == "cached"]
    new = [s for session in sessions for kind, s in session.timings if kind == "new"]
    failures = [f for session in sessions for f in session.failures]
    unfinished = sum(session.is_alive() for session in sessions)
    jobs = [entry for entry in compute_queue().log if entry[3] >= since]
    print(f"\n## workshop: {args.sessions} sessions on {args.model}, one server process ({elapsed:.0f} s)")
    print(f"requests served: {len(cached) + len(new)} ({len(cached)} cached, {len(new)} new); failures: {len(failures)}; "
          f"sessions still running at the deadline: {unfinished}")
    requested = {p.label() for s in sessions for p in s.requests if p in NEW}
    print(f"compute jobs run: {len(jobs)} for {len(requested) + 1} distinct new points (the {len(requested)} requested, and "
          f"the baseline at the page's default repeat count on first load); {sum(len(s.requests) for s in sessions)} "
          "requests in all: identical requests were computed once and shared")
    print(f"time to result, cached: p50 {percentile(cached, 0.5):.2f} s, p95 {percentile(cached, 0.95):.2f} s "
          f"(target p95 < 1 s: {'met' if percentile(cached, 0.95) < 1 else 'MISSED'})")
    print(f"time to result, new:    p50 {percentile(new, 0.5):.1f} s, p95 {percentile(new, 0.95):.1f} s "
          "(includes waiting in the queue behind other participants' points)")
    print(f"peak server memory: {peak[0]:.0f} MB resident")
    windows = sum(1 for w in energy.WINDOWS if w[0] >= since)
    print(f"energy windows: {windows}; overlapping another compute job: {overlapping_windows(since)} (must be 0)")
    for failure in failures[:10]:
        print(f"  failure: {failure}")
    if new:
        print(f"(median new-point compute time {statistics.median(end - start for _id, _label, start, end, _state in jobs):.1f} s per job)")


if __name__ == "__main__":
    main()
