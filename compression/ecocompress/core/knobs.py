"""The compression knobs as people see them: one label, one list of values and one way to show a value each.

Explore's sliders, Sweep's lists and the tests read these, so a knob never says "% of weights" on one page
and shows 0.00-0.95 on another, and a value reads the same everywhere ("12.5%", not "12%").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from ecocompress.core.points import BIT_WIDTHS, RANK_ALLOWED, SPARSITY_ALLOWED, STUDENT_WIDTHS

SPARSITIES = tuple(round(0.05 * i, 2) for i in range(20))  # 0.00 ... 0.95
RANK_RATIOS = (1.0, 0.75, 0.5, 0.25, 0.125)  # 1.0: no factorisation


def _share(value: float) -> str:
    return f"{value * 100:g}%"


@dataclass(frozen=True)
class Knob:
    """One knob: the ``CompressionPoint`` field it sets, its label, its values and how a value reads."""

    field: str
    label: str
    values: tuple[Any, ...]
    show: Callable[[Any], str]
    help: str
    allowed: str = ""  # what CompressionPoint accepts where that is an interval, not only ``values``

    def flag_help(self, default: str = "") -> str:
        """The CLI flag's help: the label, what it accepts and the help the pages show ('%' doubled for argparse)."""
        accepted = self.allowed or ", ".join(str(v) for v in self.values)
        return f"{self.label}: {accepted}{f' (default {default})' if default else ''}. {self.help}".replace("%", "%%")


SPARSITY = Knob("sparsity", "Sparsity (share of weights removed)", SPARSITIES, _share,
                "Share of weights pruned away (0.90 = 90%), followed by a short fine-tune.", allowed=SPARSITY_ALLOWED)
BITS = Knob("bits", "Bit-width (bits per weight)", BIT_WIDTHS, str,
            "32 is the original float model. Fewer bits store each weight more coarsely; below 7 bits the model "
            "is fine-tuned with the quantizer in the loop.")
STUDENT = Knob("student_width", "Student size (width of the teacher)", STUDENT_WIDTHS,
               lambda w: "1 (original)" if w == 1.0 else f"1/{int(round(1 / w))}",
               "Distillation trains a narrower network to imitate the original; 1/2 has half the channels per layer.")
RANK = Knob("rank_ratio", "Low-rank factorisation (rank kept)", RANK_RATIOS,
            lambda r: "off" if r == 1.0 else _share(r),
            "Splits each large layer into two thin ones via SVD, keeping this share of the rank, then fine-tunes.",
            allowed=f"{RANK_ALLOWED}; 1 = off")
