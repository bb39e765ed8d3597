"""What a point can be ranked by: the one table of costs (chart axes, search objectives, tables) and
the one name of the quality figure."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from ecocompress.core import units


@dataclass(frozen=True)
class Objective:
    """A cost to minimise: the ``Measurement`` field that holds it, how to name it and how to print it."""

    column: str
    name: str
    axis_title: str
    unit: str
    format: Callable[[float], str]

    def text(self, value: float) -> str:
        """The cost with its unit, for tables and captions."""
        return self.format(value)


OBJECTIVES: dict[str, Objective] = {
    "energy": Objective("energy_wh_per_1k", "Energy", "Energy per 1,000 inferences (Wh)",
                        "energy per 1,000 inferences (Wh)", units.energy_wh),
    "latency": Objective("latency_ms_per_item_large_batch", "Latency", "Latency per inference at the series' batch (ms)",
                         "latency per inference at the series' batch (ms)", units.latency_ms),
    "size": Objective("storage_bytes", "Stored size", "Stored size, compressed (bytes)", "stored size (bytes)", units.size),
}

TEST_ACCURACY = "test accuracy"


def quality_name(metric: str = TEST_ACCURACY) -> str:
    """What the quality figure is, for a label: 'Accuracy (test set)', or the model's own measure."""
    return "Accuracy (test set)" if metric == TEST_ACCURACY else f"{metric[0].upper()}{metric[1:]}"


def quality_title(metrics: set[str] | str = TEST_ACCURACY) -> str:
    """Axis title of the quality figure in percent; several different measures fall back to test accuracy."""
    if isinstance(metrics, str):
        metrics = {metrics}
    metric = next(iter(metrics)) if len(metrics) == 1 else TEST_ACCURACY
    return "Test accuracy (%)" if metric == TEST_ACCURACY else f"{metric[0].upper()}{metric[1:]} (%)"
