"""One process-wide queue for heavy work: measurements never overlap, identical requests run once.

Energy is read for the whole machine, so two measurements at the same time would each count the
other's load; training jobs would also fight over two cores. Every compute job (build, fine-tune,
export, measure) therefore goes through this queue, served by one thread, which hands the heavy part
to one long-lived limited child process (``run_in_worker``, ``sandbox.limits``): a job over its memory,
CPU or time limit fails with a sentence and the server is untouched.

The line is shared fairly: every job belongs to the sessions waiting for it (a browser session,
whatever page or background sweep or search asked, or the CLI), and the next job to run is the oldest
job wanted by the session served least recently (round-robin), so one session's sweep, search and
Explore point never keep another session's single point waiting behind all three. A request
identical to one already queued or running (same content key) joins it: it is computed once and
every waiting session gets the result. A session sees its place in the line and can cancel; a job
nobody waits for any more is dropped (or, if running, its worker is killed within ``POLL_S``, and
nothing half-measured is stored). Caps per session (queued and running) and in total turn overload
into a sentence ("busy, try again in N s"), never a hang.
"""

from __future__ import annotations

import collections
import itertools
import statistics
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from ecocompress.core.errors import EcoCompressError, ServerBusyError  # noqa: F401 (re-exported)
from ecocompress.sandbox.limits import Limits, MemoryCeilingError, Worker, check_memory, rss_mb  # noqa: F401 (re-exported)
from ecocompress.sandbox.limits import memory_ceiling_mb as memory_ceiling_mb_setting
from ecocompress.core.settings import Settings, settings

Progress = Callable[[str, float], None]
Work = Callable[[Progress], Any]

MAX_PER_SESSION = Settings.max_jobs_per_session
MAX_TOTAL = Settings.max_queued_jobs
DEFAULT_JOB_SECONDS = 20.0

_CURRENT = threading.local()  # the job the calling queue thread is running, for ``raise_if_cancelled``


def raise_if_cancelled() -> None:
    """Raise ``JobCancelled`` when the job this thread runs was cancelled (a no-op outside the queue)."""
    job = getattr(_CURRENT, "job", None)
    if job is not None and job._cancel.is_set():
        raise JobCancelled(f"The measurement of {job.label} was cancelled; nothing was stored.")


class JobCancelled(EcoCompressError):
    """The job was cancelled: everyone who waited for it cancelled."""


@dataclass(eq=False)
class Job:
    id: str
    key: str
    label: str
    work: Work
    subscribers: set[str]
    state: str = "queued"  # queued, running, done, failed, cancelled
    step: str = "queued"
    fraction: float = 0.0
    result: Any = None
    error: BaseException | None = None
    submitted_at: float = field(default_factory=time.monotonic)
    started_at: float | None = None
    finished_at: float | None = None
    _cancel: threading.Event = field(default_factory=threading.Event, repr=False)
    _done: threading.Event = field(default_factory=threading.Event, repr=False)

    @property
    def finished(self) -> bool:
        return self.state in ("done", "failed", "cancelled")


class Ticket:
    """One session's claim on a job: its place in the line, progress, cancel, result."""

    def __init__(self, queue: "ComputeQueue", job: Job, session: str) -> None:
        self._queue, self.job, self.session = queue, job, session

    @property
    def key(self) -> str:
        return self.job.key

    @property
    def done(self) -> bool:
        return self.job.finished

    def position(self) -> int:
        """0 while running or finished; 1 for the next in line, and so on."""
        return self._queue.position(self.job)

    def describe(self) -> str:
        if self.job.state == "queued":
            ahead, wait = self._queue.line(self.job)
            return (f"waiting: {ahead} job{'s' if ahead != 1 else ''} ahead of you "
                    f"(about {wait:.0f} s); one measurement runs at a time so none disturbs another")
        return self.job.step

    def wait(self, timeout: float | None = None) -> bool:
        return self.job._done.wait(timeout)

    def cancel(self) -> None:
        self._queue.cancel(self.job, self.session)

    def result(self) -> Any:
        """The job's result; raises its error (or ``JobCancelled``) otherwise."""
        self.job._done.wait()
        if self.job.state == "done":
            return self.job.result
        if self.job.state == "cancelled":
            raise JobCancelled(f"The measurement of {self.job.label} was cancelled; nothing was stored.")
        raise self.job.error  # type: ignore[misc]


class ComputeQueue:
    """Compute jobs served round-robin by session, one worker thread, deduplicated by key, bounded per session
    (queued and running) and in total."""

    def __init__(
        self, *, max_per_session: int = MAX_PER_SESSION, max_total: int = MAX_TOTAL, memory_ceiling_mb: float | None = None
    ) -> None:
        self.max_per_session, self.max_total = max_per_session, max_total
        self.memory_ceiling_mb = memory_ceiling_mb if memory_ceiling_mb is not None else memory_ceiling_mb_setting()
        self._lock = threading.Condition()
        self._queued: collections.deque[Job] = collections.deque()
        self._by_key: dict[str, Job] = {}
        self._running: Job | None = None
        self._ids = itertools.count(1)
        self._turn = 0  # how many jobs have started
        self._served: dict[str, int] = {}  # session -> the turn a job it waited for last started (round-robin)
        self._durations: collections.deque[float] = collections.deque(maxlen=50)
        # (job id, label, started, finished, state) on the monotonic clock, for benchmarks and diagnosis
        self.log: collections.deque[tuple[str, str, float, float, str]] = collections.deque(maxlen=10_000)
        self._worker = threading.Thread(target=self._serve, name="ecocompress-compute", daemon=True)
        self._worker.start()

    # ---- submitting ---------------------------------------------------------------------------------------------
    def submit(self, key: str, label: str, work: Work, *, session: str, wait_for_room: bool = False) -> Ticket:
        """Queue ``work`` (or join the identical job already queued or running) for ``session``.

        A session at its cap is refused with a sentence, or with ``wait_for_room`` (its own background sweep or
        search) waits until one of its jobs ends: background work never fails for being busy, and never takes
        more than the session's share.
        """
        with self._lock:
            while True:
                job = self._by_key.get(key)
                if job is not None and not job.finished:
                    job.subscribers.add(session)
                    return Ticket(self, job, session)
                mine = self.jobs_of(session)
                if mine < self.max_per_session or not wait_for_room:
                    break
                self._lock.wait(1.0)
            if mine >= self.max_per_session:
                raise ServerBusyError(
                    f"You already have {mine} measurements waiting or running (sweeps and searches count; the limit "
                    f"is {self.max_per_session}); wait for one to finish or cancel it, then try again."
                )
            if len(self._queued) >= self.max_total:
                raise ServerBusyError(
                    f"The server is busy: {len(self._queued)} measurements are waiting; try again in about "
                    f"{self._estimate(len(self._queued)):.0f} s."
                )
            job = Job(f"job-{next(self._ids)}", key, label, work, {session})
            self._queued.append(job)
            self._by_key[key] = job
            self._lock.notify_all()
            return Ticket(self, job, session)

    def run(self, key: str, label: str, work: Work, *, session: str, progress: Progress | None = None,
            wait_for_room: bool = False) -> Any:
        """Submit and wait, forwarding progress; inline when called from the worker itself (nested work)."""
        if threading.current_thread() is self._worker:
            return work(progress or (lambda step, fraction: None))
        ticket = self.submit(key, label, work, session=session, wait_for_room=wait_for_room)
        last = None
        while not ticket.wait(0.25):
            text = ticket.describe()
            if progress is not None and text != last:
                progress(text, ticket.job.fraction)
                last = text
        return ticket.result()

    # ---- reading the line -------------------------------------------------------------------------------------
    def jobs_of(self, session: str) -> int:
        """Jobs ``session`` waits for, queued or running (call with the lock held)."""
        running = self._running is not None and session in self._running.subscribers
        return sum(session in j.subscribers for j in self._queued) + running

    def _order(self) -> list[Job]:
        """The queued jobs in the order they will start if nothing else arrives: next is always the oldest job
        wanted by the session served least recently (a job several sessions wait for serves them all)."""
        handed: dict[str, int] = {}  # the turns this look ahead hands out (the real ones stay as they are)
        waiting = list(self._queued)
        order = []
        turn = self._turn
        while waiting:
            job = min(waiting, key=lambda j: _turn(handed, self._served, j))  # min keeps the oldest among equals
            waiting.remove(job)
            order.append(job)
            turn += 1
            handed.update(dict.fromkeys(job.subscribers, turn))
        return order

    def _starts_before(self, job: Job) -> int | None:
        """How many queued jobs start before ``job`` (None: it is not queued); call with the lock held."""
        order = self._order()
        return order.index(job) if job in order else None

    def position(self, job: Job) -> int:
        """0 while running or finished; 1 for the next to start, and so on."""
        with self._lock:
            before = self._starts_before(job)
            return 0 if before is None else before + 1

    def line(self, job: Job) -> tuple[int, float]:
        """(jobs that run before ``job``: the one running and those that start before it, about how many seconds
        until it starts), from one reading of the line."""
        with self._lock:
            before = self._starts_before(job) or 0
            return before + (1 if self._running is not None else 0), self._estimate(before)

    def _estimate(self, jobs_ahead: int) -> float:
        typical = statistics.median(self._durations) if self._durations else DEFAULT_JOB_SECONDS
        running_left = 0.0
        if self._running is not None and self._running.started_at is not None:
            running_left = max(0.0, typical - (time.monotonic() - self._running.started_at))
        return running_left + jobs_ahead * typical

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {"running": self._running.label if self._running else None, "queued": [j.label for j in self._order()]}

    # ---- cancelling ---------------------------------------------------------------------------------------------
    def cancel(self, job: Job, session: str) -> None:
        """Withdraw ``session``; a job nobody waits for is dropped, or (running) its worker is killed (``run_in_worker``)."""
        with self._lock:
            job.subscribers.discard(session)
            if job.subscribers or job.finished:
                return
            if job.state == "queued":
                self._queued.remove(job)
                self._finish(job, "cancelled")
            else:
                job._cancel.set()

    # ---- serving ------------------------------------------------------------------------------------------------
    def _finish(self, job: Job, state: str) -> None:
        job.state, job.finished_at = state, time.monotonic()
        if self._by_key.get(job.key) is job:
            del self._by_key[job.key]
        job._done.set()
        self._lock.notify_all()  # a session waiting for room (``wait_for_room``) may go on

    def _serve(self) -> None:
        while True:
            with self._lock:
                while not self._queued:
                    self._lock.wait()
                job = self._order()[0]
                self._queued.remove(job)
                self._turn += 1
                _mark_served(self._served, job, self._turn)
                job.state, job.started_at, self._running = "running", time.monotonic(), job

            def progress(step: str, fraction: float, job: Job = job) -> None:
                raise_if_cancelled()
                job.step, job.fraction = step, fraction

            _CURRENT.job = job

            state = "done"
            try:
                check_memory(f"The measurement of {job.label}", self.memory_ceiling_mb)
                job.result = job.work(progress)
            except JobCancelled:
                state = "cancelled"
            except BaseException as exc:  # recorded on the job and raised to every waiter as it was
                job.error, state = exc, "failed"
            _CURRENT.job = None
            finished = time.monotonic()
            with self._lock:
                self._running = None
                if state == "done":
                    self._durations.append(finished - job.started_at)
                self.log.append((job.id, job.label, job.started_at, finished, state))
                self._finish(job, state)


MAX_REMEMBERED_SESSIONS = 10_000  # turns remembered; the oldest half is forgotten beyond (a forgotten session is
# treated as served long ago, which it was)


def _turn(handed: dict[str, int], served: dict[str, int], job: Job) -> int:
    """When the job's most patient session was last served (``handed`` first, then ``served``; 0: never): the
    smaller, the sooner it runs."""
    return min((handed.get(session, served.get(session, 0)) for session in job.subscribers), default=0)


def _mark_served(served: dict[str, int], job: Job, turn: int) -> None:
    for session in job.subscribers:
        served[session] = turn
    if len(served) > MAX_REMEMBERED_SESSIONS:
        for session in sorted(served, key=served.__getitem__)[: len(served) // 2]:
            del served[session]


_WORKER: Worker | None = None
_WORKER_LOCK = threading.Lock()


def run_in_worker(function: Callable[..., Any], *args: Any, what: str, progress: Progress) -> Any:
    """``function(*args, progress=...)`` in this process's limited compute worker (``Limits.for_jobs``).

    Called from a queue job, a cancel kills the worker within ``POLL_S`` and raises ``JobCancelled``.
    """
    global _WORKER
    limits = Limits.for_jobs()
    with _WORKER_LOCK:
        if _WORKER is None or _WORKER.memory_mb != limits.memory_mb:
            if _WORKER is not None:
                _WORKER.stop()
            _WORKER = Worker(limits.memory_mb)
        worker = _WORKER
    return worker.call(function, *args, limits=limits, what=what, progress=progress, check=raise_if_cancelled)


_QUEUE: ComputeQueue | None = None
_QUEUE_LOCK = threading.Lock()


def compute_queue() -> ComputeQueue:
    """The process-wide queue (created on first use)."""
    global _QUEUE
    with _QUEUE_LOCK:
        if _QUEUE is None:
            _QUEUE = ComputeQueue(
                max_per_session=settings().max_jobs_per_session,
                max_total=settings().max_queued_jobs,
                memory_ceiling_mb=memory_ceiling_mb_setting(),
            )
        return _QUEUE
