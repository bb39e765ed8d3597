"""ruff's error rules (``[tool.ruff.lint]`` in pyproject.toml) over every Python file we ship or run, so the
README's test command lints as it tests."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _ruff() -> list[str]:
    found = shutil.which("ruff", path=str(Path(sys.executable).parent)) or shutil.which("ruff")
    assert found, 'ruff is missing: pip install -e ".[test]"'
    return [found]


def test_ruff_finds_no_errors():
    result = subprocess.run([*_ruff(), "check", "--no-cache", "compression", "tests", "pages", "app.py", "bench",
                             "sample_models"], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_ruff_would_see_an_undefined_name(tmp_path):
    """The check above can fail: the same configuration flags a planted undefined name in an annotation."""
    planted = tmp_path / "planted.py"
    planted.write_text("def f(x: Undefined) -> None:\n    return None\n")
    result = subprocess.run([*_ruff(), "check", "--no-cache", "--config", str(ROOT / "pyproject.toml"), str(planted)],
                            capture_output=True, text=True)
    assert result.returncode == 1 and "F821" in result.stdout
