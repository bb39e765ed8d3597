"""Shared fixtures: every test gets its own ecocompress home (store + artifacts) in tmp."""

from __future__ import annotations

import glob
import os
import socket
import subprocess
import tempfile
import uuid
import shutil
import sqlite3
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SOURCE = ROOT / "compression"  # the source root that holds the `ecocompress` package
if str(SOURCE) not in sys.path:  # import this checkout's `ecocompress`, never another copy
    sys.path.insert(0, str(SOURCE))
# ...and so do the processes tests start (CLI calls, the Streamlit server, killed runs, limited checks)
os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(SOURCE), os.environ.get("PYTHONPATH", "")) if p)

# Home measures starter points in the background on an empty store; tests that want it turn it on.
os.environ["ECOCOMPRESS_STARTERS"] = "0"
os.environ["ECOCOMPRESS_DEBOUNCE_S"] = "0.3"  # the slider debounce, shorter: AppTest reruns never overlap
# The pages' sidebar defaults for a point's energy windows (45 s, 4 pairs), short: a page's first render measures
# the baseline at them, so an AppTest that only then sets the sidebar would measure it twice (once for 45 s).
os.environ["ECOCOMPRESS_ENERGY_BUDGET_S"] = "1"
os.environ["ECOCOMPRESS_ENERGY_PAIRS"] = "2"

from ecocompress.core.records import MeasureSettings  # noqa: E402

# Short energy windows keep the suite fast; the figures are still real CodeCarbon readings.
FAST_SETTINGS = MeasureSettings(repeats=2, energy_window_s=0.6, energy_budget_s=1.0)  # 0.6 s: off the 0.5 s ticks
PAGE_SETTINGS = MeasureSettings(repeats=2, energy_budget_s=1.0)  # what a page measures at the sidebar defaults above


@pytest.fixture(autouse=True)
def eco_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "eco-home"
    monkeypatch.setenv("ECOCOMPRESS_HOME", str(home))
    monkeypatch.delenv("ECOCOMPRESS_DB", raising=False)
    monkeypatch.delenv("ECOCOMPRESS_STORE_URL", raising=False)  # never a developer's shared store
    return home


@pytest.fixture
def fast_settings() -> MeasureSettings:
    return FAST_SETTINGS


@pytest.fixture(scope="module")
def module_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One ecocompress home for a whole test module (modules that measure once and check many ways).

    A module opts in with ``@pytest.fixture(autouse=True) def eco_home(module_home): return module_home``.
    """
    home = tmp_path_factory.mktemp("eco-module-home")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ECOCOMPRESS_HOME", str(home))
        mp.delenv("ECOCOMPRESS_DB", raising=False)
        mp.delenv("ECOCOMPRESS_STORE_URL", raising=False)
        yield home


def copy_home(template: Path, home: Path) -> Path:
    """A copy of a measured home whose stored records name the copy's artifacts (so a test may change them)."""
    shutil.copytree(template, home)
    with sqlite3.connect(home / "results.sqlite") as db:
        db.execute("UPDATE points SET result_json = replace(result_json, ?, ?), "
                   "provenance_json = replace(provenance_json, ?, ?)", (str(template), str(home)) * 2)
    db.close()
    return home


@pytest.fixture(scope="session")
def baseline_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """digits-cnn's baseline measured once per test run (real build, onnxruntime and CodeCarbon) at PAGE_SETTINGS."""
    from ecocompress.core.points import CompressionPoint
    from ecocompress.service.api import measure_point

    home = tmp_path_factory.mktemp("eco-baseline-home") / "home"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ECOCOMPRESS_HOME", str(home))
        mp.delenv("ECOCOMPRESS_DB", raising=False)
        measure_point("digits-cnn", CompressionPoint(), PAGE_SETTINGS)
    return home


@pytest.fixture
def measured_baseline(baseline_home: Path, eco_home: Path):
    """This test's home holds a copy of the session's measured digits-cnn baseline; returns its record."""
    from ecocompress.core.points import CompressionPoint
    from ecocompress.service.api import lookup

    copy_home(baseline_home, eco_home)
    record = lookup("digits-cnn", CompressionPoint(), PAGE_SETTINGS)
    assert record is not None and record.onnx_path.startswith(str(eco_home))
    return record


@pytest.fixture
def fake_allocation(monkeypatch):
    """Replace the per-layer choice (sensitivities and short fine-tunes, tested on their own) with a given result;
    returns the list of (objective, budget) it was asked for."""
    from ecocompress.service import layers as layer_service

    calls: list[tuple[str, float]] = []

    def install(result):
        def fake(spec, objective, drop, seed, *, progress):
            calls.append((objective, drop))
            return result

        monkeypatch.setattr(layer_service, "_allocate", fake)
        return calls

    return install


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Files with more slow tests first (stable otherwise): test processes take files in this order, so the long
    files start early instead of leaving one process running alone at the end."""
    slow: dict[Path, int] = {}
    for item in items:
        slow[item.path] = slow.get(item.path, 0) + (item.get_closest_marker("slow") is not None)
    items.sort(key=lambda item: -slow[item.path])


def _machine_line() -> str:
    """The CPU and runtime, for the log: energy and latency ratios differ by CPU (int8 vs fp32 most of all)."""
    import onnxruntime

    cpu = "unknown"
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                   if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return f"cpu: {cpu}, {os.cpu_count()} logical cores; onnxruntime {onnxruntime.__version__}"


def pytest_report_header() -> list[str]:
    return [_machine_line()]


def pytest_terminal_summary(terminalreporter) -> None:
    """Repeated at the end, where a log's tail (all CI keeps of a failure) still shows it."""
    terminalreporter.write_line(_machine_line())


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def postgres_url():
    """ECOCOMPRESS_TEST_POSTGRES_URL, or a throwaway server started here (initdb + pg_ctl) and stopped after."""
    if os.environ.get("ECOCOMPRESS_TEST_POSTGRES_URL"):
        yield os.environ["ECOCOMPRESS_TEST_POSTGRES_URL"]
        return
    found = shutil.which("initdb") or next(iter(sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))), None)
    if not found:
        message = "PostgreSQL server binaries not found (apt-get install postgresql); .ci/run installs them"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    bindir = os.path.dirname(found)
    root = tempfile.mkdtemp(prefix="ecocompress-pg-")
    as_user = []
    if os.geteuid() == 0:  # PostgreSQL refuses to run as root
        shutil.chown(root, "postgres")
        as_user = ["runuser", "-u", "postgres", "--"]
    port = _free_port()
    data = os.path.join(root, "data")
    # UTF8 whatever the caller's locale: without LANG a cluster is SQL_ASCII, and psycopg then hands SQLAlchemy bytes
    subprocess.run([*as_user, f"{bindir}/initdb", "-D", data, "-A", "trust", "-U", "postgres", "-E", "UTF8", "--locale=C"], check=True,
                   capture_output=True)
    subprocess.run([*as_user, f"{bindir}/pg_ctl", "-D", data, "-l", os.path.join(root, "log"), "-w", "-o",
                    f"-p {port} -k {root} -c listen_addresses=127.0.0.1", "start"], check=True, capture_output=True)
    try:
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run([*as_user, f"{bindir}/pg_ctl", "-D", data, "-m", "fast", "-w", "stop"], capture_output=True)
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def pg_url(postgres_url):
    """A fresh database on the test server, dropped afterwards (tests never see each other's rows)."""
    import psycopg

    name = f"store_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield postgres_url.rsplit("/", 1)[0] + "/" + name
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
