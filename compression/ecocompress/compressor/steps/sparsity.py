"""Sparsity: magnitude pruning (unstructured), channel pruning (``structured``), or channels kept per layer
(``kept_units``, chosen by ``compressor.width_allocation``)."""

from __future__ import annotations

from ecocompress.compressor.steps.base import Step, StepContext, trained


def _removed(before, after) -> str:
    from ecocompress.compressor.architectures import count_parameters

    return f"{1 - count_parameters(after) / count_parameters(before):.0%} of parameters"


def _narrow(ctx: StepContext, model):
    from ecocompress.compressor.techniques.pruning import prune_widths

    kept = dict(ctx.point.kept_units)
    narrowed = prune_widths(model, kept, ctx.data.input_shape, ctx.x_fit, ctx.y_fit, ctx.tune)
    return narrowed, [f"structured pruning per layer ({', '.join(f'{n} {c}' for n, c in kept.items())} kept) "
                      f"removed {_removed(model, narrowed)}, {ctx.tuned}"]


def _prune(ctx: StepContext, model):
    from ecocompress.compressor.techniques.pruning import magnitude_prune, structured_prune

    point = ctx.point
    if point.structured:
        pruned = structured_prune(model, point.sparsity, ctx.data.input_shape, ctx.x_fit, ctx.y_fit, ctx.tune)
        return pruned, [f"structured pruning removed {_removed(model, pruned)}, {ctx.tuned}"]
    pruned = magnitude_prune(model, point.sparsity, ctx.x_fit, ctx.y_fit, ctx.tune)
    return pruned, [f"global magnitude pruning to {point.sparsity:.0%} zeros in 3 stages, {ctx.tuned}"]


CHANNELS = Step(
    applies=lambda p: bool(p.kept_units),
    title=lambda p: trained(p, "pruning channels layer by layer and fine-tuning", "pruning channels layer by layer"),
    fraction=0.25,
    settings=lambda p: {"kept_units": sorted(dict(p.kept_units).items())},
    transform=_narrow,
)
PRUNE = Step(
    applies=lambda p: p.sparsity > 0 and not p.kept_units and not p.layer_settings,
    title=lambda p: trained(p, "pruning and fine-tuning", "pruning"),
    fraction=0.25,
    settings=lambda p: {"sparsity": p.sparsity, "structured": p.structured},
    transform=_prune,
)
