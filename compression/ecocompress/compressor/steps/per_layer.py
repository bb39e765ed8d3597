"""Per-layer settings: each weighted layer its own sparsity, then its own bit-width (``layer_settings``)."""

from __future__ import annotations

from ecocompress.compressor.steps import bits
from ecocompress.compressor.steps.base import Step, StepContext, trained


def _prune(ctx: StepContext, model):
    from ecocompress.compressor.techniques.pruning import magnitude_prune

    rates = ctx.point.layer_sparsity
    return (magnitude_prune(model, rates, ctx.x_fit, ctx.y_fit, ctx.tune),
            [f"magnitude pruning per layer ({', '.join(f'{n} {r:.0%}' for n, r in rates.items())}) in 3 stages, {ctx.tuned}"])


def _quantize(ctx: StepContext, model):
    widths = ctx.point.layer_bits
    return bits.quantized(ctx, model, widths, "weights on per-channel grids of their own width "
                          f"({', '.join(f'{n} {b}-bit' for n, b in widths.items())})")


PRUNE = Step(
    applies=lambda p: bool(p.layer_settings),
    title=lambda p: trained(p, "pruning layer by layer and fine-tuning", "pruning layer by layer"),
    fraction=0.25,
    settings=lambda p: {"layer_sparsity": sorted(p.layer_sparsity.items())},
    transform=_prune,
)
QUANTIZE = Step(
    applies=lambda p: bool(p.layer_settings),
    title=bits.title,
    fraction=0.45,
    settings=lambda p: {"layer_bits": sorted(p.layer_bits.items())},
    transform=_quantize,
    fine_tunes=bits.qat,
)
