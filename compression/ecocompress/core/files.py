"""Reading a user's input files and writing results where a user points: bounded, and never through a link.

Inputs must be regular files, and at most ``limit`` bytes are read: ``/dev/zero`` or a FIFO given as
data is refused before a byte is read, instead of reading without end or hanging. Outputs are written
to a temporary file in the target's folder and moved into place with ``os.replace``, which replaces a
symbolic link planted at the target instead of writing through it, and leaves no half-written file.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
import tempfile
from pathlib import Path
from typing import BinaryIO, Callable

from ecocompress.core.errors import InvalidParameterError
from ecocompress.core.units import clipped


def _shown(path: Path | str) -> str:
    return repr(clipped(str(path), 120))


def too_large(what: str, name: str, size: int, limit: int) -> str:
    """The sentence for an upload over ``ECOCOMPRESS_MAX_UPLOAD_MB`` (a file given to the CLI or the page)."""
    return (f"The {what} {_shown(name)} is {size / 1e6:,.1f} MB; the limit is {limit / 1e6:,.0f} MB "
            "(set ECOCOMPRESS_MAX_UPLOAD_MB to change it).")


def read_regular_file(path: Path | str, *, limit: int, what: str) -> bytes:
    """The bytes of ``path``, a regular file of at most ``limit`` bytes, or one sentence saying why not."""
    try:  # O_NONBLOCK: opening a FIFO returns at once instead of waiting for a writer
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        raise InvalidParameterError(f"Cannot read the {what} {_shown(path)} ({exc.strerror or exc}).") from None
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise InvalidParameterError(f"The {what} {_shown(path)} is not a regular file (a device, pipe, socket or "
                                        "folder); give the path of a file.")
        if info.st_size > limit:
            raise InvalidParameterError(too_large(what, Path(path).name, info.st_size, limit))
        data = handle.read(limit + 1)
    if len(data) > limit:  # it grew while being read
        raise InvalidParameterError(f"The {what} {_shown(Path(path).name)} grew beyond {limit / 1e6:,.0f} MB while it "
                                    "was read; give a file that is not being written.")
    return data


def refuse_link(path: Path | str, flag: str) -> None:
    """Refuse an output path that is a symbolic link (before any work): results are never written through one."""
    if os.path.islink(path):
        raise InvalidParameterError(f"The {flag!r} path {_shown(path)} is a symbolic link; ecocompress never writes "
                                    "through links: remove it or choose another name.")


def _replace(path: Path | str, fill: Callable[[BinaryIO], None]) -> Path:
    path = Path(path)
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name[:60]}.", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as handle:
            fill(handle)
        os.replace(temporary, path)  # replaces a link at ``path`` itself; never follows it
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
    return path


def write_file(path: Path | str, data: bytes | str) -> Path:
    """Write ``data`` (text as UTF-8) to ``path`` through a temporary file and ``os.replace``."""
    raw = data.encode("utf-8") if isinstance(data, str) else data
    return _replace(path, lambda handle: handle.write(raw))


def copy_file(source: Path | str, path: Path | str) -> Path:
    """Copy ``source`` to ``path`` through a temporary file and ``os.replace``."""
    def fill(handle: BinaryIO) -> None:
        with open(source, "rb") as original:
            shutil.copyfileobj(original, handle)

    return _replace(path, fill)
