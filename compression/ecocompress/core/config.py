"""Where ecocompress keeps its files, configurable through environment variables.

``ECOCOMPRESS_HOME`` (default ``~/.ecocompress``) holds the results database
(``results.sqlite``, or ``ECOCOMPRESS_DB``) and the compressed artifacts (``artifacts/``).
"""

from __future__ import annotations

import os
from pathlib import Path


# The checkout: compression/ecocompress/core/config.py -> the folder holding sample_models/.
PROJECT_DIR = Path(__file__).resolve().parents[3]
SAMPLE_DIR = PROJECT_DIR / "sample_models"
SAMPLE_DATA_DIR = SAMPLE_DIR / "data"


def home_dir() -> Path:
    return Path(os.environ.get("ECOCOMPRESS_HOME", Path.home() / ".ecocompress")).expanduser()


def db_path() -> Path:
    return Path(os.environ.get("ECOCOMPRESS_DB", home_dir() / "results.sqlite")).expanduser()


def artifacts_dir() -> Path:
    return home_dir() / "artifacts"


def env_number(variable: str, default: float) -> float:
    """A numeric setting from the environment; the default when it is unset or not a number."""
    try:
        return float(os.environ.get(variable, default))
    except ValueError:
        return default
