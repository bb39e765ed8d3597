"""95% intervals of positive quantities (energies, times, their ratios), computed on logs.

Such quantities are multiplicative: a point at 0.5x and one at 2x are equally far from 1, and an energy is a
ratio times a baseline. So means, standard errors and intervals are taken on logs, with Student's t (scipy),
everywhere a figure is given an interval: the paired windows (``measure.paired``) and the pooled baseline of
a series (``core.records``).
"""

from __future__ import annotations

import math
import statistics
from typing import Sequence


def t_quantile(df: int) -> float:
    """The two-sided 95% quantile of Student's t with ``df`` degrees of freedom (inf without any)."""
    from scipy.stats import t

    return float(t.ppf(0.975, df)) if df >= 1 else math.inf


def log_se(values: Sequence[float]) -> float:
    """Standard error of the mean of ``log(values)`` (inf for fewer than two values)."""
    logs = [math.log(v) for v in values]
    return statistics.stdev(logs) / math.sqrt(len(logs)) if len(logs) > 1 else math.inf


def geometric_interval(values: Sequence[float]) -> tuple[float, float, float]:
    """The geometric mean of ``values`` with its 95% t interval: (value, low, high); (v, 0, inf) for one value."""
    centre = statistics.fmean(math.log(v) for v in values)
    half = t_quantile(len(values) - 1) * log_se(values)
    return math.exp(centre), math.exp(centre - half), math.exp(centre + half)


def log_spread(value: float, low: float, high: float) -> tuple[float, float]:
    """How far below and above ``value`` its interval reaches, in logs (inf where a bound is unknown)."""
    down = math.log(value / low) if low > 0 else math.inf
    up = math.log(high / value) if math.isfinite(high) and value > 0 else math.inf
    return down, up
