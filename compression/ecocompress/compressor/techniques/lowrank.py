"""Low-rank factorisation: each large layer becomes two thinner ones initialised by truncated SVD.

A linear layer W (out x in) becomes ``first`` (in -> r) and ``second`` (r -> out); a k x k
convolution becomes a k x k convolution to r channels followed by a 1 x 1 convolution. Only
layers where the factorisation saves parameters are touched; the output layer is kept.
"""

from __future__ import annotations

import copy
import math

import numpy as np
import torch
from torch import nn

from ecocompress.compressor.techniques.layers import set_module, last_layer_name, weight_layers
from ecocompress.compressor.training import TrainConfig, train_classifier

RANK_MULTIPLE = 8


def target_rank(full_rank: int, ratio: float) -> int:
    """``ratio`` of the full rank, rounded up to a multiple of 8 (kernel-friendly), at most full."""
    rank = max(1, math.ceil(full_rank * ratio))
    return min(full_rank, math.ceil(rank / RANK_MULTIPLE) * RANK_MULTIPLE)


@torch.no_grad()
def _factor(module: nn.Module, rank: int) -> nn.Sequential:
    weight = module.weight.detach()
    out_features = weight.shape[0]
    matrix = weight.reshape(out_features, -1)
    u, s, vh = torch.linalg.svd(matrix, full_matrices=False)
    root = s[:rank].sqrt()
    left, right = u[:, :rank] * root, (vh[:rank].T * root).T  # matrix ~= left @ right
    if isinstance(module, nn.Linear):
        first, second = nn.Linear(matrix.shape[1], rank, bias=False), nn.Linear(rank, out_features)
        first.weight.copy_(right)
        second.weight.copy_(left)
    else:
        first = nn.Conv2d(weight.shape[1], rank, module.kernel_size, stride=module.stride, padding=module.padding, bias=False)
        second = nn.Conv2d(rank, out_features, 1)
        first.weight.copy_(right.reshape(rank, *weight.shape[1:]))
        second.weight.copy_(left.reshape(out_features, rank, 1, 1))
    if module.bias is not None:
        second.bias.copy_(module.bias)
    else:
        second.bias.zero_()
    factored = nn.Sequential()
    factored.add_module("first", first)
    factored.add_module("second", second)
    return factored


def factorize(model: nn.Module, rank_ratio: float, x: np.ndarray, y: np.ndarray, config: TrainConfig) -> nn.Module:
    """A copy of ``model`` with its large layers factorised at ``rank_ratio``, fine-tuned."""
    factored = copy.deepcopy(model)
    last = last_layer_name(factored)
    changed = False
    for name, module in list(weight_layers(factored)):
        if name == last or (isinstance(module, nn.Conv2d) and module.groups != 1):
            continue
        out_features, fan_in = module.weight.shape[0], module.weight[0].numel()
        rank = target_rank(min(out_features, fan_in), rank_ratio)
        if rank * (out_features + fan_in) >= out_features * fan_in:
            continue  # would not save anything
        set_module(factored, name, _factor(module, rank))
        changed = True
    if changed:
        train_classifier(factored, x, y, config)
    return factored.eval()
