"""Grids of compression points, measured one after another (cache-aware), and their Pareto sets."""

from __future__ import annotations

import itertools
from typing import Any, Callable, Iterable, Iterator, Mapping, Sequence

import pandas as pd

from ecocompress.service.api import lookup, measure_point
from ecocompress.core.errors import InvalidParameterError, invalid_parameter
from ecocompress.core.knobs import BY_FIELD, KNOBS, SPARSITY
from ecocompress.core.pareto import pareto_mask
from ecocompress.core.points import CompressionPoint
from ecocompress.core.records import MeasureSettings, Measurement
from ecocompress.service.store import ResultsStore

# Seconds a new point typically takes on a 2-core machine (build + runtime choice + 3 energy
# windows); training-heavy steps take longer. Used only for the up-front estimate.
SECONDS_PER_NEW_POINT = {"digits-cnn": 20.0, "mnist-lenet300": 45.0, "mnist-lenet5": 120.0}


def parse_values(name: str, text: str, kind: type) -> list:
    """'0,0.5,0.9' -> [0.0, 0.5, 0.9], with the usual one-sentence error."""
    values = []
    for part in str(text).split(","):
        part = part.strip()
        if not part:
            continue
        try:
            values.append(kind(part))
        except ValueError:
            raise invalid_parameter(name, "a comma-separated list of numbers", text) from None
    if not values:
        raise InvalidParameterError(f"The {name!r} parameter must list at least one value. Got {text!r} instead.")
    return values


def grid(values: Mapping[str, Sequence[Any]] | None = None, *, structured: bool = False) -> list[CompressionPoint]:
    """Every combination of the knobs' values (``CompressionPoint`` field -> values; a knob left out stays at its
    default), validated up front (a bad value fails before any work starts); duplicates removed, order kept."""
    values = dict(values or {})
    for field in values:
        if field not in BY_FIELD:
            raise invalid_parameter("grid", f"values for {', '.join(BY_FIELD)}", field)
    axes = [values.get(knob.field, (knob.default,)) for knob in KNOBS]
    points = []
    for combination in itertools.product(*axes):
        chosen = dict(zip((knob.field for knob in KNOBS), combination))
        points.append(CompressionPoint(**chosen, structured=structured and SPARSITY.is_set(chosen["sparsity"])))
    return list(dict.fromkeys(points))


def estimate_seconds(model: str, points: Iterable[CompressionPoint], settings: MeasureSettings, store: ResultsStore) -> tuple[int, float]:
    """(how many points are new, rough seconds to measure them): cached points cost nothing."""
    new = [p for p in points if lookup(model, p, settings, store=store) is None]
    per_point = SECONDS_PER_NEW_POINT.get(model, 60.0) * settings.seeds + (settings.repeats - 3) * settings.energy_window_s
    return len(new), len(new) * per_point


def run_sweep(
    model: str,
    points: Sequence[CompressionPoint],
    settings: MeasureSettings | None = None,
    *,
    store: ResultsStore | None = None,
    progress: Callable[[int, int, CompressionPoint, str], None] | None = None,
    should_stop: Callable[[], bool] = lambda: False,
    session: str = "cli",
) -> Iterator[Measurement]:
    """Measure ``points`` in order for ``session`` (its share of the compute queue), yielding each result as soon
    as it is stored.

    Stopping between points (``should_stop``) keeps every completed point: each is stored
    the moment it is measured.
    """
    store = store or ResultsStore()
    for index, point in enumerate(points):
        if should_stop():
            return
        step = (lambda s, _f, i=index, p=point: progress(i, len(points), p, s)) if progress else (lambda s, f: None)
        yield measure_point(model, point, settings, store=store, progress=step, session=session, wait_for_room=True)


def pareto_table(results: Sequence[Measurement], cost: str) -> pd.DataFrame:
    """The results that are Pareto-optimal for accuracy (up) versus ``cost`` (down), beyond the 95% interval
    where the cost has one (energy)."""
    frame = pd.DataFrame([r.to_dict() for r in results])
    if frame.empty:
        return frame
    low, high = (frame[f"{cost}_ci_low"], frame[f"{cost}_ci_high"]) if f"{cost}_ci_low" in frame else (None, None)
    return frame[pareto_mask(frame["accuracy"], frame[cost], low, high)].sort_values(cost)
