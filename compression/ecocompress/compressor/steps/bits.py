"""Bit-width: weights on a per-channel k-bit grid (quantization-aware fine-tuning below 7 bits), or rounded to fp16."""

from __future__ import annotations

from ecocompress.compressor.steps.base import Step, StepContext


def _qat(point) -> bool:
    return point.bits < 7 and point.fine_tuned


def _quantize(ctx: StepContext, model):
    from ecocompress.compressor.techniques.kbit import quantize_weights

    bits, qat = ctx.point.bits, _qat(ctx.point)
    return (quantize_weights(model, bits, ctx.x_fit, ctx.y_fit, ctx.tune if qat else None),
            [f"weights on a per-channel {bits}-bit grid" + (" (quantization-aware fine-tuning)" if qat else " (post-training rounding)")])


def _half(ctx: StepContext, model):
    from ecocompress.compressor.storage import fp16_weights

    return fp16_weights(model), ["weights rounded to fp16"]


QUANTIZE = Step(
    applies=lambda p: p.bits <= 8 and not p.layer_settings,
    title=lambda p: "quantization-aware fine-tuning" if _qat(p) else "quantizing weights",
    fraction=0.45,
    settings=lambda p: {"bits": p.bits},
    transform=_quantize,
    fine_tunes=_qat,
)
HALF = Step(
    applies=lambda p: p.bits == 16,
    title=lambda p: "rounding weights to fp16",
    fraction=0.45,
    settings=lambda p: {},
    transform=_half,
    fine_tunes=lambda p: False,
    cached=False,  # a rounding: cheaper than reading a cached copy
)
