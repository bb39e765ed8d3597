"""One plain sentence per point and per recommendation, the same on every page, the report and the CLI."""

from __future__ import annotations

from ecocompress.core import units
from ecocompress.core.choice import Recommendation
from ecocompress.core.records import Measurement


def accuracy_words(m: Measurement) -> str:
    """'same accuracy (within the 95% interval)', or the signed change in points."""
    if m.is_baseline:
        return f"accuracy {units.percent(m.accuracy)}"
    if m.accuracy_ci_low <= m.baseline_accuracy <= m.accuracy_ci_high:
        return f"same accuracy within its 95% interval ({units.points_change(m.accuracy_change_points)})"
    return f"{units.points_change(m.accuracy_change_points)} of accuracy"


def headline(m: Measurement) -> str:
    """'8-bit: same accuracy (...), 58% less energy (95%: 55-61% less), 3.9x smaller file'."""
    if m.is_baseline:
        return f"{m.label}: the uncompressed model, {accuracy_words(m)}, {units.energy_wh(m.energy_wh_per_1k)} per 1,000 inferences"
    size = (f"{units.ratio(m.storage_ratio)} smaller file" if m.storage_ratio >= 1
            else f"{units.ratio(1 / m.storage_ratio)} larger file")
    energy = units.change_with_interval(m.energy_ratio, m.energy_ratio_ci_low, m.energy_ratio_ci_high)
    return f"{m.label}: {accuracy_words(m)}, {energy}, {size}"


def recommendation_text(rec: Recommendation[Measurement] | None) -> str:
    """The recommendation in one sentence with why, or what to do when there is none yet."""
    if rec is None:
        return "Nothing measured yet: measure the baseline and a compressed setting first."
    if not rec.within_budget:
        return f"No point is within {_points(rec.budget_points)} of the baseline's accuracy; closest: {headline(rec.record)}."
    if not rec.measurable_saving:
        return f"Keep the uncompressed model: {rec.reason}."
    return f"Recommended within {_points(rec.budget_points)} of accuracy: {headline(rec.record)}."


def _points(budget: float) -> str:
    return f"{units.number(budget)} point{'' if budget == 1 else 's'}"
