"""The sample models' network definitions, each parameterised by a width multiplier.

Width is how distillation later builds students (1, 1/2, 1/4, 1/8 of the teacher's hidden
sizes); channel counts are rounded to multiples of 8 so CPU kernels keep their fast paths.
"""

from __future__ import annotations

import math

import torch
from torch import nn


def scaled(channels: int, width: float, multiple: int = 8) -> int:
    """Hidden size ``channels * width`` rounded to a multiple of ``multiple`` (at least one).

    Width 1 is the teacher itself and keeps its published sizes exactly.
    """
    if width == 1.0:
        return channels
    return max(multiple, math.floor(channels * width / multiple + 0.5) * multiple)


class DigitsCNN(nn.Module):
    """Small CNN for 1x8x8 digits: two 3x3 convolutions, a max-pool and two linear layers."""

    def __init__(self, width: float = 1.0, num_classes: int = 10) -> None:
        super().__init__()
        c1, c2, hidden = scaled(32, width), scaled(64, width), scaled(128, width)
        self.features = nn.Sequential(
            nn.Conv2d(1, c1, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(c1, c2, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
        )
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Linear(c2 * 4 * 4, hidden),
            nn.ReLU(),
            nn.Linear(hidden, num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


class LeNet300(nn.Module):
    """LeNet-300-100: the 784-300-100-10 MLP of LeCun et al. and Deep Compression's Table 1."""

    def __init__(self, width: float = 1.0, num_classes: int = 10) -> None:
        super().__init__()
        h1, h2 = scaled(300, width, 4), scaled(100, width, 4)
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Linear(784, h1),
            nn.ReLU(),
            nn.Linear(h1, h2),
            nn.ReLU(),
            nn.Linear(h2, num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(x)


class LeNet5(nn.Module):
    """Caffe's LeNet-5 variant (20-50-500), the 431K-parameter model of Deep Compression's Table 1."""

    def __init__(self, width: float = 1.0, num_classes: int = 10) -> None:
        super().__init__()
        c1, c2, hidden = scaled(20, width, 4), scaled(50, width, 2), scaled(500, width)
        self.features = nn.Sequential(
            nn.Conv2d(1, c1, 5),
            nn.MaxPool2d(2),
            nn.Conv2d(c1, c2, 5),
            nn.MaxPool2d(2),
        )
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Linear(c2 * 4 * 4, hidden),
            nn.ReLU(),
            nn.Linear(hidden, num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


ARCHITECTURES: dict[str, type[nn.Module]] = {
    "DigitsCNN": DigitsCNN,
    "LeNet300": LeNet300,
    "LeNet5": LeNet5,
}


def count_parameters(model: nn.Module) -> int:
    """Number of learned scalars (weights and biases)."""
    return sum(p.numel() for p in model.parameters())
