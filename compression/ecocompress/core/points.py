"""One compression setting as a frozen, validated value.

Every knob is declared once with its constraint, and every violation is reported with one
message template (scikit-learn's): which parameter, what is allowed, what was given.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass
from typing import Any

from ecocompress.core.errors import invalid_parameter

BIT_WIDTHS = (2, 3, 4, 5, 6, 7, 8, 16, 32)
STUDENT_WIDTHS = (1.0, 0.5, 0.25, 0.125)
LAYER_BITS = (2, 3, 4, 5, 6, 7, 8)  # per-layer settings put every weighted layer on an integer grid
SPARSITY_ALLOWED = "a float in the range [0.0, 1.0)"  # what a point accepts where it is an interval (CLI help reads it)
RANK_ALLOWED = "None or a float in the range (0.0, 1.0]"
LayerSetting = tuple[str, float, int]  # (layer name, sparsity, bits)
KeptUnits = tuple[tuple[str, int], ...]  # (layer name, or "input" for the model's input features; how many kept)


def _as_float(name: str, allowed: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise invalid_parameter(name, allowed, value)
    if not math.isfinite(value):
        raise invalid_parameter(name, allowed, value)
    return float(value)


@dataclass(frozen=True)
class CompressionPoint:
    """What to do to a model: sparsity, bit-width, student width (more knobs slot in here).

    ``bits=32`` is the uncompressed float model; ``student_width=1`` means no distillation.
    ``fine_tuned=False`` is the quick, post-training version of a point that trains: pruned, factorised or
    quantized without fine-tuning (a student gets one short epoch), measured first so a new setting has an
    answer in seconds; it is labelled "before fine-tuning" and never stands in for the fine-tuned point.
    ``layer_settings`` gives each weighted layer its own (sparsity, bits), as Deep Compression did (chosen by
    ``compressor.allocation`` from measured sensitivities); ``sparsity`` is then the share of zeros over all those
    layers and ``bits`` the widest layer's, so charts and filters still read one number per knob.
    """

    sparsity: float = 0.0
    bits: int = 32
    student_width: float = 1.0
    structured: bool = False
    rank_ratio: float | None = None
    fine_tuned: bool = True
    layer_settings: tuple[LayerSetting, ...] | None = None
    kept_units: KeptUnits | None = None

    def __post_init__(self) -> None:
        sparsity = _as_float("sparsity", SPARSITY_ALLOWED, self.sparsity)
        if not 0.0 <= sparsity < 1.0:
            raise invalid_parameter("sparsity", SPARSITY_ALLOWED, self.sparsity)
        object.__setattr__(self, "sparsity", sparsity)

        bits_allowed = f"an int among {{{', '.join(map(str, BIT_WIDTHS))}}}"
        if isinstance(self.bits, bool) or not isinstance(self.bits, (int, float)) or self.bits not in BIT_WIDTHS:
            raise invalid_parameter("bits", bits_allowed, self.bits)
        object.__setattr__(self, "bits", int(self.bits))

        width_allowed = f"one of {{{', '.join(map(str, STUDENT_WIDTHS))}}}"
        width = _as_float("student_width", width_allowed, self.student_width)
        if width not in STUDENT_WIDTHS:
            raise invalid_parameter("student_width", width_allowed, self.student_width)
        object.__setattr__(self, "student_width", width)

        if not isinstance(self.structured, bool):
            raise invalid_parameter("structured", "a bool", self.structured)

        if self.rank_ratio is not None:
            rank = _as_float("rank_ratio", RANK_ALLOWED, self.rank_ratio)
            if not 0.0 < rank <= 1.0:
                raise invalid_parameter("rank_ratio", RANK_ALLOWED, self.rank_ratio)
            object.__setattr__(self, "rank_ratio", None if rank == 1.0 else rank)

        if not isinstance(self.fine_tuned, bool):
            raise invalid_parameter("fine_tuned", "a bool", self.fine_tuned)
        if self.layer_settings is not None:
            object.__setattr__(self, "layer_settings", self._checked_layers(self.layer_settings))
        if self.kept_units is not None:
            object.__setattr__(self, "kept_units", self._checked_kept(self.kept_units))
        if not self.involves_training:
            object.__setattr__(self, "fine_tuned", True)  # nothing to fine-tune: the quick version is the point itself

    def _checked_layers(self, layers: Any) -> tuple[LayerSetting, ...]:
        allowed = f"None or (layer name, sparsity in [0.0, 1.0), bits among {{{', '.join(map(str, LAYER_BITS))}}}) per layer"
        try:
            checked = tuple((str(name), float(sparsity), int(bits)) for name, sparsity, bits in layers)
        except (TypeError, ValueError):
            raise invalid_parameter("layer_settings", allowed, layers) from None
        names = [name for name, _, _ in checked]
        if (not checked or len(set(names)) != len(names) or not all(names)
                or not all(0.0 <= s < 1.0 and b in LAYER_BITS for _, s, b in checked)):
            raise invalid_parameter("layer_settings", allowed, layers)
        if self.student_width != 1.0 or self.structured or self.rank_ratio is not None:
            raise invalid_parameter("layer_settings", "None when a point distils, prunes structurally or factorises",
                                    layers)
        if self.bits != max(b for _, _, b in checked):
            raise invalid_parameter("bits", f"{max(b for _, _, b in checked)} (the widest layer's bits)", self.bits)
        return checked

    def _checked_kept(self, kept: Any) -> KeptUnits:
        allowed = "None or (layer name or 'input', a count of at least 1) per pruned layer"
        try:
            checked = tuple((str(name), int(count)) for name, count in kept)
        except (TypeError, ValueError):
            raise invalid_parameter("kept_units", allowed, kept) from None
        names = [name for name, _ in checked]
        if not checked or len(set(names)) != len(names) or not all(names) or any(c < 1 for _, c in checked):
            raise invalid_parameter("kept_units", allowed, kept)
        if (not self.structured or self.sparsity == 0 or self.student_width != 1.0 or self.rank_ratio is not None
                or self.layer_settings is not None):
            raise invalid_parameter("kept_units", "None unless a point only prunes structurally (structured=True, "
                                    "sparsity > 0, no student, rank or layer_settings)", kept)
        return checked

    @property
    def layer_sparsity(self) -> dict[str, float]:
        """Each layer's sparsity from ``layer_settings`` (empty for a uniform point)."""
        return {name: sparsity for name, sparsity, _ in self.layer_settings or ()}

    @property
    def layer_bits(self) -> dict[str, int]:
        """Each layer's bit-width from ``layer_settings`` (empty for a uniform point)."""
        return {name: bits for name, _, bits in self.layer_settings or ()}

    @property
    def is_baseline(self) -> bool:
        """True for the uncompressed model (nothing to do)."""
        return self == CompressionPoint()

    @property
    def involves_training(self) -> bool:
        """True when a step trains (distillation, pruning, factorising, QAT): results vary by seed."""
        return (self.student_width != 1.0 or self.sparsity > 0 or self.rank_ratio is not None or self.bits < 7
                or any(s > 0 or b < 7 for _, s, b in self.layer_settings or ()))

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def key(self) -> str:
        """Canonical JSON of the setting: part of the results store's cache key (``fine_tuned`` only when False and
        ``layer_settings``/``kept_units`` only when given, so the keys of other points stay those stored before these existed)."""
        data = self.to_dict()
        if self.fine_tuned:
            del data["fine_tuned"]
        for optional in ("layer_settings", "kept_units"):
            if data[optional] is None:
                del data[optional]
        return json.dumps(data, sort_keys=True)

    @property
    def quick(self) -> "CompressionPoint":
        """The post-training version measured first (the point itself when nothing trains)."""
        return dataclasses.replace(self, fine_tuned=False)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "CompressionPoint":
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})

    def label(self) -> str:
        """Short human description, e.g. ``8-bit``, ``fp32 baseline`` or ``per layer: 94% sparse (90-97%), 3-5-bit``."""
        parts = []
        if self.layer_settings:
            parts.append(f"per layer: {self.sparsity:.0%} sparse ({_span([s for _, s, _ in self.layer_settings], '{:.0%}')}), "
                         f"{_span([b for _, _, b in self.layer_settings], '{}')}-bit")
        elif self.kept_units:
            kept = [f"{c} inputs" for n, c in self.kept_units if n == "input"]
            widths = [str(c) for n, c in self.kept_units if n != "input"]
            if widths:
                kept.append(f"{'/'.join(widths)} units")
            parts.append(f"per layer: {self.sparsity:.0%} structured ({', '.join(kept)})")
            if self.bits != 32:
                parts.append(f"{self.bits}-bit")
        else:
            if self.student_width != 1.0:
                parts.append(f"student x{self.student_width:g}")
            if self.sparsity:
                parts.append(f"{self.sparsity:.0%} {'structured' if self.structured else ''} sparse".replace("  ", " "))
            if self.rank_ratio is not None:
                parts.append(f"rank {self.rank_ratio:g}")
            if self.bits != 32:
                parts.append(f"{self.bits}-bit")
        if not self.fine_tuned:
            parts.append("before fine-tuning" if self.student_width == 1.0 else "after one short training epoch")
        return ", ".join(parts) or "fp32 baseline"


def _span(values: list, fmt: str) -> str:
    """``low-high`` of ``values`` as ``fmt`` formats them, or one value when they all read the same."""
    low, high = fmt.format(min(values)), fmt.format(max(values))
    return low if low == high else f"{low}-{high}"


# Measured first for a model nobody has explored yet (Home on an empty store, a report with nothing to
# compare): the uncompressed baseline, a quantized point and a pruned-and-quantized one (digits: about a minute).
STARTER_POINTS = (CompressionPoint(), CompressionPoint(bits=8), CompressionPoint(sparsity=0.9, bits=4))
