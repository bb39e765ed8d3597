"""Electricity grids: CodeCarbon's bundled per-country carbon intensity, read without importing the tracker.

CO2e is energy x the grid's intensity: a view of a measured energy, not a measurement, so the grid is
chosen when a figure is shown and never has to be re-measured.
"""

from __future__ import annotations

import functools
import importlib.util
import json
from pathlib import Path
from typing import Any

from ecocompress.core.errors import MeasurementError, invalid_parameter

DEFAULT_COUNTRY = "USA"


@functools.lru_cache(maxsize=1)
def energy_mix() -> dict[str, dict[str, Any]]:
    """CodeCarbon's bundled per-country electricity mix table (read once per process).

    Read straight from CodeCarbon's package data (the file its ``DataSource`` reads), so
    validating a country does not import the tracker and its dependencies.
    """
    spec = importlib.util.find_spec("codecarbon")
    if spec is None or not spec.submodule_search_locations:
        raise MeasurementError("CodeCarbon is not installed; install the project with `pip install -e .`.")
    path = Path(list(spec.submodule_search_locations)[0]) / "data" / "private_infra" / "global_energy_mix.json"
    return json.loads(path.read_text())


def country_choices() -> list[tuple[str, str]]:
    """(ISO code, country name) pairs CodeCarbon has grid data for, sorted by name."""
    return sorted(((code, row.get("country_name", code)) for code, row in energy_mix().items()), key=lambda t: t[1])


def country_grid(country_iso_code: str) -> dict[str, Any]:
    """CodeCarbon's own grid data for a country: name, carbon intensity (g/kWh) and its year."""
    mix = energy_mix()
    code = str(country_iso_code).upper()
    if code not in mix:
        raise invalid_parameter("country", "a 3-letter ISO code CodeCarbon knows (e.g. USA, FRA, DEU)", country_iso_code)
    row = mix[code]
    return {
        "iso_code": code,
        "country_name": row.get("country_name", code),
        "carbon_intensity_g_per_kwh": float(row["carbon_intensity"]),
        "year": row.get("year"),
        "source": "CodeCarbon global_energy_mix.json (Our World in Data / Ember)",
    }
