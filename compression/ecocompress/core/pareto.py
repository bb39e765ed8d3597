"""Pareto front over measured points: a pure mask over arrays."""

from __future__ import annotations

from typing import Iterable

import numpy as np


def pareto_mask(gain: Iterable[float], cost: Iterable[float]) -> np.ndarray:
    """True where no other point has gain >= and cost <= with at least one strictly better.

    ``gain`` is maximised (accuracy), ``cost`` minimised (energy, latency, size). Exact
    duplicates are all kept: neither dominates the other.
    """
    g = np.asarray(list(gain), dtype=float)
    c = np.asarray(list(cost), dtype=float)
    if g.shape != c.shape:
        raise ValueError("gain and cost must have the same length")
    n = len(g)
    mask = np.ones(n, dtype=bool)
    for i in range(n):
        dominated_by = (g >= g[i]) & (c <= c[i]) & ((g > g[i]) | (c < c[i]))
        if dominated_by.any():
            mask[i] = False
    return mask
