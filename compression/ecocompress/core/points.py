"""One compression setting as a frozen, validated value.

Every knob is declared once (``core.knobs``) with its constraint, and every violation is reported with one
message template (scikit-learn's): which parameter, what is allowed, what was given.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from typing import Any

from ecocompress.core.errors import invalid_parameter
from ecocompress.core.knobs import BITS, KNOBS, RANK, SPARSITY, STUDENT, set_knobs

LAYER_BITS = (2, 3, 4, 5, 6, 7, 8)  # per-layer settings put every weighted layer on an integer grid
LayerSetting = tuple[str, float, int]  # (layer name, sparsity, bits)
KeptUnits = tuple[tuple[str, int], ...]  # (layer name, or "input" for the model's input features; how many kept)
# In every cache key since the first store; a knob added later enters the key only when set, so stored keys stay valid.
FIRST_KEYED = ("sparsity", "bits", "student_width", "structured", "rank_ratio")


@dataclass(frozen=True)
class CompressionPoint:
    """What to do to a model: one field per knob of ``core.knobs.KNOBS`` (declared and validated there), plus how
    sparsity prunes (``structured``), whether it is the quick version, and per-layer settings.

    ``bits=32`` is the uncompressed float model; ``student_width=1`` means no distillation.
    ``fine_tuned=False`` is the quick, post-training version of a point that trains: pruned, factorised or
    quantized without fine-tuning (a student gets one short epoch), measured first so a new setting has an
    answer in seconds; it is labelled "before fine-tuning" and never stands in for the fine-tuned point.
    ``layer_settings`` gives each weighted layer its own (sparsity, bits), as Deep Compression did (chosen by
    ``compressor.allocation`` from measured sensitivities); ``sparsity`` is then the share of zeros over all those
    layers and ``bits`` the widest layer's, so charts and filters still read one number per knob.
    """

    sparsity: float = SPARSITY.off
    bits: int = BITS.off
    student_width: float = STUDENT.off
    structured: bool = False
    rank_ratio: float | None = RANK.off
    fine_tuned: bool = True
    layer_settings: tuple[LayerSetting, ...] | None = None
    kept_units: KeptUnits | None = None

    def __post_init__(self) -> None:
        for knob in KNOBS:
            object.__setattr__(self, knob.field, knob.checked(getattr(self, knob.field)))
        if not isinstance(self.structured, bool):
            raise invalid_parameter("structured", "a bool", self.structured)
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
        if self.structured or self._whole_model_knobs():
            raise invalid_parameter("layer_settings", f"None when a point prunes structurally or sets "
                                    f"{' or '.join(k.field for k in KNOBS if not k.per_layer)}", layers)
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
        if not self.structured or self.sparsity == 0 or self._whole_model_knobs() or self.layer_settings is not None:
            others = ", ".join(k.field for k in KNOBS if not k.per_layer)
            raise invalid_parameter("kept_units", "None unless a point only prunes structurally (structured=True, "
                                    f"sparsity > 0, no layer_settings, {others} at their defaults)", kept)
        return checked

    def _whole_model_knobs(self) -> list:
        """The knobs set here that act on the whole model (not per layer): per-layer settings exclude them."""
        return [k for k in set_knobs(self) if not k.per_layer]

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
        return (any(knob.trains(getattr(self, knob.field)) for knob in set_knobs(self))
                or any(s > 0 or b < 7 for _, s, b in self.layer_settings or ()))

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def key(self) -> str:
        """Canonical JSON of the setting: part of the results store's cache key (``fine_tuned`` only when False and
        ``layer_settings``/``kept_units`` and knobs after ``FIRST_KEYED`` only when given, so the keys of other points
        stay those stored before these existed)."""
        data = self.to_dict()
        if self.fine_tuned:
            del data["fine_tuned"]
        for optional in ("layer_settings", "kept_units"):
            if data[optional] is None:
                del data[optional]
        for knob in KNOBS:
            if knob.field not in FIRST_KEYED and not knob.is_set(data[knob.field]):
                del data[knob.field]
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
            parts.extend(knob.phrase(getattr(self, knob.field), self) for knob in set_knobs(self))
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
