"""The compression knobs, each declared once: its field, constraint, default, label, help, format and search values.

``CompressionPoint`` validates with these declarations (scikit-learn's one message template), and its label, cache
key and "does it train" read them; the pages' widgets and session keys, the CLI's flags, a sweep's grid, a search's
space, the ONNX and text pipelines' refusals and the model card all iterate ``KNOBS``. So a knob never says "% of
weights" on one page and 0.00-0.95 on another, and a new knob is one declaration here (with its typed field on
``CompressionPoint`` and ``Measurement``, which ``tests/test_knobs.py`` checks) plus its step in ``compressor.steps``.

``KNOBS`` lists them in the order the pipeline applies them (distil -> prune -> factorise -> quantize): a point's
label, the pages and the CLI read them in that order.

``structured`` is not a knob: it says *how* sparsity prunes (whole channels), so it travels with sparsity.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable

from ecocompress.core.errors import invalid_parameter


def _share(value: float) -> str:
    return f"{value * 100:g}%"


@dataclass(frozen=True)
class Knob:
    """One knob. ``values`` are what people are offered; a point accepts ``among`` (a value set) or the interval
    ``low``-``high`` (``closed``: which ends belong to it). ``default`` is the value that leaves the model alone, as
    offered; with ``off_is_none`` the point stores it as None (rank 1.0: no factorisation)."""

    field: str  # the CompressionPoint and Measurement field
    name: str  # its CLI flag (--name) and its key in a browser session
    technique: str  # what it does, as a sentence starts: "Low-rank factorisation"
    label: str
    help: str
    values: tuple[Any, ...]
    show: Callable[[Any], str]
    default: Any
    parse: type  # how a typed value is read (CLI): float or int
    trains: Callable[[Any], bool]  # whether a point with this (set) value trains: results then vary by seed
    phrase: Callable[[Any, Any], str]  # (value, point) -> its part of the point's label when set
    among: tuple[Any, ...] | None = None
    low: float = 0.0
    high: float = 1.0
    closed: str = "both"  # "left" [low, high), "right" (low, high], "both" [low, high]
    off_is_none: bool = False
    per_layer: bool = False  # ``layer_settings`` sets it per layer: a per-layer point leaves the other knobs off
    slider: bool = False  # a continuous slider over ``values`` (evenly spaced); else a slider over the listed values
    caption: str = ""  # one line under its widget on Explore
    searched: tuple[Any, ...] = ()  # what a search samples (offered values; the default among them)
    swept: tuple[Any, ...] = ()  # ticked when the Sweep page opens (default: the default only)

    @property
    def allowed(self) -> str:
        """What a point accepts, in the words of the parameter message."""
        if self.among is not None:
            listed = ", ".join(map(str, self.among))
            accepted = f"an int among {{{listed}}}" if self.parse is int else f"one of {{{listed}}}"
        else:
            left = "[" if self.closed in ("left", "both") else "("
            right = "]" if self.closed in ("right", "both") else ")"
            accepted = f"a float in the range {left}{float(self.low)}, {float(self.high)}{right}"
        return f"None or {accepted}" if self.off_is_none else accepted

    def checked(self, value: Any) -> Any:
        """``value`` in its canonical form (int bits, float shares, None for an off rank), or the parameter message."""
        if value is None and self.off_is_none:
            return None
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise invalid_parameter(self.field, self.allowed, value)
        if self.among is not None:
            if value not in self.among:
                raise invalid_parameter(self.field, self.allowed, value)
            return self.parse(value)
        inside_low = value >= self.low if self.closed in ("left", "both") else value > self.low
        inside_high = value <= self.high if self.closed in ("right", "both") else value < self.high
        if not (inside_low and inside_high):
            raise invalid_parameter(self.field, self.allowed, value)
        value = float(value)
        return None if self.off_is_none and value == self.default else value

    @property
    def off(self) -> Any:
        """The canonical value that leaves the model alone (what ``CompressionPoint()`` holds)."""
        return self.checked(self.default)

    def is_set(self, value: Any) -> bool:
        return value != self.off

    @property
    def example(self) -> Any:
        """The first offered value that does something (what a page asks a model whether it can do)."""
        return next(value for value in self.values if self.is_set(self.checked(value)))

    def flag_help(self, default: str = "") -> str:
        """The CLI flag's help: the label, what it accepts and the help the pages show ('%' doubled for argparse)."""
        accepted = f"{self.allowed}; {self.default:g} = off" if self.off_is_none else self.allowed
        shown = default or f"{self.default:g}"
        return f"{self.label}: {accepted} (default {shown}). {self.help}".replace("%", "%%")


STUDENT = Knob(
    field="student_width", name="student", technique="Distillation",
    label="Student size (width of the teacher)",
    help="Distillation trains a narrower network to imitate the original; 1/2 has half the channels per layer.",
    values=(1.0, 0.5, 0.25, 0.125), among=(1.0, 0.5, 0.25, 0.125), parse=float, default=1.0,
    show=lambda w: "1 (original)" if w == 1.0 else f"1/{int(round(1 / w))}",
    trains=lambda w: True, phrase=lambda w, _: f"student x{w:g}",
    caption="A smaller student is cheaper to run; it learns from the original's answers.",
    searched=(1.0, 0.5, 0.25),
)
SPARSITY = Knob(
    field="sparsity", name="sparsity", technique="Pruning",
    label="Sparsity (share of weights removed)",
    help="Share of weights pruned away (0.90 = 90%), followed by a short fine-tune.",
    values=tuple(round(0.05 * i, 2) for i in range(20)), low=0.0, high=1.0, closed="left", parse=float, default=0.0,
    show=_share, trains=lambda s: True, per_layer=True, slider=True,
    phrase=lambda s, point: f"{s:.0%} {'structured ' if point.structured else ''}sparse",
    caption="Zeros shrink the stored file; only structured pruning makes a CPU faster.",
    searched=(0.0, 0.5, 0.7, 0.8, 0.9, 0.95), swept=(0.0, 0.5, 0.9),
)
RANK = Knob(
    field="rank_ratio", name="rank", technique="Low-rank factorisation",
    label="Low-rank factorisation (rank kept)",
    help="Splits each large layer into two thin ones via SVD, keeping this share of the rank, then fine-tunes.",
    values=(1.0, 0.75, 0.5, 0.25, 0.125), low=0.0, high=1.0, closed="right", off_is_none=True, parse=float,
    default=1.0, show=lambda r: "off" if r in (None, 1.0) else _share(r), trains=lambda r: True,
    phrase=lambda r, _: f"rank {r:g}", searched=(1.0, 0.5, 0.25),
)
BITS = Knob(
    field="bits", name="bits", technique="Quantization",
    label="Bit-width (bits per weight)",
    help="32 is the original float model. Fewer bits store each weight more coarsely; below 7 bits the model "
    "is fine-tuned with the quantizer in the loop.",
    values=(2, 3, 4, 5, 6, 7, 8, 16, 32), among=(2, 3, 4, 5, 6, 7, 8, 16, 32), parse=int, default=32,
    show=str, trains=lambda b: b < 7, phrase=lambda b, _: f"{b}-bit", per_layer=True,
    caption="Fewer bits: a smaller file; runs as int8 where that is measured to be faster.",
    searched=(32, 16, 8, 6, 4, 3), swept=(32, 8, 4),
)

KNOBS: tuple[Knob, ...] = (STUDENT, SPARSITY, RANK, BITS)
BY_FIELD = {knob.field: knob for knob in KNOBS}


def set_knobs(point: Any) -> list[Knob]:
    """The knobs ``point`` moves away from their default, in pipeline order."""
    return [knob for knob in KNOBS if knob.is_set(getattr(point, knob.field))]


def refuse_unoffered(point: Any, offered: set[str], sentence: Callable[[Knob], str]) -> None:
    """Refuse the first knob ``point`` sets that a pipeline does not offer (``offered``: fields), in ``sentence``'s
    words: a knob added later is refused by the pipelines that do not know it until they say they do."""
    from ecocompress.core.errors import InvalidParameterError

    for knob in set_knobs(point):
        if knob.field not in offered:
            raise InvalidParameterError(sentence(knob))
