"""The torch pipeline's steps, one module per technique, in the order they apply (``STEPS``).

Each step is data (``base.Step``): which points it applies to, its progress line, its part of the cache key, and
its transform. ``compressor.pipeline.compress_model`` runs the steps a point asks for; a new knob's step is one new
module here and one line in ``STEPS``.
"""

from __future__ import annotations

from ecocompress.compressor.steps import bits, per_layer, rank, sparsity, student
from ecocompress.compressor.steps.base import Step, StepContext

#: distil -> prune (per layer, channels or one rate) -> factorise -> quantize (per layer, k-bit or fp16)
STEPS: tuple[Step, ...] = (
    student.STEP,
    per_layer.PRUNE,
    per_layer.QUANTIZE,
    sparsity.CHANNELS,
    sparsity.PRUNE,
    rank.STEP,
    bits.QUANTIZE,
    bits.HALF,
)

__all__ = ["STEPS", "Step", "StepContext"]
