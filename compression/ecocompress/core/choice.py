"""The one recommendation rule: which measured point to take under an accuracy budget.

Home, Explore, Review, Find best, the report, the CLI and the benchmarks all call ``recommend``,
so one budget always gives one answer. The rule never ends in "no model found": when no point is
within the budget it returns the closest one, marked as outside the budget (not a recommendation).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Generic, Sequence, TypeVar

from ecocompress.core.errors import invalid_parameter
from ecocompress.core.objectives import OBJECTIVES

T = TypeVar("T")
TOLERANCE = 1e-9  # a drop equal to the budget is within it, whatever the float rounding


@dataclass(frozen=True)
class Recommendation(Generic[T]):
    """The chosen point, whether it is within the budget, and why it was chosen, in one sentence."""

    record: T
    within_budget: bool
    reason: str
    budget_points: float
    objective: str


def recommend(
    records: Sequence[T],
    max_drop_points: float,
    objective: str = "energy",
    *,
    cost: Callable[[T], float] | None = None,
) -> Recommendation[T] | None:
    """The lowest-cost record whose accuracy is within ``max_drop_points`` of its baseline.

    Ties go to the higher accuracy, then to the earlier record. With none inside the budget: the
    record losing the least accuracy (then the cheapest), marked ``within_budget=False``. ``cost``
    reads the objective from a record (default: the objective's ``Measurement`` field).
    """
    if objective not in OBJECTIVES:
        raise invalid_parameter("objective", f"one of {sorted(OBJECTIVES)}", objective)
    if not records:
        return None
    spec = OBJECTIVES[objective]
    cost_of = cost or (lambda r: float(getattr(r, spec.column)))
    order = {id(r): i for i, r in enumerate(records)}
    inside = [r for r in records if r.accuracy_drop_points <= max_drop_points + TOLERANCE]
    if inside:
        best = min(inside, key=lambda r: (cost_of(r), -r.accuracy, order[id(r)]))
        reason = (f"lowest {spec.name.lower()} ({spec.text(cost_of(best))}) among the {len(inside)} of {len(records)} "
                  f"points within {max_drop_points:g} points of the baseline's accuracy")
        return Recommendation(best, True, reason, max_drop_points, objective)
    best = min(records, key=lambda r: (r.accuracy_drop_points, cost_of(r), order[id(r)]))
    reason = (f"no point is within {max_drop_points:g} points of the baseline's accuracy; this is the closest "
              f"({best.accuracy_drop_points:.2f} points lost), not a recommendation within your budget")
    return Recommendation(best, False, reason, max_drop_points, objective)
