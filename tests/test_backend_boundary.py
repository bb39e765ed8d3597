"""The backend never imports streamlit: pages are thin views over it."""

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_no_streamlit_import_in_backend_source():
    offenders = []
    for path in (ROOT / "compression").rglob("*.py"):  # the whole backend folder
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            if any(n == "streamlit" or n.startswith("streamlit.") for n in names):
                offenders.append(str(path.relative_to(ROOT)))
    assert offenders == []


def test_importing_the_backend_does_not_load_streamlit():
    code = (
        "import sys, pkgutil, importlib, ecocompress\n"
        "for m in pkgutil.walk_packages(ecocompress.__path__, 'ecocompress.'):\n"
        "    importlib.import_module(m.name)\n"
        "assert 'streamlit' not in sys.modules, 'streamlit was imported'\n"
        "assert ecocompress.__file__.startswith(sys.argv[1]), ecocompress.__file__\n"
    )
    proc = subprocess.run([sys.executable, "-c", code, str(ROOT)], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def test_serving_a_cached_point_does_not_load_torch_or_onnxruntime():
    """The CLI's cached path stays fast because the heavy libraries load only to compute."""
    code = (
        "import sys, ecocompress.cli, ecocompress.service.api, ecocompress.service.store\n"
        "from ecocompress.core.records import MeasureSettings\n"
        "MeasureSettings(country='FRA')\n"
        "heavy = [m for m in ('torch', 'onnxruntime', 'codecarbon', 'streamlit') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
