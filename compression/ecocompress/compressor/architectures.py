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


class BasicBlock(nn.Module):
    """ResNet's basic block: two 3x3 convolutions with BatchNorm, and a shortcut (a 1x1 convolution where the block
    changes width or stride)."""

    def __init__(self, c_in: int, c_out: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1, self.bn1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False), nn.BatchNorm2d(c_out)
        self.conv2, self.bn2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False), nn.BatchNorm2d(c_out)
        self.shortcut = (nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride, bias=False), nn.BatchNorm2d(c_out))
                         if stride != 1 or c_in != c_out else nn.Identity())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.bn2(self.conv2(torch.relu(self.bn1(self.conv1(x))))) + self.shortcut(x))


RESNET18 = ((64, 2), (128, 2), (256, 2), (512, 2))  # (channels, blocks) per stage


class ResNet(nn.Module):
    """A ResNet of basic blocks (He et al. 2016); ResNet-18 by default (11.2M parameters on one input channel).

    ``large_stem`` is torchvision's 7x7 stride-2 convolution and max pool (inputs shrink 4x before the first stage);
    without it, one 3x3 convolution at full resolution (small images). Each stage after the first halves the size.
    """

    def __init__(self, width: float = 1.0, num_classes: int = 10, *, in_channels: int = 1,
                 stages: tuple[tuple[int, int], ...] = RESNET18, large_stem: bool = True) -> None:
        super().__init__()
        widths = [scaled(channels, width) for channels, _ in stages]
        stem: list[nn.Module] = ([nn.Conv2d(in_channels, widths[0], 7, 2, 3, bias=False)] if large_stem
                                 else [nn.Conv2d(in_channels, widths[0], 3, 1, 1, bias=False)])
        stem += [nn.BatchNorm2d(widths[0]), nn.ReLU()] + ([nn.MaxPool2d(3, 2, 1)] if large_stem else [])
        self.stem = nn.Sequential(*stem)
        blocks, c_in = [], widths[0]
        for index, ((_, count), c_out) in enumerate(zip(stages, widths)):
            for block in range(count):
                blocks.append(BasicBlock(c_in, c_out, 2 if index > 0 and block == 0 else 1))
                c_in = c_out
        self.blocks = nn.Sequential(*blocks)
        self.fc = nn.Linear(c_in, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.flatten(nn.functional.adaptive_avg_pool2d(self.blocks(self.stem(x)), 1), 1))


ARCHITECTURES: dict[str, type[nn.Module]] = {
    "DigitsCNN": DigitsCNN,
    "LeNet300": LeNet300,
    "LeNet5": LeNet5,
    "ResNet18": ResNet,
}


def count_parameters(model: nn.Module) -> int:
    """Number of learned scalars (weights and biases)."""
    return sum(p.numel() for p in model.parameters())
