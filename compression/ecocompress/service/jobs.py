"""Background sweeps and searches: run in a server thread, independent of any browser tab.

A sweep started from the dashboard keeps going if the tab is closed; every point is stored
the moment it is measured, and the session that started it can follow it again by its id. Stopping
takes effect between points (a half-measured point is discarded, never stored).

Every job belongs to the session that started it (``owner``): only that session lists, follows or
stops it (``get_job``, ``list_jobs``), and its points count toward that session's share of the compute
queue. The starter points Home measures on a fresh server belong to the server (``SERVER``): every
session may watch them, none may stop them.
"""

from __future__ import annotations

import itertools
import threading
import time
from dataclasses import dataclass, field
from typing import Sequence

from ecocompress.core.errors import failure_sentence
from ecocompress.core.points import STARTER_POINTS, CompressionPoint
from ecocompress.core.records import MeasureSettings, Measurement
from ecocompress.service.search import Recommendation, SearchResult, run_search
from ecocompress.service.sweep import run_sweep

_JOBS: dict[str, "SweepJob | SearchJob"] = {}
_LOCK = threading.Lock()
_IDS = itertools.count(1)
SERVER = "server"  # the owner of jobs the server starts by itself (Home's starter points)
# Ended jobs kept to follow (their points are in the store either way): a server that runs through a workshop keeps
# every running job and each session's latest ended ones, not every sweep since it started.
ENDED_KEPT_PER_SESSION = 10
ENDED_KEPT = 500


@dataclass
class SweepJob:
    """A sweep's live state, read by pages while its thread writes it."""

    id: str
    model: str
    points: list[CompressionPoint]
    settings: MeasureSettings
    owner: str
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
                self.model, self.points, self.settings, progress=progress, should_stop=self._stop.is_set,
                session=self.owner,
            ):
                self.done.append(result)
            self.state = "stopped" if self._stop.is_set() and len(self.done) < self.total else "finished"
        except Exception as exc:  # reported on the page as one sentence; completed points stay stored
            self.state, self.error = "failed", failure_sentence(exc)
        finally:
            self.finished_at = time.time()
            self.step = {"finished": "all points measured", "stopped": "stopped by the user"}.get(self.state, self.step)


@dataclass
class SearchJob:
    """A background accuracy-budget search (Optuna study, one local worker) followed by the Sweep page."""

    id: str
    model: str
    trials: int
    max_drop_points: float
    objective: str
    settings: MeasureSettings
    owner: str
    done: int = 0
    last: str = ""
    state: str = "running"  # running, stopping, stopped, finished, failed
    error: str | None = None
    result: SearchResult | None = None
    started_at: float = field(default_factory=time.time)
    _stop: threading.Event = field(default_factory=threading.Event, repr=False)

    @property
    def active(self) -> bool:
        return self.state in ("running", "stopping")

    @property
    def recommendation(self) -> Recommendation | None:
        return self.result.recommendation if self.result else None

    def stop(self) -> None:
        """Stop after the trial in progress; completed trials stay in the study and the store."""
        if self.active:
            self.state = "stopping"
            self._stop.set()

    def _run(self) -> None:
        def progress(done: int, total: int, label: str) -> None:
            self.done, self.last = done, label

        try:
            self.result = run_search(
                self.model, max_drop_points=self.max_drop_points, trials=self.trials, objective=self.objective,
                settings=self.settings, progress=progress, should_stop=self._stop.is_set, session=self.owner,
            )
            self.state = "stopped" if self._stop.is_set() and self.done < self.trials else "finished"
        except Exception as exc:  # one sentence on the page; completed trials stay stored
            self.state, self.error = "failed", failure_sentence(exc)


def _add(job: SweepJob | SearchJob) -> None:
    """Register ``job`` (the caller holds ``_LOCK``), first forgetting the oldest ended jobs over the bounds."""
    _forget_old_ended()
    _JOBS[job.id] = job


def _forget_old_ended() -> None:
    """Drop ended jobs beyond ``ENDED_KEPT_PER_SESSION`` per owner and ``ENDED_KEPT`` in all, oldest first (the
    caller holds ``_LOCK``); a running job is never dropped."""
    ended = sorted((j for j in _JOBS.values() if not j.active), key=lambda j: j.started_at, reverse=True)
    seen: dict[str, int] = {}
    for rank, job in enumerate(ended):
        seen[job.owner] = seen.get(job.owner, 0) + 1
        if seen[job.owner] > ENDED_KEPT_PER_SESSION or rank >= ENDED_KEPT:
            del _JOBS[job.id]


def _start(job: SweepJob | SearchJob) -> None:
    with _LOCK:
        _add(job)
    threading.Thread(target=job._run, name=job.id, daemon=True).start()


def start_search(model: str, trials: int, max_drop_points: float, objective: str, settings: MeasureSettings, *,
                 session: str) -> SearchJob:
    """Start an accuracy-budget search for ``session`` in a background thread (it resumes the model's study)."""
    job = SearchJob(f"search-{next(_IDS)}", model, trials, max_drop_points, objective, settings, owner=session)
    _start(job)
    return job


def start_sweep(model: str, points: Sequence[CompressionPoint], settings: MeasureSettings, *, session: str) -> SweepJob:
    """Start measuring ``points`` for ``session`` in a background thread and return the job to follow."""
    job = SweepJob(id=f"sweep-{next(_IDS)}", model=model, points=list(points), settings=settings, owner=session)
    _start(job)
    return job


_STARTERS: dict[tuple[str, str], SweepJob] = {}


def ensure_starters(model: str, settings: MeasureSettings) -> SweepJob | None:
    """Measure ``STARTER_POINTS`` of ``model`` in the background, once per server: the job measuring them
    (new, running, or failed: shown, not retried until a restart), or None when every starter point is stored."""
    from ecocompress.service.api import lookup

    key = (model, settings.key())
    with _LOCK:
        running = _STARTERS.get(key)
        if running is not None and (running.active or running.state == "failed"):  # a failure is shown, not retried
            return running
    missing = [p for p in STARTER_POINTS if lookup(model, p, settings) is None]
    if not missing:
        return None
    with _LOCK:
        running = _STARTERS.get(key)
        if running is not None and running.active:
            return running
        job = SweepJob(id=f"starters-{next(_IDS)}", model=model, points=missing, settings=settings, owner=SERVER)
        _add(job)
        _STARTERS[key] = job
    threading.Thread(target=job._run, name=job.id, daemon=True).start()
    return job


def get_job(job_id: str | None, session: str) -> SweepJob | SearchJob | None:
    """``session``'s job by id (None for another session's: it cannot be seen, followed or stopped)."""
    with _LOCK:
        job = _JOBS.get(job_id) if job_id else None
    return job if job is not None and job.owner == session else None


def list_jobs(session: str) -> list[SweepJob]:
    """``session``'s sweep jobs, newest first."""
    with _LOCK:
        mine = [j for j in _JOBS.values() if isinstance(j, SweepJob) and j.owner == session]
    return sorted(mine, key=lambda j: j.started_at, reverse=True)


def others_running(session: str) -> int:
    """How many sweeps and searches of other sessions are running (a count only: never what they are)."""
    with _LOCK:
        return sum(j.active and j.owner not in (session, SERVER) for j in _JOBS.values())
