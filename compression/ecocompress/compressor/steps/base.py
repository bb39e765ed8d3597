"""What a torch pipeline step is: which points it applies to, its cache-key part, and its transform."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable

if TYPE_CHECKING:
    import numpy as np
    from torch import nn

    from ecocompress.core.data import Dataset
    from ecocompress.core.points import CompressionPoint
    from ecocompress.core.recipes import TrainConfig


@dataclass
class StepContext:
    """What every step of one compression run shares: the point, the data, and the recipes in force.

    ``x_fit``/``y_fit``/``tune`` change once, before the first fine-tune that is not in the cache: the recovery rule
    (``compressor.training.with_recovery_rule``) holds some training examples out to know when accuracy is back.
    """

    spec: Any  # compressor.pipeline.TrainableModel
    point: CompressionPoint
    data: Dataset
    seed: int
    tune: TrainConfig
    teach: TrainConfig
    x_fit: np.ndarray
    y_fit: np.ndarray
    fine_tune_ready: bool = False

    @property
    def tuned(self) -> str:
        """How a step's note ends: the point's fine-tuning, in words."""
        return "fine-tuned" if self.point.fine_tuned else "not fine-tuned"


@dataclass(frozen=True)
class Step:
    """One technique in the torch pipeline (torchao's config + transform, as data).

    ``applies``: whether the point asks for it; ``title``: the progress line, also the step's name in the cache key;
    ``settings``: the point's part of the cache key; ``fine_tunes``: whether it trains on the fine-tune recipe (the
    recovery rule is set up before the first such step); ``transform``: model -> (new model, notes);
    ``cached``: whether its output is kept and its progress shown (a cheap rounding is neither).
    """

    applies: Callable[[CompressionPoint], bool]
    title: Callable[[CompressionPoint], str]
    fraction: float
    settings: Callable[[CompressionPoint], dict[str, Any]]
    transform: Callable[[StepContext, nn.Module], tuple[nn.Module, list[str]]]
    fine_tunes: Callable[[CompressionPoint], bool] = lambda point: True
    cached: bool = True


def trained(point: CompressionPoint, words: str, quick: str) -> str:
    """A step's progress line: ``words`` when the point is fine-tuned, ``quick`` for its first answer."""
    return words if point.fine_tuned else quick
