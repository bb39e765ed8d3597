"""Projection arithmetic against hand-computed cases, and region data against CodeCarbon's own."""

import math
import re

import pytest
from codecarbon.input import DataSource

from ecocompress.core.errors import InvalidParameterError
from ecocompress.review.projection import (
    DEFAULT_REGIONS,
    EQUIVALENTS,
    Annual,
    Scale,
    annual,
    project,
    region_comparison,
    yearly_saving,
)
from ecocompress.review.summary import yearly_saving_text

FRA_G_PER_KWH = DataSource().get_global_energy_mix_data()["FRA"]["carbon_intensity"]


def test_annual_figures_by_hand():
    # 1 Wh per 1,000 inferences = 1 mWh each; 1e6 a day = 1 kWh a day; 365 kWh a year; x PUE 1.5 = 547.5 kWh.
    scale = Scale(inferences_per_day=1_000_000, country="FRA", price_per_kwh=0.20, currency="EUR", pue=1.5)
    year = annual(1.0, scale)
    assert year.kwh == pytest.approx(547.5)
    assert year.kg_co2e == pytest.approx(547.5 * FRA_G_PER_KWH / 1000)  # g/kWh -> kg
    assert year.cost == pytest.approx(109.5)


def test_zero_inferences_cost_nothing():
    assert annual(5.0, Scale(inferences_per_day=0)) == Annual(0.0, 0.0, 0.0)


def test_savings_are_baseline_minus_point():
    scale = Scale(inferences_per_day=2_000_000, country="USA", price_per_kwh=0.1)
    p = project(2.0, 0.5, scale)
    # baseline: 2 mWh x 2e6 = 4 kWh/day = 1,460 kWh/year; point: a quarter of it.
    assert p.baseline.kwh == pytest.approx(1460.0)
    assert p.point.kwh == pytest.approx(365.0)
    assert p.saved.kwh == pytest.approx(1095.0)
    assert p.saved.cost == pytest.approx(109.5)
    assert p.saved_fraction == pytest.approx(0.75)
    assert p.saved.kg_co2e == pytest.approx(p.baseline.kg_co2e - p.point.kg_co2e)


def test_a_point_that_costs_more_shows_a_negative_saving():
    p = project(1.0, 1.5, Scale())
    assert p.saved.kwh < 0 and p.saved_fraction == pytest.approx(-0.5)


def _record(ratio, low, high, **point):
    return {"sparsity": 0.0, "bits": 8, "student_width": 1.0, "structured": False, "rank_ratio": None, **point,
            "baseline_energy_wh_per_1k": 2.0, "energy_wh_per_1k": 2.0 * ratio,
            "energy_ratio": ratio, "energy_ratio_ci_low": low, "energy_ratio_ci_high": high,
            "energy_difference_significant": not low <= 1.0 <= high,  # as measured with no floor
            "energy_pairs": 8, "energy_ratio_half_width": (high - low) / 2 / ratio, **point}


def test_yearly_saving_carries_the_energy_ratio_interval():
    scale = Scale(inferences_per_day=2_000_000, country="USA", price_per_kwh=0.1)  # baseline 1,460 kWh a year
    saving = yearly_saving(_record(0.5, 0.4, 0.6), scale)
    assert saving.measurable
    assert saving.projection.saved.kwh == pytest.approx(730.0)
    assert (saving.low.kwh, saving.high.kwh) == (pytest.approx(1460 * 0.4), pytest.approx(1460 * 0.6))
    assert saving.low.cost == pytest.approx(58.4)
    text = yearly_saving_text(_record(0.5, 0.4, 0.6), scale)
    assert text.startswith("At 2,000,000 inferences a day (United States grid, PUE 1): saves 730 kWh a year "
                           "(95%: 584 kWh to 876 kWh), ") and text.endswith(" CO2e and 73 USD.")


def test_no_saving_is_claimed_inside_the_interval_and_a_cost_is_called_one():
    scale = Scale(inferences_per_day=2_000_000, country="USA")
    assert not yearly_saving(_record(0.9, 0.8, 1.05), scale).measurable
    from ecocompress.review.projection import payback

    few = _record(0.5, 0.4, 0.6, energy_pairs=2)  # what the cards call 'not enough measurements yet'
    assert not yearly_saving(few, scale).measurable and payback(few, scale).inferences is None
    assert "not enough measurements yet for a yearly figure (2 pairs), so no saving is claimed" in yearly_saving_text(few, scale)
    assert "no measurable change" in yearly_saving_text(_record(0.9, 0.8, 1.05), scale)
    text = yearly_saving_text(_record(1.5, 1.25, 1.75), scale)
    assert "costs 730 kWh a year (95%: 365 kWh to 1.09 MWh)" in text and text.endswith(" more.")
    assert "uses 1.46 MWh a year" in yearly_saving_text(_record(1.0, 0.97, 1.03, bits=32), scale)


def test_equivalents_use_their_stated_factors():
    car, bulb = EQUIVALENTS
    assert car.of(Annual(kwh=0.0, kg_co2e=1.0, cost=0.0)) == pytest.approx(1.609344 / 0.400)  # 400 g CO2 per mile
    assert bulb.of(Annual(kwh=1.0, kg_co2e=0.0, cost=0.0)) == pytest.approx(100.0)  # 1 kWh = 100 h at 10 W
    assert all(eq.source for eq in EQUIVALENTS)


def test_regions_use_codecarbons_intensity_and_year():
    mix = DataSource().get_global_energy_mix_data()
    scale = Scale(inferences_per_day=1_000_000)
    regions = region_comparison(1.0, scale, DEFAULT_REGIONS)
    assert {r.iso_code for r in regions} == set(DEFAULT_REGIONS)
    for r in regions:
        assert r.carbon_intensity_g_per_kwh == pytest.approx(mix[r.iso_code]["carbon_intensity"])
        assert r.year == mix[r.iso_code]["year"]
        assert r.kg_co2e_per_year == pytest.approx(365.0 * mix[r.iso_code]["carbon_intensity"] / 1000)
    assert [r.kg_co2e_per_year for r in regions] == sorted(r.kg_co2e_per_year for r in regions)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"pue": 0.5}, "The 'pue' parameter must be a power usage effectiveness in the range [1.0, 5.0]. Got 0.5 instead."),
        ({"inferences_per_day": -1}, "The 'inferences_per_day' parameter must be"),
        ({"price_per_kwh": math.nan}, "The 'price_per_kwh' parameter must be"),
        ({"country": "XXX"}, "The 'country' parameter must be a 3-letter ISO code"),
        ({"currency": ""}, "The 'currency' parameter must be a short currency label"),
    ],
)
def test_bad_scale_is_one_sentence(kwargs, message):
    with pytest.raises(InvalidParameterError, match=re.escape(message)):
        Scale(**kwargs)


def test_negative_energy_is_refused():
    with pytest.raises(InvalidParameterError, match="energy_wh_per_1k"):
        annual(-1.0, Scale())


def test_payback_sets_what_compressing_cost_against_the_saving_per_inference():
    from ecocompress.review.projection import payback

    record = {"build_energy_wh": 0.5, "measuring_energy_wh": 0.2, "baseline_energy_wh_per_1k": 2e-4,
              "energy_ratio": 0.4, "energy_ratio_ci_low": 0.35, "energy_ratio_ci_high": 0.45,
              "energy_difference_significant": True, "energy_pairs": 8, "energy_ratio_half_width": 0.125}
    found = payback(record, Scale(inferences_per_day=1e6))
    saved_per_inference = 2e-4 * 0.6 / 1000  # Wh: baseline x (1 - ratio) per inference
    assert found.cost_wh == pytest.approx(0.7)
    assert found.inferences[0] == pytest.approx(0.7 / saved_per_inference)
    assert found.inferences[1] < found.inferences[0] < found.inferences[2]  # most saving end pays back first
    assert found.days[0] == pytest.approx(found.inferences[0] / 1e6)
    assert "pays back after 5,800,000 inferences" in found.words and "5.8 days at 1,000,000 inferences a day" in found.words
    never = payback({**record, "energy_difference_significant": False}, Scale())
    assert never.inferences is None and "never pays back" in never.words
    unknown = payback({**record, "build_energy_wh": None, "measuring_energy_wh": None}, Scale())
    assert unknown.cost_wh is None and "not measured" in unknown.words
