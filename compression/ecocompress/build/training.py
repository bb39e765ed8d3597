"""Seeded, single-threaded training loop shared by the sample-model script and (later) fine-tuning.

One thread on purpose: on two shared cores, two torch threads made the same training swing
from seconds to nearly a minute; one thread is stable and reproducible.
"""

from __future__ import annotations

import contextlib
from typing import Callable, Iterator

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from ecocompress.core.recipes import TrainConfig  # noqa: F401  (re-exported: the training API's config)

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
    after each epoch.
    """
    loss_fn = loss_fn or (lambda logits, labels, _inputs: F.cross_entropy(logits, labels))
    generator = torch.Generator().manual_seed(config.seed)
    torch.manual_seed(config.seed)
    xt, yt = torch.from_numpy(np.ascontiguousarray(x)), torch.from_numpy(np.ascontiguousarray(y))
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    steps = config.epochs * ((len(xt) + config.batch_size - 1) // config.batch_size)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(1, steps))
    with torch_threads(TRAIN_THREADS):
        model.train()
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
            if progress is not None:
                progress(epoch, total / max(1, count))
    return model.eval()


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
    with torch_threads(TRAIN_THREADS):
        for start in range(0, len(x), batch_size):
            out.append(model(torch.from_numpy(x[start : start + batch_size])).argmax(1).numpy())
    return np.concatenate(out)
