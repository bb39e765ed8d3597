"""One busy session against one ordinary one: how long does the ordinary user's point wait?

    python bench/fair_share.py [--model digits-cnn] [--runs 2]

Issue 29's red team held Explore + Sweep + Find best in one session while a second session asked for one
point; that point waited 158 s instead of 10 s, behind every job of the first session. Here, on a fresh
store whose baseline is measured first (outside the timing), with real build-and-measure jobs:

- alone: session B asks for a new point while the server is idle (its time to result);
- contended: session A starts a sweep of three new points and a search of three trials and asks Explore for
  a point; then B asks for a new point of the same kind as before.

It prints B's time to result alone and contended, their ratio, and how many of A's jobs finished between
B's request and B's answer (the compute queue's log). Round-robin between sessions gives 1: the job already
running when B asked; the ratio then depends on how long that job of A's takes (a fine-tune runs longer than
B's quick point). First-in-first-out made B wait for every job A had queued before it.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "compression"))

from ecocompress.core.points import CompressionPoint  # noqa: E402
from ecocompress.core.records import MeasureSettings  # noqa: E402

SETTINGS = MeasureSettings(repeats=2, energy_budget_s=3.0)
SWEEP = [CompressionPoint(bits=8), CompressionPoint(bits=6), CompressionPoint(sparsity=0.5)]


def _until_queued(queue, session: str, jobs: int, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with queue._lock:
            if queue.jobs_of(session) >= jobs:
                return
        time.sleep(0.05)
    raise SystemExit(f"session {session} never had {jobs} jobs in the queue")


def one_run(model: str, alone_point: CompressionPoint, contended_point: CompressionPoint) -> tuple[float, float, int]:
    """(B alone s, B beside the busy session s, A's jobs that finished between B's request and B's answer)."""
    from ecocompress.service import api, jobs
    from ecocompress.service.compute_queue import compute_queue

    queue = compute_queue()
    started = time.perf_counter()
    api.measure_point(model, alone_point, SETTINGS, session="bob")
    alone = time.perf_counter() - started

    sweep = jobs.start_sweep(model, SWEEP, SETTINGS, session="alice")
    search = jobs.start_search(model, 3, 1.0, "energy", SETTINGS, session="alice")
    _until_queued(queue, "alice", 2)
    explore = api.request_point(model, CompressionPoint(bits=4), SETTINGS, session="alice")
    before = len(queue.log)
    started = time.perf_counter()
    api.request_point(model, contended_point, SETTINGS, session="bob").result()
    contended = time.perf_counter() - started
    finished = [label for _, label, *_ in list(queue.log)[before:]]  # in the order they finished
    ahead = finished.index(f"{contended_point.label()} on {model}")
    explore.result()
    for job in (sweep, search):  # let A's work end inside this run's store
        while job.active:
            time.sleep(0.5)
    return alone, contended, ahead


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="digits-cnn")
    parser.add_argument("--runs", type=int, default=2)
    args = parser.parse_args()
    pairs = [(CompressionPoint(bits=16), CompressionPoint(bits=5)), (CompressionPoint(bits=7), CompressionPoint(bits=3))]
    rows = []
    for run in range(args.runs):
        os.environ["ECOCOMPRESS_HOME"] = tempfile.mkdtemp(prefix="ecocompress-fair-")
        from ecocompress.service import api

        api.measure_point(args.model, CompressionPoint(), SETTINGS, session="warm-up")
        alone, contended, ahead = one_run(args.model, *pairs[run % len(pairs)])
        rows.append((alone, contended, ahead))
        print(f"run {run + 1}: B alone {alone:.1f} s, B beside a busy session {contended:.1f} s "
              f"({contended / alone:.2f}x); jobs of A that ran before B's: {ahead}", flush=True)
    ratios = [c / a for a, c, _ in rows]
    print(f"\n{args.model}, {args.runs} runs: B's time to result beside a session with a sweep, a search and an "
          f"Explore point is {statistics.median(ratios):.2f}x its time alone (median; min {min(ratios):.2f}, "
          f"max {max(ratios):.2f}); A's jobs before B's: {[r[2] for r in rows]}")


if __name__ == "__main__":
    main()
