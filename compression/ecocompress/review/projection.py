"""Project energy per 1,000 inferences to a deployment's scale: kWh, kg CO2e and money per year.

A sustainability review asks what choosing a model saves *where it is deployed*, so the measured
figure is combined with the user's inputs (inferences per day, grid region, electricity price,
data-centre PUE). Everything is plain arithmetic on plain data, checked by hand in the tests.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

from ecocompress.core import units
from ecocompress.core.grid import DEFAULT_COUNTRY, country_grid
from ecocompress.core.records import energy_change_shown
from ecocompress.core.errors import invalid_parameter

DAYS_PER_YEAR = 365
WH_PER_KWH = 1000.0
G_PER_KG = 1000.0

# A handful of grids that span the range (hydro and nuclear to coal), for the region comparison.
DEFAULT_REGIONS = ("SWE", "FRA", "GBR", "DEU", "USA", "CHN", "IND", "POL")


@dataclass(frozen=True)
class Scale:
    """Where and how much the model runs; validated like every user-facing setting."""

    inferences_per_day: float = 10_000_000.0
    country: str = DEFAULT_COUNTRY
    price_per_kwh: float = 0.15
    currency: str = "USD"
    pue: float = 1.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "country", country_grid(self.country)["iso_code"])
        checks = [
            ("inferences_per_day", self.inferences_per_day, 0.0, 1e15, "a number of inferences in the range [0, 1e15]"),
            ("price_per_kwh", self.price_per_kwh, 0.0, 100.0, "a price per kWh in the range [0, 100]"),
            ("pue", self.pue, 1.0, 5.0, "a power usage effectiveness in the range [1.0, 5.0]"),
        ]
        for name, value, low, high, allowed in checks:
            ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
            if not ok or not low <= value <= high:
                raise invalid_parameter(name, allowed, value)
        if not isinstance(self.currency, str) or not 1 <= len(self.currency.strip()) <= 8:
            raise invalid_parameter("currency", "a short currency label such as 'USD' or 'EUR'", self.currency)

    @property
    def grid(self) -> dict[str, Any]:
        return country_grid(self.country)


@dataclass(frozen=True)
class Annual:
    """One model's yearly footprint at a given scale."""

    kwh: float
    kg_co2e: float
    cost: float


def annual(energy_wh_per_1k: float, scale: Scale) -> Annual:
    """Yearly kWh (facility overhead included through PUE), kg CO2e and cost.

    kWh/year = Wh per 1,000 inferences / 1,000 x inferences/day x 365 x PUE / 1,000.
    """
    if not math.isfinite(energy_wh_per_1k) or energy_wh_per_1k < 0:
        raise invalid_parameter("energy_wh_per_1k", "a non-negative energy in Wh", energy_wh_per_1k)
    kwh = energy_wh_per_1k / 1000.0 * scale.inferences_per_day * DAYS_PER_YEAR * scale.pue / WH_PER_KWH
    kg = kwh * scale.grid["carbon_intensity_g_per_kwh"] / G_PER_KG
    return Annual(kwh=kwh, kg_co2e=kg, cost=kwh * scale.price_per_kwh)


@dataclass(frozen=True)
class Projection:
    """Baseline against a chosen point at the user's scale, and what the choice saves."""

    scale: Scale
    baseline: Annual
    point: Annual
    saved: Annual
    saved_fraction: float  # share of the baseline's energy saved (negative: the point costs more)

    def to_dict(self) -> dict[str, Any]:
        return {
            "scale": asdict(self.scale),
            "grid": self.scale.grid,
            "baseline": asdict(self.baseline),
            "point": asdict(self.point),
            "saved": asdict(self.saved),
            "saved_fraction": self.saved_fraction,
        }


def project(baseline_wh_per_1k: float, point_wh_per_1k: float, scale: Scale) -> Projection:
    """Annual figures for the baseline and the point, and the savings of choosing the point."""
    base, point = annual(baseline_wh_per_1k, scale), annual(point_wh_per_1k, scale)
    saved = _saved(base, point)
    fraction = saved.kwh / base.kwh if base.kwh > 0 else 0.0
    return Projection(scale, base, point, saved, fraction)


def _saved(base: Annual, point: Annual) -> Annual:
    return Annual(base.kwh - point.kwh, base.kg_co2e - point.kg_co2e, base.cost - point.cost)


@dataclass(frozen=True)
class YearlySaving:
    """What choosing a point saves per year at the user's scale, with the 95% interval of the energy ratio
    carried through (``low`` saves least, ``high`` most); ``measurable`` is False when that interval
    includes no change, and then no saving is claimed."""

    projection: Projection
    low: Annual
    high: Annual
    measurable: bool


def yearly_saving(record: dict[str, Any], scale: Scale) -> YearlySaving:
    """Savings per year of ``record`` (a ``Measurement`` as a dict) against its series' baseline.

    The point's energy is the baseline's times the measured ratio, so the ratio's interval bounds the saving:
    saved = baseline x (1 - ratio).
    """
    base_wh = record["baseline_energy_wh_per_1k"]
    projection = project(base_wh, record["energy_wh_per_1k"], scale)
    base = projection.baseline
    low = _saved(base, annual(base_wh * record["energy_ratio_ci_high"], scale))
    high = _saved(base, annual(base_wh * record["energy_ratio_ci_low"], scale))
    measurable = energy_change_shown(record)  # enough pairs, beyond the interval and the machine's floor
    return YearlySaving(projection, low, high, measurable)


@dataclass(frozen=True)
class Payback:
    """What compressing a point cost (building it and measuring it, Wh) and when its saving repays that.

    ``inferences`` and ``days`` run from the most saving end of the interval to the least (``low``, ``high``);
    None when there is no measurable saving to repay anything with, or the cost was not measured.
    """

    cost_wh: float | None
    build_wh: float | None
    measuring_wh: float | None
    inferences: tuple[float, float, float] | None  # (value, low, high)
    days: tuple[float, float, float] | None
    per_day: float = 0.0

    @property
    def words(self) -> str:
        """One sentence for Review, the report and the CLI."""
        if self.cost_wh is None:
            return "What compressing this point cost was not measured (it was measured before costs were recorded)."
        cost = (f"Compressing cost {units.energy_wh(self.cost_wh)} (building "
                f"{units.energy_wh(self.build_wh) if self.build_wh is not None else 'not measured'}, measuring "
                f"{units.energy_wh(self.measuring_wh or 0.0)}; estimated by CodeCarbon)")
        if self.inferences is None:
            return f"{cost}; with no measurable saving per inference it never pays back."
        n, n_low, n_high = self.inferences
        when = ("" if self.days is None else f", about {_duration(self.days[0])} at "
                f"{units.number(self.per_day, 15)} inferences a day "
                f"(95%: {_duration(self.days[1])} to {_duration(self.days[2])})")
        scale = ("" if self.days is None or self.days[0] <= DAYS_PER_YEAR else
                 " At this volume compressing costs more energy than the saving repays in a year.")
        return (f"{cost}; it pays back after {_about(n)} inferences (95%: {_about(n_low)} to {_about(n_high)}){when}."
                + scale)


def _about(count: float) -> str:
    """A count to two significant digits: '5,800,000', not '5,833,333' from a ratio known to a few percent."""
    return units.number(float(f"{count:.2g}"))


def _duration(days: float) -> str:
    """A payback time in the unit a person reads (``units.duration``)."""
    return units.duration(days * 86_400)


def payback(record: dict[str, Any], scale: Scale) -> Payback:
    """When the energy a point saves per inference repays what building and measuring it used.

    Saved per inference = baseline x (1 - ratio) / 1,000, its interval from the ratio's; no payback is
    claimed without a measurable saving. Both sides are energy on this machine (PUE applies to neither).
    """
    build, measuring = record.get("build_energy_wh"), record.get("measuring_energy_wh")
    cost = None if build is None and measuring is None else (build or 0.0) + (measuring or 0.0)
    saved = [record["baseline_energy_wh_per_1k"] * (1.0 - record[key]) / 1000.0
             for key in ("energy_ratio", "energy_ratio_ci_low", "energy_ratio_ci_high")]
    if cost is None or not energy_change_shown(record) or min(saved) <= 0:
        return Payback(cost, build, measuring, None, None)
    value, most, least = saved  # ci_low of the ratio saves most: the earliest payback
    inferences = (cost / value, cost / most, cost / least)
    per_day = scale.inferences_per_day
    days = tuple(n / per_day for n in inferences) if per_day > 0 else None
    return Payback(cost, build, measuring, inferences, days, per_day)


@dataclass(frozen=True)
class Equivalent:
    """A everyday quantity with the same CO2e or energy, with its factor and where it comes from."""

    name: str
    unit: str
    per: str  # "kg_co2e" or "kwh": what the factor divides
    factor: float  # amount of ``per`` for one ``unit``
    source: str

    def of(self, annual_figure: Annual) -> float:
        return getattr(annual_figure, self.per) / self.factor


EQUIVALENTS = (
    Equivalent(
        name="driving an average petrol passenger car",
        unit="km",
        per="kg_co2e",
        factor=0.400 / 1.609344,  # 400 g CO2 per mile
        source="US EPA, 'Greenhouse Gas Emissions from a Typical Passenger Vehicle' (EPA-420-F-23-014, 2023): "
        "about 400 g CO2 per mile, i.e. 0.249 kg per km",
    ),
    Equivalent(
        name="running a 10 W LED light bulb",
        unit="hours",
        per="kwh",
        factor=0.010,  # 10 W for one hour
        source="by definition: 10 W x 1 h = 0.010 kWh",
    ),
)


@dataclass(frozen=True)
class RegionFootprint:
    iso_code: str
    country_name: str
    year: Any
    carbon_intensity_g_per_kwh: float
    kg_co2e_per_year: float


def region_comparison(
    energy_wh_per_1k: float, scale: Scale, regions: tuple[str, ...] | list[str] = DEFAULT_REGIONS
) -> list[RegionFootprint]:
    """The same point's annual CO2e on several grids (same kWh, CodeCarbon's intensity per country)."""
    kwh = annual(energy_wh_per_1k, scale).kwh
    out = []
    for code in regions:
        grid = country_grid(code)
        out.append(
            RegionFootprint(
                iso_code=grid["iso_code"],
                country_name=grid["country_name"],
                year=grid["year"],
                carbon_intensity_g_per_kwh=grid["carbon_intensity_g_per_kwh"],
                kg_co2e_per_year=kwh * grid["carbon_intensity_g_per_kwh"] / G_PER_KG,
            )
        )
    return sorted(out, key=lambda r: r.kg_co2e_per_year)
