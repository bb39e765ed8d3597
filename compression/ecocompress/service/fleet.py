"""Measurement workers on other machines: a point asked for a hardware class is measured by a worker of that class.

The queue is procrastinate, a kept PostgreSQL-backed task queue, on the shared store's own database (no broker to
run beside it). Why it over the other engines issue 33 names:
- Celery needs a broker (Redis or RabbitMQ) besides PostgreSQL;
- Dask's worker resources and Ray's custom resources route by hardware, but each needs its own scheduler service;
- procrastinate routes by queue (one queue per hardware class), runs one job at a time with ``concurrency=1``,
  dedupes identical requests with a queueing lock, and keeps worker heartbeats, so a job whose worker died is found
  (``get_stalled_jobs``) and failed instead of waiting forever.

``ecocompress worker --store URL --hardware-label NAME`` runs ``run_worker``: it files everything it measures under
NAME, in the same sandbox, queue and limits as the app (``service.api.measure_point``).
``ecocompress run ... --store URL --on NAME`` runs ``request_on``: served from the store when NAME has the point,
else queued for NAME's workers and waited for. Only the built-in sample models travel for now: an upload lives in
one app process's memory.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import time
from typing import Any, Callable, Iterator

from ecocompress.core.errors import EcoCompressError
from ecocompress.core.points import CompressionPoint
from ecocompress.core.records import MeasureSettings, Measurement

TASK = "ecocompress.measure"
HEARTBEAT_S = 2.0  # how often a worker says it is alive
STALLED_AFTER_S = 15.0  # a running job whose worker has been silent this long is failed: its worker died
INTERRUPTED = "the worker measuring it stopped (killed or its machine went away) before it finished; nothing was stored"
SCHEMA_LOCK = 4233002  # advisory lock: one process applies procrastinate's schema


def queue_of(label: str) -> str:
    """The queue of one hardware class."""
    return f"hardware:{label}"


def owner_of(label: str) -> str:
    """Who the store's job records of a class's worker name as their owner."""
    return f"fleet:{queue_of(label)}"


@contextlib.contextmanager
def plain_errors(url: str) -> Iterator[None]:
    """The queue's and the database's errors as one sentence naming their kind only (a driver's text can quote the
    URL, password included)."""
    from ecocompress.service.store import redacted

    try:
        import procrastinate  # noqa: F401
        import psycopg
        from procrastinate.exceptions import ProcrastinateException
    except ImportError:
        raise EcoCompressError("Workers on other machines need procrastinate: pip install -e '.[postgres]'.") from None
    try:
        yield
    except (psycopg.Error, ProcrastinateException) as exc:
        raise EcoCompressError(f"The shared store {redacted(url)} refused the fleet's request ({type(exc).__name__}); "
                               "check the URL and that the server is up.") from None


def fleet_app(url: str):
    """A procrastinate app on ``url`` with the measurement task registered."""
    import procrastinate

    app = procrastinate.App(connector=procrastinate.PsycopgConnector(conninfo=url))
    app.task(name=TASK, pass_context=True)(_measure)
    return app


def _measure(context: Any, model: str, point: dict[str, Any], settings: dict[str, Any]) -> str:
    """The task a worker runs: the point, measured here and stored under this worker's hardware label."""
    from ecocompress.service.api import measure_point

    record = measure_point(model, CompressionPoint.from_dict(point), MeasureSettings(**settings),
                           session=f"fleet:{context.job.queue}")  # owner_of(label): the job records' owner
    return record.label


def ensure_schema(url: str, app: Any) -> None:
    """procrastinate's tables in ``url``, made once whichever process comes first."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn, conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (SCHEMA_LOCK,))
        if not conn.execute("SELECT to_regclass('procrastinate_jobs') IS NOT NULL").fetchone()[0]:
            conn.execute(app.schema_manager.get_schema())


def run_worker(url: str, label: str, *, wait: bool = True) -> None:
    """Measure the jobs queued for ``label``, one at a time, until stopped (``wait=False``: until the queue is empty).

    Everything it measures is filed under ``label`` in the store at ``url``; the caller's environment must say so
    too (``ECOCOMPRESS_STORE_URL``, ``ECOCOMPRESS_HARDWARE_LABEL``) so the sandboxed children inherit it.
    """
    import socket
    import threading
    from datetime import datetime, timezone

    from ecocompress.core.provenance import machine
    from ecocompress.service.store import ResultsStore

    name = f"{label}@{socket.gethostname()}:{os.getpid()}"
    started, facts, stop = datetime.now(timezone.utc).isoformat(timespec="seconds"), machine(), threading.Event()

    def beat() -> None:  # what fleet status reads: this worker, its class and machine, alive now
        store = ResultsStore(url)
        while not stop.is_set():
            with contextlib.suppress(EcoCompressError):
                store.beat(name, label, facts, started)
            stop.wait(HEARTBEAT_S)

    app = fleet_app(url)
    with plain_errors(url), app.open():
        ensure_schema(url, app)
        threading.Thread(target=beat, name="fleet-heartbeat", daemon=True).start()
        try:
            app.run_worker(queues=[queue_of(label)], concurrency=1, wait=wait, update_heartbeat_interval=HEARTBEAT_S,
                           name=name)
        finally:
            stop.set()


def request_on(
    model: str, point: CompressionPoint, settings: MeasureSettings, label: str, url: str, *,
    timeout_s: float = 3600.0, progress: Callable[[str], None] = lambda text: None,
) -> Measurement:
    """``point`` as measured by a worker of ``label``: from the store when it is there, else queued and waited for.

    The caller's process reads the store as ``label`` (its environment says ``ECOCOMPRESS_HARDWARE_LABEL=label``), so
    what it is served is that class's figure, never its own machine's.
    """
    from ecocompress.service.api import lookup

    found = lookup(model, point, settings)
    if found is not None:
        return found
    with plain_errors(url):
        return _queued_and_waited(model, point, settings, label, url, timeout_s, progress)


def _queued_and_waited(model: str, point: CompressionPoint, settings: MeasureSettings, label: str, url: str,
                       timeout_s: float, progress: Callable[[str], None]) -> Measurement:
    from procrastinate.exceptions import AlreadyEnqueued

    from ecocompress.service.api import request_key

    app = fleet_app(url)
    ensure_schema(url, app)
    key = request_key(model, point, settings)  # what the worker's job record carries
    queue, owner = queue_of(label), owner_of(label)
    lock = f"{label}|{key}"  # one queued job per point and class (procrastinate's locks span every queue)
    task = app.tasks[TASK].configure(queue=queue, queueing_lock=lock)
    with app.open():
        try:
            job_id = task.defer(model=model, point=point.to_dict(), settings=dataclasses.asdict(settings))
        except AlreadyEnqueued:  # the same request is queued or running already: wait for that one
            waiting = [j.id for j in app.job_manager.list_jobs(queueing_lock=lock, queue=queue)
                       if j.status in ("todo", "doing")]
            if not waiting:  # it ended between the two questions: its point is in the store now, or it failed
                return _served_or_failed(model, point, settings, label, key)
            job_id = waiting[0]
        deadline = time.monotonic() + timeout_s
        next_check = time.monotonic()
        while time.monotonic() < deadline:
            status = app.job_manager.get_job_status(job_id).value
            if status in ("succeeded", "failed", "cancelled", "aborted"):
                return _served_or_failed(model, point, settings, label, key)
            if status == "doing" and time.monotonic() >= next_check:
                next_check = time.monotonic() + STALLED_AFTER_S / 3
                if _failed_if_stalled(url, job_id, label, key, owner):
                    raise EcoCompressError(f"The {label} worker stopped while measuring {point.label()}: "
                                           f"{INTERRUPTED}.")
            progress("waiting for a worker of " + label if status == "todo" else f"measured by a {label} worker")
            time.sleep(1.0)
    raise EcoCompressError(f"No {label} worker measured {point.label()} within {timeout_s:.0f} s: is "
                           f"`ecocompress worker --hardware-label {label}` running against this store?")


def _served_or_failed(model: str, point: CompressionPoint, settings: MeasureSettings, label: str, key: str) -> Measurement:
    """After the job ended: the stored point, or why the worker could not measure it, in one sentence."""
    from ecocompress.service.api import lookup
    from ecocompress.service.store import ResultsStore

    found = lookup(model, point, settings)
    if found is not None:
        return found
    job = ResultsStore().last_job(key, owner_of(label)) or {}
    if job.get("state") == "done":
        raise EcoCompressError(f"The {label} worker measured {point.label()} but its files are not reachable here; "
                               "give this machine the same ECOCOMPRESS_HOME folder as the worker.")
    raise EcoCompressError(f"The {label} worker could not measure {point.label()}: "
                           f"{job.get('reason') or 'see the worker log'}")


def _failed_if_stalled(url: str, job_id: int, label: str, key: str, owner: str) -> bool:
    """Whether ``job_id``'s worker died (silent for ``STALLED_AFTER_S``); if so the job is failed in the queue and in
    the store's job records (never a half-written point). procrastinate's job manager is asynchronous for this."""
    import asyncio

    from procrastinate.jobs import Status

    from ecocompress.service.store import ResultsStore

    async def check() -> bool:
        app = fleet_app(url)
        async with app.open_async():
            stalled = await app.job_manager.get_stalled_jobs(queue=queue_of(label), seconds_since_heartbeat=STALLED_AFTER_S)
            if not any(job.id == job_id for job in stalled):
                return False
            await app.job_manager.finish_job_by_id_async(job_id, status=Status.FAILED, delete_job=False)
            return True

    if not asyncio.run(check()):
        return False
    ResultsStore().fail_running(key, owner, INTERRUPTED)
    return True


@dataclasses.dataclass(frozen=True)
class ClassStatus:
    """One hardware class in the fleet: its live workers' machines, its queue, and the wait a new point can expect.

    ``seconds_per_point``: the median of its workers' last finished jobs (None before one finished); ``wait_s``: an
    estimate, the jobs ahead (queued and running) x that median / live workers (None when it cannot be said).
    """

    label: str
    alive: tuple[dict[str, Any], ...]
    queued: int
    running: int
    seconds_per_point: float | None
    wait_s: float | None


def status(url: str) -> list[ClassStatus]:
    """Every hardware class a worker announced or a request named: who is alive (seen within ``STALLED_AFTER_S``),
    on what machine, how many points wait, and the expected wait for a new one."""
    import statistics
    from datetime import datetime, timezone

    from ecocompress.service.store import ResultsStore

    store = ResultsStore(url)
    now = datetime.now(timezone.utc)
    workers = store.workers()
    with plain_errors(url):
        app = fleet_app(url)
        ensure_schema(url, app)
        with app.open():
            jobs = [j for j in app.job_manager.list_jobs() if j.queue.startswith(queue_of(""))]
    labels = sorted({w["label"] for w in workers} | {j.queue.removeprefix(queue_of("")) for j in jobs})
    done = store.jobs("done")
    result = []
    for label in labels:
        alive = tuple(w["machine"] | {"worker": w["name"]} for w in workers if w["label"] == label and
                      (now - datetime.fromisoformat(w["last_seen"])).total_seconds() <= STALLED_AFTER_S)
        mine = [j for j in jobs if j.queue == queue_of(label)]
        queued, running = (sum(j.status == state for j in mine) for state in ("todo", "doing"))
        took = [(datetime.fromisoformat(j["finished_at"]) - datetime.fromisoformat(j["started_at"])).total_seconds()
                for j in done if j.get("owner") == owner_of(label) and j.get("finished_at")][-20:]
        per_point = statistics.median(took) if took else None
        wait = (queued + running) * per_point / len(alive) if per_point is not None and alive else None
        result.append(ClassStatus(label, alive, queued, running, per_point, wait))
    return result
