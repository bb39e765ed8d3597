"""One check for both per-layer choices (size and energy): the choice is the cheapest probe within the allowance."""

from __future__ import annotations

from typing import Any, Callable, Sequence


def assert_cheapest_fitting(chosen: Any, probes: Sequence[Any], *, settings: Callable[[Any], Any],
                            cost: Callable[[Any], float], chosen_cost: float) -> None:
    """``chosen`` fits its allowance, is one of the probes, and every cheaper probe lost too much."""
    assert chosen.short_tune_drop_points <= chosen.allowance_points
    assert settings(chosen) in {settings(p) for p in probes}
    assert all(p.drop_points > chosen.allowance_points for p in probes if cost(p) < chosen_cost)
