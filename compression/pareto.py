"""Pareto front over measured points: pure functions over arrays and frames."""

from __future__ import annotations

from typing import Iterable

import numpy as np
import pandas as pd


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


def pareto_front(frame: pd.DataFrame, gain: str, cost: str) -> pd.DataFrame:
    """The Pareto-optimal rows of ``frame``, sorted by ``cost`` (for drawing as a line)."""
    if frame.empty:
        return frame
    return frame[pareto_mask(frame[gain], frame[cost])].sort_values([cost, gain])
