"""Bit-width: weights on a per-channel k-bit grid (quantization-aware fine-tuning below 7 bits), or rounded to fp16."""

from __future__ import annotations

from ecocompress.compressor.steps.base import Step, StepContext


def qat(point) -> bool:
    """Quantization-aware fine-tuning: below 7 bits (the narrowest layer's, for a per-layer point), when fine-tuned."""
    return point.fine_tuned and min(point.layer_bits.values(), default=point.bits) < 7


def title(point) -> str:
    """The quantize step's progress line (and cache-key name), uniform or per layer."""
    return "quantization-aware fine-tuning" if qat(point) else "quantizing weights"


def quantized(ctx: StepContext, model, bits, grid: str):
    """``model`` with its weights on ``bits`` (one width, or one per layer), trained with the quantizer in the loop
    where ``qat`` says so; ``grid`` says which grid in the note."""
    from ecocompress.compressor.techniques.kbit import quantize_weights

    trains = qat(ctx.point)
    return (quantize_weights(model, bits, ctx.x_fit, ctx.y_fit, ctx.tune if trains else None),
            [grid + (" (quantization-aware fine-tuning)" if trains else " (post-training rounding)")])


def _quantize(ctx: StepContext, model):
    return quantized(ctx, model, ctx.point.bits, f"weights on a per-channel {ctx.point.bits}-bit grid")


def _half(ctx: StepContext, model):
    from ecocompress.compressor.storage import fp16_weights

    return fp16_weights(model), ["weights rounded to fp16"]


QUANTIZE = Step(
    applies=lambda p: p.bits <= 8 and not p.layer_settings,
    title=title,
    fraction=0.45,
    settings=lambda p: {"bits": p.bits},
    transform=_quantize,
    fine_tunes=qat,
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
