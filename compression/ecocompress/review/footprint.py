"""Sustainability figures in the shapes a review files them: SCI per functional unit, Scope 2 both ways,
embodied carbon, water and an energy rating, for the baseline and a point, each with its 95% interval.

- **SCI** (Green Software Foundation, ISO/IEC 21031:2024; spec v1.1 text: ``SCI = (O + M) per R``, ``O = E * I``,
  ``M = TE * (TiR/EL) * (RR/ToR)``): E is the measured energy per functional unit R (PUE applied, as in the yearly
  projection), I the location-based grid intensity (the spec excludes market-based measures), M the embodied
  emissions share: the hardware's total embodied emissions x the time one unit reserves it / its lifetime x the
  share of its cores used.
- **Scope 2** (GHG Protocol): location-based from the grid average; market-based from a contractual factor the user
  enters (supplier-specific or residual mix), reported beside it, never mixed in.
- **Embodied carbon** also at fleet level: the machines needed at the user's volume (and latency target, if one is
  declared: requests then run one by one), for baseline and point; compression lowers it only when fewer machines
  are needed, and the figures say so.
- **Water**: on-site (WUE x IT energy) plus off-site (water consumed generating the electricity) where a sourced
  figure exists for the region; otherwise None, shown as "not available".
- **Rating**: bands of energy per 1,000 inferences (``ENERGY_BANDS``), judged on the interval.

Every factor below carries its source; every one can be overridden by the user. Intervals come from the energy
(and latency) ratio's 95% interval; a user-entered factor's own range is carried where the table gives one.
"""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from ecocompress.core import units
from ecocompress.core.errors import InvalidParameterError, invalid_parameter
from ecocompress.review.projection import DAYS_PER_YEAR, G_PER_KG, Scale, annual

SECONDS_PER_YEAR = DAYS_PER_YEAR * 24 * 3600
#: What a market-based Scope 2 factor can be (GHG Protocol): a supplier's own factor, or the residual mix.
MARKET_KINDS = ("supplier-specific", "residual mix")


# ---- the functional unit R -----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class FunctionalUnit:
    """R: what one SCI figure is per, as a number of inferences."""

    name: str
    inferences: float


UNIT_FORMS = "'inference', '<N> requests', 'batch of <N>' or 'user-day of <N> inferences'"
#: kind -> (pattern of its text form, its name, its label on the page); N is the number of inferences in one unit
UNIT_KINDS: dict[str, tuple[str, str, str]] = {
    "inference": (r"(?:1 |one |per )?inference", "inference", "one inference"),
    "requests": (r"([\d,_]+(?:\.\d+)?) requests?", "{n} requests", "N requests (one inference each)"),
    "batch": (r"batch of ([\d,_]+)", "batch of {n}", "a batch of N inferences"),
    "user-day": (r"user-day of ([\d,_]+(?:\.\d+)?) inferences?", "user-day ({n} inferences)",
                 "a user-day of N inferences"),
}


def functional_unit_of(kind: str, count: float = 1.0) -> FunctionalUnit:
    """The unit of ``kind`` holding ``count`` inferences (``count`` is ignored for 'inference')."""
    if kind not in UNIT_KINDS:
        raise invalid_parameter("functional_unit", UNIT_FORMS, kind)
    n = 1.0 if kind == "inference" else count
    if isinstance(n, bool) or not isinstance(n, (int, float)) or not (math.isfinite(n) and 0 < n <= 1e12):
        raise invalid_parameter("functional_unit_count", "a number of inferences in the range (0, 1e12]", count)
    return FunctionalUnit(UNIT_KINDS[kind][1].format(n=f"{float(n):,.10g}"), float(n))


def functional_unit(text: str | FunctionalUnit = "inference") -> FunctionalUnit:
    """Parse a functional unit: ``"inference"`` (default), ``"1000 requests"``, ``"batch of 64"``,
    ``"user-day of 40 inferences"`` (one request = one inference)."""
    if isinstance(text, FunctionalUnit):
        return text
    cleaned = " ".join(str(text).strip().lower().split())
    for kind, (pattern, _, _) in UNIT_KINDS.items():
        match = re.fullmatch(pattern, cleaned)
        if match:
            try:
                return functional_unit_of(kind, float(match.group(1).replace(",", "").replace("_", ""))
                                          if match.groups() else 1.0)
            except InvalidParameterError:
                break
    raise invalid_parameter("functional_unit", UNIT_FORMS, text)


# ---- sourced factors -------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Hardware:
    """A hardware class: embodied emissions (typical and range across sources), lifetime, cores."""

    key: str
    name: str
    embodied_kg: float
    embodied_low_kg: float
    embodied_high_kg: float
    lifetime_years: float
    cores: int
    source: str
    cores_note: str = "assumed; edit it to your machine"

    def __post_init__(self) -> None:
        checks = [("embodied_kg", self.embodied_kg, 0.0, 1e6), ("lifetime_years", self.lifetime_years, 0.5, 30.0),
                  ("cores", self.cores, 1, 4096)]
        for name, value, low, high in checks:
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
                raise invalid_parameter(name, f"a number in the range [{low:g}, {high:g}]", value)
        if not self.embodied_low_kg <= self.embodied_kg <= self.embodied_high_kg:
            raise invalid_parameter("embodied_kg", "a value within its range (low <= typical <= high)", self.embodied_kg)


HARDWARE: dict[str, Hardware] = {h.key: h for h in (
    Hardware(
        "server", "rack server CPU node", 1000.0, 850.0, 4283.0, 4.0, 32,
        "typical: Cloud Carbon Footprint's coefficients (base manufacturing emissions 1,000 kgCO2e per server, rack "
        "server lifespan 4 years); range: 850 kg (Boavizta estimate published by Scaleway, 6-year lifespan) to "
        "4,283 kg (Dell PowerEdge R740 life-cycle assessment by thinkstep, as cited by a 2021 TU Berlin study); HPE "
        "ProLiant DL380 Gen10: 1,726 kg, 4 years (Scott Logic Technology Carbon Standard)",
    ),
    Hardware(
        "laptop", "laptop", 250.0, 200.0, 280.0, 4.0, 8,
        "Dell XPS 13 9310: 277 kg, 4 years (Scott Logic Technology Carbon Standard); Apple MacBook Pro 14-inch: 209 "
        "kg excluding use (Apple product environmental report, 2021); Lenovo ThinkPad E14: about 226 kg excluding use "
        "(Boavizta footprint data, 5 years)",
    ),
    Hardware(
        "edge", "edge board (single-board computer)", 55.0, 55.0, 55.0, 4.0, 4,
        "no published life-cycle assessment of a single-board computer was found; 55 kg is the smartphone figure the "
        "SCI project's own Raspberry Pi case study used as a stand-in (Green-Software-Foundation/sci issue 241): "
        "replace it with your supplier's figure",
        cores_note="a Raspberry Pi 4 or 5 has 4 cores",
    ),
)}
DEFAULT_HARDWARE = "server"

#: On-site water usage effectiveness, litres per kWh of IT energy.
DEFAULT_WUE_L_PER_KWH = 1.8
WUE_SOURCE = "US data-centre average, Shehabi et al., 'United States Data Center Energy Usage Report', LBNL, 2016"

#: Off-site water consumed generating electricity, litres per kWh, where a sourced figure exists.
OFFSITE_WATER_L_PER_KWH: dict[str, tuple[float, str]] = {
    "USA": (7.6, "US average, Shehabi et al., 'United States Data Center Energy Usage Report', LBNL, 2016"),
}


# ---- the rating -----------------------------------------------------------------------------------------------------

#: ecocompress's energy bands: the upper bound of each band in mWh per 1,000 inferences, half a decade apart, for
#: inference on a CPU (one thread, the series' batch). Absolute and fixed (not relative to a leaderboard); published
#: in docs/usage.md. A point is rated on its 95% interval: both ends in one band give that band, else the span.
ENERGY_BANDS: tuple[tuple[str, float], ...] = (
    ("A", 0.1), ("B", 0.3), ("C", 1.0), ("D", 3.0), ("E", 10.0), ("F", 30.0), ("G", math.inf),
)


def band(mwh_per_1k: float) -> str:
    return next(label for label, upper in ENERGY_BANDS if mwh_per_1k <= upper)


@dataclass(frozen=True)
class Rating:
    label: str  # "C", or "C-D" when the interval straddles a boundary
    straddles: bool
    rule: str = "ecocompress energy bands, mWh per 1,000 inferences on a CPU: " + ", ".join(
        f"{label} <= {upper:g}" if math.isfinite(upper) else f"{label} above" for label, upper in ENERGY_BANDS)


def rating(wh_per_1k: float, low: float, high: float) -> Rating:
    """The band of ``wh_per_1k`` judged on its interval [low, high] (Wh per 1,000 inferences)."""
    first, last = band(low * 1e3), band(high * 1e3)
    return Rating(first if first == last else f"{first}-{last}", first != last)


def energy_interval(record: dict[str, Any]) -> Range:
    """A record's energy per 1,000 inferences with its 95% interval: its series' baseline x the measured ratio."""
    base = record["baseline_energy_wh_per_1k"]
    return Range(record["energy_wh_per_1k"], base * record["energy_ratio_ci_low"], base * record["energy_ratio_ci_high"])


def record_rating(record: dict[str, Any]) -> Rating:
    """The rating of a stored point (what the model card prints; Review and the report compute the same)."""
    energy = energy_interval(record)
    return rating(energy.value, energy.low, energy.high)


# ---- the figures ------------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Range:
    """A figure with its 95% interval (or the stated range of a user factor)."""

    value: float
    low: float
    high: float


def _range(values: list[float]) -> Range:
    return Range(values[0], min(values), max(values))


@dataclass(frozen=True)
class FootprintInputs:
    """What the user declares beyond the yearly projection's scale."""

    unit: FunctionalUnit = field(default_factory=functional_unit)
    hardware: Hardware = HARDWARE[DEFAULT_HARDWARE]
    market_factor_g_per_kwh: float | None = None  # contractual (supplier-specific or residual mix); None: not given
    market_factor_kind: str = MARKET_KINDS[0]
    wue_l_per_kwh: float = DEFAULT_WUE_L_PER_KWH
    #: Online serving: every request answered alone (batch 1) within this many ms; None: throughput (the series' batch)
    latency_target_ms: float | None = None

    def __post_init__(self) -> None:
        factor = self.market_factor_g_per_kwh
        if factor is not None and (isinstance(factor, bool) or not isinstance(factor, (int, float))
                                   or not 0 <= factor <= 2000):
            raise invalid_parameter("market_factor_g_per_kwh", "a grid factor in gCO2e/kWh in the range [0, 2000]", factor)
        if self.market_factor_kind not in MARKET_KINDS:
            raise invalid_parameter("market_factor_kind", " or ".join(repr(k) for k in MARKET_KINDS),
                                    self.market_factor_kind)
        if isinstance(self.wue_l_per_kwh, bool) or not isinstance(self.wue_l_per_kwh, (int, float)) \
                or not 0 <= self.wue_l_per_kwh <= 20:
            raise invalid_parameter("wue_l_per_kwh", "litres per kWh in the range [0, 20]", self.wue_l_per_kwh)
        target = self.latency_target_ms
        if target is not None and (isinstance(target, bool) or not isinstance(target, (int, float))
                                   or not 0 < target <= 1e6):
            raise invalid_parameter("latency_target_ms", "None or a latency in ms in the range (0, 1e6]", target)


@dataclass(frozen=True)
class Side:
    """One model's (baseline or point) figures, per functional unit and per year."""

    energy_kwh_per_unit: Range  # E
    operational_g_per_unit: Range  # O = E x I
    embodied_g_per_unit: Range  # M (time share x core share x embodied total; range: the hardware's and latency's)
    sci_g_per_unit: Range  # (O + M) per R
    location_kg_per_year: Range
    market_kg_per_year: Range | None
    onsite_water_l_per_year: Range
    offsite_water_l_per_year: Range | None
    machines: int  # needed at the user's volume (time per request x volume / cores)
    batch1_ms: float  # time one request takes alone (what a latency target is checked against)
    meets_latency_target: bool | None  # None: no target declared
    fleet_embodied_kg_per_year: float  # machines x embodied / lifetime
    rating: Rating


@dataclass(frozen=True)
class Footprint:
    unit: FunctionalUnit
    hardware: Hardware
    carbon_intensity_g_per_kwh: float  # I, location-based
    grid: dict[str, Any]
    market_factor_g_per_kwh: float | None
    market_factor_kind: str
    wue_l_per_kwh: float
    offsite_water_source: str | None
    baseline: Side
    point: Side
    latency_target_ms: float | None = None

    @property
    def embodied_note(self) -> str:
        b, p = self.baseline.machines, self.point.machines
        if p < b:
            return f"the point needs {p} machine{'s' * (p != 1)} instead of {b} at this volume, so it lowers embodied emissions"
        return (f"both need {b} machine{'s' * (b != 1)} at this volume: compression does not lower the embodied "
                "emissions of the fleet (the SCI's M shrinks with the time each inference reserves, not the hardware)")

    def to_dict(self) -> dict[str, Any]:
        """Field names follow the SCI specification's terms (E, I, M, R, SCI) and the GHG Protocol's Scope 2."""

        def side(s: Side) -> dict[str, Any]:
            d = asdict(s)
            return {
                "E_kwh_per_R": d["energy_kwh_per_unit"], "I_g_per_kwh": self.carbon_intensity_g_per_kwh,
                "O_g_per_R": d["operational_g_per_unit"], "M_g_per_R": d["embodied_g_per_unit"],
                "SCI_g_per_R": d["sci_g_per_unit"],
                "scope2_location_based_kg_per_year": d["location_kg_per_year"],
                "scope2_market_based_kg_per_year": d["market_kg_per_year"],
                "water_onsite_l_per_year": d["onsite_water_l_per_year"],
                "water_offsite_l_per_year": d["offsite_water_l_per_year"],
                "machines_needed": s.machines, "fleet_embodied_kg_per_year": s.fleet_embodied_kg_per_year,
                "latency_batch1_ms": s.batch1_ms, "meets_latency_target": s.meets_latency_target,
                "rating": d["rating"],
            }

        return {
            "R": asdict(self.unit),
            "I_source": f"location-based grid average, {self.grid['country_name']} ({self.grid['iso_code']}), "
                        f"{self.grid['year']}, {self.grid['source']}",
            "scope2_market_factor": None if self.market_factor_g_per_kwh is None else
            {"g_per_kwh": self.market_factor_g_per_kwh, "kind": self.market_factor_kind, "entered_by": "user"},
            "hardware": asdict(self.hardware),
            "water": {"wue_l_per_kwh": self.wue_l_per_kwh, "wue_source": WUE_SOURCE,
                      "offsite_source": self.offsite_water_source or "not available for this region"},
            "embodied_note": self.embodied_note,
            "latency_target_ms": self.latency_target_ms,
            "baseline": side(self.baseline),
            "point": side(self.point),
        }


def _side(wh_per_1k: Range, latency_ms: Range, batch1_ms: float, scale: Scale, inputs: FootprintInputs, threads: int,
          intensity: float, offsite: float | None) -> Side:
    """Figures for energy ``wh_per_1k`` and time per inference ``latency_ms`` (each with its interval); ``batch1_ms``:
    one request alone, which sizes the fleet when the user declares a latency target (requests served one by one)."""
    hw, unit = inputs.hardware, inputs.unit
    core_share = min(1.0, threads / hw.cores)

    def kwh_per_unit(wh: float) -> float:
        return wh / 1000.0 * unit.inferences * scale.pue / 1000.0

    def embodied_g(ms: float, total_kg: float) -> float:
        return total_kg * G_PER_KG * (ms / 1000.0 * unit.inferences) / (hw.lifetime_years * SECONDS_PER_YEAR) * core_share

    energy = [kwh_per_unit(w) for w in (wh_per_1k.value, wh_per_1k.low, wh_per_1k.high)]
    operational = [e * intensity for e in energy]
    embodied = [embodied_g(latency_ms.value, hw.embodied_kg), embodied_g(latency_ms.low, hw.embodied_low_kg),
                embodied_g(latency_ms.high, hw.embodied_high_kg)]
    sci = [o + m for o, m in zip(operational, embodied)]
    yearly = [annual(w, scale) for w in (wh_per_1k.value, wh_per_1k.low, wh_per_1k.high)]  # the projection's figures
    kwh_year = [y.kwh for y in yearly]
    market = None if inputs.market_factor_g_per_kwh is None else \
        _range([k * inputs.market_factor_g_per_kwh / G_PER_KG for k in kwh_year])
    per_second = scale.inferences_per_day / (24 * 3600)
    target = inputs.latency_target_ms
    per_request_ms = latency_ms.value if target is None else batch1_ms
    capacity = (hw.cores / threads) * 1000.0 / per_request_ms  # inferences per second one machine serves
    machines = max(1, math.ceil(per_second / capacity - 1e-9)) if per_second > 0 else 0  # 1e-9: 2.0000001 is 2
    return Side(
        energy_kwh_per_unit=_range(energy), operational_g_per_unit=_range(operational),
        embodied_g_per_unit=_range(embodied), sci_g_per_unit=_range(sci),
        location_kg_per_year=_range([y.kg_co2e for y in yearly]), market_kg_per_year=market,
        onsite_water_l_per_year=_range([k / scale.pue * inputs.wue_l_per_kwh for k in kwh_year]),
        offsite_water_l_per_year=None if offsite is None else _range([k * offsite for k in kwh_year]),
        machines=machines, fleet_embodied_kg_per_year=machines * hw.embodied_kg / hw.lifetime_years,
        batch1_ms=batch1_ms, meets_latency_target=None if target is None else batch1_ms <= target,
        rating=rating(wh_per_1k.value, wh_per_1k.low, wh_per_1k.high),
    )


def footprint(record: dict[str, Any], baseline: dict[str, Any], scale: Scale,
              inputs: FootprintInputs | None = None) -> Footprint:
    """SCI, Scope 2, embodied, water and rating of ``record`` (a ``Measurement`` as a dict) and of ``baseline`` (its
    series' baseline record), at the user's ``scale``.

    The point's energy is the baseline's x the measured ratio and its interval the ratio's (as in the yearly
    projection); its time per inference likewise from the latency ratio. The baseline's own figures are taken as
    measured (its interval is the point's reference, so it is carried on the point's side).
    """
    inputs = inputs or FootprintInputs()
    grid = scale.grid
    intensity = grid["carbon_intensity_g_per_kwh"]
    offsite, offsite_source = OFFSITE_WATER_L_PER_KWH.get(scale.country, (None, None))
    base_wh = record["baseline_energy_wh_per_1k"]
    base_ms = baseline["latency_ms_per_item_large_batch"]
    point_wh = energy_interval(record)
    point_ms = Range(base_ms * record["latency_ratio"], base_ms * record["latency_ratio_ci_low"],
                     base_ms * record["latency_ratio_ci_high"])
    threads = int(record.get("ort_threads") or 1)
    sides = [_side(wh, ms, b1, scale, inputs, threads, intensity, offsite) for wh, ms, b1 in (
        (Range(base_wh, base_wh, base_wh), Range(base_ms, base_ms, base_ms), baseline["latency_ms_batch1"]),
        (point_wh, point_ms, record["latency_ms_batch1"]))]
    return Footprint(inputs.unit, inputs.hardware, intensity, grid, inputs.market_factor_g_per_kwh,
                     inputs.market_factor_kind, inputs.wue_l_per_kwh, offsite_source, *sides,
                     latency_target_ms=inputs.latency_target_ms)


def shown(r: Range | None, fmt) -> str:
    """'12 µg (95%: 9 µg to 15 µg)', the value alone where it has no interval, 'not available' for None."""
    if r is None:
        return "not available"
    return fmt(r.value) if r.low == r.high else f"{fmt(r.value)} (95%: {fmt(r.low)} to {fmt(r.high)})"


def rows(f: Footprint) -> list[tuple[str, str, str]]:
    """(figure, baseline, chosen point) as a person reads them: the one rendering the page, the report and the CLI
    share."""
    market = ("not given" if f.market_factor_g_per_kwh is None
              else f"{units.number(f.market_factor_g_per_kwh)} gCO2e/kWh, {f.market_factor_kind}")
    figures = (
        (f"SCI, CO2e per {f.unit.name}", "sci_g_per_unit", units.mass_g),
        ("  of which energy x grid (E x I)", "operational_g_per_unit", units.mass_g),
        ("  of which embodied share (M)", "embodied_g_per_unit", units.mass_g),
        ("Scope 2, location-based, per year", "location_kg_per_year", units.co2e_kg),
        (f"Scope 2, market-based, per year ({market})", "market_kg_per_year", units.co2e_kg),
        ("Water on-site, per year", "onsite_water_l_per_year", units.volume_l),
        ("Water off-site (electricity), per year", "offsite_water_l_per_year", units.volume_l),
    )
    out = [(name, shown(getattr(f.baseline, key), fmt), shown(getattr(f.point, key), fmt)) for name, key, fmt in figures]
    if f.latency_target_ms is None:
        out.append(("Machines needed at your volume (throughput, the series' batch)", str(f.baseline.machines),
                    str(f.point.machines)))
    else:
        def fleet(side: Side) -> str:
            verdict = "meets" if side.meets_latency_target else "misses"
            return f"{side.machines} (one request {units.latency_ms(side.batch1_ms)}: {verdict} the target)"

        out.append((f"Machines needed at your volume, each request alone within {units.number(f.latency_target_ms)} ms",
                    fleet(f.baseline), fleet(f.point)))
    out.append(("Energy rating", f.baseline.rating.label, f.point.rating.label))
    return out


def notes(f: Footprint) -> str:
    """Where the factors come from and what the embodied figures mean, in one paragraph."""
    hw = f.hardware
    offsite = f.offsite_water_source or "not available for this region (no sourced figure)"
    return (f"I = {f.carbon_intensity_g_per_kwh:.0f} gCO2e/kWh, location-based ({f.grid['country_name']}, "
            f"{f.grid['year']}, {f.grid['source']}). Embodied: {hw.name}, {units.number(hw.embodied_kg, 4)} kgCO2e "
            f"(range {units.number(hw.embodied_low_kg, 4)}-{units.number(hw.embodied_high_kg, 4)}), "
            f"{hw.lifetime_years:g} years, {hw.cores} cores; source: {hw.source}. {f.embodied_note[0].upper()}"
            f"{f.embodied_note[1:]}. Water: on-site WUE {units.number(f.wue_l_per_kwh)} L/kWh ({WUE_SOURCE}); "
            f"off-site: {offsite}. Rating: {f.point.rating.rule}.")


def with_hardware(inputs: FootprintInputs, key: str, **changes: Any) -> FootprintInputs:
    """``inputs`` on the hardware class ``key``, its factors edited by ``changes`` (e.g. ``embodied_kg=1500``)."""
    if key not in HARDWARE:
        raise invalid_parameter("hardware", "one of " + ", ".join(repr(k) for k in HARDWARE), key)
    hardware = HARDWARE[key]
    if "embodied_kg" in changes:  # a user's own figure: its range is itself unless given
        changes.setdefault("embodied_low_kg", changes["embodied_kg"])
        changes.setdefault("embodied_high_kg", changes["embodied_kg"])
    return replace(inputs, hardware=replace(hardware, **changes))
