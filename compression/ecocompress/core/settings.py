"""Every ``ECOCOMPRESS_*`` setting, declared once: its default, its range, its unit and what it limits.

``settings()`` reads them from the environment into one frozen, validated ``Settings``. A value that is
text, ``nan``, ``inf``, out of its range or a fraction where a whole number is needed stops the app or the
CLI with one sentence naming the variable and its range (``SettingsError``), instead of crashing later or
silently switching a limit off (``nan`` compares false with everything). The limits table in docs/limits.md is
generated from the same declarations (``markdown_table``), and a test keeps the two equal.

The environment is read again only when an ``ECOCOMPRESS_*`` variable changes (tests change them; a
server never does), so every caller sees the same validated values.
"""

from __future__ import annotations

import dataclasses
import math
import re
import os
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ecocompress.core.errors import EcoCompressError
from ecocompress.core.records import MeasureSettings
from ecocompress.core.units import clipped

PREFIX = "ECOCOMPRESS_"
MEMORY_SHARE = 0.8  # the server's default memory ceiling: this share of the machine's memory


class SettingsError(EcoCompressError):
    """An ``ECOCOMPRESS_*`` variable with a value outside its declared range."""


class Url(str):
    """A setting that is a PostgreSQL URL (never echoed in a message: it can hold a password)."""


class Label(str):
    """A setting that is a short name: letters, digits, spaces and ``._-``, at most 64 characters."""


@dataclass(frozen=True)
class Spec:
    """How one setting is read and shown: kind, range, unit, and the sentence the limits table (docs/limits.md) prints."""

    kind: type  # int, float, bool, Path, Url or Label
    meaning: str
    low: float | None = None
    high: float | None = None
    unit: str = ""
    default_text: str | None = None  # for defaults that are computed (the machine's memory) or absent

    def range_text(self) -> str:
        if self.kind is bool:
            return "0 or 1"
        if self.kind is Path:
            return "a path"
        if self.kind is Url:
            return "a postgresql:// URL"
        if self.kind is Label:
            return "a name of at most 64 letters, digits, spaces or ._-"
        unit = f" {self.unit}" if self.unit else ""
        whole = "a whole number" if self.kind is int else "a number"
        return f"{whole} in [{_plain(self.low)}, {_plain(self.high)}]{unit}"


def _plain(value: float | None) -> str:
    return f"{value:,.0f}" if value is not None and float(value).is_integer() else f"{value:g}"


def _number(default: float | None, low: float, high: float, unit: str, meaning: str, *, kind: type = float,
            default_text: str | None = None) -> Any:
    return field(default=default, metadata={"spec": Spec(kind, meaning, low, high, unit, default_text)})


def _whole(default: int, low: int, high: int, unit: str, meaning: str) -> Any:
    return _number(default, low, high, unit, meaning, kind=int)


def _flag(default: bool, meaning: str) -> Any:
    return field(default=default, metadata={"spec": Spec(bool, meaning)})


def _text(kind: type, meaning: str, default_text: str) -> Any:
    return field(default=None, metadata={"spec": Spec(kind, meaning, default_text=default_text)})


def _path(default: Path | None, meaning: str, default_text: str) -> Any:
    return field(default=default, metadata={"spec": Spec(Path, meaning, default_text=default_text)})


@dataclass(frozen=True)
class Settings:
    """The server's settings; the environment variable of ``max_upload_mb`` is ``ECOCOMPRESS_MAX_UPLOAD_MB``."""

    # where things live
    home: Path = _path(Path("~/.ecocompress").expanduser(), "folder of the results database and the compressed models",
                       "~/.ecocompress")
    db: Path | None = _path(None, "the results database", "results.sqlite in the home folder")
    store_url: str | None = _text(Url, "a shared results store on PostgreSQL (points and jobs of several app replicas "
                                  "and the CLI, on any machine); replaces ECOCOMPRESS_DB", "none: the SQLite file")
    hardware_label: str | None = _text(Label, "this machine's hardware class: the points it measures are filed, "
                                       "charted and served under it", "the CPU model and its logical cores")
    measure_lock: Path = _path(Path(tempfile.gettempdir()) / "ecocompress-measure.lock",
                               "lock file that keeps two processes' energy windows apart", "in the temporary folder")
    chromium: Path | None = _path(None, "Chromium used for the PDF report", "found on the PATH")
    # uploads: what a file may be and expand to, checked before anything is expanded
    max_upload_mb: float = _number(100.0, 0.001, 100_000, "MB", "size of one uploaded file")
    max_array_mb: float = _number(400.0, 0.001, 100_000, "MB", "arrays an NPZ may expand to, read from its zip directory "
                                  "and `.npy` headers before any array is read")
    max_expansion: float = _number(100.0, 1, 100_000, "times", "memory a data file may take once read, as a multiple of its "
                                   "size on the wire (a zero-filled NPZ expands a thousandfold)")
    max_csv_cells: int = _whole(20_000_000, 1, 10**10, "values", "rows x columns of a CSV, counted the way the parser "
                                "splits rows, before parsing")
    # upload checks: each runs the model once in a child process; a bounded pool of them at a time
    check_memory_mb: float = _number(2500.0, 100, 1_000_000, "MB", "memory of one upload check (an 11M-parameter "
                                     "ResNet with 30,000 MNIST images needs 1,600 MB)")
    check_cpu_s: float = _number(60.0, 1, 86_400, "s", "CPU time of one upload check")
    check_wall_s: float = _number(90.0, 1, 86_400, "s", "wall time of one upload check (and the longest an upload "
                                  "waits for a free check)")
    check_concurrency: int = _whole(2, 1, 64, "checks", "upload checks running at once; others wait with a sentence")
    checks_memory_mb: float = _number(5000.0, 100, 1_000_000, "MB", "memory of all upload checks running at once")
    convert_memory_mb: float = _number(3000.0, 100, 1_000_000, "MB", "memory of converting one upload to PyTorch "
                                       "(an 11M-parameter ResNet peaks at 1,800 MB); over it, the upload keeps the "
                                       "post-training techniques")
    # uploads held in memory by open sessions
    uploads_per_session: int = _whole(3, 1, 100, "uploads", "uploads one browser session holds (the oldest is let go)")
    session_uploads_mb: float = _number(500.0, 0.001, 1_000_000, "MB", "memory of the uploads one session holds")
    max_uploads_mb: float = _number(2000.0, 0.001, 1_000_000, "MB", "memory of the uploads all open sessions hold together")
    max_uploads: int = _whole(32, 1, 10_000, "models", "Python models registered in one process (the oldest go first)")
    # compute jobs: build, fine-tune and measure, one at a time, in a limited worker process
    job_memory_mb: float = _number(6000.0, 500, 1_000_000, "MB", "memory of one build-and-measure job")
    job_cpu_s: float = _number(1200.0, 1, 10**7, "s", "CPU time of one build-and-measure job")
    job_wall_s: float = _number(900.0, 1, 10**7, "s", "wall time of one build-and-measure job")
    max_jobs_per_session: int = _whole(3, 1, 1000, "jobs", "jobs one session may have queued or running (points, "
                                       "sweeps, searches and per-layer choices together)")
    max_queued_jobs: int = _whole(60, 1, 100_000, "jobs", "jobs waiting on the whole server")
    max_rss_mb: float | None = _number(None, 1, 10**8, "MB", "the server's own memory: above it, new uploads and jobs "
                                       "wait with a sentence", default_text=f"{MEMORY_SHARE:.0%} of the machine")
    # measurement defaults (each page's sidebar can change them within the same range)
    energy_budget_s: int = _whole(int(MeasureSettings.energy_budget_s), 1, 120, "s", "default time limit for a point's energy windows (pages, CLI and Python API)")
    energy_pairs: int = _whole(MeasureSettings.repeats, 2, 20, "pairs", "default least number of energy window pairs per point (pages, CLI and Python API)")
    debounce_s: float = _number(1.5, 0, 60, "s", "pause after the last knob move before a new point is queued")
    starters: bool = _flag(True, "Home measures its starter points by itself on an empty store")
    debug: bool = _flag(False, "the CLI prints a traceback for an internal error")

    @property
    def results_db(self) -> Path:
        return self.db if self.db is not None else self.home / "results.sqlite"

    @property
    def artifacts(self) -> Path:
        return self.home / "artifacts"

    @property
    def memory_ceiling_mb(self) -> float:
        """``max_rss_mb``, or ``MEMORY_SHARE`` of the machine's memory."""
        if self.max_rss_mb is not None:
            return self.max_rss_mb
        try:
            with open("/proc/meminfo") as handle:
                total_kb = next(int(line.split()[1]) for line in handle if line.startswith("MemTotal"))
        except (OSError, StopIteration, ValueError):
            return math.inf
        return total_kb / 1e3 * MEMORY_SHARE


def specs() -> dict[str, tuple[dataclasses.Field, Spec]]:
    """Environment variable -> (field, spec), in declaration order."""
    return {PREFIX + f.name.upper(): (f, f.metadata["spec"]) for f in dataclasses.fields(Settings)}


def spec_of(name: str) -> Spec:
    """The declaration of one setting by field name (widgets take their ranges from here)."""
    return next(s for variable, (f, s) in specs().items() if f.name == name)


def _parse(variable: str, spec: Spec, text: str) -> Any:
    """One variable's value, or ``SettingsError`` naming it and its range."""
    def refuse() -> SettingsError:
        return SettingsError(f"{variable} must be {spec.range_text()}; got {clipped(text, 40)!r}. Fix or unset it "
                             "(docs/limits.md) and start again.")

    stripped = text.strip()
    if spec.kind is Url:
        if not stripped:
            return None
        if not stripped.startswith(("postgresql://", "postgres://")) or "\x00" in stripped:
            raise SettingsError(f"{variable} must be a postgresql:// URL; got a value that is not one. Fix or unset it "
                                "(docs/limits.md) and start again.")  # never echoed: a URL can hold a password
        return stripped
    if spec.kind is Label:
        if not stripped:
            return None
        if len(stripped) > 64 or not re.fullmatch(r"[A-Za-z0-9 ._-]+", stripped):
            raise refuse()
        return stripped
    if spec.kind is Path:
        if not stripped or "\x00" in stripped:
            raise refuse()
        return Path(os.path.abspath(os.path.expanduser(stripped)))  # absolute: children run in other folders
    if spec.kind is bool:
        if stripped.lower() in ("1", "true", "yes", "on"):
            return True
        if stripped.lower() in ("", "0", "false", "no", "off"):
            return False
        raise refuse()
    try:
        value = float(stripped)
    except ValueError:
        raise refuse() from None
    if not math.isfinite(value) or not spec.low <= value <= spec.high:
        raise refuse()
    if spec.kind is int:
        if not value.is_integer():
            raise refuse()
        return int(value)
    return value


def from_environment(environ: dict[str, str] | os._Environ) -> Settings:
    """Every setting from ``environ`` (defaults for those unset), validated; the first bad one raises."""
    values = {}
    for variable, (f, spec) in specs().items():
        if variable in environ:
            values[f.name] = _parse(variable, spec, environ[variable])
    return Settings(**values)


_CACHE: dict[tuple, Settings] = {}
_LOCK = threading.Lock()


def settings() -> Settings:
    """The validated settings of this process's environment (read again only when a variable changed)."""
    key = tuple(sorted((k, v) for k, v in os.environ.items() if k.startswith(PREFIX)))
    with _LOCK:
        found = _CACHE.get(key)
        if found is None:
            found = from_environment(os.environ)
            if len(_CACHE) > 64:
                _CACHE.clear()
            _CACHE[key] = found
        return found


def set_for_this_process(**values: str) -> Settings:
    """Set settings (by field name) for this process and the children it starts, as if its environment had them:
    what a command's flags do (``--store``, ``--hardware-label``). Checked like any setting; returns them all."""
    for name, text in values.items():
        variable = PREFIX + name.upper()
        if variable not in specs():
            raise KeyError(name)
        _parse(variable, specs()[variable][1], text)
        os.environ[variable] = text
    return settings()


def measure_defaults() -> MeasureSettings:
    """How a point is measured when the caller does not say: the server's energy budget and pairs (the pages'
    sidebar starts there too), so the pages, the CLI and the Python API default to the same windows."""
    current = settings()
    return MeasureSettings(repeats=current.energy_pairs, energy_budget_s=float(current.energy_budget_s))


def child_environment() -> dict[str, str]:
    """This process's environment for a child that runs in another folder: path settings made absolute."""
    current = settings()
    environ = dict(os.environ)
    for variable, (f, spec) in specs().items():
        if spec.kind is Path and variable in environ:
            environ[variable] = str(getattr(current, f.name))
    return environ


def markdown_table() -> str:
    """The limits table of docs/limits.md, from the declarations (``python -m ecocompress.core.settings`` prints it)."""
    defaults = Settings()
    rows = ["| setting | what it sets | default | allowed |", "| --- | --- | --- | --- |"]
    for variable, (f, spec) in specs().items():
        value = getattr(defaults, f.name)
        if spec.default_text is not None:
            default = spec.default_text
        elif spec.kind is bool:
            default = "1" if value else "0"
        else:
            default = f"{_plain(value)} {spec.unit}".strip()
        rows.append(f"| `{variable}` | {spec.meaning} | {default} | {spec.range_text()} |")
    return "\n".join(rows)


if __name__ == "__main__":
    print(markdown_table())
