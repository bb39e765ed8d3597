"""Background sweeps: run in a server thread, independent of any browser tab.

A sweep started from the dashboard keeps going if the tab is closed; every point is stored
the moment it is measured, and a reopened tab can follow the job again by its id. Stopping
takes effect between points (a half-measured point is discarded, never stored).
"""

from __future__ import annotations

import itertools
import threading
import time
from dataclasses import dataclass, field
from typing import Sequence

from compression.points import CompressionPoint
from compression.results import MeasureSettings, Measurement
from compression.sweep import run_sweep

_JOBS: dict[str, "SweepJob"] = {}
_LOCK = threading.Lock()
_IDS = itertools.count(1)


@dataclass
class SweepJob:
    """A sweep's live state, read by pages while its thread writes it."""

    id: str
    model: str
    points: list[CompressionPoint]
    settings: MeasureSettings
    done: list[Measurement] = field(default_factory=list)
    step: str = "queued"
    state: str = "running"  # running, stopping, stopped, finished, failed
    error: str | None = None
    started_at: float = field(default_factory=time.time)
    finished_at: float | None = None
    _stop: threading.Event = field(default_factory=threading.Event, repr=False)

    @property
    def total(self) -> int:
        return len(self.points)

    @property
    def active(self) -> bool:
        return self.state in ("running", "stopping")

    def stop(self) -> None:
        """Ask the sweep to stop after the point it is measuring."""
        if self.active:
            self.state = "stopping"
            self._stop.set()

    def _run(self) -> None:
        def progress(index: int, total: int, point: CompressionPoint, step: str) -> None:
            self.step = f"point {index + 1} of {total} ({point.label()}): {step}"

        try:
            for result in run_sweep(
                self.model, self.points, self.settings, progress=progress, should_stop=self._stop.is_set
            ):
                self.done.append(result)
            self.state = "stopped" if self._stop.is_set() and len(self.done) < self.total else "finished"
        except Exception as exc:  # reported on the page as one sentence; completed points stay stored
            self.state, self.error = "failed", str(exc) or type(exc).__name__
        finally:
            self.finished_at = time.time()
            self.step = {"finished": "all points measured", "stopped": "stopped by the user"}.get(self.state, self.step)


def start_sweep(model: str, points: Sequence[CompressionPoint], settings: MeasureSettings) -> SweepJob:
    """Start measuring ``points`` in a background thread and return the job to follow."""
    job = SweepJob(id=f"sweep-{next(_IDS)}", model=model, points=list(points), settings=settings)
    with _LOCK:
        _JOBS[job.id] = job
    threading.Thread(target=job._run, name=job.id, daemon=True).start()
    return job


def get_job(job_id: str | None) -> SweepJob | None:
    with _LOCK:
        return _JOBS.get(job_id) if job_id else None


def list_jobs() -> list[SweepJob]:
    with _LOCK:
        return sorted(_JOBS.values(), key=lambda j: j.started_at, reverse=True)
