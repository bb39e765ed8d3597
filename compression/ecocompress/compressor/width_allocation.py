"""Per-layer structured pruning chosen for energy (``--per-layer auto --objective energy``).

On a CPU, zeros and k-bit codes cost the dense kernel the same time as any weight (docs/design.md): only
smaller matrices run faster. So the energy objective chooses how many output channels/neurons each layer
keeps and, for a model that flattens its input into a linear layer, how many input features it reads
(MNIST's border pixels are zero in every image, yet LeNet-300-100's first layer, 88% of its
multiply-accumulates, multiplies them all). Each such *dimension* is narrowed alone to each fraction of a
small grid, recovered for one epoch, and its validation drop measured (``sensitivities``). A combination's
cost is its exact multiply-accumulate count: a layer's MACs scale with the share of its inputs and of its
outputs kept. Every combination of the grid is scored (cost, summed drops); along the front of those, a
binary search keeps the cheapest whose drop after a short fine-tune is within the budget times
``SHORT_TUNE_SLACK`` (judged as ``compressor.allocation`` judges, with a tighter slack). The point then runs through the pipeline
(full fine-tune, 8-bit weights, runtime format chosen by timing), and what it measures is what is reported.
"""

from __future__ import annotations

import itertools
from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np
from torch import nn

from ecocompress.compressor.allocation import SHORT_TUNE_EPOCHS, ChoiceData, smallest_fitting
from ecocompress.compressor.architectures import scaled
from ecocompress.compressor.techniques.layers import input_selector, layer_macs, weight_layers
from ecocompress.compressor.techniques.pruning import INPUTS, prune_widths
from ecocompress.compressor.training import TrainConfig, accuracy
from ecocompress.core.points import CompressionPoint, KeptUnits
from ecocompress.core.progress import Progress, no_progress

INPUT_FRACTIONS = (1.0, 0.75, 0.6, 0.5, 0.4, 0.3, 0.2)
WIDTH_FRACTIONS = (1.0, 0.75, 0.5, 0.375, 0.25, 0.125)
MULTIPLE = 8  # kept widths and input counts are multiples of 8: onnxruntime's vectorised kernels keep their fast paths
# Short-fine-tune validation drop allowed per point of budget. The full fine-tune recovers far less of a narrowed
# layer than of a sparse one (compressor.allocation allows 8): on LeNet-300-100 a combination that lost 5.6 validation
# points after the short fine-tune lost 2.5 test points after the full one.
SHORT_TUNE_SLACK = 2.0
BITS = 8  # weights of the chosen point: 8-bit, post-training (the runtime choice may run them as int8)


@dataclass(frozen=True)
class WidthOption:
    """One dimension narrowed alone: how many units it keeps and the validation drop after one recovery epoch."""

    dimension: str  # a layer's name (its outputs) or "input" (the model's input features)
    kept: int
    full: int
    drop_points: float


@dataclass(frozen=True)
class WidthProbe:
    """One combination judged after the short fine-tune."""

    kept: KeptUnits
    macs: int
    drop_points: float


@dataclass(frozen=True)
class Shape:
    """The chain of weighted layers: each one's full MACs and weights, and which dimensions feed and leave it."""

    full: dict[str, int]  # dimension -> units at full width
    macs: dict[str, int]  # layer -> MACs at full width
    weights: dict[str, int]  # layer -> weights at full width
    inputs_of: dict[str, str | None]  # layer -> the dimension its inputs come from (None: not prunable)
    outputs_of: dict[str, str | None]  # layer -> its own dimension (None for the output layer)

    @classmethod
    def of(cls, model: nn.Module, input_shape: tuple[int, ...]) -> "Shape":
        layers = list(weight_layers(model))
        full: dict[str, int] = {}
        if input_selector(model) is not None:
            full[INPUTS] = layers[0][1].in_features
        for name, module in layers[:-1]:
            full[name] = module.weight.shape[0]
        previous = [INPUTS if INPUTS in full else None] + [name for name, _ in layers[:-1]]
        return cls(full, layer_macs(model, input_shape), {n: m.weight.numel() for n, m in layers},
                   dict(zip([n for n, _ in layers], previous)),
                   {name: (name if name in full else None) for name, _ in layers})

    def _share(self, kept: dict[str, int], dimension: str | None) -> float:
        return 1.0 if dimension is None else kept.get(dimension, self.full[dimension]) / self.full[dimension]

    def macs_of(self, kept: dict[str, int]) -> int:
        """Multiply-accumulates per inference with ``kept`` units per dimension (exact for a chain of layers)."""
        return int(round(sum(macs * self._share(kept, self.inputs_of[n]) * self._share(kept, self.outputs_of[n])
                             for n, macs in self.macs.items())))

    def removed_share(self, kept: dict[str, int]) -> float:
        """Share of the weights that ``kept`` removes."""
        left = sum(w * self._share(kept, self.inputs_of[n]) * self._share(kept, self.outputs_of[n])
                   for n, w in self.weights.items())
        return 1.0 - left / sum(self.weights.values())


@dataclass(frozen=True)
class WidthAllocation:
    """What the search chose, and the figures it chose by (validation estimates, before the full fine-tune)."""

    objective: str
    max_accuracy_drop: float
    kept: KeptUnits
    full: dict[str, int]
    removed_share: float  # of the weights
    macs: int
    dense_macs: int
    short_tune_drop_points: float
    allowance_points: float
    validation_images: int
    options: tuple[WidthOption, ...]
    probes: tuple[WidthProbe, ...]

    def point(self) -> CompressionPoint:
        """The structurally pruned point, fine-tuned and stored with 8-bit weights as uniform points are (the plain
        8-bit point when no narrowing fits the budget)."""
        if not self.kept:
            return CompressionPoint(bits=BITS)
        return CompressionPoint(sparsity=round(self.removed_share, 4), bits=BITS, structured=True, kept_units=self.kept)

    def describe(self) -> str:
        """What each dimension kept, e.g. ``input 392 of 784, classifier.1 96 of 300 units``."""
        return ", ".join(f"{name} {count} of {self.full[name]}" for name, count in self.kept) + (
            f" units ({self.macs / self.dense_macs:.0%} of the multiply-accumulates)")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "WidthAllocation":
        pairs = lambda rows: tuple((str(n), int(c)) for n, c in rows)  # noqa: E731
        fields = {k: v for k, v in data.items() if k not in ("kept", "options", "probes")}
        return cls(**fields, kept=pairs(data["kept"]), options=tuple(WidthOption(**o) for o in data["options"]),
                   probes=tuple(WidthProbe(**{**p, "kept": pairs(p["kept"])}) for p in data["probes"]))


def grid(full: dict[str, int]) -> dict[str, list[int]]:
    """The kept counts tried per dimension, widest first, distinct after rounding to ``MULTIPLE``."""
    counts = {}
    for dimension, units in full.items():
        fractions = INPUT_FRACTIONS if dimension == INPUTS else WIDTH_FRACTIONS
        options = [units] + [min(units, scaled(units, f, MULTIPLE)) for f in fractions if f < 1.0]
        counts[dimension] = sorted(set(options), reverse=True)
    return counts


def sensitivities(model: nn.Module, data: ChoiceData, input_shape: tuple[int, ...], counts: dict[str, list[int]],
                  progress: Progress = no_progress) -> list[WidthOption]:
    """Each dimension narrowed alone to each count, recovered for one epoch, and its validation drop."""
    options, x, y = [], data.x[data.recovery], data.y[data.recovery]
    for index, (dimension, kept) in enumerate(counts.items()):
        progress(f"measuring how much {dimension} can be narrowed ({index + 1} of {len(counts)})", 0.4 * index / len(counts))
        for count in kept:
            drop = 0.0
            if count < kept[0]:
                narrowed = prune_widths(model, {dimension: count}, input_shape, x, y, replace(data.short, epochs=1))
                drop = (data.evaluator.baseline - accuracy(narrowed, data.evaluator.x, data.evaluator.y)) * 100.0
            options.append(WidthOption(dimension, count, kept[0], drop))
    return options


def candidates(options: list[WidthOption], shape: Shape) -> list[tuple[dict[str, int], int]]:
    """The combinations no other beats on both MACs and summed single-dimension drop, fewest MACs first."""
    by_dimension: dict[str, list[WidthOption]] = {}
    for option in options:
        by_dimension.setdefault(option.dimension, []).append(option)
    scored = []
    for combo in itertools.product(*by_dimension.values()):
        kept = {o.dimension: o.kept for o in combo}
        scored.append((sum(max(0.0, o.drop_points) for o in combo), shape.macs_of(kept), kept))
    front: list[tuple[dict[str, int], int]] = []
    for _, macs, kept in sorted(scored, key=lambda s: (s[0], s[1])):
        if not front or macs < front[-1][1]:
            front.append((kept, macs))
    return sorted(front, key=lambda item: item[1])


def allocate_widths(
    model: nn.Module, x_train: np.ndarray, y_train: np.ndarray, input_shape: tuple[int, ...], *,
    max_accuracy_drop: float, tune: TrainConfig, seed: int = 0, progress: Progress = no_progress,
) -> WidthAllocation:
    """Choose how many units each layer (and the input) keeps for the fewest multiply-accumulates within the budget."""
    shape = Shape.of(model, input_shape)
    data = ChoiceData.prepare(model, x_train, y_train, tune, seed)
    options = sensitivities(model, data, input_shape, grid(shape.full), progress)
    ranked = candidates(options, shape)
    allowance = SHORT_TUNE_SLACK * max_accuracy_drop
    probes: dict[int, WidthProbe] = {}

    def probe(index: int) -> WidthProbe:
        if index not in probes:
            kept, macs = ranked[index]
            progress(f"short fine-tune of candidate {len(probes) + 1} ({macs / shape.macs_of({}):.0%} of the MACs)",
                     min(0.95, 0.4 + 0.08 * len(probes)))
            tuned = prune_widths(model, kept, input_shape, data.x, data.y, replace(data.short, epochs=SHORT_TUNE_EPOCHS))
            probes[index] = WidthProbe(_pairs(kept, shape), macs, data.drop_after(tuned))
        return probes[index]

    best = smallest_fitting(len(ranked), lambda index: probe(index).drop_points <= allowance)
    chosen = probes[best] if best is not None else WidthProbe(_pairs({}, shape), shape.macs_of({}), 0.0)
    kept = dict(chosen.kept)
    return WidthAllocation(
        objective="energy", max_accuracy_drop=max_accuracy_drop, kept=chosen.kept, full=shape.full,
        removed_share=shape.removed_share(kept), macs=chosen.macs, dense_macs=shape.macs_of({}),
        short_tune_drop_points=chosen.drop_points, allowance_points=allowance,
        validation_images=len(data.evaluator.y), options=tuple(options), probes=tuple(probes[i] for i in sorted(probes)),
    )


def _pairs(kept: dict[str, int], shape: Shape) -> KeptUnits:
    """``kept`` as the point stores it: only the narrowed dimensions, in the model's order."""
    return tuple((name, kept[name]) for name in shape.full if kept.get(name, shape.full[name]) < shape.full[name])
