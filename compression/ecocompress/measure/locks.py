"""One timing-sensitive measurement at a time on this machine, across processes.

Energy is read for the whole machine (CodeCarbon's machine mode): a window that overlaps another
process's training or timing counts that work too. Threads of one process are serialised by
``api``'s lock; this file lock serialises processes (search workers, a CLI run beside the
dashboard) for the short phases that time or meter a model. Training runs in parallel freely.
"""

from __future__ import annotations

import contextlib
import fcntl
from typing import Callable, Iterator

from ecocompress.core.settings import settings


@contextlib.contextmanager
def machine_measurement(on_wait: Callable[[], None] | None = None) -> Iterator[None]:
    """Hold the machine-wide measurement lock for the block; ``on_wait`` is called if we must wait."""
    path = settings().measure_lock
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if on_wait is not None:
                on_wait()
            fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
