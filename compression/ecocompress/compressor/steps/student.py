"""Student width: distil a narrower network of the same architecture from the teacher."""

from __future__ import annotations

import numpy as np

from ecocompress.compressor.steps.base import Step, StepContext, trained
from ecocompress.core.recipes import QUICK_STUDENT_EXAMPLES


def _distil(ctx: StepContext, teacher):
    from ecocompress.compressor.techniques.distillation import distill

    point, data, width = ctx.point, ctx.data, ctx.point.student_width
    x, y = (data.x_train, data.y_train) if point.fine_tuned else quick_subset(data.x_train, data.y_train, ctx.seed)
    result = distill(teacher, lambda: ctx.spec.build(width), x, y, ctx.teach, compare=point.fine_tuned)
    if point.fine_tuned:
        return result.student, [
            f"student x{width:g}: {result.method} kept (held-out training accuracy "
            f"{result.kd_validation_accuracy:.2%} with the teacher, {result.plain_validation_accuracy:.2%} without)"
        ]
    return result.student, [
        f"student x{width:g} (one epoch on {len(y):,} of {len(data.y_train):,} training examples): "
        f"{result.method} (held-out training accuracy {result.kd_validation_accuracy:.2%}; compared with "
        "training alone in the final answer)"
    ]


def quick_subset(x: np.ndarray, y: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A first answer's training examples: all of them up to ``QUICK_STUDENT_EXAMPLES``, else a seeded sample of
    that many (in their original order), so a large training file does not hold up the first answer."""
    if len(y) <= QUICK_STUDENT_EXAMPLES:
        return x, y
    keep = np.sort(np.random.default_rng(seed).permutation(len(y))[:QUICK_STUDENT_EXAMPLES])
    return x[keep], y[keep]

STEP = Step(
    applies=lambda p: p.student_width != 1.0,
    title=lambda p: trained(p, "distilling a student", "distilling a student for one epoch"),
    fraction=0.1,
    settings=lambda p: {"width": p.student_width},
    transform=_distil,
    fine_tunes=lambda p: False,  # a student trains on the distillation recipe, every example kept
)
