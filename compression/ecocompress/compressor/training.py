"""Seeded, single-threaded training loop shared by the sample-model script and (later) fine-tuning.

One thread on purpose: on two shared cores, two torch threads made the same training swing
from seconds to nearly a minute; one thread is stable and reproducible.
"""

from __future__ import annotations

import contextlib
from dataclasses import replace
from typing import Callable, Iterator

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from ecocompress.core.recipes import StopRule, TrainConfig  # noqa: F401  (re-exported: the training API's config)

TRAIN_THREADS = 1


@contextlib.contextmanager
def torch_threads(n: int) -> Iterator[None]:
    """Run a block with ``n`` intra-op torch threads, restoring the previous count after."""
    previous = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def random_shift(x: torch.Tensor, max_shift: int, generator: torch.Generator) -> torch.Tensor:
    """Translate each image of a batch (N, C, H, W) by its own random whole-pixel offset, zero-filled."""
    if max_shift <= 0 or x.dim() != 4:
        return x
    n, _, h, w = x.shape
    shifts = torch.randint(-max_shift, max_shift + 1, (n, 2), generator=generator).float()
    theta = torch.zeros(n, 2, 3)
    theta[:, 0, 0] = theta[:, 1, 1] = 1.0
    theta[:, 0, 2] = shifts[:, 0] * 2.0 / w
    theta[:, 1, 2] = shifts[:, 1] * 2.0 / h
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="nearest", padding_mode="zeros", align_corners=False)


def iterate_minibatches(
    n: int, batch_size: int, generator: torch.Generator
) -> Iterator[torch.Tensor]:
    """Shuffled index batches covering ``range(n)`` once."""
    order = torch.randperm(n, generator=generator)
    for start in range(0, n, batch_size):
        yield order[start : start + batch_size]


def train_classifier(
    model: nn.Module,
    x: np.ndarray,
    y: np.ndarray,
    config: TrainConfig,
    *,
    loss_fn: Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
    progress: Callable[[int, float], None] | None = None,
) -> nn.Module:
    """Train ``model`` in place with Adam and a cosine schedule; returns it in eval mode.

    ``loss_fn(logits, labels, inputs)`` replaces cross-entropy (distillation passes one that
    runs the teacher on the same, augmented ``inputs``). ``progress(epoch, mean_loss)`` is called
    after each epoch. With ``config.stop`` (``with_recovery_rule``), held-out accuracy is checked before the
    first step and every ``stop.every_steps`` steps, and training ends at the first check that reaches its target.
    """
    loss_fn = loss_fn or (lambda logits, labels, _inputs: F.cross_entropy(logits, labels))
    generator = torch.Generator().manual_seed(config.seed)
    torch.manual_seed(config.seed)
    xt, yt = torch.from_numpy(np.ascontiguousarray(x)), torch.from_numpy(np.ascontiguousarray(y))
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    steps = config.epochs * ((len(xt) + config.batch_size - 1) // config.batch_size)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(1, steps))
    stop = config.stop if steps > 0 else None
    with torch_threads(TRAIN_THREADS):
        if stop is not None and _recovered(model, stop, 0, steps):
            return model.eval()
        model.train()
        step = 0
        for epoch in range(config.epochs):
            total, count = 0.0, 0
            for index in iterate_minibatches(len(xt), config.batch_size, generator):
                optimizer.zero_grad(set_to_none=True)
                inputs = random_shift(xt[index], config.shift_pixels, generator)
                loss = loss_fn(model(inputs), yt[index], inputs)
                loss.backward()
                optimizer.step()
                scheduler.step()
                total += loss.item() * len(index)
                count += len(index)
                step += 1
                if stop is not None and step % stop.every_steps == 0 and step < steps and _recovered(model, stop, step, steps):
                    return model.eval()
            if progress is not None:
                progress(epoch, total / max(1, count))
    if stop is not None:
        stop.steps_run.append((step, steps))
    return model.eval()


def _recovered(model: nn.Module, stop: StopRule, step: int, budget: int) -> bool:
    """Whether ``model`` is back to the rule's held-out accuracy; if so, the run's steps are recorded."""
    reached = accuracy(model, stop.x, stop.y) >= stop.target
    model.train()
    if reached:
        stop.steps_run.append((step, budget))
    return reached


def split_validation(n: int, fraction: float = 0.1, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Seeded (train, validation) index split of ``range(n)``: choices are made on validation, never on test."""
    order = np.random.default_rng(seed).permutation(n)
    n_val = max(1, int(round(n * fraction)))
    return np.sort(order[n_val:]), np.sort(order[:n_val])


def accuracy(model: nn.Module, x: np.ndarray, y: np.ndarray) -> float:
    """Top-1 accuracy of a torch model."""
    return float((predict(model, x) == y).mean())


@torch.no_grad()
def predict(model: nn.Module, x: np.ndarray, batch_size: int = 1024) -> np.ndarray:
    """Class predictions of a torch model (eval mode, one thread)."""
    model.eval()
    out = []
    with torch_threads(TRAIN_THREADS), torch.no_grad():
        for start in range(0, len(x), batch_size):
            out.append(model(torch.from_numpy(x[start : start + batch_size])).argmax(1).numpy())
    return np.concatenate(out)


RECOVERY_TOLERANCE = 0.002  # a fine-tune ends once held-out accuracy is within 0.2 points of the original's
HELD_OUT_SHARE, HELD_OUT_MAX, HELD_OUT_MIN = 0.1, 5_000, 2_000


def with_recovery_rule(
    original: nn.Module, x: np.ndarray, y: np.ndarray, config: TrainConfig
) -> tuple[np.ndarray, np.ndarray, TrainConfig]:
    """(fine-tune inputs, labels, config) where the config stops once the original's accuracy is back.

    A seeded share of the training images (10%, at most 5,000) is held out of the fine-tune and judges
    recovery against the original model on the same images. With fewer than 2,000 such images (digits
    would hold out 143) the tolerance is a few images or less, so the data and the whole recipe are kept.
    """
    n_held = min(HELD_OUT_MAX, int(len(x) * HELD_OUT_SHARE))
    if n_held < HELD_OUT_MIN or config.epochs <= 0:
        return x, y, config
    fit, held = split_validation(len(x), n_held / len(x), seed=config.seed)
    target = accuracy(original, x[held], y[held]) - RECOVERY_TOLERANCE
    return x[fit], y[fit], replace(config, stop=StopRule(x[held], y[held], target))


def steps_note(stop: StopRule, first: int) -> str | None:
    """What the training runs recorded since ``first`` took, in words (None when none ran)."""
    runs = stop.steps_run[first:]
    if not runs:
        return None
    done, budget = sum(r for r, _ in runs), sum(b for _, b in runs)
    return (f"fine-tuned for {done:,} of the recipe's {budget:,} optimiser steps: it stops once accuracy on "
            f"{len(stop.y):,} held-out training images is within {RECOVERY_TOLERANCE * 100:g} points of the original's")
