"""Pareto front over measured points: a pure mask over arrays, aware of measurement intervals."""

from __future__ import annotations

from typing import Iterable

import numpy as np


def pareto_mask(
    gain: Iterable[float],
    cost: Iterable[float],
    cost_low: Iterable[float] | None = None,
    cost_high: Iterable[float] | None = None,
) -> np.ndarray:
    """True where no other point dominates: gain >= and cost <=, at least one strictly better.

    ``gain`` is maximised (accuracy), ``cost`` minimised (energy, latency, size). With a cost interval
    (``cost_low``/``cost_high``, 95%), "cost <=" and "cost <" compare the other point's upper end with
    this point's lower end: a point dominates another only if it is cheaper beyond the intervals.
    Exact duplicates are all kept: neither dominates the other.
    """
    g = np.asarray(list(gain), dtype=float)
    c = np.asarray(list(cost), dtype=float)
    low = c if cost_low is None else np.asarray(list(cost_low), dtype=float)
    high = c if cost_high is None else np.asarray(list(cost_high), dtype=float)
    if not (g.shape == c.shape == low.shape == high.shape):
        raise ValueError("gain and cost must have the same length")
    n = len(g)
    mask = np.ones(n, dtype=bool)
    for i in range(n):
        dominated_by = (g >= g[i]) & (high <= low[i]) & ((g > g[i]) | (high < low[i]))
        dominated_by[i] = False
        if dominated_by.any():
            mask[i] = False
    return mask
