"""How long work reports where it is: ``progress(step, fraction_done)``, one type for every layer."""

from __future__ import annotations

from typing import Callable

Progress = Callable[[str, float], None]


def no_progress(_step: str, _fraction: float) -> None:
    """The default reporter: says nothing."""
    return None
