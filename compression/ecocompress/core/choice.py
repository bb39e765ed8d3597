"""The one recommendation rule: which measured point to take under an accuracy budget.

Home, Explore, Review, Find best, the report, the CLI and the benchmarks all call ``recommend``,
so one budget always gives one answer. A compressed point is recommended only for a saving beyond
its interval: a point whose energy (or latency) interval contains the baseline's is "no measurable
difference", never a saving, and one whose interval rests on too few pairs is "not enough measurements
yet" (``core.records.readable``), never a saving either. When no compressed point within the budget saves measurably, the answer
is the uncompressed baseline, said so. The rule never ends in "no model found": when no point at all
is within the budget it returns the closest one, marked as outside the budget (not a recommendation).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Generic, Sequence, TypeVar

from ecocompress.core import units
from ecocompress.core.errors import invalid_parameter
from ecocompress.core.objectives import OBJECTIVES
from ecocompress.core.records import readable

T = TypeVar("T")
DEFAULT_BUDGET_POINTS = 1.0  # accuracy budget every surface starts from (Home, Review, report, search, CLI)
TOLERANCE = 1e-9  # a drop equal to the budget is within it, whatever the float rounding


def checked_budget(name: str, points: object) -> float:
    """An accuracy budget in points, or the one message saying what is allowed."""
    if isinstance(points, bool) or not isinstance(points, (int, float)) or not 0 <= points <= 100:
        raise invalid_parameter(name, "a number of points in the range [0, 100]", points)
    return float(points)


@dataclass(frozen=True)
class Recommendation(Generic[T]):
    """The chosen point, whether it is within the budget, whether it saves measurably, and why, in one sentence."""

    record: T
    within_budget: bool
    reason: str
    budget_points: float
    objective: str
    measurable_saving: bool = False


def saves(record: object, objective: str) -> bool:
    """True when ``record`` costs less than its baseline beyond the 95% interval (size is exact)."""
    if getattr(record, "is_baseline", False):
        return False
    if objective == "energy":
        return record.saves_energy
    if objective == "latency":
        return record.saves_time
    return record.storage_ratio > 1.0


def settled(record: object, objective: str) -> bool:
    """Whether a record's cost rests on enough measurements to be read (``core.records.readable``; size is exact):
    only then may "no saving" be stated as the measured answer rather than "not enough measurements yet"."""
    return objective == "size" or readable(record)


def recommend(
    records: Sequence[T],
    max_drop_points: float,
    objective: str = "energy",
    *,
    cost: Callable[[T], float] | None = None,
    saving: Callable[[T], bool] | None = None,
    read: Callable[[T], bool] | None = None,
) -> Recommendation[T] | None:
    """The lowest-cost record that saves measurably and keeps accuracy within ``max_drop_points`` of its baseline.

    Ties go to the higher accuracy, then to the earlier record. With no measurable saving inside the
    budget: the baseline (if among ``records``), ``measurable_saving=False``. With nothing inside the
    budget: the record losing the least accuracy (then the cheapest), ``within_budget=False``. ``cost``
    reads the objective from a record (default: the objective's ``Measurement`` field); ``saving`` says
    whether a record saves beyond its interval (default: ``saves``); ``read`` whether its cost rests on enough
    measurements to say it does not (default: ``settled``).
    """
    if objective not in OBJECTIVES:
        raise invalid_parameter("objective", f"one of {sorted(OBJECTIVES)}", objective)
    if not records:
        return None
    spec = OBJECTIVES[objective]
    cost_of = cost or (lambda r: float(getattr(r, spec.column)))
    order = {id(r): i for i, r in enumerate(records)}
    saves_of = saving or (lambda r: saves(r, objective))
    read_of = read or (lambda r: settled(r, objective))
    inside = [r for r in records if r.accuracy_drop_points <= max_drop_points + TOLERANCE]
    saving_inside = [r for r in inside if saves_of(r)]
    if saving_inside:
        best = min(saving_inside, key=lambda r: (cost_of(r), -r.accuracy, order[id(r)]))
        reason = (f"lowest {spec.name.lower()} ({spec.text(cost_of(best))}) among the {len(saving_inside)} points that "
                  f"save {spec.name.lower()} beyond their 95% interval and keep accuracy within {units.points(max_drop_points)} "
                  f"of the baseline's ({len(records)} points measured)")
        return Recommendation(best, True, reason, max_drop_points, objective, measurable_saving=True)
    baseline = next((r for r in inside if getattr(r, "is_baseline", False)), None)
    if baseline is not None:
        compressed = len(records) - 1
        name = spec.name.lower()
        if not compressed:
            reason = "only the uncompressed model is measured so far"
        elif not any(saves_of(r) for r in records) and all(read_of(r) for r in records if r is not baseline):
            # the measured answer for this machine, whatever the accuracy: every point read, none saves
            reason = (f"no technique saves {name} on this CPU for this model ({compressed} compressed "
                      f"{'point' if compressed == 1 else 'points'} measured, none beyond its 95% interval on enough "
                      f"measurements), so within {units.points(max_drop_points)} of the baseline's accuracy the "
                      "uncompressed model stays the answer")
        else:
            reason = (f"no compressed point ({compressed} measured) within {units.points(max_drop_points)} of the "
                      f"baseline's accuracy saves {name} beyond its 95% interval on enough measurements")
        return Recommendation(baseline, True, reason, max_drop_points, objective)
    if inside:
        best = min(inside, key=lambda r: (cost_of(r), -r.accuracy, order[id(r)]))
        reason = (f"lowest {spec.name.lower()} within {units.points(max_drop_points)} of the baseline's accuracy, but no "
                  "measurable saving: its interval includes the baseline's")
        return Recommendation(best, True, reason, max_drop_points, objective)
    best = min(records, key=lambda r: (r.accuracy_drop_points, cost_of(r), order[id(r)]))
    reason = (f"no point is within {units.points(max_drop_points)} of the baseline's accuracy; this is the closest "
              f"({best.accuracy_drop_points:.2f} points lost), not a recommendation within your budget")
    return Recommendation(best, False, reason, max_drop_points, objective)
