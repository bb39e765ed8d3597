"""Low-rank factorisation: each large layer split in two thin ones via SVD, keeping ``rank_ratio`` of the rank."""

from __future__ import annotations

from ecocompress.compressor.steps.base import Step, StepContext, trained


def _factorise(ctx: StepContext, model):
    from ecocompress.compressor.techniques.lowrank import factorize

    rank = ctx.point.rank_ratio
    return (factorize(model, rank, ctx.x_fit, ctx.y_fit, ctx.tune),
            [f"low-rank factorisation at rank ratio {rank:g}, {ctx.tuned}"])


STEP = Step(
    applies=lambda p: p.rank_ratio is not None,
    title=lambda p: trained(p, "factorising (low rank) and fine-tuning", "factorising (low rank)"),
    fraction=0.35,
    settings=lambda p: {"rank": p.rank_ratio},
    transform=_factorise,
)
