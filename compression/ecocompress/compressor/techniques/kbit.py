"""Per-channel k-bit weight quantization (2-8 bits), with quantization-aware fine-tuning.

Weights of every convolution and linear layer are snapped to a symmetric per-output-channel
grid ``scale * {-q..q}`` with ``q = 2**(bits-1) - 1``. The scale is chosen per channel to
minimise the squared rounding error (a small search over clipping ratios): at 2-4 bits
clipping the largest weights beats covering them. Below 7 bits the model is fine-tuned with
the quantizer in the forward pass (straight-through gradients); zeros from pruning stay zero.
The scales are kept as ``weight_scale`` buffers so the storage packer and the cache can
recover the exact integer codes.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping

import numpy as np
import torch
from torch import nn
from torch.nn.utils import parametrize

from ecocompress.compressor.techniques.layers import weight_layers
from ecocompress.compressor.training import TrainConfig, train_classifier

CLIP_RATIOS = torch.linspace(0.3, 1.0, 15)
MIN_SCALE = 2.0**-14  # smallest normal fp16: scales are stored as fp16 and must not flush to zero
QAT_BELOW_BITS = 7


def qmax(bits: int) -> int:
    return 2 ** (bits - 1) - 1


def best_scale(weight: torch.Tensor, bits: int) -> torch.Tensor:
    """Per-output-channel scale (shape broadcastable to ``weight``) minimising rounding MSE."""
    q = qmax(bits)
    flat = weight.detach().reshape(weight.shape[0], -1)
    peak = flat.abs().amax(dim=1).clamp_min(1e-12)
    best_err = torch.full_like(peak, float("inf"))
    best = peak / q
    for ratio in CLIP_RATIOS:
        scale = peak * ratio / q
        codes = torch.clamp(torch.round(flat / scale[:, None]), -q, q)
        err = ((codes * scale[:, None] - flat) ** 2).sum(dim=1)
        better = err < best_err
        best_err = torch.where(better, err, best_err)
        best = torch.where(better, scale, best)
    return best.clamp_min(MIN_SCALE).reshape(-1, *([1] * (weight.dim() - 1)))


def quantize_tensor(weight: torch.Tensor, scale: torch.Tensor, bits: int) -> torch.Tensor:
    q = qmax(bits)
    return torch.clamp(torch.round(weight / scale), -q, q) * scale


class FakeQuant(nn.Module):
    """Parametrization: forward sees the k-bit weight, backward passes gradients straight through."""

    def __init__(self, bits: int, mask: torch.Tensor) -> None:
        super().__init__()
        self.bits = bits
        self.register_buffer("mask", mask)

    def forward(self, weight: torch.Tensor) -> torch.Tensor:
        quantized = quantize_tensor(weight, best_scale(weight, self.bits), self.bits)
        return (weight + (quantized - weight).detach()) * self.mask


def quantize_weights(
    model: nn.Module,
    bits: int | Mapping[str, int],
    x: np.ndarray | None = None,
    y: np.ndarray | None = None,
    config: TrainConfig | None = None,
) -> nn.Module:
    """A copy of ``model`` whose conv/linear weights lie exactly on a per-channel ``bits``-bit grid.

    ``bits`` is one width for every layer or a width per layer name (every weighted layer named).
    Below 7 bits (any layer), and when training data and a config are given, the grid is learned by
    quantization-aware fine-tuning; otherwise weights are rounded once (post-training).
    """
    quantized = copy.deepcopy(model)
    layers = list(weight_layers(quantized))
    widths = dict(bits) if isinstance(bits, Mapping) else {name: bits for name, _ in layers}
    if set(widths) != {name for name, _ in layers}:
        raise ValueError(f"bits must name every weighted layer ({', '.join(n for n, _ in layers)}), got {', '.join(widths)}")
    if not all(2 <= width <= 8 for width in widths.values()):
        raise ValueError(f"bits must be in [2, 8], got {bits}")
    if min(widths.values()) < QAT_BELOW_BITS and x is not None and y is not None and config is not None:
        for name, module in layers:
            parametrize.register_parametrization(module, "weight", FakeQuant(widths[name], (module.weight != 0).float()))
        train_classifier(quantized, x, y, config)
        for _, module in layers:
            parametrize.remove_parametrizations(module, "weight", leave_parametrized=True)
    with torch.no_grad():
        for name, module in layers:
            round_to_grid(module, widths[name])
    return quantized.eval()


@torch.no_grad()
def round_to_grid(module: nn.Module, bits: int) -> None:
    """Put one layer's weights on its per-channel ``bits``-bit grid in place (zeros stay zero), keeping the scales."""
    mask = module.weight != 0
    scale = best_scale(module.weight, bits).half().float()  # stored as fp16: keep it exact
    module.weight.copy_(quantize_tensor(module.weight, scale, bits) * mask)
    module.register_buffer("weight_scale", scale.reshape(-1).clone())
    module.register_buffer("weight_bits", torch.tensor(bits))


def integer_codes(module: nn.Module) -> np.ndarray:
    """The exact integer codes of a quantized layer's weights (flattened per output channel)."""
    scale = module.weight_scale.reshape(-1, *([1] * (module.weight.dim() - 1)))
    return torch.round(module.weight.detach() / scale).to(torch.int32).numpy()
