"""Run untrusted or heavy work in a child process with memory, CPU and wall-clock limits.

A model someone uploaded can ask onnxruntime for gigabytes (``ConstantOfShape``) or for a loop of 2^40
iterations; inside the server process that would take the memory or the cores of everyone sharing it.
Here the work runs in a spawned process with ``RLIMIT_AS`` and ``RLIMIT_CPU`` set, and the parent kills
it when the wall-clock limit passes or the caller cancels. When the child dies instead of answering,
the caller gets one sentence saying which limit it hit.

Limits compose with the environment's: a child gets the smaller of its configured limit and the one the
server inherited (``ulimit -v`` in a container), never tries to raise a hard limit, and a job that runs
out under an inherited limit says so. Every child starts in an empty private folder of its own, so a
relative path inside an untrusted model can name no file of the server's.

Two shapes share the limits and the answer protocol:

- ``call_with_limits``: a fresh child for one call (upload checks: nothing survives them);
- ``Worker``: a long-lived child that serves calls one at a time, so warm caches (imports, datasets,
  CodeCarbon's hardware detection) survive between compute jobs; the CPU limit is set per call, and
  a call that is cancelled or goes over a limit takes the worker with it (the next call starts a new one).
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import gc
import multiprocessing
import os
import pickle
import resource
import shutil
import signal
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Iterator

from ecocompress.core.errors import EcoCompressError, ServerBusyError
from ecocompress.core.progress import Progress, no_progress
from ecocompress.core.settings import child_environment, settings

POLL_S = 0.1  # how often a waiting parent checks for cancellation: Cancel takes effect within this plus a kill


def granted_memory_bytes(memory_mb: float) -> int:
    """The address space a child asking for ``memory_mb`` gets here: that, or the limit this process inherited
    (``ulimit -v``) where it is lower. The parent words its messages with it; the child sets it."""
    return _lowered(int(memory_mb * 1e6), resource.getrlimit(resource.RLIMIT_AS))


@dataclass(frozen=True)
class Limits:
    """What one call may use. ``for_checks`` (upload checks) and ``for_jobs`` (build and measure) read settings.

    ``memory_mb`` is what the settings ask for; a child gets ``granted_mb``, the smaller of that and the limit the
    environment already imposes (``setting`` names the variable, for messages).
    """

    memory_mb: float = 1500.0
    cpu_seconds: float = 60.0
    wall_seconds: float = 90.0
    setting: str = "ECOCOMPRESS_*_MEMORY_MB"

    @classmethod
    def for_checks(cls) -> "Limits":
        s = settings()
        return cls(min(s.check_memory_mb, s.checks_memory_mb), s.check_cpu_s, s.check_wall_s, "ECOCOMPRESS_CHECK_MEMORY_MB")

    @classmethod
    def for_conversion(cls) -> "Limits":
        """Converting an upload to PyTorch at upload time: torch loaded, the weights held three times at the peak."""
        s = settings()
        return cls(min(s.convert_memory_mb, s.checks_memory_mb), s.check_cpu_s, s.check_wall_s,
                   "ECOCOMPRESS_CONVERT_MEMORY_MB")

    @classmethod
    def for_jobs(cls) -> "Limits":
        """One compute job (fine-tune, export, measure): generous, since jobs run one at a time per server."""
        s = settings()
        return cls(s.job_memory_mb, s.job_cpu_s, s.job_wall_s, "ECOCOMPRESS_JOB_MEMORY_MB")

    @property
    def granted_mb(self) -> float:
        return granted_memory_bytes(self.memory_mb) / 1e6

    @property
    def inherited_cap(self) -> bool:
        """Whether the environment's limit, not the setting, is what binds."""
        return self.granted_mb < self.memory_mb

    def memory_text(self) -> str:
        if self.inherited_cap:
            return (f"{self.granted_mb:,.0f} MB of memory, the limit this server inherited from its environment "
                    f"(ulimit -v; {self.setting} asks for {self.memory_mb:,.0f} MB)")
        return f"{self.memory_mb:,.0f} MB of memory"

    def text(self) -> str:
        return f"{self.memory_text()}, {self.cpu_seconds:g} s of CPU, {self.wall_seconds:g} s in all"


class LimitExceeded(EcoCompressError):
    """The work went over a limit and was stopped; nothing it computed is kept."""


class MemoryCeilingError(EcoCompressError):
    """The server is above its memory ceiling: new jobs and uploads wait for memory rather than crash everyone."""


def rss_mb() -> float:
    """This process's resident memory in MB (Linux /proc; 0 where unavailable)."""
    try:
        with open("/proc/self/statm") as handle:
            pages = int(handle.read().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE") / 1e6
    except (OSError, ValueError, IndexError):
        return 0.0


def memory_ceiling_mb() -> float:
    """``ECOCOMPRESS_MAX_RSS_MB``, or a share of the machine's memory (``core.settings``)."""
    return settings().memory_ceiling_mb


def check_memory(what: str, ceiling_mb: float | None = None) -> None:
    """Refuse new work with a sentence while this process is above its memory ceiling (after a collection)."""
    ceiling = memory_ceiling_mb() if ceiling_mb is None else ceiling_mb
    if rss_mb() > ceiling:
        gc.collect()
        if rss_mb() > ceiling:
            raise MemoryCeilingError(
                f"{what} has to wait: the server is using {rss_mb():.0f} MB, above its {ceiling:.0f} MB ceiling "
                "(ECOCOMPRESS_MAX_RSS_MB); try again in a minute."
            )


# ---- the child side ----------------------------------------------------------------------------------------------
_INSIDE_WORKER = False


def inside_worker() -> bool:
    """True in a limited child: work there runs inline (no further children)."""
    return _INSIDE_WORKER


def _die_with_parent() -> None:
    """Linux: the child is killed when its parent dies (a killed server leaves no orphan measuring)."""
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def _lowered(limit: int, current: tuple[int, int]) -> int:
    """``limit``, or less where the inherited soft or hard limit is lower (a limit is never raised)."""
    return min([limit, *(v for v in current if v != resource.RLIM_INFINITY)])


_INHERITED_CPU: tuple[int, int] | None = None  # RLIMIT_CPU as the child found it, before it set its own


def _set_cpu_limit(seconds: float) -> None:
    """Allow ``seconds`` more CPU from now (RLIMIT_CPU counts the process's whole life), within the inherited limit.

    Capped by the limit the child *inherited*, never by the soft limit its previous call set: that one counted
    from the previous call's start, and capping by it made a long-lived worker's CPU allowance a lifetime total
    (the 19th run of bench/null.py died at 1,200 s of CPU summed over every job before it).
    """
    global _INHERITED_CPU
    if _INHERITED_CPU is None:
        _INHERITED_CPU = resource.getrlimit(resource.RLIMIT_CPU)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    soft = _lowered(int(usage.ru_utime + usage.ru_stime + max(1.0, seconds)) + 1, _INHERITED_CPU)
    resource.setrlimit(resource.RLIMIT_CPU, (soft, _INHERITED_CPU[1]))


def _enter_child(memory_mb: float, folder: str) -> None:
    """Limit this child's memory (never above what it inherited) and move it into its empty private ``folder``."""
    global _INSIDE_WORKER
    _INSIDE_WORKER = True
    _die_with_parent()
    # pyarrow (under pandas) reserves about a gigabyte of address space for its own allocator: under RLIMIT_AS
    # that would leave nothing for onnxruntime. The system allocator reserves only what is used.
    os.environ.setdefault("ARROW_DEFAULT_MEMORY_POOL", "system")
    memory = granted_memory_bytes(memory_mb)
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    # imports found through the server's folder ('' on sys.path) keep working from the private one
    sys.path[:] = [os.path.abspath(p) for p in sys.path]
    os.chdir(folder)


def private_folder() -> str:
    """A new empty folder only this user can read, for one child (the parent removes it when the child ends)."""
    return tempfile.mkdtemp(prefix="ecocompress-cage-")


def _answer(function: Callable[..., Any], args: tuple, kwargs: dict) -> tuple[str, Any]:
    """Run the call and turn its outcome into a picklable answer."""
    try:
        return "ok", function(*args, **kwargs)
    except EcoCompressError as exc:
        return "refused", exc
    except MemoryError:
        return "memory", None
    except BaseException as exc:  # noqa: BLE001 - the parent decides how much of it a user sees
        try:
            pickle.dumps(exc)
            return "failed", exc
        except Exception:  # noqa: BLE001
            return "failed", RuntimeError(f"{type(exc).__name__}: {exc}")


def _child(connection, limits: Limits, function: Callable[..., Any], args: tuple, environ: dict[str, str],
           folder: str) -> None:
    _enter_child(limits.memory_mb, folder)
    os.environ.clear()  # the caller's settings now, not those the fork server started with
    os.environ.update({"ARROW_DEFAULT_MEMORY_POOL": "system", **environ})
    _set_cpu_limit(limits.cpu_seconds)
    try:
        connection.send(_answer(function, args, {}))
    finally:
        connection.close()


def _serve(connection, memory_mb: float, folder: str) -> None:
    """The long-lived worker: one call at a time, in its private folder; the parent's environment is applied per call."""
    _enter_child(memory_mb, folder)
    warm: dict[tuple, Any] = {}
    while True:
        try:
            function, args, environ, cpu_seconds = connection.recv()
        except (EOFError, OSError):
            return
        os.environ.clear()
        os.environ.update({"ARROW_DEFAULT_MEMORY_POOL": "system", **environ})
        _set_cpu_limit(cpu_seconds)

        def progress(step: str, fraction: float) -> None:
            connection.send(("progress", (step, fraction)))

        args = tuple(_warm(arg, warm) for arg in args)
        connection.send(_answer(function, args, {"progress": progress}))
        gc.collect()


def _warm(arg: Any, warm: dict[tuple, Any]) -> Any:
    """Reuse this worker's copy of an object that says it is the same (``warm_key``), with its caches."""
    key = getattr(arg, "warm_key", None)
    if not isinstance(key, tuple):
        return arg
    if len(warm) > 8:
        warm.clear()
    return warm.setdefault(key, arg)


# ---- the parent side ---------------------------------------------------------------------------------------------
def _decode(kind: str, value: Any, limits: Limits, what: str) -> Any:
    if kind == "ok":
        return value
    if kind in ("refused", "failed"):
        raise value
    raise LimitExceeded(f"{what} needed more than {limits.memory_text()} and was stopped; a model that "
                        "asks for that much is refused.")


def _died(process: multiprocessing.process.BaseProcess, limits: Limits, what: str) -> LimitExceeded:
    """The sentence for a child that died instead of answering: the CPU limit's signal, or memory inside native code."""
    process.join(5)
    if process.exitcode == -signal.SIGXCPU:
        return LimitExceeded(f"{what} used more than {limits.cpu_seconds:g} s of CPU and was stopped "
                             "(ECOCOMPRESS_*_CPU_S); nothing it computed was kept.")
    return LimitExceeded(f"{what} went over its limits ({limits.text()}) and was stopped; nothing it computed was kept.")


def _timed_out(limits: Limits, what: str) -> LimitExceeded:
    return LimitExceeded(f"{what} did not finish within {limits.wall_seconds:g} s and was stopped; "
                         "nothing it computed was kept.")


# Imported once by the fork server, so each check forks with them loaded (milliseconds, not a second and a half).
CHECK_PRELOAD = ["numpy", "pandas", "onnx", "onnxruntime", "ecocompress.models.uploads"]


def _check_context() -> multiprocessing.context.BaseContext:
    """A fork server for one-shot checks (Linux), started with the checks' modules loaded; spawn elsewhere.

    The fork server is a single-threaded process of its own, so forking from it is safe even though the
    server that asks (Streamlit, with its threads) is not.
    """
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    os.environ.setdefault("ARROW_DEFAULT_MEMORY_POOL", "system")  # read when the fork server imports pyarrow
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(CHECK_PRELOAD)
    return context


class CheckPool:
    """Upload checks share the server: at most ``check_concurrency`` at once and ``checks_memory_mb`` of memory
    limits together (settings); a check that finds no room waits, is told so once, and gives up after its
    wall-time limit with a sentence."""

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self.running = 0
        self.memory_mb = 0.0

    @contextlib.contextmanager
    def slot(self, memory_mb: float, *, wait_s: float, on_wait: Callable[[str], None] | None = None) -> Iterator[None]:
        s = settings()
        with self._changed:
            deadline, told = time.monotonic() + wait_s, False
            while self.running >= s.check_concurrency or self.memory_mb + memory_mb > s.checks_memory_mb:
                if not told and on_wait is not None:
                    on_wait(f"Waiting for a free upload check: {self.running} running, at most {s.check_concurrency} "
                            f"at once (ECOCOMPRESS_CHECK_CONCURRENCY).")
                    told = True
                left = deadline - time.monotonic()
                if left <= 0:
                    raise ServerBusyError(f"The server is checking {self.running} other uploads and none finished "
                                          f"within {wait_s:g} s; try again in a minute.")
                self._changed.wait(min(left, POLL_S * 10))
            self.running += 1
            self.memory_mb += memory_mb
        try:
            yield
        finally:
            with self._changed:
                self.running -= 1
                self.memory_mb -= memory_mb
                self._changed.notify_all()


CHECKS = CheckPool()


def call_with_limits(
    function: Callable[..., Any], *args: Any, limits: Limits, what: str, on_wait: Callable[[str], None] | None = None,
) -> Any:
    """``function(*args)`` in a fresh child process under ``limits``; its return value, or one sentence about ``what``.

    The child takes a slot of the server's ``CHECKS`` pool first (``on_wait`` hears once if it has to wait).
    ``function`` must be importable by name (a module-level function) and its arguments picklable.
    Errors of ecocompress's own (``EcoCompressError``) raised in the child are raised here unchanged.
    """
    if inside_worker():
        return function(*args)
    with CHECKS.slot(limits.memory_mb, wait_s=limits.wall_seconds, on_wait=on_wait):
        context = _check_context()
        folder = private_folder()
        parent, child = context.Pipe(duplex=False)
        process = context.Process(target=_child, args=(child, limits, function, args, child_environment(), folder),
                                  daemon=True)
        try:
            process.start()
            child.close()
            if not parent.poll(limits.wall_seconds):
                raise _timed_out(limits, what)
            try:
                kind, value = parent.recv()
            except EOFError:  # the child died: the CPU limit's SIGXCPU, or the memory limit inside a native call
                raise _died(process, limits, what) from None
        finally:
            if process.is_alive():
                process.kill()
            process.join(5)
            parent.close()
            shutil.rmtree(folder, ignore_errors=True)
    return _decode(kind, value, limits, what)


class Worker:
    """A long-lived limited child serving one call at a time (see the module's docstring).

    ``call`` sends ``function(*args, progress=...)`` to the child, relays its progress, and checks
    ``check()`` every ``POLL_S``: when ``check`` raises (a cancel), the child is killed at once and the
    exception goes on. Calls from several threads take turns.
    """

    def __init__(self, memory_mb: float) -> None:
        self.memory_mb = memory_mb
        self._process: multiprocessing.process.BaseProcess | None = None
        self._connection = None
        self._folder: str | None = None
        self._turn = threading.Lock()

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def _start(self) -> None:
        if self._process is not None and self._process.is_alive():
            return
        context = multiprocessing.get_context("spawn")
        self._connection, child = context.Pipe(duplex=True)
        self._folder = private_folder()
        self._process = context.Process(target=_serve, args=(child, self.memory_mb, self._folder), daemon=True,
                                        name="ecocompress-worker")
        self._process.start()
        child.close()
        atexit.register(self.close)

    def close(self) -> None:
        """Let an idle child leave on its own (it cleans up what it registered); kill it if it does not."""
        if self._connection is not None and self._turn.acquire(timeout=0):
            try:
                self._connection.close()
                self._connection = None
                if self._process is not None:
                    self._process.join(2)
            finally:
                self._turn.release()
        self.stop()

    def stop(self) -> None:
        """Kill the child now (a cancelled or runaway call); the next call starts a fresh one."""
        process, self._process = self._process, None
        if process is not None:
            if process.is_alive():
                process.kill()
            process.join(5)
        if self._connection is not None:
            self._connection.close()
            self._connection = None
        folder, self._folder = self._folder, None
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)

    def call(
        self, function: Callable[..., Any], *args: Any, limits: Limits, what: str,
        progress: Progress = no_progress, check: Callable[[], None] = lambda: None,
    ) -> Any:
        with self._turn:
            self._start()
            process, connection = self._process, self._connection
            deadline = time.monotonic() + limits.wall_seconds
            try:
                connection.send((function, args, child_environment(), limits.cpu_seconds))
                while True:
                    check()
                    if time.monotonic() > deadline:
                        raise _timed_out(limits, what)
                    if not connection.poll(POLL_S):
                        continue
                    try:
                        kind, value = connection.recv()
                    except (EOFError, OSError):
                        raise _died(process, limits, what) from None
                    if kind != "progress":
                        break
                    progress(*value)
            except BaseException:
                self.stop()  # cancelled, timed out or died mid-call: the child and whatever it held go
                raise
            if kind == "memory":
                self.stop()  # a MemoryError inside the child: start the next call in a fresh one
        return _decode(kind, value, limits, what)
