"""One plain sentence per point and per recommendation, the same on every page, the report and the CLI."""

from __future__ import annotations

from ecocompress.core import units
from ecocompress.core.choice import Recommendation
from ecocompress.core.points import CompressionPoint
from ecocompress.core.records import NOT_ENOUGH, Measurement, readable
from ecocompress.measure.flips import NEIGHBOURS, NeighbourChanges, PredictionChanges
from ecocompress.review.projection import Scale, yearly_saving


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
    energy = m.change()
    return f"{m.label}: {accuracy_words(m)}, {energy}, {size}"


def recommendation_text(rec: Recommendation[Measurement] | None) -> str:
    """The recommendation in one sentence with why, or what to do when there is none yet."""
    if rec is None:
        return "Nothing measured yet: measure the baseline and a compressed setting first."
    if not rec.within_budget:
        return f"No point is within {units.points(rec.budget_points)} of the baseline's accuracy; closest: {headline(rec.record)}."
    if not rec.measurable_saving:
        return f"Keep the uncompressed model: {rec.reason}."
    return f"Recommended within {units.points(rec.budget_points)} of accuracy: {headline(rec.record)}."


def yearly_saving_text(record: dict, scale: Scale) -> str:
    """'At 10,000,000 inferences a day (...): saves 1,230 kWh a year (95%: 1,100 to 1,350 kWh), 480 kg CO2e and 185 USD.'

    ``record`` is a ``Measurement`` as a dict; nothing is claimed when the energy ratio's interval includes no change.
    """
    volume = (f"At {units.number(scale.inferences_per_day, 15)} inferences a day ({scale.grid['country_name']} grid, "
              f"PUE {units.number(scale.pue)})")
    saving = yearly_saving(record, scale)
    if CompressionPoint.from_dict(record).is_baseline:
        return f"{volume} the uncompressed model uses {units.energy_kwh(saving.projection.baseline.kwh)} a year."
    if not readable(record):
        return f"{volume}: {NOT_ENOUGH} for a yearly figure ({record['energy_pairs']} pairs), so no saving is claimed."
    if not saving.measurable:
        return (f"{volume}: no measurable change in energy (the 95% interval of the energy ratio includes no change), "
                "so no saving is claimed.")
    saved = saving.projection.saved
    verb, sign = ("saves", 1.0) if saved.kwh > 0 else ("costs", -1.0)
    low, high = sorted((sign * saving.low.kwh, sign * saving.high.kwh))
    return (f"{volume}: {verb} {units.energy_kwh(sign * saved.kwh)} a year (95%: {units.energy_kwh(low)} to "
            f"{units.energy_kwh(high)}), {units.co2e_kg(sign * saved.kg_co2e)} and "
            f"{units.money(sign * saved.cost, scale.currency)}{'' if sign > 0 else ' more'}.")


def flips_sentence(changes: PredictionChanges) -> str:
    """'Of 10,000 test examples: 23 the original answered right are now wrong, 15 it answered wrong are now right
    (net -8 answers).'"""
    net = changes.wrong_to_right - changes.right_to_wrong
    return (f"Of {units.number(changes.examples, 9)} test examples: {changes.right_to_wrong:,} the original answered "
            f"right are now wrong, {changes.wrong_to_right:,} it answered wrong are now right "
            f"(net {net:+,} answer{'' if abs(net) == 1 else 's'}).")


def neighbours_sentence(changes: NeighbourChanges) -> str:
    """'Of 600 held-out sentences, 41 have another nearest neighbour than with the original model; 212 of their
    3,000 five-nearest places went to other sentences.'"""
    return (f"Of {units.number(changes.examples, 9)} held-out sentences, {changes.top1_changed:,} "
            f"{'has' if changes.top1_changed == 1 else 'have'} another nearest neighbour than with the original model; "
            f"{changes.neighbours_lost:,} of their {changes.examples * NEIGHBOURS:,} {NEIGHBOURS}-nearest places went to "
            "other sentences.")


def changes_sentence(changes: PredictionChanges | NeighbourChanges) -> str:
    """The one-sentence summary of what a point changed, answer by answer, for either kind of change."""
    return neighbours_sentence(changes) if isinstance(changes, NeighbourChanges) else flips_sentence(changes)


def per_layer_sentence(allocation) -> str:
    """What each layer got (an ``Allocation`` or ``WidthAllocation``) and what the choice measured on held-out
    training images."""
    return (f"{allocation.describe()} (after a short fine-tune, {allocation.validation_images:,} held-out training images lost "
            f"{allocation.short_tune_drop_points:.2f} points more than the uncompressed model fine-tuned alike; "
            f"allowed {allocation.allowance_points:g} for a {allocation.max_accuracy_drop:g}-point budget)")
