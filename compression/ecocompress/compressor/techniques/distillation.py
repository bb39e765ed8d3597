"""Knowledge distillation into a narrower student of the same family.

The student is trained twice, with the teacher's softened outputs (KD loss, temperature T)
and without them (plain cross-entropy), on the same data and seed; the one with the better
accuracy on a held-out slice of the *training* data is kept, and the choice is reported.
The test set is never used to choose.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from ecocompress.compressor.training import TrainConfig, accuracy, split_validation, train_classifier

TEMPERATURE = 4.0
KD_WEIGHT = 0.9


@dataclass(frozen=True)
class DistillResult:
    student: nn.Module
    method: str  # "knowledge distillation" or "trained without the teacher"
    kd_validation_accuracy: float
    plain_validation_accuracy: float | None  # None when not compared (``compare=False``)


def kd_loss(teacher: nn.Module, temperature: float = TEMPERATURE, weight: float = KD_WEIGHT):
    """Hinton et al.'s loss: KL between softened teacher and student outputs, plus cross-entropy."""

    def loss(logits: torch.Tensor, labels: torch.Tensor, inputs: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            target = F.softmax(teacher(inputs) / temperature, dim=1)
        soft = F.kl_div(F.log_softmax(logits / temperature, dim=1), target, reduction="batchmean")
        return weight * temperature**2 * soft + (1 - weight) * F.cross_entropy(logits, labels)

    return loss


def distill(
    teacher: nn.Module,
    build_student: Callable[[], nn.Module],
    x: np.ndarray,
    y: np.ndarray,
    config: TrainConfig,
    *,
    compare: bool = True,
) -> DistillResult:
    """Train a student with and without the teacher; keep the better on held-out training data.

    ``compare=False`` trains only the distilled one (a first answer: half the time, the comparison comes with the
    final answer)."""
    teacher = copy.deepcopy(teacher).eval()  # the caller's model is left exactly as it was
    train_idx, val_idx = split_validation(len(x), seed=config.seed)
    x_tr, y_tr, x_val, y_val = x[train_idx], y[train_idx], x[val_idx], y[val_idx]
    torch.manual_seed(config.seed)
    kd_student = train_classifier(build_student(), x_tr, y_tr, config, loss_fn=kd_loss(teacher))
    kd_acc = accuracy(kd_student, x_val, y_val)
    if not compare:
        return DistillResult(kd_student, "knowledge distillation", kd_acc, None)
    torch.manual_seed(config.seed)
    plain_student = train_classifier(build_student(), x_tr, y_tr, config)
    plain_acc = accuracy(plain_student, x_val, y_val)
    if kd_acc >= plain_acc:
        return DistillResult(kd_student, "knowledge distillation", kd_acc, plain_acc)
    return DistillResult(plain_student, "trained without the teacher", kd_acc, plain_acc)
