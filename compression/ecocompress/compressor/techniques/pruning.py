"""Pruning: unstructured global magnitude (torch's pruning utilities) and structured (Torch-Pruning).

Unstructured pruning zeroes weights (the file shrinks once stored sparsely, the dense CPU
kernel does not get faster); structured pruning removes whole channels/neurons, so the ONNX
graph itself gets smaller and faster. Both are followed by a short fine-tune.
"""

from __future__ import annotations

import copy
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import replace

import numpy as np
import torch
from torch import nn
from torch.nn.utils import prune

from ecocompress.compressor.techniques.layers import SelectInputs, input_selector, last_layer_name, set_module, weight_layers
from ecocompress.compressor.training import TrainConfig, train_classifier

CHANNEL_MULTIPLE = 8
INPUTS = "input"  # in a ``kept`` mapping: how many of the model's input features to keep (``select_inputs``)


def magnitude_prune(
    model: nn.Module, sparsity: float | Mapping[str, float], x: np.ndarray, y: np.ndarray, config: TrainConfig, *,
    steps: int = 3,
) -> nn.Module:
    """A copy of ``model`` with ``sparsity`` of its conv/linear weights set to zero, fine-tuned.

    Gradual: the magnitude threshold is raised in ``steps`` stages (cubic schedule), fine-tuning
    between stages, which keeps far more accuracy at 90%+ than one shot. A single ``sparsity`` is one
    global threshold, which lets small, sensitive layers (the first convolution) stay dense; a mapping
    from layer name to sparsity prunes each named layer to its own rate (``compressor.allocation`` chooses them).
    """
    pruned = copy.deepcopy(model)
    layers = dict(weight_layers(pruned))
    rates = {name: float(sparsity) for name in layers} if not isinstance(sparsity, Mapping) else dict(sparsity)
    unknown = sorted(set(rates) - set(layers))
    if unknown:
        raise ValueError(f"no weighted layer named {unknown[0]!r}; the layers are {', '.join(layers)}")
    if not any(rate > 0 for rate in rates.values()):
        return pruned.eval()
    epochs = max(1, config.epochs // steps) if config.epochs > 0 else 0  # 0: post-training pruning
    done: dict[str, int] = defaultdict(int)
    for step in range(1, steps + 1):
        schedule = 1 - (1 - step / steps) ** 3
        if isinstance(sparsity, Mapping):
            for name, rate in rates.items():
                target = int(round(layers[name].weight.numel() * rate * schedule))
                if target > done[name]:
                    prune.l1_unstructured(layers[name], "weight", amount=target - done[name])
                    done[name] = target
        else:
            params = [(module, "weight") for module in layers.values()]
            target = int(round(sum(module.weight.numel() for module in layers.values()) * sparsity * schedule))
            if target > done["all"]:
                prune.global_unstructured(params, pruning_method=prune.L1Unstructured, amount=target - done["all"])
                done["all"] = target
        train_classifier(pruned, x, y, replace(config, epochs=epochs, seed=config.seed + step))
    for module in layers.values():
        if prune.is_pruned(module):
            prune.remove(module, "weight")
    return pruned.eval()


def structured_prune(
    model: nn.Module,
    sparsity: float,
    input_shape: tuple[int, ...],
    x: np.ndarray,
    y: np.ndarray,
    config: TrainConfig,
) -> nn.Module:
    """A copy of ``model`` with ``sparsity`` of its channels/neurons physically removed, fine-tuned (``narrow``)."""
    return train_classifier(narrow(model, 1.0 - sparsity, input_shape), x, y, config)


def narrow(model: nn.Module, width: float, input_shape: tuple[int, ...]) -> nn.Module:
    """A copy of ``model`` keeping ``width`` of every layer's channels/neurons, those of largest L2 norm.

    Torch-Pruning's dependency graph keeps the network consistent (a conv's removed output
    channels disappear from the next layer's inputs, through Flatten and residual additions). Widths
    are rounded to multiples of 8 so onnxruntime keeps its vectorised kernels; the output layer is kept whole.
    """
    import torch_pruning as tp

    pruned = copy.deepcopy(model).eval()
    sparsity = 1.0 - width
    if sparsity <= 0:
        return pruned
    last_name = last_layer_name(pruned)
    # Per layer, never keep fewer than 8 channels: with round_to, Torch-Pruning rounds the
    # kept width down and silently skips a layer whose kept width would round to zero, so a
    # higher sparsity could leave the (costly) convolutions whole.
    ratios = {
        module: min(sparsity, max(0.0, 1.0 - CHANNEL_MULTIPLE / module.weight.shape[0]))
        for name, module in weight_layers(pruned)
        if name != last_name
    }
    pruner = tp.pruner.MagnitudePruner(
        pruned,
        torch.zeros((1, *input_shape)),
        importance=tp.importance.MagnitudeImportance(p=2),
        pruning_ratio=sparsity,
        pruning_ratio_dict=ratios,
        ignored_layers=[pruned.get_submodule(last_name)],
        round_to=CHANNEL_MULTIPLE,
    )
    pruner.step()
    return pruned


@torch.no_grad()
def select_inputs(model: nn.Module, count: int, x: np.ndarray) -> nn.Module:
    """A copy of ``model`` that reads only the ``count`` input features that matter most (no fine-tune).

    A feature's importance is how far it can move the first layer: the norm of its weight column times
    its spread over the training inputs ``x``; a pixel that is zero in every image scores zero.
    """
    found = input_selector(model)
    if found is None:
        raise ValueError("only a model that flattens its input into a linear layer can drop input features")
    flatten_name, first_name = found
    selected = copy.deepcopy(model)
    first, flatten = selected.get_submodule(first_name), selected.get_submodule(flatten_name)
    current = flatten.indices if isinstance(flatten, SelectInputs) else torch.arange(first.in_features)
    if not 0 < count <= len(current):
        raise ValueError(f"can keep 1 to {len(current)} input features, not {count}")
    spread = torch.from_numpy(np.ascontiguousarray(x.reshape(len(x), -1).std(axis=0), dtype=np.float32))[current]
    importance = first.weight.norm(dim=0) * spread
    keep = torch.sort(torch.argsort(importance, descending=True)[:count]).values
    narrower = nn.Linear(count, first.out_features, bias=first.bias is not None)
    narrower.weight.copy_(first.weight[:, keep])
    if first.bias is not None:
        narrower.bias.copy_(first.bias)
    set_module(selected, first_name, narrower)
    set_module(selected, flatten_name, SelectInputs(current[keep]))
    return selected.eval()


def prune_widths(
    model: nn.Module, kept: Mapping[str, int], input_shape: tuple[int, ...], x: np.ndarray, y: np.ndarray,
    config: TrainConfig,
) -> nn.Module:
    """A copy of ``model`` with exactly ``kept[name]`` output channels/neurons left in each named layer (and
    ``kept["input"]`` input features, see ``select_inputs``), fine-tuned: per-layer structured pruning.

    The channels kept are those of largest L2 norm (Torch-Pruning keeps the next layer consistent); the
    output layer is never narrowed. ``compressor.allocation`` chooses the widths from measured sensitivities.
    """
    import torch_pruning as tp

    pruned = copy.deepcopy(model).eval()
    if INPUTS in kept:
        pruned = select_inputs(pruned, int(kept[INPUTS]), x)
    layers = dict(weight_layers(pruned))
    last = last_layer_name(pruned)
    widths = {name: int(count) for name, count in kept.items() if name != INPUTS}
    wrong = sorted(n for n, c in widths.items() if n not in layers or n == last or not 0 < c <= layers[n].weight.shape[0])
    if wrong:
        raise ValueError(f"cannot narrow {wrong[0]!r} to {widths.get(wrong[0])} (layers: {', '.join(layers)}; "
                         f"the output layer {last!r} stays whole)")
    ratios = {layers[n]: 1.0 - c / layers[n].weight.shape[0] for n, c in widths.items() if c < layers[n].weight.shape[0]}
    if ratios:
        tp.pruner.MagnitudePruner(
            pruned, torch.zeros((1, *input_shape)), importance=tp.importance.MagnitudeImportance(p=2),
            pruning_ratio=0.0, pruning_ratio_dict=ratios, ignored_layers=[layers[last]],
        ).step()
    return train_classifier(pruned, x, y, config) if config.epochs > 0 else pruned.eval()
