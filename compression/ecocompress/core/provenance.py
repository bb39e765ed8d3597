"""Where a figure came from: code version, library versions, machine, threads."""

from __future__ import annotations

import functools
import os
import hashlib
import platform
import sys
from importlib import metadata
from pathlib import Path

from ecocompress import __version__

PACKAGE_DIR = Path(__file__).resolve().parent.parent
# Modules that cannot change a measured figure: editing them keeps the cache valid. Paths relative to the
# package; a folder name covers everything under it.
NOT_RESULT_AFFECTING = (
    "cli/", "core/errors.py", "core/config.py", "core/provenance.py", "core/pareto.py",
    "core/units.py", "core/objectives.py", "core/choice.py",
    "service/store.py", "service/jobs.py", "service/sweep.py", "service/search.py", "service/compute_queue.py",
    # views over stored results: projections, modelled energy, reports and exports never change a measured figure
    "review/", "measure/opcounts.py", "measure/energy_model.py",
)


def _affects_results(relative: str) -> bool:
    return not any(relative == p or (p.endswith("/") and relative.startswith(p)) for p in NOT_RESULT_AFFECTING)


@functools.lru_cache(maxsize=None)
def code_version() -> str:
    """Package version plus a hash of every module that can change a measured figure."""
    digest = hashlib.sha256()
    for path in sorted(PACKAGE_DIR.rglob("*.py")):
        relative = path.relative_to(PACKAGE_DIR).as_posix()
        if not _affects_results(relative):
            continue
        digest.update(relative.encode())
        digest.update(path.read_bytes())
    return f"{__version__}+{digest.hexdigest()[:12]}"


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "not installed"


@functools.lru_cache(maxsize=None)
def _cpu_model() -> str:
    """The CPU's marketing name (Linux); what CodeCarbon looks up its TDP by."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def hardware() -> str:
    """This machine's hardware class, as a store files its points: ``ECOCOMPRESS_HARDWARE_LABEL``, else the CPU model
    and its logical cores. Points measured on another class are other figures (CodeCarbon's estimate follows the
    CPU), never served or charted here."""
    from ecocompress.core.settings import settings

    return settings().hardware_label or f"{_cpu_model()}, {os.cpu_count()} logical cores"


def machine() -> dict[str, str]:
    """What a person asks of a machine that measured a figure: CPU, cores, memory, OS and runtime."""
    try:
        memory = f"{os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30:.0f} GiB"
    except (ValueError, OSError, AttributeError):
        memory = "unknown"
    return {"cpu_model": _cpu_model(), "cpu_count": str(os.cpu_count()), "memory": memory,
            "os": platform.platform(), "onnxruntime": _version("onnxruntime")}


@functools.lru_cache(maxsize=None)
def environment() -> dict[str, str]:
    """Library versions and machine facts recorded with every measured point."""
    return {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "machine": platform.machine(),
        "processor": platform.processor() or "unknown",
        "cpu_model": _cpu_model(),
        "cpu_count": str(os.cpu_count()),
        **{name: _version(name) for name in ("torch", "onnx", "onnxruntime", "codecarbon", "numpy")},
    }
