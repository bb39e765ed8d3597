"""Run untrusted work in a child process with memory, CPU and wall-clock limits.

A model someone uploaded can ask onnxruntime for gigabytes (``ConstantOfShape``) or for a loop of 2^40
iterations; inside the server process that would take the memory or the cores of everyone sharing it.
Here the work runs in a fresh (spawned) process with ``RLIMIT_AS`` and ``RLIMIT_CPU`` set before it
starts, and the parent kills it when the wall-clock limit passes. The child's answer comes back through
a pipe; when the child dies instead, the caller gets one sentence saying which limit it hit.
"""

from __future__ import annotations

import multiprocessing
import traceback
from dataclasses import dataclass
from typing import Any, Callable

from ecocompress.core.config import env_number
from ecocompress.core.errors import EcoCompressError


@dataclass(frozen=True)
class Limits:
    """What one untrusted call may use; defaults from ``ECOCOMPRESS_CHECK_*`` settings."""

    memory_mb: float = 1500.0
    cpu_seconds: float = 60.0
    wall_seconds: float = 90.0

    @classmethod
    def for_checks(cls) -> "Limits":
        return cls(
            memory_mb=env_number("ECOCOMPRESS_CHECK_MEMORY_MB", cls.memory_mb),
            cpu_seconds=env_number("ECOCOMPRESS_CHECK_CPU_S", cls.cpu_seconds),
            wall_seconds=env_number("ECOCOMPRESS_CHECK_WALL_S", cls.wall_seconds),
        )


class LimitExceeded(EcoCompressError):
    """The untrusted work went over a limit and was stopped; nothing it computed is kept."""


def _child(connection, limits: Limits, function: Callable[..., Any], args: tuple) -> None:
    import resource

    memory = int(limits.memory_mb * 1e6)
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    cpu = max(1, int(limits.cpu_seconds))
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
    try:
        connection.send(("ok", function(*args)))
    except EcoCompressError as exc:
        connection.send(("refused", exc))
    except MemoryError:
        connection.send(("memory", None))
    except BaseException:  # noqa: BLE001 - reported as a kind, never with what the model computed
        connection.send(("failed", traceback.format_exc(limit=1).splitlines()[-1].split(":")[0]))
    finally:
        connection.close()


def call_with_limits(function: Callable[..., Any], *args: Any, limits: Limits, what: str) -> Any:
    """``function(*args)`` in a child process under ``limits``; its return value, or one sentence about ``what``.

    ``function`` must be importable by name (a module-level function) and its arguments picklable.
    Errors of ecocompress's own (``EcoCompressError``) raised in the child are raised here unchanged.
    """
    context = multiprocessing.get_context("spawn")
    parent, child = context.Pipe(duplex=False)
    process = context.Process(target=_child, args=(child, limits, function, args), daemon=True)
    process.start()
    child.close()
    try:
        if not parent.poll(limits.wall_seconds):
            raise LimitExceeded(f"{what} did not finish within {limits.wall_seconds:g} s and was stopped; "
                                "simplify the model or check that it runs in onnxruntime on a few examples.")
        try:
            kind, value = parent.recv()
        except EOFError:  # the child died: the CPU limit's SIGXCPU/SIGKILL, or the memory limit inside a native call
            process.join(5)
            raise LimitExceeded(
                f"{what} went over its limits ({limits.memory_mb:g} MB of memory, {limits.cpu_seconds:g} s of CPU) and "
                "was stopped; a model that asks for that much is refused."
            ) from None
    finally:
        if process.is_alive():
            process.kill()
        process.join(5)
        parent.close()
    if kind == "ok":
        return value
    if kind == "refused":
        raise value
    if kind == "memory":
        raise LimitExceeded(f"{what} needed more than {limits.memory_mb:g} MB of memory and was stopped; a model that "
                            "asks for that much is refused.")
    raise LimitExceeded(f"{what} failed ({value}); check that the model runs in onnxruntime on a few of your examples.")
