"""Where a figure came from: code version, library versions, machine, threads."""

from __future__ import annotations

import functools
import os
import hashlib
import platform
import sys
from importlib import metadata
from pathlib import Path

from compression import __version__

PACKAGE_DIR = Path(__file__).resolve().parent
# Modules that cannot change a measured figure: editing them keeps the cache valid.
NOT_RESULT_AFFECTING = {
    "cli.py", "store.py", "errors.py", "config.py", "provenance.py", "pareto.py", "plots.py", "units.py", "jobs.py", "sweep.py",
    # views over stored results: projections, modelled energy, reports and exports never change a measured figure
    "projection.py", "opcounts.py", "energy_model.py", "images.py", "report.py", "artifacts.py",
}


@functools.lru_cache(maxsize=None)
def code_version() -> str:
    """Package version plus a hash of every module that can change a measured figure."""
    digest = hashlib.sha256()
    for path in sorted(PACKAGE_DIR.rglob("*.py")):
        if path.name in NOT_RESULT_AFFECTING:
            continue
        digest.update(path.relative_to(PACKAGE_DIR).as_posix().encode())
        digest.update(path.read_bytes())
    return f"{__version__}+{digest.hexdigest()[:12]}"


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "not installed"


def _cpu_model() -> str:
    """The CPU's marketing name (Linux); what CodeCarbon looks up its TDP by."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


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
