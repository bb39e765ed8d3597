"""Both per-layer choices (size and energy): one check that a choice is the cheapest probe within its allowance, and
a choice made by hand for tests of the code around the choice."""

from __future__ import annotations

from typing import Any, Callable, Sequence


def assert_cheapest_fitting(chosen: Any, probes: Sequence[Any], *, settings: Callable[[Any], Any],
                            cost: Callable[[Any], float], chosen_cost: float) -> None:
    """``chosen`` fits its allowance, is one of the probes, and every cheaper probe lost too much."""
    assert chosen.short_tune_drop_points <= chosen.allowance_points
    assert settings(chosen) in {settings(p) for p in probes}
    assert all(p.drop_points > chosen.allowance_points for p in probes if cost(p) < chosen_cost)


HAND_MADE_SPARSITY, HAND_MADE_BITS = (0.0, 0.5, 0.8, 0.3), (8, 5, 3, 6)  # per weighted layer of digits-cnn


def hand_made_choice(objective: str, budget: float) -> Any:
    """A per-layer choice for digits-cnn made by hand, with its real sizes and MACs.

    The choice itself (sensitivities, dozens of short fine-tunes) is tested for real in test_allocation and
    test_width_allocation; tests of the pages, search and sweep use this one and build and measure its point for real.
    """
    from ecocompress.compressor import allocation as alloc
    from ecocompress.compressor import width_allocation as widths
    from ecocompress.compressor.techniques.layers import weight_layers
    from ecocompress.models.registry import get_model

    spec = get_model("digits-cnn")
    model = spec.load()
    layers = list(weight_layers(model))
    if objective == "size":
        settings = tuple((name, s, b) for (name, _), s, b in zip(layers, HAND_MADE_SPARSITY, HAND_MADE_BITS))
        params = {name: module.weight.numel() for name, module in layers}
        estimate = sum(alloc.stored_bytes(module.weight.numel(), module.weight.shape[0], s, b)
                       for (_, module), (_, s, b) in zip(layers, settings))
        return alloc.Allocation("size", budget, settings, params, estimate, 4 * sum(params.values()),
                                budget / 2, budget, 287, (), ())
    shape = widths.Shape.of(model, spec.dataset().input_shape)
    kept = {name: full // 2 for name, full in shape.full.items()}
    return widths.WidthAllocation("energy", budget, tuple(kept.items()), shape.full, shape.removed_share(kept),
                                  shape.macs_of(kept), spec.baseline_macs, budget / 2, budget, 287, (), ())
