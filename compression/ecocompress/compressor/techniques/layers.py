"""Helpers shared by the techniques: which layers hold weights, and rebuilding from a state dict."""

from __future__ import annotations

from typing import Iterator

import torch
from torch import nn

WEIGHT_LAYERS = (nn.Conv2d, nn.Linear)


def weight_layers(model: nn.Module) -> Iterator[tuple[str, nn.Module]]:
    """(name, module) of every convolution and linear layer, in definition order."""
    for name, module in model.named_modules():
        if isinstance(module, WEIGHT_LAYERS):
            yield name, module


class SelectInputs(nn.Module):
    """Flatten, then keep only the input features listed in ``indices`` (a Gather in ONNX).

    Structured pruning of a model's *inputs*: MNIST's border pixels are zero in every image, so the
    first layer's columns for them multiply zeros; dropping them shrinks the first (largest) matrix.
    The features are gathered as rows of the transposed batch: onnxruntime's Gather along axis 1 copies
    element by element (914 µs per batch of 256 here, 2.7x the whole 784-input layer), along axis 0 it
    copies whole rows (272 µs including both transposes).
    """

    def __init__(self, indices: torch.Tensor) -> None:
        super().__init__()
        self.register_buffer("indices", torch.as_tensor(indices, dtype=torch.long))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.flatten(1).t().index_select(0, self.indices).t()


def input_selector(model: nn.Module) -> tuple[str, str] | None:
    """(flatten, first layer) names when the model begins by flattening its input into a linear layer, else None.

    Only then are the first layer's input columns the model's input features, one per pixel.
    """
    modules = list(model.named_modules())
    weighted = [i for i, (_, m) in enumerate(modules) if isinstance(m, WEIGHT_LAYERS)]
    if not weighted or not isinstance(modules[weighted[0]][1], nn.Linear):
        return None
    before = modules[weighted[0] - 1]
    return (before[0], modules[weighted[0]][0]) if isinstance(before[1], (nn.Flatten, SelectInputs)) else None


def last_layer_name(model: nn.Module) -> str:
    """Name of the classifier's output layer (kept whole by pruning and factorisation)."""
    return list(weight_layers(model))[-1][0]


def set_module(model: nn.Module, name: str, module: nn.Module) -> None:
    parent_name, _, child = name.rpartition(".")
    parent = model.get_submodule(parent_name) if parent_name else model
    setattr(parent, child, module)


def _like(old: nn.Module, weight: torch.Tensor, has_bias: bool) -> nn.Module:
    """A layer of ``old``'s kind and hyper-parameters but with ``weight``'s shape."""
    if isinstance(old, nn.Linear) or weight.dim() == 2:
        return nn.Linear(weight.shape[1], weight.shape[0], bias=has_bias)
    kernel = tuple(weight.shape[2:])
    same_kernel = isinstance(old, nn.Conv2d) and tuple(old.kernel_size) == kernel
    return nn.Conv2d(
        weight.shape[1],
        weight.shape[0],
        kernel,
        stride=old.stride if same_kernel else 1,
        padding=old.padding if same_kernel else 0,
        bias=has_bias,
    )


def conform_to_state_dict(model: nn.Module, state: dict[str, torch.Tensor]) -> nn.Module:
    """Reshape ``model`` (a freshly built architecture) so ``state`` loads into it, then load it.

    Structured pruning changes layer widths and factorisation splits a layer into
    ``first``/``second``; both are visible in the state dict's keys and shapes, so a cached
    model can be rebuilt from plain arrays (no pickle) and its architecture name.
    """
    for name, module in list(model.named_modules()):
        if isinstance(module, nn.Flatten) and f"{name}.indices" in state:
            set_module(model, name, SelectInputs(state[f"{name}.indices"]))
    for name, module in list(weight_layers(model)):
        if f"{name}.first.weight" in state:
            first_w, second_w = state[f"{name}.first.weight"], state[f"{name}.second.weight"]
            factored = nn.Sequential()
            factored.add_module("first", _like(module, first_w, f"{name}.first.bias" in state))
            factored.add_module("second", _like(nn.Linear(1, 1) if second_w.dim() == 2 else nn.Conv2d(1, 1, 1), second_w, True))
            set_module(model, name, factored)
        elif f"{name}.weight" in state and state[f"{name}.weight"].shape != module.weight.shape:
            set_module(model, name, _like(module, state[f"{name}.weight"], f"{name}.bias" in state))
    for name, module in list(model.named_modules()):
        if isinstance(module, nn.modules.batchnorm._BatchNorm) and f"{name}.running_mean" in state:
            _resize_batchnorm(module, state[f"{name}.running_mean"].shape[0])  # pruned with its convolution
    for key, value in state.items():
        owner_name, _, attr = key.rpartition(".")
        owner = model.get_submodule(owner_name) if owner_name else model
        if attr not in dict(owner.named_parameters(recurse=False)) and attr not in dict(owner.named_buffers(recurse=False)):
            owner.register_buffer(attr, torch.zeros_like(value))
    model.load_state_dict(state)
    return model.eval()


def _resize_batchnorm(layer: nn.modules.batchnorm._BatchNorm, features: int) -> None:
    """Give a BatchNorm ``features`` channels (its values come from the state dict next)."""
    if layer.num_features == features:
        return
    layer.num_features = features
    if layer.affine:
        layer.weight, layer.bias = nn.Parameter(torch.ones(features)), nn.Parameter(torch.zeros(features))
    layer.running_mean, layer.running_var = torch.zeros(features), torch.ones(features)


def weight_density(model: nn.Module) -> float:
    """Fraction of non-zero weights over all convolution and linear layers."""
    total = nonzero = 0
    for _, module in weight_layers(model):
        total += module.weight.numel()
        nonzero += int(torch.count_nonzero(module.weight))
    return nonzero / max(1, total)


@torch.no_grad()
def layer_macs(model: nn.Module, input_shape: tuple[int, ...], *, effective: bool = False) -> dict[str, int]:
    """Multiply-accumulates per weighted layer for one input; with ``effective``, only those with a non-zero weight."""
    found: dict[str, int] = {}

    def hook_for(name: str):
        def hook(module: nn.Module, _inputs, output: torch.Tensor) -> None:
            weight = module.weight
            per_output = weight[0].numel() if isinstance(module, nn.Conv2d) else weight.shape[1]
            macs = output.numel() * per_output
            if effective:
                macs = int(round(macs * int(torch.count_nonzero(weight)) / weight.numel()))
            found[name] = found.get(name, 0) + macs
        return hook

    handles = [m.register_forward_hook(hook_for(name)) for name, m in weight_layers(model)]
    was_training = model.training
    try:
        model.eval()(torch.zeros((1, *input_shape)))
    finally:
        model.train(was_training)
        for handle in handles:
            handle.remove()
    return found


def count_macs(model: nn.Module, input_shape: tuple[int, ...], *, effective: bool = False) -> int:
    """Multiply-accumulates for one input; with ``effective``, only those with a non-zero weight."""
    return sum(layer_macs(model, input_shape, effective=effective).values())
