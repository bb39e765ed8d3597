"""Training hyper-parameters as a frozen value: importable without torch (cheap CLI start-up)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any


@dataclass(frozen=True, eq=False)
class StopRule:
    """Ends a fine-tune as soon as the compressed model is back to ``target`` accuracy on held-out images.

    Most settings recover within a fraction of the recipe (50% sparse 6-bit LeNet-300-100 needs none of
    its 24 epochs); the hard ones still get every epoch, so their accuracy is what the full recipe gives.
    ``steps_run`` records (steps taken, steps in the recipe) of each training run, for the point's notes.
    """

    x: Any  # held-out inputs (numpy), never trained on
    y: Any
    target: float
    every_steps: int = 25
    steps_run: list[tuple[int, int]] = field(default_factory=list)


QUICK_STUDENT_EXAMPLES = 8_000  # a first answer's student: one epoch over at most this many training examples


@dataclass(frozen=True)
class TrainConfig:
    """Hyper-parameters of one training run; frozen so it can be part of a cache key."""

    epochs: int = 10
    batch_size: int = 128
    lr: float = 1e-3
    weight_decay: float = 0.0
    seed: int = 0
    shift_pixels: int = 0  # random translation of image inputs by up to this many pixels
    stop: StopRule | None = field(default=None, compare=False, repr=False)  # early stopping, fine-tunes only


def finetune_of(recipe: TrainConfig, epochs: int, seed: int = 0) -> TrainConfig:
    """A short, gentle fine-tune after pruning, factorising or QAT: the recipe at half its learning rate."""
    return replace(recipe, epochs=epochs, lr=recipe.lr / 2, seed=seed)
