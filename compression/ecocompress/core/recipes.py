"""Training hyper-parameters as a frozen value: importable without torch (cheap CLI start-up)."""

from __future__ import annotations

from dataclasses import dataclass, replace


@dataclass(frozen=True)
class TrainConfig:
    """Hyper-parameters of one training run; frozen so it can be part of a cache key."""

    epochs: int = 10
    batch_size: int = 128
    lr: float = 1e-3
    weight_decay: float = 0.0
    seed: int = 0
    shift_pixels: int = 0  # random translation of image inputs by up to this many pixels


def finetune_of(recipe: TrainConfig, epochs: int, seed: int = 0) -> TrainConfig:
    """A short, gentle fine-tune after pruning, factorising or QAT: the recipe at half its learning rate."""
    return replace(recipe, epochs=epochs, lr=recipe.lr / 2, seed=seed)
