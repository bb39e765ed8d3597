"""SCI, Scope 2, embodied carbon, water and the rating: the arithmetic checked by hand on plain records."""

from __future__ import annotations

import math

import pytest

from ecocompress.core.errors import InvalidParameterError
from ecocompress.review.footprint import (
    ENERGY_BANDS, HARDWARE, FootprintInputs, footprint, functional_unit, rating, with_hardware,
)
from ecocompress.review.projection import Scale

BASELINE = {"energy_wh_per_1k": 2e-3, "latency_ms_per_item_large_batch": 0.05, "latency_ms_batch1": 0.5}
POINT = {  # what a Measurement dict holds for a point measured against BASELINE
    "baseline_energy_wh_per_1k": 2e-3, "energy_wh_per_1k": 1e-3, "energy_ratio": 0.5,
    "energy_ratio_ci_low": 0.45, "energy_ratio_ci_high": 0.56,
    "latency_ratio": 0.4, "latency_ratio_ci_low": 0.35, "latency_ratio_ci_high": 0.46, "ort_threads": 1,
    "latency_ms_batch1": 0.2,
}


def test_sci_is_energy_times_intensity_plus_the_embodied_share_per_unit_by_hand():
    scale = Scale(inferences_per_day=1e6, country="FRA", pue=1.2)
    inputs = FootprintInputs(unit=functional_unit("1000 requests"))
    f = footprint(POINT, BASELINE, scale, inputs)
    hw = HARDWARE["server"]
    intensity = scale.grid["carbon_intensity_g_per_kwh"]
    e = POINT["energy_wh_per_1k"] / 1000 * 1000 * 1.2 / 1000  # kWh per 1,000 requests, PUE applied
    seconds = 0.05 * 0.4 / 1000 * 1000  # time 1,000 inferences reserve the machine
    m = hw.embodied_kg * 1000 * seconds / (hw.lifetime_years * 365 * 24 * 3600) * (1 / hw.cores)
    assert f.point.energy_kwh_per_unit.value == pytest.approx(e)
    assert f.point.embodied_g_per_unit.value == pytest.approx(m)
    assert f.point.sci_g_per_unit.value == pytest.approx(e * intensity + m)
    low = 2e-3 * 0.45 / 1000 * 1000 * 1.2 / 1000 * intensity + m * 0.35 / 0.4 * hw.embodied_low_kg / hw.embodied_kg
    assert f.point.sci_g_per_unit.low == pytest.approx(low)
    assert f.point.sci_g_per_unit.low < f.point.sci_g_per_unit.value < f.point.sci_g_per_unit.high
    d = f.to_dict()
    assert d["R"] == {"name": "1,000 requests", "inferences": 1000.0}
    assert d["point"]["SCI_g_per_R"]["value"] == pytest.approx(e * intensity + m)
    assert {"E_kwh_per_R", "I_g_per_kwh", "M_g_per_R", "SCI_g_per_R"} <= set(d["point"])


def test_the_market_factor_never_changes_the_location_based_figure_or_the_energy():
    scale = Scale(inferences_per_day=1e7, country="DEU")
    without = footprint(POINT, BASELINE, scale)
    for factor, kind in ((0.0, "supplier-specific"), (120.0, "supplier-specific"), (650.0, "residual mix")):
        f = footprint(POINT, BASELINE, scale, FootprintInputs(market_factor_g_per_kwh=factor, market_factor_kind=kind))
        for side, base in ((f.point, without.point), (f.baseline, without.baseline)):
            assert side.location_kg_per_year == base.location_kg_per_year
            assert side.energy_kwh_per_unit == base.energy_kwh_per_unit and side.sci_g_per_unit == base.sci_g_per_unit
        kwh = POINT["energy_wh_per_1k"] / 1000 * 1e7 * 365 / 1000
        assert f.point.market_kg_per_year.value == pytest.approx(kwh * factor / 1000)
    assert without.point.market_kg_per_year is None  # not entered: not made up


def test_the_rating_follows_the_published_bands_and_says_when_the_interval_straddles_one():
    assert [label for label, _ in ENERGY_BANDS] == list("ABCDEFG")
    assert rating(0.05e-3, 0.04e-3, 0.06e-3).label == "A"  # 0.05 mWh per 1,000 inferences
    assert rating(2e-3, 1.8e-3, 2.2e-3).label == "D"
    straddling = rating(1e-3, 0.9e-3, 1.1e-3)  # 1 mWh: the C/D boundary
    assert straddling.label == "C-D" and straddling.straddles
    assert rating(50e-3, 40e-3, 60e-3).label == "G"


def test_water_is_on_site_plus_off_site_where_a_sourced_figure_exists():
    usa = footprint(POINT, BASELINE, Scale(inferences_per_day=1e7, country="USA", pue=1.5))
    kwh = POINT["energy_wh_per_1k"] / 1000 * 1e7 * 365 * 1.5 / 1000
    assert usa.point.onsite_water_l_per_year.value == pytest.approx(kwh / 1.5 * 1.8)  # WUE is per kWh of IT energy
    assert usa.point.offsite_water_l_per_year.value == pytest.approx(kwh * 7.6)
    sweden = footprint(POINT, BASELINE, Scale(inferences_per_day=1e7, country="SWE"))
    assert sweden.point.offsite_water_l_per_year is None
    assert sweden.to_dict()["water"]["offsite_source"] == "not available for this region"


def test_fewer_machines_lower_the_fleet_embodied_emissions_and_equal_ones_say_they_do_not():
    edge = with_hardware(FootprintInputs(), "edge")  # 4 cores, 0.05 ms per inference at baseline
    busy = footprint(POINT, BASELINE, Scale(inferences_per_day=86400 * 200_000), edge)  # 200,000 inferences a second
    assert (busy.baseline.machines, busy.point.machines) == (3, 1)  # 200k x 0.05 ms / 4 cores = 2.5 -> 3; x 0.4 -> 1
    assert busy.point.fleet_embodied_kg_per_year < busy.baseline.fleet_embodied_kg_per_year
    assert "lowers embodied" in busy.embodied_note
    quiet = footprint(POINT, BASELINE, Scale(inferences_per_day=1000), edge)
    assert quiet.baseline.machines == quiet.point.machines == 1 and "does not lower" in quiet.embodied_note


def test_a_latency_target_sizes_the_fleet_by_one_request_at_a_time_and_says_who_misses_it():
    from ecocompress.review.footprint import rows

    volume = Scale(inferences_per_day=86400 * 100_000)  # 100,000 requests a second, 32-core servers
    throughput = footprint(POINT, BASELINE, volume)
    assert (throughput.baseline.machines, throughput.point.machines) == (1, 1)  # 0.05 ms x 100k / 32 cores = 0.16
    assert throughput.point.meets_latency_target is None
    online = footprint(POINT, BASELINE, volume, FootprintInputs(latency_target_ms=0.3))
    assert (online.baseline.machines, online.point.machines) == (2, 1)  # 0.5 ms x 100k / 32 = 1.6 -> 2; 0.2 ms -> 1
    assert (online.baseline.meets_latency_target, online.point.meets_latency_target) == (False, True)
    fleet = rows(online)[-2]
    assert fleet[0].endswith("each request alone within 0.3 ms") and "misses" in fleet[1] and "meets" in fleet[2]
    assert online.to_dict()["point"]["meets_latency_target"] is True
    with pytest.raises(InvalidParameterError, match="latency_target_ms"):
        FootprintInputs(latency_target_ms=0)


@pytest.mark.parametrize(("text", "name", "inferences"), [
    ("inference", "inference", 1.0), ("1000 requests", "1,000 requests", 1000.0), ("1,000 requests", "1,000 requests", 1000.0),
    ("batch of 64", "batch of 64", 64.0), ("user-day of 40 inferences", "user-day (40 inferences)", 40.0),
])
def test_functional_units_parse(text, name, inferences):
    unit = functional_unit(text)
    assert (unit.name, unit.inferences) == (name, inferences)


@pytest.mark.parametrize("bad", ["", "per fortnight", "0 requests", "-5 requests", "batch of many", "nan requests"])
def test_a_bad_functional_unit_is_one_sentence(bad):
    with pytest.raises(InvalidParameterError, match=r"^The 'functional_unit' parameter must be 'inference', "):
        functional_unit(bad)


def test_bad_factors_are_refused_in_one_sentence():
    with pytest.raises(InvalidParameterError, match="market_factor_g_per_kwh"):
        FootprintInputs(market_factor_g_per_kwh=-1.0)
    with pytest.raises(InvalidParameterError, match="'hardware' parameter must be one of 'server', 'laptop', 'edge'"):
        with_hardware(FootprintInputs(), "mainframe")
    with pytest.raises(InvalidParameterError, match="lifetime_years"):
        with_hardware(FootprintInputs(), "server", lifetime_years=0)
    assert math.isfinite(with_hardware(FootprintInputs(), "laptop", embodied_kg=300).hardware.embodied_high_kg)
