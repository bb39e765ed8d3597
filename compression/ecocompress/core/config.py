"""Where ecocompress keeps its files (``ECOCOMPRESS_HOME``, default ``~/.ecocompress``; ``core.settings``).

The home holds the results database (``results.sqlite``, or ``ECOCOMPRESS_DB``) and the compressed
artifacts (``artifacts/``). Paths are absolute: limited children run in private empty folders.
"""

from __future__ import annotations

from pathlib import Path

from ecocompress.core.settings import settings

# The checkout: compression/ecocompress/core/config.py -> the folder holding sample_models/.
PROJECT_DIR = Path(__file__).resolve().parents[3]
SAMPLE_DIR = PROJECT_DIR / "sample_models"
SAMPLE_DATA_DIR = SAMPLE_DIR / "data"


def home_dir() -> Path:
    return settings().home


def db_path() -> Path:
    return settings().results_db


def artifacts_dir() -> Path:
    return settings().artifacts
