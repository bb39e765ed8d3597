"""Per-layer sparsity and bit-width chosen from measured sensitivities (``--per-layer auto``).

Deep Compression pruned LeNet-300-100's three layers to keep 8%, 9% and 26% of their weights after a
sensitivity analysis; one global setting cannot do that. Here, for every weighted layer and every
(sparsity, bits) option of a small grid, the accuracy lost on a validation split is measured with only
that layer compressed (``sensitivities``: pruning with one epoch of recovery, rounding post-training). An
option's cost is the layer's stored size as ``compressor.storage`` lays it out: the kept weights' k-bit codes,
a 1-bit occupancy mask that LZMA squeezes to about its entropy, one fp16 scale per output channel.

``candidates`` combines one option per layer (a Lagrangian family and a greedy path along each layer's
size/drop frontier) and ranks the combinations by estimated size. Summed single-layer drops are not what a
fine-tuned combination loses, so a binary search judges candidates after a *short* fine-tune (the
pipeline's steps with one epoch per pruning stage on a subset, one of quantization-aware training) and
keeps the smallest whose validation drop (against the uncompressed model trained the same way) is within
the budget times ``SHORT_TUNE_SLACK``: the full fine-tune recovers most of what the short one leaves
(measured on LeNet-300-100 and LeNet-5, docs/benchmarks.md). The pipeline then fine-tunes the chosen
point fully and measures it on the test set like every other point; that figure, not these estimates,
is what the product reports. The validation split is a seeded part of the training images, left out of
every fine-tune here (the test set never chooses anything).
"""

from __future__ import annotations

import copy
import math
from dataclasses import asdict, dataclass, replace
from typing import Any, Iterable

import numpy as np
import torch
from torch import nn

from ecocompress.compressor.storage import SPARSE_BELOW_DENSITY
from ecocompress.compressor.techniques.kbit import best_scale, quantize_tensor, quantize_weights
from ecocompress.compressor.techniques.layers import weight_layers
from ecocompress.compressor.techniques.pruning import magnitude_prune
from ecocompress.compressor.training import TrainConfig, accuracy, split_validation, train_classifier
from ecocompress.core.points import CompressionPoint, LayerSetting
from ecocompress.core.progress import Progress, no_progress

SPARSITIES = (0.0, 0.5, 0.75, 0.85, 0.9, 0.93, 0.94, 0.95, 0.96, 0.97, 0.98)
BITS = (8, 6, 5, 4, 3)  # 2-bit layers lost several points more than 3-bit ones after fine-tuning on LeNet-300-100
VALIDATION_FRACTION, VALIDATION_IMAGES = 0.2, 3000  # digits: 287 images; MNIST: 3,000 (one image = 0.03 points)
SHORT_TUNE_IMAGES = 20_000
RECOVERY_IMAGES = 5_000  # one epoch on these after pruning one layer: what a layer's sensitivity is measured after
SHORT_TUNE_EPOCHS = 4  # three pruning stages of one epoch, then one of quantization-aware training
SHORT_TUNE_SLACK = 8.0  # short-fine-tune validation drop allowed per point of budget (docs/design.md, docs/benchmarks.md)
PRICES = tuple(10.0 ** (k / 8) for k in range(0, 57))  # bytes per point of accuracy, 1 to 10^7


LayerSettings = tuple[LayerSetting, ...]


def overall_sparsity(layers: LayerSettings, params: dict[str, int]) -> float:
    """Share of zeros over all weighted layers, each layer weighted by its parameters."""
    return sum(params[name] * sparsity for name, sparsity, _ in layers) / max(1, sum(params.values()))


def layer_point(layers: LayerSettings, params: dict[str, int]) -> CompressionPoint:
    """The (fine-tuned) compression point that gives each layer its own setting."""
    return CompressionPoint(sparsity=round(overall_sparsity(layers, params), 4), bits=max(b for _, _, b in layers),
                            layer_settings=layers)


@dataclass(frozen=True)
class LayerOption:
    """One layer compressed one way, alone: its estimated stored bytes and its measured validation drop."""

    layer: str
    sparsity: float
    bits: int
    stored_bytes: float
    drop_points: float  # validation points lost with only this layer compressed (``sensitivities``; negative: gained)


@dataclass(frozen=True)
class Probe:
    """One candidate judged after the short fine-tune."""

    layers: LayerSettings
    estimated_bytes: float
    drop_points: float  # validation drop after the short fine-tune


@dataclass(frozen=True)
class Allocation:
    """What the search chose, and the figures it chose by (validation estimates, before the full fine-tune)."""

    objective: str
    max_accuracy_drop: float
    layers: LayerSettings  # (layer, sparsity, bits) per weighted layer
    params: dict[str, int]
    estimated_bytes: float
    dense_fp32_bytes: int
    short_tune_drop_points: float  # validation drop of the choice after the short fine-tune (against the reference)
    allowance_points: float
    validation_images: int
    options: tuple[LayerOption, ...]
    probes: tuple[Probe, ...]

    @property
    def sparsity(self) -> float:
        """Share of zeros over all weighted layers."""
        return overall_sparsity(self.layers, self.params)

    def point(self) -> CompressionPoint:
        """The compression point that builds this allocation (fine-tuned, as uniform points are)."""
        return layer_point(self.layers, self.params)

    def describe(self) -> str:
        """What each layer got, e.g. ``classifier.1 93% sparse 3-bit, classifier.3 85% sparse 3-bit``."""
        return ", ".join(f"{name} {sparsity:.0%} sparse {bits}-bit" for name, sparsity, bits in self.layers)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "sparsity": self.sparsity}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Allocation":
        fields = {k: v for k, v in data.items() if k not in ("options", "probes", "layers", "sparsity")}
        as_layers = lambda rows: tuple(tuple(x) for x in rows)  # noqa: E731
        return cls(**fields, layers=as_layers(data["layers"]), options=tuple(LayerOption(**o) for o in data["options"]),
                   probes=tuple(Probe(**{**p, "layers": as_layers(p["layers"])}) for p in data["probes"]))


def _entropy_bits(p: float) -> float:
    return 0.0 if p <= 0 or p >= 1 else -(p * math.log2(p) + (1 - p) * math.log2(1 - p))


def stored_bytes(weights: int, out_channels: int, sparsity: float, bits: int) -> float:
    """Estimated stored size of one layer (see the module's docstring); ``storage.pack`` gives the real one."""
    density = 1.0 - sparsity
    scales = out_channels * 2
    if density >= SPARSE_BELOW_DENSITY:
        return weights * bits / 8 + scales
    return weights * (_entropy_bits(density) + density * bits) / 8 + scales


@torch.no_grad()
def _compressed_weight(weight: torch.Tensor, sparsity: float, bits: int) -> torch.Tensor:
    """``weight`` magnitude-pruned to ``sparsity`` and rounded to its per-channel ``bits`` grid (post-training)."""
    pruned = weight.clone()
    count = int(round(weight.numel() * sparsity))
    if count:
        pruned.view(-1)[torch.argsort(weight.abs().reshape(-1))[:count]] = 0.0
    mask = pruned != 0
    return quantize_tensor(pruned, best_scale(pruned, bits), bits) * mask


class _Evaluator:
    """Validation accuracy of the model with some layers' weights swapped, restoring them after."""

    def __init__(self, model: nn.Module, x: np.ndarray, y: np.ndarray) -> None:
        self.model, self.x, self.y = model.eval(), x, y
        self.layers = dict(weight_layers(model))
        self.original = {name: module.weight.detach().clone() for name, module in self.layers.items()}
        self.baseline = accuracy(model, x, y)

    @torch.no_grad()
    def drop_points(self, choice: Iterable[tuple[str, float, int]]) -> float:
        choice = list(choice)
        try:
            for name, sparsity, bits in choice:
                self.layers[name].weight.copy_(_compressed_weight(self.original[name], sparsity, bits))
            return (self.baseline - accuracy(self.model, self.x, self.y)) * 100.0
        finally:
            for name, _, _ in choice:
                self.layers[name].weight.copy_(self.original[name])


def sensitivities(evaluator: _Evaluator, x: np.ndarray, y: np.ndarray, tune: TrainConfig,
                  progress: Progress = no_progress) -> list[LayerOption]:
    """Every (layer, sparsity, bits) option of the grid with its estimated bytes and validation drop.

    The drop of pruning a layer alone is measured after one epoch of recovery on ``x``/``y`` (post-training
    drops at high sparsity say little about what fine-tuning gives back: 95% of LeNet-300-100's first layer
    lost about 20 points before any training and 6 after one epoch); the drop of rounding a layer alone to a
    grid is post-training. An option's drop is the sum of the two.
    """
    options = []
    for index, (name, module) in enumerate(evaluator.layers.items()):
        progress(f"measuring how much layer {index + 1} of {len(evaluator.layers)} ({name}) can be squeezed",
                 0.4 * index / len(evaluator.layers))
        pruned = {0.0: 0.0}
        for sparsity in SPARSITIES[1:]:
            recovered = magnitude_prune(evaluator.model, {name: sparsity}, x, y, replace(tune, epochs=1), steps=1)
            pruned[sparsity] = (evaluator.baseline - accuracy(recovered, evaluator.x, evaluator.y)) * 100.0
        rounded = {bits: evaluator.drop_points([(name, 0.0, bits)]) for bits in BITS}
        weights, out_channels = module.weight.numel(), module.weight.shape[0]
        options += [LayerOption(name, sparsity, bits, stored_bytes(weights, out_channels, sparsity, bits),
                                pruned[sparsity] + rounded[bits])
                    for sparsity in SPARSITIES for bits in BITS]
    return options


def frontier(options: list[LayerOption]) -> list[LayerOption]:
    """One layer's options that no other option beats on both size and drop, least harmful (largest) first."""
    kept: list[LayerOption] = []
    for option in sorted(options, key=lambda o: (max(0.0, o.drop_points), o.stored_bytes)):
        if not kept or option.stored_bytes < kept[-1].stored_bytes:
            kept.append(option)
    return kept


def candidates(options: list[LayerOption]) -> list[tuple[LayerOption, ...]]:
    """Combinations of one option per layer, smallest estimated size first.

    Two families, merged: the Lagrangian one (for each price of accuracy, every layer takes the option
    minimising bytes + price x drop), and a greedy path that starts from every layer's least harmful option
    and repeatedly moves one layer one step along its own size/drop frontier, the step that saves the most
    bytes per point of post-training drop; the path fills the gaps between the Lagrangian's far-apart combinations.
    """
    by_layer: dict[str, list[LayerOption]] = {}
    for option in options:
        by_layer.setdefault(option.layer, []).append(option)
    found = {
        tuple(min(opts, key=lambda o: (o.stored_bytes + price * max(0.0, o.drop_points), o.drop_points))
              for opts in by_layer.values())
        for price in PRICES
    }
    fronts = [frontier(opts) for opts in by_layer.values()]
    at = [0] * len(fronts)
    found.add(tuple(front[0] for front in fronts))
    while True:
        steps = []
        for index, front in enumerate(fronts):
            if at[index] + 1 < len(front):
                now, after = front[at[index]], front[at[index] + 1]
                cost = (max(0.0, after.drop_points) - max(0.0, now.drop_points)) / (now.stored_bytes - after.stored_bytes)
                steps.append((cost, index))
        if not steps:
            break
        _, index = min(steps)
        at[index] += 1
        found.add(tuple(front[i] for front, i in zip(fronts, at)))
    return sorted(found, key=lambda combo: sum(o.stored_bytes for o in combo))


def short_tune(model: nn.Module, point: CompressionPoint, x: np.ndarray, y: np.ndarray,
               config: TrainConfig) -> nn.Module:
    """The pipeline's per-layer steps (gradual pruning, then quantization-aware training) with ``config``'s short budget."""
    pruned = magnitude_prune(model, point.layer_sparsity, x, y, replace(config, epochs=SHORT_TUNE_EPOCHS - 1))
    return quantize_weights(pruned, point.layer_bits, x, y, replace(config, epochs=1))


@dataclass
class ChoiceData:
    """What both objectives judge on: the held-out images, the short fine-tune's images, and the reference.

    The validation split is a seeded part of the training images; the reference is the uncompressed model
    trained as the candidates are (``SHORT_TUNE_EPOCHS`` on the same subset), so memorised held-out images
    lost to any fine-tune are not charged to compression.
    """

    evaluator: _Evaluator
    x: np.ndarray  # the short fine-tune's images
    y: np.ndarray
    recovery: slice  # the first ``RECOVERY_IMAGES`` of them: a sensitivity's recovery epoch
    short: TrainConfig
    reference: float

    @classmethod
    def prepare(cls, model: nn.Module, x_train: np.ndarray, y_train: np.ndarray, tune: TrainConfig, seed: int) -> "ChoiceData":
        train, validation = split_validation(len(x_train), fraction=VALIDATION_FRACTION, seed=0)
        validation = validation[:VALIDATION_IMAGES]
        subset = np.sort(np.random.default_rng(seed).permutation(train)[:SHORT_TUNE_IMAGES])
        evaluator = _Evaluator(model, x_train[validation], y_train[validation])
        short = replace(tune, seed=seed)
        trained = train_classifier(copy.deepcopy(model), x_train[subset], y_train[subset],
                                   replace(short, epochs=SHORT_TUNE_EPOCHS))
        return cls(evaluator, x_train[subset], y_train[subset], slice(0, RECOVERY_IMAGES), short,
                   accuracy(trained, evaluator.x, evaluator.y))

    def drop_after(self, tuned: nn.Module) -> float:
        """Validation points ``tuned`` loses against the reference (negative: it gained)."""
        return (self.reference - accuracy(tuned, self.evaluator.x, self.evaluator.y)) * 100.0


def smallest_fitting(count: int, fits) -> int | None:
    """Binary search over candidates ranked cheapest first (index ``count - 1`` the gentlest): the cheapest index
    for which ``fits(index)`` holds, assuming gentler candidates fit whenever harsher ones do; None if none fits."""
    low, best = 0, count - 1
    if count == 0 or not fits(best):
        return None
    while low < best:
        middle = (low + best) // 2
        if fits(middle):
            best = middle
        else:
            low = middle + 1
    return best


def allocate(
    model: nn.Module, x_train: np.ndarray, y_train: np.ndarray, *, max_accuracy_drop: float, tune: TrainConfig,
    objective: str = "size", seed: int = 0, progress: Progress = no_progress,
) -> Allocation:
    """Choose (sparsity, bits) per weighted layer of ``model`` for the smallest stored size within the budget.

    ``tune`` is the model's fine-tune recipe; the short fine-tune uses its learning rate with one epoch per stage.
    A candidate's drop after the short fine-tune is measured against the uncompressed model trained the same way
    on the same images: the held-out images were in the original training, and any model fine-tuned without
    them loses some of what it had memorised (about 0.4 points on LeNet-300-100's), compressed or not.
    """
    if objective != "size":
        raise ValueError(f"objective must be 'size', got {objective!r} (compressor.width_allocation does 'energy')")
    data = ChoiceData.prepare(model, x_train, y_train, tune, seed)
    evaluator = data.evaluator
    options = sensitivities(evaluator, data.x[data.recovery], data.y[data.recovery], data.short, progress)
    ranked = candidates(options)
    size = lambda index: sum(o.stored_bytes for o in ranked[index])  # noqa: E731
    allowance = SHORT_TUNE_SLACK * max_accuracy_drop
    params = {name: module.weight.numel() for name, module in evaluator.layers.items()}
    probes: dict[int, Probe] = {}

    def probe(index: int) -> Probe:
        if index not in probes:
            layers = tuple((o.layer, o.sparsity, o.bits) for o in ranked[index])
            progress(f"short fine-tune of candidate {len(probes) + 1} ({size(index) / 1e3:,.0f} kB)",
                     min(0.95, 0.4 + 0.08 * len(probes)))
            tuned = short_tune(model, layer_point(layers, params), data.x, data.y, data.short)
            probes[index] = Probe(layers, size(index), data.drop_after(tuned))
        return probes[index]

    best = smallest_fitting(len(ranked), lambda index: probe(index).drop_points <= allowance)
    if best is None:  # even the gentlest candidate loses too much: every layer dense at 8 bits, rounded once
        dense = tuple((name, 0.0, 8) for name in evaluator.layers)
        chosen = Probe(dense, sum(o.stored_bytes for o in options if o.sparsity == 0.0 and o.bits == 8),
                       evaluator.drop_points(dense))
    else:
        chosen = probes[best]
    return Allocation(
        objective=objective, max_accuracy_drop=max_accuracy_drop, layers=chosen.layers,
        params=params,
        estimated_bytes=chosen.estimated_bytes,
        dense_fp32_bytes=sum(module.weight.numel() * 4 for module in evaluator.layers.values()),
        short_tune_drop_points=chosen.drop_points, allowance_points=allowance, validation_images=len(evaluator.y),
        options=tuple(options), probes=tuple(probes[i] for i in sorted(probes)),
    )
